/*
 * edgemta_lwip.h - what a firmware gives the lwIP platform (sock_lwip.c,
 * plat_lwip.c) besides lwIP itself: its hooks. lwIP runs with NO_SYS=1
 * inside the relay's one event loop: call lwip_init(), add the netifs,
 * edgemta_lwip_init(), then run the core (ev_run) in one task or in
 * main(). Every lwIP call then happens in that task (lwIP's raw API is
 * not thread safe); other tasks reach the relay by posting to it (the
 * in-process submit API, core/submit.h, is called from there too).
 * The board also provides lwIP's sys_now() (milliseconds, 32-bit).
 */
#ifndef EDGEMTA_LWIP_H
#define EDGEMTA_LWIP_H

#include <stddef.h>
#include <stdint.h>

struct edgemta_lwip_hooks {
	/*
	 * Run the network for up to max_ms: hand received frames to their
	 * netif, netif_poll_all() for loopback, sys_check_timeouts(). May
	 * sleep (WFI, a semaphore) until a frame arrives or max_ms passed;
	 * called again at once while the relay has nothing ready.
	 */
	void (*net_poll)(uint32_t max_ms);
	/* Wall clock (RTC, SNTP): seconds since 1970, or 0 while unset. */
	int64_t (*wall_time)(void);
	/* Unpredictable bytes (a TRNG). */
	void (*random)(void *buf, size_t len);
	/* One log line (no newline) at a log.h level: a UART, a buffer. */
	void (*log)(int level, const char *line);
};

/* Keep h (static storage) for the platform's life. */
void edgemta_lwip_init(const struct edgemta_lwip_hooks *h);

struct conf;
struct flash;

/*
 * After lwip_init(), the netifs and edgemta_lwip_init(): open the queue
 * on fl, start the event loop, the listeners of c and the delivery
 * scheduler. Then run ev_run() in this task. 0 or a negative error
 * (logged).
 */
int edgemta_lwip_start(const struct conf *c, struct flash *fl,
    const char *host);

#endif
