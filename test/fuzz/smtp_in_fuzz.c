/*
 * smtp_in_fuzz.c - libFuzzer harness for what a hostile SMTP client's
 * envelope strings become in the stored message: one session of the
 * real SMTP server (core/smtp_in*.c) on a fake socket reads the input
 * (EHLO/HELO argument, MAIL FROM, RCPT TO, DATA...) in reads of sizes
 * taken from the first input byte, each after the server's last reply
 * (the first after the greeting), the client being 127.0.0.1 inside
 * mynetworks. Every message it queues (flash simulator) must start with
 * a Received: header of printable ASCII, CRLF line ends and lines of at
 * most 998 octets, whatever the client sent. Seeds:
 * test/fuzz/corpus/smtp_in/.
 */
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "ev.h"
#include "fake_plat.h"
#include "fake_poll.h"
#include "flash_sim.h"
#include "queue.h"
#include "smtp_in.h"

#define FZ_LFD 8
#define FZ_FD 9
#define FZ_BLOCKS 16

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct flash_sim fz_sim;
static struct conf fz_conf;
static const uint8_t *fz_in;
static size_t fz_left, fz_chunk;
static bool fz_pending, fz_open, fz_ready, fz_wrote;
static unsigned fz_waits;
static struct queue_reader fz_rd;

int
plat_listen_tcp(const struct net_addr *a)
{
	(void)a;
	return FZ_LFD;
}

int
plat_listen_local(const char *path)
{
	(void)path;
	return EDGEMTA_E_INVAL;
}

int
plat_accept(int lfd, struct net_addr *peer)
{
	if (lfd != FZ_LFD || !fz_pending) {
		return EDGEMTA_E_AGAIN;
	}
	fz_pending = false;
	fz_open = true;
	memset(peer, 0, sizeof(*peer));
	peer->family = NET_INET4;
	peer->ip[0] = 127;
	peer->ip[3] = 1;
	peer->port = 40000;
	return FZ_FD;
}

bool
plat_peer_is_admin(int fd)
{
	(void)fd;
	return false;
}

long
plat_read(int fd, void *buf, size_t len)
{
	size_t n = fz_left < fz_chunk ? fz_left : fz_chunk;

	if (fd != FZ_FD) {
		return EDGEMTA_E_AGAIN;
	}
	/* like a client: wait for the server's reply (the greeting first:
	 * an early talker is refused), unless it does not come */
	if (!fz_wrote && fz_waits++ < 2) {
		return EDGEMTA_E_AGAIN;
	}
	fz_wrote = false;
	fz_waits = 0;
	if (n > len) {
		n = len;
	}
	if (n == 0) {
		return 0;	/* the client closed */
	}
	memcpy(buf, fz_in, n);
	fz_in += n;
	fz_left -= n;
	return (long)n;
}

long
plat_write(int fd, const void *buf, size_t len)
{
	(void)buf;
	if (fd == FZ_FD && len > 0) {
		fz_wrote = true;
	}
	return (long)len;
}

void
plat_close(int fd)
{
	if (fd == FZ_FD) {
		if (!fz_open) {
			abort();	/* closed twice */
		}
		fz_open = false;
	}
}

/* Unused by the server; the SMTP client in the library needs them. */
int
plat_connect_tcp(const struct net_addr *a)
{
	(void)a;
	return EDGEMTA_E_IO;
}

int
plat_connect_result(int fd)
{
	(void)fd;
	return EDGEMTA_E_IO;
}

static void
fz_hook(void *arg)
{
	(void)arg;
	queue_commit();
	if (fz_pending) {
		fake_poll_inject(FZ_LFD, EV_READ);
	} else if (fz_open) {
		fake_poll_inject(FZ_FD, EV_READ | EV_WRITE);
	} else {
		ev_stop();
	}
}

/* The Received: header (up to the first line not starting with TAB). */
static void
fz_check_received(const uint8_t *p, size_t len)
{
	size_t i, col = 0;

	if (len < 10 || memcmp(p, "Received: ", 10) != 0) {
		abort();
	}
	for (i = 0; i < len; i++) {
		if (p[i] == '\r') {
			if (i + 1 >= len || p[i + 1] != '\n') {
				abort();
			}
			i++;
			col = 0;
			if (i + 1 == len || p[i + 1] != '\t') {
				return;	/* the end of the field */
			}
			continue;
		}
		if (p[i] == '\n' || ((p[i] < 0x20 || p[i] >= 0x7f) &&
		    p[i] != '\t')) {
			abort();
		}
		if (++col > 998) {
			abort();
		}
	}
	abort();	/* no line end */
}

static int
fz_check_msg(void *arg, const struct queue_entry *e)
{
	static uint8_t head[2048];
	const uint8_t *p;
	size_t len, n = 0;
	unsigned idx, guard;
	int r;

	(void)arg;
	if (queue_reader_open(&fz_rd, e->id) != 0) {
		abort();
	}
	for (guard = 0; guard < 100000 && n < sizeof(head); guard++) {
		r = queue_reader_next(&fz_rd, &p, &len, &idx);
		if (r <= 0 || r == QUEUE_ITEM_END) {
			break;
		}
		if (r == QUEUE_ITEM_DATA) {
			if (len > sizeof(head) - n) {
				len = sizeof(head) - n;
			}
			memcpy(head + n, p, len);
			n += len;
		}
	}
	fz_check_received(head, n);
	(void)queue_msg_delete(e->id);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char text[] = "listen = 127.0.0.1:25 smtp\n"
	    "mynetworks = 127.0.0.0/8\n"
	    "smtpd_timeout = 10s\nmyhostname = gw.example\n";
	char err[CONF_ERR_MAX];
	unsigned i;

	if (!fz_ready) {
		fake_log_quiet(true);
		fake_clock_set(1000, 1790000000);
		conf_defaults(&fz_conf);
		if (conf_parse(&fz_conf, "fuzz", text, sizeof(text) - 1, err,
		    sizeof(err)) != 0) {
			abort();
		}
		fz_conf.local_socket[0] = '\0';	/* TCP only */
		if (flash_sim_init(&fz_sim,
		    CONFIG_QUEUE_PAGE_SIZE, CONFIG_QUEUE_BLOCK_SIZE,
		    FZ_BLOCKS) != 0 || queue_open(&fz_sim.fl, 0) != 0 ||
		    ev_init() != 0 || ev_add_before_sleep(fz_hook, NULL) != 0 ||
		    smtp_in_start(&fz_conf, "gw.example") != 0) {
			abort();
		}
		fz_ready = true;
	}
	fz_chunk = size > 0 ? (size_t)data[0] % 97 + 1 : 1;
	if (size > 0 && data[0] >= 200) {
		fz_chunk = 65536;
	}
	fz_in = size > 0 ? data + 1 : data;
	fz_left = size > 0 ? size - 1 : 0;
	fz_pending = true;
	fz_wrote = false;
	fz_waits = 0;
	for (i = 0; i < 1000 && (fz_pending || fz_open); i++) {
		fz_hook(NULL);
		(void)ev_run();
	}
	if (fz_open) {
		abort();	/* the session must end when the client leaves */
	}
	queue_commit();
	(void)queue_foreach(fz_check_msg, NULL);
	queue_commit();
	queue_reclaim();
	return 0;
}
