/*
 * admin.c - "edgemta queue ...": list and show read the queue file
 * directly (read-only, with or without a running daemon); flush and
 * delete ask the daemon over the local socket ("XQUEUE ..."), and delete
 * works on the queue itself when no daemon runs (the queue lock makes
 * that safe).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "flash_mtd.h"
#include "linux.h"
#include "platform.h"
#include "queue.h"

#define ADMIN_TIMEOUT_MS 30000	/* per reply from the daemon */

const char *
admin_queue_strerror(int err)
{
	switch (err) {
	case EDGEMTA_E_VERSION:
		return "queue was written by a newer edgemta; refusing to "
		    "start (nothing was changed)";
	case EDGEMTA_E_CORRUPT:
		return "not an edgemta queue (wrong queue_path?); refusing to "
		    "use it (nothing was changed)";
	case EDGEMTA_E_INVAL:
		return "queue geometry does not match this build "
		    "(CONFIG_QUEUE_BLOCK_SIZE / CONFIG_QUEUE_MAX_BLOCKS); "
		    "nothing was changed";
	default:
		return edgemta_strerror(err);
	}
}

static bool
queue_file_exists(const struct conf *c)
{
	struct stat st;

	/* a partition always exists; opening it says if it does not */
	return flash_mtd_path(c->queue_path) ||
	    stat(c->queue_path, &st) == 0 || errno != ENOENT;
}

int
admin_queue_open_ro(const struct conf *c, struct flash *fl)
{
	char err[CONF_ERR_MAX];
	int r;

	if (!queue_file_exists(c)) {
		return EDGEMTA_E_NOENT;	/* no queue yet: an empty queue */
	}
	r = flash_open_queue(fl, c->queue_path, c->queue_size, true, err,
	    sizeof(err));
	if (r != 0) {
		fprintf(stderr, "cannot open the queue: %s\n", err);
		return r;
	}
	r = queue_open(fl, QUEUE_O_RDONLY);
	if (r != 0) {
		fprintf(stderr, "%s: %s\n", c->queue_path,
		    admin_queue_strerror(r));
		flash_close_queue(fl);
	}
	return r;
}

void
admin_queue_damage_note(void)
{
	struct queue_stats st;

	queue_stats(&st);
	if (st.damaged_ranges == 0 && st.damaged_msgs == 0) {
		return;
	}
	printf("-- queue damage: %lu damaged range%s (%llu bytes) skipped, "
	    "%lu message%s lost; see the log\n",
	    (unsigned long)st.damaged_ranges,
	    st.damaged_ranges == 1 ? "" : "s",
	    (unsigned long long)st.damaged_bytes,
	    (unsigned long)st.damaged_msgs, st.damaged_msgs == 1 ? "" : "s");
}

/* Envelope strings were checked on the way in; be safe on a terminal. */
static void
put_addr(const uint8_t *p, size_t len)
{
	size_t i;

	putchar(' ');
	putchar('<');
	for (i = 0; i < len; i++) {
		putchar(p[i] < 0x20 || p[i] == 0x7f ? '?' : p[i]);
	}
	putchar('>');
}

static struct queue_reader admin_reader;

/* UTC ISO 8601 ("2026-11-28T13:04:05Z") of t into buf (32 bytes). */
static void
iso_time(int64_t t64, char *buf, size_t len)
{
	if (!plat_time_fmt(t64, PLAT_T_UTC, buf, len)) {
		snprintf(buf, len, "%lld", (long long)t64);
	}
}

/*
 * ID SIZE ARRIVAL <SENDER> <RCPT>... (pending recipients only), then for
 * a deferred message one indented line:
 *   "  (deferred N times, next try ISO8601: last reply)"
 */
static int
list_one(void *arg, const struct queue_entry *e)
{
	char id[QUEUE_ID_STRLEN], when[32], reason[256];
	const uint8_t *p;
	unsigned idx;
	size_t len;
	int r;

	queue_id_str(e->id, id);
	iso_time(e->arrival, when, sizeof(when));
	printf("%s %lu %s", id, (unsigned long)e->size, when);
	r = queue_reader_open(&admin_reader, e->id);
	while (r == 0) {
		r = queue_reader_next(&admin_reader, &p, &len, &idx);
		if (r == QUEUE_ITEM_SENDER) {
			put_addr(p, len);
			r = 0;
		} else if (r == QUEUE_ITEM_RCPT) {
			if (queue_rcpt_state(e->id, idx) ==
			    QUEUE_RCPT_PENDING) {
				put_addr(p, len);
			}
			r = 0;
		} else if (r >= 0) {
			break;	/* DATA or END: the envelope is complete */
		}
	}
	putchar('\n');
	/* deferred, or held (alert_collapse_window: no attempt yet) */
	if (e->attempts > 0 || e->next_try > 0) {
		iso_time(e->next_try, when, sizeof(when));
		if (queue_msg_reason(e->id, reason, sizeof(reason)) != 0) {
			reason[0] = '\0';
		}
		if (e->attempts > 0) {
			printf("  (deferred %u time%s, next try %s: %s)\n",
			    (unsigned)e->attempts,
			    e->attempts == 1 ? "" : "s", when, reason);
		} else {
			printf("  (held until %s: %s)\n", when, reason);
		}
	}
	if (r < 0) {
		fprintf(stderr, "%s: cannot read the envelope: %s\n", id,
		    edgemta_strerror(r));
		*(int *)arg = 1;
	}
	return 0;
}

static struct flash admin_flash;

static int
cmd_list(const struct conf *c)
{
	int rc = 0, r;

	r = admin_queue_open_ro(c, &admin_flash);
	if (r == EDGEMTA_E_NOENT) {
		return 0;
	}
	if (r != 0) {
		return 1;
	}
	queue_foreach(list_one, &rc);
	admin_queue_damage_note();
	queue_close();
	flash_close_queue(&admin_flash);
	if (fflush(stdout) != 0) {
		rc = 1;
	}
	return rc;
}

/* The stored message bytes, exactly, on stdout. */
static int
cmd_show(const struct conf *c, const char *arg)
{
	const uint8_t *p;
	unsigned idx;
	uint32_t id;
	size_t len;
	int r;

	if (queue_id_parse(arg, &id) != 0) {
		fprintf(stderr, "%s: no such message\n", arg);
		return 1;
	}
	r = admin_queue_open_ro(c, &admin_flash);
	if (r == EDGEMTA_E_NOENT) {
		fprintf(stderr, "%s: no such message\n", arg);
		return 1;
	}
	if (r != 0) {
		return 1;
	}
	r = queue_reader_open(&admin_reader, id);
	if (r == EDGEMTA_E_NOENT) {
		fprintf(stderr, "%s: no such message\n", arg);
	}
	while (r >= 0) {
		r = queue_reader_next(&admin_reader, &p, &len, &idx);
		if (r == QUEUE_ITEM_DATA &&
		    fwrite(p, 1, len, stdout) != len) {
			r = EDGEMTA_E_IO;
		}
		if (r == QUEUE_ITEM_END) {
			break;
		}
	}
	if (r == EDGEMTA_E_CORRUPT) {
		fprintf(stderr, "%s: the stored message is corrupt (CRC "
		    "mismatch); output is incomplete\n", arg);
	} else if (r < 0 && r != EDGEMTA_E_NOENT) {
		fprintf(stderr, "%s: cannot read: %s\n", arg,
		    edgemta_strerror(r));
	}
	queue_close();
	flash_close_queue(&admin_flash);
	if (fflush(stdout) != 0) {
		r = EDGEMTA_E_IO;
	}
	return r == QUEUE_ITEM_END ? 0 : 1;
}

/* ---- talking to the daemon over the local socket ---- */

/*
 * Read one SMTP reply (all its lines) into buf. Returns the 3-digit
 * code, or -1 on timeout, close or garbage.
 */
static int
read_reply(int fd, char *buf, size_t len)
{
	size_t got = 0;
	char *line;

	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t n;

		buf[got] = '\0';
		/* the last complete line decides: "NNN " ends the reply */
		line = buf;
		while (str_find(line, "\r\n") != NULL) {
			char *next = str_find(line, "\r\n") + 2;

			if (next - line >= 6 && line[3] == ' ') {
				return (line[0] - '0') * 100 +
				    (line[1] - '0') * 10 + (line[2] - '0');
			}
			if (next - line < 6 || line[3] != '-') {
				return -1;
			}
			line = next;
		}
		if (got + 1 >= len) {
			return -1;
		}
		if (poll(&pfd, 1, ADMIN_TIMEOUT_MS) <= 0) {
			return -1;
		}
		n = read(fd, buf + got, len - 1 - got);
		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n <= 0) {
			return -1;
		}
		got += (size_t)n;
	}
}

static bool
send_line(int fd, const char *line)
{
	char buf[128];
	size_t n = (size_t)snprintf(buf, sizeof(buf), "%s\r\n", line), o = 0;

	while (o < n) {
		ssize_t w = write(fd, buf + o, n - o);

		if (w < 0 && errno == EINTR) {
			continue;
		}
		if (w <= 0) {
			return false;
		}
		o += (size_t)w;
	}
	return true;
}

int
admin_ask(const struct conf *c, const char *cmd, char *buf, size_t len)
{
	char line[96];
	int fd, code;

	signal(SIGPIPE, SIG_IGN);	/* a daemon going away is an error */
	fd = plat_connect_local(c->local_socket);
	if (fd < 0) {
		if (errno == ENOENT || errno == ECONNREFUSED) {
			return -1;
		}
		fprintf(stderr, "edgemta: cannot connect to %s: %s\n",
		    c->local_socket, strerror(errno));
		return -2;
	}
	snprintf(line, sizeof(line), "XQUEUE %s", cmd);
	code = read_reply(fd, buf, len);
	if (code / 100 == 2 && send_line(fd, "EHLO localhost")) {
		code = read_reply(fd, buf, len);
		if (code / 100 == 2 && send_line(fd, line)) {
			code = read_reply(fd, buf, len);
		}
	}
	if (code < 0) {
		fprintf(stderr, "edgemta: no valid reply from the daemon on "
		    "%s\n", c->local_socket);
		plat_close(fd);
		return -2;
	}
	if (send_line(fd, "QUIT")) {
		char bye[256];

		(void)read_reply(fd, bye, sizeof(bye));
	}
	plat_close(fd);
	return code;
}

/*
 * Send "XQUEUE cmd" to the daemon and print its reply text. Returns the
 * exit code, or -1 when no daemon answers on the socket.
 */
static int
xqueue(const struct conf *c, const char *cmd)
{
	char buf[2048], *text, *end;
	int code = admin_ask(c, cmd, buf, sizeof(buf));

	if (code < 0) {
		return code == -1 ? -1 : 1;
	}
	/* print the text of each line without "250-" / "2.0.0 " */
	for (text = buf; (end = str_find(text, "\r\n")) != NULL;
	    text = end + 2) {
		*end = '\0';
		text += 4;
		if (text[0] >= '2' && text[0] <= '5' && text[1] == '.') {
			text += strcspn(text, " ");
			text += *text == ' ';
		}
		fprintf(code / 100 == 2 ? stdout : stderr, "%s\n", text);
	}
	return code / 100 == 2 ? 0 : 1;
}

static uint32_t admin_ids[CONFIG_QUEUE_MAX_MSGS];
static unsigned admin_nids;

static int
pick_all(void *arg, const struct queue_entry *e)
{
	(void)arg;
	if (admin_nids < ARRAY_SIZE(admin_ids)) {
		admin_ids[admin_nids++] = e->id;
	}
	return 0;
}

static int
pick_deferred(void *arg, const struct queue_entry *e)
{
	if (e->attempts > 0 && e->npending > 0) {
		return pick_all(arg, e);
	}
	return 0;
}

/* No daemon: delete on the queue file itself, under the queue lock. */
static int
delete_offline(const struct conf *c, const char *what)
{
	bool all = strcasecmp(what, "all") == 0;
	bool deferred = strcasecmp(what, "deferred") == 0;
	char id[QUEUE_ID_STRLEN], err[CONF_ERR_MAX];
	unsigned i, n = 0;
	int r, rc = 0;

	admin_nids = 0;
	if (!all && !deferred && queue_id_parse(what, &admin_ids[0]) != 0) {
		fprintf(stderr, "%s: no such message\n", what);
		return 1;
	}
	if (!queue_file_exists(c)) {
		if (!all && !deferred) {
			fprintf(stderr, "%s: no such message\n", what);
			return 1;
		}
		printf("0 messages deleted\n");
		return 0;
	}
	r = flash_open_queue(&admin_flash, c->queue_path, c->queue_size, false,
	    err, sizeof(err));
	if (r == EDGEMTA_E_LOCKED) {
		fprintf(stderr, "%s: queue_path is in use by another edgemta "
		    "process, but it does not answer on %s\n", c->queue_path,
		    c->local_socket);
		return EX_TEMPFAIL;
	}
	if (r != 0) {
		fprintf(stderr, "cannot open the queue: %s\n", err);
		return 1;
	}
	r = queue_open(&admin_flash, 0);
	if (r != 0) {
		fprintf(stderr, "%s: %s\n", c->queue_path,
		    admin_queue_strerror(r));
		flash_close_queue(&admin_flash);
		return 1;
	}
	if (all || deferred) {
		queue_foreach(deferred ? pick_deferred : pick_all, NULL);
	} else {
		admin_nids = 1;
	}
	for (i = 0; i < admin_nids; i++) {
		queue_id_str(admin_ids[i], id);
		r = queue_msg_delete(admin_ids[i]);
		if (r == 0) {
			printf("%s: deleted\n", id);
			n++;
		} else {
			fprintf(stderr, "%s: %s\n", id, r == EDGEMTA_E_NOENT ?
			    "no such message" : edgemta_strerror(r));
			rc = 1;
		}
	}
	queue_commit();
	queue_close();
	flash_close_queue(&admin_flash);
	if (all || deferred) {
		printf("%u message%s deleted\n", n, n == 1 ? "" : "s");
	}
	return rc;
}

int
admin_queue_main(const struct conf *c, int argc, char **argv)
{
	const char *sub = argc > 0 ? argv[0] : "";
	char cmd[64];
	int rc;

	if (strcmp(sub, "list") == 0 && argc == 1) {
		return cmd_list(c);
	}
	if (strcmp(sub, "show") == 0 && argc == 2) {
		return cmd_show(c, argv[1]);
	}
	if (strcmp(sub, "flush") == 0 && argc == 1) {
		rc = xqueue(c, "FLUSH");
		if (rc < 0) {
			fprintf(stderr, "edgemta is not running; nothing to "
			    "flush\n");
			return EX_TEMPFAIL;
		}
		return rc;
	}
	if (strcmp(sub, "delete") == 0 && argc == 2) {
		uint32_t id;
		char ids[QUEUE_ID_STRLEN];

		/* only well-formed words reach the daemon's command line */
		if (strcasecmp(argv[1], "all") == 0) {
			snprintf(cmd, sizeof(cmd), "DELETE ALL");
		} else if (strcasecmp(argv[1], "deferred") == 0) {
			snprintf(cmd, sizeof(cmd), "DELETE DEFERRED");
		} else if (queue_id_parse(argv[1], &id) == 0) {
			snprintf(cmd, sizeof(cmd), "DELETE %s",
			    queue_id_str(id, ids));
		} else {
			fprintf(stderr, "%s: no such message\n", argv[1]);
			return 1;
		}
		rc = xqueue(c, cmd);
		return rc < 0 ? delete_offline(c, argv[1]) : rc;
	}
	fprintf(stderr, "usage: edgemta queue list | show ID | flush | "
	    "delete ID|all|deferred\n");
	return EX_USAGE;
}
