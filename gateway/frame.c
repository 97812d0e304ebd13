/*
 * The frame codec.  A header is checked as soon as its 24 bytes are
 * there, so a peer announcing a bad type or an oversized payload is
 * refused before anything is allocated or waited for on its behalf.
 */
#include <sys/socket.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "frame.h"

#define READ_INIT	(16 * 1024)		/* reader buffer before a big frame */
#define QUEUE_INIT	(16 * 1024)
#define QUEUE_LIMIT	(4 * 1024 * 1024)	/* default writer limit */

static const char *type_names[FRAME_TYPE_MAX] = {
	[FRAME_HELLO] = "hello",
	[FRAME_STANZA] = "stanza",
	[FRAME_FAIL] = "fail",
	[FRAME_CONFIG] = "config",
	[FRAME_READY] = "ready",
	[FRAME_STATS] = "stats",
	[FRAME_TAKEN] = "taken",
	[FRAME_DELIVERED] = "delivered",
};

static uint64_t
get_be(const uint8_t *p, int n)
{
	uint64_t v = 0;

	while (n-- > 0)
		v = v << 8 | *p++;
	return v;
}

static void
put_be(uint8_t *p, uint64_t v, int n)
{
	while (n-- > 0) {
		p[n] = v & 0xff;
		v >>= 8;
	}
}

const char *
frame_type_name(unsigned type)
{
	if (type >= FRAME_TYPE_MAX || type_names[type] == NULL)
		return "unknown";
	return type_names[type];
}

int
frame_parse(const uint8_t *buf, size_t n, struct frame *f, size_t *used,
    const char **why)
{
	if (n < FRAME_HDR)
		return 0;
	f->type = get_be(buf, 2);
	f->adapter = get_be(buf + 2, 2);
	f->len = get_be(buf + 4, 4);
	f->flow = get_be(buf + 8, 8);
	f->seq = get_be(buf + 16, 8);
	if (f->type == 0 || f->type >= FRAME_TYPE_MAX) {
		*why = "bad-type";
		return -1;
	}
	if (f->len > FRAME_MAX) {
		*why = "too-large";
		return -1;
	}
	if (n - FRAME_HDR < f->len)
		return 0;
	/* Every payload is text; a NUL would cut it short for its reader. */
	if (memchr(buf + FRAME_HDR, '\0', f->len) != NULL) {
		*why = "bad-payload";
		return -1;
	}
	/* The caller's buffer: frame_parse itself never writes through this. */
	f->payload = (uint8_t *)(buf + FRAME_HDR);
	*used = FRAME_HDR + f->len;
	return 1;
}

/* Drops the frame returned last, giving back the byte its NUL covered. */
static void
reader_drop(struct frame_reader *r)
{
	if (r->used == 0)
		return;
	if (r->used < r->len) {
		r->buf[r->used] = r->held;
		memmove(r->buf, r->buf + r->used, r->len - r->used);
	}
	r->len -= r->used;
	r->used = 0;
}

/* Room for the frame under way and its NUL; its header was checked already. */
static int
reader_grow(struct frame_reader *r)
{
	size_t need = READ_INIT;
	uint8_t *p;

	if (r->len >= FRAME_HDR)
		need = FRAME_HDR + get_be(r->buf + 4, 4) + 1;
	if (need < READ_INIT)
		need = READ_INIT;
	if (r->cap >= need)
		return 0;
	if ((p = realloc(r->buf, need)) == NULL)
		return -1;
	r->buf = p;
	r->cap = need;
	return 0;
}

int
frame_read(struct frame_reader *r, int fd, struct frame *f, const char **why)
{
	ssize_t n;
	int rc;

	reader_drop(r);
	for (;;) {
		rc = frame_parse(r->buf, r->len, f, &r->used, why);
		if (rc == 1) {
			r->held = r->buf[r->used];
			r->buf[r->used] = '\0';
		}
		if (rc != 0)
			return rc;
		if (reader_grow(r) == -1) {
			*why = strerror(errno);
			return -1;
		}
		/* One byte short: a frame ending the buffer still gets its NUL. */
		n = read(fd, r->buf + r->len, r->cap - r->len - 1);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			*why = strerror(errno);
			return -1;
		}
		if (n == 0) {
			*why = "eof";
			return -1;
		}
		r->len += n;
	}
}

/* Room for need more bytes behind those pending, within the limit. */
static int
writer_room(struct frame_writer *w, size_t need, size_t limit)
{
	size_t cap;
	uint8_t *p;

	if (w->len - w->off + need > limit) {
		errno = ENOBUFS;
		return -1;
	}
	if (w->off > 0) {
		memmove(w->buf, w->buf + w->off, w->len - w->off);
		w->len -= w->off;
		w->off = 0;
	}
	if (w->len + need <= w->cap)
		return 0;
	for (cap = w->cap ? w->cap : QUEUE_INIT; cap < w->len + need; cap *= 2)
		;
	if (cap > limit)
		cap = limit;
	if ((p = realloc(w->buf, cap)) == NULL)
		return -1;
	w->buf = p;
	w->cap = cap;
	return 0;
}

int
frame_queue(struct frame_writer *w, const struct frame *f)
{
	uint8_t *p;

	if (f->type == 0 || f->type >= FRAME_TYPE_MAX || f->len > FRAME_MAX) {
		errno = EINVAL;
		return -1;
	}
	if (writer_room(w, FRAME_HDR + f->len,
	    w->limit ? w->limit : QUEUE_LIMIT) == -1)
		return -1;
	p = w->buf + w->len;
	put_be(p, f->type, 2);
	put_be(p + 2, f->adapter, 2);
	put_be(p + 4, f->len, 4);
	put_be(p + 8, f->flow, 8);
	put_be(p + 16, f->seq, 8);
	if (f->len > 0)
		memcpy(p + FRAME_HDR, f->payload, f->len);
	w->len += FRAME_HDR + f->len;
	return 0;
}

/* send(2), not write(2): a peer gone away is an error here, not SIGPIPE. */
int
frame_flush(struct frame_writer *w, int fd)
{
	ssize_t n;

	while (w->off < w->len) {
		n = send(fd, w->buf + w->off, w->len - w->off, MSG_NOSIGNAL);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			return -1;
		}
		w->off += n;
	}
	w->off = w->len = 0;
	return 1;
}

int
frame_pending(const struct frame_writer *w)
{
	return w->off < w->len;
}

void
frame_reader_free(struct frame_reader *r)
{
	free(r->buf);
	memset(r, 0, sizeof(*r));
}

void
frame_writer_free(struct frame_writer *w)
{
	free(w->buf);
	memset(w, 0, sizeof(*w));
}
