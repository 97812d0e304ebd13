/*
 * What every transform shares: errors, the output buffer, strict element
 * accessors, the envelope and the protocol table.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xgw_transform.h"
#include "modbus.h"
#include "coap.h"
#include "mqtt.h"
#include "http.h"

const struct xgw_proto *const xgw_protos[] = {
	&xgw_modbus_proto, &xgw_coap_proto, &xgw_mqtt_proto, &xgw_http_proto,
	NULL
};

const struct xgw_proto *
xgw_proto_find(const char *name)
{
	for (size_t i = 0; xgw_protos[i] != NULL; i++)
		if (strcmp(xgw_protos[i]->name, name) == 0)
			return xgw_protos[i];
	return NULL;
}

const struct xgw_proto *
xgw_element_protocol(xmpp_stanza_t *el)
{
	const struct xgw_proto *p;
	const char *name = xmpp_stanza_get_name(el);
	const char *ns = xmpp_stanza_get_ns(el), *proto;

	if (name == NULL || ns == NULL)
		return NULL;
	if (strcmp(name, "readings") == 0 && strcmp(ns, XGW_NS_READINGS) == 0)
		return (proto = xmpp_stanza_get_attribute(el, "proto")) != NULL ?
		    xgw_proto_find(proto) : NULL;
	p = xgw_proto_find(name);
	return p != NULL && strcmp(p->ns, ns) == 0 ? p : NULL;
}

const struct xgw_proto *
xgw_proto_by_port(uint16_t port, int stream)
{
	for (size_t i = 0; xgw_protos[i] != NULL; i++) {
		const struct xgw_proto *p = xgw_protos[i];

		if (p->stream != stream)
			continue;
		for (size_t j = 0; j < 4 && p->ports[j] != 0; j++)
			if (p->ports[j] == port)
				return p;
	}
	return NULL;
}

int
xgw_fail(struct xgw_err *err, size_t off, const char *reason,
    const char *fmt, ...)
{
	va_list ap;

	err->offset = off;
	err->reason = reason;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return -1;
}

static int
buf_reserve(struct xgw_buf *b, size_t more, struct xgw_err *err)
{
	size_t need, cap;
	uint8_t *p;

	if (more > XGW_PDU_MAX || b->len > XGW_PDU_MAX - more)
		return xgw_fail(err, b->len, "too-large",
		    "output would exceed %u bytes", XGW_PDU_MAX);
	need = b->len + more;
	if (need <= b->cap)
		return 0;
	cap = b->cap ? b->cap : 256;
	while (cap < need)
		cap *= 2;
	if ((p = realloc(b->data, cap)) == NULL)
		return xgw_fail(err, b->len, "no-memory", "out of memory");
	b->data = p;
	b->cap = cap;
	return 0;
}

int
xgw_buf_put(struct xgw_buf *b, const void *p, size_t n, struct xgw_err *err)
{
	if (n == 0)
		return 0;
	if (buf_reserve(b, n, err) == -1)
		return -1;
	memcpy(b->data + b->len, p, n);
	b->len += n;
	return 0;
}

int
xgw_buf_u8(struct xgw_buf *b, unsigned v, struct xgw_err *err)
{
	uint8_t c = v;

	return xgw_buf_put(b, &c, 1, err);
}

int
xgw_buf_u16(struct xgw_buf *b, unsigned v, struct xgw_err *err)
{
	uint8_t c[2] = { v >> 8, v };

	return xgw_buf_put(b, c, 2, err);
}

void
xgw_buf_free(struct xgw_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

xmpp_stanza_t *
xgw_el_new(xmpp_ctx_t *ctx, const char *name, const char *ns)
{
	xmpp_stanza_t *el;

	if ((el = xmpp_stanza_new(ctx)) == NULL)
		return NULL;
	if (xmpp_stanza_set_name(el, name) != XMPP_EOK ||
	    (ns != NULL && xmpp_stanza_set_ns(el, ns) != XMPP_EOK)) {
		xmpp_stanza_release(el);
		return NULL;
	}
	return el;
}

/* Adds child to parent and gives up the caller's reference. */
int
xgw_el_add(xmpp_stanza_t *parent, xmpp_stanza_t *child)
{
	if (child == NULL)
		return -1;
	return xmpp_stanza_add_child_ex(parent, child, 0) == XMPP_EOK ? 0 : -1;
}

/* Decimal digits of v ending at end (exclusive); returns the first. */
static char *
utoa(uint64_t v, char *end)
{
	do
		*--end = '0' + v % 10;
	while ((v /= 10) != 0);
	return end;
}

/* Called for every field of every PDU: no printf on this path. */
int
xgw_set_uint(xmpp_stanza_t *el, const char *attr, uint64_t v)
{
	char num[24];

	num[23] = '\0';
	return xmpp_stanza_set_attribute(el, attr, utoa(v, num + 23)) ==
	    XMPP_EOK ? 0 : -1;
}

int
xgw_set_str(xmpp_stanza_t *el, const char *attr, const char *s)
{
	return xmpp_stanza_set_attribute(el, attr, s) == XMPP_EOK ? 0 : -1;
}

int
xgw_add_text(xmpp_ctx_t *ctx, xmpp_stanza_t *parent, const char *name,
    const char *text, size_t len)
{
	xmpp_stanza_t *el, *t;

	if ((el = xgw_el_new(ctx, name, NULL)) == NULL)
		return -1;
	if (len > 0) {
		if ((t = xmpp_stanza_new(ctx)) == NULL ||
		    xmpp_stanza_set_text_with_size(t, text, len) != XMPP_EOK ||
		    xgw_el_add(el, t) == -1) {
			if (t != NULL)
				xmpp_stanza_release(t);
			xmpp_stanza_release(el);
			return -1;
		}
	}
	return xgw_el_add(parent, el);
}

int
xgw_add_b64(xmpp_ctx_t *ctx, xmpp_stanza_t *parent, const char *name,
    const uint8_t *p, size_t n)
{
	char *s;
	int rc;

	if (n == 0)
		return xgw_add_text(ctx, parent, name, "", 0);
	if ((s = xmpp_base64_encode(ctx, p, n)) == NULL)
		return -1;
	rc = xgw_add_text(ctx, parent, name, s, strlen(s));
	xmpp_free(ctx, s);
	return rc;
}

int
xgw_set_b64_text(xmpp_ctx_t *ctx, xmpp_stanza_t *el, const uint8_t *p,
    size_t n)
{
	xmpp_stanza_t *t;
	char *s;
	int rc = -1;

	if (n == 0)
		return 0;
	if ((s = xmpp_base64_encode(ctx, p, n)) == NULL)
		return -1;
	if ((t = xmpp_stanza_new(ctx)) != NULL &&
	    xmpp_stanza_set_text(t, s) == XMPP_EOK && xgw_el_add(el, t) == 0)
		rc = 0;
	else if (t != NULL)
		xmpp_stanza_release(t);
	xmpp_free(ctx, s);
	return rc;
}

/* Lists are decimal numbers separated by one space: "0 17 65535". */
int
xgw_add_u16list(xmpp_ctx_t *ctx, xmpp_stanza_t *parent, const char *name,
    const uint8_t *be16, size_t count)
{
	char stack[1024] = "", *s = stack, *q;
	int rc;

	if (count * 6 + 1 > sizeof(stack) && (s = malloc(count * 6 + 1)) == NULL)
		return -1;
	*(q = s) = '\0';
	for (size_t i = 0; i < count; i++) {
		char tmp[6], *d = utoa(xgw_be16(be16 + 2 * i), tmp + 6);

		if (i > 0)
			*q++ = ' ';
		memcpy(q, d, tmp + 6 - d);
		q += tmp + 6 - d;
	}
	rc = xgw_add_text(ctx, parent, name, s, q - s);
	if (s != stack)
		free(s);
	return rc;
}

/* Bits in wire order (least significant bit of the first byte first): "1 0 1". */
int
xgw_add_bitlist(xmpp_ctx_t *ctx, xmpp_stanza_t *parent, const char *name,
    const uint8_t *packed, size_t nbits)
{
	char stack[1024] = "", *s = stack;
	size_t len = nbits ? 2 * nbits - 1 : 0;
	int rc;

	if (len + 1 > sizeof(stack) && (s = malloc(len + 1)) == NULL)
		return -1;
	s[0] = '\0';
	for (size_t i = 0; i < nbits; i++) {
		s[2 * i] = '0' + (packed[i / 8] >> (i % 8) & 1);
		if (i + 1 < nbits)
			s[2 * i + 1] = ' ';
	}
	rc = xgw_add_text(ctx, parent, name, s, len);
	if (s != stack)
		free(s);
	return rc;
}

int
xgw_parse_uint(const char *s, size_t n, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (n == 0 || (n > 1 && s[0] == '0'))
		return -1;
	for (size_t i = 0; i < n; i++) {
		unsigned d = s[i] - '0';

		if (s[i] < '0' || s[i] > '9')
			return -1;
		if (v > max / 10 || (v == max / 10 && d > max % 10))
			return -1;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

int
xgw_get_uint(xmpp_stanza_t *el, const char *attr, uint64_t max, uint64_t *out,
    struct xgw_err *err)
{
	const char *s = xmpp_stanza_get_attribute(el, attr);

	if (s == NULL)
		return xgw_fail(err, 0, "bad-element", "<%s> needs attribute %s",
		    xmpp_stanza_get_name(el), attr);
	if (xgw_parse_uint(s, strlen(s), max, out) == -1)
		return xgw_fail(err, 0, "bad-element",
		    "<%s %s=\"%.40s\">: expected a decimal number 0..%llu",
		    xmpp_stanza_get_name(el), attr, s, (unsigned long long)max);
	return 0;
}

int
xgw_get_uint_opt(xmpp_stanza_t *el, const char *attr, uint64_t max,
    uint64_t dflt, uint64_t *out, struct xgw_err *err)
{
	if (xmpp_stanza_get_attribute(el, attr) == NULL) {
		*out = dflt;
		return 0;
	}
	return xgw_get_uint(el, attr, max, out, err);
}

xmpp_stanza_t *
xgw_child(xmpp_stanza_t *el, const char *name)
{
	return xmpp_stanza_get_child_by_name(el, name);
}

const char *
xgw_text(xmpp_stanza_t *el)
{
	xmpp_stanza_t *c;

	for (c = xmpp_stanza_get_children(el); c != NULL;
	    c = xmpp_stanza_get_next(c))
		if (xmpp_stanza_is_text(c))
			return xmpp_stanza_get_text_ptr(c);
	return "";
}

static xmpp_stanza_t *
need_child(xmpp_stanza_t *parent, const char *name, struct xgw_err *err)
{
	xmpp_stanza_t *c = xgw_child(parent, name);

	if (c == NULL)
		xgw_fail(err, 0, "bad-element", "<%s> needs a <%s> child",
		    xmpp_stanza_get_name(parent), name);
	return c;
}

int
xgw_get_b64(xmpp_stanza_t *parent, const char *name, struct xgw_buf *out,
    size_t *n, struct xgw_err *err)
{
	xmpp_stanza_t *c;

	if ((c = need_child(parent, name, err)) == NULL)
		return -1;
	return xgw_get_b64_text(c, out, n, err);
}

int
xgw_get_b64_text(xmpp_stanza_t *el, struct xgw_buf *out, size_t *n,
    struct xgw_err *err)
{
	const char *s = xgw_text(el), *name = xmpp_stanza_get_name(el);
	xmpp_ctx_t *ctx = xmpp_stanza_get_context(el);
	unsigned char *bin = NULL;
	size_t slen = strlen(s), binlen = 0;
	int rc;

	*n = 0;
	if (slen == 0)
		return 0;
	if (slen % 4 != 0 || slen / 4 * 3 > XGW_PDU_MAX)
		return xgw_fail(err, 0, "bad-element",
		    "<%s>: base64 text of %zu characters", name, slen);
	xmpp_base64_decode_bin(ctx, s, slen, &bin, &binlen);
	if (bin == NULL)
		return xgw_fail(err, 0, "bad-element", "<%s>: invalid base64",
		    name);
	rc = xgw_buf_put(out, bin, binlen, err);
	xmpp_free(ctx, bin);
	*n = binlen;
	return rc;
}

/* Walks "n n n": calls back with each number, rejecting anything else. */
static int
each_number(xmpp_stanza_t *parent, const char *name, uint64_t max,
    int (*cb)(void *, uint64_t, struct xgw_err *), void *arg,
    size_t *count, struct xgw_err *err)
{
	xmpp_stanza_t *c;
	const char *s, *e;
	uint64_t v;

	if ((c = need_child(parent, name, err)) == NULL)
		return -1;
	s = xgw_text(c);
	*count = 0;
	while (*s != '\0') {
		if (*count > 0 && *s++ != ' ')
			return xgw_fail(err, 0, "bad-element",
			    "<%s>: numbers must be separated by one space",
			    name);
		for (e = s; *e >= '0' && *e <= '9'; e++)
			;
		if (xgw_parse_uint(s, e - s, max, &v) == -1)
			return xgw_fail(err, 0, "bad-element",
			    "<%s>: item %zu is not a number 0..%llu", name,
			    *count + 1, (unsigned long long)max);
		if (cb(arg, v, err) == -1)
			return -1;
		(*count)++;
		s = e;
	}
	return 0;
}

static int
put_u16(void *arg, uint64_t v, struct xgw_err *err)
{
	return xgw_buf_u16(arg, v, err);
}

int
xgw_get_u16list(xmpp_stanza_t *parent, const char *name, struct xgw_buf *out,
    size_t *count, struct xgw_err *err)
{
	return each_number(parent, name, 65535, put_u16, out, count, err);
}

struct bitpack {
	struct xgw_buf	*out;
	size_t		 nbits;
};

static int
put_bit(void *arg, uint64_t v, struct xgw_err *err)
{
	struct bitpack *bp = arg;

	if (bp->nbits % 8 == 0 && xgw_buf_u8(bp->out, 0, err) == -1)
		return -1;
	bp->out->data[bp->out->len - 1] |= v << (bp->nbits % 8);
	bp->nbits++;
	return 0;
}

int
xgw_get_bitlist(xmpp_stanza_t *parent, const char *name, struct xgw_buf *out,
    size_t *nbits, struct xgw_err *err)
{
	struct bitpack bp = { out, 0 };

	return each_number(parent, name, 1, put_bit, &bp, nbits, err);
}

int
xgw_text_safe(const uint8_t *p, size_t n)
{
	size_t i = 0;

	while (i < n) {
		unsigned c = p[i], len, cp;

		if (c < 0x80) {
			if (c < 0x20 || c == 0x7f)
				return 0;
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
			return 0;
		if (n - i < len)
			return 0;
		for (unsigned k = 1; k < len; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (p[i + k] & 0x3f);
		}
		/* overlong forms, surrogates, beyond U+10FFFF, C1 controls, U+FFFE/F */
		if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
		    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff ||
		    (cp >= 0x80 && cp <= 0x9f) || cp == 0xfffe || cp == 0xffff)
			return 0;
		i += len;
	}
	return 1;
}

int
xgw_set_bytes(xmpp_ctx_t *ctx, xmpp_stanza_t *el, const char *attr,
    const uint8_t *p, size_t n)
{
	char name[64], stack[256], *s;
	int rc;

	if (xgw_text_safe(p, n)) {
		if (n < sizeof(stack))
			s = stack;
		else if ((s = malloc(n + 1)) == NULL)
			return -1;
		memcpy(s, p, n);
		s[n] = '\0';
		rc = xgw_set_str(el, attr, s);
		if (s != stack)
			free(s);
		return rc;
	}
	snprintf(name, sizeof(name), "%s-b64", attr);
	if ((s = xmpp_base64_encode(ctx, p, n)) == NULL)
		return -1;
	rc = xgw_set_str(el, name, s);
	xmpp_free(ctx, s);
	return rc;
}

int
xgw_get_bytes(xmpp_stanza_t *el, const char *attr, struct xgw_buf *out,
    size_t *n, struct xgw_err *err)
{
	const char *text = xmpp_stanza_get_attribute(el, attr), *b64;
	xmpp_ctx_t *ctx = xmpp_stanza_get_context(el);
	unsigned char *bin = NULL;
	char name[64];
	size_t slen;
	int rc;

	snprintf(name, sizeof(name), "%s-b64", attr);
	b64 = xmpp_stanza_get_attribute(el, name);
	if ((text == NULL) == (b64 == NULL))
		return xgw_fail(err, 0, "bad-element",
		    "<%s> needs exactly one of %s and %s",
		    xmpp_stanza_get_name(el), attr, name);
	if (text != NULL) {
		*n = strlen(text);
		return xgw_buf_put(out, text, *n, err);
	}
	*n = 0;
	slen = strlen(b64);
	if (slen == 0)
		return 0;
	if (slen % 4 != 0 || slen / 4 * 3 > XGW_PDU_MAX)
		return xgw_fail(err, 0, "bad-element",
		    "%s: base64 text of %zu characters", name, slen);
	xmpp_base64_decode_bin(ctx, b64, slen, &bin, n);
	if (bin == NULL)
		return xgw_fail(err, 0, "bad-element", "%s: invalid base64",
		    name);
	rc = xgw_buf_put(out, bin, *n, err);
	xmpp_free(ctx, bin);
	return rc;
}

/* Appends s at *at, cut to fit len with its NUL, as snprintf cuts. */
static void
append(char *buf, size_t len, size_t *at, const char *s)
{
	size_t n = strlen(s);

	if (n > len - 1 - *at)
		n = len - 1 - *at;
	memcpy(buf + *at, s, n);
	*at += n;
}

const char *
xgw_kind(char *buf, size_t len, const char *pre, const char *a, const char *b)
{
	size_t at = 0;

	if (len == 0)
		return "";
	append(buf, len, &at, pre);
	append(buf, len, &at, a != NULL ? a : "?");
	append(buf, len, &at, "/");
	append(buf, len, &at, b != NULL ? b : "?");
	buf[at] = '\0';
	return buf;
}

static const char *const dir_names[] = { "request", "response", "event" };

const char *
xgw_dir_name(enum xgw_dir d)
{
	return d <= XGW_EVENT ? dir_names[d] : "?";
}

int
xgw_dir_parse(const char *s, enum xgw_dir *d)
{
	for (int i = 0; i <= XGW_EVENT; i++)
		if (strcmp(s, dir_names[i]) == 0) {
			*d = i;
			return 0;
		}
	return -1;
}

/* urn:uuid: and the RFC 9562 text form, lower case as the RFC asks. */
int
xgw_uuid_valid(const char *s)
{
	static const char pre[] = "urn:uuid:";

	if (strncmp(s, pre, sizeof(pre) - 1) != 0)
		return 0;
	s += sizeof(pre) - 1;
	/* every envelope is checked twice: no locale calls here */
	for (int i = 0; i < 36; i++, s++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (*s != '-')
				return 0;
		} else if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
			return 0;
	}
	return *s == '\0';
}

void
xgw_uuid_name(const char *name, char out[46])
{
	static const uint8_t ns[16] = {
		0x57, 0xfe, 0x62, 0x29, 0x08, 0xf5, 0x47, 0x28,
		0x84, 0xb3, 0xcc, 0x97, 0xfe, 0x9d, 0x46, 0x29
	};
	uint8_t buf[16 + 256], d[XMPP_SHA1_DIGEST_SIZE];
	size_t n = strlen(name);

	if (n > 256)
		n = 256;
	memcpy(buf, ns, 16);
	memcpy(buf + 16, name, n);
	xmpp_sha1_digest(buf, 16 + n, d);
	d[6] = (d[6] & 0x0f) | 0x50;
	d[8] = (d[8] & 0x3f) | 0x80;
	snprintf(out, 46, "urn:uuid:%02x%02x%02x%02x-%02x%02x-%02x%02x-"
	    "%02x%02x-%02x%02x%02x%02x%02x%02x", d[0], d[1], d[2], d[3], d[4],
	    d[5], d[6], d[7], d[8], d[9], d[10], d[11], d[12], d[13], d[14],
	    d[15]);
}

xmpp_stanza_t *
xgw_envelope(xmpp_ctx_t *ctx, const struct xgw_meta *m, xmpp_stanza_t *proto)
{
	xmpp_stanza_t *env;

	if ((env = xgw_el_new(ctx, "pdu", XGW_NS)) == NULL)
		return NULL;
	if ((m->src[0] != '\0' && xgw_set_str(env, "src", m->src) == -1) ||
	    (m->dst[0] != '\0' && xgw_set_str(env, "dst", m->dst) == -1) ||
	    xgw_set_uint(env, "flow", m->flow) == -1 ||
	    (m->route != 0 && xgw_set_uint(env, "route", m->route) == -1) ||
	    xgw_set_uint(env, "seq", m->seq) == -1 ||
	    xgw_set_str(env, "dir", xgw_dir_name(m->dir)) == -1 ||
	    xmpp_stanza_add_child(env, proto) != XMPP_EOK) {
		xmpp_stanza_release(env);
		return NULL;
	}
	return env;
}

static int
get_uuid(xmpp_stanza_t *env, const char *attr, char *out, struct xgw_err *err)
{
	const char *s = xmpp_stanza_get_attribute(env, attr);

	if (s == NULL) {
		out[0] = '\0';
		return 0;
	}
	if (!xgw_uuid_valid(s))
		return xgw_fail(err, 0, "bad-envelope",
		    "<pdu %s=\"%.50s\">: expected urn:uuid: and a lower-case UUID",
		    attr, s);
	memcpy(out, s, 46);
	return 0;
}

int
xgw_envelope_parse(xmpp_stanza_t *env, struct xgw_meta *m,
    xmpp_stanza_t **proto, struct xgw_err *err)
{
	const char *name = xmpp_stanza_get_name(env), *ns, *dir;
	xmpp_stanza_t *c;
	int n = 0;

	ns = xmpp_stanza_get_ns(env);
	if (name == NULL || strcmp(name, "pdu") != 0 || ns == NULL ||
	    strcmp(ns, XGW_NS) != 0)
		return xgw_fail(err, 0, "bad-envelope",
		    "expected <pdu xmlns=\"%s\">", XGW_NS);
	memset(m, 0, sizeof(*m));
	if (get_uuid(env, "src", m->src, err) == -1 ||
	    get_uuid(env, "dst", m->dst, err) == -1 ||
	    xgw_get_uint(env, "flow", UINT64_MAX, &m->flow, err) == -1 ||
	    xgw_get_uint_opt(env, "route", UINT64_MAX, 0, &m->route, err) == -1 ||
	    xgw_get_uint(env, "seq", UINT64_MAX, &m->seq, err) == -1)
		return -1;
	if ((dir = xmpp_stanza_get_attribute(env, "dir")) == NULL ||
	    xgw_dir_parse(dir, &m->dir) == -1)
		return xgw_fail(err, 0, "bad-envelope",
		    "<pdu dir>: expected request, response or event");
	*proto = NULL;
	for (c = xmpp_stanza_get_children(env); c != NULL;
	    c = xmpp_stanza_get_next(c)) {
		if (!xmpp_stanza_is_tag(c))
			continue;
		*proto = c;
		n++;
	}
	if (n != 1)
		return xgw_fail(err, 0, "bad-envelope",
		    "<pdu> holds %d protocol elements, expected exactly one", n);
	return 0;
}
