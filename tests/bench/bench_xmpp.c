/* What xmppecho and xmpprelay share: socket options, connection waits. */
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

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

/* Stanzas are small and answered at once: Nagle would hold them back. */
int
bench_xmpp_sockopt(xmpp_conn_t *conn, void *sock)
{
	int one = 1;

	if (setsockopt(*(int *)sock, IPPROTO_TCP, TCP_NODELAY, &one,
	    sizeof(one)) == -1)
		errx(1, "TCP_NODELAY failed");
	return xmpp_sockopt_cb_keepalive(conn, sock);
}
