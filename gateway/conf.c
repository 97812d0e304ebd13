/*
 * xgw.conf: a recursive descent parser over keyword tables, one per
 * block, on the tokenizer the rules file shares (policies/lex.c).  The
 * grammar is in gateway/README.md ("xgw.conf"); this file is its only
 * implementation, used by xgwd for the whole file and by the adapters for
 * the one block they are sent.  The first error ends the parse (a longjmp
 * back to lex_run), so nothing of a bad file is ever used.  Defaults are filled in as blocks close, so the
 * printed form names every setting and re-parses to the same structure.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "lex.h"
#include "policy_int.h"		/* pol_closest, pol_topic_valid */

#define CONF_FILE_MAX	(1024 * 1024)
#define KW_MAX		12		/* keywords of the largest table */

#define SPOOL_MIN	(1ull << 20)
#define SPOOL_LIMIT	(1ull << 40)
#define TIMEOUT_MAX_MS	600000u
#define PING_MAX_S	3600u
#define WINDOW_MAX	100000u
#define DFLT_TIMEOUT_MS	1000u
#define DFLT_BODY_MAX	(1ull << 30)	/* HTTP: a streamed body */
#define EVERY_MAX_MS	3600000u
#define REGS_MAX	125u		/* registers one read (fc 3, 4) returns */
#define BITS_MAX	2000u		/* bits one read (fc 1, 2) returns */
#define SCALE_DIGITS	9		/* digits * a 32-bit value fits an int64_t */
#define POLL_VALUES_MAX	512		/* readings of one poll: its event stays below 128K */
#define SESSION_MAX_S	(365u * 86400)	/* MQTT session expiry */
#define DFLT_SESSION_S	86400u
#define DFLT_RECEIVE_MAX 1024u

struct pos {
	unsigned	 line, col;	/* line 0: not given */
};

struct parser {
	struct lex		 lx;
	struct xgw_conf		*conf;
	struct pos		 at;		/* the keyword last consumed */
	int			 closed;	/* the statement ended with its block's '}' */
	int			 adapter_only;	/* conf_parse_adapter: one block, nothing else */
};

/*
 * A keyword of a block or an option of a statement.  fn runs after the
 * keyword is consumed; arg is the block's structure.  Keywords not marked
 * many may be given once per block or statement.
 */
struct kw {
	const char	*name;
	void		(*fn)(struct parser *, void *);
	int		 many;
};

struct proto {
	const char	*name;
	const char	*title;		/* for messages */
	uint16_t	 port;
};

static const struct proto protos[] = {
	{ "modbus", "Modbus", 502 },
	{ "coap", "CoAP", 5683 },
	{ "mqtt", "MQTT", 1883 },
	{ "http", "HTTP", 80 },
};
#define NPROTOS		(sizeof(protos) / sizeof(protos[0]))

const char *const conf_type_names[CONF_NTYPES] = {
	[CONF_BOOL] = "bool", [CONF_UINT16] = "uint16", [CONF_INT16] = "int16",
	[CONF_UINT32] = "uint32", [CONF_INT32] = "int32",
	[CONF_FLOAT32] = "float32",
};

static const char *const table_names[] = {
	[CONF_COILS] = "coil", [CONF_DISCRETE] = "discrete",
	[CONF_HOLDING] = "holding", [CONF_INPUT] = "input",
};

static int
namec(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '_';
}

/* Paths, addresses (::1), JIDs and urn:uuid: are words: quotes are for spaces. */
static int
wordc(int c, const char *w, size_t n)
{
	(void)w;
	(void)n;
	return namec(c) || (c > 0 && strchr("-.:/@+%", c) != NULL);
}

static const struct lex_syntax syntax = {
	wordc, namec, "{}=", "\n;", 0
};

/* Parser helpers */

static int
at_end(struct parser *ps)
{
	return ps->lx.tok.t == T_NL || ps->lx.tok.t == T_EOF ||
	    lex_is(&ps->lx, T_PUNCT, "}");
}

/*
 * The keyword at the token in tab, consumed, its first place noted in
 * seen; anything else is an error listing the table (and "tail").
 */
static const struct kw *
keyword(struct parser *ps, const struct kw *tab, size_t n, struct pos *seen,
    const char *tail)
{
	const char *cands[KW_MAX];
	char what[200];
	size_t len = 0;

	for (size_t i = 0; i < n; i++) {
		if (!lex_is(&ps->lx, T_WORD, tab[i].name))
			continue;
		if (seen[i].line != 0 && !tab[i].many)
			lex_err(&ps->lx, ps->lx.tok.line, ps->lx.tok.col,
			    "%s is given twice (first at line %u)",
			    tab[i].name, seen[i].line);
		ps->at = (struct pos){ ps->lx.tok.line, ps->lx.tok.col };
		if (seen[i].line == 0)
			seen[i] = ps->at;
		lex_next(&ps->lx);
		return &tab[i];
	}
	for (size_t i = 0; i < n; i++) {
		cands[i] = tab[i].name;
		len += snprintf(what + len, sizeof(what) - len, "%s%s",
		    i == 0 ? "" : i + 1 < n || tail ? ", " : " or ", tab[i].name);
	}
	if (tail != NULL)
		snprintf(what + len, sizeof(what) - len, " or %s", tail);
	lex_unexpected(&ps->lx, what, cands, n);
}

/* Options of one statement, in any order, each once, up to the end of it. */
static void
options(struct parser *ps, const struct kw *tab, size_t n, void *arg)
{
	struct pos seen[KW_MAX] = { 0 };

	while (!at_end(ps))
		keyword(ps, tab, n, seen, "end of line")->fn(ps, arg);
}

static void
end_statement(struct parser *ps)
{
	if (ps->closed) {
		ps->closed = 0;
		return;
	}
	if (ps->lx.tok.t == T_NL)
		lex_next(&ps->lx);
	else if (!at_end(ps))
		lex_unexpected(&ps->lx, "end of line", NULL, 0);
}

/*
 * "{" statements "}": one statement a line (or ';'); seen[] tells the
 * caller which keywords were given, and where.
 */
static void
block(struct parser *ps, const struct kw *tab, size_t n, struct pos *seen,
    void *arg, const char *what, unsigned line)
{
	lex_expect(&ps->lx, T_PUNCT, "{", "'{' on the same line");
	for (;;) {
		while (ps->lx.tok.t == T_NL)
			lex_next(&ps->lx);
		if (lex_is(&ps->lx, T_PUNCT, "}"))
			break;
		if (ps->lx.tok.t == T_EOF)
			lex_err(&ps->lx, ps->lx.tok.line, ps->lx.tok.col,
			    "expected '}' to close the %s block of line %u, found end of file",
			    what, line);
		keyword(ps, tab, n, seen, "'}'")->fn(ps, arg);
		end_statement(ps);
	}
	lex_next(&ps->lx);
	ps->closed = 1;
}

/* Values */

/* A word or a quoted string into a field of size bytes, never cut short. */
static void
value(struct parser *ps, const char *what, char *out, size_t size)
{
	size_t len;

	if (ps->lx.tok.t != T_WORD && ps->lx.tok.t != T_STRING) {
		char buf[80];

		snprintf(buf, sizeof(buf), "a value for %s", what);
		lex_unexpected(&ps->lx, buf, NULL, 0);
	}
	if ((len = strlen(ps->lx.tok.s)) == 0)
		lex_err(&ps->lx, ps->lx.tok.line, ps->lx.tok.col, "%s is empty",
		    what);
	if (len >= size)
		lex_err(&ps->lx, ps->lx.tok.line, ps->lx.tok.col,
		    "%s \"%.40s...\" is %zu bytes long, the limit is %zu",
		    what, ps->lx.tok.s, len, size - 1);
	memcpy(out, ps->lx.tok.s, len + 1);
	lex_next(&ps->lx);
}

static void
path(struct parser *ps, const char *what, char *out, size_t size)
{
	unsigned line = ps->lx.tok.line, col = ps->lx.tok.col;

	value(ps, what, out, size);
	if (out[0] != '/')
		lex_err(&ps->lx, line, col,
		    "%s \"%.60s\" is not an absolute path",
		    what, out);
}

static void
uuid(struct parser *ps, const char *what, char *out)
{
	unsigned line = ps->lx.tok.line, col = ps->lx.tok.col;
	char buf[LEX_TOK_MAX];

	value(ps, what, buf, sizeof(buf));
	if (!xgw_uuid_valid(buf))
		lex_err(&ps->lx, line, col,
		    "%s '%.60s' is not an identity: expected urn:uuid: and a lower-case UUID",
		    what, buf);
	memcpy(out, buf, 46);
}

static uint16_t
port(struct parser *ps)
{
	return lex_number(&ps->lx, "port", 1, 65535);
}

/*
 * N followed by a unit from units[] (multipliers in mult[]); the result
 * in [min, max].  The message shows the limits in the units of hint.
 */
static uint64_t
scaled(struct parser *ps, const char *what, const char *const *units,
    const uint64_t *mult, size_t nunits, uint64_t min, uint64_t max,
    const char *range)
{
	const char *s = ps->lx.tok.s, *u = s;
	uint64_t v;
	size_t i = nunits;

	if (ps->lx.tok.t == T_WORD) {
		for (u = s; *u >= '0' && *u <= '9'; u++)
			;
		for (i = 0; i < nunits; i++)
			if (strcmp(u, units[i]) == 0)
				break;
	}
	if (i == nunits || xgw_parse_uint(s, u - s, max / mult[i], &v) == -1 ||
	    v * mult[i] < min || v * mult[i] > max) {
		char buf[80];

		lex_err(&ps->lx, ps->lx.tok.line, ps->lx.tok.col,
		    "%s: expected %s, found %s", what, range,
		    lex_found(&ps->lx.tok, buf, sizeof(buf)));
	}
	lex_next(&ps->lx);
	return v * mult[i];
}

static unsigned
duration_ms(struct parser *ps, const char *what, unsigned min, unsigned max,
    const char *range)
{
	static const char *const units[] = { "ms", "s", "m" };
	static const uint64_t mult[] = { 1, 1000, 60000 };

	return scaled(ps, what, units, mult, 3, min, max, range);
}

static uint64_t
size(struct parser *ps, const char *what, uint64_t min, uint64_t max,
    const char *range)
{
	static const char *const units[] = { "", "K", "M", "G" };
	static const uint64_t mult[] = { 1, 1ull << 10, 1ull << 20, 1ull << 30 };

	return scaled(ps, what, units, mult, 4, min, max, range);
}

static const struct proto *
proto_of(const struct conf_adapter *a)
{
	for (size_t i = 0; i < NPROTOS; i++)
		if (strcmp(protos[i].name, a->proto) == 0)
			return &protos[i];
	return NULL;
}

/* Top level */

static void
st_gateway(struct parser *ps, void *arg)
{
	struct xgw_conf *c = arg;

	uuid(ps, "gateway", c->gateway);
}

static void
st_state_dir(struct parser *ps, void *arg)
{
	struct xgw_conf *c = arg;

	path(ps, "state-dir", c->state_dir, sizeof(c->state_dir));
}

static void
st_user(struct parser *ps, void *arg)
{
	struct xgw_conf *c = arg;
	unsigned line = ps->lx.tok.line, col = ps->lx.tok.col;

	value(ps, "user", c->user, sizeof(c->user));
	for (const char *p = c->user; *p != '\0'; p++)
		if (!namec((unsigned char)*p) && *p != '-' && *p != '.')
			lex_err(&ps->lx, line, col,
			    "user \"%.60s\" is not a user name (letters, digits, _ - .)",
			    c->user);
}

static void
st_control(struct parser *ps, void *arg)
{
	struct xgw_conf *c = arg;

	path(ps, "control", c->control, sizeof(c->control));
}

static void
st_rules(struct parser *ps, void *arg)
{
	struct xgw_conf *c = arg;

	path(ps, "rules", c->rules, sizeof(c->rules));
}

static void
op_spool_max(struct parser *ps, void *arg)
{
	struct xgw_conf *c = arg;

	c->spool_max = size(ps, "spool max", SPOOL_MIN, SPOOL_LIMIT,
	    "a size 1M..1024G (K, M, G: 1024-based)");
}

static const struct kw spool_opts[] = {
	{ "max", op_spool_max, 0 },
};

static void
st_spool(struct parser *ps, void *arg)
{
	struct xgw_conf *c = arg;

	path(ps, "spool", c->spool_dir, sizeof(c->spool_dir));
	options(ps, spool_opts, 1, c);
}

/* xmpp { } */

static void
op_server_port(struct parser *ps, void *arg)
{
	struct xgw_conf *c = arg;

	c->xmpp.port = port(ps);
}

static void
op_server_tls(struct parser *ps, void *arg)
{
	static const char *const modes[] = { "starttls", "direct" };
	static const char *const off[] = { "none", "off", "no", "plain",
	    "disable", "disabled", "false" };
	struct xgw_conf *c = arg;

	for (size_t i = 0; i < sizeof(off) / sizeof(off[0]); i++)
		if (lex_is(&ps->lx, T_WORD, off[i]))
			lex_err(&ps->lx, ps->lx.tok.line, ps->lx.tok.col,
			    "tls %s: TLS is mandatory and cannot be turned off; use tls starttls (port 5222) or tls direct (port 5223)",
			    off[i]);
	if (lex_is(&ps->lx, T_WORD, "starttls"))
		c->xmpp.tls = CONF_STARTTLS;
	else if (lex_is(&ps->lx, T_WORD, "direct"))
		c->xmpp.tls = CONF_DIRECT_TLS;
	else
		lex_unexpected(&ps->lx, "starttls or direct", modes, 2);
	lex_next(&ps->lx);
}

static const struct kw server_opts[] = {
	{ "port", op_server_port, 0 },
	{ "tls", op_server_tls, 0 },
};

static void
st_server(struct parser *ps, void *arg)
{
	struct xgw_conf *c = arg;

	value(ps, "server", c->xmpp.server, sizeof(c->xmpp.server));
	options(ps, server_opts, 2, c);
}

static void
st_ca(struct parser *ps, void *arg)
{
	struct xgw_conf *c = arg;

	path(ps, "ca", c->xmpp.ca, sizeof(c->xmpp.ca));
}

/* The second half of a pair (certificate/key, jid/password), on the same line. */
static void
pair(struct parser *ps, const char *first, const char *second, char *out,
    size_t size, int is_path)
{
	char what[80];

	snprintf(what, sizeof(what), "'%s' and its value after %s", second,
	    first);
	lex_expect(&ps->lx, T_WORD, second, what);
	if (is_path)
		path(ps, second, out, size);
	else
		value(ps, second, out, size);
}

static void
st_certificate(struct parser *ps, void *arg)
{
	struct xgw_conf *c = arg;

	path(ps, "certificate", c->xmpp.cert, sizeof(c->xmpp.cert));
	pair(ps, "certificate", "key", c->xmpp.key, sizeof(c->xmpp.key), 1);
}

static void
st_jid(struct parser *ps, void *arg)
{
	struct xgw_conf *c = arg;
	unsigned line = ps->lx.tok.line, col = ps->lx.tok.col;
	const char *at;

	value(ps, "jid", c->xmpp.jid, sizeof(c->xmpp.jid));
	at = strchr(c->xmpp.jid, '@');
	if (at == NULL || at == c->xmpp.jid || at[1] == '\0' ||
	    strchr(c->xmpp.jid, '/') != NULL)
		lex_err(&ps->lx, line, col,
		    "jid \"%.60s\" is not a bare JID (user@domain)",
		    c->xmpp.jid);
	pair(ps, "jid", "password", c->xmpp.password,
	    sizeof(c->xmpp.password), 0);
}

static void
st_broker(struct parser *ps, void *arg)
{
	struct xgw_conf *c = arg;

	value(ps, "broker", c->xmpp.broker, sizeof(c->xmpp.broker));
}

static void
st_ping(struct parser *ps, void *arg)
{
	struct xgw_conf *c = arg;
	unsigned line = ps->lx.tok.line, col = ps->lx.tok.col;
	unsigned ms = duration_ms(ps, "ping", 1000, PING_MAX_S * 1000,
	    "a duration 1s..60m");

	if (ms % 1000 != 0)
		lex_err(&ps->lx, line, col,
		    "ping: %ums is not a whole number of seconds",
		    ms);
	c->xmpp.ping_s = ms / 1000;
}

static void
st_window(struct parser *ps, void *arg)
{
	struct xgw_conf *c = arg;

	c->xmpp.window = lex_number(&ps->lx, "window", 1, WINDOW_MAX);
}

enum { X_SERVER, X_CA, X_CERT, X_JID, X_BROKER, X_PING, X_WINDOW, X_N };

static const struct kw xmpp_kws[X_N] = {
	[X_SERVER] = { "server", st_server, 0 },
	[X_CA] = { "ca", st_ca, 0 },
	[X_CERT] = { "certificate", st_certificate, 0 },
	[X_JID] = { "jid", st_jid, 0 },
	[X_BROKER] = { "broker", st_broker, 0 },
	[X_PING] = { "ping", st_ping, 0 },
	[X_WINDOW] = { "window", st_window, 0 },
};

static void
st_xmpp(struct parser *ps, void *arg)
{
	struct xgw_conf *c = arg;
	struct pos seen[X_N] = { 0 }, *later;
	unsigned line = ps->at.line, col = ps->at.col;

	block(ps, xmpp_kws, X_N, seen, c, "xmpp", line);
	if (seen[X_SERVER].line == 0)
		lex_err(&ps->lx, line, col, "xmpp: server is required");
	if (seen[X_CA].line == 0)
		lex_err(&ps->lx, line, col,
		    "xmpp: ca is required (the CA that signed the server's certificate: TLS is always verified)");
	if (seen[X_BROKER].line == 0)
		lex_err(&ps->lx, line, col,
		    "xmpp: broker is required (the broker's JID)");
	if (seen[X_CERT].line == 0 && seen[X_JID].line == 0)
		lex_err(&ps->lx, line, col,
		    "xmpp: no login: give certificate PATH key PATH (SASL EXTERNAL) or jid JID password SECRET (SCRAM)");
	if (seen[X_CERT].line != 0 && seen[X_JID].line != 0) {
		later = seen[X_CERT].line > seen[X_JID].line ||
		    (seen[X_CERT].line == seen[X_JID].line &&
		    seen[X_CERT].col > seen[X_JID].col) ?
		    &seen[X_CERT] : &seen[X_JID];
		lex_err(&ps->lx, later->line, later->col,
		    "xmpp: one login only: certificate+key (SASL EXTERNAL) or jid+password (SCRAM), not both");
	}
	if (c->xmpp.port == 0)
		c->xmpp.port = c->xmpp.tls == CONF_DIRECT_TLS ? 5223 : 5222;
}

/* adapter PROTO { } */

static void
op_listen_port(struct parser *ps, void *arg)
{
	struct conf_adapter *a = arg;

	a->listen_port = port(ps);
}

static const struct kw listen_opts[] = {
	{ "port", op_listen_port, 0 },
};

static void
st_listen(struct parser *ps, void *arg)
{
	struct conf_adapter *a = arg;
	unsigned line = ps->lx.tok.line, col = ps->lx.tok.col;
	unsigned char addr[16];

	value(ps, "listen", a->listen, sizeof(a->listen));
	if (inet_pton(AF_INET, a->listen, addr) != 1 &&
	    inet_pton(AF_INET6, a->listen, addr) != 1)
		lex_err(&ps->lx, line, col,
		    "listen '%.60s' is not an IPv4 or IPv6 address", a->listen);
	options(ps, listen_opts, 1, a);
}

static void
st_timeout(struct parser *ps, void *arg)
{
	struct conf_adapter *a = arg;

	a->timeout_ms = duration_ms(ps, "timeout", 1, TIMEOUT_MAX_MS,
	    "a duration 1ms..10m");
}

static void
st_body_max(struct parser *ps, void *arg)
{
	struct conf_adapter *a = arg;

	if (strcmp(a->proto, "http") != 0)
		lex_err(&ps->lx, ps->at.line, ps->at.col,
		    "body-max is an HTTP setting, this adapter is %s", a->proto);
	a->body_max = size(ps, "body-max", 1ull << 20, 1024ull << 30,
	    "a size 1M..1024G");
}

/* What a route matches, by protocol: a unit, a path prefix or a topic filter. */
static void
route_match(struct parser *ps, const struct conf_adapter *a, const char *m,
    unsigned line, unsigned col)
{
	const struct proto *p = proto_of(a);
	uint64_t unit;

	if (strcmp(p->name, "modbus") == 0) {
		if (strncmp(m, "unit ", 5) != 0 ||
		    xgw_parse_uint(m + 5, strlen(m + 5), 255, &unit) == -1)
			lex_err(&ps->lx, line, col,
			    "route: a Modbus route matches \"unit N\" (N 0..255), found \"%.60s\"",
			    m);
	} else if (strcmp(p->name, "mqtt") == 0) {
		if (!pol_topic_valid(m))
			lex_err(&ps->lx, line, col,
			    "route: topic filter \"%.60s\": '+' and '#' must fill a level, '#' only at the end",
			    m);
	} else if (m[0] != '/')
		lex_err(&ps->lx, line, col,
		    "route: a %s route matches a path prefix starting with '/', found \"%.60s\"",
		    p->title, m);
}

/*
 * A name of the DNS (RFC 1123 labels, lower-cased in place); one whose
 * last label is all digits must be an IPv4 address, as no top-level
 * domain is numeric.
 */
static int
dns_name(char *s)
{
	unsigned char a4[4];
	size_t label = 0;
	int numeric = 1;

	if (strlen(s) > 253)
		return 0;
	for (char *p = s;; p++) {
		if (*p == '.' || *p == '\0') {
			if (label == 0 || label > 63 || p[-1] == '-')
				return 0;
			if (*p == '\0')
				break;
			label = 0;
			numeric = 1;
			continue;
		}
		if (*p >= 'A' && *p <= 'Z')
			*p += 'a' - 'A';
		if (!namec((unsigned char)*p) && *p != '-')
			return 0;
		if (*p == '_' || (label == 0 && *p == '-'))
			return 0;
		numeric &= *p >= '0' && *p <= '9';
		label++;
	}
	return !numeric || inet_pton(AF_INET, s, a4) == 1;
}

/*
 * An HTTP route's host, in the form requests are compared in: lower case,
 * IPv6 (bare or in brackets) as "[canonical]", so that every spelling of
 * the address matches.
 */
static void
route_host(struct parser *ps, char *out, size_t size)
{
	unsigned line = ps->lx.tok.line, col = ps->lx.tok.col;
	unsigned char a6[16];
	char addr[INET6_ADDRSTRLEN];
	size_t len;

	value(ps, "host", out, size);
	len = strlen(out);
	if (out[0] == '[' && out[len - 1] == ']' && len - 2 < sizeof(addr)) {
		memcpy(addr, out + 1, len - 2);
		addr[len - 2] = '\0';
	} else
		snprintf(addr, sizeof(addr), "%s", out);
	if (strchr(out, ':') != NULL && inet_pton(AF_INET6, addr, a6) == 1 &&
	    inet_ntop(AF_INET6, a6, addr, sizeof(addr)) != NULL)
		snprintf(out, size, "[%s]", addr);
	else if (!dns_name(out))
		lex_err(&ps->lx, line, col,
		    "host \"%.60s\" is not a DNS name or an IP address", out);
}

/*
 * "host" NAME or "host" "{" NAME ... "}" after an HTTP route's prefix:
 * the names into hosts[], their places into at[]; 0 when no host is given.
 */
static int
route_hosts(struct parser *ps, const struct conf_adapter *a,
    char hosts[][256], struct pos *at)
{
	struct pos kw = { ps->lx.tok.line, ps->lx.tok.col };
	int n = 0;

	if (!lex_is(&ps->lx, T_WORD, "host"))
		return 0;
	if (strcmp(a->proto, "http") != 0)
		lex_err(&ps->lx, kw.line, kw.col,
		    "route host is an HTTP setting, this adapter is %s", a->proto);
	lex_next(&ps->lx);
	if (!lex_is(&ps->lx, T_PUNCT, "{")) {
		at[0] = (struct pos){ ps->lx.tok.line, ps->lx.tok.col };
		route_host(ps, hosts[0], 256);
		return 1;
	}
	lex_next(&ps->lx);
	for (;;) {
		while (ps->lx.tok.t == T_NL)
			lex_next(&ps->lx);
		if (lex_is(&ps->lx, T_PUNCT, "}"))
			break;
		if (n == CONF_MAX_ROUTES)
			lex_err(&ps->lx, ps->lx.tok.line, ps->lx.tok.col,
			    "route: more than %d hosts", CONF_MAX_ROUTES);
		at[n] = (struct pos){ ps->lx.tok.line, ps->lx.tok.col };
		route_host(ps, hosts[n++], 256);
	}
	if (n == 0)
		lex_err(&ps->lx, kw.line, kw.col,
		    "route: the host list is empty");
	lex_next(&ps->lx);
	return n;
}

/* One route; a host list gives one route per host, as pf expands lists. */
static void
route_add(struct parser *ps, struct conf_adapter *a, const char *match,
    const char *host, const char *to, uint64_t body_max, struct pos at)
{
	struct conf_route *r;

	if (a->nroutes == CONF_MAX_ROUTES)
		lex_err(&ps->lx, ps->at.line, ps->at.col,
		    "adapter %s: more than %d routes", a->proto,
		    CONF_MAX_ROUTES);
	for (int i = 0; i < a->nroutes; i++) {
		if (strcmp(a->routes[i].match, match) != 0 ||
		    strcmp(a->routes[i].host, host) != 0)
			continue;
		if (host[0] != '\0')
			lex_err(&ps->lx, at.line, at.col,
			    "route \"%.60s\" host \"%.60s\" is given twice",
			    match, host);
		lex_err(&ps->lx, at.line, at.col,
		    "route \"%.60s\" is given twice",
		    match);
	}
	r = &a->routes[a->nroutes++];
	memcpy(r->match, match, strlen(match) + 1);
	memcpy(r->host, host, strlen(host) + 1);
	memcpy(r->to, to, sizeof(r->to));
	r->body_max = body_max;
}

/* An HTTP route's own body-max, after its endpoint: 0 when none is given. */
static uint64_t
route_body_max(struct parser *ps, const struct conf_adapter *a)
{
	struct pos kw = { ps->lx.tok.line, ps->lx.tok.col };

	if (!lex_is(&ps->lx, T_WORD, "body-max"))
		return 0;
	if (strcmp(a->proto, "http") != 0)
		lex_err(&ps->lx, kw.line, kw.col,
		    "route body-max is an HTTP setting, this adapter is %s",
		    a->proto);
	lex_next(&ps->lx);
	return size(ps, "route body-max", 1ull << 20, 1024ull << 30,
	    "a size 1M..1024G");
}

static void
st_route(struct parser *ps, void *arg)
{
	struct conf_adapter *a = arg;
	struct pos m = { ps->lx.tok.line, ps->lx.tok.col }, at[CONF_MAX_ROUTES];
	char match[sizeof(a->routes[0].match)], to[sizeof(a->routes[0].to)];
	char hosts[CONF_MAX_ROUTES][256];
	uint64_t body_max;
	int n;

	value(ps, "route", match, sizeof(match));
	route_match(ps, a, match, m.line, m.col);
	n = route_hosts(ps, a, hosts, at);
	lex_expect(&ps->lx, T_WORD, "to",
	    "'to' and the remote endpoint's urn:uuid:");
	uuid(ps, "route to", to);
	body_max = route_body_max(ps, a);
	if (n == 0)
		route_add(ps, a, match, "", to, body_max, m);
	for (int i = 0; i < n; i++)
		route_add(ps, a, match, hosts[i], to, body_max, at[i]);
}

static void
op_dev_host(struct parser *ps, void *arg)
{
	struct conf_device *d = arg;

	value(ps, "host", d->host, sizeof(d->host));
}

static void
op_dev_port(struct parser *ps, void *arg)
{
	struct conf_device *d = arg;

	d->port = port(ps);
}

static void
op_dev_unit(struct parser *ps, void *arg)
{
	struct conf_device *d = arg;

	d->unit = lex_number(&ps->lx, "unit", 0, 255);
}

static void
op_dev_timeout(struct parser *ps, void *arg)
{
	struct conf_device *d = arg;

	d->timeout_ms = duration_ms(ps, "timeout", 1, TIMEOUT_MAX_MS,
	    "a duration 1ms..10m");
}

static void
op_dev_body_max(struct parser *ps, void *arg)
{
	struct conf_device *d = arg;

	d->body_max = size(ps, "device body-max", 1ull << 20, 1024ull << 30,
	    "a size 1M..1024G");
}

static int
is_mqtt(const struct conf_adapter *a)
{
	return strcmp(a->proto, "mqtt") == 0;
}

static uint8_t
mqtt_version(struct parser *ps)
{
	uint8_t v = lex_is(&ps->lx, T_WORD, "4") ? 4 :
	    lex_is(&ps->lx, T_WORD, "5") ? 5 : 0;
	char buf[80];

	if (v == 0)
		lex_err(&ps->lx, ps->lx.tok.line, ps->lx.tok.col,
		    "version: expected 4 (MQTT 3.1.1) or 5 (MQTT 5.0), found %s",
		    lex_found(&ps->lx.tok, buf, sizeof(buf)));
	lex_next(&ps->lx);
	return v;
}

static void
op_dev_version(struct parser *ps, void *arg)
{
	struct conf_device *d = arg;

	d->version = mqtt_version(ps);
}

/* The options after D_N are an MQTT device's only. */
enum { D_HOST, D_PORT, D_UNIT, D_TIMEOUT, D_BODY_MAX, D_N, D_VERSION = D_N,
    D_N_MQTT };

static const struct kw device_opts[D_N_MQTT] = {
	[D_HOST] = { "host", op_dev_host, 0 },
	[D_PORT] = { "port", op_dev_port, 0 },
	[D_UNIT] = { "unit", op_dev_unit, 0 },
	[D_TIMEOUT] = { "timeout", op_dev_timeout, 0 },
	[D_BODY_MAX] = { "body-max", op_dev_body_max, 0 },
	[D_VERSION] = { "version", op_dev_version, 0 },
};

/* A device UUID names one endpoint: no other device of any adapter has it. */
static void
device_unique(struct parser *ps, const char *id, unsigned line, unsigned col)
{
	const struct xgw_conf *c = ps->conf;

	for (int i = 0; i < c->nadapters + 1 && i < CONF_MAX_ADAPTERS; i++)
		for (int j = 0; j < c->adapters[i].ndevices; j++)
			if (strcmp(c->adapters[i].devices[j].uuid, id) == 0)
				lex_err(&ps->lx, line, col,
				    "device %s is already used by a %s device",
				    id, c->adapters[i].proto);
}

static void
st_device(struct parser *ps, void *arg)
{
	struct conf_adapter *a = arg;
	struct conf_device *d;
	struct pos at = ps->at, seen[D_N_MQTT] = { 0 };
	unsigned line = ps->lx.tok.line, col = ps->lx.tok.col;
	size_t nopts = is_mqtt(a) ? D_N_MQTT : D_N;

	if (a->ndevices == CONF_MAX_DEVICES)
		lex_err(&ps->lx, at.line, at.col,
		    "adapter %s: more than %d devices",
		    a->proto, CONF_MAX_DEVICES);
	d = &a->devices[a->ndevices];
	uuid(ps, "device", d->uuid);
	device_unique(ps, d->uuid, line, col);
	d->unit = -1;
	d->version = is_mqtt(a) ? 5 : 0;
	while (!at_end(ps))
		keyword(ps, device_opts, nopts, seen, "end of line")->fn(ps, d);
	if (seen[D_HOST].line == 0)
		lex_err(&ps->lx, at.line, at.col, "device %s: host is required",
		    d->uuid);
	if (seen[D_UNIT].line != 0 && strcmp(a->proto, "modbus") != 0)
		lex_err(&ps->lx, seen[D_UNIT].line, seen[D_UNIT].col,
		    "unit is a Modbus setting, this adapter is %s", a->proto);
	if (seen[D_BODY_MAX].line != 0 && strcmp(a->proto, "http") != 0)
		lex_err(&ps->lx, seen[D_BODY_MAX].line, seen[D_BODY_MAX].col,
		    "device body-max is an HTTP setting, this adapter is %s",
		    a->proto);
	if (d->port == 0)
		d->port = proto_of(a)->port;
	a->ndevices++;
}

/* poll UUID every DURATION { point ... } */

static const struct conf_device *
device_of(const struct conf_adapter *a, const char *uuid)
{
	for (int i = 0; i < a->ndevices; i++)
		if (strcmp(a->devices[i].uuid, uuid) == 0)
			return &a->devices[i];
	return NULL;
}

static int
is_bits(unsigned table)
{
	return table == CONF_COILS || table == CONF_DISCRETE;
}

unsigned
conf_point_span(const struct conf_point *pt)
{
	return pt->count * (pt->type >= CONF_UINT32 ? 2u : 1u);
}

static void
op_pt_count(struct parser *ps, void *arg)
{
	struct conf_point *pt = arg;

	pt->count = lex_number(&ps->lx, "count", 1, BITS_MAX);
}

/* A reading's name; "[i]" is added for count > 1, so no name holds '['. */
static void
op_pt_name(struct parser *ps, void *arg)
{
	struct conf_point *pt = arg;
	unsigned line = ps->lx.tok.line, col = ps->lx.tok.col;

	value(ps, "name", pt->name, sizeof(pt->name));
	for (const char *p = pt->name; *p != '\0'; p++)
		if (!namec((unsigned char)*p) && strchr("-./", *p) == NULL)
			lex_err(&ps->lx, line, col,
			    "name \"%.60s\": letters, digits and _ - . / only",
			    pt->name);
}

static void
op_pt_type(struct parser *ps, void *arg)
{
	struct conf_point *pt = arg;
	int t;

	for (t = 0; t < CONF_NTYPES; t++)
		if (lex_is(&ps->lx, T_WORD, conf_type_names[t]))
			break;
	if (t == CONF_NTYPES)
		lex_unexpected(&ps->lx,
		    "bool, uint16, int16, uint32, int32 or float32",
		    conf_type_names, CONF_NTYPES);
	pt->type = t;
	lex_next(&ps->lx);
}

/* UCUM codes ("Cel", "m3/h", "%") are printable ASCII without spaces. */
static void
op_pt_unit(struct parser *ps, void *arg)
{
	struct conf_point *pt = arg;
	unsigned line = ps->lx.tok.line, col = ps->lx.tok.col;

	value(ps, "unit", pt->unit, sizeof(pt->unit));
	for (const char *p = pt->unit; *p != '\0'; p++)
		if (*p <= ' ' || *p > '~')
			lex_err(&ps->lx, line, col,
			    "unit \"%.60s\": printable ASCII without spaces only (a UCUM code: Cel, m3/h, %%)",
			    pt->unit);
}

/*
 * A decimal scale, kept as digits and decimals so that readings are
 * exact: 0.1 times 701 is 70.1, not 70.100000000000009.
 */
static void
op_pt_scale(struct parser *ps, void *arg)
{
	struct conf_point *pt = arg;
	const char *s = ps->lx.tok.s, *p = s + (*s == '-');
	int64_t v = 0;
	int sig = 0, dec = -1, ok = ps->lx.tok.t == T_WORD && *p != '\0';
	char buf[80];

	for (; ok && *p != '\0'; p++) {
		if (*p == '.' && dec == -1 && p[1] != '\0')
			dec = 0;
		else if (*p >= '0' && *p <= '9') {
			v = v * 10 + (*p - '0');
			sig += v != 0;
			dec += dec != -1;
			ok = sig <= SCALE_DIGITS && dec <= SCALE_DIGITS;
		} else
			ok = 0;
	}
	if (!ok || v == 0)
		lex_err(&ps->lx, ps->lx.tok.line, ps->lx.tok.col,
		    "scale: expected a decimal number other than 0, at most %d digits (0.1, -2.5, 1000), found %s",
		    SCALE_DIGITS, lex_found(&ps->lx.tok, buf, sizeof(buf)));
	/* the normal form: 0.50 is 0.5 */
	for (dec = dec == -1 ? 0 : dec; dec > 0 && v % 10 == 0; dec--)
		v /= 10;
	pt->digits = *s == '-' ? -v : v;
	pt->decimals = dec;
	lex_next(&ps->lx);
}

enum { O_COUNT, O_NAME, O_TYPE, O_UNIT, O_SCALE, O_N };

static const struct kw point_opts[O_N] = {
	[O_COUNT] = { "count", op_pt_count, 0 },
	[O_NAME] = { "name", op_pt_name, 0 },
	[O_TYPE] = { "type", op_pt_type, 0 },
	[O_UNIT] = { "unit", op_pt_unit, 0 },
	[O_SCALE] = { "scale", op_pt_scale, 0 },
};

/* Readings are told apart by name: unique among all the polls of a device. */
static void
point_name_unique(struct parser *ps, const struct conf_adapter *a,
    const char *device, const struct pos *at)
{
	const char *name = a->points[a->npoints].name;

	for (int i = 0; i <= a->npolls && i < CONF_MAX_POLLS; i++) {
		const struct conf_poll *p = &a->polls[i];
		int end = i == a->npolls ? a->npoints : p->first + p->npoints;

		if (strcmp(p->device, device) != 0)
			continue;
		for (int j = p->first; j < end; j++)
			if (strcmp(a->points[j].name, name) == 0)
				lex_err(&ps->lx, at->line, at->col,
				    "name \"%s\" is given twice for device %s",
				    name, device);
	}
}

/* The checks that need the whole statement. */
static void
point_check(struct parser *ps, const struct conf_point *pt,
    const struct pos *at, const struct pos *seen)
{
	unsigned max = is_bits(pt->table) ? BITS_MAX : REGS_MAX;
	const char *what = table_names[pt->table];

	if (seen[O_NAME].line == 0)
		lex_err(&ps->lx, at->line, at->col, "%s %u: name is required",
		    what,
		    pt->address);
	if (is_bits(pt->table) != (pt->type == CONF_BOOL))
		lex_err(&ps->lx, seen[O_TYPE].line, seen[O_TYPE].col,
		    "type %s: %s", conf_type_names[pt->type],
		    is_bits(pt->table) ? "coils and discrete inputs are bool" :
		    "registers are uint16, int16, uint32, int32 or float32");
	if (is_bits(pt->table) && seen[O_SCALE].line != 0)
		lex_err(&ps->lx, seen[O_SCALE].line, seen[O_SCALE].col,
		    "scale is for registers, not for %ss", what);
	if (conf_point_span(pt) > max)
		lex_err(&ps->lx, at->line, at->col,
		    "%s %u: %u values of %s span %u %s, one read takes at most %u",
		    what, pt->address, pt->count, conf_type_names[pt->type],
		    conf_point_span(pt), is_bits(pt->table) ? "bits" :
		    "registers", max);
	if (pt->address + conf_point_span(pt) > 65536)
		lex_err(&ps->lx, at->line, at->col,
		    "%s %u: %u values run past address 65535",
		    what, pt->address, pt->count);
}

static void
point(struct parser *ps, struct conf_adapter *a, enum conf_table table)
{
	struct pos at = ps->at, seen[O_N] = { 0 };
	struct conf_point *pt;

	if (a->npoints == CONF_MAX_POINTS)
		lex_err(&ps->lx, at.line, at.col,
		    "adapter %s: more than %d points in its polls",
		    a->proto, CONF_MAX_POINTS);
	pt = &a->points[a->npoints];
	pt->table = table;
	pt->address = lex_number(&ps->lx, "address", 0, 65535);
	pt->count = 1;
	pt->type = is_bits(table) ? CONF_BOOL : CONF_UINT16;
	pt->digits = 1;
	while (!at_end(ps))
		keyword(ps, point_opts, O_N, seen, "end of line")->fn(ps, pt);
	point_check(ps, pt, &at, seen);
	point_name_unique(ps, a, a->polls[a->npolls].device, &seen[O_NAME]);
	a->npoints++;
}

static void
pt_coil(struct parser *ps, void *arg)
{
	point(ps, arg, CONF_COILS);
}

static void
pt_discrete(struct parser *ps, void *arg)
{
	point(ps, arg, CONF_DISCRETE);
}

static void
pt_holding(struct parser *ps, void *arg)
{
	point(ps, arg, CONF_HOLDING);
}

static void
pt_input(struct parser *ps, void *arg)
{
	point(ps, arg, CONF_INPUT);
}

static const struct kw point_kws[] = {
	{ "coil", pt_coil, 1 },
	{ "discrete", pt_discrete, 1 },
	{ "holding", pt_holding, 1 },
	{ "input", pt_input, 1 },
};
#define NPOINT_KWS	(sizeof(point_kws) / sizeof(point_kws[0]))

static void
st_poll(struct parser *ps, void *arg)
{
	struct conf_adapter *a = arg;
	struct pos at = ps->at, seen[NPOINT_KWS] = { 0 };
	unsigned line = ps->lx.tok.line, col = ps->lx.tok.col, values = 0;
	struct conf_poll *p;

	if (strcmp(a->proto, "modbus") != 0)
		lex_err(&ps->lx, at.line, at.col,
		    "poll is a Modbus setting, this adapter is %s", a->proto);
	if (a->npolls == CONF_MAX_POLLS)
		lex_err(&ps->lx, at.line, at.col,
		    "adapter %s: more than %d polls",
		    a->proto, CONF_MAX_POLLS);
	p = &a->polls[a->npolls];
	uuid(ps, "poll", p->device);
	if (device_of(a, p->device) == NULL)
		lex_err(&ps->lx, line, col,
		    "poll %s: no device above in this adapter has this UUID",
		    p->device);
	lex_expect(&ps->lx, T_WORD, "every", "'every' and the interval");
	p->every_ms = duration_ms(ps, "every", 10, EVERY_MAX_MS,
	    "a duration 10ms..60m");
	p->first = a->npoints;
	block(ps, point_kws, NPOINT_KWS, seen, a, "poll", at.line);
	p->npoints = a->npoints - p->first;
	if (p->npoints == 0)
		lex_err(&ps->lx, at.line, at.col,
		    "poll %s reads nothing: give coil, discrete, holding or input lines",
		    p->device);
	for (int i = p->first; i < a->npoints; i++)
		values += a->points[i].count;
	if (values > POLL_VALUES_MAX)
		lex_err(&ps->lx, at.line, at.col,
		    "poll %s: %u values, more than %d: a poll is one event stanza; split it in several",
		    p->device, values, POLL_VALUES_MAX);
	a->npolls++;
}

/* adapter mqtt { }: its own statements */

/*
 * A topic prefix: text a topic may hold (UTF-8, no control characters)
 * and no wildcards.  Only a replacement may be "": it strips the prefix.
 */
static void
topic_prefix(struct parser *ps, const char *what, char *out, size_t size,
    int empty_ok)
{
	unsigned line = ps->lx.tok.line, col = ps->lx.tok.col;

	if (empty_ok && lex_is(&ps->lx, T_STRING, "")) {
		out[0] = '\0';
		lex_next(&ps->lx);
		return;
	}
	value(ps, what, out, size);
	if (!xgw_text_safe((const uint8_t *)out, strlen(out)) ||
	    strpbrk(out, "+#") != NULL)
		lex_err(&ps->lx, line, col,
		    "%s \"%.60s\": a topic prefix holds no '+', '#' or control characters",
		    what, out);
}

/* topic out|in PREFIX REPLACEMENT */
static void
st_topic(struct parser *ps, void *arg)
{
	static const char *const dirs[] = { [CONF_OUT] = "out", [CONF_IN] = "in" };
	struct conf_mqtt *m = &((struct conf_adapter *)arg)->mqtt;
	struct conf_topic *t;
	unsigned line, col;

	if (m->ntopics == CONF_MAX_TOPICS)
		lex_err(&ps->lx, ps->at.line, ps->at.col,
		    "adapter mqtt: more than %d topic remappings", CONF_MAX_TOPICS);
	t = &m->topics[m->ntopics];
	if (lex_is(&ps->lx, T_WORD, "out") || lex_is(&ps->lx, T_WORD, "in"))
		t->dir = lex_is(&ps->lx, T_WORD, "out") ? CONF_OUT : CONF_IN;
	else
		lex_unexpected(&ps->lx, "out or in", dirs, 2);
	lex_next(&ps->lx);
	line = ps->lx.tok.line;
	col = ps->lx.tok.col;
	topic_prefix(ps, "topic prefix", t->from, sizeof(t->from), 0);
	for (int i = 0; i < m->ntopics; i++)
		if (m->topics[i].dir == t->dir &&
		    strcmp(m->topics[i].from, t->from) == 0)
			lex_err(&ps->lx, line, col,
			    "topic %s \"%.60s\" is given twice",
			    dirs[t->dir], t->from);
	topic_prefix(ps, "topic replacement", t->to, sizeof(t->to), 1);
	m->ntopics++;
}

static void
st_mqtt_version(struct parser *ps, void *arg)
{
	struct conf_adapter *a = arg;

	a->mqtt.version = mqtt_version(ps);
}

/* tls ca PATH [certificate PATH key PATH] */
static void
st_mqtt_tls(struct parser *ps, void *arg)
{
	struct conf_mqtt *m = &((struct conf_adapter *)arg)->mqtt;

	lex_expect(&ps->lx, T_WORD, "ca",
	    "'ca' and the CA that signed the brokers' certificates");
	path(ps, "tls ca", m->ca, sizeof(m->ca));
	if (at_end(ps))
		return;
	lex_expect(&ps->lx, T_WORD, "certificate",
	    "'certificate' or end of line");
	path(ps, "certificate", m->cert, sizeof(m->cert));
	pair(ps, "certificate", "key", m->key, sizeof(m->key), 1);
}

static void
st_client_id(struct parser *ps, void *arg)
{
	struct conf_mqtt *m = &((struct conf_adapter *)arg)->mqtt;
	unsigned line = ps->lx.tok.line, col = ps->lx.tok.col;

	value(ps, "client-id", m->client_id, sizeof(m->client_id));
	for (const char *p = m->client_id; *p != '\0'; p++)
		if (!namec((unsigned char)*p) && strchr("-.:", *p) == NULL)
			lex_err(&ps->lx, line, col,
			    "client-id \"%.60s\": letters, digits and _ - . : only",
			    m->client_id);
}

static void
st_session_expiry(struct parser *ps, void *arg)
{
	static const char *const units[] = { "s", "m", "h", "d" };
	static const uint64_t mult[] = { 1, 60, 3600, 86400 };
	struct conf_mqtt *m = &((struct conf_adapter *)arg)->mqtt;

	m->session_expiry_s = scaled(ps, "session-expiry", units, mult, 4, 0,
	    SESSION_MAX_S, "a duration 0s..365d (s, m, h, d)");
}

static void
st_receive_max(struct parser *ps, void *arg)
{
	struct conf_mqtt *m = &((struct conf_adapter *)arg)->mqtt;

	m->receive_max = lex_number(&ps->lx, "receive-maximum", 1, 65535);
}

/* The keywords after A_N are the mqtt block's only. */
enum { A_LISTEN, A_TIMEOUT, A_BODY_MAX, A_ROUTE, A_DEVICE, A_POLL, A_N,
    M_TOPIC = A_N, M_VERSION, M_TLS, M_CLIENT_ID, M_SESSION, M_RECEIVE, M_N };

static const struct kw adapter_kws[M_N] = {
	[A_LISTEN] = { "listen", st_listen, 0 },
	[A_TIMEOUT] = { "timeout", st_timeout, 0 },
	[A_BODY_MAX] = { "body-max", st_body_max, 0 },
	[A_ROUTE] = { "route", st_route, 1 },
	[A_DEVICE] = { "device", st_device, 1 },
	[A_POLL] = { "poll", st_poll, 1 },
	[M_TOPIC] = { "topic", st_topic, 1 },
	[M_VERSION] = { "version", st_mqtt_version, 0 },
	[M_TLS] = { "tls", st_mqtt_tls, 0 },
	[M_CLIENT_ID] = { "client-id", st_client_id, 0 },
	[M_SESSION] = { "session-expiry", st_session_expiry, 0 },
	[M_RECEIVE] = { "receive-maximum", st_receive_max, 0 },
};

static void
mqtt_defaults(struct conf_mqtt *m, const struct pos *seen)
{
	if (m->version == 0)
		m->version = 5;
	if (seen[M_SESSION].line == 0)
		m->session_expiry_s = DFLT_SESSION_S;
	if (m->receive_max == 0)
		m->receive_max = DFLT_RECEIVE_MAX;
}

static void
adapter_proto(struct parser *ps, struct conf_adapter *a)
{
	const char *cands[NPROTOS];
	size_t i;

	for (i = 0; i < NPROTOS; i++) {
		cands[i] = protos[i].name;
		if (lex_is(&ps->lx, T_WORD, protos[i].name))
			break;
	}
	if (i == NPROTOS) {
		const char *near = ps->lx.tok.t == T_WORD ?
		    pol_closest(ps->lx.tok.s, cands, NPROTOS) : NULL;
		char buf[80];

		lex_err(&ps->lx, ps->lx.tok.line, ps->lx.tok.col,
		    "unknown protocol %s: expected modbus, coap, mqtt or http%s%s%s",
		    lex_found(&ps->lx.tok, buf, sizeof(buf)),
		    near ? " (did you mean " : "", near ? near : "",
		    near ? "?)" : "");
	}
	for (int j = 0; j < ps->conf->nadapters; j++)
		if (strcmp(ps->conf->adapters[j].proto, protos[i].name) == 0)
			lex_err(&ps->lx, ps->lx.tok.line, ps->lx.tok.col,
			    "adapter %s is defined twice (first at line %u)",
			    protos[i].name, ps->conf->adapters[j].line);
	memcpy(a->proto, protos[i].name, strlen(protos[i].name) + 1);
	lex_next(&ps->lx);
}

static void
st_adapter(struct parser *ps, void *arg)
{
	struct xgw_conf *c = arg;
	struct conf_adapter *a;
	struct pos seen[M_N] = { 0 };
	unsigned line = ps->at.line, col = ps->at.col;

	if (ps->adapter_only && c->nadapters == 1)
		lex_err(&ps->lx, line, col,
		    "one adapter block only is expected here");
	a = &c->adapters[c->nadapters];
	a->line = line;
	a->timeout_ms = DFLT_TIMEOUT_MS;
	a->body_max = DFLT_BODY_MAX;
	adapter_proto(ps, a);
	block(ps, adapter_kws, is_mqtt(a) ? M_N : A_N, seen, a, "adapter",
	    line);
	if (seen[A_LISTEN].line == 0 && seen[A_DEVICE].line == 0)
		lex_err(&ps->lx, line, col,
		    "adapter %s has neither listen nor device: nothing to serve",
		    a->proto);
	if (seen[A_LISTEN].line == 0 && seen[A_ROUTE].line != 0)
		lex_err(&ps->lx, seen[A_ROUTE].line, seen[A_ROUTE].col,
		    "route needs listen: routes carry the requests of local clients");
	if (a->listen[0] != '\0' && a->listen_port == 0)
		a->listen_port = proto_of(a)->port;
	for (int i = 0; i < a->ndevices; i++)
		if (a->devices[i].timeout_ms == 0)
			a->devices[i].timeout_ms = a->timeout_ms;
	if (is_mqtt(a))
		mqtt_defaults(&a->mqtt, seen);
	c->nadapters++;
}

/*
 * Sorted by table and address, each point joins the read before it when
 * it touches or overlaps it and the read stays within one request's
 * limit; else it starts a read of its own.  So every point is read whole
 * by one request (a 32-bit value is never torn between two), and gaps,
 * which a PLC may refuse to read, are never bridged.
 */
int
conf_poll_merge(const struct conf_point *pts, int n, struct conf_read *reads,
    int *read_of)
{
	int order[CONF_MAX_POINTS], nr = 0;

	for (int i = 0; i < n && i < CONF_MAX_POINTS; i++) {
		int j = i;

		for (; j > 0 && (pts[order[j - 1]].table > pts[i].table ||
		    (pts[order[j - 1]].table == pts[i].table &&
		    pts[order[j - 1]].address > pts[i].address)); j--)
			order[j] = order[j - 1];
		order[j] = i;
	}
	for (int k = 0; k < n && k < CONF_MAX_POINTS; k++) {
		const struct conf_point *pt = &pts[order[k]];
		struct conf_read *r = nr > 0 ? &reads[nr - 1] : NULL;
		unsigned end = pt->address + conf_point_span(pt);
		unsigned max = is_bits(pt->table) ? BITS_MAX : REGS_MAX;

		if (r != NULL && r->table == pt->table &&
		    pt->address <= r->address + r->quantity &&
		    end - r->address <= max) {
			if (end > (unsigned)r->address + r->quantity)
				r->quantity = end - r->address;
		} else {
			r = &reads[nr++];
			r->table = pt->table;
			r->address = pt->address;
			r->quantity = end - pt->address;
		}
		read_of[order[k]] = nr - 1;
	}
	return nr;
}

void
conf_decimal(char *buf, size_t len, int64_t digits, unsigned decimals)
{
	uint64_t a = digits < 0 ? -(uint64_t)digits : (uint64_t)digits, p = 1;

	for (unsigned i = 0; i < decimals; i++)
		p *= 10;
	if (decimals == 0)
		snprintf(buf, len, "%s%llu", digits < 0 ? "-" : "",
		    (unsigned long long)a);
	else
		snprintf(buf, len, "%s%llu.%0*llu", digits < 0 ? "-" : "",
		    (unsigned long long)(a / p), (int)decimals,
		    (unsigned long long)(a % p));
}

/* The file */

enum { C_GATEWAY, C_STATE, C_USER, C_CONTROL, C_RULES, C_SPOOL, C_XMPP,
    C_ADAPTER, C_N };

static const struct kw top_kws[C_N] = {
	[C_GATEWAY] = { "gateway", st_gateway, 0 },
	[C_STATE] = { "state-dir", st_state_dir, 0 },
	[C_USER] = { "user", st_user, 0 },
	[C_CONTROL] = { "control", st_control, 0 },
	[C_RULES] = { "rules", st_rules, 0 },
	[C_SPOOL] = { "spool", st_spool, 0 },
	[C_XMPP] = { "xmpp", st_xmpp, 0 },
	[C_ADAPTER] = { "adapter", st_adapter, 1 },
};

static void
defaults(struct xgw_conf *c)
{
	snprintf(c->state_dir, sizeof(c->state_dir), "/var/lib/xgw");
	snprintf(c->user, sizeof(c->user), "xgw");
	snprintf(c->control, sizeof(c->control), "/run/xgw/control");
	snprintf(c->rules, sizeof(c->rules), "/etc/xgw/xgw.rules");
	snprintf(c->spool_dir, sizeof(c->spool_dir), "/var/spool/xgw");
	c->spool_max = 64ull << 20;
	c->xmpp.tls = CONF_STARTTLS;
	c->xmpp.ping_s = 30;
	c->xmpp.window = 1000;
}

static void
st_macro(struct parser *ps, const char *name, unsigned line, unsigned col)
{
	for (const char *p = name; *p != '\0'; p++)
		if (!namec((unsigned char)*p))
			lex_err(&ps->lx, line, col,
			    "macro name '%.60s': letters, digits and _ only", name);
	lex_macro_define(&ps->lx, name, line, col);
}

static void
statement(struct parser *ps, struct pos *seen)
{
	char word[LEX_TOK_MAX];
	unsigned line = ps->lx.tok.line, col = ps->lx.tok.col;
	const struct kw *tab = ps->adapter_only ? &top_kws[C_ADAPTER] : top_kws;
	size_t n = ps->adapter_only ? 1 : C_N;

	for (size_t i = 0; i < n; i++)
		if (lex_is(&ps->lx, T_WORD, tab[i].name)) {
			keyword(ps, tab, n, seen, NULL)->fn(ps, ps->conf);
			return;
		}
	if (ps->lx.tok.t == T_WORD && !ps->adapter_only &&
	    lex_macro_start(&ps->lx, word)) {
		st_macro(ps, word, line, col);
		return;
	}
	keyword(ps, tab, n, seen, ps->adapter_only ? NULL : "NAME = \"value\"");
}

static void
parse_all(void *arg)
{
	struct parser *ps = arg;
	struct pos seen[C_N] = { 0 };

	lex_next(&ps->lx);
	for (;;) {
		while (ps->lx.tok.t == T_NL)
			lex_next(&ps->lx);
		if (ps->lx.tok.t == T_EOF)
			break;
		statement(ps, seen);
		if (lex_is(&ps->lx, T_PUNCT, "}"))
			lex_unexpected(&ps->lx, "end of line", NULL, 0);
		end_statement(ps);
	}
	if (ps->adapter_only && ps->conf->nadapters == 0)
		lex_err(&ps->lx, ps->lx.tok.line, ps->lx.tok.col,
		    "expected an adapter block, found end of file");
	if (!ps->adapter_only && seen[C_XMPP].line == 0)
		lex_err(&ps->lx, ps->lx.tok.line, ps->lx.tok.col,
		    "no xmpp block: the gateway needs its server, CA, login and broker");
}

static struct xgw_conf *
parse(const char *name, const char *text, size_t len, int adapter_only,
    struct conf_err *err)
{
	struct parser *ps;
	struct xgw_conf *c;
	int rc;

	memset(err, 0, sizeof(*err));
	snprintf(err->file, sizeof(err->file), "%s", name);
	if (strlen(name) >= sizeof(c->file)) {
		snprintf(err->msg, sizeof(err->msg),
		    "file name longer than %zu bytes", sizeof(c->file) - 1);
		return NULL;
	}
	if ((ps = calloc(1, sizeof(*ps))) == NULL ||
	    (c = calloc(1, sizeof(*c))) == NULL) {
		free(ps);
		snprintf(err->msg, sizeof(err->msg), "out of memory");
		return NULL;
	}
	memcpy(c->file, name, strlen(name) + 1);
	defaults(c);
	ps->conf = c;
	ps->adapter_only = adapter_only;
	lex_init(&ps->lx, &syntax, text, len, &err->line, &err->col, err->msg,
	    sizeof(err->msg));
	rc = lex_run(&ps->lx, parse_all, ps);
	free(ps);
	if (rc == -1) {
		free(c);
		return NULL;
	}
	return c;
}

struct xgw_conf *
conf_parse(const char *name, const char *text, size_t len,
    struct conf_err *err)
{
	return parse(name, text, len, 0, err);
}

struct xgw_conf *
conf_parse_adapter(const char *text, struct conf_err *err)
{
	return parse("adapter block", text, strlen(text), 1, err);
}

struct xgw_conf *
conf_load(const char *path, struct conf_err *err)
{
	struct xgw_conf *c;
	char *text;
	size_t len;

	memset(err, 0, sizeof(*err));
	snprintf(err->file, sizeof(err->file), "%s", path);
	if ((text = lex_read_file(path, CONF_FILE_MAX, &len, err->msg,
	    sizeof(err->msg))) == NULL)
		return NULL;
	c = conf_parse(path, text, len, err);
	free(text);
	return c;
}

void
conf_free(struct xgw_conf *c)
{
	free(c);
}

/* The normalized form */

static void
print_ms(FILE *f, unsigned ms)
{
	if (ms % 60000 == 0)
		fprintf(f, "%um", ms / 60000);
	else if (ms % 1000 == 0)
		fprintf(f, "%us", ms / 1000);
	else
		fprintf(f, "%ums", ms);
}

static void
print_size(FILE *f, uint64_t v)
{
	static const char units[] = "GMK";

	for (int i = 0; i < 3; i++)
		if (v % (1ull << (10 * (3 - i))) == 0) {
			fprintf(f, "%llu%c", (unsigned long long)(v >>
			    (10 * (3 - i))), units[i]);
			return;
		}
	fprintf(f, "%llu", (unsigned long long)v);
}

static void
print_poll(FILE *f, const struct conf_adapter *a, const struct conf_poll *p)
{
	char scale[32];

	fprintf(f, "\tpoll %s every ", p->device);
	print_ms(f, p->every_ms);
	fprintf(f, " {\n");
	for (int i = p->first; i < p->first + p->npoints; i++) {
		const struct conf_point *pt = &a->points[i];

		fprintf(f, "\t\t%s %u count %u name ", table_names[pt->table],
		    pt->address, pt->count);
		lex_print_quoted(f, pt->name);
		fprintf(f, " type %s", conf_type_names[pt->type]);
		if (pt->unit[0] != '\0') {
			fprintf(f, " unit ");
			lex_print_quoted(f, pt->unit);
		}
		if (!is_bits(pt->table)) {
			conf_decimal(scale, sizeof(scale), pt->digits,
			    pt->decimals);
			fprintf(f, " scale %s", scale);
		}
		fputc('\n', f);
	}
	fprintf(f, "\t}\n");
}

static void
print_seconds(FILE *f, uint32_t s)
{
	if (s != 0 && s % 86400 == 0)
		fprintf(f, "%ud", s / 86400);
	else if (s != 0 && s % 3600 == 0)
		fprintf(f, "%uh", s / 3600);
	else if (s != 0 && s % 60 == 0)
		fprintf(f, "%um", s / 60);
	else
		fprintf(f, "%us", s);
}

static void
print_mqtt(FILE *f, const struct conf_mqtt *m)
{
	fprintf(f, "\tversion %u\n", m->version);
	if (m->client_id[0] != '\0') {
		fprintf(f, "\tclient-id ");
		lex_print_quoted(f, m->client_id);
		fputc('\n', f);
	}
	fprintf(f, "\tsession-expiry ");
	print_seconds(f, m->session_expiry_s);
	fprintf(f, "\n\treceive-maximum %u\n", m->receive_max);
	if (m->ca[0] != '\0') {
		fprintf(f, "\ttls ca ");
		lex_print_quoted(f, m->ca);
		if (m->cert[0] != '\0') {
			fprintf(f, " certificate ");
			lex_print_quoted(f, m->cert);
			fprintf(f, " key ");
			lex_print_quoted(f, m->key);
		}
		fputc('\n', f);
	}
	for (int i = 0; i < m->ntopics; i++) {
		fprintf(f, "\ttopic %s ",
		    m->topics[i].dir == CONF_OUT ? "out" : "in");
		lex_print_quoted(f, m->topics[i].from);
		fputc(' ', f);
		lex_print_quoted(f, m->topics[i].to);
		fputc('\n', f);
	}
}

static void
print_adapter(FILE *f, const struct conf_adapter *a)
{
	fprintf(f, "adapter %s {\n", a->proto);
	if (a->listen[0] != '\0')
		fprintf(f, "\tlisten %s port %u\n", a->listen, a->listen_port);
	fprintf(f, "\ttimeout ");
	print_ms(f, a->timeout_ms);
	fputc('\n', f);
	if (strcmp(a->proto, "http") == 0) {
		fprintf(f, "\tbody-max ");
		print_size(f, a->body_max);
		fputc('\n', f);
	}
	for (int i = 0; i < a->nroutes; i++) {
		fprintf(f, "\troute ");
		lex_print_quoted(f, a->routes[i].match);
		if (a->routes[i].host[0] != '\0') {
			fprintf(f, " host ");
			lex_print_quoted(f, a->routes[i].host);
		}
		fprintf(f, " to %s", a->routes[i].to);
		if (a->routes[i].body_max != 0) {
			fprintf(f, " body-max ");
			print_size(f, a->routes[i].body_max);
		}
		fputc('\n', f);
	}
	for (int i = 0; i < a->ndevices; i++) {
		const struct conf_device *d = &a->devices[i];

		fprintf(f, "\tdevice %s host ", d->uuid);
		lex_print_quoted(f, d->host);
		fprintf(f, " port %u", d->port);
		if (d->unit != -1)
			fprintf(f, " unit %d", d->unit);
		if (d->version != 0)
			fprintf(f, " version %u", d->version);
		fprintf(f, " timeout ");
		print_ms(f, d->timeout_ms);
		if (d->body_max != 0) {
			fprintf(f, " body-max ");
			print_size(f, d->body_max);
		}
		fputc('\n', f);
	}
	for (int i = 0; i < a->npolls; i++)
		print_poll(f, a, &a->polls[i]);
	if (is_mqtt(a))
		print_mqtt(f, &a->mqtt);
	fprintf(f, "}\n");
}

static void
print_setting(FILE *f, const char *indent, const char *kw, const char *v)
{
	fprintf(f, "%s%s ", indent, kw);
	lex_print_quoted(f, v);
	fputc('\n', f);
}

void
conf_print(const struct xgw_conf *c, FILE *f)
{
	if (c->gateway[0] != '\0')
		fprintf(f, "gateway %s\n", c->gateway);
	else
		fprintf(f, "# gateway: generated on first start\n");
	print_setting(f, "", "state-dir", c->state_dir);
	print_setting(f, "", "user", c->user);
	print_setting(f, "", "control", c->control);
	print_setting(f, "", "rules", c->rules);
	fprintf(f, "spool ");
	lex_print_quoted(f, c->spool_dir);
	fprintf(f, " max ");
	print_size(f, c->spool_max);
	fprintf(f, "\nxmpp {\n\tserver ");
	lex_print_quoted(f, c->xmpp.server);
	fprintf(f, " port %u tls %s\n", c->xmpp.port,
	    c->xmpp.tls == CONF_DIRECT_TLS ? "direct" : "starttls");
	print_setting(f, "\t", "ca", c->xmpp.ca);
	if (c->xmpp.cert[0] != '\0') {
		fprintf(f, "\tcertificate ");
		lex_print_quoted(f, c->xmpp.cert);
		fprintf(f, " key ");
		lex_print_quoted(f, c->xmpp.key);
	} else {
		fprintf(f, "\tjid ");
		lex_print_quoted(f, c->xmpp.jid);
		fprintf(f, " password ");
		lex_print_quoted(f, c->xmpp.password);
	}
	fputc('\n', f);
	print_setting(f, "\t", "broker", c->xmpp.broker);
	fprintf(f, "\tping ");
	print_ms(f, c->xmpp.ping_s * 1000);
	fprintf(f, "\n\twindow %u\n}\n", c->xmpp.window);
	for (int i = 0; i < c->nadapters; i++)
		print_adapter(f, &c->adapters[i]);
}

/* Returns the length written, or -1 when buf cannot hold all of it. */
int
conf_print_adapter(const struct conf_adapter *a, char *buf, size_t len)
{
	char *text = NULL;
	size_t n = 0;
	FILE *f;

	if ((f = open_memstream(&text, &n)) == NULL)
		return -1;
	print_adapter(f, a);
	if (fclose(f) != 0 || n + 1 > len || n > INT_MAX) {
		free(text);
		return -1;
	}
	memcpy(buf, text, n + 1);
	free(text);
	return n;
}
