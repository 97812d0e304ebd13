/*
 * xgw-mqtt: the MQTT bridge adapter (see xgw-mqtt.h for its parts).
 *
 * Client side: messages published on the local broker under the routes'
 * topic filters go upstream as event stanzas, one per PUBLISH, to the
 * endpoint of the route.  Device side: events from afar are published on
 * the broker their dst names.  Both sides and fd 3 to xgwd share one poll
 * loop; paho's threads only count, and say when a publish is over.
 */
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
	return local_tls_init(&c->mqtt) == -1 || local_init(c) == -1 ||
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

static const struct adapter_counter counters[] = {
	{ "received", &cnt.received },
	{ "events", &cnt.events },
	{ "taken", &cnt.taken },
	{ "denied", &cnt.denied },
	{ "refused", &cnt.refused },
	{ "loops-cut", &cnt.loops },
	{ "no-route", &cnt.no_route },
	{ "redelivered", &cnt.redelivered },
	{ "broker-connects", &cnt.connects },
	{ "broker-lost", &cnt.lost },
	{ "far-events", &cnt.far_events },
	{ "far-published", &cnt.far_published },
	{ "far-failed", &cnt.far_failed },
	{ "far-dropped", &cnt.far_dropped },
	{ "far-bad", &cnt.far_bad },
	{ "far-again", &cnt.far_again },
	{ "remapped", &cnt.remapped },
	{ "remap-refused", &cnt.remap_refused },
	{ "props-dropped", &cnt.props_dropped },
};

int
main(int argc, char *argv[])
{
	static const struct adapter_cb cb = { configure, on_stanza, on_failed,
	    on_taken, NULL };

	static const struct adapter_part parts[] = {
		{ local_pollfds, local_io, local_timeout_ms, local_timers },
		{ far_pollfds, NULL, far_timeout_ms, far_timers },
	};

	ad = adapter_init(argc, argv, "mqtt", &cb);
	adapter_counters(ad, counters, sizeof(counters) / sizeof(counters[0]),
	    STATS_MS);
	/* xgwd acknowledges an event from afar once its broker has it */
	adapter_confirm_delivery(ad);
	adapter_configure(ad);
	far_start();
	adapter_loop(ad, parts, sizeof(parts) / sizeof(parts[0]));
	far_stop();
	return 0;
}
