/*
 * io.h - a buffered, non-blocking connection on the event loop.
 *
 * Turns readiness into events for its owner: IO_EV_READ (new bytes are in
 * the receive buffer), IO_EV_DRAINED (the send buffer became empty),
 * IO_EV_CONNECTED, IO_EV_CLOSED (peer closed or error) and IO_EV_TIMEOUT
 * (no input for the idle timeout). SMTP code never calls recv/send.
 *
 * Buffers are embedded (no allocation) and used through peek/commit:
 *   data = io_rpeek(io, &len);  ... io_rconsume(io, n);
 *   room = io_wspace(io, &len); ... io_wcommit(io, n);
 * When the receive buffer is full and the owner does not consume, the io
 * stops reading from the socket (backpressure) until it does.
 *
 * Seam for TLS (later): the byte pump in io.c is the only place that calls
 * plat_read/plat_write; a TLS engine goes between it and the buffers.
 */
#ifndef IO_H
#define IO_H

#include "edgemta.h"
#include "ev.h"

enum io_event {
	IO_EV_READ = 1,
	IO_EV_DRAINED,
	IO_EV_CONNECTED,
	IO_EV_CLOSED,
	IO_EV_TIMEOUT
};

#define IO_F_EOF 0x01u		/* peer closed its side */
#define IO_F_ERR 0x02u		/* socket error */
#define IO_F_CONNECTING 0x04u	/* waiting for connect completion */
#define IO_F_RPAUSE 0x08u	/* owner paused reading */
#define IO_F_CLOSE_DRAIN 0x10u	/* close once the send buffer drained */

typedef void (*io_event_fn)(void *arg, int event);

struct tls_conn;	/* tls.c */

struct io {
	int fd;
	unsigned flags;
	io_event_fn fn;
	void *arg;
	uint32_t timeout_ms;	/* idle timeout; 0 = none */
	struct ev_timer timer;
	size_t rhead, rtail;	/* unread bytes are rbuf[rhead..rtail) */
	size_t woff, wlen;	/* unsent bytes are wbuf[woff..wlen) */
	uint64_t rx_bytes, tx_bytes;
	struct tls_conn *tls;	/* TLS engine between socket and buffers
				 * (tls.h), NULL = plaintext */
	uint8_t rbuf[CONFIG_IO_RBUF_SIZE];
	uint8_t wbuf[CONFIG_IO_WBUF_SIZE];
};

/*
 * Take over a connected fd (or one in progress: connecting = true, then
 * IO_EV_CONNECTED or IO_EV_CLOSED follows). Events go to fn(arg, ev).
 * Events are only ever delivered from the loop, never from inside an
 * io_*() call. On failure the caller still owns (and closes) fd.
 */
int io_open(struct io *io, int fd, bool connecting, io_event_fn fn,
    void *arg);

/* Close the fd now, dropping unsent bytes. No event follows. */
void io_close(struct io *io);

/* Send what is buffered, then close. No event follows. */
void io_close_after_drain(struct io *io);

/* Idle timeout: IO_EV_TIMEOUT after ms without input (0 = none). */
void io_set_timeout(struct io *io, uint32_t ms);

/* Unread input: pointer and length (may be 0). */
const uint8_t *io_rpeek(struct io *io, size_t *len);

/* Mark n bytes of input read; resumes reading if it was stalled. */
void io_rconsume(struct io *io, size_t n);

/* Drop all unread input (STARTTLS: discard pipelined plaintext). */
void io_rdiscard(struct io *io);

/* Stop / resume delivering IO_EV_READ (and reading the socket). Resuming
 * with unread input (or a pending end of stream) delivers IO_EV_READ (then
 * IO_EV_CLOSED) from the loop in the next turn. */
void io_pause_read(struct io *io, bool pause);

/* Free space at the end of the send buffer. */
uint8_t *io_wspace(struct io *io, size_t *room);

/* Queue n bytes written into io_wspace() for sending. */
void io_wcommit(struct io *io, size_t n);

/* Append bytes; EDGEMTA_E_FULL (nothing appended) if they do not fit. */
int io_write(struct io *io, const void *buf, size_t len);

/* printf into the send buffer; EDGEMTA_E_FULL if it does not fit. */
int io_printf(struct io *io, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Bytes free in the send buffer (after compaction). */
size_t io_wroom(struct io *io);

/* Try to send now; the rest goes when the socket is writable. */
void io_flush(struct io *io);

/* For tls.c: the TLS state of io changed (attached): re-run the pump
 * and the watch from the loop. */
void io_kick(struct io *io);

/* Fail the connection: IO_EV_CLOSED follows from the loop (tls.c:
 * handshake timeout). */
void io_abort(struct io *io);

static inline bool
io_wempty(const struct io *io)
{
	return io->woff == io->wlen;
}

#endif
