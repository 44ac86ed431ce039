/* term: raw mode and its undoing (at exit and on crash signals), the
 * terminal's size, and input bytes decoded into keys. */
#include "term.h"

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include "text.h"

/* A CSI longer than this never ends as a key: it is skipped. */
#define CSI_MAX 32

static size_t key(struct term_key *k, enum term_keytype type, size_t used)
{
	k->type = type;
	return used;
}

/* The number at the start of a CSI's parameters p[0..n) (up to ';'), or
 * -1 if there is none or it is not a plain number. */
static long csi_number(const char *p, size_t n)
{
	long v = 0;
	size_t i = 0;
	for (; i < n && p[i] != ';'; i++) {
		if (p[i] < '0' || p[i] > '9' || v > 100000)
			return -1;
		v = v * 10 + (p[i] - '0');
	}
	return i == 0 ? -1 : v;
}

/* The modifier of "1;M": M, or 1 when there is none. */
static long csi_modifier(const char *p, size_t n)
{
	const char *semi = memchr(p, ';', n);
	if (semi == NULL)
		return 1;
	return csi_number(semi + 1, n - (size_t)(semi + 1 - p));
}

/* ESC [ params final: the complete sequence s[0..used) with parameters
 * s[2..end) and final byte s[end]. */
static size_t csi_key(const char *s, size_t end, struct term_key *k)
{
	const char *p = s + 2;
	size_t pn = end - 2, used = end + 1;
	char f = s[end];
	long num = csi_number(p, pn), mod = csi_modifier(p, pn);
	if (pn > 0 && num < 0)
		return key(k, TERM_K_IGNORED, used); /* private (ESC [ ? ...) and the like */
	switch (f) {
	case 'A':
	case 'B':
	case 'C':
	case 'D':
	case 'H':
	case 'F':
		if (pn > 0 && num != 1)
			return key(k, TERM_K_IGNORED, used);
		if (f == 'H')
			return key(k, TERM_K_HOME, used);
		if (f == 'F')
			return key(k, TERM_K_END, used);
		/* Ctrl (5) or Alt (3) with Left/Right moves by word, as in
		 * readline; other modifiers are the plain key */
		if ((mod == 5 || mod == 3) && (f == 'C' || f == 'D'))
			return key(k, f == 'C' ? TERM_K_CTRL_RIGHT : TERM_K_CTRL_LEFT, used);
		return key(k,
		           f == 'A'   ? TERM_K_UP
		           : f == 'B' ? TERM_K_DOWN
		           : f == 'C' ? TERM_K_RIGHT
		                      : TERM_K_LEFT,
		           used);
	case '~':
		switch (num) {
		case 1:
		case 7:
			return key(k, TERM_K_HOME, used);
		case 4:
		case 8:
			return key(k, TERM_K_END, used);
		case 3:
			return key(k, TERM_K_DELETE, used);
		case 5:
			return key(k, TERM_K_PGUP, used);
		case 6:
			return key(k, TERM_K_PGDN, used);
		case 200:
			return key(k, TERM_K_PASTE_BEGIN, used);
		case 201:
			return key(k, TERM_K_PASTE_END, used);
		}
		break;
	}
	return key(k, TERM_K_IGNORED, used);
}

/* s[0] = ESC, n >= 1. */
static size_t esc_key(const char *s, size_t n, int final, struct term_key *k)
{
	if (n == 1)
		return final ? key(k, TERM_K_ESC, 1) : 0;
	unsigned char c = (unsigned char)s[1];
	if (c == '[') {
		/* the Linux console's F1-F5: ESC [ [ A..E */
		if (n >= 3 && s[2] == '[') {
			if (n >= 4)
				return key(k, TERM_K_IGNORED, 4);
			return final ? key(k, TERM_K_IGNORED, 3) : 0;
		}
		size_t i = 2;
		for (; i < n && i < CSI_MAX; i++) {
			unsigned char b = (unsigned char)s[i];
			if (b >= 0x40 && b <= 0x7e)
				return csi_key(s, i, k);
			if (b < 0x20 || b > 0x3f) /* not a CSI after all: skip what came */
				return key(k, TERM_K_IGNORED, i);
		}
		if (i >= CSI_MAX)
			return key(k, TERM_K_IGNORED, CSI_MAX);
		if (!final)
			return 0;
		if (n == 2) {
			k->c = '[';
			return key(k, TERM_K_ALT, 2);
		}
		return key(k, TERM_K_IGNORED, n);
	}
	if (c == 'O') {
		if (n == 2) {
			if (!final)
				return 0;
			k->c = 'O';
			return key(k, TERM_K_ALT, 2);
		}
		switch (s[2]) {
		case 'A':
			return key(k, TERM_K_UP, 3);
		case 'B':
			return key(k, TERM_K_DOWN, 3);
		case 'C':
			return key(k, TERM_K_RIGHT, 3);
		case 'D':
			return key(k, TERM_K_LEFT, 3);
		case 'H':
			return key(k, TERM_K_HOME, 3);
		case 'F':
			return key(k, TERM_K_END, 3);
		}
		if (s[2] >= 0x40 && s[2] <= 0x7e) /* F1-F4, the keypad */
			return key(k, TERM_K_IGNORED, 3);
		k->c = 'O';
		return key(k, TERM_K_ALT, 2);
	}
	if (c >= 0x20 && c <= 0x7e) {
		k->c = (char)c;
		return key(k, TERM_K_ALT, 2);
	}
	/* ESC ESC, ESC + a control or a UTF-8 byte: a lone Escape, and the
	 * rest is decoded next */
	return key(k, TERM_K_ESC, 1);
}

/* s[0] >= 0x80. */
static size_t utf8_key(const char *s, size_t n, int final, struct term_key *k)
{
	unsigned char c = (unsigned char)s[0];
	size_t len = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
	if (len == 0)
		return key(k, TERM_K_IGNORED, 1);
	if (n < len) {
		/* could what came so far still start a character? */
		unsigned char lo = 0x80, hi = 0xbf, b = n > 1 ? (unsigned char)s[1] : 0;
		if (c == 0xe0)
			lo = 0xa0;
		else if (c == 0xed)
			hi = 0x9f;
		else if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f;
		int ok = n < 2 || (b >= lo && b <= hi);
		for (size_t i = 2; i < n; i++)
			ok = ok && ((unsigned char)s[i] & 0xc0) == 0x80;
		return ok && !final ? 0 : key(k, TERM_K_IGNORED, 1);
	}
	uint32_t cp;
	if (text_decode(s, len, &cp) != len)
		return key(k, TERM_K_IGNORED, 1);
	if (cp <= 0x9f) /* C1 controls */
		return key(k, TERM_K_IGNORED, len);
	memcpy(k->text, s, len);
	k->len = len;
	return key(k, TERM_K_TEXT, len);
}

size_t term_key(const char *s, size_t n, int final, struct term_key *k)
{
	memset(k, 0, sizeof *k);
	if (n == 0)
		return 0;
	unsigned char c = (unsigned char)s[0];
	if (c == 0x1b)
		return esc_key(s, n, final, k);
	if (c >= 0x80)
		return utf8_key(s, n, final, k);
	if (c >= 0x20 && c < 0x7f) {
		k->text[0] = (char)c;
		k->len = 1;
		return key(k, TERM_K_TEXT, 1);
	}
	switch (c) {
	case '\r':
	case '\n':
		return key(k, TERM_K_ENTER, 1);
	case '\t':
		return key(k, TERM_K_TAB, 1);
	case 0x7f:
	case 0x08:
		return key(k, TERM_K_BACKSPACE, 1);
	}
	if (c == 0 || c >= 0x1c) /* Ctrl-@, Ctrl-\ ] ^ _ */
		return key(k, TERM_K_IGNORED, 1);
	k->c = (char)(c | 0x60);
	return key(k, TERM_K_CTRL, 1);
}

/* ---- the terminal's state ---- */

static struct termios saved;
static int saved_fd = -1;
static volatile sig_atomic_t raw_on, screen_on, hooks_set;
static int screen_fd = -1;

static const int crash_signals[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
static struct sigaction crash_old[sizeof crash_signals / sizeof crash_signals[0]];

/* write() all of s, as a signal handler may: a few tries, no stdio. */
static void put(int fd, const char *s, size_t n)
{
	for (int tries = 0; n > 0 && tries < 8; tries++) {
		ssize_t w = write(fd, s, n);
		if (w > 0) {
			s += w;
			n -= (size_t)w;
		} else if (w < 0 && errno != EINTR && errno != EAGAIN) {
			return;
		}
	}
}

void term_restore(void)
{
	int e = errno;
	if (raw_on || screen_on) {
		/* attributes off, the cursor shown, bracketed paste off; then the
		 * shell's screen back */
		static const char reset[] = "\x1b[0m\x1b[?25h\x1b[?2004l", leave[] = "\x1b[?1049l";
		int fd = screen_on ? screen_fd : saved_fd;
		put(fd, reset, sizeof reset - 1);
		if (screen_on)
			put(fd, leave, sizeof leave - 1);
		screen_on = 0;
	}
	if (raw_on) {
		raw_on = 0;
		/* TCSANOW: a stuck line (XOFF, a hung serial port) must not
		 * hang an exit or a crash; output processing of what is still
		 * queued at most turns a \r\n into \r\r\n, which shows the same */
		tcsetattr(saved_fd, TCSANOW, &saved);
	}
	errno = e;
}

/* A crash: the terminal back as it was, then the signal again under the
 * disposition it had before (the default: a core; a sanitizer's: its
 * report). */
static void on_crash(int sig)
{
	term_restore();
	for (size_t i = 0; i < sizeof crash_signals / sizeof crash_signals[0]; i++)
		if (crash_signals[i] == sig)
			sigaction(sig, &crash_old[i], NULL);
	raise(sig);
}

int term_raw(int fd)
{
	struct termios t;
	if (tcgetattr(fd, &t) < 0)
		return -1;
	if (!raw_on) {
		saved = t;
		saved_fd = fd;
	}
	/* as cfmakeraw, and no output processing either: the view ends its
	 * rows with \r\n itself, and every byte it writes lands as written */
	t.c_iflag &= ~(tcflag_t)(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR | ICRNL | IXON);
	t.c_oflag &= ~(tcflag_t)OPOST;
	t.c_lflag &= ~(tcflag_t)(ECHO | ECHONL | ICANON | ISIG | IEXTEN);
	t.c_cflag &= ~(tcflag_t)(CSIZE | PARENB);
	t.c_cflag |= CS8;
	t.c_cc[VMIN] = 1;
	t.c_cc[VTIME] = 0;
	if (!hooks_set) {
		hooks_set = 1;
		atexit(term_restore);
		struct sigaction sa;
		memset(&sa, 0, sizeof sa);
		sa.sa_handler = on_crash;
		sa.sa_flags = SA_RESETHAND;
		sigemptyset(&sa.sa_mask);
		for (size_t i = 0; i < sizeof crash_signals / sizeof crash_signals[0]; i++)
			sigaction(crash_signals[i], &sa, &crash_old[i]);
	}
	/* TCSADRAIN, not TCSAFLUSH: keys typed ahead are kept */
	if (tcsetattr(fd, TCSADRAIN, &t) < 0)
		return -1;
	raw_on = 1;
	return 0;
}

int term_screen(int fd)
{
	static const char enter[] = "\x1b[?1049h\x1b[?2004h";
	screen_fd = fd;
	screen_on = 1;
	size_t n = sizeof enter - 1;
	ssize_t w;
	do
		w = write(fd, enter, n);
	while (w < 0 && errno == EINTR);
	return w == (ssize_t)n ? 0 : -1;
}

int term_size(int fd, unsigned *rows, unsigned *cols)
{
	struct winsize ws;
	if (ioctl(fd, TIOCGWINSZ, &ws) < 0 || ws.ws_row == 0 || ws.ws_col == 0) {
		*rows = 24;
		*cols = 80;
		return -1;
	}
	*rows = ws.ws_row;
	*cols = ws.ws_col;
	return 0;
}
