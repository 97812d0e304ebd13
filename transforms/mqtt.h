/*
 * MQTT 3.1 (MQIsdp, level 3), 3.1.1 (level 4) and 5.0 (level 5): one
 * control packet <-> <mqtt xmlns="urn:xgw:mqtt:1">.  See SCHEMA-mqtt.md
 * for the element and mqtt.xsd for its schema.
 */
#ifndef XGW_MQTT_H
#define XGW_MQTT_H

#include "xgw_transform.h"

/* The Variable Byte Integer limit, and so the largest remaining length. */
#define XGW_MQTT_VARINT_MAX	268435455u

/* How the session knows the protocol level. */
enum xgw_mqtt_learnt {
	XGW_MQTT_UNKNOWN,	/* nothing yet: packets are read as 3.1.1 */
	XGW_MQTT_CONNECT,	/* from the CONNECT of this connection */
	XGW_MQTT_GUESSED	/* from a packet only 5.0 can produce */
};

/* Per connection, both directions; zeroed by the caller, no heap. */
struct xgw_mqtt_sess {
	uint8_t		level;		/* 3, 4 or 5 once learnt */
	uint8_t		learnt;		/* enum xgw_mqtt_learnt */
};

extern const struct xgw_proto xgw_mqtt_proto;

/* Same returns as xgw_proto.frame: 1 and *pdulen, 0 need more, -1 error. */
int		 xgw_mqtt_frame(const uint8_t *p, size_t n, size_t *pdulen,
		    struct xgw_err *);
/* One whole control packet; sess may be NULL (level guessed per packet). */
int		 xgw_mqtt_decode(xmpp_ctx_t *, struct xgw_mqtt_sess *,
		    const uint8_t *p, size_t n, xmpp_stanza_t **out,
		    struct xgw_err *);
int		 xgw_mqtt_encode(xmpp_stanza_t *el, struct xgw_buf *out,
		    struct xgw_err *);
/* "content-type" for 3; NULL for identifiers 5.0 does not define */
const char	*xgw_mqtt_prop_name(unsigned id);

#endif
