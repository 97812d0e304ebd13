/* Placeholder until the mqtt transform lands: every PDU is refused. */
#include "mqtt.h"

static int
decode(xmpp_ctx_t *ctx, void *sess, enum xgw_dir dir, const uint8_t *p,
    size_t n, xmpp_stanza_t **out, struct xgw_err *err)
{
	(void)ctx; (void)sess; (void)dir; (void)p; (void)n; (void)out;
	return xgw_fail(err, 0, "unsupported", "mqtt transform not built yet");
}

static int
encode(xmpp_stanza_t *el, struct xgw_buf *out, struct xgw_err *err)
{
	(void)el; (void)out;
	return xgw_fail(err, 0, "unsupported", "mqtt transform not built yet");
}

const struct xgw_proto xgw_mqtt_proto = {
	.name = "mqtt", .ns = XGW_NS_MQTT, .stream = 1, .decode = decode,
	.encode = encode,
};
