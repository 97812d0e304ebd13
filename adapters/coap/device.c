/*
 * The device side: requests from afar are restored, as the exact bytes
 * the far client sent, to local devices through one libcoap client
 * session per device (libcoap retransmits CON requests and acknowledges
 * CON responses), and the device's answer goes back as a response.
 *
 * Two bytes fields belong to this hop and are remapped, as Modbus
 * transaction ids are: the message id is always the session's own (the
 * requests of many far clients share one session, and a device would take
 * two equal ids for a duplicate), and the token is replaced only when a
 * request waiting at the same device already uses it (two far clients may
 * both send the empty token).  The answer gets both back before it leaves:
 * a piggybacked answer thus travels exactly as the device sent it, with
 * the far client's message id.
 *
 * An Observe registration that the device accepts is kept: notifications
 * go upstream as events of the registration's flow, and when the device
 * has been silent for longer than the last notification's Max-Age (RFC
 * 7641 3.3.1) the registration is sent again, which renews it or, after a
 * restart of the device, makes it anew.  A device keeps one observation
 * per client endpoint and resource (RFC 7641 4.1: a second registration
 * replaces the first, whatever its token), and this side is one endpoint
 * for every far observer: far observers of the same resource share one
 * registration, its token, and each of its notifications.
 *
 * libcoap's block-wise mode stays off: blocks are relayed one by one (see
 * client.c).  Requests libcoap cannot parse (coap_pdu_parse checks option
 * lengths against its table, unlike RFC 7252 5.4.3) get 5.02, and so do
 * answers that fill libcoap's receive buffer (COAP_RXBUFFER_SIZE, 1472
 * bytes), which cuts longer datagrams: devices with larger bodies must use
 * block-wise transfers (RFC 7252 4.6 asks for at most 1152 bytes anyway).
 */
#include <sys/socket.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>

#include <coap3/coap.h>

#include "log.h"
#include "xgw-coap.h"

#define DREQ_MAX	1024	/* requests waiting for their devices */
#define DOBS_MAX	256	/* observations kept */
#define MAX_AGE_S	60	/* RFC 7252 5.10.5: Max-Age when absent */
#define RENEW_SLACK_MS	5000	/* a notification may be this late before renewal */
#define TOKEN_TRIES	16

struct device {
	const struct conf_device *conf;
	coap_session_t	*session;
};

struct dobs {
	int		 used;
	struct device	*dev;
	char		 src[46];	/* the gateway that observes */
	uint64_t	 flow;
	struct tok	 tok, otok;	/* the device's, the far client's */
	struct xgw_buf	 reg;		/* the registration as the device gets it */
	uint64_t	 renew_at;
	uint64_t	 seq;
	int		 last;		/* the Observe value it has last been sent */
};

struct dreq {
	int		 used;
	struct device	*dev;
	struct xgw_meta	 m;		/* as it came; the answer swaps src and dst */
	struct tok	 tok, otok;
	uint16_t	 omid;
	int		 con;
	int		 observe;	/* the Observe value, -1 without one */
	struct xgw_buf	 reg;		/* a registration's bytes, for its observation */
	uint64_t	 deadline;
};

static coap_context_t *cctx;
static struct device devs[CONF_MAX_DEVICES];
static int	 ndevs;
static struct dreq dreqs[DREQ_MAX];
static struct dobs dobss[DOBS_MAX];

static int
device_session(struct device *d)
{
	struct addrinfo hints, *ai;
	coap_address_t addr;
	char port[8];
	int rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_DGRAM;
	hints.ai_flags = AI_NUMERICSERV;
	snprintf(port, sizeof(port), "%u", d->conf->port);
	if ((rc = getaddrinfo(d->conf->host, port, &hints, &ai)) != 0) {
		log_warnx("coap device %s host %s port %s: %s", d->conf->uuid,
		    d->conf->host, port, gai_strerror(rc));
		return -1;
	}
	coap_address_init(&addr);
	addr.size = ai->ai_addrlen;
	memcpy(&addr.addr.sa, ai->ai_addr, ai->ai_addrlen);
	freeaddrinfo(ai);
	if ((d->session = coap_new_client_session(cctx, NULL, &addr,
	    COAP_PROTO_UDP)) == NULL) {
		log_warnx("coap device %s host %s port %s: no libcoap session",
		    d->conf->uuid, d->conf->host, port);
		return -1;
	}
	coap_session_set_app_data(d->session, d);
	return 0;
}

static coap_response_t on_response(coap_session_t *, const coap_pdu_t *,
    const coap_pdu_t *, const coap_mid_t);
static void on_nack(coap_session_t *, const coap_pdu_t *,
    const coap_nack_reason_t, const coap_mid_t);

int
device_open(const struct conf_adapter *c)
{
	if ((cctx = coap_new_context(NULL)) == NULL) {
		log_warnx("coap: no libcoap context");
		return -1;
	}
	if (coap_context_get_coap_fd(cctx) == -1) {
		log_warnx("coap: libcoap is built without epoll; its descriptor "
		    "cannot join the poll loop");
		return -1;
	}
	coap_register_response_handler(cctx, on_response);
	coap_register_nack_handler(cctx, on_nack);
	for (ndevs = 0; ndevs < c->ndevices; ndevs++) {
		devs[ndevs].conf = &c->devices[ndevs];
		if (device_session(&devs[ndevs]) == -1)
			return -1;
	}
	log_info("coap device side: %d devices", ndevs);
	return 0;
}

int
device_pollfds(struct pollfd *p, int max)
{
	if (cctx == NULL || max < 1)
		return 0;
	*p = (struct pollfd){ coap_context_get_coap_fd(cctx), POLLIN, 0 };
	return 1;
}

/* Every round: libcoap keeps work of its own that no descriptor shows. */
void
device_io(const struct pollfd *p, int n)
{
	(void)p;
	(void)n;
	if (cctx != NULL && coap_io_process(cctx, COAP_IO_NO_WAIT) == -1)
		log_warnx("coap: libcoap I/O processing failed");
}

static struct device *
device_by_uuid(const char *uuid)
{
	for (int i = 0; i < ndevs; i++)
		if (strcmp(devs[i].conf->uuid, uuid) == 0)
			return &devs[i];
	return NULL;
}

static struct dreq *
dreq_find(const struct device *d, const uint8_t *t, size_t n)
{
	for (int i = 0; i < DREQ_MAX; i++)
		if (dreqs[i].used && dreqs[i].dev == d &&
		    tok_eq(&dreqs[i].tok, t, n))
			return &dreqs[i];
	return NULL;
}

/* Known to device d by token t; far observers may share one. */
static int
dobs_is(const struct dobs *o, const struct device *d, const uint8_t *t,
    size_t n)
{
	return o->used && o->dev == d && tok_eq(&o->tok, t, n);
}

static struct dobs *
dobs_find(const struct device *d, const uint8_t *t, size_t n)
{
	for (int i = 0; i < DOBS_MAX; i++)
		if (dobs_is(&dobss[i], d, t, n))
			return &dobss[i];
	return NULL;
}

/* The same options and payload after the token: the same resource. */
static int
same_request(const struct xgw_buf *a, const struct xgw_buf *b)
{
	size_t ha = 4 + (a->data[0] & 0x0f), hb = 4 + (b->data[0] & 0x0f);

	return a->len - ha == b->len - hb &&
	    memcmp(a->data + ha, b->data + hb, a->len - ha) == 0;
}

/* Any far observer's observation of the resource reg asks for. */
static struct dobs *
dobs_same(const struct device *d, const struct xgw_buf *reg)
{
	for (int i = 0; i < DOBS_MAX; i++)
		if (dobss[i].used && dobss[i].dev == d &&
		    same_request(&dobss[i].reg, reg))
			return &dobss[i];
	return NULL;
}

/* Another far observer shares o's registration at the device. */
static int
dobs_shared(const struct dobs *o)
{
	for (int i = 0; i < DOBS_MAX; i++)
		if (&dobss[i] != o && dobs_is(&dobss[i], o->dev, o->tok.b,
		    o->tok.len))
			return 1;
	return 0;
}

static struct dobs *
dobs_of(const struct device *d, const char *src, uint64_t flow)
{
	for (int i = 0; i < DOBS_MAX; i++)
		if (dobss[i].used && dobss[i].dev == d && dobss[i].flow == flow &&
		    strcmp(dobss[i].src, src) == 0)
			return &dobss[i];
	return NULL;
}

static void
dobs_free(struct dobs *o)
{
	xgw_buf_free(&o->reg);
	memset(o, 0, sizeof(*o));
}

static void
dreq_free(struct dreq *q)
{
	xgw_buf_free(&q->reg);
	memset(q, 0, sizeof(*q));
}

/*
 * The token the device sees: that of the observation the request renews,
 * joins or ends; else the far client's, unless a waiting request or an
 * observation has it.  One of several observers that leaves gets a token
 * of its own: its Observe 1 must not end the others' registration, and
 * with a token the device does not know it is a plain GET (RFC 7641 3.6).
 */
static int
device_token(struct device *d, const struct xgw_meta *m,
    const struct xgw_buf *b, int observe, struct tok *t)
{
	struct dobs *o = observe >= 0 ? dobs_of(d, m->src, m->flow) : NULL;

	if (o == NULL && observe == 0)
		o = dobs_same(d, b);
	if (o != NULL && (observe != 1 || !dobs_shared(o))) {
		*t = o->tok;	/* the observation, as the device knows it */
		return 0;
	}
	for (int i = 0; i < TOKEN_TRIES; i++) {
		if (dreq_find(d, t->b, t->len) == NULL &&
		    dobs_find(d, t->b, t->len) == NULL)
			return 0;
		t->len = t->len > 0 ? t->len : 4;
		random_bytes(t->b, t->len);
	}
	return -1;
}

static void
respond(const struct xgw_meta *rq, xmpp_stanza_t *el, enum xgw_dir dir,
    uint64_t flow, uint64_t seq)
{
	struct xgw_meta m;

	memset(&m, 0, sizeof(m));
	memcpy(m.src, rq->dst, sizeof(m.src));
	memcpy(m.dst, rq->src, sizeof(m.dst));
	m.flow = flow;
	m.seq = seq;
	m.dir = dir;
	if (adapter_send(ad, &m, el, 0, NULL) == -1)
		log_warnx("coap device %s flow=%llu: %s not handed to xgwd",
		    rq->dst, (unsigned long long)flow, xgw_dir_name(dir));
}

/* The device could not be asked or did not answer: 5.02 or 5.04 to the far client. */
static void
respond_code(const struct xgw_meta *rq, int con, uint16_t mid,
    const struct tok *t, unsigned code)
{
	struct xgw_buf b = { 0 };
	xmpp_stanza_t *el;

	if (msg_bare(&b, con ? T_ACK : T_NON, code, mid, t) == -1)
		fatalx("out of memory");
	if ((el = msg_decode(b.data, b.len, XGW_RESPONSE, "gateway error")) !=
	    NULL) {
		respond(rq, el, XGW_RESPONSE, rq->flow, rq->seq);
		xmpp_stanza_release(el);
	}
	xgw_buf_free(&b);
	if (code == CODE(5, 4))
		cnt.dev_timeouts++;
	else
		cnt.dev_failed++;
}

/* Our bytes, handed to libcoap as they are: it parses them into its PDU. */
static int
device_send(struct device *d, const struct xgw_buf *b)
{
	coap_pdu_t *pdu;

	if ((pdu = coap_pdu_init(0, 0, 0, b->len)) == NULL)
		fatalx("out of memory");
	if (!coap_pdu_parse(COAP_PROTO_UDP, b->data, b->len, pdu)) {
		coap_delete_pdu(pdu);
		log_warnx("coap device %s: libcoap refuses the message (%zu "
		    "bytes)", d->conf->uuid, b->len);
		cnt.dev_refused++;
		return -1;
	}
	if (coap_send(d->session, pdu) == COAP_INVALID_MID) {
		log_warnx("coap device %s: libcoap could not send the message",
		    d->conf->uuid);
		return -1;
	}
	return 0;
}

static struct dreq *
dreq_new(struct device *d, const struct xgw_meta *m, const struct xgw_buf *b,
    int observe, const struct tok *t)
{
	for (int i = 0; i < DREQ_MAX; i++)
		if (!dreqs[i].used) {
			struct dreq *q = &dreqs[i];

			q->used = 1;
			q->dev = d;
			q->m = *m;
			tok_get(b->data, &q->otok);
			q->tok = *t;
			q->omid = xgw_be16(b->data + 2);
			q->con = MSG_TYPE(b->data) == T_CON;
			q->observe = observe;
			q->deadline = adapter_now_ms() + d->conf->timeout_ms;
			return q;
		}
	return NULL;
}

void
device_request(const struct xgw_meta *m, xmpp_stanza_t *el)
{
	struct device *d = device_by_uuid(m->dst);
	struct xgw_buf b = { 0 };
	struct dreq *q = NULL;
	struct xgw_err e;
	struct tok t, ot;
	const char *why;
	uint16_t omid;
	int con;

	cnt.dev_requests++;
	if (msg_encode(el, &b, "request from afar") == -1 ||
	    MSG_CLASS(b.data) != 0 || b.data[1] == 0) {
		/* nothing to answer with: the far side times out (5.04) */
		log_warnx("coap flow=%llu: request from %s is not a CoAP request; "
		    "dropped", (unsigned long long)m->flow, m->src);
		xgw_buf_free(&b);
		return;
	}
	tok_get(b.data, &ot);
	t = ot;
	omid = xgw_be16(b.data + 2);
	con = MSG_TYPE(b.data) == T_CON;
	if (d == NULL)
		why = "no such device here";
	else if (device_token(d, m, &b, msg_observe(el), &t) == -1)
		why = "no free token at the device";
	else if ((q = dreq_new(d, m, &b, msg_observe(el), &t)) == NULL)
		why = "too many requests waiting";
	else if (msg_patch(&b, -1, coap_new_message_id(d->session), &t) == -1 ||
	    (q->observe == 0 && xgw_buf_put(&q->reg, b.data, b.len, &e) == -1))
		fatalx("out of memory");
	else if (device_send(d, &b) == -1)
		why = "not sent";
	else
		why = NULL;
	if (why != NULL) {
		log_warnx("coap flow=%llu device %s: %s; answered 5.02",
		    (unsigned long long)m->flow, m->dst, why);
		respond_code(m, con, omid, &ot, CODE(5, 2));
		if (q != NULL)
			dreq_free(q);
	}
	xgw_buf_free(&b);
}

/*
 * libcoap's PDU as the datagram it came in: header, token, options with
 * their deltas and lengths (RFC 7252 3.1 gives each exactly one
 * encoding), payload marker and payload.
 */
static int
opt_put(struct xgw_buf *b, unsigned delta, size_t len, const uint8_t *v,
    struct xgw_err *e)
{
	unsigned dn = delta < 13 ? delta : delta < 269 ? 13 : 14;
	unsigned ln = len < 13 ? len : len < 269 ? 13 : 14;

	return xgw_buf_u8(b, dn << 4 | ln, e) == -1 ||
	    (dn == 13 && xgw_buf_u8(b, delta - 13, e) == -1) ||
	    (dn == 14 && xgw_buf_u16(b, delta - 269, e) == -1) ||
	    (ln == 13 && xgw_buf_u8(b, len - 13, e) == -1) ||
	    (ln == 14 && xgw_buf_u16(b, len - 269, e) == -1) ||
	    xgw_buf_put(b, v, len, e) == -1 ? -1 : 0;
}

static int
pdu_bytes(const coap_pdu_t *pdu, struct xgw_buf *b)
{
	coap_bin_const_t t = coap_pdu_get_token(pdu);
	coap_opt_iterator_t oi;
	coap_opt_t *o;
	const uint8_t *data;
	unsigned prev = 0;
	struct xgw_err e;
	size_t len;

	if (xgw_buf_u8(b, 0x40 | coap_pdu_get_type(pdu) << 4 | t.length,
	    &e) == -1 || xgw_buf_u8(b, coap_pdu_get_code(pdu), &e) == -1 ||
	    xgw_buf_u16(b, (uint16_t)coap_pdu_get_mid(pdu), &e) == -1 ||
	    xgw_buf_put(b, t.s, t.length, &e) == -1)
		return -1;
	coap_option_iterator_init(pdu, &oi, COAP_OPT_ALL);
	while ((o = coap_option_next(&oi)) != NULL) {
		if (opt_put(b, oi.number - prev, coap_opt_length(o),
		    coap_opt_value(o), &e) == -1)
			return -1;
		prev = oi.number;
	}
	if (coap_get_data(pdu, &len, &data) && len > 0 &&
	    (xgw_buf_u8(b, 0xff, &e) == -1 || xgw_buf_put(b, data, len, &e) == -1))
		return -1;
	return 0;
}

static uint64_t
renew_at(const coap_pdu_t *pdu)
{
	coap_opt_iterator_t oi;
	coap_opt_t *o = coap_check_option(pdu, COAP_OPTION_MAXAGE, &oi);
	uint64_t age = o ? coap_decode_var_bytes8(coap_opt_value(o),
	    coap_opt_length(o)) : MAX_AGE_S;

	return adapter_now_ms() + age * 1000 + RENEW_SLACK_MS;
}

/* A registration the device accepted: its observation, kept until it ends. */
static void
observe_start(struct dreq *q, const coap_pdu_t *pdu, int observe)
{
	struct dobs *o = dobs_of(q->dev, q->m.src, q->m.flow);

	for (int i = 0; i < DOBS_MAX && o == NULL; i++)
		if (!dobss[i].used)
			o = &dobss[i];
	if (o == NULL) {
		log_warnx("coap device %s: %d observations kept; this one is "
		    "not renewed", q->dev->conf->uuid, DOBS_MAX);
		return;
	}
	xgw_buf_free(&o->reg);
	o->used = 1;
	o->dev = q->dev;
	memcpy(o->src, q->m.src, sizeof(o->src));
	o->flow = q->m.flow;
	o->tok = q->tok;
	o->otok = q->otok;
	o->reg = q->reg;
	q->reg = (struct xgw_buf){ 0 };
	o->renew_at = renew_at(pdu);
	o->last = observe;
}

static void
answer(struct dreq *q, struct xgw_buf *b, const coap_pdu_t *pdu)
{
	xmpp_stanza_t *el;
	struct dobs *o;

	if (msg_patch(b, -1, MSG_TYPE(b->data) == T_ACK ? q->omid : -1,
	    &q->otok) == -1 ||
	    (el = msg_decode(b->data, b->len, XGW_RESPONSE, "device answer")) ==
	    NULL) {
		respond_code(&q->m, q->con, q->omid, &q->otok, CODE(5, 2));
		return;
	}
	if (q->observe == 0 && msg_class(el) == 2 && msg_observe(el) >= 0)
		observe_start(q, pdu, msg_observe(el));
	else if (q->observe >= 0 &&
	    (o = dobs_of(q->dev, q->m.src, q->m.flow)) != NULL)
		dobs_free(o);	/* deregistered, or refused */
	respond(&q->m, el, XGW_RESPONSE, q->m.flow, q->m.seq);
	xmpp_stanza_release(el);
	cnt.dev_answers++;
}

static void
notify(struct dobs *o, struct xgw_buf *b, const coap_pdu_t *pdu)
{
	struct xgw_meta rq;
	xmpp_stanza_t *el;

	if (msg_patch(b, -1, -1, &o->otok) == -1 ||
	    (el = msg_decode(b->data, b->len, XGW_EVENT, "notification")) ==
	    NULL)
		return;
	/* a renewal's answer, or another observer's: this one has it already */
	if (msg_class(el) == 2 && msg_observe(el) >= 0 &&
	    msg_observe(el) == o->last) {
		o->renew_at = renew_at(pdu);
		xmpp_stanza_release(el);
		return;
	}
	o->last = msg_observe(el);
	memset(&rq, 0, sizeof(rq));
	memcpy(rq.src, o->src, sizeof(rq.src));
	memcpy(rq.dst, o->dev->conf->uuid, sizeof(rq.dst));
	respond(&rq, el, XGW_EVENT, o->flow, ++o->seq);
	cnt.dev_events++;
	/* RFC 7641 3.2: an error, or a success without Observe, ends it */
	if (msg_class(el) != 2 || msg_observe(el) < 0)
		dobs_free(o);
	else
		o->renew_at = renew_at(pdu);
	xmpp_stanza_release(el);
}

/*
 * Every far observer sharing the device's token gets the message, but
 * the one whose registration it answers: a registration's answer is the
 * resource's current state, a notification for the others too.
 */
static int
notify_all(const struct device *d, const coap_bin_const_t *t,
    const struct xgw_buf *b, const coap_pdu_t *pdu, const struct dreq *q)
{
	struct xgw_err e;
	int n = 0;

	for (int i = 0; i < DOBS_MAX; i++) {
		struct dobs *o = &dobss[i];
		struct xgw_buf copy = { 0 };

		if (!dobs_is(o, d, t->s, t->length) || (q != NULL &&
		    o->flow == q->m.flow && strcmp(o->src, q->m.src) == 0))
			continue;
		if (xgw_buf_put(&copy, b->data, b->len, &e) == -1)
			fatalx("out of memory");
		notify(o, &copy, pdu);
		xgw_buf_free(&copy);
		n++;
	}
	return n;
}

static coap_response_t
on_response(coap_session_t *s, const coap_pdu_t *sent, const coap_pdu_t *rcvd,
    const coap_mid_t mid)
{
	struct device *d = coap_session_get_app_data(s);
	coap_bin_const_t t = coap_pdu_get_token(rcvd);
	struct xgw_buf b = { 0 };
	struct dreq *q;
	int known = 1;

	(void)sent;
	(void)mid;
	if (pdu_bytes(rcvd, &b) == -1)
		fatalx("out of memory");
	q = dreq_find(d, t.s, t.length);
	if (b.len >= COAP_RXBUFFER_SIZE) {
		/* libcoap reads datagrams into this many bytes and cuts the rest */
		log_warnx("coap device %s: a message of %zu bytes or more, cut by "
		    "libcoap; dropped", d->conf->uuid, b.len);
		if (q != NULL) {
			respond_code(&q->m, q->con, q->omid, &q->otok,
			    CODE(5, 2));
			dreq_free(q);
		}
	} else {
		known = notify_all(d, &t, &b, rcvd, q) > 0 || q != NULL;
		if (q != NULL) {
			answer(q, &b, rcvd);
			dreq_free(q);
		}
	}
	xgw_buf_free(&b);
	/* RFC 7641 3.6: an unknown notification is rejected, which ends it */
	return known || coap_pdu_get_type(rcvd) == COAP_MESSAGE_ACK ?
	    COAP_RESPONSE_OK : COAP_RESPONSE_FAIL;
}

static void
on_nack(coap_session_t *s, const coap_pdu_t *sent,
    const coap_nack_reason_t reason, const coap_mid_t mid)
{
	struct device *d = coap_session_get_app_data(s);
	coap_bin_const_t t;
	struct dreq *q;

	(void)mid;
	if (sent == NULL)
		return;
	t = coap_pdu_get_token(sent);
	if ((q = dreq_find(d, t.s, t.length)) == NULL)
		return;		/* a renewal: the next one tries again */
	log_warnx("coap device %s flow=%llu: %s; answered %s", d->conf->uuid,
	    (unsigned long long)q->m.flow,
	    reason == COAP_NACK_TOO_MANY_RETRIES ? "no answer" :
	    reason == COAP_NACK_RST ? "device answered RST" : "not deliverable",
	    reason == COAP_NACK_TOO_MANY_RETRIES ? "5.04" : "5.02");
	respond_code(&q->m, q->con, q->omid, &q->otok,
	    reason == COAP_NACK_TOO_MANY_RETRIES ? CODE(5, 4) : CODE(5, 2));
	dreq_free(q);
}

static int
until(uint64_t at, uint64_t now)
{
	return at <= now ? 0 : at - now > INT32_MAX ? INT32_MAX : (int)(at - now);
}

int
device_timeout_ms(uint64_t now)
{
	int t = -1, d;

	for (int i = 0; i < DREQ_MAX; i++)
		if (dreqs[i].used) {
			d = until(dreqs[i].deadline, now);
			t = t < 0 || d < t ? d : t;
		}
	for (int i = 0; i < DOBS_MAX; i++)
		if (dobss[i].used) {
			d = until(dobss[i].renew_at, now);
			t = t < 0 || d < t ? d : t;
		}
	return t;
}

static void
renew(struct dobs *o, uint64_t now)
{
	log_info("coap device %s flow=%llu: no notification within Max-Age; "
	    "registering again", o->dev->conf->uuid, (unsigned long long)o->flow);
	cnt.renewals++;
	/* one renewal for every far observer of the registration */
	for (int i = 0; i < DOBS_MAX; i++)
		if (dobs_is(&dobss[i], o->dev, o->tok.b, o->tok.len))
			dobss[i].renew_at = now + MAX_AGE_S * 1000;
	if (msg_patch(&o->reg, -1, coap_new_message_id(o->dev->session),
	    NULL) == -1 || device_send(o->dev, &o->reg) == -1)
		log_warnx("coap device %s flow=%llu: renewal not sent",
		    o->dev->conf->uuid, (unsigned long long)o->flow);
}

void
device_timers(uint64_t now)
{
	for (int i = 0; i < DREQ_MAX; i++) {
		struct dreq *q = &dreqs[i];

		if (!q->used || q->deadline > now)
			continue;
		log_warnx("coap device %s flow=%llu: no answer within %ums; "
		    "answered 5.04", q->dev->conf->uuid,
		    (unsigned long long)q->m.flow, q->dev->conf->timeout_ms);
		respond_code(&q->m, q->con, q->omid, &q->otok, CODE(5, 4));
		dreq_free(q);
	}
	for (int i = 0; i < DOBS_MAX; i++)
		if (dobss[i].used && dobss[i].renew_at <= now)
			renew(&dobss[i], now);
}
