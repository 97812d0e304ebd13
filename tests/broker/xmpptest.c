/*
 * xmpptest: scripted XMPP clients (libstrophe, TLS against the given CA)
 * posing as gateways and operators in the broker's end-to-end tests.
 *
 *   xmpptest [-v] -s ADDRESS -p PORT -a CA SCRIPT
 *
 * SCRIPT, one command a line ('#' starts a comment line):
 *   login NAME cert CERT KEY        SASL EXTERNAL; the JID comes from CERT
 *   login NAME scram JID PASSWORD
 *   refused NAME cert CERT KEY      that login must fail
 *   NAME send STANZA                the rest of the line, sent as is
 *   NAME expect TEXT [&& TEXT ...]  within 5 s a stanza arrives that holds
 *                                   every TEXT; it is taken off the queue
 *   NAME quiet MS                   no stanza arrives within MS
 *   sleep MS
 *   exec COMMAND                    runs COMMAND with sh -c; it must succeed
 *                                   (the sessions stay up meanwhile)
 * The first failure ends the run with exit status 1 and SCRIPT:LINE.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <strophe.h>

#define MAX_CLIENTS	8
#define MAX_QUEUE	256
#define EXPECT_MS	5000
#define LOGIN_MS	10000

struct client {
	char		 name[32];
	xmpp_conn_t	*conn;
	int		 state;		/* 0 connecting, 1 up, -1 failed or gone */
	char		*queue[MAX_QUEUE];
	int		 nqueue;
};

static xmpp_ctx_t *ctx;
static struct client clients[MAX_CLIENTS];
static int nclients, verbose;
static const char *server, *ca, *script;
static unsigned short port;
static unsigned lineno;

static void
die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void
die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "xmpptest: %s:%u: ", script, lineno);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
on_stanza(xmpp_conn_t *conn, xmpp_stanza_t *st, void *arg)
{
	struct client *c = arg;
	char *text;
	size_t len;

	(void)conn;
	/* libstrophe's own requests (resource binding) are not the script's */
	if ((strcmp(xmpp_stanza_get_name(st), "message") != 0 &&
	    strcmp(xmpp_stanza_get_name(st), "iq") != 0) ||
	    strncmp(xmpp_stanza_get_id(st) ? xmpp_stanza_get_id(st) : "",
	    "_xmpp_", 6) == 0)
		return 1;
	if (xmpp_stanza_to_text(st, &text, &len) != XMPP_EOK)
		die("out of memory");
	if (verbose)
		fprintf(stderr, "xmpptest: %s <- %s\n", c->name, text);
	if (c->nqueue == MAX_QUEUE)
		die("%s: more than %d stanzas not expected", c->name, MAX_QUEUE);
	if ((c->queue[c->nqueue++] = strdup(text)) == NULL)
		die("out of memory");
	xmpp_free(ctx, text);
	return 1;
}

static void
on_conn(xmpp_conn_t *conn, xmpp_conn_event_t ev, int error,
    xmpp_stream_error_t *se, void *arg)
{
	struct client *c = arg;

	(void)conn;
	(void)se;
	if (ev == XMPP_CONN_CONNECT) {
		c->state = 1;
		if (verbose)
			fprintf(stderr, "xmpptest: %s up as %s\n", c->name,
			    xmpp_conn_get_bound_jid(c->conn));
	} else {
		if (verbose || c->state == 1)
			fprintf(stderr, "xmpptest: %s down (error %d)\n",
			    c->name, error);
		c->state = -1;
	}
}

static struct client *
find(const char *name)
{
	for (int i = 0; i < nclients; i++)
		if (strcmp(clients[i].name, name) == 0)
			return &clients[i];
	die("no client named %s", name);
}

/* login NAME cert|scram A B; returns 1 when the session came up. */
static int
login(char **w)
{
	struct client *c;
	long long until = now_ms() + LOGIN_MS;

	if (nclients == MAX_CLIENTS)
		die("more than %d clients", MAX_CLIENTS);
	c = &clients[nclients++];
	snprintf(c->name, sizeof(c->name), "%s", w[0]);
	if ((c->conn = xmpp_conn_new(ctx)) == NULL)
		die("out of memory");
	xmpp_conn_set_flags(c->conn, XMPP_CONN_FLAG_MANDATORY_TLS);
	xmpp_conn_set_cafile(c->conn, ca);
	if (strcmp(w[1], "cert") == 0)
		xmpp_conn_set_client_cert(c->conn, w[2], w[3]);
	else if (strcmp(w[1], "scram") == 0) {
		xmpp_conn_set_jid(c->conn, w[2]);
		xmpp_conn_set_pass(c->conn, w[3]);
	} else
		die("login: expected cert or scram, not %s", w[1]);
	/* one handler per function and conn: libstrophe ignores a second */
	xmpp_handler_add(c->conn, on_stanza, NULL, NULL, NULL, c);
	if (xmpp_connect_client(c->conn, server, port, on_conn, c) != XMPP_EOK)
		return 0;
	while (c->state == 0 && now_ms() < until)
		xmpp_run_once(ctx, 50);
	return c->state == 1;
}

static int
matches(const char *text, char *pattern)
{
	char buf[2048], *p, *save;

	snprintf(buf, sizeof(buf), "%s", pattern);
	for (p = strtok_r(buf, "&", &save); p != NULL;
	    p = strtok_r(NULL, "&", &save)) {
		while (*p == ' ')
			p++;
		for (char *e = p + strlen(p); e > p && e[-1] == ' '; )
			*--e = '\0';
		if (*p != '\0' && strstr(text, p) == NULL)
			return 0;
	}
	return 1;
}

static void
dump_queue(struct client *c)
{
	fprintf(stderr, "xmpptest: %s holds %d stanzas%s\n", c->name, c->nqueue,
	    c->nqueue ? ":" : "");
	for (int i = 0; i < c->nqueue; i++)
		fprintf(stderr, "  %s\n", c->queue[i]);
}

static void
expect(struct client *c, char *pattern)
{
	long long until = now_ms() + EXPECT_MS;

	for (;;) {
		for (int i = 0; i < c->nqueue; i++)
			if (matches(c->queue[i], pattern)) {
				free(c->queue[i]);
				memmove(&c->queue[i], &c->queue[i + 1],
				    (c->nqueue - i - 1) * sizeof(c->queue[0]));
				c->nqueue--;
				return;
			}
		if (now_ms() >= until)
			break;
		xmpp_run_once(ctx, 50);
	}
	dump_queue(c);
	die("%s: no stanza with \"%s\" within %d ms", c->name, pattern,
	    EXPECT_MS);
}

static void
run_for(long long ms)
{
	long long until = now_ms() + ms;

	while (now_ms() < until)
		xmpp_run_once(ctx, 20);
}

/* One script line: "VERB ARG ..." or "CLIENT VERB REST". */
static void
command(char *line)
{
	char w0[32], w1[32], a[3][1024];
	char *login_w[4] = { w1, a[0], a[1], a[2] }, *rest;
	struct client *c;
	int off = 0;

	line[strcspn(line, "\n")] = '\0';
	if (line[0] == '#' || line[strspn(line, " \t")] == '\0')
		return;
	if (sscanf(line, "%31s %31s %n", w0, w1, &off) < 2 || off == 0)
		die("expected two words at least");
	rest = line + off;
	if (strcmp(w0, "sleep") == 0)
		run_for(atoll(w1));
	else if (strcmp(w0, "exec") == 0) {
		int rc = system(line + strlen("exec "));

		if (rc != 0)
			die("exec: status %d", rc);
	} else if (strcmp(w0, "login") == 0 || strcmp(w0, "refused") == 0) {
		if (sscanf(rest, "%1023s %1023s %1023s", a[0], a[1], a[2]) != 3)
			die("%s NAME cert|scram A B", w0);
		if (login(login_w) != (strcmp(w0, "login") == 0))
			die("login %s %s", w1, strcmp(w0, "login") == 0 ?
			    "failed" : "succeeded; it should be refused");
	} else {
		c = find(w0);
		if (c->state != 1)
			die("%s is not connected", c->name);
		if (strcmp(w1, "send") == 0) {
			xmpp_stanza_t *st = xmpp_stanza_new_from_string(ctx, rest);

			if (st == NULL)
				die("send: not one XML stanza: %s", rest);
			xmpp_send(c->conn, st);
			xmpp_stanza_release(st);
			run_for(20);
		} else if (strcmp(w1, "expect") == 0)
			expect(c, rest);
		else if (strcmp(w1, "quiet") == 0) {
			run_for(atoll(rest));
			if (c->nqueue > 0) {
				dump_queue(c);
				die("%s: stanzas arrived; none expected",
				    c->name);
			}
		} else
			die("unknown command %s", w1);
	}
}

int
main(int argc, char **argv)
{
	char line[8192];
	FILE *f;
	int ch;

	while ((ch = getopt(argc, argv, "a:p:s:v")) != -1) {
		switch (ch) {
		case 'a': ca = optarg; break;
		case 'p': port = (unsigned short)atoi(optarg); break;
		case 's': server = optarg; break;
		case 'v': verbose++; break;
		default: goto usage;
		}
	}
	if (optind != argc - 1 || server == NULL || ca == NULL || port == 0)
		goto usage;
	script = argv[optind];
	signal(SIGPIPE, SIG_IGN);
	xmpp_initialize();
	if ((ctx = xmpp_ctx_new(NULL, verbose > 1 ?
	    xmpp_get_default_logger(XMPP_LEVEL_DEBUG) : NULL)) == NULL)
		die("out of memory");
	if ((f = fopen(script, "r")) == NULL) {
		perror(script);
		return 1;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		lineno++;
		command(line);
	}
	fclose(f);
	for (int i = 0; i < nclients; i++)
		if (clients[i].state == 1)
			xmpp_disconnect(clients[i].conn);
	run_for(200);
	return 0;
usage:
	fprintf(stderr, "usage: xmpptest [-v] -s ADDRESS -p PORT -a CA SCRIPT\n");
	return 2;
}
