#ifndef XGW_HTTP_H
#define XGW_HTTP_H

#include "xgw_transform.h"

extern const struct xgw_proto xgw_http_proto;

#endif
