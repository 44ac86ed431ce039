/* screen: the full-screen view of the terminal client: the model it shows
 * (windows of dialog entries, the contact list, the status and the input
 * line) drawn with VT100/ANSI sequences into one buffer, written at once. */
#ifndef IM_SCREEN_H
#define IM_SCREEN_H

#include <stddef.h>

#include "cli.h"
#include "edit.h"
#include "proto.h"

#define SCR_HISTORY 200 /* entries a window keeps (the oldest go first) */

enum scr_kind {
	SCR_MINE,   /* a message of ours */
	SCR_THEIRS, /* a message from the contact */
	SCR_SYS,    /* an event: "* text" */
	SCR_ERR,    /* an error or a warning: "* text", in red */
};

/* One dialog entry. text and reason are shown as they are: the owner has
 * neutralised them (no control character but the newlines of a message). */
struct scr_entry {
	char ts[6]; /* HH:MM */
	unsigned char kind;
	unsigned long id; /* SCR_MINE: our message id, for FAILED */
	char who[PROTO_NAME_MAX + 1];
	char *text;
	char *reason; /* non-NULL: not delivered, and why */
};

struct scr_win {
	char name[PROTO_NAME_MAX + 1]; /* "status" for window 1 */
	struct scr_entry *ent[SCR_HISTORY];
	size_t start, n; /* a ring, oldest at start */
	unsigned unread;
	size_t scroll; /* dialog rows scrolled back from the bottom */
	int warned;    /* the key-change warning was shown */
};

/* One row of the contact list: mark '+' online, '-' offline, '?' asked
 * you, '!' key changed; group orders them (0 online, 1 offline, 2 asked). */
struct scr_contact {
	char name[PROTO_NAME_MAX + 1];
	char mark;
	unsigned char group;
	unsigned unread;
};

struct scr_model {
	unsigned rows, cols;
	int color;
	struct scr_win **wins;
	size_t nwins, open; /* open: index into wins (0 = status) */
	struct scr_contact *contacts;
	size_t ncontacts;
	const char *me; /* our name, "" before the first login */
	enum cli_link link;
	const char *title; /* the rest of the title bar after " im: " */
	const char *hint;  /* non-NULL: shown on the status line instead of the window list */
	const char *prompt;
	const struct edit *ed;
};

/* A growing output buffer; len 0 after screen_flush. */
struct scr_buf {
	char *p;
	size_t len, cap;
	int oom;
};

/* The entry at age i of w (0 oldest). */
struct scr_entry *screen_entry(const struct scr_win *w, size_t i);

/* The rows entry e takes wrapped to width columns (width > 6). */
size_t screen_entry_rows(const struct scr_entry *e, size_t width);

/* The order of the contact list: by group, then by name.
 * A qsort comparator of struct scr_contact. */
int screen_contact_cmp(const void *a, const void *b);

/* The status line's text (no attributes) for m into out (cap bytes,
 * NUL-ended, cut): "[NAME] connected 1:status [2:bob] 3:carol*". */
void screen_status(const struct scr_model *m, char *out, size_t cap);

/* The widths of the dialog (columns 1..*dialog) and the contact list
 * (0 when hidden, below 60 columns); between them a blank column and
 * the '|'. */
void screen_layout(unsigned cols, size_t *dialog, size_t *list);

/* The most dialog rows w can scroll back with rows rows shown. */
size_t screen_scroll_max(const struct scr_win *w, size_t width, size_t rows);

/* Appends a full redraw of m to b. */
void screen_draw(struct scr_buf *b, const struct scr_model *m);
/* Appends a redraw of the input line alone (and the cursor) to b. */
void screen_draw_input(struct scr_buf *b, const struct scr_model *m);
/* Writes b to fd in one write (as far as the terminal takes it) and
 * empties it. */
void screen_flush(struct scr_buf *b, int fd);
/* Frees b's memory. */
void screen_buf_free(struct scr_buf *b);

#endif
