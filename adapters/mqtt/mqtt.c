/*
 * xgw-mqtt: the MQTT bridge adapter (see xgw-mqtt.h for its parts).
 *
 * Client side: messages published on the local broker under the routes'
 * topic filters go upstream as event stanzas, one per PUBLISH, to the
 * endpoint of the route.  Device side: events from afar are published on
 * the broker their dst names.  Both sides and fd 3 to xgwd share one poll
 * loop; paho's threads only count, and say when a publish is over.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "xgw-mqtt.h"

#define STATS_MS	10000

struct adapter	*ad;
struct counters	 cnt;
static const struct conf_mqtt *mconf;

/* An attribute the transform wrote; absent reads as 0. */
uint64_t
attr_uint(xmpp_stanza_t *el, const char *attr)
{
	struct xgw_err e;
	uint64_t v;

	return xgw_get_uint_opt(el, attr, UINT64_MAX, 0, &v, &e) == -1 ? 0 : v;
}

int
is_prop(xmpp_stanza_t *c, unsigned id)
{
	return xmpp_stanza_is_tag(c) &&
	    strcmp(xmpp_stanza_get_name(c), "prop") == 0 &&
	    attr_uint(c, "id") == id;
}

/* Stable across restarts: a broker keeps a session by its client id. */
void
client_id(char *buf, size_t len, const char *suffix)
{
	if (mconf->client_id[0] != '\0')
		snprintf(buf, len, "%s-%s", mconf->client_id, suffix);
	else
		snprintf(buf, len, "xgw-%s-%s",
		    adapter_gateway(ad) + strlen("urn:uuid:"), suffix);
}

/* Still privileged: the TLS files are read here, once. */
static int
configure(struct adapter *a, const struct conf_adapter *c)
{
	(void)a;
	mconf = &c->mqtt;
	topic_init(&c->mqtt);
	return tls_init(&c->mqtt) == -1 || local_init(c) == -1 ||
	    far_init(c) == -1 ? -1 : 0;
}

static void
on_stanza(struct adapter *a, const struct xgw_meta *m, xmpp_stanza_t *el,
    uint64_t flow, uint64_t seq)
{
	(void)a;
	if (m->dir == XGW_EVENT)
		far_event(m, el);
	else
		log_warnx("%s flow=%llu seq=%llu from %s: the MQTT bridge "
		    "carries events only; dropped", xgw_dir_name(m->dir),
		    (unsigned long long)flow, (unsigned long long)seq, m->src);
}

/* Only events are sent, so a failure is xgwd refusing one. */
static void
on_failed(struct adapter *a, uint64_t flow, uint64_t seq, const char *reason,
    void *cookie)
{
	(void)a;
	(void)cookie;
	/* xgwd logs its policy's denials itself */
	if (strcmp(reason, "denied") != 0)
		log_warnx("event flow=%llu seq=%llu refused by xgwd: %s",
		    (unsigned long long)flow, (unsigned long long)seq, reason);
	local_refused(seq, reason);
}

static void
on_taken(struct adapter *a, uint64_t flow, uint64_t seq)
{
	(void)a;
	(void)flow;
	cnt.taken++;
	local_taken(seq);
}

static void
send_stats(void)
{
	static struct counters last;
	char kv[1024];

	far_counters();
	if (memcmp(&last, &cnt, sizeof(cnt)) == 0)
		return;
	last = cnt;
	snprintf(kv, sizeof(kv), "received=%llu\nevents=%llu\ntaken=%llu\n"
	    "denied=%llu\nrefused=%llu\nloops-cut=%llu\nno-route=%llu\n"
	    "redelivered=%llu\nbroker-connects=%llu\nbroker-lost=%llu\n"
	    "far-events=%llu\nfar-published=%llu\nfar-failed=%llu\n"
	    "far-dropped=%llu\nfar-bad=%llu\nfar-again=%llu\n"
	    "remapped=%llu\nremap-refused=%llu\nprops-dropped=%llu\n",
	    (unsigned long long)cnt.received, (unsigned long long)cnt.events,
	    (unsigned long long)cnt.taken, (unsigned long long)cnt.denied,
	    (unsigned long long)cnt.refused, (unsigned long long)cnt.loops,
	    (unsigned long long)cnt.no_route,
	    (unsigned long long)cnt.redelivered,
	    (unsigned long long)cnt.connects, (unsigned long long)cnt.lost,
	    (unsigned long long)cnt.far_events,
	    (unsigned long long)cnt.far_published,
	    (unsigned long long)cnt.far_failed,
	    (unsigned long long)cnt.far_dropped, (unsigned long long)cnt.far_bad,
	    (unsigned long long)cnt.far_again,
	    (unsigned long long)cnt.remapped,
	    (unsigned long long)cnt.remap_refused,
	    (unsigned long long)cnt.props_dropped);
	adapter_stats(ad, kv);
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
	struct pollfd pfd[3];
	uint64_t stats_at = adapter_now_ms() + STATS_MS, now;
	int t;

	for (;;) {
		pfd[0] = (struct pollfd){ adapter_fd(ad), adapter_events(ad), 0 };
		/* a negative fd (no connection now) is skipped by poll */
		pfd[1] = (struct pollfd){ local_fd(), local_events(), 0 };
		pfd[2] = (struct pollfd){ far_fd(), POLLIN, 0 };
		now = adapter_now_ms();
		t = min_timeout(adapter_timeout_ms(ad), local_timeout_ms());
		t = min_timeout(t, far_timeout_ms());
		t = min_timeout(t, (int)(stats_at > now ? stats_at - now : 0));
		if (poll(pfd, 3, t) == -1 && errno != EINTR)
			fatal("poll");
		if (pfd[1].fd != -1)
			local_io(pfd[1].revents);
		local_timers();
		far_timers();
		if (adapter_now_ms() >= stats_at) {
			send_stats();
			stats_at = adapter_now_ms() + STATS_MS;
		}
		if (adapter_run(ad, pfd[0].revents) == -1)
			return;
	}
}

int
main(int argc, char *argv[])
{
	static const struct adapter_cb cb = { configure, on_stanza, on_failed,
	    on_taken, NULL };

	ad = adapter_init(argc, argv, "mqtt", &cb);
	/* xgwd acknowledges an event from afar once its broker has it */
	adapter_confirm_delivery(ad);
	adapter_configure(ad);
	far_start();
	loop();
	log_info("xgwd is gone; stopping");
	far_stop();
	return 0;
}
