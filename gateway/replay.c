/*
 * xgw-replay: runs every PDU of a capture through the transforms (and,
 * with --policy, the policy stage), offline.
 *
 * Read top to bottom: main() opens each capture, replay_file() walks its
 * packets, a flow table keeps per-connection state, stream_bytes() cuts
 * reassembled bytes into PDUs with the protocol's frame function, and
 * pdu() decodes, prints, checks the round trip and counts.
 */
#include <sys/socket.h>
#include <netinet/in.h>
#include <err.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "policy.h"
#include "replay.h"
#include "xgw_transform.h"

#define FLOW_BUCKETS	4096
#define COUNT_SLOTS	1024
#define WINDOW_DEFAULT	(1024 * 1024)
#define ARENA_SIZE	(256 * 1024)	/* a PDU's elements, many times over */

struct counter {
	char		 key[128];
	uint64_t	 n;
};

/*
 * A small string-keyed counter table; the key sets are tiny.  Its slots
 * are made on the first count and only the filled ones are sorted for
 * printing, so that a capture costs the counters it fills, not the table
 * (most captures have no malformed packets, many no decode errors).
 */
struct counts {
	struct counter	*slot;		/* COUNT_SLOTS of them, or NULL */
	struct counter	*used[COUNT_SLOTS];	/* the filled slots */
	size_t		 nused;
	uint64_t	 total;
};

struct stats {
	uint64_t	 packets, transport, other, malformed_pkts;
	uint64_t	 flows, flows_dropped, pdus, checked, mismatches;
	uint64_t	 skipped, gap, retrans, bytes;
	uint64_t	 verdicts[3];	/* by enum xgw_action */
	uint64_t	 decode_ns, encode_ns;	/* --timing: time inside the transforms */
	struct counts	 kinds, errors, pkt_errors;
};

struct side {
	struct reasm	 reasm;
	uint8_t		*buf;
	size_t		 len, cap;
	int		 resync;	/* looking for the start of a PDU */
	int		 fin;
};

struct flow {
	struct flow	*next;
	int		 family, proto;
	uint8_t		 caddr[16], saddr[16];	/* client, server */
	uint16_t	 cport, sport;
	const struct xgw_proto *xp;
	void		*sess;
	struct side	 side[2];		/* XGW_REQUEST, XGW_RESPONSE */
	char		 cuuid[46], suuid[46];
	char		 name[140];
	uint64_t	 id, seq;
	int		 dropped, closed;
};

struct replay {
	struct xgw_arena *arena;
	xmpp_ctx_t	*ctx;
	const struct xgw_proto *map[2][65536];	/* [stream][port] */
	int		 xml, check, tsv, verbose;
	int		 via_text;	/* check through XML text, as the link does */
	int		 timing;	/* measure the transforms alone */
	size_t		 window;
	const char	*file;
	const char	*policy_path;
	struct xgw_policy *policy;	/* a fresh one per capture */
	struct live	*live;		/* --live: play against a peer */
	uint64_t	 now_ms;	/* the capture's clock, for rate limits */
	struct flow	*flows[FLOW_BUCKETS];
	struct stats	 st;
	struct xgw_buf	 enc;
};

static void	 usage(void) __attribute__((noreturn));

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}
static int	 replay_file(struct replay *, const char *);

static void
usage(void)
{
	fprintf(stderr,
	    "usage: xgw-replay [--xml] [--check | --check-element] [--summary-tsv]\n"
	    "                  [--timing] [--verbose] [--policy FILE] [--map PORT=PROTO]\n"
	    "                  [--window BYTES] capture ...\n"
	    "       xgw-replay --live HOST:PORT [--pace captured | fast]\n"
	    "                  [--timeout MS] [--verbose] [--map PORT=PROTO]\n"
	    "                  [--window BYTES] capture ...\n");
	exit(2);
}

static size_t
hash_str(size_t h, const char *s)
{
	while (*s != '\0')
		h = h * 33 + (unsigned char)*s++;
	return h;
}

/* Is key "proto/what" (or "what" when proto is NULL)? */
static int
key_is(const char *key, const char *proto, const char *what)
{
	if (proto != NULL) {
		size_t n = strlen(proto);

		if (strncmp(key, proto, n) != 0 || key[n] != '/')
			return 0;
		key += n + 1;
	}
	return strcmp(key, what) == 0;
}

/*
 * Counts "proto/what" (or "what" when proto is NULL).  It runs for every
 * PDU, so the key is only written out the first time.
 */
static void
count(struct counts *c, const char *proto, const char *what)
{
	size_t h = proto != NULL ? hash_str(hash_str(5381, proto), "/") : 5381;

	h = hash_str(h, what);
	c->total++;
	if (c->slot == NULL &&
	    (c->slot = calloc(COUNT_SLOTS, sizeof(*c->slot))) == NULL)
		err(1, "counters");
	for (size_t i = 0; i < COUNT_SLOTS; i++) {
		struct counter *k = &c->slot[(h + i) % COUNT_SLOTS];

		if (k->n == 0) {
			snprintf(k->key, sizeof(k->key), "%s%s%s",
			    proto != NULL ? proto : "", proto != NULL ? "/" : "",
			    what);
			k->n = 1;
			c->used[c->nused++] = k;
			return;
		}
		if (key_is(k->key, proto, what)) {
			k->n++;
			return;
		}
	}
}

static int
counter_cmp(const void *a, const void *b)
{
	const struct counter *const *x = a, *const *y = b;

	return strcmp((*x)->key, (*y)->key);
}

/* Prints "key n, key n" (sep " " or "=" and ","), sorted for stable output. */
static void
print_counts(FILE *f, struct counts *c, const char *kv, const char *sep)
{
	size_t printed = 0;

	qsort(c->used, c->nused, sizeof(c->used[0]), counter_cmp);
	for (size_t i = 0; i < c->nused; i++)
		fprintf(f, "%s%s%s%llu", printed++ ? sep : "", c->used[i]->key,
		    kv, (unsigned long long)c->used[i]->n);
	if (printed == 0)
		fputs("-", f);
}

static void
stats_clear(struct stats *s)
{
	free(s->kinds.slot);
	free(s->errors.slot);
	free(s->pkt_errors.slot);
	memset(s, 0, sizeof(*s));
}

static size_t
flow_hash(const struct pkt *k)
{
	size_t h = k->sport ^ k->dport ^ k->proto;

	for (int i = 0; i < 16; i++)
		h = h * 31 + (k->src[i] ^ k->dst[i]);
	return h % FLOW_BUCKETS;
}

/* Which side of f sent k: XGW_REQUEST (client), XGW_RESPONSE, or -1. */
static int
flow_side(const struct flow *f, const struct pkt *k)
{
	if (f->family != k->family || f->proto != k->proto)
		return -1;
	if (k->sport == f->cport && k->dport == f->sport &&
	    memcmp(k->src, f->caddr, 16) == 0 &&
	    memcmp(k->dst, f->saddr, 16) == 0)
		return XGW_REQUEST;
	if (k->sport == f->sport && k->dport == f->cport &&
	    memcmp(k->src, f->saddr, 16) == 0 &&
	    memcmp(k->dst, f->caddr, 16) == 0)
		return XGW_RESPONSE;
	return -1;
}

static struct flow *
flow_new(struct replay *r, const struct pkt *k, const struct xgw_proto *xp,
    int from_client)
{
	struct flow *f;
	char c[64], s[64];

	if ((f = calloc(1, sizeof(*f))) == NULL ||
	    (xp->sess_size && (f->sess = calloc(1, xp->sess_size)) == NULL))
		err(1, "flow");
	f->family = k->family;
	f->proto = k->proto;
	f->xp = xp;
	memcpy(f->caddr, from_client ? k->src : k->dst, 16);
	memcpy(f->saddr, from_client ? k->dst : k->src, 16);
	f->cport = from_client ? k->sport : k->dport;
	f->sport = from_client ? k->dport : k->sport;
	cap_addr_str(f->family, f->caddr, f->cport, c, sizeof(c));
	cap_addr_str(f->family, f->saddr, f->sport, s, sizeof(s));
	snprintf(f->name, sizeof(f->name), "%s %s > %s",
	    f->proto == IPPROTO_TCP ? "tcp" : "udp", c, s);
	/* a capture has addresses, not identities: name each endpoint */
	xgw_uuid_name(c, f->cuuid);
	xgw_uuid_name(s, f->suuid);
	/* without the handshake the stream may begin inside a PDU */
	f->side[0].resync = f->side[1].resync = f->proto == IPPROTO_TCP &&
	    !(k->flags & TH_SYN);
	f->id = ++r->st.flows;
	return f;
}

static void
side_release(struct side *s)
{
	reasm_free(&s->reasm);
	free(s->buf);
	s->buf = NULL;
	s->len = s->cap = 0;
}

static void
flow_free(struct flow *f)
{
	side_release(&f->side[0]);
	side_release(&f->side[1]);
	free(f->sess);
	free(f);
}

static void
report(struct replay *r, struct flow *f, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
report(struct replay *r, struct flow *f, const char *fmt, ...)
{
	va_list ap;

	if (!r->verbose)
		return;
	fprintf(stderr, "%s: flow %llu (%s): ", r->file,
	    (unsigned long long)f->id, f->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void
hexdump_diff(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
	size_t at = 0;

	while (at < an && at < bn && a[at] == b[at])
		at++;
	fprintf(stderr, "  first difference at byte %zu (wire %zu bytes, "
	    "re-encoded %zu)\n  wire:", at, an, bn);
	for (size_t i = at; i < an && i < at + 16; i++)
		fprintf(stderr, " %02x", a[i]);
	fputs("\n  ours:", stderr);
	for (size_t i = at; i < bn && i < at + 16; i++)
		fprintf(stderr, " %02x", b[i]);
	fputc('\n', stderr);
}

static int
timed_encode(struct replay *r, struct flow *f, xmpp_stanza_t *el,
    struct xgw_err *e)
{
	uint64_t t0 = r->timing ? now_ns() : 0;
	int rc = f->xp->encode(el, &r->enc, e);

	if (r->timing)
		r->st.encode_ns += now_ns() - t0;
	return rc;
}

/*
 * The round trip the gateway pair performs: element -> XML text ->
 * element -> bytes, compared with the wire.  Without via_text, only
 * element -> bytes.
 */
static void
check_round_trip(struct replay *r, struct flow *f, xmpp_stanza_t *env,
    const uint8_t *p, size_t n)
{
	xmpp_stanza_t *back = env, *proto;
	struct xgw_meta m;
	struct xgw_err e;
	char *text;
	size_t tlen;

	r->st.checked++;
	r->enc.len = 0;
	if (r->via_text) {
		if (xmpp_stanza_to_text(env, &text, &tlen) != XMPP_EOK)
			errx(1, "out of memory");
		back = xmpp_stanza_new_from_string(r->ctx, text);
		xmpp_free(r->ctx, text);
		if (back == NULL) {
			r->st.mismatches++;
			report(r, f, "pdu %llu: its XML does not parse back",
			    (unsigned long long)f->seq);
			return;
		}
	}
	if (xgw_envelope_parse(back, &m, &proto, &e) == -1 ||
	    timed_encode(r, f, proto, &e) == -1) {
		r->st.mismatches++;
		report(r, f, "pdu %llu: encode failed: %s",
		    (unsigned long long)f->seq, e.msg);
	} else if (r->enc.len != n || memcmp(r->enc.data, p, n) != 0) {
		r->st.mismatches++;
		report(r, f, "pdu %llu: round trip differs",
		    (unsigned long long)f->seq);
		if (r->verbose)
			hexdump_diff(p, n, r->enc.data, r->enc.len);
	}
	if (back != env)
		xmpp_stanza_release(back);
}

static const char *const action_names[] = { "pass", "block", "reject" };

/* The policy stage, as the gateway runs it on every stanza. */
static void
judge(struct replay *r, struct flow *f, const struct xgw_meta *m,
    xmpp_stanza_t *el, const char *kind)
{
	struct xgw_verdict v;
	enum xgw_action a;

	a = xgw_policy_eval(r->policy, m, el, r->now_ms, &v);
	r->st.verdicts[a]++;
	if (r->verbose)
		printf("flow %llu pdu %llu %s %s/%s: %s (%s:%u, %s)\n",
		    (unsigned long long)f->id, (unsigned long long)f->seq,
		    xgw_dir_name(m->dir), f->xp->name, kind, action_names[a],
		    v.rule >= 0 ? v.file : "default", v.line, v.reason);
}

static void
pdu(struct replay *r, struct flow *f, enum xgw_dir dir, const uint8_t *p,
    size_t n)
{
	xmpp_stanza_t *el, *env;
	struct xgw_meta m;
	struct xgw_err e;
	const char *kind;
	char kbuf[96];

	uint64_t t0 = r->timing ? now_ns() : 0;
	int rc;

	f->seq++;
	r->st.bytes += n;
	rc = f->xp->decode(r->ctx, f->sess, dir, p, n, &el, &e);
	if (r->timing)
		r->st.decode_ns += now_ns() - t0;
	if (rc == -1) {
		count(&r->st.errors, f->xp->name, e.reason);
		report(r, f, "pdu %llu (%s, %zu bytes): offset %zu: %s: %s",
		    (unsigned long long)f->seq, xgw_dir_name(dir), n, e.offset,
		    e.reason, e.msg);
		return;
	}
	r->st.pdus++;
	kind = f->xp->kind(el, kbuf, sizeof(kbuf));
	count(&r->st.kinds, f->xp->name, kind);
	if (r->live != NULL)
		live_pdu(r->live, f->id, f->name, f->xp, dir, p, n, r->now_ms);
	if (!r->xml && !r->check && r->policy == NULL) {
		xmpp_stanza_release(el);
		return;
	}
	memset(&m, 0, sizeof(m));
	memcpy(m.src, dir == XGW_REQUEST ? f->cuuid : f->suuid, 46);
	memcpy(m.dst, dir == XGW_REQUEST ? f->suuid : f->cuuid, 46);
	m.flow = f->id;
	m.seq = f->seq;
	m.dir = dir;
	if ((env = xgw_envelope(r->ctx, &m, el)) == NULL)
		errx(1, "out of memory");
	if (r->policy != NULL)
		judge(r, f, &m, el, kind);
	xmpp_stanza_release(el);
	if (r->xml) {
		char *text;
		size_t tlen;

		if (xmpp_stanza_to_text(env, &text, &tlen) != XMPP_EOK)
			errx(1, "out of memory");
		printf("%s\n", text);
		xmpp_free(r->ctx, text);
	}
	if (r->check)
		check_round_trip(r, f, env, p, n);
	xmpp_stanza_release(env);
}

/* Cuts the buffered bytes of one side into PDUs; keeps a partial tail. */
static void
stream_parse(struct replay *r, struct flow *f, enum xgw_dir dir, int eof)
{
	struct side *s = &f->side[dir];
	size_t off = 0, len;
	struct xgw_err e;
	int rc;

	while (off < s->len) {
		rc = f->xp->frame(f->sess, dir, s->buf + off, s->len - off,
		    &len, &e);
		if (rc == 0 && eof && f->xp->frame_eof != NULL)
			rc = f->xp->frame_eof(f->sess, dir, s->buf + off,
			    s->len - off, &len, &e);
		if (rc == 1) {
			s->resync = 0;
			pdu(r, f, dir, s->buf + off, len);
			off += len;
			continue;
		}
		if (rc == 0)
			break;
		if (!s->resync) {
			count(&r->st.errors, f->xp->name, e.reason);
			report(r, f, "%s stream at byte %zu: %s: %s; "
			    "resynchronizing", xgw_dir_name(dir),
			    off + e.offset, e.reason, e.msg);
			s->resync = 1;
		}
		r->st.skipped++;
		off++;
	}
	if (eof && off < s->len) {
		if (!s->resync)
			count(&r->st.errors, f->xp->name, "incomplete");
		else
			r->st.skipped += s->len - off;
		report(r, f, "%s stream ends inside a PDU: %zu bytes left",
		    xgw_dir_name(dir), s->len - off);
		off = s->len;
	}
	if (off > 0) {
		memmove(s->buf, s->buf + off, s->len - off);
		s->len -= off;
	}
}

struct run {
	struct replay	*r;
	struct flow	*f;
	enum xgw_dir	 dir;
};

static int
stream_bytes(void *arg, const uint8_t *p, size_t n, int gap)
{
	struct run *u = arg;
	struct side *s = &u->f->side[u->dir];

	if (gap) {
		if (s->len > 0 && !s->resync) {
			count(&u->r->st.errors, u->f->xp->name, "gap");
			report(u->r, u->f, "%s stream: bytes lost inside a PDU "
			    "(%zu kept before the gap)", xgw_dir_name(u->dir),
			    s->len);
		}
		s->len = 0;
		s->resync = 1;
	}
	if (n > u->r->window - s->len) {
		report(u->r, u->f, "%s stream holds %zu bytes that make no "
		    "whole PDU: over the %zu-byte window, flow dropped",
		    xgw_dir_name(u->dir), s->len + n, u->r->window);
		return -1;
	}
	if (s->len + n > s->cap) {
		size_t cap = s->cap ? s->cap : 4096;
		uint8_t *b;

		while (cap < s->len + n)
			cap *= 2;
		if ((b = realloc(s->buf, cap)) == NULL)
			err(1, "stream buffer");
		s->buf = b;
		s->cap = cap;
	}
	memcpy(s->buf + s->len, p, n);
	s->len += n;
	stream_parse(u->r, u->f, u->dir, 0);
	return 0;
}

static void
flow_drop(struct replay *r, struct flow *f)
{
	r->st.flows_dropped++;
	f->dropped = 1;
	side_release(&f->side[0]);
	side_release(&f->side[1]);
}

/* The end of a TCP connection, or of the capture: flush what is held. */
static void
flow_finish(struct replay *r, struct flow *f)
{
	if (f->closed || f->dropped || f->proto != IPPROTO_TCP)
		return;
	for (int d = 0; d < 2; d++) {
		struct run u = { r, f, d };

		if (reasm_flush(&f->side[d].reasm, stream_bytes, &u) == -1) {
			flow_drop(r, f);
			return;
		}
		stream_parse(r, f, d, 1);
		r->st.retrans += f->side[d].reasm.retrans_bytes;
		r->st.gap += f->side[d].reasm.gap_bytes;
		side_release(&f->side[d]);
	}
	f->closed = 1;
}

static struct flow *
flow_lookup(struct replay *r, const struct pkt *k, int *dir)
{
	const struct xgw_proto *xp, *by_dst, *by_src;
	int stream = k->proto == IPPROTO_TCP;
	struct flow *f, **bucket = &r->flows[flow_hash(k)];

	for (f = *bucket; f != NULL; f = f->next)
		if ((*dir = flow_side(f, k)) != -1)
			break;
	/* a new connection on the same addresses starts a new flow */
	if (f != NULL && !(f->closed && (k->flags & (TH_SYN | 0x10)) == TH_SYN))
		return f->closed ? NULL : f;
	by_dst = r->map[stream][k->dport];
	by_src = r->map[stream][k->sport];
	if ((xp = by_dst ? by_dst : by_src) == NULL)
		return NULL;
	f = flow_new(r, k, xp, by_dst != NULL);
	f->next = *bucket;
	*bucket = f;
	*dir = by_dst != NULL ? XGW_REQUEST : XGW_RESPONSE;
	return f;
}

static void
packet(struct replay *r, const struct pkt *k)
{
	struct flow *f;
	int dir;

	if ((f = flow_lookup(r, k, &dir)) == NULL || f->dropped)
		return;
	r->st.transport++;
	if (f->proto == IPPROTO_UDP) {
		if (k->missing > 0) {
			count(&r->st.errors, f->xp->name, "truncated-capture");
			report(r, f, "datagram cut by the snap length");
			return;
		}
		pdu(r, f, dir, k->data, k->len);
		return;
	}
	{
		struct run u = { r, f, dir };

		if (reasm_segment(&f->side[dir].reasm, k, r->window,
		    stream_bytes, &u) == -1) {
			report(r, f, "reassembly window of %zu bytes exceeded; "
			    "flow dropped", r->window);
			flow_drop(r, f);
			return;
		}
	}
	if (k->flags & TH_FIN)
		f->side[dir].fin = 1;
	if ((k->flags & TH_RST) || (f->side[0].fin && f->side[1].fin))
		flow_finish(r, f);
}

static void
flows_end(struct replay *r)
{
	for (size_t i = 0; i < FLOW_BUCKETS; i++) {
		struct flow *f, *next;

		for (f = r->flows[i]; f != NULL; f = next) {
			next = f->next;
			flow_finish(r, f);
			flow_free(f);
		}
		r->flows[i] = NULL;
	}
}

/* What each rule decided: its matches under its action. */
static void
policy_summary(struct replay *r)
{
	const struct xgw_policy_counters *c;
	int n = xgw_policy_nrules(r->policy);

	printf("  policy %s: %llu pass, %llu block, %llu reject\n",
	    r->policy_path, (unsigned long long)r->st.verdicts[XGW_PASS],
	    (unsigned long long)r->st.verdicts[XGW_BLOCK],
	    (unsigned long long)r->st.verdicts[XGW_REJECT]);
	for (int i = 0; i < n; i++) {
		c = xgw_policy_counters(r->policy, i);
		printf("    rule %d: %llu matched, %llu rate-limited: %s\n",
		    i + 1, (unsigned long long)c->matches,
		    (unsigned long long)c->limited,
		    xgw_policy_rule_text(r->policy, i));
	}
	c = xgw_policy_counters(r->policy, -1);
	printf("    default deny: %llu\n", (unsigned long long)c->matches);
}

static struct xgw_policy *
policy_load(const char *path)
{
	struct xgw_policy_err pe;
	struct xgw_policy *pol;

	if ((pol = xgw_policy_load(path, &pe)) == NULL) {
		if (pe.line > 0)
			fprintf(stderr, "xgw-replay: %s:%u:%u: %s\n", pe.file,
			    pe.line, pe.col, pe.msg);
		else
			fprintf(stderr, "xgw-replay: %s: %s\n", pe.file,
			    pe.msg);
		exit(2);
	}
	return pol;
}

static void
summary(struct replay *r, const char *path)
{
	struct stats *s = &r->st;
	const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;

	if (r->tsv) {
		printf("%s\tflows=%llu\tpdus=%llu\terrors=%llu\tmismatches=%llu"
		    "\tskipped=%llu\tgap=%llu\tdropped=%llu\t", base,
		    (unsigned long long)s->flows, (unsigned long long)s->pdus,
		    (unsigned long long)s->errors.total,
		    (unsigned long long)s->mismatches,
		    (unsigned long long)s->skipped, (unsigned long long)s->gap,
		    (unsigned long long)s->flows_dropped);
		print_counts(stdout, &s->errors, "=", ",");
		putchar('\t');
		print_counts(stdout, &s->kinds, "=", ",");
		if (r->policy != NULL)
			printf("\tpass=%llu\tblock=%llu\treject=%llu",
			    (unsigned long long)s->verdicts[XGW_PASS],
			    (unsigned long long)s->verdicts[XGW_BLOCK],
			    (unsigned long long)s->verdicts[XGW_REJECT]);
		putchar('\n');
		return;
	}
	printf("capture %s: %llu packets, %llu for mapped ports, %llu others,"
	    " %llu malformed\n", path, (unsigned long long)s->packets,
	    (unsigned long long)s->transport, (unsigned long long)s->other,
	    (unsigned long long)s->malformed_pkts);
	printf("  flows %llu, dropped %llu\n", (unsigned long long)s->flows,
	    (unsigned long long)s->flows_dropped);
	printf("  pdus %llu: ", (unsigned long long)s->pdus);
	print_counts(stdout, &s->kinds, " ", ", ");
	printf("\n  decode errors %llu: ", (unsigned long long)s->errors.total);
	print_counts(stdout, &s->errors, " ", ", ");
	if (s->pkt_errors.total > 0) {
		printf("\n  malformed packets: ");
		print_counts(stdout, &s->pkt_errors, " ", ", ");
	}
	printf("\n  bytes: %llu in pdus, %llu skipped to resynchronize, "
	    "%llu lost in gaps, %llu retransmitted\n",
	    (unsigned long long)s->bytes, (unsigned long long)s->skipped,
	    (unsigned long long)s->gap, (unsigned long long)s->retrans);
	if (r->check)
		printf("  round trip: %llu checked, %llu mismatches\n",
		    (unsigned long long)s->checked,
		    (unsigned long long)s->mismatches);
	if (r->timing)
		printf("  transforms: %llu ns decoding, %llu ns encoding\n",
		    (unsigned long long)s->decode_ns,
		    (unsigned long long)s->encode_ns);
	if (r->policy != NULL)
		policy_summary(r);
}

/* Returns 2 for a capture that cannot be read, else 0 or 1 (mismatches). */
static int
replay_file(struct replay *r, const char *path)
{
	char ebuf[PCAP_ERRBUF_SIZE];
	struct pcap_pkthdr *h;
	const u_char *data;
	struct pkt k;
	const char *why;
	pcap_t *pc;
	int dlt, rc;

	stats_clear(&r->st);
	r->file = path;
	if (r->policy_path != NULL)
		r->policy = policy_load(r->policy_path);
	if ((pc = pcap_open_offline(path, ebuf)) == NULL) {
		fprintf(stderr, "xgw-replay: %s: not a readable capture: %s\n",
		    path, ebuf);
		return 2;
	}
	dlt = pcap_datalink(pc);
	if (!cap_dlt_supported(dlt)) {
		fprintf(stderr, "xgw-replay: %s: link type %s (%d) is not "
		    "supported\n", path, pcap_datalink_val_to_name(dlt) ?
		    pcap_datalink_val_to_name(dlt) : "unknown", dlt);
		pcap_close(pc);
		return 2;
	}
	while ((rc = pcap_next_ex(pc, &h, &data)) == 1) {
		r->st.packets++;
		r->now_ms = (uint64_t)h->ts.tv_sec * 1000 + h->ts.tv_usec / 1000;
		switch (cap_parse(dlt, data, h->caplen, &k, &why)) {
		case 1:
			packet(r, &k);
			break;
		case 0:
			r->st.other++;
			break;
		default:
			r->st.malformed_pkts++;
			count(&r->st.pkt_errors, NULL, why);
		}
	}
	if (rc == PCAP_ERROR) {
		fprintf(stderr, "xgw-replay: %s: damaged after packet %llu: "
		    "%s\n", path, (unsigned long long)r->st.packets,
		    pcap_geterr(pc));
		pcap_close(pc);
		flows_end(r);
		/* what could be read is played all the same */
		if (r->live != NULL)
			live_run(r->live, r->ctx, path);
		xgw_policy_free(r->policy);
		r->policy = NULL;
		return 2;
	}
	pcap_close(pc);
	flows_end(r);
	if (r->live != NULL)
		return live_run(r->live, r->ctx, path);
	summary(r, path);
	if (r->policy != NULL) {
		xgw_policy_free(r->policy);
		r->policy = NULL;
	}
	return r->st.mismatches > 0;
}

static void
add_map(struct replay *r, const char *arg)
{
	const struct xgw_proto *xp;
	const char *eq = strchr(arg, '=');
	uint64_t port;

	if (eq == NULL || xgw_parse_uint(arg, eq - arg, 65535, &port) == -1 ||
	    port == 0)
		errx(2, "--map %s: expected PORT=PROTOCOL", arg);
	if ((xp = xgw_proto_find(eq + 1)) == NULL)
		errx(2, "--map %s: unknown protocol %s (modbus, coap, mqtt, "
		    "http)", arg, eq + 1);
	r->map[xp->stream][port] = xp;
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "xml", no_argument, NULL, 'x' },
		{ "check", no_argument, NULL, 'c' },
		{ "check-element", no_argument, NULL, 'e' },
		{ "timing", no_argument, NULL, 'M' },
		{ "summary-tsv", no_argument, NULL, 't' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "map", required_argument, NULL, 'm' },
		{ "window", required_argument, NULL, 'w' },
		{ "policy", required_argument, NULL, 'p' },
		{ "live", required_argument, NULL, 'L' },
		{ "pace", required_argument, NULL, 'P' },
		{ "timeout", required_argument, NULL, 'T' },
		{ NULL, 0, NULL, 0 }
	};
	static struct replay r;
	enum live_pace pace = LIVE_PACE_CAPTURED;
	const char *live = NULL, *pace_arg = NULL, *timeout_arg = NULL;
	uint64_t window, timeout = 1000;
	int ch, rc = 0;

	r.window = WINDOW_DEFAULT;
	for (size_t i = 0; xgw_protos[i] != NULL; i++)
		for (size_t j = 0; j < 4 && xgw_protos[i]->ports[j] != 0; j++)
			r.map[xgw_protos[i]->stream][xgw_protos[i]->ports[j]] =
			    xgw_protos[i];
	while ((ch = getopt_long(argc, argv, "xcetvm:w:p:", longopts, NULL)) != -1) {
		switch (ch) {
		case 'x':
			r.xml = 1;
			break;
		case 'c':
			r.check = r.via_text = 1;
			break;
		case 'e':
			r.check = 1;
			break;
		case 'M':
			r.timing = 1;
			break;
		case 't':
			r.tsv = 1;
			break;
		case 'v':
			r.verbose = 1;
			break;
		case 'm':
			add_map(&r, optarg);
			break;
		case 'p':
			r.policy_path = optarg;
			xgw_policy_free(policy_load(optarg));
			break;
		case 'w':
			if (xgw_parse_uint(optarg, strlen(optarg), XGW_PDU_MAX,
			    &window) == -1 || window < 1024)
				errx(2, "--window %s: expected 1024..%u bytes",
				    optarg, XGW_PDU_MAX);
			r.window = window;
			break;
		case 'L':
			live = optarg;
			break;
		case 'P':
			if (strcmp(optarg, "fast") == 0)
				pace = LIVE_PACE_FAST;
			else if (strcmp(optarg, "captured") != 0)
				errx(2, "--pace %s: expected captured or fast",
				    optarg);
			pace_arg = optarg;
			break;
		case 'T':
			if (xgw_parse_uint(optarg, strlen(optarg), 600000,
			    &timeout) == -1 || timeout == 0)
				errx(2, "--timeout %s: expected 1..600000 ms",
				    optarg);
			timeout_arg = optarg;
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc == 0)
		usage();
	if (live == NULL && (pace_arg != NULL || timeout_arg != NULL))
		errx(2, "--pace and --timeout go with --live");
	/* a live run prints its own report, not the offline one */
	if (live != NULL && (r.xml || r.check || r.tsv || r.policy_path))
		errx(2, "--live does not combine with --xml, --check, "
		    "--check-element, --summary-tsv or --policy");
	if (live != NULL)
		r.live = live_new(live, pace, timeout, r.verbose);
	if ((r.arena = xgw_arena_new(ARENA_SIZE)) == NULL ||
	    (r.ctx = xgw_arena_ctx_new(r.arena)) == NULL)
		errx(1, "out of memory");
	for (int i = 0; i < argc; i++) {
		int frc = replay_file(&r, argv[i]);

		if (frc > rc)
			rc = frc;
	}
	live_free(r.live);
	stats_clear(&r.st);
	xgw_buf_free(&r.enc);
	xmpp_ctx_free(r.ctx);
	xgw_arena_free(r.arena);
	return rc;
}
