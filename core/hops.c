/*
 * hops.c - the trace header counter: see hops.h.
 *
 * Only the header section counts (RFC 5322 2.1: it ends at the first
 * empty line); a "Received:" in a body or in an attached message is not
 * a hop. A field name is matched case-insensitively, with white space
 * allowed before the colon (RFC 5322 4.5.3 obsolete syntax, still sent);
 * continuation lines (starting with SP or HTAB) are not fields.
 */
#include <string.h>

#include "hops.h"

enum {
	ST_BOL = 0,	/* at the start of a line */
	ST_BOL_CR,	/* CR at the start of a line: maybe the end */
	ST_NAME,	/* inside a field name */
	ST_REST		/* rest of a line we do not look at */
};

void
hops_init(struct hops *h)
{
	memset(h, 0, sizeof(*h));
	h->state = ST_BOL;
}

/* 0: not a field we look at; 1: a trace field; 2: Subject: */
static int
hops_field(const char *n, size_t len)
{
	static const char *const names[] = {
		"received", "delivered-to", "subject"
	};
	size_t i;

	while (len > 0 && (n[len - 1] == ' ' || n[len - 1] == '\t')) {
		len--;
	}
	for (i = 0; i < ARRAY_SIZE(names); i++) {
		if (strlen(names[i]) == len && memcmp(names[i], n, len) ==
		    0) {
			return i < 2 ? 1 : 2;
		}
	}
	return 0;
}

size_t
hops_feed(struct hops *h, const void *data, size_t len)
{
	const uint8_t *p = data;
	size_t i, eoh = len;

	for (i = 0; i < len && !h->done; i++) {
		uint8_t c = p[i];

		switch (h->state) {
		case ST_BOL_CR:
			if (c == '\n') {
				h->done = true;
				break;
			}
			h->state = ST_REST;	/* a lone CR: not ours */
			break;
		case ST_BOL:
			if ((c == '\n' || c == '\r') && !h->eoh) {
				h->eoh = true;	/* the empty line starts here */
				eoh = i;
			}
			if (c == '\n') {
				h->done = true;
				break;
			}
			if (c == '\r') {
				h->state = ST_BOL_CR;
				break;
			}
			if (c == ' ' || c == '\t') {
				h->state = ST_REST;	/* continuation */
				if (h->in_subj) {	/* unfolded */
					h->subj_hash = fnv1a64(h->subj_hash,
					    c);
				}
				break;
			}
			h->in_subj = false;
			h->nlen = 0;
			h->state = ST_NAME;
			/* FALLTHROUGH */
		case ST_NAME:
			if (c == ':') {
				int f = hops_field(h->name, h->nlen);

				if (f == 1) {
					h->count++;
				} else if (f == 2) {
					h->in_subj = true;
					h->subj_hash = FNV1A64_BASIS;
				}
				h->state = ST_REST;
			} else if (c == '\n') {
				h->state = ST_BOL;
			} else if (h->nlen + 1 < HOPS_NAME_MAX) {
				h->name[h->nlen++] = (char)(c >= 'A' &&
				    c <= 'Z' ? c - 'A' + 'a' : c);
			} else {
				h->state = ST_REST;	/* too long */
			}
			break;
		default: {	/* ST_REST: on to the end of the line */
			const uint8_t *nl;

			if (h->in_subj) {	/* hashed byte by byte */
				if (c == '\n') {
					h->state = ST_BOL;
				} else if (c != '\r') {
					h->subj_hash = fnv1a64(h->subj_hash,
					    c);
				}
				break;
			}
			nl = memchr(p + i, '\n', len - i);
			if (nl == NULL) {
				return eoh;
			}
			i = (size_t)(nl - p);
			h->state = ST_BOL;
			break;
		}
		}
	}
	return eoh;
}
