/*
 * The MQTT transform: every control packet from real captures decoded,
 * re-encoded byte for byte and its key fields checked; every malformed
 * case refused with its reason and offset; bad elements refused by encode.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include "mqtt.h"

static xmpp_ctx_t *ctx;

static size_t
unhex(const char *s, uint8_t *out, size_t cap)
{
	size_t n = 0;
	unsigned v;

	for (; s[0] != '\0' && s[1] != '\0'; s += 2) {
		assert_true(n < cap);
		assert_int_equal(sscanf(s, "%2x", &v), 1);
		out[n++] = v;
	}
	return n;
}

static struct xgw_mqtt_sess
at_level(unsigned level)
{
	struct xgw_mqtt_sess s = { level, XGW_MQTT_CONNECT };

	return s;
}

/* Decodes hex, re-encodes it, asserts the same bytes; returns the element. */
static xmpp_stanza_t *
roundtrip(struct xgw_mqtt_sess *s, const char *hex)
{
	uint8_t b[512];
	size_t n = unhex(hex, b, sizeof(b));
	struct xgw_buf out = { NULL, 0, 0 };
	struct xgw_err err;
	xmpp_stanza_t *el = NULL;
	int rc;

	rc = xgw_mqtt_decode(ctx, s, b, n, &el, &err);
	if (rc != 0)
		print_message("decode: %s at %zu: %s\n", err.reason, err.offset,
		    err.msg);
	assert_int_equal(rc, 0);
	rc = xgw_mqtt_encode(el, &out, &err);
	if (rc != 0)
		print_message("encode: %s: %s\n", err.reason, err.msg);
	assert_int_equal(rc, 0);
	assert_int_equal(out.len, n);
	assert_memory_equal(out.data, b, n);
	xgw_buf_free(&out);
	return el;
}

static void
attr_is(xmpp_stanza_t *el, const char *attr, const char *want)
{
	const char *v = xmpp_stanza_get_attribute(el, attr);

	if (want == NULL) {
		assert_null(v);
		return;
	}
	assert_non_null(v);
	assert_string_equal(v, want);
}

static void
refused(struct xgw_mqtt_sess *s, const char *hex, const char *reason,
    size_t off)
{
	uint8_t b[512];
	size_t n = unhex(hex, b, sizeof(b));
	struct xgw_err err;
	xmpp_stanza_t *el = NULL;

	assert_int_equal(xgw_mqtt_decode(ctx, s, b, n, &el, &err), -1);
	assert_null(el);
	assert_string_equal(err.reason, reason);
	assert_int_equal(err.offset, off);
	assert_true(strlen(err.msg) > 0);
}

/* Encode must refuse el with bad-element and leave out untouched. */
static void
enc_refused(xmpp_stanza_t *el)
{
	struct xgw_buf out = { NULL, 0, 0 };
	struct xgw_err err;

	assert_int_equal(xgw_mqtt_encode(el, &out, &err), -1);
	assert_string_equal(err.reason, "bad-element");
	assert_int_equal(out.len, 0);
	xgw_buf_free(&out);
}

/* The n-th child called name. */
static xmpp_stanza_t *
nth(xmpp_stanza_t *el, const char *name, int n)
{
	xmpp_stanza_t *c;

	for (c = xmpp_stanza_get_children(el); c != NULL;
	    c = xmpp_stanza_get_next(c))
		if (xmpp_stanza_is_tag(c) &&
		    strcmp(xmpp_stanza_get_name(c), name) == 0 && n-- == 0)
			return c;
	fail_msg("no <%s> child", name);
	return NULL;
}

/* zeek__mqtt.pcap: MQTT 3.1 CONNECT of a Paho client. */
static void
connect_31(void **state)
{
	struct xgw_mqtt_sess s = { 0, 0 };
	xmpp_stanza_t *el;

	(void)state;
	el = roundtrip(&s, "102500064d51497364700302000500177061686f2f33344141"
	    "4535344137354438333935363645");
	attr_is(el, "type", "connect");
	attr_is(el, "protocol", "MQIsdp");
	attr_is(el, "level", "3");
	attr_is(el, "level-source", NULL);
	attr_is(el, "client-id", "paho/34AAE54A75D839566E");
	attr_is(el, "clean-start", "1");
	attr_is(el, "keepalive", "5");
	attr_is(el, "username", NULL);
	assert_int_equal(s.level, 3);
	assert_int_equal(s.learnt, XGW_MQTT_CONNECT);
	xmpp_stanza_release(el);
}

/* suricata-verify__mqtt311-pub-qos1: 3.1.1 CONNECT with user and password. */
static void
connect_311_userpass(void **state)
{
	struct xgw_mqtt_sess s = { 0, 0 };
	xmpp_stanza_t *el;

	(void)state;
	el = roundtrip(&s, "102b00044d51545404c2003c00136d79766f69636569736d79"
	    "70617373706f7274000475736572000470617373");
	attr_is(el, "protocol", "MQTT");
	attr_is(el, "level", "4");
	attr_is(el, "client-id", "myvoiceismypassport");
	attr_is(el, "username", "user");
	assert_string_equal(xgw_text(xgw_child(el, "password")), "cGFzcw==");
	assert_null(xgw_child(el, "will-payload"));
	assert_int_equal(s.level, 4);
	xmpp_stanza_release(el);
}

static const char connect5[] =
    "10cc0100044d51545405c6003c3c2700002b672100de110000022b22029a2600097573"
    "657270726f703100087573657276616c312600097573657270726f703200087573657276"
    "616c3200136d79766f69636569736d7970617373706f72744b03000a6d7977696c6c7479"
    "7065090007313233343536370200000085019008000f726573706f6e73655f746f706963"
    "312600097573657270726f703500087573657276616c3518000000c8000977696c6c746f"
    "706963000b77696c6c6d657373616765000475736572000470617373";

/* suricata-verify__mqtt5-pub-mosquittoprops: 5.0 CONNECT, will, properties. */
static void
connect_5_will_props(void **state)
{
	struct xgw_mqtt_sess s = { 0, 0 };
	xmpp_stanza_t *el, *p;

	(void)state;
	el = roundtrip(&s, connect5);
	attr_is(el, "level", "5");
	attr_is(el, "props", "6");
	attr_is(el, "will-props", "7");
	attr_is(el, "will-topic", "willtopic");
	attr_is(el, "will-qos", "0");
	p = nth(el, "prop", 0);
	attr_is(p, "id", "39");
	attr_is(p, "name", "maximum-packet-size");
	attr_is(p, "value", "11111");
	p = nth(el, "prop", 5);
	attr_is(p, "name", "user-property");
	attr_is(p, "key", "userprop2");
	attr_is(p, "value", "userval2");
	p = nth(el, "will-prop", 6);
	attr_is(p, "name", "will-delay-interval");
	attr_is(p, "value", "200");
	assert_string_equal(xgw_text(xgw_child(el, "will-payload")),
	    "d2lsbG1lc3NhZ2U=");
	xmpp_stanza_release(el);
}

/* suricata-verify__mqtt5-sub-customauth: authentication method and data. */
static void
connect_5_auth(void **state)
{
	struct xgw_mqtt_sess s = { 0, 0 };
	xmpp_stanza_t *el;

	(void)state;
	el = roundtrip(&s, "103000044d5154540502003c10150003666f6f16000431323334"
	    "21001400136d79766f69636569736d7970617373706f7274");
	attr_is(nth(el, "prop", 0), "name", "authentication-method");
	attr_is(nth(el, "prop", 0), "value", "foo");
	attr_is(nth(el, "prop", 1), "value", "1234");
	xmpp_stanza_release(el);
	el = roundtrip(&s, "2003008c00");
	attr_is(el, "type", "connack");
	attr_is(el, "reason-code", "140");
	attr_is(el, "reason", "bad-authentication-method");
	attr_is(el, "props", "0");
	xmpp_stanza_release(el);
}

static void
connack(void **state)
{
	struct xgw_mqtt_sess s = at_level(4);
	xmpp_stanza_t *el;

	(void)state;
	el = roundtrip(&s, "20020000");
	attr_is(el, "session-present", "0");
	attr_is(el, "reason", "accepted");
	attr_is(el, "props", NULL);
	xmpp_stanza_release(el);
	/* suricata-verify__mqtt5_pub_jpeg_connack134 */
	s = at_level(5);
	el = roundtrip(&s, "203200862f22000a1200296175746f2d31423433453830302d30"
	    "3845332d334241312d324539372d453941304234303634424635");
	attr_is(el, "reason-code", "134");
	attr_is(el, "reason", "bad-user-name-or-password");
	attr_is(nth(el, "prop", 1), "name", "assigned-client-identifier");
	attr_is(nth(el, "prop", 1), "value",
	    "auto-1B43E800-08E3-3BA1-2E97-E9A0B4064BF5");
	xmpp_stanza_release(el);
}

/* suricata-verify__mqtt-midstream-split: no CONNECT, 5.0 seen in CONNACK. */
static void
guessed_level(void **state)
{
	struct xgw_mqtt_sess s = { 0, 0 };
	xmpp_stanza_t *el;

	(void)state;
	el = roundtrip(&s, "c000");
	attr_is(el, "level", "4");
	attr_is(el, "level-source", "guessed");
	assert_int_equal(s.learnt, XGW_MQTT_UNKNOWN);
	xmpp_stanza_release(el);
	el = roundtrip(&s, "200600000322000a");
	attr_is(el, "level", "5");
	attr_is(el, "level-source", "guessed");
	assert_int_equal(s.level, 5);
	assert_int_equal(s.learnt, XGW_MQTT_GUESSED);
	xmpp_stanza_release(el);
	el = roundtrip(&s, "30190006746f7069635800626161626161626c61636b736865"
	    "6570");
	attr_is(el, "level", "5");
	attr_is(el, "level-source", "guessed");
	attr_is(el, "props", "0");
	attr_is(el, "payload-size", "16");
	xmpp_stanza_release(el);
}

static void
publish(void **state)
{
	struct xgw_mqtt_sess s = at_level(3);
	xmpp_stanza_t *el;

	(void)state;
	/* zeek__mqtt.pcap: retained QoS 0 */
	el = roundtrip(&s, "3130000b53616d706c65546f70696348656c6c6f2066726f6d"
	    "20746865205061686f20626c6f636b696e6720636c69656e74");
	attr_is(el, "type", "publish");
	attr_is(el, "topic", "SampleTopic");
	attr_is(el, "qos", "0");
	attr_is(el, "retain", "1");
	attr_is(el, "dup", "0");
	attr_is(el, "id", NULL);
	attr_is(el, "payload-size", "35");
	xmpp_stanza_release(el);
	/* suricata-verify__mqtt31-pub-qos2: QoS 2 */
	el = roundtrip(&s, "341a0006746f706963580001626161626161626c61636b736865"
	    "6570");
	attr_is(el, "qos", "2");
	attr_is(el, "id", "1");
	assert_string_equal(xgw_text(xgw_child(el, "payload")),
	    "YmFhYmFhYmxhY2tzaGVlcA==");
	xmpp_stanza_release(el);
}

/* suricata-verify__mqtt5-pub-mosquittoprops: PUBLISH with 7 properties. */
static void
publish_5_props(void **state)
{
	struct xgw_mqtt_sess s = at_level(5);
	xmpp_stanza_t *el;

	(void)state;
	el = roundtrip(&s, "325e0006746f706963580001430300066d7974797065090005"
	    "3132333435020000004d015808000f726573706f6e73655f746f70696331230005"
	    "2600097573657270726f703300087573657276616c33626161626161626c61636b"
	    "7368656570");
	attr_is(el, "props", "7");
	attr_is(nth(el, "prop", 0), "name", "content-type");
	attr_is(nth(el, "prop", 0), "value", "mytype");
	attr_is(nth(el, "prop", 5), "name", "topic-alias");
	attr_is(nth(el, "prop", 5), "value", "5");
	attr_is(nth(el, "prop", 6), "key", "userprop3");
	xmpp_stanza_release(el);
}

static void
pub_acks(void **state)
{
	struct xgw_mqtt_sess s = at_level(4);
	static const char *const hex[] = {
		"40020001", "50020001", "62020001", "70020001"
	};
	static const char *const type[] = {
		"puback", "pubrec", "pubrel", "pubcomp"
	};
	xmpp_stanza_t *el;

	(void)state;
	/* suricata-verify__mqtt311-pub-qos1 and -qos2 */
	for (int i = 0; i < 4; i++) {
		el = roundtrip(&s, hex[i]);
		attr_is(el, "type", type[i]);
		attr_is(el, "id", "1");
		attr_is(el, "reason-code", NULL);
		xmpp_stanza_release(el);
	}
	/* suricata-verify__mqtt5-pub-mosquittoprops: 5.0 PUBACK, reason only */
	s = at_level(5);
	el = roundtrip(&s, "4003000110");
	attr_is(el, "reason", "no-matching-subscribers");
	attr_is(el, "props", NULL);
	xmpp_stanza_release(el);
}

static void
subscribe(void **state)
{
	struct xgw_mqtt_sess s = at_level(4);
	xmpp_stanza_t *el;

	(void)state;
	/* suricata-verify__mqtt311-sub-userpass */
	el = roundtrip(&s, "821400010006746f70696358000006746f7069635900");
	attr_is(el, "type", "subscribe");
	attr_is(el, "id", "1");
	attr_is(nth(el, "sub", 1), "filter", "topicY");
	attr_is(nth(el, "sub", 1), "qos", "0");
	attr_is(nth(el, "sub", 1), "no-local", NULL);
	xmpp_stanza_release(el);
	/* suricata-verify__mqtt5-sub-mosquittoprops */
	s = at_level(5);
	el = roundtrip(&s, "82150001000006746f70696358000006746f7069635900");
	attr_is(el, "props", "0");
	attr_is(nth(el, "sub", 0), "filter", "topicX");
	attr_is(nth(el, "sub", 0), "retain-handling", "0");
	xmpp_stanza_release(el);
}

static void
suback(void **state)
{
	struct xgw_mqtt_sess s = at_level(4);
	xmpp_stanza_t *el;

	(void)state;
	/* suricata-verify__mqtt-events-missing-connect: granted QoS 2 */
	el = roundtrip(&s, "9003000202");
	attr_is(el, "type", "suback");
	attr_is(el, "id", "2");
	attr_is(nth(el, "rc", 0), "code", "2");
	attr_is(nth(el, "rc", 0), "name", "granted-qos-2");
	xmpp_stanza_release(el);
	s = at_level(5);
	el = roundtrip(&s, "90050001000000");
	attr_is(el, "props", "0");
	attr_is(nth(el, "rc", 1), "name", "granted-qos-0");
	xmpp_stanza_release(el);
}

static void
unsubscribe(void **state)
{
	struct xgw_mqtt_sess s = at_level(3);
	xmpp_stanza_t *el;

	(void)state;
	/* suricata-verify__mqtt31-unsub-qos1 */
	el = roundtrip(&s, "a20a00020006746f70696358");
	attr_is(el, "type", "unsubscribe");
	attr_is(nth(el, "unsub", 0), "filter", "topicX");
	xmpp_stanza_release(el);
	el = roundtrip(&s, "b0020002");
	attr_is(el, "type", "unsuback");
	attr_is(el, "id", "2");
	xmpp_stanza_release(el);
	/* suricata-verify__mqtt5-unsub-qos1 */
	s = at_level(5);
	el = roundtrip(&s, "a20b0002000006746f70696358");
	attr_is(el, "props", "0");
	xmpp_stanza_release(el);
	el = roundtrip(&s, "b00400030011");
	attr_is(nth(el, "rc", 0), "name", "no-subscription-existed");
	xmpp_stanza_release(el);
}

static void
ping_disconnect(void **state)
{
	struct xgw_mqtt_sess s = at_level(4);
	xmpp_stanza_t *el;

	(void)state;
	el = roundtrip(&s, "c000");
	attr_is(el, "type", "pingreq");
	xmpp_stanza_release(el);
	el = roundtrip(&s, "d000");
	attr_is(el, "type", "pingresp");
	xmpp_stanza_release(el);
	el = roundtrip(&s, "e000");
	attr_is(el, "type", "disconnect");
	attr_is(el, "reason-code", NULL);
	xmpp_stanza_release(el);
	/* suricata-verify__mqtt5-sub-mosquittoprops and -unsub-qos1 */
	s = at_level(5);
	el = roundtrip(&s, "e01d041b110000007a2600097573657270726f703400087573"
	    "657276616c34");
	attr_is(el, "reason", "disconnect-with-will-message");
	attr_is(el, "props", "2");
	attr_is(nth(el, "prop", 0), "value", "122");
	xmpp_stanza_release(el);
	el = roundtrip(&s, "e00104");
	attr_is(el, "reason-code", "4");
	attr_is(el, "props", NULL);
	xmpp_stanza_release(el);
}

/* No capture has AUTH: this one follows 5.0 section 3.15 by hand. */
static void
auth(void **state)
{
	struct xgw_mqtt_sess s = at_level(5);
	xmpp_stanza_t *el;

	(void)state;
	el = roundtrip(&s, "f00a180815000553434d414d");
	attr_is(el, "type", "auth");
	attr_is(el, "reason", "continue-authentication");
	attr_is(nth(el, "prop", 0), "value", "SCMAM");
	xmpp_stanza_release(el);
	el = roundtrip(&s, "f000");
	attr_is(el, "reason-code", NULL);
	xmpp_stanza_release(el);
}

static void
framing(void **state)
{
	uint8_t b[16];
	size_t n = unhex("9003000101b0020002", b, sizeof(b)), len = 0;
	struct xgw_err err;

	(void)state;
	assert_int_equal(xgw_mqtt_frame(b, 1, &len, &err), 0);
	assert_int_equal(xgw_mqtt_frame(b, 4, &len, &err), 0);
	assert_int_equal(xgw_mqtt_frame(b, n, &len, &err), 1);
	assert_int_equal(len, 5);
	assert_int_equal(xgw_mqtt_frame(b + 5, n - 5, &len, &err), 1);
	assert_int_equal(len, 4);
	/* remaining length 321 in two bytes, only the header here */
	n = unhex("30c102", b, sizeof(b));
	assert_int_equal(xgw_mqtt_frame(b, n, &len, &err), 0);
	n = unhex("3080", b, sizeof(b));
	assert_int_equal(xgw_mqtt_frame(b, n, &len, &err), 0);
	n = unhex("30ffffffff01", b, sizeof(b));
	assert_int_equal(xgw_mqtt_frame(b, n, &len, &err), -1);
	assert_string_equal(err.reason, "bad-varint");
	assert_int_equal(err.offset, 4);
	n = unhex("308000", b, sizeof(b));
	assert_int_equal(xgw_mqtt_frame(b, n, &len, &err), -1);
	assert_string_equal(err.reason, "bad-varint");
	assert_int_equal(err.offset, 1);
	/* 268435455 bytes announced: refused before anything is read */
	n = unhex("30ffffff7f", b, sizeof(b));
	assert_int_equal(xgw_mqtt_frame(b, n, &len, &err), -1);
	assert_string_equal(err.reason, "too-large");
	assert_int_equal(err.offset, 1);
}

static void
bad_header(void **state)
{
	struct xgw_mqtt_sess s = at_level(4);

	(void)state;
	/* suricata-verify__mqtt-events-unassigned-msgtype */
	refused(&s, "00180006746f70696358626161626161626c61636b7368656570",
	    "bad-type", 0);
	refused(&s, "f000", "bad-type", 0);
	/* suricata-verify__mqtt-events-invalid-qos */
	refused(&s, "361a0006746f706963580001626161626161626c61636b7368656570",
	    "bad-qos", 0);
	refused(&s, "c100", "bad-flags", 0);
	refused(&s, "60020001", "bad-flags", 0);
	refused(&s, "3803000161", "bad-flags", 0);
	refused(&s, "300a0006", "truncated", 4);
	refused(&s, "c00000", "trailing", 2);
	refused(&s, "c00100", "trailing", 2);
	refused(&s, "308000", "bad-varint", 1);
	refused(&s, "30ffffffff01", "bad-varint", 4);
	refused(&s, "20030000", "truncated", 4);
	refused(&s, "2003000000", "trailing", 4);
}

static void
bad_fields(void **state)
{
	struct xgw_mqtt_sess s = at_level(4);

	(void)state;
	refused(&s, "40020000", "bad-packet-id", 2);
	refused(&s, "82050000000161", "bad-packet-id", 2);
	refused(&s, "300400026100", "bad-utf8", 5);
	refused(&s, "30040003c080", "bad-length", 2);
	refused(&s, "30050003c08041", "bad-utf8", 4);
	refused(&s, "30050003eda080", "bad-utf8", 4);
	refused(&s, "300300012b", "bad-topic", 2);
	refused(&s, "30020000", "bad-topic", 2);
	refused(&s, "820800010003666f6f04", "bad-option", 9);
	refused(&s, "820800010003666f6f03", "bad-qos", 9);
	refused(&s, "82020001", "empty", 4);
	refused(&s, "9003000103", "bad-reason", 4);
	refused(&s, "20020006", "bad-reason", 3);
	refused(&s, "20020200", "bad-flags", 2);
	refused(&s, "102b00044d51545404c3003c00136d79766f69636569736d79706173"
	    "73706f7274000475736572000470617373", "bad-connect-flags", 9);
	refused(&s, "100d00044d51545404180000000161", "bad-qos", 9);
	refused(&s, "100d00044d51545404280000000161", "bad-connect-flags", 9);
	refused(&s, "100d00044d51545404400000000161", "bad-connect-flags", 9);
	refused(&s, "100d00044d51545804000000000161", "bad-protocol", 2);
	refused(&s, "100d00044d51545406000000000161", "bad-version", 8);
	refused(&s, "100f00064d514973647004000000000161", "bad-version", 10);
}

static void
bad_props(void **state)
{
	struct xgw_mqtt_sess s = at_level(5);

	(void)state;
	/* suricata-verify__mqtt5-excessiveproplen: 4351 bytes of properties */
	refused(&s, "102f00044d51545405c2003cff21001400136d79766f69636569736d"
	    "7970617373706f7274000475736572000470617373", "bad-length", 12);
	/* the level of that CONNECT holds for the connection anyway */
	assert_int_equal(s.learnt, XGW_MQTT_CONNECT);
	refused(&s, "30050001610112", "bad-property", 6);
	refused(&s, "30050001610100", "bad-property", 6);
	refused(&s, "300a00016106230001230002", "dup-property", 9);
	refused(&s, "300700016103030005", "bad-length", 7);
	refused(&s, "400500010000ff", "trailing", 6);
	refused(&s, "30080001610302000000", "bad-length", 7);
	refused(&s, "300400016102", "bad-length", 5);
	refused(&s, "3006000161020b00", "bad-property", 7);
	refused(&s, "3007000161030b8000", "bad-varint", 7);
	refused(&s, "4003000104", "bad-reason", 4);
	refused(&s, "8206000100000161", "bad-length", 8);
}

static void
repeats_allowed(void **state)
{
	struct xgw_mqtt_sess s = at_level(5);
	xmpp_stanza_t *el;

	(void)state;
	/* two subscription identifiers and two user properties in PUBLISH */
	el = roundtrip(&s, "3016000161110b010b8101260001610001622600000000"
	    "78");
	attr_is(el, "props", "4");
	attr_is(nth(el, "prop", 1), "value", "129");
	attr_is(nth(el, "prop", 3), "key", "");
	xmpp_stanza_release(el);
	refused(&s, "820b0001040b010b0200016100", "dup-property", 7);
}

static void
encode_refuses(void **state)
{
	struct xgw_mqtt_sess s = at_level(4);
	xmpp_stanza_t *el;

	(void)state;
	el = roundtrip(&s, "321a0006746f706963580001626161626161626c61636b7368656570");
	xmpp_stanza_set_attribute(el, "qos", "3");
	enc_refused(el);
	xmpp_stanza_set_attribute(el, "qos", "1");
	xmpp_stanza_set_attribute(el, "id", "0");
	enc_refused(el);
	xmpp_stanza_set_attribute(el, "id", "1");
	xmpp_stanza_set_attribute(el, "topic", "a/+");
	enc_refused(el);
	xmpp_stanza_set_attribute(el, "topic", "a/b");
	xmpp_stanza_set_attribute(el, "payload-size", "3");
	enc_refused(el);
	xmpp_stanza_del_attribute(el, "payload-size");
	xmpp_stanza_set_attribute(el, "props", "0");
	enc_refused(el);
	xmpp_stanza_del_attribute(el, "props");
	xmpp_stanza_set_attribute(el, "level", "6");
	enc_refused(el);
	xmpp_stanza_set_attribute(el, "level", "4");
	xmpp_stanza_set_attribute(el, "level-source", "hunch");
	enc_refused(el);
	xmpp_stanza_del_attribute(el, "level-source");
	xmpp_stanza_set_attribute(el, "type", "publish2");
	enc_refused(el);
	xmpp_stanza_set_attribute(el, "type", "publish");
	xmpp_stanza_set_attribute(el, "qos", "0");
	enc_refused(el);
	xmpp_stanza_del_attribute(el, "id");
	xmpp_stanza_set_attribute(el, "dup", "1");
	enc_refused(el);
	xmpp_stanza_set_attribute(el, "dup", "0");
	xmpp_stanza_set_ns(el, "urn:xgw:coap:1");
	enc_refused(el);
	xmpp_stanza_release(el);

	s = at_level(5);
	el = roundtrip(&s, "e01d041b110000007a2600097573657270726f70340008757365"
	    "7276616c34");
	xmpp_stanza_set_attribute(el, "props", "3");
	enc_refused(el);
	xmpp_stanza_set_attribute(el, "props", "2");
	xmpp_stanza_set_attribute(nth(el, "prop", 0), "name", "content-type");
	enc_refused(el);
	xmpp_stanza_set_attribute(nth(el, "prop", 0), "name",
	    "session-expiry-interval");
	xmpp_stanza_set_attribute(nth(el, "prop", 0), "id", "3");
	enc_refused(el);
	xmpp_stanza_del_attribute(nth(el, "prop", 0), "name");
	enc_refused(el);
	xmpp_stanza_set_attribute(nth(el, "prop", 0), "id", "99");
	enc_refused(el);
	xmpp_stanza_set_attribute(nth(el, "prop", 0), "id", "17");
	xmpp_stanza_set_attribute(el, "reason", "banned");
	enc_refused(el);
	xmpp_stanza_set_attribute(el, "reason-code", "138");
	enc_refused(el);
	xmpp_stanza_del_attribute(el, "reason-code");
	xmpp_stanza_del_attribute(el, "reason");
	enc_refused(el);
	xmpp_stanza_release(el);

	s = at_level(4);
	el = roundtrip(&s, "102b00044d51545404c2003c00136d79766f69636569736d7970"
	    "617373706f7274000475736572000470617373");
	xmpp_stanza_set_attribute(el, "will-qos", "1");
	enc_refused(el);
	xmpp_stanza_del_attribute(el, "will-qos");
	xmpp_stanza_set_attribute(el, "protocol", "MQIsdp");
	enc_refused(el);
	xmpp_stanza_set_attribute(el, "protocol", "MQTT");
	xmpp_stanza_set_attribute(el, "client-id", "a\xc0\x80");
	enc_refused(el);
	xmpp_stanza_set_attribute(el, "client-id", "me");
	xmpp_stanza_del_attribute(el, "username");
	enc_refused(el);
	xmpp_stanza_release(el);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(connect_31),
		cmocka_unit_test(connect_311_userpass),
		cmocka_unit_test(connect_5_will_props),
		cmocka_unit_test(connect_5_auth),
		cmocka_unit_test(connack),
		cmocka_unit_test(guessed_level),
		cmocka_unit_test(publish),
		cmocka_unit_test(publish_5_props),
		cmocka_unit_test(pub_acks),
		cmocka_unit_test(subscribe),
		cmocka_unit_test(suback),
		cmocka_unit_test(unsubscribe),
		cmocka_unit_test(ping_disconnect),
		cmocka_unit_test(auth),
		cmocka_unit_test(framing),
		cmocka_unit_test(bad_header),
		cmocka_unit_test(bad_fields),
		cmocka_unit_test(bad_props),
		cmocka_unit_test(repeats_allowed),
		cmocka_unit_test(encode_refuses),
	};
	int rc;

	ctx = xmpp_ctx_new(NULL, NULL);
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	xmpp_ctx_free(ctx);
	return rc;
}
