/*
 * probe.c - the physical-limit probe of bench/ (issue 16, goal 1): the
 * least a relay that is durable before its 250 must do. One thread, one
 * poll() loop on 127.0.0.1:PORT: a 220, "250" to every command line
 * (354 to DATA, 221 to QUIT), the message written to FILE with one
 * pwrite() when its "\r\n.\r\n" arrives; at the end of each loop turn
 * one fdatasync() for every message completed in that turn, then their
 * 250s. FILE is written in full and synced first (16 MiB, the queue
 * size of the benchmark's edgemta) and then overwritten as a ring, so a
 * sync writes data and no file size or extent change, as edgemta's
 * queue file. No parsing, no unstuffing, no queue, no delivery: a
 * ceiling, not a mail server. Built and run by bench/run.sh and bench/bench.py:
 *   probe PORT FILE    (stops on SIGTERM; prints the count of messages
 *                       and of fdatasync calls to stdout at exit)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAXC 256
#define BUF (256 * 1024)
#define RING (16 * 1024 * 1024)

struct conn {
	int fd;
	int data;		/* inside DATA */
	int wait;		/* message appended, 250 after the sync */
	size_t len;
	char *buf;
};

static struct conn c[MAXC];
static off_t at;		/* where the next message goes in FILE */
static volatile sig_atomic_t stop;

static void
on_term(int sig)
{
	(void)sig;
	stop = 1;
}

static void
say(struct conn *k, const char *s)
{
	if (write(k->fd, s, strlen(s)) < 0) {
		/* the client went away: its next read says so */
	}
}

static void
drop(struct conn *k)
{
	close(k->fd);
	k->fd = -1;
}

/* Consume the complete lines (or the message) at the start of k->buf. */
static void
input(struct conn *k, int out, unsigned long *nmsg)
{
	size_t used = 0;

	while (used < k->len && !k->wait) {
		char *p = k->buf + used, *e;
		size_t n = k->len - used;

		if (k->data) {
			e = memmem(p, n, "\r\n.\r\n", 5);
			if (e == NULL) {
				break;
			}
			n = (size_t)(e - p) + 5;
			if (at + (off_t)n > RING) {
				at = 0;
			}
			if (n > RING || pwrite(out, p, n, at) != (ssize_t)n) {
				perror("probe: pwrite");
				exit(1);
			}
			at += (off_t)n;
			(*nmsg)++;
			k->data = 0;
			k->wait = 1;
			used += n;
			continue;
		}
		e = memchr(p, '\n', n);
		if (e == NULL) {
			break;
		}
		used += (size_t)(e - p) + 1;
		if (strncasecmp(p, "DATA", 4) == 0) {
			k->data = 1;
			/* the "\r\n" of the dot may be this line's own */
			used -= 2;
			say(k, "354 go\r\n");
		} else if (strncasecmp(p, "QUIT", 4) == 0) {
			say(k, "221 bye\r\n");
			drop(k);
			return;
		} else {
			say(k, "250 ok\r\n");
		}
	}
	memmove(k->buf, k->buf + used, k->len - used);
	k->len -= used;
}

int
main(int argc, char **argv)
{
	struct sockaddr_in a = { 0 };
	struct pollfd pf[MAXC + 1];
	unsigned long nmsg = 0, nsync = 0;
	int ls, out, one = 1, i, n, pending;

	if (argc != 3) {
		fprintf(stderr, "usage: probe PORT FILE\n");
		return 2;
	}
	out = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ls = socket(AF_INET, SOCK_STREAM, 0);
	if (out < 0 || ls < 0) {
		perror("probe");
		return 1;
	}
	{
		static char zero[65536];

		for (at = 0; at < RING; at += (off_t)sizeof(zero)) {
			if (write(out, zero, sizeof(zero)) != sizeof(zero)) {
				perror("probe: write");
				return 1;
			}
		}
		if (fsync(out) != 0) {
			perror("probe: fsync");
			return 1;
		}
		at = 0;
	}
	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	a.sin_family = AF_INET;
	a.sin_port = htons((unsigned short)atoi(argv[1]));
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(ls, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    listen(ls, 512) != 0) {
		perror("probe: bind/listen");
		return 1;
	}
	signal(SIGTERM, on_term);
	signal(SIGPIPE, SIG_IGN);
	for (i = 0; i < MAXC; i++) {
		c[i].fd = -1;
	}
	while (!stop) {
		pf[0].fd = ls;
		pf[0].events = POLLIN;
		for (i = 0; i < MAXC; i++) {
			pf[i + 1].fd = c[i].fd;
			pf[i + 1].events = POLLIN;
		}
		n = poll(pf, MAXC + 1, 200);
		if (n < 0 && errno != EINTR) {
			perror("probe: poll");
			return 1;
		}
		if (n <= 0) {
			continue;
		}
		if (pf[0].revents & POLLIN) {
			int fd = accept(ls, NULL, NULL);

			for (i = 0; fd >= 0 && i < MAXC && c[i].fd >= 0; i++) {
			}
			if (fd >= 0 && i == MAXC) {
				close(fd);
			} else if (fd >= 0) {
				setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
				    sizeof(one));
				c[i] = (struct conn){ .fd = fd, .buf = c[i].buf };
				if (c[i].buf == NULL &&
				    (c[i].buf = malloc(BUF)) == NULL) {
					return 1;
				}
				say(&c[i], "220 probe\r\n");
			}
		}
		for (i = 0; i < MAXC; i++) {
			struct conn *k = &c[i];
			ssize_t r;

			if (k->fd < 0 || !(pf[i + 1].revents &
			    (POLLIN | POLLHUP | POLLERR))) {
				continue;
			}
			r = read(k->fd, k->buf + k->len, BUF - k->len);
			if (r <= 0) {
				drop(k);
				continue;
			}
			k->len += (size_t)r;
			input(k, out, &nmsg);
			if (k->fd >= 0 && k->len == BUF) {
				drop(k);	/* a line or message too big */
			}
		}
		/* one sync for the turn, then every 250 it made durable */
		for (i = 0, pending = 0; i < MAXC; i++) {
			pending |= c[i].fd >= 0 && c[i].wait;
		}
		if (!pending) {
			continue;
		}
		if (fdatasync(out) != 0) {
			perror("probe: fdatasync");
			return 1;
		}
		nsync++;
		for (i = 0; i < MAXC; i++) {
			if (c[i].fd >= 0 && c[i].wait) {
				c[i].wait = 0;
				say(&c[i], "250 ok\r\n");
				input(&c[i], out, &nmsg);
			}
		}
	}
	printf("messages %lu fdatasync %lu\n", nmsg, nsync);
	return 0;
}
