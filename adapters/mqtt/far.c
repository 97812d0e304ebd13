/*
 * Device side: an event from afar whose dst is one of our devices (a
 * broker, "device UUID host H port P [version 4|5]") is published there
 * with paho.mqtt.c (MQTTAsync, MQTT 5 or 3.1.1; ssl:// with the block's
 * CA when it has tls): the same topic (remapped by topic in), QoS, retain
 * flag, payload and properties, plus the user property BRIDGE_KEY naming
 * this gateway, by which our own client side, or another bridge's, knows
 * not to carry it back.  Two properties are not the message's but the
 * connection's and are left off: the subscription identifier and the
 * topic alias.  3.1.1 has no properties: they are dropped, and counted.
 *
 * Delivery is confirmed (adapter_confirm_delivery): each event is held
 * in a struct pub until its broker has it (PUBACK, PUBCOMP; for QoS 0 the
 * write) or refuses it (a reason code of 0x80 or more), and only then
 * finished, so that xgwd acknowledges it to its sender.  One lost with a
 * connection (paho: "operation incomplete", or a failed write) is
 * published again.  paho runs its own threads; they touch only atomics:
 * the counters of struct far and the state of a pub.  The main loop
 * finishes the events, publishes again, and reconnects with backoff.
 * Messages published while a broker is away wait in paho's buffer.
 */
#include <sys/eventfd.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <MQTTAsync.h>

#include "log.h"
#include "mqtt.h"
#include "xgw-mqtt.h"

#define KEEPALIVE_S	30
#define BACKOFF_MIN_MS	250
#define BACKOFF_MAX_MS	8000

enum { F_DOWN, F_CONNECTING, F_UP };

struct far {
	const struct conf_device *conf;
	MQTTAsync	 c;
	char		 id[64];
	int		 v5;
	atomic_int	 state;
	atomic_ulong	 outstanding, published, failed;
	uint64_t	 retry_ms;
	unsigned	 backoff_ms;
};

/*
 * An event being published, in slot event % ADAPTER_WINDOW: the runtime
 * hands on no event while the one a window before it is unfinished.
 */
enum { P_FREE, P_SENT, P_DONE, P_AGAIN };

struct pub {
	struct far	*far;
	uint64_t	 event, seq;	/* the runtime's number, the envelope's */
	xmpp_stanza_t	*el;		/* a copy, for publishing again */
	atomic_int	 state;
};

static struct far *fars;
static int nfars;
static MQTTAsync_SSLOptions tls_opts = MQTTAsync_SSLOptions_initializer;
static struct pub pubs[ADAPTER_WINDOW];
static atomic_int pubs_moved;	/* a callback set a state since the last look */
static int wake_fd = -1;	/* an eventfd: the first such callback wakes the loop */

/* paho's threads */

static void
on_connected(void *arg, MQTTAsync_successData5 *r)
{
	struct far *f = arg;

	(void)r;
	atomic_store(&f->state, F_UP);
	log_info("device %s (broker %s port %u): connected as %s", f->conf->uuid,
	    f->conf->host, f->conf->port, f->id);
}

static void
connect_failed(struct far *f, const char *message, int code)
{
	log_warnx("device %s (broker %s port %u): connect: %s (code %d); "
	    "retrying with backoff", f->conf->uuid, f->conf->host,
	    f->conf->port, message ? message : "failed", code);
	atomic_store(&f->state, F_DOWN);
}

static void
on_connect_failed(void *arg, MQTTAsync_failureData5 *r)
{
	connect_failed(arg, r ? r->message : NULL, r ? r->code : 0);
}

/* paho takes the callbacks of the connection's own version only. */
static void
on_connected3(void *arg, MQTTAsync_successData *r)
{
	(void)r;
	on_connected(arg, NULL);
}

static void
on_connect_failed3(void *arg, MQTTAsync_failureData *r)
{
	connect_failed(arg, r ? r->message : NULL, r ? r->code : 0);
}

static void
on_lost(void *arg, char *cause)
{
	struct far *f = arg;

	log_warnx("device %s (broker %s port %u): connection lost: %s",
	    f->conf->uuid, f->conf->host, f->conf->port,
	    cause ? cause : "unknown cause");
	atomic_store(&f->state, F_DOWN);
}

/* Required by paho; this client subscribes to nothing. */
static int
on_message(void *arg, char *topic, int len, MQTTAsync_message *m)
{
	(void)arg;
	(void)len;
	MQTTAsync_freeMessage(&m);
	MQTTAsync_free(topic);
	return 1;
}

static void
pub_moved(struct pub *p, int state)
{
	uint64_t one = 1;

	atomic_fetch_sub(&p->far->outstanding, 1);
	atomic_store(&p->state, state);
	/* the sooner xgwd knows, the fewer go out twice after a crash */
	if (!atomic_exchange(&pubs_moved, 1) &&
	    write(wake_fd, &one, sizeof(one)) == -1)
		log_warn("waking the main loop");
}

static void
on_published(void *arg, MQTTAsync_successData5 *r)
{
	struct pub *p = arg;

	(void)r;
	atomic_fetch_add(&p->far->published, 1);
	pub_moved(p, P_DONE);
}

/*
 * A refusal comes in the broker's acknowledgement (code 0, a reason code
 * of 0x80 or more) and is final; anything else is the connection's: paho
 * failed the write, or dropped the message with the session (a clean
 * start), and the broker may not have it.
 */
static void
on_publish_failed(void *arg, MQTTAsync_failureData5 *r)
{
	struct pub *p = arg;
	struct far *f = p->far;

	if (r->code == MQTTASYNC_SUCCESS &&
	    r->reasonCode >= MQTTREASONCODE_UNSPECIFIED_ERROR) {
		atomic_fetch_add(&f->failed, 1);
		log_warnx("device %s: event seq=%llu refused by the broker: %s "
		    "(reason %d)", f->conf->uuid, (unsigned long long)p->seq,
		    MQTTReasonCode_toString(r->reasonCode), r->reasonCode);
		pub_moved(p, P_DONE);
	} else {
		log_debug("device %s: event seq=%llu: %s; publishing again",
		    f->conf->uuid, (unsigned long long)p->seq,
		    MQTTAsync_strerror(r->code));
		pub_moved(p, P_AGAIN);
	}
}

static void
on_published3(void *arg, MQTTAsync_successData *r)
{
	(void)r;
	on_published(arg, NULL);
}

/* A 3.1.1 broker refuses nothing: it disconnects. */
static void
on_publish_failed3(void *arg, MQTTAsync_failureData *r)
{
	MQTTAsync_failureData5 r5 = MQTTAsync_failureData5_initializer;

	r5.code = r && r->code == MQTTASYNC_SUCCESS ? MQTTASYNC_FAILURE :
	    r ? r->code : MQTTASYNC_FAILURE;
	on_publish_failed(arg, &r5);
}

/* OpenSSL's reasons, one line each, when a TLS connection fails. */
static int
on_ssl_error(const char *str, size_t len, void *arg)
{
	(void)arg;
	log_warnx("device TLS: %.*s", (int)(len > 0 && str[len - 1] == '\n' ?
	    len - 1 : len), str);
	return 0;
}

/* The main loop */

static void
far_connect(struct far *f)
{
	MQTTAsync_connectOptions o5 = MQTTAsync_connectOptions_initializer5;
	MQTTAsync_connectOptions o3 = MQTTAsync_connectOptions_initializer;
	MQTTAsync_connectOptions *o = f->v5 ? &o5 : &o3;
	int rc;

	o->keepAliveInterval = KEEPALIVE_S;
	if (f->v5) {
		o->cleanstart = 1;
		o->onSuccess5 = on_connected;
		o->onFailure5 = on_connect_failed;
	} else {
		/* not MQTTVERSION_DEFAULT, which falls back to 3.1 */
		o->MQTTVersion = MQTTVERSION_3_1_1;
		o->cleansession = 1;
		o->onSuccess = on_connected3;
		o->onFailure = on_connect_failed3;
	}
	o->context = f;
	o->ssl = tls_opts.trustStore != NULL ? &tls_opts : NULL;
	atomic_store(&f->state, F_CONNECTING);
	if ((rc = MQTTAsync_connect(f->c, o)) != MQTTASYNC_SUCCESS) {
		log_warnx("device %s: connect: %s", f->conf->uuid,
		    MQTTAsync_strerror(rc));
		atomic_store(&f->state, F_DOWN);
	}
}

static struct far *
far_find(const char *uuid)
{
	for (int i = 0; i < nfars; i++)
		if (strcmp(fars[i].conf->uuid, uuid) == 0)
			return &fars[i];
	return NULL;
}

/* One string or binary attribute into a property; paho copies it. */
static int
prop_bytes(xmpp_stanza_t *c, const char *attr, struct xgw_buf *b,
    MQTTLenString *s, struct xgw_err *e)
{
	size_t n;

	if (xgw_get_bytes(c, attr, b, &n, e) == -1)
		return -1;
	s->len = (int)n;
	s->data = (char *)b->data;
	return 0;
}

/* Properties of the message itself: what 3.1.1 cannot carry. */
static int
has_own_props(xmpp_stanza_t *el)
{
	for (xmpp_stanza_t *c = xmpp_stanza_get_children(el); c != NULL;
	    c = xmpp_stanza_get_next(c))
		if (xmpp_stanza_is_tag(c) &&
		    strcmp(xmpp_stanza_get_name(c), "prop") == 0 &&
		    !is_prop(c, MQTTPROPERTY_CODE_SUBSCRIPTION_IDENTIFIER) &&
		    !is_prop(c, MQTTPROPERTY_CODE_TOPIC_ALIAS))
			return 1;
	return 0;
}

/* The message's own properties, and the bridge's mark. */
static int
props_of(xmpp_stanza_t *el, MQTTProperties *props, struct xgw_err *e)
{
	MQTTProperty p;
	struct xgw_buf k, v;
	unsigned id;
	int rc = 0;

	for (xmpp_stanza_t *c = xmpp_stanza_get_children(el);
	    c != NULL && rc == 0; c = xmpp_stanza_get_next(c)) {
		if (!xmpp_stanza_is_tag(c) ||
		    strcmp(xmpp_stanza_get_name(c), "prop") != 0)
			continue;
		memset(&p, 0, sizeof(p));
		k = v = (struct xgw_buf){ 0 };
		p.identifier = id = attr_uint(c, "id");
		switch (id) {
		case MQTTPROPERTY_CODE_PAYLOAD_FORMAT_INDICATOR:
			p.value.byte = attr_uint(c, "value");
			break;
		case MQTTPROPERTY_CODE_MESSAGE_EXPIRY_INTERVAL:
			p.value.integer4 = attr_uint(c, "value");
			break;
		case MQTTPROPERTY_CODE_CONTENT_TYPE:
		case MQTTPROPERTY_CODE_RESPONSE_TOPIC:
		case MQTTPROPERTY_CODE_CORRELATION_DATA:
			rc = prop_bytes(c, "value", &v, &p.value.data, e);
			break;
		case MQTTPROPERTY_CODE_USER_PROPERTY:
			rc = prop_bytes(c, "key", &k, &p.value.data, e) == -1 ||
			    prop_bytes(c, "value", &v, &p.value.value, e) == -1 ?
			    -1 : 0;
			break;
		default:
			continue;	/* the local connection's, not the message's */
		}
		if (rc == 0 && MQTTProperties_add(props, &p) != 0)
			rc = xgw_fail(e, 0, "no-memory", "property %u", id);
		xgw_buf_free(&k);
		xgw_buf_free(&v);
	}
	if (rc == 0) {
		memset(&p, 0, sizeof(p));
		p.identifier = MQTTPROPERTY_CODE_USER_PROPERTY;
		p.value.data = (MQTTLenString){ strlen(BRIDGE_KEY), BRIDGE_KEY };
		p.value.value = (MQTTLenString){ strlen(adapter_gateway(ad)),
		    (char *)adapter_gateway(ad) };
		if (MQTTProperties_add(props, &p) != 0)
			rc = xgw_fail(e, 0, "no-memory", "bridge property");
	}
	return rc;
}

static int
publish(struct pub *p, struct xgw_err *e)
{
	struct far *f = p->far;
	xmpp_stanza_t *el = p->el;
	MQTTAsync_message msg = MQTTAsync_message_initializer;
	MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
	struct xgw_buf topic = { 0 }, payload = { 0 };
	size_t n;
	int rc = -1;

	if (xgw_get_bytes(el, "topic", &topic, &n, e) == -1 ||
	    xgw_buf_u8(&topic, 0, e) == -1 ||
	    xgw_get_b64(el, "payload", &payload, &n, e) == -1 ||
	    (f->v5 && props_of(el, &msg.properties, e) == -1))
		goto done;
	msg.payload = payload.data;
	msg.payloadlen = (int)n;
	msg.qos = attr_uint(el, "qos");
	msg.retained = attr_uint(el, "retain");
	if (f->v5) {
		ro.onSuccess5 = on_published;
		ro.onFailure5 = on_publish_failed;
	} else {
		ro.onSuccess = on_published3;
		ro.onFailure = on_publish_failed3;
	}
	ro.context = p;
	atomic_store(&p->state, P_SENT);
	atomic_fetch_add(&f->outstanding, 1);
	if ((rc = MQTTAsync_sendMessage(f->c, (char *)topic.data, &msg,
	    &ro)) != MQTTASYNC_SUCCESS) {
		atomic_fetch_sub(&f->outstanding, 1);
		rc = xgw_fail(e, 0, "paho", "%s", MQTTAsync_strerror(rc));
	}
done:
	MQTTProperties_free(&msg.properties);
	xgw_buf_free(&topic);
	xgw_buf_free(&payload);
	return rc;
}

/* The broker has it, refused it, or it is dropped: xgwd may acknowledge it. */
static void
pub_finish(struct pub *p)
{
	xmpp_stanza_release(p->el);
	p->el = NULL;
	atomic_store(&p->state, P_FREE);
	adapter_event_done(ad, p->event);
}

static void
pub_again(struct pub *p)
{
	struct xgw_err e;

	cnt.far_again++;
	if (publish(p, &e) == -1) {
		cnt.far_dropped++;
		log_warnx("device %s: event seq=%llu not published again: %s; "
		    "dropped", p->far->conf->uuid, (unsigned long long)p->seq,
		    e.msg);
		pub_finish(p);
	}
}

/* What paho's threads reported since the last look. */
static void
pubs_collect(void)
{
	uint64_t n;

	/* drained first: a wake-up written after this is for a later look */
	if (read(wake_fd, &n, sizeof(n)) == -1 && errno != EAGAIN)
		log_warn("eventfd");
	if (!atomic_exchange(&pubs_moved, 0))
		return;
	for (int i = 0; i < ADAPTER_WINDOW; i++) {
		switch (atomic_load(&pubs[i].state)) {
		case P_DONE:
			pub_finish(&pubs[i]);
			break;
		case P_AGAIN:
			pub_again(&pubs[i]);
			break;
		}
	}
}

/* topic in; 0 when the event is dropped (counted). */
static int
remap_in(const struct xgw_meta *m, xmpp_stanza_t *el)
{
	const char *type = xmpp_stanza_get_attribute(el, "type");
	struct xgw_err e;
	int rc;

	if (type == NULL || strcmp(type, "publish") != 0)
		return 1;	/* refused whole below */
	if ((rc = topic_remap(el, CONF_IN, &e)) == 1)
		cnt.remapped++;
	if (rc != -1)
		return 1;
	cnt.remap_refused++;
	log_warnx("event flow=%llu seq=%llu for %s: topic not remapped: %s; "
	    "dropped", (unsigned long long)m->flow, (unsigned long long)m->seq,
	    m->dst, e.msg);
	return 0;
}

void
far_event(const struct xgw_meta *m, xmpp_stanza_t *el)
{
	struct far *f = far_find(m->dst);
	const char *type = xmpp_stanza_get_attribute(el, "type");
	struct xgw_buf b = { 0 };
	struct xgw_err e;
	xmpp_stanza_t *copy;
	struct pub *p;
	uint64_t ev;

	cnt.far_events++;
	if (f == NULL) {
		cnt.far_dropped++;
		log_warnx("event flow=%llu seq=%llu from %s: no device %s here; "
		    "dropped", (unsigned long long)m->flow,
		    (unsigned long long)m->seq, m->src, m->dst);
		return;
	}
	if (!remap_in(m, el))
		return;
	/* the transform checks the whole element before paho sees any of it */
	if (type == NULL || strcmp(type, "publish") != 0 ||
	    xgw_mqtt_encode(el, &b, &e) == -1) {
		cnt.far_bad++;
		log_warnx("event flow=%llu seq=%llu for %s: not an MQTT publish: "
		    "%s; dropped", (unsigned long long)m->flow,
		    (unsigned long long)m->seq, m->dst,
		    type == NULL || strcmp(type, "publish") != 0 ?
		    "type is not publish" : e.msg);
		xgw_buf_free(&b);
		return;
	}
	xgw_buf_free(&b);
	if (!f->v5 && has_own_props(el) && cnt.props_dropped++ == 0)
		log_info("device %s: MQTT 3.1.1 carries no properties; dropped "
		    "(counted as props-dropped)", f->conf->uuid);
	if ((copy = xmpp_stanza_copy(el)) == NULL) {
		cnt.far_dropped++;
		log_warnx("device %s: event seq=%llu: out of memory; dropped",
		    f->conf->uuid, (unsigned long long)m->seq);
		return;
	}
	ev = adapter_event_hold(ad);
	p = &pubs[ev % ADAPTER_WINDOW];
	p->far = f;
	p->event = ev;
	p->seq = m->seq;
	p->el = copy;
	if (publish(p, &e) == -1) {
		cnt.far_dropped++;
		log_warnx("device %s: event seq=%llu not published: %s; dropped",
		    f->conf->uuid, (unsigned long long)m->seq, e.msg);
		pub_finish(p);
	}
}

/* Folds the paho threads' counts into cnt. */
static void
far_counters(void)
{
	cnt.far_published = cnt.far_failed = 0;
	for (int i = 0; i < nfars; i++) {
		cnt.far_published += atomic_load(&fars[i].published);
		cnt.far_failed += atomic_load(&fars[i].failed);
	}
}

void
far_timers(uint64_t now)
{
	far_counters();
	if (nfars > 0)
		pubs_collect();
	for (int i = 0; i < nfars; i++) {
		struct far *f = &fars[i];

		if (atomic_load(&f->state) == F_UP)
			f->backoff_ms = BACKOFF_MIN_MS;
		if (atomic_load(&f->state) != F_DOWN)
			continue;
		if (f->retry_ms == 0) {
			/* just went down: wait before the next attempt */
			f->retry_ms = now + f->backoff_ms;
			f->backoff_ms = f->backoff_ms * 2 > BACKOFF_MAX_MS ?
			    BACKOFF_MAX_MS : f->backoff_ms * 2;
		} else if (now >= f->retry_ms) {
			f->retry_ms = 0;
			far_connect(f);
		}
	}
}

/* paho's threads write it when a publish is over (-1: no devices). */
int
far_pollfds(struct pollfd *p, int max)
{
	if (wake_fd == -1 || max < 1)
		return 0;
	*p = (struct pollfd){ wake_fd, POLLIN, 0 };
	return 1;
}

/* Reconnections: look again at least this often. */
int
far_timeout_ms(uint64_t now)
{
	(void)now;
	return nfars > 0 ? 100 : -1;
}

/*
 * xgwd is gone: no confirmation can reach it any more, and what it did
 * not acknowledge comes again from the senders.  Publishing what paho
 * still queues would only make more duplicates: MQTTAsync_destroy drops
 * it and closes the connection (with a DISCONNECT), where
 * MQTTAsync_disconnect would send the queue first.
 */
void
far_stop(void)
{
	unsigned long left;

	for (int i = 0; i < nfars; i++) {
		struct far *f = &fars[i];

		if ((left = atomic_load(&f->outstanding)) > 0)
			log_info("device %s: %lu publishes unconfirmed at exit; "
			    "their senders send them again", f->conf->uuid,
			    left);
		MQTTAsync_destroy(&f->c);
	}
}

void
far_start(void)
{
	for (int i = 0; i < nfars; i++)
		far_connect(&fars[i]);
}

/* paho reads the files at each connect: they must stay readable. */
static void
tls_options(const struct conf_mqtt *m)
{
	if (m->ca[0] == '\0')
		return;
	tls_opts.trustStore = m->ca;
	if (m->cert[0] != '\0') {
		tls_opts.keyStore = m->cert;
		tls_opts.privateKey = m->key;
	}
	tls_opts.enableServerCertAuth = 1;
	tls_opts.verify = 1;		/* the host name or address, too */
	tls_opts.sslVersion = MQTT_SSL_VERSION_TLS_1_2;
	tls_opts.ssl_error_cb = on_ssl_error;
}

int
far_init(const struct conf_adapter *c)
{
	MQTTAsync_createOptions co5 = MQTTAsync_createOptions_initializer5;
	MQTTAsync_createOptions co3 = MQTTAsync_createOptions_initializer;
	const char *scheme = c->mqtt.ca[0] != '\0' ? "ssl" : "tcp";
	char uri[300], suffix[16];
	int rc;

	nfars = c->ndevices;
	if (nfars == 0)
		return 0;
	if ((fars = calloc(nfars, sizeof(*fars))) == NULL) {
		log_warn("devices");
		return -1;
	}
	if ((wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1) {
		log_warn("eventfd");
		return -1;
	}
	tls_options(&c->mqtt);
	co5.sendWhileDisconnected = co3.sendWhileDisconnected = 1;
	/* all could be for one */
	co5.maxBufferedMessages = co3.maxBufferedMessages = ADAPTER_WINDOW;
	co3.MQTTVersion = MQTTVERSION_3_1_1;
	for (int i = 0; i < nfars; i++) {
		struct far *f = &fars[i];

		f->conf = &c->devices[i];
		f->v5 = f->conf->version == 5;
		f->backoff_ms = BACKOFF_MIN_MS;
		snprintf(suffix, sizeof(suffix), "out%d", i);
		client_id(f->id, sizeof(f->id), suffix);
		snprintf(uri, sizeof(uri), strchr(f->conf->host, ':') ?
		    "%s://[%s]:%u" : "%s://%s:%u", scheme, f->conf->host,
		    f->conf->port);
		if ((rc = MQTTAsync_createWithOptions(&f->c, uri, f->id,
		    MQTTCLIENT_PERSISTENCE_NONE, NULL, f->v5 ? &co5 : &co3)) !=
		    MQTTASYNC_SUCCESS ||
		    (rc = MQTTAsync_setCallbacks(f->c, f, on_lost, on_message,
		    NULL)) != MQTTASYNC_SUCCESS) {
			log_warnx("device %s (%s): %s", f->conf->uuid, uri,
			    MQTTAsync_strerror(rc));
			return -1;
		}
	}
	return 0;
}
