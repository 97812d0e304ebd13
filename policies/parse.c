/*
 * The rules file: a recursive descent parser over lex.c (shared with
 * xgw.conf) that checks each rule as it closes it.  The grammar is in
 * policies/README.md; this file is its only implementation.  The first
 * error ends the parse (a longjmp back to lex_run; xgw_policy_parse frees
 * whatever the rule set holds so far), so no rule set is ever half built.
 */
#include <stdlib.h>
#include <string.h>

#include "lex.h"
#include "policy_int.h"

#define RATE_MAX	1000000

struct parser {
	struct lex		 lx;
	struct xgw_policy	*pol;
};

static int
namec(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.';
}

/* urn:uuid:... is one word although ':' also makes ranges */
static int
wordc(int c, const char *w, size_t n)
{
	return namec(c) || (c == ':' && n >= 3 && memcmp(w, "urn", 3) == 0 &&
	    (n == 3 || w[3] == ':'));
}

static const struct lex_syntax syntax = {
	wordc, namec, "{},<>=:/", "\n", 1
};

static void *
pcalloc(struct parser *ps, size_t n, size_t size)
{
	void *p;

	if ((p = calloc(n ? n : 1, size)) == NULL)
		lex_err(&ps->lx, ps->lx.tok.line, ps->lx.tok.col,
		    "out of memory");
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
		lex_err(&ps->lx, ps->lx.tok.line, ps->lx.tok.col,
		    "out of memory");
	memset(p + *n * size, 0, size);
	ps->pol->mem += size;
	(*n)++;
	return p;
}

/*
 * Lists: "item" or "{ item, item }".  The callback parses one item.
 */
static void
list(struct parser *ps, void (*item)(struct parser *, void *), void *arg)
{
	if (!lex_accept(&ps->lx, T_PUNCT, "{")) {
		item(ps, arg);
		return;
	}
	if (lex_is(&ps->lx, T_PUNCT, "}"))
		lex_unexpected(&ps->lx, "at least one item in { }", NULL, 0);
	while (!lex_accept(&ps->lx, T_PUNCT, "}")) {
		item(ps, arg);
		if (!lex_accept(&ps->lx, T_PUNCT, ",") &&
		    !lex_is(&ps->lx, T_PUNCT, "}"))
			lex_unexpected(&ps->lx, "',' or '}'", NULL, 0);
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
	if (ps->lx.tok.t != T_WORD && ps->lx.tok.t != T_STRING)
		lex_unexpected(&ps->lx, "a urn:uuid: identity", NULL, 0);
	if (!xgw_uuid_valid(ps->lx.tok.s))
		lex_err(&ps->lx, ps->lx.tok.line, ps->lx.tok.col,
		    "'%.60s' is not an identity: expected urn:uuid: and a lower-case UUID",
		    ps->lx.tok.s);
	memcpy(out, ps->lx.tok.s, 46);
	lex_next(&ps->lx);
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
	lex_expect(&ps->lx, T_PUNCT, "<", "'<' before a table name");
	if (ps->lx.tok.t != T_WORD)
		lex_unexpected(&ps->lx, "a table name", NULL, 0);
	snprintf(name, LEX_TOK_MAX, "%s", ps->lx.tok.s);
	lex_next(&ps->lx);
	lex_expect(&ps->lx, T_PUNCT, ">", "'>' after the table name");
}

static void
stmt_table(struct parser *ps)
{
	char name[LEX_TOK_MAX];
	unsigned line = ps->lx.tok.line, col = ps->lx.tok.col;
	struct xgw_policy *pol = ps->pol;
	struct table *t;

	table_name(ps, name);
	if (table_find(pol, name, strlen(name)) != NULL)
		lex_err(&ps->lx, line, col, "table <%s> is defined twice",
		    name);
	pol->tables = grow(ps, pol->tables, &pol->ntables, sizeof(*t));
	t = &pol->tables[pol->ntables - 1];
	t->name = pstrdup(ps, name);
	lex_expect(&ps->lx, T_PUNCT, "{",
	    "'{' and the identities of the table");
	while (!lex_accept(&ps->lx, T_PUNCT, "}")) {
		table_item(ps, t);
		if (!lex_accept(&ps->lx, T_PUNCT, ",") &&
		    !lex_is(&ps->lx, T_PUNCT, "}"))
			lex_unexpected(&ps->lx, "',' or '}'", NULL, 0);
	}
}

static void
ids_item(struct parser *ps, void *arg)
{
	struct ids *ids = arg;
	char name[LEX_TOK_MAX], buf[LEX_TOK_MAX + 2], uuid[46];
	const char *cands[64], *near;
	unsigned line = ps->lx.tok.line, col = ps->lx.tok.col;
	size_t n;

	if (lex_is(&ps->lx, T_PUNCT, "<")) {
		table_name(ps, name);
		if (table_find(ps->pol, name, strlen(name)) == NULL) {
			for (n = 0; n < ps->pol->ntables && n < 64; n++)
				cands[n] = ps->pol->tables[n].name;
			near = pol_closest(name, cands, n);
			lex_err(&ps->lx, line, col, "unknown table <%s>%s%s%s",
			    name,
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
	if (lex_accept(&ps->lx, T_WORD, "any"))
		return;
	list(ps, ids_item, ids);
}

/* Matches */

static uint64_t
num_word(struct parser *ps, const struct keyword *kw)
{
	const char *near;
	uint64_t v;

	if (ps->lx.tok.t != T_WORD)
		lex_unexpected(&ps->lx,
		    kw->names ? "a number or a name" : "a number",
		    NULL, 0);
	if (pol_num_parse(kw, ps->lx.tok.s, &v) == -1) {
		near = pol_closest_names(ps->lx.tok.s, kw->names);
		if (kw->names == NULL)
			lex_err(&ps->lx, ps->lx.tok.line, ps->lx.tok.col,
			    "%s: expected a decimal number %llu..%llu, found '%.60s'",
			    kw->name, (unsigned long long)kw->min,
			    (unsigned long long)kw->max, ps->lx.tok.s);
		lex_err(&ps->lx, ps->lx.tok.line, ps->lx.tok.col,
		    "unknown %s '%.60s'%s%s%s", kw->name, ps->lx.tok.s,
		    near ? " (did you mean " : "", near ? near : "",
		    near ? "?)" : "");
	}
	if (v < kw->min || v > kw->max)
		lex_err(&ps->lx, ps->lx.tok.line, ps->lx.tok.col,
		    "%s %.60s is out of range %llu..%llu", kw->name,
		    ps->lx.tok.s,
		    (unsigned long long)kw->min, (unsigned long long)kw->max);
	lex_next(&ps->lx);
	return v;
}

static void
num_item(struct parser *ps, void *arg)
{
	struct cond *c = arg;
	unsigned line = ps->lx.tok.line, col = ps->lx.tok.col;
	struct range r;

	r.lo = r.hi = num_word(ps, c->kw);
	if (lex_accept(&ps->lx, T_PUNCT, ":"))
		r.hi = num_word(ps, c->kw);
	if (r.lo > r.hi)
		lex_err(&ps->lx, line, col, "%s range %llu:%llu is inverted",
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
		if (!namec((unsigned char)*p) && strchr("/[]", *p) == NULL &&
		    (kind != SM_GLOB || strchr("*?", *p) == NULL))
			lex_err(&ps->lx, ps->lx.tok.line, ps->lx.tok.col,
			    "name \"%.60s\": readings are named with letters, digits and _ - . / [ ] only",
			    s);
	if (s[0] == '\0' && kind != SM_PREFIX)
		lex_err(&ps->lx, ps->lx.tok.line, ps->lx.tok.col,
		    "an empty name matches no reading");
}

static void
str_item(struct parser *ps, void *arg)
{
	struct cond *c = arg;
	struct strm m = { SM_EXACT, NULL, 0 };

	if (c->kw->kind == CK_WORD) {
		if (ps->lx.tok.t != T_WORD)
			lex_unexpected(&ps->lx, "a method such as GET", NULL,
			    0);
	} else {
		if (c->kw->kind != CK_TOPIC && lex_accept(&ps->lx, T_WORD,
		    "prefix"))
			m.kind = SM_PREFIX;
		else if (c->kw->kind != CK_TOPIC && lex_accept(&ps->lx, T_WORD,
		    "glob"))
			m.kind = SM_GLOB;
		if (ps->lx.tok.t != T_STRING)
			lex_unexpected(&ps->lx, c->kw->kind == CK_TOPIC ?
			    "a quoted topic filter" :
			    "prefix, glob or a quoted string", NULL, 0);
		if (c->kw->kind == CK_TOPIC && !pol_topic_valid(ps->lx.tok.s))
			lex_err(&ps->lx, ps->lx.tok.line, ps->lx.tok.col,
			    "topic filter \"%.60s\": '+' and '#' must fill a level, '#' only at the end",
			    ps->lx.tok.s);
	}
	if (c->kw->kind == CK_NAMES)
		name_check(ps, m.kind, ps->lx.tok.s);
	m.s = pstrdup(ps, ps->lx.tok.s);
	m.len = strlen(m.s);
	lex_next(&ps->lx);
	c->s = grow(ps, c->s, &c->n, sizeof(*c->s));
	c->s[c->n - 1] = m;
}

static void
header_match(struct parser *ps, struct cond *c)
{
	if (ps->lx.tok.t != T_STRING)
		lex_unexpected(&ps->lx, "a quoted header name", NULL, 0);
	c->hname = pstrdup(ps, ps->lx.tok.s);
	lex_next(&ps->lx);
	if (ps->lx.tok.t == T_STRING || lex_is(&ps->lx, T_WORD, "prefix") ||
	    lex_is(&ps->lx, T_WORD, "glob"))
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

	keyword_find(r->proto, ps->lx.tok.s, &other);
	if (other != NULL && r->proto == PR_ANY)
		lex_err(&ps->lx, ps->lx.tok.line, ps->lx.tok.col,
		    "'%s' is a %s match: name the protocol before it",
		    ps->lx.tok.s, pol_proto_names[other->proto]);
	if (other != NULL)
		lex_err(&ps->lx, ps->lx.tok.line, ps->lx.tok.col,
		    "'%s' is a %s match, this rule is for %s", ps->lx.tok.s,
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
	lex_unexpected(&ps->lx, what, cands, n);
}

static void
match(struct parser *ps, struct rule *r, const struct keyword *kw)
{
	unsigned line = ps->lx.tok.line, col = ps->lx.tok.col;
	struct cond *c;

	for (size_t i = 0; i < r->ncond; i++)
		if (r->cond[i].kw->field == kw->field &&
		    kw->field != FD_HEADER)
			lex_err(&ps->lx, line, col,
			    "%s is given twice in one rule",
			    kw->print ? kw->print : kw->name);
	lex_next(&ps->lx);
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

static void
rate(struct parser *ps, struct rule *r)
{
	static const char *const units[] = { "s", "m", "h" };
	static const uint64_t ms[] = { 1000, 60000, 3600000 };
	size_t i;

	r->rate = lex_number(&ps->lx, "rate", 1, RATE_MAX);
	lex_expect(&ps->lx, T_PUNCT, "/",
	    "'/' and a unit (s, m or h) after the rate");
	for (i = 0; i < 3; i++)
		if (lex_is(&ps->lx, T_WORD, units[i]))
			break;
	if (i == 3)
		lex_unexpected(&ps->lx, "s, m or h", units, 3);
	r->per_ms = ms[i];
	lex_next(&ps->lx);
	r->burst = r->rate;
	if (lex_accept(&ps->lx, T_WORD, "burst"))
		r->burst = lex_number(&ps->lx, "burst", 1, RATE_MAX);
}

static void
dir_item(struct parser *ps, void *arg)
{
	struct rule *r = arg;
	const char *cands[3] = { "request", "response", "event" };

	for (int d = 0; d < 3; d++)
		if (lex_is(&ps->lx, T_WORD, cands[d])) {
			r->dirs |= 1u << d;
			lex_next(&ps->lx);
			return;
		}
	lex_unexpected(&ps->lx, "request, response or event", cands, 3);
}

static int
is_dir(struct parser *ps)
{
	return lex_is(&ps->lx, T_WORD, "request") ||
	    lex_is(&ps->lx, T_WORD, "response") ||
	    lex_is(&ps->lx, T_WORD, "event");
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
		lex_err(&ps->lx, wline, wcol,
		    "reject with names a Modbus exception, this rule is not for modbus");
	if (r->rate != 0 && r->action != XGW_PASS)
		lex_err(&ps->lx, rline, rcol, "rate limits pass rules only");
	if (a != NULL && !some_function(r, fc_addressed))
		lex_err(&ps->lx, a->line, a->col,
		    "address given, but none of the rule's functions carries an address");
	if (v != NULL && !some_function(r, fc_writes))
		lex_err(&ps->lx, v->line, v->col,
		    "value matches written values, but none of the rule's functions writes");
	if (v != NULL && r->dirs != 0 && !(r->dirs & 1u << XGW_REQUEST))
		lex_err(&ps->lx, v->line, v->col,
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
		lex_err(&ps->lx, q->line, q->col,
		    "quantity %llu or more cannot fit in an address range of %llu",
		    (unsigned long long)qmin, (unsigned long long)span);
}

/* Readings are events that nobody answers; said at the word readings. */
static void
readings_check(struct parser *ps, const struct rule *r)
{
	if (r->action == XGW_REJECT)
		lex_err(&ps->lx, ps->lx.tok.line, ps->lx.tok.col,
		    "readings are events, nobody waits for an answer to them: block rather than reject");
	if (r->dirs != 0 && !(r->dirs & 1u << XGW_EVENT))
		lex_err(&ps->lx, ps->lx.tok.line, ps->lx.tok.col,
		    "readings travel as events only: this rule's directions never carry them");
}

static unsigned
reject_code(struct parser *ps)
{
	const char *near;
	uint64_t v = 0;

	if (ps->lx.tok.t != T_WORD)
		lex_unexpected(&ps->lx, "a Modbus exception name or code", NULL,
		    0);
	if (xgw_parse_uint(ps->lx.tok.s, strlen(ps->lx.tok.s), 255, &v) == 0 &&
	    v == 0)
		lex_err(&ps->lx, ps->lx.tok.line, ps->lx.tok.col,
		    "Modbus exception code 0 is not valid: expected 1..255");
	for (const struct pname *e = pol_modbus_exc; v == 0 && e->name; e++)
		if (strcmp(e->name, ps->lx.tok.s) == 0)
			v = e->v;
	if (v == 0) {
		near = pol_closest_names(ps->lx.tok.s, pol_modbus_exc);
		lex_err(&ps->lx, ps->lx.tok.line, ps->lx.tok.col,
		    "unknown Modbus exception '%.60s'%s%s%s", ps->lx.tok.s,
		    near ? " (did you mean " : "", near ? near : "",
		    near ? "?)" : "");
	}
	lex_next(&ps->lx);
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
	r->line = ps->lx.tok.line;
	lex_next(&ps->lx);
	if (action == XGW_REJECT && lex_is(&ps->lx, T_WORD, "with")) {
		wline = ps->lx.tok.line;
		wcol = ps->lx.tok.col;
		lex_next(&ps->lx);
		r->code = reject_code(ps);
	}
	if (lex_is(&ps->lx, T_PUNCT, "{") || is_dir(ps))
		list(ps, dir_item, r);
	if (lex_accept(&ps->lx, T_WORD, "from"))
		ids(ps, &r->from);
	if (lex_accept(&ps->lx, T_WORD, "to"))
		ids(ps, &r->to);
	for (int p = PR_MODBUS; p < PR_N; p++)
		if (lex_is(&ps->lx, T_WORD, pol_proto_names[p])) {
			r->proto = p;
			if (p == PR_READINGS)
				readings_check(ps, r);
			lex_next(&ps->lx);
			break;
		}
	while (ps->lx.tok.t == T_WORD) {
		if ((lex_is(&ps->lx, T_WORD, "rate") && r->rate != 0) ||
		    (lex_is(&ps->lx, T_WORD, "label") && r->label != NULL))
			lex_err(&ps->lx, ps->lx.tok.line, ps->lx.tok.col,
			    "%s is given twice in one rule", ps->lx.tok.s);
		if (lex_is(&ps->lx, T_WORD, "rate")) {
			rline = ps->lx.tok.line;
			rcol = ps->lx.tok.col;
			lex_next(&ps->lx);
			rate(ps, r);
		} else if (lex_is(&ps->lx, T_WORD, "label")) {
			lex_next(&ps->lx);
			if (ps->lx.tok.t != T_STRING)
				lex_unexpected(&ps->lx, "a quoted label", NULL,
				    0);
			r->label = pstrdup(ps, ps->lx.tok.s);
			lex_next(&ps->lx);
		} else if ((kw = keyword_find(r->proto, ps->lx.tok.s,
		    &other)) !=
		    NULL)
			match(ps, r, kw);
		else
			unknown_match(ps, r);
	}
	if (ps->lx.tok.t != T_NL && ps->lx.tok.t != T_EOF)
		unknown_match(ps, r);
	check_rule(ps, r, wline, wcol, rline, rcol);
}

static void
statement(struct parser *ps)
{
	static const char *const starts[] = { "pass", "block", "reject", "table" };
	char word[LEX_TOK_MAX];
	unsigned line = ps->lx.tok.line;

	for (int a = 0; a < 3; a++)
		if (lex_is(&ps->lx, T_WORD, starts[a])) {
			stmt_rule(ps, a);
			return;
		}
	if (lex_accept(&ps->lx, T_WORD, "table")) {
		stmt_table(ps);
		return;
	}
	if (ps->lx.tok.t == T_WORD && lex_macro_start(&ps->lx, word)) {
		/* column 1 whatever the indent, as the rules file said */
		lex_macro_define(&ps->lx, word, line, 1);
		return;
	}
	lex_unexpected(&ps->lx,
	    "pass, block, reject, table or NAME = \"value\"",
	    starts, 4);
}

static void
parse_all(struct parser *ps)
{
	lex_next(&ps->lx);
	for (;;) {
		while (lex_accept(&ps->lx, T_NL, NULL))
			;
		if (ps->lx.tok.t == T_EOF)
			break;
		statement(ps);
		if (!lex_accept(&ps->lx, T_NL, NULL) && ps->lx.tok.t != T_EOF)
			lex_unexpected(&ps->lx, "end of line", NULL, 0);
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
			lex_err(&ps->lx, r->line, 1, "out of memory");
	}
	if (pol_compile(pol) == -1)
		lex_err(&ps->lx, 1, 1, "out of memory");
}

static void
parse_rules(void *arg)
{
	parse_all(arg);
	finish(arg);
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
	lex_init(&ps->lx, &syntax, text, len, &err->line, &err->col, err->msg,
	    sizeof(err->msg));
	rc = lex_run(&ps->lx, parse_rules, ps);
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
	char *text;
	size_t len;

	memset(err, 0, sizeof(*err));
	snprintf(err->file, sizeof(err->file), "%s", path);
	if ((text = lex_read_file(path, XGW_PDU_MAX, &len, err->msg,
	    sizeof(err->msg))) == NULL)
		return NULL;
	pol = xgw_policy_parse(path, text, len, err);
	free(text);
	return pol;
}
