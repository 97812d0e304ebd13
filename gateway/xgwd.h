/*
 * xgwd: the core daemon.  It owns the configuration, the policy stage, the
 * spool, the XMPP link and the control socket, and supervises one process
 * per adapter over a socketpair each.
 *
 *   xgwd.c     the main loop and the routing of stanzas
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
#define EVENT_WINDOW	1024	/* events of one sender handed on, not yet finished */

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
	 * it and not yet counted, in order: (sender slot, sequence).
	 */
	int		 confirms;
	uint64_t	 delivered;
	struct handed {
		int		 peer;
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
	uint64_t	 sent_upto;	/* highest event seq handed to the link */
	uint64_t	 synced_upto;	/* highest event seq made durable */
	uint64_t	 spool_next_seq;
	uint64_t	 last_ack_ms;	/* when the acked seq last moved */
	int		 spool_dirty;
	struct pending	 out[MAX_PENDING], in[MAX_PENDING];
	/* receiving side: highest event seq delivered per sending gateway */
	/*
	 * The receiving side, per sending gateway: seq is the highest event
	 * accepted, done the highest with every event up to it finished (a
	 * confirming adapter has published it), acked what the sender was told
	 * (and state-dir/peers holds).
	 */
	struct peer_seq {
		char		 jid[256];
		uint64_t	 seq, done, acked;
		uint8_t		 finished[EVENT_WINDOW];	/* by seq % EVENT_WINDOW */
	}		 peers[64];
	int		 peers_dirty;	/* state-dir/peers is behind */
	uint64_t	 peers_save_at;
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

/* xgwd.c: what the control socket and the adapters call back into */
void		 xgwd_stanza_from_adapter(struct xgwd *, struct adapter_proc *,
		    const struct frame *);
int		 xgwd_reload(struct xgwd *, char *msg, size_t);
void		 xgwd_adapter_gone(struct xgwd *, struct adapter_proc *);
void		 xgwd_status(struct xgwd *, char *buf, size_t);

#endif
