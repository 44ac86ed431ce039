/* paths: where this build looks when no -c is given: an installed build
 * (IM_INSTALLED) reads its system config file, the checkout build none. */
#ifndef IM_PATHS_H
#define IM_PATHS_H

#include <stddef.h>
#include <stdio.h>

/* ./build.sh install writes im_paths.h with IM_SYSCONFDIR and
 * IM_LOCALSTATEDIR and builds with -DIM_INSTALLED. */
#if defined(IM_INSTALLED)
#include "im_paths.h"
#if !defined(IM_SYSCONFDIR) || !defined(IM_LOCALSTATEDIR)
#error "im_paths.h must define IM_SYSCONFDIR and IM_LOCALSTATEDIR"
#endif
#define PATHS_SYS_CONF  IM_SYSCONFDIR "/im.conf"
#define PATHS_DATA_DIR  IM_LOCALSTATEDIR "/lib/im"
#define PATHS_NO_C_TEXT PATHS_SYS_CONF " if it exists, else the defaults"
#else
#define PATHS_DATA_DIR  "./im-data"
#define PATHS_NO_C_TEXT "the defaults"
#endif

struct conf;

/* The config file a mode reads: given (its -c FILE) when set; else, in an
 * installed build, PATHS_SYS_CONF unless it does not exist; else NULL (the
 * defaults alone). */
const char *paths_conf_file(const char *given);

/* Loads paths_conf_file(given) over c (filled with conf_defaults() before)
 * and sets *used to it (NULL: none). Returns 0, or -1 with "path:line:
 * message" in err (saying when the file was read because no -c was given). */
int paths_load(struct conf *c, const char *given, const char **used, char *err, size_t errlen);

/* Writes path as an absolute path into out: a relative one is joined to
 * the current directory (a leading "./" dropped). Returns 0, or -1 when
 * it does not fit or the current directory is unknown (out then holds path). */
int paths_absolute(const char *path, char *out, size_t cap);

/* Prints the --help lines on what a mode reads without -c, each indented
 * by indent spaces (the server's and admin modes' data_dir included). */
void paths_help_no_c(FILE *f, int indent);

/* Prints the lines im --version and im help end with: the config file in
 * use and the server's data directory (and the client's state directory),
 * as a mode started here without -c would use them. */
void paths_report(FILE *f);

#endif
