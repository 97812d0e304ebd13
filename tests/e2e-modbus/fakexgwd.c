/*
 * fakexgwd: plays xgwd for one adapter, without XMPP and without policy,
 * so that an adapter's client side and device side can be tested against
 * each other and against real peers.
 *
 *   fakexgwd -c BLOCK -u USER [-s STATS] [-e EVENTS] [-F UUID=REASON]...
 *       [-D UUID]... ADAPTER
 *
 * Starts ADAPTER as xgwd does (its socket on fd 3; -i 0 -u USER -g
 * GATEWAY), sends the configuration block read from the file BLOCK, and
 * then loops every request stanza back to the adapter, as if it had
 * crossed the link to the gateway of the device named by its dst, and
 * every response back as the answer.  -F UUID=REASON: requests for UUID
 * get a FRAME_FAIL with REASON (link-down, busy, spool-full); -D UUID:
 * they are dropped, so that the adapter's own timeout answers.  -s STATS:
 * the adapter's last FRAME_STATS is written there.  -e EVENTS: events are
 * taken as xgwd takes them into its spool: each is appended to the file
 * EVENTS, one envelope a line, and confirmed with FRAME_TAKEN; without
 * -e an event is a violation.
 *
 * It checks the contract on the way: a request comes from GATEWAY; a
 * response answers a pending request with its flow and seq, comes from
 * the endpoint asked and goes to GATEWAY; an event comes from an
 * endpoint other than GATEWAY, with a seq above the last of its flow; no
 * frame is bad.  On SIGTERM it
 * closes the adapter's socket, as a vanished xgwd would, and the adapter
 * must exit 0 by itself; it exits 1 if a check failed.
 */
#include <sys/socket.h>
#include <sys/wait.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "frame.h"
#include "xgw_transform.h"

#define GATEWAY		"urn:uuid:5d6c4b3a-2f1e-4d0c-9b8a-7f6e5d4c3b2a"
#define MAX_PENDING	8192
#define MAX_RULES	8
#define MAX_FLOWS	64	/* event flows whose seq is followed */

struct pending {
	uint64_t	 flow, seq;
	char		 dst[46];
	int		 used;
};

static struct pending pending[MAX_PENDING];
static struct { const char *uuid, *reason; } rules[MAX_RULES];
static int nrules, violations, sigfds[2];
static unsigned long long requests, responses, fails, drops, events;
static struct frame_writer wr;
static const char *stats_path;
static FILE *events_file;
static struct { uint64_t flow, seq; } flows[MAX_FLOWS];
static xmpp_ctx_t *ctx;

static void violation(uint64_t, uint64_t, const char *, ...)
    __attribute__((format(printf, 3, 4)));

static void
violation(uint64_t flow, uint64_t seq, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "fakexgwd: VIOLATION flow=%llu seq=%llu: ",
	    (unsigned long long)flow, (unsigned long long)seq);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	violations++;
}

static void
send_frame(uint16_t type, uint64_t flow, uint64_t seq, const char *p)
{
	struct frame f = { type, 0, (uint32_t)strlen(p), flow, seq,
	    (uint8_t *)p };

	if (frame_queue(&wr, &f) == -1) {
		fprintf(stderr, "fakexgwd: frame queue: %s\n", strerror(errno));
		exit(2);
	}
}

static struct pending *
pending_find(uint64_t flow, uint64_t seq)
{
	for (int i = 0; i < MAX_PENDING; i++)
		if (pending[i].used && pending[i].flow == flow &&
		    pending[i].seq == seq)
			return &pending[i];
	return NULL;
}

static void
request(const struct xgw_meta *m, const char *text)
{
	int i;

	requests++;
	if (strcmp(m->src, GATEWAY) != 0)
		violation(m->flow, m->seq,
		    "request from %s, not from this gateway", m->src);
	if (pending_find(m->flow, m->seq) != NULL)
		violation(m->flow, m->seq,
		    "request to %s: flow and seq pending already", m->dst);
	for (i = 0; i < nrules && strcmp(rules[i].uuid, m->dst) != 0; i++)
		;
	if (i < nrules && rules[i].reason == NULL) {
		drops++;
		return;
	}
	if (i < nrules) {
		fails++;
		send_frame(FRAME_FAIL, m->flow, m->seq, rules[i].reason);
		return;
	}
	for (i = 0; i < MAX_PENDING && pending[i].used; i++)
		;
	if (i == MAX_PENDING) {
		fprintf(stderr, "fakexgwd: more than %d requests pending\n",
		    MAX_PENDING);
		exit(2);
	}
	pending[i] = (struct pending){ m->flow, m->seq, "", 1 };
	memcpy(pending[i].dst, m->dst, sizeof(pending[i].dst));
	/* across the link, to the gateway of m->dst: here, the same adapter */
	send_frame(FRAME_STANZA, m->flow, m->seq, text);
}

static void
response(const struct xgw_meta *m, const char *text)
{
	struct pending *p = pending_find(m->flow, m->seq);

	responses++;
	if (p == NULL) {
		violation(m->flow, m->seq,
		    "response from %s to no pending request", m->src);
		return;
	}
	if (strcmp(m->src, p->dst) != 0)
		violation(m->flow, m->seq,
		    "response from %s, not from the endpoint asked", m->src);
	if (strcmp(m->dst, GATEWAY) != 0)
		violation(m->flow, m->seq,
		    "response to %s, not to the gateway that asked", m->dst);
	p->used = 0;
	send_frame(FRAME_STANZA, m->flow, m->seq, text);
}

/* An event, taken as xgwd takes it once it is in the spool. */
static void
event(const struct xgw_meta *m, const char *text)
{
	int i;

	events++;
	if (m->src[0] == '\0' || strcmp(m->src, GATEWAY) == 0)
		violation(m->flow, m->seq, "event from \"%s\", not from an "
		    "endpoint of the adapter", m->src);
	for (i = 0; i < MAX_FLOWS && flows[i].flow != 0 &&
	    flows[i].flow != m->flow; i++)
		;
	if (i < MAX_FLOWS) {
		if (m->seq <= flows[i].seq)
			violation(m->flow, m->seq, "event seq after %llu",
			    (unsigned long long)flows[i].seq);
		flows[i].flow = m->flow;
		flows[i].seq = m->seq;
	}
	fprintf(events_file, "%s\n", text);
	fflush(events_file);
	send_frame(FRAME_TAKEN, m->flow, m->seq, "");
}

static void
stanza(const struct frame *f)
{
	const char *text = (const char *)f->payload;
	xmpp_stanza_t *env, *el;
	struct xgw_meta m;
	struct xgw_err e;

	if ((env = xmpp_stanza_new_from_string(ctx, text)) == NULL ||
	    xgw_envelope_parse(env, &m, &el, &e) == -1) {
		violation(f->flow, f->seq, "bad stanza: %s",
		    env ? e.msg : "not XML");
	} else if (m.flow != f->flow || m.seq != f->seq) {
		violation(f->flow, f->seq,
		    "envelope and frame disagree on flow/seq");
	} else if (m.dir == XGW_REQUEST)
		request(&m, text);
	else if (m.dir == XGW_RESPONSE)
		response(&m, text);
	else if (events_file != NULL)
		event(&m, text);
	else
		violation(f->flow, f->seq,
		    "an event from an adapter that sends none");
	if (env != NULL)
		xmpp_stanza_release(env);
}

static void
stats(const char *kv)
{
	FILE *f;

	if (stats_path == NULL || (f = fopen(stats_path, "w")) == NULL)
		return;
	fputs(kv, f);
	fclose(f);
}

/* Frames from the adapter; 0 when it is gone. */
static int
input(struct frame_reader *rd, int fd)
{
	const char *why;
	struct frame f;
	int rc;

	while ((rc = frame_read(rd, fd, &f, &why)) == 1) {
		switch (f.type) {
		case FRAME_HELLO:
			if (strncmp((const char *)f.payload, "xgw-", 4) != 0)
				violation(0, 0, "hello \"%s\"",
				    (const char *)f.payload);
			break;
		case FRAME_READY:
			fprintf(stderr, "fakexgwd: adapter ready\n");
			break;
		case FRAME_STATS:
			stats((const char *)f.payload);
			break;
		case FRAME_STANZA:
			stanza(&f);
			break;
		default:
			violation(f.flow, f.seq, "a %s frame from the adapter",
			    frame_type_name(f.type));
		}
	}
	if (rc == -1 && strcmp(why, "eof") != 0)
		violation(0, 0, "bad frame: %s", why);
	return rc != -1;
}

static void
on_signal(int sig)
{
	unsigned char c = sig;

	(void)write(sigfds[1], &c, 1);
}

static char *
read_block(const char *path)
{
	static char buf[FRAME_MAX + 1];
	size_t n;
	FILE *f;

	if ((f = fopen(path, "r")) == NULL) {
		fprintf(stderr, "fakexgwd: %s: %s\n", path, strerror(errno));
		exit(2);
	}
	n = fread(buf, 1, FRAME_MAX, f);
	fclose(f);
	buf[n] = '\0';
	return buf;
}

static pid_t
start(const char *adapter, const char *user, int *fd)
{
	int sv[2];
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1) {
		perror("fakexgwd: socketpair");
		exit(2);
	}
	if ((pid = fork()) == -1) {
		perror("fakexgwd: fork");
		exit(2);
	}
	if (pid == 0) {
		if (dup2(sv[1], 3) == -1)
			_exit(127);
		execl(adapter, adapter, "-i", "0", "-u", user, "-g", GATEWAY,
		    (char *)NULL);
		fprintf(stderr, "fakexgwd: exec %s: %s\n", adapter,
		    strerror(errno));
		_exit(127);
	}
	close(sv[1]);
	fcntl(sv[0], F_SETFL, O_NONBLOCK);
	*fd = sv[0];
	return pid;
}

/*
 * As xgwd going away: the adapter must see its socket close and exit 0 by
 * itself (under ASan, that is also when leaks are reported).
 */
static void
stop(pid_t pid, int fd)
{
	int status, i;

	close(fd);
	for (i = 0; i < 500 && waitpid(pid, &status, WNOHANG) == 0; i++)
		usleep(10000);
	if (i == 500) {
		violation(0, 0, "the adapter still runs 5s after its socket "
		    "closed");
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
	} else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		violation(0, 0, "the adapter ended with %s %d",
		    WIFSIGNALED(status) ? "signal" : "status",
		    WIFSIGNALED(status) ? WTERMSIG(status) :
		    WEXITSTATUS(status));
}

static void
usage(void)
{
	fprintf(stderr, "usage: fakexgwd -c block -u user [-s stats] "
	    "[-e events] [-F uuid=reason]... [-D uuid]... adapter\n");
	exit(2);
}

int
main(int argc, char *argv[])
{
	struct frame_reader rd = { 0 };
	const char *block = NULL, *user = NULL;
	struct pollfd pfd[2];
	int ch, fd, up = 1;
	char *eq;
	pid_t pid;

	while ((ch = getopt(argc, argv, "c:D:e:F:s:u:")) != -1) {
		switch (ch) {
		case 'c':
			block = optarg;
			break;
		case 'e':
			if ((events_file = fopen(optarg, "w")) == NULL) {
				fprintf(stderr, "fakexgwd: %s: %s\n", optarg,
				    strerror(errno));
				return 2;
			}
			break;
		case 'D':
		case 'F':
			if (nrules == MAX_RULES)
				usage();
			rules[nrules].uuid = optarg;
			if (ch == 'F') {
				if ((eq = strchr(optarg, '=')) == NULL)
					usage();
				*eq = '\0';
				rules[nrules].reason = eq + 1;
			}
			nrules++;
			break;
		case 's':
			stats_path = optarg;
			break;
		case 'u':
			user = optarg;
			break;
		default:
			usage();
		}
	}
	if (block == NULL || user == NULL || optind != argc - 1)
		usage();
	if (pipe2(sigfds, O_NONBLOCK | O_CLOEXEC) == -1) {
		perror("fakexgwd: pipe");
		return 2;
	}
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	signal(SIGPIPE, SIG_IGN);
	xmpp_initialize();
	ctx = xmpp_ctx_new(NULL, NULL);
	pid = start(argv[optind], user, &fd);
	send_frame(FRAME_CONFIG, 0, 0, read_block(block));
	while (up) {
		pfd[0] = (struct pollfd){ fd, POLLIN |
		    (frame_pending(&wr) ? POLLOUT : 0), 0 };
		pfd[1] = (struct pollfd){ sigfds[0], POLLIN, 0 };
		if (poll(pfd, 2, -1) == -1 && errno != EINTR)
			break;
		if (pfd[1].revents & POLLIN)
			break;
		if (pfd[0].revents & (POLLIN | POLLHUP | POLLERR))
			up = input(&rd, fd);
		if (up && frame_pending(&wr) && frame_flush(&wr, fd) == -1)
			up = 0;
	}
	if (!up)
		violation(0, 0, "the adapter ended on its own");
	stop(pid, fd);
	frame_reader_free(&rd);
	frame_writer_free(&wr);
	xmpp_ctx_free(ctx);
	xmpp_shutdown();
	fprintf(stderr, "fakexgwd: requests %llu responses %llu fails %llu "
	    "drops %llu events %llu violations %d\n", requests, responses,
	    fails, drops, events, violations);
	return violations > 0;
}
