/*
 * Streamed HTTP messages in the transform: heads read and restored alone,
 * the incremental body walker fed in every cut (one byte at a time too),
 * and the part elements; every hostile shape refused with its reason.
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

static const char chunked_head[] =
	"POST /up HTTP/1.1\r\nHost: d\r\nTransfer-Encoding: chunked\r\n\r\n";
static const char chunked_body[] =
	"5;a=1\r\nhello\r\n000A\r\n0123456789\r\n0;end\r\nX-Sum: 1\r\n\r\n";

static void
head_of(const char *msg, enum xgw_dir dir, const char *method,
    struct xgw_http_body *b, size_t *hlen)
{
	struct xgw_http_sess s = { 0 };
	struct xgw_err e;

	if (method != NULL) {
		snprintf(s.method[0], sizeof(s.method[0]), "%s", method);
		s.count = 1;
	}
	assert_int_equal(xgw_http_head(NULL, &s, dir, (const uint8_t *)msg,
	    strlen(msg), hlen, NULL, b, &e), 1);
}

/* Walks body in pieces of step bytes: the walker's result and bytes taken. */
static int
walk_in(struct xgw_http_body *b, const char *body, size_t n, size_t step,
    size_t *taken, struct xgw_err *e)
{
	size_t used, k;
	int rc = 0;

	*taken = 0;
	for (size_t i = 0; i < n && rc == 0; i += k) {
		k = n - i < step ? n - i : step;
		rc = xgw_http_body_walk(b, (const uint8_t *)body + i, k, &used,
		    e);
		if (rc != -1)
			*taken += used;
	}
	return rc;
}

static void
head_element(void **state)
{
	static const char req[] = "PUT /f HTTP/1.1\r\nHost: d\r\n"
	    "Content-Length: 5000000000\r\n\r\nxyz";
	struct xgw_http_body b;
	struct xgw_buf out = { 0 };
	xmpp_stanza_t *el;
	struct xgw_err e;
	size_t hlen;

	(void)state;
	/* above XGW_PDU_MAX: refused whole, read as a head */
	assert_int_equal(xgw_http_frame(NULL, XGW_REQUEST, (const uint8_t *)req,
	    strlen(req), &hlen, &e), -1);
	assert_string_equal(e.reason, "too-large");
	assert_int_equal(xgw_http_head(ctx, NULL, XGW_REQUEST,
	    (const uint8_t *)req, strlen(req), &hlen, &el, &b, &e), 1);
	assert_int_equal(hlen, strlen(req) - 3);
	assert_int_equal(b.mode, XGW_HTTP_LENGTH);
	assert_true(b.left == 5000000000ull);
	assert_string_equal(xmpp_stanza_get_attribute(el, "body"), "streamed");
	assert_string_equal(xmpp_stanza_get_attribute(el, "body-size"),
	    "5000000000");
	/* restored byte for byte, the head alone */
	assert_int_equal(xgw_http_encode(el, &out, &e), 0);
	assert_int_equal(out.len, hlen);
	assert_memory_equal(out.data, req, hlen);
	/* a body-size that is not its Content-Length: refused */
	out.len = 0;
	xgw_set_str(el, "body-size", "5");
	assert_int_equal(xgw_http_encode(el, &out, &e), -1);
	/* a streamed head whose fields announce no body: refused */
	xgw_buf_free(&out);
	xmpp_stanza_release(el);
	assert_int_equal(xgw_http_head(ctx, NULL, XGW_REQUEST,
	    (const uint8_t *)"GET / HTTP/1.1\r\nHost: d\r\n\r\n", 27, &hlen,
	    &el, &b, &e), 1);
	assert_int_equal(b.mode, XGW_HTTP_NONE);
	assert_int_equal(xgw_http_encode(el, &out, &e), -1);
	xgw_buf_free(&out);
	xmpp_stanza_release(el);
	/* not all there yet */
	assert_int_equal(xgw_http_head(NULL, NULL, XGW_REQUEST,
	    (const uint8_t *)req, 20, &hlen, NULL, &b, &e), 0);
}

static void
walker_cuts(void **state)
{
	size_t hlen, taken, n = strlen(chunked_body);
	static const size_t steps[] = { 1, 2, 3, 7, 16, 1000 };
	struct xgw_http_body b;
	struct xgw_err e;
	char more[128];

	(void)state;
	snprintf(more, sizeof(more), "%sGET /next", chunked_body);
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		head_of(chunked_head, XGW_REQUEST, NULL, &b, &hlen);
		assert_int_equal(b.mode, XGW_HTTP_CHUNKED);
		/* the body ends where it ends: the next message is not taken */
		assert_int_equal(walk_in(&b, more, strlen(more), steps[i],
		    &taken, &e), 1);
		assert_int_equal(taken, n);
		assert_int_equal(b.size, 15);
		xgw_http_body_free(&b);
	}
	/* Content-Length: exactly that many bytes */
	head_of("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", XGW_RESPONSE,
	    "GET", &b, &hlen);
	assert_int_equal(walk_in(&b, "0123456789HTTP", 14, 4, &taken, &e), 1);
	assert_int_equal(taken, 10);
	/* read until close: only the close ends it */
	head_of("HTTP/1.1 200 OK\r\n\r\n", XGW_RESPONSE, "GET", &b, &hlen);
	assert_int_equal(b.mode, XGW_HTTP_CLOSE);
	assert_int_equal(walk_in(&b, "abc", 3, 1, &taken, &e), 0);
	assert_int_equal(xgw_http_body_eof(&b, &e), 1);
	/* a chunked body cut short is not whole at the close */
	head_of(chunked_head, XGW_REQUEST, NULL, &b, &hlen);
	assert_int_equal(walk_in(&b, chunked_body, 10, 3, &taken, &e), 0);
	assert_int_equal(xgw_http_body_eof(&b, &e), -1);
	assert_string_equal(e.reason, "truncated");
	xgw_http_body_free(&b);
	/* bare LF throughout, as the head */
	head_of("POST / HTTP/1.1\nHost: d\nTransfer-Encoding: chunked\n\n",
	    XGW_REQUEST, NULL, &b, &hlen);
	assert_int_equal(walk_in(&b, "2\nab\n0\n\n", 8, 1, &taken, &e), 1);
	xgw_http_body_free(&b);
}

/* A chunked body that the walker must refuse with reason. */
static void
refused_body(const char *body, size_t step, uint64_t max, const char *reason)
{
	struct xgw_http_body b;
	struct xgw_err e;
	size_t hlen, taken;

	head_of(chunked_head, XGW_REQUEST, NULL, &b, &hlen);
	b.max = max;
	if (walk_in(&b, body, strlen(body), step, &taken, &e) != -1)
		fail_msg("%s: not refused", body);
	if (strcmp(e.reason, reason) != 0)
		fail_msg("%s: %s, expected %s", body, e.reason, reason);
	xgw_http_body_free(&b);
}

static void
walker_refuses(void **state)
{
	char line[10000];
	struct xgw_http_body b;
	struct xgw_err e;
	size_t hlen, taken;

	(void)state;
	refused_body("zz\r\n", 1, 0, "bad-chunk-size");
	refused_body("5\r\nhelloXX", 3, 0, "bad-chunk");
	refused_body("5;=\r\nhello\r\n", 2, 0, "bad-chunk-ext");
	refused_body("5\nhello\n", 2, 0, "mixed-eol");
	refused_body("5\r\nhello\r\n3\rX\r\n", 2, 0, "bare-cr");
	refused_body("1\r\na\r\n0\r\nBad Name: x\r\n\r\n", 4, 0,
	    "space-before-colon");
	refused_body("fffffffffffffffffffff\r\n", 5, 0, "too-large");
	/* the body bound: a chunk size announcing more, and data past it */
	refused_body("10\r\n", 1, 15, "too-large");
	memset(line, 'a', sizeof(line) - 1);
	line[sizeof(line) - 1] = '\0';
	line[0] = '1';
	line[1] = ';';
	refused_body(line, 512, 0, "chunk-line-too-long");
	/* Content-Length exceeded: the bytes past it are the next message's */
	head_of("PUT / HTTP/1.1\r\nHost: d\r\nContent-Length: 4\r\n\r\n",
	    XGW_REQUEST, NULL, &b, &hlen);
	assert_int_equal(walk_in(&b, "abcdef", 6, 6, &taken, &e), 1);
	assert_int_equal(taken, 4);
	/* ... and a body above the bound refused as it grows */
	head_of("HTTP/1.1 200 OK\r\n\r\n", XGW_RESPONSE, "GET", &b, &hlen);
	b.max = 5;
	assert_int_equal(walk_in(&b, "abcdefgh", 8, 3, &taken, &e), -1);
	assert_string_equal(e.reason, "too-large");
}

/*
 * A chunked head admitted with a bound (body-max, written by the policy)
 * restores to the same bytes, and the bound counts body bytes, chunk
 * lines aside: a body of exactly the bound passes, one byte more is
 * refused at the chunk line that announces it, before its data.
 */
static void
bounded_head(void **state)
{
	static const char body10[] = "4;x=1\r\nabcd\r\n6\r\nefghij\r\n0\r\n\r\n";
	static const char body11[] = "4;x=1\r\nabcd\r\n7\r\nefghijk\r\n0\r\n\r\n";
	struct xgw_http_body b;
	struct xgw_buf out = { 0 };
	xmpp_stanza_t *el;
	struct xgw_err e;
	size_t hlen, taken;

	(void)state;
	assert_int_equal(xgw_http_head(ctx, NULL, XGW_REQUEST,
	    (const uint8_t *)chunked_head, strlen(chunked_head), &hlen, &el,
	    &b, &e), 1);
	assert_null(xmpp_stanza_get_attribute(el, "body-size"));
	xgw_set_str(el, "body-max", "10");
	assert_int_equal(xgw_http_encode(el, &out, &e), 0);
	assert_int_equal(out.len, strlen(chunked_head));
	assert_memory_equal(out.data, chunked_head, out.len);
	xgw_buf_free(&out);
	xmpp_stanza_release(el);
	b.max = 10;
	assert_int_equal(walk_in(&b, body10, strlen(body10), 3, &taken, &e), 1);
	assert_int_equal(taken, strlen(body10));
	xgw_http_body_free(&b);
	head_of(chunked_head, XGW_REQUEST, NULL, &b, &hlen);
	b.max = 10;
	assert_int_equal(walk_in(&b, body11, strlen(body11), strlen(body11),
	    &taken, &e), -1);
	assert_string_equal(e.reason, "too-large");
	assert_int_equal(e.offset, strlen("4;x=1\r\nabcd\r\n"));
	xgw_http_body_free(&b);
}

static void
parts(void **state)
{
	struct xgw_http_part pt = { XGW_HTTP_PART, 7, 3, 1 }, got;
	struct xgw_buf data = { 0 };
	static uint8_t big[XGW_HTTP_PART_MAX + 3];
	xmpp_stanza_t *el;
	struct xgw_err e;
	char *text;
	size_t len;

	(void)state;
	el = xgw_http_part_new(ctx, &pt, (const uint8_t *)"\r\n0\r\n", 5);
	assert_non_null(el);
	assert_int_equal(xgw_http_part_read(el, &got, &data, &e), 1);
	assert_int_equal(got.kind, XGW_HTTP_PART);
	assert_true(got.stream == 7 && got.part == 3 && got.last == 1);
	assert_int_equal(data.len, 5);
	assert_memory_equal(data.data, "\r\n0\r\n", 5);
	/* a message element is none of these */
	xgw_set_str(el, "kind", "request");
	assert_int_equal(xgw_http_part_read(el, &got, &data, &e), 0);
	xmpp_stanza_release(el);
	/* pulls and acknowledgements carry no data, and no last */
	pt = (struct xgw_http_part){ XGW_HTTP_PULL, 7, 1, 0 };
	el = xgw_http_part_new(ctx, &pt, NULL, 0);
	assert_int_equal(xgw_http_part_read(el, &got, &data, &e), 1);
	assert_int_equal(got.kind, XGW_HTTP_PULL);
	xgw_set_str(el, "last", "1");
	assert_int_equal(xgw_http_part_read(el, &got, &data, &e), -1);
	xmpp_stanza_release(el);
	pt = (struct xgw_http_part){ XGW_HTTP_ACK, 7, 0, 0 };
	el = xgw_http_part_new(ctx, &pt, NULL, 0);
	assert_int_equal(xgw_http_part_read(el, &got, &data, &e), 1);
	xgw_set_str(el, "part", "01");
	assert_int_equal(xgw_http_part_read(el, &got, &data, &e), -1);
	xgw_set_str(el, "part", "1");
	xgw_set_str(el, "stream", "0");
	assert_int_equal(xgw_http_part_read(el, &got, &data, &e), -1);
	xmpp_stanza_release(el);
	/* a cancel: like a pull, parts from 1, no data, no last; as text and back */
	pt = (struct xgw_http_part){ XGW_HTTP_CANCEL, 9, 4, 0 };
	el = xgw_http_part_new(ctx, &pt, NULL, 0);
	assert_int_equal(xmpp_stanza_to_text(el, &text, &len), XMPP_EOK);
	xmpp_stanza_release(el);
	assert_non_null(strstr(text, "kind=\"cancel\""));
	el = xmpp_stanza_new_from_string(ctx, text);
	xmpp_free(ctx, text);
	assert_non_null(el);
	assert_int_equal(xgw_http_part_read(el, &got, &data, &e), 1);
	assert_int_equal(got.kind, XGW_HTTP_CANCEL);
	assert_true(got.stream == 9 && got.part == 4 && got.last == 0);
	xgw_set_str(el, "part", "0");
	assert_int_equal(xgw_http_part_read(el, &got, &data, &e), -1);
	xgw_set_str(el, "part", "4");
	xgw_set_str(el, "last", "1");
	assert_int_equal(xgw_http_part_read(el, &got, &data, &e), -1);
	xmpp_stanza_release(el);
	el = xgw_http_part_new(ctx, &pt, NULL, 0);
	assert_int_equal(xgw_set_b64_text(ctx, el, (const uint8_t *)"abc", 3), 0);
	assert_int_equal(xgw_http_part_read(el, &got, &data, &e), -1);
	assert_string_equal(e.reason, "bad-element");
	xmpp_stanza_release(el);
	/* an empty part that is not the last; an oversize one */
	pt = (struct xgw_http_part){ XGW_HTTP_PART, 7, 1, 0 };
	el = xgw_http_part_new(ctx, &pt, NULL, 0);
	assert_int_equal(xgw_http_part_read(el, &got, &data, &e), -1);
	xmpp_stanza_release(el);
	el = xgw_http_part_new(ctx, &pt, big, sizeof(big));
	assert_int_equal(xgw_http_part_read(el, &got, &data, &e), -1);
	assert_string_equal(e.reason, "oversize");
	xmpp_stanza_release(el);
	xgw_buf_free(&data);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(head_element),
		cmocka_unit_test(walker_cuts),
		cmocka_unit_test(walker_refuses),
		cmocka_unit_test(bounded_head),
		cmocka_unit_test(parts),
	};
	int rc;

	ctx = xmpp_ctx_new(NULL, NULL);
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	xmpp_ctx_free(ctx);
	return rc;
}
