/*
 * Cost of judging one stanza with 10, 1,000 and 10,000 rules: a site's
 * worth of per-device rules over Modbus, MQTT and HTTP, each stanza from
 * one of those devices.  Prints the median ns per stanza, the ratio to
 * 10 rules and the memory of the compiled set.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "policy.h"
#include "modbus.h"

#define RUNS	15
#define EVALS	20000

static void
uuid(char *out, unsigned i)
{
	snprintf(out, 46, "urn:uuid:%08x-0000-4000-8000-%012x", i, i);
}

/* Three rules a device: its registers, its telemetry topic, its status page. */
static char *
rules(unsigned n)
{
	char *s = NULL, id[46];
	size_t len;
	FILE *f = open_memstream(&s, &len);

	for (unsigned i = 0; i < n; i++) {
		uuid(id, i);
		switch (i % 3) {
		case 0:
			fprintf(f, "pass request from %s modbus unit %u "
			    "function { read-holding-registers, read-input-registers } "
			    "address %u:%u\n", id, i % 247 + 1, i % 1000,
			    i % 1000 + 99);
			break;
		case 1:
			fprintf(f, "pass request from %s mqtt type publish "
			    "topic \"site%u/+/temp\" qos 0:1 payload-size 0:1024\n",
			    id, i);
			break;
		default:
			fprintf(f, "pass request from %s http method { GET, HEAD } "
			    "path prefix \"/dev%u/\" header \"Host\"\n", id, i);
		}
	}
	fprintf(f, "block request\n");
	fclose(f);
	return s;
}

static xmpp_stanza_t *
attrs(xmpp_ctx_t *ctx, const char *name, const char *ns, const char *const *kv)
{
	xmpp_stanza_t *e = xgw_el_new(ctx, name, ns);

	for (; kv[0] != NULL; kv += 2)
		xgw_set_str(e, kv[0], kv[1]);
	return e;
}

static uint64_t
nsec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int
cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double
median_ns(struct xgw_policy *pol, const struct xgw_meta *m, xmpp_stanza_t *e,
    enum xgw_action want)
{
	struct xgw_verdict v;
	double t[RUNS];

	for (int r = 0; r < RUNS; r++) {
		uint64_t t0 = nsec();

		for (int i = 0; i < EVALS; i++)
			if (xgw_policy_eval(pol, m, e, i, &v) != want) {
				fprintf(stderr, "unexpected verdict, rule %d\n",
				    v.rule);
				exit(1);
			}
		t[r] = (double)(nsec() - t0) / EVALS;
	}
	qsort(t, RUNS, sizeof(t[0]), cmp);
	return t[RUNS / 2];
}

int
main(void)
{
	static const unsigned sizes[] = { 10, 1000, 10000 };
	static const char *const kinds[] = { "modbus", "mqtt", "http", "deny" };
	xmpp_ctx_t *ctx = xmpp_ctx_new(NULL, NULL);
	double base[4] = { 0 };

	printf("%-7s %-7s %12s %8s %12s\n", "rules", "stanza", "median ns",
	    "ratio", "memory KiB");
	for (size_t k = 0; k < 3; k++) {
		unsigned n = sizes[k], dev = n - 3 + 0;	/* late devices */
		struct xgw_policy_err err;
		struct xgw_policy *pol;
		struct xgw_meta m = { .dir = XGW_REQUEST };
		xmpp_stanza_t *e[4], *c;
		char *text = rules(n), topic[64], path[64], unit[8], addr[8];
		const char *mb[] = { "tid", "1", "pid", "0", "len", "6",
		    "unit", unit, "fc", "3", "fn", "read-holding-registers",
		    "dir", "request", "addr", addr, "qty", "10", NULL };
		const char *mq[] = { "type", "publish", "level", "4", "topic",
		    topic, "qos", "1", "retain", "0", "id", "7", NULL };
		const char *ht[] = { "kind", "request", "method", "GET",
		    "target", path, "version", "HTTP/1.1", "body-size", "0", NULL };
		const char *hf[] = { "name", "Host", "value", "dev", NULL };

		if ((pol = xgw_policy_parse("bench", text, strlen(text),
		    &err)) == NULL) {
			fprintf(stderr, "%u:%u: %s\n", err.line, err.col, err.msg);
			return 1;
		}
		snprintf(unit, sizeof(unit), "%u", (dev - dev % 3) % 247 + 1);
		snprintf(addr, sizeof(addr), "%u", (dev - dev % 3) % 1000 + 10);
		snprintf(topic, sizeof(topic), "site%u/a/temp", dev - dev % 3 + 1);
		snprintf(path, sizeof(path), "/dev%u/status", dev - dev % 3 + 2);
		e[0] = attrs(ctx, "modbus", XGW_NS_MODBUS, mb);
		e[1] = attrs(ctx, "mqtt", XGW_NS_MQTT, mq);
		xgw_add_b64(ctx, e[1], "payload", (const uint8_t *)"21.5", 4);
		e[2] = attrs(ctx, "http", XGW_NS_HTTP, ht);
		c = attrs(ctx, "field", NULL, hf);
		xgw_el_add(e[2], c);
		e[3] = attrs(ctx, "modbus", XGW_NS_MODBUS, mb);
		xgw_set_str(e[3], "addr", "5000");
		for (int s = 0; s < 4; s++) {
			double ns;

			uuid(m.src, dev - dev % 3 + (s < 3 ? s : 0));
			ns = median_ns(pol, &m, e[s], s < 3 ? XGW_PASS : XGW_BLOCK);
			if (k == 0)
				base[s] = ns;
			printf("%-7u %-7s %12.1f %8.2f %12zu\n", n, kinds[s], ns,
			    ns / base[s], xgw_policy_memory(pol) / 1024);
			xmpp_stanza_release(e[s]);
		}
		xgw_policy_free(pol);
		free(text);
	}
	xmpp_ctx_free(ctx);
	return 0;
}
