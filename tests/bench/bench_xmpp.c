/* The connection waits shared by xmppecho and xmpprelay. */
#include <err.h>

#include "bench.h"
#include "bench_xmpp.h"

#define UP_WAIT_US	(15 * 1000000ULL)
#define DOWN_WAIT_US	2000000

void
bench_xmpp_up(xmpp_ctx_t *ctx, const int *up, int want, const char *who)
{
	uint64_t deadline = bench_now_us() + UP_WAIT_US;

	while (*up < want && !bench_quit) {
		if (bench_now_us() > deadline)
			errx(1, "%s: not connected within %llu s", who,
			    UP_WAIT_US / 1000000);
		xmpp_run_once(ctx, 100);
	}
}

void
bench_xmpp_down(xmpp_ctx_t *ctx, const int *up)
{
	uint64_t deadline = bench_now_us() + DOWN_WAIT_US;

	while (*up > 0 && bench_now_us() < deadline)
		xmpp_run_once(ctx, 100);
}
