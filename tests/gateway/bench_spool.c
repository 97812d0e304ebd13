/*
 * Spool throughput: N appends of SIZE-byte records with spool_sync every
 * BATCH, reading them all back, reopening (the full scan), and acking
 * them BATCH at a time.
 * Run by hand: bench_spool DIR [N [SIZE [BATCH]]]; DIR must not exist.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "spool.h"

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int
main(int argc, char *argv[])
{
	uint64_t n = argc > 2 ? strtoull(argv[2], NULL, 10) : 100000;
	size_t size = argc > 3 ? strtoul(argv[3], NULL, 10) : 200;
	uint64_t batch = argc > 4 ? strtoull(argv[4], NULL, 10) : 100;
	uint8_t rec[SPOOL_RECORD_MAX];
	const uint8_t *p;
	struct spool *sp;
	uint64_t seq = 0;
	char err[512];
	double t0, t1, t2, t3, t4;
	size_t len;

	if (argc < 2 || size > sizeof(rec) || batch == 0) {
		fprintf(stderr, "usage: bench_spool DIR [N [SIZE [BATCH]]]\n");
		return 2;
	}
	memset(rec, 'e', size);
	if ((sp = spool_open(argv[1], UINT64_MAX, err, sizeof(err))) == NULL) {
		fprintf(stderr, "bench_spool: %s\n", err);
		return 1;
	}
	t0 = now();
	for (uint64_t i = 1; i <= n; i++)
		if (spool_append(sp, rec, size, &seq) == -1 ||
		    (i % batch == 0 && spool_sync(sp) == -1)) {
			perror("bench_spool: append or sync");
			return 1;
		}
	spool_sync(sp);
	t1 = now();
	for (seq = 0; spool_next(sp, seq, &seq, &p, &len) == 1;)
		;
	t2 = now();
	spool_close(sp);
	if ((sp = spool_open(argv[1], UINT64_MAX, err, sizeof(err))) == NULL) {
		fprintf(stderr, "bench_spool: reopen: %s\n", err);
		return 1;
	}
	t3 = now();
	for (uint64_t i = batch; i <= n; i += batch)
		if (spool_ack(sp, i) == -1) {
			perror("bench_spool: ack");
			return 1;
		}
	t4 = now();
	spool_close(sp);
	printf("%llu records of %zu bytes, sync every %llu: append %.0f/s "
	    "(%.1f MB/s), read %.0f/s, reopen scan %.3f s, acks %.0f/s\n",
	    (unsigned long long)n, size, (unsigned long long)batch,
	    n / (t1 - t0), n * (size + 16) / (t1 - t0) / 1e6, n / (t2 - t1),
	    t3 - t2, n / batch / (t4 - t3));
	return seq == n ? 0 : 1;
}
