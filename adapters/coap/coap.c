/*
 * xgw-coap: main, the runtime's callbacks, the parts its poll loop runs
 * (the client side's UDP socket, libcoap's descriptor), the counters
 * xgwd reads, and what both sides do to datagrams (encode, decode, set
 * type, message id and token).
 */
#include <sys/random.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <coap3/coap.h>

#include "log.h"
#include "xgw-coap.h"

#define STATS_MS	1000	/* counters go to xgwd at most this often */

struct adapter	*ad;
struct counters	 cnt;

/* Tokens and first message ids: RFC 7252 5.3.1 asks for unguessable ones. */
void
random_bytes(void *p, size_t n)
{
	if (getrandom(p, n, 0) != (ssize_t)n)
		fatal("getrandom");
}

static const struct adapter_counter counters[] = {
	{ "requests", &cnt.requests },
	{ "piggybacked", &cnt.piggybacked },
	{ "separate", &cnt.separate },
	{ "duplicates", &cnt.duplicates },
	{ "pings", &cnt.pings },
	{ "no-route", &cnt.no_route },
	{ "bad-gateway", &cnt.bad_gateway },
	{ "gateway-timeout", &cnt.gateway_timeout },
	{ "busy", &cnt.busy },
	{ "malformed", &cnt.malformed },
	{ "unexpected", &cnt.unexpected },
	{ "notifications", &cnt.notifications },
	{ "observations", &cnt.observations },
	{ "cancelled", &cnt.cancelled },
	{ "orphan-events", &cnt.orphan_events },
	{ "device-requests", &cnt.dev_requests },
	{ "device-answers", &cnt.dev_answers },
	{ "device-failed", &cnt.dev_failed },
	{ "device-timeouts", &cnt.dev_timeouts },
	{ "device-refused", &cnt.dev_refused },
	{ "device-events", &cnt.dev_events },
	{ "renewals", &cnt.renewals },
};

void
tok_get(const uint8_t *msg, struct tok *t)
{
	t->len = msg[0] & 0x0f;
	memcpy(t->b, msg + 4, t->len);
}

int
tok_eq(const struct tok *t, const uint8_t *p, size_t n)
{
	return t->len == n && memcmp(t->b, p, n) == 0;
}

int
msg_encode(xmpp_stanza_t *el, struct xgw_buf *b, const char *who)
{
	struct xgw_err e;

	b->len = 0;
	if (xgw_coap_encode(el, b, &e) == -1) {
		log_warnx("%s: CoAP element does not encode: %s", who, e.msg);
		return -1;
	}
	return 0;
}

xmpp_stanza_t *
msg_decode(const uint8_t *p, size_t n, enum xgw_dir dir, const char *who)
{
	xmpp_stanza_t *el;
	struct xgw_err e;

	if (xgw_coap_decode(adapter_ctx(ad), p, n, dir, &el, &e) == -1) {
		log_warnx("%s: CoAP message does not decode: %s at byte %zu: %s",
		    who, e.reason, e.offset, e.msg);
		return NULL;
	}
	return el;
}

/*
 * Sets what belongs to one hop rather than to the message: the type, the
 * message id (-1 keeps either) and the token, which may change length.
 */
int
msg_patch(struct xgw_buf *b, int type, int mid, const struct tok *t)
{
	size_t old = b->data[0] & 0x0f;
	struct xgw_buf nb = { 0 };
	struct xgw_err e;

	if (type != -1)
		b->data[0] = (b->data[0] & 0xcf) | type << 4;
	if (mid != -1) {
		b->data[2] = mid >> 8;
		b->data[3] = mid & 0xff;
	}
	if (t == NULL)
		return 0;
	if (t->len == old) {
		memcpy(b->data + 4, t->b, t->len);
		return 0;
	}
	b->data[0] = (b->data[0] & 0xf0) | t->len;
	if (xgw_buf_put(&nb, b->data, 4, &e) == -1 ||
	    xgw_buf_put(&nb, t->b, t->len, &e) == -1 ||
	    xgw_buf_put(&nb, b->data + 4 + old, b->len - 4 - old, &e) == -1) {
		xgw_buf_free(&nb);
		return -1;
	}
	xgw_buf_free(b);
	*b = nb;
	return 0;
}

/* A message of a header and a token only: empty ACK/RST, 5.02, 5.04. */
int
msg_bare(struct xgw_buf *b, int type, unsigned code, uint16_t mid,
    const struct tok *t)
{
	struct xgw_err e;

	b->len = 0;
	return xgw_buf_u8(b, 0x40 | type << 4 | (t ? t->len : 0), &e) == -1 ||
	    xgw_buf_u8(b, code, &e) == -1 || xgw_buf_u16(b, mid, &e) == -1 ||
	    (t != NULL && xgw_buf_put(b, t->b, t->len, &e) == -1) ? -1 : 0;
}

xmpp_stanza_t *
msg_opt(xmpp_stanza_t *el, unsigned num)
{
	xmpp_stanza_t *c;
	const char *name, *n;
	char want[8];

	snprintf(want, sizeof(want), "%u", num);
	for (c = xmpp_stanza_get_children(el); c != NULL;
	    c = xmpp_stanza_get_next(c))
		if ((name = xmpp_stanza_get_name(c)) != NULL &&
		    strcmp(name, "opt") == 0 &&
		    (n = xmpp_stanza_get_attribute(c, "num")) != NULL &&
		    strcmp(n, want) == 0)
			return c;
	return NULL;
}

/* The Observe option's value (0 register, 1 deregister, or a sequence), -1 without one. */
int
msg_observe(xmpp_stanza_t *el)
{
	xmpp_stanza_t *o = msg_opt(el, OPT_OBSERVE);
	const char *v = o ? xmpp_stanza_get_attribute(o, "uint") : NULL;
	uint64_t n;

	if (o == NULL)
		return -1;
	/* a value in a non-minimal form is neither 0 nor 1 to a server either */
	return v != NULL && xgw_parse_uint(v, strlen(v), 0xffffff, &n) == 0 ?
	    (int)n : 2;
}

/* The code's class (2 for 2.05), -1 when the element has no code. */
int
msg_class(xmpp_stanza_t *el)
{
	const char *c = xmpp_stanza_get_attribute(el, "code");

	return c != NULL && c[0] >= '0' && c[0] <= '7' ? c[0] - '0' : -1;
}

static int
configure(struct adapter *a, const struct conf_adapter *c)
{
	(void)a;
	if (c->listen[0] != '\0' && client_open(c) == -1)
		return -1;
	return c->ndevices > 0 ? device_open(c) : 0;
}

/* xgwd routes by direction: requests are for local devices, the rest for local clients. */
static void
on_stanza(struct adapter *a, const struct xgw_meta *m, xmpp_stanza_t *el,
    uint64_t flow, uint64_t seq)
{
	(void)a;
	(void)flow;
	(void)seq;
	switch (m->dir) {
	case XGW_REQUEST:
		device_request(m, el);
		break;
	case XGW_RESPONSE:
		client_answer(m, el);
		break;
	case XGW_EVENT:
		client_event(m, el);
		break;
	}
}

static void
on_failed(struct adapter *a, uint64_t flow, uint64_t seq, const char *reason,
    void *cookie)
{
	(void)a;
	client_failed(flow, seq, reason, cookie);
}

int
main(int argc, char *argv[])
{
	static const struct adapter_cb cb = { configure, on_stanza, on_failed,
	    NULL, NULL };
	static const struct adapter_part parts[] = {
		{ client_pollfds, client_io, client_timeout_ms, client_timers },
		{ device_pollfds, device_io, device_timeout_ms, device_timers },
	};

	signal(SIGPIPE, SIG_IGN);
	coap_startup();
	ad = adapter_init(argc, argv, "xgw-coap", &cb);
	adapter_counters(ad, counters, sizeof(counters) / sizeof(counters[0]),
	    STATS_MS);
	adapter_configure(ad);
	adapter_loop(ad, parts, sizeof(parts) / sizeof(parts[0]));
	return 0;
}
