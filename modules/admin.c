/* admin: the admin modes (adduser, deluser, passwd, users, who) over the
 * users file and the server's run directory. */
#include "admin.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/platform_util.h>

#include "conf.h"
#include "log.h"
#include "paths.h"
#include "proto.h"
#include "rusers.h"
#include "tokens.h"
#include "users.h"

#define PW_MAX 512 /* bytes; a LOGIN line must still fit in 1024 */

enum { EXIT_OK = 0, EXIT_ERR = 1, EXIT_USAGE = 2 };

struct mode_spec {
	const char *mode;
	const char *args;  /* usage line after "im MODE" */
	const char *about; /* the rest of --help */
	int takes_name;
	int takes_pw;
	int takes_io; /* users: --export, --import FILE, --replace */
};

static const struct mode_spec spec_adduser = {
    "adduser",
    "[-c FILE] [--password-stdin] NAME",
    "Creates the account NAME in <data_dir>/users. The password is asked twice\n"
    "without echo on a terminal, or read from one line of standard input with\n"
    "--password-stdin or when standard input is not a terminal. It needs at least\n"
    "min_password_length characters; new hashes use pbkdf2_iterations rounds.\n"
    "When this creates the users file, it says so on stderr: \"created PATH\".\n"
    "With a [cluster] redis in the config, the account is created in Redis instead.\n",
    1,
    1,
    0};
static const struct mode_spec spec_passwd = {
    "passwd",
    "[-c FILE] [--password-stdin] NAME",
    "Sets a new password for the existing account NAME, asked and checked as for\n"
    "adduser. A running server uses it from the next login on; the user's resume\n"
    "tokens (<data_dir>/tokens) stop working at once. With a [cluster] redis, the\n"
    "account and its tokens in Redis are changed: every node uses the new password.\n",
    1,
    1,
    0};
static const struct mode_spec spec_deluser = {
    "deluser",
    "[-c FILE] NAME",
    "Deletes the account NAME from <data_dir>/users, and its resume\n"
    "tokens from <data_dir>/tokens. With a [cluster] redis, from Redis, and the\n"
    "node that holds NAME's session ends it (KICKED account deleted).\n",
    1,
    0,
    0};
static const struct mode_spec spec_users = {
    "users",
    "[-c FILE] [--export | --import FILE [--replace]]",
    "Prints the name of every account in <data_dir>/users, one per line, in file\n"
    "order (nothing for an empty file). When the users file does not exist, stderr\n"
    "says so, naming its path and the config in use, and the exit status is 1.\n"
    "With a [cluster] redis in the config, the accounts in Redis, sorted by name.\n"
    "--export prints whole records (users-file lines) instead of names.\n"
    "--import FILE loads the accounts of a users file into Redis (cluster mode\n"
    "only), each on its own; a name that exists there is left as it is and named\n"
    "on stderr (exit status 1) unless --replace. A line not understood stops the\n"
    "import before anything is stored. stderr reports the counts.\n",
    0,
    0,
    1};
static const struct mode_spec spec_who = {
    "who",
    "[-c FILE]",
    "Lists who is online now, read from the server's session files in run_dir\n"
    "(default <data_dir>/run): NAME ADDRESS PORT SINCE, sorted by name. Nothing\n"
    "is printed while no server runs or nobody is online (and when there is no\n"
    "run_dir at all, a note on stderr says so). When the users file does not\n"
    "exist, stderr says so, naming its path and the config in use; exit status 1.\n"
    "With a [cluster] redis (the accounts in Redis, no users file), the users of\n"
    "the node whose run_dir that is, not those of the other nodes.\n",
    0,
    0,
    0};

struct opts {
	const char *conf_path;
	const char *conf_used; /* the file read: conf_path, the system one, or NULL */
	const char *name;
	int pw_stdin;
	int export, replace;
	const char *import;
};

static int clustered(const struct conf *c)
{
	return c->clu.redis[0] != '\0';
}

#ifdef IM_CLUSTER
/* Cluster mode ([cluster] redis set): the accounts are in Redis, reached
 * through this link; NULL otherwise. Closed when the mode ends. */
static struct rusers *ru;

/* In cluster mode, opens the link to Redis. 0, or EXIT_ERR after saying
 * why (naming Redis and its address). */
static int open_redis(const struct mode_spec *m, const struct conf *c)
{
	char err[600];
	if (!clustered(c) || ru != NULL)
		return 0;
	if ((ru = rusers_open(&c->clu, err, sizeof err)) == NULL) {
		fprintf(stderr, "im %s: %s\n", m->mode, err);
		return EXIT_ERR;
	}
	return 0;
}
#endif

static int close_redis(int rc)
{
#ifdef IM_CLUSTER
	rusers_close(ru);
	ru = NULL;
#endif
	return rc;
}

static void usage_hint(const struct mode_spec *m, const char *why)
{
	fprintf(stderr, "im %s: %s; usage: im %s %s (try 'im %s --help')\n", m->mode, why, m->mode, m->args,
	        m->mode);
}

/* Returns -1 to go on, or the exit status (help printed or bad usage). */
static int parse_args(const struct mode_spec *m, int argc, char **argv, struct opts *o)
{
	char why[160];
	int opts_done = 0;
	memset(o, 0, sizeof *o);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!opts_done && (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)) {
			printf("usage: im %s %s\n\n%s\n"
			       "  -c FILE    read settings from the INI file FILE (see config/im.conf);\n",
			       m->mode, m->args, m->about);
			paths_help_no_c(stdout, 13);
			if (m->takes_pw)
				printf("  --password-stdin\n"
				       "             read the password from one line of standard input\n");
			if (m->takes_io)
				printf("  --export   print the accounts as users-file lines\n"
				       "  --import FILE\n"
				       "             load the users file FILE (- for standard input) into\n"
				       "             Redis (cluster mode)\n"
				       "  --replace  with --import: overwrite accounts that exist\n");
			printf("  --help     this text\n\n"
			       "Exit status: 0 done, 1 error, 2 bad usage or config.\n");
			return EXIT_OK;
		} else if (!opts_done && (strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0)) {
			if (i + 1 >= argc) {
				usage_hint(m, "-c needs a FILE");
				return EXIT_USAGE;
			}
			o->conf_path = argv[++i];
		} else if (!opts_done && m->takes_pw && strcmp(a, "--password-stdin") == 0) {
			o->pw_stdin = 1;
		} else if (!opts_done && m->takes_io && strcmp(a, "--export") == 0) {
			o->export = 1;
		} else if (!opts_done && m->takes_io && strcmp(a, "--replace") == 0) {
			o->replace = 1;
		} else if (!opts_done && m->takes_io && strcmp(a, "--import") == 0) {
			if (i + 1 >= argc) {
				usage_hint(m, "--import needs a FILE");
				return EXIT_USAGE;
			}
			o->import = argv[++i];
		} else if (!opts_done && strcmp(a, "--") == 0) {
			opts_done = 1;
		} else if (!opts_done && a[0] == '-' && a[1] != '\0') {
			snprintf(why, sizeof why, "unknown option '%.40s'", a);
			usage_hint(m, why);
			return EXIT_USAGE;
		} else if (m->takes_name && o->name == NULL) {
			o->name = a;
		} else {
			snprintf(why, sizeof why, "unexpected argument '%.40s'", a);
			usage_hint(m, why);
			return EXIT_USAGE;
		}
	}
	if (m->takes_name && o->name == NULL) {
		usage_hint(m, "missing NAME");
		return EXIT_USAGE;
	}
	if (o->export && o->import) {
		usage_hint(m, "--export and --import exclude each other");
		return EXIT_USAGE;
	}
	if (o->replace && !o->import) {
		usage_hint(m, "--replace goes with --import");
		return EXIT_USAGE;
	}
	return -1;
}

/* Defaults, then the file, then the cross-field check. 0 or EXIT_USAGE. */
static int load_conf(const struct mode_spec *m, struct opts *o, struct conf *c)
{
	char err[600];
	conf_defaults(c);
	if (paths_load(c, o->conf_path, &o->conf_used, err, sizeof err) < 0 ||
	    conf_finish(c, err, sizeof err) < 0) {
		fprintf(stderr, "im %s: %s\n", m->mode, err);
		return EXIT_USAGE;
	}
	log_init("im", "stderr", LOG_LVL_WARN);
	return 0;
}

static int users_path(const struct mode_spec *m, const struct conf *c, char *out, size_t cap)
{
	int n = snprintf(out, cap, "%s/users", c->srv.data_dir);
	if (n < 0 || (size_t)n >= cap) {
		fprintf(stderr, "im %s: data_dir is too long\n", m->mode);
		return -1;
	}
	return 0;
}

/* "(config FILE)" or "(no config file: defaults; ...)": where the paths
 * an admin mode used came from, for messages about them. */
static void conf_note(const struct opts *o, const struct conf *c, char *out, size_t cap)
{
	if (o->conf_used != NULL)
		snprintf(out, cap, "(config %s)", o->conf_used);
	else
		snprintf(out, cap, "(no config file: defaults%s%s%s; -c FILE names the server's config)",
		         c->srv.data_dir[0] != '/' ? "; data_dir " : "",
		         c->srv.data_dir[0] != '/' ? c->srv.data_dir : "",
		         c->srv.data_dir[0] != '/' ? " is relative to the current directory" : "");
}

/* Whether the users file at path is certainly not there (a folder on the
 * way that is not a directory or not readable is another error). */
static int users_file_missing(const char *path)
{
	struct stat sb;
	return stat(path, &sb) < 0 && errno == ENOENT;
}

/* Says that the users file is not where this mode looked, naming the
 * place and the config that chose it: an admin in the wrong directory, or
 * without the server's -c FILE, sees why. what: "" or "no such user X: ". */
static void say_no_users_file(const struct mode_spec *m, const struct opts *o, const struct conf *c,
                              const char *what, const char *path)
{
	char abs[PATH_MAX + CONF_PATH_MAX], note[CONF_PATH_MAX + 200];
	paths_absolute(path, abs, sizeof abs);
	conf_note(o, c, note, sizeof note);
	fprintf(stderr, "im %s: %susers file %s does not exist %s\n", m->mode, what, abs, note);
}

/* The user is not in the file: when the file itself is not there, that is
 * the news. */
static void say_no_user(const struct mode_spec *m, const struct opts *o, const struct conf *c,
                        const char *name, const char *path)
{
	char what[PROTO_NAME_MAX + 32];
	snprintf(what, sizeof what, "no such user %s: ", name);
	if (clustered(c))
		fprintf(stderr, "im %s: no such user %s in redis %s\n", m->mode, name, c->clu.redis);
	else if (users_file_missing(path))
		say_no_users_file(m, o, c, what, path);
	else
		fprintf(stderr, "im %s: no such user %s\n", m->mode, name);
}

static int fold_name(const struct mode_spec *m, const char *in, char out[PROTO_NAME_MAX + 1])
{
	if (proto_name_fold(in, out) == 0)
		return 0;
	fprintf(stderr,
	        "im %s: invalid name '%.64s' (1-32 of a-z 0-9 _ . -, starting with a letter or digit)\n",
	        m->mode, in);
	return -1;
}

static volatile sig_atomic_t got_signal;

static void on_signal(int sig)
{
	got_signal = sig;
}

/* Reads one line from fd into buf without its "\n" (or "\r\n"). Returns its
 * length, PW_MAX + 1 if it did not fit, or -1 on error or a signal. */
static long read_line(int fd, char *buf, size_t cap)
{
	size_t n = 0;
	int overflow = 0;
	for (;;) {
		char ch;
		ssize_t got = read(fd, &ch, 1);
		if (got < 0) {
			if (errno == EINTR && !got_signal)
				continue;
			return -1;
		}
		if (got == 0 || ch == '\n')
			break;
		if (n + 1 < cap)
			buf[n++] = ch;
		else
			overflow = 1;
	}
	if (n > 0 && buf[n - 1] == '\r')
		n--;
	buf[n] = '\0';
	return overflow ? PW_MAX + 1 : (long)n;
}

/* Prompts on the terminal and reads a line with echo off; a signal while
 * echo is off restores the terminal before the mode gives up. */
static long tty_read(int tty, const char *prompt, char *buf, size_t cap)
{
	static const int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGTSTP};
	struct sigaction sa, old_sa[sizeof sigs / sizeof sigs[0]];
	struct termios old, quiet;
	if (tcgetattr(tty, &old) < 0)
		return -1;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal; /* no SA_RESTART: read() must return */
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
		sigaction(sigs[i], &sa, &old_sa[i]);
	quiet = old;
	quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHOE | ECHOK);
	quiet.c_lflag |= ECHONL;
	long n = -1;
	/* echo off before the prompt shows: an answer typed as soon as it is
	 * asked for is then neither echoed nor flushed away */
	if (tcsetattr(tty, TCSAFLUSH, &quiet) == 0 && write(tty, prompt, strlen(prompt)) >= 0) {
		n = read_line(tty, buf, cap);
		tcsetattr(tty, TCSAFLUSH, &old);
	}
	for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
		sigaction(sigs[i], &old_sa[i], NULL);
	return n;
}

/* Gets the new password into pw (PW_MAX + 1 bytes) and checks it. Returns
 * its length, or -1 after printing why. */
static long get_password(const struct mode_spec *m, const struct opts *o, const char *name, int minlen,
                         char *pw)
{
	char again[PW_MAX + 1], prompt[96];
	long n;
	int tty = -1;
	if (!o->pw_stdin && isatty(STDIN_FILENO))
		tty = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (tty >= 0) {
		snprintf(prompt, sizeof prompt, "New password for %s: ", name);
		n = tty_read(tty, prompt, pw, PW_MAX + 1);
		long n2 = n < 0 ? -1 : tty_read(tty, "Retype new password: ", again, sizeof again);
		close(tty);
		if (n < 0 || n2 < 0) {
			fprintf(stderr, "im %s: %s\n", m->mode,
			        got_signal ? "interrupted" : "cannot read the password from the terminal");
			mbedtls_platform_zeroize(again, sizeof again);
			return -1;
		}
		int same = n == n2 && memcmp(pw, again, (size_t)n) == 0;
		mbedtls_platform_zeroize(again, sizeof again);
		if (!same) {
			fprintf(stderr, "im %s: passwords do not match\n", m->mode);
			return -1;
		}
	} else {
		n = read_line(STDIN_FILENO, pw, PW_MAX + 1);
		if (n < 0) {
			fprintf(stderr, "im %s: cannot read the password from stdin: %s\n", m->mode,
			        strerror(errno));
			return -1;
		}
	}
	const char *why = NULL;
	char buf[96];
	if (n == 0)
		why = "empty password";
	else if (n > PW_MAX)
		snprintf(buf, sizeof buf, "password too long (at most %d bytes)", PW_MAX), why = buf;
	else if (memchr(pw, '\0', (size_t)n) != NULL || !proto_utf8_valid(pw, (size_t)n))
		why = "password is not valid UTF-8 text";
	else if (pw[0] == ' ')
		why = "password must not start with a space";
	else if (proto_utf8_chars(pw, (size_t)n) < (size_t)minlen)
		snprintf(buf, sizeof buf, "password too short (at least %d characters)", minlen), why = buf;
	if (why != NULL) {
		fprintf(stderr, "im %s: %s\n", m->mode, why);
		mbedtls_platform_zeroize(pw, PW_MAX + 1);
		return -1;
	}
	return n;
}

/* passwd and deluser end the user's resume tokens. The server would refuse
 * them anyway (a token is tied to the password it was earned with), so a
 * file that cannot be rewritten is a warning, not a failure. */
static void revoke_tokens(const struct mode_spec *m, const struct conf *c, const char *name)
{
	char path[CONF_PATH_MAX + 16];
#ifdef IM_CLUSTER
	if (clustered(c)) {
		char err[600];
		if (rusers_revoke(ru, name, err, sizeof err) < 0)
			fprintf(
			    stderr,
			    "im %s: warning: cannot remove the resume tokens of %s: %s (they no longer work "
			    "anyway)\n",
			    m->mode, name, err);
		return;
	}
#endif
	snprintf(path, sizeof path, "%s/tokens", c->srv.data_dir);
	if (tokens_revoke(path, name) < 0)
		fprintf(stderr,
		        "im %s: warning: cannot remove the resume tokens of %s from %s: %s (they no longer "
		        "work anyway)\n",
		        m->mode, name, path, strerror(errno));
}

static void io_error(const struct mode_spec *m, const char *what, const char *path)
{
	fprintf(stderr, "im %s: cannot %s users file %s: %s\n", m->mode, what, path, strerror(errno));
}

enum { BEGIN_FOUND = -1, BEGIN_ABSENT = -2 };

/* The start every mode on one user shares: arguments, config, the users
 * file's path, the folded name, and whether the user is there now.
 * Returns an exit status to stop with, or BEGIN_FOUND / BEGIN_ABSENT. */
static int begin(const struct mode_spec *m, int argc, char **argv, struct opts *o, struct conf *c,
                 char name[PROTO_NAME_MAX + 1], char path[CONF_PATH_MAX + 8], struct users_rec *r)
{
	int rc = parse_args(m, argc, argv, o);
	if (rc >= 0)
		return rc;
	if ((rc = load_conf(m, o, c)) != 0)
		return rc;
	if (users_path(m, c, path, CONF_PATH_MAX + 8) < 0 || fold_name(m, o->name, name) < 0)
		return EXIT_ERR;
#ifdef IM_CLUSTER
	if (clustered(c)) {
		char err[600];
		if ((rc = open_redis(m, c)) != 0)
			return rc;
		enum users_status rs = rusers_find(ru, name, r, err, sizeof err);
		if (rs == USERS_IOERR) {
			fprintf(stderr, "im %s: %s\n", m->mode, err);
			return EXIT_ERR;
		}
		return rs == USERS_OK ? BEGIN_FOUND : BEGIN_ABSENT;
	}
#endif
	enum users_status st = users_find(path, name, r);
	if (st == USERS_IOERR) {
		io_error(m, "read", path);
		return EXIT_ERR;
	}
	return st == USERS_OK ? BEGIN_FOUND : BEGIN_ABSENT;
}

/* adduser and passwd: ask, hash, then add or replace under the lock. */
static int set_password(const struct mode_spec *m, int argc, char **argv, int adding)
{
	struct opts o;
	struct conf c;
	char name[PROTO_NAME_MAX + 1], path[CONF_PATH_MAX + 8], pw[PW_MAX + 1];
	struct users_rec r;
	int rc = begin(m, argc, argv, &o, &c, name, path, &r);
	if (rc >= 0)
		return rc;
	/* Checked first so nobody types a password for nothing; the lock
	 * rechecks. */
	enum users_status st = rc == BEGIN_FOUND ? USERS_OK : USERS_NOENT;
	if (adding && st == USERS_OK) {
		fprintf(stderr, "im %s: user %s exists\n", m->mode, name);
		return EXIT_ERR;
	}
	if (!adding && st == USERS_NOENT) {
		say_no_user(m, &o, &c, name, path);
		return EXIT_ERR;
	}
	long n = get_password(m, &o, name, c.srv.min_password_length, pw);
	if (n < 0)
		return EXIT_ERR;
	memset(&r, 0, sizeof r);
	strcpy(r.name, name);
	rc = users_hash(pw, (size_t)n, c.srv.pbkdf2_iterations, &r);
	mbedtls_platform_zeroize(pw, sizeof pw);
	if (rc < 0) {
		fprintf(stderr, "im %s: cannot hash the password (random generator failed)\n", m->mode);
		return EXIT_ERR;
	}
	int created = 0;
#ifdef IM_CLUSTER
	if (clustered(&c)) {
		char err[600];
		st = rusers_put(ru, &r, adding ? 0 : 1, err, sizeof err);
		mbedtls_platform_zeroize(&r, sizeof r);
		if (st == USERS_IOERR) {
			fprintf(stderr, "im %s: %s\n", m->mode, err);
			return EXIT_ERR;
		}
		if (st == USERS_OK && !adding)
			revoke_tokens(m, &c, name);
		if (st == USERS_OK)
			return EXIT_OK;
	} else
#endif
		st = adding ? users_add_created(path, &r, &created) : users_set(path, &r);
	mbedtls_platform_zeroize(&r, sizeof r);
	switch (st) {
	case USERS_OK:
		if (!adding)
			revoke_tokens(m, &c, name);
		if (created) {
			/* A new file is news: the admin may have meant the
			 * server's, in another directory or config. */
			char abs[PATH_MAX + CONF_PATH_MAX], note[CONF_PATH_MAX + 200];
			paths_absolute(path, abs, sizeof abs);
			conf_note(&o, &c, note, sizeof note);
			fprintf(stderr, "im %s: created %s %s\n", m->mode, abs, note);
		}
		return EXIT_OK;
	case USERS_EXISTS:
		fprintf(stderr, "im %s: user %s exists\n", m->mode, name);
		return EXIT_ERR;
	case USERS_NOENT:
		fprintf(stderr, "im %s: no such user %s\n", m->mode, name);
		return EXIT_ERR;
	case USERS_IOERR:
		break;
	}
	io_error(m, "write", path);
	return EXIT_ERR;
}

int admin_adduser(int argc, char **argv)
{
	return close_redis(set_password(&spec_adduser, argc, argv, 1));
}

int admin_passwd(int argc, char **argv)
{
	return close_redis(set_password(&spec_passwd, argc, argv, 0));
}

static int deluser(int argc, char **argv);

int admin_deluser(int argc, char **argv)
{
	return close_redis(deluser(argc, argv));
}

static int deluser(int argc, char **argv)
{
	const struct mode_spec *m = &spec_deluser;
	struct opts o;
	struct conf c;
	char name[PROTO_NAME_MAX + 1], path[CONF_PATH_MAX + 8];
	struct users_rec r;
	int rc = begin(m, argc, argv, &o, &c, name, path, &r);
	if (rc >= 0)
		return rc;
	enum users_status st = rc == BEGIN_FOUND ? USERS_OK : USERS_NOENT;
#ifdef IM_CLUSTER
	if (clustered(&c)) {
		char err[600];
		if (st == USERS_OK && (st = rusers_del(ru, name, err, sizeof err)) == USERS_IOERR) {
			fprintf(stderr, "im %s: %s\n", m->mode, err);
			return EXIT_ERR;
		}
		if (st == USERS_NOENT) {
			say_no_user(m, &o, &c, name, path);
			return EXIT_ERR;
		}
		revoke_tokens(m, &c, name);
		/* The node holding the session ends it: a node's copy of
		 * accounts is only read at logins. */
		if (rusers_kick(ru, "admin", name, err, sizeof err) < 0)
			fprintf(stderr,
			        "im %s: warning: %s deleted, but an online session of it goes on: %s\n",
			        m->mode, name, err);
		return EXIT_OK;
	}
#endif
	if (st == USERS_OK)
		st = users_del(path, name);
	if (st == USERS_NOENT) {
		say_no_user(m, &o, &c, name, path);
		return EXIT_ERR;
	}
	if (st != USERS_OK) {
		io_error(m, "write", path);
		return EXIT_ERR;
	}
	revoke_tokens(m, &c, name);
	return EXIT_OK;
}

static void print_name(const struct users_rec *r, void *arg)
{
	(void)arg;
	puts(r->name);
}

/* Flushes stdout; a full disk or closed pipe is an error, not silence. */
static int finish_stdout(const struct mode_spec *m)
{
	if (fflush(stdout) == 0 && !ferror(stdout))
		return EXIT_OK;
	fprintf(stderr, "im %s: cannot write the output: %s\n", m->mode, strerror(errno));
	return EXIT_ERR;
}

/* --export: the whole record, as the users file has it. */
static void print_rec(const struct users_rec *r, void *arg)
{
	char line[USERS_LINE_MAX];
	(void)arg;
	if (users_format_line(r, line, sizeof line) >= 0)
		puts(line);
	mbedtls_platform_zeroize(line, sizeof line);
}

#ifdef IM_CLUSTER
#define IMPORT_MAX 1000000 /* accounts in one file: more is not a users file */

/* Reads every record of the users file path (- for stdin) into *out: all
 * or nothing, so a damaged file stores no half of itself. The count, or -1
 * after saying which line is wrong. */
static long read_import(const struct mode_spec *m, const char *path, struct users_rec **out)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "re");
	struct users_rec *v = NULL;
	size_t n = 0, cap = 0, lcap = 0;
	char *line = NULL;
	ssize_t len;
	long lineno = 0, rc = -1;
	if (f == NULL) {
		fprintf(stderr, "im %s: cannot read %s: %s\n", m->mode, path, strerror(errno));
		return -1;
	}
	while ((len = getline(&line, &lcap, f)) >= 0) {
		lineno++;
		if (len > 0 && line[len - 1] == '\n')
			line[--len] = '\0';
		if (len == 0)
			continue;
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 64;
			struct users_rec *nv = ncap > IMPORT_MAX ? NULL : realloc(v, ncap * sizeof *nv);
			if (nv == NULL) {
				fprintf(stderr,
				        "im %s: %s: too many accounts (or out of memory); nothing imported\n",
				        m->mode, path);
				goto out;
			}
			v = nv;
			cap = ncap;
		}
		if (users_parse_line(line, (size_t)len, &v[n]) < 0) {
			fprintf(stderr, "im %s: %s:%ld: not a users-file record; nothing imported\n", m->mode,
			        path, lineno);
			goto out;
		}
		for (size_t i = 0; i < n; i++)
			if (strcmp(v[i].name, v[n].name) == 0) {
				fprintf(stderr, "im %s: %s:%ld: %s is in the file twice; nothing imported\n",
				        m->mode, path, lineno, v[n].name);
				goto out;
			}
		n++;
	}
	if (ferror(f)) {
		fprintf(stderr, "im %s: cannot read %s: %s\n", m->mode, path, strerror(errno));
		goto out;
	}
	*out = v;
	v = NULL;
	rc = (long)n;
out:
	if (line)
		mbedtls_platform_zeroize(line, lcap);
	free(line);
	if (v)
		mbedtls_platform_zeroize(v, cap * sizeof *v);
	free(v);
	if (f != stdin)
		fclose(f);
	return rc;
}

/* --import FILE [--replace]: each account is one SET, so each lands whole
 * or not at all; names that exist stay as they are without --replace. */
static int import_users(const struct mode_spec *m, const struct opts *o, const struct conf *c)
{
	struct users_rec *v = NULL;
	long n = read_import(m, o->import, &v);
	if (n < 0)
		return EXIT_ERR;
	char err[600];
	long added = 0, replaced = 0, kept = 0, i;
	int rc = EXIT_OK;
	if ((rc = open_redis(m, c)) != 0)
		goto out;
	for (i = 0; i < n; i++) {
		enum users_status st = rusers_put(ru, &v[i], 0, err, sizeof err);
		if (st == USERS_EXISTS && o->replace &&
		    (st = rusers_put(ru, &v[i], 2, err, sizeof err)) == USERS_OK) {
			replaced++;
			continue;
		}
		if (st == USERS_IOERR) {
			fprintf(stderr, "im %s: %s; stopped at %s (account %ld of %ld)\n", m->mode, err,
			        v[i].name, i + 1, n);
			rc = EXIT_ERR;
			break;
		}
		if (st == USERS_EXISTS) {
			fprintf(stderr,
			        "im %s: %s exists in redis %s: left as it is (--replace overwrites it)\n",
			        m->mode, v[i].name, c->clu.redis);
			kept++;
			rc = EXIT_ERR;
			continue;
		}
		added++;
	}
	fprintf(stderr, "im %s: %s: %ld accounts read, %ld added, %ld replaced, %ld left as they were%s\n",
	        m->mode, o->import, n, added, replaced, kept, i < n ? ", the rest not tried" : "");
out:
	if (v)
		mbedtls_platform_zeroize(v, (size_t)n * sizeof *v);
	free(v);
	return rc;
}
#endif

static int users(int argc, char **argv);

int admin_users(int argc, char **argv)
{
	return close_redis(users(argc, argv));
}

static int users(int argc, char **argv)
{
	const struct mode_spec *m = &spec_users;
	struct opts o;
	struct conf c;
	char path[CONF_PATH_MAX + 8];
	int rc = parse_args(m, argc, argv, &o);
	if (rc >= 0)
		return rc;
	if ((rc = load_conf(m, &o, &c)) != 0)
		return rc;
	void (*fn)(const struct users_rec *, void *) = o.export ? print_rec : print_name;
	if (o.import && !clustered(&c)) {
		char note[CONF_PATH_MAX + 200];
		conf_note(&o, &c, note, sizeof note);
		fprintf(
		    stderr,
		    "im %s: --import loads accounts into Redis, and the config names no [cluster] redis %s\n",
		    m->mode, note);
		return EXIT_ERR;
	}
#ifdef IM_CLUSTER
	if (o.import)
		return import_users(m, &o, &c);
	if (clustered(&c)) {
		char err[600];
		if ((rc = open_redis(m, &c)) != 0)
			return rc;
		if (rusers_each(ru, fn, NULL, err, sizeof err) < 0) {
			fprintf(stderr, "im %s: %s\n", m->mode, err);
			return EXIT_ERR;
		}
		return finish_stdout(m);
	}
#endif
	if (users_path(m, &c, path, sizeof path) < 0)
		return EXIT_ERR;
	if (users_file_missing(path)) {
		say_no_users_file(m, &o, &c, "", path);
		return EXIT_ERR;
	}
	if (users_each(path, fn, NULL) < 0) {
		io_error(m, "read", path);
		return EXIT_ERR;
	}
	return finish_stdout(m);
}

struct who_row {
	char name[PROTO_NAME_MAX * 2];
	char ip[64];
	char port[8];
	char since[32];
};

/* Copies the value of "key=value" into out if line starts with key=. */
static void take(const char *line, const char *key, char *out, size_t cap)
{
	size_t k = strlen(key);
	if (strncmp(line, key, k) == 0 && line[k] == '=')
		snprintf(out, cap, "%.*s", (int)cap - 1, line + k + 1);
}

/* Reads one session file; 0, or -1 if it vanished or is not readable. */
static int read_session(int dirfd, const char *file, struct who_row *row)
{
	char login[32] = "", *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int fd = openat(dirfd, file, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -1;
	FILE *f = fdopen(fd, "r");
	if (f == NULL) {
		close(fd);
		return -1;
	}
	snprintf(row->name, sizeof row->name, "%.*s", (int)sizeof row->name - 1, file);
	strcpy(row->ip, "-");
	strcpy(row->port, "-");
	strcpy(row->since, "-");
	while ((n = getline(&line, &cap, f)) > 0) {
		if (line[n - 1] == '\n')
			line[n - 1] = '\0';
		take(line, "name", row->name, sizeof row->name);
		take(line, "ip", row->ip, sizeof row->ip);
		take(line, "port", row->port, sizeof row->port);
		take(line, "login", login, sizeof login);
	}
	free(line);
	int bad = ferror(f);
	fclose(f);
	char *end;
	errno = 0;
	long long t = strtoll(login, &end, 10);
	if (login[0] != '\0' && *end == '\0' && errno == 0) {
		time_t tt = (time_t)t;
		struct tm tm;
		if (localtime_r(&tt, &tm) != NULL)
			strftime(row->since, sizeof row->since, "%Y-%m-%d %H:%M:%S", &tm);
	}
	return bad ? -1 : 0;
}

static int row_cmp(const void *a, const void *b)
{
	return strcmp(((const struct who_row *)a)->name, ((const struct who_row *)b)->name);
}

static int width(const struct who_row *rows, size_t n, size_t off, int min)
{
	int w = min;
	for (size_t i = 0; i < n; i++) {
		int l = (int)strlen((const char *)&rows[i] + off);
		if (l > w)
			w = l;
	}
	return w;
}

int admin_who(int argc, char **argv)
{
	const struct mode_spec *m = &spec_who;
	struct opts o;
	struct conf c;
	struct who_row *rows = NULL;
	size_t nrows = 0, cap = 0;
	char path[CONF_PATH_MAX + 8];
	int rc = parse_args(m, argc, argv, &o);
	if (rc >= 0)
		return rc;
	if ((rc = load_conf(m, &o, &c)) != 0)
		return rc;
	/* No users file, no accounts, nobody online: most likely the wrong
	 * place (directory or config), which an empty list would hide. A
	 * node's accounts are in Redis: it has none. */
	if (users_path(m, &c, path, sizeof path) < 0)
		return EXIT_ERR;
	if (!clustered(&c) && users_file_missing(path)) {
		say_no_users_file(m, &o, &c, "", path);
		return EXIT_ERR;
	}
	DIR *d = opendir(c.srv.run_dir);
	if (d == NULL) {
		if (errno == ENOENT) {
			fprintf(stderr,
			        "im who: no run_dir %s (no server has run here; -c FILE for another's)\n",
			        c.srv.run_dir);
			return EXIT_OK;
		}
		fprintf(stderr, "im who: cannot read run directory %s: %s\n", c.srv.run_dir, strerror(errno));
		return EXIT_ERR;
	}
	struct dirent *e;
	rc = EXIT_OK;
	while ((e = readdir(d)) != NULL) {
		struct stat sb;
		/* Dot files are the server's temp files mid-rename. */
		if (e->d_name[0] == '.' || fstatat(dirfd(d), e->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISREG(sb.st_mode))
			continue;
		if (nrows == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			struct who_row *nr = realloc(rows, ncap * sizeof *nr);
			if (nr == NULL) {
				fprintf(stderr, "im who: out of memory\n");
				rc = EXIT_ERR;
				break;
			}
			rows = nr;
			cap = ncap;
		}
		/* A session can end between readdir() and open(): skip it. */
		if (read_session(dirfd(d), e->d_name, &rows[nrows]) == 0)
			nrows++;
	}
	closedir(d);
	if (rc == EXIT_OK && nrows > 0) {
		qsort(rows, nrows, sizeof *rows, row_cmp);
		int nw = width(rows, nrows, offsetof(struct who_row, name), 4);
		int aw = width(rows, nrows, offsetof(struct who_row, ip), 7);
		printf("%-*s %-*s %5s %s\n", nw, "NAME", aw, "ADDRESS", "PORT", "SINCE");
		for (size_t i = 0; i < nrows; i++)
			printf("%-*s %-*s %5s %s\n", nw, rows[i].name, aw, rows[i].ip, rows[i].port,
			       rows[i].since);
	}
	free(rows);
	return rc == EXIT_OK ? finish_stdout(m) : rc;
}
