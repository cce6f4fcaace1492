/*
 * queue_loop.c - the queue's part of the event loop, the same on every
 * platform (queue.h: queue_loop_start).
 *
 * Delivery results wait for a commit to ride on (queue.h): the timer is
 * armed when results become pending and syncs only if no commit synced
 * since then (under load, one always has), so a result is durable within
 * two periods.
 */
#include "ev.h"
#include "log.h"
#include "queue.h"

#define QL_RESULTS_MS 500

static struct ev_timer ql_results_timer;
static uint64_t ql_results_syncs;	/* queue_syncs() when armed */

static void on_results_timer(void *arg);

static void
arm_results_timer(void)
{
	ql_results_syncs = queue_syncs();
	ev_timer_start(&ql_results_timer, QL_RESULTS_MS, on_results_timer,
	    NULL);
}

static void
on_results_timer(void *arg)
{
	(void)arg;
	if (!queue_results_pending()) {
		return;
	}
	if (queue_syncs() != ql_results_syncs) {
		arm_results_timer();	/* these came later: wait */
		return;
	}
	if (queue_sync_results() != 0) {
		log_err("queue: cannot make delivery results durable");
	}
}

/* Before-sleep hook: group commit first, then bounded reclaim work. */
static void
ql_commit_hook(void *arg)
{
	(void)arg;
	queue_commit();
	/* on a file, results written now survive a crash of this process */
	(void)queue_flush_results();
	queue_reclaim();
	if (queue_results_pending() && !ql_results_timer.armed) {
		arm_results_timer();
	}
}

int
queue_loop_start(void)
{
	return ev_add_before_sleep(ql_commit_hook, NULL);
}
