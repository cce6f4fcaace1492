/*
 * ev_test.c - the event loop, and the buffered io on top of it, against
 * the fake clock, the fake backend and a scripted socket defined here.
 */
#include "ev.h"
#include "io.h"
#include "fake_plat.h"
#include "fake_poll.h"
#include "test.h"

static char order[64];
static unsigned norder;
static uint64_t fired_at[8];

struct tmr {
	struct ev_timer t;
	char name;
	int rearm;		/* re-arm itself this many times (0 ms) */
	struct ev_timer *victim;	/* stop this one when firing */
	bool stop_loop;
};

static void
record(char c)
{
	if (norder < sizeof(order) - 1) {
		order[norder++] = c;
		order[norder] = '\0';
	}
}

static void
tmr_fire(void *arg)
{
	struct tmr *m = arg;

	record(m->name);
	if (m->name >= 'a' && m->name < 'a' + 8) {
		fired_at[m->name - 'a'] = ev_now();
	}
	if (m->victim != NULL) {
		ev_timer_stop(m->victim);
	}
	if (m->rearm > 0) {
		m->rearm--;
		ev_timer_start(&m->t, 0, tmr_fire, m);
	}
	if (m->stop_loop) {
		ev_stop();
	}
}

static void
setup(void)
{
	fake_clock_set(1000, 1790000000);
	CHECK_EQ(ev_init(), 0);
	norder = 0;
	order[0] = '\0';
	memset(fired_at, 0, sizeof(fired_at));
}

static void
test_timers_in_order(void)
{
	struct tmr a = { .name = 'a' }, b = { .name = 'b' },
	    c = { .name = 'c', .stop_loop = true };

	setup();
	CHECK_EQ(ev_now(), 1000);
	ev_timer_start(&c.t, 300, tmr_fire, &c);
	ev_timer_start(&a.t, 100, tmr_fire, &a);
	ev_timer_start(&b.t, 200, tmr_fire, &b);
	CHECK(a.t.armed && b.t.armed && c.t.armed);
	CHECK_EQ(ev_run(), 0);
	CHECK_STR(order, "abc");
	CHECK_EQ(fired_at[0], 1100);
	CHECK_EQ(fired_at[1], 1200);
	CHECK_EQ(fired_at[2], 1300);
	CHECK(!a.t.armed && !b.t.armed && !c.t.armed);
	ev_shutdown();
}

static void
test_equal_deadlines_fifo(void)
{
	struct tmr a = { .name = 'a' }, b = { .name = 'b' },
	    c = { .name = 'c', .stop_loop = true };

	setup();
	ev_timer_start(&a.t, 50, tmr_fire, &a);
	ev_timer_start(&b.t, 50, tmr_fire, &b);
	ev_timer_start(&c.t, 50, tmr_fire, &c);
	CHECK_EQ(ev_run(), 0);
	CHECK_STR(order, "abc");
	ev_shutdown();
}

static void
test_stop_and_rearm(void)
{
	struct tmr a = { .name = 'a' }, b = { .name = 'b' },
	    c = { .name = 'c' }, d = { .name = 'd', .stop_loop = true };

	setup();
	ev_timer_start(&a.t, 10, tmr_fire, &a);
	ev_timer_start(&b.t, 20, tmr_fire, &b);
	ev_timer_start(&c.t, 30, tmr_fire, &c);
	ev_timer_start(&d.t, 500, tmr_fire, &d);
	ev_timer_stop(&b.t);
	ev_timer_stop(&b.t);	/* twice is harmless */
	CHECK(!b.t.armed);
	ev_timer_start(&a.t, 40, tmr_fire, &a);	/* re-arm moves it */
	CHECK_EQ(ev_run(), 0);
	CHECK_STR(order, "cad");
	CHECK_EQ(fired_at[0], 1040);
	ev_shutdown();
}

static void
test_stop_due_timer_from_callback(void)
{
	struct tmr a = { .name = 'a' }, b = { .name = 'b' },
	    c = { .name = 'c', .stop_loop = true };

	setup();
	/* a and b are due in the same turn; a stops b before it runs. */
	a.victim = &b.t;
	ev_timer_start(&a.t, 10, tmr_fire, &a);
	ev_timer_start(&b.t, 10, tmr_fire, &b);
	ev_timer_start(&c.t, 100, tmr_fire, &c);
	CHECK_EQ(ev_run(), 0);
	CHECK_STR(order, "ac");
	CHECK(!b.t.armed);
	ev_shutdown();
}

static unsigned hook_runs[2];
static int hook_stop_after;
static struct tmr hook_tmr = { .name = 'h' };

static void
hook0(void *arg)
{
	(void)arg;
	hook_runs[0]++;
	record('0');
	if (hook_runs[0] == 1) {
		/* A hook arms a timer: the next sleep must honour it. */
		ev_timer_start(&hook_tmr.t, 70, tmr_fire, &hook_tmr);
	}
}

static void
hook1(void *arg)
{
	(void)arg;
	hook_runs[1]++;
	record('1');
	if ((int)hook_runs[1] >= hook_stop_after) {
		ev_stop();
	}
}

static void
test_hooks_each_turn(void)
{
	struct tmr a = { .name = 'a', .rearm = 2 };
	int i;

	setup();
	hook_runs[0] = hook_runs[1] = 0;
	hook_stop_after = 4;
	CHECK_EQ(ev_add_before_sleep(hook0, NULL), 0);
	CHECK_EQ(ev_add_before_sleep(hook1, NULL), 0);
	for (i = 2; i < CONFIG_EV_MAX_HOOKS; i++) {
		CHECK_EQ(ev_add_before_sleep(hook1, NULL), 0);
	}
	CHECK_EQ(ev_add_before_sleep(hook1, NULL), EDGEMTA_E_FULL);
	ev_timer_start(&a.t, 5, tmr_fire, &a);
	CHECK_EQ(ev_run(), 0);
	/* a re-armed itself for 0 ms twice: that runs in the next turns,
	 * not in a tight loop inside one turn. Every turn ran every hook
	 * once, in the order added. */
	CHECK_EQ(hook_runs[0], fake_poll_waits());
	CHECK_EQ(hook_runs[1], (CONFIG_EV_MAX_HOOKS - 1) * hook_runs[0]);
	CHECK_EQ(strncmp(order, "a01", 3), 0);
	CHECK_EQ(order[2 + (CONFIG_EV_MAX_HOOKS - 1)], 'a');
	CHECK_EQ(a.rearm, 0);
	CHECK_EQ(fired_at[0], 1005);	/* all three runs at the same time */
	ev_shutdown();
}

static void
test_hook_timer_sets_timeout(void)
{
	setup();
	hook_runs[0] = hook_runs[1] = 0;
	hook_stop_after = 1000;
	hook_tmr.rearm = 0;
	hook_tmr.stop_loop = true;
	CHECK_EQ(ev_add_before_sleep(hook0, NULL), 0);
	CHECK_EQ(ev_add_before_sleep(hook1, NULL), 0);
	{
		struct tmr a = { .name = 'a' };

		ev_timer_start(&a.t, 5, tmr_fire, &a);
		CHECK_EQ(ev_run(), 0);
	}
	/* Turn 1 slept 5 ms for a; the hooks then armed h for 70 ms,
	 * so turn 2 slept exactly 70 ms and h stopped the loop. */
	CHECK_EQ(fake_poll_last_timeout(), 70);
	CHECK_STR(order, "a01h01");
	CHECK_EQ(plat_now_ms(), 1075);
	hook_tmr.stop_loop = false;
	ev_shutdown();
}

static void
test_run_without_anything_fails(void)
{
	setup();
	/* No timer, no fd: the fake backend refuses to sleep forever. */
	CHECK(ev_run() < 0);
	ev_shutdown();
}

static void
test_stop_before_run(void)
{
	struct tmr a = { .name = 'a' };

	setup();
	ev_timer_start(&a.t, 1000, tmr_fire, &a);
	ev_stop();
	CHECK_EQ(ev_run(), 0);	/* returns at once: one turn at most */
	CHECK(fake_poll_waits() <= 1);
	ev_timer_stop(&a.t);
	ev_shutdown();
}

static int fd_calls[16];
static unsigned fd_events[16];
static int fd_action;

static void
fd_cb(void *arg, unsigned events)
{
	int fd = (int)(intptr_t)arg;

	fd_calls[fd]++;
	fd_events[fd] = events;
	if (fd == 5 && fd_action == 1) {
		ev_unwatch(6);	/* owner closes another connection */
	}
	if (fd == 5 && fd_action == 2) {
		ev_unwatch(6);	/* ... and a new one reuses its number */
		CHECK_EQ(ev_watch(6, EV_READ, fd_cb, (void *)(intptr_t)6), 0);
	}
}

static void
stop_fn(void *arg)
{
	(void)arg;
	ev_stop();
}

static void
run_one_turn(void)
{
	struct ev_timer t = { 0 };

	ev_timer_start(&t, 0, stop_fn, NULL);
	CHECK_EQ(ev_run(), 0);
}

static void
test_fd_dispatch(void)
{
	setup();
	memset(fd_calls, 0, sizeof(fd_calls));
	fd_action = 0;
	CHECK_EQ(ev_watch(CONFIG_EV_MAX_FDS, EV_READ, fd_cb, NULL),
	    EDGEMTA_E_FULL);
	CHECK_EQ(ev_watch(5, EV_READ, fd_cb, (void *)5), 0);
	CHECK_EQ(ev_watch(6, EV_READ | EV_WRITE, fd_cb, (void *)6), 0);
	CHECK_EQ(fake_poll_events(5), EV_READ);
	CHECK_EQ(fake_poll_events(6), EV_READ | EV_WRITE);

	/* Only asked-for events, plus errors. */
	fake_poll_inject(5, EV_READ | EV_WRITE);
	run_one_turn();
	CHECK_EQ(fd_calls[5], 1);
	CHECK_EQ(fd_events[5], EV_READ);
	fake_poll_inject(5, EV_ERROR);
	run_one_turn();
	CHECK_EQ(fd_calls[5], 2);
	CHECK_EQ(fd_events[5], EV_ERROR);

	/* A quiet fd leaves the backend but stays watched. */
	CHECK_EQ(ev_watch(5, 0, fd_cb, (void *)5), 0);
	CHECK_EQ(fake_poll_events(5), 0);
	fake_poll_inject(5, EV_READ | EV_ERROR);
	run_one_turn();
	CHECK_EQ(fd_calls[5], 2);
	CHECK_EQ(ev_watch(5, EV_READ, fd_cb, (void *)5), 0);
	CHECK_EQ(fake_poll_events(5), EV_READ);

	/* Unwatched during the turn: no event for it. */
	fd_action = 1;
	fake_poll_inject(5, EV_READ);
	fake_poll_inject(6, EV_READ);
	run_one_turn();
	CHECK_EQ(fd_calls[5], 3);
	CHECK_EQ(fd_calls[6], 0);
	CHECK_EQ(fake_poll_events(6), 0);

	/* Reused fd number in the same turn: the stale event is dropped,
	 * the new watch works from the next turn on. */
	CHECK_EQ(ev_watch(6, EV_READ, fd_cb, (void *)6), 0);
	fd_action = 2;
	fake_poll_inject(5, EV_READ);
	fake_poll_inject(6, EV_READ);
	run_one_turn();
	CHECK_EQ(fd_calls[6], 0);
	fd_action = 0;
	fake_poll_inject(6, EV_READ);
	run_one_turn();
	CHECK_EQ(fd_calls[6], 1);

	ev_unwatch(5);
	ev_unwatch(5);	/* harmless */
	ev_unwatch(-1);
	CHECK_EQ(fake_poll_events(5), 0);
	fake_poll_inject(5, EV_READ);
	run_one_turn();
	CHECK_EQ(fd_calls[5], 4);
	ev_shutdown();
}

static void
test_now_cached_per_turn(void)
{
	struct tmr a = { .name = 'a', .stop_loop = true };

	setup();
	ev_timer_start(&a.t, 250, tmr_fire, &a);
	fake_clock_advance(10);		/* time passes outside the loop */
	CHECK_EQ(ev_now(), 1000);	/* still the cached value */
	CHECK_EQ(ev_run(), 0);
	CHECK_EQ(fake_poll_last_timeout(), 240);
	CHECK_EQ(fired_at[0], 1250);
	ev_shutdown();
}

/* ---- io over a scripted socket (fd 7) ---- */

#define FS_FD 7

static struct {
	uint8_t in[4 * CONFIG_IO_RBUF_SIZE];
	size_t in_len, in_off;
	bool eof;
	uint8_t out[8192];
	size_t out_len, out_cap;	/* writes beyond out_cap: AGAIN */
	int closed;
	int conn_result;
} fs;

long
plat_read(int fd, void *buf, size_t len)
{
	size_t n;

	CHECK_EQ(fd, FS_FD);
	if (fs.in_off < fs.in_len) {
		n = MIN(len, fs.in_len - fs.in_off);
		memcpy(buf, fs.in + fs.in_off, n);
		fs.in_off += n;
		return (long)n;
	}
	return fs.eof ? 0 : EDGEMTA_E_AGAIN;
}

long
plat_write(int fd, const void *buf, size_t len)
{
	size_t n = MIN(len, fs.out_cap - fs.out_len);

	CHECK_EQ(fd, FS_FD);
	if (n == 0) {
		return EDGEMTA_E_AGAIN;
	}
	memcpy(fs.out + fs.out_len, buf, n);
	fs.out_len += n;
	return (long)n;
}

void
plat_close(int fd)
{
	CHECK_EQ(fd, FS_FD);
	fs.closed++;
}

int
plat_connect_result(int fd)
{
	(void)fd;
	return fs.conn_result;
}

static struct io tio;
static char ioev[64];
static int io_action;	/* 1: pause on first READ, 2: close + scribble */
static unsigned io_reads;

static void
fs_feed(const void *p, size_t n)
{
	memcpy(fs.in + fs.in_len, p, n);
	fs.in_len += n;
}

static void
tio_ev(void *arg, int ev)
{
	struct io *io = arg;
	static const char names[] = "?RDOCT";	/* cOnnected */
	size_t len;

	CHECK(io == &tio);
	if (strlen(ioev) < sizeof(ioev) - 1) {
		ioev[strlen(ioev)] = names[ev >= 1 && ev <= 5 ? ev : 0];
	}
	if (ev == IO_EV_READ) {
		(void)io_rpeek(io, &len);
		io_reads++;
		if (io_action == 1 && io_reads == 1) {
			io_pause_read(io, true);
		} else if (io_action == 2) {
			io_close(io);
			memset(io, 0xA5, sizeof(*io));	/* freed */
		} else if (io_action != 3) {
			io_rconsume(io, len);
		}
	} else if (ev == IO_EV_CLOSED || ev == IO_EV_TIMEOUT) {
		io_close(io);
	}
}

/* Run the loop until the fake clock has moved by ms (0 ms work first). */
static void
run_for(uint32_t ms)
{
	struct ev_timer t = { 0 };

	ev_timer_start(&t, ms, stop_fn, NULL);
	CHECK_EQ(ev_run(), 0);
	ev_timer_stop(&t);
}

static void
io_setup(bool connecting)
{
	setup();
	memset(&fs, 0, sizeof(fs));
	fs.out_cap = sizeof(fs.out);
	memset(&tio, 0, sizeof(tio));
	memset(ioev, 0, sizeof(ioev));
	io_action = 0;
	io_reads = 0;
	CHECK_EQ(io_open(&tio, FS_FD, connecting, tio_ev, &tio), 0);
}

static void
test_io_read_backpressure(void)
{
	static uint8_t big[CONFIG_IO_RBUF_SIZE + 100];
	size_t len;

	io_setup(false);
	CHECK_EQ(fake_poll_events(FS_FD), EV_READ);
	memset(big, 'x', sizeof(big));
	fs_feed(big, sizeof(big));
	io_action = 3;		/* do not consume */
	fake_poll_inject(FS_FD, EV_READ);
	run_for(1);
	CHECK_STR(ioev, "R");
	(void)io_rpeek(&tio, &len);
	CHECK_EQ(len, CONFIG_IO_RBUF_SIZE);
	CHECK_EQ(fake_poll_events(FS_FD), 0);	/* full: stop reading */
	io_rconsume(&tio, 10);
	CHECK_EQ(fake_poll_events(FS_FD), EV_READ);
	io_action = 0;
	fake_poll_inject(FS_FD, EV_READ);
	run_for(1);
	CHECK_STR(ioev, "RR");	/* the 10 bytes of room */
	fake_poll_inject(FS_FD, EV_READ);	/* level-triggered: again */
	run_for(1);
	CHECK_STR(ioev, "RRR");
	CHECK_EQ(tio.rx_bytes, sizeof(big));
	io_close(&tio);
	CHECK_EQ(fs.closed, 1);
	ev_shutdown();
}

static void
test_io_eof_waits_for_unpause(void)
{
	io_setup(false);
	fs_feed("QUIT\r\n", 6);
	fs.eof = true;
	io_action = 1;
	fake_poll_inject(FS_FD, EV_READ);
	run_for(1);
	CHECK_STR(ioev, "R");	/* CLOSED held back while paused */
	io_pause_read(&tio, false);
	CHECK_STR(ioev, "R");	/* never from inside an io call */
	run_for(1);
	CHECK_STR(ioev, "RRC");
	CHECK_EQ(fs.closed, 1);
	ev_shutdown();
}

static void
test_io_close_inside_callback(void)
{
	io_setup(false);
	fs_feed("abc", 3);
	fs.eof = true;
	io_action = 2;
	fake_poll_inject(FS_FD, EV_READ);
	run_for(1);
	CHECK_STR(ioev, "R");	/* and nothing after: io is gone */
	CHECK_EQ(fs.closed, 1);
	ev_shutdown();
}

static void
test_io_write_paths(void)
{
	io_setup(false);
	/* No flush: the loop sends it, then says DRAINED. */
	CHECK_EQ(io_write(&tio, "hello", 5), 0);
	CHECK_EQ(fs.out_len, 0);
	run_for(1);
	CHECK_EQ(fs.out_len, 5);
	CHECK_STR(ioev, "D");
	/* A slow peer: the rest goes on EV_WRITE. */
	fs.out_cap = fs.out_len + 3;
	CHECK_EQ(io_printf(&tio, "%s", "0123456789"), 0);
	io_flush(&tio);
	CHECK_EQ(fs.out_len, 8);
	CHECK_EQ(fake_poll_events(FS_FD), EV_READ | EV_WRITE);
	CHECK_EQ(io_wroom(&tio), CONFIG_IO_WBUF_SIZE - 7);
	fs.out_cap = sizeof(fs.out);
	fake_poll_inject(FS_FD, EV_WRITE);
	run_for(1);
	CHECK_EQ(fs.out_len, 15);
	CHECK_EQ(memcmp(fs.out, "hello0123456789", 15), 0);
	CHECK_STR(ioev, "DD");
	CHECK_EQ(fake_poll_events(FS_FD), EV_READ);
	CHECK_EQ(io_write(&tio, fs.out, CONFIG_IO_WBUF_SIZE + 1),
	    EDGEMTA_E_FULL);
	io_close(&tio);
	ev_shutdown();
}

static void
test_io_idle_timeout(void)
{
	uint64_t t0;

	io_setup(false);
	io_set_timeout(&tio, 5000);
	io_pause_read(&tio, true);
	run_for(20000);
	CHECK_STR(ioev, "");	/* no timeout while the owner is busy */
	io_pause_read(&tio, false);
	t0 = ev_now();
	/* Output and a deferred DRAINED do not count as a timeout. */
	CHECK_EQ(io_write(&tio, "x", 1), 0);
	io_flush(&tio);
	fs_feed("y", 1);
	fake_poll_inject(FS_FD, EV_READ);
	run_for(4000);
	CHECK_STR(ioev, "DR");
	run_for(2000);
	CHECK_STR(ioev, "DRT");
	CHECK(ev_now() >= t0 + 5000);
	CHECK_EQ(fs.closed, 1);
	ev_shutdown();
}

static void
test_io_connect(void)
{
	io_setup(true);
	CHECK_EQ(fake_poll_events(FS_FD), EV_WRITE);
	CHECK_EQ(io_write(&tio, "EHLO", 4), 0);	/* waits for connect */
	fake_poll_inject(FS_FD, EV_WRITE);
	run_for(1);
	CHECK_EQ(ioev[0], 'O');
	CHECK_EQ(fs.out_len, 4);
	io_close(&tio);
	ev_shutdown();

	io_setup(true);
	fs.conn_result = EDGEMTA_E_IO;
	fake_poll_inject(FS_FD, EV_WRITE);
	run_for(1);
	CHECK_STR(ioev, "C");
	CHECK_EQ(fs.closed, 1);
	ev_shutdown();
}

static void
test_io_close_after_drain(void)
{
	io_setup(false);
	fs.out_cap = 2;
	CHECK_EQ(io_write(&tio, "221 Bye\r\n", 9), 0);
	io_close_after_drain(&tio);
	CHECK_EQ(fs.closed, 0);
	CHECK_EQ(fake_poll_events(FS_FD), EV_WRITE);
	fs.out_cap = sizeof(fs.out);
	fake_poll_inject(FS_FD, EV_WRITE);
	run_for(1);
	CHECK_EQ(fs.closed, 1);
	CHECK_EQ(fs.out_len, 9);
	CHECK_STR(ioev, "");	/* no events after handing it over */
	ev_shutdown();

	/* A peer that never reads: closed after the deadline anyway. */
	io_setup(false);
	fs.out_cap = 0;
	CHECK_EQ(io_write(&tio, "221 Bye\r\n", 9), 0);
	io_close_after_drain(&tio);
	run_for(9000);
	CHECK_EQ(fs.closed, 0);
	run_for(2000);
	CHECK_EQ(fs.closed, 1);
	CHECK_STR(ioev, "");
	ev_shutdown();
}

int
main(void)
{
	RUN(test_timers_in_order);
	RUN(test_equal_deadlines_fifo);
	RUN(test_stop_and_rearm);
	RUN(test_stop_due_timer_from_callback);
	RUN(test_hooks_each_turn);
	RUN(test_hook_timer_sets_timeout);
	RUN(test_run_without_anything_fails);
	RUN(test_stop_before_run);
	RUN(test_fd_dispatch);
	RUN(test_now_cached_per_turn);
	RUN(test_io_read_backpressure);
	RUN(test_io_eof_waits_for_unpause);
	RUN(test_io_close_inside_callback);
	RUN(test_io_write_paths);
	RUN(test_io_idle_timeout);
	RUN(test_io_connect);
	RUN(test_io_close_after_drain);
	return test_report("ev");
}
