/*
 * Plays xgwd for one adapter on a socketpair, so that the adapter's two
 * sides can be tested against real CoAP peers without an XMPP server:
 *
 *   fakexgwd -p
 *       prints a free UDP port on 127.0.0.1 and exits
 *   fakexgwd ADAPTER CONF RECORD STATS USER
 *       starts ADAPTER with its end on fd 3, sends CONF (one adapter block)
 *       as FRAME_CONFIG, and loops every stanza back: a request goes back
 *       as the request for the device it names (the adapter's device side
 *       serves it), a response or an event back to the client side, as the
 *       two gateways and the broker would carry them.  A request whose
 *       URI query is
 *           xgw=fail   is refused with FRAME_FAIL "link-down" (5.02)
 *           xgw=drop   is never answered (the runtime's timeout: 5.04)
 *           xgw=slow   is held for SLOW_MS first (a separate response)
 *       Each stanza is appended to RECORD as "DIR FLOW SEQ XML"; the
 *       adapter's latest FRAME_STATS replaces STATS.  It ends with the
 *       adapter (status 1), or on SIGTERM, when it closes the adapter's
 *       socket and exits 0 if the adapter then exits 0 by itself.
 */
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "frame.h"
#include "xgw_transform.h"

#define GATEWAY		"urn:uuid:5d1c8e5a-3b7f-4c2a-9e1d-0f2a3b4c5d6e"
#define SLOW_MS		1500
#define HELD_MAX	64
#define STOP_MS		5000

struct held {
	uint64_t	 at;
	struct frame	 f;
};

static struct frame_writer wr = { .limit = 64 * 1024 * 1024 };
static struct held held[HELD_MAX];
static volatile sig_atomic_t quit;
static xmpp_ctx_t *ctx;
static FILE *record;
static const char *stats_path;
static int fd = -1;

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
die(const char *what)
{
	fprintf(stderr, "fakexgwd: %s: %s\n", what, strerror(errno));
	exit(1);
}

static int
free_port(void)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);
	int s = socket(AF_INET, SOCK_DGRAM, 0);

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (s == -1 || bind(s, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    getsockname(s, (struct sockaddr *)&sin, &len) == -1)
		die("a free UDP port on 127.0.0.1");
	printf("%u\n", ntohs(sin.sin_port));
	close(s);
	return 0;
}

static void
queue(uint16_t type, uint64_t flow, uint64_t seq, const void *p, size_t len)
{
	struct frame f = { type, 0, (uint32_t)len, flow, seq, (uint8_t *)p };

	if (frame_queue(&wr, &f) == -1)
		die("frame to the adapter");
}

static void
save_stats(const struct frame *f)
{
	char tmp[4096];
	FILE *s;

	snprintf(tmp, sizeof(tmp), "%s.new", stats_path);
	if ((s = fopen(tmp, "w")) == NULL ||
	    fwrite(f->payload, 1, f->len, s) != f->len || fclose(s) != 0 ||
	    rename(tmp, stats_path) == -1)
		die(stats_path);
}

static void
hold(const struct frame *f)
{
	for (int i = 0; i < HELD_MAX; i++)
		if (held[i].at == 0) {
			held[i].at = now_ms() + SLOW_MS;
			held[i].f = *f;
			if ((held[i].f.payload = malloc(f->len)) == NULL)
				die("hold");
			memcpy(held[i].f.payload, f->payload, f->len);
			return;
		}
	fprintf(stderr, "fakexgwd: more than %d requests held\n", HELD_MAX);
	exit(1);
}

static void
release_held(void)
{
	uint64_t now = now_ms();

	for (int i = 0; i < HELD_MAX; i++)
		if (held[i].at != 0 && held[i].at <= now) {
			queue(FRAME_STANZA, held[i].f.flow, held[i].f.seq,
			    held[i].f.payload, held[i].f.len);
			free(held[i].f.payload);
			held[i].at = 0;
		}
}

/* The URI query marker of a request: "fail", "drop", "slow" or NULL. */
static const char *
marker(xmpp_stanza_t *el)
{
	static const char *const kinds[] = { "fail", "drop", "slow" };
	xmpp_stanza_t *c;
	const char *num, *v;

	for (c = xmpp_stanza_get_children(el); c != NULL;
	    c = xmpp_stanza_get_next(c))
		if ((num = xmpp_stanza_get_attribute(c, "num")) != NULL &&
		    strcmp(num, "15") == 0 &&
		    (v = xmpp_stanza_get_attribute(c, "value")) != NULL &&
		    strncmp(v, "xgw=", 4) == 0)
			for (size_t i = 0; i < 3; i++)
				if (strcmp(v + 4, kinds[i]) == 0)
					return kinds[i];
	return NULL;
}

static void
stanza(const struct frame *f)
{
	xmpp_stanza_t *env, *el;
	struct xgw_meta m;
	struct xgw_err e;
	const char *mk;

	if ((env = xmpp_stanza_new_from_string(ctx,
	    (const char *)f->payload)) == NULL ||
	    xgw_envelope_parse(env, &m, &el, &e) == -1) {
		fprintf(stderr, "fakexgwd: bad stanza from the adapter: %s\n",
		    env ? e.msg : "not XML");
		exit(1);
	}
	fprintf(record, "%s %llu %llu %s\n", xgw_dir_name(m.dir),
	    (unsigned long long)f->flow, (unsigned long long)f->seq,
	    (const char *)f->payload);
	fflush(record);
	mk = m.dir == XGW_REQUEST ? marker(el) : NULL;
	if (mk != NULL && strcmp(mk, "fail") == 0)
		queue(FRAME_FAIL, f->flow, f->seq, "link-down", 9);
	else if (mk != NULL && strcmp(mk, "slow") == 0)
		hold(f);
	else if (mk == NULL)
		queue(FRAME_STANZA, f->flow, f->seq, f->payload, f->len);
	if (m.dir == XGW_EVENT)
		queue(FRAME_TAKEN, f->flow, f->seq, "", 0);
	xmpp_stanza_release(env);
}

static void
on_term(int sig)
{
	(void)sig;
	quit = 1;
}

static pid_t
start(const char *adapter, const char *user)
{
	int sv[2];
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1)
		die("socketpair");
	if ((pid = fork()) == -1)
		die("fork");
	if (pid == 0) {
		if (dup2(sv[1], 3) == -1)
			_exit(127);
		execl(adapter, adapter, "-v", "-i", "0", "-u", user, "-g",
		    GATEWAY, (char *)NULL);
		fprintf(stderr, "fakexgwd: exec %s: %s\n", adapter,
		    strerror(errno));
		_exit(127);
	}
	close(sv[1]);
	fd = sv[0];
	if (fcntl(fd, F_SETFL, O_NONBLOCK) == -1)
		die("fcntl");
	return pid;
}

static char *
slurp(const char *path, size_t *len)
{
	static char buf[FRAME_MAX];
	FILE *f = fopen(path, "r");

	if (f == NULL)
		die(path);
	*len = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[*len] = '\0';
	return buf;
}

/*
 * As xgwd stops an adapter: the socket closes, and the adapter must end
 * by itself, with status 0 (a sanitizer's leak report makes it 23).
 */
static int
stop(pid_t pid)
{
	int st;

	close(fd);
	for (int i = 0; i < STOP_MS / 10; i++) {
		if (waitpid(pid, &st, WNOHANG) == pid) {
			if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
				return 0;
			fprintf(stderr, "fakexgwd: adapter ended with %s %d\n",
			    WIFEXITED(st) ? "status" : "signal",
			    WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
			return 1;
		}
		usleep(10000);
	}
	fprintf(stderr, "fakexgwd: adapter still running %dms after its "
	    "socket closed\n", STOP_MS);
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	return 1;
}

static int
relay(pid_t pid)
{
	struct frame_reader rd = { 0 };
	const char *why;
	struct frame f;
	int rc;

	while (!quit) {
		struct pollfd p = { fd, POLLIN | (frame_pending(&wr) ? POLLOUT :
		    0), 0 };

		if (poll(&p, 1, 50) == -1 && errno != EINTR)
			die("poll");
		while ((rc = frame_read(&rd, fd, &f, &why)) == 1) {
			if (f.type == FRAME_STATS)
				save_stats(&f);
			else if (f.type == FRAME_STANZA)
				stanza(&f);
			else {
				fprintf(record, "%s %s\n", frame_type_name(f.type),
				    (const char *)f.payload);
				fflush(record);
			}
		}
		if (rc == -1) {
			fprintf(stderr, "fakexgwd: adapter connection: %s\n", why);
			break;
		}
		release_held();
		if (frame_pending(&wr) && frame_flush(&wr, fd) == -1)
			break;
	}
	frame_reader_free(&rd);
	return quit ? stop(pid) : 1;
}

int
main(int argc, char *argv[])
{
	size_t len;
	char *conf;
	pid_t pid;

	if (argc == 2 && strcmp(argv[1], "-p") == 0)
		return free_port();
	if (argc != 6) {
		fprintf(stderr, "usage: fakexgwd -p | fakexgwd ADAPTER CONF "
		    "RECORD STATS USER\n");
		return 2;
	}
	signal(SIGTERM, on_term);
	signal(SIGINT, on_term);
	signal(SIGPIPE, SIG_IGN);
	stats_path = argv[4];
	if ((record = fopen(argv[3], "w")) == NULL)
		die(argv[3]);
	xmpp_initialize();
	if ((ctx = xmpp_ctx_new(NULL, NULL)) == NULL)
		die("xmpp_ctx_new");
	conf = slurp(argv[2], &len);
	pid = start(argv[1], argv[5]);
	queue(FRAME_CONFIG, 0, 0, conf, len);
	return relay(pid);
}
