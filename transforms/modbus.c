/*
 * Modbus/TCP ADU <-> <modbus/> element.
 *
 * Most function bodies are a flat run of fields, so they are described by
 * a layout that one interpreter walks both ways; the few with repeated
 * groups (file records, device identification objects) have their own
 * code.  Every length from the wire is checked against the bytes that
 * are really there before it is used.
 */
#include <stdio.h>
#include <string.h>

#include "modbus.h"

enum op {
	END,
	U8,		/* one-byte attribute within [min, max] */
	U16,		/* two-byte attribute within [min, max] */
	COIL,		/* two-byte attribute, 0x0000 or 0xFF00 */
	BC8,		/* byte count of the rest, one byte, within [min, max] */
	BC16,		/* byte count of the rest, two bytes */
	REGS,		/* the rest as 16-bit values */
	REGSQ,		/* the rest as exactly <qty> 16-bit values */
	BITS,		/* the rest as bits, every bit of every byte */
	BITSQ,		/* the rest as exactly <qty> bits, padding kept */
	DATA		/* the rest as opaque bytes */
};

struct field {
	enum op		 op;
	const char	*name;
	uint16_t	 min, max;
	const char	*qty;	/* REGSQ, BITSQ: the attribute that counts them */
};

struct layout {
	uint8_t		 fc;
	const char	*fn;
	struct field	 req[7];
	struct field	 resp[7];
	int		 custom;	/* bodies handled by mei/file-record code */
};

#define F(op, name, min, max)	{ op, name, min, max, NULL }
#define Q(op, name, qty)	{ op, name, 0, 0, qty }

static const struct layout layouts[] = {
	{ 1, "read-coils",
	    { F(U16, "addr", 0, 65535), F(U16, "qty", 1, 2000) },
	    { F(BC8, "bc", 1, 250), F(BITS, "bits", 0, 0) }, 0 },
	{ 2, "read-discrete-inputs",
	    { F(U16, "addr", 0, 65535), F(U16, "qty", 1, 2000) },
	    { F(BC8, "bc", 1, 250), F(BITS, "bits", 0, 0) }, 0 },
	{ 3, "read-holding-registers",
	    { F(U16, "addr", 0, 65535), F(U16, "qty", 1, 125) },
	    { F(BC8, "bc", 2, 250), F(REGS, "regs", 0, 0) }, 0 },
	{ 4, "read-input-registers",
	    { F(U16, "addr", 0, 65535), F(U16, "qty", 1, 125) },
	    { F(BC8, "bc", 2, 250), F(REGS, "regs", 0, 0) }, 0 },
	{ 5, "write-single-coil",
	    { F(U16, "addr", 0, 65535), F(COIL, "value", 0, 0) },
	    { F(U16, "addr", 0, 65535), F(COIL, "value", 0, 0) }, 0 },
	{ 6, "write-single-register",
	    { F(U16, "addr", 0, 65535), F(U16, "value", 0, 65535) },
	    { F(U16, "addr", 0, 65535), F(U16, "value", 0, 65535) }, 0 },
	{ 7, "read-exception-status",
	    { F(END, NULL, 0, 0) },
	    { F(U8, "status", 0, 255) }, 0 },
	{ 8, "diagnostics",
	    { F(U16, "sub", 0, 65535), F(DATA, "data", 0, 0) },
	    { F(U16, "sub", 0, 65535), F(DATA, "data", 0, 0) }, 0 },
	{ 11, "get-comm-event-counter",
	    { F(END, NULL, 0, 0) },
	    { F(U16, "status", 0, 65535), F(U16, "count", 0, 65535) }, 0 },
	{ 12, "get-comm-event-log",
	    { F(END, NULL, 0, 0) },
	    { F(BC8, "bc", 6, 70), F(U16, "status", 0, 65535),
	      F(U16, "count", 0, 65535), F(U16, "messages", 0, 65535),
	      F(DATA, "events", 0, 0) }, 0 },
	{ 15, "write-multiple-coils",
	    { F(U16, "addr", 0, 65535), F(U16, "qty", 1, 1968),
	      F(BC8, "bc", 1, 246), Q(BITSQ, "bits", "qty") },
	    { F(U16, "addr", 0, 65535), F(U16, "qty", 1, 1968) }, 0 },
	{ 16, "write-multiple-registers",
	    { F(U16, "addr", 0, 65535), F(U16, "qty", 1, 123),
	      F(BC8, "bc", 2, 246), Q(REGSQ, "regs", "qty") },
	    { F(U16, "addr", 0, 65535), F(U16, "qty", 1, 123) }, 0 },
	{ 17, "report-server-id",
	    { F(END, NULL, 0, 0) },
	    { F(BC8, "bc", 0, 251), F(DATA, "data", 0, 0) }, 0 },
	{ 20, "read-file-record", { F(END, NULL, 0, 0) }, { F(END, NULL, 0, 0) }, 1 },
	{ 21, "write-file-record", { F(END, NULL, 0, 0) }, { F(END, NULL, 0, 0) }, 1 },
	{ 22, "mask-write-register",
	    { F(U16, "addr", 0, 65535), F(U16, "and", 0, 65535),
	      F(U16, "or", 0, 65535) },
	    { F(U16, "addr", 0, 65535), F(U16, "and", 0, 65535),
	      F(U16, "or", 0, 65535) }, 0 },
	{ 23, "read-write-multiple-registers",
	    { F(U16, "read-addr", 0, 65535), F(U16, "read-qty", 1, 125),
	      F(U16, "write-addr", 0, 65535), F(U16, "write-qty", 1, 121),
	      F(BC8, "bc", 2, 242), Q(REGSQ, "regs", "write-qty") },
	    { F(BC8, "bc", 2, 250), F(REGS, "regs", 0, 0) }, 0 },
	{ 24, "read-fifo-queue",
	    { F(U16, "addr", 0, 65535) },
	    { F(BC16, "bc", 2, 64), F(U16, "count", 0, 31),
	      Q(REGSQ, "regs", "count") }, 0 },
	{ 43, "encapsulated-interface-transport",
	    { F(END, NULL, 0, 0) }, { F(END, NULL, 0, 0) }, 1 },
};

static const struct layout *
layout_of(unsigned fc)
{
	for (size_t i = 0; i < sizeof(layouts) / sizeof(layouts[0]); i++)
		if (layouts[i].fc == fc)
			return &layouts[i];
	return NULL;
}

const char *
xgw_modbus_fn_name(unsigned fc)
{
	const struct layout *l = layout_of(fc);

	return l != NULL ? l->fn : NULL;
}

int
xgw_modbus_fn_code(const char *name)
{
	for (size_t i = 0; i < sizeof(layouts) / sizeof(layouts[0]); i++)
		if (strcmp(layouts[i].fn, name) == 0)
			return layouts[i].fc;
	return -1;
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
		return xgw_fail(err, r->off, "truncated",
		    "%s needs %zu bytes, %zu left", what, k, r->n - r->off);
	return 0;
}

static int
range(size_t at, const char *name, unsigned v, unsigned min, unsigned max,
    struct xgw_err *err)
{
	if (v < min || v > max)
		return xgw_fail(err, at, "bad-value",
		    "%s is %u, expected %u..%u", name, v, min, max);
	return 0;
}

/* The value of an attribute decoded earlier in the same layout. */
static unsigned
earlier(const struct field *f, const unsigned *vals, const char *name)
{
	for (; f->op != END; f++, vals++)
		if (f->name != NULL && strcmp(f->name, name) == 0)
			return *vals;
	return 0;
}

static int
decode_layout(xmpp_ctx_t *ctx, xmpp_stanza_t *el, const struct field *fields,
    struct rd *r, struct xgw_err *err)
{
	unsigned vals[8] = { 0 };
	const struct field *f;
	size_t rest, at, k = 0;

	for (f = fields; f->op != END; f++, k++) {
		at = r->off;
		rest = r->n - r->off;
		switch (f->op) {
		case U8:
			if (need(r, 1, f->name, err) == -1)
				return -1;
			vals[k] = r->p[r->off++];
			break;
		case U16:
		case COIL:
			if (need(r, 2, f->name, err) == -1)
				return -1;
			vals[k] = xgw_be16(r->p + r->off);
			r->off += 2;
			if (f->op == COIL && vals[k] != 0 && vals[k] != 0xff00)
				return xgw_fail(err, at, "bad-value",
				    "coil value is 0x%04x, expected 0x0000 or 0xff00",
				    vals[k]);
			break;
		case BC8:
		case BC16:
			if (need(r, f->op == BC8 ? 1 : 2, f->name, err) == -1)
				return -1;
			vals[k] = f->op == BC8 ? r->p[r->off] :
			    xgw_be16(r->p + r->off);
			r->off += f->op == BC8 ? 1 : 2;
			rest = r->n - r->off;
			if (vals[k] != rest)
				return xgw_fail(err, at, "bad-byte-count",
				    "byte count is %u, %zu bytes follow",
				    vals[k], rest);
			break;
		case REGS:
		case REGSQ:
			if (rest % 2 != 0)
				return xgw_fail(err, at, "bad-byte-count",
				    "%zu bytes of registers, expected an even number",
				    rest);
			if (f->op == REGSQ &&
			    rest != 2 * (size_t)earlier(fields, vals, f->qty))
				return xgw_fail(err, at, "bad-byte-count",
				    "%zu bytes of registers, %s %u needs %u",
				    rest, f->qty, earlier(fields, vals, f->qty),
				    2 * earlier(fields, vals, f->qty));
			if (xgw_add_u16list(ctx, el, f->name, r->p + r->off,
			    rest / 2) == -1)
				goto nomem;
			r->off = r->n;
			continue;
		case BITS:
		case BITSQ: {
			size_t nbits = rest * 8;

			if (f->op == BITSQ) {
				unsigned q = earlier(fields, vals, f->qty);

				if (rest != (q + 7) / 8)
					return xgw_fail(err, at, "bad-byte-count",
					    "%zu bytes of bits, %s %u needs %u",
					    rest, f->qty, q, (q + 7) / 8);
				nbits = q;
				if (q % 8 != 0 && r->p[r->n - 1] >> q % 8 != 0 &&
				    xgw_set_uint(el, "pad",
				    r->p[r->n - 1] >> q % 8) == -1)
					goto nomem;
			}
			if (xgw_add_bitlist(ctx, el, f->name, r->p + r->off,
			    nbits) == -1)
				goto nomem;
			r->off = r->n;
			continue;
		}
		case DATA:
			if (xgw_add_b64(ctx, el, f->name, r->p + r->off,
			    rest) == -1)
				goto nomem;
			r->off = r->n;
			continue;
		case END:
			break;
		}
		if (f->op != COIL &&
		    range(at, f->name, vals[k], f->min, f->max, err) == -1)
			return -1;
		if (xgw_set_uint(el, f->name, vals[k]) == -1)
			goto nomem;
	}
	if (r->off != r->n)
		return xgw_fail(err, r->off, "bad-length",
		    "%zu bytes after the last field", r->n - r->off);
	return 0;
nomem:
	return xgw_fail(err, r->off, "no-memory", "out of memory");
}

static int
encode_layout(xmpp_stanza_t *el, const struct field *fields,
    struct xgw_buf *b, struct xgw_err *err)
{
	uint64_t vals[8] = { 0 }, v;
	const struct field *f;
	size_t bcat = 0, n, k = 0;
	const struct field *bc = NULL;

	for (f = fields; f->op != END; f++, k++) {
		switch (f->op) {
		case U8:
		case U16:
		case BC8:
		case BC16:
			if (xgw_get_uint(el, f->name, f->max, &v, err) == -1)
				return -1;
			if (v < f->min)
				return xgw_fail(err, 0, "bad-element",
				    "%s is %llu, expected %u..%u", f->name,
				    (unsigned long long)v, f->min, f->max);
			vals[k] = v;
			if (f->op == BC8 || f->op == BC16) {
				bc = f;
				bcat = b->len;
			}
			if (((f->op == U8 || f->op == BC8) &&
			    xgw_buf_u8(b, v, err) == -1) ||
			    ((f->op == U16 || f->op == BC16) &&
			    xgw_buf_u16(b, v, err) == -1))
				return -1;
			break;
		case COIL:
			if (xgw_get_uint(el, f->name, 65535, &v, err) == -1)
				return -1;
			if (v != 0 && v != 0xff00)
				return xgw_fail(err, 0, "bad-element",
				    "coil value is %llu, expected 0 or 65280",
				    (unsigned long long)v);
			if (xgw_buf_u16(b, v, err) == -1)
				return -1;
			break;
		case REGS:
		case REGSQ:
			if (xgw_get_u16list(el, f->name, b, &n, err) == -1)
				return -1;
			if (f->op == REGSQ) {
				uint64_t q = 0;

				for (size_t i = 0; i < k; i++)
					if (strcmp(fields[i].name, f->qty) == 0)
						q = vals[i];
				if (n != q)
					return xgw_fail(err, 0, "bad-element",
					    "<%s> has %zu values, %s is %llu",
					    f->name, n, f->qty,
					    (unsigned long long)q);
			}
			break;
		case BITS:
		case BITSQ: {
			uint64_t q = 0, pad;

			if (xgw_get_bitlist(el, f->name, b, &n, err) == -1)
				return -1;
			if (f->op == BITS && n % 8 != 0)
				return xgw_fail(err, 0, "bad-element",
				    "<%s> has %zu bits, expected whole bytes",
				    f->name, n);
			if (f->op == BITS)
				break;
			for (size_t i = 0; i < k; i++)
				if (strcmp(fields[i].name, f->qty) == 0)
					q = vals[i];
			if (n != q)
				return xgw_fail(err, 0, "bad-element",
				    "<%s> has %zu bits, %s is %llu", f->name, n,
				    f->qty, (unsigned long long)q);
			if (xgw_get_uint_opt(el, "pad", q % 8 ? 255u >> q % 8 : 0,
			    0, &pad, err) == -1)
				return -1;
			if (pad != 0)
				b->data[b->len - 1] |= pad << q % 8;
			break;
		}
		case DATA:
			if (xgw_get_b64(el, f->name, b, &n, err) == -1)
				return -1;
			break;
		case END:
			break;
		}
	}
	if (bc != NULL) {
		size_t width = bc->op == BC8 ? 1 : 2;
		size_t real = b->len - bcat - width;

		if (real != vals[bc - fields])
			return xgw_fail(err, 0, "bad-element",
			    "%s is %llu, the fields after it take %zu bytes",
			    bc->name, (unsigned long long)vals[bc - fields],
			    real);
	}
	return 0;
}

/*
 * Read File Record (20) and Write File Record (21): a byte count and
 * repeated sub-requests.  Each <record> carries its own fields.
 */
static void
records_bc_range(unsigned fc, enum xgw_dir dir, unsigned *min, unsigned *max)
{
	*min = fc == 20 ? (dir == XGW_RESPONSE ? 2 : 7) : 9;
	*max = fc == 20 ? 245 : 251;
}

static int
decode_records(xmpp_ctx_t *ctx, xmpp_stanza_t *el, unsigned fc,
    enum xgw_dir dir, struct rd *r, struct xgw_err *err)
{
	int resp20 = fc == 20 && dir == XGW_RESPONSE;
	int data = fc == 21 || resp20;
	unsigned bc, min, max;
	size_t at = r->off;

	records_bc_range(fc, dir, &min, &max);

	if (need(r, 1, "byte count", err) == -1)
		return -1;
	bc = r->p[r->off++];
	if (bc != r->n - r->off)
		return xgw_fail(err, at, "bad-byte-count",
		    "byte count is %u, %zu bytes follow", bc, r->n - r->off);
	if (bc < min || bc > max)
		return xgw_fail(err, at, "bad-value",
		    "byte count is %u, expected %u..%u", bc, min, max);
	if (xgw_set_uint(el, "bc", bc) == -1)
		goto nomem;
	while (r->off < r->n) {
		xmpp_stanza_t *rec = xgw_el_new(ctx, "record", NULL);
		unsigned len, ref;
		size_t words;

		if (rec == NULL || xgw_el_add(el, rec) == -1)
			goto nomem;
		at = r->off;
		if (resp20) {
			if (need(r, 2, "sub-response header", err) == -1)
				return -1;
			len = r->p[r->off];
			ref = r->p[r->off + 1];
			r->off += 2;
			if (len < 1 || (len - 1) % 2 != 0)
				return xgw_fail(err, at, "bad-byte-count",
				    "sub-response length is %u, expected 1 + an even number",
				    len);
			words = (len - 1) / 2;
			if (xgw_set_uint(rec, "len", len) == -1)
				goto nomem;
		} else {
			if (need(r, 7, "sub-request header", err) == -1)
				return -1;
			ref = r->p[r->off];
			len = xgw_be16(r->p + r->off + 5);
			if (xgw_set_uint(rec, "file", xgw_be16(r->p + r->off + 1)) ||
			    xgw_set_uint(rec, "record", xgw_be16(r->p + r->off + 3)) ||
			    xgw_set_uint(rec, "len", len))
				goto nomem;
			if (xgw_be16(r->p + r->off + 3) > 9999)
				return xgw_fail(err, at + 3, "bad-value",
				    "record number is %u, expected 0..9999",
				    xgw_be16(r->p + r->off + 3));
			r->off += 7;
			words = len;
		}
		if (ref != 6)
			return xgw_fail(err, at + resp20, "bad-value",
			    "reference type is %u, expected 6", ref);
		if (xgw_set_uint(rec, "ref", ref) == -1)
			goto nomem;
		if (!data)
			continue;
		if (need(r, 2 * words, "record data", err) == -1)
			return -1;
		if (xgw_add_u16list(ctx, rec, "regs", r->p + r->off, words) == -1)
			goto nomem;
		r->off += 2 * words;
	}
	return 0;
nomem:
	return xgw_fail(err, r->off, "no-memory", "out of memory");
}

static int
encode_records(xmpp_stanza_t *el, unsigned fc, enum xgw_dir dir,
    struct xgw_buf *b, struct xgw_err *err)
{
	int resp20 = fc == 20 && dir == XGW_RESPONSE;
	uint64_t bc, len, ref, file, num;
	size_t bcat, n, lenat;
	xmpp_stanza_t *c;
	unsigned min, max;

	records_bc_range(fc, dir, &min, &max);
	if (xgw_get_uint(el, "bc", max, &bc, err) == -1)
		return -1;
	if (bc < min)
		return xgw_fail(err, 0, "bad-element",
		    "bc is %llu, expected %u..%u", (unsigned long long)bc, min,
		    max);
	bcat = b->len;
	if (xgw_buf_u8(b, bc, err) == -1)
		return -1;
	for (c = xmpp_stanza_get_children(el); c != NULL;
	    c = xmpp_stanza_get_next(c)) {
		if (!xmpp_stanza_is_tag(c) ||
		    strcmp(xmpp_stanza_get_name(c), "record") != 0)
			continue;
		if (xgw_get_uint(c, "ref", 255, &ref, err) == -1)
			return -1;
		if (ref != 6)
			return xgw_fail(err, 0, "bad-element",
			    "<record ref=\"%llu\">: the reference type is 6",
			    (unsigned long long)ref);
		if (resp20) {
			if (xgw_get_uint(c, "len", 255, &len, err) == -1 ||
			    xgw_buf_u8(b, len, err) == -1 ||
			    xgw_buf_u8(b, ref, err) == -1)
				return -1;
			lenat = b->len;
			if (xgw_get_u16list(c, "regs", b, &n, err) == -1)
				return -1;
			if (b->len - lenat + 1 != len)
				return xgw_fail(err, 0, "bad-element",
				    "<record len=\"%llu\"> holds %zu bytes",
				    (unsigned long long)len, b->len - lenat + 1);
			continue;
		}
		if (xgw_get_uint(c, "file", 65535, &file, err) == -1 ||
		    xgw_get_uint(c, "record", 9999, &num, err) == -1 ||
		    xgw_get_uint(c, "len", 65535, &len, err) == -1 ||
		    xgw_buf_u8(b, ref, err) == -1 ||
		    xgw_buf_u16(b, file, err) == -1 ||
		    xgw_buf_u16(b, num, err) == -1 ||
		    xgw_buf_u16(b, len, err) == -1)
			return -1;
		if (fc == 21) {
			if (xgw_get_u16list(c, "regs", b, &n, err) == -1)
				return -1;
			if (n != len)
				return xgw_fail(err, 0, "bad-element",
				    "<record len=\"%llu\"> holds %zu values",
				    (unsigned long long)len, n);
		}
	}
	if (b->len - bcat - 1 != bc)
		return xgw_fail(err, 0, "bad-element",
		    "bc is %llu, the records take %zu bytes",
		    (unsigned long long)bc, b->len - bcat - 1);
	return 0;
}

/*
 * Encapsulated Interface Transport (43): MEI 13 (CANopen) carries opaque
 * bytes, MEI 14 (Read Device Identification) has objects in its response.
 * Other MEI types keep their bytes too.
 */
static const struct field mei_data[] = { F(DATA, "data", 0, 0), F(END, NULL, 0, 0) };
static const struct field devid_req[] = {
	F(U8, "code", 1, 4), F(U8, "object", 0, 255), F(END, NULL, 0, 0)
};
static const struct field devid_resp[] = {
	F(U8, "code", 1, 4), F(U8, "conformity", 0, 255), F(U8, "more", 0, 255),
	F(U8, "next", 0, 255), F(U8, "count", 0, 255), F(END, NULL, 0, 0)
};

static int
decode_mei(xmpp_ctx_t *ctx, xmpp_stanza_t *el, enum xgw_dir dir,
    struct rd *r, struct xgw_err *err)
{
	unsigned mei, count;

	if (need(r, 1, "MEI type", err) == -1)
		return -1;
	mei = r->p[r->off++];
	if (xgw_set_uint(el, "mei", mei) == -1)
		goto nomem;
	if (mei != 14)
		return decode_layout(ctx, el, mei_data, r, err);
	if (dir == XGW_REQUEST)
		return decode_layout(ctx, el, devid_req, r, err);
	/* the fixed part, then count objects */
	{
		struct rd head = *r;

		if (need(r, 5, "device identification header", err) == -1)
			return -1;
		head.n = r->off + 5;
		if (decode_layout(ctx, el, devid_resp, &head, err) == -1)
			return -1;
		count = r->p[r->off + 4];
		if (r->p[r->off + 2] != 0 && r->p[r->off + 2] != 0xff)
			return xgw_fail(err, r->off + 2, "bad-value",
			    "more follows is 0x%02x, expected 0x00 or 0xff",
			    r->p[r->off + 2]);
		r->off += 5;
	}
	for (unsigned i = 0; i < count; i++) {
		xmpp_stanza_t *o;
		unsigned len;

		if (need(r, 2, "object header", err) == -1)
			return -1;
		len = r->p[r->off + 1];
		if (need(r, 2 + len, "object value", err) == -1)
			return -1;
		if ((o = xgw_el_new(ctx, "object", NULL)) == NULL ||
		    xgw_el_add(el, o) == -1 ||
		    xgw_set_uint(o, "id", r->p[r->off]) == -1)
			goto nomem;
		if (xgw_add_b64(ctx, o, "value", r->p + r->off + 2, len) == -1)
			goto nomem;
		r->off += 2 + len;
	}
	if (r->off != r->n)
		return xgw_fail(err, r->off, "bad-length",
		    "%zu bytes after %u objects", r->n - r->off, count);
	return 0;
nomem:
	return xgw_fail(err, r->off, "no-memory", "out of memory");
}

static int
encode_mei(xmpp_stanza_t *el, enum xgw_dir dir, struct xgw_buf *b,
    struct xgw_err *err)
{
	uint64_t mei, count;
	size_t n = 0, len;
	xmpp_stanza_t *c;

	if (xgw_get_uint(el, "mei", 255, &mei, err) == -1 ||
	    xgw_buf_u8(b, mei, err) == -1)
		return -1;
	if (mei != 14)
		return encode_layout(el, mei_data, b, err);
	if (dir == XGW_REQUEST)
		return encode_layout(el, devid_req, b, err);
	if (encode_layout(el, devid_resp, b, err) == -1)
		return -1;
	if (b->data[b->len - 3] != 0 && b->data[b->len - 3] != 0xff)
		return xgw_fail(err, 0, "bad-element",
		    "more is %u, expected 0 or 255", b->data[b->len - 3]);
	count = b->data[b->len - 1];
	for (c = xmpp_stanza_get_children(el); c != NULL;
	    c = xmpp_stanza_get_next(c)) {
		uint64_t id;
		size_t lenat;

		if (!xmpp_stanza_is_tag(c) ||
		    strcmp(xmpp_stanza_get_name(c), "object") != 0)
			continue;
		if (xgw_get_uint(c, "id", 255, &id, err) == -1 ||
		    xgw_buf_u8(b, id, err) == -1 ||
		    xgw_buf_u8(b, 0, err) == -1)
			return -1;
		lenat = b->len - 1;
		if (xgw_get_b64(c, "value", b, &len, err) == -1)
			return -1;
		if (len > 255)
			return xgw_fail(err, 0, "bad-element",
			    "object %llu is %zu bytes, at most 255",
			    (unsigned long long)id, len);
		b->data[lenat] = len;
		n++;
	}
	if (n != count)
		return xgw_fail(err, 0, "bad-element",
		    "count is %llu, %zu <object> elements",
		    (unsigned long long)count, n);
	return 0;
}

int
xgw_modbus_frame(const uint8_t *p, size_t n, size_t *adulen,
    struct xgw_err *err)
{
	unsigned len;

	if (n >= 4 && xgw_be16(p + 2) != 0)
		return xgw_fail(err, 2, "bad-protocol-id",
		    "protocol id is %u, expected 0", xgw_be16(p + 2));
	if (n < 6)
		return 0;
	len = xgw_be16(p + 4);
	if (len < 2 || len > XGW_MODBUS_ADU_MAX - 6)
		return xgw_fail(err, 4, "bad-length",
		    "length field is %u, expected 2..%u", len,
		    XGW_MODBUS_ADU_MAX - 6);
	if (n < 6 + (size_t)len)
		return 0;
	*adulen = 6 + len;
	return 1;
}

int
xgw_modbus_decode(xmpp_ctx_t *ctx, const uint8_t *p, size_t n,
    enum xgw_dir dir, xmpp_stanza_t **out, struct xgw_err *err)
{
	struct rd r = { p, n, 8 };
	const struct layout *l;
	xmpp_stanza_t *el;
	unsigned fc;
	int rc;

	*out = NULL;
	if (n < 8)
		return xgw_fail(err, n, "truncated",
		    "an ADU needs 8 bytes (MBAP header and function code), got %zu",
		    n);
	if (xgw_be16(p + 2) != 0)
		return xgw_fail(err, 2, "bad-protocol-id",
		    "protocol id is %u, expected 0", xgw_be16(p + 2));
	if (xgw_be16(p + 4) != n - 6)
		return xgw_fail(err, 4, "bad-length",
		    "length field is %u, %zu bytes follow it", xgw_be16(p + 4),
		    n - 6);
	if (n > XGW_MODBUS_ADU_MAX)
		return xgw_fail(err, 4, "bad-length",
		    "ADU is %zu bytes, at most %u", n, XGW_MODBUS_ADU_MAX);
	fc = p[7];
	if (fc == 0 || (fc >= 0x80 && dir != XGW_RESPONSE))
		return xgw_fail(err, 7, "bad-function",
		    "function code %u is not valid in a %s", fc,
		    xgw_dir_name(dir));
	if ((el = xgw_el_new(ctx, "modbus", XGW_NS_MODBUS)) == NULL ||
	    xgw_set_uint(el, "tid", xgw_be16(p)) == -1 ||
	    xgw_set_uint(el, "pid", 0) == -1 ||
	    xgw_set_uint(el, "len", n - 6) == -1 ||
	    xgw_set_uint(el, "unit", p[6]) == -1 ||
	    xgw_set_uint(el, "fc", fc & 0x7f) == -1 ||
	    xgw_set_str(el, "dir", xgw_dir_name(dir)) == -1)
		goto nomem;
	l = layout_of(fc & 0x7f);
	if (l != NULL && xgw_set_str(el, "fn", l->fn) == -1)
		goto nomem;
	if (fc & 0x80) {
		if (n != 9) {
			xmpp_stanza_release(el);
			return xgw_fail(err, 8, "bad-length",
			    "exception response is %zu bytes, expected 9", n);
		}
		if (xgw_set_uint(el, "exception", p[8]) == -1)
			goto nomem;
		*out = el;
		return 0;
	}
	if (l == NULL)
		rc = decode_layout(ctx, el, mei_data, &r, err);
	else if (fc == 43)
		rc = decode_mei(ctx, el, dir, &r, err);
	else if (l->custom)
		rc = decode_records(ctx, el, fc, dir, &r, err);
	else
		rc = decode_layout(ctx, el, dir == XGW_REQUEST ? l->req :
		    l->resp, &r, err);
	if (rc == -1) {
		xmpp_stanza_release(el);
		return -1;
	}
	*out = el;
	return 0;
nomem:
	if (el != NULL)
		xmpp_stanza_release(el);
	return xgw_fail(err, 0, "no-memory", "out of memory");
}

/* The direction is part of the element so that encode needs nothing else. */
static int
element_dir(xmpp_stanza_t *el, enum xgw_dir *dir, struct xgw_err *err)
{
	const char *s = xmpp_stanza_get_attribute(el, "dir");

	if (s == NULL || xgw_dir_parse(s, dir) == -1 || *dir == XGW_EVENT)
		return xgw_fail(err, 0, "bad-element",
		    "<modbus> needs dir=\"request\" or dir=\"response\"");
	return 0;
}

int
xgw_modbus_encode(xmpp_stanza_t *el, struct xgw_buf *b, struct xgw_err *err)
{
	uint64_t tid, pid, len, unit, fc, exc;
	const struct layout *l;
	const char *name = xmpp_stanza_get_name(el), *ns, *fn;
	enum xgw_dir dir;
	size_t start = b->len;
	int rc;

	ns = xmpp_stanza_get_ns(el);
	if (name == NULL || strcmp(name, "modbus") != 0 || ns == NULL ||
	    strcmp(ns, XGW_NS_MODBUS) != 0)
		return xgw_fail(err, 0, "bad-element",
		    "expected <modbus xmlns=\"%s\">", XGW_NS_MODBUS);
	if (element_dir(el, &dir, err) == -1 ||
	    xgw_get_uint(el, "tid", 65535, &tid, err) == -1 ||
	    xgw_get_uint(el, "pid", 0, &pid, err) == -1 ||
	    xgw_get_uint(el, "len", XGW_MODBUS_ADU_MAX - 6, &len, err) == -1 ||
	    xgw_get_uint(el, "unit", 255, &unit, err) == -1 ||
	    xgw_get_uint(el, "fc", 127, &fc, err) == -1)
		return -1;
	/* code 0 is invalid, but a device may still answer it with 0x80 */
	if (fc == 0 && xmpp_stanza_get_attribute(el, "exception") == NULL)
		return xgw_fail(err, 0, "bad-element",
		    "fc 0 is only valid in an exception response");
	l = layout_of(fc);
	fn = xmpp_stanza_get_attribute(el, "fn");
	if (fn != NULL && (l == NULL || strcmp(fn, l->fn) != 0))
		return xgw_fail(err, 0, "bad-element",
		    "fn=\"%.40s\" does not name function code %llu", fn,
		    (unsigned long long)fc);
	if (xgw_buf_u16(b, tid, err) == -1 || xgw_buf_u16(b, 0, err) == -1 ||
	    xgw_buf_u16(b, len, err) == -1 || xgw_buf_u8(b, unit, err) == -1)
		return -1;
	if (xmpp_stanza_get_attribute(el, "exception") != NULL) {
		if (dir != XGW_RESPONSE)
			return xgw_fail(err, 0, "bad-element",
			    "an exception is only valid in a response");
		if (xgw_get_uint(el, "exception", 255, &exc, err) == -1 ||
		    xgw_buf_u8(b, fc | 0x80, err) == -1 ||
		    xgw_buf_u8(b, exc, err) == -1)
			return -1;
	} else {
		if (xgw_buf_u8(b, fc, err) == -1)
			return -1;
		if (l == NULL)
			rc = encode_layout(el, mei_data, b, err);
		else if (fc == 43)
			rc = encode_mei(el, dir, b, err);
		else if (l->custom)
			rc = encode_records(el, fc, dir, b, err);
		else
			rc = encode_layout(el, dir == XGW_REQUEST ? l->req :
			    l->resp, b, err);
		if (rc == -1)
			return -1;
	}
	if (b->len - start - 6 != len)
		return xgw_fail(err, 0, "bad-element",
		    "len is %llu, the ADU after it takes %zu bytes",
		    (unsigned long long)len, b->len - start - 6);
	return 0;
}

static int
proto_frame(void *sess, enum xgw_dir dir, const uint8_t *p, size_t n,
    size_t *pdulen, struct xgw_err *err)
{
	(void)sess;
	(void)dir;
	return xgw_modbus_frame(p, n, pdulen, err);
}

static int
proto_decode(xmpp_ctx_t *ctx, void *sess, enum xgw_dir dir, const uint8_t *p,
    size_t n, xmpp_stanza_t **out, struct xgw_err *err)
{
	(void)sess;
	return xgw_modbus_decode(ctx, p, n, dir, out, err);
}

static const char *
proto_kind(xmpp_stanza_t *el, char *buf, size_t len)
{
	const char *fn = xmpp_stanza_get_attribute(el, "fn");
	const char *fc = xmpp_stanza_get_attribute(el, "fc");
	const char *dir = xmpp_stanza_get_attribute(el, "dir");

	if (xmpp_stanza_get_attribute(el, "exception") != NULL)
		dir = "exception";
	if (fn != NULL)
		return xgw_kind(buf, len, "", fn, dir);
	return xgw_kind(buf, len, "fc", fc, dir);
}

const struct xgw_proto xgw_modbus_proto = {
	.name = "modbus",
	.ns = XGW_NS_MODBUS,
	.stream = 1,
	.ports = { 502 },
	.sess_size = 0,
	.frame = proto_frame,
	.decode = proto_decode,
	.encode = xgw_modbus_encode,
	.kind = proto_kind,
};
