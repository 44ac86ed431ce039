/* text: UTF-8 text as a terminal shows it: decoding, the columns a
 * character takes (0 for combining marks, 2 for East Asian wide and
 * fullwidth characters and emoji, 1 otherwise), stepping by character, and
 * wrapping into rows. Pure functions with their own width table (no
 * locale, no wcwidth: a static binary on a board has no locale data). */
#ifndef IM_TEXT_H
#define IM_TEXT_H

#include <stddef.h>
#include <stdint.h>

/* Decodes the character at s (n > 0 bytes left) into *cp and returns its
 * length in bytes; an invalid, overlong or cut sequence decodes as one
 * byte, *cp = 0xFFFD. */
size_t text_decode(const char *s, size_t n, uint32_t *cp);

/* The columns code point cp takes: 0 (combining marks, zero-width
 * characters, variation selectors), 2 (wide, fullwidth, emoji), 1 for
 * the rest; -1 for a control character (C0, DEL, C1). */
int text_cp_width(uint32_t cp);

/* The columns s[0..n) takes; a control character or an invalid byte
 * counts as 1 (a view shows it neutralised, one column). */
size_t text_width(const char *s, size_t n);

/* Byte offsets of the character boundary after off (at most n) and
 * before off (at least 0) in s[0..n). A character is a code point with
 * the zero-width code points after it (a letter and its accents are
 * stepped over, and deleted, together). */
size_t text_next(const char *s, size_t n, size_t off);
size_t text_prev(const char *s, size_t n, size_t off);

/* One row of s[0..n) wrapped at cols columns (cols >= 2): returns the
 * bytes the row shows, *width their columns, *skip the bytes after them
 * that the next row skips (a space or newline the row broke at: 0 or 1);
 * the row moves on (return + *skip > 0) when n > 0, and an empty line
 * (s starts with a newline) is a row of 0 bytes with *skip 1. A row
 * ends at a newline, else at the last space that lets it fit, else (a
 * word longer than a row) at the last character that fits; a wide
 * character never straddles the edge. */
size_t text_wrap(const char *s, size_t n, size_t cols, size_t *width, size_t *skip);

#endif
