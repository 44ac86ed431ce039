/* fuzz_proto: libFuzzer target over the protocol codecs: framing, token
 * splitting, the escape/unescape round trip and the ONLINE parser. Aborts
 * on any broken law. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void must(int ok)
{
	if (!ok)
		abort();
}

static void check_frame(const char *in, size_t size)
{
	size_t linelen = 0, used = 0;
	enum proto_frame f = proto_frame(in, size, PROTO_LINE_MAX, &linelen, &used);
	if (f == PROTO_MORE) {
		must(size < PROTO_LINE_MAX && memchr(in, '\n', size) == NULL);
		return;
	}
	if (f == PROTO_TOOLONG) {
		must(size >= PROTO_LINE_MAX && memchr(in, '\n', PROTO_LINE_MAX) == NULL);
		return;
	}
	must(used >= 1 && used <= size && used <= PROTO_LINE_MAX && in[used - 1] == '\n');
	must(linelen == used - 1 || (linelen == used - 2 && in[linelen] == '\r'));
	must(memchr(in, '\n', linelen) == NULL);
	if (f != PROTO_LINE)
		return;
	must(memchr(in, '\0', linelen) == NULL && proto_utf8_valid(in, linelen));

	char line[PROTO_LINE_MAX + 1];
	char *tok[8];
	memcpy(line, in, linelen);
	line[linelen] = '\0';
	int n = proto_split(line, tok, 8);
	must(n >= -1 && n <= 8);
	for (int i = 0; i < n; i++) {
		must(tok[i] >= line && tok[i] < line + linelen && tok[i][0] != '\0' && tok[i][0] != ' ');
		if (i < n - 1)
			must(strchr(tok[i], ' ') == NULL);
	}
}

static void check_escape(const char *in, size_t size)
{
	size_t cap = 2 * size + 1;
	char *esc = malloc(cap), *back = malloc(size + 1);
	must(esc != NULL && back != NULL);
	int e = proto_escape(in, size, esc, cap);
	must(e >= 0 && (size_t)e < cap && memchr(esc, '\n', (size_t)e) == NULL);
	int u = proto_unescape(esc, (size_t)e, back, size + 1);
	must(u >= 0);
	int has_crlf = 0;
	for (size_t i = 0; i + 1 < size; i++)
		has_crlf |= in[i] == '\r' && in[i + 1] == '\n';
	if (!has_crlf)
		must((size_t)u == size && memcmp(back, in, size) == 0);
	/* a buffer one byte short must be refused, never overrun */
	if (e > 0)
		must(proto_escape(in, size, esc, (size_t)e) == -1);

	/* unescape of arbitrary input: when it succeeds, escaping it again gives
	 * the input back unless raw newlines or CRLF pairs are involved */
	u = proto_unescape(in, size, back, size + 1);
	if (u >= 0 && memchr(in, '\n', size) == NULL) {
		int crlf = 0;
		for (int i = 0; i + 1 < u; i++)
			crlf |= back[i] == '\r' && back[i + 1] == '\n';
		e = proto_escape(back, (size_t)u, esc, cap);
		must(e >= 0);
		if (!crlf)
			must((size_t)e == size && memcmp(esc, in, size) == 0);
	}
	free(esc);
	free(back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data;
	check_frame(in, size);
	check_escape(in, size);
	/* ONLINE arguments: whatever parses is well-formed field by field */
	char args[PROTO_LINE_MAX];
	if (size < sizeof args) {
		struct proto_online o;
		memcpy(args, in, size);
		args[size] = '\0';
		if (proto_parse_online(args, &o) == 0)
			must(proto_key_valid(o.key) && o.port >= 1 && o.port <= 65535 &&
			     proto_ip_valid(o.ip) && (o.lan[0] == '\0' || proto_ip_valid(o.lan)));
	}
	char name[PROTO_NAME_MAX + 1], copy[64];
	if (size < sizeof copy) {
		memcpy(copy, in, size);
		copy[size] = '\0';
		if (proto_name_fold(copy, name) == 0) {
			char again[PROTO_NAME_MAX + 1];
			must(proto_name_fold(name, again) == 0 && strcmp(name, again) == 0);
		}
	}
	return 0;
}
