/*
 * xgwctl: the operator's tool.  Each subcommand is a row of the table in
 * main(); the policy check is the first.
 */
#include <sys/socket.h>
#include <sys/un.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker.h"
#include "policy.h"

#define CONTROL_DEFAULT	"/run/xgw/control"

struct cmd {
	const char	*name;
	const char	*args;
	int		(*run)(int, char **);
};

static int
usage(const char *cmd, const char *args)
{
	fprintf(stderr, "usage: xgwctl %s %s\n", cmd, args);
	return 2;
}

/* Parses and checks a rules file; prints it normalized, or where it is wrong. */
static int
cmd_check(int argc, char **argv)
{
	struct xgw_policy_err err;
	struct xgw_policy *pol;

	if (argc != 2)
		return usage("check", "FILE");
	if ((pol = xgw_policy_load(argv[1], &err)) == NULL) {
		if (err.line == 0)
			fprintf(stderr, "%s: %s\n", err.file, err.msg);
		else
			fprintf(stderr, "%s:%u:%u: %s\n", err.file, err.line,
			    err.col, err.msg);
		return 1;
	}
	xgw_policy_print(pol, stdout);
	xgw_policy_free(pol);
	return fflush(stdout) == 0 ? 0 : 1;
}

/*
 * Sends one command line to xgwd's control socket and copies the answer to
 * standard output until xgwd closes (for tap: until interrupted).
 */
static int
control(const char *path, const char *line)
{
	struct sockaddr_un sun;
	char buf[8192];
	ssize_t n;
	int fd, rc = 0;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "xgwctl: %s: path too long\n", path);
		return 1;
	}
	strcpy(sun.sun_path, path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM, 0)) == -1 ||
	    connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		fprintf(stderr, "xgwctl: %s: %s (is xgwd running?)\n", path,
		    strerror(errno));
		return 1;
	}
	if (write(fd, line, strlen(line)) != (ssize_t)strlen(line) ||
	    write(fd, "\n", 1) != 1) {
		fprintf(stderr, "xgwctl: %s: %s\n", path, strerror(errno));
		close(fd);
		return 1;
	}
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		if (strncmp(buf, "error", 5) == 0)
			rc = 1;
		fwrite(buf, 1, n, stdout);
		fflush(stdout);
	}
	close(fd);
	return rc;
}

/* -s SOCKET, then the command's own arguments. */
static const char *
socket_arg(int *argc, char ***argv)
{
	const char *path = getenv("XGW_CONTROL") ? getenv("XGW_CONTROL") :
	    CONTROL_DEFAULT;

	if (*argc >= 3 && strcmp((*argv)[1], "-s") == 0) {
		path = (*argv)[2];
		*argc -= 2;
		*argv += 2;
	}
	return path;
}

static int
cmd_status(int argc, char **argv)
{
	const char *path = socket_arg(&argc, &argv);

	if (argc != 1)
		return usage("status", "[-s SOCKET]");
	return control(path, "status");
}

static int
cmd_reload(int argc, char **argv)
{
	const char *path = socket_arg(&argc, &argv);

	if (argc != 1)
		return usage("reload", "[-s SOCKET]");
	return control(path, "reload");
}

static int
cmd_tap(int argc, char **argv)
{
	const char *path = socket_arg(&argc, &argv);
	char line[128];

	if (argc > 2)
		return usage("tap", "[-s SOCKET] [ADAPTER]");
	snprintf(line, sizeof(line), "tap%s%s", argc == 2 ? " " : "",
	    argc == 2 ? argv[1] : "");
	return control(path, line);
}

static const struct cmd cmds[] = {
	{ "check", "FILE", cmd_check },
	{ "status", "[-s SOCKET]", cmd_status },
	{ "reload", "[-s SOCKET]", cmd_reload },
	{ "tap", "[-s SOCKET] [ADAPTER]", cmd_tap },
	{ "pki", "init|issue|revoke|crl DIR ...", pki_main },
};

int
main(int argc, char **argv)
{
	size_t i;

	if (argc >= 2)
		for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
			if (strcmp(argv[1], cmds[i].name) == 0)
				return cmds[i].run(argc - 1, argv + 1);
	fprintf(stderr, "usage:");
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		fprintf(stderr, "%s xgwctl %s %s\n", i ? "      " : "",
		    cmds[i].name, cmds[i].args);
	return 2;
}
