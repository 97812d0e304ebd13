/*
 * Streamed HTTP messages (transforms/SCHEMA-http.md): the policy judges a
 * stream's head as any message; its parts, pulls and acknowledgements
 * carry no facts a rule could judge, so they pass only for a stream
 * whose head passed here, and are blocked otherwise.  A stream is named
 * by its exchange: the client side's and the device's endpoints, the
 * flow, and the seq of the request that began it.
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

struct admitted {
	char		 client[46], device[46];
	uint64_t	 flow, stream;
	int		 rule;
	uint64_t	 last_ms;	/* 0: a free slot */
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

int
pol_stream_part(struct xgw_policy *pol, const struct xgw_meta *m,
    xmpp_stanza_t *el, uint64_t now, struct xgw_verdict *v)
{
	struct xgw_http_part pt;
	struct xgw_buf data = { 0 };
	struct admitted *a = NULL;
	struct xgw_err e;
	int rc;

	if (xgw_element_protocol(el) != &xgw_http_proto)
		return -1;
	if ((rc = xgw_http_part_read(el, &pt, &data, &e)) == 0)
		return -1;
	xgw_buf_free(&data);
	memset(v, 0, sizeof(*v));
	v->file = pol->file;
	v->rule = -1;
	if (rc == 1 && (a = find(pol, m, pt.stream, now)) != NULL) {
		a->last_ms = now;
		v->action = XGW_PASS;
		v->reason = "stream";
		if (a->rule >= 0 && (size_t)a->rule < pol->nrules) {
			v->rule = a->rule;
			v->line = pol->rules[a->rule].line;
		}
		return 0;
	}
	pol->dflt.matches++;
	v->action = XGW_BLOCK;
	v->reason = rc == 1 ? "stream-not-admitted" : "bad-part";
	return 0;
}

/*
 * A head of unknown body size admitted by a rule with body-size: the
 * bound goes on the head as body-max, the smaller of this one and one
 * an earlier gateway wrote, for the adapter that restores the body to
 * hold (adapters/http/README.md).
 */
static int
bound(xmpp_stanza_t *el, const struct rule *r)
{
	uint64_t b = pol_rule_bound(r), old;
	struct xgw_err e;

	if (b == 0 || xmpp_stanza_get_attribute(el, "body-size") != NULL)
		return 0;
	if (xgw_get_uint_opt(el, "body-max", UINT64_MAX, b, &old, &e) == 0 &&
	    old < b)
		b = old;
	return xgw_set_uint(el, "body-max", b);
}

void
pol_stream_admit(struct xgw_policy *pol, const struct xgw_meta *m,
    xmpp_stanza_t *el, int rule, uint64_t now)
{
	const char *body = xmpp_stanza_get_attribute(el, "body");
	const char *client, *device;
	struct admitted *a, *old;
	struct xgw_err e;
	uint64_t stream;

	if (body == NULL || strcmp(body, "streamed") != 0 ||
	    xgw_element_protocol(el) != &xgw_http_proto ||
	    xgw_get_uint(el, "stream", UINT64_MAX, &stream, &e) == -1)
		return;
	if (pol->streams == NULL &&
	    (pol->streams = calloc(STREAMS, sizeof(*pol->streams))) == NULL)
		return;		/* its parts are blocked: nothing passes unjudged */
	if ((a = find(pol, m, stream, now)) == NULL) {
		a = old = &pol->streams[0];
		for (size_t i = 0; i < STREAMS && a->last_ms != 0; i++) {
			a = &pol->streams[i];
			if (a->last_ms < old->last_ms)
				old = a;
		}
		if (a->last_ms != 0)
			a = old;
	}
	/* unbounded, its parts are blocked: nothing passes unjudged */
	if (rule >= 0 && (size_t)rule < pol->nrules &&
	    bound(el, &pol->rules[rule]) == -1)
		return;
	ends(m, &client, &device);
	memcpy(a->client, client, sizeof(a->client));
	memcpy(a->device, device, sizeof(a->device));
	a->flow = m->flow;
	a->stream = stream;
	a->rule = rule;
	a->last_ms = now != 0 ? now : 1;
}

/* The streams admitted by the old rules carry on; their rules may be gone. */
void
pol_stream_adopt(struct xgw_policy *nw, struct xgw_policy *old)
{
	free(nw->streams);
	nw->streams = old->streams;
	old->streams = NULL;
	for (size_t i = 0; nw->streams != NULL && i < STREAMS; i++)
		nw->streams[i].rule = -1;
}
