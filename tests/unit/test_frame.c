/*
 * The frame codec over real non-blocking socketpairs: every type both
 * ways through the writer and the reader, frames cut into single bytes
 * and packed several to a read, every header the reader refuses (before
 * it allocates or waits), end of file inside a frame, and a writer held
 * back by a full socket.
 */
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "frame.h"

struct pair {
	int	 w, r;		/* writing end, reading end */
};

static void
pair_open(struct pair *p)
{
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1)
		fail_msg("socketpair: %s", strerror(errno));
	for (int i = 0; i < 2; i++)
		if (fcntl(sv[i], F_SETFL, O_NONBLOCK) == -1)
			fail_msg("fcntl O_NONBLOCK: %s", strerror(errno));
	p->w = sv[0];
	p->r = sv[1];
}

static void
pair_close(struct pair *p)
{
	if (p->w != -1)
		close(p->w);
	close(p->r);
}

/* Waits (at most 5 s) for a whole frame, or the reader's refusal. */
static int
read_one(struct frame_reader *rd, int fd, struct frame *f, const char **why)
{
	struct pollfd pfd = { fd, POLLIN, 0 };
	int rc;

	while ((rc = frame_read(rd, fd, f, why)) == 0)
		if (poll(&pfd, 1, 5000) != 1)
			fail_msg("no frame within 5 s");
	return rc;
}

static void
put_be(uint8_t *p, uint64_t v, int n)
{
	while (n-- > 0) {
		p[n] = v & 0xff;
		v >>= 8;
	}
}

static size_t
encode(uint8_t *p, uint16_t type, uint32_t len, const char *payload)
{
	put_be(p, type, 2);
	put_be(p + 2, 7, 2);
	put_be(p + 4, len, 4);
	put_be(p + 8, 0x0102030405060708ULL, 8);
	put_be(p + 16, 42, 8);
	if (payload != NULL)
		memcpy(p + FRAME_HDR, payload, len);
	return FRAME_HDR + len;
}

static void
write_all(int fd, const void *p, size_t n)
{
	if (write(fd, p, n) != (ssize_t)n)
		fail_msg("write of %zu bytes to the socketpair: %s", n,
		    strerror(errno));
}

static void
assert_same(const struct frame *got, const struct frame *want)
{
	assert_int_equal(got->type, want->type);
	assert_int_equal(got->adapter, want->adapter);
	assert_int_equal(got->len, want->len);
	assert_true(got->flow == want->flow);
	assert_true(got->seq == want->seq);
	if (want->len > 0)
		assert_memory_equal(got->payload, want->payload, want->len);
	assert_int_equal(got->payload[got->len], '\0');
}

/* Each type, and the largest payload, through writer and reader. */
static void
round_trip(void **state)
{
	static char big[FRAME_MAX];
	struct frame_writer wr = { 0 };
	struct frame_reader rd = { 0 };
	struct frame want, got;
	struct pair p;
	const char *why;

	(void)state;
	memset(big, 'x', sizeof(big));
	pair_open(&p);
	for (unsigned t = 1; t <= FRAME_TYPE_MAX; t++) {
		/* the last pass sends a STANZA of FRAME_MAX bytes */
		want = (struct frame){ t < FRAME_TYPE_MAX ? t : FRAME_STANZA,
		    (uint16_t)(t * 3), 0, 0xfedcba9876543210ULL + t,
		    UINT64_MAX - t, (uint8_t *)big };
		want.len = t < FRAME_TYPE_MAX ? t * 11 : FRAME_MAX;
		if (t == FRAME_READY)
			want.len = 0;
		assert_int_equal(frame_queue(&wr, &want), 0);
		/* the socket takes less than FRAME_MAX at once: interleave */
		for (;;) {
			int sent = frame_flush(&wr, p.w);

			assert_int_not_equal(sent, -1);
			if (sent == 1)
				break;
			assert_int_equal(frame_pending(&wr), 1);
			assert_int_equal(frame_read(&rd, p.r, &got, &why), 0);
		}
		assert_int_equal(frame_pending(&wr), 0);
		assert_int_equal(read_one(&rd, p.r, &got, &why), 1);
		assert_same(&got, &want);
		assert_string_equal(frame_type_name(got.type),
		    frame_type_name(want.type));
	}
	assert_string_equal(frame_type_name(FRAME_STANZA), "stanza");
	assert_string_equal(frame_type_name(0), "unknown");
	assert_string_equal(frame_type_name(FRAME_TYPE_MAX), "unknown");
	frame_reader_free(&rd);
	frame_writer_free(&wr);
	pair_close(&p);
}

/* Two frames, one byte per write: nothing comes before the last byte. */
static void
split_reads(void **state)
{
	struct frame_reader rd = { 0 };
	uint8_t buf[2 * FRAME_HDR + 64];
	size_t n1, n;
	struct frame f;
	struct pair p;
	const char *why;

	(void)state;
	pair_open(&p);
	n1 = encode(buf, FRAME_STANZA, 21, "<pdu xmlns='urn:x'/>!");
	n = n1 + encode(buf + n1, FRAME_STATS, 8, "frames=1");
	for (size_t i = 0; i < n; i++) {
		write_all(p.w, buf + i, 1);
		if (i + 1 != n1 && i + 1 != n) {
			assert_int_equal(frame_read(&rd, p.r, &f, &why), 0);
			continue;
		}
		assert_int_equal(frame_read(&rd, p.r, &f, &why), 1);
		assert_int_equal(f.type, i + 1 == n1 ? FRAME_STANZA :
		    FRAME_STATS);
		assert_string_equal((char *)f.payload, i + 1 == n1 ?
		    "<pdu xmlns='urn:x'/>!" : "frames=1");
		assert_int_equal(f.adapter, 7);
		assert_true(f.flow == 0x0102030405060708ULL);
		assert_true(f.seq == 42);
	}
	assert_int_equal(frame_read(&rd, p.r, &f, &why), 0);
	frame_reader_free(&rd);
	pair_close(&p);
}

/*
 * Three frames in one write come out of one read, one per call; each
 * payload's NUL does not eat the first byte of the frame after it.
 */
static void
several_in_one_read(void **state)
{
	const char *text[] = { "alpha", "", "gamma gamma" };
	uint16_t types[] = { FRAME_HELLO, FRAME_READY, FRAME_FAIL };
	struct frame_reader rd = { 0 };
	uint8_t buf[256];
	size_t n = 0, used;
	struct frame f;
	struct pair p;
	const char *why;

	(void)state;
	pair_open(&p);
	for (int i = 0; i < 3; i++)
		n += encode(buf + n, types[i], strlen(text[i]), text[i]);
	write_all(p.w, buf, n);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(frame_read(&rd, p.r, &f, &why), 1);
		assert_int_equal(f.type, types[i]);
		assert_string_equal((char *)f.payload, text[i]);
	}
	assert_int_equal(frame_read(&rd, p.r, &f, &why), 0);
	/* frame_parse on the same bytes: the first frame and its size */
	assert_int_equal(frame_parse(buf, n, &f, &used, &why), 1);
	assert_int_equal(used, FRAME_HDR + 5);
	assert_memory_equal(f.payload, "alpha", 5);
	assert_int_equal(frame_parse(buf, FRAME_HDR + 4, &f, &used, &why), 0);
	assert_int_equal(frame_parse(buf, FRAME_HDR - 1, &f, &used, &why), 0);
	frame_reader_free(&rd);
	pair_close(&p);
}

/* A refused header: the error comes with the header alone, no payload sent. */
static void
assert_refused(uint16_t type, uint32_t len, const char *payload,
    const char *reason)
{
	struct frame_reader rd = { 0 };
	uint8_t buf[FRAME_HDR + 64];
	struct frame f;
	struct pair p;
	const char *why = NULL;
	size_t n, used;

	pair_open(&p);
	n = encode(buf, type, len, payload);
	write_all(p.w, buf, payload != NULL ? n : FRAME_HDR);
	assert_int_equal(read_one(&rd, p.r, &f, &why), -1);
	assert_non_null(why);
	assert_string_equal(why, reason);
	/* nothing was allocated on the announced length's behalf */
	assert_true(rd.cap < FRAME_MAX);
	why = NULL;
	assert_int_equal(frame_parse(buf, payload != NULL ? n : FRAME_HDR, &f,
	    &used, &why), -1);
	assert_string_equal(why, reason);
	frame_reader_free(&rd);
	pair_close(&p);
}

static void
bad_type(void **state)
{
	(void)state;
	assert_refused(0, 0, NULL, "bad-type");
	assert_refused(FRAME_TYPE_MAX, 0, NULL, "bad-type");
	assert_refused(0xffff, 10, NULL, "bad-type");
	assert_refused(0x0100 | FRAME_STANZA, 0, NULL, "bad-type");
}

static void
too_large(void **state)
{
	(void)state;
	assert_refused(FRAME_STANZA, 0xffffffffu, NULL, "too-large");
	assert_refused(FRAME_CONFIG, FRAME_MAX + 1, NULL, "too-large");
}

static void
bad_payload(void **state)
{
	(void)state;
	assert_refused(FRAME_STANZA, 6, "<a/>\0x", "bad-payload");
	assert_refused(FRAME_STANZA, 1, "\0", "bad-payload");
}

/* The peer goes away inside a header, inside a payload, between frames. */
static void
eof(void **state)
{
	size_t cuts[] = { 0, 10, FRAME_HDR, FRAME_HDR + 3 };
	struct frame_reader rd;
	uint8_t buf[FRAME_HDR + 16];
	size_t n;
	struct frame f;
	struct pair p;
	const char *why;

	(void)state;
	n = encode(buf, FRAME_STANZA, 9, "<a>b</a>.");
	for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
		memset(&rd, 0, sizeof(rd));
		pair_open(&p);
		if (cuts[i] > 0)
			write_all(p.w, buf, cuts[i]);
		if (cuts[i] == 0)
			write_all(p.w, buf, n);	/* a whole frame, then end */
		close(p.w);
		p.w = -1;
		if (cuts[i] == 0)
			assert_int_equal(read_one(&rd, p.r, &f, &why), 1);
		assert_int_equal(read_one(&rd, p.r, &f, &why), -1);
		assert_string_equal(why, "eof");
		frame_reader_free(&rd);
		pair_close(&p);
	}
}

/*
 * A peer that does not read: the socket fills, flush keeps the rest,
 * queue refuses past the limit; once the peer reads, everything arrives
 * in order.
 */
static void
backpressure(void **state)
{
	static char payload[4000];
	struct frame_writer wr = { .limit = 64 * 1024 };
	struct frame_reader rd = { 0 };
	struct frame f = { FRAME_STANZA, 1, sizeof(payload), 9, 0,
	    (uint8_t *)payload };
	struct pair p;
	const char *why;
	uint64_t queued = 0, got = 0;
	int sndbuf = 4096, rc;

	(void)state;
	memset(payload, 'p', sizeof(payload));
	pair_open(&p);
	if (setsockopt(p.w, SOL_SOCKET, SO_SNDBUF, &sndbuf,
	    sizeof(sndbuf)) == -1)
		fail_msg("SO_SNDBUF: %s", strerror(errno));
	/* fill the socket and then the writer, never reading */
	for (;;) {
		f.seq = queued + 1;
		if (frame_queue(&wr, &f) == -1)
			break;
		queued++;
		assert_int_not_equal(frame_flush(&wr, p.w), -1);
	}
	assert_int_equal(errno, ENOBUFS);
	assert_true(queued > 64 * 1024 / (FRAME_HDR + sizeof(payload)));
	assert_int_equal(frame_flush(&wr, p.w), 0);
	assert_int_equal(frame_pending(&wr), 1);
	assert_true(wr.len - wr.off <= wr.limit);
	/* the peer reads: flush drains, frames come whole and in order */
	while (got < queued) {
		rc = frame_flush(&wr, p.w);
		assert_int_not_equal(rc, -1);
		while (frame_read(&rd, p.r, &f, &why) == 1) {
			assert_true(f.seq == ++got);
			assert_int_equal(f.len, sizeof(payload));
			assert_memory_equal(f.payload, payload, sizeof(payload));
		}
	}
	assert_int_equal(rc, 1);
	assert_int_equal(frame_pending(&wr), 0);
	/* a frame that cannot be sent at all is refused as such */
	f.len = FRAME_MAX + 1;
	assert_int_equal(frame_queue(&wr, &f), -1);
	assert_int_equal(errno, EINVAL);
	frame_reader_free(&rd);
	frame_writer_free(&wr);
	pair_close(&p);
}

/* Limit 0 means 4 MiB: fifteen frames of FRAME_MAX fit, the sixteenth not. */
static void
default_limit(void **state)
{
	static char payload[FRAME_MAX];
	struct frame_writer wr = { 0 };
	struct frame f = { FRAME_STANZA, 1, FRAME_MAX, 0, 0,
	    (uint8_t *)payload };
	int n = 0;

	(void)state;
	while (frame_queue(&wr, &f) == 0)
		n++;
	assert_int_equal(errno, ENOBUFS);
	assert_int_equal(n, 4 * 1024 * 1024 / (FRAME_HDR + FRAME_MAX));
	assert_true(wr.cap <= 4 * 1024 * 1024);
	frame_writer_free(&wr);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(round_trip),
		cmocka_unit_test(split_reads),
		cmocka_unit_test(several_in_one_read),
		cmocka_unit_test(bad_type),
		cmocka_unit_test(too_large),
		cmocka_unit_test(bad_payload),
		cmocka_unit_test(eof),
		cmocka_unit_test(backpressure),
		cmocka_unit_test(default_limit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
