/*
 * TCP reassembly for one direction of a connection: sequence order,
 * retransmissions and overlaps dropped (the first copy wins), holes
 * skipped once they can no longer fill, all within a byte limit.
 */
#include <stdlib.h>
#include <string.h>

#include "replay.h"

struct seg {
	struct seg	*next;
	uint32_t	 seq;
	size_t		 len;		/* captured bytes in data */
	size_t		 missing;	/* bytes after them the capture lost */
	uint8_t		 data[];
};

static int
before(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) < 0;
}

/* Hands on what of [seq, seq+len+missing) lies at or beyond next. */
static int
deliver(struct reasm *r, uint32_t seq, const uint8_t *data, size_t len,
    size_t missing, reasm_cb cb, void *arg)
{
	size_t skip = r->next - seq, total = len + missing;

	if (before(seq + total, r->next) || seq + total == r->next) {
		r->retrans_bytes += total;
		return 0;
	}
	r->retrans_bytes += skip;
	if (skip < len) {
		if (cb(arg, data + skip, len - skip, r->gap) == -1)
			return -1;
		r->gap = 0;
		missing = total - len;
	} else
		missing = total - skip;
	r->next = seq + total;
	if (missing > 0) {
		r->gap_bytes += missing;
		r->gap = 1;
	}
	return 0;
}

static int
drain(struct reasm *r, reasm_cb cb, void *arg)
{
	struct seg *s;

	while ((s = r->ooo) != NULL && !before(r->next, s->seq)) {
		r->ooo = s->next;
		r->ooo_bytes -= s->len;
		if (deliver(r, s->seq, s->data, s->len, s->missing, cb,
		    arg) == -1) {
			free(s);
			return -1;
		}
		free(s);
	}
	return 0;
}

/* The hole before the first queued segment will not fill: step over it. */
static int
skip_hole(struct reasm *r, reasm_cb cb, void *arg)
{
	r->gap_bytes += r->ooo->seq - r->next;
	r->gap = 1;
	r->next = r->ooo->seq;
	return drain(r, cb, arg);
}

static int
queue(struct reasm *r, const struct pkt *k)
{
	struct seg *s, **pp;

	if ((s = malloc(sizeof(*s) + k->len)) == NULL)
		return -1;
	s->seq = k->seq;
	s->len = k->len;
	s->missing = k->missing;
	memcpy(s->data, k->data, k->len);
	for (pp = &r->ooo; *pp != NULL && !before(k->seq, (*pp)->seq);
	    pp = &(*pp)->next)
		;
	s->next = *pp;
	*pp = s;
	r->ooo_bytes += k->len;
	return 0;
}

/*
 * Returns -1 when the flow must be dropped: the callback said so, or the
 * segments held out of order would pass limit.
 */
int
reasm_segment(struct reasm *r, const struct pkt *k, size_t limit,
    reasm_cb cb, void *arg)
{
	if (k->flags & TH_SYN) {
		r->started = 1;
		r->next = k->seq + 1;
		return 0;
	}
	if (k->len + k->missing == 0)
		return 0;
	if (!r->started) {
		r->started = 1;
		r->next = k->seq;
	}
	if (before(r->next, k->seq)) {
		if (k->len > limit || r->ooo_bytes > limit - k->len)
			return -1;
		if (queue(r, k) == -1)
			return -1;
		/* a quarter of the window waiting behind a hole: it was lost */
		if (r->ooo_bytes > limit / 4)
			return skip_hole(r, cb, arg);
		return 0;
	}
	if (deliver(r, k->seq, k->data, k->len, k->missing, cb, arg) == -1)
		return -1;
	return drain(r, cb, arg);
}

int
reasm_flush(struct reasm *r, reasm_cb cb, void *arg)
{
	while (r->ooo != NULL)
		if (skip_hole(r, cb, arg) == -1)
			return -1;
	return 0;
}

void
reasm_free(struct reasm *r)
{
	struct seg *s;

	while ((s = r->ooo) != NULL) {
		r->ooo = s->next;
		free(s);
	}
	r->ooo_bytes = 0;
}
