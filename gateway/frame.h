/*
 * Frames between xgwd and its adapters: a fixed 24-byte header and, for
 * most types, one XML stanza.  One codec for every process.  Every frame
 * is checked on receipt; a bad one ends that peer's connection, never the
 * process that received it.
 *
 * Wire form, big-endian:
 *   type(2) adapter(2) len(4) flow(8) seq(8) | payload(len)
 */
#ifndef XGW_FRAME_H
#define XGW_FRAME_H

#include <stddef.h>
#include <stdint.h>

#define FRAME_HDR	24
#define FRAME_MAX	(256 * 1024)	/* payload bytes */

enum frame_type {
	FRAME_HELLO = 1,	/* adapter -> xgwd: payload "name version" */
	FRAME_STANZA,		/* either way: one <pdu xmlns="urn:xgw:1"> */
	FRAME_FAIL,		/* xgwd -> adapter: a request could not be carried; payload "code reason" */
	FRAME_CONFIG,		/* xgwd -> adapter: its configuration block, as text */
	FRAME_READY,		/* adapter -> xgwd: sockets bound, privileges dropped */
	FRAME_STATS,		/* adapter -> xgwd: counters as key=value lines */
	FRAME_TAKEN,		/* xgwd -> adapter: the event (flow, seq) is durable in the spool */
	FRAME_DELIVERED,	/* adapter -> xgwd: seq = events from xgwd finished with, counted from the first */
	FRAME_TYPE_MAX
};

struct frame {
	uint16_t	 type;
	uint16_t	 adapter;
	uint32_t	 len;
	uint64_t	 flow;
	uint64_t	 seq;
	uint8_t		*payload;	/* len bytes, NUL-terminated for convenience */
};

/* A reader for one peer: buffers what the socket gives until a frame is whole. */
struct frame_reader {
	uint8_t		*buf;
	size_t		 len, cap;
	size_t		 used;		/* the frame last returned, dropped on the next call */
	uint8_t		 held;		/* the byte its NUL terminator covers */
};

/* A writer for one peer: frames wait here until the socket takes them. */
struct frame_writer {
	uint8_t		*buf;
	size_t		 off, len, cap;
	size_t		 limit;		/* bytes queued before frame_queue refuses */
};

/*
 * frame_read: reads what fd has (non-blocking).  Returns 1 and a frame
 * (payload valid until the next call), 0 when no whole frame is there yet,
 * -1 on end of file or error, with *why set: "eof", "bad-type", "too-large",
 * "bad-payload" (a NUL inside: every payload is text), or strerror text.
 */
int	frame_read(struct frame_reader *, int fd, struct frame *, const char **why);
/*
 * frame_parse: the same on a buffer; *used gets the bytes consumed.  The
 * payload points into that buffer and is not NUL-terminated there.
 */
int	frame_parse(const uint8_t *, size_t, struct frame *, size_t *used,
	    const char **why);
/* -1 and errno ENOBUFS when the writer holds its limit, EINVAL for a bad frame */
int	frame_queue(struct frame_writer *, const struct frame *);
int	frame_flush(struct frame_writer *, int fd);	/* 1 all sent, 0 more pending, -1 error */
int	frame_pending(const struct frame_writer *);
void	frame_reader_free(struct frame_reader *);
void	frame_writer_free(struct frame_writer *);
const char *frame_type_name(unsigned);

#endif
