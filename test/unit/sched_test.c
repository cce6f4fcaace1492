/*
 * sched_test.c - delivery scheduling rules and bounces: backoff growth,
 * cap and jitter bounds, due/expiry decisions across clock steps (the
 * device that boots at 1970 and gets NTP later), DSN structure, who gets
 * a bounce, and a bounce queued from a real queue on the flash simulator
 * (with the rate limit and "never a bounce of a bounce").
 */
#include <stdlib.h>

#include "test.h"
#include "fake_plat.h"
#include "flash_sim.h"
#include "conf.h"
#include "dsn.h"
#include "queue.h"
#include "sched.h"

#define NOW 1790000000	/* late 2026, a sane clock */

static void
test_backoff_growth_and_cap(void)
{
	uint32_t prev_mid = 0;
	unsigned a;

	/* without jitter room (rnd picks the middle) it doubles, then caps */
	for (a = 1; a <= 40; a++) {
		uint32_t d = 300, i, mid;

		for (i = 1; i < a && d < 3600; i++) {
			d *= 2;
		}
		if (d > 3600) {
			d = 3600;
		}
		mid = sched_backoff(300, 3600, a, d / 10);
		CHECK_EQ(mid, d);
		CHECK(mid >= prev_mid);
		prev_mid = mid;
	}
	CHECK_EQ(sched_backoff(300, 3600, 1, 30), 300);
	CHECK_EQ(sched_backoff(300, 3600, 2, 60), 600);
	CHECK_EQ(sched_backoff(300, 3600, 4, 240), 2400);
	CHECK_EQ(sched_backoff(300, 3600, 5, 360), 3600);
	CHECK_EQ(sched_backoff(300, 3600, 60000, 360), 3600);
	/* tiny values never give 0 */
	CHECK_EQ(sched_backoff(1, 1, 1, 12345), 1);
}

static void
test_backoff_jitter_bounds(void)
{
	uint32_t lo = UINT32_MAX, hi = 0, r;
	unsigned a, i;

	for (a = 1; a <= 8; a++) {
		uint32_t base = MIN(300u << (a - 1), 3600u);

		for (i = 0; i < 2000; i++) {
			uint32_t d;

			plat_random(&r, sizeof(r));
			d = sched_backoff(300, 3600, a, r);
			CHECK(d >= base - base / 10);
			CHECK(d <= base + base / 10);
			if (a == 8) {
				lo = MIN(lo, d);
				hi = MAX(hi, d);
			}
		}
	}
	/* the jitter really spreads retries (not a constant) */
	CHECK(lo < 3600 && hi > 3600);
	CHECK(lo >= 3240 && hi <= 3960);
}

static void
test_due(void)
{
	/* past and present are due, the near future is not */
	CHECK(sched_due(0, NOW, 3600));
	CHECK(sched_due(NOW - 5, NOW, 3600));
	CHECK(sched_due(NOW, NOW, 3600));
	CHECK(!sched_due(NOW + 1, NOW, 3600));
	CHECK(!sched_due(NOW + 3600 + 360, NOW, 3600));
	/* further ahead than we ever schedule: clock went back, due now */
	CHECK(sched_due(NOW + 3600 + 360 + 61, NOW, 3600));
	CHECK(sched_due(NOW + 86400 * 365, NOW, 3600));
	/* retry stored in 2026, device rebooted with the clock at 1970 */
	CHECK(sched_due(NOW + 300, 1000, 3600));
}

static void
test_age_plain(void)
{
	struct sched_clock k = { 0 };

	sched_clock_update(&k, NOW, 1000, 3600);
	CHECK_EQ(sched_age(&k, NOW - 100, NOW), 100);
	CHECK_EQ(sched_age(&k, NOW, NOW), 0);
	/* arrival in the future (clock stepped back): age 0 */
	CHECK_EQ(sched_age(&k, NOW + 5000, NOW), 0);
	/* a message that is really old does expire */
	CHECK(sched_age(&k, NOW - 432001, NOW) > 432000);
}

static void
test_clock_step_1970_in_process(void)
{
	struct sched_clock k = { 0 };
	int64_t boot = 60, wall, step;
	uint64_t mono = 5000;

	/* booted at 1970, message queued 10 s later */
	CHECK_EQ(sched_clock_update(&k, boot, mono, 3600), 0);
	mono += 20000;
	CHECK_EQ(sched_clock_update(&k, boot + 20, mono, 3600), 0);
	CHECK_EQ(sched_age(&k, boot + 10, boot + 20), 10);
	/* NTP: 30 s later the clock says 2026 */
	mono += 30000;
	wall = NOW;
	step = sched_clock_update(&k, wall, mono, 3600);
	CHECK_EQ(step, NOW - (boot + 50));
	/* the message is 40 s old, not 56 years: no expiry */
	CHECK_EQ(sched_age(&k, boot + 10, wall), 40);
	CHECK(sched_age(&k, boot + 10, wall) < 432000);
	/* a message queued after the step is aged normally */
	CHECK_EQ(sched_age(&k, NOW - 3, wall), 3);
	/* retries stored with the 1970 clock are simply due */
	CHECK(sched_due(boot + 300, wall, 3600));
	/* small drift is not a step */
	mono += 1000;
	CHECK_EQ(sched_clock_update(&k, wall + 3, mono, 3600), 0);
}

static void
test_clock_1970_across_restart(void)
{
	struct sched_clock k = { 0 };

	/*
	 * Queued at 1970 + 100 s by a previous run; this process starts
	 * with a sane clock: the age counts from our first sane reading.
	 */
	sched_clock_update(&k, NOW, 1000, 3600);
	CHECK_EQ(sched_age(&k, 100, NOW), 0);
	CHECK_EQ(sched_age(&k, 100, NOW + 7200), 7200);
	/* so it still expires, a lifetime later */
	CHECK(sched_age(&k, 100, NOW + 432001) > 432000);
}

static void
test_clock_step_back(void)
{
	struct sched_clock k = { 0 };

	sched_clock_update(&k, NOW, 1000, 3600);
	/* clock goes back a year: reported, no correction of arrivals */
	CHECK(sched_clock_update(&k, NOW - 31536000, 2000, 3600) < 0);
	CHECK_EQ(sched_age(&k, NOW - 10, NOW - 31536000), 0);
	/* the retry stored before is now far ahead: due */
	CHECK(sched_due(NOW + 600, NOW - 31536000, 3600));
}

/* ---- DSN ---- */

struct mem {
	char buf[16384];
	size_t len;
};

static int
mem_out(void *arg, const void *p, size_t n)
{
	struct mem *m = arg;

	if (m->len + n >= sizeof(m->buf)) {
		return EDGEMTA_E_FULL;
	}
	memcpy(m->buf + m->len, p, n);
	m->len += n;
	m->buf[m->len] = '\0';
	return 0;
}

static int
fake_headers(void *harg, dsn_out_fn out, void *oarg)
{
	const char *h = harg;

	return out(oarg, h, strlen(h));
}

static unsigned
count(const char *hay, const char *needle)
{
	unsigned n = 0;

	while ((hay = strstr(hay, needle)) != NULL) {
		n++;
		hay += strlen(needle);
	}
	return n;
}

static void
check_crlf(const char *s, size_t len)
{
	size_t i, col = 0;

	for (i = 0; i < len; i++) {
		if (s[i] == '\n') {
			CHECK(i > 0 && s[i - 1] == '\r');
			col = 0;
		} else if (s[i] == '\r') {
			CHECK(i + 1 < len && s[i + 1] == '\n');
		} else {
			col++;
			CHECK(col <= 998);
		}
	}
}

static void
test_dsn_format(void)
{
	static struct mem m;
	struct dsn_rcpt r[2] = {
		{ "bad@example.net", "5.1.1", "550 5.1.1 <bad@example.net>: "
		    "no such user" },
		{ "worse@example.net", "5.7.1", "554 5.7.1 go away\r\nx" },
	};
	struct dsn_report rep = { "relay.example", 0x1a, 0x2b,
		"alice@example.org", NOW - 60, NOW, "smarthost.example", r, 2,
		0 };
	const char *b;
	char bnd[128];

	m.len = 0;
	CHECK_EQ(dsn_format(&rep, mem_out, &m, fake_headers,
	    "Subject: hello\r\nFrom: alice@example.org\r\n"), 0);
	check_crlf(m.buf, m.len);
	CHECK(strncmp(m.buf, "From: MAILER-DAEMON@relay.example", 33) == 0);
	CHECK(strstr(m.buf, "\r\nTo: <alice@example.org>\r\n") != NULL);
	CHECK(strstr(m.buf, "\r\nSubject: Undelivered Mail Returned to "
	    "Sender\r\n") != NULL);
	CHECK(strstr(m.buf, "\r\nAuto-Submitted: auto-replied\r\n") != NULL);
	CHECK(strstr(m.buf, "\r\nMessage-ID: <0000002B.") != NULL);
	CHECK(strstr(m.buf, "Content-Type: multipart/report; "
	    "report-type=delivery-status;") != NULL);
	b = strstr(m.buf, "boundary=\"");
	CHECK(b != NULL);
	if (b == NULL) {
		return;
	}
	b += 10;
	CHECK(strchr(b, '"') != NULL);
	snprintf(bnd, sizeof(bnd), "\r\n--%.*s", (int)(strchr(b, '"') - b),
	    b);
	/* three parts and the closing delimiter */
	CHECK_EQ(count(m.buf, bnd), 4);
	strcat(bnd, "--\r\n");
	CHECK(strstr(m.buf, bnd) != NULL);
	CHECK(strcmp(m.buf + m.len - strlen(bnd), bnd) == 0);
	CHECK(strstr(m.buf, "Content-Type: message/delivery-status\r\n\r\n"
	    "Reporting-MTA: dns; relay.example\r\n") != NULL);
	CHECK(strstr(m.buf, "\r\nArrival-Date: ") != NULL);
	CHECK(strstr(m.buf, "\r\n\r\nFinal-Recipient: rfc822; bad@example.net"
	    "\r\nAction: failed\r\nStatus: 5.1.1\r\nRemote-MTA: dns; "
	    "smarthost.example\r\nDiagnostic-Code: smtp; 550 5.1.1 "
	    "<bad@example.net>: no such user\r\n") != NULL);
	/* CR/LF inside a reply never splits a header */
	CHECK(strstr(m.buf, "Diagnostic-Code: smtp; 554 5.7.1 go away  x\r\n")
	    != NULL);
	CHECK(strstr(m.buf, "Content-Type: text/rfc822-headers\r\n\r\n"
	    "Subject: hello\r\nFrom: alice@example.org\r\n") != NULL);
}

/* Found by test/fuzz/dsn_fuzz.c: every string of the report is cleaned,
 * not only the addresses and the diagnostic. */
static void
test_dsn_format_hostile_strings(void)
{
	static struct mem m;
	struct dsn_rcpt r[1] = {
		{ "bad@example.net", "5.1.1\r\nX-Injected: status",
		    "550 no" },
	};
	struct dsn_report rep = { "gw\r\nX-Injected: host\"", 0x1a, 0x2b,
		"alice@example.org", NOW - 60, NOW, "mx\nX-Injected: mta", r, 1,
		0 };

	m.len = 0;
	CHECK_EQ(dsn_format(&rep, mem_out, &m, NULL, NULL), 0);
	check_crlf(m.buf, m.len);
	CHECK(strstr(m.buf, "\nX-Injected") == NULL);
	CHECK(strstr(m.buf, "\r\nStatus: 5.1.1  X-Inject\r\n") !=
	    NULL);
	/* a '"' would end the quoted boundary parameter early */
	CHECK(strstr(m.buf, "boundary=\"0000001A.") != NULL);
	CHECK(strstr(m.buf, "/gw__X-Injected:_host_\"\r\n") != NULL);
}

/*
 * The formerly-%lld boundary and Message-ID, byte for byte, at a time past
 * 2038 and 2^32 (both halves of the 64-bit value matter): a format that
 * newlib-nano cannot print fails here on the emulated Cortex-M4.
 */
static void
test_dsn_ids(void)
{
	static struct mem m;
	struct dsn_rcpt r = { "bad@example.net", "5.1.1", "550 no" };
	struct dsn_report rep = { "relay.example", 0x1a, 0x2b,
		"alice@example.org", 4300000000, 4300000123, NULL, &r, 1, 0 };

	m.len = 0;
	CHECK_EQ(dsn_format(&rep, mem_out, &m, NULL, NULL), 0);
	CHECK(strstr(m.buf, "\r\nMessage-ID: <0000002B.0000001A.4300000123"
	    "@relay.example>\r\n") != NULL);
	CHECK(strstr(m.buf, "boundary=\"0000001A.4300000123/relay.example\""
	    "\r\n") != NULL);
	CHECK(strstr(m.buf, "\r\n--0000001A.4300000123/relay.example--\r\n")
	    != NULL);

	/* before 1970 (a clock never set): still one number, signed */
	rep.now = -42;
	m.len = 0;
	CHECK_EQ(dsn_format(&rep, mem_out, &m, NULL, NULL), 0);
	CHECK(strstr(m.buf, "\r\nMessage-ID: <0000002B.0000001A.-42"
	    "@relay.example>\r\n") != NULL);
}

static void
test_dsn_recipient(void)
{
	static struct conf c;
	char to[ADDR_MAX];

	conf_defaults(&c);
	snprintf(c.bounce_notice_recipient, sizeof(c.bounce_notice_recipient),
	    "admin@example.org");
	/* a remote sender gets it */
	CHECK_EQ(dsn_recipient(&c, "gw.lan", "a@example.net", false, to,
	    sizeof(to)), 0);
	CHECK_STR(to, "a@example.net");
	/* null sender, a bounce, a local sender: the admin */
	CHECK_EQ(dsn_recipient(&c, "gw.lan", "", false, to, sizeof(to)), 0);
	CHECK_STR(to, "admin@example.org");
	CHECK_EQ(dsn_recipient(&c, "gw.lan", "a@example.net", true, to,
	    sizeof(to)), 0);
	CHECK_STR(to, "admin@example.org");
	CHECK_EQ(dsn_recipient(&c, "gw.lan", "root", false, to, sizeof(to)),
	    0);
	CHECK_STR(to, "admin@example.org");
	CHECK_EQ(dsn_recipient(&c, "gw.lan", "cron@GW.LAN", false, to,
	    sizeof(to)), 0);
	CHECK_STR(to, "admin@example.org");
	/* no admin: local senders get it themselves, bounces nobody */
	c.bounce_notice_recipient[0] = '\0';
	CHECK_EQ(dsn_recipient(&c, "gw.lan", "root", false, to, sizeof(to)),
	    0);
	CHECK_STR(to, "root");
	CHECK_EQ(dsn_recipient(&c, "gw.lan", "", false, to, sizeof(to)),
	    EDGEMTA_E_NOENT);
	CHECK_EQ(dsn_recipient(&c, "gw.lan", "a@example.net", true, to,
	    sizeof(to)), EDGEMTA_E_NOENT);
	/* the default admin "postmaster" is qualified (issue 11 point 7) */
	conf_defaults(&c);
	CHECK_EQ(dsn_recipient(&c, "gw.lan", "", false, to, sizeof(to)), 0);
	CHECK_STR(to, "postmaster@gw.lan");
	snprintf(c.myorigin, sizeof(c.myorigin), "example.org");
	CHECK_EQ(dsn_recipient(&c, "gw.lan", "root", false, to, sizeof(to)),
	    0);
	CHECK_STR(to, "postmaster@example.org");
}

/* ---- a bounce through the real queue ---- */

static struct flash_sim sim;

static uint32_t
put_msg(const char *from, const char *rcpt, const char *data,
    unsigned flags)
{
	struct queue_writer w;

	if (queue_msg_begin(&w, from, (uint32_t)strlen(data), flags) != 0 ||
	    queue_msg_rcpt(&w, rcpt) != 0 ||
	    queue_msg_write(&w, data, strlen(data)) != 0 ||
	    queue_msg_seal(&w, NULL, NULL) != 0) {
		return 0;
	}
	queue_commit();
	return w.id;
}

static int
read_msg(uint32_t id, char *sender, char *rcpt, char *data, size_t max)
{
	static struct queue_reader rd;
	const uint8_t *p;
	size_t len, dl = 0;
	unsigned idx;
	int r;

	if (queue_reader_open(&rd, id) != 0) {
		return -1;
	}
	while ((r = queue_reader_next(&rd, &p, &len, &idx)) > 0) {
		if (r == QUEUE_ITEM_SENDER) {
			memcpy(sender, p, len);
			sender[len] = '\0';
		} else if (r == QUEUE_ITEM_RCPT) {
			memcpy(rcpt, p, len);
			rcpt[len] = '\0';
		} else if (r == QUEUE_ITEM_DATA && dl + len < max) {
			memcpy(data + dl, p, len);
			dl += len;
		}
	}
	data[dl] = '\0';
	return r;
}

static int
find_bounce(void *arg, const struct queue_entry *e)
{
	uint32_t *out = arg;

	if (e->flags & QUEUE_MSG_BOUNCE) {
		*out = e->id;
		return 1;
	}
	return 0;
}

static void
test_dsn_bounce_queued(void)
{
	static struct conf c;
	static char data[16384];
	char sender[ADDR_MAX], rcpt[ADDR_MAX];
	struct dsn_rcpt r = { "bad@example.net", "5.1.1",
		"550 5.1.1 no such user" };
	struct queue_entry e;
	uint32_t id, bid = 0, id2;

	conf_defaults(&c);
	c.bounce_notice_recipient[0] = '\0';
	c.bounce_rate_limit = 1;
	CHECK_EQ(flash_sim_init(&sim, CONFIG_QUEUE_PAGE_SIZE,
	    CONFIG_QUEUE_BLOCK_SIZE, 32), 0);
	CHECK_EQ(queue_open(&sim.fl, 0), 0);
	id = put_msg("alice@example.org", "bad@example.net",
	    "Subject: report\r\nX-Test: 1\r\n\r\nsecret body\r\n", 0);
	CHECK(id != 0);
	CHECK_EQ(dsn_bounce(&c, "gw.example", id, "smarthost", &r, 1, 0), 0);
	queue_commit();
	CHECK_EQ(queue_foreach(find_bounce, &bid), 1);
	CHECK(bid != 0 && bid != id);
	CHECK_EQ(queue_lookup(bid, &e), 0);
	CHECK(e.flags & QUEUE_MSG_BOUNCE);
	CHECK_EQ(read_msg(bid, sender, rcpt, data, sizeof(data)), 0);
	CHECK_STR(sender, "");
	CHECK_STR(rcpt, "alice@example.org");
	check_crlf(data, strlen(data));
	CHECK(strstr(data, "Final-Recipient: rfc822; bad@example.net\r\n")
	    != NULL);
	/* the original headers, not its body */
	CHECK(strstr(data, "text/rfc822-headers\r\n\r\nSubject: report\r\n"
	    "X-Test: 1\r\n\r\n--") != NULL);
	CHECK(strstr(data, "secret body") == NULL);
	/* over bounce_rate_limit: dropped (the failure stays final) */
	id2 = put_msg("bob@example.org", "bad@example.net", "S: x\r\n\r\nb\r\n",
	    0);
	CHECK_EQ(dsn_bounce(&c, "gw.example", id2, NULL, &r, 1, 0),
	    EDGEMTA_E_NOENT);
	/* never a bounce of a bounce (no admin configured) */
	c.bounce_rate_limit = 100;
	CHECK_EQ(dsn_bounce(&c, "gw.example", bid, NULL, &r, 1, 0),
	    EDGEMTA_E_NOENT);
	/* with an admin: a failed bounce goes to the admin, once */
	snprintf(c.bounce_notice_recipient, sizeof(c.bounce_notice_recipient),
	    "admin@gw.example");
	r.rcpt = "alice@example.org";
	CHECK_EQ(dsn_bounce(&c, "gw.example", bid, NULL, &r, 1, 0), 0);
	queue_commit();
	r.rcpt = "Admin@GW.example";
	id2 = put_msg("", "admin@gw.example", "S: x\r\n\r\nb\r\n",
	    QUEUE_MSG_BOUNCE);
	CHECK(id2 != 0);
	CHECK_EQ(dsn_bounce(&c, "gw.example", id2, NULL, &r, 1, 0),
	    EDGEMTA_E_NOENT);
	queue_close();
	flash_sim_free(&sim);
}

int
main(void)
{
	fake_log_quiet(true);
	RUN(test_backoff_growth_and_cap);
	RUN(test_backoff_jitter_bounds);
	RUN(test_due);
	RUN(test_age_plain);
	RUN(test_clock_step_1970_in_process);
	RUN(test_clock_1970_across_restart);
	RUN(test_clock_step_back);
	RUN(test_dsn_format);
	RUN(test_dsn_format_hostile_strings);
	RUN(test_dsn_ids);
	RUN(test_dsn_recipient);
	RUN(test_dsn_bounce_queued);
	return test_report("sched");
}
