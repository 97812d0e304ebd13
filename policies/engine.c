/*
 * The compiled rule set and the judging of one stanza.
 *
 * Rules are filed in a hash table under three keys: the primary field of
 * their protocol (Modbus function, CoAP code, MQTT packet type, HTTP
 * method, readings quality), the source identity, and a secondary field
 * (Modbus unit, the first MQTT topic level, the first path segment, the
 * first segment of a reading's name), each one either a value or "*"
 * when the rule does not fix it.  A stanza looks up the eight lists its
 * own keys select and walks them merged in rule order, so the first
 * matching rule is the one a walk of the whole file would find, and the
 * cost follows the rules that could apply, not the file.
 */
#include <stdlib.h>
#include <string.h>

#include "policy_int.h"

#define KEY_MAX		160
#define FANOUT_MAX	4096	/* index entries of one rule before a key goes wild */
#define BUCKETS_MAX	65536	/* rate-limited sources per rule */

struct entry {
	char		*key;
	uint64_t	 hash;
	uint32_t	*rule;
	size_t		 n, cap;
};

struct index {
	struct entry	*e;
	size_t		 cap, used;
	size_t		 mem;
};

struct bslot {
	char		 src[46];
	/*
	 * In 1/per_ms of a token, so that each millisecond adds exactly
	 * rate of them: no rounding loses the refill of frequent stanzas.
	 */
	uint64_t	 credit;
	uint64_t	 last;
};

struct bucket {
	size_t		 cap, used;
	struct bslot	 slot[];
};

static uint64_t
fnv(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
	return h;
}

static struct entry *
slot_of(struct index *ix, const char *key, uint64_t h)
{
	size_t i = h & (ix->cap - 1);

	while (ix->e[i].key != NULL &&
	    (ix->e[i].hash != h || strcmp(ix->e[i].key, key) != 0))
		i = (i + 1) & (ix->cap - 1);
	return &ix->e[i];
}

static struct entry *
ix_find(struct index *ix, const char *key)
{
	struct entry *e;

	if (ix->cap == 0)
		return NULL;
	e = slot_of(ix, key, fnv(key));
	return e->key != NULL ? e : NULL;
}

static int
ix_grow(struct index *ix)
{
	struct index nx = { NULL, ix->cap ? ix->cap * 2 : 64, 0, ix->mem };

	if ((nx.e = calloc(nx.cap, sizeof(*nx.e))) == NULL)
		return -1;
	for (size_t i = 0; i < ix->cap; i++)
		if (ix->e[i].key != NULL)
			*slot_of(&nx, ix->e[i].key, ix->e[i].hash) = ix->e[i];
	nx.used = ix->used;
	nx.mem += (nx.cap - ix->cap) * sizeof(*nx.e);
	free(ix->e);
	*ix = nx;
	return 0;
}

static int
ix_add(struct index *ix, const char *key, uint32_t rule)
{
	uint64_t h = fnv(key);
	struct entry *e;
	uint32_t *v;

	if ((ix->used + 1) * 2 > ix->cap && ix_grow(ix) == -1)
		return -1;
	e = slot_of(ix, key, h);
	if (e->key == NULL) {
		if ((e->key = strdup(key)) == NULL)
			return -1;
		e->hash = h;
		ix->used++;
		ix->mem += strlen(key) + 1;
	}
	if (e->n > 0 && e->rule[e->n - 1] == rule)
		return 0;
	if (e->n == e->cap) {
		size_t cap = e->cap ? e->cap * 2 : 4;

		if ((v = reallocarray(e->rule, cap, sizeof(*v))) == NULL)
			return -1;
		ix->mem += (cap - e->cap) * sizeof(*v);
		e->rule = v;
		e->cap = cap;
	}
	e->rule[e->n++] = rule;
	return 0;
}

static void
ix_free(struct index *ix)
{
	for (size_t i = 0; i < ix->cap; i++) {
		free(ix->e[i].key);
		free(ix->e[i].rule);
	}
	free(ix->e);
	ix->e = NULL;
	ix->cap = ix->used = 0;
}

/* The values a rule fixes for one key; none: "*". */
struct keyset {
	size_t		 n;
	char		 (*v)[KEY_MAX];
};

static int
ks_add(struct keyset *ks, const char *s, size_t len)
{
	char (*v)[KEY_MAX];

	for (size_t i = 0; i < ks->n; i++)
		if (strncmp(ks->v[i], s, len) == 0 && ks->v[i][len] == '\0')
			return 0;
	if ((v = reallocarray(ks->v, ks->n + 1, sizeof(*v))) == NULL)
		return -1;
	ks->v = v;
	snprintf(ks->v[ks->n++], KEY_MAX, "%.*s",
	    (int)(len < KEY_MAX ? len : KEY_MAX - 1), s);
	return 0;
}

static void
ks_wild(struct keyset *ks)
{
	free(ks->v);
	ks->v = NULL;
	ks->n = 0;
}

static const struct cond *
rule_cond(const struct rule *r, enum field fd)
{
	for (size_t i = 0; i < r->ncond; i++)
		if (r->cond[i].kw->field == fd)
			return &r->cond[i];
	return NULL;
}

static int
ks_ranges(struct keyset *ks, const struct cond *c, const char *pre)
{
	char num[32];
	int len;

	for (size_t i = 0; c != NULL && i < c->n; i++)
		for (uint64_t v = c->r[i].lo; v <= c->r[i].hi; v++) {
			len = snprintf(num, sizeof(num), "%s%llu", pre,
			    (unsigned long long)v);
			if (ks_add(ks, num, len) == -1)
				return -1;
		}
	return 0;
}

static int
keys_primary(const struct rule *r, struct keyset *ks)
{
	static const enum field fd[PR_N] = {
		FD_N, FD_FUNCTION, FD_CODE, FD_MTYPE, FD_METHOD, FD_QUALITY
	};
	const struct cond *c = rule_cond(r, fd[r->proto]);

	if (r->proto != PR_HTTP)
		return ks_ranges(ks, c, "");
	for (size_t i = 0; c != NULL && i < c->n; i++)
		if (ks_add(ks, c->s[i].s, c->s[i].len) == -1)
			return -1;
	return 0;
}

static int
keys_secondary(const struct rule *r, struct keyset *ks)
{
	const struct cond *c;
	struct span sp;
	int rooted;

	switch (r->proto) {
	case PR_MODBUS:
		return ks_ranges(ks, rule_cond(r, FD_UNIT), "u");
	case PR_MQTT:
		if ((c = rule_cond(r, FD_TOPIC)) == NULL)
			return 0;
		for (size_t i = 0; i < c->n; i++) {
			if (!pol_topic_first(c->s[i].s, c->s[i].len, &sp)) {
				ks_wild(ks);
				return 0;
			}
			if (ks_add(ks, c->s[i].s, sp.len) == -1)
				return -1;
		}
		return 0;
	case PR_COAP:
	case PR_HTTP:
	case PR_READINGS:
		rooted = r->proto != PR_READINGS;
		if ((c = rule_cond(r, rooted ? FD_PATH : FD_NAME)) == NULL)
			return 0;
		for (size_t i = 0; i < c->n; i++) {
			if (!pol_seg_first(&c->s[i], rooted, &sp)) {
				ks_wild(ks);
				return 0;
			}
			if (ks_add(ks, c->s[i].s + sp.off, sp.len) == -1)
				return -1;
		}
		return 0;
	default:
		return 0;
	}
}

static int
keys_src(const struct rule *r, struct keyset *ks)
{
	for (size_t i = 0; i < r->from.nuuid; i++)
		if (ks_add(ks, r->from.uuid[i], strlen(r->from.uuid[i])) == -1)
			return -1;
	return 0;
}

/* "proto\x1fk0\x1fk1\x1fk2": built by hand, it is on every stanza's path */
static void
key_of(char *buf, int proto, const char *k0, const char *k1, const char *k2)
{
	const char *part[3] = { k0, k1, k2 };
	char *p = buf;

	*p++ = '0' + proto;
	for (int i = 0; i < 3; i++) {
		size_t n = strnlen(part[i], KEY_MAX - 1);

		*p++ = '\x1f';
		memcpy(p, part[i], n);
		p += n;
	}
	*p = '\0';
}

/*
 * A rule from an empty table matches no source: it needs no entry at all,
 * which an empty key set with from.n > 0 says.
 */
static int
file_rule(struct index *ix, const struct rule *r, uint32_t ri, int proto)
{
	struct keyset ks[3] = { { 0, NULL }, { 0, NULL }, { 0, NULL } };
	char key[3 * KEY_MAX + 8];
	size_t n[3];
	int rc = -1;

	if (keys_primary(r, &ks[0]) == -1 || keys_src(r, &ks[1]) == -1 ||
	    keys_secondary(r, &ks[2]) == -1)
		goto out;
	if (r->from.n > 0 && r->from.nuuid == 0) {
		rc = 0;
		goto out;
	}
	for (;;) {
		size_t total = 1, big = 0;

		for (int d = 0; d < 3; d++) {
			n[d] = ks[d].n ? ks[d].n : 1;
			total *= n[d];
			if (ks[d].n > ks[big].n)
				big = d;
		}
		if (total <= FANOUT_MAX)
			break;
		ks_wild(&ks[big]);
	}
	for (size_t a = 0; a < n[0]; a++)
		for (size_t b = 0; b < n[1]; b++)
			for (size_t c = 0; c < n[2]; c++) {
				key_of(key, proto, ks[0].n ? ks[0].v[a] : "*",
				    ks[1].n ? ks[1].v[b] : "*",
				    ks[2].n ? ks[2].v[c] : "*");
				if (ix_add(ix, key, ri) == -1)
					goto out;
			}
	rc = 0;
out:
	for (int d = 0; d < 3; d++)
		ks_wild(&ks[d]);
	return rc;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int
edge_add(struct xgw_policy *pol, size_t *cap, uint64_t v)
{
	uint64_t *e;

	if (pol->nedges == *cap) {
		*cap = *cap ? *cap * 2 : 16;
		if ((e = reallocarray(pol->edges, *cap, sizeof(*e))) == NULL)
			return -1;
		pol->edges = e;
	}
	pol->edges[pol->nedges++] = v;
	return 0;
}

/*
 * The sizes at which a body-size match changes its mind: each range's
 * start and the size past its end, 0 aside, in order, once each.
 */
static int
size_edges(struct xgw_policy *pol)
{
	size_t cap = 0, n = 0;

	for (size_t i = 0; i < pol->nrules; i++) {
		const struct cond *c = rule_cond(&pol->rules[i], FD_SIZE);

		for (size_t k = 0; c != NULL && c->kw->proto == PR_HTTP &&
		    k < c->n; k++)
			if ((c->r[k].lo > 0 && edge_add(pol, &cap,
			    c->r[k].lo) == -1) ||
			    (c->r[k].hi < c->kw->max && edge_add(pol, &cap,
			    c->r[k].hi + 1) == -1))
				return -1;
	}
	if (pol->nedges == 0)
		return 0;
	qsort(pol->edges, pol->nedges, sizeof(*pol->edges), cmp_u64);
	for (size_t i = 1; i < pol->nedges; i++)
		if (pol->edges[i] != pol->edges[n])
			pol->edges[++n] = pol->edges[i];
	pol->nedges = n + 1;
	pol->mem += cap * sizeof(*pol->edges);
	return 0;
}

int
pol_compile(struct xgw_policy *pol)
{
	char all[3 * KEY_MAX + 8];

	if (size_edges(pol) == -1 ||
	    (pol->idx = calloc(1, sizeof(*pol->idx))) == NULL)
		return -1;
	for (size_t i = 0; i < pol->nrules; i++) {
		const struct rule *r = &pol->rules[i];

		for (int p = PR_MODBUS; p < PR_N; p++) {
			if (r->proto != PR_ANY && (int)r->proto != p)
				continue;
			key_of(all, p, "all", "", "");
			if (file_rule(pol->idx, r, i, p) == -1 ||
			    ix_add(pol->idx, all, i) == -1)
				return -1;
		}
	}
	return 0;
}

/* Token buckets */

static struct bucket *
bucket_grow(struct bucket *b)
{
	size_t cap = b ? b->cap * 2 : 16, i;
	struct bucket *nb;

	if ((nb = calloc(1, sizeof(*nb) + cap * sizeof(nb->slot[0]))) == NULL)
		return NULL;
	nb->cap = cap;
	for (size_t k = 0; b != NULL && k < b->cap; k++) {
		if (b->slot[k].src[0] == '\0')
			continue;
		i = fnv(b->slot[k].src) & (cap - 1);
		while (nb->slot[i].src[0] != '\0')
			i = (i + 1) & (cap - 1);
		nb->slot[i] = b->slot[k];
		nb->used++;
	}
	free(b);
	return nb;
}

/* The source's slot, new ones empty; NULL when no more sources fit. */
static struct bslot *
bucket_find(struct bucket **bp, const char *src)
{
	struct bucket *b = *bp;
	size_t i;

	if (b == NULL || ((b->used + 1) * 2 > b->cap && b->cap < BUCKETS_MAX)) {
		if ((b = bucket_grow(b)) == NULL)
			return NULL;
		*bp = b;
	}
	i = fnv(src) & (b->cap - 1);
	while (b->slot[i].src[0] != '\0' && strcmp(b->slot[i].src, src) != 0)
		i = (i + 1) & (b->cap - 1);
	/* one slot stays free so that every probe ends */
	if (b->slot[i].src[0] == '\0' && b->used + 2 > b->cap)
		return NULL;
	return &b->slot[i];
}

/* 1: a token was taken; 0: the source is over its rate. */
static int
bucket_take(struct rule *r, const char *src, uint64_t now)
{
	/* no identity is a source of its own */
	const char *key = src[0] != '\0' ? src : "-";
	uint64_t full = r->burst * r->per_ms, elapsed, refill;
	struct bslot *s;

	if ((s = bucket_find(&r->bk, key)) == NULL)
		return 0;
	if (s->src[0] == '\0') {
		snprintf(s->src, sizeof(s->src), "%s", key);
		r->bk->used++;
		s->credit = full;
		s->last = now;
	}
	elapsed = now > s->last ? now - s->last : 0;
	/* beyond the time to fill up, more time changes nothing */
	refill = full / r->rate + 1;
	if (elapsed > refill)
		elapsed = refill;
	s->credit += elapsed * r->rate;
	if (s->credit > full)
		s->credit = full;
	s->last = now;
	if (s->credit < r->per_ms)
		return 0;
	s->credit -= r->per_ms;
	return 1;
}

/* The deny logger */

static void
log_line(struct xgw_policy *pol, int ri, uint64_t count, const char *what)
{
	char line[512];

	if (ri < 0)
		snprintf(line, sizeof(line), "default deny: %s%s%llu denied",
		    what, what[0] ? ", " : "", (unsigned long long)count);
	else
		snprintf(line, sizeof(line), "%s:%u: %s%s%llu denied: %s",
		    pol->file, pol->rules[ri].line, what, what[0] ? ", " : "",
		    (unsigned long long)count, pol->rules[ri].text);
	pol->logfn(pol->logarg, line);
}

/* Counts a denial of rule ri: its log state when a line is due, else NULL. */
static struct logstate *
log_due(struct xgw_policy *pol, int ri, uint64_t now)
{
	struct logstate *ls = ri < 0 ? &pol->dflt_log : &pol->rules[ri].log;

	if (pol->logfn == NULL)
		return NULL;
	ls->held++;
	if (ls->logged && now - ls->last < pol->log_interval)
		return NULL;
	return ls;
}

static void
log_emit(struct xgw_policy *pol, int ri, struct logstate *ls,
    const char *what, uint64_t now)
{
	log_line(pol, ri, ls->held, what);
	ls->held = 0;
	ls->last = now;
	ls->logged = 1;
}

void
pol_log_deny(struct xgw_policy *pol, int ri, const char *what, uint64_t now)
{
	struct logstate *ls;

	if ((ls = log_due(pol, ri, now)) != NULL)
		log_emit(pol, ri, ls, what, now);
}

static void
log_deny(struct xgw_policy *pol, int ri, const struct facts *f,
    uint64_t now)
{
	struct logstate *ls;
	const struct xgw_proto *p;
	char kind[64] = "?", what[200];

	if ((ls = log_due(pol, ri, now)) == NULL)
		return;
	if ((p = xgw_proto_find(pol_proto_names[f->proto])) != NULL &&
	    p->kind != NULL)
		p->kind(f->el, kind, sizeof(kind));
	else if (f->proto == PR_READINGS && f->have & 1u << FD_RPROTO)
		/* readings are no PDU: the protocol they were read with */
		snprintf(kind, sizeof(kind), "%s",
		    pol_proto_names[f->num[FD_RPROTO]]);
	snprintf(what, sizeof(what), "%s %s from %s to %s",
	    pol_proto_names[f->proto], kind,
	    f->env->src[0] ? f->env->src : "-",
	    f->env->dst[0] ? f->env->dst : "-");
	log_emit(pol, ri, ls, what, now);
}

void
xgw_policy_log_flush(struct xgw_policy *pol, uint64_t now)
{
	for (int ri = -1; pol->logfn != NULL && ri < (int)pol->nrules; ri++) {
		struct logstate *ls = ri < 0 ? &pol->dflt_log :
		    &pol->rules[ri].log;

		if (ls->held == 0)
			continue;
		log_line(pol, ri, ls->held, "");
		ls->held = 0;
		ls->last = now;
	}
}

void
xgw_policy_set_logger(struct xgw_policy *pol, xgw_policy_log_fn *fn,
    void *arg, uint64_t interval_ms)
{
	pol->logfn = fn;
	pol->logarg = arg;
	pol->log_interval = interval_ms;
}

/* Judging */

struct walk {
	const struct entry	*list[8];
	size_t			 at[8];
	int			 n;
};

static void
walk_add(struct walk *w, struct index *ix, const char *key)
{
	const struct entry *e = ix_find(ix, key);

	if (e != NULL) {
		w->list[w->n] = e;
		w->at[w->n++] = 0;
	}
}

/* The next candidate in rule order; -1 at the end. */
static long
walk_next(struct walk *w, long last)
{
	long best = -1;
	int bi = -1;

	for (int i = 0; i < w->n; i++) {
		while (w->at[i] < w->list[i]->n &&
		    (long)w->list[i]->rule[w->at[i]] <= last)
			w->at[i]++;
		if (w->at[i] < w->list[i]->n &&
		    (best == -1 || (long)w->list[i]->rule[w->at[i]] < best)) {
			best = w->list[i]->rule[w->at[i]];
			bi = i;
		}
	}
	if (bi >= 0)
		w->at[bi]++;
	return best;
}

static void
walk_start(struct walk *w, struct index *ix, struct facts *f)
{
	char b0[KEY_MAX], b2[KEY_MAX], key[3 * KEY_MAX + 8];
	const char *k[3], *v[3];
	int ambiguous;

	w->n = 0;
	v[0] = pol_facts_key1(f, b0, sizeof(b0));
	v[1] = f->env->src[0] ? f->env->src : NULL;
	v[2] = pol_facts_key2(f, b2, sizeof(b2), &ambiguous);
	if (ambiguous) {
		key_of(key, f->proto, "all", "", "");
		walk_add(w, ix, key);
		return;
	}
	for (int m = 0; m < 8; m++) {
		int skip = 0;

		for (int d = 0; d < 3; d++) {
			k[d] = m & 1 << d ? v[d] : "*";
			skip |= k[d] == NULL;
		}
		if (skip)
			continue;
		key_of(key, f->proto, k[0], k[1], k[2]);
		walk_add(w, ix, key);
	}
}

static unsigned
reject_code(const struct rule *r, enum pproto proto, int soft)
{
	switch (proto) {
	case PR_MODBUS:
		/* a function some rule allows, at an address none allows */
		return r->code ? r->code : soft ? 2 : 1;
	case PR_COAP:
		return 4 << 5 | 3;
	case PR_MQTT:
		return 0x87;
	case PR_HTTP:
		return 403;
	default:
		/* readings are events: nothing answers them */
		return 0;
	}
}

static void
decide(struct xgw_policy *pol, long ri, struct facts *f, int soft,
    uint64_t now, struct xgw_verdict *v)
{
	struct rule *r = ri >= 0 ? &pol->rules[ri] : NULL;
	struct xgw_policy_counters *c = r ? &r->cnt : &pol->dflt;

	memset(v, 0, sizeof(*v));
	v->rule = ri;
	v->file = pol->file;
	v->action = r ? r->action : XGW_BLOCK;
	v->line = r ? r->line : 0;
	v->reason = r ? "rule" : "default-deny";
	c->matches++;
	c->bytes += f->bytes;
	if (r != NULL && r->rate != 0 && !bucket_take(r, f->env->src, now)) {
		v->action = XGW_BLOCK;
		v->reason = "rate-limit";
		c->limited++;
	}
	if (v->action == XGW_REJECT)
		v->code = reject_code(r, f->proto, soft);
	if (v->action != XGW_PASS)
		log_deny(pol, ri, f, now);
}

/*
 * The first rule that matches, -1 for none; tried: count the rules
 * tried (a dry walk moves no counter).
 */
static long
first_match(struct xgw_policy *pol, struct facts *f, int tried, int *soft)
{
	struct walk w;
	long ri = -1;

	walk_start(&w, pol->idx, f);
	while ((ri = walk_next(&w, ri)) >= 0) {
		struct rule *r = &pol->rules[ri];
		int s = 0;

		if (tried)
			r->cnt.evals++;
		if (pol_rule_matches(r, f, &s))
			break;
		/* only pass rules tell what a reject is about */
		*soft |= s && r->action == XGW_PASS;
	}
	return ri;
}

/*
 * The bound on the body of a head of unknown size that passed with the
 * 0 bytes it has: the admitting rule's (its largest range from 0), or
 * less where the same head of a known size would not pass.  The rules
 * see a size through body-size ranges only, so the verdict can change
 * only at their ends: the first end, in increasing order, at which it is
 * no pass bounds the body one byte before.  The walk is dry: no counter,
 * token bucket or log moves, and a rate limit (on stanzas, not sizes)
 * does not count.
 */
static uint64_t
open_limit(struct xgw_policy *pol, long ri, struct facts *f)
{
	uint64_t b = pol_rule_bound(&pol->rules[ri]);
	long at;
	int soft = 0;

	if (b == 0)
		b = POL_UNBOUNDED;
	f->size_open = 0;
	f->have |= 1u << FD_SIZE;
	for (size_t i = 0; i < pol->nedges && pol->edges[i] <= b; i++) {
		f->num[FD_SIZE] = pol->edges[i];
		if ((at = first_match(pol, f, 0, &soft)) < 0 ||
		    pol->rules[at].action != XGW_PASS) {
			b = pol->edges[i] - 1;
			break;
		}
	}
	f->have &= ~(1u << FD_SIZE);
	f->size_open = 1;
	return b;
}

enum xgw_action
xgw_policy_eval(struct xgw_policy *pol, const struct xgw_meta *env,
    xmpp_stanza_t *el, uint64_t now, struct xgw_verdict *v)
{
	struct facts f;
	long ri = -1;
	int soft = 0;

	pol->dflt.evals++;
	if (pol_stream_part(pol, env, el, now, v) == 0)
		return v->action;
	if (pol_facts_read(&f, env, el) == 0)
		ri = first_match(pol, &f, 1, &soft);
	decide(pol, ri, &f, soft, now, v);
	if (v->action == XGW_PASS)
		pol_stream_admit(pol, env, el, ri, f.size_open ?
		    open_limit(pol, ri, &f) : POL_UNBOUNDED, now);
	pol_facts_free(&f);
	return v->action;
}

/* Reload, counters, memory */

/*
 * The k-th copy of a rule text takes the k-th copy's counters; moved[i]
 * says where old rule i went (its index + 1, 0: gone), when it is there.
 */
static void
adopt_rules(struct xgw_policy *nw, struct xgw_policy *old, size_t *moved)
{
	struct index byt = { 0 };
	struct entry *e;
	size_t *taken;

	for (size_t i = 0; i < old->nrules; i++)
		if (ix_add(&byt, old->rules[i].text, i) == -1) {
			ix_free(&byt);
			return;
		}
	/* per hash slot, how many copies of its text are taken */
	if ((taken = calloc(byt.cap + 1, sizeof(*taken))) == NULL) {
		ix_free(&byt);
		return;
	}
	for (size_t i = 0; i < nw->nrules; i++) {
		struct rule *r = &nw->rules[i], *o;
		size_t k, oi;

		if ((e = ix_find(&byt, r->text)) == NULL)
			continue;
		k = e - byt.e;
		if (taken[k] >= e->n)
			continue;
		oi = e->rule[taken[k]++];
		if (moved != NULL)
			moved[oi] = i + 1;
		o = &old->rules[oi];
		r->cnt = o->cnt;
		r->log = o->log;
		free(r->bk);
		r->bk = o->bk;
		o->bk = NULL;
	}
	free(taken);
	ix_free(&byt);
}

void
xgw_policy_adopt_counters(struct xgw_policy *nw, struct xgw_policy *old)
{
	size_t *moved = calloc(old->nrules + 1, sizeof(*moved));

	nw->dflt = old->dflt;
	nw->dflt_log = old->dflt_log;
	adopt_rules(nw, old, moved);
	/* the streams carry on even when memory for the rules' map ran out */
	pol_stream_adopt(nw, old, moved);
	free(moved);
}

int
xgw_policy_nrules(const struct xgw_policy *pol)
{
	return pol->nrules;
}

const struct xgw_policy_counters *
xgw_policy_counters(const struct xgw_policy *pol, int ri)
{
	if (ri < 0 || (size_t)ri >= pol->nrules)
		return &pol->dflt;
	return &pol->rules[ri].cnt;
}

size_t
xgw_policy_memory(const struct xgw_policy *pol)
{
	return sizeof(*pol) + pol->mem + (pol->idx ? sizeof(*pol->idx) +
	    pol->idx->mem : 0);
}

static void
ids_free(struct ids *ids)
{
	for (size_t i = 0; i < ids->n; i++)
		free(ids->item[i]);
	free(ids->item);
	free(ids->uuid);
}

void
xgw_policy_free(struct xgw_policy *pol)
{
	if (pol == NULL)
		return;
	for (size_t i = 0; i < pol->nrules; i++) {
		struct rule *r = &pol->rules[i];

		for (size_t j = 0; j < r->ncond; j++) {
			for (size_t k = 0; r->cond[j].s != NULL && k < r->cond[j].n; k++)
				free(r->cond[j].s[k].s);
			free(r->cond[j].s);
			free(r->cond[j].r);
			free(r->cond[j].hname);
		}
		free(r->cond);
		ids_free(&r->from);
		ids_free(&r->to);
		free(r->label);
		free(r->text);
		free(r->bk);
	}
	free(pol->rules);
	for (size_t i = 0; i < pol->ntables; i++) {
		free(pol->tables[i].name);
		free(pol->tables[i].uuid);
	}
	free(pol->tables);
	if (pol->idx != NULL)
		ix_free(pol->idx);
	free(pol->idx);
	pol_stream_free(pol);
	free(pol->edges);
	free(pol->file);
	free(pol);
}
