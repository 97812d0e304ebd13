/*
 * The shared transform helpers: strict numbers, XML-safe text, byte
 * strings, lists, the envelope and the protocol table.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "xgw_transform.h"

static xmpp_ctx_t *ctx;

static void
numbers(void **state)
{
	uint64_t v = 7;

	(void)state;
	assert_int_equal(xgw_parse_uint("0", 1, 10, &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(xgw_parse_uint("65535", 5, 65535, &v), 0);
	assert_int_equal(v, 65535);
	assert_int_equal(xgw_parse_uint("65536", 5, 65535, &v), -1);
	assert_int_equal(xgw_parse_uint("2", 1, 1, &v), -1);
	assert_int_equal(xgw_parse_uint("01", 2, 10, &v), -1);
	assert_int_equal(xgw_parse_uint("", 0, 10, &v), -1);
	assert_int_equal(xgw_parse_uint("+1", 2, 10, &v), -1);
	assert_int_equal(xgw_parse_uint("18446744073709551615", 20, UINT64_MAX,
	    &v), 0);
	assert_true(v == UINT64_MAX);
	assert_int_equal(xgw_parse_uint("18446744073709551616", 20, UINT64_MAX,
	    &v), -1);
}

static void
text_safety(void **state)
{
	(void)state;
	assert_true(xgw_text_safe((const uint8_t *)"sensors/temp", 12));
	assert_true(xgw_text_safe((const uint8_t *)"\xc3\xa9t\xc3\xa9", 5));
	assert_true(xgw_text_safe((const uint8_t *)"\xf0\x9f\x98\x80", 4));
	assert_false(xgw_text_safe((const uint8_t *)"a\tb", 3));
	assert_false(xgw_text_safe((const uint8_t *)"a\r\n", 3));
	assert_false(xgw_text_safe((const uint8_t *)"\x00", 1));
	assert_false(xgw_text_safe((const uint8_t *)"\xc0\xaf", 2));	/* overlong */
	assert_false(xgw_text_safe((const uint8_t *)"\xed\xa0\x80", 3));	/* surrogate */
	assert_false(xgw_text_safe((const uint8_t *)"\xc3", 1));		/* cut */
	assert_false(xgw_text_safe((const uint8_t *)"\xef\xbf\xbf", 3));	/* U+FFFF */
	assert_false(xgw_text_safe((const uint8_t *)"\xc2\x85", 2));	/* NEL */
}

static void
byte_strings(void **state)
{
	xmpp_stanza_t *el = xgw_el_new(ctx, "x", NULL);
	struct xgw_buf b = { 0 };
	struct xgw_err e;
	size_t n;

	(void)state;
	assert_int_equal(xgw_set_bytes(ctx, el, "topic",
	    (const uint8_t *)"a/b", 3), 0);
	assert_string_equal(xmpp_stanza_get_attribute(el, "topic"), "a/b");
	assert_int_equal(xgw_get_bytes(el, "topic", &b, &n, &e), 0);
	assert_int_equal(n, 3);
	assert_memory_equal(b.data, "a/b", 3);
	assert_int_equal(xgw_set_bytes(ctx, el, "path",
	    (const uint8_t *)"a\r\nb", 4), 0);
	assert_null(xmpp_stanza_get_attribute(el, "path"));
	assert_string_equal(xmpp_stanza_get_attribute(el, "path-b64"), "YQ0KYg==");
	b.len = 0;
	assert_int_equal(xgw_get_bytes(el, "path", &b, &n, &e), 0);
	assert_int_equal(n, 4);
	assert_memory_equal(b.data, "a\r\nb", 4);
	/* both forms, or neither, is an error */
	xgw_set_str(el, "path", "x");
	assert_int_equal(xgw_get_bytes(el, "path", &b, &n, &e), -1);
	assert_string_equal(e.reason, "bad-element");
	assert_int_equal(xgw_get_bytes(el, "none", &b, &n, &e), -1);
	xgw_set_str(el, "bad-b64", "***=");
	assert_int_equal(xgw_get_bytes(el, "bad", &b, &n, &e), -1);
	xmpp_stanza_release(el);
	xgw_buf_free(&b);
}

static void
lists(void **state)
{
	xmpp_stanza_t *el = xgw_el_new(ctx, "x", NULL);
	static const uint8_t regs[] = { 0, 0, 0xff, 0xff, 0x01, 0x00 };
	static const uint8_t bits[] = { 0xa5 };
	struct xgw_buf b = { 0 };
	struct xgw_err e;
	size_t n;

	(void)state;
	assert_int_equal(xgw_add_u16list(ctx, el, "regs", regs, 3), 0);
	assert_string_equal(xgw_text(xgw_child(el, "regs")), "0 65535 256");
	assert_int_equal(xgw_get_u16list(el, "regs", &b, &n, &e), 0);
	assert_int_equal(n, 3);
	assert_memory_equal(b.data, regs, 6);
	assert_int_equal(xgw_add_bitlist(ctx, el, "bits", bits, 8), 0);
	assert_string_equal(xgw_text(xgw_child(el, "bits")), "1 0 1 0 0 1 0 1");
	b.len = 0;
	assert_int_equal(xgw_get_bitlist(el, "bits", &b, &n, &e), 0);
	assert_int_equal(n, 8);
	assert_int_equal(b.data[0], 0xa5);
	assert_int_equal(xgw_add_u16list(ctx, el, "empty", regs, 0), 0);
	b.len = 0;
	assert_int_equal(xgw_get_u16list(el, "empty", &b, &n, &e), 0);
	assert_int_equal(n, 0);
	xmpp_stanza_release(el);
	xgw_buf_free(&b);
}

static void
bounded_buffer(void **state)
{
	struct xgw_buf b = { 0 };
	struct xgw_err e;

	(void)state;
	assert_int_equal(xgw_buf_put(&b, "ab", 2, &e), 0);
	assert_int_equal(xgw_buf_put(&b, "ab", XGW_PDU_MAX, &e), -1);
	assert_string_equal(e.reason, "too-large");
	assert_int_equal(b.len, 2);
	xgw_buf_free(&b);
}

static void
envelope(void **state)
{
	struct xgw_meta m = {
		"urn:uuid:0f8fad5b-d9cb-469f-a165-70867728950e",
		"urn:uuid:7c9e6679-7425-40de-944b-e07fc1f90ae7", 3, 42, XGW_RESPONSE, 7
	}, back;
	xmpp_stanza_t *env, *proto, *p2;
	struct xgw_err e;

	(void)state;
	proto = xgw_el_new(ctx, "modbus", XGW_NS_MODBUS);
	env = xgw_envelope(ctx, &m, proto);
	xmpp_stanza_release(proto);
	assert_non_null(env);
	assert_int_equal(xgw_envelope_parse(env, &back, &p2, &e), 0);
	assert_string_equal(back.src, m.src);
	assert_string_equal(back.dst, m.dst);
	assert_true(back.flow == 3 && back.seq == 42 && back.dir == XGW_RESPONSE);
	assert_true(back.route == 7);
	xmpp_stanza_del_attribute(env, "route");
	assert_int_equal(xgw_envelope_parse(env, &back, &p2, &e), 0);
	assert_true(back.route == 0);
	assert_string_equal(xmpp_stanza_get_name(p2), "modbus");
	xgw_set_str(env, "src", "urn:uuid:0F8FAD5B-D9CB-469F-A165-70867728950E");
	assert_int_equal(xgw_envelope_parse(env, &back, &p2, &e), -1);
	assert_string_equal(e.reason, "bad-envelope");
	xgw_set_str(env, "src", m.src);
	xgw_set_str(env, "dir", "sideways");
	assert_int_equal(xgw_envelope_parse(env, &back, &p2, &e), -1);
	xgw_set_str(env, "dir", "event");
	xgw_el_add(env, xgw_el_new(ctx, "coap", XGW_NS_COAP));
	assert_int_equal(xgw_envelope_parse(env, &back, &p2, &e), -1);
	assert_non_null(strstr(e.msg, "exactly one"));
	xmpp_stanza_release(env);
	env = xgw_el_new(ctx, "pdu", "urn:elsewhere");
	assert_int_equal(xgw_envelope_parse(env, &back, &p2, &e), -1);
	xmpp_stanza_release(env);
}

static void
kinds(void **state)
{
	char buf[96], small[8];

	(void)state;
	assert_string_equal(xgw_kind(buf, sizeof(buf), "", "read-coils",
	    "request"), "read-coils/request");
	assert_string_equal(xgw_kind(buf, sizeof(buf), "fc", "65", NULL),
	    "fc65/?");
	/* cut as snprintf cuts */
	assert_string_equal(xgw_kind(small, sizeof(small), "fc", "65",
	    "exception"), "fc65/ex");
	assert_string_equal(xgw_kind(small, 1, "fc", "65", "x"), "");
}

static void
uuids(void **state)
{
	(void)state;
	assert_true(xgw_uuid_valid("urn:uuid:0f8fad5b-d9cb-469f-a165-70867728950e"));
	assert_false(xgw_uuid_valid("0f8fad5b-d9cb-469f-a165-70867728950e"));
	assert_false(xgw_uuid_valid("urn:uuid:0f8fad5b-d9cb-469f-a165-70867728950"));
	assert_false(xgw_uuid_valid("urn:uuid:0f8fad5b-d9cb-469f-a165-70867728950ee"));
	assert_false(xgw_uuid_valid("urn:uuid:0f8fad5bd-9cb-469f-a165-70867728950e"));
}

static void
protocol_table(void **state)
{
	(void)state;
	assert_ptr_equal(xgw_proto_find("modbus"), xgw_proto_by_port(502, 1));
	assert_ptr_equal(xgw_proto_find("coap"), xgw_proto_by_port(5683, 0));
	assert_ptr_equal(xgw_proto_find("mqtt"), xgw_proto_by_port(1883, 1));
	assert_ptr_equal(xgw_proto_find("http"), xgw_proto_by_port(80, 1));
	assert_null(xgw_proto_by_port(502, 0));
	assert_null(xgw_proto_find("bacnet"));
}

/*
 * The arena: the block empties when its last allocation goes, and only
 * then.  libstrophe's allocation calls, deprecated for applications, are
 * the straight way to its realloc.
 */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
static void
arena(void **state)
{
	struct xgw_arena *a = xgw_arena_new(4096);
	xmpp_ctx_t *actx = xgw_arena_ctx_new(a);
	xmpp_stanza_t *el, *el2, *held;
	char *p, *q, *big;

	(void)state;
	assert_non_null(actx);
	el = xgw_el_new(actx, "modbus", XGW_NS_MODBUS);
	assert_int_equal(xgw_set_uint(el, "unit", 17), 0);
	xmpp_stanza_release(el);
	/* everything released: the next PDU starts where the last one did */
	el2 = xgw_el_new(actx, "modbus", XGW_NS_MODBUS);
	assert_ptr_equal(el2, el);
	/* one element held: the block does not empty under it */
	held = el2;
	el = xgw_el_new(actx, "coap", XGW_NS_COAP);
	xmpp_stanza_release(el);
	el = xgw_el_new(actx, "coap", XGW_NS_COAP);
	assert_ptr_not_equal(el, held);
	assert_string_equal(xmpp_stanza_get_name(held), "modbus");
	assert_string_equal(xmpp_stanza_get_ns(held), XGW_NS_MODBUS);
	xmpp_stanza_release(el);
	xmpp_stanza_release(held);
	/* the last allocation grows in place; an earlier one moves, kept whole */
	p = xmpp_strdup(actx, "abc");
	q = xmpp_realloc(actx, p, 200);
	assert_ptr_equal(q, p);
	assert_string_equal(q, "abc");
	p = xmpp_strdup(actx, "defgh");
	q = xmpp_realloc(actx, q, 300);
	assert_ptr_not_equal(q, p);
	assert_string_equal(q, "abc");
	/* what the block cannot hold comes from the heap, and goes back there */
	big = xmpp_realloc(actx, NULL, 10000);
	assert_non_null(big);
	memset(big, 'x', 10000);
	big = xmpp_realloc(actx, big, 20000);
	assert_true(big[19999 - 10000] == 'x');
	q = xmpp_realloc(actx, q, 8000);
	assert_string_equal(q, "abc");
	xmpp_free(actx, big);
	xmpp_free(actx, q);
	xmpp_free(actx, p);
	/* the context's own allocations outlive every reset */
	el = xgw_el_new(actx, "mqtt", XGW_NS_MQTT);
	assert_int_equal(xgw_set_uint(el, "type", 3), 0);
	assert_string_equal(xmpp_stanza_get_attribute(el, "type"), "3");
	xmpp_stanza_release(el);
	xmpp_ctx_free(actx);
	xgw_arena_free(a);
}
#pragma GCC diagnostic pop

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(numbers),
		cmocka_unit_test(text_safety),
		cmocka_unit_test(byte_strings),
		cmocka_unit_test(lists),
		cmocka_unit_test(bounded_buffer),
		cmocka_unit_test(envelope),
		cmocka_unit_test(kinds),
		cmocka_unit_test(uuids),
		cmocka_unit_test(protocol_table),
		cmocka_unit_test(arena),
	};
	int rc;

	ctx = xmpp_ctx_new(NULL, NULL);
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	xmpp_ctx_free(ctx);
	return rc;
}
