/*
 * xgw-modbus: the Modbus/TCP adapter.
 *
 * Client side (listen): local Modbus/TCP clients connect here.  Each
 * request ADU becomes a request stanza for the remote endpoint its unit
 * routes to, with flow = the connection and seq = a counter of this
 * process; the response stanza becomes the answer, carrying the client's
 * own transaction id again.
 *
 * Device side (device): a request stanza for a local device becomes an
 * ADU on that device's one TCP connection (libmodbus), one request on the
 * wire at a time, the rest waiting in the device's own queue, so a slow or
 * dead device delays nobody else.  Its answer goes back as the response
 * stanza, with the requester's transaction id and unit.
 *
 * Polling (poll): a device's points are read at an interval through the
 * same queue, one read of a cycle in it at a time, with contiguous points
 * merged into one request (conf_poll_merge); each cycle is published as
 * one event, a <readings> element (transforms/SCHEMA-readings.md).
 *
 * Both sides and fd 3 to xgwd share one poll loop.  Whatever cannot be
 * carried is answered with the gateway exceptions: 0x0A (path unavailable)
 * or 0x0B (target device failed to respond), never with silence.
 */
#include <sys/socket.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <modbus/modbus.h>	/* libmodbus; "modbus.h" is the transform */

#include "adapter.h"
#include "log.h"
#include "modbus.h"

#define ADU_MAX		XGW_MODBUS_ADU_MAX
#define MAX_CLIENTS	256
#define CLIENT_INFLIGHT	16	/* pipelined requests of one client */
#define CLIENT_IN	(2 * ADU_MAX)
/*
 * A client's input is read only while its unsent answers stay below
 * OUT_HIGH; then the answer of one more ADU and of every request in
 * flight always fit, and a client that does not read cannot make us
 * buffer without bound.
 */
#define OUT_HIGH	(CLIENT_INFLIGHT * ADU_MAX)
#define CLIENT_OUT	(OUT_HIGH + (CLIENT_INFLIGHT + 1) * ADU_MAX)
#define DEV_QUEUE	32	/* requests waiting for one device */
#define CONNECT_MAX_MS	100	/* bound of a blocking connect to a device */
#define BACKOFF_MIN_MS	250
#define BACKOFF_MAX_MS	8000
#define STATS_MS	10000	/* counters go to xgwd at most this often */

#define NS_READINGS	"urn:xgw:readings:1"
#define READ_DATA_MAX	250	/* the data of 125 registers or 2000 bits */

#define EX_ILLEGAL_VALUE	0x03
#define EX_PATH_UNAVAILABLE	0x0a
#define EX_TARGET_FAILED	0x0b

struct client {
	int		 fd;
	uint64_t	 id;		/* the flow of its requests */
	char		 peer[ADAPTER_PEER_MAX];
	unsigned	 inflight;
	size_t		 inlen, outlen;
	uint8_t		 in[CLIENT_IN];
	uint8_t		 out[CLIENT_OUT];
};

/* The cookie of a request in flight: who asked, with which transaction. */
struct call {
	int		 slot;		/* in clients[], valid while id matches */
	uint64_t	 id;
	uint16_t	 tid;
	uint8_t		 unit, fc;
};

struct poll;

struct job {
	struct poll	*poll;		/* a read of a poll cycle, or NULL */
	int		 read;		/* its index in the poll's reads */
	uint64_t	 flow, seq;
	char		 from[46];	/* the requester: the response's dst */
	uint64_t	 deadline_ms;	/* arrival + the device's timeout */
	size_t		 len;
	uint8_t		 adu[ADU_MAX];	/* as the requester sent it */
};

/* The queue last: a device that never queues deep touches one page, not three. */
struct device {
	const struct conf_device *conf;
	modbus_t	*mb;
	int		 fd;		/* -1: not connected */
	int		 qhead, qlen;
	int		 busy;
	uint16_t	 tid;		/* of the request on the wire */
	size_t		 inlen;
	uint64_t	 retry_ms;	/* next connect attempt */
	unsigned	 backoff_ms;
	int		 failing;	/* connect failures logged once a streak */
	uint8_t		 in[2 * ADU_MAX];
	struct job	 q[DEV_QUEUE];	/* a ring; q[qhead] is on the wire when busy */
};

/* What one read of a poll cycle brought back. */
struct result {
	char		 ts[32];	/* when it came back, or failed */
	char		 error[16];	/* "" when data holds the answer */
	uint8_t		 data[READ_DATA_MAX];
};

struct poll {
	const struct conf_poll	*conf;
	const struct conf_point	*points;	/* conf->npoints of them */
	struct device		*dev;
	struct conf_read	*reads;
	int			*read_of;	/* per point: the read that has it */
	struct result		*res;		/* per read */
	int			 nreads;
	int			 next;		/* reads queued this cycle; -1: idle */
	int			 done;
	uint64_t		 flow, seq;	/* of its events: one flow, a seq per cycle */
	uint64_t		 due_ms;
};

struct counters {
	uint64_t	 accepted, refused, requests, malformed, noroute;
	uint64_t	 path_failed, timed_out, late;
	uint64_t	 dev_requests, dev_answers, dev_timeouts, dev_unreachable;
	uint64_t	 dev_late, dev_bad;
	uint64_t	 cycles, overruns, poll_reads, poll_bad;
	uint64_t	 events, events_taken, events_refused;
};

static struct adapter *ad;
static int listen_fd = -1;
static int route_of[256];		/* unit -> index of its route, -1 none */
static struct client *clients[MAX_CLIENTS];
static int polled[MAX_CLIENTS];		/* client slots in the order polled */
static struct device *devices;
static int ndevices;
static int dpolled[CONF_MAX_DEVICES];	/* devices in the order polled */
static struct poll *polls;
static int npolls;
static uint64_t next_flow = 1, next_seq = 1;
static struct counters st;

static void	poll_failed(struct job *, unsigned);
static void	poll_answer(struct job *, const uint8_t *, size_t);
static struct poll *poll_of_flow(uint64_t);

/* Both sides answer failures with an exception ADU of 9 bytes. */
static void
exception_adu(uint8_t p[9], unsigned tid, unsigned unit, unsigned fc,
    unsigned code)
{
	p[0] = tid >> 8;
	p[1] = tid & 0xff;
	p[2] = p[3] = p[4] = 0;
	p[5] = 3;
	p[6] = unit;
	p[7] = (fc & 0x7f) | 0x80;
	p[8] = code;
}

static void
set_nodelay(int fd)
{
	int one = 1;

	/* one small ADU at a time: Nagle would only add latency */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* Client side */

static void
client_close(int slot, const char *why)
{
	struct client *c = clients[slot];

	log_debug("client %s flow=%llu closed: %s", c->peer,
	    (unsigned long long)c->id, why);
	close(c->fd);
	free(c);
	clients[slot] = NULL;
}

static void
client_flush(int slot)
{
	struct client *c = clients[slot];
	size_t sent = 0;

	if (adapter_write(c->fd, c->out, c->outlen, &sent) == -1) {
		client_close(slot, strerror(errno));
		return;
	}
	memmove(c->out, c->out + sent, c->outlen - sent);
	c->outlen -= sent;
}

static void
client_write(int slot, const uint8_t *p, size_t n)
{
	struct client *c = clients[slot];

	if (c->outlen + n > sizeof(c->out)) {
		client_close(slot, "answers not read");
		return;
	}
	memcpy(c->out + c->outlen, p, n);
	c->outlen += n;
	client_flush(slot);
}

static void
client_exception(int slot, const uint8_t *req, unsigned code)
{
	uint8_t ex[9];

	exception_adu(ex, xgw_be16(req), req[6], req[7], code);
	client_write(slot, ex, sizeof(ex));
}

/* One request ADU of a client: to its route, or answered here. */
static void
client_request(int slot, const uint8_t *p, size_t n)
{
	struct client *c = clients[slot];
	struct xgw_meta m = { .flow = c->id, .dir = XGW_REQUEST };
	xmpp_stanza_t *el;
	struct xgw_err e;
	struct call *k;
	int r = route_of[p[6]];

	st.requests++;
	if (xgw_modbus_decode(adapter_ctx(ad), p, n, XGW_REQUEST, &el,
	    &e) == -1) {
		st.malformed++;
		log_warnx("client %s: malformed request, %s at byte %zu: %s; "
		    "answered with exception 3", c->peer, e.reason, e.offset,
		    e.msg);
		client_exception(slot, p, EX_ILLEGAL_VALUE);
		return;
	}
	if (r == -1) {
		st.noroute++;
		log_debug("client %s: no route for unit %u", c->peer, p[6]);
		client_exception(slot, p, EX_PATH_UNAVAILABLE);
	} else if ((k = malloc(sizeof(*k))) == NULL) {
		log_warn("client %s: request", c->peer);
		client_exception(slot, p, EX_PATH_UNAVAILABLE);
	} else {
		*k = (struct call){ slot, c->id, xgw_be16(p), p[6], p[7] };
		memcpy(m.src, adapter_gateway(ad), sizeof(m.src));
		memcpy(m.dst, adapter_conf(ad)->routes[r].to, sizeof(m.dst));
		m.seq = next_seq++;
		if (adapter_send(ad, &m, el, 0, k) == -1) {
			st.path_failed++;
			log_warn("client %s unit %u: request not carried",
			    c->peer, p[6]);
			free(k);
			client_exception(slot, p, EX_PATH_UNAVAILABLE);
		} else
			c->inflight++;
	}
	xmpp_stanza_release(el);
}

/* Cuts whole ADUs from the input while the client may have more in flight. */
static void
client_process(int slot)
{
	struct client *c;
	struct xgw_err e;
	size_t n;
	int rc;

	while ((c = clients[slot]) != NULL && c->inflight < CLIENT_INFLIGHT &&
	    c->outlen <= OUT_HIGH) {
		if ((rc = xgw_modbus_frame(c->in, c->inlen, &n, &e)) == 0)
			return;
		if (rc == -1) {
			/* no header to answer to: the stream is lost */
			st.malformed++;
			log_warnx("client %s: not Modbus/TCP, %s at byte %zu: "
			    "%s; connection closed", c->peer, e.reason,
			    e.offset, e.msg);
			client_close(slot, e.reason);
			return;
		}
		client_request(slot, c->in, n);
		if ((c = clients[slot]) == NULL)
			return;
		memmove(c->in, c->in + n, c->inlen - n);
		c->inlen -= n;
	}
}

static void
client_read(int slot)
{
	struct client *c = clients[slot];
	const char *why;
	ssize_t n;

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
client_wants_input(const struct client *c)
{
	return c->inflight < CLIENT_INFLIGHT && c->outlen <= OUT_HIGH &&
	    c->inlen < sizeof(c->in);
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

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return 0;
	c->fd = fd;
	c->id = next_flow++;
	snprintf(c->peer, sizeof(c->peer), "%s", peer);
	clients[slot] = c;
	return c->id;
}

static const struct adapter_clients client_table = {
	MAX_CLIENTS, client_used, client_take, &st.accepted, &st.refused
};

/* The listener (fd -1 without one: poll skips it), then each client. */
static int
client_pollfds(struct pollfd *p, int max)
{
	int n = 0;

	p[n++] = (struct pollfd){ listen_fd, POLLIN, 0 };
	for (int i = 0; i < MAX_CLIENTS && n < max; i++) {
		const struct client *c = clients[i];

		if (c == NULL)
			continue;
		polled[n - 1] = i;
		p[n++] = (struct pollfd){ c->fd,
		    (client_wants_input(c) ? POLLIN : 0) |
		    (c->outlen ? POLLOUT : 0), 0 };
	}
	return n;
}

static void
client_io(const struct pollfd *p, int n)
{
	if (p[0].revents & POLLIN)
		adapter_accept_clients(ad, listen_fd, &client_table);
	for (int i = 1; i < n; i++) {
		if (clients[polled[i - 1]] != NULL &&
		    (p[i].revents & (POLLIN | POLLHUP | POLLERR)))
			client_read(polled[i - 1]);
		if (clients[polled[i - 1]] != NULL && (p[i].revents & POLLOUT))
			client_flush(polled[i - 1]);
	}
}

/* The client of a call, if it is still connected; its request is over. */
static int
call_done(struct call *k)
{
	struct client *c = clients[k->slot];

	if (c == NULL || c->id != k->id)
		return -1;
	c->inflight--;
	return k->slot;
}

static void
call_exception(int slot, const struct call *k, unsigned code)
{
	uint8_t req[8] = { k->tid >> 8, k->tid & 0xff, 0, 0, 0, 0, k->unit,
	    k->fc };

	client_exception(slot, req, code);
}

static void
client_response(xmpp_stanza_t *el, uint64_t flow, uint64_t seq)
{
	struct call *k = adapter_answered(ad, flow, seq);
	struct xgw_buf b = { 0 };
	struct xgw_err e = { .msg = "out of memory" };
	const char *dir = xmpp_stanza_get_attribute(el, "dir");
	int slot;

	if (k == NULL) {
		st.late++;
		log_debug("response flow=%llu seq=%llu: no request waits for "
		    "it (timed out); dropped", (unsigned long long)flow,
		    (unsigned long long)seq);
		return;
	}
	if ((slot = call_done(k)) != -1) {
		if (dir != NULL && strcmp(dir, "response") == 0 &&
		    xgw_set_uint(el, "tid", k->tid) == 0 &&
		    xgw_modbus_encode(el, &b, &e) == 0)
			client_write(slot, b.data, b.len);
		else {
			log_warnx("response flow=%llu seq=%llu: not a Modbus "
			    "response (%s); answered with exception 11",
			    (unsigned long long)flow, (unsigned long long)seq,
			    dir == NULL || strcmp(dir, "response") != 0 ?
			    "dir is not response" : e.msg);
			call_exception(slot, k, EX_TARGET_FAILED);
		}
		if (clients[slot] != NULL)
			client_process(slot);
	}
	xgw_buf_free(&b);
	free(k);
}

static void
on_failed(struct adapter *a, uint64_t flow, uint64_t seq, const char *reason,
    void *cookie)
{
	struct call *k = cookie;
	int timeout = strcmp(reason, "timeout") == 0, slot;

	(void)a;
	if (k == NULL) {
		/* no request: an event xgwd refused; the next cycle is fresher */
		if (poll_of_flow(flow) != NULL) {
			st.events_refused++;
			log_warnx("poll flow=%llu seq=%llu: readings refused by "
			    "xgwd: %s", (unsigned long long)flow,
			    (unsigned long long)seq, reason);
		}
		return;
	}
	if (timeout)
		st.timed_out++;
	else
		st.path_failed++;
	log_debug("request flow=%llu seq=%llu unit %u: %s", (unsigned long long)flow,
	    (unsigned long long)seq, k->unit, reason);
	if ((slot = call_done(k)) != -1) {
		call_exception(slot, k, timeout ? EX_TARGET_FAILED :
		    EX_PATH_UNAVAILABLE);
		if (clients[slot] != NULL)
			client_process(slot);
	}
	free(k);
}

/* Device side */

static struct job *
job_head(struct device *d)
{
	return &d->q[d->qhead];
}

/* The free slot at the end of a device's queue, NULL when it is full. */
static struct job *
job_tail(struct device *d)
{
	return d->qlen < DEV_QUEUE ? &d->q[(d->qhead + d->qlen) % DEV_QUEUE] :
	    NULL;
}

static void
job_pop(struct device *d)
{
	d->qhead = (d->qhead + 1) % DEV_QUEUE;
	/*
	 * An empty ring starts over at its first slot: a device asked one
	 * thing at a time keeps one slot resident, not all DEV_QUEUE.
	 */
	if (--d->qlen == 0)
		d->qhead = 0;
	d->busy = 0;
}

/* The answer to a job, from the device (uuid) itself or made here for it. */
static void
job_answer(const char *uuid, const struct job *j, xmpp_stanza_t *el)
{
	struct xgw_meta m = { .flow = j->flow, .seq = j->seq,
	    .dir = XGW_RESPONSE };

	memcpy(m.src, uuid, sizeof(m.src));
	memcpy(m.dst, j->from, sizeof(m.dst));
	if (adapter_send(ad, &m, el, 0, NULL) == -1)
		log_warn("device %s flow=%llu seq=%llu: response not queued",
		    uuid, (unsigned long long)j->flow,
		    (unsigned long long)j->seq);
}

static void
job_exception(const char *uuid, struct job *j, unsigned code)
{
	xmpp_stanza_t *el;
	struct xgw_err e;
	uint8_t ex[9];

	if (j->poll != NULL) {
		poll_failed(j, code);
		return;
	}
	exception_adu(ex, xgw_be16(j->adu), j->adu[6], j->adu[7], code);
	if (xgw_modbus_decode(adapter_ctx(ad), ex, sizeof(ex), XGW_RESPONSE,
	    &el, &e) == -1)
		fatalx("exception %u for fc %u does not decode: %s", code,
		    j->adu[7], e.msg);
	job_answer(uuid, j, el);
	xmpp_stanza_release(el);
}

static void
device_backoff(struct device *d)
{
	d->retry_ms = adapter_now_ms() + d->backoff_ms;
	d->backoff_ms = d->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS :
	    d->backoff_ms * 2;
}

static void
device_lost(struct device *d, const char *why)
{
	log_warnx("device %s (%s port %u): connection lost: %s", d->conf->uuid,
	    d->conf->host, d->conf->port, why);
	modbus_close(d->mb);
	d->fd = -1;
	d->inlen = 0;
	device_backoff(d);
	if (d->busy) {
		/* it reached the device, which did not answer */
		st.dev_timeouts++;
		job_exception(d->conf->uuid, job_head(d), EX_TARGET_FAILED);
		job_pop(d);
	}
}

/* Everything queued for a device that cannot be reached: 0x0A at once. */
static void
device_flush_queue(struct device *d)
{
	while (d->qlen > 0) {
		st.dev_unreachable++;
		job_exception(d->conf->uuid, job_head(d), EX_PATH_UNAVAILABLE);
		job_pop(d);
	}
}

/*
 * libmodbus connects with a blocking connect bounded by the response
 * timeout: CONNECT_MAX_MS at most, only once per backoff step, so an
 * unreachable device holds the others up for no longer than that.
 */
static void
device_connect(struct device *d)
{
	unsigned ms = d->conf->timeout_ms < CONNECT_MAX_MS ?
	    d->conf->timeout_ms : CONNECT_MAX_MS;
	int fl;

	modbus_set_response_timeout(d->mb, 0, ms * 1000);
	if (modbus_connect(d->mb) == -1) {
		if (!d->failing)
			log_warnx("device %s (%s port %u): connect: %s; "
			    "retrying with backoff", d->conf->uuid,
			    d->conf->host, d->conf->port, modbus_strerror(errno));
		d->failing = 1;
		device_backoff(d);
		device_flush_queue(d);
		return;
	}
	d->fd = modbus_get_socket(d->mb);
	/* libmodbus opens it non-blocking today; this loop depends on it */
	if ((fl = fcntl(d->fd, F_GETFL)) == -1 ||
	    fcntl(d->fd, F_SETFL, fl | O_NONBLOCK) == -1) {
		device_lost(d, strerror(errno));
		return;
	}
	set_nodelay(d->fd);
	d->failing = 0;
	log_info("device %s (%s port %u) connected", d->conf->uuid,
	    d->conf->host, d->conf->port);
}

/* Puts the next job on the wire, answering those whose time is up. */
static void
device_kick(struct device *d)
{
	uint64_t now = adapter_now_ms();
	uint8_t wire[ADU_MAX];
	struct job *j;
	ssize_t n;

	if (d->fd == -1 && d->qlen > 0) {
		if (now < d->retry_ms) {
			device_flush_queue(d);
			return;
		}
		device_connect(d);
	}
	while (d->fd != -1 && !d->busy && d->qlen > 0) {
		j = job_head(d);
		if (now >= j->deadline_ms) {
			st.dev_timeouts++;
			job_exception(d->conf->uuid, j, EX_TARGET_FAILED);
			job_pop(d);
			continue;
		}
		memcpy(wire, j->adu, j->len);
		d->tid++;
		wire[0] = d->tid >> 8;
		wire[1] = d->tid & 0xff;
		if (d->conf->unit >= 0)
			wire[6] = d->conf->unit;
		if ((n = send(d->fd, wire, j->len, MSG_NOSIGNAL)) !=
		    (ssize_t)j->len) {
			device_lost(d, n == -1 ? strerror(errno) : "short write");
			continue;
		}
		d->busy = 1;
	}
}

static struct device *
device_find(const char *uuid)
{
	int i = adapter_device(ad, uuid);

	return i == -1 ? NULL : &devices[i];
}

/* A request stanza for one of our devices. */
static void
device_request(const struct xgw_meta *m, xmpp_stanza_t *el)
{
	struct device *d = device_find(m->dst);
	const char *dir = xmpp_stanza_get_attribute(el, "dir");
	struct xgw_buf b = { 0 };
	struct xgw_err e;
	struct job *j, tmp;

	if (dir == NULL || strcmp(dir, "request") != 0 ||
	    xgw_modbus_encode(el, &b, &e) == -1) {
		st.dev_bad++;
		log_warnx("request flow=%llu seq=%llu for %s: not a Modbus "
		    "request: %s; dropped", (unsigned long long)m->flow,
		    (unsigned long long)m->seq, m->dst, dir == NULL ||
		    strcmp(dir, "request") != 0 ? "dir is not request" : e.msg);
		xgw_buf_free(&b);
		return;
	}
	st.dev_requests++;
	if (d == NULL || (j = job_tail(d)) == NULL)
		j = &tmp;
	*j = (struct job){ .flow = m->flow, .seq = m->seq, .len = b.len };
	memcpy(j->from, m->src, sizeof(j->from));
	memcpy(j->adu, b.data, b.len);
	xgw_buf_free(&b);
	if (d == NULL || j == &tmp) {
		st.dev_unreachable++;
		log_warnx("request flow=%llu seq=%llu: %s %s; answered with "
		    "exception 10", (unsigned long long)m->flow,
		    (unsigned long long)m->seq, d == NULL ? "no device" :
		    "queue full for device", m->dst);
		job_exception(m->dst, j, EX_PATH_UNAVAILABLE);
		return;
	}
	j->deadline_ms = adapter_now_ms() + d->conf->timeout_ms;
	d->qlen++;
	device_kick(d);
}

static void
device_answer(struct device *d, const uint8_t *p, size_t n)
{
	struct job *j = job_head(d);
	xmpp_stanza_t *el;
	struct xgw_err e;

	if (!d->busy || xgw_be16(p) != d->tid) {
		/* the answer to a request that timed out already */
		st.dev_late++;
		log_debug("device %s: late answer tid %u dropped", d->conf->uuid,
		    xgw_be16(p));
		return;
	}
	st.dev_answers++;
	d->backoff_ms = BACKOFF_MIN_MS;
	if (j->poll != NULL)
		poll_answer(j, p, n);
	else if (xgw_modbus_decode(adapter_ctx(ad), p, n, XGW_RESPONSE, &el,
	    &e) == -1) {
		st.dev_bad++;
		log_warnx("device %s: malformed response, %s at byte %zu: %s; "
		    "answered with exception 11", d->conf->uuid, e.reason,
		    e.offset, e.msg);
		job_exception(d->conf->uuid, j, EX_TARGET_FAILED);
	} else {
		/* the requester's transaction and unit, not the wire's */
		if (xgw_set_uint(el, "tid", xgw_be16(j->adu)) == -1 ||
		    xgw_set_uint(el, "unit", j->adu[6]) == -1)
			fatalx("out of memory");
		job_answer(d->conf->uuid, j, el);
		xmpp_stanza_release(el);
	}
	job_pop(d);
}

static void
device_read(struct device *d)
{
	struct xgw_err e;
	ssize_t n;
	size_t len;
	int rc;

	n = recv(d->fd, d->in + d->inlen, sizeof(d->in) - d->inlen, 0);
	if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK ||
	    errno == EINTR))
		return;
	if (n <= 0) {
		device_lost(d, n == 0 ? "closed by the device" : strerror(errno));
		return;
	}
	d->inlen += n;
	while ((rc = xgw_modbus_frame(d->in, d->inlen, &len, &e)) == 1) {
		device_answer(d, d->in, len);
		memmove(d->in, d->in + len, d->inlen - len);
		d->inlen -= len;
	}
	if (rc == -1)
		device_lost(d, e.msg);
	device_kick(d);
}

static int
device_pollfds(struct pollfd *p, int max)
{
	int n = 0;

	for (int i = 0; i < ndevices && n < max; i++)
		if (devices[i].fd != -1) {
			dpolled[n] = i;
			p[n++] = (struct pollfd){ devices[i].fd, POLLIN, 0 };
		}
	return n;
}

static void
device_io(const struct pollfd *p, int n)
{
	for (int i = 0; i < n; i++)
		if (devices[dpolled[i]].fd != -1 &&
		    (p[i].revents & (POLLIN | POLLHUP | POLLERR)))
			device_read(&devices[dpolled[i]]);
}

/* Timeouts of the requests on the wire, and reconnects. */
static void
device_timers(uint64_t now)
{
	for (int i = 0; i < ndevices; i++) {
		struct device *d = &devices[i];

		if (d->busy && now >= job_head(d)->deadline_ms) {
			st.dev_timeouts++;
			log_debug("device %s: no answer within %ums",
			    d->conf->uuid, d->conf->timeout_ms);
			job_exception(d->conf->uuid, job_head(d),
			    EX_TARGET_FAILED);
			job_pop(d);
		}
		if (d->fd == -1 && now >= d->retry_ms)
			device_connect(d);
		device_kick(d);
	}
}

static int
device_timeout_ms(uint64_t now)
{
	uint64_t next = UINT64_MAX;

	for (int i = 0; i < ndevices; i++) {
		const struct device *d = &devices[i];

		if (d->busy && d->q[d->qhead].deadline_ms < next)
			next = d->q[d->qhead].deadline_ms;
		if (d->fd == -1 && d->retry_ms < next)
			next = d->retry_ms;
	}
	if (next == UINT64_MAX)
		return -1;
	return next <= now ? 0 : (int)(next - now);
}

/* Polling */

/* Now as xs:dateTime in UTC, to the millisecond. */
static void
timestamp(char *buf, size_t len)
{
	struct timespec ts;
	struct tm tm;
	size_t n;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, len - n, ".%03dZ", (int)(ts.tv_nsec / 1000000));
}

static int
read_is_bits(const struct conf_read *r)
{
	return r->table == CONF_COILS || r->table == CONF_DISCRETE;
}

/* Bytes of data in the answer to a read. */
static size_t
read_bytes(const struct conf_read *r)
{
	return read_is_bits(r) ? (r->quantity + 7u) / 8 : r->quantity * 2u;
}

static void
read_adu(uint8_t p[12], const struct device *d, const struct conf_read *r)
{
	p[0] = p[1] = p[2] = p[3] = p[4] = 0;	/* the tid is the device's */
	p[5] = 6;
	/* no unit configured: 255, the Modbus/TCP unit of a device by itself */
	p[6] = d->conf->unit >= 0 ? d->conf->unit : 0xff;
	p[7] = r->table;
	p[8] = r->address >> 8;
	p[9] = r->address & 0xff;
	p[10] = r->quantity >> 8;
	p[11] = r->quantity & 0xff;
}

/* The value i of a point, off registers or bits into its read, scaled. */
static void
point_value(const struct conf_point *pt, const uint8_t *data, unsigned off,
    unsigned i, char *buf, size_t len)
{
	unsigned wide = pt->type >= CONF_UINT32, b = off + i;
	const uint8_t *w;
	uint32_t raw;
	double v;
	float f;

	if (pt->type == CONF_BOOL) {
		snprintf(buf, len, "%s", data[b / 8] >> (b % 8) & 1 ? "true" :
		    "false");
		return;
	}
	w = data + 2 * (off + i * (wide ? 2 : 1));
	raw = wide ? xgw_be32(w) : xgw_be16(w);
	switch (pt->type) {
	case CONF_INT16:
		conf_decimal(buf, len, (int16_t)raw * (int64_t)pt->digits,
		    pt->decimals);
		break;
	case CONF_INT32:
		conf_decimal(buf, len, (int32_t)raw * (int64_t)pt->digits,
		    pt->decimals);
		break;
	case CONF_FLOAT32:
		memcpy(&f, &raw, sizeof(f));
		v = (double)f * pt->digits;
		for (unsigned k = 0; k < pt->decimals; k++)
			v /= 10;
		/* xs:double's names for what printf calls nan and inf */
		if (isnan(v))
			snprintf(buf, len, "NaN");
		else if (isinf(v))
			snprintf(buf, len, "%sINF", v < 0 ? "-" : "");
		else
			snprintf(buf, len, "%.9g", v);
		break;
	default:
		conf_decimal(buf, len, raw * (int64_t)pt->digits, pt->decimals);
	}
}

/* <r name= type= [unit=] [scale=] ts= quality= (value= | error=)/> */
static int
reading_add(xmpp_stanza_t *rs, const struct conf_point *pt, unsigned i,
    const struct result *res, unsigned off)
{
	xmpp_stanza_t *r = xgw_el_new(adapter_ctx(ad), "r", NULL);
	char name[80], text[48];

	if (r == NULL)
		return -1;
	if (pt->count > 1)
		snprintf(name, sizeof(name), "%s[%u]", pt->name, i);
	else
		snprintf(name, sizeof(name), "%s", pt->name);
	conf_decimal(text, sizeof(text), pt->digits, pt->decimals);
	if (xgw_set_str(r, "name", name) == -1 ||
	    xgw_set_str(r, "type", conf_type_names[pt->type]) == -1 ||
	    (pt->unit[0] != '\0' && xgw_set_str(r, "unit", pt->unit) == -1) ||
	    (strcmp(text, "1") != 0 && xgw_set_str(r, "scale", text) == -1) ||
	    xgw_set_str(r, "ts", res->ts) == -1 ||
	    xgw_set_str(r, "quality", res->error[0] ? "bad" : "good") == -1) {
		xmpp_stanza_release(r);
		return -1;
	}
	if (res->error[0] != '\0') {
		if (xgw_set_str(r, "error", res->error) == -1) {
			xmpp_stanza_release(r);
			return -1;
		}
	} else {
		point_value(pt, res->data, off, i, text, sizeof(text));
		if (xgw_set_str(r, "value", text) == -1) {
			xmpp_stanza_release(r);
			return -1;
		}
	}
	return xgw_el_add(rs, r);
}

/* A whole cycle as one event from the device: every point, good or bad. */
static void
poll_publish(struct poll *p)
{
	struct xgw_meta m = { .flow = p->flow, .seq = p->seq,
	    .dir = XGW_EVENT };
	xmpp_stanza_t *rs;

	if ((rs = xgw_el_new(adapter_ctx(ad), "readings", NS_READINGS)) == NULL ||
	    xgw_set_str(rs, "proto", "modbus") == -1)
		fatalx("out of memory");
	for (int i = 0; i < p->conf->npoints; i++) {
		const struct conf_point *pt = &p->points[i];
		int r = p->read_of[i];

		for (unsigned v = 0; v < pt->count; v++)
			if (reading_add(rs, pt, v, &p->res[r],
			    pt->address - p->reads[r].address) == -1)
				fatalx("out of memory");
	}
	memcpy(m.src, p->conf->device, sizeof(m.src));
	if (adapter_send(ad, &m, rs, 0, NULL) == -1) {
		st.events_refused++;
		log_warn("poll %s seq=%llu: readings not queued to xgwd",
		    p->conf->device, (unsigned long long)p->seq);
	} else
		st.events++;
	xmpp_stanza_release(rs);
}

/* One read of the cycle is over: data NULL when it failed with error. */
static void
poll_result(struct poll *p, int read, const char *error, const uint8_t *data)
{
	struct result *r = &p->res[read];

	timestamp(r->ts, sizeof(r->ts));
	snprintf(r->error, sizeof(r->error), "%s", error);
	if (data != NULL)
		memcpy(r->data, data, read_bytes(&p->reads[read]));
	else
		st.poll_bad++;
	p->done++;
}

/*
 * Queues the cycle's next read behind what waits for the device, so that
 * a request from afar waits for one read of a poll at most; publishes
 * the cycle once every read is over.
 */
static void
poll_next(struct poll *p)
{
	struct device *d = p->dev;
	struct job *j;

	while (p->next < p->nreads) {
		if ((j = job_tail(d)) == NULL) {
			poll_result(p, p->next++, "busy", NULL);
			continue;
		}
		memset(j, 0, sizeof(*j));
		j->poll = p;
		j->read = p->next++;
		j->deadline_ms = adapter_now_ms() + d->conf->timeout_ms;
		j->len = 12;
		read_adu(j->adu, d, &p->reads[j->read]);
		d->qlen++;
		st.poll_reads++;
		return;
	}
	if (p->done == p->nreads) {
		poll_publish(p);
		p->next = -1;
	}
}

/* The device did not answer (0x0B) or cannot be reached (0x0A). */
static void
poll_failed(struct job *j, unsigned code)
{
	log_debug("poll %s read %d: %s", j->poll->conf->device, j->read,
	    code == EX_TARGET_FAILED ? "no answer" : "device unreachable");
	poll_result(j->poll, j->read, code == EX_TARGET_FAILED ? "no-answer" :
	    "unreachable", NULL);
	poll_next(j->poll);
}

static void
poll_answer(struct job *j, const uint8_t *p, size_t n)
{
	struct poll *pl = j->poll;
	const struct conf_read *r = &pl->reads[j->read];
	size_t bc = read_bytes(r);
	char error[16];

	if (n == 9 && p[7] == (r->table | 0x80)) {
		log_debug("poll %s: fc %u at %u qty %u: exception %u",
		    pl->conf->device, r->table, r->address, r->quantity, p[8]);
		snprintf(error, sizeof(error), "exception-%u", p[8]);
		poll_result(pl, j->read, error, NULL);
	} else if (n != 9 + bc || p[7] != r->table || p[8] != bc) {
		st.dev_bad++;
		log_warnx("device %s: the answer to fc %u at %u qty %u does not "
		    "match it; readings bad", pl->conf->device, r->table,
		    r->address, r->quantity);
		poll_result(pl, j->read, "malformed", NULL);
	} else
		poll_result(pl, j->read, "", p + 9);
	poll_next(pl);
}

/*
 * A cycle starts every every_ms, on a fixed grid so that intervals do
 * not drift; one that finds the last still running is skipped (counted:
 * the device is slower than the interval).
 */
static void
poll_timers(uint64_t now)
{
	for (int i = 0; i < npolls; i++) {
		struct poll *p = &polls[i];

		if (now < p->due_ms)
			continue;
		p->due_ms += p->conf->every_ms;
		if (p->due_ms <= now)
			p->due_ms = now + p->conf->every_ms;
		if (p->next != -1) {
			st.overruns++;
			log_debug("poll %s: cycle %llu still running; skipped",
			    p->conf->device, (unsigned long long)p->seq);
			continue;
		}
		st.cycles++;
		p->seq++;
		p->next = p->done = 0;
		poll_next(p);
	}
}

static int
poll_timeout_ms(uint64_t now)
{
	uint64_t next = UINT64_MAX;

	for (int i = 0; i < npolls; i++)
		if (polls[i].due_ms < next)
			next = polls[i].due_ms;
	if (next == UINT64_MAX)
		return -1;
	return next <= now ? 0 : (int)(next - now);
}

static struct poll *
poll_of_flow(uint64_t flow)
{
	for (int i = 0; i < npolls; i++)
		if (polls[i].flow == flow)
			return &polls[i];
	return NULL;
}

/* Set-up */


static int
routes_init(const struct conf_adapter *c)
{
	uint64_t unit;

	for (int i = 0; i < 256; i++)
		route_of[i] = -1;
	for (int i = 0; i < c->nroutes; i++) {
		const char *m = c->routes[i].match;

		/* conf.c checked the form; a Modbus route is "unit N" */
		if (strncmp(m, "unit ", 5) != 0 ||
		    xgw_parse_uint(m + 5, strlen(m + 5), 255, &unit) == -1) {
			log_warnx("route \"%s\": expected \"unit N\"", m);
			return -1;
		}
		route_of[unit] = i;
	}
	return 0;
}

static int
devices_init(const struct conf_adapter *c)
{
	char port[8];

	ndevices = c->ndevices;
	if (ndevices == 0)
		return 0;
	if ((devices = calloc(ndevices, sizeof(*devices))) == NULL) {
		log_warn("devices");
		return -1;
	}
	for (int i = 0; i < ndevices; i++) {
		struct device *d = &devices[i];

		d->conf = &c->devices[i];
		d->fd = -1;
		d->backoff_ms = BACKOFF_MIN_MS;
		snprintf(port, sizeof(port), "%u", d->conf->port);
		if ((d->mb = modbus_new_tcp_pi(d->conf->host, port)) == NULL) {
			log_warnx("device %s (%s port %s): %s", d->conf->uuid,
			    d->conf->host, port, modbus_strerror(errno));
			return -1;
		}
	}
	return 0;
}

static int
polls_init(const struct conf_adapter *c)
{
	npolls = c->npolls;
	if (npolls == 0)
		return 0;
	if ((polls = calloc(npolls, sizeof(*polls))) == NULL) {
		log_warn("polls");
		return -1;
	}
	for (int i = 0; i < npolls; i++) {
		struct poll *p = &polls[i];
		int n = c->polls[i].npoints;

		p->conf = &c->polls[i];
		p->points = &c->points[p->conf->first];
		/* conf.c has checked that the device is ours */
		if ((p->dev = device_find(p->conf->device)) == NULL)
			fatalx("poll %s: no such device", p->conf->device);
		if ((p->reads = calloc(n, sizeof(*p->reads))) == NULL ||
		    (p->read_of = calloc(n, sizeof(*p->read_of))) == NULL ||
		    (p->res = calloc(n, sizeof(*p->res))) == NULL) {
			log_warn("poll %s", p->conf->device);
			return -1;
		}
		p->nreads = conf_poll_merge(p->points, n, p->reads, p->read_of);
		p->flow = next_flow++;
		p->next = -1;
		p->due_ms = adapter_now_ms();
		log_info("poll %s every %ums: %d points in %d reads",
		    p->conf->device, p->conf->every_ms, n, p->nreads);
	}
	return 0;
}

static int
configure(struct adapter *a, const struct conf_adapter *c)
{
	(void)a;
	if (routes_init(c) == -1 || devices_init(c) == -1 ||
	    polls_init(c) == -1)
		return -1;
	if (c->listen[0] != '\0' &&
	    (listen_fd = adapter_listen(c, SOCK_STREAM)) == -1)
		return -1;
	return 0;
}

static void
on_stanza(struct adapter *a, const struct xgw_meta *m, xmpp_stanza_t *el,
    uint64_t flow, uint64_t seq)
{
	(void)a;
	if (m->dir == XGW_REQUEST)
		device_request(m, el);
	else if (m->dir == XGW_RESPONSE)
		client_response(el, flow, seq);
	else
		log_debug("event flow=%llu seq=%llu: this adapter takes none",
		    (unsigned long long)flow, (unsigned long long)seq);
}

static void
on_taken(struct adapter *a, uint64_t flow, uint64_t seq)
{
	(void)a;
	(void)flow;
	(void)seq;
	st.events_taken++;
}

static const struct adapter_counter counters[] = {
	{ "clients-accepted", &st.accepted },
	{ "clients-refused", &st.refused },
	{ "requests", &st.requests },
	{ "malformed", &st.malformed },
	{ "no-route", &st.noroute },
	{ "path-failed", &st.path_failed },
	{ "timed-out", &st.timed_out },
	{ "late-responses", &st.late },
	{ "device-requests", &st.dev_requests },
	{ "device-answers", &st.dev_answers },
	{ "device-timeouts", &st.dev_timeouts },
	{ "device-unreachable", &st.dev_unreachable },
	{ "device-late", &st.dev_late },
	{ "device-bad", &st.dev_bad },
	{ "poll-cycles", &st.cycles },
	{ "poll-overruns", &st.overruns },
	{ "poll-reads", &st.poll_reads },
	{ "poll-reads-bad", &st.poll_bad },
	{ "readings-sent", &st.events },
	{ "readings-taken", &st.events_taken },
	{ "readings-refused", &st.events_refused },
};

int
main(int argc, char *argv[])
{
	static const struct adapter_cb cb = { configure, on_stanza, on_failed,
	    on_taken, NULL };

	static const struct adapter_part parts[] = {
		{ client_pollfds, client_io, NULL, NULL },
		{ NULL, NULL, poll_timeout_ms, poll_timers },
		{ device_pollfds, device_io, device_timeout_ms, device_timers },
	};

	ad = adapter_init(argc, argv, "modbus", &cb);
	adapter_counters(ad, counters, sizeof(counters) / sizeof(counters[0]),
	    STATS_MS);
	adapter_configure(ad);
	adapter_loop(ad, parts, sizeof(parts) / sizeof(parts[0]));
	return 0;
}
