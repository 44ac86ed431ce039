/* proto: the pure, allocation-free pieces of both wire protocols: line
 * framing with its hard limit, UTF-8 checks, names, keys, token splitting
 * and the message text escaping. Every function works on a caller's buffer. */
#ifndef IM_PROTO_H
#define IM_PROTO_H

#include <stddef.h>

#define PROTO_NAME_MAX 32
#define PROTO_KEY_HEX  64   /* hex SHA-256 of the DER SubjectPublicKeyInfo */
#define PROTO_LINE_MAX 1024 /* bytes, newline included */

enum proto_frame {
	PROTO_MORE = 0, /* no complete line yet */
	PROTO_LINE,     /* a line: *linelen bytes (no \r\n), *used consumed */
	PROTO_TOOLONG,  /* no newline within max bytes */
	PROTO_NUL,      /* a NUL byte in the line */
	PROTO_BADUTF8,  /* the line is not valid UTF-8 */
};

/* Finds the first line in buf[0..len). max counts the newline. A "\r"
 * before the "\n" is not part of the line. */
enum proto_frame proto_frame(const char *buf, size_t len, size_t max, size_t *linelen, size_t *used);

/* 1 if s[0..len) is well-formed UTF-8 (no overlongs, no surrogates). */
int proto_utf8_valid(const char *s, size_t len);

/* Counts the characters (code points) of valid UTF-8 s[0..len). */
size_t proto_utf8_chars(const char *s, size_t len);

/* Checks a user name (1-32 of a-z 0-9 _ . -, starting with a letter or
 * digit; upper case folds) and writes the folded name to out (33 bytes).
 * Returns 0, or -1 if invalid. */
int proto_name_fold(const char *in, char out[PROTO_NAME_MAX + 1]);

/* 1 if s is 64 lower-case hex digits. */
int proto_key_valid(const char *s);

/* Parses a decimal port 1-65535 (no sign, no leading junk). 0 or -1. */
int proto_port(const char *s, unsigned *port);

/* 1 if s is an IPv4 dotted or IPv6 text address (no brackets). */
int proto_ip_valid(const char *s);

/* The accounting key of an address: an IPv4 address (or an IPv4-mapped
 * IPv6 one) as dotted text, an IPv6 address cut to its first v6bits bits
 * as "PREFIX/BITS" (one /64 is one user's network, not 2^64 attackers).
 * Returns 0, or -1 if ip is not an address or out is too small. */
int proto_ip_prefix(const char *ip, int v6bits, char *out, size_t cap);

/* The fields of "ONLINE <name> <ip> <port> <key> [<lan-ip>]". */
struct proto_online {
	char name[PROTO_NAME_MAX + 1]; /* folded */
	char ip[48];
	unsigned port;
	char key[PROTO_KEY_HEX + 1];
	char lan[48]; /* "" when absent */
};

/* Parses the arguments of an ONLINE line (what follows "ONLINE "). Returns
 * 0, or -1 if any field is malformed or there are too few or too many. */
int proto_parse_online(const char *args, struct proto_online *o);

/* What a line of the peer channel is (see proto_parse_peer_line). */
enum proto_peer_kind {
	PROTO_PEER_OTHER = 0, /* not one of these: ignored, or a bad hello */
	PROTO_PEER_HELLO,     /* "IM 1 <name>" */
	PROTO_PEER_MSG,       /* "MSG <id> <text...>" */
	PROTO_PEER_ACK,       /* "ACK <decimal id>" */
	PROTO_PEER_TYPING,    /* "TYPING" */
	PROTO_PEER_BYE,       /* "BYE" */
};

/* The fields of one peer channel line; pointers point into the line. */
struct proto_peer_line {
	enum proto_peer_kind kind;
	char name[PROTO_NAME_MAX + 1]; /* HELLO: the folded name */
	const char *id;                /* MSG: what follows "MSG " (id, then text) */
	size_t idlen;                  /* MSG: bytes of the id, 0 if empty */
	const char *text;              /* MSG: after the id's space; "" if none */
	unsigned long ack;             /* ACK: the id */
};

/* Classifies a framed peer channel line (no newline, NUL-terminated) and
 * fills pl. The line is not changed; the MSG id is not checked here (the
 * peer module applies its own rule). Returns pl->kind. */
enum proto_peer_kind proto_parse_peer_line(const char *line, struct proto_peer_line *pl);

/* Splits line in place at single spaces into at most max tokens; the last
 * token keeps the rest of the line, spaces included. Returns the count;
 * an empty token (two spaces in a row, a leading space) yields -1. */
int proto_split(char *line, char **tok, int max);

/* Escapes text for the wire: newline -> "\n", backslash -> "\\"; a "\r"
 * right before a newline is dropped. Returns bytes written (NUL
 * added), or -1 if out is too small. */
int proto_escape(const char *in, size_t len, char *out, size_t cap);

/* Reverses proto_escape. A backslash before anything but "n" or "\\", or
 * at the end, is an error. Returns bytes written (NUL added) or -1. */
int proto_unescape(const char *in, size_t len, char *out, size_t cap);

#endif
