/*
 * Streamed HTTP messages (transforms/SCHEMA-http.md): the policy judges a
 * stream's head as any message; its parts, pulls and acknowledgements
 * carry no facts a rule could judge, so they pass only for a stream
 * whose head passed here, and are blocked otherwise.  A stream is named
 * by its exchange: the client side's and the device's endpoints, the
 * flow, and the seq of the request that began it.  Each way of an
 * exchange (the request's body, the answer's) is held to the bound of
 * its own head: the parts are walked as the restoring adapter walks
 * them, so that the body is cut where the adapter would cut it, whatever
 * the far side's adapter does.
 */
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "policy_int.h"

/*
 * Kept until idle for the longest part timeout: the pulls a client side
 * sends past the end of a body (it cannot know where the end is) are
 * answered too.  When all are taken, the one idle longest goes.
 */
#define STREAMS		1024
#define STREAM_IDLE_MS	(10 * 60 * 1000)

/* One way of an exchange: the body behind a head that passed. */
struct side {
	int			 open;
	int			 rule;
	int			 known;		/* the head gave body-size */
	uint64_t		 bound;		/* body bytes; POL_UNBOUNDED: none */
	const char		*over;		/* why the rest is blocked */
	struct xgw_http_body	 body;
};

struct admitted {
	char		 client[46], device[46];
	uint64_t	 flow, stream;
	uint64_t	 last_ms;	/* 0: a free slot */
	struct side	 way[2];	/* XGW_REQUEST, XGW_RESPONSE */
};

/* The endpoints of the exchange, whichever way the stanza goes. */
static void
ends(const struct xgw_meta *m, const char **client, const char **device)
{
	*client = m->dir == XGW_REQUEST ? m->src : m->dst;
	*device = m->dir == XGW_REQUEST ? m->dst : m->src;
}

static struct admitted *
find(struct xgw_policy *pol, const struct xgw_meta *m, uint64_t stream,
    uint64_t now)
{
	const char *client, *device;

	ends(m, &client, &device);
	for (size_t i = 0; pol->streams != NULL && i < STREAMS; i++) {
		struct admitted *a = &pol->streams[i];

		if (a->last_ms != 0 && now - a->last_ms > STREAM_IDLE_MS)
			a->last_ms = 0;
		if (a->last_ms != 0 && a->stream == stream &&
		    a->flow == m->flow && strcmp(a->client, client) == 0 &&
		    strcmp(a->device, device) == 0)
			return a;
	}
	return NULL;
}

static void
side_clear(struct side *s)
{
	xgw_http_body_free(&s->body);
	memset(s, 0, sizeof(*s));
}

/*
 * The way a stream element belongs to: a part to its own, an
 * acknowledgement to the request's body, a pull to the answer's (or
 * whichever was admitted); NULL when that way's head did not pass.
 */
static struct side *
side_of(struct admitted *a, const struct xgw_meta *m,
    const struct xgw_http_part *pt)
{
	int w = pt->kind == XGW_HTTP_PART ? m->dir == XGW_RESPONSE :
	    pt->kind == XGW_HTTP_PULL;

	if (a->way[w].open)
		return &a->way[w];
	return pt->kind != XGW_HTTP_PART && a->way[!w].open ? &a->way[!w] :
	    NULL;
}

/*
 * Walks a part's bytes as the restoring adapter does: NULL while the body
 * stays within its bound, else why not.  *took: the body bytes of it,
 * chunk lines aside.
 */
static const char *
side_walk(struct side *s, const struct xgw_buf *data, uint64_t *took)
{
	uint64_t before = s->body.size;
	const char *size = s->known ? "body-size" : "body-max";
	struct xgw_err e;
	size_t used;
	int rc;

	rc = xgw_http_body_walk(&s->body, data->data, data->len, &used, &e);
	/* only a chunk line or trailers cut between parts hold memory */
	if (s->body.line.len == 0)
		xgw_buf_free(&s->body.line);
	*took = s->body.size - before;
	if (rc == -1)
		return strcmp(e.reason, "too-large") == 0 ? size : "bad-part";
	if (used < data->len)
		return s->known ? size : "bad-part";
	return s->body.size > s->bound ? size : NULL;
}

static void
verdict_rule(struct xgw_policy *pol, int rule, struct xgw_verdict *v)
{
	if (rule >= 0 && (size_t)rule < pol->nrules) {
		v->rule = rule;
		v->line = pol->rules[rule].line;
	}
}

/* A part stopped, logged under the rule that admitted its head. */
static void
part_log(struct xgw_policy *pol, const struct xgw_meta *m,
    const struct side *s, int rule, uint64_t now)
{
	char what[200];

	/* a rule gone with a reload has no line to log under */
	if (rule < 0)
		return;
	if (strcmp(s->over, "bad-part") == 0)
		snprintf(what, sizeof(what), "http part breaking its body's "
		    "coding from %s to %s", m->src[0] ? m->src : "-",
		    m->dst[0] ? m->dst : "-");
	else
		snprintf(what, sizeof(what), "http part past %s %llu from %s "
		    "to %s", s->over, (unsigned long long)s->bound,
		    m->src[0] ? m->src : "-", m->dst[0] ? m->dst : "-");
	pol_log_deny(pol, rule, what, now);
}

/*
 * A part of an admitted way: passed and counted, or blocked from the one
 * that takes the body past its bound on.  That one is rejected: a
 * request's with 413, HTTP's own answer, and an answer's with the cancel
 * of its stream (reject.c), so that the client learns it at once, as from
 * the adapter that restores the body.
 */
static void
part_judge(struct xgw_policy *pol, const struct xgw_meta *m, struct side *s,
    const struct xgw_buf *data, uint64_t now, struct xgw_verdict *v)
{
	uint64_t took = 0;
	int first = s->over == NULL;

	if (first && (s->over = side_walk(s, data, &took)) == NULL) {
		/* a head of known size counted its body when it passed */
		if (!s->known && v->rule >= 0)
			pol->rules[v->rule].cnt.bytes += took;
		return;
	}
	v->action = XGW_BLOCK;
	v->reason = s->over;
	if (first && strcmp(s->over, "bad-part") != 0) {
		v->action = XGW_REJECT;
		v->code = m->dir == XGW_REQUEST ? 413 : 502;
	}
	part_log(pol, m, s, v->rule, now);
}

int
pol_stream_part(struct xgw_policy *pol, const struct xgw_meta *m,
    xmpp_stanza_t *el, uint64_t now, struct xgw_verdict *v)
{
	struct xgw_http_part pt;
	struct xgw_buf data = { 0 };
	struct admitted *a = NULL;
	struct side *s = NULL;
	struct xgw_err e;
	int rc;

	if (xgw_element_protocol(el) != &xgw_http_proto)
		return -1;
	if ((rc = xgw_http_part_read(el, &pt, &data, &e)) == 0)
		return -1;
	memset(v, 0, sizeof(*v));
	v->file = pol->file;
	v->rule = -1;
	if (rc == 1 && (a = find(pol, m, pt.stream, now)) != NULL &&
	    (s = side_of(a, m, &pt)) != NULL) {
		a->last_ms = now;
		v->action = XGW_PASS;
		v->reason = "stream";
		verdict_rule(pol, s->rule, v);
		if (pt.kind == XGW_HTTP_PART)
			part_judge(pol, m, s, &data, now, v);
	} else {
		pol->dflt.matches++;
		v->action = XGW_BLOCK;
		v->reason = rc == 1 ? "stream-not-admitted" : "bad-part";
	}
	xgw_buf_free(&data);
	return 0;
}

/*
 * The walker of the body behind a head, set as the restoring adapter
 * sets its own: from the head's bytes.  -1 when the head does not
 * encode (no adapter could restore it either).
 */
static int
side_open(struct side *s, xmpp_stanza_t *el, enum xgw_dir dir)
{
	struct xgw_buf head = { 0 };
	struct xgw_err e;
	size_t hlen;
	int rc;

	rc = xgw_http_encode(el, &head, &e) == 0 &&
	    xgw_http_head(NULL, NULL, dir, head.data, head.len, &hlen, NULL,
	    &s->body, &e) == 1 ? 0 : -1;
	xgw_buf_free(&head);
	return rc;
}

/*
 * The bound of the body behind a head: its body-size when known; else
 * limit, the rules' (POL_UNBOUNDED: none), or a smaller one an earlier
 * gateway wrote as body-max.  That bound goes on the head as body-max
 * for the adapter that restores the body to hold (adapters/http/README.md);
 * 0 cannot be written there (the adapters read it as none) and is held
 * here alone.
 */
static int
side_bound(struct side *s, xmpp_stanza_t *el, uint64_t limit)
{
	struct xgw_err e;
	uint64_t old;

	s->known = s->body.mode == XGW_HTTP_LENGTH;
	if (s->known) {
		s->bound = s->body.left;
		return 0;
	}
	if (xgw_get_uint_opt(el, "body-max", UINT64_MAX, POL_UNBOUNDED, &old,
	    &e) == 0 && old < limit)
		limit = old;
	s->bound = limit;
	/* the walker refuses a chunk announced past it, as the adapter's */
	s->body.max = limit != POL_UNBOUNDED ? limit : 0;
	if (limit == POL_UNBOUNDED || limit == 0)
		return 0;
	return xgw_set_uint(el, "body-max", limit);
}

void
pol_stream_admit(struct xgw_policy *pol, const struct xgw_meta *m,
    xmpp_stanza_t *el, int rule, uint64_t limit, uint64_t now)
{
	const char *body = xmpp_stanza_get_attribute(el, "body");
	const char *client, *device;
	struct admitted *a, *old;
	struct side s = { .open = 1, .rule = rule };
	struct xgw_err e;
	uint64_t stream;

	if (body == NULL || strcmp(body, "streamed") != 0 ||
	    xgw_element_protocol(el) != &xgw_http_proto ||
	    (m->dir != XGW_REQUEST && m->dir != XGW_RESPONSE) ||
	    xgw_get_uint(el, "stream", UINT64_MAX, &stream, &e) == -1)
		return;
	if (pol->streams == NULL &&
	    (pol->streams = calloc(STREAMS, sizeof(*pol->streams))) == NULL)
		return;		/* its parts are blocked: nothing passes unjudged */
	/* unbounded or unwalkable, its parts are blocked: nothing passes unjudged */
	if (side_open(&s, el, m->dir) == -1 || side_bound(&s, el, limit) == -1) {
		side_clear(&s);
		return;
	}
	if ((a = find(pol, m, stream, now)) == NULL) {
		a = old = &pol->streams[0];
		for (size_t i = 0; i < STREAMS && a->last_ms != 0; i++) {
			a = &pol->streams[i];
			if (a->last_ms < old->last_ms)
				old = a;
		}
		if (a->last_ms != 0)
			a = old;
		side_clear(&a->way[0]);
		side_clear(&a->way[1]);
		ends(m, &client, &device);
		memcpy(a->client, client, sizeof(a->client));
		memcpy(a->device, device, sizeof(a->device));
		a->flow = m->flow;
		a->stream = stream;
	}
	side_clear(&a->way[m->dir == XGW_RESPONSE]);
	a->way[m->dir == XGW_RESPONSE] = s;
	a->last_ms = now != 0 ? now : 1;
}

/*
 * The streams admitted by the old rules carry on, their running totals
 * and bounds with them, under the same rule in the new set if it is
 * there; its counters moved with it.
 */
static void
side_adopt(struct side *s, const size_t *moved)
{
	s->rule = moved != NULL && s->rule >= 0 && moved[s->rule] != 0 ?
	    (int)moved[s->rule] - 1 : -1;
}

void
pol_stream_adopt(struct xgw_policy *nw, struct xgw_policy *old,
    const size_t *moved)
{
	pol_stream_free(nw);
	nw->streams = old->streams;
	old->streams = NULL;
	for (size_t i = 0; nw->streams != NULL && i < STREAMS; i++) {
		side_adopt(&nw->streams[i].way[0], moved);
		side_adopt(&nw->streams[i].way[1], moved);
	}
}

void
pol_stream_free(struct xgw_policy *pol)
{
	for (size_t i = 0; pol->streams != NULL && i < STREAMS; i++) {
		side_clear(&pol->streams[i].way[0]);
		side_clear(&pol->streams[i].way[1]);
	}
	free(pol->streams);
	pol->streams = NULL;
}
