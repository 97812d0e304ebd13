/*
 * The one tokenizer of xgw's two languages, xgw.conf (gateway/conf.c) and
 * the rules file (parse.c): words, quoted strings, pf-style $macros, '\'
 * continuations, '#' comments, line:col of every token and the messages
 * "expected X, found Y (did you mean Z?)".  What a word and a punctuation
 * mark are is the grammar's, in its struct lex_syntax.  The parser runs
 * under lex_run; the first error (lex_err) longjmps back out of it, with
 * line, column and message where lex_init was told to put them.
 */
#ifndef XGW_LEX_H
#define XGW_LEX_H

#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define LEX_TOK_MAX	1024
#define LEX_MACRO_DEPTH	8

enum tt { T_EOF, T_NL, T_WORD, T_STRING, T_PUNCT };

struct tok {
	enum tt		 t;
	char		 s[LEX_TOK_MAX];
	unsigned	 line, col;
};

struct lex_syntax {
	/* c goes on the word w of n bytes (n 0: c starts a word) */
	int		(*wordc)(int c, const char *w, size_t n);
	int		(*namec)(int c);	/* in a $macro's name */
	const char	*punct;		/* the one-byte tokens */
	const char	*nl;		/* what ends a statement */
	int		 braced_nl;	/* newlines inside { } are spaces */
};

struct lex_src {
	const char	*p, *end;
	unsigned	 line, col;
};

struct lex_macro {
	char		*name;
	char		*value;
};

struct lex {
	const struct lex_syntax	*syn;
	jmp_buf			 fail;
	unsigned		*eline, *ecol;	/* where errors go */
	char			*emsg;
	size_t			 emsgsize;
	struct lex_src		 src[LEX_MACRO_DEPTH + 1];
	int			 depth;		/* 0: the text itself */
	unsigned		 mline, mcol;	/* where the macro in use was named */
	int			 braces;	/* '{' open, for braced_nl */
	struct tok		 tok;
	struct lex_macro	*macros;
	size_t			 nmacros;
};

char	*lex_read_file(const char *path, size_t max, size_t *len, char *emsg,
	    size_t emsgsize);
void	 lex_init(struct lex *, const struct lex_syntax *, const char *text,
	    size_t len, unsigned *eline, unsigned *ecol, char *emsg,
	    size_t emsgsize);
int	 lex_run(struct lex *, void (*parse)(void *), void *arg);
void	 lex_err(struct lex *, unsigned line, unsigned col, const char *, ...)
	    __attribute__((format(printf, 4, 5), noreturn));
void	 lex_next(struct lex *);
const char *lex_found(const struct tok *, char *buf, size_t len);
void	 lex_unexpected(struct lex *, const char *what,
	    const char *const *cands, size_t n) __attribute__((noreturn));
int	 lex_is(struct lex *, enum tt, const char *);
int	 lex_accept(struct lex *, enum tt, const char *);
void	 lex_expect(struct lex *, enum tt, const char *, const char *what);
uint64_t lex_number(struct lex *, const char *what, uint64_t min,
	    uint64_t max);
int	 lex_macro_start(struct lex *, char *name);
void	 lex_macro_define(struct lex *, const char *name, unsigned line,
	    unsigned col);
void	 lex_print_quoted(FILE *, const char *);

#endif
