/* term: the terminal under the interactive client: raw mode and putting
 * the terminal back as it was (on exit and on crash signals), its size,
 * and the decoding of input bytes into keys (UTF-8 text, control keys,
 * VT100/xterm escape sequences). No curses, no terminfo: the sequences
 * every VT100-compatible terminal (xterm, tmux, screen, the Linux console,
 * a serial console's terminal emulator) understands. */
#ifndef IM_TERM_H
#define IM_TERM_H

#include <stddef.h>

enum term_keytype {
	TERM_K_TEXT,  /* one UTF-8 character in text[0..len) */
	TERM_K_ENTER, /* CR or LF */
	TERM_K_TAB,
	TERM_K_BACKSPACE, /* DEL or BS */
	TERM_K_DELETE,
	TERM_K_LEFT,
	TERM_K_RIGHT,
	TERM_K_UP,
	TERM_K_DOWN,
	TERM_K_HOME,
	TERM_K_END,
	TERM_K_PGUP,
	TERM_K_PGDN,
	TERM_K_CTRL_LEFT,
	TERM_K_CTRL_RIGHT,
	TERM_K_CTRL,        /* Ctrl + c ('a'..'z'; Ctrl-I, -J, -M and -H are the keys above) */
	TERM_K_ALT,         /* Alt + c (ESC then a printable ASCII c) */
	TERM_K_ESC,         /* a lone Escape */
	TERM_K_PASTE_BEGIN, /* bracketed paste: ESC [ 200 ~ */
	TERM_K_PASTE_END,   /* ESC [ 201 ~ */
	TERM_K_IGNORED,     /* a sequence recognised as one and skipped whole */
};

struct term_key {
	enum term_keytype type;
	char c;       /* TERM_K_CTRL, TERM_K_ALT */
	char text[4]; /* TERM_K_TEXT */
	size_t len;
};

/* Decodes the first key in s[0..n) into *k: returns the bytes it used,
 * or 0 when s holds only the start of a key (an escape sequence or UTF-8
 * character cut short) and more bytes may follow. With final set (no
 * more bytes came within a short wait) an incomplete start decodes as
 * what it can be: a lone ESC, or an ignored byte. Invalid UTF-8 bytes are
 * TERM_K_IGNORED, one at a time. */
size_t term_key(const char *s, size_t n, int final, struct term_key *k);

/* Puts terminal fd in raw mode (no echo, no line buffering, no signals
 * from keys, no output processing of its own) after saving its state, and
 * arranges for term_restore to run at exit and on crash signals (SIGSEGV,
 * SIGBUS, SIGFPE, SIGILL, SIGABRT, which are then raised again). 0, or -1
 * with errno set. */
int term_raw(int fd);
/* Puts the terminal back as term_raw found it, showing the cursor and
 * leaving the alternate screen if term_screen entered it. Idempotent and
 * async-signal-safe. */
void term_restore(void);
/* Switches to the alternate screen (the shell's screen comes back on
 * restore) with bracketed paste on; 0/-1. */
int term_screen(int fd);

/* The terminal's size; 0, or -1 (then 24 x 80 is assumed). */
int term_size(int fd, unsigned *rows, unsigned *cols);

#endif
