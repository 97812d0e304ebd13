/*
 * xmppecho: the bare XMPP baseline of the path benchmarks (modbus_path.sh,
 * http_path.sh, mqtt_path.sh).  Two plain c2s clients of the same server,
 * set up as xgwd's link is (STARTTLS required, the CA verified, SCRAM,
 * XEP-0198 when offered, TCP_NODELAY, presence so that the bare JID
 * routes), exchange the stanzas the two gateways exchange for one
 * exchange: the request's and the response's <message><pdu/></message>,
 * built once by the transforms at start.  Nothing is translated or judged
 * per stanza: the receiver copies flow and seq into its prepared answer
 * and sends it back.
 *
 *   xmppecho recv COMMON            until SIGTERM; prints "ready" when available
 *   xmppecho send COMMON -t PEER -c CLIENTS -n COUNT [-w WARMUP] [-T SECS]
 *                [-r JID -K PASSWORD]
 *   COMMON: -s ADDRESS -p PORT -a CA -j JID -k PASSWORD
 *           [-P modbus|http|mqtt] [-q QTY] [-b BYTES] [-Q QOS]
 *
 * Modbus (the default): read QTY holding registers and plcsim's answer.
 * HTTP: mbload's GET /dev/hello and devsim.py's answer (bench.c).  MQTT:
 * the event gateway A sends for one PUBLISH of BYTES payload at QOS on
 * BENCH_MQTT_TOPIC, as its broker hands it over (MQTT 5, a subscription
 * identifier).  Events go one way, so there is no recv process: the
 * sender logs in a second connection as the receiver (-r JID -K PASSWORD,
 * reached as PEER), which takes each event as an answer (CLIENTS events
 * in flight, the latency one way) and acknowledges every 64th to the
 * sender as a receiving gateway does.
 *
 * The sender keeps CLIENTS requests in flight (flow i for client i), as
 * gateway A does for CLIENTS Modbus clients, and prints bench_report's line.
 */
#include <err.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <strophe.h>

#include "bench.h"
#include "bench_xmpp.h"
#include "http.h"
#include "modbus.h"
#include "mqtt.h"
#include "xgw_transform.h"

/* the endpoints of modbus_path.sh: only their length matters */
#define SRC_UUID	"urn:uuid:a0a0a0a0-a0a0-4a0a-8a0a-a0a0a0a0a0a0"
#define DST_UUID	"urn:uuid:11111111-1111-4111-8111-111111111111"

struct vclient {
	uint64_t	 seq;
	uint64_t	 sent_us;
	int		 busy;
};

struct echo {
	xmpp_ctx_t	*ctx;
	xmpp_conn_t	*conn;
	xmpp_conn_t	*sink;		/* one-way: the receiving end, or NULL */
	xmpp_stanza_t	*msg;		/* what we send: the request, or the answer */
	xmpp_stanza_t	*pdu;		/* its envelope, whose flow and seq change */
	xmpp_stanza_t	*ack;		/* one-way: the sink's acknowledgement */
	int		 up;		/* connections up */
	/* the sender */
	struct vclient	*vc;
	unsigned	 nclients;
	uint64_t	 seq;
	size_t		 issued, done, count;
	uint32_t	*lat;
	unsigned long	 errors, stale;
	uint64_t	 deadline_us;
};

/* What one exchange carries, as bytes on the legacy side. */
struct exchange {
	const struct xgw_proto	*proto;
	enum xgw_dir		 dir;		/* of the first PDU */
	struct xgw_buf		 req, rsp;
	unsigned		 qty, qos;
	size_t			 size;
};

static void
put(struct xgw_buf *b, const void *p, size_t n)
{
	struct xgw_err err;

	if (xgw_buf_put(b, p, n, &err) == -1)
		errx(1, "%s", err.msg);
}

static void
put_varint(struct xgw_buf *b, size_t v)
{
	uint8_t c;

	do {
		c = v & 0x7f;
		v >>= 7;
		put(b, &(uint8_t){ c | (v ? 0x80 : 0) }, 1);
	} while (v);
}

/* The PUBLISH of gateway A's route 1 (mqtt_path.sh); no answer. */
static void
mqtt_exchange(struct exchange *x)
{
	const char *topic = BENCH_MQTT_TOPIC;
	size_t tlen = strlen(topic), k;
	uint8_t pad[256] = { 0 };

	put(&x->req, &(uint8_t){ 0x30 | x->qos << 1 }, 1);
	put_varint(&x->req, 2 + tlen + (x->qos ? 2 : 0) + 3 + x->size);
	put(&x->req, (uint8_t[]){ 0, (uint8_t)tlen }, 2);
	put(&x->req, topic, tlen);
	if (x->qos)
		put(&x->req, (uint8_t[]){ 0, 1 }, 2);
	/* properties: 2 bytes, the subscription identifier 1 */
	put(&x->req, (uint8_t[]){ 2, 0x0b, 1 }, 3);
	for (size_t n = 0; n < x->size; n += k) {
		k = x->size - n < sizeof(pad) ? x->size - n : sizeof(pad);
		put(&x->req, pad, k);
	}
}

static void
build_exchange(struct exchange *x)
{
	uint8_t adu[XGW_MODBUS_ADU_MAX];
	char req[64];
	const char *name = x->proto->name;

	x->dir = XGW_REQUEST;
	if (strcmp(name, "modbus") == 0) {
		put(&x->req, adu, bench_request(adu, 1, 1, 0, x->qty));
		put(&x->rsp, adu, bench_response(adu, 1, 1, 0, x->qty));
	} else if (strcmp(name, "http") == 0) {
		put(&x->req, req, bench_http_request(req, sizeof(req), 1));
		put(&x->rsp, bench_http_response, strlen(bench_http_response));
	} else {
		x->dir = XGW_EVENT;
		mqtt_exchange(x);
	}
}

/*
 * Both PDUs through the protocol's decode, in one session (an HTTP answer
 * is read knowing its request); the element of this side's PDU.  An event
 * has no answer.
 */
static xmpp_stanza_t *
decode_exchange(xmpp_ctx_t *ctx, struct exchange *x, int sender)
{
	struct xgw_mqtt_sess *mq;
	xmpp_stanza_t *el[2];
	struct xgw_err err;
	void *sess;

	if ((sess = calloc(1, x->proto->sess_size + 1)) == NULL)
		errx(1, "out of memory");
	if (x->proto == &xgw_mqtt_proto) {
		/* as the adapter's connection, which says MQTT 5 in CONNECT */
		mq = sess;
		mq->level = 5;
		mq->learnt = XGW_MQTT_CONNECT;
	}
	el[1] = NULL;
	if (x->proto->decode(ctx, sess, x->dir, x->req.data, x->req.len,
	    &el[0], &err) == -1 || (x->rsp.len > 0 && x->proto->decode(ctx,
	    sess, XGW_RESPONSE, x->rsp.data, x->rsp.len, &el[1], &err) == -1))
		errx(1, "the benchmark's own %s PDU does not decode: %s",
		    x->proto->name, err.msg);
	free(sess);
	if (el[sender ? 1 : 0] != NULL)
		xmpp_stanza_release(el[sender ? 1 : 0]);
	return el[sender ? 0 : 1];
}

/* <message type="normal"><pdu .../></message> for this side's PDU. */
static void
prepare(struct echo *e, struct exchange *x, int sender)
{
	struct xgw_meta m = { .flow = 1, .seq = 1 };
	xmpp_stanza_t *el;

	build_exchange(x);
	el = decode_exchange(e->ctx, x, sender);
	m.dir = sender ? x->dir : XGW_RESPONSE;
	snprintf(m.src, sizeof(m.src), "%s", sender ? SRC_UUID : DST_UUID);
	snprintf(m.dst, sizeof(m.dst), "%s", sender ? DST_UUID : SRC_UUID);
	xgw_buf_free(&x->req);
	xgw_buf_free(&x->rsp);
	if ((e->pdu = xgw_envelope(e->ctx, &m, el)) == NULL ||
	    (e->msg = xgw_el_new(e->ctx, "message", NULL)) == NULL ||
	    xmpp_stanza_set_type(e->msg, "normal") != XMPP_EOK ||
	    xmpp_stanza_add_child(e->msg, e->pdu) != XMPP_EOK)
		errx(1, "out of memory");
	xmpp_stanza_release(el);
}

static void
conn_event(xmpp_conn_t *conn, xmpp_conn_event_t ev, int error,
    xmpp_stream_error_t *se, void *arg)
{
	struct echo *e = arg;
	xmpp_stanza_t *pres;

	(void)se;
	if (ev == XMPP_CONN_CONNECT) {
		if ((pres = xmpp_presence_new(e->ctx)) == NULL)
			errx(1, "out of memory");
		xmpp_send(conn, pres);
		xmpp_stanza_release(pres);
		e->up++;
		return;
	}
	if (ev == XMPP_CONN_DISCONNECT && !bench_quit)
		errx(1, "%s: connection lost or refused (error %d)",
		    xmpp_conn_get_jid(conn), error);
	e->up--;
}

/* The envelope of a received message, or NULL after counting why not. */
static xmpp_stanza_t *
envelope(struct echo *e, xmpp_stanza_t *st)
{
	const char *type = xmpp_stanza_get_type(st);
	xmpp_stanza_t *pdu;

	if (type != NULL && strcmp(type, "error") == 0) {
		if (e->errors++ == 0)
			fprintf(stderr, "xmppecho: an error bounced from %s\n",
			    xmpp_stanza_get_from(st));
		return NULL;
	}
	if ((pdu = xmpp_stanza_get_child_by_name_and_ns(st, "pdu",
	    XGW_NS)) == NULL)
		e->errors++;
	return pdu;
}

static int
on_request(xmpp_conn_t *conn, xmpp_stanza_t *st, void *arg)
{
	struct echo *e = arg;
	xmpp_stanza_t *pdu = envelope(e, st);
	const char *flow, *seq, *from = xmpp_stanza_get_from(st);

	if (pdu == NULL || from == NULL ||
	    (flow = xmpp_stanza_get_attribute(pdu, "flow")) == NULL ||
	    (seq = xmpp_stanza_get_attribute(pdu, "seq")) == NULL)
		return 1;
	if (xmpp_stanza_set_attribute(e->pdu, "flow", flow) != XMPP_EOK ||
	    xmpp_stanza_set_attribute(e->pdu, "seq", seq) != XMPP_EOK ||
	    xmpp_stanza_set_to(e->msg, from) != XMPP_EOK)
		errx(1, "out of memory");
	xmpp_send(conn, e->msg);
	return 1;
}

static void
issue(struct echo *e, unsigned i)
{
	struct vclient *c = &e->vc[i];

	c->seq = ++e->seq;
	c->busy = 1;
	if (xgw_set_uint(e->pdu, "flow", i + 1) == -1 ||
	    xgw_set_uint(e->pdu, "seq", c->seq) == -1)
		errx(1, "out of memory");
	c->sent_us = bench_now_us();
	xmpp_send(e->conn, e->msg);
	e->issued++;
}

static int
on_answer(xmpp_conn_t *conn, xmpp_stanza_t *st, void *arg)
{
	struct echo *e = arg;
	xmpp_stanza_t *pdu = envelope(e, st);
	struct xgw_err err;
	uint64_t flow, seq;
	struct vclient *c;

	(void)conn;
	if (pdu == NULL)
		return 1;
	if (xgw_get_uint(pdu, "flow", UINT64_MAX, &flow, &err) == -1 ||
	    xgw_get_uint(pdu, "seq", UINT64_MAX, &seq, &err) == -1)
		errx(1, "an answer with a bad envelope: %s", err.msg);
	/*
	 * Prosody's XEP-0198 hands the messages a closed session had not
	 * acknowledged to the account's next session: answers to an earlier
	 * sender can reach this one.  Its seqs never meet ours (see main).
	 */
	if (flow == 0 || flow > e->nclients || !e->vc[flow - 1].busy ||
	    e->vc[flow - 1].seq != seq) {
		e->stale++;
		return 1;
	}
	c = &e->vc[flow - 1];
	if (e->lat != NULL)
		e->lat[e->done] = (uint32_t)(bench_now_us() - c->sent_us);
	e->done++;
	c->busy = 0;
	if (e->issued < e->count)
		issue(e, (unsigned)(flow - 1));
	return 1;
}

/* The sink: each event answers itself; every 64th is acknowledged. */
static int
on_event(xmpp_conn_t *conn, xmpp_stanza_t *st, void *arg)
{
	struct echo *e = arg;
	const char *from = xmpp_stanza_get_from(st);
	xmpp_stanza_t *pdu;
	size_t done = e->done;

	on_answer(conn, st, arg);
	if (e->done == done || from == NULL ||
	    (e->done % 64 != 0 && e->done != e->count))
		return 1;
	/* on_answer took it: an envelope with a seq */
	pdu = xmpp_stanza_get_child_by_name_and_ns(st, "pdu", XGW_NS);
	if (xmpp_stanza_set_attribute(xmpp_stanza_get_children(e->ack), "seq",
	    xmpp_stanza_get_attribute(pdu, "seq")) != XMPP_EOK ||
	    xmpp_stanza_set_to(e->ack, from) != XMPP_EOK)
		errx(1, "out of memory");
	xmpp_send(conn, e->ack);
	return 1;
}

/* The sender of one-way events takes the acknowledgements in. */
static int
on_ack(xmpp_conn_t *conn, xmpp_stanza_t *st, void *arg)
{
	(void)conn;
	(void)st;
	(void)arg;
	return 1;
}

static void
prepare_ack(struct echo *e)
{
	xmpp_stanza_t *ack;

	if ((e->ack = xgw_el_new(e->ctx, "message", NULL)) == NULL ||
	    xmpp_stanza_set_type(e->ack, "normal") != XMPP_EOK ||
	    (ack = xgw_el_new(e->ctx, "ack", XGW_NS)) == NULL ||
	    xmpp_stanza_add_child(e->ack, ack) != XMPP_EOK)
		errx(1, "out of memory");
	xmpp_stanza_release(ack);
}

static void
run(void *arg, size_t count, uint32_t *lat)
{
	struct echo *e = arg;

	e->count = count;
	e->issued = e->done = 0;
	e->lat = lat;
	for (unsigned i = 0; i < e->nclients && e->issued < count; i++)
		issue(e, i);
	while (e->done < count) {
		if (bench_now_us() > e->deadline_us)
			errx(1, "%zu of %zu stanzas unanswered at the deadline",
			    count - e->done, count);
		xmpp_run_once(e->ctx, 100);
	}
}

static void
usage(void)
{
	fprintf(stderr, "usage: xmppecho recv|send -s address -p port -a ca "
	    "-j jid -k password\n"
	    "       [-P modbus|http|mqtt] [-q qty] [-b bytes] [-Q qos]\n"
	    "       [-t peer -c clients -n count -w warmup -T secs]\n"
	    "       [-r jid -K password]\n");
	exit(2);
}

/* A connection set up as xgwd's link, started; stanzas go to handler. */
static xmpp_conn_t *
dial(struct echo *e, const char *server, unsigned short port,
    const char *ca, const char *jid, const char *pass,
    xmpp_handler handler)
{
	xmpp_conn_t *conn;

	if ((conn = xmpp_conn_new(e->ctx)) == NULL)
		errx(1, "out of memory");
	xmpp_conn_set_flags(conn, XMPP_CONN_FLAG_MANDATORY_TLS);
	xmpp_conn_set_cafile(conn, ca);
	xmpp_conn_set_sockopt_callback(conn, bench_xmpp_sockopt);
	xmpp_conn_set_jid(conn, jid);
	xmpp_conn_set_pass(conn, pass);
	xmpp_handler_add(conn, handler, NULL, "message", NULL, e);
	if (xmpp_connect_client(conn, server, port, conn_event, e) !=
	    XMPP_EOK)
		errx(1, "%s: connection not started", jid);
	return conn;
}

static void
hang_up(struct echo *e)
{
	bench_quit = 1;
	xmpp_disconnect(e->conn);
	if (e->sink != NULL)
		xmpp_disconnect(e->sink);
	bench_xmpp_down(e->ctx, &e->up);
	xmpp_conn_release(e->conn);
	if (e->sink != NULL)
		xmpp_conn_release(e->sink);
}

int
main(int argc, char *argv[])
{
	struct echo e = { 0 };
	struct exchange x = { .proto = &xgw_modbus_proto, .qty = 10,
	    .qos = 1, .size = 64 };
	const char *server = NULL, *ca = NULL, *jid = NULL, *pass = NULL;
	const char *peer = NULL, *sink_jid = NULL, *sink_pass = NULL;
	struct bench_opts o = { .secs = 300 };
	int ch, sender;

	if (argc < 2 || (strcmp(argv[1], "recv") != 0 &&
	    strcmp(argv[1], "send") != 0))
		usage();
	sender = strcmp(argv[1], "send") == 0;
	optind = 2;
	while ((ch = bench_getopt(&o, argc, argv,
	    "K:P:Q:T:a:b:c:j:k:n:p:q:r:s:t:w:")) != -1) {
		switch (ch) {
		case 'K':
			sink_pass = optarg;
			break;
		case 'r':
			sink_jid = optarg;
			break;
		case 'P':
			if ((x.proto = xgw_proto_find(optarg)) == NULL ||
			    (x.proto != &xgw_modbus_proto &&
			    x.proto != &xgw_http_proto &&
			    x.proto != &xgw_mqtt_proto))
				usage();
			break;
		case 'Q':
			x.qos = bench_number("Q", optarg, 0, 1);
			break;
		case 'b':
			x.size = bench_number("b", optarg, 0, 65536);
			break;
		case 'a':
			ca = optarg;
			break;
		case 'c':
			/* virtual clients: slots in flight, no socket each */
			e.nclients = bench_number("c", optarg, 1, 65535);
			break;
		case 'j':
			jid = optarg;
			break;
		case 'k':
			pass = optarg;
			break;
		case 'q':
			x.qty = bench_number("q", optarg, 1, 125);
			break;
		case 's':
			server = optarg;
			break;
		case 't':
			peer = optarg;
			break;
		default:
			usage();
		}
	}
	if (server == NULL || o.port == 0 || ca == NULL || jid == NULL ||
	    pass == NULL || optind != argc || (sender && (peer == NULL ||
	    e.nclients == 0 || o.count == 0)) ||
	    /* events go one way: the receiver is in the sender */
	    (x.proto == &xgw_mqtt_proto) != (sink_jid != NULL) ||
	    (sink_jid != NULL) != (sink_pass != NULL) ||
	    (sink_jid != NULL && !sender))
		usage();
	bench_signals();

	xmpp_initialize();
	if ((e.ctx = xmpp_ctx_new(NULL, NULL)) == NULL)
		errx(1, "out of memory");
	prepare(&e, &x, sender);
	/*
	 * Before the first connect: the server hands a session what an
	 * earlier one of the account left unacknowledged, at once.
	 */
	if (sender && (e.vc = calloc(e.nclients, sizeof(*e.vc))) == NULL)
		errx(1, "out of memory");
	e.conn = dial(&e, server, (unsigned short)o.port, ca, jid, pass,
	    sink_jid != NULL ? on_ack : sender ? on_answer : on_request);
	if (sink_jid != NULL) {
		prepare_ack(&e);
		e.sink = dial(&e, server, (unsigned short)o.port, ca, sink_jid,
		    sink_pass, on_event);
	}
	bench_xmpp_up(e.ctx, &e.up, e.sink != NULL ? 2 : 1, jid);
	if (sender) {
		if (xmpp_stanza_set_to(e.msg, peer) != XMPP_EOK)
			errx(1, "out of memory");
		/* above every seq an earlier sender of this boot used */
		e.seq = bench_now_us() * 1000;
		e.deadline_us = bench_now_us() + o.secs * 1000000ULL;
		bench_measure(&o, run, &e, &e.errors);
		if (e.stale > 0)
			fprintf(stderr, "xmppecho: %lu answers of an earlier "
			    "session ignored\n", e.stale);
		free(e.vc);
	} else {
		printf("ready\n");
		fflush(stdout);
		while (!bench_quit)
			xmpp_run_once(e.ctx, 100);
	}
	hang_up(&e);
	xmpp_stanza_release(e.msg);
	xmpp_stanza_release(e.pdu);
	if (e.ack != NULL)
		xmpp_stanza_release(e.ack);
	xmpp_ctx_free(e.ctx);
	xmpp_shutdown();
	return 0;
}
