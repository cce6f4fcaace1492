/*
 * arch/cc.h - lwIP's compiler and platform glue for edgemta's lwIP port:
 * a C11 compiler with <stdint.h> and <inttypes.h>, diagnostics to nowhere
 * (the relay logs through plat_log; lwIP's debug output stays off, so its
 * 64-bit formats never reach newlib-nano), assertions trap (a fault:
 * the board's handler prints the PC; abort() would link signal handling).
 */
#ifndef LWIP_ARCH_CC_H
#define LWIP_ARCH_CC_H

#include <stdlib.h>

#define LWIP_PLATFORM_DIAG(x) do { } while (0)
#define LWIP_PLATFORM_ASSERT(x) __builtin_trap()

#endif
