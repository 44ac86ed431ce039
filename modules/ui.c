/* ui: batch mode (commands in, one event line out each, flushed) and the
 * interactive line mode (slash commands, a window per conversation). */
#include "ui.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/platform_util.h>

#include "log.h"
#include "proto.h"

#define UI_LINE_MAX    4096 /* a stdin line, newline included */
#define UI_HISTORY     200  /* lines kept per window */
#define UI_WINDOWS_MAX 1024
/* A field as shown: every byte may become a four-byte escape. */
#define UI_SHOW_MAX (UI_LINE_MAX * 4 + 1)

struct win {
	struct win *next;
	char name[PROTO_NAME_MAX + 1];
	char *lines[UI_HISTORY];
	size_t start, n;
};

struct ui {
	struct loop *loop;
	struct cli *cli;
	int batch;
	char in[UI_LINE_MAX];
	size_t inlen;
	int skipping; /* dropping the rest of an overlong line */
	int reading;
	int wait_login; /* batch: later lines wait until this login ends */
	int eof;        /* stdin ended while lines waited */
	/* Batch: the end of input waits for every message's outcome, and the
	 * lines after a login for its end, each bounded (0: no bound). */
	unsigned login_ms, outcome_ms;
	struct loop_timer login_t, check_t, drain_t;
	unsigned long inflight; /* messages whose sent/failed has not come */
	int draining;           /* stdin ended; quitting once inflight is 0 */
	char login_err[256];    /* the last error while a login was waited for */
	struct termios saved;
	int echo_off;
	char pw_name[PROTO_NAME_MAX + 1]; /* non-empty: the next line is a password */
	int pw_signup;
	int pw_again;                 /* signup: the next line repeats pw_first */
	char pw_first[UI_LINE_MAX];   /* wiped once compared */
	size_t nrows;                 /* rows the last /who listed */
	char cur[PROTO_NAME_MAX + 1]; /* the open window */
	struct win *wins;
	size_t nwins;
};

static const char *const help_lines[] = {
    "login NAME PASSWORD   log in (login NAME alone: the stored resume token, or asks)",
    "signup NAME PASSWORD  create the account and log in",
    "msg NAME TEXT         send TEXT (\\n = newline, \\\\ = backslash in batch mode)",
    "open NAME             open the conversation with NAME",
    "close [NAME]          end the conversation (default: the open one)",
    "add NAME              add a contact",
    "del NAME              remove a contact",
    "trust NAME            accept the changed key of NAME",
    "who                   list contacts and their status",
    "help                  this list",
    "quit                  log out and leave",
};

static void out(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void out(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	/* Scripts read events through pipes: each line goes out at once. */
	fflush(stdout);
}

/* ---- interactive windows ---- */

static struct win *win_get(struct ui *u, const char *name)
{
	for (struct win *w = u->wins; w; w = w->next)
		if (strcmp(w->name, name) == 0)
			return w;
	if (u->nwins >= UI_WINDOWS_MAX)
		return NULL;
	struct win *w = calloc(1, sizeof *w);
	if (w == NULL)
		return NULL;
	snprintf(w->name, sizeof w->name, "%s", name);
	w->next = u->wins;
	u->wins = w;
	u->nwins++;
	return w;
}

static void win_add(struct win *w, const char *line)
{
	char *copy = strdup(line);
	if (w == NULL || copy == NULL) {
		free(copy);
		return;
	}
	if (w->n == UI_HISTORY) {
		free(w->lines[w->start]);
		w->lines[w->start] = copy;
		w->start = (w->start + 1) % UI_HISTORY;
	} else {
		w->lines[(w->start + w->n++) % UI_HISTORY] = copy;
	}
}

static void stamp(char *buf, size_t len)
{
	time_t t = time(NULL);
	struct tm tm;
	if (localtime_r(&t, &tm) == NULL || strftime(buf, len, "%H:%M", &tm) == 0)
		snprintf(buf, len, "--:--");
}

/* Adds a dialog entry to name's window; shows it if that window is open.
 * text is shown already (no controls); the lines of a multi-line message
 * are indented, so no line of it can pass for an entry of its own. */
static void dialog(struct ui *u, const char *name, const char *who, const char *text)
{
	char ts[8], head[PROTO_NAME_MAX + 16];
	stamp(ts, sizeof ts);
	int hlen = snprintf(head, sizeof head, "[%s] %s: ", ts, who);
	size_t indent = hlen > 0 && (size_t)hlen < sizeof head ? (size_t)hlen : 4;
	size_t nl = 0;
	for (const char *q = text; (q = strchr(q, '\n')) != NULL; q++)
		nl++;
	char *line = malloc(sizeof head + strlen(text) + nl * indent + 1), *o = line;
	if (line == NULL)
		return;
	o += sprintf(o, "%s", head);
	for (const char *q = text; *q; q++) {
		*o++ = *q;
		if (*q == '\n') {
			memset(o, ' ', indent);
			o += indent;
		}
	}
	*o = '\0';
	win_add(win_get(u, name), line);
	if (strcmp(u->cur, name) == 0)
		out("%s", line);
	else
		out("* new message from %s (/open %s)", name, name);
	free(line);
}

/* Adds a line about the conversation (not a message) to name's window;
 * shows it if that window is open. */
static void note(struct ui *u, const char *name, const char *line)
{
	win_add(win_get(u, name), line);
	if (strcmp(u->cur, name) == 0)
		out("%s", line);
}

static void show_window(struct ui *u, const char *name)
{
	struct win *w = win_get(u, name);
	out("--- conversation with %s ---", name);
	if (w)
		for (size_t i = 0; i < w->n; i++)
			out("%s", w->lines[(w->start + i) % UI_HISTORY]);
}

/* ---- events ---- */

static void batch_event(const struct cli_event *ev)
{
	switch (ev->type) {
	case CLI_EV_READY:
		out("ready %s", ev->name);
		break;
	case CLI_EV_ONLINE:
		out("online %s %s %u", ev->name, ev->ip, ev->port);
		break;
	case CLI_EV_OFFLINE:
		out("offline %s", ev->name);
		break;
	case CLI_EV_ASKED:
		out("asked %s", ev->name);
		break;
	case CLI_EV_MSG:
		out("msg %s %s %s", ev->name, ev->id, ev->text);
		break;
	case CLI_EV_SENT:
		out("sent %s %lu", ev->name, ev->num);
		break;
	case CLI_EV_FAILED:
		out("failed %s %lu %s", ev->name, ev->num, ev->text);
		break;
	case CLI_EV_KEYCHANGE:
		out("keychange %s", ev->name);
		break;
	case CLI_EV_ERROR:
	case CLI_EV_NEED_PASSWORD:
		out("error %s", ev->text);
		break;
	case CLI_EV_BYE:
		out("bye");
		break;
	case CLI_EV_NOTICE:
		/* Not an event for scripts, but worth the log. */
		log_warn("%s", ev->text);
		break;
	case CLI_EV_PATH:
		out("path %s %s", ev->name, ev->text);
		break;
	case CLI_EV_TYPING:
	case CLI_EV_CLOSED:
		break;
	}
}

static void interactive_event(struct ui *u, const struct cli_event *ev)
{
	static char text[UI_LINE_MAX], shown[UI_SHOW_MAX];
	switch (ev->type) {
	case CLI_EV_READY:
		out("* logged in as %s; /who lists your contacts, /help the commands", ev->name);
		break;
	case CLI_EV_ONLINE:
		out("* %s is online", ev->name);
		break;
	case CLI_EV_OFFLINE:
		out("* %s went offline", ev->name);
		break;
	case CLI_EV_ASKED:
		out("* %s added you as a contact; /add %s to talk", ev->name, ev->name);
		break;
	case CLI_EV_MSG:
		/* The peer's own escaping is undone, then what a terminal
		 * would act on made visible (newlines stay: a message may
		 * have several lines). */
		if (proto_unescape(ev->text, strlen(ev->text), text, sizeof text) < 0)
			snprintf(text, sizeof text, "%s", ev->text);
		proto_printable(text, strlen(text), shown, sizeof shown, PROTO_SHOW_SCREEN_NL);
		dialog(u, ev->name, ev->name, shown);
		break;
	case CLI_EV_SENT:
		break;
	case CLI_EV_FAILED:
		out("! message %lu to %s was not delivered: %s", ev->num, ev->name,
		    cli_reason_text(ev->text));
		break;
	case CLI_EV_KEYCHANGE:
		out("!!! WARNING: the server announced a NEW KEY for %s.", ev->name);
		out("!!! Someone may be impersonating %s, or %s reinstalled. Check with %s by", ev->name,
		    ev->name, ev->name);
		out("!!! another way; '/trust %s' accepts the new key. Until then nothing is sent.",
		    ev->name);
		break;
	case CLI_EV_ERROR:
		out("! %s", ev->text);
		break;
	case CLI_EV_BYE:
		out("* bye");
		break;
	case CLI_EV_TYPING:
		break;
	case CLI_EV_NOTICE:
		out("* %s", ev->text);
		break;
	case CLI_EV_CLOSED:
		out("* %s closed the conversation", ev->name);
		break;
	case CLI_EV_NEED_PASSWORD:
		out("! %s", ev->text);
		ui_ask_password(u, ev->name, 0);
		break;
	case CLI_EV_PATH:
		snprintf(text, sizeof text, "* %s: connected (%s)", ev->name, ev->text);
		note(u, ev->name, text);
		break;
	}
}

/* Writes s as shown into buf (cap bytes); NULL stays NULL. */
static const char *shown(const char *s, char *buf, size_t cap, enum proto_show how)
{
	if (s == NULL)
		return NULL;
	proto_printable(s, strlen(s), buf, cap, how);
	return buf;
}

static void resume_input(struct loop *l, void *arg);
static void login_check(struct loop *l, void *arg);
static void outcome_seen(struct ui *u);

/* Every string of an event may come from a peer or the server, so none
 * reaches stdout raw: a batch event stays one line of printable text with
 * exactly DESIGN's escapes (C0 controls and DEL; backslashes doubled in an
 * error's TEXT), and a terminal gets no control sequence and no reordering
 * of what follows. A message's text is left to interactive_event, which
 * unescapes it first. */
void ui_emit(void *arg, const struct cli_event *ev)
{
	/* A name is a stdin line's word at most (an invalid one in "failed
	 * NAME ..." is shown whole, not cut). */
	static char name[UI_SHOW_MAX], ip[48 * 4 + 1], id[PROTO_LINE_MAX * 4 + 1], text[UI_SHOW_MAX];
	struct ui *u = arg;
	enum proto_show how = u->batch ? PROTO_SHOW_BATCH : PROTO_SHOW_SCREEN;
	struct cli_event e = *ev;
	e.name = shown(ev->name, name, sizeof name, how);
	e.ip = shown(ev->ip, ip, sizeof ip, how);
	e.id = shown(ev->id, id, sizeof id, how);
	/* In batch mode a message's text is in the peer channel's escaping
	 * already; an error's or notice's is not: its backslashes are
	 * doubled, so "\\n" in it can never pass for an escape. */
	if (u->batch && (ev->type == CLI_EV_ERROR || ev->type == CLI_EV_NOTICE))
		e.text = shown(ev->text, text, sizeof text, PROTO_SHOW_BATCH_TEXT);
	else if (u->batch || ev->type != CLI_EV_MSG)
		e.text = shown(ev->text, text, sizeof text, how);
	if (u->batch)
		batch_event(&e);
	else
		interactive_event(u, &e);
	if (ev->type == CLI_EV_SENT || ev->type == CLI_EV_FAILED)
		outcome_seen(u);
	if (u->wait_login && ev->type == CLI_EV_READY) {
		ui_wait_login(u, 0);
	} else if (u->wait_login && (ev->type == CLI_EV_ERROR || ev->type == CLI_EV_NEED_PASSWORD)) {
		snprintf(u->login_err, sizeof u->login_err, "%s", ev->text ? ev->text : "");
		/* The core sets its state after the event: whether the login
		 * has ended (refused) or goes on (retrying) is read after. */
		loop_timer_set(u->loop, &u->check_t, 0, login_check, u);
	}
}

/* ---- commands ---- */

static void echo(struct ui *u, int on)
{
	if (u->batch || !isatty(STDIN_FILENO))
		return;
	if (!on && !u->echo_off && tcgetattr(STDIN_FILENO, &u->saved) == 0) {
		struct termios t = u->saved;
		t.c_lflag &= ~(tcflag_t)ECHO;
		if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &t) == 0)
			u->echo_off = 1;
	} else if (on && u->echo_off) {
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &u->saved);
		u->echo_off = 0;
	}
}

void ui_ask_password(struct ui *u, const char *name, int signup)
{
	if (u->batch) {
		struct cli_event ev = {.type = CLI_EV_ERROR,
		                       .text = "no password: set password_file, or send a login line"};
		ui_emit(u, &ev);
		return;
	}
	snprintf(u->pw_name, sizeof u->pw_name, "%.32s", name);
	u->pw_signup = signup;
	/* echo off before the prompt shows: a password typed (or pasted) as
	 * soon as it is asked for is then neither echoed nor flushed away */
	echo(u, 0);
	printf("%s for %s: ", signup ? "new password" : "password", name);
	fflush(stdout);
}

static void error(struct ui *u, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void error(struct ui *u, const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	struct cli_event ev = {.type = CLI_EV_ERROR, .text = buf};
	ui_emit(u, &ev);
}

static void who_row(void *arg, const struct cli_contact *ct)
{
	struct ui *u = arg;
	u->nrows++;
	if (u->batch) {
		if (!ct->listed)
			out("asked %s", ct->name);
		else if (ct->online)
			out("online %s %s %u", ct->name, ct->ip, ct->port);
		else
			out("offline %s", ct->name);
		if (ct->keychange)
			out("keychange %s", ct->name);
		return;
	}
	out("  %-32s %s%s", ct->name,
	    !ct->listed  ? "asked you (not your contact)"
	    : ct->online ? "online"
	                 : "offline",
	    ct->keychange ? ", KEY CHANGED (see /trust)" : "");
}

/* Splits "word rest" in place: returns rest (maybe ""), word NUL-ended. */
static char *next_word(char *s)
{
	char *sp = strchr(s, ' ');
	if (sp == NULL)
		return s + strlen(s);
	*sp++ = '\0';
	return sp;
}

static void send_text(struct ui *u, const char *name, const char *text)
{
	char wire[UI_LINE_MAX * 2];
	char plain[UI_LINE_MAX];
	if (u->batch) {
		if (proto_unescape(text, strlen(text), plain, sizeof plain) < 0) {
			error(u, "bad escape in message text (use \\n for a newline, \\\\ for a backslash)");
			return;
		}
		if (cli_name(u->cli)[0] == '\0')
			error(u,
			      "not logged in: the message to %.64s fails (log in first: login NAME PASSWORD)",
			      name);
		u->inflight++;
		cli_msg(u->cli, name, text);
		return;
	}
	if (proto_escape(text, strlen(text), wire, sizeof wire) < 0) {
		error(u, "message too long");
		return;
	}
	char folded[PROTO_NAME_MAX + 1];
	if (proto_name_fold(name, folded) == 0) {
		static char show[UI_SHOW_MAX];
		char ts[8], line[UI_SHOW_MAX + 64];
		stamp(ts, sizeof ts);
		proto_printable(text, strlen(text), show, sizeof show, PROTO_SHOW_SCREEN);
		snprintf(line, sizeof line, "[%s] %s: %s", ts, cli_name(u->cli)[0] ? cli_name(u->cli) : "me",
		         show);
		win_add(win_get(u, folded), line);
		if (strcmp(u->cur, folded) == 0)
			out("%s", line);
	}
	cli_msg(u->cli, name, wire);
}

static void stdin_done(struct ui *u);
static void run_lines(struct ui *u);

/* Bounded: the lines after a login that neither succeeded nor was
 * refused (the server unreachable, busy or full: the core retries) run
 * once login_ms has passed, with an error saying why; the core goes on
 * retrying in the background. */
static void login_over(struct loop *l, void *arg)
{
	struct ui *u = arg;
	char why[sizeof u->login_err];
	(void)l;
	if (!u->wait_login)
		return;
	snprintf(why, sizeof why, "%s", u->login_err[0] ? u->login_err : "no answer from the server");
	ui_wait_login(u, 0);
	error(u, "not logged in after %u s (%s); going on without waiting (the client keeps trying)",
	      u->login_ms / 1000, why);
}

/* After an error during a login wait: the login has ended when the link
 * is up or idle (refused, a changed server key, no password); retrying
 * is not an end. */
static void login_check(struct loop *l, void *arg)
{
	struct ui *u = arg;
	(void)l;
	enum cli_link k = cli_link(u->cli);
	if (u->wait_login && (k == CLI_LINK_UP || k == CLI_LINK_IDLE))
		ui_wait_login(u, 0);
}

/* A script's lines run in order, and a login takes a round trip: in batch
 * mode the lines after a login wait (stdin unread) until it has ended,
 * logged in (ready) or refused (error), at most login_ms, so "login, msg"
 * in one pipe sends the message as a logged-in user, and the end of input
 * waits for the login. The flag is set first: cli_login may refuse at
 * once, with an error. */
void ui_wait_login(struct ui *u, int on)
{
	if (!u->batch)
		return;
	if (on) {
		u->wait_login = 1;
		u->login_err[0] = '\0';
		loop_mod(u->loop, STDIN_FILENO, 0);
		if (u->login_ms > 0)
			loop_timer_set(u->loop, &u->login_t, u->login_ms, login_over, u);
	} else if (u->wait_login) {
		u->wait_login = 0;
		loop_timer_stop(u->loop, &u->login_t);
		loop_timer_stop(u->loop, &u->check_t);
		loop_defer(u->loop, resume_input, u);
	}
}

void ui_batch_bounds(struct ui *u, unsigned login_ms, unsigned outcome_ms)
{
	u->login_ms = login_ms;
	u->outcome_ms = outcome_ms;
}

/* The end of input's wait for the messages' outcomes is over: all came,
 * or the bound passed (quitting then fails what is left, "closed", after
 * the quit's own wait for messages in flight). */
static void drain_over(struct loop *l, void *arg)
{
	struct ui *u = arg;
	if (!u->draining)
		return;
	u->draining = 0;
	loop_timer_stop(l, &u->drain_t);
	cli_quit(u->cli);
}

/* Each message's one outcome (sent or failed); the last one awaited at the
 * end of input lets the quit go on, from a timer: it comes from inside the
 * core. */
static void outcome_seen(struct ui *u)
{
	if (u->inflight > 0)
		u->inflight--;
	if (u->draining && u->inflight == 0)
		loop_timer_set(u->loop, &u->drain_t, 0, drain_over, u);
}

/* Logs in with the stored resume token, waiting as ui_login does; -1
 * (nothing started) when there is none. */
static int ui_resume(struct ui *u, const char *name)
{
	ui_wait_login(u, 1);
	if (cli_resume(u->cli, name) == 0)
		return 0;
	ui_wait_login(u, 0);
	return -1;
}

void ui_login(struct ui *u, const char *name, const char *pw, int signup)
{
	ui_wait_login(u, 1);
	cli_login(u->cli, name, pw, signup);
}

static void command(struct ui *u, char *line)
{
	if (u->pw_name[0]) {
		putchar('\n');
		if (*line != '\0' && u->pw_signup && !u->pw_again) {
			/* A new password is typed twice, as im adduser asks. */
			snprintf(u->pw_first, sizeof u->pw_first, "%s", line);
			mbedtls_platform_zeroize(line, strlen(line));
			u->pw_again = 1;
			printf("again: ");
			fflush(stdout);
			return;
		}
		echo(u, 1);
		char name[PROTO_NAME_MAX + 1];
		memcpy(name, u->pw_name, sizeof name);
		u->pw_name[0] = '\0';
		if (*line == '\0')
			error(u, "no password given");
		else if (u->pw_again && strcmp(line, u->pw_first) != 0)
			error(u, "the passwords do not match; /signup %s to try again", name);
		else
			ui_login(u, name, line, u->pw_signup);
		u->pw_again = 0;
		mbedtls_platform_zeroize(u->pw_first, sizeof u->pw_first);
		mbedtls_platform_zeroize(line, strlen(line));
		return;
	}
	if (!u->batch) {
		if (*line == '\0')
			return;
		if (*line != '/') {
			if (u->cur[0] == '\0')
				error(u, "no conversation open: /open NAME first (/help lists the commands)");
			else
				send_text(u, u->cur, line);
			return;
		}
		line++;
	}
	char *rest = next_word(line);
	const char *cmd = line;
	if (*cmd == '\0')
		return;
	if (strcmp(cmd, "login") == 0 || strcmp(cmd, "signup") == 0) {
		int signup = cmd[0] == 's';
		char *pw = next_word(rest);
		if (*rest == '\0')
			error(u, "usage: %s NAME PASSWORD", cmd);
		else if (*pw == '\0' && !signup && ui_resume(u, rest) == 0)
			; /* the stored resume token, no password needed */
		else if (*pw == '\0')
			ui_ask_password(u, rest, signup);
		else
			ui_login(u, rest, pw, signup);
		mbedtls_platform_zeroize(pw, strlen(pw));
	} else if (strcmp(cmd, "msg") == 0) {
		char *text = next_word(rest);
		if (*rest == '\0' || *text == '\0')
			error(u, "usage: msg NAME TEXT");
		else
			send_text(u, rest, text);
	} else if (strcmp(cmd, "open") == 0) {
		char name[PROTO_NAME_MAX + 1];
		if (*rest == '\0' || proto_name_fold(rest, name) < 0) {
			error(u, "usage: open NAME");
		} else if (cli_open(u->cli, name) == 0) {
			memcpy(u->cur, name, sizeof name);
			if (!u->batch)
				show_window(u, name);
		}
	} else if (strcmp(cmd, "close") == 0) {
		char name[PROTO_NAME_MAX + 1];
		if (*rest == '\0' && u->cur[0] == '\0')
			error(u, "no conversation open");
		else if (*rest && proto_name_fold(rest, name) < 0)
			error(u, "usage: close [NAME]");
		else {
			if (*rest == '\0')
				memcpy(name, u->cur, sizeof name);
			cli_close(u->cli, name);
			if (strcmp(name, u->cur) == 0)
				u->cur[0] = '\0';
			if (!u->batch)
				out("* closed the conversation with %s", name);
		}
	} else if (strcmp(cmd, "add") == 0 || strcmp(cmd, "del") == 0 || strcmp(cmd, "trust") == 0) {
		if (*rest == '\0' || strchr(rest, ' '))
			error(u, "usage: %s NAME", cmd);
		else if (cmd[0] == 'a')
			cli_add(u->cli, rest);
		else if (cmd[0] == 'd')
			cli_del(u->cli, rest);
		else if (cli_trust(u->cli, rest) == 0 && !u->batch)
			out("* the new key of %s is now trusted", rest);
	} else if (strcmp(cmd, "who") == 0) {
		if (!u->batch)
			out("contacts:");
		u->nrows = 0;
		cli_each_contact(u->cli, who_row, u);
		if (!u->batch && u->nrows == 0)
			out("  (no contacts yet; /add NAME)");
	} else if (strcmp(cmd, "help") == 0) {
		for (size_t i = 0; i < sizeof help_lines / sizeof help_lines[0]; i++)
			out(u->batch ? "help %s" : "  /%s", help_lines[i]);
		if (!u->batch)
			out("  plain text goes to the open conversation");
	} else if (strcmp(cmd, "quit") == 0) {
		stdin_done(u);
	} else {
		error(u, "unknown command '%.40s'; try %shelp", cmd, u->batch ? "" : "/");
	}
}

static void stdin_done(struct ui *u)
{
	loop_del(u->loop, STDIN_FILENO);
	u->reading = 0;
	cli_quit(u->cli);
}

/* The end of input (not an explicit quit, which quits at once): in batch
 * mode the quit waits until every message has its sent or failed line,
 * at most outcome_ms. */
static void input_end(struct ui *u)
{
	if (!u->batch || u->inflight == 0) {
		stdin_done(u);
		return;
	}
	loop_del(u->loop, STDIN_FILENO);
	u->reading = 0;
	u->draining = 1;
	if (u->outcome_ms > 0)
		loop_timer_set(u->loop, &u->drain_t, u->outcome_ms, drain_over, u);
}

static void on_stdin(struct loop *l, int fd, int revents, void *arg)
{
	struct ui *u = arg;
	(void)l;
	(void)revents;
	/* One read per wake-up: poll said there is data (or EOF), so this
	 * never blocks, and stdin keeps its flags for the shell after us. */
	ssize_t n = read(fd, u->in + u->inlen, sizeof u->in - u->inlen);
	if (n < 0) {
		if (errno == EINTR || errno == EAGAIN)
			return;
		error(u, "reading stdin: %s", strerror(errno));
		stdin_done(u);
		return;
	}
	if (n == 0) {
		u->eof = 1;
		loop_mod(u->loop, STDIN_FILENO, 0);
	}
	u->inlen += (size_t)n;
	run_lines(u);
}

/* Runs the complete lines read so far, until a login makes them wait;
 * at the end of input, then the last line and the quit. */
static void run_lines(struct ui *u)
{
	size_t off = 0;
	while (u->reading && !u->wait_login) {
		if (u->skipping) {
			char *nl = memchr(u->in + off, '\n', u->inlen - off);
			if (nl == NULL) {
				off = u->inlen;
				break;
			}
			off = (size_t)(nl - u->in) + 1;
			u->skipping = 0;
		}
		size_t linelen, used;
		enum proto_frame r = proto_frame(u->in + off, u->inlen - off, sizeof u->in, &linelen, &used);
		if (r == PROTO_MORE)
			break;
		if (r == PROTO_TOOLONG) {
			error(u, "input line longer than %zu bytes; ignored", sizeof u->in - 1);
			u->skipping = 1;
			continue;
		}
		if (r == PROTO_LINE) {
			char *line = u->in + off;
			line[linelen] = '\0';
			command(u, line);
		} else {
			error(u, "input line %s; ignored",
			      r == PROTO_NUL ? "holds a NUL byte" : "is not valid UTF-8");
		}
		off += used;
	}
	memmove(u->in, u->in + off, u->inlen - off);
	u->inlen -= off;
	if (!u->reading || u->wait_login)
		return;
	if (!u->eof) {
		loop_mod(u->loop, STDIN_FILENO, POLLIN);
		return;
	}
	/* A last line without its newline still counts. */
	if (u->inlen > 0 && !u->skipping && u->inlen < sizeof u->in) {
		u->in[u->inlen] = '\0';
		if (proto_utf8_valid(u->in, u->inlen) && memchr(u->in, '\0', u->inlen) == NULL)
			command(u, u->in);
	}
	u->inlen = 0;
	if (u->wait_login)
		return; /* that line was a login: the quit waits for it too */
	input_end(u);
}

static void resume_input(struct loop *l, void *arg)
{
	(void)l;
	run_lines(arg);
}

struct ui *ui_new(struct loop *l, int batch)
{
	struct ui *u = calloc(1, sizeof *u);
	if (u == NULL)
		return NULL;
	u->loop = l;
	u->batch = batch;
	return u;
}

int ui_start(struct ui *u, struct cli *c)
{
	u->cli = c;
	if (loop_add(u->loop, STDIN_FILENO, POLLIN, on_stdin, u) < 0)
		return -1;
	u->reading = 1;
	if (!u->batch)
		out("im client: /login NAME or /signup NAME to start, /help for the commands");
	return 0;
}

void ui_free(struct ui *u)
{
	if (u == NULL)
		return;
	echo(u, 1);
	loop_timer_stop(u->loop, &u->login_t);
	loop_timer_stop(u->loop, &u->check_t);
	loop_timer_stop(u->loop, &u->drain_t);
	mbedtls_platform_zeroize(u->in, sizeof u->in);
	mbedtls_platform_zeroize(u->pw_first, sizeof u->pw_first);
	while (u->wins) {
		struct win *w = u->wins;
		u->wins = w->next;
		for (size_t i = 0; i < w->n; i++)
			free(w->lines[(w->start + i) % UI_HISTORY]);
		free(w);
	}
	free(u);
}
