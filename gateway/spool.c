/*
 * The spool: segment files of records, an index of their first sequence
 * numbers in memory, one segment open for appending and one read cursor.
 *
 * Invariants the code keeps, and spool_open checks:
 * - sequence numbers go up by one across the spool, with no gap above
 *   "acked" (a gap at or below it is acknowledged data whose segment was
 *   unlinked, which needs no ordering);
 * - every segment but the last is whole and durable: a segment and its
 *   directory entry are synced before the next one is created, so only
 *   the last can end in a torn record after a crash;
 * - bytes past a segment's logical size (a failed write) are never read
 *   and are overwritten by the next append.
 */
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include <dirent.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "spool.h"

#define REC_HDR		16	/* len(4) crc(4) seq(8) */
#define CHUNK		(2 * (REC_HDR + SPOOL_RECORD_MAX))	/* read-ahead */
#define SEG_NAME	sizeof("seg-00000000000000000000.log")
#define ACKED		"acked"
#define ACKED_TMP	"acked.tmp"
#define CRC32C_POLY	0x82f63b78	/* Castagnoli, reflected */

struct segment {
	uint64_t	 first;		/* sequence number of its first record */
	uint64_t	 size;		/* bytes of whole records */
};

/* Where reading goes on: record seq at offset off of segment seg. */
struct cursor {
	size_t		 seg;
	int		 fd;		/* seg's file, -1 when none */
	uint64_t	 off, seq;
	uint8_t		*buf;		/* the file's bytes [base, base + have) */
	uint64_t	 base;
	size_t		 have;
};

struct record {
	uint64_t	 seq;
	const uint8_t	*payload;
	uint32_t	 len;
};

enum rec { REC_OK, REC_END, REC_BAD, REC_ERR };

struct spool {
	char		*dir;
	int		 dirfd;
	int		 wfd;		/* the last segment, -1 when none is open */
	int		 dirty;		/* appended since the last sync */
	int		 dirdirty;	/* a segment created since the last sync */
	struct segment	*segs;
	size_t		 nsegs, segcap;
	uint64_t	 segsize;
	struct cursor	 cur;
	uint64_t	 next_seq, acked;
	uint64_t	 bytes, max_bytes, refused, torn;
	char		*err;		/* spool_open's message */
	size_t		 errlen;
};

static uint32_t crc_table[256];

static void
crc_init(void)
{
	uint32_t c;

	for (unsigned i = 0; i < 256; i++) {
		c = i;
		for (int k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ CRC32C_POLY : c >> 1;
		crc_table[i] = c;
	}
}

uint32_t
spool_crc32c(uint32_t crc, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	if (crc_table[1] == 0)
		crc_init();
	crc = ~crc;
	while (len-- > 0)
		crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

static uint32_t
get32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return be32toh(v);
}

static uint64_t
get64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return be64toh(v);
}

static void
seg_name(char name[SEG_NAME], uint64_t first)
{
	snprintf(name, SEG_NAME, "seg-%020" PRIu64 ".log", first);
}

static int openerr(struct spool *, const char *, ...)
    __attribute__((format(printf, 2, 3)));

static int
openerr(struct spool *sp, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(sp->err, sp->errlen, fmt, ap);
	va_end(ap);
	return -1;
}

/* The last sequence number segment i can hold. */
static uint64_t
seg_last(const struct spool *sp, size_t i)
{
	return (i + 1 < sp->nsegs ? sp->segs[i + 1].first : sp->next_seq) - 1;
}

static void
cur_close(struct cursor *c)
{
	if (c->fd != -1)
		close(c->fd);
	c->fd = -1;
	c->have = 0;
}

/* Puts the cursor on the first record of segment i. */
static int
cur_start(struct spool *sp, size_t i)
{
	struct cursor *c = &sp->cur;
	char name[SEG_NAME];

	seg_name(name, sp->segs[i].first);
	if (c->fd == -1 || c->seg != i) {
		cur_close(c);
		if ((c->fd = openat(sp->dirfd, name, O_RDONLY | O_CLOEXEC)) == -1)
			return -1;
	}
	c->seg = i;
	c->off = 0;
	c->seq = sp->segs[i].first;
	return 0;
}

/* Has the bytes [off, off + need) of the cursor's segment in its buffer. */
static int
cur_fill(struct spool *sp, uint64_t off, size_t need)
{
	struct cursor *c = &sp->cur;
	uint64_t left = sp->segs[c->seg].size - off;
	size_t n = left < CHUNK ? left : CHUNK, got = 0;
	ssize_t r;

	if (off >= c->base && off + need <= c->base + c->have)
		return 0;
	c->have = 0;
	while (got < n) {
		r = pread(c->fd, c->buf + got, n - got, off + got);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == 0)
			errno = EIO;	/* shorter than the index says */
		if (r <= 0)
			return -1;
		got += r;
	}
	c->base = off;
	c->have = n;
	return 0;
}

/* Reads and checks the record at off of the cursor's segment. */
static enum rec
rec_at(struct spool *sp, uint64_t off, struct record *r, const char **why)
{
	struct cursor *c = &sp->cur;
	uint64_t size = sp->segs[c->seg].size;
	const uint8_t *p;
	uint32_t len;

	if (off == size)
		return REC_END;
	if (size - off < REC_HDR) {
		*why = "record header cut short";
		return REC_BAD;
	}
	if (cur_fill(sp, off, REC_HDR) == -1)
		return REC_ERR;
	len = get32(c->buf + (off - c->base));
	if (len > SPOOL_RECORD_MAX) {
		*why = "record length over SPOOL_RECORD_MAX";
		return REC_BAD;
	}
	if (size - off - REC_HDR < len) {
		*why = "record cut short";
		return REC_BAD;
	}
	if (cur_fill(sp, off, REC_HDR + len) == -1)
		return REC_ERR;
	p = c->buf + (off - c->base);
	if (spool_crc32c(0, p + 8, 8 + len) != get32(p + 4)) {
		*why = "bad CRC";
		return REC_BAD;
	}
	r->seq = get64(p + 8);
	r->payload = p + REC_HDR;
	r->len = len;
	return REC_OK;
}

/* Reads the record under the cursor, which must be number cur.seq. */
static enum rec
cur_read(struct spool *sp, struct record *r, const char **why)
{
	struct cursor *c = &sp->cur;
	enum rec rc;

	if ((rc = rec_at(sp, c->off, r, why)) != REC_OK)
		return rc;
	if (r->seq != c->seq) {
		*why = "sequence number out of order";
		return REC_BAD;
	}
	c->off += REC_HDR + r->len;
	c->seq++;
	return REC_OK;
}

/* Unlinks the segments wholly acknowledged, the last one only if asked. */
static void
trim(struct spool *sp, int keep_last)
{
	struct cursor *c = &sp->cur;
	char name[SEG_NAME];
	size_t n = 0;

	while (n + keep_last < sp->nsegs && seg_last(sp, n) <= sp->acked) {
		seg_name(name, sp->segs[n].first);
		if (unlinkat(sp->dirfd, name, 0) == -1) {
			log_warn("spool %s/%s: unlink", sp->dir, name);
			break;
		}
		sp->bytes -= sp->segs[n].size;
		n++;
	}
	if (n == 0)
		return;
	if (c->fd != -1 && c->seg < n)
		cur_close(c);
	else if (c->fd != -1)
		c->seg -= n;
	sp->nsegs -= n;
	memmove(sp->segs, sp->segs + n, sp->nsegs * sizeof(*sp->segs));
}

static int
seg_push(struct spool *sp, uint64_t first, uint64_t size)
{
	struct segment *s;
	size_t cap;

	if (sp->nsegs == sp->segcap) {
		cap = sp->segcap ? sp->segcap * 2 : 16;
		if ((s = reallocarray(sp->segs, cap, sizeof(*s))) == NULL)
			return -1;
		sp->segs = s;
		sp->segcap = cap;
	}
	sp->segs[sp->nsegs++] = (struct segment){ first, size };
	sp->bytes += size;
	return 0;
}

static int
seg_cmp(const void *a, const void *b)
{
	const struct segment *x = a, *y = b;

	return x->first < y->first ? -1 : x->first > y->first;
}

/* "seg-" 20 digits ".log", and a first sequence number from 1. */
static int
seg_parse(const char *name, uint64_t *first)
{
	char want[SEG_NAME];

	if (strlen(name) != SEG_NAME - 1 || strncmp(name, "seg-", 4) != 0 ||
	    strspn(name + 4, "0123456789") != 20)
		return -1;
	*first = strtoull(name + 4, NULL, 10);
	seg_name(want, *first);
	/* 20 digits can pass UINT64_MAX: the name must come back the same */
	return *first > 0 && strcmp(name, want) == 0 ? 0 : -1;
}

static int
read_acked(struct spool *sp)
{
	char text[32], *end;
	ssize_t n;
	int fd;

	if (unlinkat(sp->dirfd, ACKED_TMP, 0) == -1 && errno != ENOENT)
		return openerr(sp, "%s/%s: unlink: %s", sp->dir, ACKED_TMP,
		    strerror(errno));
	if ((fd = openat(sp->dirfd, ACKED, O_RDONLY | O_CLOEXEC)) == -1) {
		if (errno == ENOENT)
			return 0;
		return openerr(sp, "%s/%s: %s", sp->dir, ACKED,
		    strerror(errno));
	}
	n = read(fd, text, sizeof(text) - 1);
	close(fd);
	if (n == -1)
		return openerr(sp, "%s/%s: read: %s", sp->dir, ACKED,
		    strerror(errno));
	text[n] = '\0';
	errno = 0;
	sp->acked = strtoull(text, &end, 10);
	if (n < 2 || text[0] < '0' || text[0] > '9' || errno != 0 ||
	    strcmp(end, "\n") != 0)
		return openerr(sp, "%s/%s: not a sequence number and a newline",
		    sp->dir, ACKED);
	return 0;
}

static int
add_segment(struct spool *sp, const char *name, uint64_t first)
{
	struct stat st;

	if (fstatat(sp->dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == -1)
		return openerr(sp, "%s/%s: %s", sp->dir, name, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return openerr(sp, "%s/%s: not a regular file", sp->dir, name);
	if (seg_push(sp, first, st.st_size) == -1)
		return openerr(sp, "%s/%s: out of memory", sp->dir, name);
	return 0;
}

static int
list_segments(struct spool *sp)
{
	struct dirent *de;
	uint64_t first;
	int fd, rc = 0;
	DIR *d;

	if ((fd = dup(sp->dirfd)) == -1 || (d = fdopendir(fd)) == NULL) {
		if (fd != -1)
			close(fd);
		return openerr(sp, "%s: %s", sp->dir, strerror(errno));
	}
	while (rc == 0 && (errno = 0, de = readdir(d)) != NULL)
		if (seg_parse(de->d_name, &first) == 0)
			rc = add_segment(sp, de->d_name, first);
	if (rc == 0 && errno != 0)
		rc = openerr(sp, "%s: readdir: %s", sp->dir, strerror(errno));
	closedir(d);
	if (sp->nsegs > 0)
		qsort(sp->segs, sp->nsegs, sizeof(*sp->segs), seg_cmp);
	return rc;
}

/* Cuts the last segment at its first bad record, for good. */
static int
cut_tail(struct spool *sp, size_t i, uint64_t off)
{
	char name[SEG_NAME];
	int fd;

	seg_name(name, sp->segs[i].first);
	if ((fd = openat(sp->dirfd, name, O_WRONLY | O_CLOEXEC)) == -1 ||
	    ftruncate(fd, off) == -1 || fsync(fd) == -1) {
		openerr(sp, "%s/%s: cutting at offset %" PRIu64 ": %s",
		    sp->dir, name, off, strerror(errno));
		if (fd != -1)
			close(fd);
		return -1;
	}
	close(fd);
	log_warnx("spool %s/%s: torn tail of %" PRIu64 " bytes cut at "
	    "offset %" PRIu64, sp->dir, name, sp->segs[i].size - off, off);
	sp->torn += sp->segs[i].size - off;
	sp->bytes -= sp->segs[i].size - off;
	sp->segs[i].size = off;
	sp->cur.have = 0;	/* it may hold the bytes cut */
	return 0;
}

/*
 * Reads segment i whole; *last gets its last sequence number.  A bad
 * record ends the last segment there; anywhere else it is data that
 * cannot be skipped.
 */
static int
scan_segment(struct spool *sp, size_t i, uint64_t *last)
{
	struct cursor *c = &sp->cur;
	char name[SEG_NAME];
	struct record r;
	const char *why;
	enum rec rc;

	seg_name(name, sp->segs[i].first);
	if (cur_start(sp, i) == -1)
		return openerr(sp, "%s/%s: %s", sp->dir, name, strerror(errno));
	while ((rc = cur_read(sp, &r, &why)) == REC_OK)
		;
	*last = c->seq - 1;
	if (rc == REC_ERR)
		return openerr(sp, "%s/%s: read at offset %" PRIu64 ": %s",
		    sp->dir, name, c->off, strerror(errno));
	if (rc == REC_BAD && i + 1 < sp->nsegs)
		return openerr(sp, "%s/%s: offset %" PRIu64 ": %s, in a segment "
		    "that is not the last: refusing to skip data", sp->dir,
		    name, c->off, why);
	if (rc == REC_BAD)
		return cut_tail(sp, i, c->off);
	return 0;
}

/*
 * Checks every segment and the order across them; sets next_seq.  A gap
 * at or below acked is acknowledged data whose segment was unlinked.
 */
static int
check_segments(struct spool *sp)
{
	char name[SEG_NAME];
	uint64_t last = 0, done;

	for (size_t i = 0; i < sp->nsegs; i++) {
		seg_name(name, sp->segs[i].first);
		done = last > sp->acked ? last : sp->acked;
		if (sp->segs[i].first - 1 > done)
			return openerr(sp, "%s/%s: records %" PRIu64 " to %"
			    PRIu64 " are missing before it", sp->dir, name,
			    done + 1, sp->segs[i].first - 1);
		if (i > 0 && sp->segs[i].first <= last)
			return openerr(sp, "%s/%s: overlaps the segment "
			    "before it, which ends at %" PRIu64, sp->dir, name,
			    last);
		if (scan_segment(sp, i, &last) == -1)
			return -1;
	}
	sp->next_seq = (last > sp->acked ? last : sp->acked) + 1;
	return 0;
}

static int
open_last(struct spool *sp)
{
	char name[SEG_NAME];

	if (sp->nsegs == 0)
		return 0;
	seg_name(name, sp->segs[sp->nsegs - 1].first);
	if ((sp->wfd = openat(sp->dirfd, name, O_WRONLY | O_CLOEXEC)) == -1)
		return openerr(sp, "%s/%s: %s", sp->dir, name, strerror(errno));
	return 0;
}

static void
spool_free(struct spool *sp)
{
	if (sp->wfd != -1)
		close(sp->wfd);
	cur_close(&sp->cur);
	if (sp->dirfd != -1)
		close(sp->dirfd);	/* and its lock */
	free(sp->cur.buf);
	free(sp->segs);
	free(sp->dir);
	free(sp);
}

struct spool *
spool_open(const char *dir, uint64_t max_bytes, char *err, size_t errlen)
{
	struct spool *sp;

	if ((sp = calloc(1, sizeof(*sp))) == NULL ||
	    (sp->cur.buf = malloc(CHUNK)) == NULL ||
	    (sp->dir = strdup(dir)) == NULL) {
		snprintf(err, errlen, "spool %s: out of memory", dir);
		if (sp != NULL) {
			free(sp->cur.buf);
			free(sp);
		}
		return NULL;
	}
	sp->err = err;
	sp->errlen = errlen;
	sp->dirfd = sp->wfd = sp->cur.fd = -1;
	sp->segsize = SPOOL_SEGMENT;
	sp->max_bytes = max_bytes;
	if (mkdir(dir, 0700) == -1 && errno != EEXIST)
		openerr(sp, "%s: mkdir: %s", dir, strerror(errno));
	else if ((sp->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) ==
	    -1)
		openerr(sp, "%s: %s", dir, strerror(errno));
	else if (flock(sp->dirfd, LOCK_EX | LOCK_NB) == -1)
		openerr(sp, "%s: %s", dir, errno == EWOULDBLOCK ?
		    "in use by another process" : strerror(errno));
	else if (read_acked(sp) == 0 && list_segments(sp) == 0 &&
	    check_segments(sp) == 0) {
		trim(sp, 0);
		if (open_last(sp) == 0) {
			sp->err = NULL;
			return sp;
		}
	}
	spool_free(sp);
	return NULL;
}

void
spool_set_segment_size(struct spool *sp, uint64_t bytes)
{
	sp->segsize = bytes;
}

int
spool_sync(struct spool *sp)
{
	if (sp->dirty && fdatasync(sp->wfd) == -1) {
		log_warn("spool %s: segment %" PRIu64 ": fdatasync", sp->dir,
		    sp->segs[sp->nsegs - 1].first);
		return -1;
	}
	sp->dirty = 0;
	if (sp->dirdirty && fsync(sp->dirfd) == -1) {
		log_warn("spool %s: fsync", sp->dir);
		return -1;
	}
	sp->dirdirty = 0;
	return 0;
}

/*
 * Starts a segment for record next_seq.  The one before is made durable
 * first, with its directory entry, so that only the last can be torn.
 */
static int
roll(struct spool *sp)
{
	char name[SEG_NAME];
	int fd;

	if (sp->wfd != -1) {
		if (spool_sync(sp) == -1)
			return -1;
		close(sp->wfd);
		sp->wfd = -1;
	}
	seg_name(name, sp->next_seq);
	if ((fd = openat(sp->dirfd, name, O_WRONLY | O_CREAT | O_EXCL |
	    O_CLOEXEC, 0600)) == -1) {
		log_warn("spool %s/%s: create", sp->dir, name);
		return -1;
	}
	if (seg_push(sp, sp->next_seq, 0) == -1) {
		log_warn("spool %s/%s", sp->dir, name);
		close(fd);
		unlinkat(sp->dirfd, name, 0);
		return -1;
	}
	sp->wfd = fd;
	sp->dirdirty = 1;
	trim(sp, 1);
	return 0;
}

/*
 * The last segment stays after an ack, for appends to go on in; when the
 * spool is full and it holds only acknowledged records, it goes.
 */
static void
retire_last(struct spool *sp)
{
	if (sp->wfd == -1 || sp->next_seq - 1 > sp->acked)
		return;
	close(sp->wfd);
	sp->wfd = -1;
	sp->dirty = 0;
	trim(sp, 0);
}

int
spool_append(struct spool *sp, const void *p, size_t len, uint64_t *seq)
{
	uint8_t h[REC_HDR];
	struct iovec iov[2] = { { h, REC_HDR }, { (void *)p, len } };
	struct segment *s;
	uint32_t v32;
	uint64_t v64;
	ssize_t n;

	if (len > SPOOL_RECORD_MAX) {
		errno = EMSGSIZE;
		return -1;
	}
	if (sp->bytes + REC_HDR + len > sp->max_bytes)
		retire_last(sp);
	if (sp->bytes + REC_HDR + len > sp->max_bytes) {
		sp->refused++;
		errno = ENOSPC;
		return -1;
	}
	s = sp->nsegs > 0 ? &sp->segs[sp->nsegs - 1] : NULL;
	if (sp->wfd == -1 || (s->size > 0 && s->size + REC_HDR + len >
	    sp->segsize)) {
		if (roll(sp) == -1)
			return -1;
		s = &sp->segs[sp->nsegs - 1];
	}
	v32 = htobe32(len);
	memcpy(h, &v32, 4);
	v64 = htobe64(sp->next_seq);
	memcpy(h + 8, &v64, 8);
	v32 = htobe32(spool_crc32c(spool_crc32c(0, h + 8, 8), p, len));
	memcpy(h + 4, &v32, 4);
	if ((n = pwritev(sp->wfd, iov, 2, s->size)) != (ssize_t)(REC_HDR + len)) {
		if (n >= 0)
			errno = EIO;	/* short: the disk is full */
		log_warn("spool %s: segment %" PRIu64 ": write at offset %"
		    PRIu64, sp->dir, s->first, s->size);
		return -1;
	}
	s->size += REC_HDR + len;
	sp->bytes += REC_HDR + len;
	sp->dirty = 1;
	*seq = sp->next_seq++;
	return 0;
}

static int
write_acked(struct spool *sp, uint64_t seq)
{
	char text[32];
	int fd, len;

	len = snprintf(text, sizeof(text), "%" PRIu64 "\n", seq);
	if ((fd = openat(sp->dirfd, ACKED_TMP, O_WRONLY | O_CREAT | O_TRUNC |
	    O_CLOEXEC, 0600)) == -1) {
		log_warn("spool %s/%s: create", sp->dir, ACKED_TMP);
		return -1;
	}
	if (write(fd, text, len) != len || fsync(fd) == -1) {
		log_warn("spool %s/%s: write", sp->dir, ACKED_TMP);
		close(fd);
		return -1;
	}
	close(fd);
	if (renameat(sp->dirfd, ACKED_TMP, sp->dirfd, ACKED) == -1 ||
	    fsync(sp->dirfd) == -1) {
		log_warn("spool %s/%s: rename", sp->dir, ACKED);
		return -1;
	}
	return 0;
}

int
spool_ack(struct spool *sp, uint64_t seq)
{
	if (seq <= sp->acked)
		return 0;
	if (seq >= sp->next_seq) {
		log_warnx("spool %s: ack of seq=%" PRIu64 " but the last "
		    "appended is %" PRIu64, sp->dir, seq, sp->next_seq - 1);
		errno = EINVAL;
		return -1;
	}
	if (write_acked(sp, seq) == -1)
		return -1;
	sp->acked = seq;
	trim(sp, 1);
	return 0;
}

/* The segment holding record seq: the last whose first is not above it. */
static size_t
seg_find(const struct spool *sp, uint64_t seq)
{
	size_t lo = 0, hi = sp->nsegs;

	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;

		if (sp->segs[mid].first <= seq)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

/*
 * Acknowledged records are never handed out again, whatever after says.
 * The cursor makes the send path (after = the last one read) a single
 * read; any other after costs a walk within one segment.
 */
int
spool_next(struct spool *sp, uint64_t after, uint64_t *seq,
    const uint8_t **payload, size_t *len)
{
	struct cursor *c = &sp->cur;
	uint64_t want = (after > sp->acked ? after : sp->acked) + 1;
	char name[SEG_NAME];
	const char *why = NULL;
	struct record r;
	size_t i;
	enum rec rc;

	if (want >= sp->next_seq)
		return 0;
	i = seg_find(sp, want);
	if ((c->fd == -1 || c->seg != i || c->seq > want) &&
	    cur_start(sp, i) == -1)
		rc = REC_ERR;
	else
		while ((rc = cur_read(sp, &r, &why)) == REC_OK && r.seq < want)
			;
	if (rc == REC_END)
		why = "segment ends before the record the index promises";
	if (rc != REC_OK) {
		seg_name(name, sp->segs[i].first);
		log_warnx("spool %s/%s: offset %" PRIu64 ": %s", sp->dir, name,
		    c->off, why != NULL ? why : strerror(errno));
		cur_close(c);
		errno = EIO;
		return -1;
	}
	*seq = r.seq;
	*payload = r.payload;
	*len = r.len;
	return 1;
}

void
spool_stats(const struct spool *sp, struct spool_stats *st)
{
	st->next_seq = sp->next_seq;
	st->acked = sp->acked;
	st->records = sp->next_seq - 1 - sp->acked;
	st->bytes = sp->bytes;
	st->max_bytes = sp->max_bytes;
	st->refused = sp->refused;
	st->torn = sp->torn;
}

void
spool_close(struct spool *sp)
{
	if (sp == NULL)
		return;
	spool_sync(sp);
	spool_free(sp);
}
