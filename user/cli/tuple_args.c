// SPDX-License-Identifier: BSD-2-Clause
/* LOCAL PEER on the command line (see tuple_args.h). */
#include <stdio.h>

#include "cli.h"
#include "tuple_args.h"

int cli_tuple_args(int argc, char **argv, int first, const char *usage, const char *cmd, struct tf_tuple *k)
{
	if (argc - first != 2) {
		fputs(usage, stderr);
		return EXIT_USAGE;
	}
	if (tf_tuple_parse(argv[first], argv[first + 1], k)) {
		if (cmd)
			cli_error("%s: %s", cmd, tf_strerror());
		else
			cli_error("%s", tf_strerror());
		return EXIT_USAGE;
	}
	return 0;
}
