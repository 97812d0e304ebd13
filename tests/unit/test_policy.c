/*
 * The policy engine: every grammar error with its position, each match
 * kind at its edges, rule order, default deny, rate limits on a fake
 * clock, reload, the normalized form and the reject replies.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "policy_int.h"	/* the index test walks the rules itself */
#include "http.h"
#include "modbus.h"

#define SRC	"urn:uuid:aaaaaaaa-0000-4000-8000-000000000001"
#define SRC2	"urn:uuid:aaaaaaaa-0000-4000-8000-000000000002"
#define DST	"urn:uuid:bbbbbbbb-0000-4000-8000-000000000001"

static xmpp_ctx_t *ctx;

static struct xgw_policy *
parse(const char *text)
{
	struct xgw_policy_err err;
	struct xgw_policy *pol = xgw_policy_parse("t.rules", text,
	    strlen(text), &err);

	if (pol == NULL)
		fail_msg("%s:%u:%u: %s", err.file, err.line, err.col, err.msg);
	return pol;
}

/* An element from "name ns a=v a=v", children given as further elements. */
static xmpp_stanza_t *
el(const char *name, const char *ns, const char *attrs)
{
	xmpp_stanza_t *e = xgw_el_new(ctx, name, ns);
	char buf[512], *p, *q, *save = NULL;

	snprintf(buf, sizeof(buf), "%s", attrs);
	for (p = strtok_r(buf, " ", &save); p; p = strtok_r(NULL, " ", &save)) {
		q = strchr(p, '=');
		*q++ = '\0';
		xgw_set_str(e, p, q);
	}
	return e;
}

static xmpp_stanza_t *
add(xmpp_stanza_t *parent, xmpp_stanza_t *child)
{
	xgw_el_add(parent, child);
	return parent;
}

static xmpp_stanza_t *
modbus(const uint8_t *adu, size_t n, enum xgw_dir dir)
{
	struct xgw_err err;
	xmpp_stanza_t *e;

	assert_int_equal(xgw_modbus_decode(ctx, adu, n, dir, &e, &err), 0);
	return e;
}

static enum xgw_action
judge_at(struct xgw_policy *pol, xmpp_stanza_t *e, enum xgw_dir dir,
    const char *src, uint64_t now, struct xgw_verdict *v)
{
	struct xgw_meta m = { .dir = dir };
	enum xgw_action a;

	snprintf(m.src, sizeof(m.src), "%s", src);
	snprintf(m.dst, sizeof(m.dst), "%s", DST);
	a = xgw_policy_eval(pol, &m, e, now, v);
	return a;
}

/* The index of the deciding rule (-1 default deny), element released. */
static int
rule_of(struct xgw_policy *pol, xmpp_stanza_t *e, enum xgw_dir dir)
{
	struct xgw_verdict v;

	judge_at(pol, e, dir, SRC, 0, &v);
	xmpp_stanza_release(e);
	return v.rule;
}

/* Grammar errors */

struct bad {
	const char	*text;
	unsigned	 line, col;
	const char	*msg;
};

static const struct bad bads[] = {
	{ "pas modbus\n", 1, 1, "found 'pas' (did you mean pass?)" },
	{ "pass modbus function read-coil\n", 1, 22,
	    "unknown function 'read-coil' (did you mean read-coils?)" },
	{ "pass modbus uint 3\n", 1, 13, "(did you mean unit?)" },
	{ "x = \"1\"\npass from $y modbus\n", 2, 11,
	    "undefined macro $y (did you mean $x?)" },
	{ "table <hmi> { }\npass from <hmx> modbus\n", 2, 11,
	    "unknown table <hmx> (did you mean <hmi>?)" },
	{ "pass modbus unit 300\n", 1, 18, "unit 300 is out of range 0..255" },
	{ "pass modbus address 10:5\n", 1, 21, "address range 10:5 is inverted" },
	{ "pass modbus address 0:65536\n", 1, 23, "out of range 0..65535" },
	{ "pass modbus quantity 0\n", 1, 22, "out of range 1..2000" },
	{ "pass mqtt qos 3\n", 1, 15, "qos 3 is out of range 0..2" },
	{ "pass modbus topic \"a\"\n", 1, 13, "'topic' is a mqtt match" },
	{ "pass unit 1\n", 1, 6, "name the protocol before it" },
	{ "pass mqtt topic \"a/#/b\"\n", 1, 17, "'#' only at the end" },
	{ "pass mqtt topic \"a+\"\n", 1, 17, "must fill a level" },
	{ "pass modbus address 0:9 quantity 20\n", 1, 25,
	    "quantity 20 or more cannot fit in an address range of 10" },
	{ "pass modbus function read-coils value 1\n", 1, 33,
	    "none of the rule's functions writes" },
	{ "pass modbus function diagnostics address 1\n", 1, 34,
	    "none of the rule's functions carries an address" },
	{ "pass response modbus function 6 value 1\n", 1, 33,
	    "which only requests carry" },
	{ "block modbus rate 1/s\n", 1, 14, "rate limits pass rules only" },
	{ "pass modbus rate 0/s\n", 1, 18, "rate: expected a number 1..1000000" },
	{ "pass modbus rate 5/d\n", 1, 20, "expected s, m or h" },
	{ "reject with illegal-fuction modbus\n", 1, 13,
	    "(did you mean illegal-function?)" },
	{ "reject with 0 modbus\n", 1, 13, "code 0 is not valid" },
	{ "reject with 2 mqtt\n", 1, 8, "this rule is not for modbus" },
	{ "pass coap code 9.99\n", 1, 16, "unknown code '9.99'" },
	{ "pass coap code contnet\n", 1, 16, "(did you mean content?)" },
	{ "pass http path \"/a\n", 1, 16, "unterminated string" },
	{ "pass modbus unit 1 unit 2\n", 1, 20, "unit is given twice" },
	{ "pass modbus function {}\n", 1, 23, "at least one item" },
	{ "pass modbus function { 1 2 }\n", 1, 26, "expected ',' or '}'" },
	{ "table <t> { urn:uuid:x }\n", 1, 13, "is not an identity" },
	{ "table <t> { }\ntable <t> { }\n", 2, 7, "table <t> is defined twice" },
	{ "x = \"1\"\nx = \"2\"\n", 2, 1, "macro x is defined twice" },
	{ "x = 1\n", 1, 5, "expected a quoted macro value" },
	{ "pass modbus ; \n", 1, 13, "unexpected character ';'" },
	{ "pass modbus\nfoo\n", 2, 1, "expected pass, block, reject, table" },
	{ "pass http header Host\n", 1, 18, "a quoted header name" },
	{ "pass http method \"GET\"\n", 1, 18, "a method such as GET" },
	{ "pass mqtt retain maybe\n", 1, 18, "unknown retain 'maybe'" },
	{ "pass modbus unit x1\n", 1, 18, "expected a decimal number 0..255" },
	{ "pass modbus label \"a\" label \"b\"\n", 1, 23, "label is given twice" },
	{ "pass request from any \\ x\n", 1, 23, "expected a newline after \\" },
	{ "a = \"$a\"\npass from $a\n", 2, 11, "macros nested deeper" },
	{ "reject readings\n", 1, 8, "block rather than reject" },
	{ "pass { request, response } readings\n", 1, 28,
	    "readings travel as events only" },
	{ "pass readings name \"a b\"\n", 1, 20,
	    "name \"a b\": readings are named with letters, digits and _ - . / [ ] only" },
	{ "pass readings name prefix \"t*\"\n", 1, 27, "[ ] only" },
	{ "pass readings name \"\"\n", 1, 20, "an empty name matches no reading" },
	{ "pass readings quality god\n", 1, 23,
	    "unknown quality 'god' (did you mean good?)" },
	{ "pass readings proto modbu\n", 1, 21, "(did you mean modbus?)" },
	{ "pass readings proto 5\n", 1, 21, "proto 5 is out of range 1..4" },
	{ "pass proto modbus\n", 1, 6,
	    "'proto' is a readings match: name the protocol before it" },
	{ "pass mqtt name \"a\"\n", 1, 11,
	    "'name' is a readings match, this rule is for mqtt" },
	{ "pass readings nme \"a\"\n", 1, 15,
	    "expected a match (name, quality, proto), rate, label or end of line, found 'nme' (did you mean name?)" },
	{ "pass readings quality good quality bad\n", 1, 28,
	    "quality is given twice" },
	{ "pass readin\n", 1, 6, "(did you mean readings?)" },
};

static void
grammar_errors(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
		struct xgw_policy_err err;
		struct xgw_policy *pol;

		pol = xgw_policy_parse("t.rules", bads[i].text,
		    strlen(bads[i].text), &err);
		if (pol != NULL)
			fail_msg("parsed: %s", bads[i].text);
		if (err.line != bads[i].line || err.col != bads[i].col ||
		    strstr(err.msg, bads[i].msg) == NULL)
			fail_msg("%s: got %u:%u: %s, want %u:%u: ...%s...",
			    bads[i].text, err.line, err.col, err.msg,
			    bads[i].line, bads[i].col, bads[i].msg);
		assert_string_equal(err.file, "t.rules");
	}
}

static void
load_missing_file(void **state)
{
	struct xgw_policy_err err;

	(void)state;
	assert_null(xgw_policy_load("/nonexistent/x.rules", &err));
	assert_int_equal(err.line, 0);
	assert_string_equal(err.file, "/nonexistent/x.rules");
	assert_string_equal(err.msg, "No such file or directory");
}

/* Modbus */

static const uint8_t rd_hr[] = {	/* read-holding-registers addr 100 qty 10 */
	0, 1, 0, 0, 0, 6, 1, 3, 0, 100, 0, 10
};

static xmpp_stanza_t *
read_regs(unsigned unit, unsigned addr, unsigned qty)
{
	uint8_t b[12];

	memcpy(b, rd_hr, 12);
	b[6] = unit;
	b[8] = addr >> 8;
	b[9] = addr;
	b[10] = qty >> 8;
	b[11] = qty;
	return modbus(b, 12, XGW_REQUEST);
}

static void
modbus_address_edges(void **state)
{
	struct xgw_policy *pol = parse(
	    "pass modbus unit 1 function read-holding-registers address 100:109\n");

	(void)state;
	assert_int_equal(rule_of(pol, read_regs(1, 100, 10), XGW_REQUEST), 0);
	assert_int_equal(rule_of(pol, read_regs(1, 100, 11), XGW_REQUEST), -1);
	assert_int_equal(rule_of(pol, read_regs(1, 99, 1), XGW_REQUEST), -1);
	assert_int_equal(rule_of(pol, read_regs(1, 109, 1), XGW_REQUEST), 0);
	assert_int_equal(rule_of(pol, read_regs(1, 110, 1), XGW_REQUEST), -1);
	assert_int_equal(rule_of(pol, read_regs(2, 100, 1), XGW_REQUEST), -1);
	/* a range that runs past 65535 is never inside */
	xgw_policy_free(pol);
	pol = parse("pass modbus address 65000:65535\n");
	assert_int_equal(rule_of(pol, read_regs(1, 65535, 1), XGW_REQUEST), 0);
	assert_int_equal(rule_of(pol, read_regs(1, 65535, 2), XGW_REQUEST), -1);
	xgw_policy_free(pol);
}

static void
modbus_function_and_quantity(void **state)
{
	struct xgw_policy *pol = parse(
	    "pass modbus function { 1:2, read-input-registers } quantity 1:10\n"
	    "pass modbus function 3 quantity { 1, 5:6 }\n");
	static const uint8_t coils[] = { 0, 2, 0, 0, 0, 6, 1, 1, 0, 0, 0, 10 };

	(void)state;
	assert_int_equal(rule_of(pol, modbus(coils, 12, XGW_REQUEST),
	    XGW_REQUEST), 0);
	assert_int_equal(rule_of(pol, read_regs(1, 0, 5), XGW_REQUEST), 1);
	assert_int_equal(rule_of(pol, read_regs(1, 0, 6), XGW_REQUEST), 1);
	assert_int_equal(rule_of(pol, read_regs(1, 0, 4), XGW_REQUEST), -1);
	assert_int_equal(rule_of(pol, read_regs(1, 0, 7), XGW_REQUEST), -1);
	xgw_policy_free(pol);
}

static void
modbus_values(void **state)
{
	struct xgw_policy *pol = parse(
	    "pass modbus function write-single-coil address 0:9 value 0\n"
	    "pass modbus function write-single-register value 0:100\n"
	    "pass modbus function write-multiple-registers address 10:19 value 0:1000\n"
	    "pass modbus function read-write-multiple-registers address 0:99 value 7\n");
	static const uint8_t coil_on[] = { 0, 1, 0, 0, 0, 6, 1, 5, 0, 3, 0xff, 0 };
	static const uint8_t coil_off[] = { 0, 1, 0, 0, 0, 6, 1, 5, 0, 3, 0, 0 };
	static const uint8_t reg100[] = { 0, 1, 0, 0, 0, 6, 1, 6, 0, 3, 0, 100 };
	static const uint8_t reg101[] = { 0, 1, 0, 0, 0, 6, 1, 6, 0, 3, 0, 101 };
	static const uint8_t regs_ok[] = { 0, 1, 0, 0, 0, 11, 1, 16, 0, 10,
	    0, 2, 4, 0x03, 0xe8, 0, 0 };
	static const uint8_t regs_big[] = { 0, 1, 0, 0, 0, 11, 1, 16, 0, 10,
	    0, 2, 4, 0x03, 0xe9, 0, 0 };
	/* fc 23: read 0..1, write 98..99 = 7 7; then write at 99..100 */
	static const uint8_t rw_ok[] = { 0, 1, 0, 0, 0, 15, 1, 23, 0, 0, 0, 2,
	    0, 98, 0, 2, 4, 0, 7, 0, 7 };
	static const uint8_t rw_out[] = { 0, 1, 0, 0, 0, 15, 1, 23, 0, 0, 0, 2,
	    0, 99, 0, 2, 4, 0, 7, 0, 7 };

	(void)state;
	assert_int_equal(rule_of(pol, modbus(coil_off, 12, XGW_REQUEST),
	    XGW_REQUEST), 0);
	assert_int_equal(rule_of(pol, modbus(coil_on, 12, XGW_REQUEST),
	    XGW_REQUEST), -1);
	assert_int_equal(rule_of(pol, modbus(reg100, 12, XGW_REQUEST),
	    XGW_REQUEST), 1);
	assert_int_equal(rule_of(pol, modbus(reg101, 12, XGW_REQUEST),
	    XGW_REQUEST), -1);
	assert_int_equal(rule_of(pol, modbus(regs_ok, 17, XGW_REQUEST),
	    XGW_REQUEST), 2);
	assert_int_equal(rule_of(pol, modbus(regs_big, 17, XGW_REQUEST),
	    XGW_REQUEST), -1);
	assert_int_equal(rule_of(pol, modbus(rw_ok, 21, XGW_REQUEST),
	    XGW_REQUEST), 3);
	assert_int_equal(rule_of(pol, modbus(rw_out, 21, XGW_REQUEST),
	    XGW_REQUEST), -1);
	xgw_policy_free(pol);
}

static void
first_match_and_default(void **state)
{
	struct xgw_policy *pol = parse(
	    "block modbus unit 1 address 0:9\n"
	    "pass modbus unit 1\n"
	    "pass response modbus\n");
	struct xgw_verdict v;
	xmpp_stanza_t *e;

	(void)state;
	e = read_regs(1, 0, 1);
	assert_int_equal(judge_at(pol, e, XGW_REQUEST, SRC, 0, &v), XGW_BLOCK);
	assert_int_equal(v.rule, 0);
	assert_int_equal(v.line, 1);
	assert_string_equal(v.file, "t.rules");
	xmpp_stanza_release(e);
	e = read_regs(1, 10, 1);
	assert_int_equal(judge_at(pol, e, XGW_REQUEST, SRC, 0, &v), XGW_PASS);
	assert_int_equal(v.line, 2);
	xmpp_stanza_release(e);
	e = read_regs(2, 10, 1);
	assert_int_equal(judge_at(pol, e, XGW_REQUEST, SRC, 0, &v), XGW_BLOCK);
	assert_int_equal(v.rule, -1);
	assert_string_equal(v.reason, "default-deny");
	/* direction comes from the envelope */
	assert_int_equal(judge_at(pol, e, XGW_RESPONSE, SRC, 0, &v), XGW_PASS);
	assert_int_equal(v.rule, 2);
	xmpp_stanza_release(e);
	assert_int_equal(xgw_policy_counters(pol, 0)->matches, 1);
	assert_int_equal(xgw_policy_counters(pol, 1)->matches, 1);
	assert_int_equal(xgw_policy_counters(pol, -1)->matches, 1);
	assert_int_equal(xgw_policy_counters(pol, 1)->bytes, 12);
	xgw_policy_free(pol);
	/* an empty file denies everything */
	pol = parse("# nothing\n");
	assert_int_equal(rule_of(pol, read_regs(1, 0, 1), XGW_REQUEST), -1);
	xgw_policy_free(pol);
}

static void
identities_and_tables(void **state)
{
	struct xgw_policy *pol = parse(
	    "me = \"" SRC "\"\n"
	    "table <ops> { " SRC2 " }\n"
	    "table <none> { }\n"
	    "pass from <none> modbus\n"
	    "pass from $me to " DST " modbus unit 1\n"
	    "pass from { <ops> } to " SRC " modbus\n"
	    "pass from <ops> modbus unit 2\n");
	struct xgw_verdict v;
	xmpp_stanza_t *e = read_regs(1, 0, 1);

	(void)state;
	judge_at(pol, e, XGW_REQUEST, SRC, 0, &v);
	assert_int_equal(v.rule, 1);
	judge_at(pol, e, XGW_REQUEST, SRC2, 0, &v);
	assert_int_equal(v.rule, -1);	/* rule 2 wants dst SRC */
	judge_at(pol, e, XGW_REQUEST, "", 0, &v);
	assert_int_equal(v.rule, -1);
	xmpp_stanza_release(e);
	e = read_regs(2, 0, 1);
	judge_at(pol, e, XGW_REQUEST, SRC2, 0, &v);
	assert_int_equal(v.rule, 3);
	xmpp_stanza_release(e);
	xgw_policy_free(pol);
}

/* MQTT */

static xmpp_stanza_t *
publish(const char *topic, const char *qos, const char *retain)
{
	char a[300];

	snprintf(a, sizeof(a), "type=publish level=4 topic=%s qos=%s retain=%s",
	    topic, qos, retain);
	return add(el("mqtt", XGW_NS_MQTT, a), el("payload", NULL, ""));
}

static xmpp_stanza_t *
subscribe(const char *f1, const char *f2)
{
	char a[300];
	xmpp_stanza_t *e = el("mqtt", XGW_NS_MQTT, "type=subscribe level=4 id=1");

	snprintf(a, sizeof(a), "filter=%s qos=1", f1);
	add(e, el("sub", NULL, a));
	if (f2 != NULL) {
		snprintf(a, sizeof(a), "filter=%s qos=2", f2);
		add(e, el("sub", NULL, a));
	}
	return e;
}

static void
mqtt_topics(void **state)
{
	struct xgw_policy *pol = parse(
	    "pass mqtt type publish topic \"plant/+/temp\" qos { 0, 1 } retain no\n"
	    "pass mqtt type publish topic \"log/#\"\n"
	    "pass mqtt type publish topic \"#\" qos 2\n"
	    "pass mqtt type subscribe topic { \"plant/#\", \"log/+\" } qos 0:1\n"
	    "pass mqtt type subscribe topic \"+/x\"\n");

	(void)state;
	assert_int_equal(rule_of(pol, publish("plant/a/temp", "1", "0"),
	    XGW_REQUEST), 0);
	assert_int_equal(rule_of(pol, publish("plant/a/b/temp", "1", "0"),
	    XGW_REQUEST), -1);
	assert_int_equal(rule_of(pol, publish("plant//temp", "0", "0"),
	    XGW_REQUEST), 0);
	assert_int_equal(rule_of(pol, publish("plant/a/temp", "1", "1"),
	    XGW_REQUEST), -1);
	/* "log/#" covers "log" itself */
	assert_int_equal(rule_of(pol, publish("log", "0", "0"), XGW_REQUEST), 1);
	assert_int_equal(rule_of(pol, publish("log/a/b", "0", "0"),
	    XGW_REQUEST), 1);
	assert_int_equal(rule_of(pol, publish("logs", "0", "0"), XGW_REQUEST),
	    -1);
	assert_int_equal(rule_of(pol, publish("x/y", "2", "0"), XGW_REQUEST), 2);
	/* '#' does not reach $SYS */
	assert_int_equal(rule_of(pol, publish("$SYS/x", "2", "0"),
	    XGW_REQUEST), -1);
	/* every filter of a SUBSCRIBE must be covered */
	assert_int_equal(rule_of(pol, subscribe("plant/+/temp", "log/a"),
	    XGW_REQUEST), -1);	/* qos 2 on the second */
	assert_int_equal(rule_of(pol, subscribe("plant/#", NULL), XGW_REQUEST),
	    3);
	assert_int_equal(rule_of(pol, subscribe("plant/+/temp", NULL),
	    XGW_REQUEST), 3);
	assert_int_equal(rule_of(pol, subscribe("#", NULL), XGW_REQUEST), -1);
	assert_int_equal(rule_of(pol, subscribe("log/#", NULL), XGW_REQUEST),
	    -1);
	assert_int_equal(rule_of(pol, subscribe("a/x", NULL), XGW_REQUEST), 4);
	assert_int_equal(rule_of(pol, subscribe("+/x", NULL), XGW_REQUEST), 4);
	assert_int_equal(rule_of(pol, subscribe("$SYS/x", NULL), XGW_REQUEST),
	    -1);
	xgw_policy_free(pol);
}

static void
mqtt_client_and_size(void **state)
{
	struct xgw_policy *pol = parse(
	    "pass mqtt type connect client-id glob \"sensor-??\"\n"
	    "pass mqtt type publish payload-size 0:3\n");
	xmpp_stanza_t *e;

	(void)state;
	assert_int_equal(rule_of(pol, el("mqtt", XGW_NS_MQTT,
	    "type=connect client-id=sensor-01"), XGW_REQUEST), 0);
	assert_int_equal(rule_of(pol, el("mqtt", XGW_NS_MQTT,
	    "type=connect client-id=sensor-001"), XGW_REQUEST), -1);
	e = el("mqtt", XGW_NS_MQTT, "type=publish topic=a qos=0 retain=0");
	xgw_add_b64(ctx, e, "payload", (const uint8_t *)"abc", 3);
	assert_int_equal(rule_of(pol, e, XGW_REQUEST), 1);
	e = el("mqtt", XGW_NS_MQTT, "type=publish topic=a qos=0 retain=0");
	xgw_add_b64(ctx, e, "payload", (const uint8_t *)"abcd", 4);
	assert_int_equal(rule_of(pol, e, XGW_REQUEST), -1);
	xgw_policy_free(pol);
}

/* CoAP */

static xmpp_stanza_t *
coap(const char *type, const char *code, const char *path, const char *query)
{
	char a[200], seg[100], *p, *save = NULL;
	xmpp_stanza_t *e;

	snprintf(a, sizeof(a), "ver=1 type=%s code=%s mid=7", type, code);
	e = el("coap", XGW_NS_COAP, a);
	snprintf(seg, sizeof(seg), "%s", path);
	for (p = strtok_r(seg, "/", &save); p; p = strtok_r(NULL, "/", &save)) {
		snprintf(a, sizeof(a), "num=11 name=uri-path value=%s", p);
		add(e, el("opt", NULL, a));
	}
	add(e, el("opt", NULL, "num=12 name=content-format uint=50"));
	if (query != NULL) {
		snprintf(a, sizeof(a), "num=15 name=uri-query value=%s", query);
		add(e, el("opt", NULL, a));
		add(e, el("opt", NULL, "num=15 name=uri-query value=x=1"));
	}
	return e;
}

static void
coap_paths(void **state)
{
	struct xgw_policy *pol = parse(
	    "pass coap type con method get path \"/a/b\"\n"
	    "pass coap code get path prefix \"/sensors/\" content-format 50\n"
	    "pass coap code get path glob \"/g/*/v\"\n"
	    "pass coap code get path glob \"/d/**\" query \"u=c&x=1\"\n"
	    "pass coap code 0.02 path \"/\"\n");

	(void)state;
	assert_int_equal(rule_of(pol, coap("con", "0.01", "a/b", NULL),
	    XGW_REQUEST), 0);
	assert_int_equal(rule_of(pol, coap("non", "0.01", "a/b", NULL),
	    XGW_REQUEST), -1);
	assert_int_equal(rule_of(pol, coap("con", "0.01", "a/b/c", NULL),
	    XGW_REQUEST), -1);
	assert_int_equal(rule_of(pol, coap("non", "0.01", "sensors/t1", NULL),
	    XGW_REQUEST), 1);
	assert_int_equal(rule_of(pol, coap("non", "0.01", "sensorsx", NULL),
	    XGW_REQUEST), -1);
	assert_int_equal(rule_of(pol, coap("non", "0.01", "g/x/v", NULL),
	    XGW_REQUEST), 2);
	assert_int_equal(rule_of(pol, coap("non", "0.01", "g/x/y/v", NULL),
	    XGW_REQUEST), -1);
	assert_int_equal(rule_of(pol, coap("non", "0.01", "d/x/y/v", "u=c"),
	    XGW_REQUEST), 3);
	assert_int_equal(rule_of(pol, coap("non", "0.01", "d/x", "u=d"),
	    XGW_REQUEST), -1);
	assert_int_equal(rule_of(pol, coap("con", "0.02", "", NULL),
	    XGW_REQUEST), 4);
	assert_int_equal(rule_of(pol, coap("con", "0.03", "", NULL),
	    XGW_REQUEST), -1);
	xgw_policy_free(pol);
}

/* HTTP */

static xmpp_stanza_t *
http(const char *method, const char *target, const char *ua)
{
	char a[300];
	xmpp_stanza_t *e;

	snprintf(a, sizeof(a), "kind=request method=%s target=%s "
	    "version=HTTP/1.1 body-size=0", method, target);
	e = el("http", XGW_NS_HTTP, a);
	add(e, el("field", NULL, "name=host value=dev"));
	if (ua != NULL) {
		snprintf(a, sizeof(a), "name=User-Agent value=%s", ua);
		add(e, el("field", NULL, a));
	}
	return e;
}

static void
http_matches(void **state)
{
	struct xgw_policy *pol = parse(
	    "pass http method { GET, HEAD } path \"/status\" header \"Host\"\n"
	    "pass http method GET path prefix \"/api/\" query glob \"id=*\" "
	    "header \"user-agent\" prefix \"curl/\"\n"
	    "pass http method POST body-size 0:10\n");

	(void)state;
	assert_int_equal(rule_of(pol, http("GET", "/status", NULL),
	    XGW_REQUEST), 0);
	assert_int_equal(rule_of(pol, http("HEAD", "http://dev:80/status",
	    NULL), XGW_REQUEST), 0);
	assert_int_equal(rule_of(pol, http("get", "/status", NULL),
	    XGW_REQUEST), -1);
	assert_int_equal(rule_of(pol, http("GET", "/status/x", NULL),
	    XGW_REQUEST), -1);
	assert_int_equal(rule_of(pol, http("GET", "/api/x?id=3", "curl/8"),
	    XGW_REQUEST), 1);
	assert_int_equal(rule_of(pol, http("GET", "/api/x?id=3", "wget"),
	    XGW_REQUEST), -1);
	assert_int_equal(rule_of(pol, http("GET", "/api/x", "curl/8"),
	    XGW_REQUEST), -1);
	assert_int_equal(rule_of(pol, http("POST", "/x", NULL), XGW_REQUEST), 2);
	xgw_policy_free(pol);
}

/* Rate limits, on a clock the test turns */

static void
rate_limits(void **state)
{
	struct xgw_policy *pol = parse("pass modbus rate 2/s burst 3\n");
	struct xgw_verdict v;
	xmpp_stanza_t *e = read_regs(1, 0, 1);

	(void)state;
	for (int i = 0; i < 3; i++)
		assert_int_equal(judge_at(pol, e, XGW_REQUEST, SRC, 1000, &v),
		    XGW_PASS);
	assert_int_equal(judge_at(pol, e, XGW_REQUEST, SRC, 1000, &v), XGW_BLOCK);
	assert_string_equal(v.reason, "rate-limit");
	assert_int_equal(v.rule, 0);
	/* another source has its own bucket */
	assert_int_equal(judge_at(pol, e, XGW_REQUEST, SRC2, 1000, &v), XGW_PASS);
	/* 2/s: one token after 500 ms, not before */
	assert_int_equal(judge_at(pol, e, XGW_REQUEST, SRC, 1499, &v), XGW_BLOCK);
	assert_int_equal(judge_at(pol, e, XGW_REQUEST, SRC, 1500, &v), XGW_PASS);
	assert_int_equal(judge_at(pol, e, XGW_REQUEST, SRC, 1500, &v), XGW_BLOCK);
	/* a long pause fills the bucket to the burst and no more */
	for (int i = 0; i < 3; i++)
		assert_int_equal(judge_at(pol, e, XGW_REQUEST, SRC, 100000000, &v),
		    XGW_PASS);
	assert_int_equal(judge_at(pol, e, XGW_REQUEST, SRC, 100000000, &v),
	    XGW_BLOCK);
	/* a clock going back changes nothing */
	assert_int_equal(judge_at(pol, e, XGW_REQUEST, SRC, 5, &v), XGW_BLOCK);
	assert_int_equal(xgw_policy_counters(pol, 0)->limited, 5);
	xgw_policy_free(pol);
	/* a stanza every second still lets an hourly bucket refill */
	pol = parse("pass modbus rate 1/h burst 1\n");
	assert_int_equal(judge_at(pol, e, XGW_REQUEST, SRC, 0, &v), XGW_PASS);
	for (uint64_t t = 1000; t < 3600000; t += 1000)
		assert_int_equal(judge_at(pol, e, XGW_REQUEST, SRC, t, &v),
		    XGW_BLOCK);
	assert_int_equal(judge_at(pol, e, XGW_REQUEST, SRC, 3600000, &v),
	    XGW_PASS);
	xmpp_stanza_release(e);
	xgw_policy_free(pol);
}

/* Reload */

static void
reload_keeps_counters(void **state)
{
	struct xgw_policy *old = parse(
	    "pass modbus unit 1\npass modbus unit 2 rate 1/m\n"
	    "block modbus unit 3\n");
	struct xgw_policy *nw = parse(
	    "block modbus unit 4\npass modbus   unit 2 rate 1/m burst 1\n"
	    "pass modbus unit 1 label \"x\"\n");
	struct xgw_verdict v;
	xmpp_stanza_t *e = read_regs(2, 0, 1);

	(void)state;
	assert_int_equal(judge_at(old, e, XGW_REQUEST, SRC, 0, &v), XGW_PASS);
	xmpp_stanza_release(e);
	e = read_regs(1, 0, 1);
	judge_at(old, e, XGW_REQUEST, SRC, 0, &v);
	xmpp_stanza_release(e);
	xgw_policy_adopt_counters(nw, old);
	/* the same rule in other words keeps its counters and its bucket */
	assert_int_equal(xgw_policy_counters(nw, 1)->matches, 1);
	assert_int_equal(xgw_policy_counters(nw, 0)->matches, 0);
	assert_int_equal(xgw_policy_counters(nw, 2)->matches, 0);
	e = read_regs(2, 0, 1);
	assert_int_equal(judge_at(nw, e, XGW_REQUEST, SRC, 1, &v), XGW_BLOCK);
	assert_string_equal(v.reason, "rate-limit");
	xmpp_stanza_release(e);
	xgw_policy_free(old);
	xgw_policy_free(nw);
}

/* The deny log: once per rule per interval, with a count */

struct logbook {
	int	 n;
	char	 last[512];
};

static void
logger(void *arg, const char *line)
{
	struct logbook *lb = arg;

	lb->n++;
	snprintf(lb->last, sizeof(lb->last), "%s", line);
}

static void
deny_log(void **state)
{
	struct xgw_policy *pol = parse("block modbus unit 1\n");
	struct logbook lb = { 0, "" };
	struct xgw_verdict v;
	xmpp_stanza_t *e = read_regs(1, 0, 1);

	(void)state;
	xgw_policy_set_logger(pol, logger, &lb, 10000);
	for (int i = 0; i < 100; i++)
		judge_at(pol, e, XGW_REQUEST, SRC, 1000 + i, &v);
	assert_int_equal(lb.n, 1);
	assert_non_null(strstr(lb.last, "t.rules:1: modbus read-holding-registers/request"));
	judge_at(pol, e, XGW_REQUEST, SRC, 11000, &v);
	assert_int_equal(lb.n, 2);
	assert_non_null(strstr(lb.last, "100 denied"));
	judge_at(pol, e, XGW_REQUEST, SRC, 11001, &v);
	xgw_policy_log_flush(pol, 11002);
	assert_int_equal(lb.n, 3);
	assert_non_null(strstr(lb.last, "1 denied"));
	xmpp_stanza_release(e);
	xgw_policy_free(pol);
}

/* Readings */

/*
 * <readings proto=P> with one <r> per "name:quality" word; "-" leaves
 * the attribute out.  NULL proto: no proto attribute.
 */
static xmpp_stanza_t *
readings(const char *proto, const char *rs)
{
	xmpp_stanza_t *e = xgw_el_new(ctx, "readings", XGW_NS_READINGS), *r;
	char buf[300], *p, *q, *save = NULL;

	if (proto != NULL)
		xgw_set_str(e, "proto", proto);
	snprintf(buf, sizeof(buf), "%s", rs);
	for (p = strtok_r(buf, " ", &save); p; p = strtok_r(NULL, " ", &save)) {
		q = strchr(p, ':');
		*q++ = '\0';
		r = xgw_el_new(ctx, "r", NULL);
		if (strcmp(p, "-") != 0)
			xgw_set_str(r, "name", p);
		if (strcmp(q, "-") != 0)
			xgw_set_str(r, "quality", q);
		add(e, r);
	}
	return e;
}

static int
reading_rule(struct xgw_policy *pol, const char *rs)
{
	return rule_of(pol, readings("modbus", rs), XGW_EVENT);
}

static void
readings_names(void **state)
{
	struct xgw_policy *pol = parse(
	    "pass event readings name { \"pump\", \"energy\" }\n"
	    "pass event readings name glob \"boiler-temp[*]\"\n"
	    "pass event readings name prefix \"line1/\"\n"
	    "pass event readings name glob \"hall/*/t\"\n"
	    "pass event readings name glob \"site/**\"\n");

	(void)state;
	/* every name must match an item of one rule; quality plays no part */
	assert_int_equal(reading_rule(pol, "pump:good energy:bad"), 0);
	assert_int_equal(reading_rule(pol, "energy:good"), 0);
	assert_int_equal(reading_rule(pol, "pump:good pumps:good"), -1);
	assert_int_equal(reading_rule(pol, "Pump:good"), -1);
	/* two rules do not add up to cover one element */
	assert_int_equal(reading_rule(pol, "pump:good boiler-temp[0]:good"), -1);
	assert_int_equal(reading_rule(pol,
	    "boiler-temp[0]:good boiler-temp[11]:bad"), 1);
	assert_int_equal(reading_rule(pol, "boiler-temp:good"), -1);
	assert_int_equal(reading_rule(pol, "line1/a:good line1/b/c:good"), 2);
	assert_int_equal(reading_rule(pol, "line1:good"), -1);
	assert_int_equal(reading_rule(pol, "hall/x/t:good"), 3);
	assert_int_equal(reading_rule(pol, "hall/x/y/t:good"), -1);
	assert_int_equal(reading_rule(pol, "site/x/y/t:good site/:good"), 4);
	assert_int_equal(reading_rule(pol, "site:good"), -1);
	/* a reading without a name, or none at all: no name matches */
	assert_int_equal(reading_rule(pol, "pump:good -:good"), -1);
	assert_int_equal(reading_rule(pol, ""), -1);
	/* readings are events; a rule for events sees no other direction */
	assert_int_equal(rule_of(pol, readings("modbus", "pump:good"),
	    XGW_RESPONSE), -1);
	xgw_policy_free(pol);
}

static void
readings_quality_and_proto(void **state)
{
	struct xgw_policy *pol = parse(
	    "block event readings quality bad\n"
	    "pass event readings quality good proto modbus\n"
	    "pass event readings proto { coap, mqtt }\n");

	(void)state;
	assert_int_equal(reading_rule(pol, "a:good b:good"), 1);
	/* one bad reading makes the element bad, and not good */
	assert_int_equal(reading_rule(pol, "a:good b:bad c:good"), 0);
	assert_int_equal(reading_rule(pol, "a:bad"), 0);
	/* a quality that is neither (or none) is no quality at all */
	assert_int_equal(reading_rule(pol, "a:good b:stale"), -1);
	assert_int_equal(reading_rule(pol, "a:-"), -1);
	assert_int_equal(reading_rule(pol, ""), -1);
	assert_int_equal(rule_of(pol, readings("coap", "a:good"), XGW_EVENT), 2);
	assert_int_equal(rule_of(pol, readings("mqtt", "a:bad"), XGW_EVENT), 0);
	assert_int_equal(rule_of(pol, readings("http", "a:good"), XGW_EVENT),
	    -1);
	/* the proto is a protocol readings are read with, or absent */
	assert_int_equal(rule_of(pol, readings("readings", "a:good"),
	    XGW_EVENT), -1);
	assert_int_equal(rule_of(pol, readings(NULL, "a:good"), XGW_EVENT), -1);
	xgw_policy_free(pol);
	/* a bare readings rule takes any <readings>, and nothing else */
	pol = parse("pass readings\n");
	assert_int_equal(rule_of(pol, readings(NULL, "-:-"), XGW_EVENT), 0);
	assert_int_equal(rule_of(pol, el("reading", XGW_NS_READINGS,
	    "proto=modbus"), XGW_EVENT), -1);
	assert_int_equal(rule_of(pol, el("readings", XGW_NS_MODBUS,
	    "proto=modbus"), XGW_EVENT), -1);
	xgw_policy_free(pol);
}

/* Nobody answers readings: a reject of any protocol drops them, logged. */
static void
readings_reject_and_log(void **state)
{
	struct xgw_policy *pol = parse("reject event\n");
	struct logbook lb = { 0, "" };
	struct xgw_verdict v;
	xmpp_stanza_t *e = readings("modbus", "a:good");

	(void)state;
	xgw_policy_set_logger(pol, logger, &lb, 10000);
	assert_int_equal(judge_at(pol, e, XGW_EVENT, SRC, 0, &v), XGW_REJECT);
	assert_int_equal(v.code, 0);
	assert_null(xgw_reject_reply(ctx, e, &v, 0));
	assert_int_equal(lb.n, 1);
	assert_non_null(strstr(lb.last, "t.rules:1: readings modbus from " SRC));
	assert_int_equal(xgw_policy_counters(pol, 0)->matches, 1);
	assert_int_equal(xgw_policy_counters(pol, 0)->bytes, 0);
	xmpp_stanza_release(e);
	xgw_policy_free(pol);
}

/* The shipped example does what its comments say, on the packaged poll. */
static void
readings_example(void **state)
{
	static const char boiler[] =
	    "urn:uuid:2b7d9c4e-1f3a-4b5c-8d6e-7f8091a2b3c4";
	struct xgw_policy_err err;
	struct xgw_policy *pol;
	struct xgw_verdict v;
	xmpp_stanza_t *good, *bad, *extra;

	(void)state;
	if ((pol = xgw_policy_load(SRCDIR
	    "/policies/examples/boiler-readings.rules", &err)) == NULL)
		fail_msg("%s:%u:%u: %s", err.file, err.line, err.col, err.msg);
	good = readings("modbus", "boiler-temp[0]:good boiler-temp[1]:good "
	    "pump:good");
	bad = readings("modbus", "boiler-temp[0]:bad boiler-temp[1]:bad "
	    "pump:good");
	extra = readings("modbus", "boiler-temp[0]:good energy:good");
	assert_int_equal(judge_at(pol, good, XGW_EVENT, boiler, 0, &v),
	    XGW_PASS);
	assert_int_equal(v.rule, 0);
	assert_int_equal(judge_at(pol, extra, XGW_EVENT, boiler, 0, &v),
	    XGW_BLOCK);
	assert_int_equal(v.rule, 4);
	/* failed reads: a burst of 2, then one each 10 s */
	for (int i = 0; i < 2; i++) {
		assert_int_equal(judge_at(pol, bad, XGW_EVENT, boiler, 1000, &v),
		    XGW_PASS);
		assert_int_equal(v.rule, 2);
	}
	assert_int_equal(judge_at(pol, bad, XGW_EVENT, boiler, 10999, &v),
	    XGW_BLOCK);
	assert_string_equal(v.reason, "rate-limit");
	assert_int_equal(judge_at(pol, bad, XGW_EVENT, boiler, 11000, &v),
	    XGW_PASS);
	/* another device's readings are not the boiler's */
	assert_int_equal(judge_at(pol, good, XGW_EVENT, SRC, 0, &v), XGW_BLOCK);
	assert_int_equal(v.rule, 4);
	xmpp_stanza_release(good);
	xmpp_stanza_release(bad);
	xmpp_stanza_release(extra);
	xgw_policy_free(pol);
}

/* The normalized form */

static char *
printed(struct xgw_policy *pol)
{
	char *s = NULL;
	size_t len;
	FILE *f = open_memstream(&s, &len);

	xgw_policy_print(pol, f);
	fclose(f);
	return s;
}

static char *
slurp(const char *path)
{
	char *s = NULL;
	size_t len = 0;
	FILE *f = fopen(path, "r");

	assert_non_null(f);
	assert_int_not_equal(getdelim(&s, &len, '\0', f), -1);
	fclose(f);
	return s;
}

static void
print_reparses(void **state)
{
	static const char *const texts[] = {
		"x = \"{ 1, 3 }\"\npass request modbus unit $x function { 1:4, 16 } "
		"address { 0:9, 20 } quantity 1:5 label \"a \\\"b\\\" \\\\\"\n",
		"reject with 4 { response, request } modbus\n",
		"pass coap code { 2.05, 0.09, 4.03, 0.01:0.02 }\n",
		"pass coap method 0.01:0.02\n",
		"pts = \"{ glob \\\"t[*]\\\", \\\"pump\\\" }\"\n"
		"pass event readings name $pts quality good:bad proto { modbus, 3 }\n",
		"block { event, request } from " SRC " readings "
		"name prefix \"\" quality 1 label \"r\"\n",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		struct xgw_policy *a = parse(texts[i]), *b;
		char *sa = printed(a), *sb;

		b = parse(sa);
		sb = printed(b);
		assert_string_equal(sa, sb);
		free(sa);
		free(sb);
		xgw_policy_free(a);
		xgw_policy_free(b);
	}
}

static void
golden(void **state)
{
	static const char *const names[] = {
		"scada-readonly", "mqtt-telemetry", "coap-sensors", "http-status",
		"boiler-readings"
	};

	(void)state;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		struct xgw_policy_err err;
		struct xgw_policy *pol, *again;
		char path[512], *want, *got, *got2;

		snprintf(path, sizeof(path), "%s/policies/examples/%s.rules",
		    SRCDIR, names[i]);
		if ((pol = xgw_policy_load(path, &err)) == NULL)
			fail_msg("%s:%u:%u: %s", err.file, err.line, err.col,
			    err.msg);
		snprintf(path, sizeof(path), "%s/tests/policy/%s.golden",
		    SRCDIR, names[i]);
		want = slurp(path);
		got = printed(pol);
		assert_string_equal(got, want);
		again = parse(got);
		got2 = printed(again);
		assert_string_equal(got2, got);
		free(want);
		free(got);
		free(got2);
		xgw_policy_free(pol);
		xgw_policy_free(again);
	}
}

/* Reject */

static void
reject_codes_and_replies(void **state)
{
	struct xgw_policy *pol = parse(
	    "pass modbus function read-holding-registers address 0:9\n"
	    "reject modbus\n"
	    "reject coap\nreject mqtt\nreject http\n");
	struct xgw_verdict v;
	struct xgw_buf b = { 0 };
	struct xgw_err err;
	xmpp_stanza_t *e, *r;
	static const uint8_t wr[] = { 0, 9, 0, 0, 0, 6, 5, 6, 0, 3, 0, 1 };
	static const uint8_t exc2[] = { 0, 1, 0, 0, 0, 3, 1, 0x83, 2 };

	(void)state;
	/* the function is allowed, the address is not: 02 */
	e = read_regs(1, 10, 1);
	assert_int_equal(judge_at(pol, e, XGW_REQUEST, SRC, 0, &v), XGW_REJECT);
	assert_int_equal(v.code, 2);
	r = xgw_reject_reply(ctx, e, &v, 0);
	assert_int_equal(xgw_modbus_encode(r, &b, &err), 0);
	assert_int_equal(b.len, sizeof(exc2));
	assert_memory_equal(b.data, exc2, sizeof(exc2));
	xmpp_stanza_release(r);
	xmpp_stanza_release(e);
	/* no rule allows the function: 01 */
	e = modbus(wr, sizeof(wr), XGW_REQUEST);
	judge_at(pol, e, XGW_REQUEST, SRC, 0, &v);
	assert_int_equal(v.code, 1);
	xmpp_stanza_release(e);
	/* CoAP: CON answered in the ACK, NON by a NON of a new id */
	e = add(coap("con", "0.01", "a", NULL), el("token", NULL, ""));
	judge_at(pol, e, XGW_REQUEST, SRC, 0, &v);
	assert_int_equal(v.code, 0x83);
	r = xgw_reject_reply(ctx, e, &v, 99);
	assert_string_equal(xmpp_stanza_get_attribute(r, "type"), "ack");
	assert_string_equal(xmpp_stanza_get_attribute(r, "mid"), "7");
	assert_string_equal(xmpp_stanza_get_attribute(r, "code"), "4.03");
	assert_non_null(xgw_child(r, "token"));
	xmpp_stanza_release(r);
	xmpp_stanza_release(e);
	e = coap("non", "0.01", "a", NULL);
	r = xgw_reject_reply(ctx, e, &v, 99);
	assert_string_equal(xmpp_stanza_get_attribute(r, "type"), "non");
	assert_string_equal(xmpp_stanza_get_attribute(r, "mid"), "99");
	xmpp_stanza_release(r);
	xmpp_stanza_release(e);
	/* MQTT 5 PUBACK 0x87; 3.1.1 QoS 1 PUBLISH: close, no reply */
	e = el("mqtt", XGW_NS_MQTT, "type=publish level=5 topic=a qos=1 id=4 retain=0");
	judge_at(pol, e, XGW_REQUEST, SRC, 0, &v);
	assert_int_equal(v.code, 0x87);
	r = xgw_reject_reply(ctx, e, &v, 0);
	assert_string_equal(xmpp_stanza_get_attribute(r, "type"), "puback");
	assert_string_equal(xmpp_stanza_get_attribute(r, "id"), "4");
	assert_string_equal(xmpp_stanza_get_attribute(r, "reason-code"), "135");
	xmpp_stanza_release(r);
	xmpp_stanza_release(e);
	e = el("mqtt", XGW_NS_MQTT, "type=publish level=4 topic=a qos=1 id=4 retain=0");
	assert_null(xgw_reject_reply(ctx, e, &v, 0));
	xmpp_stanza_release(e);
	e = subscribe("a", "b");
	xmpp_stanza_set_attribute(e, "level", "4");
	r = xgw_reject_reply(ctx, e, &v, 0);
	assert_string_equal(xmpp_stanza_get_attribute(r, "type"), "suback");
	assert_string_equal(xmpp_stanza_get_attribute(xgw_child(r, "rc"),
	    "code"), "128");
	xmpp_stanza_release(r);
	xmpp_stanza_release(e);
	/* HTTP 403 */
	e = http("PUT", "/x", NULL);
	judge_at(pol, e, XGW_REQUEST, SRC, 0, &v);
	assert_int_equal(v.code, 403);
	r = xgw_reject_reply(ctx, e, &v, 0);
	assert_string_equal(xmpp_stanza_get_attribute(r, "status"), "403");
	xmpp_stanza_release(r);
	xmpp_stanza_release(e);
	xgw_buf_free(&b);
	xgw_policy_free(pol);
}

/* The index must find what a walk of every rule finds. */
static void
index_agrees_with_order(void **state)
{
	struct xgw_policy *pol = parse(
	    "pass from " SRC2 " modbus unit 7\n"
	    "block modbus function 3 unit 1 address 5:5\n"
	    "pass modbus unit 1\n"
	    "pass from " SRC " modbus function 3\n"
	    "pass modbus\n"
	    "pass mqtt type subscribe topic { \"a/#\", \"b/#\" }\n"
	    "pass mqtt type subscribe topic \"a/#\"\n");

	(void)state;
	assert_int_equal(rule_of(pol, read_regs(1, 5, 1), XGW_REQUEST), 1);
	assert_int_equal(rule_of(pol, read_regs(1, 6, 1), XGW_REQUEST), 2);
	assert_int_equal(rule_of(pol, read_regs(2, 6, 1), XGW_REQUEST), 3);
	assert_int_equal(rule_of(pol, read_regs(7, 6, 1), XGW_REQUEST), 3);
	/* filters under two first levels: covered by the two-filter rule */
	assert_int_equal(rule_of(pol, subscribe("a/1", "b/2"), XGW_REQUEST), 5);
	assert_int_equal(rule_of(pol, subscribe("a/1", NULL), XGW_REQUEST), 5);
	xgw_policy_free(pol);
}

static uint32_t
rnd(uint32_t *x)
{
	*x = *x * 1103515245 + 12345;
	return *x >> 16;
}

#define PICK(x, a)	((a)[rnd(x) % (sizeof(a) / sizeof((a)[0]))])

/* Random readings rules and elements: the index against a walk of all. */
static void
readings_index_agrees(void **state)
{
	static const char *const items[] = {
		"\"a\"", "\"a/b\"", "\"b\"", "\"t[0]\"", "prefix \"a\"",
		"prefix \"a/\"", "prefix \"b/\"", "prefix \"t[\"", "glob \"a/*\"",
		"glob \"t[?]\"", "glob \"b/**\"", "glob \"a?\"", "\"ab\"",
		"\"t[1]\"", "glob \"*\""
	};
	static const char *const names[] = {
		"a", "a/b", "a/c", "ab", "b", "b/x/y", "t[0]", "t[1]", "-"
	};
	static const char *const quals[] = { "good", "bad", "-" };
	static const char *const protos[] = { "modbus", "coap" };
	static const char *const srcs[] = { SRC, SRC2, "" };
	int decided[61] = { 0 }, distinct = 0;
	char *text = NULL;
	size_t len;
	FILE *f = open_memstream(&text, &len);
	struct xgw_policy *pol;
	uint32_t x = 1;

	(void)state;
	for (int i = 0; i < 60; i++) {
		int named = rnd(&x) % 10 != 0;

		fputs(rnd(&x) % 2 ? "pass" : "block", f);
		/* a rule for every reading is at least for one source */
		if (!named || rnd(&x) % 3 == 0)
			fprintf(f, " from %s", rnd(&x) % 2 ? SRC : SRC2);
		fputs(" readings", f);
		if (named) {
			fputs(" name {", f);
			for (int k = 0, n = 1 + rnd(&x) % 2; k < n; k++)
				fprintf(f, "%s %s", k ? "," : "", PICK(&x, items));
			fputs(" }", f);
		}
		if (rnd(&x) % 3 == 0)
			fprintf(f, " quality %s", quals[rnd(&x) % 2]);
		if (rnd(&x) % 4 == 0)
			fprintf(f, " proto %s", PICK(&x, protos));
		fputc('\n', f);
	}
	fclose(f);
	pol = parse(text);
	for (int i = 0; i < 3000; i++) {
		struct xgw_meta m = { .dir = XGW_EVENT };
		struct xgw_verdict v;
		struct facts fa;
		xmpp_stanza_t *e;
		char rs[200];
		size_t at = 0;
		long want = -1;
		int soft = 0;

		for (int k = 0, n = 1 + rnd(&x) % 3; k < n; k++)
			at += snprintf(rs + at, sizeof(rs) - at, "%s:%s ",
			    PICK(&x, names), PICK(&x, quals));
		e = readings(PICK(&x, protos), rs);
		snprintf(m.src, sizeof(m.src), "%s", PICK(&x, srcs));
		xgw_policy_eval(pol, &m, e, 0, &v);
		assert_int_equal(pol_facts_read(&fa, &m, e), 0);
		for (size_t r = 0; r < pol->nrules && want == -1; r++)
			if (pol_rule_matches(&pol->rules[r], &fa, &soft))
				want = r;
		pol_facts_free(&fa);
		if (v.rule != want)
			fail_msg("%sfrom '%s': the index finds rule %d, a walk %ld",
			    rs, m.src, v.rule, want);
		distinct += decided[v.rule + 1]++ == 0;
		xmpp_stanza_release(e);
	}
	/* not a vacuous test: many rules decide, and the default too */
	assert_true(distinct >= 15);
	assert_true(decided[0] > 0);
	xgw_policy_free(pol);
	free(text);
}

/* Stream elements of HTTP: passed for an exchange whose streamed head passed. */
static enum xgw_action
judge_stream(struct xgw_policy *pol, xmpp_stanza_t *e, enum xgw_dir dir,
    uint64_t flow, struct xgw_verdict *v)
{
	struct xgw_meta m = { .dir = dir, .flow = flow };
	enum xgw_action a;

	/* a response goes from the device back to the client side */
	snprintf(m.src, sizeof(m.src), "%s", dir == XGW_REQUEST ? SRC : DST);
	snprintf(m.dst, sizeof(m.dst), "%s", dir == XGW_REQUEST ? DST : SRC);
	a = xgw_policy_eval(pol, &m, e, 1000, v);
	xmpp_stanza_release(e);
	return a;
}

/*
 * A streamed head from "attrs": with body-size N its Content-Length
 * field says N; without, a request's body is chunked and an answer's is
 * read until close, as the adapters that restore them read it.
 */
static xmpp_stanza_t *
stream_head(const char *attrs)
{
	xmpp_stanza_t *e = el("http", XGW_NS_HTTP, attrs);
	const char *size = xmpp_stanza_get_attribute(e, "body-size");
	const char *kind = xmpp_stanza_get_attribute(e, "kind");
	char f[64];

	if (size != NULL)
		snprintf(f, sizeof(f), "name=Content-Length value=%s", size);
	else if (strcmp(kind, "request") == 0)
		snprintf(f, sizeof(f), "name=Transfer-Encoding value=chunked");
	else
		return e;
	return add(e, el("field", NULL, f));
}

static xmpp_stanza_t *
part_of(enum xgw_http_pkind kind, uint64_t stream, uint64_t part,
    const char *data, size_t n)
{
	struct xgw_http_part pt = { kind, stream, part, 0 };

	return xgw_http_part_new(ctx, &pt, (const uint8_t *)data, n);
}

static xmpp_stanza_t *
stream_el(enum xgw_http_pkind kind, uint64_t stream, uint64_t part)
{
	return part_of(kind, stream, part, "3\r\nabc\r\n",
	    kind == XGW_HTTP_PART ? 8 : 0);
}

/* A part of a chunked body: one chunk of n data bytes, its lines around. */
static xmpp_stanza_t *
chunk_part(uint64_t stream, uint64_t part, size_t n)
{
	static char buf[8192];
	int len = snprintf(buf, sizeof(buf), "%zx\r\n", n);

	assert_true(n + len + 2 <= sizeof(buf));
	memset(buf + len, 'x', n);
	memcpy(buf + len + n, "\r\n", 2);
	return part_of(XGW_HTTP_PART, stream, part, buf, len + n + 2);
}

static void
http_streams(void **state)
{
	struct xgw_policy *pol = parse("pass request http method POST\n"
	    "pass response http\n");
	struct xgw_verdict v;

	(void)state;
	/* before its head, a part is nobody's */
	assert_int_equal(judge_stream(pol, stream_el(XGW_HTTP_PART, 5, 1),
	    XGW_REQUEST, 9, &v), XGW_BLOCK);
	assert_string_equal(v.reason, "stream-not-admitted");
	assert_int_equal(judge_stream(pol, stream_head("kind=request "
	    "method=POST target=/up version=HTTP/1.1 body=streamed stream=5"),
	    XGW_REQUEST, 9, &v), XGW_PASS);
	/* then its parts, acknowledgements and pulls, both ways */
	assert_int_equal(judge_stream(pol, stream_el(XGW_HTTP_PART, 5, 1),
	    XGW_REQUEST, 9, &v), XGW_PASS);
	assert_string_equal(v.reason, "stream");
	assert_int_equal(v.rule, 0);
	assert_int_equal(judge_stream(pol, stream_el(XGW_HTTP_ACK, 5, 1),
	    XGW_RESPONSE, 9, &v), XGW_PASS);
	assert_int_equal(judge_stream(pol, stream_el(XGW_HTTP_PULL, 5, 1),
	    XGW_REQUEST, 9, &v), XGW_PASS);
	/* and its cancels, both ways: the engine needs nothing new for them */
	assert_int_equal(judge_stream(pol, stream_el(XGW_HTTP_CANCEL, 5, 2),
	    XGW_REQUEST, 9, &v), XGW_PASS);
	assert_string_equal(v.reason, "stream");
	assert_int_equal(judge_stream(pol, stream_el(XGW_HTTP_CANCEL, 5, 2),
	    XGW_RESPONSE, 9, &v), XGW_PASS);
	assert_int_equal(judge_stream(pol, stream_el(XGW_HTTP_CANCEL, 6, 1),
	    XGW_REQUEST, 9, &v), XGW_BLOCK);
	assert_string_equal(v.reason, "stream-not-admitted");
	/* an answer's part needs the answer's head, not the request's */
	assert_int_equal(judge_stream(pol, stream_el(XGW_HTTP_PART, 5, 1),
	    XGW_RESPONSE, 9, &v), XGW_BLOCK);
	assert_string_equal(v.reason, "stream-not-admitted");
	/* another stream, another flow: not admitted */
	assert_int_equal(judge_stream(pol, stream_el(XGW_HTTP_PART, 6, 1),
	    XGW_REQUEST, 9, &v), XGW_BLOCK);
	assert_int_equal(judge_stream(pol, stream_el(XGW_HTTP_PART, 5, 1),
	    XGW_REQUEST, 10, &v), XGW_BLOCK);
	/* a head the rules deny opens nothing */
	assert_int_equal(judge_stream(pol, stream_head("kind=request "
	    "method=DELETE target=/up version=HTTP/1.1 body=streamed "
	    "stream=7"), XGW_REQUEST, 9, &v), XGW_BLOCK);
	assert_int_equal(judge_stream(pol, stream_el(XGW_HTTP_PART, 7, 1),
	    XGW_REQUEST, 9, &v), XGW_BLOCK);
	/* a part that does not read is blocked, and one that breaks the chunks */
	assert_int_equal(judge_stream(pol, el("http", XGW_NS_HTTP,
	    "kind=part stream=5 part=x"), XGW_REQUEST, 9, &v), XGW_BLOCK);
	assert_string_equal(v.reason, "bad-part");
	assert_int_equal(judge_stream(pol, part_of(XGW_HTTP_PART, 5, 2,
	    "zz\r\n", 4), XGW_REQUEST, 9, &v), XGW_BLOCK);
	assert_string_equal(v.reason, "bad-part");
	xgw_policy_free(pol);
}

/* The bound a verdict on a streamed head wrote on it: "-" for none. */
static const char *
head_bound_of(struct xgw_policy *pol, const char *attrs, enum xgw_dir dir,
    enum xgw_action want, char *out, size_t size)
{
	xmpp_stanza_t *e = stream_head(attrs);
	struct xgw_meta m = { .dir = dir, .flow = 3 };
	struct xgw_verdict v;
	const char *b;

	snprintf(m.src, sizeof(m.src), "%s", dir == XGW_REQUEST ? SRC : DST);
	snprintf(m.dst, sizeof(m.dst), "%s", dir == XGW_REQUEST ? DST : SRC);
	assert_int_equal(xgw_policy_eval(pol, &m, e, 1000, &v), want);
	b = xmpp_stanza_get_attribute(e, "body-max");
	snprintf(out, size, "%s", b != NULL ? b : "-");
	xmpp_stanza_release(e);
	return out;
}

/*
 * A streamed head of unknown body size (chunked, read until close) is
 * judged with the 0 bytes it has: a body-size range from 0 holds, and
 * the largest end of those bounds its running total, written on the head
 * (body-max) for the adapter that restores it; a bound already there
 * from the other gateway is kept when smaller.
 */
static void
http_stream_bounds(void **state)
{
	struct xgw_policy *pol = parse(
	    "pass request http method POST body-size { 0:1000, 0:4000 }\n"
	    "pass request http method PUT body-size 10:1000\n"
	    "pass request http method PATCH body-size 0\n"
	    "pass request http method GET\n"
	    "pass response http body-size 0:1073741824\n");
	char b[32];

	(void)state;
	assert_string_equal(head_bound_of(pol, "kind=request method=POST "
	    "target=/up version=HTTP/1.1 body=streamed stream=5", XGW_REQUEST,
	    XGW_PASS, b, sizeof(b)), "4000");
	assert_string_equal(head_bound_of(pol, "kind=request method=POST "
	    "target=/up version=HTTP/1.1 body=streamed stream=6 body-max=700",
	    XGW_REQUEST, XGW_PASS, b, sizeof(b)), "700");
	assert_string_equal(head_bound_of(pol, "kind=request method=POST "
	    "target=/up version=HTTP/1.1 body=streamed stream=7 "
	    "body-max=9000", XGW_REQUEST, XGW_PASS, b, sizeof(b)), "4000");
	/* a known size is judged as it is, and needs no bound */
	assert_string_equal(head_bound_of(pol, "kind=request method=POST "
	    "target=/up version=HTTP/1.1 body=streamed stream=8 "
	    "body-size=5000", XGW_REQUEST, XGW_BLOCK, b, sizeof(b)), "-");
	assert_string_equal(head_bound_of(pol, "kind=request method=POST "
	    "target=/up version=HTTP/1.1 body=streamed stream=9 "
	    "body-size=3000", XGW_REQUEST, XGW_PASS, b, sizeof(b)), "-");
	/* ranges that leave out 0 bytes, or admit only 0, do not hold */
	head_bound_of(pol, "kind=request method=PUT target=/up "
	    "version=HTTP/1.1 body=streamed stream=10", XGW_REQUEST,
	    XGW_BLOCK, b, sizeof(b));
	head_bound_of(pol, "kind=request method=PATCH target=/up "
	    "version=HTTP/1.1 body=streamed stream=11", XGW_REQUEST,
	    XGW_BLOCK, b, sizeof(b));
	/*
	 * a rule without body-size binds nothing, but a GET of more than
	 * 1000 bytes would meet the PUT rule... of PUT only: still none
	 */
	assert_string_equal(head_bound_of(pol, "kind=request method=GET "
	    "target=/up version=HTTP/1.1 body=streamed stream=12",
	    XGW_REQUEST, XGW_PASS, b, sizeof(b)), "-");
	/* answers too, up to the bodies a stream carries (1 GiB here) */
	assert_string_equal(head_bound_of(pol, "kind=response status=200 "
	    "reason=OK version=HTTP/1.1 body=streamed stream=5", XGW_RESPONSE,
	    XGW_PASS, b, sizeof(b)), "1073741824");
	xgw_policy_free(pol);
}

/*
 * The policy stage counts the body bytes of an admitted stream's parts,
 * chunk lines aside, and holds its bound: the part that passes it, of a
 * request, is refused with 413, and every later part is blocked.
 */
static void
http_stream_counted(void **state)
{
	struct xgw_policy *pol = parse(
	    "pass request http method POST body-size 0:1000\n"
	    "pass request http method PUT\n"
	    "pass response http body-size 0:100\n");
	struct logbook lb = { 0, "" };
	struct xgw_verdict v;

	(void)state;
	xgw_policy_set_logger(pol, logger, &lb, 10000);
	assert_int_equal(judge_stream(pol, stream_head("kind=request "
	    "method=POST target=/up version=HTTP/1.1 body=streamed stream=5"),
	    XGW_REQUEST, 9, &v), XGW_PASS);
	assert_int_equal(judge_stream(pol, chunk_part(5, 1, 600),
	    XGW_REQUEST, 9, &v), XGW_PASS);
	/* a chunk line cut between two parts is read whole */
	assert_int_equal(judge_stream(pol, part_of(XGW_HTTP_PART, 5, 2,
	    "19", 2), XGW_REQUEST, 9, &v), XGW_PASS);
	assert_int_equal(judge_stream(pol, part_of(XGW_HTTP_PART, 5, 3,
	    "0\r\n", 3), XGW_REQUEST, 9, &v), XGW_PASS);
	assert_int_equal(xgw_policy_counters(pol, 0)->bytes, 600);
	/* 0x190 = 400 bytes announced: their data up to 1000 in all */
	{
		char d[402];

		memset(d, 'y', 400);
		memcpy(d + 400, "\r\n", 2);
		assert_int_equal(judge_stream(pol, part_of(XGW_HTTP_PART, 5,
		    4, d, sizeof(d)), XGW_REQUEST, 9, &v), XGW_PASS);
	}
	assert_int_equal(xgw_policy_counters(pol, 0)->bytes, 1000);
	/* byte 1001: refused, 413, the rule named */
	assert_int_equal(judge_stream(pol, chunk_part(5, 5, 1), XGW_REQUEST,
	    9, &v), XGW_REJECT);
	assert_int_equal(v.code, 413);
	assert_string_equal(v.reason, "body-max");
	assert_int_equal(v.rule, 0);
	assert_int_equal(xgw_policy_counters(pol, 0)->bytes, 1000);
	assert_int_equal(lb.n, 1);
	assert_non_null(strstr(lb.last, "t.rules:1: http part past body-max "
	    "1000 from " SRC " to " DST ", 1 denied"));
	/* and the rest of it, even a part that adds nothing */
	assert_int_equal(judge_stream(pol, part_of(XGW_HTTP_PART, 5, 6,
	    "0\r\n\r\n", 5), XGW_REQUEST, 9, &v), XGW_BLOCK);
	assert_string_equal(v.reason, "body-max");
	/* held within the interval, as every denial of a rule */
	assert_int_equal(lb.n, 1);
	xgw_policy_log_flush(pol, 2000);
	assert_int_equal(lb.n, 2);
	assert_non_null(strstr(lb.last, "t.rules:1: 1 denied"));
	/* acknowledgements still pass: the device side ends its stream */
	assert_int_equal(judge_stream(pol, stream_el(XGW_HTTP_ACK, 5, 5),
	    XGW_RESPONSE, 9, &v), XGW_PASS);

	/* a known size is the bound: bytes past it are blocked */
	assert_int_equal(judge_stream(pol, stream_head("kind=request "
	    "method=PUT target=/up version=HTTP/1.1 body=streamed stream=6 "
	    "body-size=10"), XGW_REQUEST, 9, &v), XGW_PASS);
	assert_int_equal(judge_stream(pol, part_of(XGW_HTTP_PART, 6, 1,
	    "0123456", 7), XGW_REQUEST, 9, &v), XGW_PASS);
	assert_int_equal(judge_stream(pol, part_of(XGW_HTTP_PART, 6, 2,
	    "7890", 4), XGW_REQUEST, 9, &v), XGW_REJECT);
	assert_string_equal(v.reason, "body-size");
	/* counted once, when its head passed */
	assert_int_equal(xgw_policy_counters(pol, 1)->bytes, 10);

	/* an answer's part past its bound is replaced by its stream's cancel */
	assert_int_equal(judge_stream(pol, stream_head("kind=response "
	    "status=200 reason=OK version=HTTP/1.1 body=streamed stream=5"),
	    XGW_RESPONSE, 9, &v), XGW_PASS);
	assert_int_equal(judge_stream(pol, part_of(XGW_HTTP_PART, 5, 1,
	    "0123456789", 10), XGW_RESPONSE, 9, &v), XGW_PASS);
	{
		char d[91];

		xmpp_stanza_t *e, *r;
		struct xgw_http_part pt;
		struct xgw_buf data = { 0 };
		struct xgw_err err;

		memset(d, 'z', sizeof(d));
		assert_int_equal(judge_stream(pol, part_of(XGW_HTTP_PART, 5,
		    2, d, sizeof(d)), XGW_RESPONSE, 9, &v), XGW_REJECT);
		assert_string_equal(v.reason, "body-max");
		e = part_of(XGW_HTTP_PART, 5, 2, d, sizeof(d));
		assert_non_null(r = xgw_reject_onward(ctx, e));
		assert_int_equal(xgw_http_part_read(r, &pt, &data, &err), 1);
		assert_int_equal(pt.kind, XGW_HTTP_CANCEL);
		assert_int_equal(pt.stream, 5);
		assert_int_equal(pt.part, 2);
		assert_int_equal(data.len, 0);
		xmpp_stanza_release(e);
		xmpp_stanza_release(r);
		/* only a body's part has something to go on in its place */
		e = stream_el(XGW_HTTP_PULL, 5, 3);
		assert_null(xgw_reject_onward(ctx, e));
		xmpp_stanza_release(e);
		/* and the later ones are blocked */
		assert_int_equal(judge_stream(pol, part_of(XGW_HTTP_PART, 5,
		    3, d, sizeof(d)), XGW_RESPONSE, 9, &v), XGW_BLOCK);
	}
	assert_string_equal(v.reason, "body-max");
	assert_int_equal(xgw_policy_counters(pol, 2)->bytes, 10);
	xgw_policy_free(pol);
}

/*
 * A range that leaves out 0 holds for a body of unknown size too: it is
 * bounded one byte before the smallest size at which the rules would not
 * pass its head, so that it is cut exactly where a rule would stop it.
 */
static void
http_stream_block_range(void **state)
{
	struct xgw_policy *pol = parse(
	    "block http body-size 1001:4294967295\n"
	    "reject request http method PUT body-size { 501:600, 3000 }\n"
	    "pass http\n");
	struct xgw_verdict v;
	char b[32];

	(void)state;
	assert_string_equal(head_bound_of(pol, "kind=request method=POST "
	    "target=/up version=HTTP/1.1 body=streamed stream=5", XGW_REQUEST,
	    XGW_PASS, b, sizeof(b)), "1000");
	assert_string_equal(head_bound_of(pol, "kind=request method=PUT "
	    "target=/up version=HTTP/1.1 body=streamed stream=6", XGW_REQUEST,
	    XGW_PASS, b, sizeof(b)), "500");
	/* the other gateway's smaller bound stays */
	assert_string_equal(head_bound_of(pol, "kind=request method=POST "
	    "target=/up version=HTTP/1.1 body=streamed stream=7 body-max=300",
	    XGW_REQUEST, XGW_PASS, b, sizeof(b)), "300");
	assert_string_equal(head_bound_of(pol, "kind=response status=200 "
	    "reason=OK version=HTTP/1.1 body=streamed stream=5", XGW_RESPONSE,
	    XGW_PASS, b, sizeof(b)), "1000");
	/* and the policy stage holds it */
	assert_int_equal(judge_stream(pol, stream_head("kind=request "
	    "method=POST target=/up version=HTTP/1.1 body=streamed stream=8"),
	    XGW_REQUEST, 9, &v), XGW_PASS);
	assert_int_equal(judge_stream(pol, chunk_part(8, 1, 1000),
	    XGW_REQUEST, 9, &v), XGW_PASS);
	assert_int_equal(judge_stream(pol, chunk_part(8, 2, 1), XGW_REQUEST,
	    9, &v), XGW_REJECT);
	assert_string_equal(v.reason, "body-max");
	assert_int_equal(v.rule, 2);
	xgw_policy_free(pol);

	/* rules that pass no byte of such a body: a bound of 0, held here */
	pol = parse("block http body-size 1:4294967295\npass http\n");
	assert_string_equal(head_bound_of(pol, "kind=request method=POST "
	    "target=/up version=HTTP/1.1 body=streamed stream=5", XGW_REQUEST,
	    XGW_PASS, b, sizeof(b)), "-");
	assert_int_equal(judge_stream(pol, stream_head("kind=request "
	    "method=POST target=/up version=HTTP/1.1 body=streamed stream=6"),
	    XGW_REQUEST, 9, &v), XGW_PASS);
	assert_int_equal(judge_stream(pol, part_of(XGW_HTTP_PART, 6, 1,
	    "0\r\n\r\n", 5), XGW_REQUEST, 9, &v), XGW_PASS);
	assert_int_equal(judge_stream(pol, stream_head("kind=request "
	    "method=POST target=/up version=HTTP/1.1 body=streamed stream=7"),
	    XGW_REQUEST, 9, &v), XGW_PASS);
	assert_int_equal(judge_stream(pol, chunk_part(7, 1, 1), XGW_REQUEST,
	    9, &v), XGW_REJECT);
	xgw_policy_free(pol);
}

/*
 * The search for that size is dry: the rules it tries count no
 * evaluation or match, and a rate-limited rule it meets keeps its tokens.
 */
static void
http_stream_dry(void **state)
{
	struct xgw_policy *pol = parse(
	    "pass request http method POST body-size 1001:2000 rate 1/h "
	    "burst 1\n"
	    "block request http method POST body-size 3001:4294967295\n"
	    "pass request http method POST rate 1/h burst 2\n");
	const struct xgw_policy_counters *c[3];
	char b[32];

	(void)state;
	for (int i = 0; i < 3; i++)
		c[i] = xgw_policy_counters(pol, i);
	assert_string_equal(head_bound_of(pol, "kind=request method=POST "
	    "target=/up version=HTTP/1.1 body=streamed stream=5", XGW_REQUEST,
	    XGW_PASS, b, sizeof(b)), "3000");
	/* the one walk of the head, nothing of the four dry ones */
	for (int i = 0; i < 3; i++)
		assert_int_equal(c[i]->evals, 1);
	assert_int_equal(c[0]->matches, 0);
	assert_int_equal(c[1]->matches, 0);
	assert_int_equal(c[2]->matches, 1);
	assert_int_equal(c[0]->limited + c[2]->limited, 0);
	/* the first rule's one token is still there, then gone */
	assert_string_equal(head_bound_of(pol, "kind=request method=POST "
	    "target=/up version=HTTP/1.1 body=streamed stream=6 "
	    "body-size=1500", XGW_REQUEST, XGW_PASS, b, sizeof(b)), "-");
	head_bound_of(pol, "kind=request method=POST target=/up "
	    "version=HTTP/1.1 body=streamed stream=7 body-size=1500",
	    XGW_REQUEST, XGW_BLOCK, b, sizeof(b));
	assert_int_equal(c[0]->limited, 1);
	/* the third's second token too */
	head_bound_of(pol, "kind=request method=POST target=/up "
	    "version=HTTP/1.1 body=streamed stream=8", XGW_REQUEST, XGW_PASS,
	    b, sizeof(b));
	head_bound_of(pol, "kind=request method=POST target=/up "
	    "version=HTTP/1.1 body=streamed stream=9", XGW_REQUEST, XGW_BLOCK,
	    b, sizeof(b));
	assert_int_equal(c[2]->limited, 1);
	xgw_policy_free(pol);
}

/*
 * A reload keeps each admitted stream's running total and bound; the
 * admitting rule, when the new set has it too, keeps counting its bytes.
 */
static void
http_stream_reload(void **state)
{
	const char *text = "pass request http method POST body-size 0:1000\n"
	    "pass request http method PUT body-size 0:1000\n";
	struct xgw_policy *old = parse(text), *nw;
	struct xgw_policy *gone = parse("block http\n");
	struct xgw_verdict v;

	(void)state;
	assert_int_equal(judge_stream(old, stream_head("kind=request "
	    "method=POST target=/up version=HTTP/1.1 body=streamed stream=5"),
	    XGW_REQUEST, 9, &v), XGW_PASS);
	assert_int_equal(judge_stream(old, chunk_part(5, 1, 600),
	    XGW_REQUEST, 9, &v), XGW_PASS);
	nw = parse("pass request http method PUT body-size 0:1000\n"
	    "pass request http method POST body-size 0:1000\n");
	xgw_policy_adopt_counters(nw, old);
	xgw_policy_free(old);
	assert_int_equal(judge_stream(nw, chunk_part(5, 2, 300),
	    XGW_REQUEST, 9, &v), XGW_PASS);
	assert_int_equal(v.rule, 1);
	assert_int_equal(xgw_policy_counters(nw, 1)->bytes, 900);
	assert_int_equal(judge_stream(nw, chunk_part(5, 3, 101),
	    XGW_REQUEST, 9, &v), XGW_REJECT);
	assert_string_equal(v.reason, "body-max");
	/* rules that do not have it: the total and the bound hold still */
	assert_int_equal(judge_stream(nw, stream_head("kind=request "
	    "method=PUT target=/up version=HTTP/1.1 body=streamed stream=6"),
	    XGW_REQUEST, 9, &v), XGW_PASS);
	assert_int_equal(judge_stream(nw, chunk_part(6, 1, 1000),
	    XGW_REQUEST, 9, &v), XGW_PASS);
	xgw_policy_adopt_counters(gone, nw);
	xgw_policy_free(nw);
	assert_int_equal(judge_stream(gone, chunk_part(6, 2, 1),
	    XGW_REQUEST, 9, &v), XGW_REJECT);
	assert_string_equal(v.reason, "body-max");
	assert_int_equal(v.rule, -1);
	xgw_policy_free(gone);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(grammar_errors),
		cmocka_unit_test(load_missing_file),
		cmocka_unit_test(modbus_address_edges),
		cmocka_unit_test(modbus_function_and_quantity),
		cmocka_unit_test(modbus_values),
		cmocka_unit_test(first_match_and_default),
		cmocka_unit_test(identities_and_tables),
		cmocka_unit_test(mqtt_topics),
		cmocka_unit_test(mqtt_client_and_size),
		cmocka_unit_test(coap_paths),
		cmocka_unit_test(http_matches),
		cmocka_unit_test(rate_limits),
		cmocka_unit_test(reload_keeps_counters),
		cmocka_unit_test(deny_log),
		cmocka_unit_test(print_reparses),
		cmocka_unit_test(golden),
		cmocka_unit_test(reject_codes_and_replies),
		cmocka_unit_test(index_agrees_with_order),
		cmocka_unit_test(readings_names),
		cmocka_unit_test(readings_quality_and_proto),
		cmocka_unit_test(readings_reject_and_log),
		cmocka_unit_test(readings_example),
		cmocka_unit_test(readings_index_agrees),
		cmocka_unit_test(http_streams),
		cmocka_unit_test(http_stream_bounds),
		cmocka_unit_test(http_stream_counted),
		cmocka_unit_test(http_stream_block_range),
		cmocka_unit_test(http_stream_dry),
		cmocka_unit_test(http_stream_reload),
	};
	int rc;

	ctx = xmpp_ctx_new(NULL, NULL);
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	xmpp_ctx_free(ctx);
	return rc;
}
