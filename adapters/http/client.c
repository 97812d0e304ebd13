/*
 * xgw-http, client side (listen): local HTTP/1.1 clients connect here.
 * Each request, cut by xgw_http_frame and decoded by xgw_http_decode,
 * becomes a request stanza for the endpoint of the best route (one for
 * the request's host before one for any host, then the longest path
 * prefix), with flow = the connection and seq = a counter of the
 * process.  Requests may be pipelined: each takes a place in the
 * connection's queue when it is read, and answers leave in that order
 * whatever order they come back in.  What cannot be carried is answered
 * here: 502 (no route, link down, a bad answer), 504 (no answer in time),
 * 400 for a missing or doubled Host (the connection stays), and
 * 400/413/414/431 for input that is not HTTP or too large, which ends it.
 * A request too large for one stanza is streamed upstream (upload_*), and
 * so is an answer too large for one (download_*): README.md, "Streaming".
 */
#include <sys/socket.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "log.h"
#include "xgw-http.h"

#define MAX_CLIENTS	128
#define PIPELINE	8	/* requests of one connection awaiting their answer */
#define IDLE_MS		30000	/* a whole request, or write progress, at least this often */
#define LINGER_MS	2000	/* reading what a refused client still sends, after the answer */
#define LINGER_MAX	(1024 * 1024)

static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";

/* A streamed answer's body, asked for a part at a time (pulls). */
struct download {
	uint64_t	 stream;	/* 0: the answer came whole */
	int		 open;		/* parts are still to come */
	uint64_t	 pulled, got;	/* parts asked for, parts received */
	struct xgw_http_body body;	/* checks each part before it is written */
};

/* One request of a connection, in the order it came. */
struct answer {
	uint64_t	 seq;		/* its stanza; 0: answered here */
	int		 done;		/* out holds the whole answer (or its head) */
	int		 close;		/* the connection ends after it */
	char		 method[XGW_HTTP_METHOD_MAX + 1];
	char		 dst[46];	/* the route's endpoint */
	uint64_t	 body_max;	/* the route's bound on a streamed body */
	int		 began;		/* a byte of it went to the client */
	struct xgw_buf	 out;
	size_t		 off;		/* bytes of out written */
	struct download	 dl;
};

/* The request body being streamed upstream, a part at a time. */
struct upload {
	uint64_t	 stream;	/* the head's seq; 0: none */
	struct answer	*a;		/* its place in the queue */
	int		 head_acked;	/* the head passed both gateways */
	int		 cont;		/* the client waits for 100 Continue */
	int		 last_sent;
	uint64_t	 sent, acked;	/* parts */
	struct xgw_http_body body;
};

struct client {
	int		 fd;
	uint64_t	 id;		/* the flow of its requests */
	char		 peer[ADAPTER_PEER_MAX];
	int		 reading;	/* 0 once a request ended the connection */
	int		 continued;	/* 100 Continue sent for the request being read */
	int		 lingering;	/* answered and shut down: draining, then closed */
	size_t		 drained;
	uint64_t	 deadline_ms;
	struct answer	 q[PIPELINE];	/* a ring; q[qhead] is answered first */
	int		 qhead, qlen;
	struct upload	 up;
	size_t		 inlen;
	uint8_t		 in[MSG_MAX];
};

static int listen_fd = -1;
static const struct conf_adapter *conf;
static struct client *clients[MAX_CLIENTS];
static int polled[MAX_CLIENTS];		/* slots in the order client_pollfds gave them */
static uint64_t next_flow = 1, next_seq = 1;
/*
 * The runtime's cookies: "a client waits" (flow and seq say which), and
 * "a cancel, whose answer nobody waits for".
 */
static char waiting, cancelling;

static struct answer *
q_at(struct client *c, int i)
{
	return &c->q[(c->qhead + i) % PIPELINE];
}

/* A stanza of c's exchange with the endpoint dst. */
static struct xgw_meta
to_endpoint(const struct client *c, const char *dst)
{
	struct xgw_meta m = { .flow = c->id, .dir = XGW_REQUEST };

	memcpy(m.src, adapter_gateway(ad), sizeof(m.src));
	memcpy(m.dst, dst, sizeof(m.dst));
	return m;
}

/*
 * A stream with the endpoint dst that ends here before its end (an answer
 * nobody will read to its end, a body that will not be sent to its end):
 * the device side is told (a cancel), so that it closes the device's
 * connection now rather than by the device's timer.  Its answer, or none,
 * changes nothing here.
 */
static void
stream_cancel(const struct client *c, const char *dst, uint64_t stream,
    uint64_t part)
{
	struct xgw_meta m = to_endpoint(c, dst);

	m.seq = next_seq++;
	if (part_send(&m, part_new(XGW_HTTP_CANCEL, stream, part, 0, NULL, 0),
	    &cancelling) == -1)
		log_warn("client %s flow=%llu stream=%llu: cancel not carried",
		    c->peer, (unsigned long long)c->id,
		    (unsigned long long)stream);
}

static void
answer_free(const struct client *c, struct answer *a)
{
	if (a->dl.open) {
		stream_cancel(c, a->dst, a->dl.stream, a->dl.got + 1);
		a->dl.open = 0;
	}
	xgw_buf_free(&a->out);
	xgw_http_body_free(&a->dl.body);
}

/* The upload is over: its answer came, or it went with its stream. */
static void
upload_end(struct client *c)
{
	xgw_http_body_free(&c->up.body);
	memset(&c->up, 0, sizeof(c->up));
}

/*
 * The upload ends here before its answer came (its body broke its
 * framing or passed its bound, a part or acknowledgement was lost or
 * late, the client left or went idle): the device side, which has its
 * head, is told.
 */
static void
upload_cancel(struct client *c)
{
	if (c->up.stream != 0)
		stream_cancel(c, c->up.a->dst, c->up.stream, c->up.sent + 1);
	upload_end(c);
}

static void
client_close(int slot, const char *why)
{
	struct client *c = clients[slot];

	log_debug("client %s flow=%llu closed: %s", c->peer,
	    (unsigned long long)c->id, why);
	upload_cancel(c);
	for (int i = 0; i < c->qlen; i++)
		answer_free(c, q_at(c, i));
	close(c->fd);
	free(c);
	clients[slot] = NULL;
}

/*
 * After the answer that ends a connection: no more writing, but what the
 * client is still sending (the rest of a refused body) is read and thrown
 * away for a while, so that closing does not reset the connection and
 * destroy the answer before the client has read it.
 */
static void
client_linger(int slot)
{
	struct client *c = clients[slot];

	shutdown(c->fd, SHUT_WR);
	c->lingering = 1;
	c->reading = 0;
	c->deadline_ms = adapter_now_ms() + LINGER_MS;
}

static void download_pump(int, struct answer *);

/* Writes the answers that are ready, in order. */
static void
client_flush(int slot)
{
	struct client *c = clients[slot];
	struct answer *a;
	size_t was;

	while (c->qlen > 0 && (a = q_at(c, 0))->done) {
		was = a->off;
		if (adapter_write(c->fd, a->out.data, a->out.len, &a->off) == -1) {
			client_close(slot, strerror(errno));
			return;
		}
		if (a->off > was) {
			c->deadline_ms = adapter_now_ms() + IDLE_MS;
			a->began = 1;
		}
		if (a->off < a->out.len)
			return;
		if (a->dl.open) {
			/* written so far: the rest of its body is still to come */
			a->out.len = a->off = 0;
			download_pump(slot, a);
			return;
		}
		answer_free(c, a);
		c->qhead = (c->qhead + 1) % PIPELINE;
		c->qlen--;
		if (a->close) {
			/* later answers, if any, are for requests it cancels */
			for (int i = 0; i < c->qlen; i++)
				answer_free(c, q_at(c, i));
			c->qlen = 0;
			client_linger(slot);
			return;
		}
	}
}

/* A new place in the queue, for the request just read. */
static struct answer *
q_push(struct client *c, const char *method)
{
	struct answer *a = q_at(c, c->qlen++);

	*a = (struct answer){ 0 };
	snprintf(a->method, sizeof(a->method), "%s", method);
	return a;
}

/* Answers a's request here; close ends the connection after it. */
static void
answer_here(int slot, struct answer *a, unsigned status, const char *text,
    int close)
{
	xgw_buf_free(&a->out);
	a->off = 0;
	if (http_answer(&a->out, status, a->method, text, close) == -1) {
		client_close(slot, "out of memory");
		return;
	}
	a->done = 1;
	a->close |= close;
	if (a->close)
		clients[slot]->reading = 0;
	client_flush(slot);
}

/* Input that is not HTTP, or too large: answered, then the connection ends. */
static void
refuse(int slot, unsigned status, const char *reason, size_t offset,
    const char *msg)
{
	struct client *c = clients[slot];
	char text[160];

	if (status == 400)
		cnt.malformed++;
	else
		cnt.oversize++;
	log_warnx("client %s: request refused with %u, %s at byte %zu: %s; "
	    "connection closed", c->peer, status, reason, offset, msg);
	snprintf(text, sizeof(text), "%s at byte %zu", reason, offset);
	answer_here(slot, q_push(c, ""), status, text, 1);
}

static unsigned
status_of(const char *reason)
{
	if (strcmp(reason, "too-large") == 0)
		return 413;
	if (strcmp(reason, "start-line-too-long") == 0)
		return 414;
	if (strcmp(reason, "section-too-large") == 0 ||
	    strcmp(reason, "too-many-fields") == 0)
		return 431;
	return 400;
}

/* The length of the head (through its empty line) in p, 0 if not all there. */
static size_t
head_len(const uint8_t *p, size_t n)
{
	for (size_t i = 1; i < n; i++)
		if (p[i] == '\n' && (p[i - 1] == '\n' ||
		    (i >= 2 && p[i - 1] == '\r' && p[i - 2] == '\n')))
			return i + 1;
	return 0;
}

/* Whether the head asks for 100 Continue (RFC 9110 10.1.1). */
static int
wants_continue(const uint8_t *p, size_t n)
{
	static const char name[] = "\nexpect:", value[] = "100-continue";
	const uint8_t *end = p + n, *v;

	for (; (p = memchr(p, '\n', end - p)) != NULL; p++) {
		if ((size_t)(end - p) < sizeof(name) - 1 ||
		    strncasecmp((const char *)p, name, sizeof(name) - 1) != 0)
			continue;
		for (v = p + sizeof(name) - 1; v < end && (*v == ' ' ||
		    *v == '\t'); v++)
			;
		return (size_t)(end - v) >= sizeof(value) - 1 &&
		    strncasecmp((const char *)v, value, sizeof(value) - 1) == 0;
	}
	return 0;
}

/* The scheme's "://" of an absolute-form target, NULL for any other form. */
static const char *
target_authority(const char *t)
{
	const char *s = strstr(t, "://");

	return s != NULL && memchr(t, '/', s - t) == NULL ? s + 3 : NULL;
}

/* The path of a request-target: origin-form as is, absolute-form past its authority. */
static void
target_path(const char *t, const char **path, size_t *len)
{
	const char *p = target_authority(t);

	if (p != NULL)
		p += strcspn(p, "/?");
	else
		p = t;
	*path = p;
	*len = strcspn(p, "?#");
}

/* RFC 3986 reg-name: unreserved, pct-encoded and sub-delims. */
static int
reg_name(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = p[i];

		if (c == '%' && i + 2 < n &&
		    isxdigit((unsigned char)p[i + 1]) &&
		    isxdigit((unsigned char)p[i + 2]))
			i += 2;
		else if (!isalnum(c) && strchr("-._~!$&'()*+,;=", c) == NULL)
			return 0;
	}
	return 1;
}

/*
 * uri-host [ ":" port ] (RFC 9110 7.2) into out as the routes hold hosts:
 * lower case, without the port, an IPv6 literal canonical in brackets.
 * NULL, or why not.
 */
static const char *
host_of(const char *p, size_t n, char *out, size_t size)
{
	char addr[INET6_ADDRSTRLEN];
	unsigned char a6[16];
	const char *end = p + n, *port;
	size_t hl;

	if (n > 0 && p[0] == '[') {
		if ((port = memchr(p, ']', n)) == NULL)
			return "an IPv6 literal without ']'";
		hl = port - p - 1;
		if (hl >= sizeof(addr))
			return "not an IPv6 address in brackets";
		memcpy(addr, p + 1, hl);
		addr[hl] = '\0';
		if (inet_pton(AF_INET6, addr, a6) != 1 ||
		    inet_ntop(AF_INET6, a6, addr, sizeof(addr)) == NULL)
			return "not an IPv6 address in brackets";
		snprintf(out, size, "[%s]", addr);
		port++;
	} else {
		if ((port = memchr(p, ':', n)) == NULL)
			port = end;
		if (!reg_name(p, port - p))
			return "not a host name";
		if ((size_t)(port - p) >= size)
			return "a host name too long for any route";
		for (hl = 0; p + hl < port; hl++)
			out[hl] = tolower((unsigned char)p[hl]);
		out[hl] = '\0';
	}
	if (port < end && *port != ':')
		return "bytes after the IPv6 literal";
	while (port < end && isdigit((unsigned char)*++port))
		;
	return port < end ? "a port that is not a number" : NULL;
}

/*
 * The host a request is for (RFC 9112 3.2, 3.2.2): the authority of an
 * absolute-form target, which wins, else the Host field; "" when an
 * HTTP/1.0 request names none.  NULL, or why RFC 9112 3.2 wants 400: an
 * HTTP/1.1 request without Host, two Host fields, a host that is not one.
 */
static const char *
request_host(xmpp_stanza_t *el, char *out, size_t size)
{
	const char *version = xmpp_stanza_get_attribute(el, "version");
	const char *target = xmpp_stanza_get_attribute(el, "target");
	const char *auth, *host = NULL;
	int fields = 0;

	for (xmpp_stanza_t *f = xmpp_stanza_get_children(el); f != NULL;
	    f = xmpp_stanza_get_next(f)) {
		const char *n = xmpp_stanza_get_attribute(f, "name");

		if (strcmp(xmpp_stanza_get_name(f), "field") == 0 &&
		    n != NULL && strcasecmp(n, "Host") == 0) {
			fields++;
			host = xmpp_stanza_get_attribute(f, "value");
		}
	}
	if (fields > 1)
		return "more than one Host field";
	out[0] = '\0';
	if (target != NULL && (auth = target_authority(target)) != NULL) {
		size_t n = strcspn(auth, "/?#");

		if (memchr(auth, '@', n) != NULL)
			return "userinfo in the target";
		if (n == 0 || auth[0] == ':')
			return "a target without a host";
		if (fields == 0 && strcmp(version, "HTTP/1.0") != 0)
			return "no Host field";
		return host_of(auth, n, out, size);
	}
	if (fields == 0)
		return strcmp(version, "HTTP/1.0") == 0 ? NULL : "no Host field";
	/* value-b64: bytes no host name has */
	if (host == NULL)
		return "not a host name";
	return host_of(host, strlen(host), out, size);
}

/*
 * The best route for the request: one for its host beats one for any
 * host; among those, the longest prefix that is the path or ends at a
 * segment boundary of it ("/api" takes "/api" and "/api/x", not "/apix").
 */
static int
route_for(const char *target, const char *host)
{
	const char *path;
	size_t len, rank, best = 0;
	int r = -1;

	target_path(target, &path, &len);
	for (int i = 0; i < conf->nroutes; i++) {
		const struct conf_route *rt = &conf->routes[i];
		size_t ml = strlen(rt->match);

		if (rt->host[0] != '\0' && strcmp(rt->host, host) != 0)
			continue;
		if (ml > len || memcmp(path, rt->match, ml) != 0)
			continue;
		if (ml != len && rt->match[ml - 1] != '/' && path[ml] != '/')
			continue;
		rank = (rt->host[0] != '\0') << 16 | (ml + 1);
		if (rank > best) {
			best = rank;
			r = i;
		}
	}
	return r;
}

/*
 * One request read: its element (the whole message, or the head of a
 * streamed one) took n bytes of the input.  Its place in the queue when
 * it went upstream; NULL when it was answered here.  A streamed request
 * answered here ends its connection: its body is still coming.
 */
static struct answer *
client_request(int slot, xmpp_stanza_t *el, size_t n,
    const struct xgw_http_body *streamed)
{
	struct client *c = clients[slot];
	struct xgw_meta m = { .flow = c->id, .dir = XGW_REQUEST };
	const char *target, *version, *why;
	char host[256];
	struct answer *a;
	int r;

	a = q_push(c, el_method(el));
	target = xmpp_stanza_get_attribute(el, "target");
	version = xmpp_stanza_get_attribute(el, "version");
	/* an HTTP/1.0 client reads its answer until the connection closes */
	a->close = field_has_token(el, "Connection", "close") ||
	    (version != NULL && strcmp(version, "HTTP/1.0") == 0);
	if (a->close && !streamed)
		c->reading = 0;
	if (strcmp(a->method, "CONNECT") == 0) {
		log_info("client %s: CONNECT refused with 501", c->peer);
		answer_here(slot, a, 501, "no tunnels: the gateway carries "
		    "messages", 1);
	} else if ((why = request_host(el, host, sizeof(host))) != NULL) {
		cnt.malformed++;
		log_warnx("client %s: %s %s: %s; answered 400", c->peer,
		    a->method, target, why);
		answer_here(slot, a, 400, why, streamed != NULL);
	} else if ((r = route_for(target, host)) == -1) {
		cnt.no_route++;
		log_info("client %s: %s %s host \"%s\": no route; answered 502",
		    c->peer, a->method, target, host);
		answer_here(slot, a, 502, "no route for this host and path",
		    streamed != NULL);
	} else if (streamed != NULL && streamed->mode == XGW_HTTP_LENGTH &&
	    streamed->left > body_max(conf->routes[r].body_max)) {
		cnt.oversize++;
		log_warnx("client %s: %s %s: a body of %llu bytes, above the "
		    "route's bound; answered 413", c->peer, a->method, target,
		    (unsigned long long)streamed->left);
		answer_here(slot, a, 413, "the body is larger than the "
		    "gateway's bound", 1);
	} else {
		a->body_max = body_max(conf->routes[r].body_max);
		memcpy(m.src, adapter_gateway(ad), sizeof(m.src));
		memcpy(m.dst, conf->routes[r].to, sizeof(m.dst));
		memcpy(a->dst, m.dst, sizeof(a->dst));
		m.seq = next_seq++;
		if (streamed != NULL && xgw_set_uint(el, "stream", m.seq) == -1)
			errno = ENOMEM;
		else if (adapter_send(ad, &m, el, 0, &waiting) == 0) {
			a->seq = m.seq;
			return a;
		}
		if (errno == EMSGSIZE) {
			cnt.oversize++;
			log_warnx("client %s: %s %s: too large for one stanza "
			    "(%zu bytes); answered 413", c->peer, a->method,
			    target, n);
			answer_here(slot, a, 413, "too large for the gateway", 1);
		} else {
			cnt.path_failed++;
			log_warn("client %s: %s %s: not carried", c->peer,
			    a->method, target);
			answer_here(slot, a, 502, "not carried",
			    streamed != NULL);
		}
	}
	return NULL;
}

/* A whole request of n bytes at the start of the input. */
static void
client_whole(int slot, size_t n)
{
	xmpp_stanza_t *el;
	struct xgw_err e;

	cnt.requests++;
	if (xgw_http_decode(adapter_ctx(ad), NULL, XGW_REQUEST,
	    clients[slot]->in, n, &el, &e) == -1) {
		refuse(slot, status_of(e.reason), e.reason, e.offset, e.msg);
		return;
	}
	client_request(slot, el, n, NULL);
	xmpp_stanza_release(el);
}

static void
input_drop(struct client *c, size_t n)
{
	memmove(c->in, c->in + n, c->inlen - n);
	c->inlen -= n;
}

/*
 * A stream that cannot go on: answered with status when its answer has
 * not begun (the connection ends after it), else the connection is reset
 * so that a cut body is never taken for a whole one.
 */
static void
stream_broken(int slot, struct answer *a, unsigned status, const char *why)
{
	struct client *c = clients[slot];
	struct linger lg = { 1, 0 };

	cnt.streams_broken++;
	log_warnx("client %s flow=%llu: stream broken: %s; %s", c->peer,
	    (unsigned long long)c->id, why, a != NULL && !a->began ?
	    "answered and closed" : "connection reset");
	if (a == NULL || a == c->up.a)
		upload_cancel(c);
	if (a != NULL && !a->began) {
		/* nothing of its answer went out: a whole one replaces it */
		answer_free(c, a);
		answer_here(slot, a, status, why, 1);
		return;
	}
	setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	client_close(slot, why);
}

/* The head of a request too large to carry whole, and upstream its body. */
static void
upload_start(int slot)
{
	struct client *c = clients[slot];
	struct xgw_http_body body;
	struct answer *a;
	xmpp_stanza_t *el;
	struct xgw_err e;
	size_t hlen;

	cnt.requests++;
	if (xgw_http_head(adapter_ctx(ad), NULL, XGW_REQUEST, c->in, c->inlen,
	    &hlen, &el, &body, &e) != 1) {
		refuse(slot, status_of(e.reason), e.reason, e.offset, e.msg);
		return;
	}
	if ((a = client_request(slot, el, hlen, &body)) != NULL) {
		cnt.streams++;
		c->up = (struct upload){ .stream = a->seq, .a = a,
		    .body = body };
		c->up.body.max = a->body_max;
		c->up.cont = !c->continued && wants_continue(c->in, hlen);
	} else
		xgw_http_body_free(&body);
	xmpp_stanza_release(el);
	if (clients[slot] != NULL)
		input_drop(c, hlen);
}

/* Sends what the input holds of the body, while the window has room. */
static void
upload_pump(int slot)
{
	struct client *c = clients[slot];
	struct upload *up = &c->up;
	struct xgw_meta m = to_endpoint(c, up->a->dst);
	struct xgw_err e;
	size_t used;
	int rc;

	while (up->head_acked && !up->last_sent &&
	    up->sent - up->acked < WINDOW && c->inlen > 0) {
		rc = xgw_http_body_walk(&up->body, c->in, c->inlen < PART_MAX ?
		    c->inlen : PART_MAX, &used, &e);
		if (rc == -1) {
			char why[160];

			snprintf(why, sizeof(why), "%s at byte %llu of the "
			    "body", e.reason, (unsigned long long)e.offset);
			stream_broken(slot, up->a, status_of(e.reason), why);
			return;
		}
		m.seq = next_seq++;
		if (part_send(&m, part_new(XGW_HTTP_PART, up->stream,
		    up->sent + 1, rc == 1, c->in, used), &waiting) == -1) {
			stream_broken(slot, up->a, 502, "a part not carried");
			return;
		}
		up->sent++;
		if (rc == 1) {
			/* the device's answer comes as the answer to the last part */
			up->last_sent = 1;
			up->a->seq = m.seq;
			if (up->a->close)
				c->reading = 0;
		}
		input_drop(c, used);
		c->deadline_ms = adapter_now_ms() + IDLE_MS;
	}
}

/*
 * A request not whole in the input (0), or too large for the transform
 * to frame (-1): streamed when it cannot be carried whole, else waited
 * for.  1 when the caller may go on cutting requests.
 */
static int
client_partial(int slot, int rc, const struct xgw_err *fe, size_t h)
{
	struct client *c = clients[slot];
	struct xgw_http_body body;
	struct xgw_err e;
	size_t hlen;
	int r, big;

	r = xgw_http_head(NULL, NULL, XGW_REQUEST, c->in, c->inlen, &hlen, NULL,
	    &body, &e);
	if (r == -1 || (r == 0 && rc == -1)) {
		if (r == 0)
			e = *fe;
		refuse(slot, status_of(e.reason), e.reason, e.offset, e.msg);
		return 0;
	}
	big = r == 1 && ((body.mode == XGW_HTTP_LENGTH &&
	    body.left > MSG_MAX - hlen) || (body.mode == XGW_HTTP_CHUNKED &&
	    (rc == -1 || c->inlen == sizeof(c->in))));
	xgw_http_body_free(&body);
	if (big) {
		/* one stream at a time: a second waits for the first's answer */
		if (c->up.stream != 0)
			return 0;
		upload_start(slot);
		return clients[slot] != NULL;
	}
	if (rc == -1) {
		refuse(slot, status_of(fe->reason), fe->reason, fe->offset,
		    fe->msg);
		return 0;
	}
	if (c->inlen == sizeof(c->in))
		refuse(slot, 413, "too-large", c->inlen,
		    "the message is longer than the gateway's bound");
	else if (h > 0 && !c->continued && c->qlen == 0 &&
	    wants_continue(c->in, h)) {
		/* the body comes once asked for: we carry it whole */
		struct answer *a = q_push(c, "");

		c->continued = 1;
		if (xgw_buf_put(&a->out, cont, sizeof(cont) - 1, &e) == -1) {
			client_close(slot, "out of memory");
			return 0;
		}
		a->done = 1;
		client_flush(slot);
	}
	return 0;
}

/*
 * Whether an answer is being streamed: requests behind it wait here, so
 * that their timers do not run while the device is busy with it.
 */
static int
downloading(const struct client *c)
{
	for (int i = 0; i < c->qlen; i++)
		if (c->q[(c->qhead + i) % PIPELINE].dl.open)
			return 1;
	return 0;
}

/* Cuts requests from the input while the connection may have more in flight. */
static void
client_process(int slot)
{
	struct client *c;
	struct xgw_err e;
	size_t n, h;
	int rc;

	while ((c = clients[slot]) != NULL && c->reading && c->qlen < PIPELINE) {
		if (c->up.stream != 0 && !c->up.last_sent) {
			upload_pump(slot);
			return;
		}
		if (c->inlen == 0 || downloading(c))
			return;
		rc = xgw_http_frame(NULL, XGW_REQUEST, c->in, c->inlen, &n, &e);
		h = head_len(c->in, c->inlen < HEAD_MAX ? c->inlen : HEAD_MAX);
		if (rc == -1 && strcmp(e.reason, "too-large") != 0) {
			refuse(slot, status_of(e.reason), e.reason, e.offset,
			    e.msg);
			return;
		}
		if (h == 0 && c->inlen >= HEAD_MAX) {
			refuse(slot, 431, "section-too-large", HEAD_MAX,
			    "no end of the header section within the "
			    "gateway's bound");
			return;
		}
		if (rc != 1) {
			if (!client_partial(slot, rc, &e, h))
				return;
			continue;
		}
		client_whole(slot, n);
		if ((c = clients[slot]) == NULL)
			return;
		c->continued = 0;
		c->deadline_ms = adapter_now_ms() + IDLE_MS;
		input_drop(c, n);
	}
}

static void
client_read(int slot)
{
	struct client *c = clients[slot];
	uint8_t sink[4096];
	const char *why;
	ssize_t n;

	if (c->lingering) {
		n = adapter_read(c->fd, sink, sizeof(sink), &why);
		if (n == -1 || (c->drained += n) > LINGER_MAX)
			client_close(slot, "answered and shut down");
		return;
	}
	n = adapter_read(c->fd, c->in + c->inlen, sizeof(c->in) - c->inlen,
	    &why);
	if (n == -1)
		client_close(slot, why);
	else if (n > 0) {
		c->inlen += n;
		client_process(slot);
	}
}

static int
client_used(int slot)
{
	return clients[slot] != NULL;
}

static uint64_t
client_take(int slot, int fd, const char *peer)
{
	struct client *c;

	if ((c = malloc(sizeof(*c))) == NULL)
		return 0;
	/* the input buffer is left as it is: only inlen bytes count */
	memset(c, 0, offsetof(struct client, in));
	c->fd = fd;
	c->id = next_flow++;
	c->reading = 1;
	c->deadline_ms = adapter_now_ms() + IDLE_MS;
	snprintf(c->peer, sizeof(c->peer), "%s", peer);
	clients[slot] = c;
	return c->id;
}

static const struct adapter_clients client_table = {
	MAX_CLIENTS, client_used, client_take, &cnt.accepted, &cnt.refused
};

static struct client *
client_by_flow(uint64_t flow, int *slot)
{
	for (int i = 0; i < MAX_CLIENTS; i++)
		if (clients[i] != NULL && clients[i]->id == flow) {
			*slot = i;
			return clients[i];
		}
	return NULL;
}

/*
 * The queue place of the request (flow, seq), if its client is still
 * there.  With early, an answer to a part of the upload is the upload's:
 * the device answered before it read the whole body.
 */
static struct answer *
answer_of(uint64_t flow, uint64_t seq, int early, int *slot)
{
	struct client *c = client_by_flow(flow, slot);

	for (int i = 0; c != NULL && i < c->qlen; i++)
		if (q_at(c, i)->seq == seq && !q_at(c, i)->done)
			return q_at(c, i);
	if (early && c != NULL && c->up.stream != 0 && !c->up.a->done)
		return c->up.a;
	return NULL;
}

/*
 * A streamed answer's head is in a->out: its body follows in parts, asked
 * for WINDOW at a time and checked with the walker of the head.
 */
static int
download_start(int slot, struct answer *a, xmpp_stanza_t *el)
{
	struct xgw_http_sess s;
	struct xgw_err e;
	size_t hlen;

	sess_expect(&s, a->method);
	if (xgw_get_uint(el, "stream", UINT64_MAX, &a->dl.stream, &e) == -1 ||
	    a->dl.stream == 0 ||
	    xgw_http_head(NULL, &s, XGW_RESPONSE, a->out.data, a->out.len,
	    &hlen, NULL, &a->dl.body, &e) != 1) {
		stream_broken(slot, a, 502, "a streamed answer without its "
		    "stream");
		return -1;
	}
	cnt.streams++;
	a->dl.body.max = head_bound(el, a->body_max);
	a->dl.open = 1;
	if (a->dl.body.mode == XGW_HTTP_CLOSE)
		a->close = 1;
	download_pump(slot, a);
	return clients[slot] != NULL ? 0 : -1;
}

/* Asks for parts while the window has room and little waits to be written. */
static void
download_pump(int slot, struct answer *a)
{
	struct client *c = clients[slot];
	struct xgw_meta m = to_endpoint(c, a->dst);

	while (a->dl.open && a->dl.pulled - a->dl.got < WINDOW &&
	    a->out.len - a->off <= PART_MAX) {
		m.seq = next_seq++;
		if (part_send(&m, part_new(XGW_HTTP_PULL, a->dl.stream,
		    a->dl.pulled + 1, 0, NULL, 0), &waiting) == -1) {
			stream_broken(slot, a, 502, "a pull not carried");
			return;
		}
		a->dl.pulled++;
	}
}

/* A part of a streamed answer: the next one, and good, or the stream ends. */
static void
download_part(int slot, struct answer *a, const struct xgw_http_part *pt,
    struct xgw_buf *data)
{
	struct xgw_err e = { .msg = "out of memory" };
	char why[200];
	size_t used;
	int rc;

	if (pt->part != a->dl.got + 1) {
		snprintf(why, sizeof(why), "part %llu where %llu was due",
		    (unsigned long long)pt->part,
		    (unsigned long long)a->dl.got + 1);
		stream_broken(slot, a, 502, why);
		return;
	}
	rc = xgw_http_body_walk(&a->dl.body, data->data, data->len, &used, &e);
	if (rc == 0 && pt->last)
		rc = xgw_http_body_eof(&a->dl.body, &e);
	if (rc == -1 || used != data->len || rc != pt->last) {
		snprintf(why, sizeof(why), "part %llu: %s",
		    (unsigned long long)pt->part, rc == -1 ? e.msg :
		    pt->last ? "the body does not end with the last part" :
		    "bytes after the end of the body");
		stream_broken(slot, a, 502, why);
		return;
	}
	if (a->off == a->out.len)
		a->out.len = a->off = 0;
	if (xgw_buf_put(&a->out, data->data, data->len, &e) == -1) {
		stream_broken(slot, a, 502, e.msg);
		return;
	}
	a->dl.got++;
	if (pt->last) {
		xgw_http_body_free(&a->dl.body);
		a->dl.open = 0;
	}
	client_flush(slot);
	if (clients[slot] != NULL && a->dl.open)
		download_pump(slot, a);
	else if (clients[slot] != NULL)
		client_process(slot);
}

/* The acknowledgement of part K of the upload (0: its head). */
static void
upload_ack(int slot, const struct xgw_http_part *pt)
{
	struct client *c = clients[slot];
	struct upload *up = &c->up;
	char why[120];

	if (pt->part != (up->head_acked ? up->acked + 1 : 0) ||
	    pt->part > up->sent) {
		snprintf(why, sizeof(why), "acknowledgement of part %llu out "
		    "of order", (unsigned long long)pt->part);
		stream_broken(slot, up->a, 502, why);
		return;
	}
	if (pt->part > 0)
		up->acked++;
	else {
		up->head_acked = 1;
		/* asked for before the body, and only its answer waits: sent now */
		if (up->cont && c->qlen == 1 && q_at(c, 0) == up->a)
			(void)send(c->fd, cont, sizeof(cont) - 1, MSG_NOSIGNAL);
		c->continued = up->cont;
	}
	client_process(slot);
}

/*
 * A part, an acknowledgement or a cancel of a stream of one of our
 * connections.  A cancel answers a pull when the device side ended the
 * answer (a body that broke its framing or passed the device's bound) or
 * a policy stage stopped it (a rule's bound), or answers ours.
 */
void
client_part(const struct xgw_http_part *pt, struct xgw_buf *data,
    uint64_t flow, uint64_t seq)
{
	void *cookie = adapter_answered(ad, flow, seq);
	struct client *c;
	int slot;

	if (cookie == &cancelling)
		return;
	if (cookie == NULL || (c = client_by_flow(flow, &slot)) == NULL) {
		cnt.late++;
		return;
	}
	if (pt->kind == XGW_HTTP_ACK && c->up.stream == pt->stream) {
		upload_ack(slot, pt);
		return;
	}
	for (int i = 0; i < c->qlen; i++) {
		struct answer *a = q_at(c, i);

		if (!a->dl.open || a->dl.stream != pt->stream)
			continue;
		if (pt->kind == XGW_HTTP_PART) {
			download_part(slot, a, pt, data);
			return;
		}
		if (pt->kind == XGW_HTTP_CANCEL) {
			/*
			 * Told back all the same (stream_broken): a policy
			 * stage on the way that cut the answer at a rule's
			 * bound answers in the device side's stead, and the
			 * device side answers a cancel of a stream it ended.
			 */
			stream_broken(slot, a, 502, "the answer was ended "
			    "on its way");
			return;
		}
	}
	/* answers to pulls past the end of a body */
	log_debug("client %s flow=%llu: part %llu of stream %llu: none "
	    "waits for it", c->peer, (unsigned long long)flow,
	    (unsigned long long)pt->part, (unsigned long long)pt->stream);
}

/*
 * The answer from afar.  It is encoded for the method the client sent,
 * whatever the far side says it answers: a body that the client would not
 * expect (an answer to HEAD with one) fails to encode and becomes 502.
 */
void
client_answer(xmpp_stanza_t *el, uint64_t flow, uint64_t seq)
{
	const char *kind = xmpp_stanza_get_attribute(el, "kind");
	const char *status = xmpp_stanza_get_attribute(el, "status");
	struct answer *a;
	struct xgw_err e = { .msg = "out of memory" };
	int slot;

	if (adapter_answered(ad, flow, seq) == NULL ||
	    (a = answer_of(flow, seq, 1, &slot)) == NULL) {
		cnt.late++;
		log_debug("response flow=%llu seq=%llu: no request waits for "
		    "it (timed out, or its client left); dropped",
		    (unsigned long long)flow, (unsigned long long)seq);
		return;
	}
	if (kind == NULL || strcmp(kind, "response") != 0 ||
	    (a->method[0] != '\0' &&
	    xgw_set_str(el, "request-method", a->method) == -1) ||
	    xgw_http_encode(el, &a->out, &e) == -1) {
		cnt.bad_answers++;
		log_warnx("response flow=%llu seq=%llu: not an HTTP response to "
		    "%s (%s); answered 502", (unsigned long long)flow,
		    (unsigned long long)seq, a->method, kind == NULL ||
		    strcmp(kind, "response") != 0 ? "kind is not response" :
		    e.msg);
		answer_here(slot, a, 502, "bad answer from the far side", 0);
	} else {
		/*
		 * The connection ends after an answer that says so, one read
		 * until close (a body without Content-Length), and a 101: the
		 * gateway carries no tunnel.
		 */
		a->close |= field_has_token(el, "Connection", "close") ||
		    (xgw_child(el, "body") != NULL &&
		    !field_has_token(el, "Content-Length", NULL)) ||
		    (status != NULL && strcmp(status, "101") == 0);
		/* a request whose body was not all sent: the input is lost */
		if (clients[slot]->up.a == a && !clients[slot]->up.last_sent)
			a->close = 1;
		if (clients[slot]->up.a == a)
			upload_end(clients[slot]);
		if (xmpp_stanza_get_attribute(el, "body") != NULL &&
		    download_start(slot, a, el) == -1)
			return;
		a->done = 1;
		if (a->close)
			clients[slot]->reading = 0;
		client_flush(slot);
	}
	if (clients[slot] != NULL)
		client_process(slot);
}

/* A part or a pull that got no answer: its stream cannot go on. */
static void
stream_failed(uint64_t flow, uint64_t seq, int timeout, const char *reason)
{
	struct client *c;
	char why[120];
	int slot;

	if ((c = client_by_flow(flow, &slot)) == NULL)
		return;
	snprintf(why, sizeof(why), "part seq=%llu: %s",
	    (unsigned long long)seq, reason);
	if (c->up.stream != 0) {
		stream_broken(slot, c->up.a, timeout ? 504 : 502, why);
		return;
	}
	for (int i = 0; i < c->qlen; i++)
		if (q_at(c, i)->dl.open) {
			stream_broken(slot, q_at(c, i), 502, why);
			return;
		}
	/* a pull past the end of a body */
}

void
client_failed(uint64_t flow, uint64_t seq, const char *reason, void *cookie)
{
	int timeout = strcmp(reason, "timeout") == 0, slot;
	struct answer *a;

	if (cookie == &cancelling)
		return;		/* its stream is over here whatever became of it */
	if (timeout)
		cnt.timed_out++;
	else
		cnt.path_failed++;
	if ((a = answer_of(flow, seq, 0, &slot)) == NULL) {
		stream_failed(flow, seq, timeout, reason);
		return;
	}
	log_info("request flow=%llu seq=%llu: %s; answered %d",
	    (unsigned long long)flow, (unsigned long long)seq, reason,
	    timeout ? 504 : 502);
	if (clients[slot]->up.a == a) {
		stream_broken(slot, a, timeout ? 504 : 502, reason);
		return;
	}
	answer_here(slot, a, timeout ? 504 : 502, timeout ?
	    "no answer in time" : reason, 0);
	if (clients[slot] != NULL)
		client_process(slot);
}

int
client_open(const struct conf_adapter *c)
{
	conf = c;
	return (listen_fd = adapter_listen(c, SOCK_STREAM)) == -1 ? -1 : 0;
}

static int
client_wants_input(const struct client *c)
{
	return c->lingering || (c->reading && c->qlen < PIPELINE &&
	    c->inlen < sizeof(c->in));
}

int
client_pollfds(struct pollfd *pfd, int max)
{
	int n = 0;

	if (listen_fd == -1 || max < 1)
		return 0;
	pfd[n++] = (struct pollfd){ listen_fd, POLLIN, 0 };
	for (int i = 0; i < MAX_CLIENTS && n < max; i++) {
		struct client *c = clients[i];
		struct answer *a;

		if (c == NULL)
			continue;
		a = c->qlen > 0 ? q_at(c, 0) : NULL;
		polled[n - 1] = i;
		pfd[n++] = (struct pollfd){ c->fd,
		    (client_wants_input(c) ? POLLIN : 0) |
		    (a != NULL && a->done && a->off < a->out.len ? POLLOUT : 0),
		    0 };
	}
	return n;
}

void
client_run(const struct pollfd *pfd, int n)
{
	if (n == 0)
		return;
	if (pfd[0].revents & POLLIN)
		adapter_accept_clients(ad, listen_fd, &client_table);
	for (int i = 1; i < n; i++) {
		int slot = polled[i - 1];
		short re = pfd[i].revents;

		if (clients[slot] == NULL || clients[slot]->fd != pfd[i].fd)
			continue;
		if (re & (POLLIN | POLLHUP | POLLERR))
			client_read(slot);
		if (clients[slot] != NULL && (re & POLLOUT))
			client_flush(slot);
	}
}

/* Whether the connection waits for nothing but itself: its answers are here. */
static int
client_idle(const struct client *c)
{
	/* an upload waiting for the client's bytes, not for the far side */
	if (c->up.stream != 0 && c->up.head_acked && !c->up.last_sent &&
	    c->up.sent == c->up.acked)
		return 1;
	for (int i = 0; i < c->qlen; i++)
		if (!c->q[(c->qhead + i) % PIPELINE].done)
			return 0;
	return 1;
}

int
client_timeout_ms(uint64_t now)
{
	uint64_t next = UINT64_MAX;

	for (int i = 0; i < MAX_CLIENTS; i++)
		if (clients[i] != NULL && client_idle(clients[i]) &&
		    clients[i]->deadline_ms < next)
			next = clients[i]->deadline_ms;
	if (next == UINT64_MAX)
		return -1;
	return next <= now ? 0 : (int)(next - now);
}

/* Connections that sent no whole request, or read no answer, for IDLE_MS. */
void
client_timers(uint64_t now)
{
	for (int i = 0; i < MAX_CLIENTS; i++) {
		struct client *c = clients[i];

		if (c == NULL || !client_idle(c) || now < c->deadline_ms)
			continue;
		if (c->lingering)
			client_close(i, "answered and shut down");
		else if (c->qlen > 0 || c->inlen == 0) {
			cnt.idle_closed++;
			client_close(i, "idle");
		} else {
			cnt.idle_closed++;
			log_info("client %s: no whole request within %d s; "
			    "answered 408", c->peer, IDLE_MS / 1000);
			answer_here(i, q_push(c, ""), 408, "request not "
			    "complete in time", 1);
		}
	}
}
