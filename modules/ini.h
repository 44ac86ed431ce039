/* ini: reads an INI file and hands each "name = value" to a callback, by the
 * rules of inih 55 as Debian builds it (meson defaults), without inih. */
#ifndef IM_INI_H
#define IM_INI_H

#include <stdio.h>

/* The rules, matched byte for byte with inih (tests/fuzz/fuzz_ini.c checks):
 * - A line is what fgets() returns into INI_LINE_MAX bytes: a longer line
 *   is read in pieces of INI_LINE_MAX - 1 bytes, each piece parsed (and
 *   numbered) as a line of its own. A NUL byte ends the piece's text.
 * - A UTF-8 byte order mark at the start of line 1 is skipped.
 * - White space (C locale: space, \t \n \v \f \r) is stripped around each
 *   line, section, name and value; nothing else is unquoted or unescaped.
 * - A line whose first non-blank byte is ';' or '#' is a comment; an inline
 *   comment starts at a ';' that follows white space.
 * - "[name]" starts a section (the name is what lies between '[' and the
 *   first ']', kept as it is, cut to INI_SECTION_MAX - 1 bytes; text after
 *   ']' is ignored). Keys before any section have section "".
 * - "name = value" or "name : value": split at the first '=' or ':'.
 * - An indented non-blank line after a key continues it: the callback is
 *   called again with the same name (cut to INI_NAME_MAX - 1 bytes) and the
 *   line as value. A section line ends that.
 * - Anything else (no separator, no ']', a ';' comment before the
 *   separator) is an error; reading goes on to the end of the file. */
#define INI_LINE_MAX    200
#define INI_SECTION_MAX 50
#define INI_NAME_MAX    50

/* Called per name = value; returns nonzero to accept, 0 to make the line an
 * error. The strings live only during the call. */
typedef int (*ini_key_fn)(void *user, const char *section, const char *name, const char *value);

/* Called at each "[section]" line with its line number (inih has no such
 * call); same return. */
typedef int (*ini_section_fn)(void *user, const char *section, int lineno);

/* Reads f to its end, calling on_key for every key and on_section (may be
 * NULL) for every section line. Returns 0, the number of the first line
 * that was an error or that a callback refused, or -1 when f could not be
 * read (a directory, an I/O error). Does not close f. */
int ini_read(FILE *f, ini_key_fn on_key, ini_section_fn on_section, void *user);

#endif
