/*
 * xgw-replay: captures -> packets -> TCP streams and UDP datagrams -> PDUs.
 *
 * capture.c turns a link-layer frame into a transport packet; reasm.c
 * puts TCP segments back in order per flow and direction, within a
 * bounded window, and hands each contiguous run of bytes on.
 */
#ifndef XGW_REPLAY_H
#define XGW_REPLAY_H

#include <stddef.h>
#include <stdint.h>
#include <sys/time.h>

#include "xgw_transform.h"

#define TH_FIN	0x01
#define TH_SYN	0x02
#define TH_RST	0x04

struct pkt {
	int		 family;	/* AF_INET, AF_INET6 */
	int		 proto;		/* IPPROTO_TCP, IPPROTO_UDP */
	uint8_t		 src[16], dst[16];
	uint16_t	 sport, dport;
	uint32_t	 seq;
	uint8_t		 flags;
	const uint8_t	*data;		/* transport payload as captured */
	size_t		 len;
	size_t		 missing;	/* payload bytes the snap length cut off */
};

/* 1: a TCP or UDP packet; 0: something else (ARP, ICMP, ...); -1: malformed */
int	 cap_parse(int dlt, const uint8_t *frame, size_t caplen, struct pkt *,
	    const char **why);
int	 cap_dlt_supported(int dlt);
void	 cap_addr_str(int family, const uint8_t *addr, uint16_t port,
	    char *buf, size_t len);

/*
 * One direction of a TCP connection.  Bytes are delivered in sequence
 * order; holes that never fill are skipped once the segments queued
 * behind them exceed the gap limit, or at the end, and reported.
 */
struct seg;
struct reasm {
	int		 started;
	uint32_t	 next;		/* sequence number of the next byte */
	struct seg	*ooo;		/* segments beyond next, by sequence */
	size_t		 ooo_bytes;
	int		 gap;		/* bytes before the next run were lost */
	uint64_t	 retrans_bytes;
	uint64_t	 gap_bytes;
};

/* Called with each in-order run; gap is set when bytes before it were lost. */
typedef int	(*reasm_cb)(void *arg, const uint8_t *, size_t, int gap);

int	 reasm_segment(struct reasm *, const struct pkt *, size_t limit,
	    reasm_cb, void *arg);
int	 reasm_flush(struct reasm *, reasm_cb, void *arg);
void	 reasm_free(struct reasm *);

/*
 * live.c: xgw-replay --live.  live_pdu() takes every decoded PDU of a
 * capture, in the order reassembly delivers them; live_run() plays the
 * client side of its Modbus/TCP, CoAP, HTTP and MQTT flows against the
 * target, prints the comparison and returns 0 (every answer matched) or 1.
 */
enum live_pace { LIVE_PACE_CAPTURED, LIVE_PACE_FAST };

struct live;
struct live	*live_new(const char *target, enum live_pace,
		    unsigned timeout_ms, int verbose);
void		 live_pdu(struct live *, uint64_t flow, const char *name,
		    const struct xgw_proto *, enum xgw_dir, const uint8_t *,
		    size_t, uint64_t ts_ms);
int		 live_run(struct live *, xmpp_ctx_t *, const char *capture);
void		 live_free(struct live *);

#endif
