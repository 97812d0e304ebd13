/*
 * xgw.conf: the defaults, every error with its line, column and message,
 * macros, values too long for their fields, the limits, the normalized form
 * (print, parse again, the same structure), one adapter block as text and
 * back, the shipped packaging/xgw.conf against its golden normal form, and
 * polls: their grammar, their errors and how their points merge into reads.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "conf.h"

#define U(n)	"urn:uuid:00000000-0000-4000-8000-0000000000" n

/* The smallest file that checks: everything else is a default. */
#define XMPP_MIN \
	"xmpp {\n" \
	"\tserver x\n" \
	"\tca /ca\n" \
	"\tcertificate /c key /k\n" \
	"\tbroker b\n" \
	"}\n"

static const char full[] =
	"# every setting, macros, one-line blocks\n"
	"srv = \"xmpp.example.net\"\n"
	"plc = \"" U("01") "\"\n"
	"gateway urn:uuid:0f8fad5b-d9cb-469f-a165-70867728950e\n"
	"state-dir /srv/xgw\n"
	"user \"xgw-gw\"\n"
	"control \"/run/xgw/ctl\"\n"
	"rules \"/etc/xgw/site.rules\"\n"
	"spool \"/data/spool dir\" max 3G\n"
	"xmpp {\n"
	"\tserver $srv tls direct   # port from the mode\n"
	"\tca \"/etc/xgw/ca.pem\"\n"
	"\tjid \"gw1@example.net\" password \"se\\\"cr\\\\et\"\n"
	"\tbroker broker.example.net\n"
	"\tping 2m\n"
	"\twindow 250\n"
	"}\n"
	"adapter modbus {\n"
	"\tlisten 127.0.0.1 port 5020\n"
	"\ttimeout 800ms\n"
	"\troute \"unit 1\" to " U("a1") "\n"
	"\troute \"unit 2\" to " U("a2") "\n"
	"\tdevice $plc host 192.0.2.10 unit 1 timeout 500ms\n"
	"\tdevice " U("02") " host plc2.local \\\n"
	"\t    port 1502\n"
	"\tpoll $plc every 1s {\n"
	"\t\tholding 100 count 2 name \"boiler-temp\" type int16 unit \"Cel\" scale 0.1\n"
	"\t\tcoil 5 name pump ; input 7 type float32 name flow unit \"m3/h\"\n"
	"\t}\n"
	"\tpoll " U("02") " every 250ms { discrete 0 count 16 name door }\n"
	"}\n"
	"adapter coap { listen ::1; route \"/sensors\" to " U("a3") "; "
	"device " U("03") " host \"fe80::1%eth0\" }\n"
	"adapter mqtt {\n"
	"\tdevice " U("04") " host localhost\n"
	"}\n"
	"adapter http {\n"
	"\tlisten 127.0.0.1 port 8080\n"
	"\ttimeout 90s\n"
	"\tbody-max 64M\n"
	"\troute \"/status\" to " U("a4") "\n"
	"\troute /status host { Plant.Example.NET \"[0:0::1]\"\n"
	"\t    192.0.2.7 } to " U("a5") "\n"
	"\troute / host ::2 to " U("a6") " body-max 4G\n"
	"\tdevice " U("05") " host 127.0.0.1 port 8081 body-max 2048K\n"
	"\tdevice " U("06") " host ::1\n"
	"}\n";

static struct xgw_conf *
parse(const char *text)
{
	struct conf_err err;
	struct xgw_conf *c = conf_parse("t.conf", text, strlen(text), &err);

	if (c == NULL)
		fail_msg("%s:%u:%u: %s", err.file, err.line, err.col, err.msg);
	return c;
}

static char *
print(const struct xgw_conf *c)
{
	/* static: gcc -O3 thinks the stream outlives a local it points to */
	static char *text;
	static size_t n;
	FILE *f;

	text = NULL;
	n = 0;
	f = open_memstream(&text, &n);

	assert_non_null(f);
	conf_print(c, f);
	assert_int_equal(fclose(f), 0);
	return text;
}

/* The error, as "line:col: message", or "" when the text parsed. */
static void
parse_error(const char *text, char *out, size_t len)
{
	struct conf_err err;
	struct xgw_conf *c = conf_parse("t.conf", text, strlen(text), &err);

	out[0] = '\0';
	if (c != NULL) {
		conf_free(c);
		return;
	}
	assert_string_equal(err.file, "t.conf");
	snprintf(out, len, "%u:%u: %s", err.line, err.col, err.msg);
}

static void
assert_error(const char *text, const char *want)
{
	char got[512];

	parse_error(text, got, sizeof(got));
	if (strcmp(got, want) != 0)
		fail_msg("for:\n%s\ngot:      %s\nexpected: %s", text,
		    got[0] ? got : "(parsed)", want);
}

/* Adapters remember the line of their block; nothing else may differ. */
static void
assert_same_conf(struct xgw_conf *a, struct xgw_conf *b)
{
	assert_int_equal(a->nadapters, b->nadapters);
	for (int i = 0; i < a->nadapters; i++)
		a->adapters[i].line = b->adapters[i].line = 0;
	assert_memory_equal(a, b, sizeof(*a));
}

static void
defaults(void **state)
{
	struct xgw_conf *c = parse(XMPP_MIN);

	(void)state;
	assert_string_equal(c->file, "t.conf");
	assert_string_equal(c->gateway, "");
	assert_string_equal(c->state_dir, "/var/lib/xgw");
	assert_string_equal(c->user, "xgw");
	assert_string_equal(c->control, "/run/xgw/control");
	assert_string_equal(c->rules, "/etc/xgw/xgw.rules");
	assert_string_equal(c->spool_dir, "/var/spool/xgw");
	assert_int_equal(c->spool_max, 64ull << 20);
	assert_string_equal(c->xmpp.server, "x");
	assert_int_equal(c->xmpp.port, 5222);
	assert_int_equal(c->xmpp.tls, CONF_STARTTLS);
	assert_string_equal(c->xmpp.cert, "/c");
	assert_string_equal(c->xmpp.key, "/k");
	assert_string_equal(c->xmpp.jid, "");
	assert_int_equal(c->xmpp.ping_s, 30);
	assert_int_equal(c->xmpp.window, 1000);
	assert_int_equal(c->nadapters, 0);
	conf_free(c);

	c = parse("xmpp {\n\tserver x tls direct\n\tca /ca\n"
	    "\tjid a@b password p\n\tbroker b\n}\n"
	    "adapter modbus {\n\tlisten 127.0.0.1\n"
	    "\tdevice " U("01") " host h\n}\n"
	    "adapter mqtt { device " U("02") " host h timeout 2s }\n");
	assert_int_equal(c->xmpp.port, 5223);
	assert_int_equal(c->xmpp.tls, CONF_DIRECT_TLS);
	assert_string_equal(c->xmpp.cert, "");
	assert_string_equal(c->xmpp.jid, "a@b");
	assert_int_equal(c->nadapters, 2);
	assert_int_equal(c->adapters[0].line, 7);
	assert_int_equal(c->adapters[0].listen_port, 502);
	assert_int_equal(c->adapters[0].timeout_ms, 1000);
	assert_int_equal(c->adapters[0].devices[0].port, 502);
	assert_int_equal(c->adapters[0].devices[0].unit, -1);
	assert_int_equal(c->adapters[0].devices[0].timeout_ms, 1000);
	assert_string_equal(c->adapters[1].listen, "");
	assert_int_equal(c->adapters[1].listen_port, 0);
	assert_int_equal(c->adapters[1].devices[0].port, 1883);
	assert_int_equal(c->adapters[1].devices[0].timeout_ms, 2000);
	conf_free(c);
}

static void
full_file(void **state)
{
	struct xgw_conf *c = parse(full);
	const struct conf_adapter *a;

	(void)state;
	assert_string_equal(c->gateway,
	    "urn:uuid:0f8fad5b-d9cb-469f-a165-70867728950e");
	assert_string_equal(c->state_dir, "/srv/xgw");
	assert_string_equal(c->user, "xgw-gw");
	assert_string_equal(c->spool_dir, "/data/spool dir");
	assert_int_equal(c->spool_max, 3ull << 30);
	assert_string_equal(c->xmpp.server, "xmpp.example.net");
	assert_int_equal(c->xmpp.port, 5223);
	assert_string_equal(c->xmpp.password, "se\"cr\\et");
	assert_int_equal(c->xmpp.ping_s, 120);
	assert_int_equal(c->xmpp.window, 250);
	assert_int_equal(c->nadapters, 4);
	a = &c->adapters[0];
	assert_string_equal(a->proto, "modbus");
	assert_int_equal(a->listen_port, 5020);
	assert_int_equal(a->timeout_ms, 800);
	assert_int_equal(a->nroutes, 2);
	assert_string_equal(a->routes[1].match, "unit 2");
	assert_string_equal(a->routes[1].to, U("a2"));
	assert_int_equal(a->ndevices, 2);
	assert_string_equal(a->devices[0].uuid, U("01"));
	assert_int_equal(a->devices[0].unit, 1);
	assert_int_equal(a->devices[0].timeout_ms, 500);
	assert_int_equal(a->devices[1].port, 1502);
	assert_int_equal(a->devices[1].timeout_ms, 800);
	a = &c->adapters[1];
	assert_string_equal(a->proto, "coap");
	assert_int_equal(a->line, 32);
	assert_string_equal(a->listen, "::1");
	assert_int_equal(a->listen_port, 5683);
	assert_string_equal(a->devices[0].host, "fe80::1%eth0");
	assert_int_equal(a->devices[0].port, 5683);
	assert_string_equal(c->adapters[3].routes[0].match, "/status");
	/* a host list is one route per host; hosts as requests are compared */
	a = &c->adapters[3];
	assert_int_equal(a->nroutes, 5);
	assert_string_equal(a->routes[0].host, "");
	assert_string_equal(a->routes[1].host, "plant.example.net");
	assert_string_equal(a->routes[2].host, "[::1]");
	assert_string_equal(a->routes[3].host, "192.0.2.7");
	assert_string_equal(a->routes[3].match, "/status");
	assert_string_equal(a->routes[3].to, U("a5"));
	assert_string_equal(a->routes[4].host, "[::2]");
	/* a route's own body-max; 0: the block's */
	assert_true(a->routes[4].body_max == 4ull << 30);
	assert_true(a->routes[0].body_max == 0);
	assert_int_equal(c->adapters[3].timeout_ms, 90000);
	assert_true(c->adapters[3].body_max == 64ull << 20);
	/* the default where none is given */
	assert_true(c->adapters[1].body_max == 1ull << 30);
	/* a device's own body-max; 0: the block's */
	assert_true(a->devices[0].body_max == 2ull << 20);
	assert_true(a->devices[1].body_max == 0);
	conf_free(c);
}

/* print, parse: the same structure; print again: the same text */
static void
normal_form(void **state)
{
	const char *texts[] = { full, XMPP_MIN };
	struct xgw_conf *c, *c2, *c3;
	char *t1, *t2;

	(void)state;
	for (size_t i = 0; i < 2; i++) {
		c = parse(texts[i]);
		t1 = print(c);
		c2 = parse(t1);
		t2 = print(c2);
		assert_string_equal(t1, t2);
		c3 = parse(t2);
		assert_memory_equal(c2, c3, sizeof(*c2));	/* lines too */
		assert_same_conf(c, c2);
		free(t1);
		free(t2);
		conf_free(c);
		conf_free(c2);
		conf_free(c3);
	}
}

static char *
slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *text;
	long n;

	if (f == NULL)
		fail_msg("%s: cannot open", path);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	rewind(f);
	text = calloc(1, n + 1);
	assert_non_null(text);
	assert_int_equal(fread(text, 1, n, f), n);
	fclose(f);
	return text;
}

static void
shipped_file(void **state)
{
	const char *path = SRCDIR "/packaging/xgw.conf";
	struct conf_err err;
	struct xgw_conf *c = conf_load(path, &err), *c2;
	char *got, *want;

	(void)state;
	if (c == NULL)
		fail_msg("%s:%u:%u: %s", err.file, err.line, err.col, err.msg);
	got = print(c);
	want = slurp(SRCDIR "/tests/conf/xgw.conf.golden");
	if (strcmp(got, want) != 0)
		fail_msg("normalized %s differs from the golden file:\n%s", path,
		    got);
	c2 = conf_parse(path, got, strlen(got), &err);
	assert_non_null(c2);
	assert_same_conf(c, c2);
	free(got);
	free(want);
	conf_free(c);
	conf_free(c2);
}

/* The commented examples of the shipped file check once uncommented. */
static void
shipped_examples(void **state)
{
	char *text = slurp(SRCDIR "/packaging/xgw.conf"), *out, *p, *q;
	struct xgw_conf *c;
	int line_start = 1;

	(void)state;
	out = calloc(1, strlen(text) + 1);
	assert_non_null(out);
	for (p = text, q = out; *p != '\0'; p++) {
		if (!(line_start && p[0] == '#' && (p[1] == '\t' || p[1] == '}' ||
		    strncmp(p + 1, "adapter", 7) == 0 ||
		    strncmp(p + 1, "gateway", 7) == 0)))
			*q++ = *p;
		line_start = *p == '\n';
	}
	c = parse(out);
	assert_int_equal(c->nadapters, 4);
	assert_string_equal(c->gateway,
	    "urn:uuid:0f8fad5b-d9cb-469f-a165-70867728950e");
	assert_int_equal(c->adapters[0].devices[0].unit, 1);
	assert_int_equal(c->adapters[0].npolls, 1);
	assert_int_equal(c->adapters[0].npoints, 2);
	conf_free(c);
	free(out);
	free(text);
}

static void
adapter_block(void **state)
{
	struct xgw_conf *c = parse(full);
	struct xgw_conf *b;
	struct conf_err err;
	char buf[8192];
	int n;

	(void)state;
	for (int i = 0; i < c->nadapters; i++) {
		n = conf_print_adapter(&c->adapters[i], buf, sizeof(buf));
		assert_true(n > 0);
		assert_int_equal(strlen(buf), n);
		if ((b = conf_parse_adapter(buf, &err)) == NULL)
			fail_msg("%s:%u:%u: %s\n%s", err.file, err.line,
			    err.col, err.msg, buf);
		assert_int_equal(b->adapters[0].line, 1);
		b->adapters[0].line = c->adapters[i].line;
		assert_memory_equal(&b->adapters[0], &c->adapters[i],
		    sizeof(b->adapters[0]));
		conf_free(b);
		/* one byte short: refused, never cut */
		assert_int_equal(conf_print_adapter(&c->adapters[i], buf, n),
		    -1);
	}
	n = conf_print_adapter(&c->adapters[1], buf, sizeof(buf));
	assert_string_equal(buf, "adapter coap {\n"
	    "\tlisten ::1 port 5683\n"
	    "\ttimeout 1s\n"
	    "\troute \"/sensors\" to " U("a3") "\n"
	    "\tdevice " U("03") " host \"fe80::1%eth0\" port 5683 timeout 1s\n"
	    "}\n");
	n = conf_print_adapter(&c->adapters[3], buf, sizeof(buf));
	assert_non_null(strstr(buf, "\tdevice " U("05") " host \"127.0.0.1\" "
	    "port 8081 timeout 90s body-max 2M\n"));

	assert_null(conf_parse_adapter("user xgw\n", &err));
	assert_string_equal(err.file, "adapter block");
	assert_int_equal(err.line, 1);
	assert_int_equal(err.col, 1);
	assert_string_equal(err.msg, "expected adapter, found 'user'");
	assert_null(conf_parse_adapter("\n", &err));
	assert_string_equal(err.msg,
	    "expected an adapter block, found end of file");
	assert_null(conf_parse_adapter(
	    "adapter http { listen ::1 }\nadapter coap { listen ::1 }\n",
	    &err));
	assert_int_equal(err.line, 2);
	assert_string_equal(err.msg, "one adapter block only is expected here");
	conf_free(c);
}

static void
macros(void **state)
{
	struct xgw_conf *c;

	(void)state;
	c = parse("ip = \"127.0.0.1\"\nunit = \"\\\"unit 7\\\"\"\n"
	    "dev = \"" U("01") "\"\ndevs = \"$dev host $ip\"\n" XMPP_MIN
	    "adapter modbus {\n\tlisten $ip\n\troute $unit to " U("a1")
	    "\n\tdevice $devs\n}\n");
	assert_string_equal(c->adapters[0].listen, "127.0.0.1");
	assert_string_equal(c->adapters[0].routes[0].match, "unit 7");
	assert_string_equal(c->adapters[0].devices[0].uuid, U("01"));
	assert_string_equal(c->adapters[0].devices[0].host, "127.0.0.1");
	conf_free(c);

	assert_error("host = \"h\"\nuser $hots\n",
	    "2:6: undefined macro $hots (did you mean $host?)");
	assert_error("a = \"1\"\na = \"2\"\n", "2:1: macro a is defined twice");
	assert_error("a-b = \"1\"\n",
	    "1:1: macro name 'a-b': letters, digits and _ only");
	assert_error("a = 1\n", "1:5: expected a quoted macro value, found '1'");
	assert_error("user $\n", "1:6: expected a macro name after $");
	assert_error("a = \"$a\"\nuser $a\n", "2:6: macros nested deeper than 8");
	/* an error inside a macro's text is reported where the macro is used */
	assert_error("p = \"0\"\n" XMPP_MIN "adapter http {\n\tlisten ::1 port $p\n}\n",
	    "9:18: port: expected a number 1..65535, found '0'");
}

static void
errors_top(void **state)
{
	(void)state;
	assert_error("usr \"x\"\n" XMPP_MIN,
	    "1:1: expected gateway, state-dir, user, control, rules, spool, xmpp, adapter or NAME = \"value\", found 'usr' (did you mean user?)");
	assert_error("user \"x\"\nuser \"y\"\n" XMPP_MIN,
	    "2:1: user is given twice (first at line 1)");
	assert_error("user \"x\" \"y\"\n",
	    "1:10: expected end of line, found \"y\"");
	assert_error("user \"x\" }\n", "1:10: expected end of line, found '}'");
	assert_error("}\n",
	    "1:1: expected gateway, state-dir, user, control, rules, spool, xmpp, adapter or NAME = \"value\", found '}'");
	assert_error("user \"x\" !\n", "1:10: unexpected character '!'");
	assert_error("user \xc3\xa9\n",
	    "1:6: unexpected character '?' (a control or non-ASCII byte)");
	assert_error("user \"x\n", "1:6: unterminated string");
	{
		struct conf_err err;

		assert_null(conf_parse("t.conf", "user \"x\0y\"\n", 11, &err));
		assert_int_equal(err.col, 6);
		assert_string_equal(err.msg, "NUL byte in a string");
	}
	assert_error("user \\ x\n", "1:6: expected a newline after \\");
	assert_error("user\n", "1:5: expected a value for user, found end of line");
	assert_error("user \"\"\n", "1:6: user is empty");
	assert_error("user \"a b\"\n",
	    "1:6: user \"a b\" is not a user name (letters, digits, _ - .)");
	assert_error("state-dir var/lib\n",
	    "1:11: state-dir \"var/lib\" is not an absolute path");
	assert_error("gateway urn:uuid:0F8FAD5B-D9CB-469F-A165-70867728950E\n",
	    "1:9: gateway 'urn:uuid:0F8FAD5B-D9CB-469F-A165-70867728950E' is not an identity: expected urn:uuid: and a lower-case UUID");
	assert_error("gateway 0f8fad5b-d9cb-469f-a165-70867728950e\n",
	    "1:9: gateway '0f8fad5b-d9cb-469f-a165-70867728950e' is not an identity: expected urn:uuid: and a lower-case UUID");
	assert_error("spool /s max 1023K\n",
	    "1:14: spool max: expected a size 1M..1024G (K, M, G: 1024-based), found '1023K'");
	assert_error("spool /s max 1025G\n",
	    "1:14: spool max: expected a size 1M..1024G (K, M, G: 1024-based), found '1025G'");
	assert_error("spool /s max 64MB\n",
	    "1:14: spool max: expected a size 1M..1024G (K, M, G: 1024-based), found '64MB'");
	assert_error("spool /s max 99999999999999999999G\n",
	    "1:14: spool max: expected a size 1M..1024G (K, M, G: 1024-based), found '99999999999999999999G'");
	assert_error("spool /s mx 1G\n",
	    "1:10: expected max or end of line, found 'mx' (did you mean max?)");
	assert_error("spool /s max 1G max 2G\n",
	    "1:17: max is given twice (first at line 1)");
	assert_error("user \"x\"\n",
	    "2:1: no xmpp block: the gateway needs its server, CA, login and broker");
}

static void
errors_xmpp(void **state)
{
	(void)state;
	assert_error("xmpp {\n\tserver x tls none\n",
	    "2:15: tls none: TLS is mandatory and cannot be turned off; use tls starttls (port 5222) or tls direct (port 5223)");
	assert_error("xmpp {\n\tserver x tls off\n",
	    "2:15: tls off: TLS is mandatory and cannot be turned off; use tls starttls (port 5222) or tls direct (port 5223)");
	assert_error("xmpp {\n\tserver x tls dirct\n",
	    "2:15: expected starttls or direct, found 'dirct' (did you mean direct?)");
	assert_error("xmpp {\n\tserver x tls direct tls direct\n",
	    "2:22: tls is given twice (first at line 2)");
	assert_error("xmpp {\n\tserver x port 0\n",
	    "2:16: port: expected a number 1..65535, found '0'");
	assert_error("xmpp {\n\tserver x port 65536\n",
	    "2:16: port: expected a number 1..65535, found '65536'");
	assert_error("xmpp {\n\tserver x port 05222\n",
	    "2:16: port: expected a number 1..65535, found '05222'");
	assert_error("xmpp\n", "1:5: expected '{' on the same line, found end of line");
	assert_error("xmpp {\n\tserver x\n",
	    "3:1: expected '}' to close the xmpp block of line 1, found end of file");
	assert_error("xmpp {\n\tservr x\n",
	    "2:2: expected server, ca, certificate, jid, broker, ping, window or '}', found 'servr' (did you mean server?)");
	assert_error("xmpp {\n\tca /a\n\tca /b\n",
	    "3:2: ca is given twice (first at line 2)");
	assert_error("xmpp {\n\tca ca.pem\n",
	    "2:5: ca \"ca.pem\" is not an absolute path");
	assert_error("xmpp {\n\tcertificate /c\n",
	    "2:16: expected 'key' and its value after certificate, found end of line");
	assert_error("xmpp {\n\tcertificate /c key k\n",
	    "2:21: key \"k\" is not an absolute path");
	assert_error("xmpp {\n\tjid gw password p\n",
	    "2:6: jid \"gw\" is not a bare JID (user@domain)");
	assert_error("xmpp {\n\tjid gw@d/r password p\n",
	    "2:6: jid \"gw@d/r\" is not a bare JID (user@domain)");
	assert_error("xmpp {\n\tjid gw@d\n",
	    "2:10: expected 'password' and its value after jid, found end of line");
	assert_error("xmpp {\n\tping 30\n",
	    "2:7: ping: expected a duration 1s..60m, found '30'");
	assert_error("xmpp {\n\tping 500ms\n",
	    "2:7: ping: expected a duration 1s..60m, found '500ms'");
	assert_error("xmpp {\n\tping 1500ms\n",
	    "2:7: ping: 1500ms is not a whole number of seconds");
	assert_error("xmpp {\n\tping 61m\n",
	    "2:7: ping: expected a duration 1s..60m, found '61m'");
	assert_error("xmpp {\n\twindow 0\n",
	    "2:9: window: expected a number 1..100000, found '0'");
	assert_error("xmpp {\n\tca /ca\n\tcertificate /c key /k\n\tbroker b\n}\n",
	    "1:1: xmpp: server is required");
	assert_error("xmpp {\n\tserver x\n\tcertificate /c key /k\n\tbroker b\n}\n",
	    "1:1: xmpp: ca is required (the CA that signed the server's certificate: TLS is always verified)");
	assert_error("xmpp {\n\tserver x\n\tca /ca\n\tcertificate /c key /k\n}\n",
	    "1:1: xmpp: broker is required (the broker's JID)");
	assert_error("xmpp {\n\tserver x\n\tca /ca\n\tbroker b\n}\n",
	    "1:1: xmpp: no login: give certificate PATH key PATH (SASL EXTERNAL) or jid JID password SECRET (SCRAM)");
	assert_error("xmpp {\n\tserver x\n\tca /ca\n\tcertificate /c key /k\n"
	    "\tbroker b\n\tjid a@b password p\n}\n",
	    "6:2: xmpp: one login only: certificate+key (SASL EXTERNAL) or jid+password (SCRAM), not both");
	assert_error("xmpp {\n\tserver x\n\tca /ca\n\tjid a@b password p\n"
	    "\tbroker b\n\tcertificate /c key /k\n}\n",
	    "6:2: xmpp: one login only: certificate+key (SASL EXTERNAL) or jid+password (SCRAM), not both");
	assert_error(XMPP_MIN XMPP_MIN, "7:1: xmpp is given twice (first at line 1)");
}

static void
errors_adapter(void **state)
{
	(void)state;
	assert_error("adapter modbsu {\n",
	    "1:9: unknown protocol 'modbsu': expected modbus, coap, mqtt or http (did you mean modbus?)");
	assert_error("adapter {\n",
	    "1:9: unknown protocol '{': expected modbus, coap, mqtt or http");
	assert_error("adapter coap {\n\tlisten ::1\n}\nadapter coap {\n",
	    "4:9: adapter coap is defined twice (first at line 1)");
	assert_error("adapter http {\n}\n",
	    "1:1: adapter http has neither listen nor device: nothing to serve");
	assert_error("adapter http {\n\troute /a to " U("a1") "\n\tdevice "
	    U("01") " host h\n}\n",
	    "2:2: route needs listen: routes carry the requests of local clients");
	assert_error("adapter modbus {\n\tlisten localhost\n",
	    "2:9: listen 'localhost' is not an IPv4 or IPv6 address");
	assert_error("adapter modbus {\n\tlisten ::1 prt 502\n",
	    "2:13: expected port or end of line, found 'prt' (did you mean port?)");
	assert_error("adapter modbus {\n\tlisten ::1\n\tlisten ::2\n",
	    "3:2: listen is given twice (first at line 2)");
	assert_error("adapter modbus {\n\ttimeout 0ms\n",
	    "2:10: timeout: expected a duration 1ms..10m, found '0ms'");
	assert_error("adapter modbus {\n\ttimeout 11m\n",
	    "2:10: timeout: expected a duration 1ms..10m, found '11m'");
	assert_error("adapter modbus {\n\tlisten ::1\n\troute \"unit 300\" to "
	    U("a1") "\n",
	    "3:8: route: a Modbus route matches \"unit N\" (N 0..255), found \"unit 300\"");
	assert_error("adapter modbus {\n\tlisten ::1\n\troute /a to " U("a1") "\n",
	    "3:8: route: a Modbus route matches \"unit N\" (N 0..255), found \"/a\"");
	assert_error("adapter coap {\n\tlisten ::1\n\troute sensors to " U("a1") "\n",
	    "3:8: route: a CoAP route matches a path prefix starting with '/', found \"sensors\"");
	assert_error("adapter mqtt {\n\tlisten ::1\n\troute \"a/#/b\" to " U("a1") "\n",
	    "3:8: route: topic filter \"a/#/b\": '+' and '#' must fill a level, '#' only at the end");
	assert_error("adapter http {\n\tlisten ::1\n\troute /a to " U("a1")
	    "\n\troute /a to " U("a2") "\n",
	    "4:8: route \"/a\" is given twice");
	assert_error("adapter http {\n\tlisten ::1\n\troute /a " U("a1") "\n",
	    "3:11: expected 'to' and the remote endpoint's urn:uuid:, found '" U("a1") "'");
	assert_error("adapter http {\n\tlisten ::1\n\troute /a to x\n",
	    "3:14: route to 'x' is not an identity: expected urn:uuid: and a lower-case UUID");
	assert_error("adapter coap {\n\tlisten ::1\n\troute /a host h to " U("a1")
	    "\n", "3:11: route host is an HTTP setting, this adapter is coap");
	assert_error("adapter coap {\n\tlisten ::1\n\tbody-max 1G\n",
	    "3:2: body-max is an HTTP setting, this adapter is coap");
	assert_error("adapter http {\n\tlisten ::1\n\tbody-max 1K\n",
	    "3:11: body-max: expected a size 1M..1024G, found '1K'");
	assert_error("adapter http {\n\tlisten ::1\n\tbody-max 2048G\n",
	    "3:11: body-max: expected a size 1M..1024G, found '2048G'");
	assert_error("adapter http {\n\tlisten ::1\n\troute /a to " U("a1")
	    " body-max 1K\n",
	    "3:69: route body-max: expected a size 1M..1024G, found '1K'");
	assert_error("adapter http {\n\tlisten ::1\n\troute /a to " U("a1")
	    " body-max\n",
	    "3:68: route body-max: expected a size 1M..1024G, found end of line");
	assert_error("adapter coap {\n\tlisten ::1\n\troute /a to " U("a1")
	    " body-max 1G\n",
	    "3:60: route body-max is an HTTP setting, this adapter is coap");
	assert_error("adapter http {\n\tlisten ::1\n\troute /a to " U("a1")
	    " bodymax 1G\n",
	    "3:60: expected end of line, found 'bodymax'");
	assert_error("adapter http {\n\tlisten ::1\n\troute /a host -h.example to "
	    U("a1") "\n",
	    "3:16: host \"-h.example\" is not a DNS name or an IP address");
	assert_error("adapter http {\n\tlisten ::1\n\troute /a host { a b_c } to "
	    U("a1") "\n",
	    "3:20: host \"b_c\" is not a DNS name or an IP address");
	assert_error("adapter http {\n\tlisten ::1\n\troute /a host 10.0.0.256 to "
	    U("a1") "\n",
	    "3:16: host \"10.0.0.256\" is not a DNS name or an IP address");
	assert_error("adapter http {\n\tlisten ::1\n\troute /a host a..b to "
	    U("a1") "\n",
	    "3:16: host \"a..b\" is not a DNS name or an IP address");
	assert_error("adapter http {\n\tlisten ::1\n\troute /a host \"[::g]\" to "
	    U("a1") "\n",
	    "3:16: host \"[::g]\" is not a DNS name or an IP address");
	assert_error("adapter http {\n\tlisten ::1\n\troute /a host "
	    "\"fe80::1%eth0\" to " U("a1") "\n",
	    "3:16: host \"fe80::1%eth0\" is not a DNS name or an IP address");
	assert_error("adapter http {\n\tlisten ::1\n\troute /a host h:80 to "
	    U("a1") "\n",
	    "3:16: host \"h:80\" is not a DNS name or an IP address");
	assert_error("adapter http {\n\tlisten ::1\n\troute /a host { } to "
	    U("a1") "\n", "3:11: route: the host list is empty");
	assert_error("adapter http {\n\tlisten ::1\n\troute /a host { a\n",
	    "4:1: expected a value for host, found end of file");
	assert_error("adapter http {\n\tlisten ::1\n\troute /a host { A a } to "
	    U("a1") "\n", "3:20: route \"/a\" host \"a\" is given twice");
	assert_error("adapter http {\n\tlisten ::1\n\troute /a host \"[::1]\" to "
	    U("a1") "\n\troute /a host 0::1 to " U("a2") "\n",
	    "4:16: route \"/a\" host \"[::1]\" is given twice");
	assert_error("adapter http {\n\tlisten ::1\n\troute /a host h\n",
	    "3:17: expected 'to' and the remote endpoint's urn:uuid:, found end of line");
	assert_error("adapter modbus {\n\tdevice " U("01") " host h\n}\n"
	    "adapter coap {\n\tdevice " U("01") " host h\n",
	    "5:9: device " U("01") " is already used by a modbus device");
	assert_error("adapter modbus {\n\tdevice " U("01") " host h\n\tdevice "
	    U("01") " host h\n",
	    "3:9: device " U("01") " is already used by a modbus device");
	assert_error("adapter modbus {\n\tdevice " U("01") " port 502\n",
	    "2:2: device " U("01") ": host is required");
	assert_error("adapter modbus {\n\tdevice " U("01") " hots h\n",
	    "2:55: expected host, port, unit, timeout, body-max or end of line, found 'hots' (did you mean host?)");
	assert_error("adapter coap {\n\tdevice " U("01") " host h body-max 1M\n",
	    "2:62: device body-max is an HTTP setting, this adapter is coap");
	assert_error("adapter http {\n\tdevice " U("01") " host h body-max 1K\n",
	    "2:71: device body-max: expected a size 1M..1024G, found '1K'");
	assert_error("adapter http {\n\tdevice " U("01") " host h body-max 1025G\n",
	    "2:71: device body-max: expected a size 1M..1024G, found '1025G'");
	assert_error("adapter http {\n\tdevice " U("01") " host h body-max\n",
	    "2:70: device body-max: expected a size 1M..1024G, found end of line");
	assert_error("adapter http {\n\tdevice " U("01") " host h body-max 1M "
	    "body-max 2M\n",
	    "2:74: body-max is given twice (first at line 2)");
	assert_error("adapter coap {\n\tdevice " U("01") " host h unit 1\n",
	    "2:62: unit is a Modbus setting, this adapter is coap");
	assert_error("adapter modbus {\n\tdevice " U("01") " host h unit 256\n",
	    "2:67: unit: expected a number 0..255, found '256'");
	assert_error("adapter modbus {\n\tdevice " U("01") " host h timeout 1\n",
	    "2:70: timeout: expected a duration 1ms..10m, found '1'");
	assert_error("adapter modbus {\n\tlisten ::1\n\tdevce x\n",
	    "3:2: expected listen, timeout, body-max, route, device, poll or '}', found 'devce' (did you mean device?)");
	assert_error("adapter modbus { listen ::1 } user x\n" XMPP_MIN
	    "adapter coap { listen ::1 } }\n",
	    "8:29: expected end of line, found '}'");
}

static void
limits(void **state)
{
	char *text = malloc(64 * 1024), *p;
	char got[512];
	size_t len = 64 * 1024;
	int n;

	(void)state;
	assert_non_null(text);
	for (int what = 0; what < 2; what++) {
		p = text;
		p += snprintf(p, len, XMPP_MIN "adapter coap {\n\tlisten ::1\n");
		for (int i = 0; i <= (what ? CONF_MAX_ROUTES : CONF_MAX_DEVICES);
		    i++) {
			n = what ? snprintf(p, text + len - p,
			    "\troute /r%d to " U("00") "\n", i) :
			    snprintf(p, text + len - p, "\tdevice "
			    "urn:uuid:00000000-0000-4000-8000-%012d host h\n", i);
			p += n;
		}
		snprintf(p, text + len - p, "}\n");
		parse_error(text, got, sizeof(got));
		assert_string_equal(got, what ?
		    "73:2: adapter coap: more than 64 routes" :
		    "73:2: adapter coap: more than 64 devices");
		/* one fewer is fine */
		strcpy(strrchr(text, '\t'), "}\n");
		parse_error(text, got, sizeof(got));
		assert_string_equal(got, "");
	}
	free(text);
}

/* A value too long for its field is refused, never cut. */
static void
long_values(void **state)
{
	char text[8192], got[512], want[512], v[1024];
	static const struct {
		const char *pre, *post;	/* around the value */
		size_t max;		/* the field's limit */
		const char *at;		/* line:col of the value */
		const char *what;
	} cases[] = {
		{ "xmpp {\n\tserver ", "\n", 255, "2:9", "server" },
		{ "xmpp {\n\tbroker ", "\n", 255, "2:9", "broker" },
		{ "xmpp {\n\tjid ", " password p\n", 255, "2:6", "jid" },
		{ "xmpp {\n\tjid a@b password ", "\n", 255, "2:19", "password" },
		{ "user ", "\n", 63, "1:6", "user" },
		{ "adapter http {\n\tdevice " U("01") " host ", "\n", 255, "2:60",
		    "host" },
		{ "adapter http {\n\troute ", " to " U("01") "\n", 255, "2:8",
		    "route" },
		{ "adapter http {\n\troute / host ", " to " U("01") "\n", 255,
		    "2:15", "host" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t n = cases[i].max + 1;

		memset(v, 'a', n);
		v[n] = '\0';
		snprintf(text, sizeof(text), "%s%s%s", cases[i].pre, v,
		    cases[i].post);
		snprintf(want, sizeof(want),
		    "%s: %s \"%.40s...\" is %zu bytes long, the limit is %zu",
		    cases[i].at, cases[i].what, v, n, cases[i].max);
		parse_error(text, got, sizeof(got));
		assert_string_equal(got, want);
		/* one byte less fits (other checks may still refuse it) */
		v[n - 1] = '\0';
		snprintf(text, sizeof(text), "%s%s%s", cases[i].pre, v,
		    cases[i].post);
		parse_error(text, got, sizeof(got));
		assert_null(strstr(got, "bytes long"));
	}
	/* a string longer than the lexer takes */
	memset(v, 'a', 1023);
	v[1023] = '\0';
	snprintf(text, sizeof(text), "rules \"/%s\"\n", v);
	assert_error(text, "1:7: string longer than 1023 bytes");
}

static void
load(void **state)
{
	char path[] = "/tmp/test_conf.XXXXXX";
	struct conf_err err;
	FILE *f;
	int fd;

	(void)state;
	assert_null(conf_load("/nonexistent/xgw.conf", &err));
	assert_string_equal(err.file, "/nonexistent/xgw.conf");
	assert_int_equal(err.line, 0);
	assert_string_equal(err.msg, "No such file or directory");

	fd = mkstemp(path);
	assert_true(fd != -1);
	f = fdopen(fd, "w");
	assert_non_null(f);
	for (int i = 0; i < 1024 * 1024 / 16 + 1; i++)
		fputs("# padding line.\n", f);	/* 16 bytes */
	fclose(f);
	assert_null(conf_load(path, &err));
	unlink(path);
	assert_int_equal(err.line, 0);
	assert_string_equal(err.msg, "file larger than 1048576 bytes");
}

/* Polls */

#define MB_DEV	"adapter modbus {\n\tdevice " U("01") " host h unit 1\n"
#define POLL1	MB_DEV "\tpoll " U("01") " every 1s {\n"

static void
polls(void **state)
{
	struct xgw_conf *c = parse(full);
	const struct conf_adapter *a = &c->adapters[0];
	const struct conf_point *pt = a->points;
	char buf[8192];

	(void)state;
	assert_int_equal(a->npolls, 2);
	assert_int_equal(a->npoints, 4);
	assert_string_equal(a->polls[0].device, U("01"));
	assert_int_equal(a->polls[0].every_ms, 1000);
	assert_int_equal(a->polls[0].first, 0);
	assert_int_equal(a->polls[0].npoints, 3);
	assert_string_equal(a->polls[1].device, U("02"));
	assert_int_equal(a->polls[1].every_ms, 250);
	assert_int_equal(a->polls[1].first, 3);
	assert_int_equal(a->polls[1].npoints, 1);
	assert_string_equal(pt[0].name, "boiler-temp");
	assert_int_equal(pt[0].table, CONF_HOLDING);
	assert_int_equal(pt[0].address, 100);
	assert_int_equal(pt[0].count, 2);
	assert_int_equal(pt[0].type, CONF_INT16);
	assert_string_equal(pt[0].unit, "Cel");
	assert_int_equal(pt[0].digits, 1);
	assert_int_equal(pt[0].decimals, 1);
	assert_string_equal(pt[1].name, "pump");
	assert_int_equal(pt[1].table, CONF_COILS);
	assert_int_equal(pt[1].type, CONF_BOOL);
	assert_int_equal(pt[1].count, 1);
	assert_string_equal(pt[1].unit, "");
	assert_int_equal(pt[2].table, CONF_INPUT);
	assert_int_equal(pt[2].type, CONF_FLOAT32);
	assert_int_equal(conf_point_span(&pt[2]), 2);
	assert_int_equal(pt[3].table, CONF_DISCRETE);
	assert_int_equal(conf_point_span(&pt[3]), 16);
	assert_true(conf_print_adapter(a, buf, sizeof(buf)) > 0);
	assert_string_equal(strstr(buf, "\tpoll"), "\tpoll " U("01") " every 1s {\n"
	    "\t\tholding 100 count 2 name \"boiler-temp\" type int16 unit \"Cel\" scale 0.1\n"
	    "\t\tcoil 5 count 1 name \"pump\" type bool\n"
	    "\t\tinput 7 count 1 name \"flow\" type float32 unit \"m3/h\" scale 1\n"
	    "\t}\n"
	    "\tpoll " U("02") " every 250ms {\n"
	    "\t\tdiscrete 0 count 16 name \"door\" type bool\n"
	    "\t}\n"
	    "}\n");
	conf_free(c);
}

/* A scale as written, and as it is printed. */
static void
assert_scale(const char *in, const char *want)
{
	char text[512], *out, *p;
	struct xgw_conf *c;

	snprintf(text, sizeof(text), XMPP_MIN POLL1
	    "\t\tholding 1 name a scale %s\n\t}\n}\n", in);
	c = parse(text);
	out = print(c);
	p = strstr(out, " scale ");
	assert_non_null(p);
	*strchr(p, '\n') = '\0';
	assert_string_equal(p + 7, want);
	free(out);
	conf_free(c);
}

static void
scales(void **state)
{
	char buf[32];

	(void)state;
	assert_scale("0.1", "0.1");
	assert_scale("0.50", "0.5");
	assert_scale("-2.5", "-2.5");
	assert_scale("1000", "1000");
	assert_scale("007", "7");
	assert_scale(".25", "0.25");
	assert_scale("-0.000000001", "-0.000000001");
	assert_scale("999999999", "999999999");
	conf_decimal(buf, sizeof(buf), 701, 1);
	assert_string_equal(buf, "70.1");
	conf_decimal(buf, sizeof(buf), 700, 1);
	assert_string_equal(buf, "70.0");
	conf_decimal(buf, sizeof(buf), -5, 2);
	assert_string_equal(buf, "-0.05");
	conf_decimal(buf, sizeof(buf), -32768, 0);
	assert_string_equal(buf, "-32768");
	conf_decimal(buf, sizeof(buf), 4294967295ll * 999999999ll, 9);
	assert_string_equal(buf, "4294967290.705032705");
}

static void
errors_poll(void **state)
{
	(void)state;
	assert_error("adapter coap {\n\tdevice " U("01") " host h\n\tpoll "
	    U("01") " every 1s { holding 1 name a }\n",
	    "3:2: poll is a Modbus setting, this adapter is coap");
	assert_error(MB_DEV "\tpoll " U("02") " every 1s {\n",
	    "3:7: poll " U("02") ": no device above in this adapter has this UUID");
	assert_error(MB_DEV "\tpoll " U("01") " {\n",
	    "3:53: expected 'every' and the interval, found '{'");
	assert_error(MB_DEV "\tpoll " U("01") " every 5ms {\n",
	    "3:59: every: expected a duration 10ms..60m, found '5ms'");
	assert_error(MB_DEV "\tpoll " U("01") " every 61m {\n",
	    "3:59: every: expected a duration 10ms..60m, found '61m'");
	assert_error(MB_DEV "\tpoll " U("01") " every 1s\n",
	    "3:61: expected '{' on the same line, found end of line");
	assert_error(POLL1 "\t}\n",
	    "3:2: poll " U("01") " reads nothing: give coil, discrete, holding or input lines");
	assert_error(POLL1 "\t\tholdng 1 name a\n",
	    "4:3: expected coil, discrete, holding, input or '}', found 'holdng' (did you mean holding?)");
	assert_error(POLL1 "\t\tholding 1\n", "4:3: holding 1: name is required");
	assert_error(POLL1 "\t\tholding 65536 name a\n",
	    "4:11: address: expected a number 0..65535, found '65536'");
	assert_error(POLL1 "\t\tholding 1 name a name b\n",
	    "4:20: name is given twice (first at line 4)");
	assert_error(POLL1 "\t\tholding 1 nme a\n",
	    "4:13: expected count, name, type, unit, scale or end of line, found 'nme' (did you mean name?)");
	assert_error(POLL1 "\t\tholding 1 name \"a b\"\n",
	    "4:18: name \"a b\": letters, digits and _ - . / only");
	assert_error(POLL1 "\t\tholding 1 name \"a[1]\"\n",
	    "4:18: name \"a[1]\": letters, digits and _ - . / only");
	assert_error(POLL1 "\t\tholding 1 name a type bool\n",
	    "4:20: type bool: registers are uint16, int16, uint32, int32 or float32");
	assert_error(POLL1 "\t\tcoil 1 name a type int16\n",
	    "4:17: type int16: coils and discrete inputs are bool");
	assert_error(POLL1 "\t\tholding 1 name a type int17\n",
	    "4:25: expected bool, uint16, int16, uint32, int32 or float32, found 'int17' (did you mean int16?)");
	assert_error(POLL1 "\t\tcoil 1 name a scale 2\n",
	    "4:17: scale is for registers, not for coils");
	assert_error(POLL1 "\t\tholding 1 name a unit \"deg C\"\n",
	    "4:25: unit \"deg C\": printable ASCII without spaces only (a UCUM code: Cel, m3/h, %)");
	assert_error(POLL1 "\t\tholding 1 count 126 name a\n",
	    "4:3: holding 1: 126 values of uint16 span 126 registers, one read takes at most 125");
	assert_error(POLL1 "\t\tinput 1 count 63 type float32 name a\n",
	    "4:3: input 1: 63 values of float32 span 126 registers, one read takes at most 125");
	assert_error(POLL1 "\t\tcoil 0 count 2001 name a\n",
	    "4:16: count: expected a number 1..2000, found '2001'");
	assert_error(POLL1 "\t\tcoil 0 count 500 name a\n\t\tinput 0 count 13 "
	    "name b\n\t}\n", "3:2: poll " U("01") ": 513 values, more than 512: "
	    "a poll is one event stanza; split it in several");
	assert_error(POLL1 "\t\tholding 65535 count 2 name a\n",
	    "4:3: holding 65535: 2 values run past address 65535");
	assert_error(POLL1 "\t\tholding 1 name a\n\t\tcoil 1 name a\n",
	    "5:10: name \"a\" is given twice for device " U("01"));
	assert_error(POLL1 "\t\tholding 1 name a\n\t}\n\tpoll " U("01")
	    " every 2s { coil 1 name a }\n",
	    "6:71: name \"a\" is given twice for device " U("01"));
	/* the same name on another device is another reading */
	assert_error(XMPP_MIN POLL1 "\t\tholding 1 name a\n\t}\n\tdevice " U("02")
	    " host h\n\tpoll " U("02") " every 2s { coil 1 name a }\n}\n", "");
	static const char *const bad_scales[] = { "0", "-0.0", "1e3", "1.",
	    "-", "1.2.3", "1234567890", "0.0000000001", "\"0.1\"" };
	for (size_t i = 0; i < sizeof(bad_scales) / sizeof(bad_scales[0]); i++) {
		char text[512], want[512];

		snprintf(text, sizeof(text), POLL1
		    "\t\tholding 1 name a scale %s\n", bad_scales[i]);
		snprintf(want, sizeof(want), "4:26: scale: expected a decimal "
		    "number other than 0, at most 9 digits (0.1, -2.5, 1000), "
		    "found %s%s%s", bad_scales[i][0] == '"' ? "" : "'",
		    bad_scales[i], bad_scales[i][0] == '"' ? "" : "'");
		assert_error(text, want);
	}
}

static void
poll_limits(void **state)
{
	size_t len = 64 * 1024;
	char *text = malloc(len), *p, got[512];

	(void)state;
	assert_non_null(text);
	p = text + snprintf(text, len, XMPP_MIN MB_DEV);
	for (int i = 0; i <= CONF_MAX_POLLS; i++)
		p += snprintf(p, text + len - p,
		    "\tpoll " U("01") " every 1s { coil %d name p%d }\n", i, i);
	snprintf(p, text + len - p, "}\n");
	parse_error(text, got, sizeof(got));
	assert_string_equal(got, "41:2: adapter modbus: more than 32 polls");
	strcpy(strrchr(text, '\t'), "}\n");
	parse_error(text, got, sizeof(got));
	assert_string_equal(got, "");

	p = text + snprintf(text, len, XMPP_MIN POLL1);
	for (int i = 0; i <= CONF_MAX_POINTS; i++)
		p += snprintf(p, text + len - p, "\t\tcoil %d name p%d\n", i, i);
	snprintf(p, text + len - p, "\t}\n}\n");
	parse_error(text, got, sizeof(got));
	assert_string_equal(got,
	    "266:3: adapter modbus: more than 256 points in its polls");
	*strrchr(text, '\t') = '\0';
	strcpy(strrchr(text, '\t') - 1, "\t}\n}\n");
	parse_error(text, got, sizeof(got));
	assert_string_equal(got, "");
	free(text);
}

static struct conf_point
pt(unsigned table, unsigned address, unsigned count, unsigned type)
{
	struct conf_point p = { .table = table, .address = address,
	    .count = count, .type = type };

	return p;
}

/* The reads of n points, as "fc:address+quantity ...", and each point's read. */
static void
assert_merge(const struct conf_point *pts, int n, const char *want,
    const int *want_of)
{
	struct conf_read r[CONF_MAX_POINTS];
	int of[CONF_MAX_POINTS], nr = conf_poll_merge(pts, n, r, of);
	char got[1024];
	size_t len = 0;

	got[0] = '\0';
	for (int i = 0; i < nr; i++)
		len += snprintf(got + len, sizeof(got) - len, "%s%u:%u+%u",
		    i ? " " : "", r[i].table, r[i].address, r[i].quantity);
	assert_string_equal(got, want);
	for (int i = 0; i < n; i++)
		assert_int_equal(of[i], want_of[i]);
}

static void
merge(void **state)
{
	(void)state;
	/* contiguous */
	assert_merge((struct conf_point[]){ pt(3, 0, 2, CONF_UINT16),
	    pt(3, 2, 3, CONF_INT16) }, 2, "3:0+5", (int[]){ 0, 0 });
	/* overlapping and inside, in any order */
	assert_merge((struct conf_point[]){ pt(3, 14, 4, CONF_UINT16),
	    pt(3, 10, 5, CONF_UINT16), pt(3, 12, 1, CONF_UINT32) }, 3,
	    "3:10+8", (int[]){ 0, 0, 0 });
	/* a gap is never read */
	assert_merge((struct conf_point[]){ pt(3, 0, 1, CONF_UINT16),
	    pt(3, 2, 1, CONF_UINT16) }, 2, "3:0+1 3:2+1", (int[]){ 0, 1 });
	/* the same address in four tables: four reads, in function code order */
	assert_merge((struct conf_point[]){ pt(4, 0, 1, CONF_UINT16),
	    pt(3, 0, 1, CONF_UINT16), pt(2, 0, 1, CONF_BOOL),
	    pt(1, 0, 1, CONF_BOOL) }, 4, "1:0+1 2:0+1 3:0+1 4:0+1",
	    (int[]){ 3, 2, 1, 0 });
	/* 125 registers at most: 125 merge, the 126th starts a read */
	assert_merge((struct conf_point[]){ pt(3, 0, 100, CONF_UINT16),
	    pt(3, 100, 25, CONF_UINT16), pt(3, 125, 1, CONF_UINT16) }, 3,
	    "3:0+125 3:125+1", (int[]){ 0, 0, 1 });
	/* a float32 that would cross the limit is read whole by the next read */
	assert_merge((struct conf_point[]){ pt(4, 0, 124, CONF_UINT16),
	    pt(4, 124, 1, CONF_FLOAT32) }, 2, "4:0+124 4:124+2",
	    (int[]){ 0, 1 });
	/* overlapping beyond the limit: the reads overlap, each point whole */
	assert_merge((struct conf_point[]){ pt(3, 0, 100, CONF_UINT16),
	    pt(3, 50, 100, CONF_UINT16) }, 2, "3:0+100 3:50+100",
	    (int[]){ 0, 1 });
	/* 2000 bits at most */
	assert_merge((struct conf_point[]){ pt(1, 0, 1000, CONF_BOOL),
	    pt(1, 1000, 1000, CONF_BOOL), pt(1, 2000, 1, CONF_BOOL),
	    pt(2, 2001, 1, CONF_BOOL) }, 4, "1:0+2000 1:2000+1 2:2001+1",
	    (int[]){ 0, 0, 1, 2 });
	/* the top of the address space */
	assert_merge((struct conf_point[]){ pt(3, 65534, 1, CONF_UINT32),
	    pt(3, 65530, 4, CONF_UINT16) }, 2, "3:65530+6", (int[]){ 0, 0 });
}

/*
 * Random points: each lies whole in its read, no read passes its limit,
 * and every address a read asks for belongs to some point of its table.
 */
static void
merge_random(void **state)
{
	struct conf_point pts[CONF_MAX_POINTS];
	struct conf_read r[CONF_MAX_POINTS];
	int of[CONF_MAX_POINTS];
	uint32_t seed = 1;

	(void)state;
	for (int round = 0; round < 2000; round++) {
		int n = 1 + round % 40, nr;

		for (int i = 0; i < n; i++) {
			unsigned table, type, max;

			seed = seed * 1103515245 + 12345;
			table = 1 + (seed >> 16) % 4;
			type = table <= 2 ? CONF_BOOL :
			    CONF_UINT16 + (seed >> 8) % 5;
			max = table <= 2 ? 2000 : type >= CONF_UINT32 ? 62 : 125;
			seed = seed * 1103515245 + 12345;
			pts[i] = pt(table, (seed >> 16) % 300,
			    1 + (seed >> 4) % (round % 3 ? 8 : max), type);
		}
		nr = conf_poll_merge(pts, n, r, of);
		assert_true(nr >= 1 && nr <= n);
		for (int k = 0; k < nr; k++) {
			assert_true(r[k].quantity <= (r[k].table <= 2 ? 2000 : 125));
			for (unsigned a = r[k].address;
			    a < (unsigned)r[k].address + r[k].quantity; a++) {
				int covered = 0;

				for (int i = 0; i < n && !covered; i++)
					covered = pts[i].table == r[k].table &&
					    a >= pts[i].address && a <
					    pts[i].address + conf_point_span(&pts[i]);
				assert_true(covered);
			}
		}
		for (int i = 0; i < n; i++) {
			const struct conf_read *rd = &r[of[i]];

			assert_int_equal(rd->table, pts[i].table);
			assert_true(pts[i].address >= rd->address);
			assert_true(pts[i].address + conf_point_span(&pts[i]) <=
			    (unsigned)rd->address + rd->quantity);
		}
	}
}

/* adapter mqtt: its own statements, their defaults and normal form */
static const char mqtt_full[] = XMPP_MIN
	"adapter mqtt {\n"
	"\tlisten 127.0.0.1 port 8883\n"
	"\troute \"plant1/#\" to " U("a1") "\n"
	"\ttopic out \"plant1/\" \"site1/plant1/\"\n"
	"\ttopic out plant1/hall/ \"site1/h/\"\n"
	"\ttopic in \"site1/cmd/\" \"plant1/cmd/\"\n"
	"\ttopic in \"strip/\" \"\"\n"
	"\tversion 4\n"
	"\ttls ca /etc/xgw/mqtt-ca.pem certificate \"/etc/xgw/m.pem\" key /etc/xgw/m.key\n"
	"\tclient-id plant1-bridge\n"
	"\tsession-expiry 90m\n"
	"\treceive-maximum 64\n"
	"\tdevice " U("01") " host broker.local version 4\n"
	"\tdevice " U("02") " host ::1 port 1884\n"
	"}\n";

static void
mqtt_settings(void **state)
{
	struct xgw_conf *c = parse(mqtt_full), *c2;
	const struct conf_mqtt *m = &c->adapters[0].mqtt;
	struct xgw_conf *b;
	struct conf_err err;
	char buf[16384], *t;

	(void)state;
	assert_int_equal(m->ntopics, 4);
	assert_int_equal(m->topics[1].dir, CONF_OUT);
	assert_string_equal(m->topics[1].from, "plant1/hall/");
	assert_string_equal(m->topics[1].to, "site1/h/");
	assert_int_equal(m->topics[3].dir, CONF_IN);
	assert_string_equal(m->topics[3].to, "");
	assert_int_equal(m->version, 4);
	assert_string_equal(m->ca, "/etc/xgw/mqtt-ca.pem");
	assert_string_equal(m->cert, "/etc/xgw/m.pem");
	assert_string_equal(m->key, "/etc/xgw/m.key");
	assert_string_equal(m->client_id, "plant1-bridge");
	assert_int_equal(m->session_expiry_s, 5400);
	assert_int_equal(m->receive_max, 64);
	assert_int_equal(c->adapters[0].devices[0].version, 4);
	assert_int_equal(c->adapters[0].devices[1].version, 5);
	/* printed, parsed again: the same; and as one block for the adapter */
	t = print(c);
	c2 = parse(t);
	assert_same_conf(c, c2);
	assert_int_not_equal(conf_print_adapter(&c->adapters[0], buf,
	    sizeof(buf)), -1);
	assert_non_null(strstr(buf, "\ttopic in \"strip/\" \"\"\n"));
	assert_non_null(strstr(buf, "\tsession-expiry 90m\n"));
	assert_non_null(b = conf_parse_adapter(buf, &err));
	b->adapters[0].line = c->adapters[0].line;
	assert_memory_equal(&b->adapters[0], &c->adapters[0],
	    sizeof(b->adapters[0]));
	conf_free(b);
	free(t);
	conf_free(c);
	conf_free(c2);

	/* the defaults, and 0s: a session that ends with the connection */
	c = parse(XMPP_MIN "adapter mqtt { listen ::1; device " U("01")
	    " host h }\nadapter modbus { device " U("02") " host h }\n");
	m = &c->adapters[0].mqtt;
	assert_int_equal(m->version, 5);
	assert_int_equal(m->session_expiry_s, 86400);
	assert_int_equal(m->receive_max, 1024);
	assert_string_equal(m->client_id, "");
	assert_string_equal(m->ca, "");
	assert_int_equal(m->ntopics, 0);
	assert_int_equal(c->adapters[0].devices[0].version, 5);
	assert_int_equal(c->adapters[1].devices[0].version, 0);
	assert_int_equal(c->adapters[1].mqtt.version, 0);
	conf_free(c);
	c = parse(XMPP_MIN "adapter mqtt { listen ::1; session-expiry 0s }\n");
	assert_int_equal(c->adapters[0].mqtt.session_expiry_s, 0);
	t = print(c);
	assert_non_null(strstr(t, "\tsession-expiry 0s\n"));
	free(t);
	conf_free(c);
}

static void
errors_mqtt(void **state)
{
	(void)state;
	assert_error(XMPP_MIN "adapter mqtt {\n\tlisten ::1\n\ttopic out \"a/+/\" b/\n",
	    "9:12: topic prefix \"a/+/\": a topic prefix holds no '+', '#' or control characters");
	assert_error(XMPP_MIN "adapter mqtt {\n\tlisten ::1\n\ttopic in a/ \"b/#\"\n",
	    "9:14: topic replacement \"b/#\": a topic prefix holds no '+', '#' or control characters");
	assert_error(XMPP_MIN "adapter mqtt {\n\tlisten ::1\n\ttopic out \"\" b/\n",
	    "9:12: topic prefix is empty");
	assert_error(XMPP_MIN "adapter mqtt {\n\tlisten ::1\n\ttopic up a/ b/\n",
	    "9:8: expected out or in, found 'up' (did you mean out?)");
	assert_error(XMPP_MIN "adapter mqtt {\n\tlisten ::1\n\ttopic in a/ b/\n"
	    "\ttopic in a/ c/\n",
	    "10:11: topic in \"a/\" is given twice");
	assert_error(XMPP_MIN "adapter mqtt {\n\tlisten ::1\n\ttopic in a/\n",
	    "9:13: expected a value for topic replacement, found end of line");
	assert_error(XMPP_MIN "adapter mqtt {\n\tlisten ::1\n\tversion 3\n",
	    "9:10: version: expected 4 (MQTT 3.1.1) or 5 (MQTT 5.0), found '3'");
	assert_error(XMPP_MIN "adapter mqtt {\n\tdevice " U("01")
	    " host h version 3.1.1\n",
	    "8:70: version: expected 4 (MQTT 3.1.1) or 5 (MQTT 5.0), found '3.1.1'");
	assert_error(XMPP_MIN "adapter mqtt {\n\tlisten ::1\n\tversion 5\n"
	    "\tversion 4\n",
	    "10:2: version is given twice (first at line 9)");
	assert_error(XMPP_MIN "adapter modbus {\n\tlisten ::1\n\tversion 4\n",
	    "9:2: expected listen, timeout, body-max, route, device, poll or '}', found 'version'");
	assert_error(XMPP_MIN "adapter coap {\n\tdevice " U("01")
	    " host h version 4\n",
	    "8:62: expected host, port, unit, timeout, body-max or end of line, found 'version'");
	assert_error(XMPP_MIN "adapter mqtt {\n\tlisten ::1\n\ttls ca ca.pem\n",
	    "9:9: tls ca \"ca.pem\" is not an absolute path");
	assert_error(XMPP_MIN "adapter mqtt {\n\tlisten ::1\n\ttls /ca.pem\n",
	    "9:6: expected 'ca' and the CA that signed the brokers' certificates, found '/ca.pem'");
	assert_error(XMPP_MIN "adapter mqtt {\n\tlisten ::1\n"
	    "\ttls ca /ca certificate /c\n",
	    "9:27: expected 'key' and its value after certificate, found end of line");
	assert_error(XMPP_MIN "adapter mqtt {\n\tlisten ::1\n\tclient-id \"a b\"\n",
	    "9:12: client-id \"a b\": letters, digits and _ - . : only");
	assert_error(XMPP_MIN "adapter mqtt {\n\tlisten ::1\n\tsession-expiry 366d\n",
	    "9:17: session-expiry: expected a duration 0s..365d (s, m, h, d), found '366d'");
	assert_error(XMPP_MIN "adapter mqtt {\n\tlisten ::1\n\treceive-maximum 0\n",
	    "9:18: receive-maximum: expected a number 1..65535, found '0'");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(defaults),
		cmocka_unit_test(full_file),
		cmocka_unit_test(normal_form),
		cmocka_unit_test(shipped_file),
		cmocka_unit_test(shipped_examples),
		cmocka_unit_test(adapter_block),
		cmocka_unit_test(macros),
		cmocka_unit_test(errors_top),
		cmocka_unit_test(errors_xmpp),
		cmocka_unit_test(errors_adapter),
		cmocka_unit_test(limits),
		cmocka_unit_test(long_values),
		cmocka_unit_test(load),
		cmocka_unit_test(polls),
		cmocka_unit_test(scales),
		cmocka_unit_test(errors_poll),
		cmocka_unit_test(poll_limits),
		cmocka_unit_test(merge),
		cmocka_unit_test(merge_random),
		cmocka_unit_test(mqtt_settings),
		cmocka_unit_test(errors_mqtt),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
