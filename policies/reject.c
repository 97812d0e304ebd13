/*
 * The answer a rejected request gets, in its own protocol: a Modbus
 * exception, CoAP 4.03 Forbidden, HTTP 403 (413 for a streamed body past
 * its bound), MQTT "not authorized"; and what goes on in a rejected
 * stanza's place (a streamed body's part: the cancel of its stream).  Pure functions: the request element
 * in, a new reply element out; the transform's encode turns it into bytes
 * and checks it.
 */
#include <string.h>

#include "policy_int.h"
#include "http.h"
#include "modbus.h"

static int
copy_attr(xmpp_stanza_t *to, xmpp_stanza_t *from, const char *attr)
{
	const char *v = xmpp_stanza_get_attribute(from, attr);

	return v == NULL ? 0 : xgw_set_str(to, attr, v);
}

static xmpp_stanza_t *
modbus_reply(xmpp_ctx_t *ctx, xmpp_stanza_t *req, unsigned code)
{
	xmpp_stanza_t *el;

	if ((el = xgw_el_new(ctx, "modbus", XGW_NS_MODBUS)) == NULL)
		return NULL;
	/* same transaction, unit and function; the length of unit+fc+code */
	if (copy_attr(el, req, "tid") == -1 || xgw_set_uint(el, "pid", 0) == -1 ||
	    xgw_set_uint(el, "len", 3) == -1 || copy_attr(el, req, "unit") == -1 ||
	    copy_attr(el, req, "fc") == -1 || copy_attr(el, req, "fn") == -1 ||
	    xgw_set_str(el, "dir", "response") == -1 ||
	    xgw_set_uint(el, "exception", code) == -1) {
		xmpp_stanza_release(el);
		return NULL;
	}
	return el;
}

/*
 * RFC 7252 5.2: a CON request is answered piggybacked in the ACK with its
 * message id; a NON one by a NON of a new id.  The token always echoes.
 */
static xmpp_stanza_t *
coap_reply(xmpp_ctx_t *ctx, xmpp_stanza_t *req, uint16_t new_mid)
{
	const char *type = xmpp_stanza_get_attribute(req, "type");
	xmpp_stanza_t *el, *tok = xgw_child(req, "token");
	int con = type != NULL && strcmp(type, "con") == 0;

	if ((el = xgw_el_new(ctx, "coap", XGW_NS_COAP)) == NULL)
		return NULL;
	if (xgw_set_str(el, "ver", "1") == -1 ||
	    xgw_set_str(el, "type", con ? "ack" : "non") == -1 ||
	    xgw_set_str(el, "code", "4.03") == -1 ||
	    xgw_set_str(el, "name", "forbidden") == -1 ||
	    xgw_set_str(el, "class", "response") == -1 ||
	    (con ? copy_attr(el, req, "mid") :
	    xgw_set_uint(el, "mid", new_mid)) == -1 ||
	    xgw_set_str(el, "dir", "response") == -1 ||
	    (tok != NULL && xgw_add_text(ctx, el, "token", xgw_text(tok),
	    strlen(xgw_text(tok))) == -1)) {
		xmpp_stanza_release(el);
		return NULL;
	}
	return el;
}

/* 403, or 413 for a streamed body stopped at its bound (stream.c) */
static xmpp_stanza_t *
http_reply(xmpp_ctx_t *ctx, xmpp_stanza_t *req, unsigned code)
{
	static const char *const fields[][2] = {
		{ "Content-Length", "0" }, { "Connection", "close" }
	};
	const char *method = xmpp_stanza_get_attribute(req, "method");
	int head = method != NULL && strcmp(method, "HEAD") == 0;
	xmpp_stanza_t *el, *f;

	if ((el = xgw_el_new(ctx, "http", XGW_NS_HTTP)) == NULL)
		return NULL;
	if (xgw_set_str(el, "kind", "response") == -1 ||
	    xgw_set_str(el, "version", "HTTP/1.1") == -1 ||
	    xgw_set_uint(el, "status", code == 413 ? 413 : 403) == -1 ||
	    xgw_set_str(el, "reason", code == 413 ? "Content Too Large" :
	    "Forbidden") == -1 ||
	    xgw_set_str(el, "body-size", "0") == -1 ||
	    (method != NULL && xgw_set_str(el, "request-method", method) == -1))
		goto fail;
	for (size_t i = 0; i < 2; i++)
		if ((f = xgw_el_new(ctx, "field", NULL)) == NULL ||
		    xgw_set_str(f, "name", fields[i][0]) == -1 ||
		    xgw_set_str(f, "value", fields[i][1]) == -1 ||
		    xgw_el_add(el, f) == -1)
			goto fail;
	/* Content-Length: 0 frames an empty body, which HEAD's answer has not */
	if (!head && xgw_add_b64(ctx, el, "body", (const uint8_t *)"", 0) == -1)
		goto fail;
	return el;
fail:
	xmpp_stanza_release(el);
	return NULL;
}

/*
 * MQTT 5 says 0x87 Not authorized in the acknowledgement, or in a
 * DISCONNECT when there is none.  3.1.1 has a refusal only in CONNACK (5)
 * and SUBACK (0x80); anything else is answered by closing the connection,
 * which the caller does when there is no reply.
 */
static const char *
mqtt_answer(int type, int v5, const char *qos, unsigned *code)
{
	*code = 0x87;
	switch (type) {
	case 1:
		*code = v5 ? 0x87 : 5;
		return "connack";
	case 8:
		*code = v5 ? 0x87 : 0x80;
		return "suback";
	case 3:
		if (v5 && qos != NULL && strcmp(qos, "0") != 0)
			return strcmp(qos, "1") == 0 ? "puback" : "pubrec";
		break;
	case 10:
		if (v5)
			return "unsuback";
		break;
	}
	return v5 ? "disconnect" : NULL;
}

static xmpp_stanza_t *
mqtt_reply(xmpp_ctx_t *ctx, xmpp_stanza_t *req)
{
	const char *type = xmpp_stanza_get_attribute(req, "type");
	const char *level = xmpp_stanza_get_attribute(req, "level");
	int v5 = level != NULL && strcmp(level, "5") == 0;
	int t = type != NULL ? pol_mqtt_type(type) : -1;
	const char *reply;
	xmpp_stanza_t *el, *c, *rc;
	unsigned code;

	reply = mqtt_answer(t, v5, xmpp_stanza_get_attribute(req, "qos"),
	    &code);
	if (reply == NULL || (el = xgw_el_new(ctx, "mqtt", XGW_NS_MQTT)) == NULL)
		return NULL;
	if (xgw_set_str(el, "type", reply) == -1 ||
	    copy_attr(el, req, "level") == -1 ||
	    (t != 1 && copy_attr(el, req, "id") == -1))
		goto fail;
	if (t == 8 || t == 10) {
		/* one refusal per filter */
		for (c = xmpp_stanza_get_children(req); c != NULL;
		    c = xmpp_stanza_get_next(c)) {
			if (!xmpp_stanza_is_tag(c))
				continue;
			if ((rc = xgw_el_new(ctx, "rc", NULL)) == NULL ||
			    xgw_set_uint(rc, "code", code) == -1 ||
			    xgw_el_add(el, rc) == -1)
				goto fail;
		}
	} else if (xgw_set_uint(el, "reason-code", code) == -1 ||
	    (t == 1 && xgw_set_str(el, "session-present", "0") == -1))
		goto fail;
	return el;
fail:
	xmpp_stanza_release(el);
	return NULL;
}

xmpp_stanza_t *
xgw_reject_reply(xmpp_ctx_t *ctx, xmpp_stanza_t *req,
    const struct xgw_verdict *v, uint16_t new_mid)
{
	const char *ns = xmpp_stanza_get_ns(req);

	if (ns == NULL)
		return NULL;
	if (strcmp(ns, XGW_NS_MODBUS) == 0)
		return modbus_reply(ctx, req, v->code ? v->code : 1);
	if (strcmp(ns, XGW_NS_COAP) == 0)
		return coap_reply(ctx, req, new_mid);
	if (strcmp(ns, XGW_NS_HTTP) == 0)
		return http_reply(ctx, req, v->code);
	if (strcmp(ns, XGW_NS_MQTT) == 0)
		return mqtt_reply(ctx, req);
	return NULL;
}

xmpp_stanza_t *
xgw_reject_onward(xmpp_ctx_t *ctx, xmpp_stanza_t *el)
{
	struct xgw_http_part pt;
	struct xgw_buf data = { 0 };
	struct xgw_err e;
	int rc;

	if (xgw_element_protocol(el) != &xgw_http_proto)
		return NULL;
	rc = xgw_http_part_read(el, &pt, &data, &e);
	xgw_buf_free(&data);
	if (rc != 1 || pt.kind != XGW_HTTP_PART)
		return NULL;
	pt.kind = XGW_HTTP_CANCEL;
	pt.last = 0;
	return xgw_http_part_new(ctx, &pt, NULL, 0);
}
