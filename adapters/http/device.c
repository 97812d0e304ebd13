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
 * again, non-blocking, when a request comes and there is none.  A
 * streamed request is written as its parts come, each acknowledged once
 * written (the newest once the next came), until its end or a cancel from
 * the client side; a streamed answer goes back a part for each pull,
 * until its end or a cancel.
 * Streamed bodies are held to the device's body-max, else the block's.
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
#define FINISHED	8	/* streams remembered past their end */
/*
 * A streamed request's bytes are held from its first while no more than
 * this was queued, so that it can be sent again on a new connection
 * (device_lost); past it, what is written is let go.
 */
#define HOLD_MAX	(WINDOW * PART_MAX)

/* A request body part (0: the head) acknowledged once written through end. */
struct ack {
	uint64_t	 seq, part, end;
};

struct job {
	uint64_t	 flow, seq;	/* seq: of the request the answer answers */
	char		 from[46];	/* the requester: the response's dst */
	char		 method[XGW_HTTP_METHOD_MAX + 1];
	uint64_t	 deadline_ms;	/* arrival (of the last part, pull) + the device's timeout */
	int		 close;		/* the exchange ends its connection */
	int		 retried;
	int		 dead;		/* its stream broke while it waited */
	int		 cut;		/* answered before its body was all written */
	struct xgw_buf	 req;		/* the bytes for the device (not yet written) */
	uint64_t	 stream;	/* the exchange's stream; 0: none yet */
	/* a streamed request body, restored as its parts come */
	int		 streamed;
	int		 up_open;	/* parts are still to come */
	uint64_t	 up_next;	/* the part due next */
	uint64_t	 queued, written;	/* bytes of the request */
	int		 dropped;	/* written bytes let go: no retry */
	struct xgw_http_body up;
	struct ack	 acks[WINDOW + 1];
	int		 nacks;
	/* a streamed response body, sent a part for each pull */
	int		 down, down_eof;
	uint64_t	 pull_next, part_next;
	uint64_t	 pulls[WINDOW];	/* the seqs of pulls waiting for a part */
	int		 npulls;
	struct xgw_http_body dn;
};

/*
 * A stream that ended: pulls past the end of its answer get an empty last
 * part, parts of a body cut short an acknowledgement, or the answer owed
 * to the upload when none could be sent.
 */
struct finished {
	char		 from[46];
	uint64_t	 flow, stream;
	unsigned	 status;	/* owed to the next part; 0: none */
	char		 method[XGW_HTTP_METHOD_MAX + 1];
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
	struct finished	 done[FINISHED];	/* a ring */
	int		 ndone;
};

static struct device *devices;
static int ndevices;
static int polled[CONF_MAX_DEVICES];

static void device_kick(struct device *);
static void upload_cut(struct device *, struct job *, uint64_t seq,
    unsigned status);

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

/* An answer made here (413, 502, 504) for job j; j->close says so in it. */
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
	if (http_answer(&b, status, j->method, text, j->close) == -1 ||
	    xgw_http_decode(adapter_ctx(ad), &s, XGW_RESPONSE, b.data, b.len,
	    &el, &e) == -1)
		fatalx("the %u answer does not decode", status);
	xgw_buf_free(&b);
	job_send(uuid, j, el);
	xmpp_stanza_release(el);
}

static void
job_free(struct job *j)
{
	xgw_buf_free(&j->req);
	xgw_http_body_free(&j->up);
	xgw_http_body_free(&j->dn);
	free(j);
}

static void
job_pop(struct device *d)
{
	struct job *j = d->q[d->qhead];

	job_free(j);
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

/*
 * The head job failed: answered with status, the connection dropped.  The
 * answer to an upload answers a part: the oldest one unacknowledged, else
 * (only the head came) the first to come.
 */
static void
device_fail(struct device *d, unsigned status, const char *why)
{
	struct job *j = d->q[d->qhead];

	log_warnx("device %s (%s port %u): %s %s: %s; answered %u",
	    d->conf->uuid, d->conf->host, d->conf->port, j->method,
	    status == 504 ? "timed out" : "failed", why, status);
	device_close(d, why);
	if (j->up_open && j->nacks == 0)
		upload_cut(d, j, 0, status);
	else {
		if (j->up_open)
			upload_cut(d, j, j->acks[0].seq, 0);
		job_error(d->conf->uuid, j, status, why);
	}
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
 * new connection, anything else fails.  A streamed one goes again only
 * while all of it that was written is still held (HOLD_MAX), and before
 * its body was cut short.
 */
static void
device_lost(struct device *d, const char *why)
{
	struct job *j = d->q[d->qhead];

	if (d->reused && d->inlen == 0 && !j->retried && !j->dropped &&
	    !j->cut && idempotent(j->method)) {
		cnt.dev_retries++;
		j->retried = 1;
		/* acknowledged as it is written again */
		j->written = 0;
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

/* A response element (an answer made here, a part, an acknowledgement) for j's exchange. */
static int
stream_send(const struct device *d, const struct job *j, uint64_t seq,
    xmpp_stanza_t *el)
{
	struct xgw_meta m = { .flow = j->flow, .seq = seq,
	    .dir = XGW_RESPONSE };

	memcpy(m.src, d->conf->uuid, sizeof(m.src));
	memcpy(m.dst, j->from, sizeof(m.dst));
	if (part_send(&m, el, NULL) == 0)
		return 0;
	log_warn("device %s flow=%llu seq=%llu: stream element not queued",
	    d->conf->uuid, (unsigned long long)j->flow,
	    (unsigned long long)seq);
	return -1;
}

/*
 * Acknowledges the parts of a streamed request now written to the device,
 * but for the newest part while more are to come: the client side then
 * always waits for an answer of the stream, which an answer the device
 * sends before the end of the body can be (early_answer), even when the
 * client stopped sending.  The head's is never held: the body waits for it.
 */
static void
acks_written(struct device *d, struct job *j)
{
	while (j->nacks > 0 && j->acks[0].end <= j->written &&
	    !(j->up_open && j->nacks == 1 && j->acks[0].part > 0)) {
		stream_send(d, j, j->acks[0].seq, part_new(XGW_HTTP_ACK,
		    j->stream, j->acks[0].part, 0, NULL, 0));
		memmove(j->acks, j->acks + 1, --j->nacks * sizeof(j->acks[0]));
	}
}

/* Writes the head job's request. */
static void
device_write(struct device *d)
{
	struct job *j = d->q[d->qhead];
	size_t was = d->sent;

	if (adapter_write(d->fd, j->req.data, j->req.len, &d->sent) == -1) {
		device_lost(d, strerror(errno));
		return;
	}
	if (!j->streamed)
		return;
	j->written += d->sent - was;
	if (d->sent > was)
		j->deadline_ms = adapter_now_ms() + d->conf->timeout_ms;
	/*
	 * What is written is let go once the request is past HOLD_MAX: the
	 * job holds at most the window and what it may send again.
	 */
	if (d->sent == j->req.len && j->queued > HOLD_MAX) {
		j->req.len = d->sent = 0;
		j->dropped = 1;
	}
	acks_written(d, j);
}

/* Puts the next job on the wire, answering those whose time is up. */
static void
device_kick(struct device *d)
{
	while (d->qlen > 0 && !d->busy) {
		struct job *j = d->q[d->qhead];

		if (j->dead) {
			job_pop(d);
			continue;
		}
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
	/*
	 * What the device will do next: close, or wait for the next request;
	 * one that answered before it read the whole request cannot take
	 * another on this connection.
	 */
	close = j->close || d->sess.switched || d->sent < j->req.len ||
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

/* The device's connection is over (closed, reset): nothing more comes. */
static void
device_shut(struct device *d)
{
	close(d->fd);
	d->fd = -1;
	d->connecting = d->reused = 0;
}

/*
 * j's stream ends here, cut short: the pulls waiting are answered with a
 * cancel, so that the client side cuts its answer now, and the job goes
 * with the connection when it is on the wire, else when its turn comes.
 */
static void
stream_end(struct device *d, struct job *j, const char *why)
{
	for (int i = 0; i < j->npulls; i++)
		stream_send(d, j, j->pulls[i], part_new(XGW_HTTP_CANCEL,
		    j->stream, j->part_next + i, 0, NULL, 0));
	j->npulls = 0;
	if (j != d->q[d->qhead] || !d->busy) {
		j->dead = 1;
		return;
	}
	if (d->fd != -1)
		device_close(d, why);
	d->inlen = 0;
	job_pop(d);
}

/* j's stream cannot go on. */
static void
device_broken(struct device *d, struct job *j, const char *why)
{
	cnt.dev_streams_broken++;
	log_warnx("device %s flow=%llu stream=%llu: stream broken: %s; "
	    "connection closed", d->conf->uuid, (unsigned long long)j->flow,
	    (unsigned long long)j->stream, why);
	stream_end(d, j, why);
}

/* j's stream is over here: what still comes for it is answered so. */
static void
stream_finish(struct device *d, const struct job *j, unsigned status)
{
	struct finished *f = &d->done[d->ndone++ % FINISHED];

	memcpy(f->from, j->from, sizeof(f->from));
	f->flow = j->flow;
	f->stream = j->stream;
	f->status = status;
	memcpy(f->method, j->method, sizeof(f->method));
}

/* The head job's streamed answer is over: the connection goes on, or not. */
static void
stream_done(struct device *d, struct job *j)
{
	stream_finish(d, j, 0);
	/* pulls already here, past the end: each gets an empty last part */
	for (int i = 0; i < j->npulls; i++)
		stream_send(d, j, j->pulls[i], part_new(XGW_HTTP_PART,
		    j->stream, j->part_next + i, 1, NULL, 0));
	if (d->inlen > 0 || d->fd == -1 || j->close)
		device_close(d, d->inlen > 0 ? "bytes after the answer" :
		    "the exchange ends the connection");
	d->inlen = 0;
	job_pop(d);
	d->reused = d->fd != -1;
}

/* Answers the pulls waiting with the parts the input holds. */
static void
device_serve(struct device *d)
{
	struct job *j = d->q[d->qhead];
	struct xgw_err e;
	size_t used;
	int rc;

	while (j->npulls > 0 && (d->inlen > 0 || j->down_eof)) {
		rc = xgw_http_body_walk(&j->dn, d->in, d->inlen < PART_MAX ?
		    d->inlen : PART_MAX, &used, &e);
		if (rc == 0 && j->down_eof && used == d->inlen)
			rc = xgw_http_body_eof(&j->dn, &e);
		if (rc == -1) {
			cnt.dev_bad++;
			device_broken(d, j, e.msg);
			return;
		}
		if (stream_send(d, j, j->pulls[0], part_new(XGW_HTTP_PART,
		    j->stream, j->part_next, rc == 1, d->in, used)) == -1) {
			device_broken(d, j, "a part not queued");
			return;
		}
		j->part_next++;
		memmove(j->pulls, j->pulls + 1, --j->npulls * sizeof(j->pulls[0]));
		memmove(d->in, d->in + used, d->inlen - used);
		d->inlen -= used;
		if (rc == 1) {
			stream_done(d, j);
			return;
		}
	}
}

/*
 * The head job's answer does not fit one element: its head goes back
 * now, with the stream that names it, and its body a part for each pull.
 */
static void
device_stream(struct device *d)
{
	struct job *j = d->q[d->qhead];
	const char *version;
	xmpp_stanza_t *el;
	struct xgw_err e;
	size_t hlen;
	int rc;

	rc = xgw_http_head(adapter_ctx(ad), &d->sess, XGW_RESPONSE, d->in,
	    d->inlen, &hlen, &el, &j->dn, &e);
	if (rc != 1 || j->dn.mode == XGW_HTTP_NONE ||
	    (j->dn.mode == XGW_HTTP_LENGTH &&
	    j->dn.left > body_max(d->conf->body_max))) {
		cnt.dev_bad++;
		if (rc == 1)
			xmpp_stanza_release(el);
		device_fail(d, 502, rc == -1 ? e.msg : "response larger than "
		    "the gateway's bound");
		return;
	}
	j->dn.max = body_max(d->conf->body_max);
	if (j->stream == 0)
		j->stream = j->seq;
	version = xmpp_stanza_get_attribute(el, "version");
	j->close |= field_has_token(el, "Connection", "close") ||
	    (version != NULL && strcmp(version, "HTTP/1.0") == 0) ||
	    j->dn.mode == XGW_HTTP_CLOSE || d->sent < j->req.len;
	if (xgw_set_uint(el, "stream", j->stream) == -1 ||
	    job_send(d->conf->uuid, j, el) == -1) {
		xmpp_stanza_release(el);
		device_broken(d, j, "the head not queued");
		return;
	}
	xmpp_stanza_release(el);
	cnt.dev_answers++;
	cnt.dev_streams++;
	j->down = 1;
	j->pull_next = j->part_next = 1;
	j->deadline_ms = adapter_now_ms() + d->conf->timeout_ms;
	memmove(d->in, d->in + hlen, d->inlen - hlen);
	d->inlen -= hlen;
}

/*
 * The upload of j is over before its end: its answer goes back as the
 * answer to the request seq (or, with status, to the next part to come),
 * the parts still to come are acknowledged and dropped, and the
 * connection ends with the exchange, as the device did not read the rest
 * (RFC 9112 9.3, 9.6).
 */
static void
upload_cut(struct device *d, struct job *j, uint64_t seq, unsigned status)
{
	j->seq = seq;
	j->up_open = 0;
	j->cut = j->close = 1;
	j->req.len = 0;
	if (d->busy && j == d->q[d->qhead])
		d->sent = 0;
	for (int i = 0; i < j->nacks; i++)
		if (j->acks[i].seq != seq)
			stream_send(d, j, j->acks[i].seq, part_new(XGW_HTTP_ACK,
			    j->stream, j->acks[i].part, 0, NULL, 0));
	j->nacks = 0;
	stream_finish(d, j, status);
}

/* Whether the input begins with a final answer: not 1xx, or 101. */
static int
final_answer(const struct device *d)
{
	return d->inlen >= 12 && (d->in[9] != '1' ||
	    memcmp(d->in + 9, "101", 3) == 0);
}

/*
 * The device answers while the request's body is still coming: an
 * interim answer is skipped as any; a final one cuts the upload short,
 * answering the oldest part not yet acknowledged (acks_written holds
 * one), or the first part to come when only the head came.  1 when the
 * input may be cut now.
 */
static int
early_answer(struct device *d, struct job *j)
{
	if (d->inlen < 12)
		return 0;
	if (!final_answer(d))
		return 1;
	if (j->nacks == 0)
		return 0;
	log_info("device %s flow=%llu stream=%llu: answered before the "
	    "whole body was read; the rest is dropped", d->conf->uuid,
	    (unsigned long long)j->flow, (unsigned long long)j->stream);
	upload_cut(d, j, j->acks[0].seq, 0);
	return 1;
}

/* Cuts what the device sent: interim (1xx) answers are skipped. */
static void
device_input(struct device *d, int eof)
{
	struct xgw_err e;
	size_t n;
	int rc;

	while (d->busy && d->inlen > 0) {
		struct job *j = d->q[d->qhead];

		if (j->up_open && !early_answer(d, j))
			return;
		if (j->down) {
			device_serve(d);
			return;
		}
		rc = xgw_http_frame(&d->sess, XGW_RESPONSE, d->in, d->inlen, &n,
		    &e);
		if (rc == 0 && eof)
			rc = xgw_http_frame_eof(&d->sess, XGW_RESPONSE, d->in,
			    d->inlen, &n, &e);
		if (rc == -1 && strcmp(e.reason, "too-large") != 0) {
			cnt.dev_bad++;
			device_fail(d, 502, e.msg);
			return;
		}
		if (rc != 1) {
			/* too large to carry whole: streamed */
			if (rc == -1 || d->inlen == MSG_MAX)
				device_stream(d);
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

	if (d->inlen == MSG_MAX)
		return;		/* read again once pulls took some */
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
	else if (d->q[d->qhead]->down) {
		/* what the input holds still goes, a part for each pull */
		if (n == -1) {
			device_broken(d, d->q[d->qhead], strerror(errno));
			return;
		}
		d->q[d->qhead]->down_eof = 1;
		device_shut(d);
		device_serve(d);
	} else if (d->inlen == 0)
		device_lost(d, n == 0 ? "closed by the device" : strerror(errno));
	else if (d->q[d->qhead]->up_open && final_answer(d)) {
		/* an answer before the end of the body: it waits for a part */
		device_shut(d);
		device_input(d, 1);
	} else {
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

/*
 * The head of a streamed request: its body comes in parts, each checked
 * by the walker before it is written; the head itself is acknowledged
 * (part 0) once written to the device.
 */
static int
upload_open(const struct device *d, struct job *j, xmpp_stanza_t *el)
{
	struct xgw_err e;
	size_t hlen;

	if (xgw_get_uint(el, "stream", UINT64_MAX, &j->stream, &e) == -1 ||
	    j->stream == 0 || xgw_http_head(NULL, NULL, XGW_REQUEST,
	    j->req.data, j->req.len, &hlen, NULL, &j->up, &e) != 1)
		return -1;
	cnt.dev_streams++;
	j->up.max = head_bound(el, body_max(d->conf->body_max));
	j->streamed = j->up_open = 1;
	j->up_next = 1;
	j->queued = j->req.len;
	j->acks[0] = (struct ack){ j->seq, 0, j->queued };
	j->nacks = 1;
	return 0;
}

/* The job of a stream (flow, stream, requester) on device d, if any. */
static struct job *
job_of(struct device *d, const struct xgw_meta *m, uint64_t stream)
{
	for (int i = 0; i < d->qlen; i++) {
		struct job *j = d->q[(d->qhead + i) % DEV_QUEUE];

		if (j->stream == stream && j->flow == m->flow &&
		    strcmp(j->from, m->src) == 0 && !j->dead)
			return j;
	}
	return NULL;
}

/* The answer an upload that failed owes, to its next part (request m). */
static void
past_end_answer(struct device *d, struct finished *f, const struct xgw_meta *m)
{
	struct job t = { .flow = m->flow, .seq = m->seq, .close = 1 };

	memcpy(t.from, m->src, sizeof(t.from));
	memcpy(t.method, f->method, sizeof(t.method));
	job_error(d->conf->uuid, &t, f->status, "the device's connection "
	    "failed");
	f->status = 0;
}

/* el, a stream element, answers the request m of no job here. */
static void
stream_answer(const struct xgw_meta *m, xmpp_stanza_t *el)
{
	struct xgw_meta r = { .flow = m->flow, .seq = m->seq,
	    .dir = XGW_RESPONSE };

	memcpy(r.src, m->dst, sizeof(r.src));
	memcpy(r.dst, m->src, sizeof(r.dst));
	part_send(&r, el, NULL);
}

/*
 * A pull past the end of an answer streamed here: an empty last part; a
 * part of a body cut short: its acknowledgement, or the answer it owes.
 */
static int
past_end(struct device *d, const struct xgw_meta *m,
    const struct xgw_http_part *pt)
{
	for (int i = 0; i < FINISHED; i++) {
		struct finished *f = &d->done[i];

		if (f->stream != pt->stream || f->flow != m->flow ||
		    strcmp(f->from, m->src) != 0)
			continue;
		if (f->status != 0 && pt->kind == XGW_HTTP_PART) {
			past_end_answer(d, f, m);
			return 1;
		}
		stream_answer(m, part_new(pt->kind == XGW_HTTP_PULL ?
		    XGW_HTTP_PART : XGW_HTTP_ACK, pt->stream, pt->part,
		    pt->kind == XGW_HTTP_PULL, NULL, 0));
		return 1;
	}
	return 0;
}

/*
 * The client side ended the exchange of job j (its client left, it
 * ended the request's body, or it or a policy stage cut the answer): the
 * device's connection goes now rather than by the device's timer, and
 * never with a cut body taken for a whole one.  The cancel is answered with one, whether the stream
 * is still here or not.
 */
static void
stream_cancel(struct device *d, struct job *j, const struct xgw_meta *m,
    const struct xgw_http_part *pt)
{
	if (j != NULL) {
		cnt.dev_cancelled++;
		log_info("device %s flow=%llu stream=%llu: the client side "
		    "ended the stream; connection closed", d->conf->uuid,
		    (unsigned long long)m->flow,
		    (unsigned long long)pt->stream);
		stream_end(d, j, "the client side ended the stream");
	}
	stream_answer(m, part_new(XGW_HTTP_CANCEL, pt->stream, pt->part, 0,
	    NULL, 0));
}

/*
 * A part takes the body past its bound (the block's body-max, or the one
 * a policy wrote on the head): it is not written, 413 answers it, and the
 * device's connection ends, so that the device never takes a cut body
 * for a whole one.
 */
static void
upload_over(struct device *d, struct job *j, uint64_t seq, const char *why)
{
	log_warnx("device %s flow=%llu stream=%llu: %s; answered 413, "
	    "connection closed", d->conf->uuid, (unsigned long long)j->flow,
	    (unsigned long long)j->stream, why);
	upload_cut(d, j, seq, 0);
	job_error(d->conf->uuid, j, 413, "the body is larger than the "
	    "gateway's bound");
	if (d->busy && j == d->q[d->qhead]) {
		device_close(d, why);
		job_pop(d);
	} else
		j->dead = 1;
}

/* Part K of a streamed request body: the one due, and good, or the stream ends. */
static void
upload_part(struct device *d, struct job *j, const struct xgw_meta *m,
    const struct xgw_http_part *pt, struct xgw_buf *data)
{
	struct xgw_err e = { .msg = "out of memory" };
	char why[200];
	size_t used;
	int rc;

	if (j->cut) {
		/* sent before the client side learnt of the answer */
		stream_send(d, j, m->seq, part_new(XGW_HTTP_ACK, j->stream,
		    pt->part, 0, NULL, 0));
		return;
	}
	if (j->up_open && d->busy && j == d->q[d->qhead] && final_answer(d)) {
		upload_cut(d, j, m->seq, 0);
		device_input(d, d->fd == -1);
		return;
	}
	if (!j->up_open || pt->part != j->up_next || j->nacks > WINDOW) {
		snprintf(why, sizeof(why), "part %llu where %llu was due%s",
		    (unsigned long long)pt->part,
		    (unsigned long long)j->up_next, j->nacks > WINDOW ?
		    ", beyond the window" : "");
		device_broken(d, j, why);
		return;
	}
	rc = xgw_http_body_walk(&j->up, data->data, data->len, &used, &e);
	if (rc == -1 && strcmp(e.reason, "too-large") == 0) {
		upload_over(d, j, m->seq, e.msg);
		return;
	}
	if (rc == -1 || used != data->len || rc != pt->last) {
		snprintf(why, sizeof(why), "part %llu: %s",
		    (unsigned long long)pt->part, rc == -1 ? e.msg :
		    pt->last ? "the body does not end with the last part" :
		    "bytes after the end of the body");
		device_broken(d, j, why);
		return;
	}
	if (xgw_buf_put(&j->req, data->data, data->len, &e) == -1) {
		device_broken(d, j, e.msg);
		return;
	}
	j->queued += data->len;
	j->up_next++;
	j->deadline_ms = adapter_now_ms() + d->conf->timeout_ms;
	if (pt->last) {
		/* the device's answer answers the last part */
		j->seq = m->seq;
		j->up_open = 0;
	} else
		j->acks[j->nacks++] = (struct ack){ m->seq, pt->part,
		    j->queued };
	if (d->busy && j == d->q[d->qhead] && !d->connecting && d->fd != -1)
		device_write(d);
}

/* A pull for part K of a streamed answer. */
static void
download_pull(struct device *d, struct job *j, const struct xgw_meta *m,
    const struct xgw_http_part *pt)
{
	char why[120];

	if (!j->down || pt->part != j->pull_next || j->npulls == WINDOW) {
		snprintf(why, sizeof(why), "pull %llu where %llu was due%s",
		    (unsigned long long)pt->part,
		    (unsigned long long)j->pull_next, j->npulls == WINDOW ?
		    ", beyond the window" : "");
		device_broken(d, j, why);
		return;
	}
	j->pulls[j->npulls++] = m->seq;
	j->pull_next++;
	j->deadline_ms = adapter_now_ms() + d->conf->timeout_ms;
	device_serve(d);
}

/*
 * A part of a streamed request, a pull for one of a streamed answer, or
 * the cancel of either.
 */
void
device_part(const struct xgw_meta *m, const struct xgw_http_part *pt,
    struct xgw_buf *data)
{
	int di = adapter_device(ad, m->dst);
	struct device *d = di == -1 ? NULL : &devices[di];
	struct job *j = d != NULL ? job_of(d, m, pt->stream) : NULL;

	if (pt->kind == XGW_HTTP_CANCEL) {
		stream_cancel(d, j, m, pt);
		if (d != NULL)
			device_kick(d);
		return;
	}
	if (j == NULL && d != NULL && pt->kind != XGW_HTTP_ACK &&
	    past_end(d, m, pt))
		return;
	if (j == NULL || pt->kind == XGW_HTTP_ACK) {
		cnt.dev_streams_broken++;
		log_warnx("request flow=%llu seq=%llu for %s: a stream element "
		    "of no stream here (stream %llu, part %llu); dropped",
		    (unsigned long long)m->flow, (unsigned long long)m->seq,
		    m->dst, (unsigned long long)pt->stream,
		    (unsigned long long)pt->part);
		return;
	}
	if (pt->kind == XGW_HTTP_PART)
		upload_part(d, j, m, pt, data);
	else
		download_pull(d, j, m, pt);
	device_kick(d);
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
	} else if (xmpp_stanza_get_attribute(el, "body") != NULL &&
	    upload_open(d, j, el) == -1) {
		cnt.dev_bad++;
		log_warnx("request flow=%llu seq=%llu: a streamed head without "
		    "its stream; answered 502", (unsigned long long)m->flow,
		    (unsigned long long)m->seq);
		job_error(m->dst, j, 502, "not an HTTP request");
	} else if (j->streamed && j->up.mode == XGW_HTTP_LENGTH &&
	    j->up.left > j->up.max) {
		log_warnx("request flow=%llu seq=%llu for %s: a body of %llu "
		    "bytes, above the device's bound; answered 413",
		    (unsigned long long)m->flow, (unsigned long long)m->seq,
		    m->dst, (unsigned long long)j->up.left);
		j->close = 1;
		job_error(m->dst, j, 413, "the body is larger than the "
		    "gateway's bound");
	} else {
		j->close = field_has_token(el, "Connection", "close");
		j->deadline_ms = adapter_now_ms() + d->conf->timeout_ms;
		d->q[(d->qhead + d->qlen++) % DEV_QUEUE] = j;
		device_kick(d);
		return;
	}
	job_free(j);
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
		/* a full input waits for pulls, or for the end of an upload */
		short ev = d->inlen < MSG_MAX ? POLLIN : 0;

		if (d->fd == -1)
			continue;
		if (d->connecting || (d->busy && d->sent < d->q[d->qhead]->req.len))
			ev = d->connecting ? POLLOUT : ev | POLLOUT;
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
			/* an answer before the write that would fail for it */
			if (re & (POLLIN | POLLHUP | POLLERR))
				device_read(d);
			if (d->fd != -1 && d->busy && (re & POLLOUT))
				device_write(d);
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
