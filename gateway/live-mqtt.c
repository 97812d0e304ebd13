/*
 * xgw-replay --live for MQTT: each captured client connection is played
 * as a client of its own.  Its CONNECT is sent at the captured protocol
 * level, with a fresh client id derived from the captured one (so that
 * runs and flows do not take each other's sessions), without the will
 * and with a clean start; its SUBSCRIBE, UNSUBSCRIBE, PUBLISH, PUBREL and
 * PINGREQ follow as captured, packet identifiers renumbered.  The
 * broker's acknowledgements are compared with the captured ones by
 * reason codes and their count; the PUBLISHes it sends us are
 * acknowledged, and compared by topic and payload with those the capture
 * shows it sending, once the flow is over.
 */
#include <err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "live.h"
#include "mqtt.h"

#define CLIENT_ID_MAX	23	/* what every broker must take (3.1.1 3.1.3.1) */
#define TOPIC_SHOW	60

enum {
	CONNECT = 1, CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP,
	SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK, PINGREQ, PINGRESP,
	DISCONNECT, AUTH
};

static unsigned
type(const uint8_t *p)
{
	return p[0] >> 4;
}

static unsigned
qos(const uint8_t *p)
{
	return p[0] >> 1 & 3;
}

/* Where the variable header starts: after the remaining length. */
static size_t
var_start(const uint8_t *p, size_t n)
{
	size_t i = 1;

	while (i < n && i < 4 && (p[i] & 0x80))
		i++;
	return i + 1;
}

/* Where the packet identifier is; 0: the packet has none. */
static size_t
id_offset(const uint8_t *p, size_t n)
{
	size_t v = var_start(p, n);

	switch (type(p)) {
	case PUBLISH:
		if (qos(p) == 0 || v + 2 > n)
			return 0;
		v += 2 + xgw_be16(p + v);
		break;
	case PUBACK: case PUBREC: case PUBREL: case PUBCOMP:
	case SUBSCRIBE: case SUBACK: case UNSUBSCRIBE: case UNSUBACK:
		break;
	default:
		return 0;
	}
	return v + 2 <= n ? v : 0;
}

static unsigned
packet_id(const uint8_t *p, size_t n)
{
	size_t o = id_offset(p, n);

	return o != 0 ? xgw_be16(p + o) : 0;
}

/* The packet that answers request q. */
static unsigned
answer_type(const uint8_t *q)
{
	switch (type(q)) {
	case CONNECT:
		return CONNACK;
	case PUBLISH:
		return qos(q) == 1 ? PUBACK : PUBREC;
	case PUBREL:
		return PUBCOMP;
	case SUBSCRIBE:
		return SUBACK;
	case UNSUBSCRIBE:
		return UNSUBACK;
	case PINGREQ:
		return PINGRESP;
	}
	return 0;
}

/* The level byte after the protocol name; 4 when it is not there. */
static uint8_t
connect_level(const uint8_t *p, size_t n)
{
	size_t v = var_start(p, n);

	if (v + 2 > n || v + 2 + xgw_be16(p + v) >= n)
		return 4;
	return p[v + 2 + xgw_be16(p + v)];
}

/*
 * Our own acknowledgements (PUBACK, PUBREC, PUBCOMP) answer the live
 * broker's packets, not the captured ones: they are made, not replayed.
 */
static enum creq
mqtt_request(struct live *l, struct lflow *f, const uint8_t *p, size_t n)
{
	if (type(p) == CONNECT) {
		f->connect_seen = 1;
		f->level = connect_level(p, n);
		return CREQ_EXCHANGE;
	}
	if (f->connect_seen <= 0) {
		if (f->connect_seen == 0)
			live_pubs(l)->no_connect++;
		f->connect_seen = -1;
		return CREQ_OTHER;
	}
	switch (type(p)) {
	case PUBLISH:
		return qos(p) == 0 ? CREQ_ONEWAY : CREQ_EXCHANGE;
	case DISCONNECT:
		return CREQ_ONEWAY;
	case PUBREL: case SUBSCRIBE: case UNSUBSCRIBE: case PINGREQ:
		return CREQ_EXCHANGE;
	}
	return CREQ_OTHER;
}

static void
copy_attrs(xmpp_stanza_t *from, xmpp_stanza_t *to)
{
	int n = xmpp_stanza_get_attribute_count(from);
	const char **kv;

	if ((kv = calloc(2 * (size_t)n + 2, sizeof(*kv))) == NULL)
		err(1, "live");
	n = xmpp_stanza_get_attributes(from, kv, 2 * n);
	for (int i = 0; i < n; i += 2)
		if (strcmp(kv[i], "xmlns") != 0 &&
		    strncmp(kv[i], "will-", 5) != 0 &&
		    strncmp(kv[i], "client-id", 9) != 0 &&
		    xgw_set_str(to, kv[i], kv[i + 1]) == -1)
			err(1, "live");
	free(kv);
}

/* The captured id cut to leave room for "-RUN" and the flow, whole UTF-8. */
static int
client_id(struct live *l, struct lflow *f, xmpp_stanza_t *el,
    xmpp_stanza_t *to)
{
	struct xgw_buf b = { 0 };
	struct xgw_err e;
	char suffix[32];
	size_t n, keep;
	int rc;

	if (xgw_get_bytes(el, "client-id", &b, &n, &e) == -1)
		return -1;
	if (n == 0) {
		/* the broker assigns one: fresh already */
		xgw_buf_free(&b);
		return xgw_set_str(to, "client-id", "");
	}
	snprintf(suffix, sizeof(suffix), "-%06x%llx", live_nonce(l),
	    (unsigned long long)f->id);
	keep = CLIENT_ID_MAX - strlen(suffix);
	if (n > keep) {
		while (keep > 0 && (b.data[keep] & 0xc0) == 0x80)
			keep--;
		b.len = keep;
	}
	rc = xgw_buf_put(&b, suffix, strlen(suffix), &e) == -1 ? -1 :
	    xgw_set_bytes(live_ctx(l), to, "client-id", b.data, b.len);
	xgw_buf_free(&b);
	return rc;
}

/*
 * The captured CONNECT as sent: a fresh client id, no will, a clean
 * start, and no session expiry (the session ends with the connection).
 */
static xmpp_stanza_t *
connect_el(struct live *l, struct lflow *f, xmpp_stanza_t *el)
{
	xmpp_stanza_t *to, *copy;
	const char *name, *id;
	size_t nprops = 0;

	if ((to = xgw_el_new(live_ctx(l), "mqtt", XGW_NS_MQTT)) == NULL)
		err(1, "live");
	copy_attrs(el, to);
	if (client_id(l, f, el, to) == -1 ||
	    xgw_set_str(to, "clean-start", "1") == -1) {
		xmpp_stanza_release(to);
		return NULL;
	}
	for (xmpp_stanza_t *s = xmpp_stanza_get_children(el); s != NULL;
	    s = xmpp_stanza_get_next(s)) {
		if (!xmpp_stanza_is_tag(s))
			continue;
		name = xmpp_stanza_get_name(s);
		id = xmpp_stanza_get_attribute(s, "id");
		if (strncmp(name, "will-", 5) == 0 || (strcmp(name, "prop") ==
		    0 && id != NULL && strcmp(id, "17") == 0))
			continue;
		nprops += strcmp(name, "prop") == 0;
		if ((copy = xmpp_stanza_copy(s)) == NULL ||
		    xgw_el_add(to, copy) == -1)
			err(1, "live");
	}
	if (xmpp_stanza_get_attribute(el, "props") != NULL &&
	    xgw_set_uint(to, "props", nprops) == -1)
		err(1, "live");
	return to;
}

static void
connect_rewrite(struct live *l, struct lflow *f, struct lexch *x)
{
	xmpp_stanza_t *el, *to = NULL;
	struct xgw_buf b = { 0 };
	struct xgw_err e;

	if (xgw_mqtt_decode(live_ctx(l), NULL, x->req, x->reqlen, &el,
	    &e) == -1)
		errx(1, "live: a captured CONNECT no longer decodes: %s", e.msg);
	if ((to = connect_el(l, f, el)) == NULL ||
	    xgw_mqtt_encode(to, &b, &e) == -1)
		/* sent as captured, which the report then shows */
		warnx("flow %llu: its CONNECT cannot be made fresh (%s): "
		    "sent as captured", (unsigned long long)f->id, to == NULL ?
		    "client id" : e.msg);
	else if ((x->out = live_keep(l, b.data, b.len)) != NULL)
		x->outlen = b.len;
	xmpp_stanza_release(el);
	if (to != NULL)
		xmpp_stanza_release(to);
	xgw_buf_free(&b);
}

/*
 * Packet identifiers are ours: numbered afresh per connection.  A PUBREL
 * takes the number its PUBLISH was sent with.
 */
static void
mqtt_prepare(struct live *l, struct lflow *f, struct lexch *x)
{
	size_t o = id_offset(x->req, x->reqlen);
	unsigned cid;

	if (type(x->req) == CONNECT) {
		connect_rewrite(l, f, x);
		return;
	}
	if (o == 0)
		return;
	cid = xgw_be16(x->req + o);
	x->lid = 0;
	for (size_t i = x->nr - 1; type(x->req) == PUBREL && i-- > 0;) {
		const struct lexch *y = live_exch(l, f, i);

		if (type(y->req) == PUBLISH && qos(y->req) == 2 &&
		    packet_id(y->req, y->reqlen) == cid) {
			x->lid = y->lid;
			break;
		}
	}
	if (x->lid == 0)
		x->lid = f->next_id = f->next_id % 65535 + 1;
	if ((x->out = live_keep(l, x->req, x->reqlen)) == NULL) {
		x->lid = cid;
		return;
	}
	x->outlen = x->reqlen;
	x->out[o] = x->lid >> 8;
	x->out[o + 1] = x->lid & 0xff;
}

static void
pub_add(struct live *l, struct lflow *f, const uint8_t *p, size_t n, int live)
{
	struct lmsg *m;
	uint8_t *b;

	if ((b = live_keep(l, p, n)) == NULL)
		return;
	if (f->npub[live] == f->cappub[live]) {
		size_t cap = f->cappub[live] ? f->cappub[live] * 2 : 8;

		if ((m = reallocarray(f->pub[live], cap, sizeof(*m))) == NULL)
			err(1, "live");
		f->pub[live] = m;
		f->cappub[live] = cap;
	}
	m = &f->pub[live][f->npub[live]++];
	m->p = b;
	m->n = n;
	m->paired = 0;
}

/* An acknowledgement of ours: PUBACK, PUBREC or PUBCOMP. */
static void
ack(struct lflow *f, unsigned t, unsigned id)
{
	const uint8_t a[4] = { t << 4, 2, id >> 8, id & 0xff };

	live_send_raw(f, a, sizeof(a));
}

static enum answer
mqtt_answer(struct live *l, struct lflow *f, const uint8_t *p, size_t n,
    int live)
{
	size_t v = var_start(p, n);

	switch (type(p)) {
	case PUBLISH:
		pub_add(l, f, p, n, live);
		if (live && qos(p) > 0)
			ack(f, qos(p) == 1 ? PUBACK : PUBREC, packet_id(p, n));
		return NOT_ANSWER;
	case PUBREL:
		if (live)
			ack(f, PUBCOMP, packet_id(p, n));
		return NOT_ANSWER;
	case DISCONNECT:
		if (live)
			live_say(f, "DISCONNECT from the broker, reason code "
			    "%u", v < n ? p[v] : 0);
		return NOT_ANSWER;
	case AUTH:
		return NOT_ANSWER;
	}
	return ANSWER;
}

static int
mqtt_pairs(const struct lexch *x, const uint8_t *p, size_t n, int live)
{
	if (type(p) != answer_type(x->req))
		return 0;
	if (id_offset(x->req, x->reqlen) == 0)
		return 1;
	return packet_id(p, n) == (live ? x->lid :
	    packet_id(x->req, x->reqlen));
}

static void *
mqtt_answer_sess(const struct lflow *f, const struct lexch *x, void *buf)
{
	struct xgw_mqtt_sess *s = buf;

	(void)x;
	memset(s, 0, sizeof(*s));
	s->level = f->level;
	s->learnt = XGW_MQTT_CONNECT;
	return s;
}

/* "135 (not-authorized)"; an acknowledgement without one: success. */
static const char *
reason(xmpp_stanza_t *el, char *buf, size_t len)
{
	const char *code = xmpp_stanza_get_attribute(el, "reason-code");
	const char *name = xmpp_stanza_get_attribute(el, "reason");

	snprintf(buf, len, "%s (%s)", code ? code : "0", name ? name :
	    "success");
	return buf;
}

/* The codes of the <rc> children, as a list: "0 1 128". */
static char *
codes(xmpp_stanza_t *el)
{
	struct xgw_buf b = { 0 };
	struct xgw_err e;
	const char *code;

	for (xmpp_stanza_t *s = xmpp_stanza_get_children(el); s != NULL;
	    s = xmpp_stanza_get_next(s))
		if (xmpp_stanza_is_tag(s) &&
		    strcmp(xmpp_stanza_get_name(s), "rc") == 0 &&
		    (code = xmpp_stanza_get_attribute(s, "code")) != NULL &&
		    ((b.len > 0 && xgw_buf_u8(&b, ' ', &e) == -1) ||
		    xgw_buf_put(&b, code, strlen(code), &e) == -1))
			errx(1, "live: %s", e.msg);
	if (xgw_buf_u8(&b, '\0', &e) == -1)
		errx(1, "live: %s", e.msg);
	return (char *)b.data;
}

static void
mqtt_compare(struct cmp *c, xmpp_stanza_t *cap, xmpp_stanza_t *got)
{
	char ra[80], rb[80], *la, *lb;

	reason(cap, ra, sizeof(ra));
	reason(got, rb, sizeof(rb));
	if (strtoul(ra, NULL, 10) != strtoul(rb, NULL, 10))
		live_differ(c, "reason-code", ra, rb);
	la = codes(cap);
	lb = codes(got);
	live_diff_list(c, "rc", la, lb);
	free(la);
	free(lb);
}

/* A PUBLISH's topic and payload; -1 when it is cut short. */
static int
pub_parts(const struct lflow *f, const struct lmsg *m, const uint8_t **topic,
    size_t *tlen, const uint8_t **payload, size_t *plen)
{
	size_t v = var_start(m->p, m->n), plen_len = 0, i;
	uint32_t props = 0;

	if (v + 2 > m->n || v + 2 + xgw_be16(m->p + v) > m->n)
		return -1;
	*topic = m->p + v + 2;
	*tlen = xgw_be16(m->p + v);
	v += 2 + *tlen + (qos(m->p) > 0 ? 2 : 0);
	if (f->level == 5) {
		for (i = v; i < m->n && i < v + 4; i++) {
			props |= (uint32_t)(m->p[i] & 0x7f) << (7 * (i - v));
			if ((m->p[i] & 0x80) == 0)
				break;
		}
		plen_len = i - v + 1;
		v += plen_len + props;
	}
	if (v > m->n)
		return -1;
	*payload = m->p + v;
	*plen = m->n - v;
	return 0;
}

static const char *
topic_shown(const uint8_t *t, size_t n, char *buf, size_t len)
{
	if (xgw_text_safe(t, n) && n <= TOPIC_SHOW)
		snprintf(buf, len, "%.*s", (int)n, t);
	else
		snprintf(buf, len, "(%zu bytes, not shown)", n);
	return buf;
}

/* same: 2 topic and payload, 1 topic only, 0 neither (or cut short). */
static int
same_pub(const struct lflow *f, const struct lmsg *a, const struct lmsg *b)
{
	const uint8_t *ta, *tb, *pa, *pb;
	size_t tla, tlb, pla, plb;

	if (pub_parts(f, a, &ta, &tla, &pa, &pla) == -1 ||
	    pub_parts(f, b, &tb, &tlb, &pb, &plb) == -1 ||
	    tla != tlb || memcmp(ta, tb, tla) != 0)
		return 0;
	return pla == plb && memcmp(pa, pb, pla) == 0 ? 2 : 1;
}

/* Pairs each captured PUBLISH with a live one alike to the level want. */
static void
pair_pubs(struct lflow *f, int want, void (*paired)(struct lflow *,
    struct lmsg *, struct lmsg *, void *), void *arg)
{
	for (size_t i = 0; i < f->npub[0]; i++) {
		struct lmsg *a = &f->pub[0][i];

		for (size_t j = 0; !a->paired && j < f->npub[1]; j++) {
			struct lmsg *b = &f->pub[1][j];

			if (!b->paired && same_pub(f, a, b) >= want) {
				a->paired = b->paired = 1;
				paired(f, a, b, arg);
			}
		}
	}
}

static void
pub_match(struct lflow *f, struct lmsg *a, struct lmsg *b, void *arg)
{
	(void)f, (void)a, (void)b;
	((struct live_pubs *)arg)->match++;
}

static void
pub_differ(struct lflow *f, struct lmsg *a, struct lmsg *b, void *arg)
{
	const uint8_t *t, *pa, *pb;
	size_t tl, pla, plb;
	char shown[TOPIC_SHOW + 40];

	((struct live_pubs *)arg)->differ++;
	(void)pub_parts(f, a, &t, &tl, &pa, &pla);
	(void)pub_parts(f, b, &t, &tl, &pb, &plb);
	live_say(f, "publish to %s: payload: captured %zu bytes, live %zu "
	    "bytes", topic_shown(t, tl, shown, sizeof(shown)), pla, plb);
}

/* The broker's PUBLISHes to us against the captured ones. */
static void
mqtt_end(struct live *l, struct lflow *f)
{
	struct live_pubs *s = live_pubs(l);
	const uint8_t *t, *p;
	size_t tl, pl;
	char shown[TOPIC_SHOW + 40];

	s->captured += f->npub[0];
	s->live += f->npub[1];
	pair_pubs(f, 2, pub_match, s);
	pair_pubs(f, 1, pub_differ, s);
	for (size_t i = 0; i < f->npub[0]; i++) {
		if (f->pub[0][i].paired ||
		    pub_parts(f, &f->pub[0][i], &t, &tl, &p, &pl) == -1)
			continue;
		s->missing++;
		live_say(f, "publish to %s: captured, not received",
		    topic_shown(t, tl, shown, sizeof(shown)));
	}
	/* without captured ones to compare with, they are only counted */
	for (size_t j = 0; f->npub[0] > 0 && j < f->npub[1]; j++) {
		if (f->pub[1][j].paired)
			continue;
		s->extra++;
		if (pub_parts(f, &f->pub[1][j], &t, &tl, &p, &pl) == 0)
			live_say(f, "publish to %s: received, not captured",
			    topic_shown(t, tl, shown, sizeof(shown)));
	}
}

const struct live_proto live_mqtt = {
	.xp = &xgw_mqtt_proto,
	.once = 1,
	.request = mqtt_request,
	.prepare = mqtt_prepare,
	.answer = mqtt_answer,
	.pairs = mqtt_pairs,
	.answer_sess = mqtt_answer_sess,
	.compare = mqtt_compare,
	.end = mqtt_end,
};
