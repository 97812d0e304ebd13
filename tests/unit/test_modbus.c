/*
 * The Modbus/TCP transform: every public function code in both
 * directions, exceptions, user-defined codes, boundary quantities, every
 * malformed shape the decoder refuses and every element encode refuses.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "modbus.h"

static xmpp_ctx_t *ctx;

static size_t
unhex(const char *hex, uint8_t *out)
{
	size_t n = 0;

	for (; hex[0] != '\0'; hex += 2) {
		if (hex[0] == ' ') {
			hex--;
			continue;
		}
		sscanf(hex, "%2hhx", &out[n++]);
	}
	return n;
}

/* decode, check it re-encodes to the same bytes directly and via XML text */
static xmpp_stanza_t *
roundtrip(const char *hex, enum xgw_dir dir)
{
	uint8_t in[512];
	size_t n = unhex(hex, in);
	struct xgw_buf b = { 0 };
	struct xgw_err e;
	xmpp_stanza_t *el, *back;
	char *text;
	size_t tlen;

	if (xgw_modbus_decode(ctx, in, n, dir, &el, &e) != 0)
		fail_msg("%s: decode failed at %zu: %s: %s", hex, e.offset,
		    e.reason, e.msg);
	if (xgw_modbus_encode(el, &b, &e) != 0)
		fail_msg("%s: encode failed: %s", hex, e.msg);
	assert_int_equal(b.len, n);
	assert_memory_equal(b.data, in, n);
	assert_int_equal(xmpp_stanza_to_text(el, &text, &tlen), XMPP_EOK);
	back = xmpp_stanza_new_from_string(ctx, text);
	xmpp_free(ctx, text);
	assert_non_null(back);
	b.len = 0;
	assert_int_equal(xgw_modbus_encode(back, &b, &e), 0);
	assert_int_equal(b.len, n);
	assert_memory_equal(b.data, in, n);
	xmpp_stanza_release(back);
	xgw_buf_free(&b);
	return el;
}

static void
assert_attr(xmpp_stanza_t *el, const char *name, const char *want)
{
	const char *v = xmpp_stanza_get_attribute(el, name);

	if (v == NULL || strcmp(v, want) != 0)
		fail_msg("attribute %s is %s, expected %s", name,
		    v ? v : "(none)", want);
}

static void
assert_child_text(xmpp_stanza_t *el, const char *name, const char *want)
{
	xmpp_stanza_t *c = xgw_child(el, name);

	assert_non_null(c);
	assert_string_equal(xgw_text(c), want);
}

static void
assert_rejected(const char *hex, enum xgw_dir dir, const char *reason,
    size_t offset)
{
	uint8_t in[512];
	size_t n = unhex(hex, in);
	struct xgw_err e;
	xmpp_stanza_t *el = NULL;

	if (xgw_modbus_decode(ctx, in, n, dir, &el, &e) != -1)
		fail_msg("%s: decoded, expected %s", hex, reason);
	assert_null(el);
	if (strcmp(e.reason, reason) != 0 || e.offset != offset)
		fail_msg("%s: %s at %zu (%s), expected %s at %zu", hex,
		    e.reason, e.offset, e.msg, reason, offset);
}

static void
assert_encode_fails(const char *xml, const char *needle)
{
	xmpp_stanza_t *el = xmpp_stanza_new_from_string(ctx, xml);
	struct xgw_buf b = { 0 };
	struct xgw_err e;

	assert_non_null(el);
	if (xgw_modbus_encode(el, &b, &e) != -1)
		fail_msg("%s: encoded, expected an error", xml);
	assert_string_equal(e.reason, "bad-element");
	if (strstr(e.msg, needle) == NULL)
		fail_msg("%s: message \"%s\" lacks \"%s\"", xml, e.msg, needle);
	xmpp_stanza_release(el);
	xgw_buf_free(&b);
}

static void
reads(void **state)
{
	xmpp_stanza_t *el;

	(void)state;
	el = roundtrip("0001 0000 0006 11 01 0013 0025", XGW_REQUEST);
	assert_attr(el, "fn", "read-coils");
	assert_attr(el, "tid", "1");
	assert_attr(el, "unit", "17");
	assert_attr(el, "addr", "19");
	assert_attr(el, "qty", "37");
	xmpp_stanza_release(el);
	el = roundtrip("0001 0000 0008 11 01 05 cd6bb20e1b", XGW_RESPONSE);
	assert_attr(el, "bc", "5");
	assert_child_text(el, "bits",
	    "1 0 1 1 0 0 1 1 1 1 0 1 0 1 1 0 0 1 0 0 1 1 0 1 0 1 1 1 0 0 0 0 "
	    "1 1 0 1 1 0 0 0");
	xmpp_stanza_release(el);
	xmpp_stanza_release(roundtrip("0002 0000 0006 01 02 00c4 0016", XGW_REQUEST));
	xmpp_stanza_release(roundtrip("0002 0000 0006 01 02 03 acdb35", XGW_RESPONSE));
	el = roundtrip("0003 0000 0006 01 03 006b 0003", XGW_REQUEST);
	assert_attr(el, "fn", "read-holding-registers");
	xmpp_stanza_release(el);
	el = roundtrip("0003 0000 0009 01 03 06 022b 0000 0064", XGW_RESPONSE);
	assert_child_text(el, "regs", "555 0 100");
	xmpp_stanza_release(el);
	xmpp_stanza_release(roundtrip("0004 0000 0006 01 04 0008 0001", XGW_REQUEST));
	xmpp_stanza_release(roundtrip("0004 0000 0005 01 04 02 000a", XGW_RESPONSE));
}

static void
single_writes(void **state)
{
	xmpp_stanza_t *el;

	(void)state;
	el = roundtrip("0005 0000 0006 01 05 00ac ff00", XGW_REQUEST);
	assert_attr(el, "value", "65280");
	xmpp_stanza_release(el);
	xmpp_stanza_release(roundtrip("0005 0000 0006 01 05 00ac 0000", XGW_RESPONSE));
	el = roundtrip("0006 0000 0006 01 06 0001 0003", XGW_REQUEST);
	assert_attr(el, "fn", "write-single-register");
	assert_attr(el, "value", "3");
	xmpp_stanza_release(el);
	xmpp_stanza_release(roundtrip("0006 0000 0006 01 06 0001 0003", XGW_RESPONSE));
	el = roundtrip("0016 0000 0008 01 16 0004 00f2 0025", XGW_REQUEST);
	assert_attr(el, "and", "242");
	assert_attr(el, "or", "37");
	xmpp_stanza_release(el);
	xmpp_stanza_release(roundtrip("0016 0000 0008 01 16 0004 00f2 0025", XGW_RESPONSE));
}

static void
multiple_writes(void **state)
{
	xmpp_stanza_t *el;

	(void)state;
	el = roundtrip("000f 0000 0009 01 0f 0013 000a 02 cd01", XGW_REQUEST);
	assert_child_text(el, "bits", "1 0 1 1 0 0 1 1 1 0");
	assert_null(xmpp_stanza_get_attribute(el, "pad"));
	xmpp_stanza_release(el);
	/* padding bits set on the wire are kept */
	el = roundtrip("000f 0000 0009 01 0f 0013 000a 02 cdf1", XGW_REQUEST);
	assert_attr(el, "pad", "60");
	xmpp_stanza_release(el);
	xmpp_stanza_release(roundtrip("000f 0000 0006 01 0f 0013 000a", XGW_RESPONSE));
	el = roundtrip("0010 0000 000b 01 10 0001 0002 04 000a 0102", XGW_REQUEST);
	assert_child_text(el, "regs", "10 258");
	xmpp_stanza_release(el);
	xmpp_stanza_release(roundtrip("0010 0000 0006 01 10 0001 0002", XGW_RESPONSE));
	el = roundtrip("0017 0000 0011 01 17 0003 0006 000e 0003 06 00ff 00ff 00ff",
	    XGW_REQUEST);
	assert_attr(el, "read-addr", "3");
	assert_attr(el, "write-qty", "3");
	xmpp_stanza_release(el);
	xmpp_stanza_release(roundtrip(
	    "0017 0000 000f 01 17 0c 00fe 0acd 0001 0003 000d 00ff", XGW_RESPONSE));
}

static void
serial_line_and_diagnostics(void **state)
{
	xmpp_stanza_t *el;

	(void)state;
	xmpp_stanza_release(roundtrip("0007 0000 0002 01 07", XGW_REQUEST));
	el = roundtrip("0007 0000 0003 01 07 6d", XGW_RESPONSE);
	assert_attr(el, "status", "109");
	xmpp_stanza_release(el);
	el = roundtrip("0008 0000 0006 01 08 0000 a537", XGW_REQUEST);
	assert_attr(el, "sub", "0");
	assert_child_text(el, "data", "pTc=");
	xmpp_stanza_release(el);
	xmpp_stanza_release(roundtrip("0008 0000 0006 01 08 0000 a537", XGW_RESPONSE));
	/* an odd number of data bytes still round-trips */
	xmpp_stanza_release(roundtrip("0008 0000 0005 01 08 0001 ff", XGW_REQUEST));
	xmpp_stanza_release(roundtrip("000b 0000 0002 01 0b", XGW_REQUEST));
	el = roundtrip("000b 0000 0006 01 0b ffff 0108", XGW_RESPONSE);
	assert_attr(el, "count", "264");
	xmpp_stanza_release(el);
	xmpp_stanza_release(roundtrip("000c 0000 0002 01 0c", XGW_REQUEST));
	el = roundtrip("000c 0000 000b 01 0c 08 0000 0108 0121 2000", XGW_RESPONSE);
	assert_attr(el, "messages", "289");
	xmpp_stanza_release(el);
	xmpp_stanza_release(roundtrip("0011 0000 0002 01 11", XGW_REQUEST));
	xmpp_stanza_release(roundtrip(
	    "0011 0000 0015 0a 11 12 00ff 57696e6770617468204c696d69746564",
	    XGW_RESPONSE));
}

static void
file_records(void **state)
{
	xmpp_stanza_t *el, *rec;

	(void)state;
	el = roundtrip("0014 0000 0011 01 14 0e 06 0004 0001 0002 06 0003 0009 0002",
	    XGW_REQUEST);
	rec = xgw_child(el, "record");
	assert_non_null(rec);
	assert_attr(rec, "file", "4");
	assert_attr(rec, "record", "1");
	assert_attr(rec, "len", "2");
	xmpp_stanza_release(el);
	el = roundtrip("0014 0000 000f 01 14 0c 05 06 0df8 0020 05 06 33cd 0040",
	    XGW_RESPONSE);
	rec = xgw_child(el, "record");
	assert_child_text(rec, "regs", "3576 32");
	xmpp_stanza_release(el);
	el = roundtrip("0015 0000 0010 01 15 0d 06 0004 0007 0003 06af 04be 100d",
	    XGW_REQUEST);
	assert_child_text(xgw_child(el, "record"), "regs", "1711 1214 4109");
	xmpp_stanza_release(el);
	xmpp_stanza_release(roundtrip(
	    "0015 0000 0010 01 15 0d 06 0004 0007 0003 06af 04be 100d",
	    XGW_RESPONSE));
}

static void
fifo_and_mei(void **state)
{
	xmpp_stanza_t *el, *o;

	(void)state;
	xmpp_stanza_release(roundtrip("0018 0000 0004 01 18 04de", XGW_REQUEST));
	el = roundtrip("0018 0000 000a 01 18 0006 0002 01b8 1284", XGW_RESPONSE);
	assert_attr(el, "count", "2");
	assert_child_text(el, "regs", "440 4740");
	xmpp_stanza_release(el);
	xmpp_stanza_release(roundtrip("0018 0000 0006 01 18 0002 0000", XGW_RESPONSE));
	el = roundtrip("002b 0000 0005 01 2b 0e 01 00", XGW_REQUEST);
	assert_attr(el, "mei", "14");
	assert_attr(el, "code", "1");
	xmpp_stanza_release(el);
	el = roundtrip("002b 0000 001b 01 2b 0e 01 01 00 00 03 00 04 41434d45"
	    "01 04 5850 3031 02 05 56312e3030", XGW_RESPONSE);
	assert_attr(el, "count", "3");
	o = xgw_child(el, "object");
	assert_attr(o, "id", "0");
	assert_child_text(o, "value", "QUNNRQ==");
	xmpp_stanza_release(el);
	el = roundtrip("002b 0000 0006 01 2b 0d 0102 03", XGW_REQUEST);
	assert_attr(el, "mei", "13");
	assert_child_text(el, "data", "AQID");
	xmpp_stanza_release(el);
	xmpp_stanza_release(roundtrip("002b 0000 0006 01 2b 0d 0102 03", XGW_RESPONSE));
}

static void
exceptions_and_unknown_codes(void **state)
{
	xmpp_stanza_t *el;
	static const char *const adus[] = {
		"0001 0000 0003 01 81 01", "0002 0000 0003 01 83 02",
		"0003 0000 0003 01 90 03", "0004 0000 0003 01 ab 04",
		"0005 0000 0003 01 86 06", "0006 0000 0003 01 83 0a",
		"0007 0000 0003 01 83 0b", "0008 0000 0003 01 80 01",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(adus) / sizeof(adus[0]); i++)
		xmpp_stanza_release(roundtrip(adus[i], XGW_RESPONSE));
	el = roundtrip("0001 0000 0003 01 83 02", XGW_RESPONSE);
	assert_attr(el, "fc", "3");
	assert_attr(el, "exception", "2");
	xmpp_stanza_release(el);
	/* user-defined and unassigned codes keep their bytes */
	el = roundtrip("0001 0000 0005 01 41 deadbe", XGW_REQUEST);
	assert_attr(el, "fc", "65");
	assert_null(xmpp_stanza_get_attribute(el, "fn"));
	assert_child_text(el, "data", "3q2+");
	xmpp_stanza_release(el);
	xmpp_stanza_release(roundtrip("0001 0000 0002 01 64", XGW_RESPONSE));
	xmpp_stanza_release(roundtrip("0001 0000 0004 01 09 0102", XGW_REQUEST));
}

static void
boundary_quantities(void **state)
{
	(void)state;
	xmpp_stanza_release(roundtrip("0001 0000 0006 01 03 0000 007d", XGW_REQUEST));
	assert_rejected("0001 0000 0006 01 03 0000 007e", XGW_REQUEST, "bad-value", 10);
	xmpp_stanza_release(roundtrip("0001 0000 0006 01 04 0000 007d", XGW_REQUEST));
	assert_rejected("0001 0000 0006 01 04 0000 007e", XGW_REQUEST, "bad-value", 10);
	assert_rejected("0001 0000 0006 01 03 0000 0000", XGW_REQUEST, "bad-value", 10);
	xmpp_stanza_release(roundtrip("0001 0000 0006 01 01 0000 07d0", XGW_REQUEST));
	assert_rejected("0001 0000 0006 01 01 0000 07d1", XGW_REQUEST, "bad-value", 10);
	xmpp_stanza_release(roundtrip("0001 0000 0006 01 02 0000 07d0", XGW_REQUEST));
	assert_rejected("0001 0000 0006 01 02 0000 07d1", XGW_REQUEST, "bad-value", 10);
	assert_rejected("0001 0000 0006 01 01 0000 0000", XGW_REQUEST, "bad-value", 10);
	/* 16: 123 registers is the most one request may write */
	{
		char hex[600] = "0001 0000 00fd 01 10 0000 007b f6";

		for (int i = 0; i < 123; i++)
			strcat(hex, "0001");
		xmpp_stanza_release(roundtrip(hex, XGW_REQUEST));
	}
	assert_rejected("0001 0000 000b 01 10 0000 007c 04 0001 0002", XGW_REQUEST,
	    "bad-value", 10);
	assert_rejected("0001 0000 0008 01 0f 0000 07b1 01 00", XGW_REQUEST,
	    "bad-value", 10);
	assert_rejected("0001 0000 000d 01 17 0000 007e 0000 0001 02 0001",
	    XGW_REQUEST, "bad-value", 10);
	assert_rejected("0001 0000 000d 01 17 0000 0001 0000 007a 02 0001",
	    XGW_REQUEST, "bad-value", 14);
	assert_rejected("0001 0000 0006 01 18 0042 0020", XGW_RESPONSE,
	    "bad-byte-count", 8);
}

static void
malformed(void **state)
{
	(void)state;
	assert_rejected("0001 0000 00", XGW_REQUEST, "truncated", 5);
	assert_rejected("0001 0000 0001 01", XGW_REQUEST, "truncated", 7);
	assert_rejected("0001 0001 0006 01 03 0000 0001", XGW_REQUEST,
	    "bad-protocol-id", 2);
	assert_rejected("0001 0000 0007 01 03 0000 0001", XGW_REQUEST,
	    "bad-length", 4);
	assert_rejected("0001 0000 0005 01 03 0000 0001", XGW_REQUEST,
	    "bad-length", 4);
	assert_rejected("0001 0000 0002 01 00", XGW_REQUEST, "bad-function", 7);
	assert_rejected("0001 0000 0003 01 83 02", XGW_REQUEST, "bad-function", 7);
	assert_rejected("0001 0000 0004 01 83 02 00", XGW_RESPONSE, "bad-length", 8);
	assert_rejected("0001 0000 0004 01 03 0000", XGW_REQUEST, "truncated", 10);
	assert_rejected("0001 0000 0007 01 03 0000 0001 00", XGW_REQUEST,
	    "bad-length", 12);
	assert_rejected("0001 0000 0006 01 03 04 0001 00", XGW_RESPONSE,
	    "bad-byte-count", 8);
	assert_rejected("0001 0000 0006 01 03 03 0001 00", XGW_RESPONSE,
	    "bad-byte-count", 9);
	assert_rejected("0001 0000 0003 01 01 00", XGW_RESPONSE, "bad-value", 8);
	assert_rejected("0001 0000 0006 01 05 0001 1234", XGW_REQUEST, "bad-value", 10);
	assert_rejected("0001 0000 0009 01 0f 0013 000a 01 cd 01", XGW_REQUEST,
	    "bad-byte-count", 12);
	assert_rejected("0001 0000 000b 01 10 0001 0002 02 000a 0102", XGW_REQUEST,
	    "bad-byte-count", 12);
	assert_rejected("0001 0000 0009 01 14 06 06 0004 0001 00", XGW_REQUEST,
	    "bad-value", 8);
	assert_rejected("0001 0000 000a 01 14 07 05 0004 0001 0002", XGW_REQUEST,
	    "bad-value", 9);
	assert_rejected("0001 0000 000a 01 14 07 06 0004 2710 0002", XGW_REQUEST,
	    "bad-value", 12);
	assert_rejected("0001 0000 0007 01 14 04 04 06 0df8", XGW_RESPONSE,
	    "bad-byte-count", 9);
	assert_rejected("0001 0000 000c 01 15 09 06 0004 0007 0003 06af", XGW_REQUEST,
	    "truncated", 16);
	assert_rejected("0001 0000 0009 01 2b 0e 01 00 00 00 01 00", XGW_RESPONSE,
	    "truncated", 14);
	assert_rejected("0001 0000 000a 01 2b 0e 01 00 4d b7 00 0000", XGW_RESPONSE,
	    "bad-value", 11);
	assert_rejected("0001 0000 0005 01 2b 0e 05 00", XGW_REQUEST, "bad-value", 9);
	assert_rejected("0001 0000 0004 01 2b 0e 01", XGW_REQUEST, "truncated", 10);
}

static void
frames(void **state)
{
	uint8_t b[16];
	size_t len = 0, n;
	struct xgw_err e;

	(void)state;
	n = unhex("0001 0000 0006 01 03 0000 0001 0002", b);
	assert_int_equal(xgw_modbus_frame(b, 5, &len, &e), 0);
	assert_int_equal(xgw_modbus_frame(b, 11, &len, &e), 0);
	assert_int_equal(xgw_modbus_frame(b, n, &len, &e), 1);
	assert_int_equal(len, 12);
	n = unhex("0001 0100 0006", b);
	assert_int_equal(xgw_modbus_frame(b, n, &len, &e), -1);
	assert_string_equal(e.reason, "bad-protocol-id");
	n = unhex("0001 0000 00ff", b);
	assert_int_equal(xgw_modbus_frame(b, n, &len, &e), -1);
	assert_string_equal(e.reason, "bad-length");
	n = unhex("0001 0000 0001", b);
	assert_int_equal(xgw_modbus_frame(b, n, &len, &e), -1);
}

#define MB	"<modbus xmlns='urn:xgw:modbus:1' dir='request' tid='1' pid='0' unit='1' "

static void
encode_refuses(void **state)
{
	(void)state;
	assert_encode_fails("<modbus xmlns='urn:other' dir='request'/>",
	    "expected <modbus");
	assert_encode_fails(MB "len='6' fc='3' addr='0'/>", "needs attribute qty");
	assert_encode_fails(MB "len='6' fc='3' addr='0' qty='126'/>", "0..125");
	assert_encode_fails(MB "len='6' fc='3' addr='0' qty='0'/>", "qty is 0, expected 1..125");
	assert_encode_fails(MB "len='6' fc='3' addr='-1' qty='1'/>",
	    "expected a decimal number");
	assert_encode_fails(MB "len='6' fc='3' addr='01' qty='1'/>",
	    "expected a decimal number");
	assert_encode_fails(MB "len='6' fc='3' addr='65536' qty='1'/>",
	    "expected a decimal number");
	assert_encode_fails(MB "len='7' fc='3' addr='0' qty='1'/>",
	    "len is 7, the ADU after it takes 6 bytes");
	assert_encode_fails(MB "len='6' fc='3' fn='read-coils' addr='0' qty='1'/>",
	    "does not name function code 3");
	assert_encode_fails(MB "len='6' fc='5' addr='0' value='1'/>",
	    "coil value is 1");
	assert_encode_fails(MB "len='11' fc='16' addr='0' qty='2' bc='4'>"
	    "<regs>1 2 3</regs></modbus>", "has 3 values, qty is 2");
	assert_encode_fails(MB "len='11' fc='16' addr='0' qty='2' bc='5'>"
	    "<regs>1 2</regs></modbus>", "bc is 5, the fields after it take 4");
	assert_encode_fails(MB "len='11' fc='16' addr='0' qty='2' bc='4'>"
	    "<regs>1  2</regs></modbus>", "item 2 is not a number");
	assert_encode_fails(MB "len='11' fc='16' addr='0' qty='2' bc='4'>"
	    "<regs>1 70000</regs></modbus>", "item 2 is not a number 0..65535");
	assert_encode_fails(MB "len='11' fc='16' addr='0' qty='2' bc='4'>"
	    "<regs>1,2</regs></modbus>", "separated by one space");
	assert_encode_fails(MB "len='11' fc='16' addr='0' qty='2' bc='4'/>",
	    "needs a <regs> child");
	assert_encode_fails(MB "len='9' fc='15' addr='0' qty='10' bc='2'>"
	    "<bits>1 0 2 0 0 0 0 0 0 0</bits></modbus>", "item 3");
	assert_encode_fails(MB "len='9' fc='15' addr='0' qty='10' bc='2' pad='64'>"
	    "<bits>1 0 1 0 0 0 0 0 0 0</bits></modbus>", "pad");
	assert_encode_fails(MB "len='4' fc='8' sub='0'><data>***</data></modbus>",
	    "base64");
	assert_encode_fails(MB "len='3' fc='3' exception='2'/>",
	    "only valid in a response");
	assert_encode_fails(MB "len='2' fc='0'/>", "fc 0");
	/* what decode refuses, encode refuses too */
	assert_encode_fails(MB "len='10' fc='20' bc='7'><record ref='5' file='4' "
	    "record='1' len='2'/></modbus>", "reference type is 6");
	assert_encode_fails("<modbus xmlns='urn:xgw:modbus:1' dir='response' "
	    "tid='1' pid='0' len='8' unit='1' fc='43' mei='14' code='1' "
	    "conformity='1' more='77' next='0' count='0'/>", "more is 77");
	assert_encode_fails("<modbus xmlns='urn:xgw:modbus:1' dir='event' tid='1' "
	    "pid='0' len='2' unit='1' fc='7'/>", "dir=");
	assert_encode_fails("<modbus xmlns='urn:xgw:modbus:1' dir='request' tid='1' "
	    "pid='1' len='2' unit='1' fc='7'/>", "pid");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(reads),
		cmocka_unit_test(single_writes),
		cmocka_unit_test(multiple_writes),
		cmocka_unit_test(serial_line_and_diagnostics),
		cmocka_unit_test(file_records),
		cmocka_unit_test(fifo_and_mei),
		cmocka_unit_test(exceptions_and_unknown_codes),
		cmocka_unit_test(boundary_quantities),
		cmocka_unit_test(malformed),
		cmocka_unit_test(frames),
		cmocka_unit_test(encode_refuses),
	};
	int rc;

	ctx = xmpp_ctx_new(NULL, NULL);
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	xmpp_ctx_free(ctx);
	return rc;
}
