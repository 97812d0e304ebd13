/*
 * xgw-replay --live: plays the client side of each captured Modbus/TCP,
 * CoAP, HTTP and MQTT flow against a running gateway, device or broker,
 * and compares every answer with the captured one, field by field on the
 * decoded elements.
 *
 * While replay.c reads a capture it hands every decoded PDU to
 * live_pdu(): a client message becomes an exchange (or is left out), and
 * a captured answer is paired with its request the way the protocol
 * pairs them (struct live_proto: Modbus and CoAP here, HTTP in
 * live-http.c, MQTT in live-mqtt.c).  live_run() then sends the requests
 * in capture order, one connection (TCP) or socket (UDP) per captured
 * flow, pairs the live answers the same way, and reports each exchange:
 * match, differ (which field, captured and live values), timeout, or
 * silent (no answer in the capture either).
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
#include "live.h"
#include "modbus.h"

#define LIVE_MAX_FLOWS	(1u << 20)	/* flows replayed per capture */
#define LIVE_MAX_EXCH	(1u << 20)	/* exchanges kept per capture */
#define LIVE_MAX_BYTES	(256u << 20)	/* request and answer bytes kept */
#define LIVE_IN_MAX	XGW_PDU_MAX	/* bytes of one answer read */
#define LIVE_DIFF_SHOW	8		/* differences printed per exchange */
#define VALUE_SHOW	40		/* characters of a value printed */
#define CHILDREN_MAX	512		/* children compared one by one */

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
	size_t		 lingering;	/* flows waiting for PUBLISHes */
	uint64_t	 match, differ, timeout, silent;
	uint64_t	 retrans, other_msgs, other_proto, orphans, unexpected;
	struct live_pubs pubs;
	int		 mqtt;		/* an MQTT flow was replayed */
	unsigned	 nonce;		/* this run's: fresh MQTT client ids */
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
	l->nonce = ((unsigned)getpid() ^ (unsigned)time(NULL) * 2654435761u) &
	    0xffffff;
	return l;
}

xmpp_ctx_t *
live_ctx(const struct live *l)
{
	return l->ctx;
}

unsigned
live_nonce(const struct live *l)
{
	return l->nonce;
}

int
live_verbose(const struct live *l)
{
	return l->verbose;
}

struct live_pubs *
live_pubs(struct live *l)
{
	return &l->pubs;
}

/* The flow's i-th exchange. */
struct lexch *
live_exch(struct live *l, const struct lflow *f, size_t i)
{
	return &l->ex[f->ex[i]];
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

uint8_t *
live_keep(struct live *l, const uint8_t *p, size_t n)
{
	return keep(l, p, n);
}

static const struct live_proto *
live_proto(const struct xgw_proto *xp)
{
	static const struct live_proto *const all[] = {
		&live_modbus, &live_coap, &live_http, &live_mqtt
	};

	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		if (all[i]->xp == xp)
			return all[i];
	return NULL;
}

static struct lflow *
flow_get(struct live *l, uint64_t id, const char *name,
    const struct live_proto *lp)
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
	if ((f = calloc(1, sizeof(*f))) == NULL ||
	    (lp->xp->sess_size > 0 &&
	    (f->sess = calloc(1, lp->xp->sess_size)) == NULL))
		err(1, "live");
	f->id = id;
	f->lp = lp;
	f->fd = -1;
	snprintf(f->name, sizeof(f->name), "%s", name);
	l->nreplayed++;
	l->mqtt |= lp == &live_mqtt;
	return l->flows[id - 1] = f;
}

static struct lexch *
exch_add(struct live *l, struct lflow *f, const uint8_t *p, size_t n,
    uint64_t ts_ms)
{
	struct lexch *x;

	if (l->nex == LIVE_MAX_EXCH) {
		l->full = 1;
		return NULL;
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
		return NULL;
	x->reqlen = n;
	x->flow = f->id - 1;
	x->nr = f->nex + 1;
	x->ts_ms = ts_ms;
	f->ex[f->nex++] = l->nex++;
	return x;
}

/* The captured answer to the earliest recent request it pairs with. */
static void
captured_answer(struct live *l, struct lflow *f, const uint8_t *p, size_t n)
{
	if (f->lp->answer(l, f, p, n, 0) != ANSWER)
		return;
	for (size_t i = f->nex > LIVE_PAIR_SCAN ? f->nex - LIVE_PAIR_SCAN : 0;
	    i < f->nex; i++) {
		struct lexch *x = &l->ex[f->ex[i]];

		if (x->cap == NULL && !x->oneway && f->lp->pairs(x, p, n, 0)) {
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
	const struct live_proto *lp = live_proto(xp);
	struct lflow *f;
	struct lexch *x;
	enum creq k;

	if (lp == NULL) {
		l->other_proto++;
		return;
	}
	if (l->full || (f = flow_get(l, flow, name, lp)) == NULL) {
		l->full = 1;
		return;
	}
	if (dir != XGW_REQUEST) {
		captured_answer(l, f, p, n);
		return;
	}
	if ((k = lp->request(l, f, p, n)) == CREQ_OTHER)
		l->other_msgs++;
	else if (k == CREQ_RETRANS)
		l->retrans++;
	else if ((x = exch_add(l, f, p, n, ts_ms)) != NULL)
		x->oneway = k == CREQ_ONEWAY;
}

/* Modbus/TCP and CoAP. */

#define COAP_CON	0
#define COAP_ACK	2
#define COAP_RST	3

static unsigned
coap_type(const uint8_t *p)
{
	return p[0] >> 4 & 3;
}

static enum creq
modbus_request(struct live *l, struct lflow *f, const uint8_t *p, size_t n)
{
	(void)l, (void)f, (void)p, (void)n;
	return CREQ_EXCHANGE;
}

static enum answer
modbus_answer(struct live *l, struct lflow *f, const uint8_t *p, size_t n,
    int live)
{
	(void)l, (void)f, (void)p, (void)n, (void)live;
	return ANSWER;
}

/* The transaction id and the unit. */
static int
modbus_pairs(const struct lexch *x, const uint8_t *p, size_t n, int live)
{
	(void)n, (void)live;
	return x->req[0] == p[0] && x->req[1] == p[1] && x->req[6] == p[6];
}

/*
 * A request, or a CoAP ping (an Empty CON, answered by RST); a CON the
 * client sent again with the same message id is a retransmission.
 */
static enum creq
coap_request(struct live *l, struct lflow *f, const uint8_t *p, size_t n)
{
	if ((p[1] >> 5) != 0 || (p[1] == 0 && coap_type(p) != COAP_CON))
		return CREQ_OTHER;
	if (coap_type(p) != COAP_CON)
		return CREQ_EXCHANGE;
	for (size_t i = f->nex > LIVE_PAIR_SCAN ? f->nex - LIVE_PAIR_SCAN : 0;
	    i < f->nex; i++) {
		const struct lexch *x = &l->ex[f->ex[i]];

		if (x->reqlen == n && memcmp(x->req, p, n) == 0)
			return CREQ_RETRANS;
	}
	return CREQ_EXCHANGE;
}

/*
 * An Empty ACK only says that a separate response follows, and a CoAP
 * request from the server (LwM2M) answers nothing.  A live CON is
 * acknowledged: unanswered, the server would send it again and again.
 */
static enum answer
coap_answer(struct live *l, struct lflow *f, const uint8_t *p, size_t n,
    int live)
{
	const uint8_t ack[4] = { 0x60, 0, p[2], p[3] };

	(void)l, (void)n;
	if (live && coap_type(p) == COAP_CON)
		live_send_raw(f, ack, sizeof(ack));
	if (p[1] == 0 && coap_type(p) == COAP_ACK)
		return NOT_YET;
	if (p[1] != 0 && (p[1] >> 5) == 0)
		return NOT_ANSWER;
	return ANSWER;
}

/* The message id for an ACK or RST, the token for a separate response. */
static int
coap_pairs(const struct lexch *x, const uint8_t *p, size_t n, int live)
{
	const uint8_t *q = x->req;
	size_t tkl;

	(void)live;
	if (coap_type(p) == COAP_ACK || coap_type(p) == COAP_RST)
		return q[2] == p[2] && q[3] == p[3];
	tkl = p[0] & 0x0f;
	return (q[0] & 0x0f) == tkl && n >= 4 + tkl &&
	    memcmp(q + 4, p + 4, tkl) == 0;
}

/* The comparison: one element pair, attributes and children. */

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

/* One line about a flow, not about one exchange. */
void
live_say(const struct lflow *f, const char *fmt, ...)
{
	va_list ap;

	printf("flow %llu (%s) ", (unsigned long long)f->id, f->name);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

/* Paths are a few levels deep: one that does not fit is cut. */
void
live_field(char *buf, const char *fmt, ...)
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

void
live_differ(struct cmp *c, const char *field, const char *cv, const char *lv)
{
	char b1[VALUE_SHOW + 4], b2[VALUE_SHOW + 4];

	if (c->ndiff++ < LIVE_DIFF_SHOW)
		say(c, "%s: captured %s, live %s", field,
		    shown(cv, b1, sizeof(b1)), shown(lv, b2, sizeof(b2)));
}

/* Fields the gateway may remap, or the client chooses: never compared. */
static int
ignored(const struct live_proto *lp, const char *name)
{
	if (lp == &live_modbus)
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

		if (ignored(c->f->lp, kv[i]) ||
		    (lv != NULL && strcmp(lv, kv[i + 1]) == 0))
			continue;
		live_field(field, "%s%s", path, kv[i]);
		live_differ(c, field, kv[i + 1], lv);
	}
	nb = xmpp_stanza_get_attributes(b, kv, 2 * nb);
	for (int i = 0; i < nb; i += 2) {
		if (ignored(c->f->lp, kv[i]) ||
		    xmpp_stanza_get_attribute(a, kv[i]) != NULL)
			continue;
		live_field(field, "%s%s", path, kv[i]);
		live_differ(c, field, NULL, kv[i + 1]);
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
void
live_diff_list(struct cmp *c, const char *field, const char *a, const char *b)
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
		live_differ(c, field, fa, fb);
		return;
	}
	if (ndiff == 0)
		return;
	live_field(name, "%s[%zu]", field, first);
	snprintf(both, sizeof(both), "%s (%zu of %zu differ)", fb, ndiff, nb);
	live_differ(c, name, fa, both);
}

/* The next child element at or after s that is compared. */
static xmpp_stanza_t *
next_el(const struct cmp *c, xmpp_stanza_t *s)
{
	while (s != NULL && (!xmpp_stanza_is_tag(s) ||
	    ignored(c->f->lp, xmpp_stanza_get_name(s))))
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
		live_field(buf, "%s%s(%s)%s", path, xmpp_stanza_get_name(s),
		    label ? label : num, idx);
	else
		live_field(buf, "%s%s%s", path, xmpp_stanza_get_name(s), idx);
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
		live_field(sub, "%schildren", path);
		live_differ(c, sub, ca_n, cb_n);
		return;
	}
	for (x = next_el(c, xmpp_stanza_get_children(a)); x != NULL;
	    x = next_el(c, xmpp_stanza_get_next(x))) {
		k = occurrence(c, a, x, &rep);
		child_name(sub, path, x, k, rep);
		if ((y = kth(c, b, x, k)) == NULL)
			live_differ(c, sub, "present", NULL);
		else
			diff_el(c, sub, x, y);
	}
	for (y = next_el(c, xmpp_stanza_get_children(b)); y != NULL;
	    y = next_el(c, xmpp_stanza_get_next(y))) {
		k = occurrence(c, b, y, &rep);
		if (kth(c, a, y, k) == NULL) {
			child_name(sub, path, y, k, rep);
			live_differ(c, sub, NULL, "present");
		}
	}
}

static void
diff_el(struct cmp *c, const char *path, xmpp_stanza_t *a, xmpp_stanza_t *b)
{
	char prefix[FIELD_MAX];

	live_field(prefix, "%s%s", path, path[0] ? "." : "");
	diff_attrs(c, prefix, a, b);
	if (has_text(a) || has_text(b)) {
		const char *ta = xgw_text(a), *tb = xgw_text(b);

		if (is_list(ta) && is_list(tb))
			live_diff_list(c, path, ta, tb);
		else if (strcmp(ta, tb) != 0)
			live_differ(c, path, ta, tb);
	}
	diff_children(c, prefix, a, b);
}

static void
elements_compare(struct cmp *c, xmpp_stanza_t *cap, xmpp_stanza_t *got)
{
	diff_el(c, "", cap, got);
}

const struct live_proto live_modbus = {
	.xp = &xgw_modbus_proto,
	.close_on_timeout = 1,
	.request = modbus_request,
	.answer = modbus_answer,
	.pairs = modbus_pairs,
	.compare = elements_compare,
};

const struct live_proto live_coap = {
	.xp = &xgw_coap_proto,
	.request = coap_request,
	.answer = coap_answer,
	.pairs = coap_pairs,
	.compare = elements_compare,
};

static xmpp_stanza_t *
decode(struct live *l, const struct lflow *f, void *sess, enum xgw_dir dir,
    const uint8_t *p, size_t n, struct xgw_err *e)
{
	xmpp_stanza_t *el;

	if (f->lp->xp->decode(l->ctx, sess, dir, p, n, &el, e) == -1)
		return NULL;
	return el;
}

/* An answer to x, decoded as the answer to x. */
static xmpp_stanza_t *
decode_answer(struct live *l, const struct lflow *f, const struct lexch *x,
    const uint8_t *p, size_t n, struct xgw_err *e)
{
	uint64_t buf[512];	/* the largest session: HTTP's, 1 KiB */
	void *sess = NULL;

	if (f->lp->answer_sess != NULL) {
		if (f->lp->xp->sess_size > sizeof(buf))
			errx(1, "live: a %s session is too large",
			    f->lp->xp->name);
		sess = f->lp->answer_sess(f, x, buf);
	}
	return decode(l, f, sess, XGW_RESPONSE, p, n, e);
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

	if ((req = decode(l, f, NULL, XGW_REQUEST, x->req, x->reqlen,
	    &e)) != NULL)
		c.kind = f->lp->xp->kind(req, kind, sizeof(kind));
	if (x->cap != NULL && (cap = decode_answer(l, f, x, x->cap, x->caplen,
	    &e)) == NULL)
		errx(1, "live: a captured answer no longer decodes: %s", e.msg);
	if (p == NULL && cap == NULL) {
		l->silent++;
		if (l->verbose)
			say(&c, "silent: no answer, as captured (%s)", why);
	} else if (p == NULL) {
		l->timeout++;
		say(&c, "timeout: %s", why);
	} else if ((got = decode_answer(l, f, x, p, n, &e)) == NULL) {
		c.ndiff++;
		say(&c, "answer does not decode: byte %zu: %s: %s", e.offset,
		    e.reason, e.msg);
	} else if (cap == NULL) {
		live_differ(&c, "answer", "none", f->lp->xp->kind(got, gkind,
		    sizeof(gkind)));
	} else
		f->lp->compare(&c, cap, got);
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
	f->answers = 0;
	f->ended = f->lp->once;
	l->open[f->slot] = l->open[--l->nopen];
	l->open[f->slot]->slot = f->slot;
}

/* Every exchange of f is done: what is left to compare, then close. */
static void
flow_end(struct live *l, struct lflow *f)
{
	if (f->linger != 0) {
		f->linger = 0;
		l->lingering--;
	}
	if (f->lp->end != NULL)
		f->lp->end(l, f);
	flow_close(l, f);
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
	if (f->first_open < f->nex || f->linger != 0)
		return;
	/* the server's PUBLISHes may still be on their way */
	if (f->fd != -1 && f->npub[1] < f->npub[0]) {
		f->linger = mono_ms() + l->timeout_ms;
		l->lingering++;
	} else
		flow_end(l, f);
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
	if (f->linger != 0 || f->first_open == f->nex)
		flow_end(l, f);
	else
		flow_close(l, f);
}

/* Closes an idle connection to make room; 0 when every one is busy. */
static int
evict_idle(struct live *l)
{
	for (size_t i = 0; i < l->nopen; i++) {
		struct lflow *f = l->open[i];

		if (f->first_open == f->nsent && f->linger == 0 &&
		    !f->lp->once) {
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
	int stream = f->lp->xp->stream, fd, soerr = 0;
	socklen_t sl = sizeof(soerr);
	struct pollfd pfd;

	if (f->ended) {
		snprintf(why, len, "the %s connection was closed before",
		    f->lp->xp->name);
		return -1;
	}
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
	if (f->sess != NULL)
		memset(f->sess, 0, f->lp->xp->sess_size);
	return 0;
}

/*
 * The live connection's session follows what crosses it (the HTTP
 * methods awaiting an answer, the MQTT level), so that answers are framed
 * as the server meant them.
 */
static void
track(struct live *l, struct lflow *f, enum xgw_dir dir, const uint8_t *p,
    size_t n)
{
	xmpp_stanza_t *el;
	struct xgw_err e;

	if (f->sess != NULL && (el = decode(l, f, f->sess, dir, p, n,
	    &e)) != NULL)
		xmpp_stanza_release(el);
}

/* A message of our own (an acknowledgement) on f's connection. */
void
live_send_raw(struct lflow *f, const uint8_t *p, size_t n)
{
	/* unanswered, the server would send it again */
	(void)send(f->fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
}

/* x's bytes on f's connection; -1 and why when that fails. */
static int
transmit(struct live *l, struct lflow *f, struct lexch *x, char *why,
    size_t len)
{
	const uint8_t *p = x->out != NULL ? x->out : x->req;
	size_t n = x->out != NULL ? x->outlen : x->reqlen;
	ssize_t w;

	if (f->fd == -1 && flow_open(l, f, why, len) == -1)
		return -1;
	track(l, f, XGW_REQUEST, p, n);
	/* requests are small: a peer that leaves them unread has failed */
	w = send(f->fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (w != (ssize_t)n) {
		snprintf(why, len, "send: %s", w == -1 ? strerror(errno) :
		    "the peer does not read");
		return -1;
	}
	return 0;
}

static void
send_exchange(struct live *l, struct lflow *f, struct lexch *x, uint64_t now)
{
	char why[400];

	f->nsent++;
	x->state = X_SENT;
	x->deadline = now + l->timeout_ms;
	l->outstanding++;
	if (transmit(l, f, x, why, sizeof(why)) == -1) {
		if (f->fd == -1)
			finish(l, f, x, NULL, 0, why);
		else
			flow_fail(l, f, why);
	} else if (x->oneway)
		finish(l, f, x, NULL, 0, "one-way");
}

/*
 * The server closed a connection that had answered: what it had not
 * answered yet is sent again, once, on a new one (RFC 9112 9.3.1: a
 * client retries requests a closed connection left unanswered).
 */
static int
resend(struct live *l, struct lflow *f)
{
	char why[400];

	for (size_t i = f->first_open; i < f->nsent; i++)
		if (l->ex[f->ex[i]].state == X_SENT &&
		    l->ex[f->ex[i]].resent)
			return -1;
	flow_close(l, f);
	for (size_t i = f->first_open; i < f->nsent; i++) {
		struct lexch *x = &l->ex[f->ex[i]];

		if (x->state != X_SENT)
			continue;
		x->resent = 1;
		x->deadline = mono_ms() + l->timeout_ms;
		if (transmit(l, f, x, why, sizeof(why)) == -1) {
			flow_fail(l, f, why);
			return 0;
		}
	}
	return 0;
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

		if (f->fd == -1 && !f->ended && l->nopen == LIVE_MAX_OPEN &&
		    !evict_idle(l)) {
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

		if (f->linger != 0 && f->linger <= now) {
			flow_end(l, f);
			continue;
		}
		for (size_t j = f->first_open; j < f->nsent; j++) {
			struct lexch *x = &l->ex[f->ex[j]];

			if (x->state != X_SENT || x->deadline > now)
				continue;
			snprintf(why, sizeof(why), "no answer within %u ms",
			    l->timeout_ms);
			if (f->lp->close_on_timeout) {
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
live_answer(struct live *l, struct lflow *f, const uint8_t *p, size_t n)
{
	enum answer k;

	if (!f->lp->xp->stream && n < 4) {
		l->unexpected++;
		return;
	}
	track(l, f, XGW_RESPONSE, p, n);
	if ((k = f->lp->answer(l, f, p, n, 1)) == NOT_YET)
		return;
	if (k == NOT_ANSWER) {
		if (f->linger != 0 && f->npub[1] >= f->npub[0])
			flow_end(l, f);
		return;
	}
	for (size_t i = f->first_open; i < f->nsent; i++) {
		struct lexch *x = &l->ex[f->ex[i]];

		if (x->state == X_SENT && f->lp->pairs(x, p, n, 1)) {
			f->answers++;
			finish(l, f, x, p, n, NULL);
			return;
		}
	}
	l->unexpected++;
	if (l->verbose)
		printf("flow %llu (%s): an answer no request waits for "
		    "(%zu bytes)\n", (unsigned long long)f->id, f->name, n);
}

/* Room for more bytes in f's input; 0: an answer over LIVE_IN_MAX. */
static size_t
in_room(struct lflow *f)
{
	size_t cap;
	uint8_t *b;

	if (f->inlen == f->incap) {
		if (f->incap == LIVE_IN_MAX)
			return 0;
		cap = f->incap ? f->incap * 2 : 4096;
		if (cap > LIVE_IN_MAX)
			cap = LIVE_IN_MAX;
		if ((b = realloc(f->in, cap)) == NULL)
			err(1, "live");
		f->in = b;
		f->incap = cap;
	}
	return f->incap - f->inlen;
}

/* Cuts f's input into answers; at eof a last one may end with it. */
static int
answers_in(struct live *l, struct lflow *f, int eof, struct xgw_err *e)
{
	const struct xgw_proto *xp = f->lp->xp;
	size_t off = 0, len;
	int rc;

	for (;;) {
		rc = xp->frame(f->sess, XGW_RESPONSE, f->in + off,
		    f->inlen - off, &len, e);
		if (rc == 0 && eof && off < f->inlen && xp->frame_eof != NULL)
			rc = xp->frame_eof(f->sess, XGW_RESPONSE, f->in + off,
			    f->inlen - off, &len, e);
		if (rc != 1)
			break;
		live_answer(l, f, f->in + off, len);
		if (f->fd == -1)
			return 0;
		off += len;
	}
	memmove(f->in, f->in + off, f->inlen - off);
	f->inlen -= off;
	return rc;
}

static void
read_stream(struct live *l, struct lflow *f)
{
	struct xgw_err e;
	size_t room;
	ssize_t r;
	char why[300];

	if ((room = in_room(f)) == 0) {
		snprintf(why, sizeof(why), "an answer over %u bytes",
		    LIVE_IN_MAX);
		flow_fail(l, f, why);
		return;
	}
	r = recv(f->fd, f->in + f->inlen, room, 0);
	if (r == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (r > 0)
		f->inlen += r;
	if (answers_in(l, f, r <= 0, &e) == -1) {
		snprintf(why, sizeof(why), "the answer stream is not %s: "
		    "%s", f->lp->xp->name, e.msg);
		flow_fail(l, f, why);
	} else if (f->fd != -1 && r <= 0 && (r == -1 || f->answers == 0 ||
	    f->lp->once || resend(l, f) == -1))
		flow_fail(l, f, r == 0 ? "connection closed by the peer" :
		    strerror(errno));
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

		if (f->linger != 0 && f->linger < until)
			until = f->linger;
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
	for (;;) {
		now = mono_ms();
		send_due(l, now);
		expire(l, now);
		if (l->next == l->nex && l->outstanding == 0 &&
		    l->lingering == 0)
			break;
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
			if (who[i]->lp->xp->stream)
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
		free(l->ex[i].out);
	}
	for (size_t i = 0; i < l->nflows; i++) {
		struct lflow *f = l->flows[i];

		if (f == NULL)
			continue;
		flow_close(l, f);
		for (int d = 0; d < 2; d++) {
			for (size_t j = 0; j < f->npub[d]; j++)
				free(f->pub[d][j].p);
			free(f->pub[d]);
		}
		free(f->ex);
		free(f->in);
		free(f->sess);
		free(f);
	}
	free(l->ex);
	free(l->flows);
	memset(&l->ex, 0, sizeof(*l) - offsetof(struct live, ex));
}

/* Plays what live_pdu collected; 0: all matched (or silent), else 1. */
int
live_run(struct live *l, xmpp_ctx_t *ctx, const char *capture)
{
	const struct live_pubs *p = &l->pubs;
	uint64_t ms;
	int rc;

	l->ctx = ctx;
	for (size_t i = 0; i < l->nex; i++) {
		struct lflow *f = l->flows[l->ex[i].flow];

		if (f->lp->prepare != NULL)
			f->lp->prepare(l, f, &l->ex[i]);
	}
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
	if (l->mqtt)
		printf("  publishes from the server: captured %llu, live %llu: "
		    "match %llu, differ %llu, missing %llu, extra %llu; "
		    "%llu flows without their CONNECT\n",
		    (unsigned long long)p->captured,
		    (unsigned long long)p->live, (unsigned long long)p->match,
		    (unsigned long long)p->differ,
		    (unsigned long long)p->missing,
		    (unsigned long long)p->extra,
		    (unsigned long long)p->no_connect);
	rc = l->differ > 0 || l->timeout > 0 || p->differ > 0 ||
	    p->missing > 0;
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
