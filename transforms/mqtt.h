#ifndef XGW_MQTT_H
#define XGW_MQTT_H

#include "xgw_transform.h"

extern const struct xgw_proto xgw_mqtt_proto;

#endif
