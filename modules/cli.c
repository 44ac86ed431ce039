/* cli: the client (not built yet). */
#include "cli.h"
#include <stdio.h>
int cli_main(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "im client: not built yet\n");
	return 1;
}
