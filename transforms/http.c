/*
 * HTTP/1.1 message <-> <http/> element.
 *
 * One walker reads a message the way RFC 9112 frames it.  frame runs it
 * to find where a message ends, decode runs it again building the
 * element, and encode runs it over its own output so that it accepts
 * nothing that decode would refuse or read differently.  Everything
 * the framing of another parser could disagree on (request smuggling) is
 * refused rather than guessed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http.h"

enum body {
	BODY_NONE,	/* no body at all */
	BODY_LENGTH,	/* Content-Length bytes */
	BODY_CHUNKED,	/* chunked transfer coding */
	BODY_CLOSE	/* a response read until the connection closes */
};

struct walk {
	const uint8_t	*p;
	size_t		 n;
	size_t		 off;
	int		 eof;		/* the stream ends at p + n */
	int		 lf;		/* lines end with a bare LF */
	enum xgw_dir	 dir;
	const char	*reqmethod;	/* what a response answers */
	xmpp_ctx_t	*ctx;
	xmpp_stanza_t	*el;		/* NULL: only find the end */
	/* what the walk found */
	size_t		 mlen;		/* method at p */
	unsigned	 status;
	int		 http10;
	int		 has_cl, has_te, chunked_seen, chunked_last;
	size_t		 te_at;
	uint64_t	 clen;
	uint64_t	 clmax;		/* Content-Length at most; 0: XGW_PDU_MAX */
	enum body	 body;
	uint64_t	 body_size;
};

static int
need(struct walk *w, const char *what, struct xgw_err *err)
{
	if (w->eof)
		return xgw_fail(err, w->n, "truncated",
		    "the message ends inside %s", what);
	return 0;
}

static int
nomem(struct walk *w, struct xgw_err *err)
{
	return xgw_fail(err, w->off, "no-memory", "out of memory");
}

static int
is_tchar(int c)
{
	return c > 0x20 && c < 0x7f && strchr("\"(),/:;<=>?@[\\]{}", c) == NULL;
}

static int
is_vchar(int c)
{
	return c > 0x20 && c < 0x7f;
}

/* field values and reason phrases: HTAB, SP, VCHAR, obs-text */
static int
is_text(int c)
{
	return c == '\t' || (c >= 0x20 && c != 0x7f);
}

static int
is_ows(int c)
{
	return c == ' ' || c == '\t';
}

/* Index of the first byte that is not ok, or n. */
static size_t
span(const uint8_t *s, size_t n, int (*ok)(int))
{
	size_t i = 0;

	while (i < n && ok(s[i]))
		i++;
	return i;
}

static size_t
skip_ows(const uint8_t *s, size_t n, size_t i)
{
	return i + span(s + i, n - i, is_ows);
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
		return (c | 0x20) - 'a' + 10;
	return -1;
}

/* Leading hex digits of s into *v; their count; *over when above max. */
static size_t
hex_size(const uint8_t *s, size_t n, uint64_t max, uint64_t *v, int *over)
{
	size_t i;

	*v = 0;
	*over = 0;
	for (i = 0; i < n && hexval(s[i]) >= 0; i++) {
		*v = *v * 16 + hexval(s[i]);
		if (*v > max) {
			*over = 1;
			return i + 1;
		}
	}
	return i;
}

static int
is_version(const uint8_t *s, size_t n)
{
	return n == 8 && memcmp(s, "HTTP/1.", 7) == 0 && s[7] >= '0' &&
	    s[7] <= '9';
}

/*
 * chunk-ext = *( BWS ";" BWS name [ BWS "=" BWS ( token / quoted-string ) ] ):
 * 1 when s is one, else 0 and *bad the index where it goes wrong (n: it
 * ends too early).
 */
static int
ext_ok(const uint8_t *s, size_t n, size_t *bad)
{
	size_t i = 0, j, t;

	while (i < n) {
		j = skip_ows(s, n, i);
		if (j == n || s[j] != ';')
			goto fail;
		j = skip_ows(s, n, j + 1);
		if ((t = span(s + j, n - j, is_tchar)) == 0)
			goto fail;
		i = j + t;
		j = skip_ows(s, n, i);
		if (j == n || s[j] != '=')
			continue;
		j = skip_ows(s, n, j + 1);
		if (j == n || s[j] != '"') {
			if ((t = span(s + j, n - j, is_tchar)) == 0)
				goto fail;
			i = j + t;
			continue;
		}
		for (j++; j < n && s[j] != '"'; j++)
			if ((s[j] == '\\' && ++j == n) || !is_text(s[j]))
				goto fail;
		if (j == n)
			goto fail;
		i = j + 1;
	}
	return 1;
fail:
	*bad = j;
	return 0;
}

/*
 * The line at w->off: its content is w->p[w->off .. w->off + *len) and the
 * next line starts at *next.  Every line of a message ends the way its
 * start line does, CRLF or a bare LF; a CR elsewhere and NUL are refused.
 */
static int
get_line(struct walk *w, size_t max, const char *toolong, const char *what,
    size_t *len, size_t *next, struct xgw_err *err)
{
	const uint8_t *s = w->p + w->off, *e;
	size_t avail = w->n - w->off, k, i;
	int lf;

	e = memchr(s, '\n', avail < max + 2 ? avail : max + 2);
	if (e == NULL) {
		if (avail >= max + 2)
			return xgw_fail(err, w->off, toolong,
			    "%s has no line end in %zu bytes, at most %zu",
			    what, max + 2, max);
		return need(w, what, err);
	}
	k = e - s;
	lf = k == 0 || s[k - 1] != '\r';
	if (w->off == 0)
		w->lf = lf;
	else if (lf != w->lf)
		return xgw_fail(err, w->off + k, "mixed-eol",
		    "%s ends with %s, the start line with %s", what,
		    lf ? "a bare LF" : "CRLF", w->lf ? "a bare LF" : "CRLF");
	*len = lf ? k : k - 1;
	if (*len > max)
		return xgw_fail(err, w->off, toolong,
		    "%s is %zu bytes, at most %zu", what, *len, max);
	for (i = 0; i < *len; i++) {
		if (s[i] == '\r')
			return xgw_fail(err, w->off + i, "bare-cr",
			    "CR not followed by LF in %s", what);
		if (s[i] == '\0')
			return xgw_fail(err, w->off + i, "nul",
			    "NUL byte in %s", what);
	}
	*next = w->off + k + 1;
	return 1;
}

static int
set_range(struct walk *w, xmpp_stanza_t *el, const char *attr, size_t at,
    size_t n)
{
	return xgw_set_bytes(w->ctx, el, attr, w->p + at, n);
}

static int
request_line(struct walk *w, size_t len, struct xgw_err *err)
{
	const uint8_t *s = w->p;
	size_t m, t;

	if (len == 0)
		return xgw_fail(err, 0, "empty-line",
		    "empty line where a request line belongs (RFC 9112 2.2 "
		    "lets a server skip it; kept out so every byte is "
		    "accounted for)");
	m = span(s, len, is_tchar);
	if (m == 0 || m == len || s[m] != ' ')
		return xgw_fail(err, m, "bad-method",
		    "request line has %s at byte %zu, expected a method token "
		    "and one space", m == len ? "its end" : "a non-token byte",
		    m);
	if (m > XGW_HTTP_METHOD_MAX)
		return xgw_fail(err, 0, "bad-method",
		    "method of %zu bytes, at most %d", m, XGW_HTTP_METHOD_MAX);
	t = m + 1 + span(s + m + 1, len - m - 1, is_vchar);
	if (t == len)
		return xgw_fail(err, t, "bad-version",
		    "request line ends after the target, expected SP "
		    "HTTP-version (HTTP/0.9 is not supported)");
	if (t == m + 1 || s[t] != ' ')
		return xgw_fail(err, t, "bad-target",
		    "request target has byte 0x%02x, expected visible ASCII "
		    "and one space", s[t]);
	if (!is_version(s + t + 1, len - t - 1))
		return xgw_fail(err, t + 1, "bad-version",
		    "HTTP version of %zu bytes, expected HTTP/1.x",
		    len - t - 1);
	w->mlen = m;
	w->http10 = s[len - 1] == '0';
	if (w->el == NULL)
		return 1;
	if (xgw_set_str(w->el, "kind", "request") == -1 ||
	    set_range(w, w->el, "method", 0, m) == -1 ||
	    set_range(w, w->el, "target", m + 1, t - m - 1) == -1 ||
	    set_range(w, w->el, "version", t + 1, 8) == -1)
		return nomem(w, err);
	return 1;
}

static int
status_line(struct walk *w, size_t len, struct xgw_err *err)
{
	const uint8_t *s = w->p;
	size_t r;

	if (len < 8 || !is_version(s, 8))
		return xgw_fail(err, 0, "bad-version",
		    "status line of %zu bytes does not start with HTTP/1.x "
		    "(case-sensitive; HTTP/0.9 is not supported)", len);
	if (len < 12 || s[8] != ' ' || s[9] < '1' || s[9] > '5' ||
	    s[10] < '0' || s[10] > '9' ||
	    s[11] < '0' || s[11] > '9' || (len > 12 && s[12] != ' '))
		return xgw_fail(err, 8, "bad-status",
		    "expected one space, a status code 100..599, then a space "
		    "or the line end");
	w->status = (s[9] - '0') * 100 + (s[10] - '0') * 10 + (s[11] - '0');
	w->http10 = s[7] == '0';
	r = len > 12 ? 13 + span(s + 13, len - 13, is_text) : len;
	if (r != len)
		return xgw_fail(err, r, "bad-reason",
		    "reason phrase has byte 0x%02x, expected text", s[r]);
	if (w->el == NULL)
		return 1;
	if (xgw_set_str(w->el, "kind", "response") == -1 ||
	    set_range(w, w->el, "version", 0, 8) == -1 ||
	    xgw_set_uint(w->el, "status", w->status) == -1 ||
	    (len > 12 && set_range(w, w->el, "reason", 13, len - 13) == -1) ||
	    (w->reqmethod != NULL &&
	    xgw_set_str(w->el, "request-method", w->reqmethod) == -1))
		return nomem(w, err);
	return 1;
}

/* Refuses a partial start line as soon as its first bytes are wrong. */
static int
start_prefix(struct walk *w, struct xgw_err *err)
{
	size_t n = w->n < 5 ? w->n : 5;

	size_t m = span(w->p, w->n, is_tchar);

	if (w->dir == XGW_RESPONSE && memcmp(w->p, "HTTP/", n) != 0)
		return xgw_fail(err, 0, "bad-version",
		    "a response starts with HTTP/");
	if (w->dir == XGW_REQUEST && (m > XGW_HTTP_METHOD_MAX ||
	    (m < w->n && (m == 0 || w->p[m] != ' '))))
		return xgw_fail(err, m, "bad-method",
		    "a request starts with a method token of at most %d bytes "
		    "and one space", XGW_HTTP_METHOD_MAX);
	return 0;
}

static int
start_line(struct walk *w, struct xgw_err *err)
{
	size_t len, next;
	int rc;

	rc = get_line(w, XGW_HTTP_START_MAX, "start-line-too-long",
	    "the start line", &len, &next, err);
	if (rc == 0)
		return start_prefix(w, err);
	if (rc == -1)
		return -1;
	rc = w->dir == XGW_REQUEST ? request_line(w, len, err) :
	    status_line(w, len, err);
	w->off = next;
	return rc;
}

/* Content-Length: 1*DIGIT, or a list of one value repeated (RFC 9110 8.6). */
static int
content_length(struct walk *w, size_t at, size_t n, struct xgw_err *err)
{
	const uint8_t *v = w->p + at;
	uint64_t x, max = w->clmax ? w->clmax : XGW_PDU_MAX;
	size_t i = 0, d;

	do {
		for (d = i, x = 0; d < n && v[d] >= '0' && v[d] <= '9'; d++)
			if ((x = x * 10 + (v[d] - '0')) > max)
				return xgw_fail(err, at + i, "too-large",
				    "Content-Length above %llu",
				    (unsigned long long)max);
		if (d == i)
			return xgw_fail(err, at + d, "bad-content-length",
			    "Content-Length has %s, expected digits",
			    d == n ? "nothing" : "a non-digit");
		if (w->has_cl && x != w->clen)
			return xgw_fail(err, at + i, "conflicting-length",
			    "Content-Length %llu after %llu",
			    (unsigned long long)x,
			    (unsigned long long)w->clen);
		w->has_cl = 1;
		w->clen = x;
		i = skip_ows(v, n, d);
		if (i < n && v[i] != ',')
			return xgw_fail(err, at + i, "bad-content-length",
			    "Content-Length has 0x%02x, expected digit or ','",
			    v[i]);
		if (i < n)
			i = skip_ows(v, n, i + 1);
	} while (i < n);
	return 0;
}

/* Transfer-Encoding: a list of codings; empty elements are ignored. */
static int
transfer_encoding(struct walk *w, size_t at, size_t n, struct xgw_err *err)
{
	const uint8_t *v = w->p + at;
	size_t i = 0, t;
	int chunked;

	if (!w->has_te)
		w->te_at = at;
	w->has_te = 1;
	while (i < n) {
		if (v[i] == ',' || is_ows(v[i])) {
			i++;
			continue;
		}
		if ((t = span(v + i, n - i, is_tchar)) == 0)
			return xgw_fail(err, at + i, "bad-transfer-encoding",
			    "Transfer-Encoding has 0x%02x, expected a coding",
			    v[i]);
		chunked = t == 7 && strncasecmp((const char *)v + i,
		    "chunked", 7) == 0;
		if (chunked && w->chunked_seen)
			return xgw_fail(err, at + i, "bad-transfer-encoding",
			    "chunked is applied twice");
		w->chunked_seen |= chunked;
		w->chunked_last = chunked;
		i = skip_ows(v, n, i + t);
		if (i < n && v[i] == ';' && !chunked)
			while (i < n && v[i] != ',')
				i++;
		if (i < n && v[i] != ',')
			return xgw_fail(err, at + i, "bad-transfer-encoding",
			    "Transfer-Encoding has 0x%02x after a coding, "
			    "expected ','", v[i]);
	}
	return 0;
}

/* "s" for SP and "t" for HTAB, so that XML cannot normalize them away. */
static int
set_ows(xmpp_stanza_t *el, const char *attr, const uint8_t *s, size_t n,
    const char *dflt)
{
	char stack[64], *buf = stack;
	size_t i;
	int rc = 0;

	if (n >= sizeof(stack) && (buf = malloc(n + 1)) == NULL)
		return -1;
	for (i = 0; i < n; i++)
		buf[i] = s[i] == ' ' ? 's' : 't';
	buf[n] = '\0';
	if (strcmp(buf, dflt) != 0)
		rc = xgw_set_str(el, attr, buf);
	if (buf != stack)
		free(buf);
	return rc;
}

static int
field_line(struct walk *w, size_t len, int trailer, struct xgw_err *err)
{
	const uint8_t *s = w->p + w->off;
	size_t nm, vs, ve, bad;
	xmpp_stanza_t *f;

	if (is_ows(s[0]))
		return xgw_fail(err, w->off, "obs-fold",
		    "line starts with whitespace (obsolete line folding), "
		    "expected a field name");
	nm = span(s, len, is_tchar);
	if (nm < len && is_ows(s[nm]))
		return xgw_fail(err, w->off + nm, "space-before-colon",
		    "whitespace after field name %.*s, expected ':'",
		    (int)(nm < 40 ? nm : 40), s);
	if (nm == 0 || nm == len || s[nm] != ':')
		return xgw_fail(err, w->off + nm, "bad-field-name",
		    "field line has %s at byte %zu, expected a token and ':'",
		    nm == len ? "its end" : "a non-token byte", nm);
	vs = skip_ows(s, len, nm + 1);
	for (ve = len; ve > vs && is_ows(s[ve - 1]); ve--)
		;
	if ((bad = vs + span(s + vs, ve - vs, is_text)) != ve)
		return xgw_fail(err, w->off + bad, "bad-field-value",
		    "control byte 0x%02x in the value of %.*s", s[bad],
		    (int)(nm < 40 ? nm : 40), s);
	if (!trailer && nm == 14 &&
	    strncasecmp((const char *)s, "content-length", 14) == 0 &&
	    content_length(w, w->off + vs, ve - vs, err) == -1)
		return -1;
	if (!trailer && nm == 17 &&
	    strncasecmp((const char *)s, "transfer-encoding", 17) == 0 &&
	    transfer_encoding(w, w->off + vs, ve - vs, err) == -1)
		return -1;
	if (w->el == NULL)
		return 0;
	if ((f = xgw_el_new(w->ctx, trailer ? "trailer" : "field", NULL)) ==
	    NULL ||
	    xgw_el_add(w->el, f) == -1 ||
	    set_range(w, f, "name", w->off, nm) == -1 ||
	    set_range(w, f, "value", w->off + vs, ve - vs) == -1 ||
	    set_ows(f, "ows-pre", s + nm + 1, vs - nm - 1, "s") == -1 ||
	    set_ows(f, "ows-post", s + ve, len - ve, "") == -1)
		return nomem(w, err);
	return 0;
}

/* A header or trailer section, up to and with its empty line. */
static int
fields(struct walk *w, int trailer, struct xgw_err *err)
{
	size_t start = w->off, len = 0, next = 0;
	int rc, count = 0;

	for (;;) {
		rc = get_line(w, XGW_HTTP_SECTION_MAX - (w->off - start),
		    "section-too-large", trailer ? "the trailer section" :
		    "the header section", &len, &next, err);
		if (rc != 1)
			return rc;
		if (len == 0)
			break;
		if (++count > XGW_HTTP_FIELDS_MAX)
			return xgw_fail(err, w->off, "too-many-fields",
			    "more than %d field lines", XGW_HTTP_FIELDS_MAX);
		if (field_line(w, len, trailer, err) == -1)
			return -1;
		w->off = next;
	}
	w->off = next;
	return 1;
}

static int
is_method(const char *m, const char *name)
{
	return m != NULL && strcmp(m, name) == 0;
}

/* RFC 9112 6.3, minus every case it lets a recipient guess at. */
static int
body_kind(struct walk *w, struct xgw_err *err)
{
	unsigned st = w->status;

	if (w->has_te && w->has_cl)
		return xgw_fail(err, w->te_at, "te-and-cl",
		    "Transfer-Encoding and Content-Length together");
	if (w->has_te && w->http10)
		return xgw_fail(err, w->te_at, "bad-transfer-encoding",
		    "Transfer-Encoding in an HTTP/1.0 message");
	if (w->has_te && !w->chunked_last && w->dir == XGW_REQUEST)
		return xgw_fail(err, w->te_at, "bad-transfer-encoding",
		    "the final transfer coding of a request is not chunked");
	if (w->dir == XGW_RESPONSE && (is_method(w->reqmethod, "HEAD") ||
	    st < 200 || st == 204 || st == 304 ||
	    (is_method(w->reqmethod, "CONNECT") && st < 300)))
		w->body = BODY_NONE;
	else if (w->has_te)
		w->body = w->chunked_last ? BODY_CHUNKED : BODY_CLOSE;
	else if (w->has_cl)
		w->body = BODY_LENGTH;
	else
		w->body = w->dir == XGW_RESPONSE ? BODY_CLOSE : BODY_NONE;
	return 1;
}

/* Message size so far plus more, checked before waiting for it. */
static int
fits(size_t at, uint64_t more, struct xgw_err *err)
{
	if (more > XGW_PDU_MAX || at > XGW_PDU_MAX - more)
		return xgw_fail(err, at, "too-large",
		    "the message would be above %u bytes", XGW_PDU_MAX);
	return 0;
}

static int
add_body(struct walk *w, size_t at, size_t n, struct xgw_err *err)
{
	w->body_size = n;
	if (w->el != NULL &&
	    xgw_add_b64(w->ctx, w->el, "body", w->p + at, n) == -1)
		return nomem(w, err);
	w->off = at + n;
	return 1;
}

static int
add_chunk(struct walk *w, size_t line, size_t h, size_t len, size_t data,
    uint64_t size, struct xgw_err *err)
{
	xmpp_stanza_t *c;

	w->body_size += size;
	if (w->el == NULL)
		return 1;
	if ((c = xgw_el_new(w->ctx, "chunk", NULL)) == NULL ||
	    xgw_el_add(w->el, c) == -1 ||
	    set_range(w, c, "size-text", line, h) == -1 ||
	    (len > h && set_range(w, c, "ext", line + h, len - h) == -1) ||
	    xgw_set_b64_text(w->ctx, c, w->p + data, size) == -1)
		return nomem(w, err);
	return 1;
}

static int
chunks(struct walk *w, struct xgw_err *err)
{
	size_t len, next, h, bad, eol = w->lf ? 1 : 2;
	const uint8_t *s;
	uint64_t size;
	int rc, over;

	for (;;) {
		rc = get_line(w, XGW_HTTP_CHUNK_LINE_MAX,
		    "chunk-line-too-long", "a chunk size line", &len, &next,
		    err);
		if (rc != 1)
			return rc;
		s = w->p + w->off;
		if ((h = hex_size(s, len, XGW_PDU_MAX, &size, &over)) == 0)
			return xgw_fail(err, w->off, "bad-chunk-size",
			    "chunk size line starts with %s, expected hex "
			    "digits", len ? "a non-hex byte" : "its end");
		if (over)
			return xgw_fail(err, w->off, "too-large",
			    "chunk size %.*s%s is above %u",
			    (int)(len < 24 ? len : 24), s,
			    len > 24 ? "..." : "",
			    XGW_PDU_MAX);
		if (!ext_ok(s + h, len - h, &bad))
			return xgw_fail(err, w->off + h + bad, "bad-chunk-ext",
			    "chunk extension has %s at byte %zu, expected "
			    "';' name ['=' value]", h + bad < len ?
			    "a stray byte" : "its end", bad);
		if (size == 0) {
			if (add_chunk(w, w->off, h, len, next, 0, err) == -1)
				return -1;
			w->off = next;
			return fields(w, 1, err);
		}
		if (fits(next, size + eol, err) == -1)
			return -1;
		if (w->n - next < size + eol)
			return need(w, "chunk data", err);
		if (memcmp(w->p + next + size, w->lf ? "\n" : "\r\n", eol) != 0)
			return xgw_fail(err, next + size, "bad-chunk",
			    "chunk data of %llu bytes is followed by 0x%02x, "
			    "expected %s", (unsigned long long)size,
			    w->p[next + size], w->lf ? "LF" : "CRLF");
		if (add_chunk(w, w->off, h, len, next, size, err) == -1)
			return -1;
		w->off = next + size + eol;
	}
}

static int
body(struct walk *w, struct xgw_err *err)
{
	switch (w->body) {
	case BODY_NONE:
		return 1;
	case BODY_LENGTH:
		if (fits(w->off, w->clen, err) == -1)
			return -1;
		if (w->n - w->off < w->clen)
			return need(w, "the body", err);
		return add_body(w, w->off, w->clen, err);
	case BODY_CLOSE:
		if (fits(0, w->n, err) == -1)
			return -1;
		if (!w->eof)
			return 0;
		return add_body(w, w->off, w->n - w->off, err);
	case BODY_CHUNKED:
		return chunks(w, err);
	}
	return -1;
}

/* 1 and *len: a whole message starts at p; 0: need more; -1: refused */
static int
walk(struct walk *w, size_t *len, struct xgw_err *err)
{
	int rc;

	if ((rc = start_line(w, err)) != 1 ||
	    (rc = fields(w, 0, err)) != 1 ||
	    (rc = body_kind(w, err)) != 1 ||
	    (rc = body(w, err)) != 1)
		return rc;
	if (w->el != NULL &&
	    (xgw_set_uint(w->el, "body-size", w->body_size) == -1 ||
	    (w->lf && xgw_set_str(w->el, "eol", "lf") == -1)))
		return nomem(w, err);
	*len = w->off;
	return 1;
}

static const char *
awaited(const struct xgw_http_sess *s)
{
	return s != NULL && s->count > 0 ? s->method[s->head] : NULL;
}

static int
switched(const struct xgw_http_sess *s, struct xgw_err *err)
{
	if (s != NULL && s->switched)
		return xgw_fail(err, 0, "switched",
		    "the connection left HTTP at a 101 or a 2xx answer to "
		    "CONNECT; these bytes are not HTTP");
	return 0;
}

static int
setup(struct xgw_http_sess *sess, enum xgw_dir dir, const uint8_t *p,
    size_t n, int eof, xmpp_stanza_t *el, struct xgw_err *err,
    struct walk *w)
{
	memset(w, 0, sizeof(*w));
	if (switched(sess, err) == -1)
		return -1;
	if (dir != XGW_REQUEST && dir != XGW_RESPONSE)
		return xgw_fail(err, 0, "bad-direction",
		    "HTTP messages are requests or responses");
	w->p = p;
	w->n = n;
	w->eof = eof;
	w->dir = dir;
	w->reqmethod = dir == XGW_RESPONSE ? awaited(sess) : NULL;
	w->el = el;
	w->ctx = el != NULL ? xmpp_stanza_get_context(el) : NULL;
	return 0;
}

static int
run(struct xgw_http_sess *sess, enum xgw_dir dir, const uint8_t *p,
    size_t n, int eof, xmpp_stanza_t *el, size_t *len, struct xgw_err *err,
    struct walk *w)
{
	if (setup(sess, dir, p, n, eof, el, err, w) == -1)
		return -1;
	return walk(w, len, err);
}

int
xgw_http_frame(struct xgw_http_sess *sess, enum xgw_dir dir,
    const uint8_t *p, size_t n, size_t *len, struct xgw_err *err)
{
	struct walk w;

	return run(sess, dir, p, n, 0, NULL, len, err, &w);
}

int
xgw_http_frame_eof(struct xgw_http_sess *sess, enum xgw_dir dir,
    const uint8_t *p, size_t n, size_t *len, struct xgw_err *err)
{
	struct walk w;

	return run(sess, dir, p, n, 1, NULL, len, err, &w);
}

static void
remember(struct xgw_http_sess *s, const struct walk *w)
{
	if (s == NULL)
		return;
	if (w->dir == XGW_REQUEST) {
		char *m = s->method[(s->head + s->count++) % XGW_HTTP_PIPELINE];

		memcpy(m, w->p, w->mlen);
		m[w->mlen] = '\0';
		return;
	}
	if (w->status == 101 ||
	    (is_method(w->reqmethod, "CONNECT") && w->status / 100 == 2))
		s->switched = 1;
	if (w->status >= 200 && s->count > 0) {
		s->head = (s->head + 1) % XGW_HTTP_PIPELINE;
		s->count--;
	}
}

int
xgw_http_decode(xmpp_ctx_t *ctx, struct xgw_http_sess *sess,
    enum xgw_dir dir, const uint8_t *p, size_t n, xmpp_stanza_t **out,
    struct xgw_err *err)
{
	xmpp_stanza_t *el;
	struct walk w;
	size_t len;
	int rc;

	*out = NULL;
	if (dir == XGW_REQUEST && sess != NULL &&
	    sess->count == XGW_HTTP_PIPELINE)
		return xgw_fail(err, 0, "pipeline-full",
		    "%d requests await a response already, at most %d",
		    sess->count, XGW_HTTP_PIPELINE);
	if ((el = xgw_el_new(ctx, "http", XGW_NS_HTTP)) == NULL)
		return xgw_fail(err, 0, "no-memory", "out of memory");
	rc = run(sess, dir, p, n, 1, el, &len, err, &w);
	if (rc == 1 && len != n)
		rc = xgw_fail(err, len, "trailing-data",
		    "%zu bytes after the end of the message", n - len);
	if (rc != 1) {
		xmpp_stanza_release(el);
		return -1;
	}
	remember(sess, &w);
	*out = el;
	return 0;
}

/*
 * Streaming: the head alone, then the body bytes through an incremental
 * walker that checks what chunks() and body() check, a piece at a time.
 */
enum { BS_LINE, BS_DATA, BS_DATA_EOL, BS_TRAILERS, BS_DONE };

/* Start line and header section of a stream's head; the body kind decided. */
static int
head_walk(struct walk *w, struct xgw_err *err)
{
	int rc;

	w->clmax = XGW_HTTP_BODY_LIMIT;
	if ((rc = start_line(w, err)) != 1 || (rc = fields(w, 0, err)) != 1)
		return rc;
	return body_kind(w, err);
}

static void
body_init(struct xgw_http_body *b, const struct walk *w)
{
	memset(b, 0, sizeof(*b));
	b->mode = w->body == BODY_LENGTH ? XGW_HTTP_LENGTH :
	    w->body == BODY_CHUNKED ? XGW_HTTP_CHUNKED :
	    w->body == BODY_CLOSE ? XGW_HTTP_CLOSE : XGW_HTTP_NONE;
	b->lf = w->lf;
	b->left = w->body == BODY_LENGTH ? w->clen : 0;
	b->state = b->mode == XGW_HTTP_CHUNKED ? BS_LINE :
	    b->mode == XGW_HTTP_NONE || (b->mode == XGW_HTTP_LENGTH &&
	    b->left == 0) ? BS_DONE : BS_DATA;
}

int
xgw_http_head(xmpp_ctx_t *ctx, struct xgw_http_sess *sess, enum xgw_dir dir,
    const uint8_t *p, size_t n, size_t *hlen, xmpp_stanza_t **out,
    struct xgw_http_body *body, struct xgw_err *err)
{
	xmpp_stanza_t *el = NULL;
	struct walk w;
	int rc;

	if (out != NULL) {
		*out = NULL;
		if ((el = xgw_el_new(ctx, "http", XGW_NS_HTTP)) == NULL)
			return xgw_fail(err, 0, "no-memory", "out of memory");
	}
	if ((rc = setup(sess, dir, p, n, 0, el, err, &w)) == 0)
		rc = head_walk(&w, err);
	if (rc == 1 && el != NULL && (xgw_set_str(el, "body", "streamed") ==
	    -1 || (w.body == BODY_LENGTH &&
	    xgw_set_uint(el, "body-size", w.clen) == -1) ||
	    (w.lf && xgw_set_str(el, "eol", "lf") == -1)))
		rc = nomem(&w, err);
	if (rc != 1) {
		if (el != NULL)
			xmpp_stanza_release(el);
		return rc;
	}
	*hlen = w.off;
	body_init(body, &w);
	if (el != NULL) {
		remember(sess, &w);
		*out = el;
	}
	return 1;
}

/* Offsets of a line's errors, from the line's start to the body's. */
static int
line_fail(struct xgw_err *err, uint64_t at)
{
	err->offset += at;
	return -1;
}

/* A whole chunk size line in b->line, at offset at of the body. */
static int
chunk_line(struct xgw_http_body *b, uint64_t at, struct xgw_err *err)
{
	const uint8_t *s = b->line.data;
	size_t len, next, h, bad;
	struct walk w;
	uint64_t size;
	int over;

	memset(&w, 0, sizeof(w));
	w.p = s;
	w.n = b->line.len;
	w.eof = 1;
	if (get_line(&w, XGW_HTTP_CHUNK_LINE_MAX, "chunk-line-too-long",
	    "a chunk size line", &len, &next, err) != 1)
		return line_fail(err, at);
	if (w.lf != b->lf)
		return xgw_fail(err, at + len, "mixed-eol", "a chunk size line "
		    "ends otherwise than the start line");
	if ((h = hex_size(s, len, XGW_HTTP_BODY_LIMIT, &size, &over)) == 0)
		return xgw_fail(err, at, "bad-chunk-size", "chunk size line "
		    "starts with %s, expected hex digits", len ?
		    "a non-hex byte" : "its end");
	if (over || (b->max != 0 && size > b->max - b->size))
		return xgw_fail(err, at, "too-large", "chunk size %.*s%s "
		    "takes the body above %llu bytes", (int)(len < 24 ? len :
		    24), s, len > 24 ? "..." : "", (unsigned long long)(over ?
		    XGW_HTTP_BODY_LIMIT : b->max));
	if (!ext_ok(s + h, len - h, &bad))
		return xgw_fail(err, at + h + bad, "bad-chunk-ext",
		    "chunk extension has %s at byte %zu, expected "
		    "';' name ['=' value]", h + bad < len ? "a stray byte" :
		    "its end", bad);
	b->left = size;
	b->state = size == 0 ? BS_TRAILERS : BS_DATA;
	return 0;
}

/* The trailer section in b->line when whole (1), checked as fields() does. */
static int
trailers(struct xgw_http_body *b, uint64_t at, struct xgw_err *err)
{
	const uint8_t *s = b->line.data;
	size_t n = b->line.len;
	struct walk w;

	if (!(n == 1 || (n == 2 && s[0] == '\r') || (n >= 2 &&
	    s[n - 2] == '\n') || (n >= 3 && s[n - 3] == '\n' &&
	    s[n - 2] == '\r')))
		return 0;
	memset(&w, 0, sizeof(w));
	w.p = s;
	w.n = n;
	w.eof = 1;
	if (fields(&w, 1, err) != 1)
		return line_fail(err, at);
	if (w.lf != b->lf)
		return xgw_fail(err, at, "mixed-eol", "the trailer section "
		    "ends its lines otherwise than the start line");
	return 1;
}

/*
 * Bytes of a chunk line or of the trailers, up to and with the next LF;
 * how many were taken, or -1.
 */
static ssize_t
body_line(struct xgw_http_body *b, const uint8_t *p, size_t n, uint64_t at,
    struct xgw_err *err)
{
	const uint8_t *e = memchr(p, '\n', n);
	size_t k = e != NULL ? (size_t)(e - p) + 1 : n;
	size_t max = b->state == BS_LINE ? XGW_HTTP_CHUNK_LINE_MAX + 2 :
	    XGW_HTTP_SECTION_MAX + 2;
	uint64_t start = at - b->line.len;
	int rc;

	if (b->line.len + k > max)
		return xgw_fail(err, start, b->state == BS_LINE ?
		    "chunk-line-too-long" : "section-too-large",
		    "%s is longer than %zu bytes", b->state == BS_LINE ?
		    "a chunk size line" : "the trailer section", max - 2);
	if (xgw_buf_put(&b->line, p, k, err) == -1)
		return -1;
	if (e == NULL)
		return k;
	if (b->state == BS_LINE) {
		if (chunk_line(b, start, err) == -1)
			return -1;
		b->line.len = 0;
		return k;
	}
	/* trailers gather until their empty line */
	if ((rc = trailers(b, start, err)) == -1)
		return -1;
	if (rc == 1) {
		b->state = BS_DONE;
		b->line.len = 0;
	}
	return k;
}

/* Chunk data, Content-Length bytes, or bytes until the close. */
static size_t
body_data(struct xgw_http_body *b, size_t n)
{
	size_t k = n;

	if (b->mode != XGW_HTTP_CLOSE && b->left < k)
		k = b->left;
	b->size += k;
	if (b->mode == XGW_HTTP_CLOSE)
		return k;
	if ((b->left -= k) == 0) {
		b->state = b->mode == XGW_HTTP_LENGTH ? BS_DONE : BS_DATA_EOL;
		b->left = b->lf ? 1 : 2;
	}
	return k;
}

int
xgw_http_body_walk(struct xgw_http_body *b, const uint8_t *p, size_t n,
    size_t *used, struct xgw_err *err)
{
	size_t i = 0, k;
	ssize_t r;

	while (i < n && b->state != BS_DONE) {
		switch (b->state) {
		case BS_DATA:
			k = body_data(b, n - i);
			if (b->max != 0 && b->size > b->max)
				return xgw_fail(err, b->off + i, "too-large",
				    "the body is above %llu bytes",
				    (unsigned long long)b->max);
			i += k;
			break;
		case BS_DATA_EOL:
			if (p[i] != (b->left == 2 ? '\r' : '\n'))
				return xgw_fail(err, b->off + i, "bad-chunk",
				    "chunk data is followed by 0x%02x, "
				    "expected %s", p[i], b->lf ? "LF" : "CRLF");
			i++;
			if (--b->left == 0)
				b->state = BS_LINE;
			break;
		default:
			if ((r = body_line(b, p + i, n - i, b->off + i,
			    err)) == -1)
				return -1;
			i += r;
			break;
		}
	}
	b->off += i;
	*used = i;
	return b->state == BS_DONE;
}

int
xgw_http_body_eof(struct xgw_http_body *b, struct xgw_err *err)
{
	if (b->mode == XGW_HTTP_CLOSE)
		b->state = BS_DONE;
	if (b->state == BS_DONE)
		return 1;
	return xgw_fail(err, b->off, "truncated",
	    "the connection closed inside the body");
}

void
xgw_http_body_free(struct xgw_http_body *b)
{
	xgw_buf_free(&b->line);
}

static const char *const part_kinds[] = { "part", "pull", "ack", "cancel" };
#define NKINDS	(sizeof(part_kinds) / sizeof(part_kinds[0]))

xmpp_stanza_t *
xgw_http_part_new(xmpp_ctx_t *ctx, const struct xgw_http_part *pt,
    const uint8_t *data, size_t n)
{
	xmpp_stanza_t *el = xgw_el_new(ctx, "http", XGW_NS_HTTP);

	if (el == NULL)
		return NULL;
	if (xgw_set_str(el, "kind", part_kinds[pt->kind]) == -1 ||
	    xgw_set_uint(el, "stream", pt->stream) == -1 ||
	    xgw_set_uint(el, "part", pt->part) == -1 ||
	    (pt->last && xgw_set_str(el, "last", "1") == -1) ||
	    (pt->kind == XGW_HTTP_PART &&
	    xgw_set_b64_text(ctx, el, data, n) == -1)) {
		xmpp_stanza_release(el);
		return NULL;
	}
	return el;
}

int
xgw_http_part_read(xmpp_stanza_t *el, struct xgw_http_part *pt,
    struct xgw_buf *out, struct xgw_err *err)
{
	const char *kind = xmpp_stanza_get_attribute(el, "kind");
	const char *last = xmpp_stanza_get_attribute(el, "last");
	const char *ns = xmpp_stanza_get_ns(el);
	size_t slen, n = 0;
	int k;

	if (kind == NULL || ns == NULL || strcmp(ns, XGW_NS_HTTP) != 0)
		return 0;
	for (k = 0; k < (int)NKINDS && strcmp(kind, part_kinds[k]) != 0; k++)
		;
	if (k == (int)NKINDS)
		return 0;
	memset(pt, 0, sizeof(*pt));
	pt->kind = k;
	if (xgw_get_uint(el, "stream", UINT64_MAX, &pt->stream, err) == -1 ||
	    xgw_get_uint(el, "part", UINT64_MAX, &pt->part, err) == -1)
		return -1;
	if (pt->stream == 0 || (pt->part == 0 && k != XGW_HTTP_ACK))
		return xgw_fail(err, 0, "bad-element", "<http kind=\"%s\">: "
		    "stream and part count from 1", kind);
	if (last != NULL && (strcmp(last, "1") != 0 || k != XGW_HTTP_PART))
		return xgw_fail(err, 0, "bad-element", "<http last> is \"1\", "
		    "on parts only");
	pt->last = last != NULL;
	slen = strlen(xgw_text(el));
	if (k != XGW_HTTP_PART && slen != 0)
		return xgw_fail(err, 0, "bad-element", "<http kind=\"%s\"> "
		    "holds no data", kind);
	/* checked before anything is decoded */
	if (slen > (XGW_HTTP_PART_MAX + 2) / 3 * 4)
		return xgw_fail(err, 0, "oversize", "a part of %zu base64 "
		    "characters, at most %d bytes", slen, XGW_HTTP_PART_MAX);
	if (k == XGW_HTTP_PART && xgw_get_b64_text(el, out, &n, err) == -1)
		return -1;
	if (k == XGW_HTTP_PART && n == 0 && !pt->last)
		return xgw_fail(err, 0, "bad-element", "an empty part that is "
		    "not the last");
	return 1;
}

/*
 * Encoding.  Every piece is checked on its own first (no attribute may
 * carry a line end into the output), then the whole output is walked as
 * decode would walk it.
 */
/* Appends the bytes of attr; each must pass ok, and there are min..max. */
static int
put_piece(xmpp_stanza_t *el, const char *attr, int (*ok)(int), size_t min,
    size_t max, struct xgw_buf *b, struct xgw_err *err)
{
	size_t at = b->len, n, i;

	if (xgw_get_bytes(el, attr, b, &n, err) == -1)
		return -1;
	if (n < min || n > max)
		return xgw_fail(err, 0, "bad-element",
		    "<%s %s> is %zu bytes, expected %zu..%zu",
		    xmpp_stanza_get_name(el), attr, n, min, max);
	if ((i = span(b->data + at, n, ok)) != n)
		return xgw_fail(err, 0, "bad-element",
		    "<%s %s> has byte 0x%02x at %zu", xmpp_stanza_get_name(el),
		    attr, b->data[at + i], i);
	return 0;
}

static int
has_bytes(xmpp_stanza_t *el, const char *attr)
{
	char name[64];

	snprintf(name, sizeof(name), "%s-b64", attr);
	return xmpp_stanza_get_attribute(el, attr) != NULL ||
	    xmpp_stanza_get_attribute(el, name) != NULL;
}

static int
put_ows(xmpp_stanza_t *el, const char *attr, const char *dflt,
    struct xgw_buf *b, struct xgw_err *err)
{
	const char *s = xmpp_stanza_get_attribute(el, attr);

	if (s == NULL)
		s = dflt;
	if (strspn(s, "st") != strlen(s))
		return xgw_fail(err, 0, "bad-element",
		    "<%s %s=\"%.20s\">: expected letters s (SP) and t (HTAB)",
		    xmpp_stanza_get_name(el), attr, s);
	for (; *s != '\0'; s++)
		if (xgw_buf_u8(b, *s == 's' ? ' ' : '\t', err) == -1)
			return -1;
	return 0;
}

static int
put_eol(int lf, struct xgw_buf *b, struct xgw_err *err)
{
	return xgw_buf_put(b, lf ? "\n" : "\r\n", lf ? 1 : 2, err);
}

static int
put_field(xmpp_stanza_t *f, int lf, struct xgw_buf *b, struct xgw_err *err)
{
	size_t at;

	if (put_piece(f, "name", is_tchar, 1, XGW_HTTP_SECTION_MAX, b,
	    err) == -1 || xgw_buf_u8(b, ':', err) == -1 ||
	    put_ows(f, "ows-pre", "s", b, err) == -1)
		return -1;
	at = b->len;
	if (put_piece(f, "value", is_text, 0, XGW_HTTP_SECTION_MAX, b,
	    err) == -1)
		return -1;
	if (b->len > at && (is_ows(b->data[at]) || is_ows(b->data[b->len - 1])))
		return xgw_fail(err, 0, "bad-element",
		    "<%s value> starts or ends with whitespace, which belongs "
		    "in ows-pre and ows-post", xmpp_stanza_get_name(f));
	if (put_ows(f, "ows-post", "", b, err) == -1)
		return -1;
	return put_eol(lf, b, err);
}

static int
put_chunk(xmpp_stanza_t *c, int lf, struct xgw_buf *b, uint64_t *size,
    struct xgw_err *err)
{
	size_t at = b->len, n, h, bad;
	int over;

	if (put_piece(c, "size-text", is_vchar, 1, XGW_HTTP_CHUNK_LINE_MAX,
	    b, err) == -1)
		return -1;
	h = hex_size(b->data + at, b->len - at, XGW_PDU_MAX, size, &over);
	if (over || h != b->len - at)
		return xgw_fail(err, 0, "bad-element",
		    "<chunk size-text> must be hex digits of a size up to %u",
		    XGW_PDU_MAX);
	at = b->len;
	if (has_bytes(c, "ext") && (put_piece(c, "ext", is_text, 1,
	    XGW_HTTP_CHUNK_LINE_MAX, b, err) == -1 ||
	    !ext_ok(b->data + at, b->len - at, &bad)))
		return xgw_fail(err, 0, "bad-element",
		    "<chunk ext> is not ';' name ['=' value] ...");
	if (put_eol(lf, b, err) == -1 ||
	    xgw_get_b64_text(c, b, &n, err) == -1)
		return -1;
	if (n != *size)
		return xgw_fail(err, 0, "bad-element",
		    "<chunk> holds %zu bytes, its size-text says %llu", n,
		    (unsigned long long)*size);
	return n > 0 ? put_eol(lf, b, err) : 0;
}

enum part { P_FIELDS, P_BODY, P_CHUNKS, P_LAST, P_TRAILERS };

/* Children in wire order: fields, then a body or chunks, then trailers. */
static int
put_children(xmpp_stanza_t *el, int lf, struct xgw_buf *b,
    enum part *part, struct xgw_err *err)
{
	xmpp_stanza_t *c;
	const char *name;
	uint64_t size;
	size_t n;
	int rc;

	for (c = xmpp_stanza_get_children(el); c != NULL;
	    c = xmpp_stanza_get_next(c)) {
		if (!xmpp_stanza_is_tag(c))
			continue;
		name = xmpp_stanza_get_name(c);
		if (*part == P_FIELDS && strcmp(name, "field") != 0 &&
		    put_eol(lf, b, err) == -1)
			return -1;
		if (strcmp(name, "field") == 0 && *part == P_FIELDS)
			rc = put_field(c, lf, b, err);
		else if (strcmp(name, "body") == 0 && *part == P_FIELDS) {
			*part = P_BODY;
			rc = xgw_get_b64_text(c, b, &n, err);
		} else if (strcmp(name, "chunk") == 0 && (*part == P_FIELDS ||
		    *part == P_CHUNKS)) {
			rc = put_chunk(c, lf, b, &size, err);
			*part = size == 0 ? P_LAST : P_CHUNKS;
		} else if (strcmp(name, "trailer") == 0 && (*part == P_LAST ||
		    *part == P_TRAILERS)) {
			*part = P_TRAILERS;
			rc = put_field(c, lf, b, err);
		} else
			return xgw_fail(err, 0, "bad-element",
			    "<%s> is unknown or out of place: fields, "
			    "then <body> or chunks, then trailers", name);
		if (rc == -1)
			return -1;
	}
	if (*part == P_CHUNKS)
		return xgw_fail(err, 0, "bad-element",
		    "<http> has no last chunk (size 0)");
	if (*part == P_FIELDS || *part == P_LAST || *part == P_TRAILERS)
		return put_eol(lf, b, err);
	return 0;
}

static int
put_start(xmpp_stanza_t *el, int req, int lf, struct xgw_buf *b,
    struct xgw_err *err)
{
	size_t at = b->len;
	uint64_t st;
	char code[5];

	if (req && (put_piece(el, "method", is_tchar, 1, XGW_HTTP_METHOD_MAX,
	    b, err) == -1 || xgw_buf_u8(b, ' ', err) == -1 ||
	    put_piece(el, "target", is_vchar, 1, XGW_HTTP_START_MAX, b,
	    err) == -1 || xgw_buf_u8(b, ' ', err) == -1))
		return -1;
	at = b->len;
	if (put_piece(el, "version", is_vchar, 8, 8, b, err) == -1)
		return -1;
	if (!is_version(b->data + at, 8))
		return xgw_fail(err, 0, "bad-element",
		    "<http version> must be HTTP/1.x");
	if (req)
		return put_eol(lf, b, err);
	if (xgw_get_uint(el, "status", 599, &st, err) == -1)
		return -1;
	if (st < 100)
		return xgw_fail(err, 0, "bad-element",
		    "<http status=\"%llu\">: expected 100..599",
		    (unsigned long long)st);
	snprintf(code, sizeof(code), " %03u", (unsigned)st);
	if (xgw_buf_put(b, code, 4, err) == -1 ||
	    (has_bytes(el, "reason") && (xgw_buf_u8(b, ' ', err) == -1 ||
	    put_piece(el, "reason", is_text, 0, XGW_HTTP_START_MAX, b,
	    err) == -1)))
		return -1;
	return put_eol(lf, b, err);
}

/* Walks the output as decode would and holds it against the element. */
static int
recheck(const uint8_t *p, size_t n, int req, const char *rm, enum part part,
    uint64_t size, struct xgw_err *err)
{
	struct xgw_err e;
	struct walk w;
	size_t len;

	memset(&w, 0, sizeof(w));
	w.p = p;
	w.n = n;
	w.eof = 1;
	w.dir = req ? XGW_REQUEST : XGW_RESPONSE;
	w.reqmethod = rm;
	if (walk(&w, &len, &e) == -1)
		return xgw_fail(err, 0, "bad-element",
		    "its bytes do not decode: %s: %.150s", e.reason, e.msg);
	if (len != n)
		return xgw_fail(err, 0, "bad-element",
		    "its header fields frame no body, it holds %zu bytes",
		    n - len);
	if ((part == P_BODY) != (w.body == BODY_LENGTH ||
	    w.body == BODY_CLOSE) || (part >= P_CHUNKS) !=
	    (w.body == BODY_CHUNKED))
		return xgw_fail(err, 0, "bad-element",
		    "its header fields frame the body otherwise than its "
		    "<body> or <chunk> children");
	if (w.body_size != size)
		return xgw_fail(err, 0, "bad-element",
		    "body-size is %llu, the body holds %llu bytes",
		    (unsigned long long)size,
		    (unsigned long long)w.body_size);
	return 0;
}

/*
 * The head of a streamed message: start line and fields only, and they
 * must announce the body its parts will carry, of body-size bytes when
 * Content-Length says so.
 */
static int
encode_head(xmpp_stanza_t *el, int req, const char *rm, struct xgw_buf *b,
    size_t start, struct xgw_err *err)
{
	const char *eol = xmpp_stanza_get_attribute(el, "eol");
	const char *streamed = xmpp_stanza_get_attribute(el, "body");
	int has_size = xmpp_stanza_get_attribute(el, "body-size") != NULL;
	enum part part = P_FIELDS;
	struct xgw_err e;
	uint64_t size = 0;
	struct walk w;
	int rc;

	if (strcmp(streamed, "streamed") != 0)
		return xgw_fail(err, 0, "bad-element",
		    "<http body> must be streamed or absent");
	if ((has_size && xgw_get_uint(el, "body-size", XGW_HTTP_BODY_LIMIT,
	    &size, err) == -1) ||
	    put_start(el, req, eol != NULL, b, err) == -1 ||
	    put_children(el, eol != NULL, b, &part, err) == -1)
		return -1;
	if (part != P_FIELDS)
		return xgw_fail(err, 0, "bad-element",
		    "a streamed head holds no body: its parts carry it");
	memset(&w, 0, sizeof(w));
	w.p = b->data + start;
	w.n = b->len - start;
	w.dir = req ? XGW_REQUEST : XGW_RESPONSE;
	w.reqmethod = rm;
	if ((rc = head_walk(&w, &e)) != 1)
		return xgw_fail(err, 0, "bad-element",
		    "its bytes do not decode: %s: %.150s", rc == 0 ?
		    "truncated" : e.reason, rc == 0 ? "no end" : e.msg);
	if (w.body == BODY_NONE)
		return xgw_fail(err, 0, "bad-element",
		    "a streamed head whose fields announce no body");
	if ((w.body == BODY_LENGTH) != has_size ||
	    (has_size && size != w.clen))
		return xgw_fail(err, 0, "bad-element",
		    "body-size must be the Content-Length of a streamed head, "
		    "and absent without one");
	return 0;
}

static int
encode_into(xmpp_stanza_t *el, struct xgw_buf *b, size_t start,
    struct xgw_err *err)
{
	const char *kind = xmpp_stanza_get_attribute(el, "kind");
	const char *eol = xmpp_stanza_get_attribute(el, "eol");
	const char *rm = xmpp_stanza_get_attribute(el, "request-method");
	const char *streamed = xmpp_stanza_get_attribute(el, "body");
	enum part part = P_FIELDS;
	uint64_t size;
	int req;

	if (kind == NULL || (strcmp(kind, "request") != 0 &&
	    strcmp(kind, "response") != 0))
		return xgw_fail(err, 0, "bad-element",
		    "<http kind> must be request or response");
	if (eol != NULL && strcmp(eol, "lf") != 0)
		return xgw_fail(err, 0, "bad-element",
		    "<http eol> must be lf or absent");
	req = strcmp(kind, "request") == 0;
	if (rm != NULL && (req || rm[0] == '\0' ||
	    strlen(rm) > XGW_HTTP_METHOD_MAX ||
	    span((const uint8_t *)rm, strlen(rm), is_tchar) != strlen(rm)))
		return xgw_fail(err, 0, "bad-element",
		    "<http request-method> must be a method token, in a "
		    "response");
	if (streamed != NULL)
		return encode_head(el, req, rm, b, start, err);
	if (xgw_get_uint(el, "body-size", XGW_PDU_MAX, &size, err) == -1 ||
	    put_start(el, req, eol != NULL, b, err) == -1 ||
	    put_children(el, eol != NULL, b, &part, err) == -1)
		return -1;
	return recheck(b->data + start, b->len - start, req, rm, part, size,
	    err);
}

int
xgw_http_encode(xmpp_stanza_t *el, struct xgw_buf *b, struct xgw_err *err)
{
	const char *name = xmpp_stanza_get_name(el), *ns;
	size_t start = b->len;

	ns = xmpp_stanza_get_ns(el);
	if (name == NULL || strcmp(name, "http") != 0 || ns == NULL ||
	    strcmp(ns, XGW_NS_HTTP) != 0)
		return xgw_fail(err, 0, "bad-element",
		    "expected <http xmlns=\"%s\">", XGW_NS_HTTP);
	if (encode_into(el, b, start, err) == -1) {
		b->len = start;
		return -1;
	}
	return 0;
}

static int
proto_frame(void *sess, enum xgw_dir dir, const uint8_t *p, size_t n,
    size_t *len, struct xgw_err *err)
{
	return xgw_http_frame(sess, dir, p, n, len, err);
}

static int
proto_frame_eof(void *sess, enum xgw_dir dir, const uint8_t *p, size_t n,
    size_t *len, struct xgw_err *err)
{
	return xgw_http_frame_eof(sess, dir, p, n, len, err);
}

static int
proto_decode(xmpp_ctx_t *ctx, void *sess, enum xgw_dir dir, const uint8_t *p,
    size_t n, xmpp_stanza_t **out, struct xgw_err *err)
{
	return xgw_http_decode(ctx, sess, dir, p, n, out, err);
}

/* "get/request", "200/response" */
static const char *
proto_kind(xmpp_stanza_t *el, char *buf, size_t len)
{
	const char *kind = xmpp_stanza_get_attribute(el, "kind");
	const char *m = xmpp_stanza_get_attribute(el, "method");
	const char *st = xmpp_stanza_get_attribute(el, "status");
	size_t i;

	if (kind != NULL && strcmp(kind, "request") == 0) {
		xgw_kind(buf, len, "", m, "request");
		for (i = 0; buf[i] != '\0' && buf[i] != '/'; i++)
			if (buf[i] >= 'A' && buf[i] <= 'Z')
				buf[i] += 'a' - 'A';
		return buf;
	}
	if (kind != NULL && strcmp(kind, "response") != 0)
		return xgw_kind(buf, len, "", kind, "stream");
	return xgw_kind(buf, len, "", st, "response");
}

const struct xgw_proto xgw_http_proto = {
	.name = "http",
	.ns = XGW_NS_HTTP,
	.stream = 1,
	.ports = { 80, 8080 },
	.sess_size = sizeof(struct xgw_http_sess),
	.frame = proto_frame,
	.decode = proto_decode,
	.encode = xgw_http_encode,
	.frame_eof = proto_frame_eof,
	.kind = proto_kind,
};
