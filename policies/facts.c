/*
 * What a rule can see of one stanza, read once from the protocol element
 * (the shapes are in transforms/SCHEMA-*.md), and the matching of one
 * rule against it.  A field the element lacks or holds malformed is
 * absent: every match on it fails, so a pass rule never passes on what it
 * could not read.
 */
#include <string.h>
#include <strings.h>

#include "http.h"
#include "policy_int.h"

static void
set_num(struct facts *f, enum field fd, uint64_t v)
{
	f->num[fd] = v;
	f->have |= 1u << fd;
}

static int
get_num(xmpp_stanza_t *el, const char *attr, uint64_t max, uint64_t *v)
{
	struct xgw_err err;

	return xgw_get_uint(el, attr, max, v, &err);
}

static void
attr_num(struct facts *f, enum field fd, const char *attr, uint64_t max)
{
	uint64_t v;

	if (get_num(f->el, attr, max, &v) == 0)
		set_num(f, fd, v);
}

/* Appends bytes to the string store; the span says where they are. */
static int
put_str(struct facts *f, const void *p, size_t n, struct span *sp)
{
	struct xgw_err err;

	if (sp != NULL && sp->len == 0)
		sp->off = f->sb.len;
	if (xgw_buf_put(&f->sb, p, n, &err) == -1)
		return -1;
	if (sp != NULL)
		sp->len += n;
	return 0;
}

static int
attr_bytes(struct facts *f, xmpp_stanza_t *el, const char *attr,
    struct span *sp)
{
	struct xgw_err err;
	size_t n;

	sp->off = f->sb.len;
	sp->len = 0;
	if (xgw_get_bytes(el, attr, &f->sb, &n, &err) == -1)
		return -1;
	sp->len = n;
	return 0;
}

static void
attr_str(struct facts *f, enum sfact sf, const char *attr)
{
	if (attr_bytes(f, f->el, attr, &f->str[sf]) == 0)
		f->shave |= 1u << sf;
}

/* Size of a base64 child without decoding it. */
static void
b64_size(struct facts *f, const char *child)
{
	xmpp_stanza_t *c = xgw_child(f->el, child);
	const char *s;
	size_t n;

	if (c == NULL) {
		set_num(f, FD_SIZE, 0);
		return;
	}
	s = xgw_text(c);
	if ((n = strlen(s)) % 4 != 0)
		return;
	set_num(f, FD_SIZE, n / 4 * 3 - (n > 0 && s[n - 1] == '=') -
	    (n > 1 && s[n - 2] == '='));
}

static void
access_range(struct facts *f, const char *addr, const char *qty)
{
	uint64_t a, q = 1;

	if (get_num(f->el, addr, 65535, &a) == -1 ||
	    (qty != NULL && get_num(f->el, qty, 65535, &q) == -1))
		return;
	f->acc[f->nacc] = (struct range){ a, a + (q ? q : 1) - 1 };
	f->accq[f->nacc++] = q;
}

static void
read_modbus(struct facts *f)
{
	uint64_t fc, len;

	attr_num(f, FD_UNIT, "unit", 255);
	attr_num(f, FD_FUNCTION, "fc", 127);
	if (get_num(f->el, "len", 65535, &len) == 0)
		f->bytes = len + 6;
	if (!(f->have & 1u << FD_FUNCTION) ||
	    xmpp_stanza_get_attribute(f->el, "exception") != NULL)
		return;
	fc = f->num[FD_FUNCTION];
	if ((fc >= 1 && fc <= 4) || fc == 15 || fc == 16)
		access_range(f, "addr", "qty");
	else if (fc == 5 || fc == 6 || fc == 22 || fc == 24)
		access_range(f, "addr", NULL);
	else if (fc == 23) {
		access_range(f, "read-addr", "read-qty");
		access_range(f, "write-addr", "write-qty");
		if (f->nacc != 2)
			f->nacc = 0;
	}
}

/* Written values, read only when a rule asks for them. */
static int
modbus_values(struct facts *f)
{
	struct xgw_buf raw = { 0 };
	struct xgw_err err;
	uint64_t fc = f->num[FD_FUNCTION], v;
	size_t n;
	uint16_t u;
	int rc = -1;

	if (f->env->dir != XGW_REQUEST || f->nacc == 0)
		return -1;
	if (fc == 5 || fc == 6) {
		if (get_num(f->el, "value", 65535, &v) == -1)
			return -1;
		/* a coil is on (0xff00) or off: 1 or 0 to the rules */
		u = fc == 5 ? v != 0 : v;
		return xgw_buf_put(&f->vals, &u, sizeof(u), &err);
	}
	if (fc == 15 && xgw_get_bitlist(f->el, "bits", &raw, &n, &err) == 0) {
		rc = 0;
		for (size_t i = 0; i < n && rc == 0; i++) {
			u = raw.data[i / 8] >> (i % 8) & 1;
			rc = xgw_buf_put(&f->vals, &u, sizeof(u), &err);
		}
	} else if ((fc == 16 || fc == 23) &&
	    xgw_get_u16list(f->el, "regs", &raw, &n, &err) == 0) {
		rc = 0;
		for (size_t i = 0; i < n && rc == 0; i++) {
			u = xgw_be16(raw.data + 2 * i);
			rc = xgw_buf_put(&f->vals, &u, sizeof(u), &err);
		}
	}
	xgw_buf_free(&raw);
	return rc;
}

static int
name_in(const char *s, const struct pname *names, uint64_t *v)
{
	for (; s != NULL && names->name != NULL; names++)
		if (strcmp(names->name, s) == 0) {
			*v = names->v;
			return 0;
		}
	return -1;
}

/*
 * The values of every option num, each after sep: uri-path "/a/b",
 * uri-query "a=1&b=2" (lead 0: no separator before the first).
 */
static void
join_opts(struct facts *f, uint64_t want, const char *sep, int lead,
    enum sfact sf)
{
	struct span *sp = &f->str[sf], seg;
	xmpp_stanza_t *c;
	uint64_t num;
	int k = 0;

	sp->off = f->sb.len;
	for (c = xmpp_stanza_get_children(f->el); c != NULL;
	    c = xmpp_stanza_get_next(c)) {
		if (!xmpp_stanza_is_tag(c) ||
		    strcmp(xmpp_stanza_get_name(c), "opt") != 0 ||
		    get_num(c, "num", 65535, &num) == -1 || num != want)
			continue;
		if ((k++ > 0 || lead) && put_str(f, sep, 1, NULL) == -1)
			return;
		if (attr_bytes(f, c, "value", &seg) == -1)
			return;
	}
	sp->len = f->sb.len - sp->off;
	f->shave |= 1u << sf;
}

static void
read_coap(struct facts *f)
{
	static const struct pname types[] = {
		{ "con", 0 }, { "non", 1 }, { "ack", 2 }, { "rst", 3 }, { NULL, 0 }
	};
	const char *code = xmpp_stanza_get_attribute(f->el, "code");
	xmpp_stanza_t *c;
	uint64_t v, num;

	if (name_in(xmpp_stanza_get_attribute(f->el, "type"), types, &v) == 0)
		set_num(f, FD_CTYPE, v);
	if (code != NULL && pol_coap_code(code, &v) == 0)
		set_num(f, FD_CODE, v);
	b64_size(f, "payload");
	f->bytes = f->num[FD_SIZE];
	for (c = xmpp_stanza_get_children(f->el); c != NULL;
	    c = xmpp_stanza_get_next(c))
		if (xmpp_stanza_is_tag(c) &&
		    strcmp(xmpp_stanza_get_name(c), "opt") == 0 &&
		    get_num(c, "num", 65535, &num) == 0 && num == 12 &&
		    get_num(c, "uint", UINT32_MAX, &v) == 0)
			set_num(f, FD_CFORMAT, v);
	join_opts(f, 11, "/", 1, SF_PATH);
	join_opts(f, 15, "&", 0, SF_QUERY);
	/* no uri-path option is the root */
	if ((f->shave & 1u << SF_PATH) && f->str[SF_PATH].len == 0 &&
	    put_str(f, "/", 1, &f->str[SF_PATH]) == -1)
		f->shave &= ~(1u << SF_PATH);
}

/*
 * The spans of a list the rules judge item by item, one per child named
 * child; item reads each child's span (and what else the child tells).
 * One unreadable item makes the whole list absent.  Returns the number
 * of children.
 */
static size_t
read_list(struct facts *f, const char *child,
    int (*item)(struct facts *, xmpp_stanza_t *, struct span *))
{
	struct xgw_err err;
	xmpp_stanza_t *c;
	struct span sp;
	size_t n = 0;
	int ok = 1;

	for (c = xmpp_stanza_get_children(f->el); c != NULL;
	    c = xmpp_stanza_get_next(c)) {
		if (!xmpp_stanza_is_tag(c) ||
		    strcmp(xmpp_stanza_get_name(c), child) != 0)
			continue;
		n++;
		if (item(f, c, &sp) == -1 ||
		    xgw_buf_put(&f->lb, &sp, sizeof(sp), &err) == -1)
			ok = 0;
	}
	f->nlist = ok ? n : 0;
	return n;
}

static int
filter_item(struct facts *f, xmpp_stanza_t *c, struct span *sp)
{
	uint64_t qos;

	/* a SUBSCRIBE is judged by the highest QoS it asks for */
	if (get_num(c, "qos", 2, &qos) == 0 && qos > f->num[FD_QOS])
		f->num[FD_QOS] = qos;
	return attr_bytes(f, c, "filter", sp);
}

static void
read_mqtt(struct facts *f)
{
	const char *type = xmpp_stanza_get_attribute(f->el, "type");
	int t = type != NULL ? pol_mqtt_type(type) : -1;

	if (t == -1)
		return;
	set_num(f, FD_MTYPE, t);
	if (t == 3) {
		attr_str(f, SF_TOPIC, "topic");
		attr_num(f, FD_QOS, "qos", 2);
		attr_num(f, FD_RETAIN, "retain", 1);
		b64_size(f, "payload");
		f->bytes = f->num[FD_SIZE];
	} else if (t == 8) {
		read_list(f, "sub", filter_item);
		if (f->nlist > 0)
			f->have |= 1u << FD_QOS;
	} else if (t == 10)
		read_list(f, "unsub", filter_item);
	else if (t == 1)
		attr_str(f, SF_CLIENT, "client-id");
}

/* The path and query of a request target, absolute form included. */
static void
read_target(struct facts *f)
{
	struct span t;
	const char *b, *p, *q, *end;

	if (attr_bytes(f, f->el, "target", &t) == -1)
		return;
	b = (const char *)f->sb.data;
	p = b + t.off;
	end = p + t.len;
	/* scheme "://" authority: skipped up to the path */
	if ((q = memchr(p, ':', t.len)) != NULL && end - q > 2 &&
	    q[1] == '/' && q[2] == '/' && memchr(p, '/', q - p) == NULL) {
		p = q + 3;
		while (p < end && *p != '/' && *p != '?')
			p++;
	}
	if ((q = memchr(p, '?', end - p)) == NULL)
		q = end;
	f->str[SF_PATH].off = p - b;
	f->str[SF_PATH].len = q - p;
	f->str[SF_QUERY].off = q < end ? (size_t)(q + 1 - b) : t.off + t.len;
	f->str[SF_QUERY].len = q < end ? (size_t)(end - q - 1) : 0;
	f->shave |= 1u << SF_PATH | 1u << SF_QUERY;
}

static void
read_http(struct facts *f)
{
	const char *kind = xmpp_stanza_get_attribute(f->el, "kind");
	const char *body = xmpp_stanza_get_attribute(f->el, "body");

	attr_num(f, FD_SIZE, "body-size", XGW_HTTP_BODY_LIMIT);
	f->bytes = f->num[FD_SIZE];
	/* chunked or read until close: the size is known once it is over */
	f->size_open = !(f->have & 1u << FD_SIZE) && body != NULL &&
	    strcmp(body, "streamed") == 0;
	if (kind == NULL || strcmp(kind, "request") != 0)
		return;
	attr_str(f, SF_METHOD, "method");
	read_target(f);
}

/* A reading's name, plain (no name-b64: the schema has none); and its quality. */
static int
reading_item(struct facts *f, xmpp_stanza_t *c, struct span *sp)
{
	const char *name = xmpp_stanza_get_attribute(c, "name");
	uint64_t q;

	if (name_in(xmpp_stanza_get_attribute(c, "quality"), pol_quality_names,
	    &q) == -1)
		f->have &= ~(1u << FD_QUALITY);
	else if (q > f->num[FD_QUALITY])
		f->num[FD_QUALITY] = q;
	*sp = (struct span){ 0, 0 };
	if (name == NULL || name[0] == '\0')
		return -1;
	return put_str(f, name, strlen(name), sp);
}

static void
read_readings(struct facts *f)
{
	uint64_t v;

	if (name_in(xmpp_stanza_get_attribute(f->el, "proto"),
	    pol_rproto_names, &v) == 0)
		set_num(f, FD_RPROTO, v);
	/* the element is as good as its worst reading: bad when any is */
	set_num(f, FD_QUALITY, 0);
	if (read_list(f, "r", reading_item) == 0)
		f->have &= ~(1u << FD_QUALITY);
}

int
pol_facts_read(struct facts *f, const struct xgw_meta *env, xmpp_stanza_t *el)
{
	static const char *const ns[PR_N] = {
		NULL, XGW_NS_MODBUS, XGW_NS_COAP, XGW_NS_MQTT, XGW_NS_HTTP,
		XGW_NS_READINGS
	};
	const char *elns = xmpp_stanza_get_ns(el);
	const char *name = xmpp_stanza_get_name(el);

	memset(f, 0, sizeof(*f));
	f->env = env;
	f->el = el;
	/* each protocol's element is named as the protocol is */
	for (int p = PR_MODBUS; p < PR_N && elns != NULL && name != NULL; p++)
		if (strcmp(elns, ns[p]) == 0 &&
		    strcmp(name, pol_proto_names[p]) == 0)
			f->proto = p;
	switch (f->proto) {
	case PR_MODBUS:
		read_modbus(f);
		break;
	case PR_COAP:
		read_coap(f);
		break;
	case PR_MQTT:
		read_mqtt(f);
		break;
	case PR_HTTP:
		read_http(f);
		break;
	case PR_READINGS:
		read_readings(f);
		break;
	default:
		return -1;
	}
	return 0;
}

void
pol_facts_free(struct facts *f)
{
	xgw_buf_free(&f->vals);
	xgw_buf_free(&f->sb);
	xgw_buf_free(&f->lb);
}

static const char *
sptr(const struct facts *f, const struct span *sp)
{
	return (const char *)f->sb.data + sp->off;
}

static const struct span *
list_spans(const struct facts *f)
{
	return (const struct span *)(void *)f->lb.data;
}

/* Levels of a topic or filter: *at walks; 0 when there are no more. */
static int
level(const char *s, size_t n, size_t *at, const char **lv, size_t *len)
{
	const char *e;

	if (*at > n)
		return 0;
	*lv = s + *at;
	e = memchr(*lv, '/', n - *at);
	*len = (e ? e : s + n) - *lv;
	*at += *len + 1;
	return 1;
}

static int
is_level(const char *lv, size_t len, char c)
{
	return len == 1 && lv[0] == c;
}

int
pol_topic_valid(const char *s)
{
	size_t n = strlen(s), at = 0, len;
	const char *lv;

	if (n == 0)
		return 0;
	while (level(s, n, &at, &lv, &len))
		if ((memchr(lv, '+', len) && !is_level(lv, len, '+')) ||
		    (memchr(lv, '#', len) && (!is_level(lv, len, '#') ||
		    at <= n)))
			return 0;
	return 1;
}

/*
 * Does the rule's filter cover the stanza's topic (sub 0) or the
 * stanza's whole subscription filter (sub 1)?  Wildcards in the first
 * level do not reach topics that start with '$', as MQTT says.
 */
static int
topic_covers(const struct strm *m, const char *s, size_t n, int sub)
{
	size_t fa = 0, sa = 0, fl, sl;
	const char *fv, *sv;
	int first = 1;

	while (level(m->s, m->len, &fa, &fv, &fl)) {
		if (first && n > 0 && s[0] == '$' &&
		    (is_level(fv, fl, '+') || is_level(fv, fl, '#')))
			return 0;
		first = 0;
		if (is_level(fv, fl, '#'))
			return 1;
		if (!level(s, n, &sa, &sv, &sl))
			return 0;
		if (sub && is_level(sv, sl, '#'))
			return 0;
		if (is_level(fv, fl, '+'))
			continue;
		if ((sub && is_level(sv, sl, '+')) || fl != sl ||
		    memcmp(fv, sv, fl) != 0)
			return 0;
	}
	return sa > n;
}

/* A topic filter against a topic name: the MQTT adapter's routes for 3.1.1. */
int
pol_topic_match(const char *filter, const char *topic, size_t n)
{
	struct strm m = { .s = (char *)filter, .len = strlen(filter) };

	return topic_covers(&m, topic, n, 0);
}

/*
 * Globs: '?' is one character and '*' any run of them within a path
 * segment, '**' any run across segments.  The pattern is the operator's
 * and short; the subject is hostile and may be long, so this walks the
 * subject once with the set of pattern positions still alive rather than
 * backtracking.
 */
int
pol_glob(const char *pat, size_t plen, const char *s, size_t slen)
{
	unsigned char a[1025], b[1025], *cur = a, *nxt = b, *t;

	if (plen > 1024)
		return 0;
	memset(cur, 0, plen + 1);
	cur[0] = 1;
	for (size_t i = 0;; i++) {
		/* a star may match nothing */
		for (size_t j = 0; j < plen; j++)
			if (cur[j] && pat[j] == '*')
				cur[j + 1] = 1;
		if (i == slen)
			return cur[plen];
		memset(nxt, 0, plen + 1);
		for (size_t j = 0; j < plen; j++) {
			if (!cur[j])
				continue;
			if (pat[j] == '*') {
				int dbl = (j + 1 < plen && pat[j + 1] == '*') ||
				    (j > 0 && pat[j - 1] == '*');

				if (dbl || s[i] != '/')
					nxt[j] = 1;
			} else if ((pat[j] == '?' && s[i] != '/') ||
			    pat[j] == s[i])
				nxt[j + 1] = 1;
		}
		t = cur;
		cur = nxt;
		nxt = t;
	}
}

static int
str_match(const struct strm *m, const char *s, size_t n)
{
	switch (m->kind) {
	case SM_EXACT:
		return n == m->len && memcmp(s, m->s, n) == 0;
	case SM_PREFIX:
		return n >= m->len && memcmp(s, m->s, m->len) == 0;
	case SM_GLOB:
		return pol_glob(m->s, m->len, s, n);
	}
	return 0;
}

static int
any_str(const struct cond *c, const char *s, size_t n)
{
	for (size_t i = 0; i < c->n; i++)
		if (str_match(&c->s[i], s, n))
			return 1;
	return 0;
}

static int
in_set(const struct cond *c, uint64_t v)
{
	for (size_t i = 0; i < c->n; i++)
		if (v >= c->r[i].lo && v <= c->r[i].hi)
			return 1;
	return 0;
}

/* the whole access must lie in one of the rule's ranges */
static int
range_inside(const struct cond *c, const struct range *a)
{
	for (size_t i = 0; i < c->n; i++)
		if (a->lo >= c->r[i].lo && a->hi <= c->r[i].hi)
			return 1;
	return 0;
}

static int
modbus_match(const struct cond *c, struct facts *f)
{
	const uint16_t *v;

	if (f->nacc == 0)
		return 0;
	for (int i = 0; i < f->nacc; i++)
		if ((c->kw->field == FD_ADDRESS && !range_inside(c, &f->acc[i])) ||
		    (c->kw->field == FD_QUANTITY && !in_set(c, f->accq[i])))
			return 0;
	if (c->kw->field != FD_VALUE)
		return 1;
	if (!f->vals_done) {
		f->vals_done = 1;
		f->vals_ok = modbus_values(f) == 0 && f->vals.len > 0;
	}
	if (!f->vals_ok)
		return 0;
	v = (const uint16_t *)(void *)f->vals.data;
	for (size_t i = 0; i < f->vals.len / 2; i++)
		if (!in_set(c, v[i]))
			return 0;
	return 1;
}

/* Every item of the stanza's list must be matched by one of the rule's. */
static int
every_item(const struct cond *c, struct facts *f,
    int (*one)(const struct cond *, const char *, size_t))
{
	const struct span *l = list_spans(f);

	for (size_t k = 0; k < f->nlist; k++)
		if (!one(c, sptr(f, &l[k]), l[k].len))
			return 0;
	return f->nlist > 0;
}

static int
covers_filter(const struct cond *c, const char *s, size_t n)
{
	for (size_t i = 0; i < c->n; i++)
		if (topic_covers(&c->s[i], s, n, 1))
			return 1;
	return 0;
}

static int
topic_match(const struct cond *c, struct facts *f)
{
	if (f->shave & 1u << SF_TOPIC) {
		for (size_t i = 0; i < c->n; i++)
			if (topic_covers(&c->s[i], sptr(f, &f->str[SF_TOPIC]),
			    f->str[SF_TOPIC].len, 0))
				return 1;
		return 0;
	}
	/* every filter of a SUBSCRIBE must be covered */
	return every_item(c, f, covers_filter);
}

static int
header_match(const struct cond *c, struct facts *f)
{
	struct xgw_buf b = { 0 };
	struct xgw_err err;
	xmpp_stanza_t *x;
	const char *name;
	size_t n;
	int ok = 0;

	for (x = xmpp_stanza_get_children(f->el); x != NULL && !ok;
	    x = xmpp_stanza_get_next(x)) {
		if (!xmpp_stanza_is_tag(x) ||
		    strcmp(xmpp_stanza_get_name(x), "field") != 0 ||
		    (name = xmpp_stanza_get_attribute(x, "name")) == NULL ||
		    strcasecmp(name, c->hname) != 0)
			continue;
		if (c->n == 0)
			return 1;
		b.len = 0;
		if (xgw_get_bytes(x, "value", &b, &n, &err) == 0)
			ok = any_str(c, (const char *)b.data, n);
	}
	xgw_buf_free(&b);
	return ok;
}

/*
 * The largest size a body-size match admits a body of unknown size up to:
 * such a body has 0 bytes when its head is judged, so the ranges from 0
 * are the ones that hold, and the largest of their ends bounds its
 * running total.  0 when none does.
 */
static uint64_t
open_bound(const struct cond *c)
{
	uint64_t b = 0;

	for (size_t i = 0; i < c->n; i++)
		if (c->r[i].lo == 0 && c->r[i].hi > b)
			b = c->r[i].hi;
	return b;
}

uint64_t
pol_rule_bound(const struct rule *r)
{
	for (size_t i = 0; i < r->ncond; i++)
		if (r->cond[i].kw->field == FD_SIZE)
			return open_bound(&r->cond[i]);
	return 0;
}

static int
cond_match(const struct cond *c, struct facts *f)
{
	static const int sf[FD_N] = {
		[FD_PATH] = SF_PATH, [FD_QUERY] = SF_QUERY,
		[FD_CLIENT] = SF_CLIENT, [FD_METHOD] = SF_METHOD
	};
	enum field fd = c->kw->field;

	switch (c->kw->kind) {
	case CK_NUM:
		if (fd == FD_ADDRESS || fd == FD_QUANTITY || fd == FD_VALUE)
			return modbus_match(c, f);
		if (fd == FD_SIZE && f->size_open)
			return open_bound(c) != 0;
		return (f->have & 1u << fd) && in_set(c, f->num[fd]);
	case CK_STR:
	case CK_WORD:
		return (f->shave & 1u << sf[fd]) &&
		    any_str(c, sptr(f, &f->str[sf[fd]]), f->str[sf[fd]].len);
	case CK_TOPIC:
		return topic_match(c, f);
	case CK_HEADER:
		return header_match(c, f);
	case CK_NAMES:
		return every_item(c, f, any_str);
	}
	return 0;
}

static int
ids_match(const struct ids *ids, const char *uuid)
{
	size_t lo = 0, hi = ids->nuuid;

	if (ids->n == 0)
		return 1;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int d = strcmp(uuid, ids->uuid[mid]);

		if (d == 0)
			return 1;
		if (d < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return 0;
}

int
pol_rule_matches(const struct rule *r, struct facts *f, int *soft)
{
	int failed = 0, hard = 0;

	if ((r->dirs != 0 && !(r->dirs & 1u << f->env->dir)) ||
	    (r->proto != PR_ANY && r->proto != f->proto) ||
	    !ids_match(&r->from, f->env->src) || !ids_match(&r->to, f->env->dst))
		return 0;
	for (size_t i = 0; i < r->ncond && !hard; i++) {
		enum field fd = r->cond[i].kw->field;

		if (cond_match(&r->cond[i], f))
			continue;
		failed = 1;
		hard = fd != FD_ADDRESS && fd != FD_QUANTITY && fd != FD_VALUE;
	}
	if (failed && !hard)
		*soft = 1;
	return !failed;
}

/* Index keys: the stanza's and the rule's must be computed alike. */

int
pol_topic_first(const char *s, size_t n, struct span *sp)
{
	const char *e = memchr(s, '/', n);

	sp->off = 0;
	sp->len = e ? (size_t)(e - s) : n;
	return !is_level(s, sp->len, '+') && !is_level(s, sp->len, '#');
}

/*
 * The first segment a string match fixes, up to the first '/': of a path
 * after its leading '/' (rooted), of a reading's name from its start.
 * 0 when the match does not fix one (a wildcard in it, or a prefix that
 * ends inside it).
 */
int
pol_seg_first(const struct strm *m, int rooted, struct span *sp)
{
	size_t from = rooted ? 1 : 0;
	const char *e;

	if (rooted && (m->len == 0 || m->s[0] != '/'))
		return 0;
	e = memchr(m->s + from, '/', m->len - from);
	sp->off = from;
	sp->len = (e ? (size_t)(e - m->s) : m->len) - from;
	if (m->kind == SM_GLOB && (memchr(m->s + from, '*', sp->len) ||
	    memchr(m->s + from, '?', sp->len)))
		return 0;
	return e != NULL || m->kind != SM_PREFIX;
}

static const char *
key_span(const char *s, size_t n, char *buf, size_t len)
{
	if (n > len - 1)
		n = len - 1;
	memcpy(buf, s, n);
	buf[n] = '\0';
	return buf;
}

/* pre and the decimal number, as the rules file them (no printf: hot path) */
static const char *
key_num(uint64_t v, const char *pre, char *buf, size_t len)
{
	char tmp[24];
	size_t k = 0, n = strlen(pre);

	do
		tmp[k++] = '0' + v % 10;
	while ((v /= 10) != 0);
	if (n + k + 1 > len)
		return NULL;
	memcpy(buf, pre, n);
	while (k > 0)
		buf[n++] = tmp[--k];
	buf[n] = '\0';
	return buf;
}

const char *
pol_facts_key1(struct facts *f, char *buf, size_t len)
{
	static const enum field fd[PR_N] = {
		FD_N, FD_FUNCTION, FD_CODE, FD_MTYPE, FD_METHOD, FD_QUALITY
	};

	if (f->proto == PR_HTTP)
		return f->shave & 1u << SF_METHOD ? key_span(sptr(f,
		    &f->str[SF_METHOD]), f->str[SF_METHOD].len, buf, len) : NULL;
	if (!(f->have & 1u << fd[f->proto]))
		return NULL;
	return key_num(f->num[fd[f->proto]], "", buf, len);
}

/* The first segment of a path or name, as the rules' keys hold it. */
static const char *
seg_key(const char *s, size_t n, int rooted, char *buf, size_t len)
{
	struct strm m = { SM_EXACT, (char *)s, n };
	struct span sp;

	if (!pol_seg_first(&m, rooted, &sp))
		return NULL;
	return key_span(s + sp.off, sp.len, buf, len);
}

const char *
pol_facts_key2(struct facts *f, char *buf, size_t len, int *ambiguous)
{
	const struct span *fl = list_spans(f);
	struct span sp, first;
	const char *s;

	*ambiguous = 0;
	switch (f->proto) {
	case PR_MODBUS:
		if (!(f->have & 1u << FD_UNIT))
			return NULL;
		return key_num(f->num[FD_UNIT], "u", buf, len);
	case PR_COAP:
	case PR_HTTP:
		if (!(f->shave & 1u << SF_PATH))
			return NULL;
		return seg_key(sptr(f, &f->str[SF_PATH]), f->str[SF_PATH].len,
		    1, buf, len);
	case PR_READINGS:
		/* every name must match, so the first one must */
		if (f->nlist == 0)
			return NULL;
		return seg_key(sptr(f, &fl[0]), fl[0].len, 0, buf, len);
	case PR_MQTT:
		if (f->shave & 1u << SF_TOPIC) {
			s = sptr(f, &f->str[SF_TOPIC]);
			pol_topic_first(s, f->str[SF_TOPIC].len, &sp);
			return key_span(s, sp.len, buf, len);
		}
		if (f->nlist == 0)
			return NULL;
		/* filters of one SUBSCRIBE under one literal first level */
		s = sptr(f, &fl[0]);
		if (!pol_topic_first(s, fl[0].len, &first)) {
			*ambiguous = 1;
			return NULL;
		}
		for (size_t k = 1; k < f->nlist; k++)
			if (!pol_topic_first(sptr(f, &fl[k]), fl[k].len, &sp) ||
			    sp.len != first.len ||
			    memcmp(sptr(f, &fl[k]), s, sp.len) != 0) {
				*ambiguous = 1;
				return NULL;
			}
		return key_span(s, first.len, buf, len);
	default:
		return NULL;
	}
}
