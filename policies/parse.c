/*
 * The rules file: a lexer with pf-style macros and a recursive descent
 * parser that checks each rule as it closes it.  The grammar is in
 * policies/README.md; this file is its only implementation.  The first
 * error ends the parse (a longjmp back to xgw_policy_parse, which frees
 * whatever the rule set holds so far), so no rule set is ever half built.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "policy_int.h"

#define TOK_MAX		1024
#define MACRO_DEPTH	8
#define RATE_MAX	1000000

enum tt { T_EOF, T_NL, T_WORD, T_STRING, T_PUNCT };

struct tok {
	enum tt		 t;
	char		 s[TOK_MAX];
	unsigned	 line, col;
};

struct src {
	const char	*p, *end;
	unsigned	 line, col;
};

struct macro {
	char		*name;
	char		*value;
	unsigned	 line;
};

struct parser {
	struct xgw_policy	*pol;
	struct xgw_policy_err	*err;
	jmp_buf			 fail;
	struct src		 src[MACRO_DEPTH + 1];
	int			 depth;		/* 0: the file itself */
	unsigned		 mline, mcol;	/* where the macro in use was named */
	int			 braces;	/* newlines inside { } are spaces */
	struct tok		 tok;
	struct macro		*macros;
	size_t			 nmacros;
};

static void perr(struct parser *, unsigned, unsigned, const char *, ...)
    __attribute__((format(printf, 4, 5), noreturn));

static void
perr(struct parser *ps, unsigned line, unsigned col, const char *fmt, ...)
{
	va_list ap;

	ps->err->line = line;
	ps->err->col = col;
	va_start(ap, fmt);
	vsnprintf(ps->err->msg, sizeof(ps->err->msg), fmt, ap);
	va_end(ap);
	longjmp(ps->fail, 1);
}

static void *
pcalloc(struct parser *ps, size_t n, size_t size)
{
	void *p;

	if ((p = calloc(n ? n : 1, size)) == NULL)
		perr(ps, ps->tok.line, ps->tok.col, "out of memory");
	ps->pol->mem += n * size;
	return p;
}

static char *
pstrdup(struct parser *ps, const char *s)
{
	char *d = pcalloc(ps, strlen(s) + 1, 1);

	return memcpy(d, s, strlen(s) + 1);
}

/* Grows an array by one zeroed element; *n counts it at once so it is freed on error. */
static void *
grow(struct parser *ps, void *arr, size_t *n, size_t size)
{
	char *p;

	if (*n + 1 > SIZE_MAX / size || (p = realloc(arr, (*n + 1) * size)) == NULL)
		perr(ps, ps->tok.line, ps->tok.col, "out of memory");
	memset(p + *n * size, 0, size);
	ps->pol->mem += size;
	(*n)++;
	return p;
}

/* Lexer */

static int
peekc(struct parser *ps)
{
	struct src *s = &ps->src[ps->depth];

	return s->p < s->end ? (unsigned char)*s->p : -1;
}

static int
getc_(struct parser *ps)
{
	struct src *s = &ps->src[ps->depth];
	int c;

	if (s->p >= s->end)
		return -1;
	c = (unsigned char)*s->p++;
	if (c == '\n') {
		s->line++;
		s->col = 1;
	} else
		s->col++;
	return c;
}

static int
wordc(int c, int urn)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.' ||
	    (urn && c == ':');
}

static const char *
macro_find(struct parser *ps, const char *name)
{
	for (size_t i = 0; i < ps->nmacros; i++)
		if (strcmp(ps->macros[i].name, name) == 0)
			return ps->macros[i].value;
	return NULL;
}

static void
macro_expand(struct parser *ps, unsigned line, unsigned col)
{
	char name[TOK_MAX];
	const char *v, *cands[64], *near;
	size_t n = 0;

	while (wordc(peekc(ps), 0) && n < sizeof(name) - 1)
		name[n++] = getc_(ps);
	name[n] = '\0';
	if (n == 0)
		perr(ps, line, col, "expected a macro name after $");
	if ((v = macro_find(ps, name)) == NULL) {
		for (n = 0; n < ps->nmacros && n < 64; n++)
			cands[n] = ps->macros[n].name;
		near = pol_closest(name, cands, n);
		perr(ps, line, col, "undefined macro $%s%s%s%s", name,
		    near ? " (did you mean $" : "", near ? near : "",
		    near ? "?)" : "");
	}
	if (ps->depth == MACRO_DEPTH)
		perr(ps, line, col, "macros nested deeper than %d", MACRO_DEPTH);
	if (ps->depth == 0) {
		ps->mline = line;
		ps->mcol = col;
	}
	ps->depth++;
	ps->src[ps->depth] = (struct src){ v, v + strlen(v), line, col };
}

static void
lex_string(struct parser *ps, struct tok *t)
{
	size_t n = 0;
	int c;

	for (;;) {
		if ((c = getc_(ps)) == -1 || c == '\n')
			perr(ps, t->line, t->col, "unterminated string");
		if (c == '"')
			break;
		if (c == '\\' && (peekc(ps) == '"' || peekc(ps) == '\\'))
			c = getc_(ps);
		if (n == TOK_MAX - 1)
			perr(ps, t->line, t->col, "string longer than %d bytes",
			    TOK_MAX - 1);
		t->s[n++] = c;
	}
	t->s[n] = '\0';
	t->t = T_STRING;
}

static void
lex_word(struct parser *ps, struct tok *t)
{
	size_t n = 0;
	int urn = 0;

	while (wordc(peekc(ps), urn)) {
		if (n == TOK_MAX - 1)
			perr(ps, t->line, t->col, "word longer than %d bytes",
			    TOK_MAX - 1);
		t->s[n++] = getc_(ps);
		/* urn:uuid:... is one word although ':' also makes ranges */
		if (n == 3 && memcmp(t->s, "urn", 3) == 0 && peekc(ps) == ':')
			urn = 1;
	}
	t->s[n] = '\0';
	t->t = T_WORD;
}

static void
next(struct parser *ps)
{
	struct tok *t = &ps->tok;
	int c;

	for (;;) {
		c = peekc(ps);
		if (c == -1 && ps->depth > 0) {
			ps->depth--;
			continue;
		}
		t->line = ps->depth ? ps->mline : ps->src[0].line;
		t->col = ps->depth ? ps->mcol : ps->src[0].col;
		if (c == ' ' || c == '\t' || c == '\r' ||
		    (c == '\n' && ps->braces > 0)) {
			getc_(ps);
		} else if (c == '\\') {
			getc_(ps);
			if (getc_(ps) != '\n')
				perr(ps, t->line, t->col,
				    "expected a newline after \\");
		} else if (c == '#') {
			while (peekc(ps) != -1 && peekc(ps) != '\n')
				getc_(ps);
		} else if (c == '$') {
			getc_(ps);
			macro_expand(ps, t->line, t->col);
		} else
			break;
	}
	t->s[0] = '\0';
	if (c == -1) {
		t->t = T_EOF;
		return;
	}
	if (c == '\n') {
		getc_(ps);
		t->t = T_NL;
		return;
	}
	if (c == '"') {
		getc_(ps);
		lex_string(ps, t);
		return;
	}
	if (wordc(c, 0)) {
		lex_word(ps, t);
		return;
	}
	if (strchr("{},<>=:/", c) == NULL)
		perr(ps, t->line, t->col, "unexpected character '%c'%s",
		    c >= 0x20 && c < 0x7f ? c : '?',
		    c >= 0x20 && c < 0x7f ? "" : " (a control or non-ASCII byte)");
	t->s[0] = getc_(ps);
	t->s[1] = '\0';
	t->t = T_PUNCT;
	if (c == '{')
		ps->braces++;
	else if (c == '}' && ps->braces > 0)
		ps->braces--;
}

/* Parser helpers */

static const char *
found(const struct tok *t, char *buf, size_t len)
{
	switch (t->t) {
	case T_EOF:
		return "end of file";
	case T_NL:
		return "end of line";
	case T_STRING:
		snprintf(buf, len, "\"%.60s\"", t->s);
		return buf;
	default:
		snprintf(buf, len, "'%.60s'", t->s);
		return buf;
	}
}

static void unexpected(struct parser *, const char *, const char *const *,
    size_t) __attribute__((noreturn));

/* "expected X, found 'Y' (did you mean Z?)" */
static void
unexpected(struct parser *ps, const char *what, const char *const *cands,
    size_t n)
{
	const char *near = NULL;
	char buf[80];

	if (ps->tok.t == T_WORD && cands != NULL)
		near = pol_closest(ps->tok.s, cands, n);
	perr(ps, ps->tok.line, ps->tok.col, "expected %s, found %s%s%s%s",
	    what, found(&ps->tok, buf, sizeof(buf)), near ? " (did you mean " : "",
	    near ? near : "", near ? "?)" : "");
}

static int
is(struct parser *ps, enum tt t, const char *s)
{
	return ps->tok.t == t && (s == NULL || strcmp(ps->tok.s, s) == 0);
}

static int
accept(struct parser *ps, enum tt t, const char *s)
{
	if (!is(ps, t, s))
		return 0;
	next(ps);
	return 1;
}

static void
expect(struct parser *ps, enum tt t, const char *s, const char *what)
{
	if (!accept(ps, t, s))
		unexpected(ps, what, NULL, 0);
}

/*
 * Lists: "item" or "{ item, item }".  The callback parses one item.
 */
static void
list(struct parser *ps, void (*item)(struct parser *, void *), void *arg)
{
	if (!accept(ps, T_PUNCT, "{")) {
		item(ps, arg);
		return;
	}
	if (is(ps, T_PUNCT, "}"))
		unexpected(ps, "at least one item in { }", NULL, 0);
	while (!accept(ps, T_PUNCT, "}")) {
		item(ps, arg);
		if (!accept(ps, T_PUNCT, ",") && !is(ps, T_PUNCT, "}"))
			unexpected(ps, "',' or '}'", NULL, 0);
	}
}

/* Tables and identities */

static struct table *
table_find(struct xgw_policy *pol, const char *name, size_t len)
{
	for (size_t i = 0; i < pol->ntables; i++)
		if (strlen(pol->tables[i].name) == len &&
		    memcmp(pol->tables[i].name, name, len) == 0)
			return &pol->tables[i];
	return NULL;
}

static void
uuid_word(struct parser *ps, char *out)
{
	if (ps->tok.t != T_WORD && ps->tok.t != T_STRING)
		unexpected(ps, "a urn:uuid: identity", NULL, 0);
	if (!xgw_uuid_valid(ps->tok.s))
		perr(ps, ps->tok.line, ps->tok.col,
		    "'%.60s' is not an identity: expected urn:uuid: and a lower-case UUID",
		    ps->tok.s);
	memcpy(out, ps->tok.s, 46);
	next(ps);
}

static void
table_item(struct parser *ps, void *arg)
{
	struct table *t = arg;

	t->uuid = grow(ps, t->uuid, &t->n, sizeof(*t->uuid));
	uuid_word(ps, t->uuid[t->n - 1]);
}

static void
table_name(struct parser *ps, char *name)
{
	expect(ps, T_PUNCT, "<", "'<' before a table name");
	if (ps->tok.t != T_WORD)
		unexpected(ps, "a table name", NULL, 0);
	snprintf(name, TOK_MAX, "%s", ps->tok.s);
	next(ps);
	expect(ps, T_PUNCT, ">", "'>' after the table name");
}

static void
stmt_table(struct parser *ps)
{
	char name[TOK_MAX];
	unsigned line = ps->tok.line, col = ps->tok.col;
	struct xgw_policy *pol = ps->pol;
	struct table *t;

	table_name(ps, name);
	if (table_find(pol, name, strlen(name)) != NULL)
		perr(ps, line, col, "table <%s> is defined twice", name);
	pol->tables = grow(ps, pol->tables, &pol->ntables, sizeof(*t));
	t = &pol->tables[pol->ntables - 1];
	t->name = pstrdup(ps, name);
	expect(ps, T_PUNCT, "{", "'{' and the identities of the table");
	while (!accept(ps, T_PUNCT, "}")) {
		table_item(ps, t);
		if (!accept(ps, T_PUNCT, ",") && !is(ps, T_PUNCT, "}"))
			unexpected(ps, "',' or '}'", NULL, 0);
	}
}

static void
ids_item(struct parser *ps, void *arg)
{
	struct ids *ids = arg;
	char name[TOK_MAX], buf[TOK_MAX + 2], uuid[46];
	const char *cands[64], *near;
	unsigned line = ps->tok.line, col = ps->tok.col;
	size_t n;

	if (is(ps, T_PUNCT, "<")) {
		table_name(ps, name);
		if (table_find(ps->pol, name, strlen(name)) == NULL) {
			for (n = 0; n < ps->pol->ntables && n < 64; n++)
				cands[n] = ps->pol->tables[n].name;
			near = pol_closest(name, cands, n);
			perr(ps, line, col, "unknown table <%s>%s%s%s", name,
			    near ? " (did you mean <" : "", near ? near : "",
			    near ? ">?)" : "");
		}
		snprintf(buf, sizeof(buf), "<%s>", name);
	} else {
		uuid_word(ps, uuid);
		snprintf(buf, sizeof(buf), "%s", uuid);
	}
	ids->item = grow(ps, ids->item, &ids->n, sizeof(*ids->item));
	ids->item[ids->n - 1] = pstrdup(ps, buf);
}

static void
ids(struct parser *ps, struct ids *ids)
{
	if (accept(ps, T_WORD, "any"))
		return;
	list(ps, ids_item, ids);
}

/* Matches */

static uint64_t
num_word(struct parser *ps, const struct keyword *kw)
{
	const char *near;
	uint64_t v;

	if (ps->tok.t != T_WORD)
		unexpected(ps, kw->names ? "a number or a name" : "a number",
		    NULL, 0);
	if (pol_num_parse(kw, ps->tok.s, &v) == -1) {
		near = pol_closest_names(ps->tok.s, kw->names);
		if (kw->names == NULL)
			perr(ps, ps->tok.line, ps->tok.col,
			    "%s: expected a decimal number %llu..%llu, found '%.60s'",
			    kw->name, (unsigned long long)kw->min,
			    (unsigned long long)kw->max, ps->tok.s);
		perr(ps, ps->tok.line, ps->tok.col,
		    "unknown %s '%.60s'%s%s%s", kw->name, ps->tok.s,
		    near ? " (did you mean " : "", near ? near : "",
		    near ? "?)" : "");
	}
	if (v < kw->min || v > kw->max)
		perr(ps, ps->tok.line, ps->tok.col,
		    "%s %.60s is out of range %llu..%llu", kw->name, ps->tok.s,
		    (unsigned long long)kw->min, (unsigned long long)kw->max);
	next(ps);
	return v;
}

static void
num_item(struct parser *ps, void *arg)
{
	struct cond *c = arg;
	unsigned line = ps->tok.line, col = ps->tok.col;
	struct range r;

	r.lo = r.hi = num_word(ps, c->kw);
	if (accept(ps, T_PUNCT, ":"))
		r.hi = num_word(ps, c->kw);
	if (r.lo > r.hi)
		perr(ps, line, col, "%s range %llu:%llu is inverted",
		    c->kw->name, (unsigned long long)r.lo,
		    (unsigned long long)r.hi);
	c->r = grow(ps, c->r, &c->n, sizeof(*c->r));
	c->r[c->n - 1] = r;
}

/* A name no reading can have is a slip: say so rather than never match. */
static void
name_check(struct parser *ps, enum skind kind, const char *s)
{
	for (const char *p = s; *p != '\0'; p++)
		if (!wordc((unsigned char)*p, 0) && strchr("/[]", *p) == NULL &&
		    (kind != SM_GLOB || strchr("*?", *p) == NULL))
			perr(ps, ps->tok.line, ps->tok.col,
			    "name \"%.60s\": readings are named with letters, digits and _ - . / [ ] only",
			    s);
	if (s[0] == '\0' && kind != SM_PREFIX)
		perr(ps, ps->tok.line, ps->tok.col,
		    "an empty name matches no reading");
}

static void
str_item(struct parser *ps, void *arg)
{
	struct cond *c = arg;
	struct strm m = { SM_EXACT, NULL, 0 };

	if (c->kw->kind == CK_WORD) {
		if (ps->tok.t != T_WORD)
			unexpected(ps, "a method such as GET", NULL, 0);
	} else {
		if (c->kw->kind != CK_TOPIC && accept(ps, T_WORD, "prefix"))
			m.kind = SM_PREFIX;
		else if (c->kw->kind != CK_TOPIC && accept(ps, T_WORD, "glob"))
			m.kind = SM_GLOB;
		if (ps->tok.t != T_STRING)
			unexpected(ps, c->kw->kind == CK_TOPIC ?
			    "a quoted topic filter" :
			    "prefix, glob or a quoted string", NULL, 0);
		if (c->kw->kind == CK_TOPIC && !pol_topic_valid(ps->tok.s))
			perr(ps, ps->tok.line, ps->tok.col,
			    "topic filter \"%.60s\": '+' and '#' must fill a level, '#' only at the end",
			    ps->tok.s);
	}
	if (c->kw->kind == CK_NAMES)
		name_check(ps, m.kind, ps->tok.s);
	m.s = pstrdup(ps, ps->tok.s);
	m.len = strlen(m.s);
	next(ps);
	c->s = grow(ps, c->s, &c->n, sizeof(*c->s));
	c->s[c->n - 1] = m;
}

static void
header_match(struct parser *ps, struct cond *c)
{
	if (ps->tok.t != T_STRING)
		unexpected(ps, "a quoted header name", NULL, 0);
	c->hname = pstrdup(ps, ps->tok.s);
	next(ps);
	if (ps->tok.t == T_STRING || is(ps, T_WORD, "prefix") ||
	    is(ps, T_WORD, "glob"))
		list(ps, str_item, c);
}

static const struct keyword *
keyword_find(enum pproto proto, const char *name, const struct keyword **other)
{
	const struct keyword *kw;

	*other = NULL;
	for (kw = pol_keywords; kw->name != NULL; kw++) {
		if (strcmp(kw->name, name) != 0)
			continue;
		if (kw->proto == proto)
			return kw;
		*other = kw;
	}
	return NULL;
}

static void
unknown_match(struct parser *ps, struct rule *r)
{
	const struct keyword *kw, *other;
	const char *cands[40];
	char what[300];
	size_t n = 0, len;

	keyword_find(r->proto, ps->tok.s, &other);
	if (other != NULL && r->proto == PR_ANY)
		perr(ps, ps->tok.line, ps->tok.col,
		    "'%s' is a %s match: name the protocol before it",
		    ps->tok.s, pol_proto_names[other->proto]);
	if (other != NULL)
		perr(ps, ps->tok.line, ps->tok.col,
		    "'%s' is a %s match, this rule is for %s", ps->tok.s,
		    pol_proto_names[other->proto], pol_proto_names[r->proto]);
	len = snprintf(what, sizeof(what), "%s", r->proto == PR_ANY ?
	    "request, response, event, from, to, a protocol" : "a match");
	if (r->proto == PR_ANY)
		for (int p = PR_MODBUS; p < PR_N; p++)
			cands[n++] = pol_proto_names[p];
	for (kw = pol_keywords; kw->name != NULL; kw++)
		if (kw->proto == r->proto && n < 36) {
			cands[n++] = kw->name;
			len += snprintf(what + len, sizeof(what) - len, "%s%s",
			    n == 1 ? " (" : ", ", kw->name);
		}
	if (r->proto != PR_ANY)
		snprintf(what + len, sizeof(what) - len, ")");
	cands[n++] = "from";
	cands[n++] = "to";
	cands[n++] = "rate";
	cands[n++] = "label";
	strncat(what, ", rate, label or end of line", sizeof(what) -
	    strlen(what) - 1);
	unexpected(ps, what, cands, n);
}

static void
match(struct parser *ps, struct rule *r, const struct keyword *kw)
{
	unsigned line = ps->tok.line, col = ps->tok.col;
	struct cond *c;

	for (size_t i = 0; i < r->ncond; i++)
		if (r->cond[i].kw->field == kw->field &&
		    kw->field != FD_HEADER)
			perr(ps, line, col, "%s is given twice in one rule",
			    kw->print ? kw->print : kw->name);
	next(ps);
	r->cond = grow(ps, r->cond, &r->ncond, sizeof(*r->cond));
	c = &r->cond[r->ncond - 1];
	c->kw = kw;
	c->line = line;
	c->col = col;
	if (kw->kind == CK_NUM)
		list(ps, num_item, c);
	else if (kw->kind == CK_HEADER)
		header_match(ps, c);
	else
		list(ps, str_item, c);
}

static uint64_t
bounded(struct parser *ps, const char *what, uint64_t min, uint64_t max)
{
	char buf[80];
	uint64_t v;

	if (ps->tok.t != T_WORD ||
	    xgw_parse_uint(ps->tok.s, strlen(ps->tok.s), max, &v) == -1 ||
	    v < min)
		perr(ps, ps->tok.line, ps->tok.col,
		    "%s: expected a number %llu..%llu, found %s", what,
		    (unsigned long long)min, (unsigned long long)max,
		    found(&ps->tok, buf, sizeof(buf)));
	next(ps);
	return v;
}

static void
rate(struct parser *ps, struct rule *r)
{
	static const char *const units[] = { "s", "m", "h" };
	static const uint64_t ms[] = { 1000, 60000, 3600000 };
	size_t i;

	r->rate = bounded(ps, "rate", 1, RATE_MAX);
	expect(ps, T_PUNCT, "/", "'/' and a unit (s, m or h) after the rate");
	for (i = 0; i < 3; i++)
		if (is(ps, T_WORD, units[i]))
			break;
	if (i == 3)
		unexpected(ps, "s, m or h", units, 3);
	r->per_ms = ms[i];
	next(ps);
	r->burst = r->rate;
	if (accept(ps, T_WORD, "burst"))
		r->burst = bounded(ps, "burst", 1, RATE_MAX);
}

static void
dir_item(struct parser *ps, void *arg)
{
	struct rule *r = arg;
	const char *cands[3] = { "request", "response", "event" };

	for (int d = 0; d < 3; d++)
		if (is(ps, T_WORD, cands[d])) {
			r->dirs |= 1u << d;
			next(ps);
			return;
		}
	unexpected(ps, "request, response or event", cands, 3);
}

static int
is_dir(struct parser *ps)
{
	return is(ps, T_WORD, "request") || is(ps, T_WORD, "response") ||
	    is(ps, T_WORD, "event");
}

static const struct cond *
cond_of(const struct rule *r, enum field f)
{
	for (size_t i = 0; i < r->ncond; i++)
		if (r->cond[i].kw->field == f)
			return &r->cond[i];
	return NULL;
}

/* Does any function of the rule satisfy pred? (no function: any does) */
static int
some_function(const struct rule *r, int (*pred)(uint64_t))
{
	const struct cond *fn = cond_of(r, FD_FUNCTION);

	if (fn == NULL)
		return 1;
	for (size_t i = 0; i < fn->n; i++)
		for (uint64_t f = fn->r[i].lo; f <= fn->r[i].hi; f++)
			if (pred(f))
				return 1;
	return 0;
}

static int
fc_addressed(uint64_t fc)
{
	return (fc >= 1 && fc <= 6) || fc == 15 || fc == 16 ||
	    (fc >= 22 && fc <= 24);
}

static int
fc_writes(uint64_t fc)
{
	return fc == 5 || fc == 6 || fc == 15 || fc == 16 || fc == 23;
}

/* Parts of a rule that can never hold together. */
static void
check_rule(struct parser *ps, struct rule *r, unsigned wline, unsigned wcol,
    unsigned rline, unsigned rcol)
{
	const struct cond *a = cond_of(r, FD_ADDRESS);
	const struct cond *q = cond_of(r, FD_QUANTITY);
	const struct cond *v = cond_of(r, FD_VALUE);
	uint64_t span = 0, qmin = UINT64_MAX;

	if (r->code != 0 && r->proto != PR_MODBUS)
		perr(ps, wline, wcol,
		    "reject with names a Modbus exception, this rule is not for modbus");
	if (r->rate != 0 && r->action != XGW_PASS)
		perr(ps, rline, rcol, "rate limits pass rules only");
	if (a != NULL && !some_function(r, fc_addressed))
		perr(ps, a->line, a->col,
		    "address given, but none of the rule's functions carries an address");
	if (v != NULL && !some_function(r, fc_writes))
		perr(ps, v->line, v->col,
		    "value matches written values, but none of the rule's functions writes");
	if (v != NULL && r->dirs != 0 && !(r->dirs & 1u << XGW_REQUEST))
		perr(ps, v->line, v->col,
		    "value matches written values, which only requests carry");
	if (a == NULL || q == NULL)
		return;
	for (size_t i = 0; i < a->n; i++)
		if (a->r[i].hi - a->r[i].lo + 1 > span)
			span = a->r[i].hi - a->r[i].lo + 1;
	for (size_t i = 0; i < q->n; i++)
		if (q->r[i].lo < qmin)
			qmin = q->r[i].lo;
	if (qmin > span)
		perr(ps, q->line, q->col,
		    "quantity %llu or more cannot fit in an address range of %llu",
		    (unsigned long long)qmin, (unsigned long long)span);
}

/* Readings are events that nobody answers; said at the word readings. */
static void
readings_check(struct parser *ps, const struct rule *r)
{
	if (r->action == XGW_REJECT)
		perr(ps, ps->tok.line, ps->tok.col,
		    "readings are events, nobody waits for an answer to them: block rather than reject");
	if (r->dirs != 0 && !(r->dirs & 1u << XGW_EVENT))
		perr(ps, ps->tok.line, ps->tok.col,
		    "readings travel as events only: this rule's directions never carry them");
}

static unsigned
reject_code(struct parser *ps)
{
	const char *near;
	uint64_t v = 0;

	if (ps->tok.t != T_WORD)
		unexpected(ps, "a Modbus exception name or code", NULL, 0);
	if (xgw_parse_uint(ps->tok.s, strlen(ps->tok.s), 255, &v) == 0 &&
	    v == 0)
		perr(ps, ps->tok.line, ps->tok.col,
		    "Modbus exception code 0 is not valid: expected 1..255");
	for (const struct pname *e = pol_modbus_exc; v == 0 && e->name; e++)
		if (strcmp(e->name, ps->tok.s) == 0)
			v = e->v;
	if (v == 0) {
		near = pol_closest_names(ps->tok.s, pol_modbus_exc);
		perr(ps, ps->tok.line, ps->tok.col,
		    "unknown Modbus exception '%.60s'%s%s%s", ps->tok.s,
		    near ? " (did you mean " : "", near ? near : "",
		    near ? "?)" : "");
	}
	next(ps);
	return v;
}

static void
stmt_rule(struct parser *ps, enum xgw_action action)
{
	struct xgw_policy *pol = ps->pol;
	const struct keyword *kw, *other;
	unsigned wline = 0, wcol = 0, rline = 0, rcol = 0;
	struct rule *r;

	pol->rules = grow(ps, pol->rules, &pol->nrules, sizeof(*r));
	r = &pol->rules[pol->nrules - 1];
	r->action = action;
	r->line = ps->tok.line;
	next(ps);
	if (action == XGW_REJECT && is(ps, T_WORD, "with")) {
		wline = ps->tok.line;
		wcol = ps->tok.col;
		next(ps);
		r->code = reject_code(ps);
	}
	if (is(ps, T_PUNCT, "{") || is_dir(ps))
		list(ps, dir_item, r);
	if (accept(ps, T_WORD, "from"))
		ids(ps, &r->from);
	if (accept(ps, T_WORD, "to"))
		ids(ps, &r->to);
	for (int p = PR_MODBUS; p < PR_N; p++)
		if (is(ps, T_WORD, pol_proto_names[p])) {
			r->proto = p;
			if (p == PR_READINGS)
				readings_check(ps, r);
			next(ps);
			break;
		}
	while (ps->tok.t == T_WORD) {
		if ((is(ps, T_WORD, "rate") && r->rate != 0) ||
		    (is(ps, T_WORD, "label") && r->label != NULL))
			perr(ps, ps->tok.line, ps->tok.col,
			    "%s is given twice in one rule", ps->tok.s);
		if (is(ps, T_WORD, "rate")) {
			rline = ps->tok.line;
			rcol = ps->tok.col;
			next(ps);
			rate(ps, r);
		} else if (is(ps, T_WORD, "label")) {
			next(ps);
			if (ps->tok.t != T_STRING)
				unexpected(ps, "a quoted label", NULL, 0);
			r->label = pstrdup(ps, ps->tok.s);
			next(ps);
		} else if ((kw = keyword_find(r->proto, ps->tok.s, &other)) !=
		    NULL)
			match(ps, r, kw);
		else
			unknown_match(ps, r);
	}
	if (ps->tok.t != T_NL && ps->tok.t != T_EOF)
		unknown_match(ps, r);
	check_rule(ps, r, wline, wcol, rline, rcol);
}

static void
stmt_macro(struct parser *ps, const char *name, unsigned line)
{
	struct macro *m;

	if (macro_find(ps, name) != NULL)
		perr(ps, line, 1, "macro %s is defined twice", name);
	next(ps);
	if (ps->tok.t != T_STRING)
		unexpected(ps, "a quoted macro value", NULL, 0);
	ps->macros = grow(ps, ps->macros, &ps->nmacros, sizeof(*m));
	m = &ps->macros[ps->nmacros - 1];
	m->name = pstrdup(ps, name);
	m->value = pstrdup(ps, ps->tok.s);
	m->line = line;
	next(ps);
}

static void
statement(struct parser *ps)
{
	static const char *const starts[] = { "pass", "block", "reject", "table" };
	char word[TOK_MAX];
	unsigned line = ps->tok.line, col = ps->tok.col;

	for (int a = 0; a < 3; a++)
		if (is(ps, T_WORD, starts[a])) {
			stmt_rule(ps, a);
			return;
		}
	if (accept(ps, T_WORD, "table")) {
		stmt_table(ps);
		return;
	}
	if (ps->tok.t != T_WORD)
		unexpected(ps, "pass, block, reject, table or NAME = \"value\"",
		    starts, 4);
	snprintf(word, sizeof(word), "%s", ps->tok.s);
	next(ps);
	if (is(ps, T_PUNCT, "=")) {
		stmt_macro(ps, word, line);
		return;
	}
	snprintf(ps->tok.s, sizeof(ps->tok.s), "%s", word);
	ps->tok.t = T_WORD;
	ps->tok.line = line;
	ps->tok.col = col;
	unexpected(ps, "pass, block, reject, table or NAME = \"value\"",
	    starts, 4);
}

static void
parse_all(struct parser *ps)
{
	next(ps);
	for (;;) {
		while (accept(ps, T_NL, NULL))
			;
		if (ps->tok.t == T_EOF)
			break;
		statement(ps);
		if (!accept(ps, T_NL, NULL) && ps->tok.t != T_EOF)
			unexpected(ps, "end of line", NULL, 0);
	}
}

static int
uuid_cmp(const void *a, const void *b)
{
	return strcmp(a, b);
}

static const struct table *
item_table(struct parser *ps, const char *item)
{
	if (item[0] != '<')
		return NULL;
	return table_find(ps->pol, item + 1, strlen(item) - 2);
}

/* from/to: the identities the items stand for, sorted for bsearch */
static void
resolve(struct parser *ps, struct ids *ids)
{
	const struct table *t;
	size_t n = 0, k = 0;

	for (size_t i = 0; i < ids->n; i++)
		n += (t = item_table(ps, ids->item[i])) != NULL ? t->n : 1;
	ids->uuid = pcalloc(ps, n, sizeof(*ids->uuid));
	for (size_t i = 0; i < ids->n; i++) {
		if ((t = item_table(ps, ids->item[i])) == NULL) {
			memcpy(ids->uuid[k++], ids->item[i], 46);
			continue;
		}
		if (t->n > 0)
			memcpy(ids->uuid + k, t->uuid, t->n * sizeof(*t->uuid));
		k += t->n;
	}
	qsort(ids->uuid, k, sizeof(*ids->uuid), uuid_cmp);
	ids->nuuid = k;
}

static void
finish(struct parser *ps)
{
	struct xgw_policy *pol = ps->pol;

	for (size_t i = 0; i < pol->nrules; i++) {
		struct rule *r = &pol->rules[i];

		resolve(ps, &r->from);
		resolve(ps, &r->to);
		if ((r->text = pol_rule_string(r)) == NULL)
			perr(ps, r->line, 1, "out of memory");
	}
	if (pol_compile(pol) == -1)
		perr(ps, 1, 1, "out of memory");
}

static int
run(struct parser *ps)
{
	if (setjmp(ps->fail) != 0)
		return -1;
	parse_all(ps);
	finish(ps);
	return 0;
}

struct xgw_policy *
xgw_policy_parse(const char *name, const char *text, size_t len,
    struct xgw_policy_err *err)
{
	struct parser *ps;
	struct xgw_policy *pol;
	int rc;

	memset(err, 0, sizeof(*err));
	snprintf(err->file, sizeof(err->file), "%s", name);
	if ((ps = calloc(1, sizeof(*ps))) == NULL ||
	    (pol = calloc(1, sizeof(*pol))) == NULL ||
	    (pol->file = strdup(name)) == NULL) {
		if (ps != NULL)
			free(ps->pol);
		free(ps);
		snprintf(err->msg, sizeof(err->msg), "out of memory");
		return NULL;
	}
	ps->pol = pol;
	ps->err = err;
	ps->src[0] = (struct src){ text, text + len, 1, 1 };
	rc = run(ps);
	for (size_t i = 0; i < ps->nmacros; i++) {
		free(ps->macros[i].name);
		free(ps->macros[i].value);
	}
	free(ps->macros);
	free(ps);
	if (rc == -1) {
		xgw_policy_free(pol);
		return NULL;
	}
	return pol;
}

struct xgw_policy *
xgw_policy_load(const char *path, struct xgw_policy_err *err)
{
	struct xgw_policy *pol;
	char *text = NULL, *p;
	size_t len = 0, cap = 0, n;
	FILE *f;

	memset(err, 0, sizeof(*err));
	snprintf(err->file, sizeof(err->file), "%s", path);
	if ((f = fopen(path, "r")) == NULL) {
		snprintf(err->msg, sizeof(err->msg), "%s", strerror(errno));
		return NULL;
	}
	for (;;) {
		if (len == cap) {
			cap = cap ? cap * 2 : 4096;
			if (cap > XGW_PDU_MAX || (p = realloc(text, cap)) == NULL) {
				snprintf(err->msg, sizeof(err->msg),
				    cap > XGW_PDU_MAX ? "file larger than %u bytes" :
				    "out of memory", XGW_PDU_MAX);
				free(text);
				fclose(f);
				return NULL;
			}
			text = p;
		}
		if ((n = fread(text + len, 1, cap - len, f)) == 0)
			break;
		len += n;
	}
	if (ferror(f)) {
		snprintf(err->msg, sizeof(err->msg), "read error");
		free(text);
		fclose(f);
		return NULL;
	}
	fclose(f);
	pol = xgw_policy_parse(path, text, len, err);
	free(text);
	return pol;
}
