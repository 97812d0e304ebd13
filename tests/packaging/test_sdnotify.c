/*
 * sdnotify against a real datagram socket, as systemd listens: a path and
 * an abstract name, the exact bytes received, the sender's credentials
 * (systemd's NotifyAccess=main checks the pid), the refusals (no such
 * socket, a name systemd never gives, a message too long), no descriptor
 * left open, and the watchdog interval from the environment.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "sdnotify.h"

struct listener {
	int	 fd;
	char	 name[108];	/* as $NOTIFY_SOCKET spells it */
	char	 dir[64];	/* for a path socket, else "" */
};

/* Binds a datagram socket that passes credentials, and points $NOTIFY_SOCKET at it. */
static void
listen_on(struct listener *l, int abstract)
{
	struct sockaddr_un sun;
	socklen_t len;
	int on = 1;

	memset(l, 0, sizeof(*l));
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (abstract) {
		snprintf(l->name, sizeof(l->name), "@xgw-test-sdnotify-%ld",
		    (long)getpid());
		memcpy(sun.sun_path, l->name, strlen(l->name));
		sun.sun_path[0] = '\0';
		len = offsetof(struct sockaddr_un, sun_path) + strlen(l->name);
	} else {
		snprintf(l->dir, sizeof(l->dir), "/tmp/xgw-sdnotify.XXXXXX");
		if (mkdtemp(l->dir) == NULL)
			fail_msg("mkdtemp: %s", strerror(errno));
		snprintf(l->name, sizeof(l->name), "%s/notify", l->dir);
		strcpy(sun.sun_path, l->name);
		len = sizeof(sun);
	}
	if ((l->fd = socket(AF_UNIX, SOCK_DGRAM, 0)) == -1 ||
	    setsockopt(l->fd, SOL_SOCKET, SO_PASSCRED, &on, sizeof(on)) == -1 ||
	    bind(l->fd, (struct sockaddr *)&sun, len) == -1)
		fail_msg("listener %s: %s", l->name, strerror(errno));
	assert_int_equal(setenv("NOTIFY_SOCKET", l->name, 1), 0);
}

static void
listen_close(struct listener *l)
{
	close(l->fd);
	if (l->dir[0] != '\0') {
		unlink(l->name);
		rmdir(l->dir);
	}
	unsetenv("NOTIFY_SOCKET");
}

/* One datagram, NUL-terminated, with the sender's pid; fails if none is waiting. */
static void
receive(struct listener *l, char *buf, size_t size, pid_t *pid)
{
	union {
		struct cmsghdr	 h;
		char		 b[CMSG_SPACE(sizeof(struct ucred))];
	} c;
	struct iovec iov = { buf, size - 1 };
	struct msghdr mh = { 0 };
	struct cmsghdr *cm;
	ssize_t n;

	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = c.b;
	mh.msg_controllen = sizeof(c.b);
	if ((n = recvmsg(l->fd, &mh, MSG_DONTWAIT)) == -1)
		fail_msg("nothing received on %s: %s", l->name, strerror(errno));
	assert_false(mh.msg_flags & MSG_TRUNC);
	buf[n] = '\0';
	*pid = 0;
	for (cm = CMSG_FIRSTHDR(&mh); cm != NULL; cm = CMSG_NXTHDR(&mh, cm))
		if (cm->cmsg_level == SOL_SOCKET &&
		    cm->cmsg_type == SCM_CREDENTIALS) {
			struct ucred uc;

			memcpy(&uc, CMSG_DATA(cm), sizeof(uc));
			*pid = uc.pid;
		}
}

static void
nothing_waiting(struct listener *l)
{
	char b[8];

	assert_int_equal(recv(l->fd, b, sizeof(b), MSG_DONTWAIT), -1);
	assert_int_equal(errno, EAGAIN);
}

static int
open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	if (d == NULL)
		fail_msg("/proc/self/fd: %s", strerror(errno));
	while (readdir(d) != NULL)
		n++;
	closedir(d);
	return n;
}

static void
sends_to(int abstract)
{
	struct listener l;
	char buf[SDNOTIFY_MAX + 16];
	pid_t pid;
	int fds;

	listen_on(&l, abstract);
	fds = open_fds();
	assert_int_equal(sdnotify("READY=1\nSTATUS=%s %d", "link up, spool", 7), 1);
	assert_int_equal(open_fds(), fds);
	receive(&l, buf, sizeof(buf), &pid);
	assert_string_equal(buf, "READY=1\nSTATUS=link up, spool 7");
	assert_int_equal(pid, getpid());
	assert_int_equal(sdnotify("WATCHDOG=1"), 1);
	receive(&l, buf, sizeof(buf), &pid);
	assert_string_equal(buf, "WATCHDOG=1");
	nothing_waiting(&l);
	listen_close(&l);
}

static void
path_socket(void **state)
{
	(void)state;
	sends_to(0);
}

static void
abstract_socket(void **state)
{
	(void)state;
	sends_to(1);
}

static void
outside_systemd(void **state)
{
	(void)state;
	unsetenv("NOTIFY_SOCKET");
	assert_int_equal(sdnotify("READY=1"), 0);
	assert_int_equal(sdnotify_reloading(), 0);
	assert_int_equal(setenv("NOTIFY_SOCKET", "", 1), 0);
	assert_int_equal(sdnotify("READY=1"), 0);
	unsetenv("NOTIFY_SOCKET");
}

static void
reloading(void **state)
{
	struct listener l;
	struct timespec ts;
	unsigned long long usec, now;
	char buf[256];
	pid_t pid;

	(void)state;
	listen_on(&l, 1);
	assert_int_equal(sdnotify_reloading(), 1);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (unsigned long long)ts.tv_sec * 1000000ULL + ts.tv_nsec / 1000;
	receive(&l, buf, sizeof(buf), &pid);
	assert_int_equal(sscanf(buf, "RELOADING=1\nMONOTONIC_USEC=%llu", &usec), 1);
	assert_true(usec <= now && now - usec < 1000000);
	listen_close(&l);
}

static void
refusals(void **state)
{
	struct listener l;
	static char big[SDNOTIFY_MAX];
	char name[200];

	(void)state;
	listen_on(&l, 0);
	/* whole or not at all: a status one byte too long is not cut */
	memset(big, 'x', sizeof(big) - 1);
	assert_int_equal(sdnotify("STATUS=%s", big + 6), -1);
	assert_int_equal(errno, EMSGSIZE);
	nothing_waiting(&l);
	assert_int_equal(sdnotify("STATUS=%s", big + 7), 1);
	listen_close(&l);

	assert_int_equal(setenv("NOTIFY_SOCKET", "/nonexistent/notify", 1), 0);
	assert_int_equal(sdnotify("READY=1"), -1);
	assert_int_equal(errno, ENOENT);
	/* systemd names paths and abstract sockets only */
	assert_int_equal(setenv("NOTIFY_SOCKET", "run/notify", 1), 0);
	assert_int_equal(sdnotify("READY=1"), -1);
	assert_int_equal(errno, EAFNOSUPPORT);
	assert_int_equal(setenv("NOTIFY_SOCKET", "@", 1), 0);
	assert_int_equal(sdnotify("READY=1"), -1);
	assert_int_equal(errno, EAFNOSUPPORT);
	memset(name, 'a', sizeof(name) - 1);
	name[0] = '/';
	name[sizeof(name) - 1] = '\0';
	assert_int_equal(setenv("NOTIFY_SOCKET", name, 1), 0);
	assert_int_equal(sdnotify("READY=1"), -1);
	assert_int_equal(errno, ENAMETOOLONG);
	unsetenv("NOTIFY_SOCKET");
}

static void
watchdog(void **state)
{
	char pid[24];

	(void)state;
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
	assert_int_equal(sdnotify_watchdog_usec(), 0);
	assert_int_equal(setenv("WATCHDOG_USEC", "30000000", 1), 0);
	assert_int_equal(sdnotify_watchdog_usec(), 30000000);
	snprintf(pid, sizeof(pid), "%ld", (long)getpid());
	assert_int_equal(setenv("WATCHDOG_PID", pid, 1), 0);
	assert_int_equal(sdnotify_watchdog_usec(), 30000000);
	/* meant for another process, e.g. the parent that exec'd us */
	snprintf(pid, sizeof(pid), "%ld", (long)getpid() + 1);
	assert_int_equal(setenv("WATCHDOG_PID", pid, 1), 0);
	assert_int_equal(sdnotify_watchdog_usec(), 0);
	assert_int_equal(setenv("WATCHDOG_PID", "x", 1), 0);
	assert_int_equal(sdnotify_watchdog_usec(), 0);
	unsetenv("WATCHDOG_PID");
	static const char *const bad[] = { "", "-5", "12x", " 5", "0x10",
	    "99999999999999999999999" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(setenv("WATCHDOG_USEC", bad[i], 1), 0);
		assert_int_equal(sdnotify_watchdog_usec(), 0);
	}
	unsetenv("WATCHDOG_USEC");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(path_socket),
		cmocka_unit_test(abstract_socket),
		cmocka_unit_test(outside_systemd),
		cmocka_unit_test(reloading),
		cmocka_unit_test(refusals),
		cmocka_unit_test(watchdog),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
