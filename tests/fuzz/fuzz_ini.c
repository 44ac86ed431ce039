/* fuzz_ini: differential libFuzzer target: the same bytes (through
 * fmemopen) go to im's own reader (modules/ini.c) and to Debian's inih
 * (ini_parse_file, linked only into this target); the sequence of
 * (section, name, value) calls and the return value must be identical.
 * The handler refuses some keys (a rule on the bytes) so that the error
 * line numbers are compared too. A third pass with a section callback
 * must give the same keys and one section call per "[...]" line. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ini.h"

/* inih's own header is shadowed by modules/ini.h on the include path; this
 * is its ini_parse_file as Debian builds it (INI_HANDLER_LINENO 0). */
typedef int (*inih_handler)(void *user, const char *section, const char *name, const char *value);
int ini_parse_file(FILE *file, inih_handler handler, void *user);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct trace {
	char *buf;
	size_t len, cap;
	int keys, sections;
};

static void put(struct trace *t, char tag, const char *s)
{
	size_t n = strlen(s);
	if (t->len + n + 2 > t->cap) {
		t->cap = (t->len + n + 2) * 2;
		t->buf = realloc(t->buf, t->cap);
		if (t->buf == NULL)
			abort();
	}
	t->buf[t->len++] = tag;
	memcpy(t->buf + t->len, s, n + 1);
	t->len += n + 1;
}

/* Refuses a key by a rule both readers see the same way. */
static int verdict(const char *name, const char *value)
{
	return (strlen(name) + 3 * strlen(value) + (unsigned char)value[0]) % 5 != 0;
}

static int on_key(void *user, const char *section, const char *name, const char *value)
{
	struct trace *t = user;
	put(t, 'S', section);
	put(t, 'N', name);
	put(t, 'V', value);
	t->keys++;
	return verdict(name, value);
}

static int on_section(void *user, const char *section, int lineno)
{
	if (lineno < 1)
		abort();
	struct trace *t = user;
	t->sections++;
	return section != NULL;
}

static FILE *open_mem(void *copy, size_t size)
{
	FILE *f = fmemopen(copy, size, "r");
	if (f == NULL)
		abort();
	return f;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0; /* fmemopen() of 0 bytes: nothing to read for either */
	void *copy = malloc(size);
	if (copy == NULL)
		abort();
	memcpy(copy, data, size);

	struct trace ours = {0}, theirs = {0}, with_sections = {0};
	FILE *f = open_mem(copy, size);
	int rc_ours = ini_read(f, on_key, NULL, &ours);
	fclose(f);
	f = open_mem(copy, size);
	int rc_theirs = ini_parse_file(f, on_key, &theirs);
	fclose(f);
	f = open_mem(copy, size);
	int rc_sections = ini_read(f, on_key, on_section, &with_sections);
	fclose(f);

	if (rc_ours != rc_theirs) {
		fprintf(stderr, "fuzz_ini: ini_read returned %d, inih %d\n", rc_ours, rc_theirs);
		abort();
	}
	if (ours.len != theirs.len || (ours.len && memcmp(ours.buf, theirs.buf, ours.len) != 0)) {
		fprintf(stderr, "fuzz_ini: calls differ (ini_read %d keys, inih %d keys)\n", ours.keys,
		        theirs.keys);
		abort();
	}
	/* A section callback changes nothing else (it accepts every section). */
	if (rc_sections != rc_ours || with_sections.len != ours.len ||
	    (ours.len && memcmp(with_sections.buf, ours.buf, ours.len) != 0))
		abort();
	/* Cannot see more sections than lines that start with '[' after blanks. */
	if (with_sections.sections > 0 && memchr(data, '[', size) == NULL)
		abort();
	free(ours.buf);
	free(theirs.buf);
	free(with_sections.buf);
	free(copy);
	return 0;
}
