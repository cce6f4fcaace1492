/*
 * board.h - what the mps2-an386 board code (startup.c) offers the
 * firmware and the tests that run on it.
 */
#ifndef BOARD_H
#define BOARD_H

#include <stddef.h>

/*
 * The deepest the stack has been since reset, in bytes (the stack is
 * painted at reset; the high-water mark is the lowest word overwritten).
 */
size_t board_stack_peak(void);

#endif
