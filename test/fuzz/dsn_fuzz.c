/*
 * dsn_fuzz.c - libFuzzer harness for the bounce builder (core/dsn.c)
 * with hostile envelope strings: the input is NUL-separated fields
 * (hostname, report recipient, remote MTA, then recipient / status /
 * diagnostic triples; a hostile smarthost writes the diagnostics).
 * dsn_format's own lines must stay CRLF-only, printable and <= 998
 * octets; dsn_recipient must give a terminated address. Then the same
 * strings go through a real queue (flash simulator): a message with the
 * fuzzed sender, recipients and data is bounced with dsn_bounce and the
 * bounce read back. Seeds: test/fuzz/corpus/dsn/.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "dsn.h"
#include "fake_plat.h"
#include "flash_sim.h"
#include "queue.h"

#define FZ_BLOCKS 16
#define FZ_FIELDS 16
#define FZ_OUT (64 * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* dsn_bounce pulls in the scheduler and the SMTP client: no sockets */
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

long
plat_read(int fd, void *buf, size_t len)
{
	(void)fd;
	(void)buf;
	(void)len;
	return EDGEMTA_E_IO;
}

long
plat_write(int fd, const void *buf, size_t len)
{
	(void)fd;
	(void)buf;
	(void)len;
	return EDGEMTA_E_IO;
}

void
plat_close(int fd)
{
	(void)fd;
}

static char fz_buf[8192];
static char *fz_field[FZ_FIELDS];
static unsigned fz_nfield;
static char fz_out[FZ_OUT];
static size_t fz_len;
static struct flash_sim fz_sim;
static struct conf fz_conf;

static int
fz_collect(void *arg, const void *buf, size_t len)
{
	(void)arg;
	if (len > sizeof(fz_out) - fz_len) {
		return EDGEMTA_E_FULL;
	}
	memcpy(fz_out + fz_len, buf, len);
	fz_len += len;
	return 0;
}

/* The generated text: CRLF line ends only, no other control, <= 998. */
static void
fz_check_text(const char *p, size_t len)
{
	size_t i, col = 0;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c == '\r') {
			if (i + 1 >= len || p[i + 1] != '\n') {
				abort();	/* bare CR */
			}
			i++;
			col = 0;
			continue;
		}
		if (c == '\n' || (c < 0x20 && c != '\t') || c == 0x7f) {
			abort();	/* bare LF or a control character */
		}
		if (++col > 998) {
			abort();	/* RFC 5322 2.1.1 */
		}
	}
}

static const char *
fz_get(unsigned i, const char *dflt)
{
	return i < fz_nfield ? fz_field[i] : dflt;
}

static void
fz_format(void)
{
	struct dsn_rcpt rc[4];
	struct dsn_report r;
	char to[ADDR_MAX];
	unsigned i, n = 0;

	for (i = 3; i + 2 < fz_nfield && n < 4; i += 3, n++) {
		rc[n].rcpt = fz_field[i];
		rc[n].status = fz_field[i + 1];
		rc[n].diag = fz_field[i + 2];
	}
	memset(&r, 0, sizeof(r));
	r.hostname = fz_get(0, "gw.example");
	r.to = fz_get(1, "admin@example.org");
	r.remote_mta = fz_nfield > 2 && fz_field[2][0] != '\0' ?
	    fz_field[2] : NULL;
	r.orig_id = 0x1234;
	r.bounce_id = 0x1235;
	r.arrival = 1790000000;
	r.now = 1790000100;
	r.rcpts = rc;
	r.nrcpt = n;
	r.omitted = fz_nfield > 4 ? (unsigned)fz_field[4][0] : 0;
	fz_len = 0;
	if (dsn_format(&r, fz_collect, NULL, NULL, NULL) == 0) {
		fz_check_text(fz_out, fz_len);
	}
	/* who gets it: a terminated address, never past the buffer */
	memset(to, 'x', sizeof(to));
	snprintf(fz_conf.bounce_notice_recipient,
	    sizeof(fz_conf.bounce_notice_recipient), "%s", fz_get(1, ""));
	snprintf(fz_conf.myorigin, sizeof(fz_conf.myorigin), "%s",
	    fz_get(2, ""));
	if (dsn_recipient(&fz_conf, r.hostname, fz_get(3, ""),
	    fz_nfield > 5, to, sizeof(to)) == 0 &&
	    memchr(to, '\0', sizeof(to)) == NULL) {
		abort();
	}
}

static int
fz_find_bounce(void *arg, const struct queue_entry *e)
{
	if ((e->flags & QUEUE_MSG_BOUNCE) != 0) {
		*(uint32_t *)arg = e->id;
	}
	return 0;
}

/* The fuzzed message through a real queue, bounced, read back. */
static void
fz_bounce(const uint8_t *data, size_t size)
{
	struct dsn_rcpt rc[4];
	struct queue_writer w;
	struct queue_reader rd;
	const uint8_t *p;
	size_t len, off = 0;
	unsigned idx, i, n = 0, guard;
	uint32_t bid = 0;
	int r;

	if (queue_open(&fz_sim.fl, 0) != 0) {
		abort();
	}
	if (queue_msg_begin(&w, fz_get(3, ""), 0, 0) != 0) {
		goto out;
	}
	for (i = 3; i + 2 < fz_nfield && n < 4; i += 3, n++) {
		rc[n].rcpt = fz_field[i];
		rc[n].status = fz_field[i + 1];
		rc[n].diag = fz_field[i + 2];
		if (queue_msg_rcpt(&w, fz_field[i]) != 0) {
			queue_msg_abort(&w);
			goto out;
		}
	}
	if (n == 0 || queue_msg_write(&w, data, size) != 0 ||
	    queue_msg_seal(&w, NULL, NULL) != 0) {
		queue_msg_abort(&w);
		goto out;
	}
	queue_commit();
	r = dsn_bounce(&fz_conf, fz_get(0, "gw.example"), w.id,
	    fz_get(2, NULL), rc, n, 0);
	queue_commit();
	if (r == 0) {
		queue_foreach(fz_find_bounce, &bid);
	}
	if (r != 0 || bid == 0 || queue_reader_open(&rd, bid) != 0) {
		goto out;
	}
	fz_len = 0;
	for (guard = 0; guard < 100000; guard++) {
		r = queue_reader_next(&rd, &p, &len, &idx);
		if (r <= 0 || r == QUEUE_ITEM_END) {
			break;
		}
		if (r == QUEUE_ITEM_DATA && len <= sizeof(fz_out) - fz_len) {
			memcpy(fz_out + fz_len, p, len);
			fz_len += len;
		}
	}
	/* everything before the copied original headers is ours */
	for (off = 0; off + 38 <= fz_len; off++) {
		if (memcmp(fz_out + off, "Content-Type: text/rfc822-headers",
		    33) == 0) {
			break;
		}
	}
	fz_check_text(fz_out, off);
out:
	queue_close();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t i, n = size < sizeof(fz_buf) - 1 ? size : sizeof(fz_buf) - 1;

	if (fz_sim.mem == NULL) {
		fake_log_quiet(true);
		fake_clock_set(1000, 1790000000);
		if (flash_sim_init(&fz_sim, CONFIG_QUEUE_PAGE_SIZE,
		    CONFIG_QUEUE_BLOCK_SIZE, FZ_BLOCKS) != 0) {
			abort();
		}
	}
	memset(fz_sim.mem, 0xff, (size_t)CONFIG_QUEUE_BLOCK_SIZE * FZ_BLOCKS);
	memset(fz_sim.programmed, 0, (size_t)FZ_BLOCKS *
	    (CONFIG_QUEUE_BLOCK_SIZE / CONFIG_QUEUE_PAGE_SIZE));
	conf_defaults(&fz_conf);
	fake_clock_advance(3601u * 1000);	/* past bounce_rate_limit */
	memcpy(fz_buf, data, n);
	fz_buf[n] = '\0';
	fz_nfield = 0;
	fz_field[fz_nfield++] = fz_buf;
	for (i = 0; i < n && fz_nfield < FZ_FIELDS; i++) {
		if (fz_buf[i] == '\0') {
			fz_field[fz_nfield++] = fz_buf + i + 1;
		}
	}
	/* as long as they can be: names and addresses < 256 bytes */
	for (i = 0; i < fz_nfield; i++) {
		if (strlen(fz_field[i]) > 250) {
			fz_field[i][250] = '\0';
		}
	}
	fz_format();
	/* the data: what follows the last field */
	fz_bounce(data + (size_t)(fz_field[fz_nfield - 1] - fz_buf),
	    size - (size_t)(fz_field[fz_nfield - 1] - fz_buf));
	return 0;
}
