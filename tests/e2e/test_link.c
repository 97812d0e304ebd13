/*
 * The XMPP link against a real Prosody (tests/e2e/link.sh starts it with
 * prosody.sh and names its env file in XGW_E2E_ENV, that of a server
 * without TLS in XGW_E2E_PLAIN_ENV, and the harness in XGW_PROSODY_SH).
 * Every wait is bounded; the whole program takes well under a minute.
 */
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "link.h"
#include "log.h"

#define WAIT_MS		20000
#define NLINKS		2
#define BURST		40	/* 1 KiB messages: ten times what one turn reads */

struct env {
	char	 text[4096];
	char	*key[64], *val[64];
	int	 n;
};

struct peer {
	struct link	*l;
	int		 ups, downs, resumed;
	char		 body[256];	/* of the last message received */
	int		 messages;
};

static struct env tls_env, plain_env;
static xmpp_ctx_t *ctx;
static struct peer peers[NLINKS];

static void
env_load(struct env *e, const char *var)
{
	const char *path = getenv(var);
	FILE *f;
	size_t len;
	char *line, *eq, *end;

	if (path == NULL) {
		fprintf(stderr, "test_link: %s is not set: run this test "
		    "through tests/e2e/link.sh\n", var);
		exit(1);
	}
	if ((f = fopen(path, "r")) == NULL) {
		fprintf(stderr, "test_link: %s: cannot open %s\n", var, path);
		exit(1);
	}
	len = fread(e->text, 1, sizeof(e->text) - 1, f);
	fclose(f);
	e->text[len] = '\0';
	/* KEY='value' lines, as prosody.sh writes them */
	for (line = strtok(e->text, "\n"); line && e->n < 64;
	    line = strtok(NULL, "\n")) {
		if ((eq = strchr(line, '=')) == NULL)
			continue;
		*eq++ = '\0';
		if (*eq == '\'' && (end = strrchr(eq + 1, '\'')) != NULL) {
			*end = '\0';
			eq++;
		}
		e->key[e->n] = line;
		e->val[e->n++] = eq;
	}
}

static const char *
env(const struct env *e, const char *key)
{
	int i;

	for (i = 0; i < e->n; i++)
		if (strcmp(e->key[i], key) == 0)
			return e->val[i];
	fail_msg("the harness env file has no %s", key);
	return NULL;
}

static uint16_t
env_port(const struct env *e, const char *key)
{
	return (uint16_t)atoi(env(e, key));
}

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void
on_up(void *arg, int resumed)
{
	struct peer *p = arg;

	p->ups++;
	p->resumed = resumed;
}

static void
on_down(void *arg, const char *why)
{
	struct peer *p = arg;

	assert_non_null(why);
	p->downs++;
}

static void
on_stanza(void *arg, xmpp_stanza_t *st)
{
	struct peer *p = arg;
	xmpp_stanza_t *body;
	char *text;

	if (strcmp(xmpp_stanza_get_name(st), "message") != 0 ||
	    (body = xmpp_stanza_get_child_by_name(st, "body")) == NULL)
		return;
	text = xmpp_stanza_get_text(body);
	snprintf(p->body, sizeof(p->body), "%s", text ? text : "");
	xmpp_free(ctx, text);
	p->messages++;
}

/* A link over STARTTLS (or direct TLS) with the given credentials. */
static struct peer *
peer_new(int i, const struct env *e, int direct, const char *ca,
    const char *jid, const char *password, const char *cert,
    const char *key)
{
	struct link_conf c = {
		.server = env(e, "XMPP_ADDRESS"),
		.port = env_port(e, direct ? "XMPP_DIRECT_PORT" :
		    "XMPP_STARTTLS_PORT"),
		.direct_tls = direct,
		.ca = ca ? ca : env(e, "CA"),
		.cert = cert, .key = key,
		.jid = jid, .password = password,
		.ping_s = 1,
		.backoff_min_ms = 100, .backoff_max_ms = 800,
	};
	struct peer *p = &peers[i];
	struct link_cb cb = { on_up, on_down, on_stanza, p };

	memset(p, 0, sizeof(*p));
	p->l = link_new(ctx, &c, &cb);
	assert_non_null(p->l);
	link_start(p->l);
	return p;
}

/* Link slot i, logged in as user who (1: alice, 2: bob) with SCRAM. */
static struct peer *
user(int i, int who, int direct, const char *ca)
{
	char jid[32], pass[32];

	snprintf(jid, sizeof(jid), "USER%d_JID", who);
	snprintf(pass, sizeof(pass), "USER%d_PASSWORD", who);
	return peer_new(i, &tls_env, direct, ca, env(&tls_env, jid),
	    env(&tls_env, pass), NULL, NULL);
}

/* One turn of the owner's loop over every live link, as xgwd will run it. */
static void
turn(void)
{
	struct pollfd pfd[NLINKS];
	int i, n = 0, t, timeout = 50;

	for (i = 0; i < NLINKS; i++) {
		if (peers[i].l == NULL)
			continue;
		if ((t = link_timeout_ms(peers[i].l)) >= 0 && t < timeout)
			timeout = t;
		if (link_fd(peers[i].l) >= 0) {
			pfd[n].fd = link_fd(peers[i].l);
			pfd[n++].events = link_events(peers[i].l);
		}
	}
	poll(pfd, n, timeout);
	for (i = 0; i < NLINKS; i++)
		if (peers[i].l != NULL)
			link_run(peers[i].l, POLLIN);
}

/* Runs the loop for ms, or until cond holds; returns whether it held. */
static int
run_until(int (*cond)(void), unsigned ms)
{
	uint64_t end = now_ms() + ms;

	while (now_ms() < end) {
		if (cond != NULL && cond())
			return 1;
		turn();
	}
	return cond != NULL && cond();
}

static int
first_up(void)
{
	return peers[0].l && link_is_up(peers[0].l);
}

static int
both_up(void)
{
	return first_up() && peers[1].l && link_is_up(peers[1].l);
}

static int
first_failed(void)
{
	struct link_stats st;

	link_stats(peers[0].l, &st);
	return st.last_error[0] != '\0';
}

/* Between attempts: none is half-way through SASL. */
static int
first_down(void)
{
	struct link_stats st;

	link_stats(peers[0].l, &st);
	return strcmp(st.state, "down") == 0;
}

static int
first_up_twice(void)
{
	return peers[0].ups >= 2 && first_up();
}

static int
second_has_message(void)
{
	return peers[1].messages > 0;
}

static int
first_has_message(void)
{
	return peers[0].messages > 0;
}

static void
wait_up(int (*cond)(void))
{
	struct link_stats st;

	if (!run_until(cond, WAIT_MS)) {
		link_stats(peers[0].l, &st);
		fail_msg("link not up within %d ms: state %s, last error: %s",
		    WAIT_MS, st.state, st.last_error);
	}
}

static void
assert_prefix(const char *s, const char *prefix)
{
	if (strncmp(s, prefix, strlen(prefix)) != 0)
		fail_msg("\"%s\" does not start with \"%s\"", s, prefix);
}

static int
teardown(void **state)
{
	int i;

	(void)state;
	for (i = 0; i < NLINKS; i++) {
		link_free(peers[i].l);
		peers[i].l = NULL;
	}
	return 0;
}

static void
up_starttls_scram(void **state)
{
	struct link_stats st;

	(void)state;
	user(0, 1, 0, NULL);
	wait_up(first_up);
	link_stats(peers[0].l, &st);
	assert_string_equal(st.state, "up");
	assert_int_equal(st.secured, 1);
	assert_prefix(st.bound_jid, "alice@localhost/");
	assert_int_equal(st.connects, 1);
	assert_int_equal(st.reconnects, 0);
	assert_int_equal(st.resumed, 0);
	assert_string_equal(st.last_error, "");
	assert_int_equal(peers[0].ups, 1);
	assert_int_equal(peers[0].resumed, 0);
	/* pings every second are answered: still up after three */
	run_until(NULL, 3200);
	assert_true(link_is_up(peers[0].l));
	assert_int_equal(peers[0].downs, 0);
}

static void
up_direct_tls(void **state)
{
	struct link_stats st;

	(void)state;
	user(0, 2, 1, NULL);
	wait_up(first_up);
	link_stats(peers[0].l, &st);
	assert_int_equal(st.secured, 1);
	assert_prefix(st.bound_jid, "bob@localhost/");
}

static void
wrong_ca_refused(void **state)
{
	struct link_stats st;

	(void)state;
	/*
	 * The server's CA in OpenSSL's default trust store, as a public CA
	 * would be there, must not count: only the configured CA does.
	 */
	assert_int_equal(setenv("SSL_CERT_FILE", env(&tls_env, "CA"), 1), 0);
	assert_int_equal(unsetenv("SSL_CERT_DIR"), 0);
	user(0, 1, 0, env(&tls_env, "WRONG_CA"));
	run_until(NULL, 1500);
	link_stats(peers[0].l, &st);
	assert_int_equal(peers[0].ups, 0);
	assert_int_equal(st.connects, 0);
	assert_prefix(st.last_error, "server certificate not trusted: ");
	assert_true(st.attempts >= 2);
}

static void
plaintext_server_refused(void **state)
{
	struct link_stats st;

	(void)state;
	peer_new(0, &plain_env, 0, NULL, env(&plain_env, "USER1_JID"),
	    env(&plain_env, "USER1_PASSWORD"), NULL, NULL);
	assert_true(run_until(first_failed, WAIT_MS));
	link_stats(peers[0].l, &st);
	assert_int_equal(peers[0].ups, 0);
	assert_string_equal(st.last_error, "TLS was not offered (no STARTTLS): "
	    "plaintext only server refused");
}

static void
external_login(void **state)
{
	struct link_stats st;
	const char *jid = env(&tls_env, "CLIENT_JID");

	(void)state;
	peer_new(0, &tls_env, 0, NULL, NULL, NULL,
	    env(&tls_env, "CLIENT_CERT"), env(&tls_env, "CLIENT_KEY"));
	wait_up(first_up);
	link_stats(peers[0].l, &st);
	/* the bound JID is the certificate's xmppAddr plus a resource */
	assert_int_equal(strncmp(st.bound_jid, jid, strlen(jid)), 0);
	assert_int_equal(st.bound_jid[strlen(jid)], '/');
	assert_int_equal(st.secured, 1);
}

static void
send_message(struct peer *from, const char *to, const char *text)
{
	xmpp_stanza_t *m = xmpp_message_new(ctx, "chat", to, NULL);

	assert_non_null(m);
	assert_int_equal(xmpp_message_set_body(m, text), XMPP_EOK);
	assert_int_equal(link_send(from->l, m), 0);
	xmpp_stanza_release(m);
}

static void
message_between_links(void **state)
{
	struct link_stats a, b;

	(void)state;
	user(0, 1, 0, NULL);
	user(1, 2, 1, NULL);
	wait_up(both_up);
	link_stats(peers[1].l, &b);
	send_message(&peers[0], b.bound_jid, "hello from alice");
	assert_true(run_until(second_has_message, WAIT_MS));
	assert_string_equal(peers[1].body, "hello from alice");
	link_stats(peers[0].l, &a);
	link_stats(peers[1].l, &b);
	assert_int_equal(a.sent, 1);
	assert_true(b.received >= 1);
}

static void
harness(const char *cmd)
{
	char line[1024];

	snprintf(line, sizeof(line), "%s %s '%s' >&2", getenv("XGW_PROSODY_SH"),
	    cmd, env(&tls_env, "PROSODY_DIR"));
	if (system(line) != 0)
		fail_msg("%s failed", line);
}

static int
queued(int fd)
{
	int n;

	return ioctl(fd, FIONREAD, &n) == -1 ? -1 : n;
}

/*
 * A burst waiting in the socket is taken in one run: decrypted bytes left
 * in OpenSSL, where poll() cannot see them, would wait for the next wake-up.
 */
static void
burst_in_one_run(void **state)
{
	char text[1024];
	struct link_stats b;
	int i, n, still;

	(void)state;
	user(0, 1, 0, NULL);
	user(1, 2, 0, NULL);
	wait_up(both_up);
	link_stats(peers[1].l, &b);
	memset(text, 'x', sizeof(text) - 1);
	text[sizeof(text) - 1] = '\0';
	for (i = 0; i < BURST; i++)
		send_message(&peers[0], b.bound_jid, text);
	for (i = 0; i < 100 && (link_events(peers[0].l) & POLLOUT); i++)
		link_run(peers[0].l, POLLOUT);
	assert_false(link_events(peers[0].l) & POLLOUT);
	/* until the server has delivered the whole burst: 200 ms unchanged */
	for (i = 0, n = -1, still = 0; i < WAIT_MS / 10 && still < 20; i++) {
		poll(NULL, 0, 10);
		still = queued(link_fd(peers[1].l)) == n ? still + 1 : 0;
		n = queued(link_fd(peers[1].l));
	}
	assert_true(n > BURST * (int)sizeof(text));
	link_run(peers[1].l, POLLIN);
	assert_int_equal(peers[1].messages, BURST);
}

static void
reconnect_after_restart(void **state)
{
	struct link_stats st;
	uint64_t back;

	(void)state;
	user(0, 1, 0, NULL);
	wait_up(first_up);
	harness("restart");
	back = now_ms();
	wait_up(first_up_twice);
	/* the server is back: the next attempt is at most one maximum backoff away */
	assert_true(now_ms() - back <= 800 + 2000);
	link_stats(peers[0].l, &st);
	assert_int_equal(peers[0].downs, 1);
	assert_int_equal(st.reconnects, 1);
	assert_int_equal(st.connects, 2);
	/* a restarted server has forgotten the session */
	assert_int_equal(st.resumed, 0);
	assert_int_equal(peers[0].resumed, 0);
}

static void
resume_after_lost_connection(void **state)
{
	struct link_stats before, after;

	(void)state;
	user(0, 1, 0, NULL);
	user(1, 2, 0, NULL);
	wait_up(both_up);
	/* resumable only once the server has answered <enable/> */
	run_until(NULL, 500);
	link_stats(peers[0].l, &before);
	/* the TCP connection dies under the link; the server keeps the session */
	assert_int_equal(shutdown(link_fd(peers[0].l), SHUT_RDWR), 0);
	send_message(&peers[1], before.bound_jid, "sent while away");
	wait_up(first_up_twice);
	link_stats(peers[0].l, &after);
	assert_int_equal(peers[0].resumed, 1);
	assert_int_equal(after.resumed, 1);
	assert_string_equal(after.bound_jid, before.bound_jid);
	assert_int_equal(after.reconnects, 1);
	assert_true(run_until(first_has_message, WAIT_MS));
	assert_string_equal(peers[0].body, "sent while away");
}

static void
wrong_password_retries(void **state)
{
	struct link_stats st;

	(void)state;
	peer_new(0, &tls_env, 0, NULL, env(&tls_env, "USER1_JID"), "wrong",
	    NULL, NULL);
	run_until(NULL, 3000);
	link_stats(peers[0].l, &st);
	assert_int_equal(peers[0].ups, 0);
	assert_string_equal(st.last_error, "authentication as alice@localhost "
	    "failed (SASL SCRAM): refused by the server or connection lost");
	/* retried, but no faster than the 100 ms minimum backoff allows */
	if (st.attempts < 3 || st.attempts > 3000 / 100 + 1)
		fail_msg("%llu attempts in 3 s with backoff 100..800 ms",
		    (unsigned long long)st.attempts);
	/*
	 * libstrophe frees its SCRAM state when the server answers: a link
	 * freed before that would leak it (LeakSanitizer), so end between
	 * attempts.
	 */
	assert_true(run_until(first_down, WAIT_MS));
}

static void
stop_is_final(void **state)
{
	struct link_stats st;

	(void)state;
	user(0, 1, 0, NULL);
	wait_up(first_up);
	link_stop(peers[0].l);
	run_until(NULL, 1000);
	link_stats(peers[0].l, &st);
	assert_string_equal(st.state, "down");
	assert_int_equal(link_fd(peers[0].l), -1);
	assert_int_equal(link_timeout_ms(peers[0].l), -1);
	assert_int_equal(st.attempts, 1);
	assert_int_equal(peers[0].downs, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(up_starttls_scram, teardown),
		cmocka_unit_test_teardown(up_direct_tls, teardown),
		cmocka_unit_test_teardown(wrong_ca_refused, teardown),
		cmocka_unit_test_teardown(plaintext_server_refused, teardown),
		cmocka_unit_test_teardown(external_login, teardown),
		cmocka_unit_test_teardown(message_between_links, teardown),
		cmocka_unit_test_teardown(burst_in_one_run, teardown),
		cmocka_unit_test_teardown(resume_after_lost_connection, teardown),
		cmocka_unit_test_teardown(wrong_password_retries, teardown),
		cmocka_unit_test_teardown(stop_is_final, teardown),
		cmocka_unit_test_teardown(reconnect_after_restart, teardown),
	};
	int rc;

	signal(SIGPIPE, SIG_IGN);
	log_init("test_link", 0);
	xmpp_initialize();
	ctx = xmpp_ctx_new(NULL, NULL);
	env_load(&tls_env, "XGW_E2E_ENV");
	env_load(&plain_env, "XGW_E2E_PLAIN_ENV");
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	xmpp_ctx_free(ctx);
	xmpp_shutdown();
	return rc;
}
