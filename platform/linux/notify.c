/*
 * notify.c - tell a service manager that the daemon is ready or stopping.
 *
 * systemd's readiness protocol (sd_notify(3), "Type=notify"): when the
 * environment names a socket in NOTIFY_SOCKET, send it one datagram of
 * newline-separated VAR=value assignments. A path starting with '@' is an
 * abstract socket. No libsystemd: the protocol is one sendto(). Without
 * NOTIFY_SOCKET this does nothing, so it is harmless under procd, BusyBox
 * init or a shell.
 */
#define _GNU_SOURCE
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "linux.h"

void
plat_notify(const char *state)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sun;
	size_t len;
	int fd;

	if (path == NULL || (path[0] != '/' && path[0] != '@')) {
		return;
	}
	len = strlen(path);
	if (len >= sizeof(sun.sun_path)) {
		return;
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, len);
	if (path[0] == '@') {
		sun.sun_path[0] = '\0';
	}
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		return;
	}
	/* a lost notification only delays the manager's view: no retry */
	if (sendto(fd, state, strlen(state), MSG_NOSIGNAL,
	    (struct sockaddr *)&sun,
	    (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len)) < 0) {
		/* nothing to do */
	}
	close(fd);
}
