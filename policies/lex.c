/*
 * The tokenizer xgw.conf and the rules file share (see lex.h), so that
 * both languages quote, continue lines, expand macros and report errors
 * the same way.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "lex.h"
#include "policy_int.h"		/* pol_closest */
#include "xgw_transform.h"	/* xgw_parse_uint */

/*
 * The text of the file at path, to free, if it has at most max bytes;
 * else NULL and why in emsg.
 */
char *
lex_read_file(const char *path, size_t max, size_t *lenp, char *emsg,
    size_t emsgsize)
{
	char *text = NULL, *p;
	size_t len = 0, cap = 0, n;
	FILE *f;

	if ((f = fopen(path, "r")) == NULL) {
		snprintf(emsg, emsgsize, "%s", strerror(errno));
		return NULL;
	}
	/* up to one byte more than allowed: that tells a file too large */
	do {
		if (len == cap) {
			cap = cap == 0 ? 4096 : cap * 2;
			if (cap > max + 1)
				cap = max + 1;
			if ((p = realloc(text, cap)) == NULL) {
				snprintf(emsg, emsgsize, "out of memory");
				goto fail;
			}
			text = p;
		}
		len += n = fread(text + len, 1, cap - len, f);
	} while (n > 0 && len <= max);
	if (ferror(f) || len > max) {
		snprintf(emsg, emsgsize, ferror(f) ? "read error" :
		    "file larger than %zu bytes", max);
		goto fail;
	}
	fclose(f);
	*lenp = len;
	return text;
fail:
	free(text);
	fclose(f);
	return NULL;
}

void
lex_init(struct lex *lx, const struct lex_syntax *syn, const char *text,
    size_t len, unsigned *eline, unsigned *ecol, char *emsg, size_t emsgsize)
{
	memset(lx, 0, sizeof(*lx));
	lx->syn = syn;
	lx->eline = eline;
	lx->ecol = ecol;
	lx->emsg = emsg;
	lx->emsgsize = emsgsize;
	lx->src[0] = (struct lex_src){ text, text + len, 1, 1 };
}

static void
macros_free(struct lex *lx)
{
	for (size_t i = 0; i < lx->nmacros; i++) {
		free(lx->macros[i].name);
		free(lx->macros[i].value);
	}
	free(lx->macros);
	lx->macros = NULL;
	lx->nmacros = 0;
}

static int
try(struct lex *lx, void (*parse)(void *), void *arg)
{
	if (setjmp(lx->fail) != 0)
		return -1;
	parse(arg);
	return 0;
}

/* parse(arg) up to the end or the first error: 0 or -1; the macros freed. */
int
lex_run(struct lex *lx, void (*parse)(void *), void *arg)
{
	int rc = try(lx, parse, arg);

	macros_free(lx);
	return rc;
}

void
lex_err(struct lex *lx, unsigned line, unsigned col, const char *fmt, ...)
{
	va_list ap;

	*lx->eline = line;
	*lx->ecol = col;
	va_start(ap, fmt);
	vsnprintf(lx->emsg, lx->emsgsize, fmt, ap);
	va_end(ap);
	longjmp(lx->fail, 1);
}

static int
peekc(struct lex *lx)
{
	struct lex_src *s = &lx->src[lx->depth];

	return s->p < s->end ? (unsigned char)*s->p : -1;
}

static int
getc_(struct lex *lx)
{
	struct lex_src *s = &lx->src[lx->depth];
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

/* c, not NUL nor end of text, is one of set */
static int
oneof(int c, const char *set)
{
	return c > 0 && strchr(set, c) != NULL;
}

static const char *
macro_find(struct lex *lx, const char *name)
{
	for (size_t i = 0; i < lx->nmacros; i++)
		if (strcmp(lx->macros[i].name, name) == 0)
			return lx->macros[i].value;
	return NULL;
}

static void
macro_expand(struct lex *lx, unsigned line, unsigned col)
{
	char name[LEX_TOK_MAX];
	const char *v, *cands[64], *near;
	size_t n = 0;

	while (lx->syn->namec(peekc(lx)) && n < sizeof(name) - 1)
		name[n++] = getc_(lx);
	name[n] = '\0';
	if (n == 0)
		lex_err(lx, line, col, "expected a macro name after $");
	if ((v = macro_find(lx, name)) == NULL) {
		for (n = 0; n < lx->nmacros && n < 64; n++)
			cands[n] = lx->macros[n].name;
		near = pol_closest(name, cands, n);
		lex_err(lx, line, col, "undefined macro $%s%s%s%s", name,
		    near ? " (did you mean $" : "", near ? near : "",
		    near ? "?)" : "");
	}
	if (lx->depth == LEX_MACRO_DEPTH)
		lex_err(lx, line, col, "macros nested deeper than %d",
		    LEX_MACRO_DEPTH);
	if (lx->depth == 0) {
		lx->mline = line;
		lx->mcol = col;
	}
	lx->depth++;
	lx->src[lx->depth] = (struct lex_src){ v, v + strlen(v), line, col };
}

static void
lex_string(struct lex *lx, struct tok *t)
{
	size_t n = 0;
	int c;

	for (;;) {
		if ((c = getc_(lx)) == -1 || c == '\n')
			lex_err(lx, t->line, t->col, "unterminated string");
		if (c == '"')
			break;
		/* a NUL would end the value early: refused, not cut */
		if (c == '\0')
			lex_err(lx, t->line, t->col, "NUL byte in a string");
		if (c == '\\' && (peekc(lx) == '"' || peekc(lx) == '\\'))
			c = getc_(lx);
		if (n == LEX_TOK_MAX - 1)
			lex_err(lx, t->line, t->col,
			    "string longer than %d bytes", LEX_TOK_MAX - 1);
		t->s[n++] = c;
	}
	t->s[n] = '\0';
	t->t = T_STRING;
}

static void
lex_word(struct lex *lx, struct tok *t)
{
	size_t n = 0;

	while (lx->syn->wordc(peekc(lx), t->s, n)) {
		if (n == LEX_TOK_MAX - 1)
			lex_err(lx, t->line, t->col,
			    "word longer than %d bytes", LEX_TOK_MAX - 1);
		t->s[n++] = getc_(lx);
	}
	t->s[n] = '\0';
	t->t = T_WORD;
}

/* Spaces, continuations, comments and macros up to the next token's byte. */
static int
skip(struct lex *lx, struct tok *t)
{
	int c;

	for (;;) {
		c = peekc(lx);
		if (c == -1 && lx->depth > 0) {
			lx->depth--;
			continue;
		}
		t->line = lx->depth ? lx->mline : lx->src[0].line;
		t->col = lx->depth ? lx->mcol : lx->src[0].col;
		if (c == ' ' || c == '\t' || c == '\r' ||
		    (c == '\n' && lx->syn->braced_nl && lx->braces > 0)) {
			getc_(lx);
		} else if (c == '\\') {
			getc_(lx);
			if (getc_(lx) != '\n')
				lex_err(lx, t->line, t->col,
				    "expected a newline after \\");
		} else if (c == '#') {
			while (peekc(lx) != -1 && peekc(lx) != '\n')
				getc_(lx);
		} else if (c == '$') {
			getc_(lx);
			macro_expand(lx, t->line, t->col);
		} else
			return c;
	}
}

void
lex_next(struct lex *lx)
{
	struct tok *t = &lx->tok;
	int c = skip(lx, t);

	t->s[0] = '\0';
	if (c == -1) {
		t->t = T_EOF;
		return;
	}
	if (oneof(c, lx->syn->nl)) {
		getc_(lx);
		t->t = T_NL;
		return;
	}
	if (c == '"') {
		getc_(lx);
		lex_string(lx, t);
		return;
	}
	if (lx->syn->wordc(c, t->s, 0)) {
		lex_word(lx, t);
		return;
	}
	if (!oneof(c, lx->syn->punct))
		lex_err(lx, t->line, t->col, "unexpected character '%c'%s",
		    c >= 0x20 && c < 0x7f ? c : '?',
		    c >= 0x20 && c < 0x7f ? "" : " (a control or non-ASCII byte)");
	t->s[0] = getc_(lx);
	t->s[1] = '\0';
	t->t = T_PUNCT;
	if (c == '{')
		lx->braces++;
	else if (c == '}' && lx->braces > 0)
		lx->braces--;
}

const char *
lex_found(const struct tok *t, char *buf, size_t len)
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

/* "expected X, found 'Y' (did you mean Z?)" */
void
lex_unexpected(struct lex *lx, const char *what, const char *const *cands,
    size_t n)
{
	const char *near = NULL;
	char buf[80];

	if (lx->tok.t == T_WORD && cands != NULL)
		near = pol_closest(lx->tok.s, cands, n);
	lex_err(lx, lx->tok.line, lx->tok.col, "expected %s, found %s%s%s%s",
	    what, lex_found(&lx->tok, buf, sizeof(buf)),
	    near ? " (did you mean " : "", near ? near : "", near ? "?)" : "");
}

int
lex_is(struct lex *lx, enum tt t, const char *s)
{
	return lx->tok.t == t && (s == NULL || strcmp(lx->tok.s, s) == 0);
}

int
lex_accept(struct lex *lx, enum tt t, const char *s)
{
	if (!lex_is(lx, t, s))
		return 0;
	lex_next(lx);
	return 1;
}

void
lex_expect(struct lex *lx, enum tt t, const char *s, const char *what)
{
	if (!lex_accept(lx, t, s))
		lex_unexpected(lx, what, NULL, 0);
}

/* A decimal word in [min, max], consumed. */
uint64_t
lex_number(struct lex *lx, const char *what, uint64_t min, uint64_t max)
{
	char buf[80];
	uint64_t v;

	if (lx->tok.t != T_WORD ||
	    xgw_parse_uint(lx->tok.s, strlen(lx->tok.s), max, &v) == -1 ||
	    v < min)
		lex_err(lx, lx->tok.line, lx->tok.col,
		    "%s: expected a number %llu..%llu, found %s", what,
		    (unsigned long long)min, (unsigned long long)max,
		    lex_found(&lx->tok, buf, sizeof(buf)));
	lex_next(lx);
	return v;
}

/*
 * A word and '=' start a macro definition: 1, the word in name (of
 * LEX_TOK_MAX bytes).  Otherwise 0 and the word is the token again.
 */
int
lex_macro_start(struct lex *lx, char *name)
{
	struct tok *t = &lx->tok;
	unsigned line = t->line, col = t->col;

	snprintf(name, LEX_TOK_MAX, "%s", t->s);
	lex_next(lx);
	if (lex_is(lx, T_PUNCT, "="))
		return 1;
	snprintf(t->s, sizeof(t->s), "%s", name);
	t->t = T_WORD;
	t->line = line;
	t->col = col;
	return 0;
}

/* After lex_macro_start: '=' and the quoted value, kept for $name. */
void
lex_macro_define(struct lex *lx, const char *name, unsigned line,
    unsigned col)
{
	struct lex_macro *m;

	if (macro_find(lx, name) != NULL)
		lex_err(lx, line, col, "macro %s is defined twice", name);
	lex_next(lx);
	if (lx->tok.t != T_STRING)
		lex_unexpected(lx, "a quoted macro value", NULL, 0);
	if ((m = realloc(lx->macros, (lx->nmacros + 1) * sizeof(*m))) == NULL)
		lex_err(lx, line, col, "out of memory");
	lx->macros = m;
	m = &lx->macros[lx->nmacros];
	if ((m->name = strdup(name)) == NULL ||
	    (m->value = strdup(lx->tok.s)) == NULL) {
		free(m->name);
		lex_err(lx, line, col, "out of memory");
	}
	lx->nmacros++;
	lex_next(lx);
}

/* A string as the lexer reads it back. */
void
lex_print_quoted(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\')
			fputc('\\', f);
		fputc(*s, f);
	}
	fputc('"', f);
}
