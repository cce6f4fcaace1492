/*
 * hops.h - the mail loop guard: counts the trace header fields of a
 * message (Received: and Delivered-To:) in its header
 * section, streamed in chunks of any size, in constant memory. It also
 * finds where the header section ends and hashes the Subject: field.
 *
 * Every MTA adds one Received: per hop (RFC 5321 4.4); a message that
 * carries more than hopcount_limit of them is looping (Postfix's
 * hopcount_limit, default 50): refused on intake (554 5.4.6) and bounced
 * instead of relayed on delivery (5.4.6 mail forwarding loop).
 */
#ifndef HOPS_H
#define HOPS_H

#include "edgemta.h"

#define HOPS_NAME_MAX 16	/* longest field name we look for, + 1 */

struct hops {
	unsigned count;		/* trace fields seen so far */
	bool done;		/* the empty line ending the header seen */
	bool eoh;		/* hops_feed returned where the header ends */
	bool in_subj;		/* private: inside the Subject: field */
	uint8_t state;		/* private */
	uint8_t nlen;
	char name[HOPS_NAME_MAX];
	uint64_t subj_hash;	/* FNV-1a of the Subject: field body (its
				 * line ends left out); 0 = no Subject: */
};

/* Start counting a new message. */
void hops_init(struct hops *h);

/*
 * Feed the next len bytes of the message (as stored: CRLF line ends, no
 * dot-stuffing; a bare LF also ends a line). Bytes after the header
 * section are ignored (cheap). Never reads past len.
 *
 * Returns the offset in data of the line that ends the header section
 * (its CR or LF: where a field can still be added) in the one call that
 * finds it, and len in every other. The Subject: field is hashed on the
 * way (alert storms, storm.h).
 */
size_t hops_feed(struct hops *h, const void *data, size_t len);

#endif
