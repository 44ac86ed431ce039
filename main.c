/* im: one static executable for the server, the client and the admin
 * tools. This file is the dispatch table and nothing else. */
#include <stdio.h>
#include <string.h>

#include "modules/admin.h"
#include "modules/client.h"
#include "modules/paths.h"
#include "modules/srv.h"
#include "modules/version.h"

#include <mbedtls/version.h>

#ifdef IM_CLUSTER
#include <hiredis/hiredis.h>
#endif

/* What --version says the binary was built with (build.sh defines
 * IM_LIBC_MUSL for its musl builds; config/mbedtls.h is IM_MBEDTLS_CONFIG_H). */
#if defined(__GLIBC__)
#define IM_LIBC "glibc"
#elif defined(IM_LIBC_MUSL)
#define IM_LIBC "musl"
#else
#define IM_LIBC "an unnamed C library"
#endif
#if defined(IM_MBEDTLS_CONFIG_H)
#define IM_MBEDTLS_BUILD "im's own build, config/mbedtls.h"
#else
#define IM_MBEDTLS_BUILD "the system's build"
#endif

static int help_main(int argc, char **argv);

static const struct mode {
	const char *name;
	int (*main)(int argc, char **argv);
	const char *summary;
} modes[] = {
    {"server", srv_main, "run the presence server (the map of who is online where)"},
    {"client", client_main, "log in, see contacts, talk to them directly over TLS"},
    {"send", send_main, "send one message and wait for it to be delivered"},
    {"adduser", admin_adduser, "create an account (the users file; Redis in cluster mode)"},
    {"deluser", admin_deluser, "delete an account (an online user is kicked)"},
    {"passwd", admin_passwd, "set an account's password"},
    {"users", admin_users, "list the accounts, one name per line"},
    {"who", admin_who, "list who is online on this server now (its session files)"},
    {"help", help_main, "this list"},
};

static int help_main(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	printf("im %s: a tiny instant messenger for small Linux boxes\n\n"
	       "usage: im MODE [OPTIONS]   (or call the binary im-MODE)\n\n",
	       IM_VERSION);
	for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++)
		printf("  %-8s %s\n", modes[i].name, modes[i].summary);
	printf("\nEvery mode takes -c FILE (an INI config, see config/im.conf) and --help;\n"
	       "without -c, %s apply.\n"
	       "im --version prints the version, the config file and the data directory.\n\n",
	       PATHS_NO_C_TEXT);
	paths_report(stdout);
	return 0;
}

int main(int argc, char **argv)
{
	const char *self = strrchr(argv[0], '/');
	self = self ? self + 1 : argv[0];
	if (strncmp(self, "im-", 3) == 0)
		self += 3;
	else if (strcmp(self, "im") == 0)
		self = NULL;

	if (self == NULL) {
		if (argc < 2) {
			fprintf(stderr, "im: no mode given; try 'im help'\n");
			return 2;
		}
		if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0) {
			printf("im %s\n", IM_VERSION);
			printf("built with %s and mbedTLS %s (%s)\n", IM_LIBC, MBEDTLS_VERSION_STRING,
			       IM_MBEDTLS_BUILD);
#ifdef IM_CLUSTER
			printf("cluster mode: hiredis %d.%d.%d\n", HIREDIS_MAJOR, HIREDIS_MINOR,
			       HIREDIS_PATCH);
#else
			printf("cluster mode: not built in (CLUSTER=no)\n");
#endif
			paths_report(stdout);
			return 0;
		}
		if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)
			return help_main(argc, argv);
		self = argv[1];
		argc--;
		argv++;
	}
	for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++)
		if (strcmp(self, modes[i].name) == 0)
			return modes[i].main(argc, argv);
	fprintf(stderr, "im: unknown mode '%s'; try 'im help'\n", self);
	return 2;
}
