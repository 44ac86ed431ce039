/* proto: the pure, allocation-free pieces of both wire protocols: line
 * framing with its hard limit, UTF-8 checks, names, keys, token splitting
 * and the message text escaping. Every function works on a caller's buffer. */
#ifndef IM_PROTO_H
#define IM_PROTO_H

#include <stddef.h>

#define PROTO_NAME_MAX   32
#define PROTO_KEY_HEX    64   /* hex SHA-256 of the DER SubjectPublicKeyInfo */
#define PROTO_LINE_MAX   1024 /* bytes, newline included */
#define PROTO_MSG_ID_MAX 32   /* a peer message id: printable ASCII, no spaces */

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

/* Networks an operator counts as LAN beside the private ranges
 * (lan_nets: CGNAT's 100.64/10, a site numbered from public space). */
#define PROTO_NETS_MAX 8
struct proto_nets {
	size_t n;
	struct {
		unsigned char addr[16];
		int family; /* AF_INET or AF_INET6 */
		int bits;
	} net[PROTO_NETS_MAX];
};

/* Parses "CIDR CIDR ..." (spaces or commas between; "" = none) into *out.
 * A network must be at least a /8 (IPv4) or /16 (IPv6) long, hold no bit
 * past its length, and be no loopback, multicast or unspecified range: a
 * contact must not make its peers dial just anything. 0, or -1 with why. */
int proto_nets_parse(const char *text, struct proto_nets *out, char *why, size_t whylen);

/* 1 if ip may be announced as a LAN address: IPv4 private (10/8,
 * 172.16/12, 192.168/16) or link-local (169.254/16), IPv6 unique-local
 * (fc00::/7) or link-local (fe80::/10), or inside one of extra's networks
 * (extra may be NULL). Never loopback, unspecified, multicast, the limited
 * broadcast 255.255.255.255 or any IPv4-mapped form (a subnet's own
 * broadcast address passes: its netmask is not known here): a contact
 * must not be able to aim its peers at their own host or at an arbitrary
 * address. */
int proto_lan_ip_ok(const char *ip, const struct proto_nets *extra);

/* One address of one of our network interfaces. */
struct proto_netif {
	const char *name; /* the interface, for an IPv6 link-local scope */
	const char *addr; /* the address, text */
	int bits;         /* its netmask as a prefix length */
};

/* Whether lan is plausibly on our own network: the index in ifs[0..n) of
 * the first interface address of the same family whose first bits bits
 * equal lan's, or -1 when none does or lan is no acceptable LAN address
 * (proto_lan_ip_ok with extra). A host-only mask (/32, /128, or /0) is no network
 * to share and never matches. An IPv6 link-local lan (fe80::/10) matches
 * only when exactly one interface has a link-local address: -2 when
 * several have, for then which link it is on, its scope, is unknown. */
int proto_lan_on_net(const char *lan, const struct proto_nets *extra, const struct proto_netif *ifs,
                     size_t n);

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

/* 1 if s is a peer's message id: 1-32 printable ASCII characters, no
 * spaces (DESIGN "The client"). */
int proto_msg_id_valid(const char *s);

/* Where proto_printable's output goes, and so what it must not hold raw. */
enum proto_show {
	/* A log line: C0 controls and DEL as \r, \t, \n or \xHH; the C1
	 * controls (U+0080-U+009F) and the line separators U+2028/U+2029,
	 * which some line readers split at, as \xHH per UTF-8 byte. */
	PROTO_SHOW_LINE,
	/* A batch event field, to the letter of DESIGN "The client": only the
	 * C0 controls and DEL, as \r, \t, \n or \xHH; every other
	 * character as it came (C1, U+2028/U+2029 and bidi controls
	 * included: a script splits events at \n only). */
	PROTO_SHOW_BATCH,
	/* The same, and a backslash doubled: a batch TEXT that is not in the
	 * peer channel's escaping yet (error lines, the server's words), so
	 * that "\n" and "\\" in it mean what they mean in a message. */
	PROTO_SHOW_BATCH_TEXT,
	/* A terminal: C0 and DEL as above; C1 controls, U+2028/U+2029 and the
	 * bidirectional embeddings, overrides and isolates (U+202A-U+202E,
	 * U+2066-U+2069) as \uXXXX. */
	PROTO_SHOW_SCREEN,
	/* The same, but newlines are kept (the lines of one message). */
	PROTO_SHOW_SCREEN_NL,
};

/* Copies in[0..len) to out, writing what a terminal or a line reader would
 * act on as visible escapes (a backslash itself is copied as is, except
 * in PROTO_SHOW_BATCH_TEXT). Bytes that are not well-formed UTF-8 come out
 * as \xHH. Output that does not fit cap is cut before the character or
 * escape that would not fit. Returns the bytes written (a NUL is added;
 * cap must be at least 1). */
size_t proto_printable(const char *in, size_t len, char *out, size_t cap, enum proto_show how);

#endif
