/*
 * xgw-mqtt: the MQTT bridge adapter.  Its parts:
 *
 *   mqtt.c   main, the poll loop, the runtime's callbacks, counters
 *   local.c  client side (listen, route): the local broker, subscribed to
 *            the routes' topic filters; each PUBLISH becomes an event, and
 *            QoS 1/2 ones are acknowledged only once xgwd has spooled it
 *   far.c    device side (device): events from afar published to the
 *            brokers named by device UUID, with paho.mqtt.c; each is
 *            confirmed to xgwd once its broker has it
 *   topic.c  topic remapping per direction (topic out|in)
 *   tls.c    the client side's connection, plain or TLS (OpenSSL)
 *
 * The client side reads and writes MQTT itself, with the transforms,
 * because paho.mqtt.c acknowledges a PUBLISH (PUBACK, PUBREC) in its
 * receive code before the application sees the message: no paho API can
 * hold the acknowledgement until the gateway has the message safe, so a
 * crash would lose what paho had acknowledged.
 */
#ifndef XGW_MQTT_ADAPTER_H
#define XGW_MQTT_ADAPTER_H

#include <sys/types.h>
#include <stdint.h>

#include "adapter.h"

/* The user property every bridged PUBLISH carries: its gateway's UUID. */
#define BRIDGE_KEY	"xgw-bridge"

/* Largest packet taken from a broker: its stanza fits FRAME_MAX. */
#define PACKET_MAX	(128 * 1024)

struct counters {
	uint64_t	 received, events, taken, denied, refused, loops;
	uint64_t	 no_route, redelivered, connects, lost;
	uint64_t	 far_events, far_published, far_failed, far_dropped;
	uint64_t	 far_bad, far_again;
	uint64_t	 remapped, remap_refused, props_dropped;
};

extern struct adapter	*ad;
extern struct counters	 cnt;

/* mqtt.c */
uint64_t attr_uint(xmpp_stanza_t *, const char *attr);
int	 is_prop(xmpp_stanza_t *, unsigned id);

/* local.c */
int	 local_init(const struct conf_adapter *);
void	 local_taken(uint64_t seq);
void	 local_refused(uint64_t seq, const char *reason);
/* the part of adapter_loop that is the local broker's connection */
int	 local_pollfds(struct pollfd *, int max);
void	 local_io(const struct pollfd *, int n);
int	 local_timeout_ms(uint64_t now);
void	 local_timers(uint64_t now);

/* topic.c */
void	 topic_init(const struct conf_mqtt *);
int	 topic_remap(xmpp_stanza_t *, enum conf_dir, struct xgw_err *);

/* tls.c */
int	 local_tls_init(const struct conf_mqtt *);
int	 local_tls_on(void);
int	 local_tls_start(int fd, const char *addr);
int	 local_tls_handshake(void);
ssize_t	 conn_recv(int fd, void *, size_t);
ssize_t	 conn_send(int fd, const void *, size_t);
short	 local_tls_wants(void);
int	 local_tls_pending(void);
void	 local_tls_end(void);

/* Client ids: the block's client-id, or xgw-GATEWAY, and a suffix. */
void	 client_id(char *, size_t, const char *suffix);

/* far.c */
int	 far_init(const struct conf_adapter *);
void	 far_start(void);
void	 far_event(const struct xgw_meta *, xmpp_stanza_t *el);
/*
 * The part of adapter_loop that is paho's: its timers also finish what
 * paho's threads confirmed and fold their counts into cnt.
 */
int	 far_pollfds(struct pollfd *, int max);
void	 far_timers(uint64_t now);
int	 far_timeout_ms(uint64_t now);
void	 far_stop(void);

#endif
