/*
 * libxgw-transform: the lossless PDU <-> XML element transforms.
 *
 * Every function here is pure: bytes and elements in, bytes and elements
 * out, no I/O, no globals.  The libstrophe context is only an allocator.
 * The contract for every protocol is encode(decode(b)) == b for every PDU
 * that decodes, and a precise error (offset, reason, what was expected)
 * for every PDU that does not.
 */
#ifndef XGW_TRANSFORM_H
#define XGW_TRANSFORM_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <strophe.h>

#define XGW_NS		"urn:xgw:1"
#define XGW_NS_MODBUS	"urn:xgw:modbus:1"
#define XGW_NS_COAP	"urn:xgw:coap:1"
#define XGW_NS_MQTT	"urn:xgw:mqtt:1"
#define XGW_NS_HTTP	"urn:xgw:http:1"
#define XGW_NS_BROKER	"urn:xgw:broker:1"
#define XGW_NS_READINGS	"urn:xgw:readings:1"

/* No PDU of any protocol is accepted or produced above this size. */
#define XGW_PDU_MAX	(16u * 1024 * 1024)

enum xgw_dir {
	XGW_REQUEST,	/* client to server (Modbus master, CoAP/HTTP client, MQTT client) */
	XGW_RESPONSE,	/* server to client */
	XGW_EVENT	/* unsolicited reading (polling, observe, subscription) */
};

struct xgw_err {
	size_t		 offset;	/* byte of the PDU where decoding stopped */
	const char	*reason;	/* stable key for counting: "bad-length" */
	char		 msg[200];	/* what was found and what was expected */
};

/* A growing output buffer, bounded by XGW_PDU_MAX. */
struct xgw_buf {
	uint8_t		*data;
	size_t		 len;
	size_t		 cap;
};

/*
 * One protocol, as the tools and daemons see it.  Stream protocols have a
 * frame function that splits a byte stream; datagram protocols do not.
 * Per-connection state (MQTT protocol level, HTTP methods awaiting an
 * answer) lives in a session of sess_size bytes, zeroed by the caller and
 * shared by both directions of a connection; it holds no heap memory.
 */
struct xgw_proto {
	const char	*name;
	const char	*ns;
	int		 stream;		/* 1 TCP, 0 UDP */
	uint16_t	 ports[4];		/* well-known ports, 0-terminated */
	size_t		 sess_size;
	/* 1 and *pdulen: a whole PDU starts at p; 0: need more; -1: not a PDU start */
	int		(*frame)(void *sess, enum xgw_dir, const uint8_t *p,
			    size_t n, size_t *pdulen, struct xgw_err *);
	int		(*decode)(xmpp_ctx_t *, void *sess, enum xgw_dir,
			    const uint8_t *p, size_t n, xmpp_stanza_t **out,
			    struct xgw_err *);
	int		(*encode)(xmpp_stanza_t *el, struct xgw_buf *out,
			    struct xgw_err *);
	/*
	 * At the end of a stream, the length of a last PDU that only the
	 * close delimits (an HTTP response read until close); NULL when the
	 * protocol has none.  Same returns as frame.
	 */
	int		(*frame_eof)(void *sess, enum xgw_dir, const uint8_t *p,
			    size_t n, size_t *pdulen, struct xgw_err *);
	/* short name of the PDU kind, for counting ("read-coils/request") */
	const char	*(*kind)(xmpp_stanza_t *el, char *buf, size_t len);
};

const struct xgw_proto	*xgw_proto_find(const char *name);
/*
 * The protocol an element of an envelope belongs to: a PDU's, or for
 * <readings> the protocol they were read with (its proto attribute).
 * Flows and adapters are chosen by it.  NULL for anything else.
 */
const struct xgw_proto	*xgw_element_protocol(xmpp_stanza_t *el);
const struct xgw_proto	*xgw_proto_by_port(uint16_t port, int stream);
extern const struct xgw_proto *const xgw_protos[];

/* The envelope: <pdu xmlns="urn:xgw:1" src= dst= flow= seq= dir= [route=]>proto</pdu> */
struct xgw_meta {
	char		 src[46];	/* urn:uuid:xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx */
	char		 dst[46];
	uint64_t	 flow;		/* the exchange, as the adapter that began it knows it */
	uint64_t	 seq;
	enum xgw_dir	 dir;
	uint64_t	 route;		/* the broker's flow that carries it; 0: none */
};

xmpp_stanza_t	*xgw_envelope(xmpp_ctx_t *, const struct xgw_meta *,
		    xmpp_stanza_t *proto);
int		 xgw_envelope_parse(xmpp_stanza_t *, struct xgw_meta *,
		    xmpp_stanza_t **proto, struct xgw_err *);
const char	*xgw_dir_name(enum xgw_dir);
/*
 * A PDU kind for counting, "PRE" "A" "/" "B" ("?" for a missing part), cut
 * to fit len; run for every PDU, so without printf.
 */
const char	*xgw_kind(char *buf, size_t len, const char *pre,
		    const char *a, const char *b);
int		 xgw_dir_parse(const char *, enum xgw_dir *);
int		 xgw_uuid_valid(const char *urn);
/*
 * The name-based UUID (RFC 9562 version 5) of name in the xgw namespace
 * 57fe6229-08f5-4728-84b3-cc97fe9d4629, as urn:uuid: text: endpoints that
 * have no configured identity (a capture's address:port, a gateway's
 * client side "GATEWAY-UUID/PROTOCOL") get one that is stable.
 */
void		 xgw_uuid_name(const char *name, char out[46]);

/*
 * A context whose stanzas come from one block that empties itself when
 * the last of them is released (arena.c): for a loop that builds, reads
 * and releases a PDU's elements before the next.  What does not fit, or
 * outlives its PDU, comes from malloc.  Free the context, then the arena.
 */
struct xgw_arena;
struct xgw_arena	*xgw_arena_new(size_t size);
xmpp_ctx_t		*xgw_arena_ctx_new(struct xgw_arena *);
void			 xgw_arena_free(struct xgw_arena *);

/* Errors: every helper returns -1 after filling err, so callers return it. */
int	xgw_fail(struct xgw_err *, size_t off, const char *reason,
	    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Output buffer. */
int	xgw_buf_put(struct xgw_buf *, const void *, size_t, struct xgw_err *);
int	xgw_buf_u8(struct xgw_buf *, unsigned, struct xgw_err *);
int	xgw_buf_u16(struct xgw_buf *, unsigned, struct xgw_err *);
void	xgw_buf_free(struct xgw_buf *);

/* Building elements.  All return NULL or -1 only when memory runs out. */
xmpp_stanza_t	*xgw_el_new(xmpp_ctx_t *, const char *name, const char *ns);
int		 xgw_el_add(xmpp_stanza_t *parent, xmpp_stanza_t *child);
int		 xgw_set_uint(xmpp_stanza_t *, const char *attr, uint64_t);
int		 xgw_set_str(xmpp_stanza_t *, const char *attr, const char *);
int		 xgw_add_text(xmpp_ctx_t *, xmpp_stanza_t *parent,
		    const char *name, const char *text, size_t len);
int		 xgw_add_b64(xmpp_ctx_t *, xmpp_stanza_t *parent,
		    const char *name, const uint8_t *, size_t);
int		 xgw_add_u16list(xmpp_ctx_t *, xmpp_stanza_t *parent,
		    const char *name, const uint8_t *be16, size_t count);
int		 xgw_add_bitlist(xmpp_ctx_t *, xmpp_stanza_t *parent,
		    const char *name, const uint8_t *packed, size_t nbits);

/*
 * Byte strings that are usually text (topics, paths, header values):
 * attr="text" when the bytes are UTF-8 that XML carries unchanged (no
 * control characters, which parsers drop or normalize), otherwise
 * attr-b64="base64".  Readers accept exactly one of the two.
 */
int	xgw_text_safe(const uint8_t *, size_t);
int	xgw_set_bytes(xmpp_ctx_t *, xmpp_stanza_t *, const char *attr,
	    const uint8_t *, size_t);
int	xgw_get_bytes(xmpp_stanza_t *, const char *attr, struct xgw_buf *,
	    size_t *n, struct xgw_err *);

/*
 * Reading elements, strictly: decimal numbers only, no sign, no spaces, no
 * leading zeros, within [0, max].  Errors name the element and attribute.
 */
int	xgw_get_uint(xmpp_stanza_t *, const char *attr, uint64_t max,
	    uint64_t *, struct xgw_err *);
int	xgw_get_uint_opt(xmpp_stanza_t *, const char *attr, uint64_t max,
	    uint64_t dflt, uint64_t *, struct xgw_err *);
int	xgw_parse_uint(const char *, size_t, uint64_t max, uint64_t *);
xmpp_stanza_t	*xgw_child(xmpp_stanza_t *, const char *name);
const char	*xgw_text(xmpp_stanza_t *el);	/* text of el's first text node, or "" */
/* child's base64 text decoded and appended to out; *n gets its length */
int	xgw_get_b64(xmpp_stanza_t *parent, const char *name, struct xgw_buf *,
	    size_t *n, struct xgw_err *);
/*
 * The same for el's own text, for elements that carry data and attributes
 * both (an HTTP chunk: <chunk size-text="1a">base64</chunk>).
 */
int	xgw_set_b64_text(xmpp_ctx_t *, xmpp_stanza_t *el, const uint8_t *,
	    size_t);
int	xgw_get_b64_text(xmpp_stanza_t *el, struct xgw_buf *, size_t *n,
	    struct xgw_err *);
int	xgw_get_u16list(xmpp_stanza_t *parent, const char *name,
	    struct xgw_buf *, size_t *count, struct xgw_err *);
int	xgw_get_bitlist(xmpp_stanza_t *parent, const char *name,
	    struct xgw_buf *, size_t *nbits, struct xgw_err *);

/* Wire helpers. */
static inline unsigned
xgw_be16(const uint8_t *p)
{
	return (unsigned)p[0] << 8 | p[1];
}

static inline uint32_t
xgw_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

#endif
