/*
 * board_host.c - the board hooks of lwip_relay_test on the host (the
 * mps2-an386 board has its own in startup.c): a monotonic millisecond
 * clock and a short sleep.
 */
#define _POSIX_C_SOURCE 200809L	/* clock_gettime, nanosleep */
#include <time.h>

#include "board.h"

uint32_t
board_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint32_t)(ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

void
board_idle(void)
{
	struct timespec ts = { 0, 200000 };	/* 0.2 ms */

	nanosleep(&ts, NULL);
}

size_t
board_stack_peak(void)
{
	return 0;	/* not measured on the host */
}
