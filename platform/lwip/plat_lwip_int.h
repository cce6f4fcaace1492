/*
 * plat_lwip_int.h - shared by the files of the lwIP platform.
 */
#ifndef PLAT_LWIP_INT_H
#define PLAT_LWIP_INT_H

#include "lwip/sys.h"		/* sys_now(), from the board */

#include "edgemta_lwip.h"

extern const struct edgemta_lwip_hooks *lwip_hooks;

#endif
