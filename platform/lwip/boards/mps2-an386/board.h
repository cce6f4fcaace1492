/*
 * board.h - what the mps2-an386 board code (startup.c) offers the
 * firmware and the tests that run on it.
 */
#ifndef BOARD_H
#define BOARD_H

#include <stddef.h>
#include <stdint.h>

/*
 * The deepest the stack has been since reset, in bytes (the stack is
 * painted at reset; the high-water mark is the lowest word overwritten).
 */
size_t board_stack_peak(void);

/* Bytes of heap (newlib's malloc, through _sbrk) in use or freed. */
size_t board_heap_used(void);

/* Milliseconds since reset (SysTick), for lwIP's sys_now(). */
uint32_t board_ms(void);

/* Sleep until the next interrupt (at most a millisecond: SysTick). */
void board_idle(void);

#endif
