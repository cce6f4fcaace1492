/*
 * status_cli.c - `edgemta status [--json | --check]`: the relay's health
 * in one look, with or without the daemon.
 *
 * The queue is read from flash (read-only, as `queue list` does); what
 * only the running daemon knows (counters since start, the relay's
 * state, the last delivery and error) comes over the local socket
 * ("XQUEUE STATUS", status.h). Problems an admin must act on come first,
 * in plain words; --check prints the worst as one line and exits 0, 1 or
 * 2 (Nagios: ok, warning, critical); --json prints one object whose keys
 * are documented in the README.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "flash_mtd.h"
#include "linux.h"
#include "platform.h"
#include "queue.h"

#define ST_MAX_PROBLEMS 8
#define ST_CLOCK_SANE 1577836800	/* 2020-01-01: older means "not set" */

enum { ST_OK, ST_WARNING, ST_CRITICAL };

struct st_daemon {
	bool running;
	int64_t started, last_sent, down_until, last_error_at, rate_next;
	int64_t oauth2_at;
	unsigned long sent, bounced, deferred;
	char last_relay[64], last_tls[64], error_relay[64], last_error[128];
	char oauth2[32];	/* OAuth2 needs the admin (status.h) */
};

struct st_queue {
	bool ok;		/* read (absent = empty, also ok) */
	uint32_t msgs, pending, deferred;
	int64_t oldest;		/* arrival of the oldest, 0 = none */
	struct queue_stats qs;
	uint64_t capacity, used;
	unsigned percent;
};

struct st_problem {
	int level;
	char text[256];
};

static struct st_problem st_problems[ST_MAX_PROBLEMS];
static unsigned st_nproblems;

static void
st_problem(int level, const char *fmt, ...)
{
	va_list ap;

	if (st_nproblems == ST_MAX_PROBLEMS) {
		return;
	}
	st_problems[st_nproblems].level = level;
	va_start(ap, fmt);
	vsnprintf(st_problems[st_nproblems].text,
	    sizeof(st_problems[0].text), fmt, ap);
	va_end(ap);
	st_nproblems++;
}

/* A decimal field of the daemon's own STATUS line (strtoll links 2.6 KB
 * of musl's general number scanner for this). */
static int64_t
st_num(const char *v)
{
	bool neg = *v == '-';
	uint64_t n = 0;

	for (v += neg; *v >= '0' && *v <= '9'; v++) {
		n = n * 10 + (uint64_t)(*v - '0');
	}
	return neg ? -(int64_t)n : (int64_t)n;
}

/* Take "key=value" fields of the XQUEUE STATUS line. */
static void
st_parse(struct st_daemon *d, char *line)
{
	char *f, *save = NULL;

	for (f = strtok_r(line, ";", &save); f != NULL;
	    f = strtok_r(NULL, ";", &save)) {
		char *v = strchr(f, '=');

		if (v == NULL) {
			continue;
		}
		*v++ = '\0';
#define ST_NUM(k, field) if (strcmp(f, k) == 0) { \
		d->field = st_num(v); continue; }
#define ST_STR(k, field) if (strcmp(f, k) == 0) { \
		snprintf(d->field, sizeof(d->field), "%s", v); continue; }
		ST_NUM("started", started)
		ST_NUM("sent", sent)
		ST_NUM("bounced", bounced)
		ST_NUM("deferred", deferred)
		ST_NUM("last_sent", last_sent)
		ST_NUM("relay_down_until", down_until)
		ST_NUM("rate_next", rate_next)
		ST_NUM("last_error_at", last_error_at)
		ST_NUM("oauth2_at", oauth2_at)
		ST_STR("oauth2", oauth2)
		ST_STR("last_relay", last_relay)
		ST_STR("last_tls", last_tls)
		ST_STR("error_relay", error_relay)
		ST_STR("last_error", last_error)
#undef ST_NUM
#undef ST_STR
	}
}

static void
st_ask_daemon(const struct conf *c, struct st_daemon *d)
{
	char buf[1024], *text;

	memset(d, 0, sizeof(*d));
	if (admin_ask(c, "STATUS", buf, sizeof(buf)) / 100 != 2) {
		return;
	}
	/* "250 2.0.0 started=...\r\n" */
	text = str_find(buf, "started=");
	if (text == NULL) {
		return;
	}
	text[strcspn(text, "\r\n")] = '\0';
	d->running = true;
	st_parse(d, text);
}

static int
st_one(void *arg, const struct queue_entry *e)
{
	struct st_queue *q = arg;

	q->msgs++;
	q->pending += e->npending;
	if (e->attempts > 0 && e->npending > 0) {
		q->deferred++;
	}
	if (q->oldest == 0 || e->arrival < q->oldest) {
		q->oldest = e->arrival;
	}
	return 0;
}

static void
st_read_queue(const struct conf *c, struct st_queue *q)
{
	struct flash fl;
	int r;

	memset(q, 0, sizeof(*q));
	r = admin_queue_open_ro(c, &fl);
	if (r == EDGEMTA_E_NOENT) {
		q->ok = true;	/* no queue yet: empty */
		q->capacity = c->queue_size;
		return;
	}
	if (r != 0) {
		return;
	}
	(void)queue_foreach(st_one, q);
	queue_stats(&q->qs);
	queue_close();
	flash_close_queue(&fl);
	q->ok = true;
	q->capacity = (uint64_t)q->qs.block_count * fl.block_size;
	q->used = (uint64_t)(q->qs.block_count - q->qs.free_blocks) *
	    fl.block_size;
	q->percent = q->capacity ? (unsigned)(q->used * 100 / q->capacity) : 0;
}

/* "3d 04h", "2h 03m", "5m 12s", "8s" */
static const char *
st_age(int64_t age, char *buf, size_t len)
{
	/* unsigned 32-bit: 136 years, and no 64-bit signed division code */
	unsigned long s = age < 0 ? 0 : (unsigned long)age;

	if (s >= 86400) {
		snprintf(buf, len, "%lud %02luh", s / 86400,
		    s % 86400 / 3600);
	} else if (s >= 3600) {
		snprintf(buf, len, "%luh %02lum", s / 3600,
		    s % 3600 / 60);
	} else if (s >= 60) {
		snprintf(buf, len, "%lum %02lus", s / 60, s % 60);
	} else {
		snprintf(buf, len, "%lus", s);
	}
	return buf;
}

static const char *
st_when(int64_t t, char *buf, size_t len)
{
	if (t == 0 || !plat_time_fmt(t, PLAT_T_LOCAL_SP, buf, len)) {
		snprintf(buf, len, "never");
	}
	return buf;
}

static bool
st_auth_error(const char *text)
{
	return strncmp(text, "535", 3) == 0 ||
	    str_find(text, " 535") != NULL ||
	    str_find(text, "uthentication") != NULL;
}

static void
st_judge(const struct conf *c, const struct st_daemon *d,
    const struct st_queue *q, int64_t now)
{
	char w[32], a[32];

	if (!d->running) {
		st_problem(ST_CRITICAL, "edgemta is not running (nothing "
		    "answers on %s): no mail is accepted or delivered",
		    c->local_socket);
	}
	if (!q->ok) {
		st_problem(ST_CRITICAL, "the queue at %s cannot be read",
		    c->queue_path);
	} else if (q->percent >= 90) {
		st_problem(ST_CRITICAL, "queue %u %% full: new mail will soon "
		    "be refused (452)", q->percent);
	} else if (q->percent >= 75) {
		st_problem(ST_WARNING, "queue %u %% full", q->percent);
	}
	if (now < ST_CLOCK_SANE) {
		st_problem(ST_WARNING, "clock not set (it says %s): TLS "
		    "certificates cannot be checked and retry times drift",
		    st_when(now, w, sizeof(w)));
	}
	if (d->running && strcmp(d->oauth2, "rejected") == 0) {
		st_problem(ST_CRITICAL, "relay refuses the OAuth2 access token "
		    "since %s, even a fresh one: check that the mailbox may use "
		    "SMTP AUTH and the scope; re-authorise: run edgemta oauth2 "
		    "device-login", st_when(d->oauth2_at, w, sizeof(w)));
	} else if (d->running && d->oauth2[0] != '\0') {
		st_problem(ST_CRITICAL, "the OAuth2 token endpoint refuses "
		    "the refresh token (%s) since %s: %s", d->oauth2,
		    st_when(d->oauth2_at, w, sizeof(w)),
		    strcmp(d->oauth2, "invalid_grant") == 0 ? "re-authorise: "
		    "run edgemta oauth2 device-login" : "check "
		    "smtp_oauth2_client_id and smtp_oauth2_client_secret");
	}
	if (d->running && d->last_error_at > d->last_sent &&
	    st_auth_error(d->last_error)) {
		st_problem(ST_WARNING, "relay %s refusing AUTH since %s: check "
		    "the %s (%s)", d->error_relay,
		    st_when(d->last_error_at, w, sizeof(w)),
		    c->smtp_sasl_mechanism[0] != '\0' ? "OAuth2 settings" :
		    "password", d->last_error);
	} else if (d->running && d->down_until > now) {
		st_problem(ST_WARNING, "relay unreachable, next try at %s: %s",
		    st_when(d->down_until, w, sizeof(w)), d->last_error);
	}
	if (q->qs.damaged_ranges != 0) {
		st_problem(q->qs.damaged_msgs ? ST_CRITICAL : ST_WARNING,
		    "queue damage found at the last start: %lu damaged ranges "
		    "(%llu bytes) skipped, %lu messages lost; see the log",
		    (unsigned long)q->qs.damaged_ranges,
		    (unsigned long long)q->qs.damaged_bytes,
		    (unsigned long)q->qs.damaged_msgs);
	}
	if (q->oldest != 0 && now - q->oldest > 86400) {
		st_problem(ST_WARNING, "the oldest message has waited %s",
		    st_age(now - q->oldest, a, sizeof(a)));
	}
}

static int
st_level(void)
{
	int l = ST_OK;
	unsigned i;

	for (i = 0; i < st_nproblems; i++) {
		l = st_problems[i].level > l ? st_problems[i].level : l;
	}
	return l;
}

static const char *const st_level_names[] = { "ok", "warning", "critical" };

static void
st_json_str(const char *s)
{
	putchar('"');
	for (; *s != '\0'; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\') {
			printf("\\%c", ch);
		} else if (ch < 0x20 || ch == 0x7f) {
			printf("\\u%04x", ch);
		} else {
			putchar(ch);
		}
	}
	putchar('"');
}

static void
st_print_json(const struct conf *c, const struct st_daemon *d,
    const struct st_queue *q, int64_t now)
{
	unsigned i;

	(void)c;
	printf("{\"version\":\"%s\",\"time\":%lld,\"state\":\"%s\",",
	    EDGEMTA_VERSION, (long long)now, st_level_names[st_level()]);
	printf("\"problems\":[");
	for (i = 0; i < st_nproblems; i++) {
		printf("%s{\"level\":\"%s\",\"text\":", i ? "," : "",
		    st_level_names[st_problems[i].level]);
		st_json_str(st_problems[i].text);
		printf("}");
	}
	printf("],\"daemon\":{\"running\":%s,\"started\":%lld,"
	    "\"uptime\":%lld},", d->running ? "true" : "false",
	    (long long)d->started,
	    (long long)(d->running ? now - d->started : 0));
	printf("\"queue\":{\"readable\":%s,\"messages\":%lu,"
	    "\"recipients_pending\":%lu,\"deferred\":%lu,\"oldest_age\":%lld,"
	    "\"bytes_used\":%llu,\"capacity\":%llu,\"percent_used\":%u},",
	    q->ok ? "true" : "false", (unsigned long)q->msgs,
	    (unsigned long)q->pending, (unsigned long)q->deferred,
	    (long long)(q->oldest ? now - q->oldest : 0),
	    (unsigned long long)q->used, (unsigned long long)q->capacity,
	    q->percent);
	printf("\"delivery\":{\"sent\":%lu,\"bounced\":%lu,\"deferred\":%lu,"
	    "\"last_sent\":%lld,\"last_relay\":", d->sent, d->bounced,
	    d->deferred, (long long)d->last_sent);
	st_json_str(d->last_relay);
	printf(",\"last_tls\":");
	st_json_str(d->last_tls);
	printf(",\"relay_down_until\":%lld,\"rate_next\":%lld,"
	    "\"last_error_at\":%lld,\"error_relay\":",
	    (long long)d->down_until, (long long)d->rate_next,
	    (long long)d->last_error_at);
	st_json_str(d->error_relay);
	printf(",\"last_error\":");
	st_json_str(d->last_error);
	printf(",\"oauth2\":");
	st_json_str(d->oauth2);
	printf("},\"flash\":{\"blocks\":%lu,\"free_blocks\":%lu,"
	    "\"erase_min\":%lu,\"erase_avg\":%.2f,\"erase_max\":%lu,"
	    "\"damaged_ranges\":%lu,\"damaged_bytes\":%llu,"
	    "\"damaged_messages\":%lu}}\n",
	    (unsigned long)q->qs.block_count,
	    (unsigned long)q->qs.free_blocks, (unsigned long)q->qs.erase_min,
	    q->qs.block_count ? (double)q->qs.erase_total /
	    q->qs.block_count : 0.0, (unsigned long)q->qs.erase_max,
	    (unsigned long)q->qs.damaged_ranges,
	    (unsigned long long)q->qs.damaged_bytes,
	    (unsigned long)q->qs.damaged_msgs);
}

static void
st_bar(unsigned percent)
{
	unsigned i, fill = (percent * 20 + 50) / 100;

	putchar('[');
	for (i = 0; i < 20; i++) {
		putchar(i < fill ? '#' : '.');
	}
	putchar(']');
}

static void
st_print_human(const struct conf *c, const struct st_daemon *d,
    const struct st_queue *q, int64_t now)
{
	char a[32], w[32];
	unsigned i;

	if (d->running) {
		printf("edgemta %s: running, up %s (since %s)\n",
		    EDGEMTA_VERSION, st_age(now - d->started, a, sizeof(a)),
		    st_when(d->started, w, sizeof(w)));
	} else {
		printf("edgemta %s: NOT running\n", EDGEMTA_VERSION);
	}
	for (i = 0; i < st_nproblems; i++) {
		printf("  %s %s\n", st_problems[i].level == ST_CRITICAL ?
		    "!!" : "! ", st_problems[i].text);
	}
	printf("Queue:     %lu messages, %lu recipients pending, %lu "
	    "deferred", (unsigned long)q->msgs, (unsigned long)q->pending,
	    (unsigned long)q->deferred);
	if (q->oldest != 0) {
		printf(", oldest %s", st_age(now - q->oldest, a, sizeof(a)));
	}
	printf("\n           ");
	st_bar(q->percent);
	printf(" %u %% used (%llu KiB of %llu KiB) at %s\n", q->percent,
	    (unsigned long long)(q->used / 1024),
	    (unsigned long long)(q->capacity / 1024), c->queue_path);
	if (d->running) {
		printf("Delivery:  since start: %lu sent, %lu bounced, %lu "
		    "deferred\n", d->sent, d->bounced, d->deferred);
		printf("           relay %s: %s\n", c->relayhost[0] ?
		    c->relayhost : "(MX hosts)", d->down_until > now ?
		    "DOWN" : "up");
		if (d->rate_next > now) {
			printf("           rate limit: the next message may go "
			    "at %s\n", st_when(d->rate_next, w, sizeof(w)));
		}
		if (d->last_sent != 0) {
			printf("           last delivered %s via %s, %s\n",
			    st_when(d->last_sent, w, sizeof(w)),
			    d->last_relay, d->last_tls[0] ? d->last_tls :
			    "no TLS");
		}
		if (d->last_error_at != 0) {
			printf("           last error %s: %s: %s\n",
			    st_when(d->last_error_at, w, sizeof(w)),
			    d->error_relay, d->last_error);
		}
	}
	if (q->qs.block_count != 0) {
		printf("Flash:     %lu blocks, %lu free; erases per block "
		    "min %lu / avg %.1f / max %lu\n",
		    (unsigned long)q->qs.block_count,
		    (unsigned long)q->qs.free_blocks,
		    (unsigned long)q->qs.erase_min,
		    (double)q->qs.erase_total / q->qs.block_count,
		    (unsigned long)q->qs.erase_max);
		printf("           damage at the last start: %lu ranges, "
		    "%lu messages lost\n", (unsigned long)q->qs.damaged_ranges,
		    (unsigned long)q->qs.damaged_msgs);
	}
}

int
status_main(const struct conf *c, int argc, char **argv)
{
	struct st_daemon d;
	struct st_queue q;
	int64_t now = plat_time();
	bool json = false, check = false;
	int i, level;

	for (i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0) {
			json = true;
		} else if (strcmp(argv[i], "--check") == 0) {
			check = true;
		} else {
			fprintf(stderr, "usage: edgemta status [--json | "
			    "--check]\n");
			return 64;
		}
	}
	st_nproblems = 0;
	st_ask_daemon(c, &d);
	st_read_queue(c, &q);
	st_judge(c, &d, &q, now);
	level = st_level();
	if (check) {
		if (level == ST_OK) {
			printf("OK: edgemta running, %lu messages queued, "
			    "queue %u %% used\n", (unsigned long)q.msgs,
			    q.percent);
		} else {
			for (i = 0; st_problems[i].level != level; i++) {
			}
			printf("%s: %s\n", level == ST_CRITICAL ? "CRITICAL" :
			    "WARNING", st_problems[i].text);
		}
		return level;
	}
	if (json) {
		st_print_json(c, &d, &q, now);
	} else {
		st_print_human(c, &d, &q, now);
	}
	return 0;
}
