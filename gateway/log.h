/*
 * Logging for every xgw process, in the style of OpenBSD's log.c: one line
 * per event on standard error, prefixed "<N>" with the syslog priority so
 * that the journal files it right, and key=value fields in the text.
 */
#ifndef XGW_LOG_H
#define XGW_LOG_H

#include <stdarg.h>

void	log_init(const char *procname, int verbose);
void	log_setverbose(int);
void	log_warn(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_warnx(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_info(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_debug(const char *, ...) __attribute__((format(printf, 1, 2)));
void	fatal(const char *, ...) __attribute__((format(printf, 1, 2), noreturn));
void	fatalx(const char *, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
