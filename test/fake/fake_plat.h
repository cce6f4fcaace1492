/*
 * fake_plat.h - the platform for unit tests: a clock you advance, a wall
 * clock you set, deterministic randomness, logs to stderr (or captured).
 * Sockets and the poll backend are not faked here.
 */
#ifndef FAKE_PLAT_H
#define FAKE_PLAT_H

#include "platform.h"

void fake_clock_set(uint64_t now_ms, int64_t wall);
void fake_clock_advance(uint64_t ms);	/* both clocks */
void fake_log_quiet(bool quiet);
/* The last log line emitted (captured even when quiet). */
const char *fake_log_last(void);
/* Log lines since fake_log_clear(), each ending in '\n' (first 16 KiB). */
const char *fake_log_all(void);
void fake_log_clear(void);

#endif
