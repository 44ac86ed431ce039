/* tui: the interactive terminal client: the windows (status and one per
 * conversation), the slash commands, the keys and the password prompt, in
 * full-screen mode (drawn by screen) or in plain line mode. */
#ifndef IM_TUI_H
#define IM_TUI_H

#include "cli.h"
#include "loop.h"

struct tui;

/* Makes the interactive client on loop l: full-screen (full = 1) or plain
 * line mode; color 0 draws without colour. NULL when out of memory. */
struct tui *tui_new(struct loop *l, int full, int color);
/* Puts the terminal in raw mode (and the alternate screen when full),
 * draws, and starts reading keys into client c. 0/-1 (errno set). */
int tui_start(struct tui *t, struct cli *c);
/* Restores the terminal and frees it. Safe on NULL. */
void tui_free(struct tui *t);

/* The client core's event sink (arg is the struct tui). */
void tui_emit(void *arg, const struct cli_event *ev);

/* A login as name started outside the commands (im client -u). */
void tui_login_started(struct tui *t, const char *name);
/* Asks for name's password (not shown), then logs in (or signs up: the
 * new password is asked twice). */
void tui_ask_password(struct tui *t, const char *name, int signup);

/* A log line for the status window instead of the terminal (a log sink). */
void tui_log(void *arg, const char *line);

#endif
