/*
 * queue_loop.c - the queue's part of the event loop, the same on every
 * platform (queue.h: queue_loop_start).
 *
 * Group commit: a sealed message waits for its sync at most
 * QL_GROUP_MS, and only while other messages are being received (a
 * writer is open): they may end within the window and share the sync.
 * With no other writer open it commits at the end of the loop turn as
 * before, so a lone message's 250 waits for nothing more. The window
 * starts at the first turn end that finds a seal waiting; a timer ends
 * it, so the bound holds however busy or idle the loop is (unit test:
 * queue_test test_group_window, on an injected clock).
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
#define QL_GROUP_MS 2

static struct ev_timer ql_results_timer, ql_group_timer;
static uint64_t ql_group_since;	/* the window's start; 0: none */
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

static void
on_group_timer(void *arg)
{
	(void)arg;	/* the hook after this turn commits */
}

/* Whether the commit waits for more seals (see the top). */
static bool
ql_hold(void)
{
	uint64_t now = ev_now();

	if (!queue_commit_waiting()) {
		ql_group_since = 0;
		return false;
	}
	if (ql_group_since == 0) {
		ql_group_since = now;
	}
	if (queue_writers_open() == 0 ||
	    now - ql_group_since >= QL_GROUP_MS) {
		ql_group_since = 0;
		return false;
	}
	if (!ql_group_timer.armed) {
		ev_timer_start(&ql_group_timer, (uint32_t)(QL_GROUP_MS -
		    (now - ql_group_since)), on_group_timer, NULL);
	}
	return true;
}

/* Before-sleep hook: group commit first, then bounded reclaim work. */
static void
ql_commit_hook(void *arg)
{
	(void)arg;
	if (ql_hold()) {
		return;		/* the timer comes back within the window */
	}
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
