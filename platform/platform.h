/*
 * platform.h - what each target supplies to the portable core.
 *
 * One implementation per target under platform/<target>/. Every function
 * returns 0 (or a count / fd) on success and a negative edgemta_err on
 * failure; none of them blocks except plat_poll_wait() and the flash
 * sync of the flash backend.
 */
#ifndef PLATFORM_H
#define PLATFORM_H

#include "edgemta.h"
#include "addr.h"

/* ---- readiness backend (epoll, poll, lwip_poll) ---- */

/* Prepare for fds below max_fds. */
int plat_poll_init(int max_fds);
void plat_poll_shutdown(void);

/*
 * Change the interest set of fd from old_events to new_events (EV_READ /
 * EV_WRITE masks from ev.h). old_events == 0 with registered == false
 * adds; remove with plat_poll_del().
 */
int plat_poll_mod(int fd, unsigned new_events, bool registered);
void plat_poll_del(int fd);

/*
 * Sleep up to timeout_ms (-1: forever) for readiness and call
 * ready(fd, events) for each ready fd. Returns the number of ready fds,
 * 0 on timeout or signal, or EDGEMTA_E_IO.
 */
int plat_poll_wait(int timeout_ms, void (*ready)(int fd, unsigned events));

/* ---- clock and randomness ---- */

/* Monotonic milliseconds since an arbitrary origin. */
uint64_t plat_now_ms(void);

/* Wall clock, seconds since 1970 (may be wrong on a device without RTC). */
int64_t plat_time(void);

/* Format t as an RFC 5322 date ("Sat, 28 Nov 2026 13:04:05 +0000"). */
void plat_rfc5322_date(int64_t t, char *buf, size_t len);

/* Fill buf with unpredictable bytes. */
void plat_random(void *buf, size_t len);

/* ---- stream sockets (all non-blocking) ---- */

/* Listen on a TCP address, backlog >= 128, SO_REUSEADDR. Returns fd. */
int plat_listen_tcp(const struct net_addr *a);

/* Listen on a local (unix) socket at path, mode 0666. Returns fd. */
int plat_listen_local(const char *path);

/*
 * Accept one connection: returns the new fd (non-blocking, TCP_NODELAY
 * for TCP) and fills *peer (family NET_LOCAL for unix sockets), or
 * EDGEMTA_E_AGAIN when there is none.
 */
int plat_accept(int lfd, struct net_addr *peer);

/*
 * Start a TCP connection to a (non-blocking). Returns the fd; completion
 * is signalled by EV_WRITE, then plat_connect_result() tells the outcome.
 */
int plat_connect_tcp(const struct net_addr *a);

/* 0 if the connection on fd is established, else a negative error. */
int plat_connect_result(int fd);

/* Connect to a local (unix) socket, blocking. Returns fd. */
int plat_connect_local(const char *path);

/* Local address of a connected or listening socket. */
int plat_sockname(int fd, struct net_addr *out);

/*
 * Read up to len bytes: > 0 bytes read, 0 at end of stream,
 * EDGEMTA_E_AGAIN, or EDGEMTA_E_IO.
 */
long plat_read(int fd, void *buf, size_t len);

/* Write up to len bytes: > 0 bytes written, EDGEMTA_E_AGAIN or _IO. */
long plat_write(int fd, const void *buf, size_t len);

void plat_close(int fd);

/*
 * true if the peer of a local (unix) socket runs as root or as the same
 * user as this process (admin commands over the local socket).
 */
bool plat_peer_is_admin(int fd);

/* ---- logging ---- */

/* Emit one finished line (no newline) at a log_level from log.h. */
void plat_log(int level, const char *line);

/* ---- host name ---- */

/* The system's host name into buf. 0 or EDGEMTA_E_IO. */
int plat_hostname(char *buf, size_t len);

#endif
