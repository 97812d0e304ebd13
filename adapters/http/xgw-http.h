/*
 * xgw-http: the HTTP/1.1 adapter.  Its parts:
 *
 *   http.c    main, the poll loop, the runtime's callbacks, counters, and
 *             what both sides share: local answers, header tokens
 *   client.c  client side: the listener; each request becomes a request
 *             stanza for the endpoint of the route of its host and path,
 *             and the answers go back in the order the requests came
 *   device.c  device side: requests from afar, restored byte for byte to
 *             the device's web server, one at a time per device, and its
 *             responses carried back byte for byte
 *
 * A message is carried whole, as the transform reads it (one <http>
 * element), when it fits MSG_MAX; a larger one is streamed, its head and
 * then its body in parts (README.md, "Streaming").
 */
#ifndef XGW_HTTP_ADAPTER_H
#define XGW_HTTP_ADAPTER_H

#include <poll.h>
#include <stddef.h>
#include <stdint.h>

#include "adapter.h"
#include "http.h"

/*
 * One message as sent (request or response line, header section, body
 * with its chunk lines): at most MSG_MAX bytes.  Its element, base64 body
 * included, must fit one frame (FRAME_MAX) and one XMPP stanza (Prosody's
 * c2s_stanza_size_limit, also 256 KiB): 144 KiB become at most 192 KiB of
 * base64 when the head is small.  A larger element is refused exactly by
 * adapter_send (EMSGSIZE).
 */
#define HEAD_MAX	(16 * 1024)	/* request line and header section: 431 above */
#define MSG_MAX		(144 * 1024)	/* the largest message carried whole */

/*
 * A larger message is streamed: its head, then its body in parts of at
 * most PART_MAX bytes, at most WINDOW of them unacknowledged (uploads) or
 * asked for (downloads) per stream, so that each end holds at most
 * WINDOW parts of it whatever its size.  Bodies above their bound
 * (body_max(): a route's or a device's body-max, else the block's) are
 * refused (413 for a request, 502 for a response).
 */
#define PART_MAX	XGW_HTTP_PART_MAX
#define WINDOW		4

struct counters {
	uint64_t	 accepted, refused, requests, malformed, oversize;
	uint64_t	 no_route, path_failed, timed_out, late, bad_answers;
	uint64_t	 idle_closed;
	uint64_t	 dev_requests, dev_answers, dev_interim, dev_failed;
	uint64_t	 dev_timeouts, dev_retries, dev_bad;
	uint64_t	 streams, streams_broken, dev_streams, dev_streams_broken;
	uint64_t	 dev_cancelled;
};

extern struct adapter	*ad;
extern struct counters	 cnt;

/* http.c */
int		 http_answer(struct xgw_buf *, unsigned status,
		    const char *method, const char *text, int close);
int		 field_has_token(xmpp_stanza_t *, const char *name,
		    const char *token);
void		 sess_expect(struct xgw_http_sess *, const char *method);
const char	*el_method(xmpp_stanza_t *);
uint64_t	 body_max(uint64_t own);
uint64_t	 head_bound(xmpp_stanza_t *, uint64_t max);
xmpp_stanza_t	*part_new(enum xgw_http_pkind, uint64_t stream, uint64_t part,
		    int last, const uint8_t *, size_t);
int		 part_send(const struct xgw_meta *, xmpp_stanza_t *, void *cookie);

/* client.c */
int		 client_open(const struct conf_adapter *);
int		 client_pollfds(struct pollfd *, int max);
void		 client_run(const struct pollfd *, int n);
void		 client_answer(xmpp_stanza_t *, uint64_t flow, uint64_t seq);
void		 client_part(const struct xgw_http_part *, struct xgw_buf *,
		    uint64_t flow, uint64_t seq);
void		 client_failed(uint64_t flow, uint64_t seq, const char *reason,
		    void *cookie);
int		 client_timeout_ms(uint64_t now);
void		 client_timers(uint64_t now);

/* device.c */
int		 device_open(const struct conf_adapter *);
void		 device_request(const struct xgw_meta *, xmpp_stanza_t *);
void		 device_part(const struct xgw_meta *, const struct xgw_http_part *,
		    struct xgw_buf *);
int		 device_pollfds(struct pollfd *, int max);
void		 device_run(const struct pollfd *, int n);
int		 device_timeout_ms(uint64_t now);
void		 device_timers(uint64_t now);

#endif
