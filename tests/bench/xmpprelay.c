/*
 * xmpprelay: the bare relay of modbus_path.sh's echo, an XEP-0114
 * component in the broker's place that forwards each message to its
 * destination JID and does nothing else: no registry, no flow check, no
 * policy, no copy.  It addresses as the broker does, with proxy JIDs:
 * a message to NODE%DOMAIN@RELAY goes to NODE@DOMAIN, from
 * SENDER-NODE%SENDER-DOMAIN@RELAY, so that answers to that JID come back
 * the same way.  The stanza is rewritten in place and sent on.
 *
 *   xmpprelay -s ADDRESS -p PORT -j COMPONENT-JID -k SECRET-FILE
 *
 * The connection is set up as xgw-broker's: the same libstrophe
 * workaround before every component connect (STACK-NOTES), the same
 * socket options, the same xmpp_run_once() loop.  Prints "ready" once
 * connected, and on SIGTERM "relayed=N dropped=N" before it exits 0.
 */
#include <err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <strophe.h>

#include "bench.h"
#include "bench_xmpp.h"

#define JID_MAX		256

struct relay {
	xmpp_ctx_t	*ctx;
	xmpp_conn_t	*conn;
	const char	*jid;		/* the component's domain */
	char		 who[JID_MAX];	/* "component JID" */
	int		 up;
	unsigned long	 relayed, dropped;
};

/* NODE%DOMAIN@relay[/res] -> NODE@DOMAIN; -1 when to is no proxy JID. */
static int
unproxy(const char *to, char out[JID_MAX])
{
	size_t n = strcspn(to, "@");
	char *pct;

	if (to[n] != '@' || n >= JID_MAX)
		return -1;
	memcpy(out, to, n);
	out[n] = '\0';
	if ((pct = strrchr(out, '%')) == NULL || pct == out || pct[1] == '\0')
		return -1;
	*pct = '@';
	return 0;
}

/* NODE@DOMAIN[/res] -> NODE%DOMAIN@relay; -1 when it does not fit. */
static int
proxy(const char *from, const char *relay, char out[JID_MAX])
{
	size_t n = strcspn(from, "/");
	const char *at = memchr(from, '@', n);
	int len;

	if (at == NULL)
		return -1;
	len = snprintf(out, JID_MAX, "%.*s%%%.*s@%s", (int)(at - from), from,
	    (int)(n - (size_t)(at - from) - 1), at + 1, relay);
	return len < 0 || len >= JID_MAX ? -1 : 0;
}

static int
on_message(xmpp_conn_t *conn, xmpp_stanza_t *st, void *arg)
{
	struct relay *r = arg;
	const char *to = xmpp_stanza_get_to(st), *from = xmpp_stanza_get_from(st);
	const char *type = xmpp_stanza_get_type(st);
	char dst[JID_MAX], src[JID_MAX];

	/* a bounce is counted, never answered nor relayed */
	if ((type != NULL && strcmp(type, "error") == 0) || to == NULL ||
	    from == NULL || unproxy(to, dst) == -1 ||
	    proxy(from, r->jid, src) == -1) {
		r->dropped++;
		return 1;
	}
	if (xmpp_stanza_set_to(st, dst) != XMPP_EOK ||
	    xmpp_stanza_set_from(st, src) != XMPP_EOK)
		errx(1, "out of memory");
	xmpp_send(conn, st);
	r->relayed++;
	return 1;
}

static void
on_conn(xmpp_conn_t *conn, xmpp_conn_event_t ev, int error,
    xmpp_stream_error_t *se, void *arg)
{
	struct relay *r = arg;

	(void)conn;
	(void)se;
	if (ev == XMPP_CONN_CONNECT) {
		r->up = 1;
		return;
	}
	if (!bench_quit)
		errx(1, "%s: connection lost or refused (error %d)", r->who,
		    error);
	r->up = 0;
}

static char *
read_secret(const char *path)
{
	static char secret[256];
	FILE *f;

	if ((f = fopen(path, "r")) == NULL ||
	    fgets(secret, sizeof(secret), f) == NULL)
		errx(1, "%s: cannot read the component secret", path);
	fclose(f);
	secret[strcspn(secret, "\r\n")] = '\0';
	return secret;
}

static void
usage(void)
{
	fprintf(stderr, "usage: xmpprelay -s address -p port -j component-jid "
	    "-k secret-file\n");
	exit(2);
}

int
main(int argc, char *argv[])
{
	struct relay r = { 0 };
	struct bench_opts o = { 0 };
	const char *server = NULL, *secret = NULL;
	int ch;

	while ((ch = bench_getopt(&o, argc, argv, "j:k:p:s:")) != -1) {
		switch (ch) {
		case 'j':
			r.jid = optarg;
			break;
		case 'k':
			secret = read_secret(optarg);
			break;
		case 's':
			server = optarg;
			break;
		default:
			usage();
		}
	}
	if (server == NULL || o.port == 0 || r.jid == NULL || secret == NULL ||
	    optind != argc || strchr(r.jid, '@') != NULL)
		usage();
	snprintf(r.who, sizeof(r.who), "component %s", r.jid);
	bench_signals();

	xmpp_initialize();
	if ((r.ctx = xmpp_ctx_new(NULL, NULL)) == NULL ||
	    (r.conn = xmpp_conn_new(r.ctx)) == NULL)
		errx(1, "out of memory");
	xmpp_conn_set_jid(r.conn, r.jid);
	xmpp_conn_set_pass(r.conn, secret);
	xmpp_conn_set_sockopt_callback(r.conn, bench_xmpp_sockopt);
	xmpp_handler_add(r.conn, on_message, NULL, "message", NULL, &r);
	/*
	 * libstrophe 0.12.2 allocates the stream-management state only in
	 * xmpp_connect_client(), and xmpp_connect_component() crashes
	 * without it: a client connect to a name that cannot resolve fails
	 * at once and leaves it allocated (STACK-NOTES, gateway/broker.c).
	 */
	(void)xmpp_connect_client(r.conn, "nonexistent.invalid", 1, NULL, NULL);
	if (xmpp_connect_component(r.conn, server, (unsigned short)o.port,
	    on_conn, &r) != XMPP_EOK)
		errx(1, "%s: connection not started", r.who);
	bench_xmpp_up(r.ctx, &r.up, 1, r.who);
	printf("ready\n");
	fflush(stdout);
	while (!bench_quit)
		xmpp_run_once(r.ctx, 100);
	printf("relayed=%lu dropped=%lu\n", r.relayed, r.dropped);
	xmpp_disconnect(r.conn);
	bench_xmpp_down(r.ctx, &r.up);
	xmpp_conn_release(r.conn);
	xmpp_ctx_free(r.ctx);
	xmpp_shutdown();
	return 0;
}
