/* fuzz_keys: libFuzzer target over the terminal client's input path:
 * bytes arrive in slices, term_key decodes them (waiting on a cut key,
 * as the UI does), the keys drive the line editor, and after every step
 * the editor's laws are checked: valid UTF-8 without control characters,
 * the length bound, the cursor on a character boundary, a view within
 * bounds and within its columns. Aborts on any broken law. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "edit.h"
#include "proto.h"
#include "term.h"
#include "text.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void must(int ok)
{
	if (!ok)
		abort();
}

static const char *const names[] = {"alice",
                                    "albert",
                                    "al",
                                    "bob",
                                    "\xc3\xa9lo\xc3\xafse",
                                    "\xc3\xa9lo",
                                    "x\x01y\x1b",
                                    "a\xc2\x85\xff",
                                    "\xe6\x97\xa5\xe6\x9c\xac"};
static const char *const cmds[] = {"/open", "/quit", "/query", "/add", "/fingerprint", "/"};

static const char *cands(void *arg, int command, size_t i)
{
	if (command)
		return i < sizeof cmds / sizeof cmds[0] ? cmds[i] : NULL;
	return i < sizeof names / sizeof names[0] ? names[i] : NULL;
}

static int on_boundary(const struct edit *e, size_t off)
{
	if (off == 0 || off == e->len)
		return 1;
	if (((unsigned char)e->buf[off] & 0xc0) == 0x80)
		return 0;
	return text_prev(e->buf, e->len, text_next(e->buf, e->len, off)) == off;
}

static void check(const struct edit *e, size_t cols)
{
	must(e->len <= EDIT_MAX && e->buf[e->len] == '\0' && strlen(e->buf) == e->len);
	must(proto_utf8_valid(e->buf, e->len));
	for (size_t i = 0; i < e->len;) {
		uint32_t cp;
		i += text_decode(e->buf + i, e->len - i, &cp);
		must(text_cp_width(cp) >= 0);
	}
	must(e->cur <= e->len && on_boundary(e, e->cur));
	must(e->nhist <= EDIT_HISTORY && e->hpos <= e->nhist);
	size_t ml = strnlen(e->matches, sizeof e->matches);
	must(ml < sizeof e->matches && proto_utf8_valid(e->matches, ml));
	for (size_t i = 0; i < ml;) {
		uint32_t cp;
		i += text_decode(e->matches + i, ml - i, &cp);
		must(text_cp_width(cp) >= 0);
	}

	size_t from = 99999, len = 99999, col = 99999;
	edit_view(e, cols, &from, &len, &col);
	if (e->secret) {
		must(from == 0 && len == 0 && col == 0);
		return;
	}
	must(from <= e->cur && e->cur <= from + len && from + len <= e->len);
	must(on_boundary(e, from) && on_boundary(e, from + len));
	must(text_width(e->buf + from, len) <= cols);
	must(col < cols && col == text_width(e->buf + from, e->cur - from));
}

static void apply(struct edit *e, const struct term_key *k, const char *raw, size_t used, char *out)
{
	switch (k->type) {
	case TERM_K_TEXT:
		must(k->len >= 1 && k->len <= 4);
		edit_insert(e, k->text, k->len);
		break;
	case TERM_K_IGNORED:
		/* what the decoder skipped, as a paste would bring it: the
		 * editor must filter it on its own */
		edit_insert(e, raw, used);
		break;
	case TERM_K_ENTER: {
		size_t n = edit_take(e, out, EDIT_MAX + 1);
		must(n <= EDIT_MAX && out[n] == '\0' && e->len == 0 && e->cur == 0);
		break;
	}
	case TERM_K_TAB:
		edit_key(e, EDIT_TAB);
		break;
	case TERM_K_BACKSPACE:
		edit_key(e, EDIT_BACKSPACE);
		break;
	case TERM_K_DELETE:
		edit_key(e, EDIT_DELETE);
		break;
	case TERM_K_LEFT:
		edit_key(e, EDIT_LEFT);
		break;
	case TERM_K_RIGHT:
		edit_key(e, EDIT_RIGHT);
		break;
	case TERM_K_UP:
		edit_key(e, EDIT_UP);
		break;
	case TERM_K_DOWN:
		edit_key(e, EDIT_DOWN);
		break;
	case TERM_K_HOME:
		edit_key(e, EDIT_HOME);
		break;
	case TERM_K_END:
		edit_key(e, EDIT_END);
		break;
	case TERM_K_CTRL_LEFT:
		edit_key(e, EDIT_WORD_LEFT);
		break;
	case TERM_K_CTRL_RIGHT:
		edit_key(e, EDIT_WORD_RIGHT);
		break;
	case TERM_K_CTRL:
		must(k->c >= 'a' && k->c <= 'z');
		switch (k->c) {
		case 'a':
			edit_key(e, EDIT_HOME);
			break;
		case 'e':
			edit_key(e, EDIT_END);
			break;
		case 'k':
			edit_key(e, EDIT_KILL_END);
			break;
		case 'u':
			edit_key(e, EDIT_KILL_START);
			break;
		case 'w':
			edit_key(e, EDIT_KILL_WORD);
			break;
		case 's':
			e->secret = !e->secret;
			break;
		case 'x':
			edit_clear(e);
			break;
		case 'f': /* a long paste, to reach EDIT_MAX from short inputs */
		case 'g': {
			static char fill[1500];
			const char *unit = k->c == 'f' ? "x" : "e\xcc\x81\xe6\x97\xa5";
			size_t ul = strlen(unit), fl = sizeof fill / ul * ul;
			for (size_t i = 0; i < fl; i += ul)
				memcpy(fill + i, unit, ul);
			edit_insert(e, fill, fl);
			break;
		}
		}
		break;
	case TERM_K_ALT:
		must(k->c >= 0x20 && k->c <= 0x7e);
		if (k->c == 'b')
			edit_key(e, EDIT_WORD_LEFT);
		else if (k->c == 'f')
			edit_key(e, EDIT_WORD_RIGHT);
		break;
	default:
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct edit e;
	static char out[EDIT_MAX + 1];
	if (size < 2)
		return 0;
	/* the first byte: the view's width; the second: how the bytes are
	 * sliced into reads */
	size_t cols = 2 + data[0] % 120, slice = 1 + data[1] % 16;
	data += 2;
	size_t n = size - 2, at = 0;
	edit_init(&e, cands, NULL);
	char pend[64];
	size_t np = 0, keys = 0;
	while (at < n || np > 0) {
		size_t take = n - at < slice ? n - at : slice;
		if (take > sizeof pend - np)
			take = sizeof pend - np;
		memcpy(pend + np, data + at, take);
		np += take;
		at += take;
		int final = at == n; /* no more bytes came */
		size_t off = 0;
		while (off < np) {
			struct term_key k;
			size_t used = term_key(pend + off, np - off, final, &k);
			must(used <= np - off);
			if (used == 0) {
				must(!final);
				break;
			}
			apply(&e, &k, pend + off, used, out);
			/* a long line costs a full walk per check: every 8th key
			 * then, and the last */
			if (e.len <= 256 || ++keys % 8 == 0 || (final && off + used == np))
				check(&e, cols);
			off += used;
		}
		memmove(pend, pend + off, np - off);
		np -= off;
		must(np < sizeof pend);
	}
	edit_free(&e);
	return 0;
}
