/*
 * The adapter runtime: what every adapter process (xgw-modbus, xgw-coap,
 * xgw-mqtt, xgw-http) shares.  An adapter is started by xgwd as
 *
 *   xgw-PROTO -i ID -u USER -g ENDPOINT-UUID
 *
 * with its end of a socketpair on fd 3.  ENDPOINT-UUID is the identity its
 * client side speaks as: xgwd derives it from the gateway's UUID and the
 * protocol (xgw_uuid_name("GATEWAY-UUID/PROTO")), and adapter_gateway()
 * returns it.  It says FRAME_HELLO, receives its
 * configuration block (FRAME_CONFIG, parsed with conf_parse_adapter), binds
 * its sockets, drops privileges, says FRAME_READY, and then exchanges
 * FRAME_STANZA frames, each one <pdu> envelope, with xgwd.  Adapters do I/O
 * and no policy: xgwd judges every stanza.
 *
 * The runtime owns fd 3, a table of requests awaiting an answer and the
 * poll loop: the adapter registers callbacks, its counters and the parts
 * whose sockets adapter_loop polls together with fd 3.
 */
#ifndef XGW_ADAPTER_H
#define XGW_ADAPTER_H

#include <sys/socket.h>
#include <poll.h>
#include <stdint.h>
#include <strophe.h>

#include "conf.h"
#include "frame.h"
#include "xgw_transform.h"

struct adapter;

struct adapter_cb {
	/* configuration received: bind sockets now (still privileged) */
	int	(*configure)(struct adapter *, const struct conf_adapter *);
	/* a stanza from xgwd: a request for a local device, a response, an event */
	void	(*stanza)(struct adapter *, const struct xgw_meta *,
		    xmpp_stanza_t *proto, uint64_t flow, uint64_t seq);
	/*
	 * A request this adapter sent got no answer: reason is "link-down",
	 * "busy", "spool-full" (from xgwd) or "timeout" (the runtime's timer).
	 * The adapter answers its client with the protocol's own error.
	 * cookie is NULL when (flow, seq) is no pending request: an event
	 * xgwd refused ("spool-full"), or a request already answered.
	 */
	void	(*failed)(struct adapter *, uint64_t flow, uint64_t seq,
		    const char *reason, void *cookie);
	/* an event (flow, seq) is durable in xgwd's spool */
	void	(*taken)(struct adapter *, uint64_t flow, uint64_t seq);
	void	*arg;
};

/* Parses -i -u -g, reads fd 3, says hello.  Exits with a message on error. */
struct adapter	*adapter_init(int argc, char **argv, const char *name,
		    const struct adapter_cb *);
/* Waits for FRAME_CONFIG, calls configure, drops privileges, says READY. */
void		 adapter_configure(struct adapter *);
xmpp_ctx_t	*adapter_ctx(struct adapter *);
const char	*adapter_gateway(struct adapter *);	/* -g: our client side's urn:uuid: */
const struct conf_adapter *adapter_conf(struct adapter *);
void		*adapter_arg(struct adapter *);

/*
 * Sends one protocol element, wrapped in its envelope.  For a request, the
 * runtime remembers (flow, seq) with cookie until a response arrives (the
 * stanza callback gets it), xgwd reports a failure, or timeout_ms passes
 * (0: the block's timeout).  proto is not consumed and must not be a child
 * of another stanza.  -1 and errno: EBUSY when the table of pending
 * requests is full (answer as for "busy"), EEXIST for a (flow, seq)
 * pending already, ENOBUFS when xgwd's queue is full, ENOMEM.
 */
int		 adapter_send(struct adapter *, const struct xgw_meta *,
		    xmpp_stanza_t *proto, unsigned timeout_ms, void *cookie);
/* The cookie of a pending request, removed from the table; NULL if none. */
void		*adapter_answered(struct adapter *, uint64_t flow, uint64_t seq);

/*
 * Delivery confirmation.  Called before adapter_configure, it makes
 * FRAME_READY say "delivery-confirmed": xgwd then acknowledges an event
 * from afar to its sender only once this adapter has finished with it
 * (published, or given up for good), so that nothing acknowledged is lost
 * when the adapter or its xgwd dies.  The runtime numbers the events it
 * hands to the stanza callback (1, 2, ... on each connection to xgwd).  An
 * event is finished when the callback returns, unless the callback calls
 * adapter_event_hold, which returns the event's number for a later
 * adapter_event_done; events finished out of order wait in a window of
 * ADAPTER_WINDOW, and xgwd is told how many are finished contiguously from
 * the first (FRAME_DELIVERED).  xgwd hands on fewer unfinished events than
 * that; more ends the connection.  Main thread only.
 */
#define ADAPTER_WINDOW	4096
void		 adapter_confirm_delivery(struct adapter *);
/* In the stanza callback of an event: its number.  0 elsewhere, or unconfirmed. */
uint64_t	 adapter_event_hold(struct adapter *);
void		 adapter_event_done(struct adapter *, uint64_t event);	/* 0: nothing */

/*
 * The counters xgwd reads, as FRAME_STATS "name=value" lines: adapter_loop
 * sends the table when a value moved, at most once every interval_ms.
 * The table and the values it points to live as long as the adapter.
 */
struct adapter_counter {
	const char	*name;
	const uint64_t	*value;
};
void		 adapter_counters(struct adapter *,
		    const struct adapter_counter *, int n, unsigned interval_ms);

/*
 * One part of an adapter's I/O (its client side, its device side) for
 * adapter_loop; any callback may be NULL.
 */
struct adapter_part {
	/* the descriptors to poll, at most max of them; returns how many */
	int	(*pollfds)(struct pollfd *, int max);
	/* after poll, every round: the same descriptors with their revents */
	void	(*io)(const struct pollfd *, int n);
	int	(*timeout_ms)(uint64_t now);	/* until its next timer; -1: none */
	void	(*timers)(uint64_t now);
};
/*
 * The poll loop over fd 3 and the descriptors of at most ADAPTER_PARTS
 * parts, each round in the parts' order: I/O, then timers, then the
 * counters, then xgwd's frames.  Returns when xgwd is gone.
 */
#define ADAPTER_PARTS	4
void		 adapter_loop(struct adapter *, const struct adapter_part *,
		    int nparts);

/* For a loop of one's own (the runtime's tests): fd 3's timers and frames. */
int		 adapter_timeout_ms(struct adapter *);	/* until the next request timeout */
/* After poll: reads and dispatches frames, fires timeouts, flushes.  -1: xgwd is gone. */
int		 adapter_run(struct adapter *, short revents);

uint64_t	 adapter_now_ms(void);	/* CLOCK_MONOTONIC: the clock of every timeout */

/*
 * The block's listen address and port, bound and listening (SOCK_STREAM)
 * or bound (SOCK_DGRAM), non-blocking; -1 with a log line on failure.
 * Called from configure, while still privileged.
 */
int		 adapter_listen(const struct conf_adapter *, int type);
/* "address:port" of a client, for messages */
#define ADAPTER_PEER_MAX	64
/* An adapter's table of clients, as adapter_accept_clients fills it. */
struct adapter_clients {
	int		  max;			/* places in the table */
	int		(*used)(int slot);
	/* makes fd a client in that place: its flow, 0 when out of memory */
	uint64_t	(*take)(int slot, int fd, const char *peer);
	uint64_t	 *accepted, *refused;	/* counters */
};
/*
 * Takes every client waiting on the listening socket lfd into a free place
 * of the table; one that finds none, or no memory, is refused.  Each socket
 * is non-blocking, with TCP_NODELAY (answers go out whole: Nagle would only
 * delay their tails); peer is its "address:port".
 */
void		 adapter_accept_clients(struct adapter *, int lfd,
		    const struct adapter_clients *);
/*
 * Reads what a non-blocking socket has, at most len bytes: how many (0
 * when none wait), or -1 with why ("end of stream", or the error) when
 * the connection is over.
 */
ssize_t		 adapter_read(int fd, void *buf, size_t len, const char **why);
/*
 * Writes buf[*off..len) to a non-blocking socket as far as it takes it,
 * advancing *off: the one write loop of every adapter's connections.
 * 0 when all is written or the socket is full, -1 with errno on error.
 */
int		 adapter_write(int fd, const void *buf, size_t len, size_t *off);
/*
 * The index of device uuid in the configuration block, -1 if none:
 * adapters keep their devices in the block's order, found by uuid.
 */
int		 adapter_device(struct adapter *, const char *uuid);
/* "address:port" of a peer, for log lines. */
void		 adapter_peer_name(const struct sockaddr_storage *, char *,
		    size_t);

/* setgroups, setresgid, setresuid to user, PR_SET_NO_NEW_PRIVS; checked. */
void		 drop_privileges(const char *user);

#endif
