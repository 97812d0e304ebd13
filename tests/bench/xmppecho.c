/*
 * xmppecho: the bare XMPP baseline of modbus_path.sh.  Two plain c2s
 * clients of the same server, set up as xgwd's link is (STARTTLS
 * required, the CA verified, SCRAM, XEP-0198 when offered, TCP_NODELAY,
 * presence so that the bare JID routes), exchange the stanzas the two
 * gateways exchange for one Modbus transaction: the request's and the
 * response's <message><pdu/></message>, built once by the transforms at
 * start.  Nothing is translated or judged per stanza: the receiver copies
 * flow and seq into its prepared answer and sends it back.
 *
 *   xmppecho recv COMMON            until SIGTERM; prints "ready" when available
 *   xmppecho send COMMON -t PEER -c CLIENTS -n COUNT [-w WARMUP] [-T SECS]
 *   COMMON: -s ADDRESS -p PORT -a CA -j JID -k PASSWORD [-q QTY]
 *
 * The sender keeps CLIENTS requests in flight (flow i for client i), as
 * gateway A does for CLIENTS Modbus clients, and prints bench_report's line.
 */
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <strophe.h>

#include "bench.h"
#include "modbus.h"
#include "xgw_transform.h"

#define UP_WAIT_US	(15 * 1000000ULL)
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
	xmpp_stanza_t	*msg;		/* what we send: the request, or the answer */
	xmpp_stanza_t	*pdu;		/* its envelope, whose flow and seq change */
	int		 up;
	/* the sender */
	struct vclient	*vc;
	unsigned	 nclients;
	uint64_t	 seq;
	size_t		 issued, done, count;
	uint32_t	*lat;
	unsigned long	 errors, stale;
	uint64_t	 deadline_us;
};

static volatile sig_atomic_t quit;

static void __attribute__((noreturn, format(printf, 1, 2)))
die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("xmppecho: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

static void
on_term(int sig)
{
	(void)sig;
	quit = 1;
}

/* <message type="normal"><pdu .../></message> for one Modbus ADU. */
static void
prepare(struct echo *e, enum xgw_dir dir, uint16_t qty)
{
	struct xgw_meta m = { .flow = 1, .seq = 1, .dir = dir };
	uint8_t adu[XGW_MODBUS_ADU_MAX];
	struct xgw_err err;
	xmpp_stanza_t *el;
	size_t n;

	n = dir == XGW_REQUEST ? bench_request(adu, 1, 1, 0, qty) :
	    bench_response(adu, 1, 1, 0, qty);
	snprintf(m.src, sizeof(m.src), "%s",
	    dir == XGW_REQUEST ? SRC_UUID : DST_UUID);
	snprintf(m.dst, sizeof(m.dst), "%s",
	    dir == XGW_REQUEST ? DST_UUID : SRC_UUID);
	if (xgw_modbus_decode(e->ctx, adu, n, dir, &el, &err) == -1)
		die("the benchmark's own ADU does not decode: %s", err.msg);
	if ((e->pdu = xgw_envelope(e->ctx, &m, el)) == NULL ||
	    (e->msg = xgw_el_new(e->ctx, "message", NULL)) == NULL ||
	    xmpp_stanza_set_type(e->msg, "normal") != XMPP_EOK ||
	    xmpp_stanza_add_child(e->msg, e->pdu) != XMPP_EOK)
		die("out of memory");
	xmpp_stanza_release(el);
}

/* As link.c: stanzas are small and answered at once, so no Nagle. */
static int
sockopt(xmpp_conn_t *conn, void *sock)
{
	int one = 1;

	if (setsockopt(*(int *)sock, IPPROTO_TCP, TCP_NODELAY, &one,
	    sizeof(one)) == -1)
		die("TCP_NODELAY failed");
	return xmpp_sockopt_cb_keepalive(conn, sock);
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
			die("out of memory");
		xmpp_send(conn, pres);
		xmpp_stanza_release(pres);
		e->up = 1;
		return;
	}
	if (ev == XMPP_CONN_DISCONNECT && !quit)
		die("%s: connection lost or refused (error %d)",
		    xmpp_conn_get_jid(conn), error);
	e->up = 0;
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
		die("out of memory");
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
		die("out of memory");
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
		die("an answer with a bad envelope: %s", err.msg);
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

static void
run(struct echo *e, size_t count, uint32_t *lat)
{
	e->count = count;
	e->issued = e->done = 0;
	e->lat = lat;
	for (unsigned i = 0; i < e->nclients && e->issued < count; i++)
		issue(e, i);
	while (e->done < count) {
		if (bench_now_us() > e->deadline_us)
			die("%zu of %zu stanzas unanswered at the deadline",
			    count - e->done, count);
		xmpp_run_once(e->ctx, 100);
	}
}

static void
usage(void)
{
	fprintf(stderr, "usage: xmppecho recv|send -s address -p port -a ca "
	    "-j jid -k password [-q qty]\n"
	    "       [-t peer -c clients -n count -w warmup -T secs]\n");
	exit(2);
}

int
main(int argc, char *argv[])
{
	struct echo e = { 0 };
	const char *server = NULL, *ca = NULL, *jid = NULL, *pass = NULL;
	const char *peer = NULL;
	unsigned long port = 0, count = 0, warmup = 0, secs = 300, qty = 10;
	uint32_t *lat = NULL;
	int ch, sender;
	uint64_t t0;

	if (argc < 2 || (strcmp(argv[1], "recv") != 0 &&
	    strcmp(argv[1], "send") != 0))
		usage();
	sender = strcmp(argv[1], "send") == 0;
	optind = 2;
	while ((ch = getopt(argc, argv, "T:a:c:j:k:n:p:q:s:t:w:")) != -1) {
		switch (ch) {
		case 'T':
			secs = bench_number("T", optarg, 1, 3600);
			break;
		case 'a':
			ca = optarg;
			break;
		case 'c':
			e.nclients = bench_number("c", optarg, 1, BENCH_MAX_CLIENTS);
			break;
		case 'j':
			jid = optarg;
			break;
		case 'k':
			pass = optarg;
			break;
		case 'n':
			count = bench_number("n", optarg, 1, BENCH_MAX_COUNT);
			break;
		case 'p':
			port = bench_number("p", optarg, 1, 65535);
			break;
		case 'q':
			qty = bench_number("q", optarg, 1, 125);
			break;
		case 's':
			server = optarg;
			break;
		case 't':
			peer = optarg;
			break;
		case 'w':
			warmup = bench_number("w", optarg, 0, BENCH_MAX_COUNT);
			break;
		default:
			usage();
		}
	}
	if (server == NULL || port == 0 || ca == NULL || jid == NULL ||
	    pass == NULL || optind != argc || (sender && (peer == NULL ||
	    e.nclients == 0 || count == 0)))
		usage();
	signal(SIGPIPE, SIG_IGN);
	signal(SIGTERM, on_term);
	signal(SIGINT, on_term);

	xmpp_initialize();
	if ((e.ctx = xmpp_ctx_new(NULL, NULL)) == NULL ||
	    (e.conn = xmpp_conn_new(e.ctx)) == NULL)
		die("out of memory");
	prepare(&e, sender ? XGW_REQUEST : XGW_RESPONSE, (uint16_t)qty);
	xmpp_conn_set_flags(e.conn, XMPP_CONN_FLAG_MANDATORY_TLS);
	xmpp_conn_set_cafile(e.conn, ca);
	xmpp_conn_set_sockopt_callback(e.conn, sockopt);
	xmpp_conn_set_jid(e.conn, jid);
	xmpp_conn_set_pass(e.conn, pass);
	xmpp_handler_add(e.conn, sender ? on_answer : on_request, NULL,
	    "message", NULL, &e);
	if (xmpp_connect_client(e.conn, server, (unsigned short)port,
	    conn_event, &e) != XMPP_EOK)
		die("%s: connection not started", jid);
	e.deadline_us = bench_now_us() + UP_WAIT_US;
	while (!e.up && !quit) {
		if (bench_now_us() > e.deadline_us)
			die("%s: not connected within %llu s", jid,
			    UP_WAIT_US / 1000000);
		xmpp_run_once(e.ctx, 100);
	}
	if (sender) {
		if (xmpp_stanza_set_to(e.msg, peer) != XMPP_EOK ||
		    (e.vc = calloc(e.nclients, sizeof(*e.vc))) == NULL ||
		    (lat = calloc(count, sizeof(*lat))) == NULL)
			die("out of memory");
		/* above every seq an earlier sender of this boot used */
		e.seq = bench_now_us() * 1000;
		e.deadline_us = bench_now_us() + secs * 1000000ULL;
		run(&e, warmup, NULL);
		e.errors = 0;
		t0 = bench_now_us();
		run(&e, count, lat);
		bench_report(lat, count, bench_now_us() - t0, e.errors);
		if (e.stale > 0)
			fprintf(stderr, "xmppecho: %lu answers of an earlier "
			    "session ignored\n", e.stale);
		free(lat);
		free(e.vc);
	} else {
		printf("ready\n");
		fflush(stdout);
		while (!quit)
			xmpp_run_once(e.ctx, 100);
	}
	/* a closed stream, so that the server logs no lost connection */
	quit = 1;
	xmpp_disconnect(e.conn);
	e.deadline_us = bench_now_us() + 2000000;
	while (e.up && bench_now_us() < e.deadline_us)
		xmpp_run_once(e.ctx, 100);
	xmpp_stanza_release(e.msg);
	xmpp_stanza_release(e.pdu);
	xmpp_conn_release(e.conn);
	xmpp_ctx_free(e.ctx);
	xmpp_shutdown();
	return 0;
}
