/*
 * smtp_out_fuzz.c - libFuzzer harness for the SMTP client's reply
 * handling (core/smtp_out.c) against a hostile smarthost: the input is
 * everything the server "sends" (greeting, EHLO reply, replies to MAIL,
 * RCPT, DATA and the final dot, QUIT), handed to the client in reads of
 * sizes taken from the first input byte; the socket accepts every write.
 * The client delivers one queued message (flash simulator) with three
 * recipients. Every recipient result must be reported at most once per
 * attempt with a terminated one-line text, and the session must end
 * (closed() once). Seeds: test/fuzz/corpus/smtp_out/.
 */
#include <stdlib.h>
#include <string.h>

#include "ev.h"
#include "fake_plat.h"
#include "fake_poll.h"
#include "flash_sim.h"
#include "queue.h"
#include "smtp_out.h"

#define FZ_FD 7
#define FZ_BLOCKS 8

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct flash_sim fz_sim;
static struct smtp_out_session fz_s;
static uint32_t fz_id;
static const uint8_t *fz_in;
static size_t fz_left, fz_chunk;
static bool fz_open, fz_done, fz_given;
static unsigned fz_closed, fz_results[8];

int
plat_connect_tcp(const struct net_addr *a)
{
	(void)a;
	fz_open = true;
	return FZ_FD;
}

int
plat_connect_result(int fd)
{
	(void)fd;
	return 0;
}

long
plat_read(int fd, void *buf, size_t len)
{
	size_t n = fz_left < fz_chunk ? fz_left : fz_chunk;

	(void)fd;
	if (n > len) {
		n = len;
	}
	if (n == 0) {
		return 0;	/* the server closed */
	}
	memcpy(buf, fz_in, n);
	fz_in += n;
	fz_left -= n;
	return (long)n;
}

long
plat_write(int fd, const void *buf, size_t len)
{
	(void)fd;
	(void)buf;
	return (long)len;
}

void
plat_close(int fd)
{
	if (fd != FZ_FD || !fz_open) {
		abort();	/* closed twice or a stranger */
	}
	fz_open = false;
}

static bool
fz_next(void *arg, struct smtp_out_session *s, uint32_t *id)
{
	(void)arg;
	(void)s;
	if (fz_given) {
		return false;
	}
	fz_given = true;
	*id = fz_id;
	return true;
}

static void
fz_rcpt(void *arg, struct smtp_out_session *s,
    const struct smtp_out_result *r)
{
	(void)arg;
	(void)s;
	if (r->id != fz_id || r->idx >= 3 || ++fz_results[r->idx] > 1) {
		abort();	/* one result per recipient and attempt */
	}
	if (r->text == NULL || strlen(r->text) >= 1024 ||
	    strchr(r->text, '\n') != NULL || strchr(r->text, '\r') != NULL) {
		abort();
	}
	if (r->dsn == NULL || strlen(r->dsn) > 16 || strchr(r->dsn, '\n') ||
	    strchr(r->dsn, '\r')) {
		abort();
	}
	if (r->code < 0 || r->code > 999) {
		abort();
	}
}

static void
fz_msg_done(void *arg, struct smtp_out_session *s, uint32_t id)
{
	(void)arg;
	(void)s;
	if (id != fz_id) {
		abort();
	}
}

static void
fz_closed_cb(void *arg, struct smtp_out_session *s, bool greeted,
    const char *reason)
{
	(void)arg;
	(void)s;
	(void)greeted;
	if (reason == NULL || strchr(reason, '\n') != NULL) {
		abort();
	}
	fz_closed++;
	fz_done = true;
	ev_stop();
}

static const struct smtp_out_cb fz_cb = {
	fz_next, fz_rcpt, fz_msg_done, fz_closed_cb, NULL
};

/* before each sleep: the socket is readable and writable again */
static void
fz_ready(void *arg)
{
	(void)arg;
	if (!fz_done && fz_open) {
		fake_poll_inject(FZ_FD, EV_READ | EV_WRITE);
	}
}

static void
fz_setup(void)
{
	static const char *const rcpts[] = { "a@example.net",
		"b@example.net", "c@example.org" };
	static char body[6000];
	struct queue_writer w;
	size_t i;

	fake_log_quiet(true);
	fake_clock_set(1000, 1790000000);
	if (flash_sim_init(&fz_sim, CONFIG_QUEUE_PAGE_SIZE,
	    CONFIG_QUEUE_BLOCK_SIZE, FZ_BLOCKS) != 0 ||
	    queue_open(&fz_sim.fl, 0) != 0 || ev_init() != 0 ||
	    ev_add_before_sleep(fz_ready, NULL) != 0) {
		abort();
	}
	for (i = 0; i + 2 <= sizeof(body); i += 60) {
		memcpy(body + i, i == 0 ? "Subject: x\r\n\r\n" : ".line\r\n",
		    i == 0 ? 14 : 7);
		memset(body + i + (i == 0 ? 14 : 7), 'y',
		    60 - (i == 0 ? 14 : 7) - 2);
		memcpy(body + i + 58, "\r\n", 2);
	}
	if (queue_msg_begin(&w, "alice@example.org", 0, 0) != 0) {
		abort();
	}
	for (i = 0; i < 3; i++) {
		if (queue_msg_rcpt(&w, rcpts[i]) != 0) {
			abort();
		}
	}
	if (queue_msg_write(&w, body, sizeof(body) - sizeof(body) % 60) !=
	    0 || queue_msg_seal(&w, NULL, NULL) != 0) {
		abort();
	}
	queue_commit();
	fz_id = w.id;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct smtp_out_tls plain = { .user = "", .pass = "" };
	struct net_addr a;
	unsigned i;

	if (fz_id == 0) {
		fz_setup();
	}
	smtp_out_set_tls(&plain);
	fz_chunk = size > 0 ? (size_t)data[0] % 97 + 1 : 1;
	if (size > 0 && data[0] >= 200) {
		fz_chunk = 65536;
	}
	fz_in = size > 0 ? data + 1 : data;
	fz_left = size > 0 ? size - 1 : 0;
	fz_done = fz_given = false;
	fz_closed = 0;
	memset(fz_results, 0, sizeof(fz_results));
	memset(&a, 0, sizeof(a));
	a.family = NET_INET4;
	a.ip[0] = 127;
	a.ip[3] = 1;
	a.port = 25;
	memset(&fz_s, 0, sizeof(fz_s));
	if (smtp_out_start(&fz_s, &a, "relay.example", "gw.example", &fz_cb,
	    NULL) != 0) {
		abort();
	}
	for (i = 0; i < 100 && !fz_done; i++) {
		fake_poll_inject(FZ_FD, EV_READ | EV_WRITE);
		(void)ev_run();
	}
	if (!fz_done || fz_closed != 1 || fz_open ||
	    fz_s.state != SMTP_OUT_FREE) {
		abort();	/* the session must end, exactly once */
	}
	return 0;
}
