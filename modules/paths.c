/* paths: where this build looks when no -c is given: an installed build
 * (IM_INSTALLED) reads its system config file, the checkout build none. */
#include "paths.h"

#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf.h"

/* conf_defaults() copies it into a fixed field. */
_Static_assert(sizeof PATHS_DATA_DIR <= CONF_PATH_MAX, "LOCALSTATEDIR is too long for data_dir");

const char *paths_conf_file(const char *given)
{
	if (given != NULL)
		return given;
#if defined(IM_INSTALLED)
	/* Only a file that is not there means "none": anything else there
	 * (unreadable, a dangling link) is read and fails with its reason,
	 * rather than a server quietly running on the defaults. */
	struct stat sb;
	if (lstat(PATHS_SYS_CONF, &sb) == 0 || errno != ENOENT)
		return PATHS_SYS_CONF;
#endif
	return NULL;
}

int paths_load(struct conf *c, const char *given, const char **used, char *err, size_t errlen)
{
	const char *path = paths_conf_file(given);
	*used = path;
	if (path == NULL || conf_load(c, path, err, errlen) == 0)
		return 0;
	size_t n = strlen(err);
	if (given == NULL && n < errlen)
		snprintf(err + n, errlen - n, " (the system config, read because no -c FILE was given)");
	return -1;
}

int paths_absolute(const char *path, char *out, size_t cap)
{
	char cwd[PATH_MAX];
	int n;
	if (path[0] == '/') {
		n = snprintf(out, cap, "%s", path);
		return n < 0 || (size_t)n >= cap ? -1 : 0;
	}
	if (getcwd(cwd, sizeof cwd) == NULL) {
		snprintf(out, cap, "%s", path);
		return -1;
	}
	while (path[0] == '.' && path[1] == '/') {
		path += 2;
		while (*path == '/')
			path++;
	}
	if (strcmp(path, ".") == 0)
		path = "";
	const char *sep = *path == '\0' || cwd[strlen(cwd) - 1] == '/' ? "" : "/";
	n = snprintf(out, cap, "%s%s%s", cwd, sep, path);
	if (n < 0 || (size_t)n >= cap) {
		snprintf(out, cap, "%s", path);
		return -1;
	}
	return 0;
}

void paths_help_no_c(FILE *f, int indent)
{
#if defined(IM_INSTALLED)
	fprintf(f, "%*swithout it: %s if it exists,\n%*selse the defaults (data_dir %s)\n", indent, "",
	        PATHS_SYS_CONF, indent, "", PATHS_DATA_DIR);
#else
	fprintf(f, "%*swithout it: the defaults (data_dir %s)\n", indent, "", PATHS_DATA_DIR);
#endif
}

/* "DIR", or for a relative DIR where it leads from here. */
static void print_dir(FILE *f, const char *label, const char *dir)
{
	char abs[PATH_MAX + CONF_PATH_MAX];
	if (dir[0] == '/')
		fprintf(f, "%s: %s\n", label, dir);
	else if (paths_absolute(dir, abs, sizeof abs) == 0)
		fprintf(f, "%s: %s, relative to the current directory: now %s\n", label, dir, abs);
	else
		fprintf(f, "%s: %s, relative to the current directory (which cannot be read)\n", label, dir);
}

void paths_report(FILE *f)
{
	static struct conf c;
	char err[600];
	const char *used;
	conf_defaults(&c);
	int bad = paths_load(&c, NULL, &used, err, sizeof err) < 0;
	if (bad) {
		fprintf(f, "config file: %s, which has an error: %s\n", used, err);
		conf_defaults(&c);
	} else if (used != NULL) {
		fprintf(f, "config file: %s\n", used);
	} else {
#if defined(IM_INSTALLED)
		fprintf(f, "config file: none: built-in defaults (%s does not exist; -c FILE names one)\n",
		        PATHS_SYS_CONF);
#else
		fprintf(f, "config file: none: built-in defaults (this build reads one only with -c FILE)\n");
#endif
	}
	print_dir(f, bad ? "data dir (the default)" : "data dir", c.srv.data_dir);
	if (conf_finish(&c, err, sizeof err) < 0)
		fprintf(f, "client state dir: none (%s)\n", err);
	else if (c.cli.state_dir[0] == '\0')
		fprintf(f, "client state dir: none (HOME is not set; set state_dir in [client])\n");
	else
		print_dir(f, "client state dir", c.cli.state_dir);
}
