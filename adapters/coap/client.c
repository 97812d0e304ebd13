/*
 * The client side: local CoAP clients send requests to this endpoint, and
 * those whose Uri-Path starts with a route's prefix go upstream to the
 * route's remote endpoint, as the exact datagram the client sent.
 *
 * The answer comes back as the bytes the far device sent, with what
 * belongs to this hop set again (RFC 7252 5.2, 5.3): the client's token
 * always; for a CON request answered within ACK_DELAY_MS, an ACK with the
 * request's message id (piggybacked, the usual case); otherwise an empty
 * ACK at ACK_DELAY_MS and the answer later as a CON of a new message id,
 * retransmitted until the client acknowledges it; for a NON request, a NON
 * (or the CON the device sent) of a new message id.
 *
 * Every request is one flow; an Observe registration keeps its flow for
 * its notifications, which arrive as events (the first answer is the
 * registration's response) and go to the observer as CON or NON like the
 * device sent them, with a new message id.  A client that rejects a
 * notification with RST, or never acknowledges a CON one, is deregistered
 * upstream.
 *
 * Block-wise transfers (RFC 7959) are relayed block by block: each block
 * is a request and a response of its own, so every datagram keeps its
 * exact bytes, the policy sees every block, and the adapter never holds a
 * body.  The client's own block logic drives the transfer.
 */
#include <sys/socket.h>
#include <netdb.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "xgw-coap.h"

#define XCHG_MAX	1024	/* requests remembered, answered or not */
#define OUT_MAX		256	/* our CONs awaiting the client's ACK */
#define OBS_MAX		256	/* observations relayed */
#define LIFETIME_MS	247000	/* RFC 7252 EXCHANGE_LIFETIME: duplicates are known this long */
#define KEPT_MAX	(1024 * 1024)	/* bytes of answers kept for duplicates */
#define ACK_DELAY_MS	1000	/* below the client's ACK_TIMEOUT (2 s): it need not retransmit */
#define ACK_TIMEOUT_MS	2000	/* RFC 7252 4.8 */
#define MAX_RETRANSMIT	4
#define RECV_BURST	64	/* datagrams read per turn, so the other sockets get theirs */
#define LOG_PER_S	5	/* malformed datagrams logged per second */

struct peer {
	struct sockaddr_storage sa;
	socklen_t	 len;
};

struct obs {
	int		 used;
	struct peer	 peer;
	struct tok	 tok;
	uint64_t	 flow;
	char		 dst[46];
	struct xgw_buf	 reg;		/* the registration, to cancel it */
	uint16_t	 last_mid;	/* of the last notification: an RST names it */
};

enum xstate { X_FREE, X_WAIT, X_ACKED, X_DONE };

struct xchg {
	enum xstate	 state;
	struct peer	 peer;
	uint16_t	 mid;
	int		 con;
	struct tok	 tok;
	uint64_t	 flow, seq;
	uint64_t	 at;		/* X_WAIT: the empty ACK is due; X_DONE: forgotten */
	struct xgw_buf	 reply;		/* a piggybacked answer, for duplicates */
	struct obs	*obs;
};

struct out {
	int		 used;
	struct peer	 peer;
	uint16_t	 mid;
	struct xgw_buf	 msg;
	int		 tries;
	unsigned	 wait_ms;
	uint64_t	 at;
	struct obs	*obs;
};

static const struct conf_adapter *conf;
static int	 sock = -1;
static struct xchg xchgs[XCHG_MAX];
static struct out outs[OUT_MAX];
static struct obs obss[OBS_MAX];
static size_t	 kept;		/* bytes in the exchanges' replies */
static uint16_t	 next_mid;
static uint64_t	 next_flow, next_seq;

static const char *
peer_name(const struct peer *p)
{
	static char buf[NI_MAXHOST + NI_MAXSERV + 4];
	char host[NI_MAXHOST], serv[NI_MAXSERV];

	if (getnameinfo((const struct sockaddr *)&p->sa, p->len, host,
	    sizeof(host), serv, sizeof(serv), NI_NUMERICHOST | NI_NUMERICSERV))
		return "?";
	snprintf(buf, sizeof(buf), "%s%s%s:%s", strchr(host, ':') ? "[" : "",
	    host, strchr(host, ':') ? "]" : "", serv);
	return buf;
}

static int
peer_eq(const struct peer *a, const struct peer *b)
{
	return a->len == b->len && memcmp(&a->sa, &b->sa, a->len) == 0;
}

int
client_open(const struct conf_adapter *c)
{
	struct addrinfo hints, *ai;
	char port[8];
	int fd, on = 1, rc;

	conf = c;
	random_bytes(&next_mid, sizeof(next_mid));
	random_bytes(&next_flow, sizeof(next_flow));
	next_flow >>= 1;	/* room to count up */
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_DGRAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
	snprintf(port, sizeof(port), "%u", c->listen_port);
	if ((rc = getaddrinfo(c->listen, port, &hints, &ai)) != 0) {
		log_warnx("coap listen %s port %s: %s", c->listen, port,
		    gai_strerror(rc));
		return -1;
	}
	if ((fd = socket(ai->ai_family, SOCK_DGRAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0)) == -1 ||
	    (ai->ai_family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6,
	    IPV6_V6ONLY, &on, sizeof(on)) == -1) ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) == -1) {
		log_warn("coap listen %s port %s", c->listen, port);
		if (fd != -1)
			close(fd);
		freeaddrinfo(ai);
		return -1;
	}
	freeaddrinfo(ai);
	log_info("coap client side on %s port %s, %d routes", c->listen, port,
	    c->nroutes);
	return sock = fd;
}

static void
send_to(const struct peer *p, const uint8_t *msg, size_t len)
{
	if (sendto(sock, msg, len, 0, (const struct sockaddr *)&p->sa,
	    p->len) == -1)
		log_warn("coap send to %s (%zu bytes)", peer_name(p), len);
}

static void
send_empty(const struct peer *p, int type, uint16_t mid)
{
	uint8_t m[4] = { 0x40 | type << 4, 0, mid >> 8, mid & 0xff };

	send_to(p, m, sizeof(m));
}

/* RFC 7252 4.8: the first timeout is drawn from [ACK_TIMEOUT, 1.5 ACK_TIMEOUT]. */
static void
out_add(const struct peer *p, struct xgw_buf *msg, struct obs *o)
{
	struct out *u = NULL;
	uint16_t r;

	for (int i = 0; i < OUT_MAX && u == NULL; i++)
		if (!outs[i].used)
			u = &outs[i];
	if (u == NULL) {
		log_warnx("coap %s: %d CON messages unacknowledged; this one "
		    "is sent once", peer_name(p), OUT_MAX);
		return;
	}
	random_bytes(&r, sizeof(r));
	u->used = 1;
	u->peer = *p;
	u->mid = xgw_be16(msg->data + 2);
	u->msg = *msg;
	*msg = (struct xgw_buf){ 0 };
	u->tries = 0;
	u->wait_ms = ACK_TIMEOUT_MS + r % (ACK_TIMEOUT_MS / 2);
	u->at = adapter_now_ms() + u->wait_ms;
	u->obs = o;
}

static void
out_free(struct out *u)
{
	xgw_buf_free(&u->msg);
	memset(u, 0, sizeof(*u));
}

static struct obs *
obs_find(const struct peer *p, const struct tok *t)
{
	for (int i = 0; i < OBS_MAX; i++)
		if (obss[i].used && peer_eq(&obss[i].peer, p) &&
		    tok_eq(&obss[i].tok, t->b, t->len))
			return &obss[i];
	return NULL;
}

static struct obs *
obs_by_flow(uint64_t flow)
{
	for (int i = 0; i < OBS_MAX; i++)
		if (obss[i].used && obss[i].flow == flow)
			return &obss[i];
	return NULL;
}

static void
obs_free(struct obs *o)
{
	for (int i = 0; i < OUT_MAX; i++)
		if (outs[i].obs == o)
			outs[i].obs = NULL;
	for (int i = 0; i < XCHG_MAX; i++)
		if (xchgs[i].obs == o)
			xchgs[i].obs = NULL;
	xgw_buf_free(&o->reg);
	memset(o, 0, sizeof(*o));
}

static struct obs *
obs_new(const struct peer *p, const struct tok *t, const char *dst)
{
	for (int i = 0; i < OBS_MAX; i++)
		if (!obss[i].used) {
			obss[i].used = 1;
			obss[i].peer = *p;
			obss[i].tok = *t;
			obss[i].flow = ++next_flow;
			snprintf(obss[i].dst, sizeof(obss[i].dst), "%s", dst);
			return &obss[i];
		}
	return NULL;
}

static int
upstream(xmpp_stanza_t *el, const char *dst, uint64_t flow, uint64_t *seq,
    void *cookie)
{
	struct xgw_meta m;

	memset(&m, 0, sizeof(m));
	snprintf(m.src, sizeof(m.src), "%s", adapter_gateway(ad));
	snprintf(m.dst, sizeof(m.dst), "%s", dst);
	m.flow = flow;
	m.seq = *seq = ++next_seq;
	m.dir = XGW_REQUEST;
	return adapter_send(ad, &m, el, conf->timeout_ms, cookie);
}

/*
 * The observer is gone (RST, or no ACK to a CON notification): the
 * registration goes upstream again with Observe 1 (RFC 7641 3.6), and
 * nobody waits for its answer.
 */
static void
obs_cancel(struct obs *o, const char *why)
{
	xmpp_stanza_t *el;
	uint64_t seq;

	log_info("coap %s flow=%llu: observation cancelled: %s",
	    peer_name(&o->peer), (unsigned long long)o->flow, why);
	cnt.cancelled++;
	if ((el = msg_decode(o->reg.data, o->reg.len, XGW_REQUEST,
	    "observation cancel")) != NULL) {
		xmpp_stanza_set_attribute(msg_opt(el, OPT_OBSERVE), "uint", "1");
		if (upstream(el, o->dst, o->flow, &seq, NULL) == -1)
			log_warnx("coap flow=%llu: deregistration not sent",
			    (unsigned long long)o->flow);
		xmpp_stanza_release(el);
	}
	obs_free(o);
}

static struct xchg *
xchg_find(const struct peer *p, uint16_t mid)
{
	for (int i = 0; i < XCHG_MAX; i++)
		if (xchgs[i].state != X_FREE && xchgs[i].mid == mid &&
		    peer_eq(&xchgs[i].peer, p))
			return &xchgs[i];
	return NULL;
}

static void
xchg_free(struct xchg *x)
{
	kept -= x->reply.len;
	xgw_buf_free(&x->reply);
	memset(x, 0, sizeof(*x));
}

/* The answered exchange that is forgotten soonest; NULL when all wait. */
static struct xchg *
xchg_oldest(void)
{
	struct xchg *x = NULL;

	for (int i = 0; i < XCHG_MAX; i++)
		if (xchgs[i].state == X_DONE && (x == NULL || xchgs[i].at < x->at))
			x = &xchgs[i];
	return x;
}

/* A free slot, or the oldest answered one; NULL when all wait. */
static struct xchg *
xchg_new(const struct peer *p, const uint8_t *msg)
{
	struct xchg *x = NULL;

	for (int i = 0; i < XCHG_MAX && x == NULL; i++)
		if (xchgs[i].state == X_FREE)
			x = &xchgs[i];
	if (x == NULL && (x = xchg_oldest()) == NULL)
		return NULL;
	xchg_free(x);
	x->state = X_WAIT;
	x->peer = *p;
	x->mid = xgw_be16(msg + 2);
	x->con = MSG_TYPE(msg) == T_CON;
	tok_get(msg, &x->tok);
	x->at = adapter_now_ms() + ACK_DELAY_MS;
	return x;
}

/*
 * A piggybacked answer is kept for a duplicate of its request (RFC 7252
 * 4.5), within KEPT_MAX bytes: past that, the oldest exchanges are
 * forgotten early, and a late duplicate of one is served again.
 */
static void
keep_reply(struct xchg *x, struct xgw_buf *b)
{
	struct xchg *old;

	while (kept + b->len > KEPT_MAX && (old = xchg_oldest()) != NULL)
		xchg_free(old);
	x->reply = *b;
	kept += b->len;
	*b = (struct xgw_buf){ 0 };
}

/* The answer goes out with this hop's type, message id and token (see the top). */
static void
deliver(struct xchg *x, struct xgw_buf *b)
{
	int type;

	if (x->con && x->state == X_WAIT) {
		if (msg_patch(b, T_ACK, x->mid, &x->tok) == -1)
			fatalx("out of memory");
		send_to(&x->peer, b->data, b->len);
		keep_reply(x, b);
		cnt.piggybacked++;
	} else {
		type = x->con || MSG_TYPE(b->data) == T_CON ? T_CON : T_NON;
		if (msg_patch(b, type, next_mid++, &x->tok) == -1)
			fatalx("out of memory");
		send_to(&x->peer, b->data, b->len);
		if (type == T_CON)
			out_add(&x->peer, b, x->obs);
	}
	x->state = X_DONE;
	x->at = adapter_now_ms() + LIFETIME_MS;
}

static void
answer_code(struct xchg *x, unsigned code)
{
	struct xgw_buf b = { 0 };

	if (msg_bare(&b, T_ACK, code, x->mid, &x->tok) == -1)
		fatalx("out of memory");
	deliver(x, &b);
	xgw_buf_free(&b);
}

/* The request's path, as the policy joins it: "/" and the segments. */
static const struct conf_route *
route_of(xmpp_stanza_t *el)
{
	char path[1024] = "";
	size_t n = 0, len;
	struct xgw_buf seg = { 0 };
	struct xgw_err e;
	const char *num;
	xmpp_stanza_t *c;

	for (c = xmpp_stanza_get_children(el); c != NULL;
	    c = xmpp_stanza_get_next(c)) {
		if ((num = xmpp_stanza_get_attribute(c, "num")) == NULL ||
		    strcmp(num, "11") != 0)
			continue;
		seg.len = 0;
		/* a '/' inside a segment would let "/a%2Fb" pass for "/a/b" */
		if (xgw_get_bytes(c, "value", &seg, &len, &e) == -1 ||
		    (len > 0 && (memchr(seg.data, '/', len) != NULL ||
		    memchr(seg.data, '\0', len) != NULL)) ||
		    n + 1 + len >= sizeof(path)) {
			xgw_buf_free(&seg);
			return NULL;
		}
		path[n++] = '/';
		memcpy(path + n, seg.data, len);
		n += len;
		path[n] = '\0';
	}
	xgw_buf_free(&seg);
	if (n == 0)
		memcpy(path, "/", 2);
	/* first match wins, as in the rules; a prefix ends at a segment */
	for (int i = 0; i < conf->nroutes; i++) {
		const char *m = conf->routes[i].match;
		size_t ml = strlen(m);

		if (strncmp(path, m, ml) == 0 && (path[ml] == '\0' ||
		    path[ml] == '/' || m[ml - 1] == '/'))
			return &conf->routes[i];
	}
	return NULL;
}

static void
duplicate(struct xchg *x)
{
	cnt.duplicates++;
	if (!x->con)
		return;		/* a NON is answered once */
	if (x->reply.len > 0)
		send_to(&x->peer, x->reply.data, x->reply.len);
	else if (x->state != X_WAIT)
		send_empty(&x->peer, T_ACK, x->mid);
}

/*
 * An Observe registration gets an observation, and its flow; a repeated
 * registration or a deregistration with the same token reuses it.
 */
static int
observe_flow(struct xchg *x, xmpp_stanza_t *el, const struct conf_route *r,
    const uint8_t *msg, size_t n, uint64_t *flow)
{
	struct obs *o = obs_find(&x->peer, &x->tok);
	struct xgw_err e;
	int ob = msg_observe(el);

	*flow = ++next_flow;
	if (ob == 1 && o != NULL) {
		*flow = o->flow;
		obs_free(o);
	} else if (ob == 0) {
		if (o == NULL && (o = obs_new(&x->peer, &x->tok, r->to)) == NULL)
			return -1;
		o->reg.len = 0;
		if (xgw_buf_put(&o->reg, msg, n, &e) == -1)
			fatalx("out of memory");
		*flow = o->flow;
		x->obs = o;
	}
	return 0;
}

static void
request(const struct peer *p, const uint8_t *msg, size_t n, xmpp_stanza_t *el)
{
	const struct conf_route *r;
	struct xchg *x;
	uint64_t flow;

	if ((x = xchg_find(p, xgw_be16(msg + 2))) != NULL) {
		duplicate(x);
		return;
	}
	cnt.requests++;
	if ((x = xchg_new(p, msg)) == NULL) {
		struct xchg tmp = { .state = X_WAIT, .peer = *p,
		    .mid = xgw_be16(msg + 2), .con = MSG_TYPE(msg) == T_CON };

		log_warnx("coap %s: %d requests waiting; answered 5.03",
		    peer_name(p), XCHG_MAX);
		cnt.busy++;
		tok_get(msg, &tmp.tok);
		answer_code(&tmp, CODE(5, 3));
		xchg_free(&tmp);
		return;
	}
	if ((r = route_of(el)) == NULL) {
		cnt.no_route++;
		answer_code(x, CODE(4, 4));
		return;
	}
	if (observe_flow(x, el, r, msg, n, &flow) == -1) {
		log_warnx("coap %s: %d observations relayed; answered 5.03",
		    peer_name(p), OBS_MAX);
		cnt.busy++;
		answer_code(x, CODE(5, 3));
		return;
	}
	if (upstream(el, r->to, flow, &x->seq, x) == -1) {
		log_warnx("coap %s: request not handed to xgwd; answered 5.02",
		    peer_name(p));
		cnt.bad_gateway++;
		if (x->obs != NULL)
			obs_free(x->obs);
		answer_code(x, CODE(5, 2));
		return;
	}
	x->flow = flow;
}

/* An ACK or RST from the client ends our retransmission; an RST ends an observation. */
static void
ack_or_rst(const struct peer *p, int type, uint16_t mid)
{
	struct obs *o = NULL;

	for (int i = 0; i < OUT_MAX; i++)
		if (outs[i].used && outs[i].mid == mid &&
		    peer_eq(&outs[i].peer, p)) {
			o = outs[i].obs;
			out_free(&outs[i]);
			break;
		}
	for (int i = 0; i < OBS_MAX && o == NULL; i++)
		if (obss[i].used && obss[i].last_mid == mid &&
		    peer_eq(&obss[i].peer, p))
			o = &obss[i];
	if (type == T_RST && o != NULL)
		obs_cancel(o, "the client answered a notification with RST");
}

static void
malformed(const struct peer *p, const uint8_t *msg, size_t n,
    const struct xgw_err *e)
{
	static uint64_t second;
	static int logged;
	uint64_t now = adapter_now_ms() / 1000;

	cnt.malformed++;
	if (now != second) {
		second = now;
		logged = 0;
	}
	if (logged++ < LOG_PER_S)
		log_warnx("coap %s: malformed datagram of %zu bytes: %s at byte "
		    "%zu: %s (%llu so far)", peer_name(p), n, e->reason,
		    e->offset, e->msg, (unsigned long long)cnt.malformed);
	/* RFC 7252 4.2, 4.3: a CON with a format error is rejected, anything else ignored */
	if (n >= 4 && msg[0] >> 6 == 1 && MSG_TYPE(msg) == T_CON)
		send_empty(p, T_RST, xgw_be16(msg + 2));
}

static void
datagram(const struct peer *p, const uint8_t *msg, size_t n)
{
	xmpp_stanza_t *el;
	struct xgw_err e;

	if (xgw_coap_decode(adapter_ctx(ad), msg, n, XGW_REQUEST, &el,
	    &e) == -1) {
		malformed(p, msg, n, &e);
		return;
	}
	if (msg[1] == 0) {
		if (MSG_TYPE(msg) == T_CON) {
			cnt.pings++;	/* RFC 7252 4.3: a CoAP ping */
			send_empty(p, T_RST, xgw_be16(msg + 2));
		} else if (MSG_TYPE(msg) != T_NON)
			ack_or_rst(p, MSG_TYPE(msg), xgw_be16(msg + 2));
	} else if (MSG_CLASS(msg) == 0)
		request(p, msg, n, el);
	else {
		/* a response or reserved class from a client: nothing asked for it */
		cnt.unexpected++;
		if (MSG_TYPE(msg) == T_CON)
			send_empty(p, T_RST, xgw_be16(msg + 2));
	}
	xmpp_stanza_release(el);
}

int
client_pollfds(struct pollfd *p, int max)
{
	if (sock == -1 || max < 1)
		return 0;
	*p = (struct pollfd){ sock, POLLIN, 0 };
	return 1;
}

void
client_io(const struct pollfd *pfd, int npfd)
{
	static uint8_t buf[XGW_COAP_MSG_MAX + 1];
	struct peer p;
	ssize_t n;

	if (npfd == 0 || !(pfd->revents & POLLIN))
		return;

	for (int i = 0; i < RECV_BURST; i++) {
		p.len = sizeof(p.sa);
		n = recvfrom(sock, buf, sizeof(buf), MSG_TRUNC,
		    (struct sockaddr *)&p.sa, &p.len);
		if (n == -1) {
			if (errno != EAGAIN && errno != EINTR)
				log_warn("coap receive");
			return;
		}
		/* a truncated datagram decodes as "too-large" */
		datagram(&p, buf, (size_t)n < sizeof(buf) ? (size_t)n :
		    sizeof(buf));
	}
}

static struct xchg *
xchg_of(void *cookie, uint64_t flow, uint64_t seq)
{
	struct xchg *x = cookie;

	if (x == NULL || (x->state != X_WAIT && x->state != X_ACKED) ||
	    x->flow != flow || x->seq != seq)
		return NULL;
	return x;
}

void
client_answer(const struct xgw_meta *m, xmpp_stanza_t *el)
{
	struct xchg *x = xchg_of(adapter_answered(ad, m->flow, m->seq),
	    m->flow, m->seq);
	struct xgw_buf b = { 0 };
	int cls = msg_class(el);

	if (x == NULL) {
		log_debug("coap flow=%llu seq=%llu: answer for no waiting "
		    "request (late, or a deregistration's)",
		    (unsigned long long)m->flow, (unsigned long long)m->seq);
		return;
	}
	if ((cls != 2 && cls != 4 && cls != 5) ||
	    msg_encode(el, &b, "answer from upstream") == -1) {
		log_warnx("coap flow=%llu: the answer from %s is not a response; "
		    "answered 5.02", (unsigned long long)m->flow, m->src);
		cnt.bad_gateway++;
		if (x->obs != NULL)
			obs_free(x->obs);
		answer_code(x, CODE(5, 2));
		xgw_buf_free(&b);
		return;
	}
	/* RFC 7641 3.2: no Observe option in a success: not an observation */
	if (x->obs != NULL && (cls != 2 || msg_observe(el) < 0))
		obs_free(x->obs);
	else if (x->obs != NULL)
		cnt.observations++;
	deliver(x, &b);
	xgw_buf_free(&b);
}

void
client_failed(uint64_t flow, uint64_t seq, const char *reason, void *cookie)
{
	struct xchg *x = xchg_of(cookie, flow, seq);
	int timeout = strcmp(reason, "timeout") == 0;

	if (x == NULL)
		return;
	log_warnx("coap %s flow=%llu: request not answered: %s; answered %s",
	    peer_name(&x->peer), (unsigned long long)flow, reason,
	    timeout ? "5.04" : "5.02");
	if (timeout)
		cnt.gateway_timeout++;
	else
		cnt.bad_gateway++;
	if (x->obs != NULL)
		obs_free(x->obs);
	answer_code(x, timeout ? CODE(5, 4) : CODE(5, 2));
}

void
client_event(const struct xgw_meta *m, xmpp_stanza_t *el)
{
	struct obs *o = obs_by_flow(m->flow);
	struct xgw_buf b = { 0 };
	int type, ends;

	if (o == NULL) {
		cnt.orphan_events++;
		log_debug("coap flow=%llu: notification for no observation",
		    (unsigned long long)m->flow);
		return;
	}
	if (msg_class(el) < 2 || msg_encode(el, &b, "notification") == -1) {
		log_warnx("coap flow=%llu: event from %s is not a notification; "
		    "dropped", (unsigned long long)m->flow, m->src);
		xgw_buf_free(&b);
		return;
	}
	/* RFC 7641 3.2: an error, or a success without Observe, is the last one */
	ends = msg_class(el) != 2 || msg_observe(el) < 0;
	type = MSG_TYPE(b.data) == T_CON ? T_CON : T_NON;
	o->last_mid = next_mid;
	if (msg_patch(&b, type, next_mid++, &o->tok) == -1)
		fatalx("out of memory");
	send_to(&o->peer, b.data, b.len);
	cnt.notifications++;
	if (type == T_CON)
		out_add(&o->peer, &b, ends ? NULL : o);
	xgw_buf_free(&b);
	if (ends)
		obs_free(o);
}

static int
until(uint64_t at, uint64_t now)
{
	return at <= now ? 0 : at - now > INT32_MAX ? INT32_MAX : (int)(at - now);
}

int
client_timeout_ms(uint64_t now)
{
	int t = -1, d;

	for (int i = 0; i < XCHG_MAX; i++)
		if ((xchgs[i].state == X_WAIT && xchgs[i].con) ||
		    xchgs[i].state == X_DONE) {
			d = until(xchgs[i].at, now);
			t = t < 0 || d < t ? d : t;
		}
	for (int i = 0; i < OUT_MAX; i++)
		if (outs[i].used) {
			d = until(outs[i].at, now);
			t = t < 0 || d < t ? d : t;
		}
	return t;
}

static void
retransmit(struct out *u, uint64_t now)
{
	struct obs *o = u->obs;

	if (u->tries == MAX_RETRANSMIT) {
		log_warnx("coap %s: CON message %u never acknowledged",
		    peer_name(&u->peer), u->mid);
		out_free(u);
		if (o != NULL)
			obs_cancel(o, "no ACK to a CON notification");
		return;
	}
	u->tries++;
	u->wait_ms *= 2;
	u->at = now + u->wait_ms;
	send_to(&u->peer, u->msg.data, u->msg.len);
}

void
client_timers(uint64_t now)
{
	for (int i = 0; i < XCHG_MAX; i++) {
		struct xchg *x = &xchgs[i];

		if (x->state == X_WAIT && x->con && x->at <= now) {
			/* the far side is slow: a separate response follows */
			send_empty(&x->peer, T_ACK, x->mid);
			x->state = X_ACKED;
			cnt.separate++;
		} else if (x->state == X_DONE && x->at <= now)
			xchg_free(x);
	}
	for (int i = 0; i < OUT_MAX; i++)
		if (outs[i].used && outs[i].at <= now)
			retransmit(&outs[i], now);
}
