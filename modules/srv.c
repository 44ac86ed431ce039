/* srv: the presence server (not built yet). */
#include "srv.h"
#include <stdio.h>
int srv_main(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "im server: not built yet\n");
	return 1;
}
