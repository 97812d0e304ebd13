/*
 * The XMPP link on libstrophe 0.12 (see link.h for the contract).
 *
 * libstrophe reports little: its certfail and sockopt callbacks carry no
 * user pointer, and a failed attempt ends in one DISCONNECT event whose
 * error is often 0 (or an OpenSSL code, or an errno).  So the link keeps a
 * list of links to find itself from a connection, and watches how far each
 * attempt got (TCP, TLS, login) to say in last_error why it failed.
 */
#include <sys/ioctl.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <stdarg.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "link.h"
#include "log.h"

#define BACKOFF_MIN_MS	500
#define BACKOFF_MAX_MS	30000
/*
 * While an attempt or a close is under way libstrophe runs timers of its
 * own (connect 5 s, missing features, disconnect 2 s) that link_timeout_ms()
 * cannot see: wake at least this often then.
 */
#define ATTEMPT_POLL_MS	100
#define TURN_READ	4096	/* what libstrophe reads a turn */
#define RECORD_MAX	16384	/* a TLS record's plaintext */
/*
 * OpenSSL may hold the rest of a record where poll() cannot see it: after
 * a turn that parsed, this many turns that parse nothing drain the record
 * it pulled in.
 */
#define QUIET_TURNS	(RECORD_MAX / TURN_READ)
/* TLS's least overhead a record (ChaCha20-Poly1305 in TLS 1.2: 5 + 16) */
#define RECORD_OVERHEAD	21
/* a burst ends a run after this many turns, so adapters get their turn */
#define MAX_TURNS	64
#define PING_PREFIX	"xgw-ping-"

enum state { S_DOWN, S_CONNECTING, S_UP, S_CLOSING, S_STOPPED };
/* how far the current attempt got */
enum phase { P_TCP, P_STREAM, P_TLS, P_UP };

struct link {
	TAILQ_ENTRY(link)	 entry;
	xmpp_ctx_t		*ctx;
	xmpp_conn_t		*conn;
	char			*server;
	char			*ca;
	uint16_t		 port;
	int			 direct_tls, external;
	unsigned		 ping_s, backoff_min_ms, backoff_max_ms;
	struct link_cb		 cb;

	enum state		 state;
	enum phase		 phase;
	int			 fd;
	int			 stopping;	/* link_stop(): no retry */
	int			 was_up;
	unsigned		 failures;	/* attempts since the last session */
	uint64_t		 retry_at;	/* ms, monotonic; when S_DOWN */
	uint64_t		 ping_at;	/* ms, monotonic; when S_UP, 0: none */
	unsigned		 ping_seq;
	int			 ping_out;	/* a ping awaits its pong */
	char			 ping_id[32];
	uint64_t		 parsed;	/* top-level elements received */
	int			 undrained;	/* the last run stopped at MAX_TURNS */
	unsigned		 write_turns;	/* turns a large stanza's writes may take */
	struct link_stats	 st;
};

static TAILQ_HEAD(, link) links = TAILQ_HEAD_INITIALIZER(links);
/*
 * Why certfail() last refused a server certificate.  libstrophe 0.12.2's
 * OpenSSL code gives certfail() a certificate without its connection
 * (xmpp_tlscert_get_conn() is NULL), so the reason waits here for the
 * attempt's failure, which libstrophe reports in the same turn: handshakes
 * run one at a time, inside xmpp_run_once().  attempt() clears it.
 */
static char certfail_why[200];

static void	 attempt(struct link *);

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static struct link *
link_of(const xmpp_conn_t *conn)
{
	struct link *l;

	TAILQ_FOREACH(l, &links, entry)
		if (l->conn == conn)
			return l;
	return NULL;
}

static void
set_error(struct link *l, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
set_error(struct link *l, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(l->st.last_error, sizeof(l->st.last_error), fmt, ap);
	va_end(ap);
	log_warnx("link %s:%u: %s", l->server, l->port, l->st.last_error);
}

/* Refuses every certificate OpenSSL could not verify, and notes why. */
static int
certfail(const xmpp_tlscert_t *cert, const char *errormsg)
{
	const char *subject = xmpp_tlscert_get_string(cert, XMPP_CERT_SUBJECT);

	snprintf(certfail_why, sizeof(certfail_why), "%s (subject %s)",
	    errormsg ? errormsg : "unknown error", subject ? subject : "unknown");
	return 0;
}

/* Every new socket: note it for link_fd(), no Nagle, TCP keepalive. */
static int
sockopt(xmpp_conn_t *conn, void *sock)
{
	struct link *l = link_of(conn);
	int one = 1;

	if (l != NULL)
		l->fd = *(int *)sock;
	/*
	 * Stanzas are small and answered at once: Nagle's algorithm against
	 * the peer's delayed ACK would hold each one back for tens of ms.
	 */
	if (setsockopt(*(int *)sock, IPPROTO_TCP, TCP_NODELAY, &one,
	    sizeof(one)) == -1)
		log_warn("link: TCP_NODELAY");
	return xmpp_sockopt_cb_keepalive(conn, sock);
}

/*
 * Uniform between the minimum and a cap that doubles with each failure:
 * jitter spreads the gateways of a site that lost its server together.
 */
static unsigned
backoff(struct link *l)
{
	uint64_t cap = l->backoff_min_ms;
	unsigned i;

	for (i = 0; i < l->failures && cap < l->backoff_max_ms; i++)
		cap *= 2;
	if (cap > l->backoff_max_ms)
		cap = l->backoff_max_ms;
	return l->backoff_min_ms +
	    arc4random_uniform((uint32_t)(cap - l->backoff_min_ms) + 1);
}

static void
schedule_retry(struct link *l)
{
	unsigned ms = backoff(l);

	l->failures++;
	l->state = S_DOWN;
	l->write_turns = 0;
	l->retry_at = now_ms() + ms;
	log_debug("link %s:%u: next attempt in %u ms", l->server, l->port, ms);
}

static void
send_presence(struct link *l)
{
	xmpp_stanza_t *pres = xmpp_presence_new(l->ctx);

	if (pres == NULL)
		return;
	xmpp_send(l->conn, pres);
	xmpp_stanza_release(pres);
}

static void
session_up(struct link *l)
{
	const char *bound = xmpp_conn_get_bound_jid(l->conn);
	int resumed;

	if (bound == NULL)
		bound = "";
	/* a new session gets a resource of the server's choosing */
	resumed = l->st.bound_jid[0] != '\0' &&
	    strcmp(l->st.bound_jid, bound) == 0;
	snprintf(l->st.bound_jid, sizeof(l->st.bound_jid), "%s", bound);
	l->state = S_UP;
	l->phase = P_UP;
	l->failures = 0;
	l->ping_out = 0;
	l->ping_at = l->ping_s ? now_ms() + l->ping_s * 1000ULL : 0;
	l->st.resumed = resumed;
	l->st.connects++;
	if (l->was_up)
		l->st.reconnects++;
	l->was_up = 1;
	l->st.last_error[0] = '\0';
	log_info("link %s:%u: up as %s%s", l->server, l->port, bound,
	    resumed ? ", session resumed" : "");
	/*
	 * Available, so that the server routes stanzas sent to the bare JID
	 * here: peers know a gateway's JID, not the resource the server chose.
	 */
	if (!resumed)
		send_presence(l);
	if (l->cb.up != NULL)
		l->cb.up(l->cb.arg, resumed);
}

/* Why an attempt failed, from how far it got. */
static void
attempt_failed(struct link *l, int error)
{
	const char *mech = l->external ? "EXTERNAL" : "SCRAM";
	const char *jid = xmpp_conn_get_jid(l->conn);

	switch (l->phase) {
	case P_TCP:
		set_error(l, "cannot connect: %s",
		    error ? strerror(error) : "refused or unreachable");
		break;
	case P_STREAM:
		if (l->direct_tls)
			set_error(l, "TLS handshake failed (error %d)", error);
		else if (error == 0)
			set_error(l, "TLS was not offered (no STARTTLS): "
			    "plaintext only server refused");
		else
			set_error(l, "STARTTLS failed (error %d)", error);
		break;
	default:
		set_error(l, "authentication as %s failed (SASL %s): "
		    "refused by the server or connection lost",
		    jid ? jid : "(certificate)", mech);
		break;
	}
}

/* Why a connection ended that link.c did not end itself. */
static void
lost_why(struct link *l, int error, xmpp_stream_error_t *se)
{
	xmpp_stanza_t *cond = se && se->stanza ?
	    xmpp_stanza_get_children(se->stanza) : NULL;

	if (se != NULL)
		set_error(l, "stream error from the server: %s%s%s",
		    cond ? xmpp_stanza_get_name(cond) : "unknown",
		    se->text ? ": " : "", se->text ? se->text : "");
	else if (l->phase == P_UP)
		set_error(l, "connection lost (error %d)", error);
	else if (l->phase < P_TLS && certfail_why[0] != '\0') {
		set_error(l, "server certificate not trusted: %s", certfail_why);
		certfail_why[0] = '\0';
	} else
		attempt_failed(l, error);
}

static void
conn_event(xmpp_conn_t *conn, xmpp_conn_event_t event, int error,
    xmpp_stream_error_t *se, void *arg)
{
	struct link *l = arg;

	(void)conn;
	if (event == XMPP_CONN_CONNECT) {
		session_up(l);
		return;
	}
	if (event != XMPP_CONN_DISCONNECT || l->state == S_STOPPED)
		return;
	l->fd = -1;
	l->ping_at = 0;
	if (l->state != S_CLOSING)	/* else ours: last_error says why */
		lost_why(l, error, se);
	if (l->stopping) {
		l->state = S_STOPPED;
		return;
	}
	if (l->phase == P_UP && l->cb.down != NULL)
		l->cb.down(l->cb.arg, l->st.last_error);
	schedule_retry(l);
}

static int
deliver(xmpp_conn_t *conn, xmpp_stanza_t *st, void *arg)
{
	struct link *l = arg;

	(void)conn;
	l->st.received++;
	if (l->cb.stanza != NULL)
		l->cb.stanza(l->cb.arg, st);
	return 1;
}

/* Every element the parser completes, stream management's too: progress. */
static int
count_parsed(xmpp_conn_t *conn, xmpp_stanza_t *st, void *arg)
{
	(void)conn;
	(void)st;
	((struct link *)arg)->parsed++;
	return 1;
}

/* Every <iq/> but the pongs to our own pings goes to the owner. */
static int
on_iq(xmpp_conn_t *conn, xmpp_stanza_t *st, void *arg)
{
	struct link *l = arg;
	const char *id = xmpp_stanza_get_id(st);

	if (l->ping_out && id != NULL && strcmp(id, l->ping_id) == 0) {
		l->ping_out = 0;
		return 1;
	}
	return deliver(conn, st, arg);
}

/* XEP-0199: a ping unanswered by the time the next is due ends the session. */
static void
ping(struct link *l)
{
	xmpp_stanza_t *iq, *p;
	char *domain;

	if (l->ping_out) {
		set_error(l, "no answer to XEP-0199 ping within %u s", l->ping_s);
		l->state = S_CLOSING;
		l->ping_at = 0;
		xmpp_disconnect(l->conn);
		return;
	}
	snprintf(l->ping_id, sizeof(l->ping_id), PING_PREFIX "%u",
	    ++l->ping_seq);
	domain = xmpp_jid_domain(l->ctx, xmpp_conn_get_bound_jid(l->conn));
	if ((iq = xmpp_iq_new(l->ctx, "get", l->ping_id)) == NULL ||
	    (p = xmpp_stanza_new(l->ctx)) == NULL)
		fatalx("link %s:%u: out of memory for a ping", l->server,
		    l->port);
	if (domain != NULL)
		xmpp_stanza_set_to(iq, domain);
	xmpp_stanza_set_name(p, "ping");
	xmpp_stanza_set_ns(p, "urn:xmpp:ping");
	xmpp_stanza_add_child(iq, p);
	xmpp_stanza_release(p);
	xmpp_send(l->conn, iq);
	xmpp_stanza_release(iq);
	xmpp_free(l->ctx, domain);
	l->ping_out = 1;
	l->ping_at = now_ms() + l->ping_s * 1000ULL;
}

static int
has_resource(const char *jid)
{
	const char *at = strchr(jid, '@');

	return strchr(at ? at : jid, '/') != NULL;
}

static int
conf_ok(const struct link_conf *c)
{
	if (c->server == NULL || c->port == 0)
		log_warnx("link: no server address or port");
	else if (c->ca == NULL)
		log_warnx("link %s:%u: no CA file: TLS must be verified",
		    c->server, c->port);
	else if ((c->cert == NULL) != (c->key == NULL))
		log_warnx("link %s:%u: a client certificate needs its key, "
		    "and a key its certificate", c->server, c->port);
	else if (c->cert == NULL && (c->jid == NULL || c->password == NULL))
		log_warnx("link %s:%u: neither a client certificate nor a "
		    "JID and password", c->server, c->port);
	else if (c->jid != NULL && has_resource(c->jid))
		log_warnx("link %s:%u: jid %s names a resource: give a bare "
		    "JID", c->server, c->port, c->jid);
	else if (c->backoff_min_ms > c->backoff_max_ms)
		log_warnx("link %s:%u: backoff minimum %u ms above maximum "
		    "%u ms", c->server, c->port, c->backoff_min_ms,
		    c->backoff_max_ms);
	else
		return 1;
	return 0;
}

struct link *
link_new(xmpp_ctx_t *ctx, const struct link_conf *c, const struct link_cb *cb)
{
	struct link *l;
	long flags = XMPP_CONN_FLAG_MANDATORY_TLS;

	if (!conf_ok(c))
		return NULL;
	if ((l = calloc(1, sizeof(*l))) == NULL ||
	    (l->server = strdup(c->server)) == NULL ||
	    (l->ca = strdup(c->ca)) == NULL ||
	    (l->conn = xmpp_conn_new(ctx)) == NULL)
		fatal("link %s:%u: new link", c->server, c->port);
	l->ctx = ctx;
	l->port = c->port;
	l->direct_tls = c->direct_tls;
	l->external = c->cert != NULL;
	l->ping_s = c->ping_s;
	l->backoff_min_ms = c->backoff_min_ms ? c->backoff_min_ms :
	    BACKOFF_MIN_MS;
	l->backoff_max_ms = c->backoff_max_ms ? c->backoff_max_ms :
	    BACKOFF_MAX_MS;
	if (l->backoff_min_ms > l->backoff_max_ms)
		l->backoff_max_ms = l->backoff_min_ms;
	l->cb = *cb;
	l->fd = -1;
	l->state = S_STOPPED;

	if (c->direct_tls)
		flags |= XMPP_CONN_FLAG_LEGACY_SSL;
	xmpp_conn_set_flags(l->conn, flags);
	xmpp_conn_set_cafile(l->conn, c->ca);
	xmpp_conn_set_certfail_handler(l->conn, certfail);
	xmpp_conn_set_sockopt_callback(l->conn, sockopt);
	if (c->cert != NULL)
		xmpp_conn_set_client_cert(l->conn, c->cert, c->key);
	if (c->jid != NULL)
		xmpp_conn_set_jid(l->conn, c->jid);
	if (c->password != NULL)
		xmpp_conn_set_pass(l->conn, c->password);
	/* libstrophe keeps one entry per function and argument: two functions */
	xmpp_handler_add(l->conn, deliver, NULL, "message", NULL, l);
	xmpp_handler_add(l->conn, on_iq, NULL, "iq", NULL, l);
	xmpp_handler_add(l->conn, count_parsed, NULL, NULL, NULL, l);
	TAILQ_INSERT_TAIL(&links, l, entry);
	return l;
}

static void
attempt(struct link *l)
{
	int rc;

	l->state = S_CONNECTING;
	l->phase = P_TCP;
	l->retry_at = 0;
	l->st.attempts++;
	/*
	 * A reason left by a handshake whose link went away before its
	 * failure came is no one's: this attempt's is yet to come.
	 */
	certfail_why[0] = '\0';
	rc = xmpp_connect_client(l->conn, l->server, l->port, conn_event, l);
	if (rc != XMPP_EOK) {
		set_error(l, "connection not started (libstrophe error %d%s)",
		    rc, rc == XMPP_EINVOP ? ": no JID, or the certificate "
		    "does not hold exactly one xmppAddr" : "");
		schedule_retry(l);
	}
}

void
link_start(struct link *l)
{
	if (l->state != S_STOPPED)
		return;
	l->stopping = 0;
	l->failures = 0;
	attempt(l);
}

int
link_is_up(const struct link *l)
{
	return l->state == S_UP;
}

/*
 * libstrophe writes one TLS record (16 KiB) of a stanza a turn, and
 * xmpp_conn_send_queue_len() no longer counts a stanza once its first
 * record is out: the rest of a large stanza would wait for some other
 * wake-up, up to poll_timeout()'s 50 ms a record.  The link counts the
 * turns its writes may take (twice the records: a turn may find the
 * socket full), asks poll() for POLLOUT and keeps turning until they
 * are taken.
 */
int
link_send(struct link *l, xmpp_stanza_t *st)
{
	char *text;
	size_t len;
	int rc;

	if (l->state != S_UP)
		return -1;
	if (xmpp_stanza_to_text(st, &text, &len) != XMPP_EOK)
		fatalx("link %s:%u: out of memory", l->server, l->port);
	rc = link_send_text(l, text, len);
	xmpp_free(l->ctx, text);
	return rc;
}

int
link_send_text(struct link *l, const char *text, size_t len)
{
	if (l->state != S_UP)
		return -1;
	xmpp_send_raw(l->conn, text, len);
	if (len > RECORD_MAX)
		l->write_turns += 2 * (len / RECORD_MAX) + 1;
	l->st.sent++;
	return 0;
}

int
link_fd(const struct link *l)
{
	return l->fd;
}

short
link_events(const struct link *l)
{
	xmpp_conn_t *conn = l->conn;

	if (l->fd < 0)
		return 0;
	if (xmpp_conn_is_connecting(conn) || xmpp_conn_send_queue_len(conn) > 0 ||
	    l->write_turns > 0)
		return POLLIN | POLLOUT;
	return POLLIN;
}

int
link_timeout_ms(const struct link *l)
{
	uint64_t now = now_ms(), at;

	if (l->undrained)
		return 0;

	switch (l->state) {
	case S_DOWN:
		at = l->retry_at;
		break;
	case S_UP:
		if (l->ping_at == 0)
			return -1;
		at = l->ping_at;
		break;
	case S_CONNECTING:
	case S_CLOSING:
		return ATTEMPT_POLL_MS;
	default:
		return -1;
	}
	if (at <= now)
		return 0;
	return at - now > INT_MAX ? INT_MAX : (int)(at - now);
}

/* Notes how far the attempt got, for attempt_failed(). */
static void
observe(struct link *l)
{
	if (l->state != S_CONNECTING)
		return;
	if (l->phase < P_TLS && xmpp_conn_is_secured(l->conn))
		l->phase = P_TLS;
	else if (l->phase < P_STREAM && xmpp_conn_is_connected(l->conn))
		l->phase = P_STREAM;
}

/*
 * libstrophe 0.12 loads OpenSSL's default trust store (the system's public
 * CAs) next to the configured CA, so a server certificate from any public
 * CA would pass, and every attempt parses some 140 certificates.  OpenSSL
 * takes its defaults from the environment when it makes the TLS context,
 * inside a turn: while this link connects they name its CA alone (the
 * directory a file, so that no hashed name can be found in it).
 */
static void
trust_only_ca(struct link *l)
{
	if (setenv("SSL_CERT_FILE", l->ca, 1) == -1 ||
	    setenv("SSL_CERT_DIR", l->ca, 1) == -1)
		fatal("link %s:%u: setenv", l->server, l->port);
}

/*
 * Whether the socket holds more than one turn reads of a record: only
 * then can a turn leave decrypted bytes behind.  A record that arrives
 * after the look is covered by poll_timeout()'s short wake-up.
 */
static int
large_input(int fd)
{
	int n;

	return ioctl(fd, FIONREAD, &n) == -1 || n > TURN_READ + RECORD_OVERHEAD;
}

/*
 * Turns until the input is drained: one that parses nothing ends the run,
 * or QUIET_TURNS in a row after large input.  Stopping after a fixed
 * number left decrypted bytes waiting for the next wake-up, a whole
 * burst's latency under load.
 */
void
link_run(struct link *l, short revents)
{
	int readable = (revents & (POLLIN | POLLHUP | POLLERR)) != 0;
	int need = 1, quiet = 0, turns = 0;
	uint64_t now, before;

	if (l->undrained || (readable && l->fd >= 0 && large_input(l->fd)))
		need = QUIET_TURNS;
	while ((quiet < need || l->write_turns > 0) && turns++ < MAX_TURNS) {
		if (l->write_turns > 0)
			l->write_turns--;
		before = l->parsed;
		if (l->state == S_CONNECTING)
			trust_only_ca(l);
		observe(l);
		xmpp_run_once(l->ctx, 0);
		observe(l);
		quiet = l->parsed == before ? quiet + 1 : 0;
	}
	l->undrained = quiet < need;
	now = now_ms();
	if (l->state == S_DOWN && l->retry_at <= now)
		attempt(l);
	else if (l->state == S_UP && l->ping_at != 0 && l->ping_at <= now)
		ping(l);
}

void
link_stats(const struct link *l, struct link_stats *st)
{
	static const char *names[] = {
		[S_DOWN] = "down", [S_CONNECTING] = "connecting",
		[S_UP] = "up", [S_CLOSING] = "down", [S_STOPPED] = "down",
	};

	*st = l->st;
	st->state = names[l->state];
	st->secured = l->state == S_UP && xmpp_conn_is_secured(l->conn);
}

void
link_stop(struct link *l)
{
	l->retry_at = 0;
	l->ping_at = 0;
	if (l->state == S_UP || l->state == S_CONNECTING ||
	    l->state == S_CLOSING) {
		l->stopping = 1;
		l->state = S_CLOSING;
		xmpp_disconnect(l->conn);
	} else
		l->state = S_STOPPED;
}

void
link_free(struct link *l)
{
	if (l == NULL)
		return;
	l->state = S_STOPPED;
	TAILQ_REMOVE(&links, l, entry);
	xmpp_conn_release(l->conn);
	free(l->server);
	free(l->ca);
	free(l);
}
