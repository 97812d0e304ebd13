/*
 * The adapter runtime: fd 3 to xgwd, the configuration handshake, the
 * privilege drop, the table of requests awaiting an answer, and the count
 * of events finished that delivery confirmation reports.
 *
 * The table is a fixed array of REQ_MAX slots, found by (flow, seq)
 * through hash chains and linked in expiry order, so that a lookup, the
 * usual insert (at the tail: the requests of one adapter mostly share one
 * timeout) and the next timeout all stay cheap when thousands are pending.
 */
#include <sys/prctl.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <sys/syscall.h>
#include <linux/capability.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "adapter.h"
#include "log.h"

#ifndef XGW_VERSION
#define XGW_VERSION	"0.1.0"
#endif
#define ADAPTER_FD	3
#define CONFIG_WAIT_MS	10000	/* xgwd sends the block at once; longer is a hang */
#define REQ_MAX		4096
#define REQ_HASH	8192	/* a power of two, twice REQ_MAX: short chains */
#define NIL		(-1)
/* fd 3, a listener, 256 clients, one connection a device */
#define ADAPTER_POLLFDS	(1 + 1 + 256 + CONF_MAX_DEVICES)

struct req {
	uint64_t	 flow, seq;
	uint64_t	 expires_ms;
	void		*cookie;
	int		 prev, next;	/* expiry order */
	int		 chain;		/* next in the hash chain, or in the free list */
};

struct adapter {
	char			 proto[16];	/* "modbus": what the configuration must be for */
	uint16_t		 id;		/* the frame header's adapter */
	const char		*user;
	char			 gateway[46];
	const struct adapter_cb	*cb;
	xmpp_ctx_t		*ctx;
	struct frame_reader	 rd;
	struct frame_writer	 wr;
	struct xgw_conf		*block;		/* FRAME_CONFIG, parsed */
	const struct conf_adapter *conf;	/* its adapter */
	struct req		 req[REQ_MAX];
	int			 hash[REQ_HASH];
	int			 head, tail;	/* expiry list: head expires first */
	int			 free, fresh;	/* freed slots; the first never used */
	int			 nreq;
	/* delivery confirmation: events numbered from 1 on this connection */
	int			 confirm;
	uint64_t		 received;	/* handed to the stanza callback */
	uint64_t		 finished;	/* contiguously from the first */
	uint64_t		 told;		/* the count queued to xgwd last */
	uint64_t		 current;	/* the event in the stanza callback, or 0 */
	int			 held;
	uint64_t		 early[ADAPTER_WINDOW / 64];	/* finished out of order */
	/* the counters: the table, the values last sent, when next due */
	const struct adapter_counter *counters;
	uint64_t		*sent;
	int			 ncounters;
	unsigned		 stats_ms;
	uint64_t		 stats_at;
	char			*kv;		/* room for every line */
	size_t			 kvsize;
};

uint64_t
adapter_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The request table */

static unsigned
req_bucket(uint64_t flow, uint64_t seq)
{
	uint64_t h = (flow * 0x9e3779b97f4a7c15ULL) ^ (seq * 0xc2b2ae3d27d4eb4fULL);

	return (unsigned)(h >> 32) & (REQ_HASH - 1);
}

/*
 * Slots never used come from fresh, freed ones from the free list, and a
 * bucket holds its first slot + 1 (0: empty): nothing is set up at start,
 * so the table's pages are touched only as requests fill them.
 */
static void
req_init(struct adapter *a)
{
	a->free = a->head = a->tail = NIL;
}

static int
req_find(struct adapter *a, uint64_t flow, uint64_t seq)
{
	int i;

	for (i = a->hash[req_bucket(flow, seq)] - 1; i != NIL;
	    i = a->req[i].chain)
		if (a->req[i].flow == flow && a->req[i].seq == seq)
			break;
	return i;
}

static void
req_add(struct adapter *a, uint64_t flow, uint64_t seq, uint64_t expires_ms,
    void *cookie)
{
	unsigned b = req_bucket(flow, seq);
	int i = a->free != NIL ? a->free : a->fresh++, at;
	struct req *r = &a->req[i];

	if (i == a->free)
		a->free = r->chain;
	r->flow = flow;
	r->seq = seq;
	r->expires_ms = expires_ms;
	r->cookie = cookie;
	r->chain = a->hash[b] - 1;
	a->hash[b] = i + 1;
	/* from the tail back to the last one that expires no later */
	for (at = a->tail; at != NIL && a->req[at].expires_ms > expires_ms;
	    at = a->req[at].prev)
		;
	r->prev = at;
	r->next = at == NIL ? a->head : a->req[at].next;
	if (r->next != NIL)
		a->req[r->next].prev = i;
	else
		a->tail = i;
	if (at != NIL)
		a->req[at].next = i;
	else
		a->head = i;
	a->nreq++;
}

/* Unlinks slot i and returns its cookie. */
static void *
req_del(struct adapter *a, int i)
{
	struct req *r = &a->req[i];
	int *first = &a->hash[req_bucket(r->flow, r->seq)], j;

	if (*first - 1 == i)
		*first = r->chain + 1;
	else {
		for (j = *first - 1; a->req[j].chain != i; j = a->req[j].chain)
			;
		a->req[j].chain = r->chain;
	}
	if (r->prev != NIL)
		a->req[r->prev].next = r->next;
	else
		a->head = r->next;
	if (r->next != NIL)
		a->req[r->next].prev = r->prev;
	else
		a->tail = r->prev;
	r->chain = a->free;
	a->free = i;
	a->nreq--;
	return r->cookie;
}

void *
adapter_answered(struct adapter *a, uint64_t flow, uint64_t seq)
{
	int i = req_find(a, flow, seq);

	return i == NIL ? NULL : req_del(a, i);
}

static void
fire_timeouts(struct adapter *a)
{
	uint64_t now = adapter_now_ms();

	while (a->head != NIL && a->req[a->head].expires_ms <= now) {
		uint64_t flow = a->req[a->head].flow, seq = a->req[a->head].seq;
		void *cookie = req_del(a, a->head);

		if (a->cb->failed != NULL)
			a->cb->failed(a, flow, seq, "timeout", cookie);
	}
}

int
adapter_timeout_ms(struct adapter *a)
{
	uint64_t now = adapter_now_ms();

	if (a->head == NIL)
		return -1;
	if (a->req[a->head].expires_ms <= now)
		return 0;
	return (int)(a->req[a->head].expires_ms - now);
}

/* Delivery confirmation */

void
adapter_confirm_delivery(struct adapter *a)
{
	a->confirm = 1;
}

uint64_t
adapter_event_hold(struct adapter *a)
{
	if (!a->confirm || a->current == 0)
		return 0;
	a->held = 1;
	return a->current;
}

/* An event's bit in early: the window keeps the events it holds apart. */
static uint64_t *
early_bit(struct adapter *a, uint64_t ev, uint64_t *mask)
{
	*mask = 1ULL << ev % 64;
	return &a->early[ev % ADAPTER_WINDOW / 64];
}

void
adapter_event_done(struct adapter *a, uint64_t ev)
{
	uint64_t m, *w = early_bit(a, ev, &m);

	if (ev == 0)
		return;
	if (ev <= a->finished || ev > a->received || (*w & m)) {
		log_warnx("event %llu finished twice, or never handed on; "
		    "ignored", (unsigned long long)ev);
		return;
	}
	*w |= m;
	while (a->finished < a->received &&
	    (*(w = early_bit(a, a->finished + 1, &m)) & m)) {
		*w &= ~m;
		a->finished++;
	}
}

/* Frames to and from xgwd */

static int
queue(struct adapter *a, uint16_t type, uint64_t flow, uint64_t seq,
    const char *p, size_t len)
{
	struct frame f = { type, a->id, (uint32_t)len, flow, seq, (uint8_t *)p };

	if (len > FRAME_MAX) {
		errno = EMSGSIZE;
		return -1;
	}
	return frame_queue(&a->wr, &f);
}

/* One frame from xgwd: 1, 0 for none yet, -1 with *why when the connection is over. */
static int
next_frame(struct adapter *a, struct frame *f, const char **why)
{
	int rc = frame_read(&a->rd, ADAPTER_FD, f, why);

	if (rc == 1 && f->adapter != a->id) {
		*why = "frame names another adapter";
		return -1;
	}
	return rc;
}

int
adapter_send(struct adapter *a, const struct xgw_meta *m, xmpp_stanza_t *proto,
    unsigned timeout_ms, void *cookie)
{
	xmpp_stanza_t *env;
	char *text;
	size_t len;
	int rc;

	if (m->dir == XGW_REQUEST) {
		if (req_find(a, m->flow, m->seq) != NIL) {
			errno = EEXIST;
			return -1;
		}
		if (a->nreq == REQ_MAX) {
			errno = EBUSY;
			return -1;
		}
	}
	if ((env = xgw_envelope(a->ctx, m, proto)) == NULL) {
		errno = ENOMEM;
		return -1;
	}
	rc = xmpp_stanza_to_text(env, &text, &len);
	xmpp_stanza_release(env);
	if (rc != XMPP_EOK) {
		errno = ENOMEM;
		return -1;
	}
	rc = queue(a, FRAME_STANZA, m->flow, m->seq, text, len);
	xmpp_free(a->ctx, text);
	if (rc == -1)
		return -1;
	if (m->dir == XGW_REQUEST)
		req_add(a, m->flow, m->seq, adapter_now_ms() +
		    (timeout_ms ? timeout_ms : a->conf->timeout_ms), cookie);
	return 0;
}

/* Counters */

void
adapter_counters(struct adapter *a, const struct adapter_counter *t, int n,
    unsigned interval_ms)
{
	a->kvsize = 1;
	for (int i = 0; i < n; i++)
		a->kvsize += strlen(t[i].name) + sizeof("=18446744073709551615\n");
	if ((a->sent = calloc(n, sizeof(*a->sent))) == NULL ||
	    (a->kv = malloc(a->kvsize)) == NULL)
		fatal("counters");
	a->counters = t;
	a->ncounters = n;
	a->stats_ms = interval_ms;
}

static int
counters_moved(struct adapter *a)
{
	for (int i = 0; i < a->ncounters; i++)
		if (*a->counters[i].value != a->sent[i])
			return 1;
	return 0;
}

/* Until the counters are due: -1 while none moved. */
static int
stats_timeout_ms(struct adapter *a, uint64_t now)
{
	if (!counters_moved(a))
		return -1;
	return a->stats_at > now ? (int)(a->stats_at - now) : 0;
}

static void
stats_send(struct adapter *a, uint64_t now)
{
	size_t len = 0;

	if (now < a->stats_at || !counters_moved(a))
		return;
	for (int i = 0; i < a->ncounters; i++) {
		a->sent[i] = *a->counters[i].value;
		len += snprintf(a->kv + len, a->kvsize - len, "%s=%llu\n",
		    a->counters[i].name, (unsigned long long)a->sent[i]);
	}
	if (queue(a, FRAME_STATS, 0, 0, a->kv, len) == -1)
		log_warn("stats to xgwd not queued");
	a->stats_at = now + a->stats_ms;
}

/*
 * One stanza from xgwd.  While delivery is confirmed, every event counts,
 * dropped ones too: one that cannot be read, of which not even the
 * direction is known, ends the connection, and the next one counts afresh.
 */
static int
stanza_in(struct adapter *a, const struct frame *f)
{
	xmpp_stanza_t *env, *el;
	struct xgw_meta m;
	struct xgw_err e;
	int rc = 0;

	if ((env = xmpp_stanza_new_from_string(a->ctx,
	    (const char *)f->payload)) == NULL ||
	    xgw_envelope_parse(env, &m, &el, &e) == -1) {
		log_warnx("from xgwd flow=%llu seq=%llu: bad stanza: %s%s",
		    (unsigned long long)f->flow, (unsigned long long)f->seq,
		    env != NULL ? e.msg : "not XML", a->confirm ?
		    "; the count of events delivered is lost with it" : "");
		rc = a->confirm ? -1 : 0;
	} else if (m.dir == XGW_EVENT &&
	    a->received - a->finished == ADAPTER_WINDOW) {
		log_warnx("xgwd handed on more than %d events unfinished",
		    ADAPTER_WINDOW);
		rc = -1;
	} else {
		if (m.dir == XGW_EVENT)
			a->current = ++a->received;
		if (m.flow != f->flow || m.seq != f->seq)
			log_warnx("from xgwd flow=%llu seq=%llu: the envelope "
			    "says flow=%llu seq=%llu; dropped",
			    (unsigned long long)f->flow,
			    (unsigned long long)f->seq,
			    (unsigned long long)m.flow,
			    (unsigned long long)m.seq);
		else
			a->cb->stanza(a, &m, el, m.flow, m.seq);
		if (!a->held)
			adapter_event_done(a, a->current);
		a->current = 0;
		a->held = 0;
	}
	if (env != NULL)
		xmpp_stanza_release(env);
	return rc;
}

/* Payload "reason" or "code reason": the reason is the last word. */
static void
fail_in(struct adapter *a, const struct frame *f)
{
	const char *p = (const char *)f->payload, *reason = strrchr(p, ' ');
	int i = req_find(a, f->flow, f->seq);
	void *cookie = i == NIL ? NULL : req_del(a, i);

	reason = reason != NULL ? reason + 1 : p;
	if (a->cb->failed != NULL)
		a->cb->failed(a, f->flow, f->seq, *reason ? reason : "unknown",
		    cookie);
}

static int
dispatch(struct adapter *a, const struct frame *f)
{
	switch (f->type) {
	case FRAME_STANZA:
		return stanza_in(a, f);
	case FRAME_FAIL:
		fail_in(a, f);
		break;
	case FRAME_TAKEN:
		if (a->cb->taken != NULL)
			a->cb->taken(a, f->flow, f->seq);
		break;
	case FRAME_CONFIG:
		log_warnx("xgwd sent a second configuration; ignored: a new "
		    "one takes a restart");
		break;
	default:
		log_warnx("xgwd sent a %s frame, which only adapters send",
		    frame_type_name(f->type));
		return -1;
	}
	return 0;
}

int
adapter_run(struct adapter *a, short revents)
{
	struct frame f;
	const char *why;
	int rc;

	if (revents & (POLLIN | POLLHUP | POLLERR)) {
		while ((rc = next_frame(a, &f, &why)) == 1)
			if (dispatch(a, &f) == -1)
				return -1;
		if (rc == -1) {
			log_warnx("xgwd connection (fd %d): %s", ADAPTER_FD, why);
			return -1;
		}
	}
	fire_timeouts(a);
	/* one cumulative count for all finished since the last */
	if (a->confirm && a->finished > a->told &&
	    queue(a, FRAME_DELIVERED, 0, a->finished, NULL, 0) == 0)
		a->told = a->finished;
	if (frame_pending(&a->wr) && frame_flush(&a->wr, ADAPTER_FD) == -1) {
		log_warn("xgwd connection (fd %d): write", ADAPTER_FD);
		return -1;
	}
	return 0;
}

/* fd 3's poll events: POLLIN, plus POLLOUT while frames wait. */
static int
adapter_events(struct adapter *a)
{
	return POLLIN | (frame_pending(&a->wr) ? POLLOUT : 0);
}

static int
min_timeout(int a, int b)
{
	return a < 0 ? b : b < 0 || a < b ? a : b;
}

void
adapter_loop(struct adapter *a, const struct adapter_part *p, int np)
{
	struct pollfd pfd[ADAPTER_POLLFDS];
	int n[ADAPTER_PARTS], used, t, i;
	uint64_t now;

	if (np > ADAPTER_PARTS)
		fatalx("adapter_loop: %d parts, at most %d", np, ADAPTER_PARTS);
	for (;;) {
		now = adapter_now_ms();
		pfd[0] = (struct pollfd){ ADAPTER_FD, adapter_events(a), 0 };
		t = min_timeout(adapter_timeout_ms(a), stats_timeout_ms(a, now));
		for (i = 0, used = 1; i < np; used += n[i++]) {
			n[i] = p[i].pollfds == NULL ? 0 :
			    p[i].pollfds(pfd + used, ADAPTER_POLLFDS - used);
			if (p[i].timeout_ms != NULL)
				t = min_timeout(t, p[i].timeout_ms(now));
		}
		if (poll(pfd, used, t) == -1) {
			if (errno != EINTR)
				fatal("poll");
			continue;
		}
		for (i = 0, used = 1; i < np; used += n[i++])
			if (p[i].io != NULL)
				p[i].io(pfd + used, n[i]);
		now = adapter_now_ms();
		for (i = 0; i < np; i++)
			if (p[i].timers != NULL)
				p[i].timers(now);
		stats_send(a, now);
		if (adapter_run(a, pfd[0].revents) == -1)
			break;
	}
	log_info("xgwd is gone; stopping");
}

xmpp_ctx_t *
adapter_ctx(struct adapter *a)
{
	return a->ctx;
}

const char *
adapter_gateway(struct adapter *a)
{
	return a->gateway;
}

const struct conf_adapter *
adapter_conf(struct adapter *a)
{
	return a->conf;
}

void *
adapter_arg(struct adapter *a)
{
	return a->cb->arg;
}

/* Start-up */

static void __attribute__((noreturn))
usage(const char *prog)
{
	fatalx("usage: %s [-v] -i id -u user -g urn:uuid:gateway (started by "
	    "xgwd, with its socket on fd %d)", prog, ADAPTER_FD);
}

struct adapter *
adapter_init(int argc, char **argv, const char *name,
    const struct adapter_cb *cb)
{
	static char procname[32];
	char hello[64];
	const char *proto = strncmp(name, "xgw-", 4) == 0 ? name + 4 : name;
	const char *id = NULL, *gw = NULL, *user = NULL;
	struct adapter *a;
	int ch, verbose = 0, fl;
	uint64_t n;

	snprintf(procname, sizeof(procname), "xgw-%s", proto);
	log_init(procname, 0);
	while ((ch = getopt(argc, argv, "g:i:u:v")) != -1) {
		switch (ch) {
		case 'g':
			gw = optarg;
			break;
		case 'i':
			id = optarg;
			break;
		case 'u':
			user = optarg;
			break;
		case 'v':
			verbose++;
			break;
		default:
			usage(procname);
		}
	}
	if (optind != argc || id == NULL || gw == NULL || user == NULL)
		usage(procname);
	log_setverbose(verbose);
	if (xgw_parse_uint(id, strlen(id), UINT16_MAX, &n) == -1)
		fatalx("-i %s: expected the adapter's number, 0..65535", id);
	if (!xgw_uuid_valid(gw))
		fatalx("-g %s: expected urn:uuid: and a lower-case UUID", gw);
	if ((fl = fcntl(ADAPTER_FD, F_GETFL)) == -1)
		fatal("fd %d (the socket from xgwd, which starts %s)",
		    ADAPTER_FD, procname);
	if (fcntl(ADAPTER_FD, F_SETFL, fl | O_NONBLOCK) == -1 ||
	    fcntl(ADAPTER_FD, F_SETFD, FD_CLOEXEC) == -1)
		fatal("fd %d: fcntl", ADAPTER_FD);
	/* a client gone away is an error to handle, not a reason to die */
	signal(SIGPIPE, SIG_IGN);
	if ((a = calloc(1, sizeof(*a))) == NULL)
		fatal("adapter state");
	snprintf(a->proto, sizeof(a->proto), "%s", proto);
	a->id = (uint16_t)n;
	a->user = user;
	snprintf(a->gateway, sizeof(a->gateway), "%s", gw);
	a->cb = cb;
	req_init(a);
	/*
	 * No xmpp_initialize(): adapters only build and parse stanzas, and
	 * its OpenSSL set-up (error strings, configuration) would cost every
	 * adapter 2 MiB of resident pages for TLS it never speaks.
	 */
	if ((a->ctx = xmpp_ctx_new(NULL, NULL)) == NULL)
		fatalx("xmpp_ctx_new: out of memory");
	snprintf(hello, sizeof(hello), "%s %s", procname, XGW_VERSION);
	if (queue(a, FRAME_HELLO, 0, 0, hello, strlen(hello)) == -1)
		fatal("hello to xgwd");
	return a;
}

/* Waits for one frame from xgwd, flushing what waits for it meanwhile. */
static void
wait_frame(struct adapter *a, struct frame *f, const char *what)
{
	struct pollfd pfd = { ADAPTER_FD, 0, 0 };
	const char *why;
	int rc;

	while ((rc = next_frame(a, f, &why)) == 0) {
		if (frame_pending(&a->wr) &&
		    frame_flush(&a->wr, ADAPTER_FD) == -1)
			fatal("fd %d: writing to xgwd", ADAPTER_FD);
		pfd.events = adapter_events(a);
		if ((rc = poll(&pfd, 1, CONFIG_WAIT_MS)) == -1 && errno != EINTR)
			fatal("poll");
		if (rc == 0)
			fatalx("fd %d: no %s from xgwd within %ds", ADAPTER_FD,
			    what, CONFIG_WAIT_MS / 1000);
	}
	if (rc == -1)
		fatalx("fd %d: waiting for the %s from xgwd: %s", ADAPTER_FD,
		    what, why);
}

void
adapter_configure(struct adapter *a)
{
	const char *ready = a->confirm ? "delivery-confirmed" : "";
	struct conf_err ce;
	struct frame f;

	wait_frame(a, &f, "configuration");
	if (f.type != FRAME_CONFIG)
		fatalx("fd %d: xgwd sent a %s frame before the configuration",
		    ADAPTER_FD, frame_type_name(f.type));
	memset(&ce, 0, sizeof(ce));
	if ((a->block = conf_parse_adapter((const char *)f.payload, &ce)) ==
	    NULL)
		fatalx("configuration from xgwd, line %u column %u: %s",
		    ce.line, ce.col, ce.msg);
	a->conf = &a->block->adapters[0];
	if (strcmp(a->conf->proto, a->proto) != 0)
		fatalx("configuration from xgwd is for adapter %s, this is %s",
		    a->conf->proto, a->proto);
	if (a->cb->configure != NULL && a->cb->configure(a, a->conf) == -1)
		fatalx("adapter %s (configuration line %u): cannot serve it",
		    a->proto, a->conf->line);
	drop_privileges(a->user);
	if (queue(a, FRAME_READY, 0, 0, ready, strlen(ready)) == -1 ||
	    frame_flush(&a->wr, ADAPTER_FD) == -1)
		fatal("fd %d: ready to xgwd", ADAPTER_FD);
	if (a->conf->listen[0] != '\0')
		log_info("adapter %s ready: listen %s port %u, %d routes, %d "
		    "devices", a->proto, a->conf->listen, a->conf->listen_port,
		    a->conf->nroutes, a->conf->ndevices);
	else
		log_info("adapter %s ready: %d devices", a->proto,
		    a->conf->ndevices);
}

/* Privileges */

/* Nothing of root may be left: no capability in the permitted or effective set. */
static void
check_no_caps(const char *user)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[_LINUX_CAPABILITY_U32S_3];

	if (syscall(SYS_capget, &h, d) == -1)
		fatal("dropping privileges to user %s: capget", user);
	for (int i = 0; i < _LINUX_CAPABILITY_U32S_3; i++)
		if (d[i].permitted != 0 || d[i].effective != 0)
			fatalx("dropping privileges to user %s: capabilities "
			    "left (set %d: permitted %#x effective %#x)", user,
			    i, d[i].permitted, d[i].effective);
}

/* Started as xgw with CAP_NET_BIND_SERVICE (xgwd.service): bound, so let it go. */
static void
drop_caps(const char *user)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[_LINUX_CAPABILITY_U32S_3];

	memset(d, 0, sizeof(d));
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) == -1 ||
	    syscall(SYS_capset, &h, d) == -1)
		fatal("dropping privileges to user %s: capset", user);
}

void
drop_privileges(const char *user)
{
	struct passwd *pw;
	uid_t uid, ru, eu, su;
	gid_t gid, rg, eg, sg;

	if (geteuid() == 0) {
		errno = 0;
		if ((pw = getpwnam(user)) == NULL)
			fatalx("user %s: %s; adapters started as root drop to "
			    "it (create it, or name another with user in "
			    "xgw.conf)", user, errno ? strerror(errno) :
			    "no such user");
		uid = pw->pw_uid;
		gid = pw->pw_gid;
		if (uid == 0)
			fatalx("user %s has uid 0: adapters never keep root",
			    user);
		if (setgroups(1, &gid) == -1 ||
		    setresgid(gid, gid, gid) == -1 ||
		    setresuid(uid, uid, uid) == -1)
			fatal("dropping privileges to user %s", user);
		if (getresuid(&ru, &eu, &su) == -1 ||
		    getresgid(&rg, &eg, &sg) == -1 ||
		    ru != uid || eu != uid || su != uid ||
		    rg != gid || eg != gid || sg != gid)
			fatalx("dropping privileges to user %s: the ids did not "
			    "change", user);
		if (setuid(0) != -1 || seteuid(0) != -1)
			fatalx("dropping privileges to user %s: root could be "
			    "regained", user);
	} else
		drop_caps(user);
	check_no_caps(user);
	/* no setuid binary or file capability can give any of it back */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1)
		fatal("prctl PR_SET_NO_NEW_PRIVS");
}

int
adapter_listen(const struct conf_adapter *c, int type)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
	socklen_t sl;
	int fd, one = 1;

	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, c->listen, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons(c->listen_port);
		sl = sizeof(*s4);
	} else if (inet_pton(AF_INET6, c->listen, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(c->listen_port);
		sl = sizeof(*s6);
	} else {
		log_warnx("listen %s: not an IPv4 or IPv6 address", c->listen);
		return -1;
	}
	if ((fd = socket(ss.ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) == -1 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1 ||
	    bind(fd, (struct sockaddr *)&ss, sl) == -1 ||
	    (type == SOCK_STREAM && listen(fd, 128) == -1)) {
		log_warn("listen %s port %u", c->listen, c->listen_port);
		if (fd != -1)
			close(fd);
		return -1;
	}
	return fd;
}

static void
refuse(struct adapter *a, int fd, const char *why, uint64_t *refused)
{
	(*refused)++;
	log_warnx("listen %s port %u: client refused: %s", a->conf->listen,
	    a->conf->listen_port, why);
	close(fd);
}

/* The next client waiting on lfd, -1 when none; refused without room. */
static int
accept_one(struct adapter *a, int lfd, int room, uint64_t *refused,
    char *peer, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int fd, one = 1;

	while ((fd = accept4(lfd, (struct sockaddr *)&ss, &sl,
	    SOCK_NONBLOCK | SOCK_CLOEXEC)) != -1) {
		if (room) {
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
			    sizeof(one));
			adapter_peer_name(&ss, peer, len);
			return fd;
		}
		refuse(a, fd, "too many clients", refused);
		sl = sizeof(ss);
	}
	if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
		log_warn("listen %s port %u: accept", a->conf->listen,
		    a->conf->listen_port);
	return -1;
}

void
adapter_accept_clients(struct adapter *a, int lfd,
    const struct adapter_clients *t)
{
	char peer[ADAPTER_PEER_MAX];
	uint64_t flow;
	int at, fd;

	for (;;) {
		for (at = 0; at < t->max && t->used(at); at++)
			;
		if ((fd = accept_one(a, lfd, at < t->max, t->refused, peer,
		    sizeof(peer))) == -1)
			return;
		if ((flow = t->take(at, fd, peer)) == 0) {
			refuse(a, fd, "out of memory", t->refused);
			continue;
		}
		(*t->accepted)++;
		log_debug("client %s flow=%llu connected", peer,
		    (unsigned long long)flow);
	}
}

ssize_t
adapter_read(int fd, void *buf, size_t len, const char **why)
{
	ssize_t n = recv(fd, buf, len, 0);

	if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK ||
	    errno == EINTR))
		return 0;
	if (n <= 0)
		*why = n == 0 ? "end of stream" : strerror(errno);
	return n <= 0 ? -1 : n;
}

int
adapter_write(int fd, const void *buf, size_t len, size_t *off)
{
	ssize_t n;

	while (*off < len) {
		n = send(fd, (const uint8_t *)buf + *off, len - *off,
		    MSG_NOSIGNAL);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
		*off += n;
	}
	return 0;
}

int
adapter_device(struct adapter *a, const char *uuid)
{
	for (int i = 0; i < a->conf->ndevices; i++)
		if (strcmp(a->conf->devices[i].uuid, uuid) == 0)
			return i;
	return -1;
}

void
adapter_peer_name(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s = (const struct sockaddr_in *)ss;

		inet_ntop(AF_INET, &s->sin_addr, host, sizeof(host));
		port = ntohs(s->sin_port);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)ss;

		inet_ntop(AF_INET6, &s->sin6_addr, host, sizeof(host));
		port = ntohs(s->sin6_port);
	}
	snprintf(buf, len, "%s:%u", host, port);
}
