/*
 * CoAP message (one UDP datagram) <-> <coap/> element.
 *
 * The message structure is walked by hand: libcoap 4.3.1's coap_pdu_parse
 * refuses messages RFC 7252 accepts (an option value of unusual length,
 * such as an empty Uri-Query, is an unrecognized option, not a format
 * error), its coap_opt_parse wraps option numbers above 65535 (the delta
 * is a uint16_t), and neither says which byte was wrong.  The uint values
 * and the Block fields are a few lines here too, so that the transforms
 * (and every program that links them, xgw-replay and xgwd included) do
 * not load libcoap and the OpenSSL build it comes in.
 */
#include <stdio.h>
#include <string.h>

#include "coap.h"

#define CODE(c, d)	((c) << 5 | (d))
#define PAYLOAD_MARKER	0xff
#define OPT_NUM_MAX	65535

enum fmt {
	EMPTY,		/* no value: none, or value-b64 when there are bytes */
	OPAQUE,		/* value-b64 */
	UINT,		/* uint="N" when minimal, else value-b64 */
	STRING		/* value="text" or value-b64 */
};

struct optdef {
	uint16_t	 num;
	const char	*name;
	enum fmt	 fmt;
	int		 block;		/* RFC 7959 / RFC 9177 block fields */
};

/* The IANA CoAP Option Numbers registry, as far as this gateway names it. */
static const struct optdef optdefs[] = {
	{ 1, "if-match", OPAQUE, 0 },
	{ 3, "uri-host", STRING, 0 },
	{ 4, "etag", OPAQUE, 0 },
	{ 5, "if-none-match", EMPTY, 0 },
	{ 6, "observe", UINT, 0 },
	{ 7, "uri-port", UINT, 0 },
	{ 8, "location-path", STRING, 0 },
	{ 9, "oscore", OPAQUE, 0 },
	{ 11, "uri-path", STRING, 0 },
	{ 12, "content-format", UINT, 0 },
	{ 14, "max-age", UINT, 0 },
	{ 15, "uri-query", STRING, 0 },
	{ 16, "hop-limit", UINT, 0 },
	{ 17, "accept", UINT, 0 },
	{ 19, "q-block1", UINT, 1 },
	{ 20, "location-query", STRING, 0 },
	{ 23, "block2", UINT, 1 },
	{ 27, "block1", UINT, 1 },
	{ 28, "size2", UINT, 0 },
	{ 31, "q-block2", UINT, 1 },
	{ 35, "proxy-uri", STRING, 0 },
	{ 39, "proxy-scheme", STRING, 0 },
	{ 60, "size1", UINT, 0 },
	{ 252, "echo", OPAQUE, 0 },
	{ 258, "no-response", UINT, 0 },
	{ 292, "request-tag", OPAQUE, 0 },
};

static const struct {
	uint8_t		 code;
	const char	*name;
} codenames[] = {
	{ CODE(0, 0), "empty" },
	{ CODE(0, 1), "get" },
	{ CODE(0, 2), "post" },
	{ CODE(0, 3), "put" },
	{ CODE(0, 4), "delete" },
	{ CODE(0, 5), "fetch" },
	{ CODE(0, 6), "patch" },
	{ CODE(0, 7), "ipatch" },
	{ CODE(2, 1), "created" },
	{ CODE(2, 2), "deleted" },
	{ CODE(2, 3), "valid" },
	{ CODE(2, 4), "changed" },
	{ CODE(2, 5), "content" },
	{ CODE(2, 31), "continue" },
	{ CODE(4, 0), "bad-request" },
	{ CODE(4, 1), "unauthorized" },
	{ CODE(4, 2), "bad-option" },
	{ CODE(4, 3), "forbidden" },
	{ CODE(4, 4), "not-found" },
	{ CODE(4, 5), "method-not-allowed" },
	{ CODE(4, 6), "not-acceptable" },
	{ CODE(4, 8), "request-entity-incomplete" },
	{ CODE(4, 9), "conflict" },
	{ CODE(4, 12), "precondition-failed" },
	{ CODE(4, 13), "request-entity-too-large" },
	{ CODE(4, 15), "unsupported-content-format" },
	{ CODE(4, 22), "unprocessable-entity" },
	{ CODE(4, 29), "too-many-requests" },
	{ CODE(5, 0), "internal-server-error" },
	{ CODE(5, 1), "not-implemented" },
	{ CODE(5, 2), "bad-gateway" },
	{ CODE(5, 3), "service-unavailable" },
	{ CODE(5, 4), "gateway-timeout" },
	{ CODE(5, 5), "proxying-not-supported" },
	{ CODE(5, 8), "hop-limit-reached" },
};

static const char *const typenames[] = { "con", "non", "ack", "rst" };

static const struct optdef *
optdef_of(unsigned num)
{
	for (size_t i = 0; i < sizeof(optdefs) / sizeof(optdefs[0]); i++)
		if (optdefs[i].num == num)
			return &optdefs[i];
	return NULL;
}

const char *
xgw_coap_opt_name(unsigned num)
{
	const struct optdef *d = optdef_of(num);

	return d != NULL ? d->name : NULL;
}

const char *
xgw_coap_code_name(unsigned code)
{
	for (size_t i = 0; i < sizeof(codenames) / sizeof(codenames[0]); i++)
		if (codenames[i].code == code)
			return codenames[i].name;
	return NULL;
}

/* The code's class as the policy sees it; 1, 6 and 7 are reserved on UDP. */
static const char *
code_class(unsigned code)
{
	switch (code >> 5) {
	case 0:
		return code == 0 ? "empty" : "request";
	case 2:
	case 4:
	case 5:
		return "response";
	default:
		return "reserved";
	}
}

/* An option's uint value (RFC 7252 section 3.2): big-endian, len <= 8. */
static uint64_t
uint_value(const uint8_t *v, size_t len)
{
	uint64_t u = 0;

	for (size_t i = 0; i < len; i++)
		u = u << 8 | v[i];
	return u;
}

/* The fewest bytes that hold u (none for 0), big-endian; returns how many. */
static size_t
uint_bytes(uint8_t out[8], uint64_t u)
{
	size_t n = 0;

	for (uint64_t t = u; t != 0; t >>= 8)
		n++;
	for (size_t i = n; i > 0; i--, u >>= 8)
		out[i - 1] = u & 0xff;
	return n;
}

/* RFC 7959 section 2.2: NUM, M and SZX of a Block value of 0..3 bytes. */
static void
block_fields(const uint8_t *v, size_t len, unsigned *num, unsigned *more,
    unsigned *szx)
{
	uint64_t u = uint_value(v, len);

	*num = u >> 4;
	*more = u >> 3 & 1;
	*szx = u & 7;
}

/* Reading the wire: a cursor that never moves past the end. */
struct rd {
	const uint8_t	*p;
	size_t		 n, off;
};

static int
need(struct rd *r, size_t k, const char *what, struct xgw_err *err)
{
	if (r->n - r->off < k)
		return xgw_fail(err, r->n, "truncated",
		    "%s needs %zu bytes, %zu left", what, k, r->n - r->off);
	return 0;
}

static int
set_b64(xmpp_ctx_t *ctx, xmpp_stanza_t *el, const char *attr,
    const uint8_t *p, size_t n)
{
	char *s;
	int rc;

	if (n == 0)
		return xgw_set_str(el, attr, "");
	if ((s = xmpp_base64_encode(ctx, p, n)) == NULL)
		return -1;
	rc = xgw_set_str(el, attr, s);
	xmpp_free(ctx, s);
	return rc;
}

/*
 * Option delta or length from its nibble: 13 and 14 take one and two
 * extended bytes; 15 only exists as the payload marker 0xff.
 */
static int
opt_field(struct rd *r, unsigned nib, const char *what, size_t at,
    uint32_t *v, struct xgw_err *err)
{
	char name[32];

	if (nib == 15)
		return xgw_fail(err, at, "bad-option",
		    "option %s nibble is 15, reserved except in the payload "
		    "marker 0xff (byte is 0x%02x)", what, r->p[at]);
	if (nib < 13) {
		*v = nib;
		return 0;
	}
	snprintf(name, sizeof(name), "extended option %s", what);
	if (need(r, nib - 12, name, err) == -1)
		return -1;
	if (nib == 13)
		*v = 13 + r->p[r->off];
	else
		*v = 269 + xgw_be16(r->p + r->off);
	r->off += nib - 12;
	return 0;
}

static int
decode_opt(xmpp_ctx_t *ctx, xmpp_stanza_t *el, unsigned num,
    const uint8_t *v, size_t len)
{
	const struct optdef *d = optdef_of(num);
	enum fmt fmt = d != NULL ? d->fmt : OPAQUE;
	xmpp_stanza_t *o, *blk;
	unsigned bnum, more, szx;
	int rc;

	if ((o = xgw_el_new(ctx, "opt", NULL)) == NULL)
		return -1;
	if (xgw_el_add(el, o) == -1 || xgw_set_uint(o, "num", num) == -1 ||
	    (d != NULL && xgw_set_str(o, "name", d->name) == -1))
		return -1;
	if (fmt == STRING)
		rc = xgw_set_bytes(ctx, o, "value", v, len);
	else if (fmt == UINT && len <= 8 && (len == 0 || v[0] != 0))
		rc = xgw_set_uint(o, "uint", uint_value(v, len));
	else if (fmt == EMPTY && len == 0)
		rc = 0;
	else
		rc = set_b64(ctx, o, "value-b64", v, len);
	if (rc == -1 || d == NULL || !d->block || len > 3)
		return rc;
	block_fields(v, len, &bnum, &more, &szx);
	if ((blk = xgw_el_new(ctx, "block", NULL)) == NULL)
		return -1;
	if (xgw_el_add(o, blk) == -1 || xgw_set_uint(blk, "num", bnum) == -1 ||
	    xgw_set_uint(blk, "more", more) == -1 ||
	    xgw_set_uint(blk, "szx", szx) == -1)
		return -1;
	return 0;
}

/* Options in wire order up to the payload marker or the end. */
static int
decode_opts(xmpp_ctx_t *ctx, xmpp_stanza_t *el, struct rd *r,
    struct xgw_err *err)
{
	uint32_t num = 0, delta, len;
	size_t at;

	while (r->off < r->n && r->p[r->off] != PAYLOAD_MARKER) {
		at = r->off++;
		if (opt_field(r, r->p[at] >> 4, "delta", at, &delta, err) == -1 ||
		    opt_field(r, r->p[at] & 0x0f, "length", at, &len, err) == -1)
			return -1;
		if (delta > OPT_NUM_MAX - num)
			return xgw_fail(err, at, "bad-option",
			    "option delta %u after option %u gives %u, "
			    "option numbers end at %u", delta, num,
			    num + delta, OPT_NUM_MAX);
		num += delta;
		if (r->n - r->off < len)
			return xgw_fail(err, at, "bad-length",
			    "option %u value is %u bytes, %zu left in the "
			    "datagram", num, len, r->n - r->off);
		if (decode_opt(ctx, el, num, r->p + r->off, len) == -1)
			return xgw_fail(err, at, "no-memory", "out of memory");
		r->off += len;
	}
	return 0;
}

/* What the first four bytes and the datagram size alone can refuse. */
static int
check_header(const uint8_t *p, size_t n, struct xgw_err *err)
{
	unsigned tkl;

	if (n < 4)
		return xgw_fail(err, n, "truncated",
		    "a message needs a 4-byte header, got %zu bytes", n);
	if (n > XGW_COAP_MSG_MAX)
		return xgw_fail(err, 0, "too-large",
		    "message is %zu bytes, a UDP datagram holds at most %u", n,
		    XGW_COAP_MSG_MAX);
	if (p[0] >> 6 != 1)
		return xgw_fail(err, 0, "bad-version",
		    "version is %u, expected 1", p[0] >> 6);
	tkl = p[0] & 0x0f;
	if (tkl > 8)
		return xgw_fail(err, 0, "bad-token-length",
		    "token length is %u, expected 0..8 (9..15 are reserved)",
		    tkl);
	if (p[1] == 0 && tkl != 0)
		return xgw_fail(err, 0, "bad-empty",
		    "empty message (0.00) has a token length of %u, expected 0",
		    tkl);
	if (p[1] == 0 && n != 4)
		return xgw_fail(err, 4, "bad-empty",
		    "empty message (0.00) has %zu bytes after the header, "
		    "expected none", n - 4);
	if (n - 4 < tkl)
		return xgw_fail(err, n, "truncated",
		    "token needs %u bytes, %zu left", tkl, n - 4);
	return 0;
}

static int
decode_header(xmpp_stanza_t *el, const uint8_t *p, enum xgw_dir dir)
{
	const char *name = xgw_coap_code_name(p[1]);
	char code[8];

	snprintf(code, sizeof(code), "%u.%02u", p[1] >> 5, p[1] & 0x1f);
	if (xgw_set_uint(el, "ver", 1) == -1 ||
	    xgw_set_str(el, "type", typenames[p[0] >> 4 & 3]) == -1 ||
	    xgw_set_str(el, "code", code) == -1 ||
	    (name != NULL && xgw_set_str(el, "name", name) == -1) ||
	    xgw_set_str(el, "class", code_class(p[1])) == -1 ||
	    xgw_set_uint(el, "mid", xgw_be16(p + 2)) == -1 ||
	    xgw_set_str(el, "dir", xgw_dir_name(dir)) == -1)
		return -1;
	return 0;
}

/* The payload after its marker; RFC 7252 3 forbids a marker with none. */
static int
decode_payload(xmpp_ctx_t *ctx, xmpp_stanza_t *el, struct rd *r,
    struct xgw_err *err)
{
	xmpp_stanza_t *pl;
	size_t len;

	if (r->off == r->n)
		return 0;
	if (r->n - r->off == 1)
		return xgw_fail(err, r->off, "bad-payload-marker",
		    "payload marker 0xff is the last byte, expected a payload "
		    "after it");
	len = r->n - r->off - 1;
	if (xgw_add_b64(ctx, el, "payload", r->p + r->off + 1, len) == -1 ||
	    (pl = xgw_child(el, "payload")) == NULL ||
	    xgw_set_uint(pl, "len", len) == -1)
		return xgw_fail(err, r->off, "no-memory", "out of memory");
	return 0;
}

int
xgw_coap_decode(xmpp_ctx_t *ctx, const uint8_t *p, size_t n,
    enum xgw_dir dir, xmpp_stanza_t **out, struct xgw_err *err)
{
	struct rd r = { p, n, 4 };
	xmpp_stanza_t *el;
	unsigned tkl;

	*out = NULL;
	if (check_header(p, n, err) == -1)
		return -1;
	tkl = p[0] & 0x0f;
	if ((el = xgw_el_new(ctx, "coap", XGW_NS_COAP)) == NULL)
		return xgw_fail(err, 0, "no-memory", "out of memory");
	if (decode_header(el, p, dir) == -1 ||
	    (tkl > 0 && xgw_add_b64(ctx, el, "token", p + 4, tkl) == -1)) {
		xmpp_stanza_release(el);
		return xgw_fail(err, 0, "no-memory", "out of memory");
	}
	r.off += tkl;
	if (decode_opts(ctx, el, &r, err) == -1 ||
	    decode_payload(ctx, el, &r, err) == -1) {
		xmpp_stanza_release(el);
		return -1;
	}
	*out = el;
	return 0;
}

/* Encoding: the element is checked as strictly as the wire is. */

static int
get_type(xmpp_stanza_t *el, unsigned *type, struct xgw_err *err)
{
	const char *s = xmpp_stanza_get_attribute(el, "type");

	for (unsigned i = 0; s != NULL && i < 4; i++)
		if (strcmp(s, typenames[i]) == 0) {
			*type = i;
			return 0;
		}
	return xgw_fail(err, 0, "bad-element",
	    "<coap type=\"%.20s\">: expected con, non, ack or rst",
	    s ? s : "(none)");
}

/* "c.dd": class 0..7, detail 00..31, as decode writes it. */
static int
get_code(xmpp_stanza_t *el, unsigned *code, struct xgw_err *err)
{
	const char *s = xmpp_stanza_get_attribute(el, "code");
	unsigned c, dd;

	if (s == NULL || strlen(s) != 4 || s[0] < '0' || s[0] > '7' ||
	    s[1] != '.' || s[2] < '0' || s[2] > '9' || s[3] < '0' ||
	    s[3] > '9' || (dd = (s[2] - '0') * 10 + (s[3] - '0')) > 31)
		return xgw_fail(err, 0, "bad-element", "<coap code=\"%.20s\">: "
		    "expected c.dd, class 0..7 and detail 00..31",
		    s ? s : "(none)");
	c = s[0] - '0';
	*code = CODE(c, dd);
	return 0;
}

/* An informative attribute may be left out, but must not disagree. */
static int
check_attr(xmpp_stanza_t *el, const char *attr, const char *want,
    struct xgw_err *err)
{
	const char *s = xmpp_stanza_get_attribute(el, attr);

	if (s == NULL || (want != NULL && strcmp(s, want) == 0))
		return 0;
	return xgw_fail(err, 0, "bad-element",
	    "<%s %s=\"%.40s\">: the number or code gives %s",
	    xmpp_stanza_get_name(el), attr, s, want ? want : "no name");
}

static int
encode_header(xmpp_stanza_t *el, struct xgw_buf *b, unsigned *code,
    struct xgw_err *err)
{
	const char *d = xmpp_stanza_get_attribute(el, "dir");
	enum xgw_dir dir;
	uint64_t ver, mid;
	unsigned type = 0;

	if (d == NULL || xgw_dir_parse(d, &dir) == -1)
		return xgw_fail(err, 0, "bad-element", "<coap dir=\"%.20s\">: "
		    "expected request, response or event", d ? d : "(none)");
	if (xgw_get_uint(el, "ver", 1, &ver, err) == -1 ||
	    get_type(el, &type, err) == -1 || get_code(el, code, err) == -1 ||
	    xgw_get_uint(el, "mid", 65535, &mid, err) == -1 ||
	    check_attr(el, "name", xgw_coap_code_name(*code), err) == -1 ||
	    check_attr(el, "class", code_class(*code), err) == -1)
		return -1;
	if (ver != 1)
		return xgw_fail(err, 0, "bad-element", "ver is 0, expected 1");
	/* the token length nibble is filled in once the token is written */
	if (xgw_buf_u8(b, 1 << 6 | type << 4, err) == -1 ||
	    xgw_buf_u8(b, *code, err) == -1 || xgw_buf_u16(b, mid, err) == -1)
		return -1;
	return 0;
}

static int
encode_token(xmpp_stanza_t *el, struct xgw_buf *b, size_t hdr,
    struct xgw_err *err)
{
	size_t n;

	if (xgw_child(el, "token") == NULL)
		return 0;
	if (xgw_get_b64(el, "token", b, &n, err) == -1)
		return -1;
	if (n == 0 || n > 8)
		return xgw_fail(err, 0, "bad-element",
		    "<token> is %zu bytes, expected 1..8 (leave it out for none)",
		    n);
	b->data[hdr] |= n;
	return 0;
}

static unsigned
nibble(uint32_t v)
{
	return v < 13 ? v : v < 269 ? 13 : 14;
}

static int
put_ext(struct xgw_buf *b, uint32_t v, struct xgw_err *err)
{
	if (v >= 269)
		return xgw_buf_u16(b, v - 269, err);
	if (v >= 13)
		return xgw_buf_u8(b, v - 13, err);
	return 0;
}

/* The value bytes in the one form decode gives an option of this format. */
static int
encode_value(xmpp_stanza_t *o, enum fmt fmt, struct xgw_buf *v,
    struct xgw_err *err)
{
	int has_text = xmpp_stanza_get_attribute(o, "value") != NULL;
	int has_b64 = xmpp_stanza_get_attribute(o, "value-b64") != NULL;
	uint8_t tmp[8];
	uint64_t u;
	size_t n;

	if (xmpp_stanza_get_attribute(o, "uint") != NULL) {
		if (fmt != UINT || has_text || has_b64)
			return xgw_fail(err, 0, "bad-element",
			    "<opt uint> is only for uint options, alone");
		if (xgw_get_uint(o, "uint", UINT64_MAX, &u, err) == -1)
			return -1;
		return xgw_buf_put(v, tmp, uint_bytes(tmp, u), err);
	}
	if (has_text && fmt != STRING)
		return xgw_fail(err, 0, "bad-element",
		    "<opt value> is only for string options, use value-b64");
	if (!has_text && !has_b64) {
		if (fmt != EMPTY)
			return xgw_fail(err, 0, "bad-element",
			    "<opt> needs value, value-b64 or uint");
		return 0;
	}
	return xgw_get_bytes(o, "value", v, &n, err);
}

/* The <block> child agrees with the option's bytes, and exists iff it can. */
static int
check_block(xmpp_stanza_t *o, const struct optdef *d, const uint8_t *v,
    size_t len, struct xgw_err *err)
{
	xmpp_stanza_t *blk = xgw_child(o, "block");
	unsigned num, more, szx;
	uint64_t gnum, gmore, gszx;

	if (d == NULL || !d->block || len > 3) {
		if (blk != NULL)
			return xgw_fail(err, 0, "bad-element", "<block> is only "
			    "for block options of at most 3 bytes");
		return 0;
	}
	if (blk == NULL)
		return xgw_fail(err, 0, "bad-element",
		    "<opt name=\"%s\"> needs a <block> child", d->name);
	block_fields(v, len, &num, &more, &szx);
	if (xgw_get_uint(blk, "num", 0xfffff, &gnum, err) == -1 ||
	    xgw_get_uint(blk, "more", 1, &gmore, err) == -1 ||
	    xgw_get_uint(blk, "szx", 7, &gszx, err) == -1)
		return -1;
	if (gnum != num || gmore != more || gszx != szx)
		return xgw_fail(err, 0, "bad-element",
		    "<block num=\"%llu\" more=\"%llu\" szx=\"%llu\">, the value "
		    "gives num %u more %u szx %u", (unsigned long long)gnum,
		    (unsigned long long)gmore, (unsigned long long)gszx, num,
		    more, szx);
	return 0;
}

static int
encode_opt(xmpp_stanza_t *o, uint64_t *last, struct xgw_buf *b,
    struct xgw_buf *v, struct xgw_err *err)
{
	const struct optdef *d;
	uint64_t num;
	uint32_t delta;

	if (xgw_get_uint(o, "num", OPT_NUM_MAX, &num, err) == -1)
		return -1;
	if (num < *last)
		return xgw_fail(err, 0, "bad-element",
		    "<opt num=\"%llu\"> after option %llu: options go in "
		    "ascending order", (unsigned long long)num,
		    (unsigned long long)*last);
	d = optdef_of(num);
	v->len = 0;
	if (check_attr(o, "name", d ? d->name : NULL, err) == -1 ||
	    encode_value(o, d ? d->fmt : OPAQUE, v, err) == -1)
		return -1;
	if (v->len > XGW_COAP_MSG_MAX)
		return xgw_fail(err, 0, "bad-element",
		    "option %llu value is %zu bytes, a message holds at most %u",
		    (unsigned long long)num, v->len, XGW_COAP_MSG_MAX);
	delta = num - *last;
	*last = num;
	if (xgw_buf_u8(b, nibble(delta) << 4 | nibble(v->len), err) == -1 ||
	    put_ext(b, delta, err) == -1 || put_ext(b, v->len, err) == -1 ||
	    xgw_buf_put(b, v->data, v->len, err) == -1)
		return -1;
	return check_block(o, d, v->data, v->len, err);
}

static int
encode_payload(xmpp_stanza_t *el, struct xgw_buf *b, struct xgw_err *err)
{
	xmpp_stanza_t *pl = xgw_child(el, "payload");
	uint64_t len;
	size_t n;

	if (xgw_get_uint(pl, "len", XGW_COAP_MSG_MAX, &len, err) == -1 ||
	    xgw_buf_u8(b, PAYLOAD_MARKER, err) == -1 ||
	    xgw_get_b64(el, "payload", b, &n, err) == -1)
		return -1;
	if (n == 0 || n != len)
		return xgw_fail(err, 0, "bad-element",
		    "<payload len=\"%llu\"> holds %zu bytes, expected len and "
		    "at least 1 (leave it out for none)",
		    (unsigned long long)len, n);
	return 0;
}

/* At most one <token>, then <opt>s in order, then at most one <payload>. */
static int
encode_body(xmpp_stanza_t *el, struct xgw_buf *b, struct xgw_err *err)
{
	struct xgw_buf v = { 0 };
	int ntok = 0, npl = 0, rc = 0;
	uint64_t last = 0;
	xmpp_stanza_t *c;
	const char *name;

	for (c = xmpp_stanza_get_children(el); c != NULL && rc == 0;
	    c = xmpp_stanza_get_next(c)) {
		if (!xmpp_stanza_is_tag(c))
			continue;
		name = xmpp_stanza_get_name(c);
		if (strcmp(name, "token") == 0 && ntok++ == 0)
			continue;
		if (strcmp(name, "payload") == 0 && npl++ == 0)
			continue;
		if (strcmp(name, "opt") == 0 && npl == 0)
			rc = encode_opt(c, &last, b, &v, err);
		else
			rc = xgw_fail(err, 0, "bad-element", "<coap> child <%s>: "
			    "expected one <token>, <opt>s, then one <payload>",
			    name);
	}
	xgw_buf_free(&v);
	if (rc == -1)
		return -1;
	return npl ? encode_payload(el, b, err) : 0;
}

int
xgw_coap_encode(xmpp_stanza_t *el, struct xgw_buf *b, struct xgw_err *err)
{
	const char *name = xmpp_stanza_get_name(el), *ns;
	size_t start = b->len;
	unsigned code = 0;

	ns = xmpp_stanza_get_ns(el);
	if (name == NULL || strcmp(name, "coap") != 0 || ns == NULL ||
	    strcmp(ns, XGW_NS_COAP) != 0)
		return xgw_fail(err, 0, "bad-element",
		    "expected <coap xmlns=\"%s\">", XGW_NS_COAP);
	if (encode_header(el, b, &code, err) == -1 ||
	    encode_token(el, b, start, err) == -1 ||
	    encode_body(el, b, err) == -1)
		return -1;
	if (code == 0 && b->len - start != 4)
		return xgw_fail(err, 0, "bad-element",
		    "an empty message (0.00) has no token, options or payload");
	if (b->len - start > XGW_COAP_MSG_MAX)
		return xgw_fail(err, 0, "bad-element",
		    "message is %zu bytes, a UDP datagram holds at most %u",
		    b->len - start, XGW_COAP_MSG_MAX);
	return 0;
}

static int
proto_decode(xmpp_ctx_t *ctx, void *sess, enum xgw_dir dir, const uint8_t *p,
    size_t n, xmpp_stanza_t **out, struct xgw_err *err)
{
	(void)sess;
	return xgw_coap_decode(ctx, p, n, dir, out, err);
}

/* "get/con", "content/ack", "empty/rst"; the code when it has no name. */
static const char *
proto_kind(xmpp_stanza_t *el, char *buf, size_t len)
{
	const char *name = xmpp_stanza_get_attribute(el, "name");
	const char *type = xmpp_stanza_get_attribute(el, "type");

	if (name == NULL)
		name = xmpp_stanza_get_attribute(el, "code");
	return xgw_kind(buf, len, "", name, type);
}

const struct xgw_proto xgw_coap_proto = {
	.name = "coap",
	.ns = XGW_NS_COAP,
	.stream = 0,
	.ports = { XGW_COAP_PORT },
	.sess_size = 0,
	.decode = proto_decode,
	.encode = xgw_coap_encode,
	.kind = proto_kind,
};
