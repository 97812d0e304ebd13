/*
 * mbload: closed-loop request/response load over TCP, CLIENTS connections
 * each with one request in flight, COUNT transactions in all after WARMUP
 * unmeasured ones.  Modbus/TCP (read holding registers; every answer is
 * checked against plcsim's register pattern) or, with -P http, keep-alive
 * HTTP/1.1 (GET /dev/hello; every answer must be devsim.py's, byte for
 * byte; the Host field names the unit: u1.bench).  An exception, another
 * status or a wrong answer is an error.
 *
 *   mbload [-P modbus|http] -p PORT -c CLIENTS -n COUNT [-w WARMUP]
 *          [-u UNITS] [-q QTY] [-t SECS]
 *
 * Client i asks unit 1 + i % UNITS (default 1).  Prints one line (see
 * bench_report); exit 1 when the run could not finish within SECS.
 */
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench.h"

#define ADU_MAX	260
#define IN_MAX	1024	/* an answer: an ADU, or an HTTP head and body */

struct client {
	int		 fd;
	uint8_t		 unit;
	uint16_t	 tid;
	int		 busy;
	uint64_t	 sent_us;
	size_t		 nin;
	uint8_t		 in[IN_MAX];
};

struct run {
	struct client	*c;
	unsigned	 nclients;
	int		 http;		/* 0: Modbus/TCP */
	uint16_t	 qty;
	size_t		 issued, done, count;
	uint32_t	*lat;		/* NULL: not measured */
	unsigned long	 errors;
	uint64_t	 deadline_us;
};

static void
dial(struct client *c, uint16_t port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET,
	    .sin_port = htons(port) };
	int one = 1;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((c->fd = socket(AF_INET, SOCK_STREAM, 0)) == -1)
		errx(1, "socket: %s", strerror(errno));
	if (connect(c->fd, (struct sockaddr *)&sin, sizeof(sin)) == -1)
		errx(1, "connect 127.0.0.1 port %u: %s", port, strerror(errno));
	if (setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one,
	    sizeof(one)) == -1 || fcntl(c->fd, F_SETFL, O_NONBLOCK) == -1)
		errx(1, "socket options: %s", strerror(errno));
}

static void
issue(struct run *r, struct client *c)
{
	uint8_t adu[ADU_MAX];
	size_t n = r->http ? bench_http_request((char *)adu, sizeof(adu),
	    c->unit) : bench_request(adu, ++c->tid, c->unit, 0, r->qty);

	c->busy = 1;
	c->sent_us = bench_now_us();
	/* a few bytes into an empty socket buffer: anything short is a fault */
	if (send(c->fd, adu, n, MSG_NOSIGNAL) != (ssize_t)n)
		errx(1, "send: %s", errno ? strerror(errno) : "short write");
	r->issued++;
}

/* Names the first wrong answer of a run. */
static void
unexpected(const struct run *r, const struct client *c, size_t len)
{
	const uint8_t *cr = memchr(c->in, '\r', len);

	if (r->http)
		fprintf(stderr, "mbload: unexpected answer: %.*s\n",
		    (int)(cr != NULL ? (size_t)(cr - c->in) : len), c->in);
	else
		fprintf(stderr, "mbload: unit %u: unexpected answer "
		    "(fc %02x, first byte %02x)\n", c->unit, c->in[7],
		    len > 8 ? c->in[8] : 0);
}

static void
answered(struct run *r, struct client *c, size_t len)
{
	uint8_t adu[ADU_MAX];
	const void *want = r->http ? (const void *)bench_http_response : adu;
	size_t n = r->http ? strlen(bench_http_response) :
	    bench_response(adu, c->tid, c->unit, 0, r->qty);

	if (!c->busy)
		errx(1, "an answer nobody asked for (unit %u)", c->unit);
	if ((len != n || memcmp(c->in, want, n) != 0) && r->errors++ == 0)
		unexpected(r, c, len);
	if (r->lat != NULL)
		r->lat[r->done] = (uint32_t)(bench_now_us() - c->sent_us);
	r->done++;
	c->busy = 0;
	if (r->issued < r->count)
		issue(r, c);
}

/* The length of the whole ADU at the start of c->in, or 0: more to read. */
static size_t
mbap_len(struct client *c)
{
	size_t len;

	if (c->nin < 7)
		return 0;
	len = 6 + (size_t)(c->in[4] << 8 | c->in[5]);
	if (len < 8 || len > ADU_MAX)
		errx(1, "unit %u: not an MBAP header (length %zu)", c->unit,
		    len);
	return c->nin < len ? 0 : len;
}

/*
 * The same for an HTTP answer: its head and Content-Length bytes of body
 * (every answer the benchmark provokes has one, the gateway's 502 and 504
 * included).
 */
static size_t
http_len(struct client *c)
{
	const uint8_t *end = memmem(c->in, c->nin, "\r\n\r\n", 4);
	char head[IN_MAX + 1];
	const char *cl;
	size_t hlen, len;

	if (end == NULL) {
		if (c->nin == sizeof(c->in))
			errx(1, "an answer head longer than %zu bytes", c->nin);
		return 0;
	}
	hlen = (size_t)(end - c->in) + 4;
	memcpy(head, c->in, hlen);
	head[hlen] = '\0';
	if ((cl = strcasestr(head, "\r\nContent-Length:")) == NULL)
		errx(1, "an answer without Content-Length: %.*s",
		    (int)strcspn(head, "\r"), head);
	len = hlen + strtoul(cl + 17, NULL, 10);
	if (len > sizeof(c->in))
		errx(1, "an answer of %zu bytes, more than %zu", len,
		    sizeof(c->in));
	return c->nin < len ? 0 : len;
}

/* Reads what c has; each whole answer completes its transaction. */
static void
readable(struct run *r, struct client *c)
{
	ssize_t got = read(c->fd, c->in + c->nin, sizeof(c->in) - c->nin);
	size_t len;

	if (got == 0)
		errx(1, "unit %u: the server closed the connection", c->unit);
	if (got == -1) {
		if (errno == EAGAIN || errno == EINTR)
			return;
		errx(1, "read: %s", strerror(errno));
	}
	c->nin += (size_t)got;
	while ((len = r->http ? http_len(c) : mbap_len(c)) > 0) {
		answered(r, c, len);
		memmove(c->in, c->in + len, c->nin - len);
		c->nin -= len;
	}
}

static void
run(void *arg, size_t count, uint32_t *lat)
{
	struct pollfd pfd[BENCH_MAX_CLIENTS];
	struct run *r = arg;

	r->count = count;
	r->issued = r->done = 0;
	r->lat = lat;
	for (unsigned i = 0; i < r->nclients && r->issued < count; i++)
		issue(r, &r->c[i]);
	while (r->done < count) {
		if (bench_now_us() > r->deadline_us)
			errx(1, "%zu of %zu transactions unanswered at the "
			    "deadline", count - r->done, count);
		for (unsigned i = 0; i < r->nclients; i++)
			pfd[i] = (struct pollfd){ r->c[i].fd, POLLIN, 0 };
		if (poll(pfd, r->nclients, 1000) == -1 && errno != EINTR)
			errx(1, "poll: %s", strerror(errno));
		for (unsigned i = 0; i < r->nclients; i++)
			if (pfd[i].revents & (POLLIN | POLLHUP | POLLERR))
				readable(r, &r->c[i]);
	}
}

static void
usage(void)
{
	fprintf(stderr, "usage: mbload [-P modbus|http] -p port -c clients "
	    "-n count [-w warmup]\n"
	    "              [-u units] [-q qty] [-t secs]\n");
	exit(2);
}

int
main(int argc, char *argv[])
{
	struct run r = { .qty = 10 };
	struct bench_opts o = { .secs = 300 };
	unsigned long units = 1;
	int ch;

	while ((ch = bench_getopt(&o, argc, argv, "P:c:n:p:q:t:u:w:")) !=
	    -1) {
		switch (ch) {
		case 'P':
			if (strcmp(optarg, "http") != 0 &&
			    strcmp(optarg, "modbus") != 0)
				usage();
			r.http = strcmp(optarg, "http") == 0;
			break;
		case 'c':
			r.nclients = bench_number("c", optarg, 1, BENCH_MAX_CLIENTS);
			break;
		case 'q':
			r.qty = bench_number("q", optarg, 1, 125);
			break;
		case 't':
			o.secs = bench_number("t", optarg, 1, 3600);
			break;
		case 'u':
			units = bench_number("u", optarg, 1, 247);
			break;
		default:
			usage();
		}
	}
	if (o.port == 0 || o.count == 0 || r.nclients == 0 || argc != optind)
		usage();
	if ((r.c = calloc(r.nclients, sizeof(*r.c))) == NULL)
		errx(1, "out of memory");
	for (unsigned i = 0; i < r.nclients; i++) {
		r.c[i].unit = (uint8_t)(1 + i % units);
		dial(&r.c[i], (uint16_t)o.port);
	}
	r.deadline_us = bench_now_us() + o.secs * 1000000ULL;
	bench_measure(&o, run, &r, &r.errors);
	for (unsigned i = 0; i < r.nclients; i++)
		close(r.c[i].fd);
	free(r.c);
	return 0;
}
