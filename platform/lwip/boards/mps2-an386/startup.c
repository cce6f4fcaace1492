/*
 * startup.c - reset and fault handlers of the mps2-an386 board
 * (mps2-an386.ld): copy .data, zero .bss, paint the stack (its high-water
 * mark is board_stack_peak()), start newlib (semihosting: stdout and
 * exit() reach the host under qemu -semihosting), start a 1 ms SysTick
 * (board_ms()), run main().
 * A fault prints its name and the faulting PC and exits with status 1, so
 * a test that crashes fails instead of hanging.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "board.h"

extern uint32_t __data_load[], __data_start[], __data_end[];
extern uint32_t __bss_start__[], __bss_end__[], end[], __stack_top[];

int main(void);
void Reset_Handler(void);
void initialise_monitor_handles(void);	/* librdimon */
void __libc_init_array(void);		/* newlib */
void *_sbrk(ptrdiff_t incr);		/* libgloss: the heap's top */
int _write(int fd, const char *buf, int len);	/* libgloss: semihosting */

#define STACK_PAINT 0x57a0c4edu

static void
fault(const char *what, const uint32_t *frame)
{
	/* frame: r0-r3, r12, lr, pc, xpsr pushed by the exception entry */
	char line[80];
	int n = snprintf(line, sizeof(line), "\n*** %s at pc=0x%08lx "
	    "lr=0x%08lx\n", what, (unsigned long)frame[6],
	    (unsigned long)frame[5]);

	/* not printf: a firmware that never prints links no stdio */
	_write(1, line, n);
	exit(1);
}

static void
hardfault_c(const uint32_t *frame)
{
	fault("HardFault", frame);
}

/* Which stack the exception frame is on: bit 2 of EXC_RETURN. */
__attribute__((naked)) static void
HardFault_Handler(void)
{
	__asm volatile(
	    "tst lr, #4\n"
	    "ite eq\n"
	    "mrseq r0, msp\n"
	    "mrsne r0, psp\n"
	    "b %0\n" : : "i"(hardfault_c));
}

static volatile uint32_t ms_ticks;

static void
SysTick_Handler(void)
{
	ms_ticks++;
}

uint32_t
board_ms(void)
{
	return ms_ticks;
}

void
board_idle(void)
{
	__asm volatile("wfi");
}

static void
Default_Handler(void)
{
	static const uint32_t none[8];

	fault("unexpected exception", none);
}

/* The vector table: initial SP, reset, then the system exceptions. */
__attribute__((section(".isr_vector"), used))
static void (*const vectors[16])(void) = {
	(void (*)(void))__stack_top,
	Reset_Handler,
	Default_Handler,	/* NMI */
	HardFault_Handler,
	HardFault_Handler,	/* MemManage */
	HardFault_Handler,	/* BusFault */
	HardFault_Handler,	/* UsageFault */
	0, 0, 0, 0,
	Default_Handler,	/* SVCall */
	Default_Handler,	/* DebugMon */
	0,
	Default_Handler,	/* PendSV */
	SysTick_Handler,
};

/* Fill the unused stack below the current frame with STACK_PAINT. */
__attribute__((noinline)) static void
stack_paint(void)
{
	uint32_t *p = end, *sp;

	__asm volatile("mov %0, sp" : "=r"(sp));
	while (p < sp - 16) {
		*p++ = STACK_PAINT;
	}
}

size_t
board_stack_peak(void)
{
	/* the heap grows over the paint from below: start at its top */
	const uint32_t *p = (const uint32_t *)(((uintptr_t)_sbrk(0) + 3) & ~3u);

	while (p < __stack_top && *p == STACK_PAINT) {
		p++;
	}
	return (size_t)((const char *)__stack_top - (const char *)p);
}

size_t
board_heap_used(void)
{
	return (size_t)((char *)_sbrk(0) - (char *)end);
}

void
Reset_Handler(void)
{
	uint32_t *s, *d;

	for (s = __data_load, d = __data_start; d < __data_end; ) {
		*d++ = *s++;
	}
	for (d = __bss_start__; d < __bss_end__; ) {
		*d++ = 0;
	}
	/* usage, bus and memory faults get their own vectors */
	*(volatile uint32_t *)0xe000ed24u |= 7u << 16;	/* SCB->SHCSR */
	/* trap division by zero like the hosted builds' SIGFPE would */
	*(volatile uint32_t *)0xe000ed14u |= 1u << 4;	/* SCB->CCR */
	/* SysTick: 1 ms from the 25 MHz processor clock */
	*(volatile uint32_t *)0xe000e014u = 25000 - 1;	/* LOAD */
	*(volatile uint32_t *)0xe000e018u = 0;		/* VAL */
	*(volatile uint32_t *)0xe000e010u = 7;		/* CTRL */
	stack_paint();
	initialise_monitor_handles();
	__libc_init_array();
	exit(main());
}

/* newlib calls these from __libc_init_array/exit; crti.o is not linked */
void _init(void) {}
void _fini(void) {}
