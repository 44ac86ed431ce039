/* edit: the input line editor: one UTF-8 line with a cursor, the editing
 * keys, a history, and completion of the word before the cursor through
 * a callback. Pure: it reads no terminal and draws nothing; a view shows
 * what edit_view says. No control character ever enters the line. */
#ifndef IM_EDIT_H
#define IM_EDIT_H

#include <stddef.h>

#define EDIT_MAX     4095 /* bytes of a line, NUL excluded */
#define EDIT_HISTORY 100  /* lines kept for Up/Down */

enum edit_key {
	EDIT_LEFT, /* one character */
	EDIT_RIGHT,
	EDIT_WORD_LEFT,  /* Ctrl-Left, Alt-B */
	EDIT_WORD_RIGHT, /* Ctrl-Right, Alt-F */
	EDIT_HOME,       /* Home, Ctrl-A */
	EDIT_END,        /* End, Ctrl-E */
	EDIT_BACKSPACE,  /* the character before the cursor */
	EDIT_DELETE,     /* the character under the cursor */
	EDIT_KILL_END,   /* Ctrl-K: cursor to end */
	EDIT_KILL_START, /* Ctrl-U: start to cursor */
	EDIT_KILL_WORD,  /* Ctrl-W: the word before the cursor */
	EDIT_UP,         /* history: older */
	EDIT_DOWN,       /* history: newer, then the line being typed */
	EDIT_TAB,        /* complete the word before the cursor */
};

/* Completion candidates: returns the i-th word (i = 0, 1, ...) that may
 * complete the word being typed, or NULL after the last. command is 1
 * when that word is the line's first and starts with '/' (candidates are
 * then commands, with their '/'), 0 otherwise (contact names). */
typedef const char *(*edit_complete_fn)(void *arg, int command, size_t i);

struct edit {
	char buf[EDIT_MAX + 1];
	size_t len, cur; /* bytes; cur is on a character boundary */
	int secret;      /* a password: shown as nothing, never in history */
	char *hist[EDIT_HISTORY];
	size_t nhist; /* oldest first */
	size_t hpos;  /* nhist: not browsing; else the entry shown */
	char *draft;  /* the line being typed when browsing began */
	edit_complete_fn complete;
	void *complete_arg;
	char matches[256]; /* after an ambiguous Tab: the candidates, space-separated */
};

/* Starts an empty editor; complete may be NULL. */
void edit_init(struct edit *e, edit_complete_fn complete, void *arg);
/* Wipes the line and frees the history. */
void edit_free(struct edit *e);

/* Inserts s[0..n) at the cursor: control characters (C0, DEL, C1) and
 * invalid UTF-8 are dropped, and what does not fit in EDIT_MAX is dropped
 * by whole characters. Returns the bytes inserted. */
size_t edit_insert(struct edit *e, const char *s, size_t n);

/* Applies key. Returns 1 if the line or the cursor changed, 0 if not
 * (a bell, for a view that rings one); for EDIT_TAB, 2 when the word has
 * several completions: e->matches lists them (cut to fit). */
int edit_key(struct edit *e, enum edit_key key);

/* Enter: copies the line into out (cap > EDIT_MAX), NUL-ended; puts it
 * in the history (unless secret, empty, or the same as the newest);
 * empties the line (and wipes it). Returns its length. */
size_t edit_take(struct edit *e, char *out, size_t cap);

/* Empties the line (wiped) and leaves history browsing. */
void edit_clear(struct edit *e);

/* What to show of the line in cols columns (cols >= 2): the bytes
 * [*from, *from + *len) and the cursor's column within them, scrolled
 * sideways so that the cursor is always visible. A secret line shows
 * nothing (*len = 0, *curcol = 0). */
void edit_view(const struct edit *e, size_t cols, size_t *from, size_t *len, size_t *curcol);

#endif
