#ifndef XGW_COAP_H
#define XGW_COAP_H

#include "xgw_transform.h"

extern const struct xgw_proto xgw_coap_proto;

#endif
