/*
 * xgwd: the core daemon.  It owns the configuration, the policy stage, the
 * spool, the XMPP link and the control socket, and supervises one process
 * per adapter over a socketpair each.
 *
 *   xgwd.c     the main loop and the routing of stanzas
 *   event.c    events: the spool, lanes, acknowledgements, the peers file
 *   proc.c     adapter processes: start, frames, reaping, restart backoff
 *   control.c  the control socket: status, reload, tap
 */
#ifndef XGW_XGWD_H
#define XGW_XGWD_H

#include <sys/types.h>
#include <stdint.h>
#include <strophe.h>

#include "conf.h"
#include "frame.h"
#include "policy.h"
#include "spool.h"
#include "link.h"

#define MAX_CTL_CLIENTS	16
#define MAX_PENDING	4096	/* requests awaiting an answer, each way */
#define MAX_FLOWS	256	/* flows the broker pushed to this gateway */
#define EVENT_WINDOW	1024	/* events handed to one adapter, not yet finished */
#define MAX_LANES	256	/* far endpoints with events in the spool */
#define MAX_PLACES	256	/* (sending gateway, lane) pairs a receiver follows */

/* A flow the broker activated: only its traffic leaves this gateway. */
struct bflow {
	uint64_t	 id;
	char		 src[46], dst[46];
	char		 proto[16];
	enum xgw_dir	 dir;		/* XGW_REQUEST or XGW_EVENT */
	int		 active;
};

struct adapter_proc {
	const struct conf_adapter *conf;
	int		 id;		/* index, the frame header's adapter */
	char		 endpoint[46];	/* the UUID its client side speaks as */
	pid_t		 pid;		/* 0: not running */
	int		 fd;		/* our end of the socketpair, -1 when closed */
	struct frame_reader rd;
	struct frame_writer wr;
	int		 ready;
	uint64_t	 started_ms;
	uint64_t	 restart_at_ms;	/* 0: no restart scheduled */
	unsigned	 backoff_ms;
	unsigned	 restarts;
	uint64_t	 frames_in, frames_out, bad_frames;
	/*
	 * An adapter that confirms delivery (FRAME_READY "delivery-confirmed")
	 * counts the events it has finished with; these are the ones handed to
	 * it and not yet counted, in order: (place, sequence).
	 */
	int		 confirms;
	uint64_t	 delivered;
	struct handed {
		int		 place;
		uint64_t	 seq;
	}		 handed[EVENT_WINDOW];
	unsigned	 hhead, hlen;
};

struct ctl_client {
	int		 fd;
	int		 tap;		/* streams verdicts */
	int		 tap_adapter;	/* -1: all */
	char		 in[512];
	size_t		 inlen;
	char		*out;		/* text waiting for the socket */
	size_t		 outlen, outcap;
};

/* A request in flight: who asked, so that the answer finds its way back. */
struct pending {
	uint64_t	 flow, seq;
	uint64_t	 route;		/* inbound: the broker's flow it came on */
	int		 adapter;	/* outbound: the adapter that asked */
	char		 from[256];	/* inbound: the JID that asked */
	char		 src[46];	/* inbound: the endpoint that asked */
	uint64_t	 expires_ms;
	int		 used;
};

struct counters {
	uint64_t	 from_adapters, to_adapters, from_link, to_link;
	uint64_t	 passed, blocked, rejected, bad_stanzas;
	uint64_t	 events_spooled, events_refused, events_sent, acks;
	uint64_t	 requests_failed, duplicates, no_flow;
};

struct xgwd {
	const char	*conf_path;
	struct xgw_conf	*conf;
	struct xgw_policy *policy;
	struct spool	*spool;
	struct link	*link;
	xmpp_ctx_t	*ctx;
	char		 uuid[46];	/* this gateway */
	const char	*adapter_dir;
	struct adapter_proc adapters[CONF_MAX_ADAPTERS];
	int		 nadapters;
	int		 ctl_fd;
	struct ctl_client ctl[MAX_CTL_CLIENTS];
	/* the sending side of events (event.c) */
	uint64_t	 sent_upto;	/* every event up to here sent or settled */
	uint64_t	 sent_max;	/* acks above it name no event we sent */
	uint64_t	 synced_upto;	/* highest event seq made durable */
	uint64_t	 spool_next_seq;
	uint64_t	 settled_ms;	/* when the oldest unsettled event last changed */
	int		 spool_dirty;
	struct lane {
		char		 dst[46];	/* the far endpoint; "": none named */
		uint64_t	 last;		/* the newest event spooled for it */
		uint64_t	 acked;		/* its receiver has every one up to here */
		uint64_t	 held;		/* held back from this event on; 0: not */
		uint64_t	 probe_ms;	/* when its held event goes again */
	}		 lanes[MAX_LANES];
	int		 nlanes, nheld;
	struct inflight {			/* sent, not settled: a ring of window */
		uint64_t	 seq;
		int		 lane;
	}		*inflight;
	unsigned	 ifhead, iflen;
	/* the receiving side: one place per sending gateway's lane */
	struct place {
		char		 jid[256];	/* the sender, bare */
		char		 lane[46];
		uint64_t	 seq;		/* the newest event taken */
		uint64_t	 done;		/* the newest finished, as all before it */
		uint64_t	 acked;		/* told the sender; state-dir/peers has it */
		unsigned	 unacked;	/* finished since */
	}		 places[MAX_PLACES];
	int		 nplaces, last_place;
	int		 peers_dirty;	/* state-dir/peers is behind */
	uint64_t	 peers_save_at;
	uint64_t	 acks_due_ms;
	struct pending	 out[MAX_PENDING], in[MAX_PENDING];
	/* events spooled since the last sync: told to their adapters after it */
	struct taken {
		int		 adapter;
		uint64_t	 flow, seq;
	}		 taken[1024];
	int		 ntaken;
	int		 broker_mode;	/* broker is a component: register, use flows */
	struct bflow	 flows[MAX_FLOWS];
	int		 nflows;
	unsigned	 registrations;
	struct counters	 c;
	volatile int	 quit;
	uint64_t	 watchdog_ms;	/* systemd's WatchdogSec, 0: none */
	uint64_t	 start_ms;
};

uint64_t	 now_ms(void);

/* proc.c */
void		 proc_start_all(struct xgwd *);
void		 proc_start(struct xgwd *, struct adapter_proc *);
void		 proc_stop_all(struct xgwd *);
void		 proc_reap(struct xgwd *);
void		 proc_close(struct xgwd *, struct adapter_proc *, const char *why);
int		 proc_send(struct adapter_proc *, uint16_t type, uint64_t flow,
		    uint64_t seq, const void *, size_t);
int		 proc_timeout_ms(const struct xgwd *);
void		 proc_timers(struct xgwd *);
struct adapter_proc *proc_by_proto(struct xgwd *, const char *proto);

/* control.c */
int		 control_listen(const char *path);
void		 control_accept(struct xgwd *);
void		 control_read(struct xgwd *, struct ctl_client *);
void		 control_flush(struct xgwd *, struct ctl_client *);
void		 control_close(struct ctl_client *);
void		 control_tap(struct xgwd *, int adapter, const char *line);

/* event.c */
void		 event_open(struct xgwd *);
void		 event_spool(struct xgwd *, struct adapter_proc *, xmpp_stanza_t *,
		    const struct xgw_meta *);
void		 event_flush(struct xgwd *);
void		 event_pump(struct xgwd *);
void		 event_ack(struct xgwd *, xmpp_stanza_t *);
void		 event_link_up(struct xgwd *);
void		 event_from_link(struct xgwd *, const char *from, xmpp_stanza_t *,
		    const struct xgw_meta *, struct adapter_proc *);
void		 event_delivered(struct xgwd *, struct adapter_proc *, uint64_t);
void		 event_timers(struct xgwd *);
int		 event_timeout_ms(const struct xgwd *);

/* xgwd.c: what the other parts call back into */
char		*xgwd_text(xmpp_stanza_t *, size_t *);
void		 xgwd_to_adapter(struct xgwd *, struct adapter_proc *,
		    xmpp_stanza_t *, const struct xgw_meta *);
int		 xgwd_to_link(struct xgwd *, const char *to, xmpp_stanza_t *);
void		 xgwd_fail(struct xgwd *, struct adapter_proc *,
		    const struct xgw_meta *, const char *why);
void		 xgwd_stanza_from_adapter(struct xgwd *, struct adapter_proc *,
		    const struct frame *);
int		 xgwd_reload(struct xgwd *, char *msg, size_t);
void		 xgwd_adapter_gone(struct xgwd *, struct adapter_proc *);
void		 xgwd_status(struct xgwd *, char *buf, size_t);

#endif
