/*
 * MQTT control packets <-> <mqtt/> element, for 3.1, 3.1.1 and 5.0.
 *
 * Every length from the wire is checked against the bytes of the packet
 * before it is used.  Encode builds the bytes from the element and then
 * decodes them again: whatever decode refuses, encode refuses too, so the
 * two can never disagree about what a valid packet is.
 */
#include <stdio.h>
#include <string.h>

#include "mqtt.h"

enum {
	CONNECT = 1, CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP,
	SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK, PINGREQ, PINGRESP,
	DISCONNECT, AUTH
};

static const char *const type_names[16] = {
	NULL, "connect", "connack", "publish", "puback", "pubrec", "pubrel",
	"pubcomp", "subscribe", "suback", "unsubscribe", "unsuback", "pingreq",
	"pingresp", "disconnect", "auth"
};

/* The fixed-header flags every type but PUBLISH must carry. */
static const uint8_t type_flags[16] = {
	[PUBREL] = 2, [SUBSCRIBE] = 2, [UNSUBSCRIBE] = 2
};

#define B(t)	(1u << (t))
/* Will properties: packet type 0 is reserved, so its bit is free. */
#define WILL	B(0)
#define ACKS	(B(PUBACK) | B(PUBREC) | B(PUBREL) | B(PUBCOMP))
#define ALL	0xffffu

enum ptype { P_BYTE, P_U16, P_U32, P_VARINT, P_UTF8, P_BIN, P_PAIR };

struct prop {
	uint8_t		 id;
	uint8_t		 type;
	uint32_t	 in;	/* packets that may carry it */
	uint32_t	 multi;	/* packets that may carry it more than once */
	const char	*name;
};

/* MQTT 5.0 section 2.2.2.2. */
static const struct prop props[] = {
	{ 1, P_BYTE, B(PUBLISH) | WILL, 0, "payload-format-indicator" },
	{ 2, P_U32, B(PUBLISH) | WILL, 0, "message-expiry-interval" },
	{ 3, P_UTF8, B(PUBLISH) | WILL, 0, "content-type" },
	{ 8, P_UTF8, B(PUBLISH) | WILL, 0, "response-topic" },
	{ 9, P_BIN, B(PUBLISH) | WILL, 0, "correlation-data" },
	{ 11, P_VARINT, B(PUBLISH) | B(SUBSCRIBE), B(PUBLISH),
	    "subscription-identifier" },
	{ 17, P_U32, B(CONNECT) | B(CONNACK) | B(DISCONNECT), 0,
	    "session-expiry-interval" },
	{ 18, P_UTF8, B(CONNACK), 0, "assigned-client-identifier" },
	{ 19, P_U16, B(CONNACK), 0, "server-keep-alive" },
	{ 21, P_UTF8, B(CONNECT) | B(CONNACK) | B(AUTH), 0,
	    "authentication-method" },
	{ 22, P_BIN, B(CONNECT) | B(CONNACK) | B(AUTH), 0,
	    "authentication-data" },
	{ 23, P_BYTE, B(CONNECT), 0, "request-problem-information" },
	{ 24, P_U32, WILL, 0, "will-delay-interval" },
	{ 25, P_BYTE, B(CONNECT), 0, "request-response-information" },
	{ 26, P_UTF8, B(CONNACK), 0, "response-information" },
	{ 28, P_UTF8, B(CONNACK) | B(DISCONNECT), 0, "server-reference" },
	{ 31, P_UTF8, B(CONNACK) | ACKS | B(SUBACK) | B(UNSUBACK) |
	    B(DISCONNECT) | B(AUTH), 0, "reason-string" },
	{ 33, P_U16, B(CONNECT) | B(CONNACK), 0, "receive-maximum" },
	{ 34, P_U16, B(CONNECT) | B(CONNACK), 0, "topic-alias-maximum" },
	{ 35, P_U16, B(PUBLISH), 0, "topic-alias" },
	{ 36, P_BYTE, B(CONNACK), 0, "maximum-qos" },
	{ 37, P_BYTE, B(CONNACK), 0, "retain-available" },
	{ 38, P_PAIR, ALL & ~(B(PINGREQ) | B(PINGRESP)), ALL,
	    "user-property" },
	{ 39, P_U32, B(CONNECT) | B(CONNACK), 0, "maximum-packet-size" },
	{ 40, P_BYTE, B(CONNACK), 0, "wildcard-subscription-available" },
	{ 41, P_BYTE, B(CONNACK), 0, "subscription-identifier-available" },
	{ 42, P_BYTE, B(CONNACK), 0, "shared-subscription-available" },
};

struct reason {
	uint8_t		 code;
	uint32_t	 v5;	/* packets of 5.0 that may carry it */
	uint32_t	 v4;	/* packets of 3.1 and 3.1.1 that may carry it */
	const char	*name;
};

#define RC_FAIL	(B(CONNACK) | B(PUBACK) | B(PUBREC) | B(SUBACK) | \
		    B(UNSUBACK) | B(DISCONNECT))

/* MQTT 5.0 section 2.4, and the 3.1.1 CONNACK and SUBACK return codes. */
static const struct reason reasons[] = {
	{ 0x00, B(CONNACK) | ACKS | B(UNSUBACK) | B(AUTH), 0, "success" },
	{ 0x00, B(DISCONNECT), 0, "normal-disconnection" },
	{ 0x00, B(SUBACK), B(SUBACK), "granted-qos-0" },
	{ 0x00, 0, B(CONNACK), "accepted" },
	{ 0x01, B(SUBACK), B(SUBACK), "granted-qos-1" },
	{ 0x01, 0, B(CONNACK), "unacceptable-protocol-version" },
	{ 0x02, B(SUBACK), B(SUBACK), "granted-qos-2" },
	{ 0x02, 0, B(CONNACK), "identifier-rejected" },
	{ 0x03, 0, B(CONNACK), "server-unavailable" },
	{ 0x04, 0, B(CONNACK), "bad-user-name-or-password" },
	{ 0x04, B(DISCONNECT), 0, "disconnect-with-will-message" },
	{ 0x05, 0, B(CONNACK), "not-authorized" },
	{ 0x10, B(PUBACK) | B(PUBREC), 0, "no-matching-subscribers" },
	{ 0x11, B(UNSUBACK), 0, "no-subscription-existed" },
	{ 0x18, B(AUTH), 0, "continue-authentication" },
	{ 0x19, B(AUTH), 0, "re-authenticate" },
	{ 0x80, RC_FAIL, B(SUBACK), "unspecified-error" },
	{ 0x81, B(CONNACK) | B(DISCONNECT), 0, "malformed-packet" },
	{ 0x82, B(CONNACK) | B(DISCONNECT), 0, "protocol-error" },
	{ 0x83, RC_FAIL, 0, "implementation-specific-error" },
	{ 0x84, B(CONNACK), 0, "unsupported-protocol-version" },
	{ 0x85, B(CONNACK), 0, "client-identifier-not-valid" },
	{ 0x86, B(CONNACK), 0, "bad-user-name-or-password" },
	{ 0x87, RC_FAIL, 0, "not-authorized" },
	{ 0x88, B(CONNACK), 0, "server-unavailable" },
	{ 0x89, B(CONNACK) | B(DISCONNECT), 0, "server-busy" },
	{ 0x8a, B(CONNACK), 0, "banned" },
	{ 0x8b, B(DISCONNECT), 0, "server-shutting-down" },
	{ 0x8c, B(CONNACK) | B(DISCONNECT), 0, "bad-authentication-method" },
	{ 0x8d, B(DISCONNECT), 0, "keep-alive-timeout" },
	{ 0x8e, B(DISCONNECT), 0, "session-taken-over" },
	{ 0x8f, B(SUBACK) | B(UNSUBACK) | B(DISCONNECT), 0,
	    "topic-filter-invalid" },
	{ 0x90, B(CONNACK) | B(PUBACK) | B(PUBREC) | B(DISCONNECT), 0,
	    "topic-name-invalid" },
	{ 0x91, B(PUBACK) | B(PUBREC) | B(SUBACK) | B(UNSUBACK), 0,
	    "packet-identifier-in-use" },
	{ 0x92, B(PUBREL) | B(PUBCOMP), 0, "packet-identifier-not-found" },
	{ 0x93, B(DISCONNECT), 0, "receive-maximum-exceeded" },
	{ 0x94, B(DISCONNECT), 0, "topic-alias-invalid" },
	{ 0x95, B(CONNACK) | B(DISCONNECT), 0, "packet-too-large" },
	{ 0x96, B(DISCONNECT), 0, "message-rate-too-high" },
	{ 0x97, B(CONNACK) | B(PUBACK) | B(PUBREC) | B(SUBACK) |
	    B(DISCONNECT), 0, "quota-exceeded" },
	{ 0x98, B(DISCONNECT), 0, "administrative-action" },
	{ 0x99, B(CONNACK) | B(PUBACK) | B(PUBREC) | B(DISCONNECT), 0,
	    "payload-format-invalid" },
	{ 0x9a, B(CONNACK) | B(DISCONNECT), 0, "retain-not-supported" },
	{ 0x9b, B(CONNACK) | B(DISCONNECT), 0, "qos-not-supported" },
	{ 0x9c, B(CONNACK) | B(DISCONNECT), 0, "use-another-server" },
	{ 0x9d, B(CONNACK) | B(DISCONNECT), 0, "server-moved" },
	{ 0x9e, B(SUBACK) | B(DISCONNECT), 0,
	    "shared-subscriptions-not-supported" },
	{ 0x9f, B(CONNACK) | B(DISCONNECT), 0, "connection-rate-exceeded" },
	{ 0xa0, B(DISCONNECT), 0, "maximum-connect-time" },
	{ 0xa1, B(SUBACK) | B(DISCONNECT), 0,
	    "subscription-identifiers-not-supported" },
	{ 0xa2, B(SUBACK) | B(DISCONNECT), 0,
	    "wildcard-subscriptions-not-supported" },
};

#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))

static const struct prop *
prop_of(unsigned id)
{
	for (size_t i = 0; i < NELEM(props); i++)
		if (props[i].id == id)
			return &props[i];
	return NULL;
}

const char *
xgw_mqtt_prop_name(unsigned id)
{
	const struct prop *p = prop_of(id);

	return p != NULL ? p->name : NULL;
}

static const char *
reason_name(unsigned type, unsigned level, unsigned code)
{
	for (size_t i = 0; i < NELEM(reasons); i++)
		if (reasons[i].code == code &&
		    ((level == 5 ? reasons[i].v5 : reasons[i].v4) & B(type)))
			return reasons[i].name;
	return NULL;
}

/*
 * UTF-8 as MQTT wants it (1.5.4): well-formed, no surrogates, no U+0000.
 * Returns the index of the first bad byte, or n.
 */
static size_t
utf8_bad(const uint8_t *p, size_t n)
{
	size_t i = 0;

	while (i < n) {
		unsigned c = p[i], len, cp;

		if (c < 0x80) {
			if (c == 0)
				return i;
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			len = 2, cp = c & 0x1f;
		else if (c >= 0xe0 && c <= 0xef)
			len = 3, cp = c & 0x0f;
		else if (c >= 0xf0 && c <= 0xf4)
			len = 4, cp = c & 0x07;
		else
			return i;
		if (n - i < len)
			return i;
		for (unsigned k = 1; k < len; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return i;
			cp = cp << 6 | (p[i + k] & 0x3f);
		}
		if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
		    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
			return i;
		i += len;
	}
	return n;
}

/*
 * Variable Byte Integer (1.5.5): at most four bytes, and the minimal
 * form, which is what makes re-encoding exact.  p[0] is byte at of the
 * packet.  1 and *v, *len; 0 when the n bytes end inside it; -1 error.
 */
static int
varint(const uint8_t *p, size_t n, size_t at, const char *what, uint32_t *v,
    size_t *len, struct xgw_err *err)
{
	uint32_t x = 0;

	for (size_t i = 0; i < 4; i++) {
		if (i == n)
			return 0;
		x |= (uint32_t)(p[i] & 0x7f) << 7 * i;
		if (p[i] & 0x80)
			continue;
		if (i > 0 && p[i] == 0)
			return xgw_fail(err, at, "bad-varint",
			    "%s takes %zu bytes but its last is 0: not the minimal encoding",
			    what, i + 1);
		*v = x;
		*len = i + 1;
		return 1;
	}
	return xgw_fail(err, at + 3, "bad-varint",
	    "%s continues past its fourth byte, at most four are allowed", what);
}

int
xgw_mqtt_frame(const uint8_t *p, size_t n, size_t *pdulen,
    struct xgw_err *err)
{
	uint32_t rl = 0;
	size_t k = 0;
	int rc;

	if (n < 2)
		return 0;
	if ((rc = varint(p + 1, n - 1, 1, "remaining length", &rl, &k,
	    err)) != 1)
		return rc;
	if (1 + k + rl > XGW_PDU_MAX)
		return xgw_fail(err, 1, "too-large",
		    "remaining length is %u, a packet may take at most %u bytes",
		    rl, XGW_PDU_MAX);
	if (n < 1 + k + rl)
		return 0;
	*pdulen = 1 + k + rl;
	return 1;
}

/* Decoding: a cursor over the packet that never moves past its end. */
struct dc {
	xmpp_ctx_t		*ctx;
	xmpp_stanza_t		*el;
	struct xgw_mqtt_sess	*sess;
	const uint8_t		*p;
	size_t			 n, off;
	unsigned		 type, flags, level;
	struct xgw_err		*err;
};

static int
nomem(struct dc *d)
{
	return xgw_fail(d->err, d->off, "no-memory", "out of memory");
}

static int
need(struct dc *d, size_t k, const char *what)
{
	if (d->n - d->off < k)
		return xgw_fail(d->err, d->off, "bad-length",
		    "%s needs %zu bytes, the %s has %zu left", what, k,
		    type_names[d->type], d->n - d->off);
	return 0;
}

static int
rd_u8(struct dc *d, const char *what, unsigned *v)
{
	if (need(d, 1, what) == -1)
		return -1;
	*v = d->p[d->off++];
	return 0;
}

static int
rd_u16(struct dc *d, const char *what, unsigned *v)
{
	if (need(d, 2, what) == -1)
		return -1;
	*v = xgw_be16(d->p + d->off);
	d->off += 2;
	return 0;
}

static int
rd_varint(struct dc *d, const char *what, uint32_t *v)
{
	size_t k = 0;
	int rc;

	rc = varint(d->p + d->off, d->n - d->off, d->off, what, v, &k, d->err);
	if (rc == 0)
		return xgw_fail(d->err, d->off, "bad-length",
		    "%s runs past the end of the %s", what,
		    type_names[d->type]);
	if (rc == -1)
		return -1;
	d->off += k;
	return 0;
}

/* A two-byte length and its bytes; utf8 asks for a UTF-8 string. */
static int
rd_str(struct dc *d, const char *what, int utf8, const uint8_t **s,
    size_t *len)
{
	size_t at = d->off, bad;
	unsigned l;

	if (rd_u16(d, what, &l) == -1)
		return -1;
	if (l > d->n - d->off)
		return xgw_fail(d->err, at, "bad-length",
		    "%s is %u bytes long, the %s has %zu left", what, l,
		    type_names[d->type], d->n - d->off);
	*s = d->p + d->off;
	*len = l;
	if (utf8 && (bad = utf8_bad(*s, l)) != l)
		return xgw_fail(d->err, d->off + bad, "bad-utf8",
		    "%s: byte 0x%02x at its offset %zu is not well-formed UTF-8 without U+0000",
		    what, (*s)[bad], bad);
	d->off += l;
	return 0;
}

/* A UTF-8 string into attribute attr (or attr-b64) of el. */
static int
rd_text(struct dc *d, xmpp_stanza_t *el, const char *attr, const uint8_t **s,
    size_t *len)
{
	if (rd_str(d, attr, 1, s, len) == -1)
		return -1;
	if (xgw_set_bytes(d->ctx, el, attr, *s, *len) == -1)
		return nomem(d);
	return 0;
}

/* Binary data into a base64 child of el. */
static int
rd_bin(struct dc *d, xmpp_stanza_t *el, const char *name)
{
	const uint8_t *s = NULL;
	size_t len = 0;

	if (rd_str(d, name, 0, &s, &len) == -1)
		return -1;
	if (xgw_add_b64(d->ctx, el, name, s, len) == -1)
		return nomem(d);
	return 0;
}

static int
rd_id(struct dc *d, xmpp_stanza_t *el)
{
	size_t at = d->off;
	unsigned id;

	if (rd_u16(d, "packet identifier", &id) == -1)
		return -1;
	if (id == 0)
		return xgw_fail(d->err, at, "bad-packet-id",
		    "packet identifier is 0, a %s needs 1..65535",
		    type_names[d->type]);
	if (xgw_set_uint(el, "id", id) == -1)
		return nomem(d);
	return 0;
}

static int
rd_prop_value(struct dc *d, const struct prop *p, xmpp_stanza_t *c)
{
	const uint8_t *s;
	size_t len;
	unsigned v;
	uint32_t u;

	switch (p->type) {
	case P_BYTE:
		if (rd_u8(d, p->name, &v) == -1)
			return -1;
		u = v;
		break;
	case P_U16:
		if (rd_u16(d, p->name, &v) == -1)
			return -1;
		u = v;
		break;
	case P_U32:
		if (need(d, 4, p->name) == -1)
			return -1;
		u = xgw_be32(d->p + d->off);
		d->off += 4;
		break;
	case P_VARINT:
		if (rd_varint(d, p->name, &u) == -1)
			return -1;
		if (u == 0)
			return xgw_fail(d->err, d->off - 1, "bad-property",
			    "%s is 0, expected 1..%u", p->name,
			    XGW_MQTT_VARINT_MAX);
		break;
	case P_PAIR:
		if (rd_text(d, c, "key", &s, &len) == -1)
			return -1;
		/* FALLTHROUGH */
	case P_UTF8:
		return rd_text(d, c, "value", &s, &len);
	default:
		if (rd_str(d, p->name, 0, &s, &len) == -1)
			return -1;
		if (xgw_set_bytes(d->ctx, c, "value", s, len) == -1)
			return nomem(d);
		return 0;
	}
	if (xgw_set_uint(c, "value", u) == -1)
		return nomem(d);
	return 0;
}

/*
 * A property length and the properties, as <child> elements of parent in
 * wire order; countattr says how many, and that the block was there.
 */
static int
rd_props(struct dc *d, xmpp_stanza_t *parent, const char *child,
    const char *countattr, uint32_t mask)
{
	const char *where = mask == WILL ? "the will" : type_names[d->type];
	size_t at = d->off, end, saved = d->n, count = 0;
	uint64_t seen = 0;
	uint32_t plen, id;

	if (rd_varint(d, "property length", &plen) == -1)
		return -1;
	if (plen > d->n - d->off)
		return xgw_fail(d->err, at, "bad-length",
		    "property length is %u, the %s has %zu bytes left", plen,
		    type_names[d->type], d->n - d->off);
	end = d->off + plen;
	d->n = end;
	while (d->off < end) {
		const struct prop *p;
		xmpp_stanza_t *c;

		at = d->off;
		if (rd_varint(d, "property identifier", &id) == -1)
			return -1;
		if ((p = prop_of(id)) == NULL || !(p->in & mask))
			return xgw_fail(d->err, at, "bad-property",
			    "property %u%s%s is not allowed in %s", id,
			    p ? " " : "", p ? p->name : "", where);
		if ((seen & 1ull << id) && !(p->multi & mask))
			return xgw_fail(d->err, at, "dup-property",
			    "%s appears twice in %s, at most once is allowed",
			    p->name, where);
		seen |= 1ull << id;
		if ((c = xgw_el_new(d->ctx, child, NULL)) == NULL ||
		    xgw_el_add(parent, c) == -1 ||
		    xgw_set_uint(c, "id", id) == -1 ||
		    xgw_set_str(c, "name", p->name) == -1)
			return nomem(d);
		if (rd_prop_value(d, p, c) == -1)
			return -1;
		count++;
	}
	d->n = saved;
	if (xgw_set_uint(parent, countattr, count) == -1)
		return nomem(d);
	return 0;
}

static int
rd_reason(struct dc *d, xmpp_stanza_t *el, const char *codeattr,
    const char *nameattr)
{
	const char *name;
	size_t at = d->off;
	unsigned rc;

	if (rd_u8(d, "reason code", &rc) == -1)
		return -1;
	if ((name = reason_name(d->type, d->level, rc)) == NULL)
		return xgw_fail(d->err, at, "bad-reason",
		    "reason code 0x%02x is not defined for a %s of level %u",
		    rc, type_names[d->type], d->level);
	if (xgw_set_uint(el, codeattr, rc) == -1 ||
	    xgw_set_str(el, nameattr, name) == -1)
		return nomem(d);
	return 0;
}

static int
rd_topic_check(struct dc *d, size_t at, const uint8_t *s, size_t len,
    const char *what, int wild)
{
	if (len == 0 && (wild || d->level < 5))
		return xgw_fail(d->err, at, "bad-topic",
		    "%s is empty, expected at least one character", what);
	if (!wild && (memchr(s, '+', len) != NULL || memchr(s, '#', len) != NULL))
		return xgw_fail(d->err, at, "bad-topic",
		    "%s holds a wildcard (+ or #), which only filters may",
		    what);
	return 0;
}

static int
dec_connect(struct dc *d)
{
	const uint8_t *s;
	size_t len, at;
	unsigned level, fl, qos, keep;
	int is31;

	at = d->off;
	if (rd_str(d, "protocol name", 0, &s, &len) == -1 ||
	    rd_u8(d, "protocol level", &level) == -1)
		return -1;
	is31 = len == 6 && memcmp(s, "MQIsdp", 6) == 0;
	if (!is31 && !(len == 4 && memcmp(s, "MQTT", 4) == 0))
		return xgw_fail(d->err, at, "bad-protocol",
		    "protocol name is %zu bytes \"%.*s\", expected MQTT or MQIsdp",
		    len, (int)(len < 16 ? len : 16), (const char *)s);
	if (is31 ? level != 3 : level < 4 || level > 5)
		return xgw_fail(d->err, d->off - 1, "bad-version",
		    "protocol level is %u, %s is level %s", level,
		    is31 ? "MQIsdp" : "MQTT", is31 ? "3" : "4 or 5");
	/* the level holds for the connection even if the rest is bad */
	d->level = d->sess->level = level;
	d->sess->learnt = XGW_MQTT_CONNECT;
	at = d->off;
	if (rd_u8(d, "connect flags", &fl) == -1 ||
	    rd_u16(d, "keep alive", &keep) == -1)
		return -1;
	qos = fl >> 3 & 3;
	if (fl & 1)
		return xgw_fail(d->err, at, "bad-connect-flags",
		    "connect flags 0x%02x: reserved bit 0 is set", fl);
	if (qos == 3)
		return xgw_fail(d->err, at, "bad-qos",
		    "connect flags 0x%02x: will QoS is 3, expected 0..2", fl);
	if (!(fl & 4) && (fl & 0x38))
		return xgw_fail(d->err, at, "bad-connect-flags",
		    "connect flags 0x%02x: will QoS or retain without the will flag",
		    fl);
	if (level < 5 && (fl & 0xc0) == 0x40)
		return xgw_fail(d->err, at, "bad-connect-flags",
		    "connect flags 0x%02x: password without user name before 5.0",
		    fl);
	if (xgw_set_str(d->el, "protocol", is31 ? "MQIsdp" : "MQTT") == -1 ||
	    xgw_set_uint(d->el, "clean-start", fl >> 1 & 1) == -1 ||
	    xgw_set_uint(d->el, "keepalive", keep) == -1)
		return nomem(d);
	if (level == 5 &&
	    rd_props(d, d->el, "prop", "props", B(CONNECT)) == -1)
		return -1;
	if (rd_text(d, d->el, "client-id", &s, &len) == -1)
		return -1;
	if (fl & 4) {
		if (xgw_set_uint(d->el, "will-qos", qos) == -1 ||
		    xgw_set_uint(d->el, "will-retain", fl >> 5 & 1) == -1)
			return nomem(d);
		if (level == 5 &&
		    rd_props(d, d->el, "will-prop", "will-props", WILL) == -1)
			return -1;
		at = d->off;
		if (rd_text(d, d->el, "will-topic", &s, &len) == -1 ||
		    rd_topic_check(d, at, s, len, "will topic", 0) == -1 ||
		    rd_bin(d, d->el, "will-payload") == -1)
			return -1;
	}
	if ((fl & 0x80) && rd_text(d, d->el, "username", &s, &len) == -1)
		return -1;
	if ((fl & 0x40) && rd_bin(d, d->el, "password") == -1)
		return -1;
	return 0;
}

static int
dec_connack(struct dc *d)
{
	unsigned fl;

	if (rd_u8(d, "acknowledge flags", &fl) == -1)
		return -1;
	if (fl & 0xfe)
		return xgw_fail(d->err, d->off - 1, "bad-flags",
		    "acknowledge flags 0x%02x: reserved bits 7-1 are set", fl);
	if (xgw_set_uint(d->el, "session-present", fl) == -1)
		return nomem(d);
	if (rd_reason(d, d->el, "reason-code", "reason") == -1)
		return -1;
	if (d->level == 5)
		return rd_props(d, d->el, "prop", "props", B(CONNACK));
	return 0;
}

static int
dec_publish(struct dc *d)
{
	unsigned qos = d->flags >> 1 & 3;
	const uint8_t *s;
	size_t len;

	if (qos == 3)
		return xgw_fail(d->err, 0, "bad-qos",
		    "PUBLISH flags 0x%x: QoS is 3, expected 0..2", d->flags);
	if (qos == 0 && (d->flags & 8))
		return xgw_fail(d->err, 0, "bad-flags",
		    "PUBLISH flags 0x%x: DUP is set on a QoS 0 message",
		    d->flags);
	if (xgw_set_uint(d->el, "qos", qos) == -1 ||
	    xgw_set_uint(d->el, "retain", d->flags & 1) == -1 ||
	    xgw_set_uint(d->el, "dup", d->flags >> 3) == -1)
		return nomem(d);
	if (rd_text(d, d->el, "topic", &s, &len) == -1 ||
	    rd_topic_check(d, d->off - len - 2, s, len, "topic", 0) == -1)
		return -1;
	if (qos > 0 && rd_id(d, d->el) == -1)
		return -1;
	if (d->level == 5 &&
	    rd_props(d, d->el, "prop", "props", B(PUBLISH)) == -1)
		return -1;
	if (xgw_set_uint(d->el, "payload-size", d->n - d->off) == -1 ||
	    xgw_add_b64(d->ctx, d->el, "payload", d->p + d->off,
	    d->n - d->off) == -1)
		return nomem(d);
	d->off = d->n;
	return 0;
}

/* DISCONNECT and AUTH of 5.0: reason code and properties, each optional. */
static int
dec_reason(struct dc *d)
{
	if (d->level < 5 || d->off == d->n)
		return 0;
	if (rd_reason(d, d->el, "reason-code", "reason") == -1)
		return -1;
	if (d->off == d->n)
		return 0;
	return rd_props(d, d->el, "prop", "props", B(d->type));
}

static int
dec_ack(struct dc *d)
{
	if (rd_id(d, d->el) == -1)
		return -1;
	return dec_reason(d);
}

/* SUBSCRIBE and UNSUBSCRIBE: topic filters, with options for SUBSCRIBE. */
static int
dec_filters(struct dc *d)
{
	int sub = d->type == SUBSCRIBE;
	unsigned reserved = d->level == 5 ? 0xc0 : 0xfc;

	if (rd_id(d, d->el) == -1)
		return -1;
	if (d->level == 5 &&
	    rd_props(d, d->el, "prop", "props", B(d->type)) == -1)
		return -1;
	if (d->off == d->n)
		return xgw_fail(d->err, d->off, "empty",
		    "%s without a topic filter, expected at least one",
		    type_names[d->type]);
	while (d->off < d->n) {
		xmpp_stanza_t *c;
		const uint8_t *s;
		size_t len, at = d->off;
		unsigned o;

		if ((c = xgw_el_new(d->ctx, sub ? "sub" : "unsub",
		    NULL)) == NULL || xgw_el_add(d->el, c) == -1)
			return nomem(d);
		if (rd_text(d, c, "filter", &s, &len) == -1 ||
		    rd_topic_check(d, at, s, len, "topic filter", 1) == -1)
			return -1;
		if (!sub)
			continue;
		if (rd_u8(d, "subscription options", &o) == -1)
			return -1;
		if ((o & 3) == 3)
			return xgw_fail(d->err, d->off - 1, "bad-qos",
			    "subscription options 0x%02x: QoS 3, expected 0..2",
			    o);
		if ((o & reserved) || (o & 0x30) == 0x30)
			return xgw_fail(d->err, d->off - 1, "bad-option",
			    "subscription options 0x%02x: reserved bits 0x%02x must be 0 and retain handling 0..2",
			    o, reserved);
		if (xgw_set_uint(c, "qos", o & 3) == -1)
			return nomem(d);
		if (d->level == 5 &&
		    (xgw_set_uint(c, "no-local", o >> 2 & 1) == -1 ||
		    xgw_set_uint(c, "retain-as-published", o >> 3 & 1) == -1 ||
		    xgw_set_uint(c, "retain-handling", o >> 4 & 3) == -1))
			return nomem(d);
	}
	return 0;
}

/* SUBACK and UNSUBACK: a reason code per filter (none in 3.1.1 UNSUBACK). */
static int
dec_rcs(struct dc *d)
{
	if (rd_id(d, d->el) == -1)
		return -1;
	if (d->level == 5 &&
	    rd_props(d, d->el, "prop", "props", B(d->type)) == -1)
		return -1;
	if (d->type == UNSUBACK && d->level < 5)
		return 0;
	if (d->off == d->n)
		return xgw_fail(d->err, d->off, "empty",
		    "%s without a reason code, expected one per filter",
		    type_names[d->type]);
	while (d->off < d->n) {
		xmpp_stanza_t *c;

		if ((c = xgw_el_new(d->ctx, "rc", NULL)) == NULL ||
		    xgw_el_add(d->el, c) == -1)
			return nomem(d);
		if (rd_reason(d, c, "code", "name") == -1)
			return -1;
	}
	return 0;
}

static int (*const decoders[16])(struct dc *) = {
	[CONNECT] = dec_connect, [CONNACK] = dec_connack,
	[PUBLISH] = dec_publish, [PUBACK] = dec_ack, [PUBREC] = dec_ack,
	[PUBREL] = dec_ack, [PUBCOMP] = dec_ack, [SUBSCRIBE] = dec_filters,
	[SUBACK] = dec_rcs, [UNSUBSCRIBE] = dec_filters,
	[UNSUBACK] = dec_rcs, [DISCONNECT] = dec_reason, [AUTH] = dec_reason
};

/* Packets of these shapes exist only in 5.0: reason codes, properties. */
static int
v5_shape(unsigned type, size_t rl)
{
	switch (type) {
	case CONNACK:
	case UNSUBACK:
		return rl != 2;
	case PUBACK:
	case PUBREC:
	case PUBREL:
	case PUBCOMP:
		return rl > 2;
	case DISCONNECT:
		return rl > 0;
	case AUTH:
		return 1;
	}
	return 0;
}

/*
 * Without the CONNECT (a capture that starts late) the level is read from
 * the first packet that only 5.0 can produce, and is 3.1.1 until then.
 */
static unsigned
level_of(struct xgw_mqtt_sess *s, unsigned type, size_t rl, int *guessed)
{
	*guessed = s->learnt != XGW_MQTT_CONNECT;
	if (s->learnt != XGW_MQTT_UNKNOWN)
		return s->level;
	if (!v5_shape(type, rl))
		return 4;
	s->level = 5;
	s->learnt = XGW_MQTT_GUESSED;
	return 5;
}

static int
decode_body(struct dc *d, size_t hdr)
{
	int guessed = 0;

	d->type = d->p[0] >> 4;
	d->flags = d->p[0] & 15;
	d->off = hdr;
	if (d->type != CONNECT)
		d->level = level_of(d->sess, d->type, d->n - hdr, &guessed);
	if (d->type == 0 || (d->type == AUTH && d->level < 5))
		return xgw_fail(d->err, 0, "bad-type",
		    "packet type %u is reserved%s", d->type,
		    d->type ? " before 5.0" : "");
	if (d->type != PUBLISH && d->flags != type_flags[d->type])
		return xgw_fail(d->err, 0, "bad-flags",
		    "%s flags are 0x%x, expected 0x%x", type_names[d->type],
		    d->flags, type_flags[d->type]);
	if ((d->el = xgw_el_new(d->ctx, "mqtt", XGW_NS_MQTT)) == NULL ||
	    xgw_set_str(d->el, "type", type_names[d->type]) == -1)
		return nomem(d);
	if (decoders[d->type] != NULL && decoders[d->type](d) == -1)
		return -1;
	if (d->off != d->n)
		return xgw_fail(d->err, d->off, "trailing",
		    "%zu bytes after the last field of the %s",
		    d->n - d->off, type_names[d->type]);
	if (xgw_set_uint(d->el, "level", d->level) == -1 ||
	    (guessed && xgw_set_str(d->el, "level-source", "guessed") == -1))
		return nomem(d);
	return 0;
}

int
xgw_mqtt_decode(xmpp_ctx_t *ctx, struct xgw_mqtt_sess *sess,
    const uint8_t *p, size_t n, xmpp_stanza_t **out, struct xgw_err *err)
{
	struct xgw_mqtt_sess none = { 0, XGW_MQTT_UNKNOWN };
	struct dc d = { ctx, NULL, sess ? sess : &none, p, n, 0, 0, 0, 0,
	    err };
	size_t len, hdr;
	int rc;

	*out = NULL;
	if ((rc = xgw_mqtt_frame(p, n, &len, err)) == -1)
		return -1;
	if (rc == 0)
		return xgw_fail(err, n, "truncated",
		    "%zu bytes do not hold the whole packet its fixed header announces",
		    n);
	if (len != n)
		return xgw_fail(err, len, "trailing",
		    "%zu bytes after the packet of %zu", n - len, len);
	for (hdr = 2; p[hdr - 1] & 0x80; hdr++)
		;
	if (decode_body(&d, hdr) == -1) {
		if (d.el != NULL)
			xmpp_stanza_release(d.el);
		return -1;
	}
	*out = d.el;
	return 0;
}

/* Encoding: the element's fields, in wire order, into the packet body. */
struct ec {
	xmpp_stanza_t	*el;
	struct xgw_buf	*b;
	unsigned	 type, level, flags;
	struct xgw_err	*err;
};

static int
has(xmpp_stanza_t *el, const char *attr)
{
	return xmpp_stanza_get_attribute(el, attr) != NULL;
}

/* attr or attr-b64, the two forms of xgw_set_bytes */
static int
has_bytes(xmpp_stanza_t *el, const char *attr)
{
	char b64[64];

	snprintf(b64, sizeof(b64), "%s-b64", attr);
	return has(el, attr) || has(el, b64);
}

static size_t
children(xmpp_stanza_t *el, const char *name)
{
	xmpp_stanza_t *c;
	size_t n = 0;

	for (c = xmpp_stanza_get_children(el); c != NULL;
	    c = xmpp_stanza_get_next(c))
		if (xmpp_stanza_is_tag(c) &&
		    strcmp(xmpp_stanza_get_name(c), name) == 0)
			n++;
	return n;
}

/* A name attribute is optional, but when there it must be the right one. */
static int
name_check(xmpp_stanza_t *el, const char *attr, const char *want,
    struct xgw_err *err)
{
	const char *s = xmpp_stanza_get_attribute(el, attr);

	if (s != NULL && (want == NULL || strcmp(s, want) != 0))
		return xgw_fail(err, 0, "bad-element",
		    "<%s %s=\"%.40s\">: expected \"%s\"",
		    xmpp_stanza_get_name(el), attr, s, want ? want : "none");
	return 0;
}

static int
put_varint(struct xgw_buf *b, uint32_t v, struct xgw_err *err)
{
	do {
		if (xgw_buf_u8(b, (v > 0x7f) << 7 | (v & 0x7f), err) == -1)
			return -1;
		v >>= 7;
	} while (v != 0);
	return 0;
}

/* Attribute attr of el as width bytes, or as a varint when width is 0. */
static int
put_uint(struct xgw_buf *b, xmpp_stanza_t *el, const char *attr,
    uint64_t max, int width, struct xgw_err *err)
{
	uint64_t v;

	if (xgw_get_uint(el, attr, max, &v, err) == -1)
		return -1;
	switch (width) {
	case 0:
		return put_varint(b, v, err);
	case 1:
		return xgw_buf_u8(b, v, err);
	case 2:
		return xgw_buf_u16(b, v, err);
	}
	return xgw_buf_u16(b, v >> 16, err) == -1 ? -1 :
	    xgw_buf_u16(b, v & 0xffff, err);
}

static int
patch_len(struct xgw_buf *b, size_t at, size_t n, const char *what,
    struct xgw_err *err)
{
	if (n > 65535)
		return xgw_fail(err, 0, "bad-element",
		    "%s is %zu bytes, at most 65535", what, n);
	b->data[at] = n >> 8;
	b->data[at + 1] = n & 0xff;
	return 0;
}

/* attr (or attr-b64) of el after its two-byte length */
static int
put_text(struct xgw_buf *b, xmpp_stanza_t *el, const char *attr,
    struct xgw_err *err)
{
	size_t at = b->len, n;

	if (xgw_buf_u16(b, 0, err) == -1 ||
	    xgw_get_bytes(el, attr, b, &n, err) == -1)
		return -1;
	return patch_len(b, at, n, attr, err);
}

/* the base64 child name of el after its two-byte length */
static int
put_bin(struct xgw_buf *b, xmpp_stanza_t *el, const char *name,
    struct xgw_err *err)
{
	size_t at = b->len, n;

	if (xgw_buf_u16(b, 0, err) == -1 ||
	    xgw_get_b64(el, name, b, &n, err) == -1)
		return -1;
	return patch_len(b, at, n, name, err);
}

static int
wr_prop(struct xgw_buf *b, xmpp_stanza_t *c, struct xgw_err *err)
{
	const struct prop *p;
	uint64_t id;

	if (xgw_get_uint(c, "id", 127, &id, err) == -1)
		return -1;
	if ((p = prop_of(id)) == NULL)
		return xgw_fail(err, 0, "bad-element",
		    "<%s id=\"%llu\">: 5.0 defines no such property",
		    xmpp_stanza_get_name(c), (unsigned long long)id);
	if (name_check(c, "name", p->name, err) == -1 ||
	    xgw_buf_u8(b, id, err) == -1)
		return -1;
	switch (p->type) {
	case P_BYTE:
		return put_uint(b, c, "value", 255, 1, err);
	case P_U16:
		return put_uint(b, c, "value", 65535, 2, err);
	case P_U32:
		return put_uint(b, c, "value", UINT32_MAX, 4, err);
	case P_VARINT:
		return put_uint(b, c, "value", XGW_MQTT_VARINT_MAX, 0, err);
	case P_PAIR:
		if (put_text(b, c, "key", err) == -1)
			return -1;
		/* FALLTHROUGH */
	default:
		return put_text(b, c, "value", err);
	}
}

/*
 * The property block: countattr says that it is on the wire and how many
 * <child> elements it holds.  Optional blocks (acknowledgements,
 * DISCONNECT, AUTH) may be left out; before 5.0 there are none.
 */
static int
wr_props(struct ec *e, const char *child, const char *countattr,
    int optional)
{
	struct xgw_buf tmp = { NULL, 0, 0 };
	uint64_t count;
	xmpp_stanza_t *c;
	size_t n = 0;
	int rc = -1;

	if (e->level < 5 || (optional && !has(e->el, countattr))) {
		if (has(e->el, countattr) || children(e->el, child) > 0)
			return xgw_fail(e->err, 0, "bad-element",
			    "%s or <%s> in a %s of level %u that has no property block",
			    countattr, child, type_names[e->type], e->level);
		return 0;
	}
	if (xgw_get_uint(e->el, countattr, XGW_PDU_MAX, &count, e->err) == -1)
		return -1;
	for (c = xmpp_stanza_get_children(e->el); c != NULL;
	    c = xmpp_stanza_get_next(c)) {
		if (!xmpp_stanza_is_tag(c) ||
		    strcmp(xmpp_stanza_get_name(c), child) != 0)
			continue;
		if (wr_prop(&tmp, c, e->err) == -1)
			goto done;
		n++;
	}
	if (n != count)
		xgw_fail(e->err, 0, "bad-element",
		    "%s is %llu but there are %zu <%s> elements", countattr,
		    (unsigned long long)count, n, child);
	else if (put_varint(e->b, tmp.len, e->err) == 0 &&
	    xgw_buf_put(e->b, tmp.data, tmp.len, e->err) == 0)
		rc = 0;
done:
	xgw_buf_free(&tmp);
	return rc;
}

static int
wr_reason(struct ec *e, xmpp_stanza_t *el, const char *codeattr,
    const char *nameattr)
{
	uint64_t rc;

	if (xgw_get_uint(el, codeattr, 255, &rc, e->err) == -1 ||
	    name_check(el, nameattr, reason_name(e->type, e->level, rc),
	    e->err) == -1)
		return -1;
	return xgw_buf_u8(e->b, rc, e->err);
}

static int
wr_id(struct ec *e)
{
	return put_uint(e->b, e->el, "id", 65535, 2, e->err);
}

static int
enc_connect(struct ec *e)
{
	const char *proto = xmpp_stanza_get_attribute(e->el, "protocol");
	int will = has_bytes(e->el, "will-topic");
	int user = has_bytes(e->el, "username");
	int pass = xgw_child(e->el, "password") != NULL;
	uint64_t clean, keep, wqos = 0, wret = 0;

	if (proto == NULL || (strcmp(proto, "MQTT") != 0 &&
	    strcmp(proto, "MQIsdp") != 0))
		return xgw_fail(e->err, 0, "bad-element",
		    "a connect needs protocol=\"MQTT\" or protocol=\"MQIsdp\"");
	if (!will && (has(e->el, "will-qos") || has(e->el, "will-retain") ||
	    has(e->el, "will-props") || children(e->el, "will-prop") > 0 ||
	    xgw_child(e->el, "will-payload") != NULL))
		return xgw_fail(e->err, 0, "bad-element",
		    "will fields in a connect without will-topic");
	if (xgw_get_uint(e->el, "clean-start", 1, &clean, e->err) == -1 ||
	    xgw_get_uint(e->el, "keepalive", 65535, &keep, e->err) == -1 ||
	    (will && (xgw_get_uint(e->el, "will-qos", 2, &wqos, e->err) == -1 ||
	    xgw_get_uint(e->el, "will-retain", 1, &wret, e->err) == -1)))
		return -1;
	if (xgw_buf_u16(e->b, strlen(proto), e->err) == -1 ||
	    xgw_buf_put(e->b, proto, strlen(proto), e->err) == -1 ||
	    xgw_buf_u8(e->b, e->level, e->err) == -1 ||
	    xgw_buf_u8(e->b, user << 7 | pass << 6 | wret << 5 | wqos << 3 |
	    will << 2 | clean << 1, e->err) == -1 ||
	    xgw_buf_u16(e->b, keep, e->err) == -1 ||
	    wr_props(e, "prop", "props", 0) == -1 ||
	    put_text(e->b, e->el, "client-id", e->err) == -1)
		return -1;
	if (will && (wr_props(e, "will-prop", "will-props", 0) == -1 ||
	    put_text(e->b, e->el, "will-topic", e->err) == -1 ||
	    put_bin(e->b, e->el, "will-payload", e->err) == -1))
		return -1;
	if (user && put_text(e->b, e->el, "username", e->err) == -1)
		return -1;
	if (pass && put_bin(e->b, e->el, "password", e->err) == -1)
		return -1;
	return 0;
}

static int
enc_connack(struct ec *e)
{
	if (put_uint(e->b, e->el, "session-present", 1, 1, e->err) == -1 ||
	    wr_reason(e, e->el, "reason-code", "reason") == -1)
		return -1;
	return wr_props(e, "prop", "props", 0);
}

static int
enc_publish(struct ec *e)
{
	uint64_t qos, retain, dup, size;
	size_t n;

	if (xgw_get_uint(e->el, "qos", 2, &qos, e->err) == -1 ||
	    xgw_get_uint(e->el, "retain", 1, &retain, e->err) == -1 ||
	    xgw_get_uint(e->el, "dup", 1, &dup, e->err) == -1)
		return -1;
	e->flags = dup << 3 | qos << 1 | retain;
	if (qos == 0 && has(e->el, "id"))
		return xgw_fail(e->err, 0, "bad-element",
		    "a QoS 0 publish has no packet identifier");
	if (put_text(e->b, e->el, "topic", e->err) == -1 ||
	    (qos > 0 && wr_id(e) == -1) ||
	    wr_props(e, "prop", "props", 0) == -1 ||
	    xgw_get_b64(e->el, "payload", e->b, &n, e->err) == -1 ||
	    xgw_get_uint_opt(e->el, "payload-size", XGW_PDU_MAX, n, &size,
	    e->err) == -1)
		return -1;
	if (size != n)
		return xgw_fail(e->err, 0, "bad-element",
		    "payload-size is %llu, <payload> holds %zu bytes",
		    (unsigned long long)size, n);
	return 0;
}

/* The optional reason code and properties of 5.0 acks, DISCONNECT, AUTH. */
static int
enc_tail(struct ec *e)
{
	if (has(e->el, "reason-code")) {
		if (wr_reason(e, e->el, "reason-code", "reason") == -1)
			return -1;
	} else if (has(e->el, "props") || has(e->el, "reason"))
		return xgw_fail(e->err, 0, "bad-element",
		    "props or reason without reason-code, which comes first on the wire");
	return wr_props(e, "prop", "props", 1);
}

static int
enc_ack(struct ec *e)
{
	return wr_id(e) == -1 ? -1 : enc_tail(e);
}

static int
enc_filters(struct ec *e)
{
	int sub = e->type == SUBSCRIBE;
	xmpp_stanza_t *c;
	uint64_t qos, nl = 0, rap = 0, rh = 0;

	if (wr_id(e) == -1 || wr_props(e, "prop", "props", 0) == -1)
		return -1;
	for (c = xmpp_stanza_get_children(e->el); c != NULL;
	    c = xmpp_stanza_get_next(c)) {
		if (!xmpp_stanza_is_tag(c) || strcmp(xmpp_stanza_get_name(c),
		    sub ? "sub" : "unsub") != 0)
			continue;
		if (put_text(e->b, c, "filter", e->err) == -1)
			return -1;
		if (!sub)
			continue;
		if (e->level < 5 && (has(c, "no-local") ||
		    has(c, "retain-as-published") || has(c, "retain-handling")))
			return xgw_fail(e->err, 0, "bad-element",
			    "<sub> options of 5.0 in a level %u subscribe",
			    e->level);
		if (xgw_get_uint(c, "qos", 2, &qos, e->err) == -1 ||
		    (e->level == 5 &&
		    (xgw_get_uint(c, "no-local", 1, &nl, e->err) == -1 ||
		    xgw_get_uint(c, "retain-as-published", 1, &rap,
		    e->err) == -1 ||
		    xgw_get_uint(c, "retain-handling", 2, &rh, e->err) == -1)) ||
		    xgw_buf_u8(e->b, rh << 4 | rap << 3 | nl << 2 | qos,
		    e->err) == -1)
			return -1;
	}
	return 0;
}

static int
enc_rcs(struct ec *e)
{
	xmpp_stanza_t *c;

	if (wr_id(e) == -1 || wr_props(e, "prop", "props", 0) == -1)
		return -1;
	for (c = xmpp_stanza_get_children(e->el); c != NULL;
	    c = xmpp_stanza_get_next(c))
		if (xmpp_stanza_is_tag(c) &&
		    strcmp(xmpp_stanza_get_name(c), "rc") == 0 &&
		    wr_reason(e, c, "code", "name") == -1)
			return -1;
	return 0;
}

static int (*const encoders[16])(struct ec *) = {
	[CONNECT] = enc_connect, [CONNACK] = enc_connack,
	[PUBLISH] = enc_publish, [PUBACK] = enc_ack, [PUBREC] = enc_ack,
	[PUBREL] = enc_ack, [PUBCOMP] = enc_ack, [SUBSCRIBE] = enc_filters,
	[SUBACK] = enc_rcs, [UNSUBSCRIBE] = enc_filters,
	[UNSUBACK] = enc_rcs, [DISCONNECT] = enc_tail, [AUTH] = enc_tail
};

static int
element_head(xmpp_stanza_t *el, unsigned *type, unsigned *level,
    struct xgw_err *err)
{
	const char *name = xmpp_stanza_get_name(el), *ns, *t, *src;
	uint64_t v;

	ns = xmpp_stanza_get_ns(el);
	if (name == NULL || strcmp(name, "mqtt") != 0 || ns == NULL ||
	    strcmp(ns, XGW_NS_MQTT) != 0)
		return xgw_fail(err, 0, "bad-element",
		    "expected <mqtt xmlns=\"%s\">", XGW_NS_MQTT);
	if ((t = xmpp_stanza_get_attribute(el, "type")) == NULL)
		t = "";
	for (*type = 1; *type < 16; (*type)++)
		if (strcmp(t, type_names[*type]) == 0)
			break;
	if (*type == 16)
		return xgw_fail(err, 0, "bad-element",
		    "<mqtt type=\"%.40s\">: expected a control packet name", t);
	if (xgw_get_uint(el, "level", 5, &v, err) == -1)
		return -1;
	if (v < 3)
		return xgw_fail(err, 0, "bad-element",
		    "<mqtt level=\"%llu\">: expected 3, 4 or 5",
		    (unsigned long long)v);
	*level = v;
	src = xmpp_stanza_get_attribute(el, "level-source");
	if (src != NULL && strcmp(src, "guessed") != 0)
		return xgw_fail(err, 0, "bad-element",
		    "<mqtt level-source=\"%.40s\">: expected \"guessed\"", src);
	return 0;
}

/* What encode made must decode, at the level the element names. */
static int
recheck(xmpp_ctx_t *ctx, const uint8_t *p, size_t n, unsigned level,
    struct xgw_err *err)
{
	struct xgw_mqtt_sess s = { level, XGW_MQTT_CONNECT };
	xmpp_stanza_t *el;
	struct xgw_err e;

	if (xgw_mqtt_decode(ctx, &s, p, n, &el, &e) == -1)
		return xgw_fail(err, e.offset, strcmp(e.reason, "no-memory") ?
		    "bad-element" : e.reason,
		    "the element makes a packet that does not decode: %s at byte %zu: %s",
		    e.reason, e.offset, e.msg);
	xmpp_stanza_release(el);
	return 0;
}

int
xgw_mqtt_encode(xmpp_stanza_t *el, struct xgw_buf *out, struct xgw_err *err)
{
	struct xgw_buf body = { NULL, 0, 0 };
	struct ec e = { el, &body, 0, 0, 0, err };
	size_t start = out->len;
	int rc;

	if (element_head(el, &e.type, &e.level, err) == -1)
		return -1;
	e.flags = type_flags[e.type];
	rc = encoders[e.type] != NULL ? encoders[e.type](&e) : 0;
	if (rc == 0 && (xgw_buf_u8(out, e.type << 4 | e.flags, err) == -1 ||
	    put_varint(out, body.len, err) == -1 ||
	    xgw_buf_put(out, body.data, body.len, err) == -1))
		rc = -1;
	xgw_buf_free(&body);
	if (rc == 0)
		rc = recheck(xmpp_stanza_get_context(el), out->data + start,
		    out->len - start, e.level, err);
	if (rc == -1)
		out->len = start;
	return rc;
}

static int
proto_frame(void *sess, enum xgw_dir dir, const uint8_t *p, size_t n,
    size_t *pdulen, struct xgw_err *err)
{
	(void)sess;
	(void)dir;
	return xgw_mqtt_frame(p, n, pdulen, err);
}

static int
proto_decode(xmpp_ctx_t *ctx, void *sess, enum xgw_dir dir, const uint8_t *p,
    size_t n, xmpp_stanza_t **out, struct xgw_err *err)
{
	(void)dir;
	return xgw_mqtt_decode(ctx, sess, p, n, out, err);
}

static const char *
proto_kind(xmpp_stanza_t *el, char *buf, size_t len)
{
	const char *t = xmpp_stanza_get_attribute(el, "type");

	snprintf(buf, len, "%s", t ? t : "?");
	return buf;
}

const struct xgw_proto xgw_mqtt_proto = {
	.name = "mqtt",
	.ns = XGW_NS_MQTT,
	.stream = 1,
	.ports = { 1883 },
	.sess_size = sizeof(struct xgw_mqtt_sess),
	.frame = proto_frame,
	.decode = proto_decode,
	.encode = xgw_mqtt_encode,
	.kind = proto_kind,
};
