/*
 * xgw-replay --live for HTTP/1.1: every captured request is sent as it
 * was, byte for byte, on one connection per captured flow; answers pair
 * with requests in order (RFC 9112 9.3.2), interim 1xx answers aside,
 * and are framed with the method of the request they answer.  An answer
 * is compared with the captured one by status, reason, header fields by
 * name and body bytes.
 */
#include <err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http.h"
#include "live.h"

/*
 * Fields never compared: what varies with the server and the moment,
 * and what manages the connection or frames the body (RFC 9110 7.6.1;
 * the body bytes are compared themselves, however they were framed).
 */
static const char *const unjudged[] = {
	"Date", "Server", "Last-Modified", "ETag", "Set-Cookie", "Expires",
	"Age",
	"Connection", "Keep-Alive", "Proxy-Connection", "TE", "Upgrade",
	"Transfer-Encoding", "Trailer", "Content-Length",
};

static int
is_unjudged(const char *name)
{
	for (size_t i = 0; i < sizeof(unjudged) / sizeof(unjudged[0]); i++)
		if (strcasecmp(name, unjudged[i]) == 0)
			return 1;
	return 0;
}

static enum creq
http_request(struct live *l, struct lflow *f, const uint8_t *p, size_t n)
{
	(void)l, (void)f, (void)p, (void)n;
	return CREQ_EXCHANGE;
}

/* "HTTP/1.1 100": an interim answer; the final one follows. */
static enum answer
http_answer(struct live *l, struct lflow *f, const uint8_t *p, size_t n,
    int live)
{
	(void)l, (void)f, (void)live;
	if (n >= 12 && p[9] == '1' && memcmp(p + 9, "101", 3) != 0)
		return NOT_YET;
	return ANSWER;
}

/* Answers come in the order of the requests: the oldest waiting one. */
static int
http_pairs(const struct lexch *x, const uint8_t *p, size_t n, int live)
{
	(void)x, (void)p, (void)n, (void)live;
	return 1;
}

/* A session awaiting one answer, to x's method (a HEAD answer has no body). */
static void *
http_answer_sess(const struct lflow *f, const struct lexch *x, void *buf)
{
	struct xgw_http_sess *s = buf;
	const uint8_t *sp;
	size_t len = x->reqlen < XGW_HTTP_METHOD_MAX ? x->reqlen :
	    XGW_HTTP_METHOD_MAX;

	(void)f;
	memset(s, 0, sizeof(*s));
	if ((sp = memchr(x->req, ' ', len)) != NULL)
		len = sp - x->req;
	memcpy(s->method[0], x->req, len);
	s->count = 1;
	return s;
}

static void
same_attr(struct cmp *c, const char *name, xmpp_stanza_t *a,
    xmpp_stanza_t *b)
{
	const char *va = xmpp_stanza_get_attribute(a, name);
	const char *vb = xmpp_stanza_get_attribute(b, name);

	if (va == NULL ? vb != NULL : vb == NULL || strcmp(va, vb) != 0)
		live_differ(c, name, va, vb);
}

/* The k-th child of el of this kind ("field") named name, any case. */
static xmpp_stanza_t *
nth_field(xmpp_stanza_t *el, const char *kind, const char *name, size_t k,
    size_t *count)
{
	xmpp_stanza_t *hit = NULL;
	const char *nm;

	*count = 0;
	for (xmpp_stanza_t *s = xmpp_stanza_get_children(el); s != NULL;
	    s = xmpp_stanza_get_next(s)) {
		if (!xmpp_stanza_is_tag(s) ||
		    strcmp(xmpp_stanza_get_name(s), kind) != 0 ||
		    (nm = xmpp_stanza_get_attribute(s, "name")) == NULL ||
		    strcasecmp(nm, name) != 0)
			continue;
		if ((*count)++ == k)
			hit = s;
	}
	return hit;
}

/* Which occurrence of its name s is among el's children of its kind. */
static size_t
field_index(xmpp_stanza_t *el, xmpp_stanza_t *s)
{
	const char *name = xmpp_stanza_get_attribute(s, "name");
	const char *kind = xmpp_stanza_get_name(s), *nm;
	size_t k = 0;

	for (xmpp_stanza_t *x = xmpp_stanza_get_children(el); x != s;
	    x = xmpp_stanza_get_next(x))
		if (xmpp_stanza_is_tag(x) &&
		    strcmp(xmpp_stanza_get_name(x), kind) == 0 &&
		    (nm = xmpp_stanza_get_attribute(x, "name")) != NULL &&
		    strcasecmp(nm, name) == 0)
			k++;
	return k;
}

static const char *
field_value(xmpp_stanza_t *s)
{
	const char *v;

	if (s == NULL)
		return NULL;
	if ((v = xmpp_stanza_get_attribute(s, "value")) != NULL)
		return v;
	return xmpp_stanza_get_attribute(s, "value-b64");
}

/*
 * The fields of kind ("field" or "trailer") of a against those of b, by
 * name in any case and occurrence; only_b: report the names b alone has.
 */
static void
fields_of(struct cmp *c, const char *kind, xmpp_stanza_t *a, xmpp_stanza_t *b,
    int only_b)
{
	char label[FIELD_MAX];
	const char *name, *va, *vb;
	size_t k, na, nb;
	xmpp_stanza_t *y;

	for (xmpp_stanza_t *x = xmpp_stanza_get_children(a); x != NULL;
	    x = xmpp_stanza_get_next(x)) {
		if (!xmpp_stanza_is_tag(x) ||
		    strcmp(xmpp_stanza_get_name(x), kind) != 0 ||
		    (name = xmpp_stanza_get_attribute(x, "name")) == NULL ||
		    is_unjudged(name))
			continue;
		k = field_index(a, x);
		nth_field(a, kind, name, 0, &na);
		y = nth_field(b, kind, name, k, &nb);
		if (only_b && y != NULL)
			continue;
		if (na > 1)
			live_field(label, "%s(%s)[%zu]", kind, name, k);
		else
			live_field(label, "%s(%s)", kind, name);
		va = field_value(x);
		vb = field_value(y);
		if (only_b)
			live_differ(c, label, NULL, va);
		else if (vb == NULL || strcmp(va, vb) != 0 ||
		    (xmpp_stanza_get_attribute(x, "value") == NULL) !=
		    (xmpp_stanza_get_attribute(y, "value") == NULL))
			live_differ(c, label, va, vb);
	}
}

/* The body's bytes, from <body> or the chunks. */
static void
body_bytes(xmpp_stanza_t *el, struct xgw_buf *b)
{
	struct xgw_err e;
	const char *name;
	size_t n;

	for (xmpp_stanza_t *s = xmpp_stanza_get_children(el); s != NULL;
	    s = xmpp_stanza_get_next(s)) {
		if (!xmpp_stanza_is_tag(s))
			continue;
		name = xmpp_stanza_get_name(s);
		if ((strcmp(name, "body") == 0 || strcmp(name, "chunk") == 0) &&
		    xgw_get_b64_text(s, b, &n, &e) == -1)
			errx(1, "live: a decoded body is not base64: %s", e.msg);
	}
}

static void
body_of(struct cmp *c, xmpp_stanza_t *a, xmpp_stanza_t *b)
{
	struct xgw_buf ba = { 0 }, bb = { 0 };
	char ca[40], cb[80];
	size_t i = 0;

	body_bytes(a, &ba);
	body_bytes(b, &bb);
	while (i < ba.len && i < bb.len && ba.data[i] == bb.data[i])
		i++;
	if (i < ba.len || i < bb.len) {
		snprintf(ca, sizeof(ca), "%zu bytes", ba.len);
		snprintf(cb, sizeof(cb), "%zu bytes, first difference at byte "
		    "%zu", bb.len, i);
		live_differ(c, "body", ca, cb);
	}
	xgw_buf_free(&ba);
	xgw_buf_free(&bb);
}

static void
http_compare(struct cmp *c, xmpp_stanza_t *cap, xmpp_stanza_t *got)
{
	same_attr(c, "status", cap, got);
	same_attr(c, "reason", cap, got);
	same_attr(c, "reason-b64", cap, got);
	fields_of(c, "field", cap, got, 0);
	fields_of(c, "field", got, cap, 1);
	fields_of(c, "trailer", cap, got, 0);
	fields_of(c, "trailer", got, cap, 1);
	body_of(c, cap, got);
}

const struct live_proto live_http = {
	.xp = &xgw_http_proto,
	.close_on_timeout = 1,
	.request = http_request,
	.answer = http_answer,
	.pairs = http_pairs,
	.answer_sess = http_answer_sess,
	.compare = http_compare,
};
