/*
 * sched.c - the delivery scheduler: see sched.h.
 *
 * A scan walks the queue index (queue_foreach) and puts due messages on
 * a small ring; client sessions (a static pool) pull from it after their
 * EHLO and between messages, so a message is only taken by a session
 * that already has a working connection. While one session is still
 * connecting no other is started: when the relay is down, only one
 * connection attempt is made, then the destination is marked "down"
 * until its own backoff expires, and messages that fall due meanwhile
 * are deferred without a connection.
 *
 * Relays are tried in the configured order; a failed connection (refused,
 * timeout, no greeting, 4xx/5xx greeting) moves on to the next relay
 * before the destination counts as down. A relay given by name is
 * looked up (dnsq.h, A/AAAA) and each of its addresses tried in turn
 * before the next relay. With relayhost empty: MX mode (see the DNS
 * section below).
 *
 * Results: 2xx -> SENT; 5xx -> FAILED plus one DSN per message; 4xx,
 * 421, timeout, lost connection -> the message is deferred with
 * exponential backoff and jitter. A message whose connection broke after
 * the final dot is deferred and sent again later (at-least-once).
 *
 * Clock rules. In-process timing uses ev_now() (monotonic). Stored times
 * (arrival, next_try) are wall clock and may come from a clock that was
 * wrong (a device that boots at 1970 and gets NTP later), so:
 *  1. a forward jump of the wall clock by more than maximal_backoff_time
 *     (at least 60 s) relative to the monotonic clock is a "step"; the
 *     arrival of a message older than the step is corrected by its size;
 *  2. an arrival before SCHED_SANE_TIME while the clock now is sane was
 *     stamped by an unset clock (e.g. before a restart): its age counts
 *     from the first sane time this process saw (a restart can thus only
 *     lengthen a message's life, never cut it short);
 *  3. an arrival in the future (clock stepped back) means age 0;
 *  4. a next_try further ahead than we ever schedule (maximal backoff +
 *     10% jitter + 60 s) was stamped by a clock that has since gone back:
 *     the message is due now. A next_try in the past is due, so a
 *     forward step makes every message due once, then backoff resumes.
 */
#include <stdio.h>
#include <string.h>

#include "sched.h"
#include "dsn.h"
#include "dnsq.h"
#include "ev.h"
#include "hops.h"
#include "log.h"
#include "oauth2.h"
#include "platform.h"
#include "queue.h"
#include "smtp_out.h"
#include "status.h"
#include "tls.h"

#define SCHED_MAX_RELAYS 4
#define SCHED_DUE_MAX 64	/* messages waiting for a session */
#define SCHED_BATCH 32		/* expiries/suspensions per scan */
#define SCHED_FAIL_MAX 32	/* failed recipients listed in one DSN */
#define SCHED_RESCAN_MS 60000u	/* scan at least this often */

#if !CONFIG_DNS
#define DNS_LATER "host name lookup not available yet (DNS issue)"
#endif

struct sched_relay {
	struct net_addr addr;
	char name[SMTP_OUT_HOST_MAX];
	bool is_ip;
};

/* Failed recipients collected for one DSN. */
struct sched_fails {
	unsigned nfail, omitted;
	uint16_t fail_idx[SCHED_FAIL_MAX];
	uint16_t fail_off[SCHED_FAIL_MAX];
	char failbuf[2048];
	unsigned faillen;
};

struct sched_slot {
	struct smtp_out_session s;
	unsigned relay;		/* index of the relay being tried */
	/* the message in flight */
	uint32_t id;
	struct queue_entry e;
	int64_t age;		/* at pick time, seconds */
	/* ev_now() ms for the delays=a/b/c/d log field (sched_delays) */
	uint64_t t_due;		/* the message became due (ring) */
	uint64_t t_pick;	/* age was taken */
	uint64_t t_setup;	/* connection setup began (DNS included) */
	unsigned nres;		/* results reported for it */
	bool deferred;
	char reason[SMTP_OUT_TEXT_MAX];
	struct sched_fails f;
#if CONFIG_DNS
	struct dnsq_req dns;	/* relay name or MX lookup in flight */
	struct dnsq_result dres;
	unsigned addr_i;	/* next address of dres to try */
	bool resolving;		/* dns busy: the slot is taken */
	bool use_dres;		/* the session's address came from dres */
	bool given;		/* MX mode: message handed to the session */
	char domain[DNSQ_NAME_MAX];	/* MX mode: current destination */
	uint8_t tried[(CONFIG_SMTP_MAX_RCPT + 7) / 8];	/* this attempt */
#endif
};

struct sched_batch_item {
	uint32_t id;
	uint16_t attempts;
	bool expire;
};

static const struct conf *sc;
static const char *sc_host;
static bool sc_running, sc_stopping, sc_disabled;
#if CONFIG_DNS
static bool sc_mx;		/* relayhost empty: deliver to the MX */
#endif
static struct sched_relay sc_relays[SCHED_MAX_RELAYS];
static unsigned sc_nrelays;
static struct sched_slot sc_slots[CONFIG_SMTP_OUT_SESSIONS];
/* Slots below this mark have been used; the others are free and never
 * touched (loops stop at the mark, so that their pages stay unallocated:
 * some kernels allocate a page even when untouched memory is read). */
static unsigned sc_nslots;
static uint32_t sc_due[SCHED_DUE_MAX];
static uint64_t sc_due_t[SCHED_DUE_MAX];	/* ev_now() when queued */
static uint64_t sc_pop_t;	/* sc_due_t of the id popped last */
static unsigned sc_due_head, sc_due_len;
static bool sc_more;		/* the last scan left due messages behind */
static struct ev_timer sc_timer;
static struct sched_clock sc_clock;
static uint32_t sc_rng;
/* the destination (the relayhost list) */
static bool sc_down;
static uint64_t sc_down_until;	/* ev_now() ms */
static unsigned sc_down_count;
static char sc_down_reason[SMTP_OUT_TEXT_MAX];
/* the queue could not record a result: hand out nothing until then */
static uint64_t sc_hold_until;

static const struct smtp_out_cb sched_cb;
static void sched_dispatch(void);
static void sched_on_oauth2(int r);
static void sched_start_relay(struct sched_slot *sl, unsigned from);
#if CONFIG_DNS
static int sched_resolve(struct sched_slot *sl, int kind, const char *name,
    uint16_t port);
static bool sched_try_addr(struct sched_slot *sl);
static void sched_mx_next(struct sched_slot *sl);
static void sched_mx_closed(struct sched_slot *sl, bool greeted,
    const char *reason);
static void sched_mx_dispatch(void);
#endif

/* ---- pure helpers ---- */

uint32_t
sched_backoff(uint32_t min_s, uint32_t max_s, unsigned attempts,
    uint32_t rnd)
{
	uint64_t d = min_s;
	uint32_t j;
	unsigned i;

	for (i = 1; i < attempts && d < max_s; i++) {
		d *= 2;
	}
	if (d > max_s) {
		d = max_s;
	}
	j = (uint32_t)(d / 10);
	if (j > 0) {
		d = d - j + rnd % (2 * j + 1);
	}
	return d == 0 ? 1 : (uint32_t)d;
}

int64_t
sched_clock_update(struct sched_clock *k, int64_t wall, uint64_t mono_ms,
    uint32_t max_backoff)
{
	int64_t expected, diff = 0, limit = MAX((int64_t)max_backoff, 60);

	if (k->init) {
		expected = k->last_wall + (int64_t)((mono_ms - k->last_mono) /
		    1000);
		diff = wall - expected;
		if (diff > limit) {
			k->step_before = expected;
			k->step_delta += diff;
		} else if (diff >= -limit) {
			diff = 0;
		}
	}
	if (k->first_sane == 0 && wall >= SCHED_SANE_TIME) {
		k->first_sane = wall;
	}
	k->init = true;
	k->last_wall = wall;
	k->last_mono = mono_ms;
	return diff;
}

int64_t
sched_age(const struct sched_clock *k, int64_t arrival, int64_t wall)
{
	if (k->step_delta != 0 && arrival <= k->step_before) {
		arrival += k->step_delta;		/* rule 1 */
	}
	if (arrival < SCHED_SANE_TIME && wall >= SCHED_SANE_TIME &&
	    k->first_sane != 0) {
		arrival = MAX(arrival, k->first_sane);	/* rule 2 */
	}
	if (arrival >= wall) {
		return 0;				/* rule 3 */
	}
	return wall - arrival;
}

bool
sched_due(int64_t next_try, int64_t wall, uint32_t max_backoff)
{
	int64_t horizon = (int64_t)max_backoff + max_backoff / 10 + 60;

	/* rule 4 */
	return next_try <= wall || next_try > wall + horizon;
}

/* ---- small helpers ---- */

/* Copy src into dst (size n), truncating. */
static void
sched_copy(char *dst, size_t n, const char *src)
{
	size_t l = strlen(src);

	if (l >= n) {
		l = n - 1;
	}
	memcpy(dst, src, l);
	dst[l] = '\0';
}

static uint32_t
sched_rand(void)
{
	uint32_t r;

	plat_random(&r, sizeof(r));
	return r ^ (sc_rng = sc_rng * 1103515245u + 12345u);
}

static uint32_t
sched_msg_backoff(unsigned attempts)
{
	return sched_backoff(sc->minimal_backoff_time,
	    sc->maximal_backoff_time, attempts, sched_rand());
}

/* tenths of seconds as "S.T" */
static const char *
sched_tenths(uint64_t ms, char *buf, size_t len)
{
	uint64_t t = (ms + 50) / 100;

	snprintf(buf, len, "%lu.%u", (unsigned long)(t / 10),
	    (unsigned)(t % 10));
	return buf;
}

static void
sched_log_raw(uint32_t id, const char *rcpt, const char *relay,
    const uint64_t d[4], const char *dsn, const char *status,
    const char *text)
{
	char ids[QUEUE_ID_STRLEN], t0[24], t1[24], t2[24], t3[24], t4[24];

	log_info("%s: to=<%s>, relay=%s, delay=%s, delays=%s/%s/%s/%s, "
	    "dsn=%s, status=%s (%s)", queue_id_str(id, ids), rcpt, relay,
	    sched_tenths(d[0] + d[1] + d[2] + d[3], t0, sizeof(t0)),
	    sched_tenths(d[0], t1, sizeof(t1)),
	    sched_tenths(d[1], t2, sizeof(t2)),
	    sched_tenths(d[2], t3, sizeof(t3)),
	    sched_tenths(d[3], t4, sizeof(t4)), dsn, status, text);
	status_delivery(status, relay, text, plat_time());
}

/*
 * Postfix's delays=a/b/c/d for a result of sl's message, in ms (README):
 * a: before the scheduler took it (arrival until due); b: waiting in the
 * scheduler (for a session, for earlier domains of the message); c:
 * connection setup - DNS lookups, failed connection attempts, greeting,
 * EHLO, TLS, AUTH (0 on a connection that carried a message before);
 * d: transmission. s is the session that carried it, or NULL (no
 * session: c runs until now). delay is their sum.
 */
static void
sched_delays(const struct sched_slot *sl, const struct smtp_out_session *s,
    uint64_t d[4])
{
	uint64_t now = ev_now();
	uint64_t start = MAX(sl->t_setup, sl->t_due), end = now;
	uint64_t total = (uint64_t)sl->age * 1000 + (now - sl->t_pick);

	d[3] = 0;
	if (s != NULL) {
		d[3] = now - s->t_msg;
		end = s->t_ready;
		if (s->reused) {
			start = MAX(s->t_msg, sl->t_due);
			end = start;
		}
	}
	d[1] = start - sl->t_due;
	d[2] = end > start ? end - start : 0;
	d[0] = total > d[1] + d[2] + d[3] ? total - d[1] - d[2] - d[3] : 0;
}

/* One result line of sl's message (s: the session, or NULL). */
static void
sched_log(const struct sched_slot *sl, const struct smtp_out_session *s,
    const char *rcpt, const char *relay, const char *dsn,
    const char *status, const char *text)
{
	uint64_t d[4];

	sched_delays(sl, s, d);
	sched_log_raw(sl->id, rcpt, relay, d, dsn, status, text);
}

/* Call fn for each pending recipient of id (reads the envelope). */
/* Reader for the scheduler's own reads (never nested). */
static struct queue_reader sc_rd;

static int
sched_each_pending(uint32_t id, void (*fn)(void *arg, unsigned idx,
    const char *rcpt), void *arg)
{
	struct queue_reader *rd = &sc_rd;
	char rcpt[ADDR_MAX];
	const uint8_t *p;
	size_t len;
	unsigned idx;
	int r;

	r = queue_reader_open(rd, id);
	while (r >= 0) {
		r = queue_reader_next(rd, &p, &len, &idx);
		if (r == QUEUE_ITEM_SENDER) {
			continue;
		}
		if (r != QUEUE_ITEM_RCPT) {
			break;
		}
		if (queue_rcpt_state(id, idx) != QUEUE_RCPT_PENDING) {
			continue;
		}
		len = MIN(len, sizeof(rcpt) - 1);
		memcpy(rcpt, p, len);
		rcpt[len] = '\0';
		fn(arg, idx, rcpt);
	}
	return r < 0 ? r : 0;
}

/* ---- recording results ---- */

static void sched_scan(void *arg);

/* Make sure the scan runs within ms. */
static void
sched_wake_in(uint64_t ms)
{
	uint64_t now = ev_now();

	if (!sc_running || sc_stopping) {
		return;
	}
	if (!sc_timer.armed || sc_timer.when > now + ms) {
		ev_timer_start(&sc_timer, (uint32_t)MIN(ms, SCHED_RESCAN_MS),
		    sched_scan, NULL);
	}
}

/*
 * A delivery result could not be recorded (queue full or flash error):
 * pause handing out messages for a second, or the same messages would
 * be sent again and again without their results being kept.
 */
static void
sched_storage_trouble(uint32_t id, int err)
{
	char ids[QUEUE_ID_STRLEN];
	uint64_t now = ev_now();

	if (err == EDGEMTA_E_NOENT || err >= 0) {
		return;
	}
	if (now >= sc_hold_until) {
		log_err("%s: cannot record a delivery result: %s; delivery "
		    "paused for 1 s", queue_id_str(id, ids),
		    edgemta_strerror(err));
	}
	sc_hold_until = now + 1000;
	sched_wake_in(1000);
}

static bool
sched_held(void)
{
	return ev_now() < sc_hold_until;
}

/*
 * Outbound rate towards the relayhost (providers cap submission: 30
 * messages a minute, a daily quota). smtp_rate_limit = N/PERIOD is a
 * generic cell rate algorithm: one message every PERIOD/N on average,
 * bursts of up to N; smtp_destination_rate_delay a pause between two
 * messages. A message over the limit waits in the queue as it is: not
 * deferred, no attempt counted; the scheduler wakes when it may go.
 */
static uint64_t sc_rate_tat;		/* ev_now() ms: theoretical arrival */
static uint64_t sc_rate_last;		/* ev_now() ms of the last message */
static bool sc_rate_any;		/* a message went since start */

/* ms until the next message may go to the relay, 0 = now. */
static uint64_t
sched_rate_wait(uint64_t now)
{
	uint64_t w = 0, gap = (uint64_t)sc->smtp_destination_rate_delay * 1000;
	uint32_t n, per;

	if (gap != 0 && sc_rate_any && now < sc_rate_last + gap) {
		w = sc_rate_last + gap - now;
	}
	if (conf_rate(sc, &n, &per)) {
		uint64_t iv = MAX((uint64_t)per * 1000 / n, 1);
		uint64_t tau = (uint64_t)(n - 1) * iv;
		uint64_t tat = MAX(sc_rate_tat, now);

		if (tat - now > tau) {
			w = MAX(w, tat - now - tau);
		}
	}
	return w;
}

static void
sched_rate_take(uint64_t now)
{
	uint32_t n, per;

	sc_rate_last = now;
	sc_rate_any = true;
	if (conf_rate(sc, &n, &per)) {
		sc_rate_tat = MAX(sc_rate_tat, now) +
		    MAX((uint64_t)per * 1000 / n, 1);
	}
}

/* True when the rate lets a message go now; else the scheduler is woken
 * when it may, and status shows that time. */
static bool
sched_rate_ok(void)
{
	uint64_t w = sched_rate_wait(ev_now());

	if (w == 0) {
		status_rate_next(0);
		return true;
	}
	status_rate_next(plat_time() + (int64_t)((w + 999) / 1000));
	sched_wake_in(w);
	return false;
}

static void
sched_defer(uint32_t id, uint16_t attempts, const char *reason)
{
	uint32_t delay = sched_msg_backoff(attempts + 1u);
	char ids[QUEUE_ID_STRLEN];
	int r;

	r = queue_msg_defer(id, plat_time() + delay, (uint16_t)(attempts + 1),
	    reason);
	sched_wake_in((uint64_t)delay * 1000);
	if (r < 0 && r != EDGEMTA_E_NOENT) {
		log_err("%s: cannot record deferral: %s", queue_id_str(id, ids),
		    edgemta_strerror(r));
		sched_storage_trouble(id, r);
	}
}

static void
sched_fail_add(struct sched_fails *f, unsigned idx, const char *rcpt,
    const char *dsn, const char *diag)
{
	size_t need = strlen(rcpt) + strlen(dsn) + strlen(diag) + 3;
	char *p = f->failbuf + f->faillen;

	if (f->nfail >= SCHED_FAIL_MAX || f->faillen + need >
	    sizeof(f->failbuf)) {
		f->omitted++;
		return;
	}
	f->fail_idx[f->nfail] = (uint16_t)idx;
	f->fail_off[f->nfail] = (uint16_t)f->faillen;
	f->nfail++;
	strcpy(p, rcpt);
	p += strlen(rcpt) + 1;
	strcpy(p, dsn);
	p += strlen(dsn) + 1;
	strcpy(p, diag);
	f->faillen += (unsigned)need;
}

/*
 * Bounce the failed recipients collected in sl, then record them FAILED.
 * If the bounce cannot be queued now, they stay pending (deferred).
 */
static void
sched_fail_flush(struct sched_fails *f, struct sched_slot *sl, uint32_t id,
    const char *remote)
{
	struct dsn_rcpt r[SCHED_FAIL_MAX];
	unsigned i;
	int err;

	if (f->nfail == 0 && f->omitted == 0) {
		return;
	}
	for (i = 0; i < f->nfail; i++) {
		const char *p = f->failbuf + f->fail_off[i];

		r[i].rcpt = p;
		p += strlen(p) + 1;
		r[i].status = p;
		p += strlen(p) + 1;
		r[i].diag = p;
	}
	err = dsn_bounce(sc, sc_host, id, remote, r, f->nfail, f->omitted);
	if (err == EDGEMTA_E_FULL || err == EDGEMTA_E_IO ||
	    err == EDGEMTA_E_AGAIN) {
		/* no room for the bounce: fail them later */
		if (sl != NULL && !sl->deferred) {
			sl->deferred = true;
			sched_copy(sl->reason, sizeof(sl->reason),
			    "bounce postponed: queue full");
		}
	} else {
		for (i = 0; i < f->nfail; i++) {
			sched_storage_trouble(id, queue_rcpt_done(id,
			    f->fail_idx[i], QUEUE_RCPT_FAILED));
		}
		if (f->omitted > 0 && sl != NULL) {
			/* not listed in this DSN; the next try lists them */
			sl->deferred = true;
		}
	}
	f->nfail = 0;
	f->omitted = 0;
	f->faillen = 0;
}

/* ---- the loop guard on delivery (hops.h) ---- */

#define SCHED_HDR_SCAN_MAX 65536u	/* header bytes looked at, at most */

struct sched_loop {
	struct sched_slot *sl;
	const char *text;
};

static void
sched_loop_one(void *arg, unsigned idx, const char *rcpt)
{
	struct sched_loop *lp = arg;

	sched_log(lp->sl, NULL, rcpt, "none", "5.4.6", "bounced", lp->text);
	sched_fail_add(&lp->sl->f, idx, rcpt, "5.4.6", lp->text);
}

/*
 * A message whose header carries more trace fields than hopcount_limit
 * is looping: it is never relayed again, every pending recipient is
 * bounced (5.4.6). sl->id and sl->age are set. true when it was.
 */
static bool
sched_loops(struct sched_slot *sl)
{
	char text[SMTP_OUT_TEXT_MAX];
	struct sched_loop lp;
	struct queue_entry e;
	struct hops h;
	const uint8_t *p;
	size_t len, total = 0;
	unsigned idx;
	int r;

	hops_init(&h);
	if (queue_reader_open(&sc_rd, sl->id) < 0) {
		return false;
	}
	do {
		r = queue_reader_next(&sc_rd, &p, &len, &idx);
		if (r == QUEUE_ITEM_DATA) {
			hops_feed(&h, p, len);
			total += len;
		}
	} while ((r == QUEUE_ITEM_SENDER || r == QUEUE_ITEM_RCPT ||
	    r == QUEUE_ITEM_DATA) && !h.done && total < SCHED_HDR_SCAN_MAX &&
	    h.count <= sc->hopcount_limit);
	if (h.count <= sc->hopcount_limit) {
		return false;
	}
	snprintf(text, sizeof(text), "mail forwarding loop: more than %lu "
	    "Received:/Delivered-To: header fields (hopcount_limit)",
	    (unsigned long)sc->hopcount_limit);
	lp.sl = sl;
	lp.text = text;
	sl->f.nfail = 0;
	sl->f.omitted = 0;
	sl->f.faillen = 0;
	sl->deferred = false;
	(void)sched_each_pending(sl->id, sched_loop_one, &lp);
	sched_fail_flush(&sl->f, sl, sl->id, NULL);
	if (queue_lookup(sl->id, &e) == 0 && e.npending > 0) {
		sched_defer(sl->id, e.attempts, "mail forwarding loop: bounce "
		    "postponed");
	}
	sl->id = 0;
	return true;
}

/* ---- the due ring ---- */

static bool
sched_in_flight(uint32_t id)
{
	unsigned i;

	for (i = 0; i < sc_due_len; i++) {
		if (sc_due[(sc_due_head + i) % SCHED_DUE_MAX] == id) {
			return true;
		}
	}
	for (i = 0; i < sc_nslots; i++) {
		if (sc_slots[i].id == id) {
			return true;
		}
	}
	return false;
}

static bool
sched_due_pop(uint32_t *id)
{
	if (sc_due_len == 0) {
		return false;
	}
	*id = sc_due[sc_due_head];
	sc_pop_t = sc_due_t[sc_due_head];
	sc_due_head = (sc_due_head + 1) % SCHED_DUE_MAX;
	sc_due_len--;
	return true;
}

/* ---- expiry and suspended deferrals (no connection) ---- */

struct sched_nc {
	uint32_t id;
	int64_t age;
	const char *dsn, *status, *text;
	struct sched_fails *f;
};

static void
sched_nc_rcpt(void *arg, unsigned idx, const char *rcpt)
{
	struct sched_nc *nc = arg;

	uint64_t d[4] = { (uint64_t)nc->age * 1000, 0, 0, 0 };

	sched_log_raw(nc->id, rcpt, "none", d, nc->dsn, nc->status,
	    nc->text);
	if (nc->f != NULL) {
		sched_fail_add(nc->f, idx, rcpt, nc->dsn, nc->text);
	}
}

static void
sched_expire(uint32_t id, int64_t age)
{
	static struct sched_fails tmp;
	char last[200], text[SMTP_OUT_TEXT_MAX];
	struct sched_nc nc;

	if (queue_msg_reason(id, last, sizeof(last)) < 0) {
		last[0] = '\0';
	}
	snprintf(text, sizeof(text), "message expired (maximal_queue_lifetime)"
	    "%s%s", last[0] ? "; last error: " : "", last);
	memset(&tmp, 0, sizeof(tmp));
	nc.id = id;
	nc.age = age;
	nc.dsn = "5.4.7";
	nc.status = "bounced";
	nc.text = text;
	nc.f = &tmp;
	(void)sched_each_pending(id, sched_nc_rcpt, &nc);
	sched_fail_flush(&tmp, NULL, id, NULL);
}

static void
sched_suspend(uint32_t id, uint16_t attempts, int64_t age)
{
	char text[SMTP_OUT_TEXT_MAX];
	struct sched_nc nc;

	sched_copy(text, sizeof(text), "delivery temporarily suspended: ");
	sched_copy(text + strlen(text), sizeof(text) - strlen(text),
	    sc_down_reason);
	nc.id = id;
	nc.age = age;
	nc.dsn = "4.4.1";
	nc.status = "deferred";
	nc.text = text;
	nc.f = NULL;
	(void)sched_each_pending(id, sched_nc_rcpt, &nc);
	sched_defer(id, attempts, text);
}

/* ---- the scan ---- */

struct sched_scan {
	int64_t wall;
	int64_t earliest;	/* seconds until the next due message */
	struct sched_batch_item batch[SCHED_BATCH];
	unsigned nbatch;
	bool full;		/* more work than this scan could take */
};

static int
sched_scan_one(void *arg, const struct queue_entry *e)
{
	struct sched_scan *ss = arg;
	int64_t age;

	if (e->npending == 0 || sched_in_flight(e->id)) {
		return 0;
	}
	age = sched_age(&sc_clock, e->arrival, ss->wall);
	if (age >= (int64_t)sc->maximal_queue_lifetime) {
		if (ss->nbatch < SCHED_BATCH) {
			ss->batch[ss->nbatch].id = e->id;
			ss->batch[ss->nbatch].attempts = e->attempts;
			ss->batch[ss->nbatch++].expire = true;
		} else {
			ss->full = true;
		}
		return 0;
	}
	if (sc_disabled) {
		return 0;
	}
	if (!sched_due(e->next_try, ss->wall, sc->maximal_backoff_time)) {
		ss->earliest = MIN(ss->earliest, e->next_try - ss->wall);
		return 0;
	}
	if (sc_down) {
		if (ss->nbatch < SCHED_BATCH) {
			ss->batch[ss->nbatch].id = e->id;
			ss->batch[ss->nbatch].attempts = e->attempts;
			ss->batch[ss->nbatch++].expire = false;
		} else {
			ss->full = true;
		}
		return 0;
	}
	if (sc_due_len >= SCHED_DUE_MAX) {
		sc_more = true;
		return 0;
	}
	sc_due[(sc_due_head + sc_due_len) % SCHED_DUE_MAX] = e->id;
	sc_due_t[(sc_due_head + sc_due_len) % SCHED_DUE_MAX] = ev_now();
	sc_due_len++;
	return 0;
}

static void
sched_scan(void *arg)
{
	struct sched_scan ss;
	uint64_t now = ev_now(), next_ms;
	int64_t step;
	unsigned i;

	(void)arg;
	if (!sc_running) {
		return;
	}
	ss.wall = plat_time();
	step = sched_clock_update(&sc_clock, ss.wall, now,
	    sc->maximal_backoff_time);
	if (step != 0) {
		char st[U64_STRLEN];

		log_warn("wall clock stepped by %s s: ages and retry times "
		    "corrected (see sched.c)", i64_str(st, step));
	}
	if (sc_down && now >= sc_down_until) {
		sc_down = false;	/* let one session probe it */
	}
	ss.earliest = SCHED_RESCAN_MS / 1000;
	ss.nbatch = 0;
	ss.full = false;
	sc_more = false;
	(void)queue_foreach(sched_scan_one, &ss);
	for (i = 0; i < ss.nbatch; i++) {
		struct queue_entry e;

		if (queue_lookup(ss.batch[i].id, &e) < 0) {
			continue;
		}
		if (ss.batch[i].expire) {
			sched_expire(e.id, sched_age(&sc_clock, e.arrival,
			    ss.wall));
		} else {
			sched_suspend(e.id, e.attempts, sched_age(&sc_clock,
			    e.arrival, ss.wall));
		}
	}
	sched_dispatch();
	next_ms = ss.earliest <= 0 ? 1000 : (uint64_t)ss.earliest * 1000;
	if (ss.full) {
		next_ms = 0;
	}
	if (sc_down && sc_down_until > now) {
		next_ms = MIN(next_ms, sc_down_until - now);
	}
	if (sched_held()) {
		/* dispatch resumes when the hold ends: look again then */
		next_ms = MIN(next_ms, sc_hold_until - now);
	}
	/* never postpone an earlier wake-up armed meanwhile (kick, down) */
	sched_wake_in(next_ms);
}

/* ---- sessions ---- */

static void
sched_dest_down(const char *reason)
{
	uint32_t delay;
	uint32_t id;
	unsigned i;

	sc_down_count++;
	delay = sched_msg_backoff(sc_down_count);
	sc_down = true;
	sc_down_until = ev_now() + (uint64_t)delay * 1000;
	sched_copy(sc_down_reason, sizeof(sc_down_reason), reason);
	status_error("relayhost", reason, plat_time());
	log_warn("relayhost unreachable (%s): next connection attempt in "
	    "%lu s", reason, (unsigned long)delay);
	/*
	 * What waited for a session is deferred by the next scan, unless
	 * another session still works (it takes the ring).
	 */
	for (i = 0; i < sc_nslots; i++) {
		if (sc_slots[i].s.state != SMTP_OUT_FREE &&
		    sc_slots[i].s.greeted) {
			break;
		}
	}
	while (i == sc_nslots && sched_due_pop(&id)) {
	}
	ev_timer_start(&sc_timer, 0, sched_scan, NULL);
}

static void
sched_start_relay(struct sched_slot *sl, unsigned from)
{
	char why[SMTP_OUT_TEXT_MAX];
	unsigned i;

	why[0] = '\0';
	if (from == 0) {
		sl->t_setup = ev_now();	/* failed relays count as setup */
	}
	for (i = from; i < sc_nrelays; i++) {
		int r;

		if (!sc_relays[i].is_ip) {
#if CONFIG_DNS
			sl->relay = i;
			if (sched_resolve(sl, DNSQ_HOST, sc_relays[i].name,
			    sc_relays[i].addr.port) == 0) {
				return;	/* sched_on_dns() goes on */
			}
			snprintf(why, sizeof(why), "%s: cannot look up the "
			    "name (no resolver)", sc_relays[i].name);
#else
			snprintf(why, sizeof(why), "%s: %s",
			    sc_relays[i].name, DNS_LATER);
#endif
			log_warn("relayhost %s", why);
			continue;
		}
		sl->relay = i;
#if CONFIG_DNS
		sl->use_dres = false;
#endif
		r = smtp_out_start(&sl->s, &sc_relays[i].addr,
		    sc_relays[i].name, sc_host, &sched_cb, sl);
		if (r == 0) {
			return;
		}
		snprintf(why, sizeof(why), "connect to %s: %s",
		    sc_relays[i].name, edgemta_strerror(r));
	}
	sched_dest_down(why[0] ? why : "no usable relayhost");
}

static bool
sched_cb_next(void *arg, struct smtp_out_session *s, uint32_t *id)
{
	struct sched_slot *sl = arg;
	int64_t wall = plat_time();

	(void)s;
#if CONFIG_DNS
	if (sc_mx) {
		/* one message per connection, handed once */
		if (sl->given || sl->id == 0 || sc_stopping) {
			return false;
		}
		sl->given = true;
		*id = sl->id;
		return true;
	}
#endif
	while (!sc_stopping && !sched_held() && sched_rate_ok() &&
	    sched_due_pop(id)) {
		if (queue_lookup(*id, &sl->e) < 0 || sl->e.npending == 0) {
			continue;
		}
		sl->id = *id;
		sl->age = sched_age(&sc_clock, sl->e.arrival, wall);
		sl->t_pick = ev_now();
		sl->t_due = sc_pop_t;
		sl->deferred = false;
		sl->nres = 0;
		sl->reason[0] = '\0';
		sl->f.nfail = 0;
		sl->f.omitted = 0;
		sl->f.faillen = 0;
		if (sched_loops(sl)) {
			continue;
		}
		if (sc_due_len == 0 && sc_more) {
			sched_kick();
		}
		sched_rate_take(ev_now());
		return true;
	}
	if (sc_more) {
		sched_kick();
	}
	return false;
}

static void
sched_cb_rcpt(void *arg, struct smtp_out_session *s,
    const struct smtp_out_result *r)
{
	struct sched_slot *sl = arg;
	char relay[SMTP_OUT_HOST_MAX + NET_ADDR_STRLEN + 16];
	char ip[NET_ADDR_STRLEN];
	const char *status;

	if (sc_stopping) {
		return;	/* the message stays as it is */
	}
	sl->nres++;
	snprintf(relay, sizeof(relay), "%s[%s]:%u", s->host,
	    smtp_out_peer(s, ip, sizeof(ip)), s->addr.port);
	if (r->code / 100 == 2) {
		status = "sent";
		sched_storage_trouble(r->id, queue_rcpt_done(r->id, r->idx,
		    QUEUE_RCPT_SENT));
	} else if (r->code / 100 == 5) {
		status = "bounced";
		sched_fail_add(&sl->f, r->idx, r->rcpt, r->dsn, r->text);
	} else {
		status = "deferred";
		if (!sl->deferred) {
			sl->deferred = true;
			sched_copy(sl->reason, sizeof(sl->reason), r->text);
		}
	}
	sched_log(sl, s, r->rcpt, relay, r->dsn, status, r->text);
	if (r->code / 100 == 2) {
		char tls[96] = "";

		if (CONFIG_TLS && tls_active(&s->io)) {
			tls_describe(&s->io, tls, sizeof(tls));
		}
		status_tls(tls);
	}
}

static void
sched_cb_msg_done(void *arg, struct smtp_out_session *s, uint32_t id)
{
	struct sched_slot *sl = arg;
	struct queue_entry e;

#if CONFIG_DNS
	if (sc_mx) {
		return;	/* the attempt ends after its last domain */
	}
#endif
	sl->id = 0;
	if (sc_stopping) {
		return;
	}
	sched_fail_flush(&sl->f, sl, id, s->host);
	if (queue_lookup(id, &e) < 0 || e.npending == 0) {
		return;
	}
	if (sl->nres == 0 && s->moved) {
		/*
		 * Not tried at all (the queue moved it while it was read):
		 * no attempt counted and nothing written; it stays due and
		 * goes again after a short pause.
		 */
		sc_hold_until = MAX(sc_hold_until, ev_now() + 200);
		sched_wake_in(200);
		return;
	}
	if (sl->nres == 0) {
		sched_copy(sl->reason, sizeof(sl->reason),
		    "queue read error: message not sent");
	} else if (!sl->deferred) {
		/* recipients left untried (envelope buffer full) */
		sched_copy(sl->reason, sizeof(sl->reason),
		    "not all recipients could be tried in this attempt");
	}
	sched_defer(id, e.attempts, sl->reason);
}

static void
sched_cb_closed(void *arg, struct smtp_out_session *s, bool greeted,
    const char *reason)
{
	struct sched_slot *sl = arg;

	(void)s;
#if CONFIG_DNS
	if (sc_mx) {
		if (!sc_stopping) {
			sched_mx_closed(sl, greeted, reason);
		}
		return;
	}
#endif
	sl->id = 0;
	if (sc_stopping) {
		return;
	}
	if (greeted) {
		sc_down_count = 0;
		sched_dispatch();
		return;
	}
	log_info("relayhost %s: %s", sc_relays[sl->relay].name, reason);
#if CONFIG_DNS
	if (sl->use_dres && sched_try_addr(sl)) {
		return;	/* the next address of the same relay */
	}
#endif
	if (sl->relay + 1 < sc_nrelays) {
		sched_start_relay(sl, sl->relay + 1);
		return;
	}
	sched_dest_down(reason);
}

#if CONFIG_DNS
static bool sched_cb_want(void *arg, struct smtp_out_session *s,
    unsigned idx, const char *rcpt, size_t len);
#endif

static const struct smtp_out_cb sched_cb = {
	sched_cb_next, sched_cb_rcpt, sched_cb_msg_done, sched_cb_closed,
#if CONFIG_DNS
	sched_cb_want
#else
	NULL
#endif
};

/* Give due work to idle sessions; open one more connection if needed. */
static void
sched_dispatch(void)
{
	struct sched_slot *free_slot = NULL;
	unsigned i;

	if (sc_stopping || sc_disabled || sched_held()) {
		return;
	}
#if CONFIG_DNS
	if (sc_mx) {
		sched_mx_dispatch();
		return;
	}
#endif
	for (i = 0; i < sc_nslots && sc_due_len > 0; i++) {
		struct sched_slot *sl = &sc_slots[i];

		if (sl->s.state == SMTP_OUT_IDLE) {
			smtp_out_wake(&sl->s);
		}
	}
	for (i = 0; i < sc_nslots; i++) {
		struct sched_slot *sl = &sc_slots[i];

		if (sl->s.state == SMTP_OUT_FREE) {
#if CONFIG_DNS
			if (sl->resolving) {
				return;	/* a lookup is the attempt */
			}
#endif
			if (free_slot == NULL) {
				free_slot = sl;
			}
		} else if (!sl->s.greeted) {
			return;	/* one connection attempt at a time */
		}
	}
	if (free_slot == NULL && sc_nslots < CONFIG_SMTP_OUT_SESSIONS) {
		free_slot = &sc_slots[sc_nslots];
	}
	if (sc_due_len == 0 || sc_down || free_slot == NULL ||
	    !sched_rate_ok()) {
		return;
	}
	if (oauth2_enabled()) {
		/* a usable access token first (one request at a time) */
		int r = oauth2_ready(sched_on_oauth2);

		if (r == EDGEMTA_E_INPROGRESS) {
			return;	/* sched_on_oauth2() dispatches again */
		}
		if (r < 0) {
			sched_dest_down(oauth2_reason());
			return;
		}
	}
	if (free_slot == &sc_slots[sc_nslots]) {
		sc_nslots++;
	}
	sched_start_relay(free_slot, 0);
}

/* The token refresh ended: deliver, or defer like an unreachable relay. */
static void
sched_on_oauth2(int r)
{
	if (sc_stopping) {
		return;
	}
	if (r < 0) {
		sched_dest_down(oauth2_reason());
		return;
	}
	sched_dispatch();
}

/* ---- DNS: relay names and MX delivery (CONFIG_DNS) ---- */

/*
 * MX mode (relayhost empty): a free slot takes one due message and
 * delivers it one recipient domain at a time: MX lookup (dnsq.h: RFC
 * 5321 section 5 order, Null MX, implicit MX), then every address in
 * order until one greets; the session carries only the recipients of
 * that domain (smtp_out_cb.want), and is marked to_mx (opportunistic TLS,
 * never AUTH: the TLS issue's hook). DNS failures end the domain's
 * recipients as bounced (permanent) or deferred (temporary), like SMTP
 * replies. When every domain was tried the attempt is recorded (DSN for
 * the failed, backoff for the deferred). There is no "destination down"
 * state in this mode: each message backs off on its own. The slot pool
 * is the global limit; default_destination_concurrency_limit slots at
 * most start on one domain.
 */

#if CONFIG_DNS
static void sched_on_dns(void *arg, struct dnsq_req *r);

/* Start a lookup for sl (the slot counts as a connection attempt). */
static int
sched_resolve(struct sched_slot *sl, int kind, const char *name,
    uint16_t port)
{
	int r;

	r = dnsq_start(&sl->dns, kind, name, NULL, port, &sl->dres,
	    sched_on_dns, sl);
	sl->resolving = r == 0;
	return r;
}

/* Connect to the next address of sl->dres; false when none is left. */
static bool
sched_try_addr(struct sched_slot *sl)
{
	while (sl->addr_i < sl->dres.naddrs) {
		const struct dnsq_addr *a = &sl->dres.addrs[sl->addr_i++];

		if (smtp_out_start(&sl->s, &a->addr, sl->dres.hosts[a->host],
		    sc_host, &sched_cb, sl) == 0) {
			sl->use_dres = true;
			sl->s.to_mx = sc_mx;
			return true;
		}
	}
	sl->use_dres = false;
	return false;
}

static bool
sched_tried(const struct sched_slot *sl, unsigned idx)
{
	return idx < CONFIG_SMTP_MAX_RCPT &&
	    ((sl->tried[idx / 8] >> (idx % 8)) & 1u) != 0;
}

static void
sched_set_tried(struct sched_slot *sl, unsigned idx)
{
	if (idx < CONFIG_SMTP_MAX_RCPT) {
		sl->tried[idx / 8] |= (uint8_t)(1u << (idx % 8));
	}
}

static char
sched_lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* Is the domain of rcpt (len bytes; after the last '@') equal to d? */
static bool
sched_in_domain(const char *rcpt, size_t len, const char *d)
{
	size_t i, at = len, dl = strlen(d);

	for (i = 0; i < len; i++) {
		if (rcpt[i] == '@') {
			at = i;
		}
	}
	if (at == len) {
		return dl == 0;	/* no domain: its own "destination" */
	}
	if (len - at - 1 != dl) {
		return false;
	}
	for (i = 0; i < dl; i++) {
		if (sched_lower(rcpt[at + 1 + i]) != sched_lower(d[i])) {
			return false;
		}
	}
	return true;
}

static bool
sched_cb_want(void *arg, struct smtp_out_session *s, unsigned idx,
    const char *rcpt, size_t len)
{
	struct sched_slot *sl = arg;

	(void)s;
	if (!sc_mx) {
		return true;
	}
	if (idx >= CONFIG_SMTP_MAX_RCPT || sched_tried(sl, idx) ||
	    !sched_in_domain(rcpt, len, sl->domain)) {
		return false;
	}
	sched_set_tried(sl, idx);
	return true;
}

struct sched_mark {
	struct sched_slot *sl;
	bool perm;
	const char *dsn, *text;
};

/* One untried pending recipient of the current domain gets a result. */
static void
sched_mx_mark_one(void *arg, unsigned idx, const char *rcpt)
{
	struct sched_mark *m = arg;
	struct sched_slot *sl = m->sl;

	if (idx >= CONFIG_SMTP_MAX_RCPT || sched_tried(sl, idx) ||
	    !sched_in_domain(rcpt, strlen(rcpt), sl->domain)) {
		return;
	}
	sched_set_tried(sl, idx);
	sched_log(sl, NULL, rcpt, "none", m->dsn, m->perm ? "bounced" :
	    "deferred", m->text);
	if (m->perm) {
		sched_fail_add(&sl->f, idx, rcpt, m->dsn, m->text);
	} else if (!sl->deferred) {
		sl->deferred = true;
		sched_copy(sl->reason, sizeof(sl->reason), m->text);
	}
}

/* Every untried recipient of sl->domain: bounced (perm) or deferred. */
static void
sched_mx_mark(struct sched_slot *sl, bool perm, const char *dsn,
    const char *text)
{
	struct sched_mark m;

	m.sl = sl;
	m.perm = perm;
	m.dsn = dsn;
	m.text = text;
	(void)sched_each_pending(sl->id, sched_mx_mark_one, &m);
}

struct sched_pick {
	struct sched_slot *sl;
	bool found;
};

static void
sched_mx_pick_one(void *arg, unsigned idx, const char *rcpt)
{
	struct sched_pick *pk = arg;
	const char *d;

	if (pk->found || idx >= CONFIG_SMTP_MAX_RCPT ||
	    sched_tried(pk->sl, idx)) {
		return;
	}
	d = strrchr(rcpt, '@');
	pk->found = true;
	sched_copy(pk->sl->domain, sizeof(pk->sl->domain), d != NULL ?
	    d + 1 : "");
}

/* Slots other than sl working on domain d. */
static unsigned
sched_mx_busy(const struct sched_slot *sl, const char *d)
{
	size_t k, l = strlen(d);
	unsigned i, n = 0;

	for (i = 0; i < sc_nslots; i++) {
		const struct sched_slot *o = &sc_slots[i];

		if (o == sl || o->id == 0 || strlen(o->domain) != l) {
			continue;
		}
		for (k = 0; k < l && sched_lower(o->domain[k]) ==
		    sched_lower(d[k]); k++) {
		}
		n += k == l;
	}
	return n;
}

/* All domains of sl's message were tried: record the attempt. */
static void
sched_mx_end(struct sched_slot *sl)
{
	uint32_t id = sl->id;
	struct queue_entry e;

	sched_fail_flush(&sl->f, sl, id, NULL);
	sl->id = 0;
	sl->domain[0] = '\0';
	if (queue_lookup(id, &e) == 0 && e.npending > 0) {
		if (!sl->deferred) {
			sched_copy(sl->reason, sizeof(sl->reason), "not all "
			    "recipients could be tried in this attempt");
		}
		sched_defer(id, e.attempts, sl->reason);
	}
	sched_kick();	/* the slot is free: more work, from the loop */
}

/* Route the next untried domain of sl's message, or end the attempt. */
static void
sched_mx_next(struct sched_slot *sl)
{
	struct sched_pick pk;
	char text[SMTP_OUT_TEXT_MAX];
	unsigned n;

	pk.sl = sl;
	for (n = 0; n < CONFIG_SMTP_MAX_RCPT; n++) {
		pk.found = false;
		(void)sched_each_pending(sl->id, sched_mx_pick_one, &pk);
		if (!pk.found) {
			break;
		}
		sl->given = false;
		sl->t_setup = ev_now();	/* DNS and every MX tried count */
		if (sl->domain[0] == '\0') {
			sched_mx_mark(sl, true, "5.1.3", "recipient address "
			    "has no domain");
			continue;
		}
		if (sl->domain[0] == '[') {
			/* address literal (RFC 5321 4.1.3): no DNS */
			char ip[DNSQ_NAME_MAX];
			size_t l = strlen(sl->domain);

			memset(&sl->dres, 0, sizeof(sl->dres));
			sched_copy(ip, sizeof(ip), sl->domain + 1);
			if (l > 2) {
				ip[l - 2] = '\0';
			}
			if (strncmp(ip, "IPv6:", 5) == 0) {
				memmove(ip, ip + 5, strlen(ip + 5) + 1);
			}
			if (sl->domain[l - 1] != ']' || net_addr_parse_ip(ip,
			    &sl->dres.addrs[0].addr) != 0) {
				sched_mx_mark(sl, true, "5.1.2", "bad address "
				    "literal in recipient domain");
				continue;
			}
			if (dnsq_is_self(&sl->dres.addrs[0].addr)) {
				/* RFC 5321 5.1: never deliver to ourselves */
				snprintf(text, sizeof(text), "mail for %.160s "
				    "loops back to myself", sl->domain);
				sched_mx_mark(sl, true, "5.4.6", text);
				continue;
			}
			sl->dres.addrs[0].addr.port = 25;
			sl->dres.naddrs = 1;
			sl->dres.nhosts = 1;
			sched_copy(sl->dres.hosts[0], DNSQ_NAME_MAX,
			    sl->domain);
			sl->addr_i = 0;
			if (sched_try_addr(sl)) {
				return;
			}
			sched_mx_mark(sl, false, "4.4.1", "cannot connect");
			continue;
		}
		if (sched_resolve(sl, DNSQ_MX, sl->domain, 25) == 0) {
			return;	/* sched_on_dns() goes on */
		}
		snprintf(text, sizeof(text), "cannot look up the MX of %.160s "
		    "(no resolver)", sl->domain);
		sched_mx_mark(sl, false, "4.4.3", text);
	}
	sched_mx_end(sl);
}

/* The MX session of sl ended (or never got going). */
static void
sched_mx_closed(struct sched_slot *sl, bool greeted, const char *reason)
{
	char text[SMTP_OUT_TEXT_MAX];

	if (!greeted) {
		log_info("%s: MX %s: %s", sl->domain, sl->s.host, reason);
		if (sched_try_addr(sl)) {
			return;	/* the next address / MX host */
		}
	}
	/* recipients of the domain not carried (no usable MX, or the
	 * session ended before the message) */
	snprintf(text, sizeof(text), "delivery to %.100s: %.120s", sl->domain,
	    greeted ? "session ended early" : reason);
	sched_mx_mark(sl, false, "4.4.1", text);
	sched_mx_next(sl);
}

static void
sched_on_dns(void *arg, struct dnsq_req *r)
{
	struct sched_slot *sl = arg;
	char why[SMTP_OUT_TEXT_MAX];

	sl->resolving = false;
	if (sc_stopping) {
		return;
	}
	if (sc_mx) {
		if (r->status == DNSQ_OK) {
			sl->addr_i = 0;
			if (sched_try_addr(sl)) {
				return;
			}
			snprintf(why, sizeof(why), "cannot connect to any MX "
			    "host of %.160s", sl->domain);
			sched_mx_mark(sl, false, "4.4.1", why);
		} else {
			log_info("%s: %s", sl->domain, r->reason);
			sched_mx_mark(sl, r->status == DNSQ_PERM, r->dsn,
			    r->reason);
		}
		sched_mx_next(sl);
		return;
	}
	if (r->status == DNSQ_OK) {
		sl->addr_i = 0;
		if (sched_try_addr(sl)) {
			return;
		}
		snprintf(why, sizeof(why), "connect to %s: failed",
		    sc_relays[sl->relay].name);
	} else {
		snprintf(why, sizeof(why), "relayhost %s: %s",
		    sc_relays[sl->relay].name, r->reason);
	}
	log_info("%s", why);
	if (sl->relay + 1 < sc_nrelays) {
		sched_start_relay(sl, sl->relay + 1);
		return;
	}
	sched_dest_down(why);
}

/*
 * MX mode: each free slot takes one due message whose first destination
 * is below default_destination_concurrency_limit; the others stay on the
 * ring for the next dispatch (a slot finishing kicks one). Later domains
 * of a message taken are not limited again (the limit is soft by one).
 */
static void
sched_mx_dispatch(void)
{
	int64_t wall = plat_time();
	unsigned i;

	for (i = 0; i < CONFIG_SMTP_OUT_SESSIONS; i++) {
		struct sched_slot *sl = &sc_slots[i];
		struct sched_pick pk;
		unsigned n = sc_due_len;
		uint32_t id = 0;
		bool got = false;

		if (i < sc_nslots && (sl->s.state != SMTP_OUT_FREE ||
		    sl->resolving || sl->id != 0)) {
			continue;
		}
		if (sc_due_len == 0) {
			break;	/* nothing to hand out: leave sl untouched */
		}
		while (!got && n-- > 0 && sched_due_pop(&id)) {
			if (queue_lookup(id, &sl->e) < 0 ||
			    sl->e.npending == 0) {
				continue;
			}
			memset(sl->tried, 0, sizeof(sl->tried));
			pk.sl = sl;
			pk.found = false;
			sl->id = id;
			(void)sched_each_pending(id, sched_mx_pick_one, &pk);
			if (pk.found && sched_mx_busy(sl, sl->domain) >=
			    sc->default_destination_concurrency_limit) {
				/* back on the ring, at the end */
				sl->id = 0;
				sc_due[(sc_due_head + sc_due_len) %
				    SCHED_DUE_MAX] = id;
				sc_due_t[(sc_due_head + sc_due_len) %
				    SCHED_DUE_MAX] = sc_pop_t;
				sc_due_len++;
				continue;
			}
			sl->age = sched_age(&sc_clock, sl->e.arrival, wall);
			sl->t_pick = ev_now();
			sl->t_due = sc_pop_t;
			sl->t_setup = sl->t_pick;	/* nothing set up yet */
			got = !sched_loops(sl);
		}
		if (!got) {
			break;
		}
		if (i == sc_nslots) {
			sc_nslots++;
		}
		sl->deferred = false;
		sl->reason[0] = '\0';
		sl->f.nfail = 0;
		sl->f.omitted = 0;
		sl->f.faillen = 0;
		sl->given = false;
		sched_mx_next(sl);
	}
	if (sc_due_len == 0 && sc_more) {
		sched_kick();
	}
}
#endif /* CONFIG_DNS */

/* ---- relayhost ---- */

static void
sched_parse_relays(const char *s)
{
	sc_nrelays = 0;
	while (*s != '\0' && sc_nrelays < SCHED_MAX_RELAYS) {
		struct sched_relay *rl = &sc_relays[sc_nrelays];
		char tok[CONF_STR_MAX], *host = tok, *port = NULL, *p;
		size_t n = 0;

		while (*s == ' ' || *s == ',' || *s == '\t') {
			s++;
		}
		while (s[n] != '\0' && s[n] != ' ' && s[n] != ',' &&
		    s[n] != '\t' && n + 1 < sizeof(tok)) {
			n++;
		}
		if (n == 0) {
			break;
		}
		memcpy(tok, s, n);
		tok[n] = '\0';
		s += n;
		if (tok[0] == '[' && (p = strchr(tok, ']')) != NULL) {
			*p = '\0';
			host = tok + 1;
			port = p[1] == ':' ? p + 2 : NULL;
		} else if ((p = strchr(tok, ':')) != NULL) {
			*p = '\0';
			port = p + 1;
		}
		memset(rl, 0, sizeof(*rl));
		sched_copy(rl->name, sizeof(rl->name), host);
		rl->is_ip = net_addr_parse_ip(host, &rl->addr) == 0;
		rl->addr.port = 25;
		if (port != NULL && *port != '\0') {
			unsigned v = 0;

			for (p = port; *p >= '0' && *p <= '9' && v < 65536;
			    p++) {
				v = v * 10 + (unsigned)(*p - '0');
			}
			rl->addr.port = (uint16_t)v;
		}
		sc_nrelays++;
	}
}

/* ---- the contract ---- */

int
sched_start(const struct conf *c, const char *hostname)
{
	sc = c;
	sc_host = hostname;
	sc_stopping = false;
	sc_down = false;
	sc_down_count = 0;
	sc_due_head = sc_due_len = 0;
	memset(&sc_clock, 0, sizeof(sc_clock));
	memset(&sc_timer, 0, sizeof(sc_timer));
	plat_random(&sc_rng, sizeof(sc_rng));
	/* static storage starts zeroed: only slots used before need it */
	memset(sc_slots, 0, sc_nslots * sizeof(sc_slots[0]));
	sc_nslots = 0;
	sched_parse_relays(c->relayhost);
	status_start(plat_time());
	sc_rate_tat = sc_rate_last = 0;
	sc_rate_any = false;
#if CONFIG_DNS
	sc_mx = sc_nrelays == 0;
	sc_disabled = false;
	if (sc_mx) {
		log_info("relayhost is empty: delivering to the MX hosts of "
		    "each recipient domain");
	}
#else
	sc_disabled = sc_nrelays == 0;
	if (sc_disabled) {
		log_warn("relayhost is empty: delivery disabled until DNS/MX "
		    "support");
	}
	for (unsigned i = 0; i < sc_nrelays; i++) {
		if (!sc_relays[i].is_ip) {
			log_warn("relayhost %s: %s; use an IP literal like "
			    "[192.0.2.1]:25", sc_relays[i].name, DNS_LATER);
		}
	}
#endif
	sc_running = true;
	ev_timer_start(&sc_timer, 0, sched_scan, NULL);
	return 0;
}

void
sched_stop(void)
{
	unsigned i;

	if (!sc_running) {
		return;
	}
	sc_stopping = true;
	ev_timer_stop(&sc_timer);
	oauth2_cancel();
	for (i = 0; i < sc_nslots; i++) {
#if CONFIG_DNS
		dnsq_cancel(&sc_slots[i].dns);	/* no callback later */
		sc_slots[i].resolving = false;
#endif
		smtp_out_abort(&sc_slots[i].s, "shutting down");
		ev_timer_stop(&sc_slots[i].s.timer);
	}
	sc_running = false;
}

void
sched_kick(void)
{
	if (sc_running && !sc_stopping) {
		ev_timer_start(&sc_timer, 0, sched_scan, NULL);
	}
}

static int
sched_flush_one(void *arg, const struct queue_entry *e)
{
	unsigned *n = arg;
	char reason[200];

	if (e->npending == 0 || e->next_try == 0) {
		return 0;
	}
	if (queue_msg_reason(e->id, reason, sizeof(reason)) < 0) {
		reason[0] = '\0';
	}
	if (queue_msg_defer(e->id, 0, e->attempts, reason) == 0) {
		(*n)++;
	}
	return 0;
}

void
sched_flush(void)
{
	unsigned n = 0;

	if (!sc_running) {
		return;
	}
	sc_down = false;
	sc_down_count = 0;
	(void)queue_foreach(sched_flush_one, &n);
	log_info("queue flush: %u deferred messages due now", n);
	sched_kick();
}

struct sched_del {
	bool deferred_only;
	unsigned n;
};

static int
sched_del_one(void *arg, const struct queue_entry *e)
{
	struct sched_del *d = arg;

	if (d->deferred_only && e->attempts == 0) {
		return 0;
	}
	if (queue_msg_delete(e->id) == 0) {
		d->n++;
	}
	return 0;
}

static bool
sched_word(const char **s, const char *w)
{
	size_t i;

	while (**s == ' ') {
		(*s)++;
	}
	for (i = 0; w[i] != '\0'; i++) {
		char c = (*s)[i];

		if (c >= 'a' && c <= 'z') {
			c = (char)(c - 'a' + 'A');
		}
		if (c != w[i]) {
			return false;
		}
	}
	if ((*s)[i] != '\0' && (*s)[i] != ' ') {
		return false;
	}
	*s += i;
	while (**s == ' ') {
		(*s)++;
	}
	return true;
}

int
sched_admin(const char *cmd, char *reply, size_t len)
{
	struct sched_del d = { false, 0 };
	const char *s = cmd;
	char ids[QUEUE_ID_STRLEN];
	uint32_t id;

	if (sched_word(&s, "STATUS") && *s == '\0') {
		/* down_until: the monotonic deadline as wall clock */
		status_format(reply, len, plat_time(), !sc_down ? 0 :
		    plat_time() + (int64_t)((sc_down_until > ev_now() ?
		    sc_down_until - ev_now() : 0) / 1000));
		return 0;
	}
	s = cmd;
	if (sched_word(&s, "FLUSH") && *s == '\0') {
		sched_flush();
		snprintf(reply, len, "queue flushed: %u messages queued",
		    (unsigned)queue_count());
		return 0;
	}
	s = cmd;
	if (!sched_word(&s, "DELETE") || *s == '\0') {
		snprintf(reply, len, "unknown command: use FLUSH, DELETE <id>,"
		    " DELETE ALL or DELETE DEFERRED");
		return EDGEMTA_E_INVAL;
	}
	if (sched_word(&s, "ALL") || (d.deferred_only =
	    sched_word(&s, "DEFERRED"))) {
		(void)queue_foreach(sched_del_one, &d);
		log_info("admin: %u messages deleted", d.n);
	} else {
		if (queue_id_parse(s, &id) < 0) {
			snprintf(reply, len, "bad queue id: %s", s);
			return EDGEMTA_E_INVAL;
		}
		if (queue_msg_delete(id) < 0) {
			snprintf(reply, len, "%s: no such message",
			    queue_id_str(id, ids));
			return EDGEMTA_E_NOENT;
		}
		log_info("%s: removed", queue_id_str(id, ids));
		d.n = 1;
	}
	/* what the admin was told is on flash, and `queue list` sees it */
	if (queue_sync_results() != 0) {
		snprintf(reply, len, "queue write error: deletion not durable");
		return EDGEMTA_E_IO;
	}
	snprintf(reply, len, "%u message%s deleted", d.n, d.n == 1 ? "" : "s");
	return 0;
}
