/* screen: the full-screen view: the title bar, the dialog of the open
 * window, the contact list, the status line and the input line, drawn
 * with VT100/ANSI sequences into one buffer that goes out in one write. */
#include "screen.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "text.h"

#define STAMP_W 6 /* "HH:MM " */
#define LIST_W  20

static void put(struct scr_buf *b, const char *s, size_t n)
{
	if (b->oom || n == 0)
		return;
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->len + n)
			cap *= 2;
		char *p = realloc(b->p, cap);
		if (p == NULL) {
			b->oom = 1;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
}

static void puts_(struct scr_buf *b, const char *s)
{
	put(b, s, strlen(s));
}

static void putf(struct scr_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void putf(struct scr_buf *b, const char *fmt, ...)
{
	char tmp[64];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	if (n > 0)
		put(b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

static void spaces(struct scr_buf *b, size_t n)
{
	static const char sp[] = "                                ";
	while (n > 0) {
		size_t k = n < sizeof sp - 1 ? n : sizeof sp - 1;
		put(b, sp, k);
		n -= k;
	}
}

/* Appends the longest prefix of s[0..n) that fits cols columns, padded
 * with spaces to cols; a wide character that would straddle is left out. */
static void cell(struct scr_buf *b, const char *s, size_t n, size_t cols)
{
	size_t off = 0, w = 0;
	while (off < n) {
		size_t nx = text_next(s, n, off), cw = text_width(s + off, nx - off);
		if (w + cw > cols)
			break;
		w += cw;
		off = nx;
	}
	put(b, s, off);
	spaces(b, cols - w);
}

struct scr_entry *screen_entry(const struct scr_win *w, size_t i)
{
	return w->ent[(w->start + i) % SCR_HISTORY];
}

/* An entry's text after its time: "who: text" or "* text", then the
 * failure mark; *name is the bytes of "who:" (0 for an event), *fail
 * where the mark starts (len when none). Returns NULL when out of memory. */
static char *entry_body(const struct scr_entry *e, size_t *len, size_t *name, size_t *fail)
{
	const char *mark = e->reason ? " [not delivered: " : "";
	size_t n =
	    strlen(e->who) + strlen(e->text) + strlen(mark) + (e->reason ? strlen(e->reason) + 1 : 0) + 4;
	char *s = malloc(n);
	if (s == NULL)
		return NULL;
	int k;
	if (e->kind == SCR_MINE || e->kind == SCR_THEIRS) {
		k = snprintf(s, n, "%s: %s", e->who, e->text);
		*name = strlen(e->who) + 1;
	} else {
		k = snprintf(s, n, "* %s", e->text);
		*name = 0;
	}
	*fail = (size_t)k;
	if (e->reason)
		k += snprintf(s + k, n - (size_t)k, "%s%s]", mark, e->reason);
	*len = (size_t)k;
	return s;
}

size_t screen_entry_rows(const struct scr_entry *e, size_t width)
{
	size_t len, name, fail, rows = 0, off = 0, w, skip;
	char *s = entry_body(e, &len, &name, &fail);
	if (s == NULL)
		return 1;
	size_t cols = width > STAMP_W + 2 ? width - STAMP_W : 2;
	do {
		off += text_wrap(s + off, len - off, cols, &w, &skip) + skip;
		rows++;
	} while (off < len);
	free(s);
	return rows;
}

int screen_contact_cmp(const void *a, const void *b)
{
	const struct scr_contact *x = a, *y = b;
	if (x->group != y->group)
		return x->group < y->group ? -1 : 1;
	return strcmp(x->name, y->name);
}

void screen_status(const struct scr_model *m, char *out, size_t cap)
{
	size_t o = 0;
	int n;
	if (cap == 0)
		return;
	out[0] = '\0';
	if (m->me[0] == '\0' && m->link == CLI_LINK_IDLE)
		n = snprintf(out, cap, "[not logged in]");
	else
		n = snprintf(out, cap, "[%s] %s", m->me[0] ? m->me : "?",
		             m->link == CLI_LINK_UP           ? "connected"
		             : m->link == CLI_LINK_RETRY      ? "reconnecting"
		             : m->link == CLI_LINK_CONNECTING ? "connecting"
		                                              : "not logged in");
	if (n < 0 || (size_t)n >= cap)
		return;
	o = (size_t)n;
	if (m->hint) {
		snprintf(out + o, cap - o, " %s", m->hint);
		return;
	}
	for (size_t i = 0; i < m->nwins && o < cap; i++) {
		const struct scr_win *w = m->wins[i];
		int open = i == m->open;
		n = snprintf(out + o, cap - o, " %s%zu:%s%s%s", open ? "[" : "", i + 1, w->name,
		             w->unread && !open ? "*" : "", open ? "]" : "");
		if (n < 0 || (size_t)n >= cap - o) {
			out[o] = '\0';
			return;
		}
		o += (size_t)n;
	}
}

void screen_layout(unsigned cols, size_t *dialog, size_t *list)
{
	if (cols >= 60) {
		*list = LIST_W;
		*dialog = cols - LIST_W - 2; /* then " |": a blank column before the list */
	} else {
		*list = 0;
		*dialog = cols;
	}
}

size_t screen_scroll_max(const struct scr_win *w, size_t width, size_t rows)
{
	size_t total = 0;
	for (size_t i = w->n; i-- > 0 && total <= rows + (1u << 20);)
		total += screen_entry_rows(screen_entry(w, i), width);
	return total > rows ? total - rows : 0;
}

enum attr { A_NONE, A_MINE, A_THEIRS, A_SYS, A_ERR };

static void sgr(struct scr_buf *b, enum attr a, int color)
{
	puts_(b, "\033[0m");
	switch (a) {
	case A_NONE:
		break;
	case A_MINE:
		puts_(b, color ? "\033[1;36m" : "\033[1m");
		break;
	case A_THEIRS:
		if (color)
			puts_(b, "\033[32m");
		break;
	case A_SYS:
		if (color)
			puts_(b, "\033[33m");
		break;
	case A_ERR:
		if (color)
			puts_(b, "\033[31m");
		break;
	}
}

/* Row r of entry e in the dialog, width columns, padded. */
static void draw_entry_row(struct scr_buf *b, const struct scr_entry *e, size_t r, size_t width, int color)
{
	size_t len, name, fail, off = 0, w = 0, skip = 0, n = 0;
	char *s = entry_body(e, &len, &name, &fail);
	if (s == NULL) {
		spaces(b, width);
		return;
	}
	size_t cols = width > STAMP_W + 2 ? width - STAMP_W : 2;
	for (size_t i = 0; i <= r; i++) {
		off += n + skip;
		n = text_wrap(s + off, len - off, cols, &w, &skip);
	}
	if (r == 0)
		putf(b, "%.5s ", e->ts);
	else
		spaces(b, STAMP_W);
	enum attr base = e->kind == SCR_SYS ? A_SYS : e->kind == SCR_ERR ? A_ERR : A_NONE;
	enum attr cur = A_NONE;
	for (size_t i = off; i < off + n;) {
		enum attr a = base;
		if (i < name)
			a = e->kind == SCR_MINE ? A_MINE : A_THEIRS;
		else if (i >= fail)
			a = A_ERR;
		size_t end = off + n;
		if (i < name && name < end)
			end = name;
		else if (i < fail && fail < end)
			end = fail;
		if (a != cur)
			sgr(b, a, color);
		cur = a;
		put(b, s + i, end - i);
		i = end;
	}
	if (cur != A_NONE)
		puts_(b, "\033[0m");
	spaces(b, width - STAMP_W > w ? width - STAMP_W - w : 0);
	free(s);
}

static void draw_contact(struct scr_buf *b, const struct scr_model *m, size_t r, size_t list)
{
	char row[PROTO_NAME_MAX + 32];
	int n;
	if (r == 0)
		n = snprintf(row, sizeof row, " Contacts");
	else if (m->ncontacts == 0)
		n = snprintf(row, sizeof row, r == 1 ? " (none; /add NAME)" : "");
	else if (r - 1 < m->ncontacts) {
		const struct scr_contact *c = &m->contacts[r - 1];
		n = c->unread ? snprintf(row, sizeof row, " %c %s (%u)", c->mark, c->name, c->unread)
		              : snprintf(row, sizeof row, " %c %s", c->mark, c->name);
	} else
		n = 0;
	put(b, " |", 2);
	cell(b, row, n > 0 ? (size_t)n : 0, list);
}

/* One window's visible rows: which entry and which of its rows. */
struct vis {
	size_t e, r;
};

void screen_draw(struct scr_buf *b, const struct scr_model *m)
{
	size_t dialog, list;
	screen_layout(m->cols, &dialog, &list);
	puts_(b, "\033[?25l\033[0m");
	if (m->rows < 4 || m->cols < 10) {
		puts_(b, "\033[2J");
		screen_draw_input(b, m);
		return;
	}
	const struct scr_win *w = m->wins[m->open];
	size_t rows = m->rows - 3;
	/* title bar */
	char title[PROTO_NAME_MAX + 64];
	int tn = snprintf(title, sizeof title, " im: %s", m->title);
	const char *more = w->scroll ? " -- more below -- " : "";
	size_t mw = strlen(more);
	puts_(b, "\033[1;1H\033[7m");
	if (mw + 10 < m->cols) {
		cell(b, title, tn > 0 ? (size_t)tn : 0, m->cols - mw);
		puts_(b, more);
	} else {
		cell(b, title, tn > 0 ? (size_t)tn : 0, m->cols);
	}
	puts_(b, "\033[0m");
	/* the dialog from the bottom, scrolled back by w->scroll rows */
	struct vis *v = calloc(rows, sizeof *v);
	size_t fill = rows, skip = w->scroll;
	if (v == NULL) {
		b->oom = 1;
		return;
	}
	for (size_t i = w->n; i-- > 0 && fill > 0;) {
		size_t nr = screen_entry_rows(screen_entry(w, i), dialog);
		for (size_t r = nr; r-- > 0 && fill > 0;) {
			if (skip) {
				skip--;
				continue;
			}
			v[--fill] = (struct vis){i, r};
		}
	}
	/* A short dialog starts at the top, as a new page does. */
	size_t used = rows - fill;
	memmove(v, v + fill, used * sizeof *v);
	for (size_t r = 0; r < rows; r++) {
		putf(b, "\033[%zu;1H", r + 2);
		if (r < used)
			draw_entry_row(b, screen_entry(w, v[r].e), v[r].r, dialog, m->color);
		else
			spaces(b, dialog);
		if (list)
			draw_contact(b, m, r, list);
		puts_(b, "\033[K");
	}
	free(v);
	/* status line */
	char st[1024];
	screen_status(m, st, sizeof st);
	putf(b, "\033[%u;1H\033[7m", m->rows - 1);
	cell(b, st, strlen(st), m->cols);
	puts_(b, "\033[0m");
	screen_draw_input(b, m);
}

void screen_draw_input(struct scr_buf *b, const struct scr_model *m)
{
	size_t pw = text_width(m->prompt, strlen(m->prompt));
	size_t cols = m->cols > pw + 2 ? m->cols - pw - 1 : 2;
	size_t from, len, cur;
	edit_view(m->ed, cols, &from, &len, &cur);
	putf(b, "\033[%u;1H\033[0m", m->rows ? m->rows : 1);
	puts_(b, m->prompt);
	put(b, m->ed->buf + from, len);
	puts_(b, "\033[K");
	putf(b, "\033[%u;%zuH\033[?25h", m->rows ? m->rows : 1, pw + cur + 1);
}

void screen_flush(struct scr_buf *b, int fd)
{
	size_t off = 0;
	while (off < b->len) {
		ssize_t n = write(fd, b->p + off, b->len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break; /* a terminal that does not take it: the next redraw repaints */
		off += (size_t)n;
	}
	b->len = 0;
	b->oom = 0;
}

void screen_buf_free(struct scr_buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}
