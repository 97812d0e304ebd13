/*
 * The XMPP link: one libstrophe c2s connection to the XMPP server, TLS
 * always (STARTTLS or direct), the server certificate verified against
 * the configured CA, SASL SCRAM or EXTERNAL, XEP-0198 stream management,
 * XEP-0199 pings, TCP keepalive, and reconnection with exponential
 * backoff and jitter.  It carries stanzas; what they mean (sequence
 * numbers, acknowledgements, the spool) is xgwd's business.
 *
 * It runs inside the owner's poll loop: poll link_fd() (when >= 0) for
 * link_events(), sleep at most link_timeout_ms(), then call link_run().
 * Read all three again on every turn: the socket changes on reconnect.
 * Nothing waits on the network except the TLS handshake, which libstrophe
 * 0.12 runs to completion inside link_run(); give a numeric server address,
 * or the name lookup blocks too.
 *
 * The process must ignore SIGPIPE (signal(SIGPIPE, SIG_IGN)): libstrophe
 * writes to sockets that the server may have closed.
 *
 * A session is resumed (XEP-0198) or new: the link tells them apart by the
 * bound JID, whose resource the server chooses afresh for every new session
 * (so jid must be bare).  up() is called for each, down() only when a
 * session that was up ends; a failed attempt only sets last_error and
 * schedules the next one, after a delay drawn uniformly between
 * backoff_min_ms and a cap that doubles per failure up to backoff_max_ms.
 */
#ifndef XGW_LINK_H
#define XGW_LINK_H

#include <stdint.h>
#include <strophe.h>

struct link_conf {
	const char	*server;
	uint16_t	 port;
	int		 direct_tls;		/* 1: TLS from the first byte (5223) */
	const char	*ca;			/* PEM file the server certificate must chain to */
	const char	*cert, *key;		/* client certificate: SASL EXTERNAL */
	const char	*jid, *password;	/* SCRAM; jid may be NULL with a certificate */
	unsigned	 ping_s;		/* XEP-0199 interval, 0: none; no pong by the next ping: down */
	unsigned	 backoff_min_ms, backoff_max_ms;	/* 0: 500 ms and 30 s */
};

struct link_cb {
	void		(*up)(void *arg, int resumed);
	void		(*down)(void *arg, const char *why);
	/* every <message/> and <iq/> received; the stanza is the link's */
	void		(*stanza)(void *arg, xmpp_stanza_t *);
	void		*arg;
};

struct link_stats {
	const char	*state;		/* "down", "connecting", "up" */
	int		 resumed;	/* the last session was a XEP-0198 resumption */
	int		 secured;
	uint64_t	 attempts;	/* connections started */
	uint64_t	 connects, reconnects, sent, received;	/* sessions up, up again after a loss, stanzas */
	char		 bound_jid[256];
	char		 last_error[256];
};

/* NULL (and a log line) when the configuration is unusable; strings are copied. */
struct link	*link_new(xmpp_ctx_t *, const struct link_conf *,
		    const struct link_cb *);
void		 link_start(struct link *);	/* connect now, and again after every loss */
int		 link_is_up(const struct link *);
/* Queues a stanza; -1 when the link is not up.  The caller keeps its reference. */
int		 link_send(struct link *, xmpp_stanza_t *);
/* One whole stanza, already text, NUL-terminated at len. */
int		 link_send_text(struct link *, const char *, size_t);
int		 link_fd(const struct link *);
short		 link_events(const struct link *);	/* POLLIN, and POLLOUT while a write waits */
int		 link_timeout_ms(const struct link *);
/* revents: what poll() said of link_fd(); POLLIN when not known */
void		 link_run(struct link *, short revents);
void		 link_stats(const struct link *, struct link_stats *);
void		 link_stop(struct link *);	/* disconnect, no reconnect */
void		 link_free(struct link *);

#endif
