/* ini: reads an INI file and hands each "name = value" to a callback, by the
 * rules of inih 55 as Debian builds it (meson defaults), without inih. */
#include "ini.h"

#include <string.h>

/* isspace() of the C locale, whatever the process's locale is. */
static int is_blank(char c)
{
	return c == ' ' || (c >= '\t' && c <= '\r');
}

static char *skip_blank(char *s)
{
	while (*s != '\0' && is_blank(*s))
		s++;
	return s;
}

/* Cuts the white space off the end of s in place; returns s. */
static char *cut_blank(char *s)
{
	size_t n = strlen(s);
	while (n > 0 && is_blank(s[n - 1]))
		s[--n] = '\0';
	return s;
}

/* The first byte of s that is one of stops (NULL: none), or the ';' of an
 * inline comment (a ';' right after white space), or s's NUL. */
static char *find_stop(char *s, const char *stops)
{
	int after_blank = 0;
	for (; *s != '\0'; s++) {
		if ((stops != NULL && strchr(stops, *s) != NULL) || (after_blank && *s == ';'))
			break;
		after_blank = is_blank(*s);
	}
	return s;
}

/* Copies at most cap - 1 bytes of src and a NUL into dst. */
static void copy_cut(char *dst, size_t cap, const char *src)
{
	size_t n = strlen(src);
	if (n > cap - 1)
		n = cap - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
}

/* One line (s: its text, blanks stripped; indented: it had leading white
 * space). Returns the callback's verdict, 0 for a syntax error. */
static int one_line(char *s, int indented, int lineno, char *section, char *last, ini_key_fn on_key,
                    ini_section_fn on_section, void *user)
{
	if (*s == '\0' || *s == ';' || *s == '#')
		return 1;
	if (indented && last[0] != '\0')
		return on_key(user, section, last, s);
	if (*s == '[') {
		char *end = find_stop(s + 1, "]");
		if (*end != ']')
			return 0;
		*end = '\0';
		copy_cut(section, INI_SECTION_MAX, s + 1);
		last[0] = '\0';
		return on_section == NULL || on_section(user, section, lineno);
	}
	char *sep = find_stop(s, "=:");
	if (*sep == '\0' || *sep == ';')
		return 0;
	*sep = '\0';
	char *name = cut_blank(s);
	char *value = sep + 1;
	*find_stop(value, NULL) = '\0';
	value = cut_blank(skip_blank(value));
	copy_cut(last, INI_NAME_MAX, name);
	return on_key(user, section, name, value);
}

int ini_read(FILE *f, ini_key_fn on_key, ini_section_fn on_section, void *user)
{
	char buf[INI_LINE_MAX];
	char section[INI_SECTION_MAX] = "";
	char last[INI_NAME_MAX] = ""; /* the name an indented line continues */
	int lineno = 0, first_error = 0;
	while (fgets(buf, sizeof buf, f) != NULL) {
		lineno++;
		char *line = buf;
		if (lineno == 1 && (unsigned char)line[0] == 0xEF && (unsigned char)line[1] == 0xBB &&
		    (unsigned char)line[2] == 0xBF)
			line += 3;
		char *s = skip_blank(cut_blank(line));
		/* inih counts a skipped byte order mark as indentation too */
		if (!one_line(s, s > buf, lineno, section, last, on_key, on_section, user) &&
		    first_error == 0)
			first_error = lineno;
	}
	return ferror(f) ? -1 : first_error;
}
