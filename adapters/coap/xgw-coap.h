/*
 * xgw-coap: the CoAP adapter.  Its parts:
 *
 *   coap.c    main, the poll loop, the runtime's callbacks, counters, and
 *             the datagram helpers both sides share
 *   client.c  client side: a CoAP endpoint on its own UDP socket whose
 *             requests go upstream by route, with exchanges, duplicate
 *             detection, separate responses and relayed observations
 *   device.c  device side: libcoap client sessions that restore requests
 *             from afar to local devices, and keep their observations
 *
 * The client side reads and writes datagrams itself because the gateway
 * carries exact bytes: libcoap's server API hands a handler a parsed PDU
 * (never the datagram), drops malformed datagrams without telling anyone
 * (they could not be counted), and cannot let its catch-all resource, the
 * only one that sees every path, be observed (RFC 7641 relaying needs it).
 */
#ifndef XGW_COAP_ADAPTER_H
#define XGW_COAP_ADAPTER_H

#include <stddef.h>
#include <stdint.h>

#include "adapter.h"
#include "coap.h"

/* RFC 7252 message types, byte 0 bits 5-4 */
enum { T_CON, T_NON, T_ACK, T_RST };

#define MSG_TYPE(p)	(((p)[0] >> 4) & 3)
#define MSG_CLASS(p)	((p)[1] >> 5)
#define CODE(c, dd)	((c) << 5 | (dd))

#define OPT_OBSERVE	6
#define OPT_URI_PATH	11
#define OPT_MAX_AGE	14

struct tok {
	uint8_t		 b[8];
	uint8_t		 len;
};

struct counters {
	uint64_t	 requests, piggybacked, separate, duplicates, pings;
	uint64_t	 no_route, bad_gateway, gateway_timeout, busy;
	uint64_t	 malformed, unexpected, notifications, observations;
	uint64_t	 cancelled, orphan_events;
	uint64_t	 dev_requests, dev_answers, dev_failed, dev_timeouts;
	uint64_t	 dev_refused, dev_events, renewals;
};

extern struct adapter	*ad;
extern struct counters	 cnt;

/* coap.c */
void		 random_bytes(void *, size_t);
void		 tok_get(const uint8_t *msg, struct tok *);
int		 tok_eq(const struct tok *, const uint8_t *, size_t);
int		 msg_encode(xmpp_stanza_t *, struct xgw_buf *, const char *who);
xmpp_stanza_t	*msg_decode(const uint8_t *, size_t, enum xgw_dir,
		    const char *who);
int		 msg_patch(struct xgw_buf *, int type, int mid,
		    const struct tok *);
int		 msg_bare(struct xgw_buf *, int type, unsigned code,
		    uint16_t mid, const struct tok *);
xmpp_stanza_t	*msg_opt(xmpp_stanza_t *, unsigned num);
int		 msg_observe(xmpp_stanza_t *);
int		 msg_class(xmpp_stanza_t *);

/* client.c */
int		 client_open(const struct conf_adapter *);
int		 client_pollfds(struct pollfd *, int max);
void		 client_io(const struct pollfd *, int n);
void		 client_answer(const struct xgw_meta *, xmpp_stanza_t *);
void		 client_event(const struct xgw_meta *, xmpp_stanza_t *);
void		 client_failed(uint64_t flow, uint64_t seq, const char *reason,
		    void *cookie);
int		 client_timeout_ms(uint64_t now);
void		 client_timers(uint64_t now);

/* device.c */
int		 device_open(const struct conf_adapter *);
void		 device_request(const struct xgw_meta *, xmpp_stanza_t *);
int		 device_pollfds(struct pollfd *, int max);
void		 device_io(const struct pollfd *, int n);
int		 device_timeout_ms(uint64_t now);
void		 device_timers(uint64_t now);

#endif
