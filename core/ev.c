/*
 * ev.c - the event loop: fd callbacks, one-shot timers, before-sleep hooks.
 *
 * A loop turn:
 *   1. compute the sleep from the nearest timer (hooks of the previous
 *      turn may have armed timers, so this comes after them);
 *   2. plat_poll_wait(), which calls ev_ready() per ready fd;
 *   3. run the timers that are due;
 *   4. run the before-sleep hooks (group commit).
 *
 * Callbacks may unwatch and close other fds, or stop other timers, while
 * the turn is being dispatched:
 *   - an fd unwatched during the turn gets no further event in it; an fd
 *     number reused by a new watch in the same turn is skipped too, since
 *     the readiness the backend reported belonged to the old file;
 *   - due timers are moved to a separate list before they run, so a timer
 *     re-armed for 0 ms from its own callback runs in the next turn (no
 *     endless loop) and ev_timer_stop() still finds timers on that list.
 *
 * The backend is only told about fds whose mask is non-zero: a quiet fd
 * (events == 0) is removed from it, so that a hang-up on a paused
 * connection cannot make a level-triggered backend spin.
 */
#include <string.h>

#include "ev.h"
#include "platform.h"

struct ev_fd {
	ev_fd_fn fn;		/* NULL: not watched */
	void *arg;
	unsigned events;	/* interest mask */
	bool in_backend;	/* registered with plat_poll_* */
	uint32_t turn;		/* turn in which the watch was added */
};

struct ev_hook {
	ev_fn fn;
	void *arg;
};

static struct ev_fd ev_fds[CONFIG_EV_MAX_FDS];
static struct ev_hook ev_hooks[CONFIG_EV_MAX_HOOKS];
static unsigned ev_nhooks;
static struct ev_timer *ev_timers;	/* armed, sorted by when */
static struct ev_timer *ev_due;		/* being run this turn */
static uint64_t ev_now_ms;
static bool ev_now_fresh;
static uint32_t ev_turn;
static bool ev_stopping;
static bool ev_inited;
static bool ev_used;		/* ev_fds written since the process began */

int
ev_init(void)
{
	int r;

	/* Static storage starts zeroed: clearing it again would make every
	 * page of the table resident. Only a re-init (tests) clears. */
	if (ev_used) {
		memset(ev_fds, 0, sizeof(ev_fds));
	}
	ev_used = true;
	ev_nhooks = 0;
	ev_timers = NULL;
	ev_due = NULL;
	ev_stopping = false;
	ev_turn = 0;
	ev_now_ms = plat_now_ms();
	r = plat_poll_init(CONFIG_EV_MAX_FDS);
	if (r < 0) {
		return r;
	}
	ev_inited = true;
	return 0;
}

static void
ev_forget_list(struct ev_timer *t)
{
	while (t != NULL) {
		struct ev_timer *next = t->next;

		t->next = NULL;
		t->armed = false;
		t = next;
	}
}

void
ev_shutdown(void)
{
	if (ev_inited) {
		plat_poll_shutdown();
	}
	ev_inited = false;
	ev_forget_list(ev_timers);
	ev_forget_list(ev_due);
	ev_timers = NULL;
	ev_due = NULL;
	ev_nhooks = 0;
}

int
ev_watch(int fd, unsigned events, ev_fd_fn fn, void *arg)
{
	struct ev_fd *e;
	int r;

	if (fd < 0 || fd >= CONFIG_EV_MAX_FDS) {
		return EDGEMTA_E_FULL;
	}
	e = &ev_fds[fd];
	events &= EV_READ | EV_WRITE;
	if (e->fn == NULL) {
		e->turn = ev_turn;
	}
	if (events != 0 && (events != e->events || !e->in_backend)) {
		r = plat_poll_mod(fd, events, e->in_backend);
		if (r < 0) {
			return EDGEMTA_E_IO;
		}
		e->in_backend = true;
	} else if (events == 0 && e->in_backend) {
		plat_poll_del(fd);
		e->in_backend = false;
	}
	e->fn = fn;
	e->arg = arg;
	e->events = events;
	return 0;
}

void
ev_unwatch(int fd)
{
	struct ev_fd *e;

	if (fd < 0 || fd >= CONFIG_EV_MAX_FDS) {
		return;
	}
	e = &ev_fds[fd];
	if (e->in_backend) {
		plat_poll_del(fd);
	}
	memset(e, 0, sizeof(*e));
}

/* Called by the backend from inside plat_poll_wait(). */
static void
ev_ready(int fd, unsigned events)
{
	struct ev_fd *e;

	if (!ev_now_fresh) {
		ev_now_ms = plat_now_ms();
		ev_now_fresh = true;
	}
	if (fd < 0 || fd >= CONFIG_EV_MAX_FDS) {
		return;
	}
	e = &ev_fds[fd];
	if (e->fn == NULL || e->turn == ev_turn) {
		return;		/* unwatched, or a new file on a reused fd */
	}
	events &= e->events | EV_ERROR;
	if (events == 0 || !e->in_backend) {
		return;
	}
	e->fn(e->arg, events);
}

/* Unlink t from *list; true if it was there. */
static bool
ev_list_remove(struct ev_timer **list, struct ev_timer *t)
{
	struct ev_timer **pp;

	for (pp = list; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == t) {
			*pp = t->next;
			t->next = NULL;
			return true;
		}
	}
	return false;
}

void
ev_timer_stop(struct ev_timer *t)
{
	if (!t->armed) {
		return;
	}
	if (!ev_list_remove(&ev_timers, t)) {
		ev_list_remove(&ev_due, t);
	}
	t->armed = false;
}

void
ev_timer_start(struct ev_timer *t, uint32_t ms, ev_fn fn, void *arg)
{
	struct ev_timer **pp;

	ev_timer_stop(t);
	t->when = ev_now_ms + ms;
	t->fn = fn;
	t->arg = arg;
	/* After timers with the same deadline: equal deadlines fire FIFO. */
	for (pp = &ev_timers; *pp != NULL && (*pp)->when <= t->when;
	    pp = &(*pp)->next) {
	}
	t->next = *pp;
	*pp = t;
	t->armed = true;
}

int
ev_add_before_sleep(ev_fn fn, void *arg)
{
	if (ev_nhooks >= CONFIG_EV_MAX_HOOKS) {
		return EDGEMTA_E_FULL;
	}
	ev_hooks[ev_nhooks].fn = fn;
	ev_hooks[ev_nhooks].arg = arg;
	ev_nhooks++;
	return 0;
}

/* Milliseconds until the nearest timer, -1 when there is none. */
static int
ev_next_timeout(void)
{
	uint64_t now, d;

	if (ev_timers == NULL) {
		return -1;
	}
	now = plat_now_ms();
	if (ev_timers->when <= now) {
		return 0;
	}
	d = ev_timers->when - now;
	return d > 0x7fffffff ? 0x7fffffff : (int)d;
}

static void
ev_run_timers(void)
{
	struct ev_timer **pp;
	struct ev_timer *t;

	/* Detach the due prefix; callbacks may stop any of them. */
	pp = &ev_timers;
	while (*pp != NULL && (*pp)->when <= ev_now_ms) {
		pp = &(*pp)->next;
	}
	if (pp == &ev_timers) {
		return;
	}
	ev_due = ev_timers;
	ev_timers = *pp;
	*pp = NULL;
	while ((t = ev_due) != NULL) {
		ev_due = t->next;
		t->next = NULL;
		t->armed = false;
		t->fn(t->arg);
	}
}

int
ev_run(void)
{
	unsigned i;
	int r = 0;

	while (!ev_stopping) {
		int timeout = ev_next_timeout();

		ev_turn++;
		ev_now_fresh = false;
		r = plat_poll_wait(timeout, ev_ready);
		if (!ev_now_fresh) {
			ev_now_ms = plat_now_ms();
			ev_now_fresh = true;
		}
		if (r < 0) {
			break;
		}
		r = 0;
		ev_run_timers();
		for (i = 0; i < ev_nhooks; i++) {
			ev_hooks[i].fn(ev_hooks[i].arg);
		}
		/* Fds watched from timers and hooks may be dispatched next
		 * turn: only watches added during dispatch are suspect. */
		ev_turn++;
	}
	ev_stopping = false;
	return r;
}

void
ev_stop(void)
{
	ev_stopping = true;
}

uint64_t
ev_now(void)
{
	return ev_now_ms;
}
