/*
 * Adapter processes: one per configured protocol, started with fork and
 * exec over a socketpair (the adapter's end is fd 3), restarted with
 * backoff when they die, stopped on exit.  A peer that sends a bad frame
 * is cut off and restarted; the daemon and the other adapters go on.
 */
#include <sys/socket.h>
#include <sys/wait.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "xgwd.h"

#define BACKOFF_MIN_MS	500
#define BACKOFF_MAX_MS	60000
#define STABLE_MS	60000	/* up this long, the next failure starts over */

static void
set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl == -1 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) == -1)
		fatal("fcntl");
}

int
proc_send(struct adapter_proc *ap, uint16_t type, uint64_t flow, uint64_t seq,
    const void *p, size_t len)
{
	struct frame f = { type, (uint16_t)ap->id, (uint32_t)len, flow, seq,
	    (uint8_t *)p };

	if (ap->fd == -1 || len > FRAME_MAX || frame_queue(&ap->wr, &f) == -1)
		return -1;
	ap->frames_out++;
	return 0;
}

void
proc_start(struct xgwd *x, struct adapter_proc *ap)
{
	static char text[FRAME_MAX];
	char path[PATH_MAX], id[12];
	int sv[2], len;
	pid_t pid;

	snprintf(path, sizeof(path), "%s/xgw-%s", x->adapter_dir,
	    ap->conf->proto);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1)
		fatal("socketpair");
	switch (pid = fork()) {
	case -1:
		fatal("fork");
	case 0:
		/* dup2 clears close-on-exec on the adapter's end only */
		if (dup2(sv[1], 3) == -1)
			_exit(127);
		snprintf(id, sizeof(id), "%d", ap->id);
		execl(path, path, "-i", id, "-u", x->conf->user, "-g",
		    ap->endpoint, (char *)NULL);
		fprintf(stderr, "<3>xgwd: exec %s: %s\n", path, strerror(errno));
		_exit(127);
	}
	close(sv[1]);
	set_nonblock(sv[0]);
	ap->fd = sv[0];
	ap->pid = pid;
	ap->ready = 0;
	ap->started_ms = now_ms();
	ap->restart_at_ms = 0;
	len = conf_print_adapter(ap->conf, text, sizeof(text));
	if (len < 0 || proc_send(ap, FRAME_CONFIG, 0, 0, text, len) == -1)
		fatalx("adapter %s: configuration does not fit a frame",
		    ap->conf->proto);
	log_info("adapter=%s pid=%d started", ap->conf->proto, (int)pid);
}

void
proc_start_all(struct xgwd *x)
{
	char text[128];

	x->nadapters = x->conf->nadapters;
	for (int i = 0; i < x->nadapters; i++) {
		struct adapter_proc *ap = &x->adapters[i];

		memset(ap, 0, sizeof(*ap));
		ap->conf = &x->conf->adapters[i];
		ap->id = i;
		/* the client side's identity: stable, derived, never an address */
		snprintf(text, sizeof(text), "%s/%s", x->uuid, ap->conf->proto);
		xgw_uuid_name(text, ap->endpoint);
		ap->fd = -1;
		ap->backoff_ms = BACKOFF_MIN_MS;
		proc_start(x, ap);
	}
}

/* Cuts the connection; the process is told to stop and restarted when reaped. */
void
proc_close(struct xgwd *x, struct adapter_proc *ap, const char *why)
{
	if (ap->fd == -1)
		return;
	xgwd_adapter_gone(x, ap);
	log_warnx("adapter=%s pid=%d connection closed: %s", ap->conf->proto,
	    (int)ap->pid, why);
	close(ap->fd);
	ap->fd = -1;
	frame_reader_free(&ap->rd);
	frame_writer_free(&ap->wr);
	if (ap->pid > 0)
		kill(ap->pid, SIGTERM);
}

static void
schedule_restart(struct adapter_proc *ap)
{
	uint64_t now = now_ms();

	if (now - ap->started_ms >= STABLE_MS)
		ap->backoff_ms = BACKOFF_MIN_MS;
	ap->restart_at_ms = now + ap->backoff_ms;
	log_info("adapter=%s restart in %ums", ap->conf->proto, ap->backoff_ms);
	ap->backoff_ms = ap->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS :
	    ap->backoff_ms * 2;
}

void
proc_reap(struct xgwd *x)
{
	pid_t pid;
	int st;

	while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
		for (int i = 0; i < x->nadapters; i++) {
			struct adapter_proc *ap = &x->adapters[i];

			if (ap->pid != pid)
				continue;
			if (WIFSIGNALED(st))
				log_warnx("adapter=%s pid=%d killed by signal %d",
				    ap->conf->proto, (int)pid, WTERMSIG(st));
			else
				log_warnx("adapter=%s pid=%d exited with status %d",
				    ap->conf->proto, (int)pid, WEXITSTATUS(st));
			ap->pid = 0;
			proc_close(x, ap, "process ended");
			if (!x->quit) {
				ap->restarts++;
				schedule_restart(ap);
			}
		}
	}
}

int
proc_timeout_ms(const struct xgwd *x)
{
	uint64_t now = now_ms();
	int t = -1;

	for (int i = 0; i < x->nadapters; i++) {
		const struct adapter_proc *ap = &x->adapters[i];
		int d;

		if (ap->restart_at_ms == 0)
			continue;
		d = ap->restart_at_ms <= now ? 0 : (int)(ap->restart_at_ms - now);
		if (t == -1 || d < t)
			t = d;
	}
	return t;
}

void
proc_timers(struct xgwd *x)
{
	uint64_t now = now_ms();

	for (int i = 0; i < x->nadapters; i++) {
		struct adapter_proc *ap = &x->adapters[i];

		if (ap->restart_at_ms != 0 && ap->restart_at_ms <= now &&
		    ap->pid == 0)
			proc_start(x, ap);
	}
}

void
proc_stop_all(struct xgwd *x)
{
	uint64_t deadline = now_ms() + 2000;
	int alive;

	for (int i = 0; i < x->nadapters; i++)
		if (x->adapters[i].pid > 0)
			kill(x->adapters[i].pid, SIGTERM);
	do {
		proc_reap(x);
		alive = 0;
		for (int i = 0; i < x->nadapters; i++)
			alive += x->adapters[i].pid > 0;
		if (alive)
			usleep(20000);
	} while (alive && now_ms() < deadline);
	for (int i = 0; i < x->nadapters; i++)
		if (x->adapters[i].pid > 0) {
			kill(x->adapters[i].pid, SIGKILL);
			waitpid(x->adapters[i].pid, NULL, 0);
			x->adapters[i].pid = 0;
		}
	for (int i = 0; i < x->nadapters; i++)
		proc_close(x, &x->adapters[i], "stopping");
}

struct adapter_proc *
proc_by_proto(struct xgwd *x, const char *proto)
{
	for (int i = 0; i < x->nadapters; i++)
		if (strcmp(x->adapters[i].conf->proto, proto) == 0)
			return &x->adapters[i];
	return NULL;
}
