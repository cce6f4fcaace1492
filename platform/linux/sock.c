/*
 * sock.c - stream sockets for Linux, and the conversion between
 * struct net_addr (core/addr.h) and struct sockaddr.
 *
 * Every fd is non-blocking and close-on-exec except the injector's
 * plat_connect_local(). On failure errno is kept as the system set it, so
 * that the Linux callers can print strerror(errno).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "platform.h"

/* Fill ss from a; returns the sockaddr length or 0 for a bad family. */
static socklen_t
sock_from_addr(const struct net_addr *a, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (a->family == NET_INET4) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;

		sin->sin_family = AF_INET;
		sin->sin_port = htons(a->port);
		memcpy(&sin->sin_addr, a->ip, 4);
		return sizeof(*sin);
	}
	if (a->family == NET_INET6) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(a->port);
		memcpy(&sin6->sin6_addr, a->ip, 16);
		return sizeof(*sin6);
	}
	return 0;
}

static void
sock_to_addr(const struct sockaddr_storage *ss, struct net_addr *a)
{
	memset(a, 0, sizeof(*a));
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const void *)ss;

		a->family = NET_INET4;
		a->port = ntohs(sin->sin_port);
		memcpy(a->ip, &sin->sin_addr, 4);
	} else if (ss->ss_family == AF_INET6) {
		static const uint8_t mapped[12] = { [10] = 0xff, [11] = 0xff };
		const struct sockaddr_in6 *sin6 = (const void *)ss;

		a->family = NET_INET6;
		a->port = ntohs(sin6->sin6_port);
		memcpy(a->ip, &sin6->sin6_addr, 16);
		if (memcmp(a->ip, mapped, 12) == 0) {
			/* an IPv4 client of a [::] listener: it is a.b.c.d
			 * (mynetworks, logs, Received:), not ::ffff:a.b.c.d */
			a->family = NET_INET4;
			memmove(a->ip, a->ip + 12, 4);
			memset(a->ip + 4, 0, 12);
		}
	} else if (ss->ss_family == AF_UNIX) {
		a->family = NET_LOCAL;
	}
}

static int
sock_errno_to_err(int e)
{
	switch (e) {
	case EAGAIN:
#if EWOULDBLOCK != EAGAIN
	case EWOULDBLOCK:
#endif
		return EDGEMTA_E_AGAIN;
	case ENOENT:
		return EDGEMTA_E_NOENT;
	case ETIMEDOUT:
		return EDGEMTA_E_TIMEOUT;
	case EMFILE:
	case ENFILE:
		return EDGEMTA_E_FULL;
	default:
		return EDGEMTA_E_IO;
	}
}

/* Close fd keeping errno; return the error for it. */
static int
sock_fail(int fd)
{
	int e = errno;

	if (fd >= 0) {
		close(fd);
	}
	errno = e;
	return sock_errno_to_err(e);
}

static void
sock_nodelay(int fd)
{
	int one = 1;

	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static int
sock_listen(const struct sockaddr_storage *ss, socklen_t sl, int v6only)
{
	int fd, one = 1;

	fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (fd < 0) {
		return sock_fail(-1);
	}
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0) {
		return sock_fail(fd);
	}
	if (ss->ss_family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6,
	    IPV6_V6ONLY, &v6only, sizeof(v6only)) < 0) {
		return sock_fail(fd);
	}
	if (bind(fd, (const struct sockaddr *)ss, sl) < 0 ||
	    listen(fd, 511) < 0) {
		return sock_fail(fd);
	}
	return fd;
}

/*
 * [::]:PORT takes IPv4 clients too (v4-mapped, like Postfix with
 * inet_protocols = all), unless an IPv4 listener holds the port already
 * (conf.c opens those first): then it is IPv6-only. Any other IPv6
 * address is IPv6-only.
 */
int
plat_listen_tcp(const struct net_addr *a)
{
	static const uint8_t any[16];
	struct sockaddr_storage ss;
	socklen_t sl = sock_from_addr(a, &ss);
	bool dual = a->family == NET_INET6 && memcmp(a->ip, any, 16) == 0;
	int fd;

	if (sl == 0) {
		errno = EAFNOSUPPORT;
		return EDGEMTA_E_INVAL;
	}
	fd = sock_listen(&ss, sl, !dual);
	if (fd < 0 && dual && errno == EADDRINUSE) {
		fd = sock_listen(&ss, sl, 1);
	}
	return fd;
}

static socklen_t
sock_un(const char *path, struct sockaddr_un *sun)
{
	size_t len = strlen(path);

	memset(sun, 0, sizeof(*sun));
	if (len == 0 || len >= sizeof(sun->sun_path)) {
		errno = ENAMETOOLONG;
		return 0;
	}
	sun->sun_family = AF_UNIX;
	memcpy(sun->sun_path, path, len + 1);
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + 1);
}

int
plat_listen_local(const char *path)
{
	struct sockaddr_un sun;
	socklen_t sl = sock_un(path, &sun);
	struct stat st;
	int fd;

	if (sl == 0) {
		return EDGEMTA_E_INVAL;
	}
	/* A socket left by a previous run (crash, power cut) is stale:
	 * only one daemon runs per queue, the queue lock sees to that. */
	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode)) {
		(void)unlink(path);
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		return sock_fail(-1);
	}
	if (bind(fd, (struct sockaddr *)&sun, sl) < 0) {
		return sock_fail(fd);
	}
	if (chmod(path, 0666) < 0 || listen(fd, 511) < 0) {
		return sock_fail(fd);
	}
	return fd;
}

int
plat_accept(int lfd, struct net_addr *peer)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int fd;

	memset(&ss, 0, sizeof(ss));
	do {
		fd = accept4(lfd, (struct sockaddr *)&ss, &sl,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
	} while (fd < 0 && errno == EINTR);
	if (fd < 0) {
		/* A connection reset before we took it: nothing to do. */
		if (errno == ECONNABORTED || errno == EPROTO) {
			return EDGEMTA_E_AGAIN;
		}
		return sock_errno_to_err(errno);
	}
	if (ss.ss_family == AF_INET || ss.ss_family == AF_INET6) {
		sock_nodelay(fd);
	}
	if (peer != NULL) {
		sock_to_addr(&ss, peer);
		if (ss.ss_family != AF_INET && ss.ss_family != AF_INET6) {
			peer->family = NET_LOCAL;
		}
	}
	return fd;
}

int
plat_connect_tcp(const struct net_addr *a)
{
	struct sockaddr_storage ss;
	socklen_t sl = sock_from_addr(a, &ss);
	int fd;

	if (sl == 0) {
		errno = EAFNOSUPPORT;
		return EDGEMTA_E_INVAL;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (fd < 0) {
		return sock_fail(-1);
	}
	sock_nodelay(fd);
	if (connect(fd, (struct sockaddr *)&ss, sl) < 0 &&
	    errno != EINPROGRESS && errno != EINTR) {
		return sock_fail(fd);
	}
	return fd;
}

int
plat_connect_result(int fd)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) {
		return sock_errno_to_err(errno);
	}
	if (err != 0) {
		errno = err;
		return err == ETIMEDOUT ? EDGEMTA_E_TIMEOUT : EDGEMTA_E_IO;
	}
	return 0;
}

int
plat_connect_local(const char *path)
{
	struct sockaddr_un sun;
	socklen_t sl = sock_un(path, &sun);
	int fd, r;

	if (sl == 0) {
		return EDGEMTA_E_INVAL;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		return sock_fail(-1);
	}
	do {
		r = connect(fd, (struct sockaddr *)&sun, sl);
	} while (r < 0 && errno == EINTR);
	if (r < 0) {
		return sock_fail(fd);
	}
	return fd;
}

int
plat_sockname(int fd, struct net_addr *out)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	memset(&ss, 0, sizeof(ss));
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0) {
		return sock_errno_to_err(errno);
	}
	sock_to_addr(&ss, out);
	return 0;
}

long
plat_read(int fd, void *buf, size_t len)
{
	ssize_t n;

	do {
		n = read(fd, buf, len);
	} while (n < 0 && errno == EINTR);
	if (n < 0) {
		return errno == EAGAIN || errno == EWOULDBLOCK ?
		    EDGEMTA_E_AGAIN : EDGEMTA_E_IO;
	}
	return (long)n;
}

long
plat_write(int fd, const void *buf, size_t len)
{
	ssize_t n;

	do {
		n = send(fd, buf, len, MSG_NOSIGNAL);
		if (n < 0 && errno == ENOTSOCK) {
			n = write(fd, buf, len);	/* a pipe in tests */
		}
	} while (n < 0 && errno == EINTR);
	if (n < 0) {
		return errno == EAGAIN || errno == EWOULDBLOCK ?
		    EDGEMTA_E_AGAIN : EDGEMTA_E_IO;
	}
	if (n == 0 && len > 0) {
		return EDGEMTA_E_AGAIN;
	}
	return (long)n;
}

void
plat_close(int fd)
{
	if (fd >= 0) {
		(void)close(fd);	/* no retry on EINTR: Linux closed it */
	}
}

bool
plat_peer_is_admin(int fd)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0 ||
	    len != sizeof(cr)) {
		return false;
	}
	return cr.uid == 0 || cr.uid == geteuid();
}
