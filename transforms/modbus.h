/*
 * Modbus/TCP (Modbus Application Protocol V1.1b3 and Messaging on TCP/IP
 * V1.0b): one MBAP ADU <-> <modbus xmlns="urn:xgw:modbus:1">.  See
 * SCHEMA-modbus.md for the element and modbus.xsd for its schema.
 */
#ifndef XGW_MODBUS_H
#define XGW_MODBUS_H

#include "xgw_transform.h"

#define XGW_MODBUS_ADU_MAX	260

extern const struct xgw_proto xgw_modbus_proto;

int		 xgw_modbus_frame(const uint8_t *p, size_t n, size_t *adulen,
		    struct xgw_err *);
int		 xgw_modbus_decode(xmpp_ctx_t *, const uint8_t *p, size_t n,
		    enum xgw_dir, xmpp_stanza_t **out, struct xgw_err *);
int		 xgw_modbus_encode(xmpp_stanza_t *el, struct xgw_buf *out,
		    struct xgw_err *);
/* "read-coils" for 1; NULL for codes the specification does not name */
const char	*xgw_modbus_fn_name(unsigned fc);
/* 1 for "read-coils"; -1 for names it does not know */
int		 xgw_modbus_fn_code(const char *name);

#endif
