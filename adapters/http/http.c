/*
 * xgw-http: main, the runtime's callbacks, the parts its poll loop runs
 * (the clients, the device connections), the counters xgwd reads, and
 * what both sides share: the answers made here (400, 413, 502, 504, ...),
 * header tokens, and the transform's session.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "xgw-http.h"

#define STATS_MS	10000

struct adapter	*ad;
struct counters	 cnt;

static const char *
reason_phrase(unsigned status)
{
	switch (status) {
	case 400:
		return "Bad Request";
	case 408:
		return "Request Timeout";
	case 413:
		return "Content Too Large";
	case 414:
		return "URI Too Long";
	case 431:
		return "Request Header Fields Too Large";
	case 501:
		return "Not Implemented";
	case 502:
		return "Bad Gateway";
	case 504:
		return "Gateway Timeout";
	}
	return "Error";
}

/*
 * An answer made here, as a device would send it: a short text body
 * saying why (none for HEAD, whose answer only announces its length).
 */
int
http_answer(struct xgw_buf *b, unsigned status, const char *method,
    const char *text, int close)
{
	char head[256], body[160];
	struct xgw_err e;
	int hn, bn;

	bn = snprintf(body, sizeof(body), "xgw: %s\n", text);
	if (bn < 0 || (size_t)bn >= sizeof(body))
		bn = sizeof(body) - 1;
	hn = snprintf(head, sizeof(head), "HTTP/1.1 %u %s\r\n"
	    "Content-Type: text/plain\r\nContent-Length: %d\r\n%s\r\n",
	    status, reason_phrase(status), bn,
	    close ? "Connection: close\r\n" : "");
	if (xgw_buf_put(b, head, hn, &e) == -1 ||
	    ((method == NULL || strcmp(method, "HEAD") != 0) &&
	    xgw_buf_put(b, body, bn, &e) == -1))
		return -1;
	return 0;
}

/*
 * A field NAME (any case) whose comma-separated list holds TOKEN (any
 * case); with TOKEN NULL, any field NAME.
 */
int
field_has_token(xmpp_stanza_t *el, const char *name, const char *token)
{
	size_t tl = token != NULL ? strlen(token) : 0;

	for (xmpp_stanza_t *f = xmpp_stanza_get_children(el); f != NULL;
	    f = xmpp_stanza_get_next(f)) {
		const char *fn = xmpp_stanza_get_name(f);
		const char *n = xmpp_stanza_get_attribute(f, "name");
		const char *v = xmpp_stanza_get_attribute(f, "value");

		if (fn == NULL || strcmp(fn, "field") != 0 || n == NULL ||
		    strcasecmp(n, name) != 0)
			continue;
		if (token == NULL)
			return 1;
		while (v != NULL && *v != '\0') {
			size_t len;

			v += strspn(v, " \t,");
			len = strcspn(v, ",");
			while (len > 0 && (v[len - 1] == ' ' || v[len - 1] == '\t'))
				len--;
			if (len == tl && strncasecmp(v, token, tl) == 0)
				return 1;
			v += strcspn(v, ",");
		}
	}
	return 0;
}

/*
 * The transform frames a response by the request it answers (HEAD has no
 * body) and learns that request by decoding it.  A side that did not
 * decode the request (it encoded it, or made the answer itself) sets the
 * one method awaiting an answer here.
 */
void
sess_expect(struct xgw_http_sess *s, const char *method)
{
	memset(s, 0, sizeof(*s));
	snprintf(s->method[0], sizeof(s->method[0]), "%s", method);
	s->count = 1;
}

/* A part, pull or acknowledgement of a stream; NULL when memory runs out. */
xmpp_stanza_t *
part_new(enum xgw_http_pkind kind, uint64_t stream, uint64_t part, int last,
    const uint8_t *data, size_t n)
{
	struct xgw_http_part pt = { kind, stream, part, last };

	return xgw_http_part_new(adapter_ctx(ad), &pt, data, n);
}

/* Sends el (a request takes cookie) and lets it go: 0, or -1 and errno. */
int
part_send(const struct xgw_meta *m, xmpp_stanza_t *el, void *cookie)
{
	int rc;

	if (el == NULL) {
		errno = ENOMEM;
		return -1;
	}
	rc = adapter_send(ad, m, el, 0, cookie);
	xmpp_stanza_release(el);
	return rc;
}

/*
 * The largest body a stream may carry: own (a route's or a device's
 * body-max) when given, else the block's.
 */
uint64_t
body_max(uint64_t own)
{
	return own != 0 ? own : adapter_conf(ad)->body_max;
}

/*
 * The bound on a streamed body: max, or less when a policy that admitted
 * the head wrote a smaller one on it (body-max, policies/README.md).
 */
uint64_t
head_bound(xmpp_stanza_t *el, uint64_t max)
{
	struct xgw_err e;
	uint64_t v;

	/* one that does not read is ignored: a peer could as well leave it out */
	if (xgw_get_uint_opt(el, "body-max", UINT64_MAX, max, &v, &e) == -1)
		return max;
	return v < max ? v : max;
}

const char *
el_method(xmpp_stanza_t *el)
{
	const char *m = xmpp_stanza_get_attribute(el, "method");

	return m != NULL ? m : "";
}

static const struct adapter_counter counters[] = {
	{ "clients-accepted", &cnt.accepted },
	{ "clients-refused", &cnt.refused },
	{ "requests", &cnt.requests },
	{ "malformed", &cnt.malformed },
	{ "oversize", &cnt.oversize },
	{ "no-route", &cnt.no_route },
	{ "path-failed", &cnt.path_failed },
	{ "timed-out", &cnt.timed_out },
	{ "late-responses", &cnt.late },
	{ "bad-answers", &cnt.bad_answers },
	{ "idle-closed", &cnt.idle_closed },
	{ "device-requests", &cnt.dev_requests },
	{ "device-answers", &cnt.dev_answers },
	{ "device-interim", &cnt.dev_interim },
	{ "device-failed", &cnt.dev_failed },
	{ "device-timeouts", &cnt.dev_timeouts },
	{ "device-retries", &cnt.dev_retries },
	{ "device-bad", &cnt.dev_bad },
	{ "streams", &cnt.streams },
	{ "streams-broken", &cnt.streams_broken },
	{ "device-streams", &cnt.dev_streams },
	{ "device-streams-broken", &cnt.dev_streams_broken },
	{ "device-streams-cancelled", &cnt.dev_cancelled },
};

static int
configure(struct adapter *a, const struct conf_adapter *c)
{
	(void)a;
	if (device_open(c) == -1)
		return -1;
	return c->listen[0] != '\0' ? client_open(c) : 0;
}

static void
on_stanza(struct adapter *a, const struct xgw_meta *m, xmpp_stanza_t *el,
    uint64_t flow, uint64_t seq)
{
	struct xgw_http_part pt;
	struct xgw_buf data = { 0 };
	struct xgw_err e;
	int rc;

	(void)a;
	if ((rc = xgw_http_part_read(el, &pt, &data, &e)) == -1) {
		/* nothing can be told of it: its stream's timers end it */
		log_warnx("%s flow=%llu seq=%llu from %s: a bad stream part "
		    "(%s); dropped", xgw_dir_name(m->dir),
		    (unsigned long long)flow, (unsigned long long)seq, m->src,
		    e.msg);
		cnt.streams_broken++;
	} else if (rc == 1 && m->dir == XGW_REQUEST)
		device_part(m, &pt, &data);
	else if (rc == 1 && m->dir == XGW_RESPONSE)
		client_part(&pt, &data, flow, seq);
	else if (m->dir == XGW_REQUEST)
		device_request(m, el);
	else if (m->dir == XGW_RESPONSE)
		client_answer(el, flow, seq);
	else
		log_debug("event flow=%llu seq=%llu: this adapter takes none",
		    (unsigned long long)flow, (unsigned long long)seq);
	xgw_buf_free(&data);
}

static void
on_failed(struct adapter *a, uint64_t flow, uint64_t seq, const char *reason,
    void *cookie)
{
	(void)a;
	if (cookie != NULL)
		client_failed(flow, seq, reason, cookie);
}

int
main(int argc, char *argv[])
{
	static const struct adapter_cb cb = { configure, on_stanza, on_failed,
	    NULL, NULL };

	static const struct adapter_part parts[] = {
		{ client_pollfds, client_run, client_timeout_ms, client_timers },
		{ device_pollfds, device_run, device_timeout_ms, device_timers },
	};

	ad = adapter_init(argc, argv, "http", &cb);
	adapter_counters(ad, counters, sizeof(counters) / sizeof(counters[0]),
	    STATS_MS);
	adapter_configure(ad);
	adapter_loop(ad, parts, sizeof(parts) / sizeof(parts[0]));
	return 0;
}
