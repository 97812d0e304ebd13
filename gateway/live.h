/*
 * xgw-replay --live, inside: what live.c shares with the protocol parts
 * (live.c itself for Modbus/TCP and CoAP, live-http.c, live-mqtt.c).
 * replay.h has the interface replay.c calls.
 */
#ifndef XGW_LIVE_H
#define XGW_LIVE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "replay.h"

#define LIVE_MAX_OPEN	256		/* connections open at once */
#define LIVE_PAIR_SCAN	64		/* recent requests an answer may pair with */
#define FIELD_MAX	300		/* a field's path: "opt(max-age).uint" */

enum xstate { X_WAIT, X_SENT, X_DONE };

/* One captured client message and what became of it. */
struct lexch {
	size_t		 flow;		/* index into live->flows */
	size_t		 nr;		/* 1-based, within its flow */
	uint64_t	 ts_ms;		/* capture time of the request */
	uint8_t		*req, *cap;	/* cap: the captured answer, or NULL */
	uint8_t		*out;		/* what is sent when not req (MQTT) */
	size_t		 reqlen, caplen, outlen;
	unsigned	 lid;		/* MQTT: the packet identifier sent */
	int		 oneway;	/* no answer exists (MQTT QoS 0, DISCONNECT) */
	int		 resent;	/* HTTP: sent again on a new connection */
	enum xstate	 state;
	uint64_t	 deadline;	/* monotonic ms, while X_SENT */
};

/* A server's message as seen in the capture and live (MQTT PUBLISH). */
struct lmsg {
	uint8_t		*p;
	size_t		 n;
	int		 paired;
};

struct live_proto;

struct lflow {
	uint64_t	 id;		/* replay.c's flow number */
	char		 name[140];
	const struct live_proto *lp;
	size_t		*ex;		/* its exchanges, in capture order */
	size_t		 nex, capex;
	size_t		 nsent, first_open;	/* first_open: first not done */
	int		 fd;		/* -1 while not connected */
	int		 ended;		/* its one connection is gone (MQTT) */
	size_t		 slot;		/* its place in live->open */
	void		*sess;		/* the live connection's transform session */
	uint8_t		*in;		/* bytes read, not yet a whole answer */
	size_t		 inlen, incap;
	size_t		 answers;	/* answers on the current connection */
	/* MQTT */
	uint8_t		 level;		/* the captured CONNECT's */
	int		 connect_seen;
	unsigned	 next_id;	/* last packet identifier given */
	struct lmsg	*pub[2];	/* [0] captured, [1] live PUBLISHes */
	size_t		 npub[2], cappub[2];
	uint64_t	 linger;	/* monotonic ms: waiting for PUBLISHes */
};

/* What a captured client message becomes. */
enum creq { CREQ_EXCHANGE, CREQ_ONEWAY, CREQ_OTHER, CREQ_RETRANS };

/* What a message from the server side is. */
enum answer { ANSWER, NOT_YET, NOT_ANSWER };

/* The comparison of one answer with its captured one. */
struct cmp {
	const struct lexch *x;
	const struct lflow *f;
	const char	*kind;
	size_t		 ndiff;
};

/* One protocol's part in the live replay. */
struct live_proto {
	const struct xgw_proto *xp;
	/* a timeout closes the connection: a late answer would pair wrongly */
	int		 close_on_timeout;
	/* one connection per flow: a lost one is not opened again */
	int		 once;
	/* a captured client message (decoded): an exchange, or not */
	enum creq	(*request)(struct live *, struct lflow *,
			    const uint8_t *, size_t);
	/* after an exchange is added: the bytes to send instead (MQTT) */
	void		(*prepare)(struct live *, struct lflow *,
			    struct lexch *);
	/* a server message, captured (live 0) or live (1) */
	enum answer	(*answer)(struct live *, struct lflow *,
			    const uint8_t *, size_t, int live);
	/* does answer p pair with x, as captured or as sent */
	int		(*pairs)(const struct lexch *, const uint8_t *, size_t,
			    int live);
	/* the session an answer to x is decoded with; NULL: none */
	void		*(*answer_sess)(const struct lflow *,
			    const struct lexch *, void *buf);
	void		(*compare)(struct cmp *, xmpp_stanza_t *cap,
			    xmpp_stanza_t *got);
	/* the flow is over: what else it compares (MQTT PUBLISHes); NULL */
	void		(*end)(struct live *, struct lflow *);
};

/* The server's PUBLISHes to the client, over a capture (MQTT). */
struct live_pubs {
	uint64_t	 captured, live, match, differ, missing, extra;
	uint64_t	 no_connect;	/* flows whose CONNECT is not captured */
};

extern const struct live_proto live_modbus, live_coap, live_http, live_mqtt;

/* live.c, for the protocol parts */
uint8_t		*live_keep(struct live *, const uint8_t *, size_t);
xmpp_ctx_t	*live_ctx(const struct live *);
unsigned	 live_nonce(const struct live *);
int		 live_verbose(const struct live *);
struct lexch	*live_exch(struct live *, const struct lflow *, size_t i);
void		 live_send_raw(struct lflow *, const uint8_t *, size_t);
struct live_pubs *live_pubs(struct live *);
void		 live_say(const struct lflow *, const char *fmt, ...)
		    __attribute__((format(printf, 2, 3)));
void		 live_differ(struct cmp *, const char *field, const char *cv,
		    const char *lv);
void		 live_diff_list(struct cmp *, const char *field, const char *a,
		    const char *b);
void		 live_field(char *buf, const char *fmt, ...)
		    __attribute__((format(printf, 2, 3)));

#endif
