/*
 * The service manager's notification protocol (sd_notify(3)) without
 * libsystemd: one datagram of "KEY=value" lines to the AF_UNIX socket named
 * by $NOTIFY_SOCKET (a path, or an abstract name written with a leading '@').
 * Outside systemd the variable is unset and every call does nothing.
 *
 *   sdnotify("READY=1\nSTATUS=%s", text)   started, or a reload is done
 *   sdnotify_reloading()                  a reload begins
 *   sdnotify("STOPPING=1")                 stopping
 *   sdnotify("WATCHDOG=1")                 alive, at half the interval
 */
#ifndef XGW_SDNOTIFY_H
#define XGW_SDNOTIFY_H

#include <stdint.h>

#define SDNOTIFY_MAX	4096	/* bytes of one notification */

/* 1 sent, 0 no $NOTIFY_SOCKET, -1 and errno (EMSGSIZE above SDNOTIFY_MAX). */
int		 sdnotify(const char *fmt, ...)
		    __attribute__((format(printf, 1, 2)));
/* RELOADING=1 with MONOTONIC_USEC, which systemd 253 and later require. */
int		 sdnotify_reloading(void);
/*
 * The watchdog interval in microseconds from $WATCHDOG_USEC, 0 when there
 * is none or $WATCHDOG_PID names another process (it was meant for a parent).
 */
uint64_t	 sdnotify_watchdog_usec(void);

#endif
