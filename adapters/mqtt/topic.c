/*
 * Topic remapping (topic out|in PREFIX REPLACEMENT): the longest prefix of
 * the direction that starts a PUBLISH's topic is replaced, in the element
 * itself.  Out is applied before the event goes upstream, so that both
 * gateways' policies judge the topic the far broker will see; in, before
 * an event from afar is published here.  A topic MQTT would refuse after
 * the rewrite (empty, a wildcard, longer than a two-byte length) is
 * refused: the caller counts it and drops the message.
 */
#include <string.h>

#include "xgw-mqtt.h"

#define TOPIC_MAX	65535

static const struct conf_mqtt *conf;

void
topic_init(const struct conf_mqtt *m)
{
	conf = m;
}

static const struct conf_topic *
longest(enum conf_dir dir, const uint8_t *topic, size_t n)
{
	const struct conf_topic *best = NULL;
	size_t len, best_len = 0;

	for (int i = 0; i < conf->ntopics; i++) {
		const struct conf_topic *t = &conf->topics[i];

		len = strlen(t->from);
		if (t->dir == dir && len <= n && len > best_len &&
		    memcmp(topic, t->from, len) == 0) {
			best = t;
			best_len = len;
		}
	}
	return best;
}

/* 1: rewritten; 0: no prefix of the direction starts it; -1: refused, e set. */
int
topic_remap(xmpp_stanza_t *el, enum conf_dir dir, struct xgw_err *e)
{
	const struct conf_topic *t;
	struct xgw_buf old = { 0 }, nu = { 0 };
	size_t n, from;
	int rc = -1;

	if (conf->ntopics == 0)
		return 0;
	if (xgw_get_bytes(el, "topic", &old, &n, e) == -1)
		return -1;
	if ((t = longest(dir, old.data, n)) == NULL) {
		xgw_buf_free(&old);
		return 0;
	}
	from = strlen(t->from);
	if (xgw_buf_put(&nu, t->to, strlen(t->to), e) == -1 ||
	    xgw_buf_put(&nu, old.data + from, n - from, e) == -1)
		goto done;
	if (nu.len == 0 || nu.len > TOPIC_MAX ||
	    memchr(nu.data, '+', nu.len) || memchr(nu.data, '#', nu.len)) {
		rc = xgw_fail(e, 0, "bad-topic", "prefix \"%s\" to \"%s\" makes "
		    "a topic of %zu bytes%s", t->from, t->to, nu.len,
		    nu.len == 0 || nu.len > TOPIC_MAX ? "" : " with a wildcard");
		goto done;
	}
	xmpp_stanza_del_attribute(el, "topic");
	xmpp_stanza_del_attribute(el, "topic-b64");
	if (xgw_set_bytes(adapter_ctx(ad), el, "topic", nu.data, nu.len) == -1)
		rc = xgw_fail(e, 0, "no-memory", "topic");
	else
		rc = 1;
done:
	xgw_buf_free(&old);
	xgw_buf_free(&nu);
	return rc;
}
