/*
 * relay_lwip.c - start the relay on the lwIP platform (edgemta_lwip.h):
 * the same order as the Linux daemon, without files or signals.
 */
#include "edgemta_lwip.h"
#include "ev.h"
#include "log.h"
#include "queue.h"
#include "sched.h"
#include "smtp_in.h"

int
edgemta_lwip_start(const struct conf *c, struct flash *fl, const char *host)
{
	int r;

	r = queue_open(fl, 0);
	if (r != 0) {
		log_err("queue: %s", edgemta_strerror(r));
		return r;
	}
	r = ev_init();
	if (r == 0) {
		r = queue_loop_start();
	}
	if (r == 0) {
		r = smtp_in_start(c, host);
	}
	if (r == 0) {
		r = sched_start(c, host);
	}
	if (r != 0) {
		log_err("cannot start the relay: %s", edgemta_strerror(r));
		return r;
	}
	log_info("edgemta started on lwIP: %lu messages in queue",
	    (unsigned long)queue_count());
	return 0;
}
