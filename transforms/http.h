/*
 * HTTP/1.1 (RFC 9112 message syntax, RFC 9110 semantics): one whole
 * message (start line, header section, body) <-> <http
 * xmlns="urn:xgw:http:1">.  See SCHEMA-http.md for the element and
 * http.xsd for its schema.
 */
#ifndef XGW_HTTP_H
#define XGW_HTTP_H

#include "xgw_transform.h"

#define XGW_HTTP_PIPELINE	32	/* requests awaiting a response */
#define XGW_HTTP_METHOD_MAX	32	/* bytes of a method name */
#define XGW_HTTP_START_MAX	8192	/* bytes of a start line */
#define XGW_HTTP_CHUNK_LINE_MAX	8192	/* bytes of a chunk size line */
#define XGW_HTTP_SECTION_MAX	65536	/* bytes of a header or trailer section */
#define XGW_HTTP_FIELDS_MAX	100	/* field lines in one section */

/*
 * One connection, both directions.  Decoding a request appends its
 * method; decoding a final (2xx-5xx) response removes the oldest, so that
 * the response side knows which answers HEAD or CONNECT.  After a 101 or
 * a 2xx answer to CONNECT the connection no longer carries HTTP.
 */
struct xgw_http_sess {
	char		method[XGW_HTTP_PIPELINE][XGW_HTTP_METHOD_MAX + 1];
	uint8_t		head;
	uint8_t		count;
	uint8_t		switched;
};

extern const struct xgw_proto xgw_http_proto;

/* sess may be NULL: no request awaits an answer and nothing is recorded */
int	xgw_http_frame(struct xgw_http_sess *, enum xgw_dir, const uint8_t *p,
	    size_t n, size_t *len, struct xgw_err *);
int	xgw_http_frame_eof(struct xgw_http_sess *, enum xgw_dir,
	    const uint8_t *p, size_t n, size_t *len, struct xgw_err *);
int	xgw_http_decode(xmpp_ctx_t *, struct xgw_http_sess *, enum xgw_dir,
	    const uint8_t *p, size_t n, xmpp_stanza_t **out, struct xgw_err *);
int	xgw_http_encode(xmpp_stanza_t *el, struct xgw_buf *out,
	    struct xgw_err *);

/*
 * Streaming (SCHEMA-http.md, "Streamed messages").  A message too large
 * for one element crosses as a head, <http body="streamed" stream="S">
 * (start line and fields, no body; body-size the Content-Length, absent
 * for chunked and read-until-close), and parts of its body bytes as they
 * are on the wire, chunk lines and trailers included.  Both ends walk
 * those bytes with one incremental walker, struct xgw_http_body: the
 * reading side cuts parts with it, the restoring side checks every part
 * with it before it writes a byte.
 */
#define XGW_HTTP_BODY_LIMIT	(1ull << 50)	/* Content-Length or body of a stream */
#define XGW_HTTP_PART_MAX	(64 * 1024)	/* body bytes of one part */

enum xgw_http_mode { XGW_HTTP_NONE, XGW_HTTP_LENGTH, XGW_HTTP_CHUNKED,
	XGW_HTTP_CLOSE };

struct xgw_http_body {
	enum xgw_http_mode mode;
	int		 lf;		/* lines end with a bare LF, as the head's */
	int		 state;		/* where in the chunked coding */
	uint64_t	 left;		/* bytes of the body or chunk data to come */
	uint64_t	 size;		/* body bytes so far, chunk lines aside */
	uint64_t	 max;		/* more is refused ("too-large"); 0: none */
	uint64_t	 off;		/* bytes walked: the offsets of errors */
	struct xgw_buf	 line;		/* a chunk line or the trailers, until whole */
};

/*
 * The head of a message at p: 1 with *hlen (through the empty line) and
 * body ready to walk what follows; 0: need more; -1: refused.  Content-
 * Length may be up to XGW_HTTP_BODY_LIMIT.  With out, the head element
 * (body="streamed", stream attribute left to the caller); a request's
 * method is then remembered in sess as decode does.
 */
int	xgw_http_head(xmpp_ctx_t *, struct xgw_http_sess *, enum xgw_dir,
	    const uint8_t *p, size_t n, size_t *hlen, xmpp_stanza_t **out,
	    struct xgw_http_body *body, struct xgw_err *);
/*
 * Walks n body bytes: 1 when the body ended, *used of them its last ones
 * (the rest belongs to the next message); 0 when all were taken and more
 * is to come; -1 when they break the framing or exceed max.
 */
int	xgw_http_body_walk(struct xgw_http_body *, const uint8_t *p, size_t n,
	    size_t *used, struct xgw_err *);
/* The connection closed: 1 when that ends the body (read until close), else -1. */
int	xgw_http_body_eof(struct xgw_http_body *, struct xgw_err *);
void	xgw_http_body_free(struct xgw_http_body *);

/* One element of a stream after its head; kind says which. */
enum xgw_http_pkind {
	XGW_HTTP_PART,	/* body bytes, part 1, 2, ... of stream S; last="1" ends it */
	XGW_HTTP_PULL,	/* request: "send part K of the response's body" */
	XGW_HTTP_ACK,	/* response: "part K of the request's body is written" */
	XGW_HTTP_CANCEL	/* either way: "the stream ends here, cut short" */
};

struct xgw_http_part {
	enum xgw_http_pkind kind;
	uint64_t	 stream;	/* the seq of the request that began the exchange */
	uint64_t	 part;		/* from 1 */
	int		 last;
};

xmpp_stanza_t	*xgw_http_part_new(xmpp_ctx_t *, const struct xgw_http_part *,
		    const uint8_t *data, size_t n);
/* 1 and *pt (data appended to out) for a part element, 0 for any other <http>, -1 refused. */
int	xgw_http_part_read(xmpp_stanza_t *el, struct xgw_http_part *pt,
	    struct xgw_buf *out, struct xgw_err *);

#endif
