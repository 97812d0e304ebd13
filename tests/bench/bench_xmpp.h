/*
 * What the libstrophe programs of the benchmarks (xmppecho, xmpprelay)
 * share: their socket options, waiting for their connections to come up
 * and to close.
 */
#ifndef XGW_BENCH_XMPP_H
#define XGW_BENCH_XMPP_H

#include <strophe.h>

/* Runs ctx until *up reaches want or bench_quit; exits after 15 s. */
void	 bench_xmpp_up(xmpp_ctx_t *ctx, const int *up, int want,
	    const char *who);
/*
 * Runs ctx until *up is 0, at most 2 s: the streams close, so that the
 * server logs no lost connection.
 */
void	 bench_xmpp_down(xmpp_ctx_t *ctx, const int *up);
/* As the gateways' links: no Nagle, TCP keepalive. */
int	 bench_xmpp_sockopt(xmpp_conn_t *conn, void *sock);

#endif
