/*
 * storm.c - collapsing alert storms: see storm.h.
 */
#include <string.h>

#include "storm.h"

struct storm_slot {
	uint64_t key;		/* 0 = free */
	int64_t first_time;	/* when the window's first message came */
	uint32_t first_id;	/* that message, sent at once */
	uint32_t held_id;	/* the last repeat, held; 0 = none yet */
	uint32_t count;		/* repeats so far */
};

static struct storm_slot storm_slots[STORM_SLOTS > 0 ? STORM_SLOTS : 1];

uint64_t
storm_key(const char *env, unsigned nrcpt, uint64_t subj_hash)
{
	uint64_t h = FNV1A64_BASIS ^ subj_hash;
	const char *p = env;
	unsigned i;

	for (i = 0; i <= nrcpt; i++) {	/* the sender, then each rcpt */
		do {
			h = fnv1a64(h, (uint8_t)*p);
		} while (*p++ != '\0');
	}
	return h != 0 ? h : 1;
}

static struct storm_slot *
storm_find(uint32_t window, uint64_t key, int64_t now)
{
	unsigned i;

	for (i = 0; i < ARRAY_SIZE(storm_slots); i++) {
		struct storm_slot *sl = &storm_slots[i];

		if (sl->key == key && now >= sl->first_time &&
		    now - sl->first_time < (int64_t)window) {
			return sl;
		}
	}
	return NULL;
}

uint32_t
storm_peek(uint32_t window, uint64_t key, int64_t now, uint32_t *first_id,
    int64_t *first_time)
{
	struct storm_slot *sl;

	if (window == 0 || key == 0 || STORM_SLOTS == 0 ||
	    (sl = storm_find(window, key, now)) == NULL) {
		return 0;
	}
	*first_id = sl->first_id;
	*first_time = sl->first_time;
	return sl->count + 1;
}

uint32_t
storm_commit(uint32_t window, uint64_t key, uint32_t id, int64_t now,
    int64_t *until, uint32_t *supersede)
{
	struct storm_slot *sl;
	unsigned i;

	if (window == 0 || key == 0 || STORM_SLOTS == 0) {
		return 0;
	}
	sl = storm_find(window, key, now);
	if (sl != NULL) {
		sl->count++;
		*supersede = sl->held_id;
		sl->held_id = id;
		*until = sl->first_time + (int64_t)window;
		return sl->count;
	}
	/* a new window: a free or ended slot, else the oldest window */
	sl = &storm_slots[0];
	for (i = 0; i < ARRAY_SIZE(storm_slots); i++) {
		struct storm_slot *c = &storm_slots[i];

		if (c->key == 0 || now < c->first_time ||
		    now - c->first_time >= (int64_t)window) {
			sl = c;
			break;
		}
		if (c->first_time < sl->first_time) {
			sl = c;
		}
	}
	sl->key = key;
	sl->first_time = now;
	sl->first_id = id;
	sl->held_id = 0;
	sl->count = 0;
	return 0;
}

void
storm_reset(void)
{
	memset(storm_slots, 0, sizeof(storm_slots));
}
