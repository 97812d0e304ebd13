/*
 * The HTTP/1.1 transform: every message kind both ways from captured
 * bytes, the per-connection session (HEAD, 1xx, 101, pipelining), frame
 * and frame_eof, every shape the reader refuses and every element encode
 * refuses.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "http.h"

static xmpp_ctx_t *ctx;

/* zeek__get.pcap, stream 0: GET request */
static const char get_req[] =
	"GET /download/CHANGES.bro-aux.txt HTTP/1.1\r\n"
	"User-Agent: Wget/1.14 (darwin12.2.0)\r\n"
	"Accept: */*\r\n"
	"Host: bro.org\r\n"
	"Connection: Keep-Alive\r\n"
	"\r\n"
;
/* zeek__x-gzip.pcap, stream 0: 200 response with Content-Length */
static const char gzip_resp[] =
	"HTTP/1.1 200 ok\r\n"
	"Server: simpleHTTP\r\n"
	"Content-Encoding: x-gzip\r\n"
	"Content-Length: 39\r\n"
	"\r\n"
	"\037\213\010\000'\205\315W\002\377s\315K\316OIMQH\257\312"
	",P\310HMLI-\002\000\234>\346\002\023\000\000\000"
;
/* suricata-verify http-evader-000: chunked 200 response */
static const char chunked_resp[] =
	"HTTP/1.1 200 ok\r\n"
	"Content-type: application/octet-stream\r\n"
	"Content-disposition: attachment; filename=\"eicar.txt\"\r"
	"\n"
	"Transfer-Encoding: chunked\r\n"
	"Connection: close\r\n"
	"\r\n"
	"5\r\n"
	"X5O!P\r\n"
	"5\r\n"
	"%@AP[\r\n"
	"5\r\n"
	"4\\PZX\r\n"
	"5\r\n"
	"54(P^\r\n"
	"5\r\n"
	")7CC)\r\n"
	"5\r\n"
	"7}$EI\r\n"
	"5\r\n"
	"CAR-S\r\n"
	"5\r\n"
	"TANDA\r\n"
	"5\r\n"
	"RD-AN\r\n"
	"5\r\n"
	"TIVIR\r\n"
	"5\r\n"
	"US-TE\r\n"
	"5\r\n"
	"ST-FI\r\n"
	"5\r\n"
	"LE!$H\r\n"
	"3\r\n"
	"+H*\r\n"
	"0\r\n"
	"\r\n"
;
/* zeek__http-body-match.pcap, stream 4: chunked POST request */
static const char chunked_req[] =
	"POST /abcd HTTP/1.1\r\n"
	"Host: 192.88.99.42\r\n"
	"User-Agent: Crafted/1.0 (HTTP)\r\n"
	"Accept: text/plain,*/*;q=0.9\r\n"
	"Accept-Encoding: gzip, deflate\r\n"
	"Content-Type: text/plain\r\n"
	"Content-Encoding: gzip\r\n"
	"Transfer-Encoding: chunked\r\n"
	"Connection: keep-alive\r\n"
	"Expect: 100-continue\r\n"
	"\r\n"
	"10\r\n"
	"\037\213\010\000\000\000\000\000\000\003strv\001\000\r\n"
	"8\r\n"
	"\245 \027\333\004\000\000\000\r\n"
	"0\r\n"
	"\r\n"
;
/* zeek__methods.pcap, stream 4: request with bare LF line ends */
static const char lf_req[] =
	"GET / HTTP/1.1\n"
	"Host: www.google.com\n"
	"\n"
;
/* zeek__docker-http-upgrade.pcap, stream 0: HEAD and its answer */
static const char head_req[] =
	"HEAD /_ping HTTP/1.1\r\n"
	"Host: 192.168.122.87:2375\r\n"
	"User-Agent: Docker-Client/27.3.1 (linux)\r\n"
	"\r\n"
;
static const char head_resp[] =
	"HTTP/1.1 200 OK\r\n"
	"Api-Version: 1.41\r\n"
	"Cache-Control: no-cache, no-store, must-revalidate\r\n"
	"Content-Length: 0\r\n"
	"Content-Type: text/plain; charset=utf-8\r\n"
	"Docker-Experimental: false\r\n"
	"Ostype: linux\r\n"
	"Pragma: no-cache\r\n"
	"Server: Docker/20.10.17 (linux)\r\n"
	"Date: Tue, 26 Nov 2024 18:48:20 GMT\r\n"
	"\r\n"
;
/* suricata-verify http-multiple100: 100 Continue */
static const char continue_resp[] =
	"HTTP/1.1 100 Continue\r\n"
	"\r\n"
;
/* zeek__docker-http-upgrade.pcap, stream 1: upgrade request and 101 */
static const char upgrade_req[] =
	"POST /v1.41/containers/cc4fc8e49cadbb8bc41437dc2f9979a72"
	"293eabc3f0ea5ce48b77f43cb1f1d5e/attach?stderr=1&stdin=1&"
	"stdout=1&stream=1 HTTP/1.1\r\n"
	"Host: 192.168.122.87:2375\r\n"
	"User-Agent: Docker-Client/27.3.1 (linux)\r\n"
	"Content-Length: 0\r\n"
	"Connection: Upgrade\r\n"
	"Content-Type: text/plain\r\n"
	"Upgrade: tcp\r\n"
	"\r\n"
;
static const char upgrade_resp[] =
	"HTTP/1.1 101 UPGRADED\r\n"
	"Content-Type: application/vnd.docker.raw-stream\r\n"
	"Connection: Upgrade\r\n"
	"Upgrade: tcp\r\n"
	"\r\n"
;

#define S(a)	(const uint8_t *)(a), sizeof(a) - 1

/* decode, and check it re-encodes to the same bytes directly and via XML text */
static xmpp_stanza_t *
roundtrip(struct xgw_http_sess *s, enum xgw_dir dir, const uint8_t *p,
    size_t n)
{
	struct xgw_buf b = { 0 };
	struct xgw_err e;
	xmpp_stanza_t *el, *back;
	char *text;
	size_t tlen;

	if (xgw_http_decode(ctx, s, dir, p, n, &el, &e) != 0)
		fail_msg("decode failed at %zu: %s: %s", e.offset, e.reason,
		    e.msg);
	if (xgw_http_encode(el, &b, &e) != 0)
		fail_msg("encode failed: %s", e.msg);
	assert_int_equal(b.len, n);
	assert_memory_equal(b.data, p, n);
	assert_int_equal(xmpp_stanza_to_text(el, &text, &tlen), XMPP_EOK);
	back = xmpp_stanza_new_from_string(ctx, text);
	xmpp_free(ctx, text);
	assert_non_null(back);
	b.len = 0;
	if (xgw_http_encode(back, &b, &e) != 0)
		fail_msg("encode from XML text failed: %s", e.msg);
	assert_int_equal(b.len, n);
	assert_memory_equal(b.data, p, n);
	xmpp_stanza_release(back);
	xgw_buf_free(&b);
	return el;
}

static void
assert_attr(xmpp_stanza_t *el, const char *name, const char *want)
{
	const char *v = xmpp_stanza_get_attribute(el, name);

	if (want == NULL) {
		if (v != NULL)
			fail_msg("attribute %s is %s, expected none", name, v);
		return;
	}
	if (v == NULL || strcmp(v, want) != 0)
		fail_msg("attribute %s is %s, expected %s", name,
		    v ? v : "(none)", want);
}

/* the i-th child named name */
static xmpp_stanza_t *
nth(xmpp_stanza_t *el, const char *name, int i)
{
	xmpp_stanza_t *c;

	for (c = xmpp_stanza_get_children(el); c != NULL;
	    c = xmpp_stanza_get_next(c))
		if (xmpp_stanza_is_tag(c) &&
		    strcmp(xmpp_stanza_get_name(c), name) == 0 && i-- == 0)
			return c;
	return NULL;
}

static int
count(xmpp_stanza_t *el, const char *name)
{
	int i = 0;

	while (nth(el, name, i) != NULL)
		i++;
	return i;
}

static void
get_request(void **state)
{
	struct xgw_http_sess s = { 0 };
	xmpp_stanza_t *el;

	(void)state;
	el = roundtrip(&s, XGW_REQUEST, S(get_req));
	assert_attr(el, "kind", "request");
	assert_attr(el, "method", "GET");
	assert_attr(el, "target", "/download/CHANGES.bro-aux.txt");
	assert_attr(el, "version", "HTTP/1.1");
	assert_attr(el, "body-size", "0");
	assert_attr(el, "eol", NULL);
	assert_attr(nth(el, "field", 0), "name", "User-Agent");
	assert_attr(nth(el, "field", 0), "value", "Wget/1.14 (darwin12.2.0)");
	assert_attr(nth(el, "field", 0), "ows-pre", NULL);
	assert_int_equal(count(el, "field"), 4);
	assert_null(xgw_child(el, "body"));
	assert_int_equal(s.count, 1);
	assert_string_equal(s.method[0], "GET");
	xmpp_stanza_release(el);
}

static void
length_response(void **state)
{
	xmpp_stanza_t *el;

	(void)state;
	el = roundtrip(NULL, XGW_RESPONSE, S(gzip_resp));
	assert_attr(el, "kind", "response");
	assert_attr(el, "status", "200");
	assert_attr(el, "reason", "ok");
	assert_attr(el, "body-size", "39");
	assert_attr(el, "request-method", NULL);
	assert_attr(nth(el, "field", 2), "name", "Content-Length");
	assert_attr(nth(el, "field", 2), "value", "39");
	assert_string_equal(xgw_text(xgw_child(el, "body")),
	    "H4sIACeFzVcC/3PNS85PSU1RSK/KLFDISE1MSS0CAJw+5gITAAAA");
	xmpp_stanza_release(el);
}

static void
chunked_response(void **state)
{
	xmpp_stanza_t *el;

	(void)state;
	el = roundtrip(NULL, XGW_RESPONSE, S(chunked_resp));
	assert_attr(el, "status", "200");
	assert_attr(el, "body-size", "68");
	assert_int_equal(count(el, "chunk"), 15);
	assert_attr(nth(el, "chunk", 0), "size-text", "5");
	assert_string_equal(xgw_text(nth(el, "chunk", 0)), "WDVPIVA=");
	assert_attr(nth(el, "chunk", 14), "size-text", "0");
	assert_null(xgw_child(el, "body"));
	assert_int_equal(count(el, "trailer"), 0);
	xmpp_stanza_release(el);
}

static void
chunked_request(void **state)
{
	xmpp_stanza_t *el;

	(void)state;
	el = roundtrip(NULL, XGW_REQUEST, S(chunked_req));
	assert_attr(el, "method", "POST");
	assert_attr(el, "target", "/abcd");
	assert_attr(el, "body-size", "24");
	assert_int_equal(count(el, "chunk"), 3);
	assert_attr(nth(el, "chunk", 0), "size-text", "10");
	assert_attr(nth(el, "chunk", 1), "size-text", "8");
	xmpp_stanza_release(el);
}

/* chunk extensions, upper-case hex with leading zeros, trailers, odd spacing */
static void
chunk_details(void **state)
{
	static const char msg[] =
	    "HTTP/1.1 200 OK\r\n"
	    "Transfer-Encoding: gzip ,  CHUNKED\t\r\n"
	    "X-A:v\r\n"
	    "\r\n"
	    "000A;name=\"q \\\" d\" ; x\r\n"
	    "0123456789\r\n"
	    "0;last\r\n"
	    "Digest:\tabc \r\n"
	    "\r\n";
	xmpp_stanza_t *el;

	(void)state;
	el = roundtrip(NULL, XGW_RESPONSE, S(msg));
	assert_attr(el, "body-size", "10");
	assert_attr(nth(el, "field", 0), "value", "gzip ,  CHUNKED");
	assert_attr(nth(el, "field", 0), "ows-post", "t");
	assert_attr(nth(el, "field", 1), "ows-pre", "");
	assert_attr(nth(el, "chunk", 0), "size-text", "000A");
	assert_attr(nth(el, "chunk", 0), "ext", ";name=\"q \\\" d\" ; x");
	assert_attr(nth(el, "chunk", 1), "ext", ";last");
	assert_attr(nth(el, "trailer", 0), "name", "Digest");
	assert_attr(nth(el, "trailer", 0), "ows-pre", "t");
	assert_attr(nth(el, "trailer", 0), "ows-post", "s");
	xmpp_stanza_release(el);
}

static void
bare_lf_request(void **state)
{
	xmpp_stanza_t *el;

	(void)state;
	el = roundtrip(NULL, XGW_REQUEST, S(lf_req));
	assert_attr(el, "eol", "lf");
	assert_attr(el, "target", "/");
	assert_attr(nth(el, "field", 0), "value", "www.google.com");
	xmpp_stanza_release(el);
}

/* non-UTF-8 bytes in a value travel as value-b64 */
static void
binary_value(void **state)
{
	static const char msg[] =
	    "GET /a%20b?x=1 HTTP/1.0\r\nX-Name: caf\351\r\n\r\n";
	xmpp_stanza_t *el;

	(void)state;
	el = roundtrip(NULL, XGW_REQUEST, S(msg));
	assert_attr(el, "target", "/a%20b?x=1");
	assert_attr(el, "version", "HTTP/1.0");
	assert_attr(nth(el, "field", 0), "value-b64", "Y2Fm6Q==");
	xmpp_stanza_release(el);
}

static void
head_response(void **state)
{
	static const char withlen[] =
	    "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n";
	struct xgw_http_sess s = { 0 };
	struct xgw_err e;
	xmpp_stanza_t *el;
	size_t len;

	(void)state;
	xmpp_stanza_release(roundtrip(&s, XGW_REQUEST, S(head_req)));
	/* a HEAD answer has no body whatever its Content-Length says */
	assert_int_equal(xgw_http_frame(&s, XGW_RESPONSE, S(withlen), &len,
	    &e), 1);
	assert_int_equal(len, sizeof(withlen) - 1);
	el = roundtrip(&s, XGW_RESPONSE, S(head_resp));
	assert_attr(el, "request-method", "HEAD");
	assert_attr(el, "body-size", "0");
	assert_null(xgw_child(el, "body"));
	assert_int_equal(s.count, 0);
	xmpp_stanza_release(el);
	/* without the session the same bytes wait for five body bytes */
	assert_int_equal(xgw_http_frame(&s, XGW_RESPONSE, S(withlen), &len,
	    &e), 0);
}

static void
continue_response(void **state)
{
	struct xgw_http_sess s = { 0 };
	xmpp_stanza_t *el;

	(void)state;
	xmpp_stanza_release(roundtrip(&s, XGW_REQUEST, S(chunked_req)));
	el = roundtrip(&s, XGW_RESPONSE, S(continue_resp));
	assert_attr(el, "status", "100");
	assert_attr(el, "reason", "Continue");
	assert_attr(el, "request-method", "POST");
	xmpp_stanza_release(el);
	assert_int_equal(s.count, 1);	/* 1xx does not answer the request */
	xmpp_stanza_release(roundtrip(&s, XGW_RESPONSE, S(gzip_resp)));
	assert_int_equal(s.count, 0);
}

static void
upgrade(void **state)
{
	struct xgw_http_sess s = { 0 };
	struct xgw_err e;
	xmpp_stanza_t *el;
	size_t len;

	(void)state;
	xmpp_stanza_release(roundtrip(&s, XGW_REQUEST, S(upgrade_req)));
	el = roundtrip(&s, XGW_RESPONSE, S(upgrade_resp));
	assert_attr(el, "status", "101");
	assert_attr(el, "reason", "UPGRADED");
	xmpp_stanza_release(el);
	assert_int_equal(s.switched, 1);
	assert_int_equal(xgw_http_frame(&s, XGW_RESPONSE, S("/ # "), &len,
	    &e), -1);
	assert_string_equal(e.reason, "switched");
	assert_int_equal(xgw_http_frame(&s, XGW_REQUEST, S(get_req), &len,
	    &e), -1);
	assert_string_equal(e.reason, "switched");
}

static void
connect_tunnel(void **state)
{
	static const char req[] =
	    "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n";
	static const char resp[] =
	    "HTTP/1.1 200 Connection established\r\n\r\n";
	struct xgw_http_sess s = { 0 };
	xmpp_stanza_t *el;

	(void)state;
	xmpp_stanza_release(roundtrip(&s, XGW_REQUEST, S(req)));
	el = roundtrip(&s, XGW_RESPONSE, S(resp));
	assert_attr(el, "request-method", "CONNECT");
	assert_attr(el, "body-size", "0");
	xmpp_stanza_release(el);
	assert_int_equal(s.switched, 1);
}

static void
pipelining(void **state)
{
	static const char two[] = "HEAD / HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n\r\n";
	struct xgw_http_sess s = { 0 };
	struct xgw_err e;
	xmpp_stanza_t *el;
	size_t len;
	int i;

	(void)state;
	assert_int_equal(xgw_http_frame(&s, XGW_REQUEST, S(two), &len, &e), 1);
	assert_int_equal(len, 19);
	xmpp_stanza_release(roundtrip(&s, XGW_REQUEST, (const uint8_t *)two,
	    len));
	xmpp_stanza_release(roundtrip(&s, XGW_REQUEST,
	    (const uint8_t *)two + len, sizeof(two) - 1 - len));
	el = roundtrip(&s, XGW_RESPONSE, S(head_resp));
	assert_attr(el, "request-method", "HEAD");
	xmpp_stanza_release(el);
	el = roundtrip(&s, XGW_RESPONSE, S(gzip_resp));
	assert_attr(el, "request-method", "GET");
	xmpp_stanza_release(el);
	for (i = 0; i < XGW_HTTP_PIPELINE; i++)
		xmpp_stanza_release(roundtrip(&s, XGW_REQUEST, S(get_req)));
	assert_int_equal(xgw_http_decode(ctx, &s, XGW_REQUEST, S(get_req),
	    &el, &e), -1);
	assert_string_equal(e.reason, "pipeline-full");
}

static void
framing(void **state)
{
	static const char closed[] =
	    "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nhello";
	struct xgw_err e;
	xmpp_stanza_t *el;
	size_t len;

	(void)state;
	assert_int_equal(xgw_http_frame(NULL, XGW_REQUEST,
	    (const uint8_t *)get_req, sizeof(get_req) - 2, &len, &e), 0);
	assert_int_equal(xgw_http_frame(NULL, XGW_RESPONSE,
	    (const uint8_t *)chunked_resp, sizeof(chunked_resp) - 3, &len,
	    &e), 0);
	assert_int_equal(xgw_http_frame(NULL, XGW_RESPONSE, S(chunked_resp),
	    &len, &e), 1);
	assert_int_equal(len, sizeof(chunked_resp) - 1);
	/* read until close: only the end of the stream delimits it */
	assert_int_equal(xgw_http_frame(NULL, XGW_RESPONSE, S(closed), &len,
	    &e), 0);
	assert_int_equal(xgw_http_proto.frame_eof(NULL, XGW_RESPONSE,
	    S(closed), &len, &e), 1);
	assert_int_equal(len, sizeof(closed) - 1);
	el = roundtrip(NULL, XGW_RESPONSE, S(closed));
	assert_attr(el, "body-size", "5");
	xmpp_stanza_release(el);
	/* a request is never delimited by the close */
	assert_int_equal(xgw_http_proto.frame_eof(NULL, XGW_REQUEST,
	    (const uint8_t *)get_req, 20, &len, &e), -1);
	assert_string_equal(e.reason, "truncated");
	/* a wrong first byte is refused before the line is complete */
	assert_int_equal(xgw_http_frame(NULL, XGW_RESPONSE, S("HTTQ"), &len,
	    &e), -1);
	assert_string_equal(e.reason, "bad-version");
	assert_int_equal(xgw_http_frame(NULL, XGW_REQUEST, S("G(T"), &len,
	    &e), -1);
	assert_string_equal(e.reason, "bad-method");
}

static void
proto_entry(void **state)
{
	char buf[64];
	xmpp_stanza_t *el;

	(void)state;
	assert_ptr_equal(xgw_proto_find("http"), &xgw_http_proto);
	assert_ptr_equal(xgw_proto_by_port(8080, 1), &xgw_http_proto);
	assert_int_equal(xgw_http_proto.sess_size,
	    sizeof(struct xgw_http_sess));
	el = roundtrip(NULL, XGW_REQUEST, S(get_req));
	assert_string_equal(xgw_http_proto.kind(el, buf, sizeof(buf)),
	    "get/request");
	xmpp_stanza_release(el);
	el = roundtrip(NULL, XGW_RESPONSE, S(gzip_resp));
	assert_string_equal(xgw_http_proto.kind(el, buf, sizeof(buf)),
	    "200/response");
	xmpp_stanza_release(el);
}

struct bad {
	enum xgw_dir	 dir;
	const char	*bytes;
	size_t		 len;
	const char	*reason;
	size_t		 offset;
};

#define B(dir, s, reason, off)	{ dir, s, sizeof(s) - 1, reason, off }
#define Q	XGW_REQUEST
#define R	XGW_RESPONSE

static void
refused(void **state)
{
	static const struct bad cases[] = {
		/* zeek variant-04-te_cl_desync.pcap */
		B(Q, "POST / HTTP/1.1\r\nHost: target\r\nTransfer-Encoding: "
		    "chunked\r\nContent-Length: 50\r\n\r\n0\r\n\r\n",
		    "te-and-cl", 50),
		/* zeek variant-01-chunk_2pow64_overflow.pcap */
		B(Q, "POST / HTTP/1.1\r\nHost: target\r\nTransfer-Encoding: "
		    "chunked\r\n\r\n10000000000000000\r\n\r\n",
		    "too-large", 61),
		/* zeek variant-10-multi_value_te.pcap */
		B(Q, "POST / HTTP/1.1\r\nHost: target\r\nTransfer-Encoding: "
		    "chunked, identity\r\n\r\n0\r\n\r\n",
		    "bad-transfer-encoding", 50),
		/* zeek methods.pcap: no version (HTTP/0.9 shape) */
		B(Q, "OPTIONS HTTP/1.1\nHost: www.google.com\n\n",
		    "bad-version", 16),
		/* zeek methods.pcap: no space after the method */
		B(Q, "OPTIONSHTTP/1.1\nHost: www.google.com\n\n",
		    "bad-method", 11),
		/* zeek http-lower-case-nonstandard-port.pcap */
		B(R, "http/1.1 200 OK\r\n\r\n", "bad-version", 0),
		/* suricata http-chunked: CL and a list with empty elements */
		B(Q, "HEAD / HTTP/1.1\r\nContent-Length: 0\r\n"
		    "Transfer-Encoding: ,\tchunked,\r\n\r\n", "te-and-cl", 55),
		/* suricata http-request-invalid: CRLF after a POST body */
		B(Q, "\r\n", "empty-line", 0),
		B(Q, "POST / HTTP/1.1\r\nContent-Length: 5\r\n"
		    "Content-Length: 6\r\n\r\n", "conflicting-length", 52),
		B(Q, "POST / HTTP/1.1\r\nContent-Length: 5, 6\r\n\r\n",
		    "conflicting-length", 36),
		B(Q, "POST / HTTP/1.1\r\nContent-Length: +5\r\n\r\n",
		    "bad-content-length", 33),
		B(Q, "POST / HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n",
		    "too-large", 33),
		B(Q, "GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n", "obs-fold", 22),
		B(Q, "GET / HTTP/1.1\r\nHost : a\r\n\r\n",
		    "space-before-colon", 20),
		B(Q, "GET / HTTP/1.1\r\nHo(st: a\r\n\r\n", "bad-field-name",
		    18),
		B(Q, "GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n", "bare-cr", 23),
		B(Q, "GET / HTTP/1.1\r\nHost: a\0b\r\n\r\n", "nul", 23),
		B(Q, "GET / HTTP/1.1\r\nHost: a\033b\r\n\r\n",
		    "bad-field-value", 23),
		B(Q, "GET / HTTP/1.1\r\nHost: a\n\r\n", "mixed-eol", 23),
		B(Q, "GET /a\177 HTTP/1.1\r\n\r\n", "bad-target", 6),
		B(R, "HTTP/1.1 600 Odd\r\n\r\n", "bad-status", 8),
		B(R, "HTTP/1.1 200 O\033K\r\n\r\n", "bad-reason", 14),
		B(Q, "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"
		    "0\r\n\r\n", "bad-transfer-encoding", 36),
		B(Q, "POST / HTTP/1.1\r\nTransfer-Encoding: chunked, chunked"
		    "\r\n\r\n0\r\n\r\n", "bad-transfer-encoding", 45),
		B(R, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
		    "5;\r\nhello\r\n0\r\n\r\n", "bad-chunk-ext", 49),
		B(R, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
		    "g\r\n", "bad-chunk-size", 47),
		B(R, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
		    "5\r\nhelloX\r\n0\r\n\r\n", "bad-chunk", 55),
		B(R, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel",
		    "truncated", 41),
		B(Q, "GET / HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n\r\n",
		    "trailing-data", 18),
	};
	struct xgw_err e;
	xmpp_stanza_t *el;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct bad *c = &cases[i];

		if (xgw_http_decode(ctx, NULL, c->dir,
		    (const uint8_t *)c->bytes, c->len, &el, &e) != -1)
			fail_msg("case %zu decoded", i);
		if (strcmp(e.reason, c->reason) != 0 || e.offset != c->offset)
			fail_msg("case %zu: %s at %zu (%s), expected %s at %zu",
			    i, e.reason, e.offset, e.msg, c->reason, c->offset);
		assert_null(el);
	}
}

/* the request line, n copies of line, the empty line */
static uint8_t *
many(const char *line, size_t n, size_t *len)
{
	size_t ll = strlen(line), i;
	uint8_t *p;

	*len = 16 + n * ll + 2;
	if ((p = malloc(*len)) == NULL)
		fail_msg("out of memory");
	memcpy(p, "GET / HTTP/1.1\r\n", 16);
	for (i = 0; i < n; i++)
		memcpy(p + 16 + i * ll, line, ll);
	memcpy(p + *len - 2, "\r\n", 2);
	return p;
}

static void
assert_refused(const uint8_t *p, size_t n, const char *reason, size_t off)
{
	struct xgw_err e;
	xmpp_stanza_t *el;

	assert_int_equal(xgw_http_decode(ctx, NULL, XGW_REQUEST, p, n, &el,
	    &e), -1);
	if (strcmp(e.reason, reason) != 0 || e.offset != off)
		fail_msg("%s at %zu (%s), expected %s at %zu", e.reason,
		    e.offset, e.msg, reason, off);
}

static void
limits(void **state)
{
	static char value[XGW_HTTP_SECTION_MAX + 8];
	xmpp_stanza_t *el;
	uint8_t *p;
	size_t len;

	(void)state;
	p = many("X: y\r\n", XGW_HTTP_FIELDS_MAX, &len);
	el = roundtrip(NULL, XGW_REQUEST, p, len);
	assert_int_equal(count(el, "field"), XGW_HTTP_FIELDS_MAX);
	xmpp_stanza_release(el);
	free(p);
	p = many("X: y\r\n", XGW_HTTP_FIELDS_MAX + 1, &len);
	assert_refused(p, len, "too-many-fields", 16 + 6 * XGW_HTTP_FIELDS_MAX);
	free(p);
	memset(value, 'a', sizeof(value) - 3);
	memcpy(value, "X: ", 3);
	memcpy(value + sizeof(value) - 3, "\r\n", 3);
	p = many(value, 1, &len);
	assert_refused(p, len, "section-too-large", 16);
	free(p);
	value[XGW_HTTP_START_MAX + 2] = '\0';
	memcpy(value, "GET /", 5);
	assert_refused((const uint8_t *)value, strlen(value),
	    "start-line-too-long", 0);
}

/* decodes msg, applies one change to the element, expects encode to refuse */
static void
assert_encode_refuses(const char *msg, enum xgw_dir dir, const char *child,
    int i, const char *attr, const char *value)
{
	struct xgw_buf b = { 0 };
	struct xgw_err e;
	xmpp_stanza_t *el, *t;

	if (xgw_http_decode(ctx, NULL, dir, (const uint8_t *)msg, strlen(msg),
	    &el, &e) != 0)
		fail_msg("decode failed: %s: %s", e.reason, e.msg);
	t = child != NULL ? nth(el, child, i) : el;
	assert_non_null(t);
	if (value != NULL)
		xmpp_stanza_set_attribute(t, attr, value);
	else
		xmpp_stanza_del_attribute(t, attr);
	if (xgw_http_encode(el, &b, &e) != -1)
		fail_msg("encode took %s=%s", attr, value ? value : "(none)");
	assert_string_equal(e.reason, "bad-element");
	assert_int_equal(b.len, 0);
	xmpp_stanza_release(el);
	xgw_buf_free(&b);
}

static void
encode_refuses(void **state)
{
	static const char req[] = "POST /x HTTP/1.1\r\nContent-Length: 2\r\n"
	    "Host: h\r\n\r\nab";
	static const char ch[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: "
	    "chunked\r\n\r\n2;a=b\r\nab\r\n0\r\nT: v\r\n\r\n";
	struct xgw_buf b = { 0 };
	struct xgw_err e;
	xmpp_stanza_t *el;

	(void)state;
	/* header injection through a value, a name, the target, the reason */
	assert_encode_refuses(req, Q, "field", 1, "value", "h\r\nX: y");
	assert_encode_refuses(req, Q, "field", 1, "name", "Ho st");
	assert_encode_refuses(req, Q, NULL, 0, "target", "/ HTTP/1.1\r\n");
	assert_encode_refuses(req, Q, NULL, 0, "method", "G\nET");
	assert_encode_refuses(ch, R, NULL, 0, "reason", "O\r\nK");
	assert_encode_refuses(req, Q, "field", 1, "value", " h");
	assert_encode_refuses(req, Q, "field", 1, "ows-pre", "x");
	/* framing the header fields do not back */
	assert_encode_refuses(req, Q, "field", 0, "value", "3");
	assert_encode_refuses(req, Q, "field", 0, "name", "X-Length");
	assert_encode_refuses(req, Q, NULL, 0, "body-size", "1");
	assert_encode_refuses(req, Q, NULL, 0, "body-size", NULL);
	assert_encode_refuses(ch, R, "chunk", 0, "size-text", "3");
	assert_encode_refuses(ch, R, "chunk", 0, "size-text", "x");
	assert_encode_refuses(ch, R, "chunk", 0, "ext", "a=b");
	assert_encode_refuses(ch, R, "field", 0, "value", "gzip");
	/* the start line and the element itself */
	assert_encode_refuses(ch, R, NULL, 0, "status", "600");
	assert_encode_refuses(ch, R, NULL, 0, "status", "99");
	assert_encode_refuses(ch, R, NULL, 0, "version", "HTTP/2.0");
	assert_encode_refuses(ch, R, NULL, 0, "kind", "event");
	assert_encode_refuses(ch, R, NULL, 0, "eol", "cr");
	assert_encode_refuses(req, Q, NULL, 0, "request-method", "GET");
	assert_encode_refuses(ch, R, NULL, 0, "request-method", "G T");
	/* a HEAD answer carries no body */
	assert_encode_refuses("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nab",
	    R, NULL, 0, "request-method", "HEAD");
	/* children out of wire order */
	assert_int_equal(xgw_http_decode(ctx, NULL, R, S(ch), &el, &e), 0);
	xmpp_stanza_set_name(nth(el, "chunk", 1), "trailer");
	assert_int_equal(xgw_http_encode(el, &b, &e), -1);
	assert_string_equal(e.reason, "bad-element");
	xmpp_stanza_release(el);
	el = xgw_el_new(ctx, "http", XGW_NS_MQTT);
	assert_int_equal(xgw_http_encode(el, &b, &e), -1);
	assert_string_equal(e.reason, "bad-element");
	xmpp_stanza_release(el);
	xgw_buf_free(&b);
}

static int
setup(void **state)
{
	(void)state;
	xmpp_initialize();
	ctx = xmpp_ctx_new(NULL, NULL);
	return ctx == NULL;
}

static int
teardown(void **state)
{
	(void)state;
	xmpp_ctx_free(ctx);
	xmpp_shutdown();
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(get_request),
		cmocka_unit_test(length_response),
		cmocka_unit_test(chunked_response),
		cmocka_unit_test(chunked_request),
		cmocka_unit_test(chunk_details),
		cmocka_unit_test(bare_lf_request),
		cmocka_unit_test(binary_value),
		cmocka_unit_test(head_response),
		cmocka_unit_test(continue_response),
		cmocka_unit_test(upgrade),
		cmocka_unit_test(connect_tunnel),
		cmocka_unit_test(pipelining),
		cmocka_unit_test(framing),
		cmocka_unit_test(proto_entry),
		cmocka_unit_test(refused),
		cmocka_unit_test(limits),
		cmocka_unit_test(encode_refuses),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
