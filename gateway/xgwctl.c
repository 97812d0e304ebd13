/*
 * xgwctl: the operator's tool.  Each subcommand is a row of the table in
 * main(); the policy check is the first.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"

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

static const struct cmd cmds[] = {
	{ "check", "FILE", cmd_check },
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
