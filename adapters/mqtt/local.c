/*
 * Client side: the local broker (listen ADDRESS port N), read and written
 * with the MQTT transform, over TCP or TLS (tls.c).
 *
 * One connection (version 5 or 4) with a persistent session (clean start
 * 0 and the session expiry of the block; in 3.1.1, clean session 0 unless
 * the expiry is 0), so that the broker keeps our subscriptions and queues
 * QoS 1/2 messages while the adapter is away.  Each route is one
 * SUBSCRIBE; in MQTT 5 its subscription identifier is the route's number,
 * so the broker names the route of every PUBLISH; 3.1.1 has no such
 * thing, and the topic is matched against the routes' filters here.
 * Either way the first route in configuration order wins.  The PUBLISH,
 * decoded as it came, is the event's element, its topic remapped (topic
 * out) after its route is known.
 *
 * Acknowledgement: a QoS 1/2 PUBLISH is held (ring[]) until xgwd reports it
 * durable (FRAME_TAKEN), and only then is PUBACK or PUBREC sent.  In MQTT 5
 * we announce the block's receive maximum; either way we stop reading while
 * that many are held (blocked()).
 * One xgwd's policy denies (FRAME_FAIL denied) is acknowledged too: the
 * broker must not resend what the policy refused.  xgwd reports events in
 * the order it received them, so a taken sequence number also settles
 * every earlier one still held, and one held for HOLD_MAX_MS with no later
 * message taken is settled the same way.
 *
 * When the connection is lost, held messages stay held ("orphans"): the
 * broker resends them with DUP set and the same packet identifier, and
 * such a resend is matched to its orphan (pid_of[]) instead of being sent
 * upstream twice.
 */
#include <sys/socket.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "mqtt.h"
#include "policy_int.h"	/* pol_topic_match */
#include "xgw-mqtt.h"

#define KEEPALIVE_S	30
#define RING_PER_HELD	4		/* held, and settled ones behind a held head */
#define HOLD_MAX_MS	10000
#define CONNECT_MS	5000		/* TCP connect and CONNACK */
#define OUT_MAX		(64 * 1024)	/* acknowledgements are small: a full buffer is a stuck broker */
#define BACKOFF_MIN_MS	250
#define BACKOFF_MAX_MS	8000

enum { L_DOWN, L_CONNECTING, L_TLS, L_CONNACK, L_UP };

/* What became of a packet identifier held when its connection was lost. */
enum { P_NONE, P_HELD, P_TAKEN };

/* orphan: 0 on the current connection, 1 the broker resends it, 2 it will not */
struct held {
	uint64_t	 seq, at_ms;
	uint16_t	 pid;
	uint8_t		 qos, live, orphan;
};

static const struct conf_adapter *conf;
static struct sockaddr_storage addr;
static socklen_t addrlen;
static char my_id[64];
static unsigned version, held_max;	/* the block's version, receive maximum */
static int fd = -1, state = L_DOWN;
static int stalled;	/* whole packets wait in in[] while blocked() */
static uint64_t conn_no, next_seq = 1;
static uint64_t retry_ms, deadline_ms, last_in_ms, ping_ms;
static unsigned backoff_ms = BACKOFF_MIN_MS;
static uint8_t in[PACKET_MAX + 8], out[OUT_MAX];
static size_t inlen, outlen;
static struct held *ring;
static int ring_size, rhead, rlen, nlive;
static uint8_t pid_of[65536];

static void	lost(const char *);
static void	handshake(void);

/* Packets we send */

static xmpp_stanza_t *
el_new(const char *name, const char *ns)
{
	xmpp_stanza_t *el = xgw_el_new(adapter_ctx(ad), name, ns);

	if (el == NULL)
		fatalx("out of memory");
	return el;
}

static void
set_uint(xmpp_stanza_t *el, const char *attr, uint64_t v)
{
	if (xgw_set_uint(el, attr, v) == -1)
		fatalx("out of memory");
}

static void
set_str(xmpp_stanza_t *el, const char *attr, const char *v)
{
	if (xgw_set_str(el, attr, v) == -1)
		fatalx("out of memory");
}

static void
add(xmpp_stanza_t *el, xmpp_stanza_t *child)
{
	if (xgw_el_add(el, child) == -1)
		fatalx("out of memory");
}

static xmpp_stanza_t *
packet(const char *type)
{
	xmpp_stanza_t *el = el_new("mqtt", XGW_NS_MQTT);

	set_str(el, "type", type);
	set_uint(el, "level", version);
	return el;
}

static void
add_prop(xmpp_stanza_t *el, unsigned id, uint64_t value)
{
	xmpp_stanza_t *p = el_new("prop", NULL);

	set_uint(p, "id", id);
	set_uint(p, "value", value);
	add(el, p);
}

static void
flush(void)
{
	ssize_t n;

	while (outlen > 0) {
		n = conn_send(fd, out, outlen);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n == -1) {
			lost(strerror(errno));
			return;
		}
		memmove(out, out + n, outlen - n);
		outlen -= n;
	}
}

/* Encodes el (released) to the broker; the transform checks what we build. */
static void
put(xmpp_stanza_t *el)
{
	struct xgw_buf b = { 0 };
	struct xgw_err e;

	if (xgw_mqtt_encode(el, &b, &e) == -1)
		fatalx("a %s we built does not encode: %s",
		    xmpp_stanza_get_attribute(el, "type"), e.msg);
	xmpp_stanza_release(el);
	/* when the connection is gone, the broker resends what this answered */
	if (state != L_DOWN && outlen + b.len > sizeof(out))
		lost("the broker does not read");
	else if (state != L_DOWN) {
		memcpy(out + outlen, b.data, b.len);
		outlen += b.len;
		flush();
	}
	xgw_buf_free(&b);
}

static void
send_id(const char *type, unsigned pid)
{
	xmpp_stanza_t *el = packet(type);

	set_uint(el, "id", pid);
	put(el);
}

/* PUBACK for QoS 1, PUBREC for QoS 2 (its PUBREL is answered on arrival). */
static void
ack(unsigned pid, unsigned qos)
{
	if (qos > 0)
		send_id(qos == 1 ? "puback" : "pubrec", pid);
}

/* 3.1.1 has no session expiry: a session is kept, or not (clean session). */
static void
send_connect(void)
{
	xmpp_stanza_t *el = packet("connect");
	uint32_t expiry = conf->mqtt.session_expiry_s;

	set_str(el, "protocol", "MQTT");
	set_uint(el, "clean-start", version == 4 && expiry == 0);
	set_uint(el, "keepalive", KEEPALIVE_S);
	set_str(el, "client-id", my_id);
	if (version == 5) {
		set_uint(el, "props", 3);
		add_prop(el, 17, expiry);	/* session-expiry-interval */
		add_prop(el, 33, held_max);	/* receive-maximum */
		add_prop(el, 39, PACKET_MAX);	/* maximum-packet-size */
	}
	put(el);
}

/*
 * One SUBSCRIBE a route, identified by its number.  Retain as published:
 * the retain flag reaches the far broker as it was sent.  Retain handling
 * 1: retained messages come once, not again at every reconnect.  3.1.1
 * has neither: a broker clears the retain flag of what it forwards, and
 * sends its retained messages again at each SUBSCRIBE.
 */
static void
send_subscribes(void)
{
	for (int i = 0; i < conf->nroutes; i++) {
		xmpp_stanza_t *el = packet("subscribe"), *s = el_new("sub", NULL);

		set_uint(el, "id", i + 1);
		set_str(s, "filter", conf->routes[i].match);
		set_uint(s, "qos", 2);
		if (version == 5) {
			set_uint(el, "props", 1);
			add_prop(el, 11, i + 1);	/* subscription-identifier */
			set_uint(s, "no-local", 0);
			set_uint(s, "retain-as-published", 1);
			set_uint(s, "retain-handling", 1);
		}
		add(el, s);
		put(el);
	}
}

/* The ring of held messages */

static struct held *
at(int i)
{
	return &ring[(rhead + i) % ring_size];
}

static int
ring_full(void)
{
	return (unsigned)nlive >= held_max || rlen == ring_size;
}

/*
 * While our receive maximum is held, the broker's packets wait: a 3.1.1
 * broker cannot be told it, and an MQTT 5 one may pass it (mosquitto
 * 2.0.11 does as it releases its queue).  Dropping the connection instead
 * would have the broker send everything in flight again, at every release,
 * and a PUBACK lost with the connection carry its message twice.
 */
static int
blocked(void)
{
	return ring_full();
}

static void
settle(struct held *h)
{
	if (h->orphan == 0)
		ack(h->pid, h->qos);
	else if (h->orphan == 1)
		pid_of[h->pid] = P_TAKEN;	/* acknowledged when resent */
	h->live = 0;
	nlive--;
}

static void
ring_trim(void)
{
	while (rlen > 0 && !at(0)->live) {
		rhead = (rhead + 1) % ring_size;
		rlen--;
	}
}

void
local_taken(uint64_t seq)
{
	for (int i = 0; i < rlen && at(i)->seq <= seq; i++) {
		struct held *h = at(i);

		if (!h->live)
			continue;
		if (h->seq < seq)
			cnt.denied++;	/* dropped by xgwd's policy */
		settle(h);
	}
	ring_trim();
}

/*
 * xgwd refused an event.  Denied by its policy: acknowledged all the same,
 * or the broker would resend it forever.  Anything else (its spool is
 * full): the broker resends it later.
 */
void
local_refused(uint64_t seq, const char *reason)
{
	int denied = strcmp(reason, "denied") == 0;

	if (denied)
		cnt.denied++;
	else
		cnt.refused++;
	for (int i = 0; i < rlen; i++) {
		struct held *h = at(i);

		if (!h->live || h->seq != seq)
			continue;
		if (denied)
			settle(h);
		else {
			h->live = 0;
			nlive--;
			pid_of[h->pid] = P_NONE;
			if (h->orphan == 0)
				lost("xgwd refused an event");
		}
		break;
	}
	ring_trim();
}

/* A resend (DUP) of a held or settled message: 1 when it is handled here. */
static int
redelivery(unsigned pid, unsigned qos)
{
	switch (pid_of[pid]) {
	case P_HELD:
		for (int i = 0; i < rlen; i++)
			if (at(i)->live && at(i)->orphan == 1 &&
			    at(i)->pid == pid) {
				at(i)->orphan = 0;
				break;
			}
		break;
	case P_TAKEN:
		ack(pid, qos);
		break;
	default:
		return 0;
	}
	pid_of[pid] = P_NONE;
	cnt.redelivered++;
	return 1;
}

/* Packets we receive */

/* Published by a bridge (ours or another's): never carried again. */
static int
bridged(xmpp_stanza_t *el)
{
	const char *k;

	for (xmpp_stanza_t *c = xmpp_stanza_get_children(el); c != NULL;
	    c = xmpp_stanza_get_next(c))
		if (is_prop(c, 38) &&
		    (k = xmpp_stanza_get_attribute(c, "key")) != NULL &&
		    strcmp(k, BRIDGE_KEY) == 0)
			return 1;
	return 0;
}

/* 3.1.1: the first route whose filter covers the topic. */
static int
route_by_topic(xmpp_stanza_t *el)
{
	struct xgw_buf t = { 0 };
	struct xgw_err e;
	size_t n;
	int r = -1;

	if (xgw_get_bytes(el, "topic", &t, &n, &e) == -1)
		return -1;
	for (int i = 0; i < conf->nroutes && r == -1; i++)
		if (pol_topic_match(conf->routes[i].match, (char *)t.data, n))
			r = i;
	xgw_buf_free(&t);
	return r;
}

/* The first route (lowest subscription identifier) the broker names. */
static int
route_of(xmpp_stanza_t *el)
{
	uint64_t best = UINT64_MAX, v;

	if (version == 4)
		return route_by_topic(el);
	for (xmpp_stanza_t *c = xmpp_stanza_get_children(el); c != NULL;
	    c = xmpp_stanza_get_next(c))
		if (is_prop(c, 11) && (v = attr_uint(c, "value")) >= 1 &&
		    v <= (uint64_t)conf->nroutes && v < best)
			best = v;
	return best == UINT64_MAX ? -1 : (int)best - 1;
}

/* topic out; 0 when the message may not go on (acknowledged, counted). */
static int
remap_out(xmpp_stanza_t *el, unsigned pid, unsigned qos, const char *topic)
{
	struct xgw_err e;
	int rc = topic_remap(el, CONF_OUT, &e);

	if (rc == 1)
		cnt.remapped++;
	if (rc != -1)
		return 1;
	cnt.remap_refused++;
	log_warnx("publish topic %s: not remapped: %s; dropped",
	    topic ? topic : "(binary)", e.msg);
	ack(pid, qos);
	return 0;
}

static void
on_publish(xmpp_stanza_t *el)
{
	unsigned qos = attr_uint(el, "qos"), pid = attr_uint(el, "id");
	const char *topic = xmpp_stanza_get_attribute(el, "topic");
	struct xgw_meta m = { .flow = conn_no, .dir = XGW_EVENT };
	struct held *h;
	int r;

	cnt.received++;
	if (bridged(el)) {
		cnt.loops++;
		ack(pid, qos);
		return;
	}
	if (qos > 0 && attr_uint(el, "dup") && redelivery(pid, qos))
		return;
	pid_of[pid] = P_NONE;
	if ((r = route_of(el)) == -1) {
		cnt.no_route++;
		log_warnx("publish topic %s: no route names it; dropped",
		    topic ? topic : "(binary)");
		ack(pid, qos);
		return;
	}
	if (!remap_out(el, pid, qos, topic))
		return;
	topic = xmpp_stanza_get_attribute(el, "topic");
	memcpy(m.src, adapter_gateway(ad), sizeof(m.src));
	memcpy(m.dst, conf->routes[r].to, sizeof(m.dst));
	m.seq = next_seq++;
	if (adapter_send(ad, &m, el, 0, NULL) == -1) {
		log_warn("publish topic %s: event not queued to xgwd",
		    topic ? topic : "(binary)");
		/* unacknowledged, it comes again */
		lost("xgwd does not keep up");
		return;
	}
	cnt.events++;
	if (qos == 0)
		return;
	h = at(rlen++);
	*h = (struct held){ m.seq, adapter_now_ms(), pid, qos, 1, 0 };
	nlive++;
}

/* Held messages of a session the broker no longer has are not resent. */
static void
session_gone(void)
{
	for (int i = 0; i < rlen; i++)
		if (at(i)->orphan == 1)
			at(i)->orphan = 2;
	memset(pid_of, P_NONE, sizeof(pid_of));
}

static void
on_connack(xmpp_stanza_t *el)
{
	uint64_t rc = attr_uint(el, "reason-code");

	if (rc != 0) {
		log_warnx("broker %s port %u refused the connection: %s",
		    conf->listen, conf->listen_port,
		    xmpp_stanza_get_attribute(el, "reason"));
		lost("connection refused");
		return;
	}
	if (!attr_uint(el, "session-present"))
		session_gone();
	state = L_UP;
	backoff_ms = BACKOFF_MIN_MS;
	cnt.connects++;
	log_info("broker %s port %u: connected as %s (MQTT %s%s), %d routes",
	    conf->listen, conf->listen_port, my_id, version == 5 ? "5" : "3.1.1",
	    local_tls_on() ? ", TLS" : "", conf->nroutes);
	send_subscribes();
}

static void
on_suback(xmpp_stanza_t *el)
{
	uint64_t r = attr_uint(el, "id");

	for (xmpp_stanza_t *c = xmpp_stanza_get_children(el); c != NULL;
	    c = xmpp_stanza_get_next(c))
		if (xmpp_stanza_is_tag(c) &&
		    strcmp(xmpp_stanza_get_name(c), "rc") == 0 &&
		    attr_uint(c, "code") >= 0x80 && r >= 1 &&
		    r <= (uint64_t)conf->nroutes)
			log_warnx("route \"%s\": the broker refused the "
			    "subscription: %s", conf->routes[r - 1].match,
			    xmpp_stanza_get_attribute(c, "name"));
}

static void
on_packet(const uint8_t *p, size_t n)
{
	struct xgw_mqtt_sess sess = { version, XGW_MQTT_CONNECT };
	xmpp_stanza_t *el;
	struct xgw_err e;
	const char *type;

	if (xgw_mqtt_decode(adapter_ctx(ad), &sess, p, n, &el, &e) == -1) {
		log_warnx("broker %s port %u: malformed packet, %s at byte %zu: "
		    "%s", conf->listen, conf->listen_port, e.reason, e.offset,
		    e.msg);
		lost("malformed packet");
		return;
	}
	type = xmpp_stanza_get_attribute(el, "type");
	if (state == L_CONNACK && strcmp(type, "connack") != 0)
		lost("expected CONNACK");
	else if (strcmp(type, "connack") == 0)
		on_connack(el);
	else if (strcmp(type, "publish") == 0)
		on_publish(el);
	else if (strcmp(type, "pubrel") == 0)
		send_id("pubcomp", attr_uint(el, "id"));
	else if (strcmp(type, "suback") == 0)
		on_suback(el);
	else if (strcmp(type, "disconnect") == 0) {
		log_warnx("broker %s port %u disconnects us: %s", conf->listen,
		    conf->listen_port, xmpp_stanza_get_attribute(el, "reason"));
		lost("DISCONNECT from the broker");
	} else if (strcmp(type, "pingresp") != 0)
		log_debug("broker sent a %s; ignored", type);
	xmpp_stanza_release(el);
}

/* The connection */

static void
lost(const char *why)
{
	if (state == L_DOWN)
		return;
	log_warnx("broker %s port %u: connection lost: %s; reconnecting in "
	    "%ums", conf->listen, conf->listen_port, why, backoff_ms);
	local_tls_end();
	close(fd);
	fd = -1;
	state = L_DOWN;
	inlen = outlen = 0;
	stalled = 0;
	cnt.lost++;
	for (int i = 0; i < rlen; i++)
		if (at(i)->live && at(i)->orphan == 0) {
			at(i)->orphan = 1;
			pid_of[at(i)->pid] = P_HELD;
		}
	retry_ms = adapter_now_ms() + backoff_ms;
	backoff_ms = backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS :
	    backoff_ms * 2;
}

static void
connect_broker(void)
{
	int one = 1;

	fd = socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (fd == -1)
		fatal("socket");
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	state = L_CONNECTING;
	conn_no++;
	deadline_ms = adapter_now_ms() + CONNECT_MS;
	if (connect(fd, (struct sockaddr *)&addr, addrlen) == -1 &&
	    errno != EINPROGRESS) {
		lost(strerror(errno));
		return;
	}
}

static void
start_mqtt(void)
{
	state = L_CONNACK;
	last_in_ms = ping_ms = adapter_now_ms();
	send_connect();
}

static void
connected(void)
{
	int err = 0;
	socklen_t sl = sizeof(err);

	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &sl) == -1 || err != 0) {
		lost(strerror(err ? err : errno));
		return;
	}
	if (!local_tls_on()) {
		start_mqtt();
		return;
	}
	state = L_TLS;
	if (local_tls_start(fd, conf->listen) == -1)
		lost("TLS setup failed");
	else
		handshake();
}

static void
handshake(void)
{
	switch (local_tls_handshake()) {
	case 1:
		start_mqtt();
		break;
	case -1:
		lost("TLS handshake failed");
		break;
	}
}

/* The whole packets read, as far as we may take them. */
static void
drain(void)
{
	struct xgw_err e;
	size_t len;
	int rc = 0;

	while (state != L_DOWN && !blocked() &&
	    (rc = xgw_mqtt_frame(in, inlen, &len, &e)) == 1) {
		on_packet(in, len);
		if (state == L_DOWN)
			return;
		memmove(in, in + len, inlen - len);
		inlen -= len;
	}
	stalled = state != L_DOWN && blocked() && inlen > 0;
	if (state != L_DOWN && rc == -1)
		lost(e.msg);
	else if (state != L_DOWN && !stalled && inlen == sizeof(in))
		lost("a packet above our maximum packet size");
}

static void
input(void)
{
	ssize_t n;

	n = conn_recv(fd, in + inlen, sizeof(in) - inlen);
	if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK ||
	    errno == EINTR))
		return;
	if (n <= 0) {
		lost(n == 0 ? "closed by the broker" : strerror(errno));
		return;
	}
	inlen += n;
	last_in_ms = adapter_now_ms();
	drain();
}

void
local_io(const struct pollfd *p, int n)
{
	short revents = n > 0 ? p->revents : 0;

	if (fd == -1 || revents == 0)
		return;
	if (state == L_CONNECTING) {
		connected();
		return;
	}
	if (state == L_TLS) {
		handshake();
		return;
	}
	if (!blocked() && (revents & (POLLIN | POLLHUP | POLLERR)))
		input();
	/* also when TLS had to read first */
	if (fd != -1 && outlen > 0)
		flush();
}

/* TLS may want to read to write, or the reverse. */
static short
local_events(void)
{
	if (state == L_CONNECTING)
		return POLLOUT;
	if (state == L_TLS)
		return local_tls_wants();
	return (blocked() ? 0 : POLLIN) | (outlen > 0 ? POLLOUT : 0) |
	    local_tls_wants();
}

int
local_pollfds(struct pollfd *p, int max)
{
	if (fd == -1 || max < 1)
		return 0;
	*p = (struct pollfd){ fd, local_events(), 0 };
	return 1;
}

/* Read, but not seen by poll: in our buffer while blocked, or in TLS's. */
static int
unread(void)
{
	return state >= L_CONNACK && !blocked() && (stalled || local_tls_pending());
}

void
local_timers(uint64_t now)
{
	if (unread()) {
		drain();
		if (state != L_DOWN && local_tls_pending())
			input();
	}
	if (state == L_DOWN && conf->listen[0] != '\0' && now >= retry_ms)
		connect_broker();
	else if (state != L_DOWN && state != L_UP && now >= deadline_ms)
		lost("no CONNACK in time");
	else if (state == L_UP && now - last_in_ms > KEEPALIVE_S * 1500)
		lost("the broker is silent");
	else if (state == L_UP && now - ping_ms >= KEEPALIVE_S * 500) {
		ping_ms = now;
		put(packet("pingreq"));
	}
	while (rlen > 0 && at(0)->live && now - at(0)->at_ms >= HOLD_MAX_MS) {
		log_warnx("event seq=%llu: not taken by xgwd in %ds; counted "
		    "as denied by the policy and acknowledged",
		    (unsigned long long)at(0)->seq, HOLD_MAX_MS / 1000);
		cnt.denied++;
		settle(at(0));
		ring_trim();
	}
}

int
local_timeout_ms(uint64_t now)
{
	uint64_t next;

	if (conf->listen[0] == '\0')
		return -1;
	if (unread())
		return 0;
	switch (state) {
	case L_DOWN:
		next = retry_ms;
		break;
	case L_UP:
		next = ping_ms + KEEPALIVE_S * 500;
		break;
	default:
		next = deadline_ms;
	}
	if (rlen > 0 && at(0)->at_ms + HOLD_MAX_MS < next)
		next = at(0)->at_ms + HOLD_MAX_MS;
	return next <= now ? 0 : (int)(next - now);
}

int
local_init(const struct conf_adapter *c)
{
	struct sockaddr_in *s4 = (struct sockaddr_in *)&addr;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&addr;

	conf = c;
	if (c->listen[0] == '\0')
		return 0;
	/* conf.c allows only addresses here */
	if (inet_pton(AF_INET, c->listen, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons(c->listen_port);
		addrlen = sizeof(*s4);
	} else if (inet_pton(AF_INET6, c->listen, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(c->listen_port);
		addrlen = sizeof(*s6);
	} else {
		log_warnx("listen %s: not an IPv4 or IPv6 address", c->listen);
		return -1;
	}
	version = c->mqtt.version;
	held_max = c->mqtt.receive_max;
	ring_size = RING_PER_HELD * held_max;
	if ((ring = calloc(ring_size, sizeof(*ring))) == NULL) {
		log_warn("held messages");
		return -1;
	}
	client_id(my_id, sizeof(my_id), "in");
	return 0;
}
