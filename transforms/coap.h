/*
 * CoAP over UDP (RFC 7252, Observe RFC 7641, block-wise RFC 7959): one
 * datagram <-> <coap xmlns="urn:xgw:coap:1">.  See SCHEMA-coap.md for the
 * element and coap.xsd for its schema.
 */
#ifndef XGW_COAP_H
#define XGW_COAP_H

#include "xgw_transform.h"

#define XGW_COAP_PORT		5683
/* the largest UDP payload (a 65535-byte UDP length less its header) */
#define XGW_COAP_MSG_MAX	65527

extern const struct xgw_proto xgw_coap_proto;

int		 xgw_coap_decode(xmpp_ctx_t *, const uint8_t *p, size_t n,
		    enum xgw_dir, xmpp_stanza_t **out, struct xgw_err *);
int		 xgw_coap_encode(xmpp_stanza_t *el, struct xgw_buf *out,
		    struct xgw_err *);
/* "uri-path" for 11; NULL for numbers the IANA registry list here lacks */
const char	*xgw_coap_opt_name(unsigned num);
/* "get" for 0.01, "not-found" for 4.04; NULL for codes without a name */
const char	*xgw_coap_code_name(unsigned code);

#endif
