/* ui: the client's batch mode: commands on stdin, event lines on stdout
 * for scripts (the interactive modes are tui's). It holds no client logic. */
#ifndef IM_UI_H
#define IM_UI_H

#include "cli.h"
#include "loop.h"

struct ui;

/* Makes batch mode on loop l. NULL if out of memory. */
struct ui *ui_new(struct loop *l);
/* Starts reading commands from stdin into client c. 0/-1 (errno set). */
int ui_start(struct ui *u, struct cli *c);
/* Frees it and restores the terminal. Safe on NULL. */
void ui_free(struct ui *u);

/* The client core's event sink (arg is the struct ui). */
void ui_emit(void *arg, const struct cli_event *ev);

/* Logs in (or signs up) as the client's command does: in batch mode the
 * lines after it wait until the login has ended. */
void ui_login(struct ui *u, const char *name, const char *pw, int signup);

/* Marks a login started outside ui_login (on 1: the lines after it wait
 * in batch mode), or not started after all (0). */
void ui_wait_login(struct ui *u, int on);

/* Batch bounds, in ms (0: none): how long the lines after a login wait
 * for it (then they run, with an error), and how long the end of input
 * waits for the outcomes of the messages sent before quitting. */
void ui_batch_bounds(struct ui *u, unsigned login_ms, unsigned outcome_ms);

/* Asks for name's password without echo, then logs in (or signs up). */
void ui_ask_password(struct ui *u, const char *name, int signup);

#endif
