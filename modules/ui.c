/* ui: batch mode (commands in, one event line out each, flushed); the
 * interactive modes are tui's. */
#include "ui.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mbedtls/platform_util.h>

#include "log.h"
#include "proto.h"

#define UI_LINE_MAX 4096 /* a stdin line, newline included */
/* A field as shown: every byte may become a four-byte escape. */
#define UI_SHOW_MAX (UI_LINE_MAX * 4 + 1)

struct ui {
	struct loop *loop;
	struct cli *cli;
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
	unsigned long inflight;       /* messages whose sent/failed has not come */
	int draining;                 /* stdin ended; quitting once inflight is 0 */
	char login_err[256];          /* the last error while a login was waited for */
	char cur[PROTO_NAME_MAX + 1]; /* the conversation "close" alone ends */
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
	struct cli_event e = *ev;
	e.name = shown(ev->name, name, sizeof name, PROTO_SHOW_BATCH);
	e.ip = shown(ev->ip, ip, sizeof ip, PROTO_SHOW_BATCH);
	e.id = shown(ev->id, id, sizeof id, PROTO_SHOW_BATCH);
	/* A message's text is in the peer channel's escaping already; an
	 * error's or notice's is not: its backslashes are doubled, so "\\n"
	 * in it can never pass for an escape. */
	e.text = shown(ev->text, text, sizeof text,
	               ev->type == CLI_EV_ERROR || ev->type == CLI_EV_NOTICE ? PROTO_SHOW_BATCH_TEXT
	                                                                     : PROTO_SHOW_BATCH);
	batch_event(&e);
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

void ui_ask_password(struct ui *u, const char *name, int signup)
{
	(void)name;
	(void)signup;
	struct cli_event ev = {.type = CLI_EV_ERROR,
	                       .text = "no password: set password_file, or send a login line"};
	ui_emit(u, &ev);
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
	(void)arg;
	if (!ct->listed)
		out("asked %s", ct->name);
	else if (ct->online)
		out("online %s %s %u", ct->name, ct->ip, ct->port);
	else
		out("offline %s", ct->name);
	if (ct->keychange)
		out("keychange %s", ct->name);
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
	char plain[UI_LINE_MAX];
	if (proto_unescape(text, strlen(text), plain, sizeof plain) < 0) {
		error(u, "bad escape in message text (use \\n for a newline, \\\\ for a backslash)");
		return;
	}
	if (cli_name(u->cli)[0] == '\0')
		error(u, "not logged in: the message to %.64s fails (log in first: login NAME PASSWORD)",
		      name);
	u->inflight++;
	cli_msg(u->cli, name, text);
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
		}
	} else if (strcmp(cmd, "add") == 0 || strcmp(cmd, "del") == 0 || strcmp(cmd, "trust") == 0) {
		if (*rest == '\0' || strchr(rest, ' '))
			error(u, "usage: %s NAME", cmd);
		else if (cmd[0] == 'a')
			cli_add(u->cli, rest);
		else if (cmd[0] == 'd')
			cli_del(u->cli, rest);
		else
			cli_trust(u->cli, rest);
	} else if (strcmp(cmd, "who") == 0) {
		cli_each_contact(u->cli, who_row, u);
	} else if (strcmp(cmd, "help") == 0) {
		for (size_t i = 0; i < sizeof help_lines / sizeof help_lines[0]; i++)
			out("help %s", help_lines[i]);
	} else if (strcmp(cmd, "quit") == 0) {
		stdin_done(u);
	} else {
		error(u, "unknown command '%.40s'; try help", cmd);
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
	if (u->inflight == 0) {
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

struct ui *ui_new(struct loop *l)
{
	struct ui *u = calloc(1, sizeof *u);
	if (u == NULL)
		return NULL;
	u->loop = l;
	return u;
}

int ui_start(struct ui *u, struct cli *c)
{
	u->cli = c;
	if (loop_add(u->loop, STDIN_FILENO, POLLIN, on_stdin, u) < 0)
		return -1;
	u->reading = 1;
	return 0;
}

void ui_free(struct ui *u)
{
	if (u == NULL)
		return;
	loop_timer_stop(u->loop, &u->login_t);
	loop_timer_stop(u->loop, &u->check_t);
	loop_timer_stop(u->loop, &u->drain_t);
	mbedtls_platform_zeroize(u->in, sizeof u->in);
	free(u);
}
