/* client: the "im client" and "im send" programs: options, usage, config,
 * state directory, signals, and the wiring of the client core (cli) to its
 * presentation (ui; im send's own few lines). */
#include "client.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mbedtls/platform_util.h>

#include "cli.h"
#include "conf.h"
#include "log.h"
#include "loop.h"
#include "paths.h"
#include "peer.h"
#include "proto.h"
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
	           "Batch: the lines after a login wait for it (at most connect_timeout + 1 s);\n"
	           "the end of input quits once every message has its sent or failed line (at\n"
	           "most 6 x connect_timeout + 1 s); 'quit' quits at once.\n"
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

/* What "im client" and "im send" share: the config, the log, the state
 * directory, the loop and the client core. */
struct start {
	const char *prog; /* "im client" or "im send", for messages */
	struct conf *conf;
	const char *conf_file; /* the config file read, or NULL */
	struct store st;
	int st_open;
	struct loop *l;
	struct cli *c;
	char err[512];
};

/* Loads the config (conf_path, or what paths_load picks), sets user when
 * given, opens the log, TLS and the state directory. 0, or the exit status
 * (2 for a bad config, else 1) after saying why on stderr. */
static int start_config(struct start *s, const char *conf_path, const char *user)
{
	static struct conf conf;
	s->conf = &conf;
	conf_defaults(&conf);
	if (paths_load(&conf, conf_path, &s->conf_file, s->err, sizeof s->err) < 0 ||
	    conf_finish(&conf, s->err, sizeof s->err) < 0) {
		fprintf(stderr, "%s: %s\n", s->prog, s->err);
		return 2;
	}
	if (conf.cli.state_dir[0] == '\0') {
		fprintf(stderr, "%s: HOME is not set; set state_dir in [client]\n", s->prog);
		return 2;
	}
	if (user)
		snprintf(conf.cli.user, sizeof conf.cli.user, "%s", user);
	if (log_init(strcmp(s->prog, "im send") == 0 ? "im-send" : "im-client", conf.cli.log,
	             (enum log_level)conf.cli.log_level) < 0) {
		fprintf(stderr, "%s: bad log destination '%s'\n", s->prog, conf.cli.log);
		return 1;
	}
	log_set_rate(conf.cli.log_rate_limit);
	signal(SIGPIPE, SIG_IGN);
	if (tls_init() < 0) {
		fprintf(stderr, "%s: no entropy\n", s->prog);
		return 1;
	}
	if (store_open(&s->st, conf.cli.state_dir, s->err, sizeof s->err) < 0) {
		fprintf(stderr, "%s: %s\n", s->prog, s->err);
		return 1;
	}
	s->st_open = 1;
	return 0;
}

/* Makes the loop. 0, or -1 after saying so. */
static int start_loop(struct start *s)
{
	if ((s->l = loop_new()) == NULL) {
		fprintf(stderr, "%s: out of memory\n", s->prog);
		return -1;
	}
	log_on_suppress(log_held, s->l);
	return 0;
}

/* Makes the client core reporting to emit(arg), with SIGINT, SIGTERM and
 * SIGHUP calling on_signal(sigarg); logs the start. 0, or -1 after saying
 * why. */
static int start_cli(struct start *s, cli_emit_fn emit, void *arg, loop_fn on_signal, void *sigarg)
{
	if ((s->c = cli_new(s->l, &s->conf->cli, &s->st, emit, arg, s->err, sizeof s->err)) == NULL) {
		fprintf(stderr, "%s: %s\n", s->prog, s->err);
		return -1;
	}
	if (loop_signal(s->l, SIGINT, on_signal, sigarg) < 0 ||
	    loop_signal(s->l, SIGTERM, on_signal, sigarg) < 0 ||
	    loop_signal(s->l, SIGHUP, on_signal, sigarg) < 0) {
		fprintf(stderr, "%s: cannot set up the loop: %s\n", s->prog, strerror(errno));
		return -1;
	}
	log_info("%s %s: state %s, key %s, peer port %u", s->prog, IM_VERSION, s->st.dir, s->st.fingerprint,
	         cli_peer_port(s->c));
	return 0;
}

/* Frees the core (its last events still reach their sink: free that
 * after this), then, in start_end, the rest of what start_* made. */
static void start_free_cli(struct start *s)
{
	cli_free(s->c);
	s->c = NULL;
}

static void start_end(struct start *s)
{
	log_on_suppress(NULL, NULL);
	if (s->l)
		loop_timer_stop(s->l, &log_t);
	loop_free(s->l);
	s->l = NULL;
	if (s->st_open)
		store_close(&s->st);
}

/* Logs the configured user in: with the password from password_file (a
 * stored resume token still goes first), else with the stored token
 * alone. 0 when started (or refused at once, with an ERROR event); -1 when
 * there is neither, with why in s->err ("" when password_file is unset). */
static int login_configured(struct start *s)
{
	const struct conf_client *k = &s->conf->cli;
	char pw[CLI_PASSWORD_MAX];
	int rc = 0;
	s->err[0] = '\0';
	int have_pw = k->password_file[0] &&
	              store_read_password(k->password_file, pw, sizeof pw, s->err, sizeof s->err) == 0;
	if (have_pw) {
		cli_login_saved(s->c, k->user, pw);
	} else if (cli_resume(s->c, k->user) == 0) {
		if (k->password_file[0])
			log_warn("%s; logging in with the stored resume token", s->err);
	} else {
		rc = -1;
	}
	mbedtls_platform_zeroize(pw, sizeof pw);
	return rc;
}

/* How long a one-shot script's steps may take, from the config: a login
 * (its first attempt is bounded by connect_timeout; one second more lets
 * that attempt's own outcome be seen), and a message's fate, which the
 * core bounds by 6 x connect_timeout + 1 s (the path ladder, at most 5 x
 * connect_timeout + 1 s, then the wait for the ACK; README "How a
 * conversation connects"). */
static unsigned login_bound_ms(const struct conf_client *k)
{
	return (unsigned)k->connect_timeout * 1000 + 1000;
}

static unsigned outcome_bound_ms(const struct conf_client *k)
{
	return 6 * (unsigned)k->connect_timeout * 1000 + 1000;
}

static void on_quit_signal(struct loop *l, void *arg)
{
	struct start *s = arg;
	(void)l;
	cli_quit(s->c);
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
	struct start s = {.prog = "im client"};
	int status = start_config(&s, conf_path, user);
	if (status != 0) {
		start_end(&s);
		return status;
	}
	if (fingerprint) {
		printf("%s\n", s.st.fingerprint);
		start_end(&s);
		return 0;
	}
	if (!batch && !isatty(STDIN_FILENO))
		batch = 1;
	/* Full screen needs a terminal both ways that knows cursor addressing. */
	const char *term = getenv("TERM"), *nocolor = getenv("NO_COLOR");
	int full = !batch && !plain && isatty(STDOUT_FILENO) && term && term[0] && strcmp(term, "dumb") != 0;
	char errmsg[512] = "";
	status = 1;
	struct ui *ui = NULL;
	struct tui *tui = NULL;
	if (start_loop(&s) < 0)
		goto out;
	if (batch ? (ui = ui_new(s.l)) == NULL
	          : (tui = tui_new(s.l, full, !(nocolor && nocolor[0]))) == NULL) {
		fprintf(stderr, "im client: out of memory\n");
		goto out;
	}
	if (start_cli(&s, batch ? ui_emit : tui_emit, batch ? (void *)ui : (void *)tui, on_quit_signal, &s) <
	    0)
		goto out;
	if ((batch ? ui_start(ui, s.c) : tui_start(tui, s.c)) < 0) {
		fprintf(stderr, "im client: cannot set up the %s: %s\n", batch ? "loop" : "terminal",
		        strerror(errno));
		goto out;
	}
	/* Log lines written over the screen would garble it: to the status
	 * window instead, while stderr is the terminal. */
	if (tui && isatty(STDERR_FILENO))
		log_set_sink(tui_log, tui);
	if (ui)
		ui_batch_bounds(ui, login_bound_ms(&s.conf->cli),
		                /* the quit itself waits connect_timeout more for
		                 * messages in flight: the bound in all stays */
		                outcome_bound_ms(&s.conf->cli) -
		                    (unsigned)s.conf->cli.connect_timeout * 1000);
	if (s.conf->cli.user[0]) {
		if (ui)
			ui_wait_login(ui, 1);
		else
			tui_login_started(tui, s.conf->cli.user);
		if (login_configured(&s) < 0) {
			if (ui)
				ui_wait_login(ui, 0);
			else
				tui_login_started(tui, "");
			if (s.err[0]) {
				/* said once the terminal is back */
				snprintf(errmsg, sizeof errmsg, "%s", s.err);
				goto out;
			}
			if (ui)
				ui_ask_password(ui, s.conf->cli.user, 0);
			else
				tui_ask_password(tui, s.conf->cli.user, 0);
		}
	}
	if (loop_run(s.l) < 0)
		log_err("poll: %s", strerror(errno));
	status = cli_status(s.c);
	/* Interactively, leaving without logging in is no failure. */
	if (!batch && status == 1 && cli_name(s.c)[0] == '\0')
		status = 0;
out:
	start_free_cli(&s);
	log_set_sink(NULL, NULL);
	ui_free(ui);
	tui_free(tui);
	if (errmsg[0])
		fprintf(stderr, "im client: %s\n", errmsg);
	start_end(&s);
	return status;
}

/* ---- im send ---- */

static void send_usage(FILE *f)
{
	fprintf(f, "usage: im send [-c FILE] [-u NAME] [-w SECONDS] NAME TEXT...\n"
	           "       im send [-c FILE] [-u NAME] [-w SECONDS] NAME -   (the text from stdin)\n"
	           "Logs in as the configured user, sends TEXT to the contact NAME, waits for\n"
	           "its acknowledgement, logs out. Prints nothing and exits 0 when NAME\n"
	           "acknowledged the message; else prints why on stderr and exits 1 (2 for\n"
	           "bad usage). The TEXT words are joined by single spaces; '-' as the only\n"
	           "TEXT reads the message from stdin (newlines kept, a final one dropped).\n"
	           "Options (before NAME; '--' ends them):\n"
	           "  -c FILE         config file ([client] section: server, user,\n"
	           "                  password_file, ...); without it: " PATHS_NO_C_TEXT "\n"
	           "  -u NAME         log in as NAME instead of the configured user\n"
	           "  -w, --wait SECONDS\n"
	           "                  give up (exit 1) when no acknowledgement came within\n"
	           "                  SECONDS (1-86400; default 7 x connect_timeout + 2 s:\n"
	           "                  the login's bound and a message's)\n"
	           "  -h, --help      this text\n"
	           "The login uses the resume token stored in the state directory, else the\n"
	           "password in password_file; it never asks. Logging in replaces a session\n"
	           "of the same user elsewhere (a running 'im client' of it is kicked).\n");
}

/* The one message im send carries and what became of it. */
struct send {
	struct start *s;
	char to[PROTO_NAME_MAX + 1]; /* folded */
	char wire[PROTO_LINE_MAX * 2 + 1];
	unsigned wait_s;
	int ready, sending, done, status;
	struct loop_timer step_t, quit_t, login_t, wait_t;
	char login_err[256]; /* the last error before the login ended */
};

static void send_quit(struct loop *l, void *arg)
{
	struct send *m = arg;
	(void)l;
	/* A message still on its way fails now ("closed", not reported: the
	 * outcome was said), so the quit does not wait for it. */
	if (m->sending && m->status != 0)
		cli_close(m->s->c, m->to);
	cli_quit(m->s->c);
}

/* The outcome: status, and for a failure one line on stderr (text from a
 * peer or the server shown with its control characters escaped). Only the
 * first counts. The quit goes from a timer: this may be called from
 * inside the core. */
static void send_done(struct send *m, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void send_done(struct send *m, int status, const char *fmt, ...)
{
	if (m->done)
		return;
	m->done = 1;
	m->status = status;
	if (fmt != NULL) {
		char raw[1024], shown[sizeof raw * 4];
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(raw, sizeof raw, fmt, ap);
		va_end(ap);
		proto_printable(raw, strlen(raw), shown, sizeof shown, PROTO_SHOW_SCREEN);
		fprintf(stderr, "im send: %s\n", shown);
	}
	loop_timer_stop(m->s->l, &m->step_t);
	loop_timer_stop(m->s->l, &m->login_t);
	loop_timer_stop(m->s->l, &m->wait_t);
	loop_timer_set(m->s->l, &m->quit_t, 0, send_quit, m);
}

/* The core's last error before a login ended, without its "retrying"
 * (im send does not retry: it says why it gave up). */
static const char *send_login_why(struct send *m)
{
	char *r = strstr(m->login_err, "; retrying");
	if (r == NULL)
		r = strstr(m->login_err, " (retrying)");
	if (r != NULL)
		*r = '\0';
	return m->login_err[0] ? m->login_err : "the server did not answer";
}

static void send_msg(struct loop *l, void *arg)
{
	struct send *m = arg;
	(void)l;
	if (m->done || m->sending)
		return;
	m->sending = 1;
	/* its outcome comes exactly once, maybe before this returns */
	cli_msg(m->s->c, m->to, m->wire);
}

/* After an error before the login ended: refused (the link idle) ends it;
 * retrying goes on, within the login's bound. */
static void send_login_check(struct loop *l, void *arg)
{
	struct send *m = arg;
	(void)l;
	if (!m->ready && cli_link(m->s->c) == CLI_LINK_IDLE)
		send_done(m, 1, "%s", m->login_err);
}

static void send_login_over(struct loop *l, void *arg)
{
	struct send *m = arg;
	(void)l;
	if (!m->ready)
		send_done(m, 1, "no login within %u s: %s", login_bound_ms(&m->s->conf->cli) / 1000,
		          send_login_why(m));
}

static void send_wait_over(struct loop *l, void *arg)
{
	struct send *m = arg;
	(void)l;
	if (!m->ready)
		send_done(m, 1, "no login within %u s (-w): %s", m->wait_s, send_login_why(m));
	else
		send_done(m, 1, "%s: %s (%s)", m->to, cli_reason_text(PEER_TIMEOUT), PEER_TIMEOUT);
}

static void send_emit(void *arg, const struct cli_event *ev)
{
	struct send *m = arg;
	switch (ev->type) {
	case CLI_EV_READY:
		if (!m->ready) {
			m->ready = 1;
			loop_timer_stop(m->s->l, &m->login_t);
			loop_timer_set(m->s->l, &m->step_t, 0, send_msg, m);
		}
		break;
	case CLI_EV_SENT:
		send_done(m, 0, NULL);
		break;
	case CLI_EV_FAILED:
		send_done(m, 1, "%s: %s (%s)", m->to, cli_reason_text(ev->text), ev->text);
		break;
	case CLI_EV_NEED_PASSWORD:
		send_done(m, 1,
		          "cannot log in as %s: the server refused the stored resume token (expired or "
		          "revoked), and there is no password: set password_file in [client]",
		          m->s->conf->cli.user);
		break;
	case CLI_EV_ERROR:
		if (m->done) {
			log_warn("%s", ev->text);
		} else if (!m->ready) {
			snprintf(m->login_err, sizeof m->login_err, "%s", ev->text);
			loop_timer_set(m->s->l, &m->step_t, 0, send_login_check, m);
		} else {
			/* e.g. the server link lost: the conversation carries on */
			log_warn("%s", ev->text);
			snprintf(m->login_err, sizeof m->login_err, "%s", ev->text);
		}
		break;
	case CLI_EV_NOTICE:
		log_warn("%s", ev->text);
		break;
	case CLI_EV_BYE:
		/* Quitting before the outcome: a kick, or a signal. */
		send_done(m, 1, "%s: %s", m->to,
		          m->login_err[0] ? m->login_err : "quit before the acknowledgement");
		break;
	default:
		break;
	}
}

static void send_signal(struct loop *l, void *arg)
{
	struct send *m = arg;
	(void)l;
	if (m->done)
		cli_quit(m->s->c);
	else
		send_done(m, 1, "interrupted before %s acknowledged the message", m->to);
}

/* Reads the message from stdin into buf (cap bytes, NUL added), a final
 * newline dropped. Its length, or -1 after saying why (more than fits). */
static ssize_t send_read_stdin(char *buf, size_t cap)
{
	size_t len = 0;
	while (len < cap - 1) {
		ssize_t n = read(STDIN_FILENO, buf + len, cap - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fprintf(stderr, "im send: reading stdin: %s\n", strerror(errno));
			return -1;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len == cap - 1) {
		fprintf(stderr, "im send: the message on stdin is too long (more than %zu bytes)\n", cap - 3);
		return -1;
	}
	if (len > 0 && buf[len - 1] == '\n')
		len--;
	if (len > 0 && buf[len - 1] == '\r')
		len--;
	buf[len] = '\0';
	return (ssize_t)len;
}

/* Checks the message text and escapes it into m->wire. 0, or the exit
 * status after saying why. */
static int send_text(struct send *m, const char *text, size_t len, size_t max_line)
{
	/* What peer_send allows: "MSG " id " " text "\n" within the line. */
	size_t room = max_line - (sizeof "MSG 18446744073709551615 \n" - 1);
	if (len == 0) {
		fprintf(stderr, "im send: the message is empty\n");
		return 1;
	}
	if (memchr(text, '\0', len) != NULL) {
		fprintf(stderr, "im send: the message holds a NUL byte\n");
		return 1;
	}
	if (!proto_utf8_valid(text, len)) {
		fprintf(stderr, "im send: the message is not valid UTF-8\n");
		return 1;
	}
	int n = proto_escape(text, len, m->wire, sizeof m->wire);
	if (n < 0 || (size_t)n > room) {
		fprintf(stderr,
		        "im send: the message is too long: at most %zu bytes escaped (max_line %zu), a "
		        "newline and a backslash counting 2\n",
		        room, max_line);
		return 1;
	}
	return 0;
}

int send_main(int argc, char **argv)
{
	const char *conf_path = NULL, *user = NULL;
	unsigned wait_s = 0;
	int i = 1;
	for (; i < argc && argv[i][0] == '-' && argv[i][1] != '\0'; i++) {
		if (strcmp(argv[i], "--") == 0) {
			i++;
			break;
		} else if (strcmp(argv[i], "-c") == 0 && i + 1 < argc) {
			conf_path = argv[++i];
		} else if (strcmp(argv[i], "-u") == 0 && i + 1 < argc) {
			user = argv[++i];
		} else if ((strcmp(argv[i], "-w") == 0 || strcmp(argv[i], "--wait") == 0) && i + 1 < argc) {
			char *end;
			errno = 0;
			unsigned long v = strtoul(argv[++i], &end, 10);
			if (errno || end == argv[i] || *end || argv[i][0] == '-' || v < 1 || v > 86400) {
				fprintf(stderr, "im send: -w needs SECONDS from 1 to 86400, not '%s'\n",
				        argv[i]);
				return 2;
			}
			wait_s = (unsigned)v;
		} else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			send_usage(stdout);
			return 0;
		} else {
			fprintf(stderr, "im send: bad argument '%s'; try 'im send --help'\n", argv[i]);
			return 2;
		}
	}
	if (argc - i < 2) {
		fprintf(stderr, "im send: %s; try 'im send --help'\n",
		        i < argc ? "no TEXT" : "no NAME and TEXT");
		return 2;
	}
	static struct send m;
	struct start s = {.prog = "im send"};
	m.s = &s;
	if (proto_name_fold(argv[i], m.to) < 0) {
		fprintf(stderr,
		        "im send: '%s' is not a valid name (1-32 of a-z 0-9 _ . -, starting with a letter or "
		        "digit)\n",
		        argv[i]);
		return 2;
	}
	int status = start_config(&s, conf_path, user);
	if (status != 0)
		goto out;
	status = 1;
	const struct conf_client *k = &s.conf->cli;
	/* A line and its \r\n: what does not fit is too long anyway. */
	char text[PROTO_LINE_MAX + 3];
	ssize_t len = 0;
	if (argc - i == 2 && strcmp(argv[i + 1], "-") == 0) {
		if ((len = send_read_stdin(text, sizeof text)) < 0)
			goto out;
	} else {
		/* The words, one space between. */
		for (int j = i + 1; j < argc; j++) {
			size_t w = strlen(argv[j]);
			if ((size_t)len + w + 1 >= sizeof text) {
				fprintf(stderr, "im send: the message is too long (more than %zu bytes)\n",
				        sizeof text - 3);
				goto out;
			}
			if (j > i + 1)
				text[len++] = ' ';
			memcpy(text + len, argv[j], w);
			len += (ssize_t)w;
		}
		text[len] = '\0';
	}
	if ((status = send_text(&m, text, (size_t)len, (size_t)k->max_line)) != 0)
		goto out;
	status = 1;
	if (k->user[0] == '\0') {
		fprintf(stderr, "im send: no user: set user in [client]%s%s, or give -u NAME\n",
		        s.conf_file ? " of " : "", s.conf_file ? s.conf_file : "");
		goto out;
	}
	char self[PROTO_NAME_MAX + 1];
	if (proto_name_fold(k->user, self) == 0 && strcmp(self, m.to) == 0) {
		fprintf(stderr, "im send: %s: that is the user sending\n", m.to);
		goto out;
	}
	m.wait_s = wait_s ? wait_s : (login_bound_ms(k) + outcome_bound_ms(k)) / 1000;
	if (start_loop(&s) < 0 || start_cli(&s, send_emit, &m, send_signal, &m) < 0)
		goto out;
	loop_timer_set(s.l, &m.login_t, login_bound_ms(k), send_login_over, &m);
	loop_timer_set(s.l, &m.wait_t, (uint64_t)m.wait_s * 1000, send_wait_over, &m);
	if (login_configured(&s) < 0) {
		if (s.err[0])
			fprintf(stderr, "im send: %s\n", s.err);
		else
			fprintf(
			    stderr,
			    "im send: no password for %s: set password_file in [client]%s%s (im send never "
			    "asks; a resume token stored by an earlier login is used when there is one)\n",
			    k->user, s.conf_file ? " of " : "", s.conf_file ? s.conf_file : "");
		goto out;
	}
	if (loop_run(s.l) < 0)
		log_err("poll: %s", strerror(errno));
	status = m.done ? m.status : 1;
out:
	if (s.l) {
		loop_timer_stop(s.l, &m.step_t);
		loop_timer_stop(s.l, &m.quit_t);
		loop_timer_stop(s.l, &m.login_t);
		loop_timer_stop(s.l, &m.wait_t);
	}
	start_free_cli(&s);
	start_end(&s);
	mbedtls_platform_zeroize(m.wire, sizeof m.wire);
	return status;
}
