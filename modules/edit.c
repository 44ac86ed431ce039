/* edit: the input line editor: the line and its cursor, the editing keys,
 * the history and Tab completion; what a view shows of the line. */
#include "edit.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/platform_util.h>

#include "text.h"

/* A candidate list that never ends is a bug in the caller: stop here. */
#define COMPLETE_MAX 100000

static void wipe(void *p, size_t n)
{
	mbedtls_platform_zeroize(p, n);
}

static void free_str(char **p)
{
	if (*p != NULL) {
		wipe(*p, strlen(*p));
		free(*p);
		*p = NULL;
	}
}

void edit_init(struct edit *e, edit_complete_fn complete, void *arg)
{
	memset(e, 0, sizeof *e);
	e->complete = complete;
	e->complete_arg = arg;
}

void edit_free(struct edit *e)
{
	for (size_t i = 0; i < e->nhist && i < EDIT_HISTORY; i++)
		free_str(&e->hist[i]);
	free_str(&e->draft);
	wipe(e->buf, sizeof e->buf);
	e->len = e->cur = e->nhist = e->hpos = 0;
}

/* Replaces the line with s (already clean), the cursor at its end. */
static void set_line(struct edit *e, const char *s)
{
	size_t n = strlen(s);
	if (n > EDIT_MAX)
		n = EDIT_MAX;
	wipe(e->buf, e->len);
	memcpy(e->buf, s, n);
	e->buf[n] = '\0';
	e->len = e->cur = n;
}

/* Removes buf[a..b). */
static void cut(struct edit *e, size_t a, size_t b)
{
	memmove(e->buf + a, e->buf + b, e->len - b);
	wipe(e->buf + e->len - (b - a), b - a);
	e->len -= b - a;
	e->buf[e->len] = '\0';
	if (e->cur > b)
		e->cur -= b - a;
	else if (e->cur > a)
		e->cur = a;
}

/* 1 if code point cp may enter the line. */
static int allowed(uint32_t cp)
{
	return text_cp_width(cp) >= 0;
}

size_t edit_insert(struct edit *e, const char *s, size_t n)
{
	char clean[EDIT_MAX];
	size_t m = 0, room = EDIT_MAX - e->len;
	int cut_mark = 0;
	for (size_t i = 0; i < n;) {
		uint32_t cp;
		size_t l = text_decode(s + i, n - i, &cp);
		int valid = !(cp == 0xfffd && l == 1);
		if (valid && allowed(cp)) {
			if (m + l > room) {
				/* what does not fit is dropped by whole characters:
				 * a letter is never kept without its accents */
				cut_mark = text_cp_width(cp) == 0;
				break;
			}
			memcpy(clean + m, s + i, l);
			m += l;
		}
		i += l;
	}
	if (cut_mark && m > 0)
		m = text_prev(clean, m, m);
	if (m == 0)
		return 0;
	memmove(e->buf + e->cur + m, e->buf + e->cur, e->len - e->cur);
	memcpy(e->buf + e->cur, clean, m);
	e->len += m;
	e->cur += m;
	e->buf[e->len] = '\0';
	wipe(clean, m);
	/* the cursor lands inside a character only when marks were put
	 * before a mark at the very start: move it past them */
	if (e->cur < e->len && text_prev(e->buf, e->len, text_next(e->buf, e->len, e->cur)) < e->cur)
		e->cur = text_next(e->buf, e->len, e->cur);
	return m;
}

static size_t word_left(const struct edit *e)
{
	size_t p = e->cur;
	while (p > 0 && e->buf[p - 1] == ' ')
		p--;
	while (p > 0 && e->buf[p - 1] != ' ')
		p = text_prev(e->buf, e->len, p);
	return p;
}

static size_t word_right(const struct edit *e)
{
	size_t p = e->cur;
	while (p < e->len && e->buf[p] == ' ')
		p++;
	while (p < e->len && e->buf[p] != ' ')
		p = text_next(e->buf, e->len, p);
	return p;
}

static int move_to(struct edit *e, size_t p)
{
	if (p == e->cur)
		return 0;
	e->cur = p;
	return 1;
}

static int kill_range(struct edit *e, size_t a, size_t b)
{
	if (a >= b)
		return 0;
	cut(e, a, b);
	return 1;
}

static int hist_up(struct edit *e)
{
	if (e->secret || e->nhist == 0 || e->hpos == 0)
		return 0;
	if (e->hpos >= e->nhist) {
		e->draft = strdup(e->buf);
		if (e->draft == NULL)
			return 0;
		e->hpos = e->nhist;
	}
	e->hpos--;
	set_line(e, e->hist[e->hpos]);
	return 1;
}

static int hist_down(struct edit *e)
{
	if (e->hpos >= e->nhist)
		return 0;
	e->hpos++;
	if (e->hpos < e->nhist) {
		set_line(e, e->hist[e->hpos]);
	} else {
		set_line(e, e->draft != NULL ? e->draft : "");
		free_str(&e->draft);
	}
	return 1;
}

/* Appends name to e->matches if it fits (with room for " ..."); 0 if not.
 * A view prints the list: a control character or an invalid byte in a
 * name comes out as '?'. */
static int add_match(struct edit *e, const char *name)
{
	size_t have = strlen(e->matches), n = strlen(name);
	if (have + (have > 0) + n + 4 >= sizeof e->matches)
		return 0;
	if (have > 0)
		e->matches[have++] = ' ';
	for (size_t i = 0; i < n;) {
		uint32_t cp;
		size_t l = text_decode(name + i, n - i, &cp);
		if ((cp == 0xfffd && l == 1) || text_cp_width(cp) < 0) {
			memset(e->matches + have, '?', l);
		} else {
			memcpy(e->matches + have, name + i, l);
		}
		have += l;
		i += l;
	}
	e->matches[have] = '\0';
	return 1;
}

static int complete(struct edit *e)
{
	e->matches[0] = '\0';
	if (e->complete == NULL || e->secret)
		return 0;
	size_t start = e->cur;
	while (start > 0 && e->buf[start - 1] != ' ')
		start--;
	const char *word = e->buf + start;
	size_t wlen = e->cur - start;
	int command = start == 0 && e->len > 0 && e->buf[0] == '/';
	/* a copy: a callback may hand out one buffer for every candidate */
	char first[EDIT_MAX + 1];
	size_t count = 0, common = 0;
	int cut_list = 0;
	for (size_t i = 0; i < COMPLETE_MAX; i++) {
		const char *c = e->complete(e->complete_arg, command, i);
		if (c == NULL)
			break;
		size_t clen = strnlen(c, EDIT_MAX + 1);
		if (clen > EDIT_MAX || strncmp(c, word, wlen) != 0 || (count > 0 && strcmp(c, first) == 0))
			continue;
		if (count == 0) {
			memcpy(first, c, clen + 1);
			common = clen;
		} else {
			size_t k = 0;
			while (k < common && c[k] == first[k])
				k++;
			common = k;
		}
		count++;
		if (!cut_list && !add_match(e, c))
			cut_list = 1;
	}
	if (count == 0)
		return 0;
	if (count == 1) {
		e->matches[0] = '\0';
		edit_insert(e, first + wlen, strlen(first + wlen));
		if (e->cur < e->len && e->buf[e->cur] == ' ')
			e->cur++;
		else
			edit_insert(e, " ", 1);
		return 1;
	}
	if (cut_list) {
		size_t have = strlen(e->matches);
		memcpy(e->matches + have, " ...", 5);
	}
	/* the common prefix, cut back to a whole character of the first */
	size_t b = 0, last = 0;
	while (b < common) {
		b = text_next(first, strlen(first), b);
		if (b <= common)
			last = b;
	}
	if (last > wlen)
		edit_insert(e, first + wlen, last - wlen);
	return 2;
}

int edit_key(struct edit *e, enum edit_key key)
{
	switch (key) {
	case EDIT_LEFT:
		return move_to(e, text_prev(e->buf, e->len, e->cur));
	case EDIT_RIGHT:
		return move_to(e, text_next(e->buf, e->len, e->cur));
	case EDIT_WORD_LEFT:
		return move_to(e, word_left(e));
	case EDIT_WORD_RIGHT:
		return move_to(e, word_right(e));
	case EDIT_HOME:
		return move_to(e, 0);
	case EDIT_END:
		return move_to(e, e->len);
	case EDIT_BACKSPACE:
		return kill_range(e, text_prev(e->buf, e->len, e->cur), e->cur);
	case EDIT_DELETE:
		return kill_range(e, e->cur, text_next(e->buf, e->len, e->cur));
	case EDIT_KILL_END:
		return kill_range(e, e->cur, e->len);
	case EDIT_KILL_START:
		return kill_range(e, 0, e->cur);
	case EDIT_KILL_WORD:
		return kill_range(e, word_left(e), e->cur);
	case EDIT_UP:
		return hist_up(e);
	case EDIT_DOWN:
		return hist_down(e);
	case EDIT_TAB:
		return complete(e);
	}
	return 0;
}

size_t edit_take(struct edit *e, char *out, size_t cap)
{
	size_t n = e->len;
	if (cap == 0)
		return 0;
	if (n > cap - 1) /* cap > EDIT_MAX by contract; stay whole anyway */
		n = text_prev(e->buf, e->len, cap);
	memcpy(out, e->buf, n);
	out[n] = '\0';
	if (!e->secret && e->len > 0 && (e->nhist == 0 || strcmp(e->hist[e->nhist - 1], e->buf) != 0)) {
		char *copy = strdup(e->buf);
		if (copy != NULL) {
			if (e->nhist == EDIT_HISTORY) {
				free_str(&e->hist[0]);
				memmove(e->hist, e->hist + 1, (EDIT_HISTORY - 1) * sizeof e->hist[0]);
				e->nhist--;
			}
			e->hist[e->nhist++] = copy;
		}
	}
	edit_clear(e);
	return n;
}

void edit_clear(struct edit *e)
{
	wipe(e->buf, e->len);
	e->buf[0] = '\0';
	e->len = e->cur = 0;
	free_str(&e->draft);
	e->hpos = e->nhist;
	e->matches[0] = '\0';
}

void edit_view(const struct edit *e, size_t cols, size_t *from, size_t *len, size_t *curcol)
{
	*from = *len = *curcol = 0;
	if (e->secret || cols == 0)
		return;
	/* stateless paging: the cursor stays within [cols/3, cols-1] once the
	 * line scrolls, so some text before it is always in sight; it jumps
	 * back to a third of the width when it would leave on the right */
	size_t w = text_width(e->buf, e->cur), start = 0;
	if (w > cols - 1) {
		size_t step = cols - cols / 3;
		start = (w - (cols - 1) + step - 1) / step * step;
	}
	/* the first character that begins at or after column start (a wide
	 * one across it is left out whole) */
	size_t b = 0, col = 0;
	while (col < start && b < e->cur) {
		size_t nb = text_next(e->buf, e->len, b);
		col += text_width(e->buf + b, nb - b);
		b = nb;
	}
	*from = b;
	*curcol = w - col;
	size_t end = b, vw = 0;
	while (end < e->len) {
		size_t nb = text_next(e->buf, e->len, end), cw = text_width(e->buf + end, nb - end);
		if (vw + cw > cols)
			break;
		vw += cw;
		end = nb;
	}
	*len = end - b;
}
