/* What the load generators share (bench.h). */
#include <err.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

/* plcsim's holding registers: address * 7 + 1 */
#define PLC_REG(a)	((uint16_t)((a) * 7 + 1))

static size_t
mbap(uint8_t *adu, uint16_t tid, uint8_t unit, size_t pdulen)
{
	adu[0] = tid >> 8;
	adu[1] = tid & 0xff;
	adu[2] = adu[3] = 0;
	adu[4] = (pdulen + 1) >> 8;
	adu[5] = (pdulen + 1) & 0xff;
	adu[6] = unit;
	return 7 + pdulen;
}

size_t
bench_request(uint8_t *adu, uint16_t tid, uint8_t unit, uint16_t addr,
    uint16_t qty)
{
	adu[7] = 3;
	adu[8] = addr >> 8;
	adu[9] = addr & 0xff;
	adu[10] = qty >> 8;
	adu[11] = qty & 0xff;
	return mbap(adu, tid, unit, 5);
}

/* qty at most 125 (the protocol's bound), so the answer fits 260 bytes */
size_t
bench_response(uint8_t *adu, uint16_t tid, uint8_t unit, uint16_t addr,
    uint16_t qty)
{
	adu[7] = 3;
	adu[8] = (uint8_t)(2 * qty);
	for (unsigned i = 0; i < qty; i++) {
		uint16_t v = PLC_REG(addr + i);

		adu[9 + 2 * i] = v >> 8;
		adu[10 + 2 * i] = v & 0xff;
	}
	return mbap(adu, tid, unit, 2 + 2 * (size_t)qty);
}

/* len is at least 64: the longest request is 46 bytes */
size_t
bench_http_request(char *buf, size_t len, unsigned unit)
{
	return (size_t)snprintf(buf, len,
	    "GET /dev/hello HTTP/1.1\r\nHost: u%u.bench\r\n\r\n", unit);
}

const char bench_http_response[] =
    "HTTP/1.1 200 OK\r\nServer: devsim\r\nX-Odd:  two  spaces \r\n"
    "Content-Length: 13\r\nContent-Type: text/plain\r\n\r\n"
    "hello, world\n";

uint64_t
bench_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

unsigned long
bench_number(const char *opt, const char *s, unsigned long lo,
    unsigned long hi)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi) {
		fprintf(stderr, "-%s %s: expected a number from %lu to %lu\n",
		    opt, s, lo, hi);
		exit(2);
	}
	return v;
}

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

/* The nearest-rank percentile of a sorted array. */
static uint32_t
pct(const uint32_t *us, size_t n, unsigned p)
{
	size_t rank = (n * p + 99) / 100;

	return us[rank > 0 ? rank - 1 : 0];
}

void
bench_report(uint32_t *us, size_t n, uint64_t elapsed_us,
    unsigned long errors)
{
	double secs = (double)elapsed_us / 1e6;

	qsort(us, n, sizeof(*us), cmp_u32);
	printf("transactions=%zu seconds=%.3f tps=%.1f p50_us=%u p99_us=%u "
	    "errors=%lu\n", n, secs, secs > 0 ? (double)n / secs : 0.0,
	    n ? pct(us, n, 50) : 0, n ? pct(us, n, 99) : 0, errors);
	fflush(stdout);
}

int
bench_getopt(struct bench_opts *o, int argc, char *argv[],
    const char *optstring)
{
	int ch;

	while ((ch = getopt(argc, argv, optstring)) != -1) {
		switch (ch) {
		case 'n':
			o->count = bench_number("n", optarg, 1,
			    BENCH_MAX_COUNT);
			break;
		case 'w':
			o->warmup = bench_number("w", optarg, 0,
			    BENCH_MAX_COUNT);
			break;
		case 'T':
			o->secs = bench_number("T", optarg, 1, 3600);
			break;
		case 'p':
			o->port = bench_number("p", optarg, 1, 65535);
			break;
		default:
			return ch;
		}
	}
	return -1;
}

void
bench_measure(const struct bench_opts *o, bench_run_fn *run, void *arg,
    unsigned long *errors)
{
	uint32_t *lat;
	uint64_t t0;

	if ((lat = calloc(o->count, sizeof(*lat))) == NULL)
		errx(1, "out of memory");
	run(arg, o->warmup, NULL);
	*errors = 0;
	t0 = bench_now_us();
	run(arg, o->count, lat);
	bench_report(lat, o->count, bench_now_us() - t0, *errors);
	free(lat);
}

volatile sig_atomic_t bench_quit;

static void
on_term(int sig)
{
	(void)sig;
	bench_quit = 1;
}

void
bench_signals(void)
{
	signal(SIGPIPE, SIG_IGN);
	signal(SIGTERM, on_term);
	signal(SIGINT, on_term);
}
