/*
 * xgw-replay --live: plays the client side of each captured Modbus/TCP
 * and CoAP flow against a running gateway or device, and compares every
 * answer with the captured one, field by field on the decoded elements.
 *
 * While replay.c reads a capture it hands every decoded PDU to
 * live_pdu(): a request becomes an exchange, and a captured answer is
 * paired with its request the way the protocol pairs them (Modbus: the
 * transaction id and unit; CoAP: the message id for an ACK or RST, the
 * token for a separate response).  live_run() then sends the requests in
 * capture order, one connection (TCP) or socket (UDP) per captured flow,
 * pairs the live answers the same way, and reports each exchange: match,
 * differ (which field, captured and live values), timeout, or silent
 * (no answer in the capture either).
 */
#include <sys/socket.h>
#include <netinet/in.h>
#include <err.h>
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "coap.h"
#include "modbus.h"
#include "replay.h"

#define LIVE_MAX_FLOWS	(1u << 20)	/* flows replayed per capture */
#define LIVE_MAX_EXCH	(1u << 20)	/* exchanges kept per capture */
#define LIVE_MAX_BYTES	(256u << 20)	/* request and answer bytes kept */
#define LIVE_MAX_OPEN	256		/* connections open at once */
#define LIVE_PAIR_SCAN	64		/* recent requests an answer may pair with */
#define LIVE_DIFF_SHOW	8		/* differences printed per exchange */
#define VALUE_SHOW	40		/* characters of a value printed */
#define FIELD_MAX	300		/* a field's path: "opt(max-age).uint" */
#define CHILDREN_MAX	512		/* children compared one by one */

#define COAP_CON	0
#define COAP_ACK	2
#define COAP_RST	3

enum xstate { X_WAIT, X_SENT, X_DONE };

struct lexch {
	size_t		 flow;		/* index into live->flows */
	size_t		 nr;		/* 1-based, within its flow */
	uint64_t	 ts_ms;		/* capture time of the request */
	uint8_t		*req, *cap;	/* cap: the captured answer, or NULL */
	size_t		 reqlen, caplen;
	enum xstate	 state;
	uint64_t	 deadline;	/* monotonic ms, while X_SENT */
};

struct lflow {
	uint64_t	 id;		/* replay.c's flow number */
	char		 name[140];
	const struct xgw_proto *xp;
	size_t		*ex;		/* its exchanges, in capture order */
	size_t		 nex, capex;
	size_t		 nsent, first_open;	/* first_open: first not done */
	int		 fd;		/* -1 while not connected */
	size_t		 slot;		/* its place in live->open */
	uint8_t		 in[2 * XGW_MODBUS_ADU_MAX];
	size_t		 inlen;
};

struct live {
	char		 target[300];
	struct sockaddr_storage addr;
	socklen_t	 addrlen;
	enum live_pace	 pace;
	unsigned	 timeout_ms;
	int		 verbose;
	xmpp_ctx_t	*ctx;
	uint8_t		 dgram[XGW_COAP_MSG_MAX + 1];
	/* from here on, everything is per capture (forget() zeroes it) */
	struct lexch	*ex;
	size_t		 nex, capex, bytes;
	int		 full;		/* a bound was reached: rest ignored */
	struct lflow	**flows;	/* by flow number - 1; NULL: not replayed */
	size_t		 nflows, nreplayed;
	struct lflow	*open[LIVE_MAX_OPEN];
	size_t		 nopen;
	size_t		 next;		/* next exchange to send */
	size_t		 outstanding;
	int		 blocked;	/* the next one waits for a free socket */
	uint64_t	 start, ts0;
	uint64_t	 match, differ, timeout, silent;
	uint64_t	 retrans, other_msgs, other_proto, orphans, unexpected;
};

static uint64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* HOST:PORT or [V6]:PORT, resolved once: every flow goes there. */
struct live *
live_new(const char *target, enum live_pace pace, unsigned timeout_ms,
    int verbose)
{
	struct addrinfo hints, *res;
	char host[256];
	const char *colon = strrchr(target, ':'), *h = target;
	size_t hlen;
	struct live *l;
	int rc;

	if (colon == NULL || colon[1] == '\0')
		errx(2, "--live %s: expected HOST:PORT", target);
	hlen = colon - target;
	if (hlen >= 2 && target[0] == '[' && target[hlen - 1] == ']') {
		h++;
		hlen -= 2;
	}
	if (hlen == 0 || hlen >= sizeof(host))
		errx(2, "--live %s: expected HOST:PORT", target);
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_flags = AI_NUMERICSERV;
	if ((rc = getaddrinfo(host, colon + 1, &hints, &res)) != 0)
		errx(2, "--live %s: %s", target, gai_strerror(rc));
	if ((l = calloc(1, sizeof(*l))) == NULL)
		err(1, "live");
	snprintf(l->target, sizeof(l->target), "%s", target);
	memcpy(&l->addr, res->ai_addr, res->ai_addrlen);
	l->addrlen = res->ai_addrlen;
	freeaddrinfo(res);
	l->pace = pace;
	l->timeout_ms = timeout_ms;
	l->verbose = verbose;
	return l;
}

static int
is_modbus(const struct xgw_proto *xp)
{
	return xp == &xgw_modbus_proto;
}

static unsigned
coap_type(const uint8_t *p)
{
	return p[0] >> 4 & 3;
}

/* A request, or a CoAP ping (an Empty CON, answered by RST). */
static int
is_request(const struct xgw_proto *xp, const uint8_t *p)
{
	if (is_modbus(xp))
		return 1;
	return (p[1] >> 5) == 0 && (p[1] != 0 || coap_type(p) == COAP_CON);
}

enum answer { ANSWER, NOT_YET, NOT_ANSWER };

/*
 * What a message from the server side is: an Empty ACK only says that a
 * separate response follows, and a CoAP request from the server (LwM2M)
 * answers nothing.
 */
static enum answer
answer_kind(const struct xgw_proto *xp, const uint8_t *p)
{
	if (is_modbus(xp))
		return ANSWER;
	if (p[1] == 0 && coap_type(p) == COAP_ACK)
		return NOT_YET;
	if (p[1] != 0 && (p[1] >> 5) == 0)
		return NOT_ANSWER;
	return ANSWER;
}

/* Does answer p pair with request q?  Both are whole, decoded PDUs. */
static int
pairs(const struct xgw_proto *xp, const uint8_t *q, const uint8_t *p,
    size_t n)
{
	size_t tkl;

	if (is_modbus(xp))
		return q[0] == p[0] && q[1] == p[1] && q[6] == p[6];
	if (coap_type(p) == COAP_ACK || coap_type(p) == COAP_RST)
		return q[2] == p[2] && q[3] == p[3];
	tkl = p[0] & 0x0f;
	return (q[0] & 0x0f) == tkl && n >= 4 + tkl &&
	    memcmp(q + 4, p + 4, tkl) == 0;
}

static uint8_t *
keep(struct live *l, const uint8_t *p, size_t n)
{
	uint8_t *b;

	if (n > LIVE_MAX_BYTES - l->bytes) {
		l->full = 1;
		return NULL;
	}
	if ((b = malloc(n)) == NULL)
		err(1, "live");
	memcpy(b, p, n);
	l->bytes += n;
	return b;
}

static struct lflow *
flow_get(struct live *l, uint64_t id, const char *name,
    const struct xgw_proto *xp)
{
	struct lflow *f;

	if (id == 0 || id > LIVE_MAX_FLOWS)
		return NULL;
	if (id > l->nflows) {
		size_t n = l->nflows ? l->nflows : 64;
		struct lflow **fl;

		while (n < id)
			n *= 2;
		if ((fl = reallocarray(l->flows, n, sizeof(*fl))) == NULL)
			err(1, "live");
		memset(fl + l->nflows, 0, (n - l->nflows) * sizeof(*fl));
		l->flows = fl;
		l->nflows = n;
	}
	if ((f = l->flows[id - 1]) != NULL)
		return f;
	if ((f = calloc(1, sizeof(*f))) == NULL)
		err(1, "live");
	f->id = id;
	f->xp = xp;
	f->fd = -1;
	snprintf(f->name, sizeof(f->name), "%s", name);
	l->nreplayed++;
	return l->flows[id - 1] = f;
}

/* A CoAP CON request the client sent again with the same message id. */
static int
retransmission(struct live *l, struct lflow *f, const uint8_t *p, size_t n)
{
	if (is_modbus(f->xp) || coap_type(p) != COAP_CON)
		return 0;
	for (size_t i = f->nex > LIVE_PAIR_SCAN ? f->nex - LIVE_PAIR_SCAN : 0;
	    i < f->nex; i++) {
		const struct lexch *x = &l->ex[f->ex[i]];

		if (x->reqlen == n && memcmp(x->req, p, n) == 0)
			return 1;
	}
	return 0;
}

static void
exch_add(struct live *l, struct lflow *f, const uint8_t *p, size_t n,
    uint64_t ts_ms)
{
	struct lexch *x;

	if (l->nex == LIVE_MAX_EXCH) {
		l->full = 1;
		return;
	}
	if (l->nex == l->capex) {
		size_t cap = l->capex ? l->capex * 2 : 256;

		if ((x = reallocarray(l->ex, cap, sizeof(*x))) == NULL)
			err(1, "live");
		l->ex = x;
		l->capex = cap;
	}
	if (f->nex == f->capex) {
		size_t cap = f->capex ? f->capex * 2 : 16, *e;

		if ((e = reallocarray(f->ex, cap, sizeof(*e))) == NULL)
			err(1, "live");
		f->ex = e;
		f->capex = cap;
	}
	x = &l->ex[l->nex];
	memset(x, 0, sizeof(*x));
	if ((x->req = keep(l, p, n)) == NULL)
		return;
	x->reqlen = n;
	x->flow = f->id - 1;
	x->nr = f->nex + 1;
	x->ts_ms = ts_ms;
	f->ex[f->nex++] = l->nex++;
}

/* The captured answer to the earliest recent request it pairs with. */
static void
captured_answer(struct live *l, struct lflow *f, const uint8_t *p, size_t n)
{
	if (answer_kind(f->xp, p) != ANSWER)
		return;
	for (size_t i = f->nex > LIVE_PAIR_SCAN ? f->nex - LIVE_PAIR_SCAN : 0;
	    i < f->nex; i++) {
		struct lexch *x = &l->ex[f->ex[i]];

		if (x->cap == NULL && pairs(f->xp, x->req, p, n)) {
			if ((x->cap = keep(l, p, n)) != NULL)
				x->caplen = n;
			return;
		}
	}
	l->orphans++;
}

void
live_pdu(struct live *l, uint64_t flow, const char *name,
    const struct xgw_proto *xp, enum xgw_dir dir, const uint8_t *p,
    size_t n, uint64_t ts_ms)
{
	struct lflow *f;

	if (xp != &xgw_modbus_proto && xp != &xgw_coap_proto) {
		l->other_proto++;
		return;
	}
	if (l->full || (f = flow_get(l, flow, name, xp)) == NULL) {
		l->full = 1;
		return;
	}
	if (dir != XGW_REQUEST) {
		captured_answer(l, f, p, n);
		return;
	}
	if (!is_request(xp, p))
		l->other_msgs++;
	else if (retransmission(l, f, p, n))
		l->retrans++;
	else
		exch_add(l, f, p, n, ts_ms);
}

/* The comparison: one element pair, attributes and children. */
struct cmp {
	const struct lexch *x;
	const struct lflow *f;
	const char	*kind;
	size_t		 ndiff;
};

static void
say(const struct cmp *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
say(const struct cmp *c, const char *fmt, ...)
{
	va_list ap;

	printf("flow %llu (%s) exchange %zu %s: ", (unsigned long long)c->f->id,
	    c->f->name, c->x->nr, c->kind);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

/* Paths are a few levels deep: one that does not fit is cut. */
static void
field_name(char *buf, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
field_name(char *buf, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, FIELD_MAX, fmt, ap);
	va_end(ap);
}

/* A value as printed: cut at VALUE_SHOW characters. */
static const char *
shown(const char *v, char *buf, size_t len)
{
	if (v == NULL)
		return "(absent)";
	if (strlen(v) <= VALUE_SHOW)
		return v;
	snprintf(buf, len, "%.*s...", VALUE_SHOW, v);
	return buf;
}

static void
differ(struct cmp *c, const char *field, const char *cv, const char *lv)
{
	char b1[VALUE_SHOW + 4], b2[VALUE_SHOW + 4];

	if (c->ndiff++ < LIVE_DIFF_SHOW)
		say(c, "%s: captured %s, live %s", field,
		    shown(cv, b1, sizeof(b1)), shown(lv, b2, sizeof(b2)));
}

/* Fields the gateway may remap, or the client chooses: never compared. */
static int
ignored(const struct xgw_proto *xp, const char *name)
{
	if (is_modbus(xp))
		return strcmp(name, "tid") == 0;
	return strcmp(name, "mid") == 0 || strcmp(name, "token") == 0;
}

static void
diff_attrs(struct cmp *c, const char *path, xmpp_stanza_t *a,
    xmpp_stanza_t *b)
{
	int na = xmpp_stanza_get_attribute_count(a);
	int nb = xmpp_stanza_get_attribute_count(b);
	const char **kv;
	char field[FIELD_MAX];

	if ((kv = calloc(2 * (size_t)(na > nb ? na : nb) + 2,
	    sizeof(*kv))) == NULL)
		err(1, "live");
	na = xmpp_stanza_get_attributes(a, kv, 2 * na);
	for (int i = 0; i < na; i += 2) {
		const char *lv = xmpp_stanza_get_attribute(b, kv[i]);

		if (ignored(c->f->xp, kv[i]) ||
		    (lv != NULL && strcmp(lv, kv[i + 1]) == 0))
			continue;
		field_name(field, "%s%s", path, kv[i]);
		differ(c, field, kv[i + 1], lv);
	}
	nb = xmpp_stanza_get_attributes(b, kv, 2 * nb);
	for (int i = 0; i < nb; i += 2) {
		if (ignored(c->f->xp, kv[i]) ||
		    xmpp_stanza_get_attribute(a, kv[i]) != NULL)
			continue;
		field_name(field, "%s%s", path, kv[i]);
		differ(c, field, NULL, kv[i + 1]);
	}
	free(kv);
}

static int
is_list(const char *s)
{
	for (; *s != '\0'; s++)
		if (!(*s >= '0' && *s <= '9') && *s != ' ')
			return 0;
	return 1;
}

/* "9 24" against "36 43": the first differing item, and how many differ. */
static void
diff_list(struct cmp *c, const char *field, const char *a, const char *b)
{
	size_t i = 0, first = 0, ndiff = 0, na = 0, nb = 0;
	char fa[24] = "", fb[24] = "", name[FIELD_MAX], both[64];

	while (*a != '\0' || *b != '\0') {
		size_t la = strcspn(a, " "), lb = strcspn(b, " ");

		na += la > 0;
		nb += lb > 0;
		if (la > 0 && lb > 0 && (la != lb || memcmp(a, b, la) != 0) &&
		    ndiff++ == 0) {
			first = i;
			snprintf(fa, sizeof(fa), "%.*s", (int)la, a);
			snprintf(fb, sizeof(fb), "%.*s", (int)lb, b);
		}
		a += la + (a[la] == ' ');
		b += lb + (b[lb] == ' ');
		i++;
	}
	if (na != nb) {
		snprintf(fa, sizeof(fa), "%zu values", na);
		snprintf(fb, sizeof(fb), "%zu values", nb);
		differ(c, field, fa, fb);
		return;
	}
	if (ndiff == 0)
		return;
	field_name(name, "%s[%zu]", field, first);
	snprintf(both, sizeof(both), "%s (%zu of %zu differ)", fb, ndiff, nb);
	differ(c, name, fa, both);
}

/* The next child element at or after s that is compared. */
static xmpp_stanza_t *
next_el(const struct cmp *c, xmpp_stanza_t *s)
{
	while (s != NULL && (!xmpp_stanza_is_tag(s) ||
	    ignored(c->f->xp, xmpp_stanza_get_name(s))))
		s = xmpp_stanza_get_next(s);
	return s;
}

static int
has_text(xmpp_stanza_t *el)
{
	for (xmpp_stanza_t *s = xmpp_stanza_get_children(el); s != NULL;
	    s = xmpp_stanza_get_next(s))
		if (xmpp_stanza_is_text(s))
			return 1;
	return 0;
}

static void	diff_el(struct cmp *, const char *path, xmpp_stanza_t *,
		    xmpp_stanza_t *);

/*
 * A child's key: its name and, for a CoAP option, its number.  Children
 * pair by key and occurrence, so that one missing option does not shift
 * the others.
 */
static int
same_key(xmpp_stanza_t *x, xmpp_stanza_t *y)
{
	const char *nx = xmpp_stanza_get_attribute(x, "num");
	const char *ny = xmpp_stanza_get_attribute(y, "num");

	return strcmp(xmpp_stanza_get_name(x), xmpp_stanza_get_name(y)) == 0 &&
	    (nx == NULL ? ny == NULL : ny != NULL && strcmp(nx, ny) == 0);
}

/* Which occurrence of its key s is among parent's children; *rep: not the only one. */
static size_t
occurrence(const struct cmp *c, xmpp_stanza_t *parent, xmpp_stanza_t *s,
    int *rep)
{
	size_t k = 0, n = 0;

	for (xmpp_stanza_t *x = next_el(c, xmpp_stanza_get_children(parent));
	    x != NULL; x = next_el(c, xmpp_stanza_get_next(x))) {
		if (x == s)
			k = n;
		n += same_key(x, s);
	}
	*rep = n > 1;
	return k;
}

/* parent's k-th child with the key of s, or NULL. */
static xmpp_stanza_t *
kth(const struct cmp *c, xmpp_stanza_t *parent, xmpp_stanza_t *s, size_t k)
{
	for (xmpp_stanza_t *x = next_el(c, xmpp_stanza_get_children(parent));
	    x != NULL; x = next_el(c, xmpp_stanza_get_next(x)))
		if (same_key(x, s) && k-- == 0)
			return x;
	return NULL;
}

/* "regs", "record[1]", "opt(max-age)", "opt(uri-path)[1]", "opt(2048)". */
static void
child_name(char *buf, const char *path, xmpp_stanza_t *s, size_t k, int rep)
{
	const char *label = xmpp_stanza_get_attribute(s, "name");
	const char *num = xmpp_stanza_get_attribute(s, "num");
	char idx[24] = "";

	if (rep)
		snprintf(idx, sizeof(idx), "[%zu]", k);
	if (num != NULL)
		field_name(buf, "%s%s(%s)%s", path, xmpp_stanza_get_name(s),
		    label ? label : num, idx);
	else
		field_name(buf, "%s%s%s", path, xmpp_stanza_get_name(s), idx);
}

static size_t
nchildren(const struct cmp *c, xmpp_stanza_t *el)
{
	size_t n = 0;

	for (xmpp_stanza_t *x = next_el(c, xmpp_stanza_get_children(el));
	    x != NULL; x = next_el(c, xmpp_stanza_get_next(x)))
		n++;
	return n;
}

static void
diff_children(struct cmp *c, const char *path, xmpp_stanza_t *a,
    xmpp_stanza_t *b)
{
	size_t na = nchildren(c, a), nb = nchildren(c, b), k;
	char sub[FIELD_MAX], ca_n[32], cb_n[80];
	xmpp_stanza_t *x, *y;
	int rep;

	/* pairing is quadratic: a message of thousands of options is not */
	if (na > CHILDREN_MAX || nb > CHILDREN_MAX) {
		snprintf(ca_n, sizeof(ca_n), "%zu elements", na);
		snprintf(cb_n, sizeof(cb_n), "%zu elements (over %u: not "
		    "compared)", nb, CHILDREN_MAX);
		field_name(sub, "%schildren", path);
		differ(c, sub, ca_n, cb_n);
		return;
	}
	for (x = next_el(c, xmpp_stanza_get_children(a)); x != NULL;
	    x = next_el(c, xmpp_stanza_get_next(x))) {
		k = occurrence(c, a, x, &rep);
		child_name(sub, path, x, k, rep);
		if ((y = kth(c, b, x, k)) == NULL)
			differ(c, sub, "present", NULL);
		else
			diff_el(c, sub, x, y);
	}
	for (y = next_el(c, xmpp_stanza_get_children(b)); y != NULL;
	    y = next_el(c, xmpp_stanza_get_next(y))) {
		k = occurrence(c, b, y, &rep);
		if (kth(c, a, y, k) == NULL) {
			child_name(sub, path, y, k, rep);
			differ(c, sub, NULL, "present");
		}
	}
}

static void
diff_el(struct cmp *c, const char *path, xmpp_stanza_t *a, xmpp_stanza_t *b)
{
	char prefix[FIELD_MAX];

	field_name(prefix, "%s%s", path, path[0] ? "." : "");
	diff_attrs(c, prefix, a, b);
	if (has_text(a) || has_text(b)) {
		const char *ta = xgw_text(a), *tb = xgw_text(b);

		if (is_list(ta) && is_list(tb))
			diff_list(c, path, ta, tb);
		else if (strcmp(ta, tb) != 0)
			differ(c, path, ta, tb);
	}
	diff_children(c, prefix, a, b);
}

static xmpp_stanza_t *
decode(struct live *l, const struct lflow *f, enum xgw_dir dir,
    const uint8_t *p, size_t n, struct xgw_err *e)
{
	xmpp_stanza_t *el;

	if (f->xp->decode(l->ctx, NULL, dir, p, n, &el, e) == -1)
		return NULL;
	return el;
}

/* One exchange is over: its answer (or NULL and why there is none). */
static void
judge(struct live *l, struct lflow *f, struct lexch *x, const uint8_t *p,
    size_t n, const char *why)
{
	struct cmp c = { x, f, "?", 0 };
	xmpp_stanza_t *req, *cap = NULL, *got = NULL;
	struct xgw_err e;
	char kind[96], gkind[96];

	if ((req = decode(l, f, XGW_REQUEST, x->req, x->reqlen, &e)) != NULL)
		c.kind = f->xp->kind(req, kind, sizeof(kind));
	if (x->cap != NULL &&
	    (cap = decode(l, f, XGW_RESPONSE, x->cap, x->caplen, &e)) == NULL)
		errx(1, "live: a captured answer no longer decodes");
	if (p == NULL && cap == NULL) {
		l->silent++;
		if (l->verbose)
			say(&c, "silent: no answer, as captured (%s)", why);
	} else if (p == NULL) {
		l->timeout++;
		say(&c, "timeout: %s", why);
	} else if ((got = decode(l, f, XGW_RESPONSE, p, n, &e)) == NULL) {
		c.ndiff++;
		say(&c, "answer does not decode: byte %zu: %s: %s", e.offset,
		    e.reason, e.msg);
	} else if (cap == NULL) {
		differ(&c, "answer", "none", f->xp->kind(got, gkind,
		    sizeof(gkind)));
	} else
		diff_el(&c, "", cap, got);
	if (c.ndiff > LIVE_DIFF_SHOW)
		say(&c, "%zu more differences", c.ndiff - LIVE_DIFF_SHOW);
	if (c.ndiff > 0)
		l->differ++;
	else if (got != NULL) {
		l->match++;
		if (l->verbose)
			say(&c, "match");
	}
	if (req != NULL)
		xmpp_stanza_release(req);
	if (cap != NULL)
		xmpp_stanza_release(cap);
	if (got != NULL)
		xmpp_stanza_release(got);
}

static void
flow_close(struct live *l, struct lflow *f)
{
	if (f->fd == -1)
		return;
	close(f->fd);
	f->fd = -1;
	f->inlen = 0;
	l->open[f->slot] = l->open[--l->nopen];
	l->open[f->slot]->slot = f->slot;
}

static void
finish(struct live *l, struct lflow *f, struct lexch *x, const uint8_t *p,
    size_t n, const char *why)
{
	x->state = X_DONE;
	l->outstanding--;
	judge(l, f, x, p, n, why);
	while (f->first_open < f->nex &&
	    l->ex[f->ex[f->first_open]].state == X_DONE)
		f->first_open++;
	if (f->first_open == f->nex)
		flow_close(l, f);
}

/*
 * Every exchange in flight on f ends without an answer, and the
 * connection is closed: a late answer must not be taken for the next
 * request's, so the next request reconnects, as libmodbus clients do.
 */
static void
flow_fail(struct live *l, struct lflow *f, const char *why)
{
	for (size_t i = f->first_open; i < f->nsent; i++) {
		struct lexch *x = &l->ex[f->ex[i]];

		if (x->state == X_SENT)
			finish(l, f, x, NULL, 0, why);
	}
	flow_close(l, f);
}

/* Closes an idle connection to make room; 0 when every one is busy. */
static int
evict_idle(struct live *l)
{
	for (size_t i = 0; i < l->nopen; i++) {
		struct lflow *f = l->open[i];

		if (f->first_open == f->nsent) {
			flow_close(l, f);
			return 1;
		}
	}
	return 0;
}

/* Connects f's socket, waiting at most the timeout for a TCP handshake. */
static int
flow_open(struct live *l, struct lflow *f, char *why, size_t len)
{
	int stream = f->xp->stream, fd, soerr = 0;
	socklen_t sl = sizeof(soerr);
	struct pollfd pfd;

	if ((fd = socket(l->addr.ss_family, (stream ? SOCK_STREAM :
	    SOCK_DGRAM) | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) == -1)
		err(1, "socket");
	if (connect(fd, (struct sockaddr *)&l->addr, l->addrlen) == -1) {
		if (errno != EINPROGRESS) {
			soerr = errno;
		} else {
			pfd.fd = fd;
			pfd.events = POLLOUT;
			if (poll(&pfd, 1, (int)l->timeout_ms) == 0)
				soerr = ETIMEDOUT;
			else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr,
			    &sl) == -1)
				soerr = errno;
		}
	}
	if (soerr != 0) {
		snprintf(why, len, "connect to %s: %s", l->target,
		    strerror(soerr));
		close(fd);
		return -1;
	}
	f->fd = fd;
	f->slot = l->nopen;
	l->open[l->nopen++] = f;
	return 0;
}

static void
send_exchange(struct live *l, struct lflow *f, struct lexch *x, uint64_t now)
{
	char why[400];
	ssize_t w;

	f->nsent++;
	x->state = X_SENT;
	x->deadline = now + l->timeout_ms;
	l->outstanding++;
	if (f->fd == -1 && flow_open(l, f, why, sizeof(why)) == -1) {
		finish(l, f, x, NULL, 0, why);
		return;
	}
	/* requests are small: a peer that leaves them unread has failed */
	w = send(f->fd, x->req, x->reqlen, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (w != (ssize_t)x->reqlen) {
		snprintf(why, sizeof(why), "send: %s", w == -1 ?
		    strerror(errno) : "the peer does not read");
		flow_fail(l, f, why);
	}
}

/* When the next request is due, in monotonic ms; UINT64_MAX: not yet known. */
static uint64_t
due(const struct live *l)
{
	const struct lexch *x = &l->ex[l->next];

	if (l->pace == LIVE_PACE_FAST)
		return l->outstanding == 0 ? 0 : UINT64_MAX;
	/* a clock that steps back in the capture sends at once */
	return l->start + (x->ts_ms > l->ts0 ? x->ts_ms - l->ts0 : 0);
}

static void
send_due(struct live *l, uint64_t now)
{
	l->blocked = 0;
	while (l->next < l->nex && due(l) <= now) {
		struct lexch *x = &l->ex[l->next];
		struct lflow *f = l->flows[x->flow];

		if (f->fd == -1 && l->nopen == LIVE_MAX_OPEN && !evict_idle(l)) {
			l->blocked = 1;
			return;
		}
		l->next++;
		send_exchange(l, f, x, now);
	}
}

static void
expire(struct live *l, uint64_t now)
{
	char why[100];

	for (size_t i = l->nopen; i-- > 0;) {
		struct lflow *f = l->open[i];

		for (size_t j = f->first_open; j < f->nsent; j++) {
			struct lexch *x = &l->ex[f->ex[j]];

			if (x->state != X_SENT || x->deadline > now)
				continue;
			snprintf(why, sizeof(why), "no answer within %u ms",
			    l->timeout_ms);
			if (f->xp->stream) {
				flow_fail(l, f, why);
				break;
			}
			finish(l, f, x, NULL, 0, why);
			if (f->fd == -1)
				break;
		}
	}
}

static void
coap_ack(struct lflow *f, const uint8_t *p)
{
	const uint8_t ack[4] = { 0x60, 0, p[2], p[3] };

	/* unanswered, the server would send it again and again */
	(void)send(f->fd, ack, sizeof(ack), MSG_NOSIGNAL | MSG_DONTWAIT);
}

static void
live_answer(struct live *l, struct lflow *f, const uint8_t *p, size_t n)
{
	enum answer k;

	if (!f->xp->stream) {
		if (n < 4) {
			l->unexpected++;
			return;
		}
		if (coap_type(p) == COAP_CON)
			coap_ack(f, p);
	}
	if ((k = answer_kind(f->xp, p)) == NOT_YET)
		return;
	for (size_t i = f->first_open; k == ANSWER && i < f->nsent; i++) {
		struct lexch *x = &l->ex[f->ex[i]];

		if (x->state == X_SENT && pairs(f->xp, x->req, p, n)) {
			finish(l, f, x, p, n, NULL);
			return;
		}
	}
	l->unexpected++;
	if (l->verbose)
		printf("flow %llu (%s): an answer no request waits for "
		    "(%zu bytes)\n", (unsigned long long)f->id, f->name, n);
}

static void
read_stream(struct live *l, struct lflow *f)
{
	struct xgw_err e;
	size_t off = 0, len;
	ssize_t r;
	char why[300];
	int rc;

	r = recv(f->fd, f->in + f->inlen, sizeof(f->in) - f->inlen, 0);
	if (r == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (r <= 0) {
		flow_fail(l, f, r == 0 ? "connection closed by the peer" :
		    strerror(errno));
		return;
	}
	f->inlen += r;
	while ((rc = f->xp->frame(NULL, XGW_RESPONSE, f->in + off,
	    f->inlen - off, &len, &e)) == 1) {
		live_answer(l, f, f->in + off, len);
		if (f->fd == -1)
			return;
		off += len;
	}
	if (rc == -1) {
		snprintf(why, sizeof(why), "the answer stream is not %s: "
		    "%s", f->xp->name, e.msg);
		flow_fail(l, f, why);
		return;
	}
	memmove(f->in, f->in + off, f->inlen - off);
	f->inlen -= off;
}

static void
read_dgrams(struct live *l, struct lflow *f)
{
	ssize_t r;

	while (f->fd != -1) {
		r = recv(f->fd, l->dgram, sizeof(l->dgram), 0);
		if (r == -1 && errno == ECONNREFUSED) {
			flow_fail(l, f, "refused (ICMP port unreachable)");
			return;
		}
		if (r == -1)
			return;
		if ((size_t)r > XGW_COAP_MSG_MAX) {
			l->unexpected++;
			continue;
		}
		live_answer(l, f, l->dgram, r);
	}
}

static int
wait_ms(const struct live *l, uint64_t now)
{
	uint64_t until = UINT64_MAX;

	if (l->next < l->nex && !l->blocked)
		until = due(l);
	for (size_t i = 0; i < l->nopen; i++) {
		const struct lflow *f = l->open[i];

		for (size_t j = f->first_open; j < f->nsent; j++)
			if (l->ex[f->ex[j]].state == X_SENT &&
			    l->ex[f->ex[j]].deadline < until)
				until = l->ex[f->ex[j]].deadline;
	}
	if (until <= now)
		return 0;
	return until - now > 1000 ? 1000 : (int)(until - now);
}

static void
play(struct live *l)
{
	struct pollfd pfd[LIVE_MAX_OPEN];
	struct lflow *who[LIVE_MAX_OPEN];
	uint64_t now;
	size_t n;

	l->start = mono_ms();
	l->ts0 = l->nex > 0 ? l->ex[0].ts_ms : 0;
	while (l->next < l->nex || l->outstanding > 0) {
		now = mono_ms();
		send_due(l, now);
		expire(l, now);
		for (n = 0; n < l->nopen; n++) {
			who[n] = l->open[n];
			pfd[n].fd = who[n]->fd;
			pfd[n].events = POLLIN;
			pfd[n].revents = 0;
		}
		if (poll(pfd, n, wait_ms(l, mono_ms())) == -1) {
			if (errno == EINTR)
				continue;
			err(1, "poll");
		}
		for (size_t i = 0; i < n; i++) {
			if (pfd[i].revents == 0 || who[i]->fd != pfd[i].fd)
				continue;
			if (who[i]->xp->stream)
				read_stream(l, who[i]);
			else
				read_dgrams(l, who[i]);
		}
	}
}

static void
forget(struct live *l)
{
	for (size_t i = 0; i < l->nex; i++) {
		free(l->ex[i].req);
		free(l->ex[i].cap);
	}
	for (size_t i = 0; i < l->nflows; i++) {
		if (l->flows[i] != NULL) {
			flow_close(l, l->flows[i]);
			free(l->flows[i]->ex);
			free(l->flows[i]);
		}
	}
	free(l->ex);
	free(l->flows);
	memset(&l->ex, 0, sizeof(*l) - offsetof(struct live, ex));
}

/* Plays what live_pdu collected; 0: all matched (or silent), else 1. */
int
live_run(struct live *l, xmpp_ctx_t *ctx, const char *capture)
{
	uint64_t ms;
	int rc;

	l->ctx = ctx;
	if (l->full)
		warnx("%s: over %u exchanges or %u MiB of PDUs: the rest of "
		    "the capture is not replayed", capture, LIVE_MAX_EXCH,
		    LIVE_MAX_BYTES >> 20);
	play(l);
	ms = mono_ms() - l->start;
	printf("capture %s: live against %s, pace %s, timeout %u ms\n",
	    capture, l->target, l->pace == LIVE_PACE_FAST ? "fast" :
	    "captured", l->timeout_ms);
	printf("  exchanges %zu in %zu flows, %llu.%03llu s: match %llu, "
	    "differ %llu, timeout %llu, silent %llu\n", l->nex, l->nreplayed,
	    (unsigned long long)ms / 1000, (unsigned long long)ms % 1000,
	    (unsigned long long)l->match, (unsigned long long)l->differ,
	    (unsigned long long)l->timeout, (unsigned long long)l->silent);
	printf("  not replayed: %llu retransmissions, %llu other client "
	    "messages, %llu PDUs of other protocols; %llu captured answers "
	    "without a request, %llu live answers without one\n",
	    (unsigned long long)l->retrans, (unsigned long long)l->other_msgs,
	    (unsigned long long)l->other_proto, (unsigned long long)l->orphans,
	    (unsigned long long)l->unexpected);
	rc = l->differ > 0 || l->timeout > 0;
	forget(l);
	return rc;
}

void
live_free(struct live *l)
{
	if (l == NULL)
		return;
	forget(l);
	free(l);
}
