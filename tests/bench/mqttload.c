/*
 * mqttload: MQTT messages/s and end-to-end latency from a publisher on one
 * broker to a subscriber on another (mqtt_path.sh: through two gateways,
 * or through mosquitto's own bridge).  One process, two paho clients
 * (MQTTAsync, MQTT 3.1.1, clean session); the subscriber is connected and
 * subscribed before the first publish.  The publisher keeps at most WINDOW
 * messages published and not yet arrived, COUNT in all after WARMUP
 * unmeasured ones.  Each payload carries the run, the message's number and
 * the monotonic time it was published, padded to BYTES with a pattern that
 * is checked on arrival; the latency is arrival minus that time (one
 * clock, one process).
 *
 *   mqttload -a PORT -b PORT -n COUNT [-t TOPIC] [-q QOS] [-s BYTES]
 *            [-w WARMUP] [-W WINDOW] [-T SECS]
 *
 * Prints bench_report's line (a "transaction" is one message arrived);
 * errors are messages lost: none arrived for STALL_S seconds while some
 * were missing (a damaged message counts as lost).  Repeats (QoS 1 is at least once) and
 * arrivals of an earlier run are counted on standard error.  Exit 1 when
 * a client fails or the run does not finish within SECS.
 */
#include <err.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <MQTTAsync.h>

#include "bench.h"

#define HEAD_LEN	24		/* run, number, time: 3 x 8 bytes */
#define STALL_S		5
#define UP_WAIT_S	10

struct load {
	pthread_mutex_t	 mu;
	pthread_cond_t	 cv;
	MQTTAsync	 pub, sub;
	const char	*topic;
	unsigned	 qos, window;
	size_t		 size;
	/* the current run */
	uint64_t	 run;
	size_t		 count, issued, arrived;
	uint8_t		*seen;		/* count flags */
	uint32_t	*lat;		/* in arrival order; NULL: not measured */
	uint64_t	 first_us, last_us;
	unsigned long	 damaged, repeats, stale;
	int		 pending;	/* a connect or subscribe under way */
	const char	*failed;
};

static void
put64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = v & 0xff;
}

static uint64_t
get64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static uint8_t
pad_byte(size_t i)
{
	return (uint8_t)(i % 251);
}

static int
damaged(const uint8_t *p, size_t n, size_t want)
{
	if (n != want)
		return 1;
	for (size_t i = HEAD_LEN; i < n; i++)
		if (p[i] != pad_byte(i))
			return 1;
	return 0;
}

/* On paho's thread: one arrival, counted once. */
static void
arrived(struct load *l, const uint8_t *p, size_t n)
{
	uint64_t now = bench_now_us(), idx;

	if (n < HEAD_LEN || get64(p) != l->run) {
		l->stale++;
		return;
	}
	idx = get64(p + 8);
	if (idx >= l->count || damaged(p, n, l->size)) {
		l->damaged++;
		return;
	}
	if (l->seen[idx]) {
		l->repeats++;
		return;
	}
	l->seen[idx] = 1;
	if (l->lat != NULL)
		l->lat[l->arrived] = (uint32_t)(now - get64(p + 16));
	l->arrived++;
	l->last_us = now;
	pthread_cond_signal(&l->cv);
}

static int
on_message(void *arg, char *topic, int tlen, MQTTAsync_message *m)
{
	struct load *l = arg;

	(void)tlen;
	pthread_mutex_lock(&l->mu);
	arrived(l, m->payload, (size_t)m->payloadlen);
	pthread_mutex_unlock(&l->mu);
	MQTTAsync_freeMessage(&m);
	MQTTAsync_free(topic);
	return 1;
}

static void
on_lost(void *arg, char *cause)
{
	(void)arg;
	errx(1, "a broker connection was lost: %s",
	    cause ? cause : "no reason");
}

static void
done_ok(void *arg, MQTTAsync_successData *d)
{
	struct load *l = arg;

	pthread_mutex_lock(&l->mu);
	/* a subscription refused comes back as granted QoS 0x80 */
	if (d != NULL && d->alt.qos == 0x80)
		l->failed = "the subscription was refused";
	l->pending = 0;
	pthread_cond_signal(&l->cv);
	pthread_mutex_unlock(&l->mu);
}

static void
done_fail(void *arg, MQTTAsync_failureData *d)
{
	struct load *l = arg;

	pthread_mutex_lock(&l->mu);
	l->failed = d != NULL && d->message != NULL ? d->message :
	    "refused or unreachable";
	l->pending = 0;
	pthread_cond_signal(&l->cv);
	pthread_mutex_unlock(&l->mu);
}

/* Waits on cv until deadline_us; 0 when it passed. */
static int
wait_until(struct load *l, uint64_t deadline_us)
{
	struct timespec ts;
	uint64_t now = bench_now_us();

	if (now >= deadline_us)
		return 0;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_nsec += (long)((deadline_us - now) % 1000000) * 1000;
	ts.tv_sec += (time_t)((deadline_us - now) / 1000000) +
	    ts.tv_nsec / 1000000000;
	ts.tv_nsec %= 1000000000;
	pthread_cond_timedwait(&l->cv, &l->mu, &ts);
	return 1;
}

/* Waits for the connect or subscribe just started; what says why not. */
static void
settle(struct load *l, const char *what, int rc)
{
	uint64_t deadline = bench_now_us() + UP_WAIT_S * 1000000ULL;

	if (rc != MQTTASYNC_SUCCESS)
		errx(1, "%s: %s", what, MQTTAsync_strerror(rc));
	while (l->pending && wait_until(l, deadline))
		;
	if (l->pending)
		errx(1, "%s: no answer within %d s", what, UP_WAIT_S);
	if (l->failed != NULL)
		errx(1, "%s: %s", what, l->failed);
}

static void
open_client(struct load *l, MQTTAsync *c, unsigned long port,
    const char *role)
{
	MQTTAsync_connectOptions co = MQTTAsync_connectOptions_initializer;
	char uri[64], id[64], what[96];

	snprintf(uri, sizeof(uri), "tcp://127.0.0.1:%lu", port);
	snprintf(id, sizeof(id), "mqttload-%s-%ld", role, (long)getpid());
	snprintf(what, sizeof(what), "%s: connect to %s", role, uri);
	if (MQTTAsync_create(c, uri, id, MQTTCLIENT_PERSISTENCE_NONE,
	    NULL) != MQTTASYNC_SUCCESS ||
	    MQTTAsync_setCallbacks(*c, l, on_lost, on_message,
	    NULL) != MQTTASYNC_SUCCESS)
		errx(1, "%s: cannot create the client", role);
	co.keepAliveInterval = 30;
	co.cleansession = 1;
	co.maxInflight = (int)l->window;
	co.onSuccess = done_ok;
	co.onFailure = done_fail;
	co.context = l;
	l->pending = 1;
	settle(l, what, MQTTAsync_connect(*c, &co));
}

static void
subscribe(struct load *l)
{
	MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;

	ro.onSuccess = done_ok;
	ro.onFailure = done_fail;
	ro.context = l;
	l->pending = 1;
	settle(l, "subscribe", MQTTAsync_subscribe(l->sub, l->topic,
	    (int)l->qos, &ro));
}

static void
publish(struct load *l, uint8_t *payload)
{
	MQTTAsync_message m = MQTTAsync_message_initializer;
	int rc;

	put64(payload + 8, l->issued);
	put64(payload + 16, bench_now_us());
	m.payload = payload;
	m.payloadlen = (int)l->size;
	m.qos = (int)l->qos;
	/* paho copies the payload: it can change for the next one */
	pthread_mutex_unlock(&l->mu);
	rc = MQTTAsync_sendMessage(l->pub, l->topic, &m, NULL);
	pthread_mutex_lock(&l->mu);
	if (rc != MQTTASYNC_SUCCESS)
		errx(1, "publish: %s", MQTTAsync_strerror(rc));
	l->issued++;
}

/*
 * One run of count messages; returns how many arrived.  Called with the
 * mutex held.  A run whose arrivals stop for STALL_S seconds ends there:
 * the rest are lost.
 */
static size_t
run(struct load *l, size_t count, uint32_t *lat, uint64_t deadline_us)
{
	uint8_t *payload;
	size_t last = 0;
	uint64_t stall_us = bench_now_us() + STALL_S * 1000000ULL;

	if ((payload = malloc(l->size)) == NULL ||
	    (l->seen = calloc(count, 1)) == NULL)
		errx(1, "out of memory");
	for (size_t i = 0; i < l->size; i++)
		payload[i] = pad_byte(i);
	put64(payload, l->run);
	l->count = count;
	l->issued = l->arrived = 0;
	l->lat = lat;
	l->first_us = l->last_us = bench_now_us();
	while (l->arrived < count) {
		if (bench_now_us() > deadline_us)
			errx(1, "%zu of %zu messages missing at the deadline",
			    count - l->arrived, count);
		if (l->arrived != last) {
			last = l->arrived;
			stall_us = bench_now_us() + STALL_S * 1000000ULL;
		} else if (bench_now_us() > stall_us)
			break;
		if (l->issued < count && l->issued - l->arrived < l->window)
			publish(l, payload);
		else
			wait_until(l, bench_now_us() + 100000);
	}
	free(payload);
	free(l->seen);
	l->seen = NULL;
	l->run++;	/* what still comes of this run is stale */
	return l->arrived;
}

static void
usage(void)
{
	fprintf(stderr, "usage: mqttload -a port -b port -n count [-t topic] "
	    "[-q qos] [-s bytes]\n"
	    "                [-w warmup] [-W window] [-T secs]\n");
	exit(2);
}

int
main(int argc, char *argv[])
{
	struct load l = { .mu = PTHREAD_MUTEX_INITIALIZER,
	    .cv = PTHREAD_COND_INITIALIZER, .topic = BENCH_MQTT_TOPIC,
	    .qos = 1, .window = 100, .size = 64 };
	struct bench_opts o = { .secs = 300 };
	unsigned long port_a = 0, port_b = 0;
	uint64_t deadline;
	uint32_t *lat;
	size_t got;
	int ch;

	while ((ch = bench_getopt(&o, argc, argv, "T:W:a:b:n:q:s:t:w:")) !=
	    -1) {
		switch (ch) {
		case 'W':
			l.window = bench_number("W", optarg, 1, 65535);
			break;
		case 'a':
			port_a = bench_number("a", optarg, 1, 65535);
			break;
		case 'b':
			port_b = bench_number("b", optarg, 1, 65535);
			break;
		case 'q':
			l.qos = bench_number("q", optarg, 0, 1);
			break;
		case 's':
			l.size = bench_number("s", optarg, HEAD_LEN, 65536);
			break;
		case 't':
			l.topic = optarg;
			break;
		default:
			usage();
		}
	}
	if (port_a == 0 || port_b == 0 || o.count == 0 || optind != argc ||
	    strpbrk(l.topic, "+#") != NULL)
		usage();
	if ((lat = calloc(o.count, sizeof(*lat))) == NULL)
		errx(1, "out of memory");
	/* above every run of an earlier process of this boot */
	l.run = bench_now_us();
	pthread_mutex_lock(&l.mu);
	open_client(&l, &l.sub, port_b, "subscriber");
	subscribe(&l);
	open_client(&l, &l.pub, port_a, "publisher");
	deadline = bench_now_us() + o.secs * 1000000ULL;
	if (o.warmup > 0 && run(&l, o.warmup, NULL, deadline) < o.warmup)
		errx(1, "warm-up: %zu of %lu messages arrived", l.arrived,
		    o.warmup);
	got = run(&l, o.count, lat, deadline);
	bench_report(lat, got, l.last_us - l.first_us, o.count - got);
	if (l.repeats > 0 || l.stale > 0 || l.damaged > 0 || got < o.count)
		fprintf(stderr, "mqttload: %zu lost, %lu damaged, %lu repeated, "
		    "%lu of an earlier run\n", o.count - got, l.damaged,
		    l.repeats, l.stale);
	pthread_mutex_unlock(&l.mu);
	MQTTAsync_disconnect(l.pub, NULL);
	MQTTAsync_disconnect(l.sub, NULL);
	MQTTAsync_destroy(&l.pub);
	MQTTAsync_destroy(&l.sub);
	free(lat);
	return 0;
}
