/*
 * The spool on a real file system: order and acknowledgement across
 * segments, the bound, reopening, torn tails cut and counted, damage in
 * a segment that is not the last refused, and processes killed with
 * SIGKILL in the middle of appending.
 */
#include <sys/stat.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "spool.h"

#define REC_HDR	16

static char base[] = "/tmp/test_spool.XXXXXX";

/* A fresh directory under base for one test. */
static const char *
test_dir(const char *name)
{
	static char dir[256];

	snprintf(dir, sizeof(dir), "%s/%s", base, name);
	return dir;
}

/* Record seq's payload: its length and bytes follow from seq alone. */
static size_t
payload(uint64_t seq, uint8_t *buf)
{
	size_t len = 1 + (seq * 37) % 300;

	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)(seq * 131 + i);
	return len;
}

static void
assert_payload(uint64_t seq, const uint8_t *p, size_t len)
{
	uint8_t want[400];
	size_t n = payload(seq, want);

	if (len != n || memcmp(p, want, n) != 0)
		fail_msg("record %" PRIu64 ": payload of %zu bytes differs "
		    "from the %zu appended", seq, len, n);
}

static struct spool *
open_ok(const char *dir, uint64_t max)
{
	char err[512];
	struct spool *sp = spool_open(dir, max, err, sizeof(err));

	if (sp == NULL)
		fail_msg("spool_open %s: %s", dir, err);
	return sp;
}

static void
append_ok(struct spool *sp, uint64_t want)
{
	uint8_t buf[400];
	size_t len = payload(want, buf);
	uint64_t seq = 0;

	if (spool_append(sp, buf, len, &seq) == -1)
		fail_msg("append of record %" PRIu64 ": %s", want,
		    strerror(errno));
	assert_true(seq == want);
}

/* Reads from after on: records from..to, each once, in order. */
static void
assert_records(struct spool *sp, uint64_t after, uint64_t from, uint64_t to)
{
	const uint8_t *p;
	uint64_t seq, want = from;
	size_t len;
	int rc;

	while ((rc = spool_next(sp, after, &seq, &p, &len)) == 1) {
		if (seq != want)
			fail_msg("record %" PRIu64 " where %" PRIu64
			    " was due", seq, want);
		assert_payload(seq, p, len);
		after = seq;
		want++;
	}
	assert_int_equal(rc, 0);
	if (want != to + 1)
		fail_msg("records end at %" PRIu64 ", expected %" PRIu64,
		    want - 1, to);
}

static int
count_segments(const char *dir)
{
	struct dirent *de;
	DIR *d = opendir(dir);
	int n = 0;

	if (d == NULL)
		fail_msg("opendir %s: %s", dir, strerror(errno));
	while ((de = readdir(d)) != NULL)
		n += strncmp(de->d_name, "seg-", 4) == 0;
	closedir(d);
	return n;
}

static const char *
seg_path(const char *dir, uint64_t first)
{
	static char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/seg-%020" PRIu64 ".log", dir, first);
	return path;
}

static off_t
file_size(const char *path)
{
	struct stat st;

	if (stat(path, &st) == -1)
		fail_msg("stat %s: %s", path, strerror(errno));
	return st.st_size;
}

static void
flip_byte(const char *path, off_t off)
{
	uint8_t b;
	int fd = open(path, O_RDWR);

	if (fd == -1 || pread(fd, &b, 1, off) != 1)
		fail_msg("%s: read at %lld: %s", path, (long long)off,
		    strerror(errno));
	b ^= 0x20;
	if (pwrite(fd, &b, 1, off) != 1)
		fail_msg("%s: write at %lld: %s", path, (long long)off,
		    strerror(errno));
	close(fd);
}

/* The offset of record seq in a segment whose first record is first. */
static off_t
record_offset(uint64_t first, uint64_t seq)
{
	uint8_t buf[400];
	off_t off = 0;

	for (uint64_t s = first; s < seq; s++)
		off += REC_HDR + payload(s, buf);
	return off;
}

static void
crc32c_vector(void **state)
{
	(void)state;
	assert_int_equal(spool_crc32c(0, "123456789", 9), 0xe3069283);
	assert_int_equal(spool_crc32c(spool_crc32c(0, "1234", 4), "56789", 5),
	    0xe3069283);
	assert_int_equal(spool_crc32c(0, "", 0), 0);
	/* RFC 3720 B.4: 32 bytes of zeros */
	assert_int_equal(spool_crc32c(0, (uint8_t[32]){ 0 }, 32), 0x8a9136aa);
}

/* Append, read in order, jump, ack: across many small segments. */
static void
segments(void **state)
{
	const char *dir = test_dir("segments");
	struct spool_stats st;
	struct spool *sp;
	const uint8_t *p;
	uint64_t seq;
	size_t len;

	(void)state;
	sp = open_ok(dir, 1 << 20);
	spool_set_segment_size(sp, 1024);
	for (uint64_t s = 1; s <= 100; s++)
		append_ok(sp, s);
	assert_int_equal(spool_sync(sp), 0);
	assert_true(count_segments(dir) >= 10);
	assert_records(sp, 0, 1, 100);
	/* a jump forward, backward and to the end, as after a reconnect */
	assert_records(sp, 57, 58, 100);
	assert_records(sp, 3, 4, 100);
	assert_int_equal(spool_next(sp, 100, &seq, &p, &len), 0);
	assert_int_equal(spool_next(sp, 1000, &seq, &p, &len), 0);
	/* acked records are gone: their segments, and from spool_next */
	assert_int_equal(spool_ack(sp, 60), 0);
	assert_records(sp, 0, 61, 100);
	spool_stats(sp, &st);
	assert_true(st.acked == 60 && st.records == 40 && st.next_seq == 101);
	assert_int_equal(access(seg_path(dir, 1), F_OK), -1);
	assert_true(st.bytes <= 1024 + (uint64_t)record_offset(61, 101));
	assert_int_equal(spool_ack(sp, 50), 0);	/* old news */
	assert_int_equal(spool_ack(sp, 101), -1);
	assert_int_equal(errno, EINVAL);
	/* everything acked: only the segment being appended to stays */
	assert_int_equal(spool_ack(sp, 100), 0);
	assert_int_equal(count_segments(dir), 1);
	assert_int_equal(spool_next(sp, 0, &seq, &p, &len), 0);
	append_ok(sp, 101);
	assert_records(sp, 0, 101, 101);
	spool_stats(sp, &st);
	assert_true(st.records == 1 && st.torn == 0 && st.refused == 0);
	spool_close(sp);
}

/* Full means ENOSPC and a count; acknowledgement makes room again. */
static void
bound(void **state)
{
	const char *dir = test_dir("bound");
	uint8_t buf[100] = { 0 };
	struct spool_stats st;
	struct spool *sp;
	uint64_t seq, n;

	(void)state;
	sp = open_ok(dir, 10 * (REC_HDR + sizeof(buf)));
	spool_set_segment_size(sp, 4 * (REC_HDR + sizeof(buf)));
	for (n = 0; spool_append(sp, buf, sizeof(buf), &seq) == 0; n++)
		;
	assert_int_equal(errno, ENOSPC);
	assert_int_equal(n, 10);
	assert_int_equal(spool_append(sp, buf, 1, &seq), -1);
	spool_stats(sp, &st);
	assert_true(st.refused == 2 && st.next_seq == 11 && st.records == 10);
	assert_true(st.bytes == st.max_bytes);
	/* acking the first segment's four records frees four places */
	assert_int_equal(spool_ack(sp, 4), 0);
	for (n = 0; spool_append(sp, buf, sizeof(buf), &seq) == 0; n++)
		;
	assert_int_equal(n, 4);
	assert_true(seq == 14);
	/* a record over SPOOL_RECORD_MAX is refused as such, not as full */
	assert_int_equal(spool_append(sp, buf, SPOOL_RECORD_MAX + 1, &seq), -1);
	assert_int_equal(errno, EMSGSIZE);
	spool_close(sp);

	/* one full segment, all acked: kept for appending, it gives way */
	sp = open_ok(test_dir("bound-one"), 10 * (REC_HDR + sizeof(buf)));
	for (n = 0; spool_append(sp, buf, sizeof(buf), &seq) == 0; n++)
		;
	assert_int_equal(n, 10);
	assert_int_equal(spool_ack(sp, 10), 0);
	spool_stats(sp, &st);
	assert_true(st.bytes == st.max_bytes && st.records == 0);
	for (n = 0; spool_append(sp, buf, sizeof(buf), &seq) == 0; n++)
		;
	assert_int_equal(n, 10);
	assert_true(seq == 20);
	assert_int_equal(access(seg_path(test_dir("bound-one"), 1), F_OK), -1);
	spool_close(sp);
}

/* Reopening keeps order, acked and next_seq, also once all is acked. */
static void
reopen(void **state)
{
	const char *dir = test_dir("reopen");
	struct spool_stats st;
	struct spool *sp;

	(void)state;
	sp = open_ok(dir, 1 << 20);
	spool_set_segment_size(sp, 2048);
	for (uint64_t s = 1; s <= 50; s++)
		append_ok(sp, s);
	assert_int_equal(spool_ack(sp, 10), 0);
	spool_close(sp);

	sp = open_ok(dir, 1 << 20);
	spool_stats(sp, &st);
	assert_true(st.next_seq == 51 && st.acked == 10 && st.records == 40);
	assert_true(st.torn == 0);
	assert_records(sp, 0, 11, 50);
	append_ok(sp, 51);
	assert_int_equal(spool_ack(sp, 51), 0);
	spool_close(sp);

	/* nothing left: the next number comes from "acked" */
	sp = open_ok(dir, 1 << 20);
	assert_int_equal(count_segments(dir), 0);
	spool_stats(sp, &st);
	assert_true(st.next_seq == 52 && st.records == 0 && st.bytes == 0);
	append_ok(sp, 52);
	spool_close(sp);
	assert_int_equal(access(seg_path(dir, 52), F_OK), 0);
	sp = open_ok(dir, 1 << 20);
	assert_records(sp, 0, 52, 52);
	spool_close(sp);
}

/* Ten records in one segment, damaged by damage(), reopened. */
static void
assert_torn(const char *name, void (*damage)(const char *),
    uint64_t last_kept, uint64_t torn)
{
	const char *dir = test_dir(name);
	struct spool_stats st;
	struct spool *sp;

	sp = open_ok(dir, 1 << 20);
	for (uint64_t s = 1; s <= 10; s++)
		append_ok(sp, s);
	spool_close(sp);
	damage(seg_path(dir, 1));
	sp = open_ok(dir, 1 << 20);
	spool_stats(sp, &st);
	if (st.torn != torn)
		fail_msg("%s: %" PRIu64 " bytes cut, expected %" PRIu64, name,
		    st.torn, torn);
	assert_true(st.next_seq == last_kept + 1);
	assert_true(file_size(seg_path(dir, 1)) == record_offset(1,
	    last_kept + 1));
	assert_records(sp, 0, 1, last_kept);
	append_ok(sp, last_kept + 1);
	spool_close(sp);
	sp = open_ok(dir, 1 << 20);
	spool_stats(sp, &st);
	assert_true(st.torn == 0);
	assert_records(sp, 0, 1, last_kept + 1);
	spool_close(sp);
}

static void
cut_mid_record(const char *path)
{
	if (truncate(path, file_size(path) - 5) == -1)
		fail_msg("truncate %s: %s", path, strerror(errno));
}

static void
cut_mid_header(const char *path)
{
	if (truncate(path, record_offset(1, 10) + 7) == -1)
		fail_msg("truncate %s: %s", path, strerror(errno));
}

static void
flip_last_payload(const char *path)
{
	flip_byte(path, file_size(path) - 1);
}

static void
flip_last_seq(const char *path)
{
	flip_byte(path, record_offset(1, 10) + 15);
}

static void
flip_seventh_len(const char *path)
{
	flip_byte(path, record_offset(1, 7) + 1);
}

/* What a file system may show after a crash: zeros past the last write. */
static void
zeros_after(const char *path)
{
	if (truncate(path, file_size(path) + 4096) == -1)
		fail_msg("truncate %s: %s", path, strerror(errno));
}

static void
torn_tail(void **state)
{
	uint8_t buf[400];
	uint64_t last = REC_HDR + payload(10, buf);

	(void)state;
	assert_torn("cut-record", cut_mid_record, 9, last - 5);
	assert_torn("cut-header", cut_mid_header, 9, 7);
	assert_torn("flip-payload", flip_last_payload, 9, last);
	assert_torn("flip-seq", flip_last_seq, 9, last);
	assert_torn("flip-len", flip_seventh_len, 6, record_offset(7, 11));
	assert_torn("zeros", zeros_after, 10, 4096);
}

/* Four segments, of records 1-4, 5-6, 7-8 and 9-12; returns the directory. */
static const char *
four_segments(const char *name)
{
	const char *dir = test_dir(name);
	struct spool *sp = open_ok(dir, 1 << 20);

	spool_set_segment_size(sp, 600);
	for (uint64_t s = 1; s <= 12; s++)
		append_ok(sp, s);
	spool_close(sp);
	assert_int_equal(count_segments(dir), 4);
	assert_true(file_size(seg_path(dir, 5)) == record_offset(5, 7));
	assert_true(file_size(seg_path(dir, 9)) == record_offset(9, 13));
	return dir;
}

static void
assert_refuses(const char *dir, const char *what)
{
	char err[512] = "";
	struct spool *sp = spool_open(dir, 1 << 20, err, sizeof(err));

	if (sp != NULL)
		fail_msg("%s: opened, though %s", dir, what);
	if (strstr(err, what) == NULL)
		fail_msg("%s: error \"%s\" does not say \"%s\"", dir, err, what);
}

/* Damage in a segment that is not the last: no skipping, no opening. */
static void
middle_damage(void **state)
{
	const char *dir;
	char want[PATH_MAX + 64];
	struct spool *sp;

	(void)state;
	dir = four_segments("middle-crc");
	flip_byte(seg_path(dir, 5), record_offset(5, 6) + REC_HDR);
	snprintf(want, sizeof(want), "%s: offset %lld: bad CRC",
	    seg_path(dir, 5), (long long)record_offset(5, 6));
	assert_refuses(dir, want);

	dir = four_segments("middle-cut");
	if (truncate(seg_path(dir, 5), record_offset(5, 6) + 3) == -1)
		fail_msg("truncate: %s", strerror(errno));
	assert_refuses(dir, "record header cut short");

	dir = four_segments("middle-gone");
	if (unlink(seg_path(dir, 5)) == -1)
		fail_msg("unlink: %s", strerror(errno));
	assert_refuses(dir, "records 5 to 6 are missing");

	/* but a gap in acknowledged records is no loss */
	dir = four_segments("acked-gone");
	sp = open_ok(dir, 1 << 20);
	assert_int_equal(spool_ack(sp, 8), 0);
	spool_close(sp);
	assert_int_equal(count_segments(dir), 1);
	sp = open_ok(dir, 1 << 20);
	assert_records(sp, 0, 9, 12);
	spool_close(sp);
}

/* What spool_open refuses besides damage. */
static void
refusals(void **state)
{
	const char *dir = test_dir("refusals");
	char path[PATH_MAX];
	struct spool *sp;
	FILE *f;

	(void)state;
	sp = open_ok(dir, 1 << 20);
	append_ok(sp, 1);
	assert_refuses(dir, "in use by another process");
	spool_close(sp);
	snprintf(path, sizeof(path), "%s/acked", dir);
	if ((f = fopen(path, "w")) == NULL || fputs("12x\n", f) == EOF ||
	    fclose(f) == EOF)
		fail_msg("%s: %s", path, strerror(errno));
	assert_refuses(dir, "acked: not a sequence number");
	unlink(path);
	assert_refuses("/proc/version/spool", "/proc/version/spool");
	sp = open_ok(dir, 1 << 20);
	assert_records(sp, 0, 1, 1);
	spool_close(sp);
}

/*
 * The child appends for ever, syncing every 100 and then telling the
 * parent the last synced number through a pipe, until SIGKILL.
 */
static void __attribute__((noreturn))
crash_child(const char *dir, int out)
{
	struct spool_stats st;
	uint8_t buf[400];
	char err[512];
	struct spool *sp;
	uint64_t seq;

	if ((sp = spool_open(dir, 64 << 20, err, sizeof(err))) == NULL) {
		fprintf(stderr, "crash child: %s\n", err);
		_exit(2);
	}
	spool_set_segment_size(sp, 64 * 1024);
	for (;;) {
		spool_stats(sp, &st);
		if (spool_append(sp, buf, payload(st.next_seq, buf), &seq) ==
		    -1) {
			if (errno != ENOSPC)
				_exit(3);
			usleep(1000);
			continue;
		}
		if (seq % 100 != 0)
			continue;
		if (spool_sync(sp) == -1)
			_exit(4);
		if (write(out, &seq, sizeof(seq)) != sizeof(seq))
			_exit(5);
	}
}

/* Kills one appending child at a random moment; returns the last synced. */
static uint64_t
kill_child(const char *dir)
{
	uint64_t seq, synced = 0;
	int fds[2], status;
	pid_t pid;

	if (pipe(fds) == -1 || (pid = fork()) == -1)
		fail_msg("pipe or fork: %s", strerror(errno));
	if (pid == 0) {
		close(fds[0]);
		crash_child(dir, fds[1]);
	}
	close(fds[1]);
	usleep(2000 + rand() % 60000);
	if (kill(pid, SIGKILL) == -1 || waitpid(pid, &status, 0) == -1)
		fail_msg("kill or wait: %s", strerror(errno));
	if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
		fail_msg("the child ended before SIGKILL, status %d (2: open, "
		    "3: append, 4: sync, 5: pipe)", WEXITSTATUS(status));
	while (read(fds[0], &seq, sizeof(seq)) == sizeof(seq))
		synced = seq;
	close(fds[0]);
	return synced;
}

/*
 * After each kill: every synced record is there once, in order, with its
 * own payload, nothing else follows, and appending goes on from there.
 * Half of what is held is acknowledged each round, so segments go too.
 */
static void
crash(void **state)
{
	const char *dir = test_dir("crash");
	unsigned seed = time(NULL) ^ getpid();
	uint64_t synced, total = 0, torn = 0;
	struct spool_stats st;
	struct spool *sp;

	(void)state;
	srand(seed);
	for (int round = 0; round < 8; round++) {
		synced = kill_child(dir);
		sp = open_ok(dir, 64 << 20);
		spool_stats(sp, &st);
		if (st.next_seq <= synced)
			fail_msg("seed %u round %d: synced up to %" PRIu64
			    " but next_seq is %" PRIu64, seed, round, synced,
			    st.next_seq);
		assert_records(sp, 0, st.acked + 1, st.next_seq - 1);
		append_ok(sp, st.next_seq);
		assert_int_equal(spool_ack(sp, st.acked +
		    (st.next_seq - st.acked) / 2), 0);
		spool_close(sp);
		total = st.next_seq;
		torn += st.torn;
	}
	print_message("crash: seed %u, 8 kills, %" PRIu64 " records, %"
	    PRIu64 " bytes torn\n", seed, total, torn);
	assert_true(total > 8);
}

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int
setup(void **state)
{
	(void)state;
	if (mkdtemp(base) == NULL) {
		fprintf(stderr, "mkdtemp %s: %s\n", base, strerror(errno));
		return -1;
	}
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	return nftw(base, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(crc32c_vector),
		cmocka_unit_test(segments),
		cmocka_unit_test(bound),
		cmocka_unit_test(reopen),
		cmocka_unit_test(torn_tail),
		cmocka_unit_test(middle_damage),
		cmocka_unit_test(refusals),
		cmocka_unit_test(crash),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
