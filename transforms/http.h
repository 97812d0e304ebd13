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

#endif
