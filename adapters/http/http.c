/*
 * xgw-http: main, the poll loop over xgwd's socket, the listener, the
 * clients and the device connections, the runtime's callbacks, the
 * counters xgwd reads, and what both sides share: the answers made here
 * (400, 413, 502, 504, ...), header tokens, and the transform's session.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "xgw-http.h"

#define STATS_MS	10000

struct adapter	*ad;
struct counters	 cnt;

static const char *
reason_phrase(unsigned status)
{
	switch (status) {
	case 400:
		return "Bad Request";
	case 408:
		return "Request Timeout";
	case 413:
		return "Content Too Large";
	case 414:
		return "URI Too Long";
	case 431:
		return "Request Header Fields Too Large";
	case 501:
		return "Not Implemented";
	case 502:
		return "Bad Gateway";
	case 504:
		return "Gateway Timeout";
	}
	return "Error";
}

/*
 * An answer made here, as a device would send it: a short text body
 * saying why (none for HEAD, whose answer only announces its length).
 */
int
http_answer(struct xgw_buf *b, unsigned status, const char *method,
    const char *text, int close)
{
	char head[256], body[160];
	struct xgw_err e;
	int hn, bn;

	bn = snprintf(body, sizeof(body), "xgw: %s\n", text);
	if (bn < 0 || (size_t)bn >= sizeof(body))
		bn = sizeof(body) - 1;
	hn = snprintf(head, sizeof(head), "HTTP/1.1 %u %s\r\n"
	    "Content-Type: text/plain\r\nContent-Length: %d\r\n%s\r\n",
	    status, reason_phrase(status), bn,
	    close ? "Connection: close\r\n" : "");
	if (xgw_buf_put(b, head, hn, &e) == -1 ||
	    ((method == NULL || strcmp(method, "HEAD") != 0) &&
	    xgw_buf_put(b, body, bn, &e) == -1))
		return -1;
	return 0;
}

/*
 * A field NAME (any case) whose comma-separated list holds TOKEN (any
 * case); with TOKEN NULL, any field NAME.
 */
int
field_has_token(xmpp_stanza_t *el, const char *name, const char *token)
{
	size_t tl = token != NULL ? strlen(token) : 0;

	for (xmpp_stanza_t *f = xmpp_stanza_get_children(el); f != NULL;
	    f = xmpp_stanza_get_next(f)) {
		const char *fn = xmpp_stanza_get_name(f);
		const char *n = xmpp_stanza_get_attribute(f, "name");
		const char *v = xmpp_stanza_get_attribute(f, "value");

		if (fn == NULL || strcmp(fn, "field") != 0 || n == NULL ||
		    strcasecmp(n, name) != 0)
			continue;
		if (token == NULL)
			return 1;
		while (v != NULL && *v != '\0') {
			size_t len;

			v += strspn(v, " \t,");
			len = strcspn(v, ",");
			while (len > 0 && (v[len - 1] == ' ' || v[len - 1] == '\t'))
				len--;
			if (len == tl && strncasecmp(v, token, tl) == 0)
				return 1;
			v += strcspn(v, ",");
		}
	}
	return 0;
}

/*
 * The transform frames a response by the request it answers (HEAD has no
 * body) and learns that request by decoding it.  A side that did not
 * decode the request (it encoded it, or made the answer itself) sets the
 * one method awaiting an answer here.
 */
void
sess_expect(struct xgw_http_sess *s, const char *method)
{
	memset(s, 0, sizeof(*s));
	snprintf(s->method[0], sizeof(s->method[0]), "%s", method);
	s->count = 1;
}

const char *
el_method(xmpp_stanza_t *el)
{
	const char *m = xmpp_stanza_get_attribute(el, "method");

	return m != NULL ? m : "";
}

static void
stats_send(void)
{
	static struct counters last;
	char kv[1024];

	if (memcmp(&last, &cnt, sizeof(cnt)) == 0)
		return;
	last = cnt;
	snprintf(kv, sizeof(kv), "clients-accepted=%llu\nclients-refused=%llu\n"
	    "requests=%llu\nmalformed=%llu\noversize=%llu\nno-route=%llu\n"
	    "path-failed=%llu\ntimed-out=%llu\nlate-responses=%llu\n"
	    "bad-answers=%llu\nidle-closed=%llu\ndevice-requests=%llu\n"
	    "device-answers=%llu\ndevice-interim=%llu\ndevice-failed=%llu\n"
	    "device-timeouts=%llu\ndevice-retries=%llu\ndevice-bad=%llu\n",
	    (unsigned long long)cnt.accepted, (unsigned long long)cnt.refused,
	    (unsigned long long)cnt.requests, (unsigned long long)cnt.malformed,
	    (unsigned long long)cnt.oversize, (unsigned long long)cnt.no_route,
	    (unsigned long long)cnt.path_failed,
	    (unsigned long long)cnt.timed_out, (unsigned long long)cnt.late,
	    (unsigned long long)cnt.bad_answers,
	    (unsigned long long)cnt.idle_closed,
	    (unsigned long long)cnt.dev_requests,
	    (unsigned long long)cnt.dev_answers,
	    (unsigned long long)cnt.dev_interim,
	    (unsigned long long)cnt.dev_failed,
	    (unsigned long long)cnt.dev_timeouts,
	    (unsigned long long)cnt.dev_retries, (unsigned long long)cnt.dev_bad);
	adapter_stats(ad, kv);
}

static int
configure(struct adapter *a, const struct conf_adapter *c)
{
	(void)a;
	if (device_open(c) == -1)
		return -1;
	return c->listen[0] != '\0' ? client_open(c) : 0;
}

static void
on_stanza(struct adapter *a, const struct xgw_meta *m, xmpp_stanza_t *el,
    uint64_t flow, uint64_t seq)
{
	(void)a;
	if (m->dir == XGW_REQUEST)
		device_request(m, el);
	else if (m->dir == XGW_RESPONSE)
		client_answer(el, flow, seq);
	else
		log_debug("event flow=%llu seq=%llu: this adapter takes none",
		    (unsigned long long)flow, (unsigned long long)seq);
}

static void
on_failed(struct adapter *a, uint64_t flow, uint64_t seq, const char *reason,
    void *cookie)
{
	(void)a;
	if (cookie != NULL)
		client_failed(flow, seq, reason);
}

static int
min_timeout(int a, int b)
{
	if (a < 0)
		return b;
	if (b < 0)
		return a;
	return a < b ? a : b;
}

static void
loop(void)
{
	struct pollfd pfd[1 + 1 + 256 + CONF_MAX_DEVICES];
	const int max = sizeof(pfd) / sizeof(pfd[0]);
	uint64_t now, stats_at = adapter_now_ms() + STATS_MS;

	for (;;) {
		int nc, nd, t;

		now = adapter_now_ms();
		pfd[0] = (struct pollfd){ adapter_fd(ad), adapter_events(ad), 0 };
		nc = client_pollfds(pfd + 1, max - 1);
		nd = device_pollfds(pfd + 1 + nc, max - 1 - nc);
		t = min_timeout(adapter_timeout_ms(ad), client_timeout_ms(now));
		t = min_timeout(t, device_timeout_ms(now));
		t = min_timeout(t, (int)(stats_at > now ? stats_at - now : 0));
		if (poll(pfd, 1 + nc + nd, t) == -1) {
			if (errno != EINTR)
				fatal("poll");
			continue;
		}
		client_run(pfd + 1, nc);
		device_run(pfd + 1 + nc, nd);
		now = adapter_now_ms();
		client_timers(now);
		device_timers(now);
		if (now >= stats_at) {
			stats_send();
			stats_at = now + STATS_MS;
		}
		if (adapter_run(ad, pfd[0].revents) == -1)
			return;
	}
}

int
main(int argc, char *argv[])
{
	static const struct adapter_cb cb = { configure, on_stanza, on_failed,
	    NULL, NULL };

	ad = adapter_init(argc, argv, "http", &cb);
	adapter_configure(ad);
	loop();
	log_info("xgwd is gone; stopping");
	return 0;
}
