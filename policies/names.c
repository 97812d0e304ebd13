/*
 * The words of the rules language: match keywords per protocol, the names
 * that stand for numbers, and the "did you mean" search over them.
 */
#include <stdio.h>
#include <string.h>

#include "policy_int.h"
#include "http.h"
#include "modbus.h"

const char *const pol_proto_names[PR_N] = {
	"any", "modbus", "coap", "mqtt", "http", "readings"
};

const struct pname pol_dir_names[] = {
	{ "request", XGW_REQUEST }, { "response", XGW_RESPONSE },
	{ "event", XGW_EVENT }, { NULL, 0 }
};

const struct pname pol_modbus_exc[] = {
	{ "illegal-function", 1 }, { "illegal-data-address", 2 },
	{ "illegal-data-value", 3 }, { NULL, 0 }
};

static const struct pname coap_types[] = {
	{ "con", 0 }, { "non", 1 }, { "ack", 2 }, { "rst", 3 }, { NULL, 0 }
};

#define CODE(c, d)	((c) << 5 | (d))
static const struct pname coap_codes[] = {
	{ "empty", CODE(0, 0) }, { "get", CODE(0, 1) }, { "post", CODE(0, 2) },
	{ "put", CODE(0, 3) }, { "delete", CODE(0, 4) }, { "fetch", CODE(0, 5) },
	{ "patch", CODE(0, 6) }, { "ipatch", CODE(0, 7) },
	{ "created", CODE(2, 1) }, { "deleted", CODE(2, 2) },
	{ "valid", CODE(2, 3) }, { "changed", CODE(2, 4) },
	{ "content", CODE(2, 5) }, { "continue", CODE(2, 31) },
	{ "bad-request", CODE(4, 0) }, { "unauthorized", CODE(4, 1) },
	{ "bad-option", CODE(4, 2) }, { "forbidden", CODE(4, 3) },
	{ "not-found", CODE(4, 4) }, { "method-not-allowed", CODE(4, 5) },
	{ "not-acceptable", CODE(4, 6) },
	{ "request-entity-incomplete", CODE(4, 8) },
	{ "conflict", CODE(4, 9) }, { "precondition-failed", CODE(4, 12) },
	{ "request-entity-too-large", CODE(4, 13) },
	{ "unsupported-content-format", CODE(4, 15) },
	{ "unprocessable-entity", CODE(4, 22) },
	{ "too-many-requests", CODE(4, 29) },
	{ "internal-server-error", CODE(5, 0) },
	{ "not-implemented", CODE(5, 1) }, { "bad-gateway", CODE(5, 2) },
	{ "service-unavailable", CODE(5, 3) },
	{ "gateway-timeout", CODE(5, 4) },
	{ "proxying-not-supported", CODE(5, 5) },
	{ "hop-limit-reached", CODE(5, 8) },
	{ NULL, 0 }
};

static const struct pname mqtt_types[] = {
	{ "connect", 1 }, { "connack", 2 }, { "publish", 3 }, { "puback", 4 },
	{ "pubrec", 5 }, { "pubrel", 6 }, { "pubcomp", 7 },
	{ "subscribe", 8 }, { "suback", 9 }, { "unsubscribe", 10 },
	{ "unsuback", 11 }, { "pingreq", 12 }, { "pingresp", 13 },
	{ "disconnect", 14 }, { "auth", 15 }, { NULL, 0 }
};

/* An element of readings is as good as its worst reading. */
const struct pname pol_quality_names[] = {
	{ "good", 0 }, { "bad", 1 }, { NULL, 0 }
};

/* The protocols readings are read with (their proto attribute). */
const struct pname pol_rproto_names[] = {
	{ "modbus", PR_MODBUS }, { "coap", PR_COAP }, { "mqtt", PR_MQTT },
	{ "http", PR_HTTP }, { NULL, 0 }
};

static const struct pname yes_no[] = { { "no", 0 }, { "yes", 1 }, { NULL, 0 } };

/* A marker: the names of this keyword are Modbus function names. */
static const struct pname modbus_fn[] = { { NULL, 0 } };

#define NUM(n, p, f, lo, hi, names) \
	{ n, p, f, CK_NUM, lo, hi, names, NULL }
#define STR(n, p, f, k)	{ n, p, f, k, 0, 0, NULL, NULL }

const struct keyword pol_keywords[] = {
	NUM("unit", PR_MODBUS, FD_UNIT, 0, 255, NULL),
	NUM("function", PR_MODBUS, FD_FUNCTION, 1, 127, modbus_fn),
	NUM("address", PR_MODBUS, FD_ADDRESS, 0, 65535, NULL),
	NUM("quantity", PR_MODBUS, FD_QUANTITY, 1, 2000, NULL),
	NUM("value", PR_MODBUS, FD_VALUE, 0, 65535, NULL),
	NUM("type", PR_COAP, FD_CTYPE, 0, 3, coap_types),
	NUM("code", PR_COAP, FD_CODE, 0, 255, coap_codes),
	{ "method", PR_COAP, FD_CODE, CK_NUM, 0, 255, coap_codes, "code" },
	STR("path", PR_COAP, FD_PATH, CK_STR),
	STR("query", PR_COAP, FD_QUERY, CK_STR),
	NUM("content-format", PR_COAP, FD_CFORMAT, 0, 65535, NULL),
	NUM("payload-size", PR_COAP, FD_SIZE, 0, XGW_PDU_MAX, NULL),
	NUM("type", PR_MQTT, FD_MTYPE, 1, 15, mqtt_types),
	STR("topic", PR_MQTT, FD_TOPIC, CK_TOPIC),
	NUM("qos", PR_MQTT, FD_QOS, 0, 2, NULL),
	NUM("retain", PR_MQTT, FD_RETAIN, 0, 1, yes_no),
	NUM("payload-size", PR_MQTT, FD_SIZE, 0, XGW_PDU_MAX, NULL),
	STR("client-id", PR_MQTT, FD_CLIENT, CK_STR),
	STR("method", PR_HTTP, FD_METHOD, CK_WORD),
	STR("path", PR_HTTP, FD_PATH, CK_STR),
	STR("query", PR_HTTP, FD_QUERY, CK_STR),
	STR("header", PR_HTTP, FD_HEADER, CK_HEADER),
	NUM("body-size", PR_HTTP, FD_SIZE, 0, XGW_HTTP_BODY_LIMIT, NULL),
	STR("name", PR_READINGS, FD_NAME, CK_NAMES),
	NUM("quality", PR_READINGS, FD_QUALITY, 0, 1, pol_quality_names),
	NUM("proto", PR_READINGS, FD_RPROTO, PR_MODBUS, PR_HTTP,
	    pol_rproto_names),
	{ NULL, PR_ANY, FD_N, CK_NUM, 0, 0, NULL, NULL }
};

const char *
pol_num_name(const struct keyword *kw, uint64_t v)
{
	const struct pname *n;

	if (kw->names == modbus_fn)
		return xgw_modbus_fn_name(v);
	for (n = kw->names; n != NULL && n->name != NULL; n++)
		if (n->v == v)
			return n->name;
	return NULL;
}

/* "2.05": class and detail of a CoAP code */
int
pol_coap_code(const char *s, uint64_t *v)
{
	if (s[0] < '0' || s[0] > '7' || s[1] != '.' ||
	    s[2] < '0' || s[2] > '3' || s[3] < '0' || s[3] > '9' ||
	    s[4] != '\0' || (s[2] - '0') * 10 + (s[3] - '0') > 31)
		return -1;
	*v = CODE((unsigned)(s[0] - '0'), (unsigned)((s[2] - '0') * 10 +
	    (s[3] - '0')));
	return 0;
}

int
pol_num_parse(const struct keyword *kw, const char *s, uint64_t *v)
{
	const struct pname *n;
	int fc;

	if (xgw_parse_uint(s, strlen(s), UINT64_MAX, v) == 0)
		return 0;
	if (kw->names == coap_codes && pol_coap_code(s, v) == 0)
		return 0;
	if (kw->names == modbus_fn) {
		if ((fc = xgw_modbus_fn_code(s)) == -1)
			return -1;
		*v = fc;
		return 0;
	}
	for (n = kw->names; n != NULL && n->name != NULL; n++)
		if (strcmp(n->name, s) == 0) {
			*v = n->v;
			return 0;
		}
	return -1;
}

int
pol_mqtt_type(const char *s)
{
	for (const struct pname *n = mqtt_types; n->name != NULL; n++)
		if (strcmp(n->name, s) == 0)
			return n->v;
	return -1;
}

static size_t
distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), row[65], prev, tmp;

	if (la > 64 || lb > 64)
		return SIZE_MAX;
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		prev = row[0];
		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			tmp = row[j];
			row[j] = prev + (a[i - 1] != b[j - 1]);
			if (row[j - 1] + 1 < row[j])
				row[j] = row[j - 1] + 1;
			if (tmp + 1 < row[j])
				row[j] = tmp + 1;
			prev = tmp;
		}
	}
	return row[lb];
}

/* The candidate nearest to word, if near enough to be a typing slip. */
const char *
pol_closest(const char *word, const char *const *cands, size_t n)
{
	const char *best = NULL;
	size_t d, bestd = SIZE_MAX, limit = strlen(word) / 3 + 1;

	if (limit < 2)
		limit = 2;
	for (size_t i = 0; i < n; i++) {
		if (cands[i] == NULL)
			continue;
		if ((d = distance(word, cands[i])) < bestd) {
			bestd = d;
			best = cands[i];
		}
	}
	return bestd <= limit ? best : NULL;
}

const char *
pol_closest_names(const char *word, const struct pname *names)
{
	const char *cands[128];
	size_t n = 0;

	if (names == modbus_fn) {
		for (unsigned fc = 1; fc < 128; fc++)
			cands[n++] = xgw_modbus_fn_name(fc);
	} else
		for (; names != NULL && names->name != NULL && n < 128; names++)
			cands[n++] = names->name;
	return pol_closest(word, cands, n);
}
