/*
 * The normalized form of a rule set: macros expanded, names where the
 * language has them, one rule a line, every part in the grammar's order.
 * It is what `xgwctl check` shows and what reload compares, so it must
 * parse back to the same thing.
 */
#include <stdlib.h>
#include <string.h>

#include "lex.h"
#include "policy_int.h"

static void
number(FILE *f, const struct keyword *kw, uint64_t v)
{
	const char *name = pol_num_name(kw, v);

	if (name != NULL)
		fputs(name, f);
	else if (kw->field == FD_CODE)
		fprintf(f, "%u.%02u", (unsigned)(v >> 5), (unsigned)(v & 31));
	else
		fprintf(f, "%llu", (unsigned long long)v);
}

static void
item(FILE *f, const struct cond *c, size_t i)
{
	static const char *const kinds[] = { "", "prefix ", "glob " };

	if (c->kw->kind == CK_NUM) {
		number(f, c->kw, c->r[i].lo);
		if (c->r[i].hi != c->r[i].lo) {
			fputc(':', f);
			number(f, c->kw, c->r[i].hi);
		}
	} else if (c->kw->kind == CK_WORD)
		fputs(c->s[i].s, f);
	else {
		fputs(kinds[c->s[i].kind], f);
		lex_print_quoted(f, c->s[i].s);
	}
}

/* One item bare, several in braces: the same choice for every list. */
static void
items(FILE *f, size_t n, void (*one)(FILE *, const void *, size_t),
    const void *arg)
{
	if (n > 1)
		fputs("{ ", f);
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			fputs(", ", f);
		one(f, arg, i);
	}
	if (n > 1)
		fputs(" }", f);
}

static void
cond_item(FILE *f, const void *arg, size_t i)
{
	item(f, arg, i);
}

static void
id_item(FILE *f, const void *arg, size_t i)
{
	const struct ids *ids = arg;

	fputs(ids->item[i], f);
}

static void
dir_item(FILE *f, const void *arg, size_t i)
{
	const unsigned *dirs = arg;
	size_t k = 0;

	for (int d = 0; d <= XGW_EVENT; d++)
		if (*dirs & 1u << d && k++ == i)
			fputs(pol_dir_names[d].name, f);
}

static void
rule(FILE *f, const struct rule *r)
{
	static const char *const actions[] = { "pass", "block", "reject" };
	size_t ndirs = 0;

	fputs(actions[r->action], f);
	if (r->code != 0) {
		const char *name = NULL;

		for (const struct pname *e = pol_modbus_exc; e->name; e++)
			if (e->v == r->code)
				name = e->name;
		if (name != NULL)
			fprintf(f, " with %s", name);
		else
			fprintf(f, " with %u", r->code);
	}
	for (int d = 0; d <= XGW_EVENT; d++)
		ndirs += (r->dirs >> d) & 1;
	if (ndirs > 0) {
		fputc(' ', f);
		items(f, ndirs, dir_item, &r->dirs);
	}
	if (r->from.n > 0) {
		fputs(" from ", f);
		items(f, r->from.n, id_item, &r->from);
	}
	if (r->to.n > 0) {
		fputs(" to ", f);
		items(f, r->to.n, id_item, &r->to);
	}
	if (r->proto != PR_ANY)
		fprintf(f, " %s", pol_proto_names[r->proto]);
	for (size_t i = 0; i < r->ncond; i++) {
		const struct cond *c = &r->cond[i];

		fprintf(f, " %s ", c->kw->print ? c->kw->print : c->kw->name);
		if (c->kw->kind == CK_HEADER) {
			lex_print_quoted(f, c->hname);
			if (c->n == 0)
				continue;
			fputc(' ', f);
		}
		items(f, c->n, cond_item, c);
	}
	if (r->rate != 0)
		fprintf(f, " rate %llu/%s burst %llu",
		    (unsigned long long)r->rate,
		    r->per_ms == 1000 ? "s" : r->per_ms == 60000 ? "m" : "h",
		    (unsigned long long)r->burst);
	if (r->label != NULL) {
		fputs(" label ", f);
		lex_print_quoted(f, r->label);
	}
}

char *
pol_rule_string(const struct rule *r)
{
	char *s = NULL;
	size_t len;
	FILE *f;

	if ((f = open_memstream(&s, &len)) == NULL)
		return NULL;
	rule(f, r);
	if (fclose(f) != 0) {
		free(s);
		return NULL;
	}
	return s;
}

const char *
xgw_policy_rule_text(const struct xgw_policy *pol, int i)
{
	if (i < 0 || (size_t)i >= pol->nrules)
		return "default deny";
	return pol->rules[i].text;
}

void
xgw_policy_print(const struct xgw_policy *pol, FILE *f)
{
	for (size_t i = 0; i < pol->ntables; i++) {
		const struct table *t = &pol->tables[i];

		fprintf(f, "table <%s> {", t->name);
		for (size_t j = 0; j < t->n; j++)
			fprintf(f, "%s %s", j ? "," : "", t->uuid[j]);
		fputs(t->n ? " }\n" : "}\n", f);
	}
	for (size_t i = 0; i < pol->nrules; i++)
		fprintf(f, "%s\n", pol->rules[i].text);
}
