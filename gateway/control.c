/*
 * The control socket: one command line per connection ("status", "reload",
 * "tap [ADAPTER]"), answered in text.  status and reload close after their
 * answer; tap stays open and receives one line per verdict.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "xgwd.h"

#define CTL_QUEUE_MAX	(1024 * 1024)	/* a slow tap loses lines, not memory */

int
control_listen(const char *path)
{
	struct sockaddr_un sun;
	mode_t old;
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path))
		fatalx("control socket path too long: %s", path);
	strcpy(sun.sun_path, path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) == -1)
		fatal("control socket");
	if (unlink(path) == -1 && errno != ENOENT)
		fatal("unlink %s", path);
	old = umask(S_IXUSR | S_IXGRP | S_IRWXO);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1)
		fatal("bind %s", path);
	umask(old);
	if (chmod(path, 0660) == -1)
		fatal("chmod %s", path);
	if (listen(fd, 8) == -1)
		fatal("listen %s", path);
	return fd;
}

void
control_close(struct ctl_client *c)
{
	if (c->fd == -1)
		return;
	close(c->fd);
	c->fd = -1;
	free(c->out);
	c->out = NULL;
	c->outlen = c->outcap = 0;
}

void
control_accept(struct xgwd *x)
{
	int fd;

	if ((fd = accept4(x->ctl_fd, NULL, NULL, SOCK_NONBLOCK |
	    SOCK_CLOEXEC)) == -1) {
		if (errno != EAGAIN && errno != EINTR)
			log_warn("control accept");
		return;
	}
	for (int i = 0; i < MAX_CTL_CLIENTS; i++) {
		struct ctl_client *c = &x->ctl[i];

		if (c->fd != -1)
			continue;
		memset(c, 0, sizeof(*c));
		c->fd = fd;
		return;
	}
	log_warnx("control: too many clients");
	close(fd);
}

/* Queues text for a client; a client that does not read loses lines. */
static void
reply(struct ctl_client *c, const char *s)
{
	size_t n = strlen(s);

	if (c->outlen + n > CTL_QUEUE_MAX)
		return;
	if (c->outlen + n > c->outcap) {
		size_t cap = c->outcap ? c->outcap : 4096;
		char *b;

		while (cap < c->outlen + n)
			cap *= 2;
		if ((b = realloc(c->out, cap)) == NULL)
			return;
		c->out = b;
		c->outcap = cap;
	}
	memcpy(c->out + c->outlen, s, n);
	c->outlen += n;
}

static void
command(struct xgwd *x, struct ctl_client *c, char *line)
{
	static char buf[256 * 1024];	/* status: rules, flows, lanes, places */
	char *arg = strchr(line, ' ');

	if (arg != NULL)
		*arg++ = '\0';
	if (strcmp(line, "status") == 0) {
		xgwd_status(x, buf, sizeof(buf));
		reply(c, buf);
	} else if (strcmp(line, "reload") == 0) {
		if (xgwd_reload(x, buf, sizeof(buf)) == 0)
			reply(c, "ok ");
		else
			reply(c, "error ");
		reply(c, buf);
		reply(c, "\n");
	} else if (strcmp(line, "tap") == 0) {
		c->tap = 1;
		c->tap_adapter = -1;
		if (arg != NULL && *arg != '\0') {
			struct adapter_proc *ap = proc_by_proto(x, arg);

			if (ap == NULL) {
				reply(c, "error: no such adapter\n");
				c->tap = 0;
				return;
			}
			c->tap_adapter = ap->id;
		}
		reply(c, "ok tapping\n");
		return;
	} else {
		reply(c, "error: unknown command (status, reload, tap [ADAPTER])\n");
	}
}

void
control_read(struct xgwd *x, struct ctl_client *c)
{
	ssize_t n;
	char *nl;

	n = read(c->fd, c->in + c->inlen, sizeof(c->in) - 1 - c->inlen);
	if (n == 0 || (n == -1 && errno != EAGAIN && errno != EINTR)) {
		control_close(c);
		return;
	}
	if (n < 0)
		return;
	c->inlen += n;
	c->in[c->inlen] = '\0';
	if ((nl = strchr(c->in, '\n')) == NULL) {
		if (c->inlen == sizeof(c->in) - 1)
			control_close(c);
		return;
	}
	*nl = '\0';
	c->inlen = 0;
	command(x, c, c->in);
	control_flush(x, c);
}

void
control_flush(struct xgwd *x, struct ctl_client *c)
{
	ssize_t n;

	(void)x;
	if (c->fd == -1)
		return;
	while (c->outlen > 0) {
		n = write(c->fd, c->out, c->outlen);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			return;
		if (n <= 0) {
			control_close(c);
			return;
		}
		memmove(c->out, c->out + n, c->outlen - n);
		c->outlen -= n;
	}
	if (!c->tap)
		control_close(c);
}

void
control_tap(struct xgwd *x, int adapter, const char *line)
{
	for (int i = 0; i < MAX_CTL_CLIENTS; i++) {
		struct ctl_client *c = &x->ctl[i];

		if (c->fd == -1 || !c->tap ||
		    (c->tap_adapter != -1 && c->tap_adapter != adapter))
			continue;
		reply(c, line);
		reply(c, "\n");
		control_flush(x, c);
	}
}
