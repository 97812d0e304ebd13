/*
 * xgw-http, device side (device UUID host H port P timeout T): a request
 * stanza for a local device is encoded with xgw_http_encode (the exact
 * bytes the client sent; nothing is rewritten) and written to the
 * device's connection; its response, cut by xgw_http_frame and decoded,
 * goes back as the response stanza, byte for byte.  HTTP has no request
 * ids, so each device has one request on the wire at a time and a queue
 * behind it: a slow or dead device delays only its own requests.
 *
 * The connection is kept while the device keeps it (keep-alive) and made
 * again, non-blocking, when a request comes and there is none.
 */
#include <sys/socket.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "xgw-http.h"

#define DEV_QUEUE	16	/* requests waiting for one device */

struct job {
	uint64_t	 flow, seq;
	char		 from[46];	/* the requester: the response's dst */
	char		 method[XGW_HTTP_METHOD_MAX + 1];
	uint64_t	 deadline_ms;	/* arrival + the device's timeout */
	int		 close;		/* the request ends its connection */
	int		 retried;
	struct xgw_buf	 req;		/* the bytes for the device */
};

struct device {
	const struct conf_device *conf;
	int		 fd;		/* -1: not connected */
	int		 connecting;	/* connect() in progress */
	int		 reused;	/* it answered on this connection before */
	int		 busy;		/* the head job is on this connection */
	size_t		 sent;		/* bytes of the head job's request written */
	struct job	*q[DEV_QUEUE];	/* a ring; q[qhead] is served first */
	int		 qhead, qlen;
	struct xgw_http_sess sess;
	size_t		 inlen;
	uint8_t		*in;		/* MSG_MAX bytes */
};

static struct device *devices;
static int ndevices;
static int polled[CONF_MAX_DEVICES];

static void device_kick(struct device *);

/* The response stanza for job j, from the device (uuid) or made here. */
static int
job_send(const char *uuid, const struct job *j, xmpp_stanza_t *el)
{
	struct xgw_meta m = { .flow = j->flow, .seq = j->seq,
	    .dir = XGW_RESPONSE };
	int saved;

	memcpy(m.src, uuid, sizeof(m.src));
	memcpy(m.dst, j->from, sizeof(m.dst));
	if (adapter_send(ad, &m, el, 0, NULL) == 0)
		return 0;
	saved = errno;
	log_warn("device %s flow=%llu seq=%llu: response not queued", uuid,
	    (unsigned long long)j->flow, (unsigned long long)j->seq);
	errno = saved;		/* the caller tells EMSGSIZE from the rest */
	return -1;
}

/* An answer made here (502, 504) for job j. */
static void
job_error(const char *uuid, const struct job *j, unsigned status,
    const char *text)
{
	struct xgw_http_sess s;
	struct xgw_buf b = { 0 };
	xmpp_stanza_t *el;
	struct xgw_err e;

	cnt.dev_failed++;
	sess_expect(&s, j->method);
	if (http_answer(&b, status, j->method, text, 0) == -1 ||
	    xgw_http_decode(adapter_ctx(ad), &s, XGW_RESPONSE, b.data, b.len,
	    &el, &e) == -1)
		fatalx("the %u answer does not decode", status);
	xgw_buf_free(&b);
	job_send(uuid, j, el);
	xmpp_stanza_release(el);
}

static void
job_pop(struct device *d)
{
	struct job *j = d->q[d->qhead];

	xgw_buf_free(&j->req);
	free(j);
	d->qhead = (d->qhead + 1) % DEV_QUEUE;
	d->qlen--;
	d->busy = 0;
	d->sent = 0;
}

static void
device_close(struct device *d, const char *why)
{
	if (d->fd == -1)
		return;
	log_debug("device %s (%s port %u): connection closed: %s",
	    d->conf->uuid, d->conf->host, d->conf->port, why);
	close(d->fd);
	d->fd = -1;
	d->connecting = d->reused = d->busy = 0;
	d->sent = d->inlen = 0;
}

/* The head job failed: answered with status, the connection dropped. */
static void
device_fail(struct device *d, unsigned status, const char *why)
{
	struct job *j = d->q[d->qhead];

	log_warnx("device %s (%s port %u): %s %s: %s; answered %u",
	    d->conf->uuid, d->conf->host, d->conf->port, j->method,
	    status == 504 ? "timed out" : "failed", why, status);
	device_close(d, why);
	job_error(d->conf->uuid, j, status, why);
	job_pop(d);
}

/* RFC 9110 9.2.2: only these may be sent again without asking anyone. */
static int
idempotent(const char *m)
{
	static const char *const ok[] = { "GET", "HEAD", "PUT", "DELETE",
	    "OPTIONS", "TRACE" };

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		if (strcmp(m, ok[i]) == 0)
			return 1;
	return 0;
}

/*
 * The connection ended before any byte of the answer.  A kept-alive
 * connection the device closed while the request was on its way is the
 * usual race of HTTP/1.1; an idempotent request is sent once more on a
 * new connection, anything else fails.
 */
static void
device_lost(struct device *d, const char *why)
{
	struct job *j = d->q[d->qhead];

	if (d->reused && d->inlen == 0 && !j->retried && idempotent(j->method)) {
		cnt.dev_retries++;
		j->retried = 1;
		device_close(d, why);
		device_kick(d);
		return;
	}
	device_fail(d, 502, why);
}

static void
device_connect(struct device *d)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
	    .ai_flags = AI_NUMERICSERV }, *res;
	char port[8];
	int rc, one = 1;

	snprintf(port, sizeof(port), "%u", d->conf->port);
	if ((rc = getaddrinfo(d->conf->host, port, &hints, &res)) != 0) {
		device_fail(d, 502, gai_strerror(rc));
		return;
	}
	d->fd = socket(res->ai_family, res->ai_socktype | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, res->ai_protocol);
	if (d->fd == -1 || (connect(d->fd, res->ai_addr, res->ai_addrlen) ==
	    -1 && errno != EINPROGRESS)) {
		freeaddrinfo(res);
		device_fail(d, 502, strerror(errno));
		return;
	}
	freeaddrinfo(res);
	/* a request goes out whole: Nagle would only delay its tail */
	setsockopt(d->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	d->connecting = 1;
	d->reused = 0;
	memset(&d->sess, 0, sizeof(d->sess));
}

/* Writes the head job's request. */
static void
device_write(struct device *d)
{
	struct job *j = d->q[d->qhead];

	if (adapter_write(d->fd, j->req.data, j->req.len, &d->sent) == -1)
		device_lost(d, strerror(errno));
}

/* Puts the next job on the wire, answering those whose time is up. */
static void
device_kick(struct device *d)
{
	while (d->qlen > 0 && !d->busy) {
		struct job *j = d->q[d->qhead];

		if (adapter_now_ms() >= j->deadline_ms) {
			cnt.dev_timeouts++;
			job_error(d->conf->uuid, j, 504, "no answer in time");
			job_pop(d);
			continue;
		}
		if (d->fd == -1) {
			device_connect(d);
			if (d->fd == -1)
				continue;	/* failed and answered */
		}
		d->busy = 1;
		d->sent = 0;
		d->inlen = 0;
		sess_expect(&d->sess, j->method);
		if (!d->connecting)
			device_write(d);
	}
}

/* The head job's response, whole: n bytes at the start of the input. */
static void
device_answer(struct device *d, size_t n)
{
	struct job *j = d->q[d->qhead];
	const char *version;
	xmpp_stanza_t *el;
	struct xgw_err e;
	int close;

	if (xgw_http_decode(adapter_ctx(ad), &d->sess, XGW_RESPONSE, d->in, n,
	    &el, &e) == -1) {
		cnt.dev_bad++;
		device_fail(d, 502, e.msg);
		return;
	}
	cnt.dev_answers++;
	version = xmpp_stanza_get_attribute(el, "version");
	/* what the device will do next: close, or wait for the next request */
	close = j->close || d->sess.switched ||
	    field_has_token(el, "Connection", "close") ||
	    (version != NULL && strcmp(version, "HTTP/1.0") == 0);
	if (job_send(d->conf->uuid, j, el) == -1 && errno == EMSGSIZE) {
		cnt.dev_bad++;
		log_warnx("device %s: response of %zu bytes too large for one "
		    "stanza; answered 502", d->conf->uuid, n);
		job_error(d->conf->uuid, j, 502, "response too large for the "
		    "gateway");
	}
	xmpp_stanza_release(el);
	memmove(d->in, d->in + n, d->inlen - n);
	d->inlen -= n;
	job_pop(d);
	d->reused = 1;
	if (close)
		device_close(d, "the exchange ends the connection");
}

/* Cuts what the device sent: interim (1xx) answers are skipped. */
static void
device_input(struct device *d, int eof)
{
	struct xgw_err e;
	size_t n;
	int rc;

	while (d->busy && d->inlen > 0) {
		rc = xgw_http_frame(&d->sess, XGW_RESPONSE, d->in, d->inlen, &n,
		    &e);
		if (rc == 0 && eof)
			rc = xgw_http_frame_eof(&d->sess, XGW_RESPONSE, d->in,
			    d->inlen, &n, &e);
		if (rc == -1) {
			cnt.dev_bad++;
			device_fail(d, 502, e.msg);
			return;
		}
		if (rc == 0) {
			if (d->inlen == MSG_MAX)
				device_fail(d, 502, "response larger than the "
				    "gateway's bound");
			return;
		}
		/* "HTTP/1.x NNN": 1xx but 101 announce the answer to come */
		if (d->in[9] == '1' && memcmp(d->in + 9, "101", 3) != 0) {
			cnt.dev_interim++;
			memmove(d->in, d->in + n, d->inlen - n);
			d->inlen -= n;
			continue;
		}
		device_answer(d, n);
		if (d->fd == -1)
			return;
	}
}

static void
device_read(struct device *d)
{
	ssize_t n;

	n = recv(d->fd, d->in + d->inlen, MSG_MAX - d->inlen, 0);
	if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK ||
	    errno == EINTR))
		return;
	if (n > 0) {
		d->inlen += n;
		if (!d->busy) {
			/* nothing was asked: the stream can no longer be trusted */
			device_close(d, "bytes sent unasked");
			return;
		}
		device_input(d, 0);
		return;
	}
	if (!d->busy)
		device_close(d, n == 0 ? "closed by the device" : strerror(errno));
	else if (d->inlen == 0)
		device_lost(d, n == 0 ? "closed by the device" : strerror(errno));
	else {
		device_input(d, 1);
		if (d->busy)
			device_fail(d, 502, "closed inside the response");
	}
}

static void
device_connected(struct device *d)
{
	socklen_t sl = sizeof(int);
	int err = 0;

	if (getsockopt(d->fd, SOL_SOCKET, SO_ERROR, &err, &sl) == -1)
		err = errno;
	if (err != 0) {
		device_fail(d, 502, strerror(err));
		return;
	}
	d->connecting = 0;
	log_debug("device %s (%s port %u) connected", d->conf->uuid,
	    d->conf->host, d->conf->port);
	device_write(d);
}

/* A request stanza for one of our devices. */
void
device_request(const struct xgw_meta *m, xmpp_stanza_t *el)
{
	int di = adapter_device(ad, m->dst);
	struct device *d = di == -1 ? NULL : &devices[di];
	const char *kind = xmpp_stanza_get_attribute(el, "kind");
	struct xgw_err e;
	struct job *j;

	cnt.dev_requests++;
	if ((j = calloc(1, sizeof(*j))) == NULL)
		fatal("request");
	j->flow = m->flow;
	j->seq = m->seq;
	memcpy(j->from, m->src, sizeof(j->from));
	snprintf(j->method, sizeof(j->method), "%s", el_method(el));
	if (kind == NULL || strcmp(kind, "request") != 0 ||
	    xgw_http_encode(el, &j->req, &e) == -1) {
		cnt.dev_bad++;
		log_warnx("request flow=%llu seq=%llu for %s: not an HTTP "
		    "request: %s; answered 502", (unsigned long long)m->flow,
		    (unsigned long long)m->seq, m->dst, kind == NULL ||
		    strcmp(kind, "request") != 0 ? "kind is not request" :
		    e.msg);
		job_error(m->dst, j, 502, "not an HTTP request");
	} else if (d == NULL || d->qlen == DEV_QUEUE) {
		log_warnx("request flow=%llu seq=%llu: %s %s; answered 502",
		    (unsigned long long)m->flow, (unsigned long long)m->seq,
		    d == NULL ? "no device" : "queue full for device", m->dst);
		job_error(m->dst, j, 502, d == NULL ? "no such device" :
		    "device busy");
	} else {
		j->close = field_has_token(el, "Connection", "close");
		j->deadline_ms = adapter_now_ms() + d->conf->timeout_ms;
		d->q[(d->qhead + d->qlen++) % DEV_QUEUE] = j;
		device_kick(d);
		return;
	}
	xgw_buf_free(&j->req);
	free(j);
}

int
device_open(const struct conf_adapter *c)
{
	ndevices = c->ndevices;
	if (ndevices == 0)
		return 0;
	if ((devices = calloc(ndevices, sizeof(*devices))) == NULL) {
		log_warn("devices");
		return -1;
	}
	for (int i = 0; i < ndevices; i++) {
		devices[i].conf = &c->devices[i];
		devices[i].fd = -1;
		if ((devices[i].in = malloc(MSG_MAX)) == NULL) {
			log_warn("device %s", c->devices[i].uuid);
			return -1;
		}
	}
	return 0;
}

int
device_pollfds(struct pollfd *pfd, int max)
{
	int n = 0;

	for (int i = 0; i < ndevices && n < max; i++) {
		struct device *d = &devices[i];
		short ev = POLLIN;

		if (d->fd == -1)
			continue;
		if (d->connecting || (d->busy && d->sent < d->q[d->qhead]->req.len))
			ev = d->connecting ? POLLOUT : POLLIN | POLLOUT;
		polled[n] = i;
		pfd[n++] = (struct pollfd){ d->fd, ev, 0 };
	}
	return n;
}

void
device_run(const struct pollfd *pfd, int n)
{
	for (int i = 0; i < n; i++) {
		struct device *d = &devices[polled[i]];
		short re = pfd[i].revents;

		if (d->fd != pfd[i].fd || re == 0)
			continue;
		if (d->connecting)
			device_connected(d);
		else {
			if (re & POLLOUT)
				device_write(d);
			if (d->fd != -1 && (re & (POLLIN | POLLHUP | POLLERR)))
				device_read(d);
		}
		device_kick(d);
	}
}

int
device_timeout_ms(uint64_t now)
{
	uint64_t next = UINT64_MAX;

	for (int i = 0; i < ndevices; i++)
		if (devices[i].busy &&
		    devices[i].q[devices[i].qhead]->deadline_ms < next)
			next = devices[i].q[devices[i].qhead]->deadline_ms;
	if (next == UINT64_MAX)
		return -1;
	return next <= now ? 0 : (int)(next - now);
}

/*
 * A request on the wire past its time: 504, and the connection goes,
 * since a late answer could not be told from the next one's.
 */
void
device_timers(uint64_t now)
{
	for (int i = 0; i < ndevices; i++) {
		struct device *d = &devices[i];

		if (d->busy && now >= d->q[d->qhead]->deadline_ms) {
			cnt.dev_timeouts++;
			device_fail(d, 504, "no answer in time");
			device_kick(d);
		}
	}
}
