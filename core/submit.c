/*
 * submit.c - in-process submission (submit.h): the envelope straight into
 * the queue writer, the text through the injector, done() from the group
 * commit like an SMTP session's 250.
 */
#include <stdio.h>
#include <string.h>

#include "submit.h"
#include "addr.h"
#include "log.h"
#include "platform.h"
#include "sched.h"

enum { SUB_IDLE = 0, SUB_OPEN, SUB_SEALED };

/* A mailbox as the SMTP intake would take it: "" only for the sender. */
static bool
submit_addr_ok(const char *a, bool sender)
{
	char path[ADDR_MAX + 2], out[ADDR_MAX];
	const char *rest;
	int n;

	n = snprintf(path, sizeof(path), "<%s>", a);
	if (n < 0 || (size_t)n >= sizeof(path) ||
	    addr_parse_path(path, out, &rest) != 0 || *rest != '\0' ||
	    strcmp(out, a) != 0) {
		return false;
	}
	return (sender && a[0] == '\0') || addr_at(a) > 0;
}

static int
submit_out(void *arg, enum inject_part part, const char *p, size_t len)
{
	struct edgemta_submit *s = arg;

	(void)part;
	if (s->limit != 0 && len > s->limit - MIN(s->size, s->limit)) {
		return EDGEMTA_E_TOOBIG;
	}
	s->size += (uint32_t)len;
	return queue_msg_write(&s->w, p, len);
}

/* The recipients are the envelope's: nothing to do at the header's end. */
static int
submit_hdr_end(void *arg)
{
	(void)arg;
	return 0;
}

static int
submit_fail(struct edgemta_submit *s, int err)
{
	if (s->state == SUB_OPEN) {
		queue_msg_abort(&s->w);
	}
	s->state = SUB_IDLE;
	s->err = err;
	return err;
}

int
edgemta_submit_begin(struct edgemta_submit *s,
    const struct edgemta_envelope *env)
{
	struct inject_opts o;
	char id[QUEUE_ID_STRLEN], rcv[SUBMIT_MSGID_MAX + 128];
	uint8_t rnd[12];
	unsigned i;
	int r, n;

	memset(s, 0, sizeof(*s));
	if (env->nrcpt == 0 || env->nrcpt > CONFIG_SMTP_MAX_RCPT ||
	    !submit_addr_ok(env->sender, true)) {
		return submit_fail(s, EDGEMTA_E_INVAL);
	}
	for (i = 0; i < env->nrcpt; i++) {
		if (!submit_addr_ok(env->rcpts[i], false)) {
			return submit_fail(s, EDGEMTA_E_INVAL);
		}
	}
	r = queue_msg_begin(&s->w, env->sender, 0, 0);
	if (r < 0) {
		return submit_fail(s, r);
	}
	s->state = SUB_OPEN;
	for (i = 0; i < env->nrcpt && r == 0; i++) {
		r = queue_msg_rcpt(&s->w, env->rcpts[i]);
	}
	s->limit = env->size_limit;
	plat_rfc5322_date(plat_time(), s->date, sizeof(s->date));
	queue_id_str(s->w.id, id);
	n = snprintf(rcv, sizeof(rcv), "Received: by %s (edgemta, from "
	    "in-process submission) id %s; %s\r\n", env->hostname, id,
	    s->date);
	if (r == 0) {
		r = n > 0 && (size_t)n < sizeof(rcv) ?
		    submit_out(s, INJECT_PART_HEADER, rcv, (size_t)n) :
		    EDGEMTA_E_INVAL;
	}
	if (r < 0) {
		return submit_fail(s, r);
	}
	plat_random(rnd, sizeof(rnd));
	inject_make_msgid(s->msgid, sizeof(s->msgid), plat_time(), rnd,
	    sizeof(rnd), env->hostname);
	memset(&o, 0, sizeof(o));
	o.flags = INJECT_DOTS_OK;
	o.sender = env->sender;
	o.full_name = "";
	o.date = s->date;
	o.msgid = s->msgid;
	o.sender_rewrite = "";
	o.out = submit_out;
	o.hdr_end = submit_hdr_end;
	o.arg = s;
	inject_init(&s->ij, &o, s->field, sizeof(s->field));
	return 0;
}

int
edgemta_submit_write(struct edgemta_submit *s, const void *p, size_t len)
{
	int r;

	if (s->state != SUB_OPEN) {
		return s->err != 0 ? s->err : EDGEMTA_E_INVAL;
	}
	r = inject_feed(&s->ij, p, len);
	return r < 0 ? submit_fail(s, r) : 0;
}

static void
submit_on_commit(void *arg, int err)
{
	struct edgemta_submit *s = arg;
	char id[QUEUE_ID_STRLEN];

	s->state = SUB_IDLE;
	queue_id_str(s->w.id, id);
	if (err != 0) {
		log_err("%s: queue commit failed: %s", id,
		    edgemta_strerror(err));
	} else {
		log_info("%s: client=in-process, size=%lu, nrcpt=%u", id,
		    (unsigned long)s->size, (unsigned)s->w.nrcpt);
		sched_kick();
	}
	s->done(s->arg, err, err == 0 ? s->w.id : 0);
}

int
edgemta_submit_end(struct edgemta_submit *s, edgemta_submit_done_fn done,
    void *arg)
{
	int r;

	if (s->state != SUB_OPEN) {
		return s->err != 0 ? s->err : EDGEMTA_E_INVAL;
	}
	r = inject_finish(&s->ij);
	if (r < 0) {
		return submit_fail(s, r);
	}
	s->done = done;
	s->arg = arg;
	r = queue_msg_seal(&s->w, submit_on_commit, s);
	if (r < 0) {
		return submit_fail(s, r);
	}
	s->state = SUB_SEALED;
	return 0;
}

void
edgemta_submit_abort(struct edgemta_submit *s)
{
	if (s->state != SUB_IDLE) {
		queue_msg_abort(&s->w);
	}
	s->state = SUB_IDLE;
}
