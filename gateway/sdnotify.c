/*
 * sd_notify(3) without libsystemd: the protocol is one datagram, so a
 * dependency on the library buys nothing.  A socket is opened per call:
 * notifications come seconds apart and no descriptor leaks into adapters.
 */
#include <sys/socket.h>
#include <sys/un.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sdnotify.h"

/* $NOTIFY_SOCKET as an address; -1 and errno when it names no AF_UNIX socket. */
static int
notify_addr(const char *name, struct sockaddr_un *sun, socklen_t *len)
{
	size_t n = strlen(name);

	if ((name[0] != '/' && name[0] != '@') || n < 2) {
		errno = EAFNOSUPPORT;
		return -1;
	}
	if (n >= sizeof(sun->sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	memcpy(sun->sun_path, name, n);
	/* an abstract name starts with NUL and its length is exact, no terminator */
	if (name[0] == '@')
		sun->sun_path[0] = '\0';
	*len = offsetof(struct sockaddr_un, sun_path) + n + (name[0] == '/');
	return 0;
}

static int
notify_send(const char *msg, size_t len)
{
	const char *name = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sun;
	socklen_t alen;
	ssize_t n;
	int fd, saved;

	if (name == NULL || name[0] == '\0')
		return 0;
	if (notify_addr(name, &sun, &alen) == -1)
		return -1;
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	n = sendto(fd, msg, len, MSG_NOSIGNAL, (struct sockaddr *)&sun, alen);
	saved = errno;
	close(fd);
	errno = saved;
	if (n == -1)
		return -1;
	return 1;
}

int
sdnotify(const char *fmt, ...)
{
	char msg[SDNOTIFY_MAX];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* a status cut short would be a lie: refuse it whole */
	if (n < 0 || (size_t)n >= sizeof(msg)) {
		errno = EMSGSIZE;
		return -1;
	}
	return notify_send(msg, n);
}

int
sdnotify_reloading(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return sdnotify("RELOADING=1\nMONOTONIC_USEC=%llu",
	    (unsigned long long)ts.tv_sec * 1000000ULL +
	    (unsigned long long)ts.tv_nsec / 1000);
}

/* A positive decimal environment value; 0 when unset or not one. */
static unsigned long long
env_uint(const char *name)
{
	const char *s = getenv(name);
	unsigned long long v;
	char *end;

	if (s == NULL || *s < '0' || *s > '9')
		return 0;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0')
		return 0;
	return v;
}

uint64_t
sdnotify_watchdog_usec(void)
{
	unsigned long long pid;

	if (getenv("WATCHDOG_PID") != NULL &&
	    ((pid = env_uint("WATCHDOG_PID")) == 0 ||
	    pid != (unsigned long long)getpid()))
		return 0;
	return env_uint("WATCHDOG_USEC");
}
