/*
 * io.c - buffered non-blocking connection (see io.h).
 *
 * The owner's callback is only ever called from the loop (an fd callback
 * or this io's timer), never from inside an io_*() call the owner makes.
 * Whatever io_flush() or io_pause_read() find (a write error, the buffer
 * drained, input waiting after a pause) is recorded as a pending event and
 * delivered from a 0 ms timer in the next turn.
 *
 * Re-entrancy: the owner may io_close() (and even io_open() again, or
 * free the memory) from inside its callback. Every emission goes through
 * io_emit(), which remembers the io on a small stack; io_close(),
 * io_open() and io_close_after_drain() mark it gone there, and the
 * dispatcher then touches nothing of it.
 *
 * The one timer of an io serves three purposes: the idle timeout, the
 * deferred events above, and the deadline of io_close_after_drain().
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "io.h"
#include "platform.h"
#include "tls.h"

/* Private flag bits, next to the public IO_F_* ones of io.h. */
#define IO_F_P_READ 0x0100u	/* deliver IO_EV_READ from the loop */
#define IO_F_P_DRAINED 0x0200u	/* deliver IO_EV_DRAINED from the loop */
#define IO_F_CLOSED_SENT 0x0400u	/* IO_EV_CLOSED was delivered */
#define IO_F_DEFER 0x0800u	/* the timer runs the pending work, not idle */
#define IO_F_P_FLUSH 0x4000u	/* send the buffer from the loop */
#define IO_F_W_READ 0x1000u	/* EV_READ is being watched */
#define IO_F_W_WRITE 0x2000u	/* EV_WRITE is being watched */
#define IO_F_P_TLS 0x20000u	/* run the TLS pump from the loop */
#define IO_F_TLS_OUT 0x40000u	/* sent bytes still inside the engine */
#define IO_F_TLS_BYE 0x80000u	/* close_notify queued */

#define IO_DRAIN_TIMEOUT_MS 10000u

#define IO_EMIT_DEPTH 4

static const struct io *io_emit_stack[IO_EMIT_DEPTH];
static bool io_emit_gone[IO_EMIT_DEPTH];
static unsigned io_emit_depth;

static void io_on_fd(void *arg, unsigned events);
static void io_on_timer(void *arg);

/* The owner let go of io: no more events, do not touch it after fn. */
static void
io_mark_gone(const struct io *io)
{
	unsigned i;

	for (i = 0; i < io_emit_depth && i < IO_EMIT_DEPTH; i++) {
		if (io_emit_stack[i] == io) {
			io_emit_gone[i] = true;
		}
	}
}

/* Call the owner; false if io must not be touched any more. */
static bool
io_emit(struct io *io, int event)
{
	unsigned d = io_emit_depth;
	bool gone;

	if (d >= IO_EMIT_DEPTH) {
		/* Cannot track: assume the worst after the call. */
		io_emit_depth++;
		io->fn(io->arg, event);
		io_emit_depth--;
		return false;
	}
	io_emit_stack[d] = io;
	io_emit_gone[d] = false;
	io_emit_depth++;
	io->fn(io->arg, event);
	io_emit_depth--;
	gone = io_emit_gone[d];
	io_emit_stack[d] = NULL;
	return !gone;
}

static bool
io_can_read(const struct io *io)
{
	return !(io->flags & (IO_F_EOF | IO_F_ERR | IO_F_RPAUSE |
	    IO_F_CONNECTING | IO_F_CLOSE_DRAIN)) &&
	    io->rtail - io->rhead < sizeof(io->rbuf);
}

#if CONFIG_TLS
static unsigned
io_tls_want(struct io *io)
{
	unsigned w;

	if (io->flags & IO_F_ERR) {
		return 0;
	}
	w = tls_want(io, io_can_read(io));
	return (io->flags & IO_F_EOF) ? w & ~EV_READ : w;
}
#else
static unsigned
io_tls_want(struct io *io)
{
	(void)io;
	return 0;
}
#endif

/* Nothing left to send: neither in the send buffer nor in the engine. */
static bool
io_drained(struct io *io)
{
	if (CONFIG_TLS && io->tls != NULL) {
		return io_wempty(io) && !tls_sending(io);
	}
	return io_wempty(io);
}

/* Tell the loop what this io wants to hear about. */
static void
io_update_watch(struct io *io)
{
	unsigned want = 0, have = 0;

	if (io->fd < 0) {
		return;
	}
	if (io->flags & IO_F_CONNECTING) {
		want = EV_WRITE;
	} else if (io->tls != NULL) {
		want = io_tls_want(io);
	} else {
		if (io_can_read(io)) {
			want |= EV_READ;
		}
		if (!io_wempty(io) && !(io->flags & (IO_F_ERR |
		    IO_F_P_FLUSH))) {
			want |= EV_WRITE;
		}
	}
	if (io->flags & IO_F_W_READ) {
		have |= EV_READ;
	}
	if (io->flags & IO_F_W_WRITE) {
		have |= EV_WRITE;
	}
	if (want == have) {
		return;
	}
	if (ev_watch(io->fd, want, io_on_fd, io) < 0) {
		io->flags |= IO_F_ERR;
		return;
	}
	io->flags &= ~(IO_F_W_READ | IO_F_W_WRITE);
	io->flags |= (want & EV_READ) ? IO_F_W_READ : 0;
	io->flags |= (want & EV_WRITE) ? IO_F_W_WRITE : 0;
}

/* (Re)start the idle timer, or stop it when the io is not waiting for
 * input (paused, finished, draining to close). */
static void
io_arm_idle(struct io *io)
{
	if (io->flags & IO_F_DEFER) {
		return;		/* re-armed after the deferred work */
	}
	if (io->timeout_ms != 0 && !(io->flags & (IO_F_RPAUSE | IO_F_EOF |
	    IO_F_ERR | IO_F_CLOSE_DRAIN))) {
		ev_timer_start(&io->timer, io->timeout_ms, io_on_timer, io);
	} else {
		ev_timer_stop(&io->timer);
	}
}

/* Deliver pending events from the loop in the next turn. */
static void
io_defer(struct io *io)
{
	if (!(io->flags & IO_F_DEFER)) {
		io->flags |= IO_F_DEFER;
		ev_timer_start(&io->timer, 0, io_on_timer, io);
	}
}

#if CONFIG_TLS
/* Run the TLS engine pump (tls.c) and turn its results into events. */
static void
io_tls(struct io *io)
{
	bool had = !io_wempty(io) || (io->flags & IO_F_TLS_OUT);
	unsigned r;

	if (io->flags & (IO_F_ERR | IO_F_CONNECTING)) {
		return;
	}
	r = tls_pump(io, io_can_read(io));
	if (r & TLS_R_READ) {
		io->flags |= IO_F_P_READ;
		io_arm_idle(io);
	}
	if (r & TLS_R_EOF) {
		io->flags |= IO_F_EOF;
	}
	if (r & TLS_R_ERR) {
		io->flags |= IO_F_ERR;
	}
	if (io_wempty(io) && !tls_sending(io)) {
		io->flags &= ~IO_F_TLS_OUT;
		if (had && !(io->flags & IO_F_CLOSE_DRAIN)) {
			io->flags |= IO_F_P_DRAINED;
		}
	} else if (had) {
		io->flags |= IO_F_TLS_OUT;
	}
}
#else
static void
io_tls(struct io *io)
{
	(void)io;
}
#endif

void
io_kick(struct io *io)
{
	if (io->fd < 0) {
		return;
	}
	io->flags |= IO_F_P_TLS;
	io_update_watch(io);
	io_defer(io);
}

void
io_abort(struct io *io)
{
	if (io->fd < 0) {
		return;
	}
	io->flags |= IO_F_ERR;
	io_update_watch(io);
	io_defer(io);
}

int
io_open(struct io *io, int fd, bool connecting, io_event_fn fn, void *arg)
{
	int r;

	if ((io->flags & IO_F_CLOSE_DRAIN) && io->fd >= 0) {
		io_close(io);	/* slot reused before the drain ended */
	}
	io_mark_gone(io);
	if (io->timer.armed) {
		ev_timer_stop(&io->timer);
	}
	io->fd = fd;
	io->flags = connecting ? IO_F_CONNECTING : 0;
	io->fn = fn;
	io->arg = arg;
	io->timeout_ms = 0;
	memset(&io->timer, 0, sizeof(io->timer));
	io->rhead = io->rtail = 0;
	io->woff = io->wlen = 0;
	io->rx_bytes = io->tx_bytes = 0;
	io->tls = NULL;
	io_update_watch(io);
	if (io->flags & IO_F_ERR) {
		/* The fd was not taken over: the caller still owns it. */
		io->fd = -1;
		io->flags = 0;
		r = EDGEMTA_E_FULL;
		return r;
	}
	return 0;
}

void
io_close(struct io *io)
{
	io_mark_gone(io);
	if (io->fd < 0) {
		return;
	}
	ev_timer_stop(&io->timer);
#if CONFIG_TLS
	tls_detach(io);
#endif
	ev_unwatch(io->fd);
	plat_close(io->fd);
	io->fd = -1;
	io->flags = 0;
	io->rhead = io->rtail = 0;
	io->woff = io->wlen = 0;
}

/* Send as much of the send buffer as the socket takes. */
static void
io_send(struct io *io)
{
	bool had = !io_wempty(io);

	if (io->tls != NULL) {
		io_tls(io);
		return;
	}
	while (!io_wempty(io)) {
		long n = plat_write(io->fd, io->wbuf + io->woff,
		    io->wlen - io->woff);

		if (n == EDGEMTA_E_AGAIN) {
			break;
		}
		if (n <= 0) {
			io->flags |= IO_F_ERR;
			return;
		}
		io->woff += (size_t)n;
		io->tx_bytes += (uint64_t)n;
	}
	if (io_wempty(io)) {
		io->woff = io->wlen = 0;
		if (had && !(io->flags & IO_F_CLOSE_DRAIN)) {
			io->flags |= IO_F_P_DRAINED;
		}
	}
}

/* Read until the socket is empty or the buffer full. */
static void
io_recv(struct io *io)
{
	bool got = false;

	if (io->tls != NULL) {
		io_tls(io);
		return;
	}
	while (io_can_read(io)) {
		long n;

		if (io->rhead == io->rtail) {
			io->rhead = io->rtail = 0;
		} else if (io->rtail == sizeof(io->rbuf)) {
			memmove(io->rbuf, io->rbuf + io->rhead,
			    io->rtail - io->rhead);
			io->rtail -= io->rhead;
			io->rhead = 0;
		}
		n = plat_read(io->fd, io->rbuf + io->rtail,
		    sizeof(io->rbuf) - io->rtail);
		if (n == EDGEMTA_E_AGAIN) {
			break;
		}
		if (n == 0) {
			io->flags |= IO_F_EOF;
			break;
		}
		if (n < 0) {
			io->flags |= IO_F_ERR;
			break;
		}
		io->rtail += (size_t)n;
		io->rx_bytes += (uint64_t)n;
		got = true;
	}
	if (got) {
		io->flags |= IO_F_P_READ;
		io_arm_idle(io);
	}
}

/* Send for a close: with TLS, a close_notify follows the last data. */
static void
io_send_final(struct io *io)
{
	io_send(io);
	if (io->tls != NULL && io_wempty(io) && !(io->flags & IO_F_TLS_BYE) &&
	    !(io->flags & IO_F_ERR)) {
		io->flags |= IO_F_TLS_BYE;
		tls_close_notify(io);
		io_send(io);
	}
}

/* Really close an io that was handed to io_close_after_drain(). */
static void
io_drain_step(struct io *io)
{
	io_send_final(io);
	if (io_drained(io) || (io->flags & IO_F_ERR)) {
		io_close(io);
	} else {
		io_update_watch(io);
	}
}

/*
 * Deliver pending events in a fixed order: DRAINED, READ, CLOSED.
 * End of stream is held back while the owner has paused reading, so that
 * pipelined input before the FIN is still processed; an error is not.
 */
static void
io_dispatch(struct io *io)
{
	if (io->flags & IO_F_P_DRAINED) {
		io->flags &= ~IO_F_P_DRAINED;
		if (!io_emit(io, IO_EV_DRAINED)) {
			return;
		}
	}
	if (io->flags & IO_F_P_READ) {
		io->flags &= ~IO_F_P_READ;
		if (!(io->flags & IO_F_RPAUSE) && io->rtail > io->rhead) {
			if (!io_emit(io, IO_EV_READ)) {
				return;
			}
		}
	}
	if ((io->flags & (IO_F_EOF | IO_F_ERR)) &&
	    !(io->flags & IO_F_CLOSED_SENT) &&
	    ((io->flags & IO_F_ERR) || !(io->flags & IO_F_RPAUSE))) {
		io->flags |= IO_F_CLOSED_SENT;
		io_arm_idle(io);	/* stops the idle timer */
		io_update_watch(io);
		if (!io_emit(io, IO_EV_CLOSED)) {
			return;
		}
	}
	io_update_watch(io);
}

static void
io_connect_done(struct io *io)
{
	if (plat_connect_result(io->fd) == 0) {
		io->flags &= ~IO_F_CONNECTING;
		io_send(io);	/* what the owner wrote while connecting */
		io_update_watch(io);
		io_arm_idle(io);
		if (!io_emit(io, IO_EV_CONNECTED)) {
			return;
		}
		io_dispatch(io);	/* DRAINED, or CLOSED on a send error */
		return;
	}
	io->flags &= ~IO_F_CONNECTING;
	io->flags |= IO_F_ERR | IO_F_CLOSED_SENT;
	io_arm_idle(io);
	io_update_watch(io);
	io_emit(io, IO_EV_CLOSED);
}

static void
io_on_fd(void *arg, unsigned events)
{
	struct io *io = arg;

	if (io->flags & IO_F_CONNECTING) {
		io_connect_done(io);
		return;
	}
	if (io->flags & IO_F_CLOSE_DRAIN) {
		io_drain_step(io);
		return;
	}
	if (io->tls != NULL) {
		io_tls(io);
	} else {
		if ((events & (EV_WRITE | EV_ERROR)) && !io_wempty(io)) {
			io_send(io);
		}
		if (events & (EV_READ | EV_ERROR)) {
			io_recv(io);
		}
	}
	if ((events & EV_ERROR) && !(io->flags & (IO_F_EOF | IO_F_ERR)) &&
	    !(events & EV_READ)) {
		/* Error or hang-up we could not read about (paused or full):
		 * stop watching rather than be woken again and again. */
		io->flags |= plat_connect_result(io->fd) < 0 ? IO_F_ERR :
		    IO_F_EOF;
	}
	io_dispatch(io);
}

static void
io_on_timer(void *arg)
{
	struct io *io = arg;

	if (io->flags & IO_F_CLOSE_DRAIN) {
		io_close(io);	/* the drain deadline passed */
		return;
	}
	if (io->flags & IO_F_DEFER) {
		io->flags &= ~IO_F_DEFER;
		if (io->flags & IO_F_P_FLUSH) {
			io->flags &= ~IO_F_P_FLUSH;
			if (!(io->flags & (IO_F_CONNECTING | IO_F_ERR))) {
				io_send(io);
			}
		}
		if (io->flags & IO_F_P_TLS) {
			io->flags &= ~IO_F_P_TLS;
			io_tls(io);
		}
		io_arm_idle(io);
		io_dispatch(io);
		return;
	}
	io_emit(io, IO_EV_TIMEOUT);
}

void
io_close_after_drain(struct io *io)
{
	io_mark_gone(io);
	if (io->fd < 0) {
		return;
	}
	io->flags &= ~(IO_F_P_READ | IO_F_P_DRAINED | IO_F_CONNECTING |
	    IO_F_DEFER | IO_F_P_FLUSH);
	io->flags |= IO_F_CLOSE_DRAIN;
	if (io->flags & IO_F_ERR) {
		io_close(io);
		return;
	}
	io_send_final(io);
	if (io_drained(io) || (io->flags & IO_F_ERR)) {
		io_close(io);
		return;
	}
	ev_timer_start(&io->timer, IO_DRAIN_TIMEOUT_MS, io_on_timer, io);
	io_update_watch(io);
}

void
io_set_timeout(struct io *io, uint32_t ms)
{
	io->timeout_ms = ms;
	if (io->fd >= 0) {
		io_arm_idle(io);
	}
}

const uint8_t *
io_rpeek(struct io *io, size_t *len)
{
	*len = io->rtail - io->rhead;
	return io->rbuf + io->rhead;
}

void
io_rconsume(struct io *io, size_t n)
{
	size_t avail = io->rtail - io->rhead;

	io->rhead += n < avail ? n : avail;
	if (io->rhead == io->rtail) {
		io->rhead = io->rtail = 0;
	}
	io_update_watch(io);
	if (CONFIG_TLS && io->tls != NULL && tls_app_pending(io)) {
		io_kick(io);	/* decrypted input waits in the engine */
	}
}

void
io_rdiscard(struct io *io)
{
	io->rhead = io->rtail = 0;
	io->flags &= ~IO_F_P_READ;
	io_update_watch(io);
}

void
io_pause_read(struct io *io, bool pause)
{
	if (pause) {
		io->flags |= IO_F_RPAUSE;
		io_arm_idle(io);	/* stops it, unless work is pending */
	} else if (io->flags & IO_F_RPAUSE) {
		io->flags &= ~IO_F_RPAUSE;
		if (io->fd >= 0 && (io->rtail > io->rhead ||
		    (io->flags & (IO_F_EOF | IO_F_ERR)))) {
			io->flags |= IO_F_P_READ;
			io_defer(io);
		} else if (io->fd >= 0) {
			io_arm_idle(io);
		}
		if (CONFIG_TLS && io->tls != NULL && tls_app_pending(io)) {
			io_kick(io);
		}
	}
	io_update_watch(io);
}

uint8_t *
io_wspace(struct io *io, size_t *room)
{
	if (io->woff > 0) {
		memmove(io->wbuf, io->wbuf + io->woff, io->wlen - io->woff);
		io->wlen -= io->woff;
		io->woff = 0;
	}
	*room = sizeof(io->wbuf) - io->wlen;
	return io->wbuf + io->wlen;
}

void
io_wcommit(struct io *io, size_t n)
{
	size_t room = sizeof(io->wbuf) - io->wlen;

	io->wlen += n < room ? n : room;
	/* Sent by io_flush(), or from the loop if the owner does not
	 * flush: no epoll_ctl() for each reply. */
	if (io->fd >= 0 && !(io->flags & (IO_F_W_WRITE | IO_F_CONNECTING |
	    IO_F_CLOSE_DRAIN))) {
		io->flags |= IO_F_P_FLUSH;
		io_defer(io);
	}
}

size_t
io_wroom(struct io *io)
{
	return sizeof(io->wbuf) - (io->wlen - io->woff);
}

int
io_write(struct io *io, const void *buf, size_t len)
{
	uint8_t *p;
	size_t room;

	if (len > io_wroom(io)) {
		return EDGEMTA_E_FULL;
	}
	p = io_wspace(io, &room);
	memcpy(p, buf, len);
	io_wcommit(io, len);
	return 0;
}

int
io_printf(struct io *io, const char *fmt, ...)
{
	va_list ap;
	uint8_t *p;
	size_t room;
	int n;

	p = io_wspace(io, &room);
	va_start(ap, fmt);
	n = vsnprintf((char *)p, room, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= room) {
		return EDGEMTA_E_FULL;
	}
	io_wcommit(io, (size_t)n);
	return 0;
}

void
io_flush(struct io *io)
{
	if (io->fd < 0 || (io->flags & (IO_F_CONNECTING | IO_F_ERR |
	    IO_F_CLOSE_DRAIN))) {
		return;
	}
	io->flags &= ~IO_F_P_FLUSH;
	io_send(io);
	if (io->flags & (IO_F_ERR | IO_F_P_DRAINED)) {
		io_defer(io);
	}
	io_update_watch(io);
}
