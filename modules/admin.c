/* admin: the admin modes (not built yet). */
#include "admin.h"
#include <stdio.h>
static int not_yet(char **argv)
{
	fprintf(stderr, "im %s: not built yet\n", argv[0]);
	return 1;
}
int admin_adduser(int argc, char **argv) { (void)argc; return not_yet(argv); }
int admin_deluser(int argc, char **argv) { (void)argc; return not_yet(argv); }
int admin_passwd(int argc, char **argv) { (void)argc; return not_yet(argv); }
int admin_users(int argc, char **argv) { (void)argc; return not_yet(argv); }
int admin_who(int argc, char **argv) { (void)argc; return not_yet(argv); }
