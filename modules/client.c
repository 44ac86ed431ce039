/* client: the "im client" program: options, usage, config, state directory,
 * signals, and the wiring of the client core (cli) to its presentation (ui). */
#include "client.h"

#include <errno.h>
#include <stdlib.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <mbedtls/platform_util.h>

#include "cli.h"
#include "conf.h"
#include "log.h"
#include "loop.h"
#include "paths.h"
#include "store.h"
#include "tls.h"
#include "tui.h"
#include "ui.h"
#include "version.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: im client [-c FILE] [--batch | --plain] [-u NAME] [--fingerprint]\n"
	           "  -c FILE         config file ([client] section; see config/im.conf);\n"
	           "                  without it: " PATHS_NO_C_TEXT "\n"
	           "  -b, --batch     script mode: commands on stdin, events on stdout\n"
	           "                  (the default when stdin is not a terminal)\n"
	           "  -p, --plain     line mode on a terminal: a prompt and the line editor,\n"
	           "                  no full screen (the default when TERM is dumb or unset,\n"
	           "                  or stdout is not a terminal)\n"
	           "  -u NAME         log in as NAME at start (with the server's stored resume\n"
	           "                  token, else the password from password_file, or asked\n"
	           "                  for without echo)\n"
	           "  --fingerprint   print this client's key (the hex SHA-256 of its public\n"
	           "                  key, as contacts see it) and exit\n"
	           "  -h, --help      this text\n"
	           "Interactive: /signup NAME, /login NAME (the password is asked for), /add NAME,\n"
	           "/del NAME, /open NAME (then plain lines go to NAME), /msg NAME TEXT, /close,\n"
	           "/who, /trust NAME, /fingerprint [NAME], /win N, /help, /quit; //text sends\n"
	           "/text. Keys: Alt+1..9, Ctrl-N/P switch windows, PageUp/PageDown scroll,\n"
	           "Tab completes, Up/Down history, Ctrl-C or Ctrl-D quit. NO_COLOR: no colour.\n"
	           "Batch commands: login NAME [PASSWORD], signup NAME PASSWORD, msg NAME TEXT,\n"
	           "open NAME, close [NAME], add NAME, del NAME, trust NAME, who, help, quit.\n"
	           "A login (or /login NAME) without a password uses the resume token the server\n"
	           "gave at the last login (kept in the state directory's tokens file).\n"
	           "Batch exit status: 0, or 1 if no login succeeded (or after a kick).\n");
}

/* The summaries of rate-limited log lines ("suppressed N similar lines")
 * are written a second after a call site starts holding lines back, as
 * the server does, not only when that site logs again or at exit. */
static struct loop_timer log_t;

static void flush_log(struct loop *l, void *arg)
{
	(void)arg;
	if (log_flush(0))
		loop_timer_set(l, &log_t, 1000, flush_log, NULL);
}

static void log_held(void *arg)
{
	struct loop *l = arg;
	if (log_t.slot == 0)
		loop_timer_set(l, &log_t, 1000, flush_log, NULL);
}

static void on_quit_signal(struct loop *l, void *arg)
{
	(void)l;
	cli_quit(arg);
}

int client_main(int argc, char **argv)
{
	const char *conf_path = NULL, *user = NULL;
	int batch = 0, plain = 0, fingerprint = 0;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-c") == 0 && i + 1 < argc)
			conf_path = argv[++i];
		else if (strcmp(argv[i], "-u") == 0 && i + 1 < argc)
			user = argv[++i];
		else if (strcmp(argv[i], "-b") == 0 || strcmp(argv[i], "--batch") == 0)
			batch = 1;
		else if (strcmp(argv[i], "-p") == 0 || strcmp(argv[i], "--plain") == 0)
			plain = 1;
		else if (strcmp(argv[i], "--fingerprint") == 0)
			fingerprint = 1;
		else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return 0;
		} else {
			fprintf(stderr, "im client: bad argument '%s'; try 'im client --help'\n", argv[i]);
			return 2;
		}
	}
	static struct conf conf;
	char err[512], errmsg[512] = "";
	conf_defaults(&conf);
	if (paths_load(&conf, conf_path, &conf_path, err, sizeof err) < 0 ||
	    conf_finish(&conf, err, sizeof err) < 0) {
		fprintf(stderr, "im client: %s\n", err);
		return 2;
	}
	if (conf.cli.state_dir[0] == '\0') {
		fprintf(stderr, "im client: HOME is not set; set state_dir in [client]\n");
		return 2;
	}
	if (user)
		snprintf(conf.cli.user, sizeof conf.cli.user, "%s", user);
	if (log_init("im-client", conf.cli.log, (enum log_level)conf.cli.log_level) < 0) {
		fprintf(stderr, "im client: bad log destination '%s'\n", conf.cli.log);
		return 1;
	}
	log_set_rate(conf.cli.log_rate_limit);
	signal(SIGPIPE, SIG_IGN);
	struct store st;
	if (tls_init() < 0 || store_open(&st, conf.cli.state_dir, err, sizeof err) < 0) {
		fprintf(stderr, "im client: %s\n", tls_init() < 0 ? "no entropy" : err);
		return 1;
	}
	if (fingerprint) {
		printf("%s\n", st.fingerprint);
		store_close(&st);
		return 0;
	}
	if (!batch && !isatty(STDIN_FILENO))
		batch = 1;
	/* Full screen needs a terminal both ways that knows cursor addressing. */
	const char *term = getenv("TERM"), *nocolor = getenv("NO_COLOR");
	int full = !batch && !plain && isatty(STDOUT_FILENO) && term && term[0] && strcmp(term, "dumb") != 0;
	int status = 1;
	struct loop *l = loop_new();
	struct ui *ui = NULL;
	struct tui *tui = NULL;
	struct cli *c = NULL;
	if (l == NULL || (batch ? (ui = ui_new(l, 1)) == NULL
	                        : (tui = tui_new(l, full, !(nocolor && nocolor[0]))) == NULL)) {
		fprintf(stderr, "im client: out of memory\n");
		goto out;
	}
	log_on_suppress(log_held, l);
	if ((c = cli_new(l, &conf.cli, &st, batch ? ui_emit : tui_emit, batch ? (void *)ui : (void *)tui, err,
	                 sizeof err)) == NULL) {
		fprintf(stderr, "im client: %s\n", err);
		goto out;
	}
	if (loop_signal(l, SIGINT, on_quit_signal, c) < 0 || loop_signal(l, SIGTERM, on_quit_signal, c) < 0 ||
	    loop_signal(l, SIGHUP, on_quit_signal, c) < 0 ||
	    (batch ? ui_start(ui, c) : tui_start(tui, c)) < 0) {
		fprintf(stderr, "im client: cannot set up the %s: %s\n", batch ? "loop" : "terminal",
		        strerror(errno));
		goto out;
	}
	/* Log lines written over the screen would garble it: to the status
	 * window instead, while stderr is the terminal. */
	if (tui && isatty(STDERR_FILENO))
		log_set_sink(tui_log, tui);
	log_info("im client %s: state %s, key %s, peer port %u", IM_VERSION, st.dir, st.fingerprint,
	         cli_peer_port(c));
	if (conf.cli.user[0]) {
		char pw[CLI_PASSWORD_MAX];
		int have_pw =
		    conf.cli.password_file[0] &&
		    store_read_password(conf.cli.password_file, pw, sizeof pw, err, sizeof err) == 0;
		if (ui)
			ui_wait_login(ui, 1);
		else
			tui_login_started(tui, conf.cli.user);
		if (have_pw) {
			/* With a stored token this still resumes; the password
			 * is kept for when the token is refused. */
			cli_login_saved(c, conf.cli.user, pw);
		} else if (cli_resume(c, conf.cli.user) == 0) {
			if (conf.cli.password_file[0])
				log_warn("%s; logging in with the stored resume token", err);
		} else {
			if (ui)
				ui_wait_login(ui, 0);
			else
				tui_login_started(tui, "");
			if (conf.cli.password_file[0]) {
				snprintf(errmsg, sizeof errmsg, "%s", err);
				goto out;
			}
			if (ui)
				ui_ask_password(ui, conf.cli.user, 0);
			else
				tui_ask_password(tui, conf.cli.user, 0);
		}
		mbedtls_platform_zeroize(pw, sizeof pw);
	}
	if (loop_run(l) < 0)
		log_err("poll: %s", strerror(errno));
	status = cli_status(c);
	/* Interactively, leaving without logging in is no failure. */
	if (!batch && status == 1 && cli_name(c)[0] == '\0')
		status = 0;
out:
	cli_free(c);
	log_set_sink(NULL, NULL);
	ui_free(ui);
	tui_free(tui);
	/* after the terminal is back */
	if (errmsg[0])
		fprintf(stderr, "im client: %s\n", errmsg);
	log_on_suppress(NULL, NULL);
	if (l)
		loop_timer_stop(l, &log_t);
	loop_free(l);
	store_close(&st);
	return status;
}
