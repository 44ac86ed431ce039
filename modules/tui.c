/* tui: the interactive client: windows of dialog entries, unread counts,
 * the slash commands, keys to the line editor or to window actions, the
 * password prompt, and the two views (full-screen through screen; plain
 * line mode, drawn here with CR, spaces and text only). */
#include "tui.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/platform_util.h>

#include "edit.h"
#include "proto.h"
#include "screen.h"
#include "term.h"
#include "text.h"

#define TUI_WINDOWS_MAX 1024
#define TUI_IN_MAX      4096 /* key bytes read at once (a paste) */
#define TUI_ESC_MS      50   /* an ESC alone after this long is the Escape key */
#define TUI_SHOW_MAX    (EDIT_MAX * 4 + 1)

struct tui {
	struct loop *loop;
	struct cli *cli;
	int full, color;
	unsigned rows, cols;
	struct edit ed;
	char in[TUI_IN_MAX];
	size_t inlen;
	struct loop_timer esc_t;
	struct loop_timer redraw_t; /* not loop_defer: a timer can be stopped in tui_free */
	struct loop_timer greet_t;  /* the first line, once the start-up login is known */
	struct scr_win *wins[TUI_WINDOWS_MAX];
	size_t nwins, open;
	struct scr_contact *contacts;
	size_t ncontacts, capc;
	struct scr_buf out;
	int redraw; /* a full redraw is deferred */
	int started, gone, paste;
	int quiet;                 /* plain: the entry being added is printed already */
	struct scr_entry *sending; /* inside cli_msg: its FAILED may come before its id */
	size_t drawn;              /* plain: columns of the input line on the terminal */
	char hint[300];
	char title[PROTO_NAME_MAX + 32];
	char prompt[PROTO_NAME_MAX + 8];
	char pending[PROTO_NAME_MAX + 1]; /* the name of a login under way */
	char pw_name[PROTO_NAME_MAX + 1]; /* non-empty: the line is a password */
	int pw_signup, pw_again;
	char pw_first[EDIT_MAX + 1];
	char exit_note[512]; /* shown on the shell's screen after leaving */
	size_t nrows;
};

static const char *const commands[] = {"/add",   "/close", "/del",  "/fingerprint", "/help",
                                       "/login", "/msg",   "/open", "/quit",        "/signup",
                                       "/trust", "/who",   "/win"};

static const char *const help_lines[] = {
    "/login NAME          log in (the password is asked for)",
    "/signup NAME         create the account and log in",
    "/open NAME           open the conversation with NAME",
    "/close [NAME]        end the conversation (default: the open one)",
    "/msg NAME TEXT       send TEXT to NAME",
    "/add NAME, /del NAME add or remove a contact",
    "/trust NAME          accept the changed key of NAME",
    "/fingerprint [NAME]  your key, or NAME's, to compare in person",
    "/who                 list contacts and their status",
    "/win N               switch to window N (also Alt+N, Ctrl-N, Ctrl-P)",
    "/help, /quit         this list; log out and leave (also Ctrl-C)",
    "plain text goes to the open conversation; //text sends /text",
};

static void schedule(struct tui *t);
static void draw_input(struct tui *t);
static void both(struct tui *t, struct scr_win *w, enum scr_kind kind, const char *text);

/* ---- windows ---- */

static struct scr_win *win_find(struct tui *t, const char *name, size_t *idx)
{
	for (size_t i = 1; i < t->nwins; i++)
		if (strcmp(t->wins[i]->name, name) == 0) {
			if (idx)
				*idx = i;
			return t->wins[i];
		}
	return NULL;
}

/* name's window, made (numbered last) if it has none; NULL when too many. */
static struct scr_win *win_get(struct tui *t, const char *name)
{
	struct scr_win *w = win_find(t, name, NULL);
	if (w || t->nwins >= TUI_WINDOWS_MAX)
		return w;
	if ((w = calloc(1, sizeof *w)) == NULL)
		return NULL;
	snprintf(w->name, sizeof w->name, "%s", name);
	t->wins[t->nwins++] = w;
	return w;
}

static void entry_free(struct scr_entry *e)
{
	if (e == NULL)
		return;
	free(e->text);
	free(e->reason);
	free(e);
}

static void win_free(struct scr_win *w)
{
	for (size_t i = 0; i < w->n; i++)
		entry_free(screen_entry(w, i));
	free(w);
}

static void stamp(char ts[6])
{
	time_t now = time(NULL);
	struct tm tm;
	char buf[16];
	if (localtime_r(&now, &tm) == NULL || strftime(buf, sizeof buf, "%H:%M", &tm) != 5)
		snprintf(buf, sizeof buf, "--:--");
	memcpy(ts, buf, 6);
}

/* ---- plain line mode ---- */

static void tty_write(const char *s, size_t n)
{
	while (n > 0) {
		ssize_t k = write(STDOUT_FILENO, s, n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return;
		s += k;
		n -= (size_t)k;
	}
}

/* Clears what plain mode drew of the input line. */
static void plain_clear(struct tui *t)
{
	struct scr_buf *b = &t->out;
	b->len = 0;
	char sp[256];
	memset(sp, ' ', sizeof sp);
	tty_write("\r", 1);
	for (size_t n = t->drawn; n > 0;) {
		size_t k = n < sizeof sp ? n : sizeof sp;
		tty_write(sp, k);
		n -= k;
	}
	tty_write("\r", 1);
	t->drawn = 0;
}

/* Prints one event line (its newlines start indented rows) above the
 * input line, which is then drawn again. */
static void plain_print(struct tui *t, const char *line)
{
	plain_clear(t);
	for (const char *p = line;;) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);
		tty_write(p, n);
		tty_write("\r\n", 2);
		if (nl == NULL)
			break;
		tty_write("      ", 6);
		p = nl + 1;
	}
	if (!t->gone)
		draw_input(t);
}

static void plain_entry(struct tui *t, const struct scr_win *w, const struct scr_entry *e, int tag)
{
	size_t n = strlen(e->text) + 2 * PROTO_NAME_MAX + 64 + (e->reason ? strlen(e->reason) : 0);
	char *line = malloc(n);
	if (line == NULL)
		return;
	int k = snprintf(line, n, "%s ", e->ts);
	if (tag)
		k += snprintf(line + k, n - (size_t)k, "[%s] ", w->name);
	if (e->kind == SCR_MINE || e->kind == SCR_THEIRS)
		k += snprintf(line + k, n - (size_t)k, "%s: %s", e->who, e->text);
	else
		k += snprintf(line + k, n - (size_t)k, "* %s", e->text);
	if (e->reason)
		snprintf(line + k, n - (size_t)k, " [not delivered: %s]", e->reason);
	plain_print(t, line);
	free(line);
}

/* ---- the model ---- */

/* Adds an entry to w (text is shown as it is: the caller neutralised
 * it); returns it, or NULL when out of memory. */
static struct scr_entry *add(struct tui *t, struct scr_win *w, enum scr_kind kind, const char *who,
                             const char *text)
{
	if (w == NULL)
		return NULL;
	struct scr_entry *e = calloc(1, sizeof *e);
	if (e == NULL || (e->text = strdup(text)) == NULL) {
		free(e);
		return NULL;
	}
	stamp(e->ts);
	e->kind = (unsigned char)kind;
	snprintf(e->who, sizeof e->who, "%s", who ? who : "");
	if (w->n == SCR_HISTORY) {
		entry_free(w->ent[w->start]);
		w->ent[w->start] = e;
		w->start = (w->start + 1) % SCR_HISTORY;
	} else {
		w->ent[(w->start + w->n++) % SCR_HISTORY] = e;
	}
	int open = w == t->wins[t->open];
	if (!open && kind == SCR_THEIRS)
		w->unread++;
	if (t->full) {
		/* A reader scrolled back keeps the rows in view. */
		if (open && w->scroll) {
			size_t dialog, list;
			screen_layout(t->cols, &dialog, &list);
			w->scroll += screen_entry_rows(e, dialog);
		}
		schedule(t);
	} else if (t->quiet) {
	} else if (open || w == t->wins[0]) {
		plain_entry(t, w, e, 0);
	} else if (kind == SCR_THEIRS || kind == SCR_MINE) {
		plain_entry(t, w, e, 1);
	}
	return e;
}

static void sysf(struct tui *t, struct scr_win *w, enum scr_kind kind, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void sysf(struct tui *t, struct scr_win *w, enum scr_kind kind, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	add(t, w, kind, NULL, buf);
}

/* A line for the status window and, when another window is open, for
 * that one too (an error answers what was typed there); plain mode prints
 * it once. */
static void say(struct tui *t, enum scr_kind kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void say(struct tui *t, enum scr_kind kind, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	both(t, t->wins[t->open], kind, buf);
}

static void contact_row(void *arg, const struct cli_contact *ct)
{
	struct tui *t = arg;
	if (t->ncontacts == t->capc) {
		size_t cap = t->capc ? t->capc * 2 : 16;
		struct scr_contact *p = realloc(t->contacts, cap * sizeof *p);
		if (p == NULL)
			return;
		t->contacts = p;
		t->capc = cap;
	}
	struct scr_contact *c = &t->contacts[t->ncontacts++];
	memset(c, 0, sizeof *c);
	proto_printable(ct->name, strlen(ct->name), c->name, sizeof c->name, PROTO_SHOW_SCREEN);
	c->group = !ct->listed ? 2 : ct->online ? 0 : 1;
	c->mark = ct->keychange ? '!' : !ct->listed ? '?' : ct->online ? '+' : '-';
	struct scr_win *w = win_find(t, c->name, NULL);
	c->unread = w ? w->unread : 0;
}

static void contacts_refresh(struct tui *t)
{
	t->ncontacts = 0;
	if (t->cli)
		cli_each_contact(t->cli, contact_row, t);
	qsort(t->contacts, t->ncontacts, sizeof *t->contacts, screen_contact_cmp);
}

static const struct scr_contact *contact(struct tui *t, const char *name)
{
	for (size_t i = 0; i < t->ncontacts; i++)
		if (strcmp(t->contacts[i].name, name) == 0)
			return &t->contacts[i];
	return NULL;
}

static void set_prompt(struct tui *t)
{
	if (t->pw_name[0])
		snprintf(t->prompt, sizeof t->prompt, "%s",
		         t->pw_again    ? "password again: "
		         : t->pw_signup ? "new password: "
		                        : "password: ");
	else
		snprintf(t->prompt, sizeof t->prompt, t->full ? "[%s] " : "[%s]> ", t->wins[t->open]->name);
}

static void model(struct tui *t, struct scr_model *m)
{
	contacts_refresh(t);
	set_prompt(t);
	const struct scr_win *w = t->wins[t->open];
	if (t->open == 0) {
		snprintf(t->title, sizeof t->title, "status");
	} else {
		const struct scr_contact *c = contact(t, w->name);
		snprintf(t->title, sizeof t->title, "%s (%s)", w->name,
		         c == NULL        ? "offline"
		         : c->mark == '!' ? "key changed"
		         : c->mark == '?' ? "asked you"
		         : c->mark == '+' ? "online"
		                          : "offline");
	}
	const char *me = t->cli ? cli_name(t->cli) : "";
	*m = (struct scr_model){
	    .rows = t->rows,
	    .cols = t->cols,
	    .color = t->color,
	    .wins = t->wins,
	    .nwins = t->nwins,
	    .open = t->open,
	    .contacts = t->contacts,
	    .ncontacts = t->ncontacts,
	    .me = me[0] ? me : t->pending,
	    .link = t->cli ? cli_link(t->cli) : CLI_LINK_IDLE,
	    .title = t->title,
	    .hint = t->hint[0] ? t->hint : NULL,
	    .prompt = t->prompt,
	    .ed = &t->ed,
	};
}

static void draw_full(struct tui *t)
{
	struct scr_model m;
	if (!t->started || t->gone)
		return;
	model(t, &m);
	screen_draw(&t->out, &m);
	screen_flush(&t->out, STDOUT_FILENO);
}

static void draw_input(struct tui *t)
{
	if (!t->started || t->gone)
		return;
	if (t->full) {
		struct scr_model m;
		if (t->redraw)
			return; /* the full redraw coming draws it */
		set_prompt(t);
		m = (struct scr_model){.rows = t->rows, .cols = t->cols, .prompt = t->prompt, .ed = &t->ed};
		screen_draw_input(&t->out, &m);
		screen_flush(&t->out, STDOUT_FILENO);
		return;
	}
	set_prompt(t);
	size_t pw = strlen(t->prompt);
	size_t cols = t->cols > pw + 3 ? t->cols - pw - 1 : 2;
	size_t from, len, cur;
	edit_view(&t->ed, cols, &from, &len, &cur);
	size_t w = pw + text_width(t->ed.buf + from, len);
	/* CR, the line, spaces over what was longer, then CR and the line up
	 * to the cursor again: no cursor addressing, for any terminal. */
	tty_write("\r", 1);
	tty_write(t->prompt, pw);
	tty_write(t->ed.buf + from, len);
	if (t->drawn > w) {
		char sp[256];
		memset(sp, ' ', sizeof sp);
		for (size_t n = t->drawn - w; n > 0;) {
			size_t k = n < sizeof sp ? n : sizeof sp;
			tty_write(sp, k);
			n -= k;
		}
	}
	if (t->drawn > w || cur < text_width(t->ed.buf + from, len)) {
		tty_write("\r", 1);
		tty_write(t->prompt, pw);
		size_t off = 0;
		while (off < len && text_width(t->ed.buf + from, off) < cur)
			off = text_next(t->ed.buf + from, len, off);
		tty_write(t->ed.buf + from, off);
	}
	t->drawn = w;
}

static void redraw_now(struct loop *l, void *arg)
{
	struct tui *t = arg;
	(void)l;
	t->redraw = 0;
	draw_full(t);
}

/* A change to the model: redrawn once, after the events of this pass. */
static void schedule(struct tui *t)
{
	if (!t->full || t->redraw || !t->started || t->gone)
		return;
	loop_timer_set(t->loop, &t->redraw_t, 0, redraw_now, t);
	t->redraw = 1;
}

static void win_open(struct tui *t, size_t i)
{
	if (i >= t->nwins)
		return;
	t->open = i;
	t->wins[i]->unread = 0;
	t->wins[i]->scroll = 0;
	if (t->full) {
		schedule(t);
		return;
	}
	/* Plain: the window's dialog again, as a page to read. */
	struct scr_win *w = t->wins[i];
	char head[PROTO_NAME_MAX + 64];
	snprintf(head, sizeof head, "--- %zu:%s ---", i + 1, w->name);
	plain_print(t, head);
	for (size_t k = 0; k < w->n; k++)
		plain_entry(t, w, screen_entry(w, k), 0);
}

static void win_close(struct tui *t, size_t i)
{
	if (i == 0 || i >= t->nwins)
		return;
	win_free(t->wins[i]);
	memmove(&t->wins[i], &t->wins[i + 1], (t->nwins - i - 1) * sizeof t->wins[0]);
	t->nwins--;
	if (t->open == i)
		win_open(t, i - 1 < t->nwins ? i - 1 : 0);
	else if (t->open > i)
		t->open--;
	schedule(t);
}

/* ---- events ---- */

/* A line for the status window and for w (when not NULL): plain mode
 * prints it once. */
static void both(struct tui *t, struct scr_win *w, enum scr_kind kind, const char *text)
{
	add(t, t->wins[0], kind, NULL, text);
	if (w == NULL || w == t->wins[0])
		return;
	t->quiet = 1;
	add(t, w, kind, NULL, text);
	t->quiet = 0;
}

static void keychange(struct tui *t, const char *name)
{
	struct scr_win *w = win_get(t, name);
	if (w && w->warned)
		return;
	if (w)
		w->warned = 1;
	char buf[768];
	snprintf(buf, sizeof buf,
	         "WARNING: the server announced a NEW KEY for %s. Someone may be impersonating %s, or %s "
	         "reinstalled. Compare keys with %s by another way (/fingerprint %s); '/trust %s' accepts "
	         "the new key. Until then nothing is sent.",
	         name, name, name, name, name, name);
	both(t, w, SCR_ERR, buf);
}

static void failed(struct tui *t, const char *name, unsigned long id, const char *why)
{
	struct scr_win *w = win_find(t, name, NULL);
	if (t->sending && t->sending->id == 0)
		t->sending->id = id; /* failed at once, inside cli_msg */
	for (size_t i = w ? w->n : 0; i-- > 0;) {
		struct scr_entry *e = screen_entry(w, i);
		if (e->kind != SCR_MINE || e->id != id || e->reason)
			continue;
		e->reason = strdup(why);
		if (t->full) {
			schedule(t);
		} else {
			char ts[6];
			stamp(ts);
			char *line = malloc(strlen(e->text) + strlen(why) + 2 * PROTO_NAME_MAX + 64);
			if (line) {
				sprintf(line, "%.5s [%s] %s: %s [not delivered: %s]", ts, name, e->who,
				        e->text, why);
				plain_print(t, line);
				free(line);
			}
		}
		return;
	}
	say(t, SCR_ERR, "a message to %s was not delivered: %s", name, why);
}

static void interactive_event(struct tui *t, const struct cli_event *ev)
{
	static char text[EDIT_MAX * 2 + 1], shown[TUI_SHOW_MAX];
	struct scr_win *w;
	switch (ev->type) {
	case CLI_EV_READY:
		t->pending[0] = '\0';
		say(t, SCR_SYS, "logged in as %s; /who lists your contacts, /help the commands", ev->name);
		break;
	case CLI_EV_ONLINE:
	case CLI_EV_OFFLINE:
		snprintf(shown, sizeof shown, "%s %s", ev->name,
		         ev->type == CLI_EV_ONLINE ? "is online" : "went offline");
		both(t, win_find(t, ev->name, NULL), SCR_SYS, shown);
		break;
	case CLI_EV_ASKED:
		sysf(t, t->wins[0], SCR_SYS, "%s added you as a contact; /add %s to talk", ev->name,
		     ev->name);
		break;
	case CLI_EV_MSG:
		/* The peer's own escaping undone, then what a terminal would
		 * act on made visible (newlines stay: a message may have
		 * several lines). */
		if (proto_unescape(ev->text, strlen(ev->text), text, sizeof text) < 0)
			snprintf(text, sizeof text, "%s", ev->text);
		proto_printable(text, strlen(text), shown, sizeof shown, PROTO_SHOW_SCREEN_NL);
		add(t, win_get(t, ev->name), SCR_THEIRS, ev->name, shown);
		break;
	case CLI_EV_SENT:
	case CLI_EV_TYPING:
		break;
	case CLI_EV_FAILED:
		failed(t, ev->name, ev->num, cli_reason_text(ev->text));
		break;
	case CLI_EV_KEYCHANGE:
		keychange(t, ev->name);
		break;
	case CLI_EV_ERROR:
		t->pending[0] = '\0';
		say(t, SCR_ERR, "%s", ev->text);
		snprintf(t->exit_note, sizeof t->exit_note, "%s", ev->text);
		break;
	case CLI_EV_NOTICE:
		say(t, SCR_SYS, "%s", ev->text);
		break;
	case CLI_EV_BYE:
		if (!(t->cli && cli_status(t->cli) == 1 && cli_name(t->cli)[0]))
			t->exit_note[0] = '\0';
		if (!t->full) {
			t->gone = 1;
			sysf(t, t->wins[0], SCR_SYS, "bye");
		}
		t->gone = 1;
		break;
	case CLI_EV_CLOSED:
		w = win_find(t, ev->name, NULL);
		sysf(t, w ? w : t->wins[0], SCR_SYS, "%s closed the conversation", ev->name);
		break;
	case CLI_EV_NEED_PASSWORD:
		say(t, SCR_ERR, "%s", ev->text);
		tui_ask_password(t, ev->name, 0);
		break;
	case CLI_EV_PATH:
		if ((w = win_find(t, ev->name, NULL)) != NULL)
			sysf(t, w, SCR_SYS, "%s: connected (%s)", ev->name, ev->text);
		break;
	}
	schedule(t);
}

/* Writes s as shown into buf (cap bytes); NULL stays NULL. */
static const char *shown(const char *s, char *buf, size_t cap)
{
	if (s == NULL)
		return NULL;
	proto_printable(s, strlen(s), buf, cap, PROTO_SHOW_SCREEN);
	return buf;
}

/* Every string of an event may come from a peer or the server: none
 * reaches the terminal raw. A message's text is left to
 * interactive_event, which unescapes it first. */
void tui_emit(void *arg, const struct cli_event *ev)
{
	static char name[PROTO_LINE_MAX * 4 + 1], ip[48 * 4 + 1], id[PROTO_LINE_MAX * 4 + 1],
	    text[TUI_SHOW_MAX];
	struct tui *t = arg;
	struct cli_event e = *ev;
	e.name = shown(ev->name, name, sizeof name);
	e.ip = shown(ev->ip, ip, sizeof ip);
	e.id = shown(ev->id, id, sizeof id);
	if (ev->type != CLI_EV_MSG)
		e.text = shown(ev->text, text, sizeof text);
	interactive_event(t, &e);
}

void tui_log(void *arg, const char *line)
{
	struct tui *t = arg;
	static char buf[1024];
	proto_printable(line, strlen(line), buf, sizeof buf, PROTO_SHOW_SCREEN);
	add(t, t->wins[0], SCR_ERR, NULL, buf);
}

/* ---- commands ---- */

static void error(struct tui *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void error(struct tui *t, const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	say(t, SCR_ERR, "%s", buf);
}

void tui_login_started(struct tui *t, const char *name)
{
	proto_printable(name, strlen(name), t->pending, sizeof t->pending, PROTO_SHOW_SCREEN);
	schedule(t);
}

void tui_ask_password(struct tui *t, const char *name, int signup)
{
	snprintf(t->pw_name, sizeof t->pw_name, "%.32s", name);
	t->pw_signup = signup;
	t->pw_again = 0;
	edit_clear(&t->ed);
	t->ed.secret = 1;
	sysf(t, t->wins[0], SCR_SYS, "%s for %s (nothing is shown as you type; Esc cancels)",
	     signup ? "new password" : "password", t->pw_name);
	schedule(t);
	draw_input(t);
}

static void pw_done(struct tui *t)
{
	t->pw_name[0] = '\0';
	t->pw_again = 0;
	t->ed.secret = 0;
	mbedtls_platform_zeroize(t->pw_first, sizeof t->pw_first);
}

static void login(struct tui *t, const char *name, const char *pw, int signup)
{
	tui_login_started(t, name);
	cli_login(t->cli, name, pw, signup);
}

static void password_line(struct tui *t, char *line)
{
	if (*line != '\0' && t->pw_signup && !t->pw_again) {
		/* A new password is typed twice, as im adduser asks. */
		snprintf(t->pw_first, sizeof t->pw_first, "%s", line);
		t->pw_again = 1;
		draw_input(t);
		return;
	}
	char name[PROTO_NAME_MAX + 1];
	int signup = t->pw_signup;
	memcpy(name, t->pw_name, sizeof name);
	int mismatch = t->pw_again && strcmp(line, t->pw_first) != 0;
	pw_done(t);
	if (*line == '\0')
		error(t, "no password given");
	else if (mismatch)
		error(t, "the passwords do not match; /signup %s to try again", name);
	else
		login(t, name, line, signup);
	schedule(t);
	draw_input(t);
}

/* Splits "word rest" in place: returns rest (maybe ""), word NUL-ended. */
static char *next_word(char *s)
{
	char *sp = strchr(s, ' ');
	if (sp == NULL)
		return s + strlen(s);
	*sp++ = '\0';
	while (*sp == ' ')
		sp++;
	return sp;
}

static void send_text(struct tui *t, const char *to, const char *text)
{
	static char wire[EDIT_MAX * 2 + 1], show[TUI_SHOW_MAX];
	char name[PROTO_NAME_MAX + 1];
	if (proto_name_fold(to, name) < 0) {
		error(t, "'%.40s' is not a name", to);
		return;
	}
	if (proto_escape(text, strlen(text), wire, sizeof wire) < 0) {
		error(t, "message too long");
		return;
	}
	proto_printable(text, strlen(text), show, sizeof show, PROTO_SHOW_SCREEN);
	const char *me = cli_name(t->cli);
	struct scr_entry *e = add(t, win_get(t, name), SCR_MINE, me[0] ? me : "me", show);
	t->sending = e;
	unsigned long id = cli_msg(t->cli, name, wire);
	t->sending = NULL;
	if (e && e->id == 0)
		e->id = id;
}

static void who_row(void *arg, const struct cli_contact *ct)
{
	struct tui *t = arg;
	char name[PROTO_NAME_MAX * 4 + 1];
	t->nrows++;
	sysf(t, t->wins[t->open], SCR_SYS, "  %-32s %s%s", shown(ct->name, name, sizeof name),
	     !ct->listed  ? "asked you (not your contact)"
	     : ct->online ? "online"
	                  : "offline",
	     ct->keychange ? ", KEY CHANGED (see /fingerprint, /trust)" : "");
}

/* hex in groups of four, to read aloud */
static void grouped(const char *hex, char *out, size_t cap)
{
	size_t o = 0;
	for (size_t i = 0; hex[i] && o + 2 < cap; i++) {
		if (i && i % 4 == 0)
			out[o++] = ' ';
		out[o++] = hex[i];
	}
	out[o] = '\0';
}

struct fp_find {
	const char *name;
	char key[80], newkey[80];
	int found, keychange;
};

static void fp_row(void *arg, const struct cli_contact *ct)
{
	struct fp_find *f = arg;
	if (strcmp(ct->name, f->name) != 0)
		return;
	f->found = 1;
	f->keychange = ct->keychange;
	snprintf(f->key, sizeof f->key, "%s", ct->key ? ct->key : "");
	snprintf(f->newkey, sizeof f->newkey, "%s", ct->newkey ? ct->newkey : "");
}

static void fingerprint(struct tui *t, const char *arg)
{
	char g[128], name[PROTO_NAME_MAX + 1];
	if (*arg == '\0') {
		grouped(cli_fingerprint(t->cli), g, sizeof g);
		sysf(t, t->wins[t->open], SCR_SYS, "your key: %s", g);
		return;
	}
	if (proto_name_fold(arg, name) < 0) {
		error(t, "usage: /fingerprint [NAME]");
		return;
	}
	struct fp_find f = {.name = name};
	cli_each_contact(t->cli, fp_row, &f);
	if (!f.found) {
		error(t, "%s is not among your contacts", name);
		return;
	}
	if (f.key[0] == '\0') {
		sysf(t, t->wins[t->open], SCR_SYS, "no key of %s yet (it was not online since you added it)",
		     name);
	} else {
		grouped(f.key, g, sizeof g);
		sysf(t, t->wins[t->open], SCR_SYS, "%s's key: %s", name, g);
	}
	if (f.keychange && f.newkey[0]) {
		grouped(f.newkey, g, sizeof g);
		sysf(t, t->wins[t->open], SCR_ERR, "%s's NEW key, announced by the server: %s", name, g);
	}
}

static void command(struct tui *t, char *line)
{
	if (*line == '\0')
		return;
	if (line[0] != '/' || line[1] == '/') {
		if (line[0] == '/')
			line++; /* "//text" sends "/text" */
		if (t->open == 0)
			error(t, "no conversation open: /open NAME first (/help lists the commands)");
		else
			send_text(t, t->wins[t->open]->name, line);
		return;
	}
	char *cmd = line + 1, *rest = next_word(cmd);
	char name[PROTO_NAME_MAX + 1];
	size_t idx;
	if (strcmp(cmd, "login") == 0 || strcmp(cmd, "signup") == 0) {
		int signup = cmd[0] == 's';
		char *pw = next_word(rest);
		if (*rest == '\0')
			error(t, "usage: /%s NAME", cmd);
		else if (*pw) /* typed on the line: shown on the screen, but allowed */
			login(t, rest, pw, signup);
		else if (!signup && cli_resume(t->cli, rest) == 0)
			tui_login_started(t, rest); /* the stored resume token */
		else
			tui_ask_password(t, rest, signup);
		mbedtls_platform_zeroize(pw, strlen(pw));
	} else if (strcmp(cmd, "msg") == 0) {
		char *text = next_word(rest);
		if (*rest == '\0' || *text == '\0')
			error(t, "usage: /msg NAME TEXT");
		else
			send_text(t, rest, text);
	} else if (strcmp(cmd, "open") == 0) {
		if (*rest == '\0' || proto_name_fold(rest, name) < 0)
			error(t, "usage: /open NAME");
		else if (win_find(t, name, &idx))
			win_open(t, idx);
		else if (cli_open(t->cli, name) == 0 && win_get(t, name) && win_find(t, name, &idx))
			win_open(t, idx);
	} else if (strcmp(cmd, "close") == 0) {
		if (*rest == '\0' && t->open == 0)
			error(t, "no conversation open");
		else if (*rest && proto_name_fold(rest, name) < 0)
			error(t, "usage: /close [NAME]");
		else {
			if (*rest == '\0')
				memcpy(name, t->wins[t->open]->name, sizeof name);
			cli_close(t->cli, name);
			sysf(t, t->wins[0], SCR_SYS, "closed the conversation with %s", name);
			if (win_find(t, name, &idx))
				win_close(t, idx);
		}
	} else if (strcmp(cmd, "add") == 0 || strcmp(cmd, "del") == 0 || strcmp(cmd, "trust") == 0) {
		if (*rest == '\0' || strchr(rest, ' '))
			error(t, "usage: /%s NAME", cmd);
		else if (cmd[0] == 'a' && proto_name_fold(rest, name) == 0 &&
		         strcmp(name, cli_name(t->cli)) == 0)
			error(t, "you cannot add yourself");
		else if (cmd[0] == 'a')
			cli_add(t->cli, rest);
		else if (cmd[0] == 'd')
			cli_del(t->cli, rest);
		else if (cli_trust(t->cli, rest) == 0) {
			struct scr_win *w = proto_name_fold(rest, name) == 0 ? win_find(t, name, NULL) : NULL;
			if (w)
				w->warned = 0;
			say(t, SCR_SYS, "the new key of %s is now trusted", rest);
		}
	} else if (strcmp(cmd, "who") == 0) {
		sysf(t, t->wins[t->open], SCR_SYS, "contacts:");
		t->nrows = 0;
		cli_each_contact(t->cli, who_row, t);
		if (t->nrows == 0)
			sysf(t, t->wins[t->open], SCR_SYS, "  (no contacts yet; /add NAME)");
	} else if (strcmp(cmd, "fingerprint") == 0) {
		fingerprint(t, rest);
	} else if (strcmp(cmd, "win") == 0) {
		char *end;
		unsigned long n = strtoul(rest, &end, 10);
		if (*rest == '\0' || *end != '\0' || n == 0 || n > t->nwins)
			error(t, "usage: /win N (1 to %zu)", t->nwins);
		else
			win_open(t, n - 1);
	} else if (strcmp(cmd, "help") == 0) {
		for (size_t i = 0; i < sizeof help_lines / sizeof help_lines[0]; i++)
			sysf(t, t->wins[t->open], SCR_SYS, "%s", help_lines[i]);
	} else if (strcmp(cmd, "quit") == 0) {
		cli_quit(t->cli);
	} else {
		error(t, "unknown command '/%.40s'; try /help", cmd);
	}
}

/* ---- keys ---- */

static const char *complete(void *arg, int command, size_t i)
{
	struct tui *t = arg;
	if (command)
		return i < sizeof commands / sizeof commands[0] ? commands[i] : NULL;
	if (i == 0)
		contacts_refresh(t);
	return i < t->ncontacts ? t->contacts[i].name : NULL;
}

static void enter(struct tui *t)
{
	static char line[EDIT_MAX + 1];
	edit_take(&t->ed, line, sizeof line);
	t->hint[0] = '\0';
	if (t->pw_name[0])
		password_line(t, line);
	else
		command(t, line);
	mbedtls_platform_zeroize(line, sizeof line);
	draw_input(t);
}

static void suspend(struct tui *t)
{
	term_restore();
	raise(SIGTSTP);
	/* continued (fg): the terminal as we need it again */
	if (term_raw(STDIN_FILENO) == 0 && t->full)
		term_screen(STDOUT_FILENO);
	term_size(STDOUT_FILENO, &t->rows, &t->cols);
	t->drawn = 0;
	if (t->full) {
		tty_write("\033[2J", 4);
		schedule(t);
	} else {
		draw_input(t);
	}
}

static void scroll(struct tui *t, int up)
{
	struct scr_win *w = t->wins[t->open];
	size_t dialog, list, rows = t->rows > 4 ? t->rows - 3 : 1, half = rows / 2 ? rows / 2 : 1;
	screen_layout(t->cols, &dialog, &list);
	size_t max = screen_scroll_max(w, dialog, rows);
	if (up)
		w->scroll = w->scroll + half < max ? w->scroll + half : max;
	else
		w->scroll = w->scroll > half ? w->scroll - half : 0;
	schedule(t);
}

static void quit(struct tui *t)
{
	if (t->pw_name[0])
		pw_done(t);
	cli_quit(t->cli);
}

static void key(struct tui *t, const struct term_key *k)
{
	static const enum edit_key ekeys[] = {
	    [TERM_K_LEFT] = EDIT_LEFT,
	    [TERM_K_RIGHT] = EDIT_RIGHT,
	    [TERM_K_UP] = EDIT_UP,
	    [TERM_K_DOWN] = EDIT_DOWN,
	    [TERM_K_HOME] = EDIT_HOME,
	    [TERM_K_END] = EDIT_END,
	    [TERM_K_BACKSPACE] = EDIT_BACKSPACE,
	    [TERM_K_DELETE] = EDIT_DELETE,
	    [TERM_K_CTRL_LEFT] = EDIT_WORD_LEFT,
	    [TERM_K_CTRL_RIGHT] = EDIT_WORD_RIGHT,
	};
	int had_hint = t->hint[0] != '\0';
	t->hint[0] = '\0';
	switch (k->type) {
	case TERM_K_TEXT:
		edit_insert(&t->ed, k->text, k->len);
		break;
	case TERM_K_ENTER:
		if (t->paste) /* a pasted line break: one message, not a command per line */
			edit_insert(&t->ed, " ", 1);
		else
			enter(t);
		break;
	case TERM_K_TAB:
		if (t->pw_name[0])
			break;
		if (edit_key(&t->ed, EDIT_TAB) == 2) {
			snprintf(t->hint, sizeof t->hint, "%s", t->ed.matches);
			if (t->full)
				schedule(t);
			else
				plain_print(t, t->hint);
		}
		break;
	case TERM_K_LEFT:
	case TERM_K_RIGHT:
	case TERM_K_UP:
	case TERM_K_DOWN:
	case TERM_K_HOME:
	case TERM_K_END:
	case TERM_K_BACKSPACE:
	case TERM_K_DELETE:
	case TERM_K_CTRL_LEFT:
	case TERM_K_CTRL_RIGHT:
		if (t->pw_name[0] && (k->type == TERM_K_UP || k->type == TERM_K_DOWN))
			break; /* no history into a password */
		edit_key(&t->ed, ekeys[k->type]);
		break;
	case TERM_K_PGUP:
	case TERM_K_PGDN:
		if (t->full)
			scroll(t, k->type == TERM_K_PGUP);
		break;
	case TERM_K_CTRL:
		switch (k->c) {
		case 'a':
			edit_key(&t->ed, EDIT_HOME);
			break;
		case 'e':
			edit_key(&t->ed, EDIT_END);
			break;
		case 'b':
			edit_key(&t->ed, EDIT_LEFT);
			break;
		case 'f':
			edit_key(&t->ed, EDIT_RIGHT);
			break;
		case 'k':
			edit_key(&t->ed, EDIT_KILL_END);
			break;
		case 'u':
			edit_key(&t->ed, EDIT_KILL_START);
			break;
		case 'w':
			edit_key(&t->ed, EDIT_KILL_WORD);
			break;
		case 'c':
			quit(t);
			return;
		case 'd':
			if (t->ed.len == 0) {
				quit(t);
				return;
			}
			edit_key(&t->ed, EDIT_DELETE);
			break;
		case 'l':
			t->drawn = 0;
			if (t->full) {
				tty_write("\033[2J", 4);
				schedule(t);
			}
			break;
		case 'n':
			win_open(t, (t->open + 1) % t->nwins);
			break;
		case 'p':
			win_open(t, (t->open + t->nwins - 1) % t->nwins);
			break;
		case 'z':
			suspend(t);
			return;
		default:
			break;
		}
		break;
	case TERM_K_ALT:
		if (k->c >= '1' && k->c <= '9' && (size_t)(k->c - '1') < t->nwins)
			win_open(t, (size_t)(k->c - '1'));
		else if (k->c == '0' && t->nwins >= 10)
			win_open(t, 9);
		else if (k->c == 'b')
			edit_key(&t->ed, EDIT_WORD_LEFT);
		else if (k->c == 'f')
			edit_key(&t->ed, EDIT_WORD_RIGHT);
		break;
	case TERM_K_ESC:
		if (t->pw_name[0]) {
			pw_done(t);
			edit_clear(&t->ed);
			sysf(t, t->wins[0], SCR_SYS, "login cancelled");
		}
		break;
	case TERM_K_PASTE_BEGIN:
		t->paste = 1;
		break;
	case TERM_K_PASTE_END:
		t->paste = 0;
		break;
	case TERM_K_IGNORED:
		break;
	}
	if (had_hint && t->full)
		schedule(t);
	draw_input(t);
}

static void on_keys(struct tui *t, int final)
{
	size_t off = 0;
	while (off < t->inlen && !t->gone) {
		struct term_key k;
		size_t used = term_key(t->in + off, t->inlen - off, final, &k);
		if (used == 0)
			break;
		off += used;
		key(t, &k);
	}
	if (t->gone)
		off = t->inlen;
	mbedtls_platform_zeroize(t->in, off); /* a password's keys */
	memmove(t->in, t->in + off, t->inlen - off);
	t->inlen -= off;
}

static void esc_wait_over(struct loop *l, void *arg)
{
	(void)l;
	on_keys(arg, 1);
}

static void on_stdin(struct loop *l, int fd, int revents, void *arg)
{
	struct tui *t = arg;
	(void)revents;
	if (t->inlen == sizeof t->in)
		on_keys(t, 1);
	ssize_t n = read(fd, t->in + t->inlen, sizeof t->in - t->inlen);
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		/* The terminal is gone (hang-up): log out. */
		loop_del(l, fd);
		quit(t);
		return;
	}
	t->inlen += (size_t)n;
	on_keys(t, 0);
	if (t->inlen > 0)
		loop_timer_set(l, &t->esc_t, TUI_ESC_MS, esc_wait_over, t);
}

static void on_winch(struct loop *l, void *arg)
{
	struct tui *t = arg;
	(void)l;
	term_size(STDOUT_FILENO, &t->rows, &t->cols);
	if (t->full) {
		tty_write("\033[2J", 4);
		schedule(t);
	} else {
		draw_input(t);
	}
}

struct tui *tui_new(struct loop *l, int full, int color)
{
	struct tui *t = calloc(1, sizeof *t);
	if (t == NULL)
		return NULL;
	t->loop = l;
	t->full = full;
	t->color = color;
	edit_init(&t->ed, complete, t);
	if ((t->wins[0] = calloc(1, sizeof *t->wins[0])) == NULL) {
		free(t);
		return NULL;
	}
	snprintf(t->wins[0]->name, sizeof t->wins[0]->name, "status");
	t->nwins = 1;
	return t;
}

/* The first line: how to start, unless a login (the configured user's)
 * is under way already. */
static void greet(struct loop *l, void *arg)
{
	struct tui *t = arg;
	(void)l;
	if (t->pending[0])
		sysf(t, t->wins[0], SCR_SYS, "im client: logging in as %s; /help for the commands",
		     t->pending);
	else
		sysf(t, t->wins[0], SCR_SYS,
		     "im client: /login NAME or /signup NAME to start, /help for the commands");
}

int tui_start(struct tui *t, struct cli *c)
{
	t->cli = c;
	term_size(STDOUT_FILENO, &t->rows, &t->cols);
	if (term_raw(STDIN_FILENO) < 0 || (t->full && term_screen(STDOUT_FILENO) < 0))
		return -1;
	if (loop_add(t->loop, STDIN_FILENO, POLLIN, on_stdin, t) < 0 ||
	    loop_signal(t->loop, SIGWINCH, on_winch, t) < 0)
		return -1;
	t->started = 1;
	loop_timer_set(t->loop, &t->greet_t, 0, greet, t);
	if (t->full)
		tty_write("\033[2J", 4);
	schedule(t);
	draw_input(t);
	return 0;
}

void tui_free(struct tui *t)
{
	if (t == NULL)
		return;
	loop_timer_stop(t->loop, &t->esc_t);
	loop_timer_stop(t->loop, &t->redraw_t);
	loop_timer_stop(t->loop, &t->greet_t);
	if (t->started) {
		if (!t->full)
			plain_clear(t);
		term_restore();
		if (t->full && t->exit_note[0]) {
			char line[600];
			int n = snprintf(line, sizeof line, "im client: %s\n", t->exit_note);
			if (n > 0)
				tty_write(line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
		}
	}
	edit_free(&t->ed);
	mbedtls_platform_zeroize(t->pw_first, sizeof t->pw_first);
	mbedtls_platform_zeroize(t->in, sizeof t->in);
	for (size_t i = 0; i < t->nwins; i++)
		win_free(t->wins[i]);
	free(t->contacts);
	screen_buf_free(&t->out);
	free(t);
}
