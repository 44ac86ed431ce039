/* fuzz_peer: libFuzzer target over the peer channel's line parser, fed as
 * the peer module reads: framed by proto_frame, then proto_parse_peer_line.
 * Aborts on a broken law: the line is never changed, every field points
 * into it, and what parses as a kind is exactly that kind's syntax. */
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

static void check_line(const char *line, size_t len)
{
	struct proto_peer_line pl;
	char before[PROTO_LINE_MAX + 1], name[PROTO_NAME_MAX + 1];
	memcpy(before, line, len + 1);
	enum proto_peer_kind k = proto_parse_peer_line(line, &pl);
	must(k == pl.kind && memcmp(before, line, len + 1) == 0);
	switch (k) {
	case PROTO_PEER_MSG:
		must(strncmp(line, "MSG ", 4) == 0 && pl.id == line + 4);
		must(pl.idlen <= len - 4 && memchr(pl.id, ' ', pl.idlen) == NULL);
		if (pl.id[pl.idlen] == ' ')
			must(pl.text == pl.id + pl.idlen + 1);
		else
			must(pl.id[pl.idlen] == '\0' && pl.text[0] == '\0');
		break;
	case PROTO_PEER_HELLO:
		must(strncmp(line, "IM 1 ", 5) == 0 && proto_name_fold(line + 5, name) == 0 &&
		     strcmp(name, pl.name) == 0);
		break;
	case PROTO_PEER_ACK:
		must(strncmp(line, "ACK ", 4) == 0 && len > 4 && strspn(line + 4, "0123456789") == len - 4);
		must(strtoul(line + 4, NULL, 10) == pl.ack);
		break;
	case PROTO_PEER_TYPING:
		must(strcmp(line, "TYPING") == 0);
		break;
	case PROTO_PEER_BYE:
		must(strcmp(line, "BYE") == 0);
		break;
	case PROTO_PEER_OTHER:
		must(strncmp(line, "MSG ", 4) != 0 && strcmp(line, "BYE") != 0 &&
		     strcmp(line, "TYPING") != 0);
		break;
	default:
		must(0);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	char line[PROTO_LINE_MAX + 1];
	size_t off = 0, linelen, used;
	while (off < size) {
		enum proto_frame f = proto_frame(buf + off, size - off, PROTO_LINE_MAX, &linelen, &used);
		if (f == PROTO_MORE || f == PROTO_TOOLONG)
			break;
		if (f == PROTO_LINE) {
			memcpy(line, buf + off, linelen);
			line[linelen] = '\0';
			check_line(line, linelen);
		}
		off += used;
	}
	/* the same parser on the raw bytes up to a NUL, unframed */
	if (size <= PROTO_LINE_MAX) {
		memcpy(line, buf, size);
		line[size] = '\0';
		check_line(line, strlen(line));
	}
	return 0;
}
