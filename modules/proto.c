/* proto: the pure, allocation-free pieces of both wire protocols: line
 * framing, UTF-8, names, keys, token splitting and message escaping. */
#include "proto.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum proto_frame proto_frame(const char *buf, size_t len, size_t max, size_t *linelen, size_t *used)
{
	size_t scan = len < max ? len : max;
	const char *nl = memchr(buf, '\n', scan);
	if (nl == NULL)
		return len >= max ? PROTO_TOOLONG : PROTO_MORE;
	size_t n = (size_t)(nl - buf);
	*used = n + 1;
	if (n > 0 && buf[n - 1] == '\r')
		n--;
	*linelen = n;
	if (memchr(buf, '\0', n) != NULL)
		return PROTO_NUL;
	if (!proto_utf8_valid(buf, n))
		return PROTO_BADUTF8;
	return PROTO_LINE;
}

int proto_utf8_valid(const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0;
	while (i < len) {
		unsigned c = s[i];
		size_t n;
		unsigned cp;
		if (c < 0x80) {
			i++;
			continue;
		} else if (c >= 0xc2 && c <= 0xdf) {
			n = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			cp = c & 0x07;
		} else {
			return 0;
		}
		if (len - i <= n)
			return 0;
		for (size_t k = 1; k <= n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += n + 1;
	}
	return 1;
}

size_t proto_utf8_chars(const char *s, size_t len)
{
	size_t n = 0;
	for (size_t i = 0; i < len; i++)
		n += ((unsigned char)s[i] & 0xc0) != 0x80;
	return n;
}

int proto_name_fold(const char *in, char out[PROTO_NAME_MAX + 1])
{
	size_t n = strlen(in);
	if (n == 0 || n > PROTO_NAME_MAX)
		return -1;
	for (size_t i = 0; i < n; i++) {
		char c = in[i];
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		int alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
		if (!alnum && (i == 0 || (c != '_' && c != '.' && c != '-')))
			return -1;
		out[i] = c;
	}
	out[n] = '\0';
	return 0;
}

int proto_key_valid(const char *s)
{
	size_t i;
	for (i = 0; i < PROTO_KEY_HEX; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return s[i] == '\0';
}

int proto_split(char *line, char **tok, int max)
{
	int n = 0;
	char *p = line;
	if (*p == '\0')
		return 0;
	while (n < max) {
		if (*p == ' ' || *p == '\0')
			return -1;
		tok[n++] = p;
		if (n == max)
			break;
		char *sp = strchr(p, ' ');
		if (sp == NULL)
			break;
		*sp = '\0';
		p = sp + 1;
	}
	return n;
}

int proto_escape(const char *in, size_t len, char *out, size_t cap)
{
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		char c = in[i];
		const char *rep = NULL;
		if (c == '\n')
			rep = "\\n";
		else if (c == '\\')
			rep = "\\\\";
		else if (c == '\r' && i + 1 < len && in[i + 1] == '\n')
			continue;
		size_t need = rep ? 2 : 1;
		if (o + need >= cap)
			return -1;
		if (rep) {
			out[o++] = rep[0];
			out[o++] = rep[1];
		} else {
			out[o++] = c;
		}
	}
	if (o >= cap)
		return -1;
	out[o] = '\0';
	return (int)o;
}

int proto_unescape(const char *in, size_t len, char *out, size_t cap)
{
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		char c = in[i];
		if (c == '\\') {
			if (i + 1 >= len)
				return -1;
			char e = in[++i];
			if (e == 'n')
				c = '\n';
			else if (e == '\\')
				c = '\\';
			else
				return -1;
		}
		if (o + 1 >= cap)
			return -1;
		out[o++] = c;
	}
	if (o >= cap)
		return -1;
	out[o] = '\0';
	return (int)o;
}

int proto_port(const char *s, unsigned *port)
{
	unsigned long v = 0;
	size_t n = strlen(s);
	if (n == 0 || n > 5)
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (unsigned long)(*s - '0');
	}
	if (v == 0 || v > 65535)
		return -1;
	*port = (unsigned)v;
	return 0;
}

int proto_ip_valid(const char *s)
{
	unsigned char buf[sizeof(struct in6_addr)];
	return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

/* Parses ip into out (4 or 16 bytes); returns its family or 0. */
static int ip_bytes(const char *ip, unsigned char out[16])
{
	if (inet_pton(AF_INET, ip, out) == 1)
		return AF_INET;
	if (inet_pton(AF_INET6, ip, out) == 1)
		return AF_INET6;
	return 0;
}

/* 1 if the first bits bits of a and b agree. */
static int same_prefix(const unsigned char *a, const unsigned char *b, int bits)
{
	int full = bits / 8, rest = bits % 8;
	if (memcmp(a, b, (size_t)full) != 0)
		return 0;
	return rest == 0 || ((a[full] ^ b[full]) & (unsigned char)(0xff << (8 - rest))) == 0;
}

/* 1 for addresses no LAN list may hold: IPv4 0/8, 127/8, 224/4 and up;
 * IPv6 ::/8 (unspecified, loopback, IPv4-mapped and -compatible) and
 * ff00::/8. */
static int never_lan(int fam, const unsigned char *b)
{
	if (fam == AF_INET)
		return b[0] == 0 || b[0] == 127 || b[0] >= 224;
	return b[0] == 0 || b[0] == 0xff;
}

int proto_nets_parse(const char *text, struct proto_nets *out, char *why, size_t whylen)
{
	char list[512], *save = NULL;
	out->n = 0;
	if (strlen(text) >= sizeof list) {
		snprintf(why, whylen, "too long");
		return -1;
	}
	snprintf(list, sizeof list, "%s", text);
	for (char *t = strtok_r(list, " ,", &save); t; t = strtok_r(NULL, " ,", &save)) {
		char *slash = strchr(t, '/'), *end = NULL;
		if (out->n == PROTO_NETS_MAX) {
			snprintf(why, whylen, "more than %d networks", PROTO_NETS_MAX);
			return -1;
		}
		if (slash)
			*slash = '\0';
		unsigned char *a = out->net[out->n].addr;
		int fam = ip_bytes(t, a);
		long bits = slash && slash[1] >= '0' && slash[1] <= '9' ? strtol(slash + 1, &end, 10) : -1;
		if (fam == 0 || bits < 0 || *end != '\0') {
			snprintf(why, whylen,
			         "'%.64s' is not a network: want ADDRESS/BITS, e.g. 100.64.0.0/10", t);
			return -1;
		}
		int maxbits = fam == AF_INET ? 32 : 128, minbits = fam == AF_INET ? 8 : 16;
		if (bits < minbits || bits > maxbits) {
			snprintf(why, whylen, "%s/%ld: the length must be %d..%d", t, bits, minbits, maxbits);
			return -1;
		}
		unsigned char net[16];
		memcpy(net, a, 16);
		for (int b = (int)bits; b < maxbits; b++)
			net[b / 8] &= (unsigned char)~(0x80 >> (b % 8));
		if (memcmp(net, a, (size_t)maxbits / 8) != 0) {
			snprintf(why, whylen, "%s/%ld has address bits set past its length", t, bits);
			return -1;
		}
		if (never_lan(fam, a)) {
			snprintf(why, whylen, "%s/%ld is a loopback, multicast or unspecified range", t,
			         bits);
			return -1;
		}
		out->net[out->n].family = fam;
		out->net[out->n].bits = (int)bits;
		out->n++;
	}
	return 0;
}

int proto_lan_ip_ok(const char *ip, const struct proto_nets *extra)
{
	unsigned char b[16];
	int fam = ip_bytes(ip, b);
	if (fam == 0 || never_lan(fam, b))
		return 0;
	if (fam == AF_INET && memcmp(b, "\xff\xff\xff\xff", 4) == 0)
		return 0;
	if (fam == AF_INET && (b[0] == 10 || (b[0] == 172 && (b[1] & 0xf0) == 16) ||
	                       (b[0] == 192 && b[1] == 168) || (b[0] == 169 && b[1] == 254)))
		return 1;
	if (fam == AF_INET6 && ((b[0] & 0xfe) == 0xfc || (b[0] == 0xfe && (b[1] & 0xc0) == 0x80)))
		return 1;
	for (size_t i = 0; extra && i < extra->n; i++)
		if (extra->net[i].family == fam && same_prefix(b, extra->net[i].addr, extra->net[i].bits))
			return 1;
	return 0;
}

int proto_lan_on_net(const char *lan, const struct proto_nets *extra, const struct proto_netif *ifs, size_t n)
{
	unsigned char want[16], have[16];
	if (!proto_lan_ip_ok(lan, extra))
		return -1;
	int fam = ip_bytes(lan, want);
	int maxbits = fam == AF_INET ? 32 : 128, at = -1;
	for (size_t i = 0; i < n; i++) {
		int bits = ifs[i].bits;
		if (ifs[i].addr == NULL || ip_bytes(ifs[i].addr, have) != fam || bits <= 0 || bits >= maxbits)
			continue;
		if (!same_prefix(want, have, bits))
			continue;
		/* fe80::/10 is on every link alike: its scope must be certain. */
		if (fam != AF_INET6 || want[0] != 0xfe || (want[1] & 0xc0) != 0x80)
			return (int)i;
		if (at >= 0 && strcmp(ifs[at].name ? ifs[at].name : "", ifs[i].name ? ifs[i].name : "") != 0)
			return -2;
		if (at < 0)
			at = (int)i;
	}
	return at;
}

int proto_ip_prefix(const char *ip, int v6bits, char *out, size_t cap)
{
	struct in6_addr a;
	char text[INET6_ADDRSTRLEN];
	if (inet_pton(AF_INET6, ip, &a) != 1) {
		struct in_addr v4;
		if (inet_pton(AF_INET, ip, &v4) != 1 || strlen(ip) >= cap)
			return -1;
		strcpy(out, ip);
		return 0;
	}
	if (IN6_IS_ADDR_V4MAPPED(&a)) {
		if (inet_ntop(AF_INET, &a.s6_addr[12], text, sizeof text) == NULL || strlen(text) >= cap)
			return -1;
		strcpy(out, text);
		return 0;
	}
	if (v6bits < 0)
		v6bits = 0;
	if (v6bits > 128)
		v6bits = 128;
	for (int i = 0; i < 16; i++) {
		int keep = v6bits - i * 8;
		if (keep <= 0)
			a.s6_addr[i] = 0;
		else if (keep < 8)
			a.s6_addr[i] &= (unsigned char)(0xff << (8 - keep));
	}
	if (inet_ntop(AF_INET6, &a, text, sizeof text) == NULL)
		return -1;
	int n = snprintf(out, cap, "%s/%d", text, v6bits);
	return n < 0 || (size_t)n >= cap ? -1 : 0;
}

enum proto_peer_kind proto_parse_peer_line(const char *line, struct proto_peer_line *pl)
{
	char buf[PROTO_LINE_MAX], *tok[3], *end;
	memset(pl, 0, sizeof *pl);
	pl->text = "";
	if (strncmp(line, "MSG ", 4) == 0) {
		pl->id = line + 4;
		pl->idlen = strcspn(pl->id, " ");
		if (pl->id[pl->idlen] == ' ')
			pl->text = pl->id + pl->idlen + 1;
		return pl->kind = PROTO_PEER_MSG;
	}
	if (snprintf(buf, sizeof buf, "%s", line) >= (int)sizeof buf)
		return pl->kind = PROTO_PEER_OTHER;
	int n = proto_split(buf, tok, 3);
	if (n == 3 && strcmp(tok[0], "IM") == 0 && strcmp(tok[1], "1") == 0 &&
	    proto_name_fold(tok[2], pl->name) == 0)
		return pl->kind = PROTO_PEER_HELLO;
	if (n == 2 && strcmp(tok[0], "ACK") == 0 && tok[1][0] >= '0' && tok[1][0] <= '9') {
		errno = 0;
		pl->ack = strtoul(tok[1], &end, 10);
		if (*end == '\0' && errno == 0)
			return pl->kind = PROTO_PEER_ACK;
		pl->ack = 0;
	}
	if (n == 1 && strcmp(tok[0], "TYPING") == 0)
		return pl->kind = PROTO_PEER_TYPING;
	if (n == 1 && strcmp(tok[0], "BYE") == 0)
		return pl->kind = PROTO_PEER_BYE;
	pl->name[0] = '\0';
	return pl->kind = PROTO_PEER_OTHER;
}

int proto_parse_online(const char *args, struct proto_online *o)
{
	char buf[PROTO_LINE_MAX], *tok[5];
	if (snprintf(buf, sizeof buf, "%s", args) >= (int)sizeof buf)
		return -1;
	int n = proto_split(buf, tok, 5);
	if (n < 4 || (n == 5 && strchr(tok[4], ' ') != NULL))
		return -1;
	if (proto_name_fold(tok[0], o->name) < 0 || strlen(tok[1]) >= sizeof o->ip ||
	    !proto_ip_valid(tok[1]) || proto_port(tok[2], &o->port) < 0 || !proto_key_valid(tok[3]))
		return -1;
	if (n == 5 && (strlen(tok[4]) >= sizeof o->lan || !proto_ip_valid(tok[4])))
		return -1;
	strcpy(o->ip, tok[1]);
	strcpy(o->key, tok[3]);
	strcpy(o->lan, n == 5 ? tok[4] : "");
	return 0;
}

int proto_msg_id_valid(const char *s)
{
	size_t n = 0;
	for (; s[n] != '\0'; n++)
		if (n >= PROTO_MSG_ID_MAX || s[n] <= ' ' || s[n] > '~')
			return 0;
	return n > 0;
}

/* The length of the well-formed UTF-8 character at s[0..len) and its code
 * point, or 0 if it is not one. */
static size_t utf8_char(const unsigned char *s, size_t len, unsigned *cp)
{
	size_t n = s[0] < 0x80                    ? 1
	           : s[0] >= 0xc2 && s[0] <= 0xdf ? 2
	           : s[0] >= 0xe0 && s[0] <= 0xef ? 3
	           : s[0] >= 0xf0 && s[0] <= 0xf4 ? 4
	                                          : 0;
	if (n == 0 || n > len || !proto_utf8_valid((const char *)s, n))
		return 0;
	*cp = n == 1 ? s[0] : s[0] & (0x7f >> n);
	for (size_t i = 1; i < n; i++)
		*cp = *cp << 6 | (s[i] & 0x3f);
	return n;
}

/* 1 if code point cp (beyond C0 and DEL) must not reach the output raw:
 * in a log line the C1 controls and the line and paragraph separators; on
 * a terminal also the bidirectional controls, which reorder what follows
 * them; in a batch event none (DESIGN escapes C0 and DEL only). */
static int unsafe_cp(unsigned cp, enum proto_show how)
{
	if (how == PROTO_SHOW_BATCH || how == PROTO_SHOW_BATCH_TEXT)
		return 0;
	if ((cp >= 0x80 && cp <= 0x9f) || cp == 0x2028 || cp == 0x2029)
		return 1;
	return how != PROTO_SHOW_LINE && ((cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069));
}

size_t proto_printable(const char *in, size_t len, char *out, size_t cap, enum proto_show how)
{
	const unsigned char *s = (const unsigned char *)in;
	size_t o = 0, i = 0;
	while (i < len) {
		char piece[32];
		size_t plen = 0, n;
		unsigned cp = 0;
		if (s[i] < 0x20 || s[i] == 0x7f) {
			n = 1;
			if (s[i] == '\n' && how == PROTO_SHOW_SCREEN_NL)
				plen = (size_t)snprintf(piece, sizeof piece, "\n");
			else if (s[i] == '\n' || s[i] == '\r' || s[i] == '\t')
				plen = (size_t)snprintf(piece, sizeof piece, "\\%c",
				                        s[i] == '\n'   ? 'n'
				                        : s[i] == '\r' ? 'r'
				                                       : 't');
			else
				plen = (size_t)snprintf(piece, sizeof piece, "\\x%02x", s[i]);
		} else if (s[i] == '\\' && how == PROTO_SHOW_BATCH_TEXT) {
			n = 1;
			plen = (size_t)snprintf(piece, sizeof piece, "\\\\");
		} else if ((n = utf8_char(s + i, len - i, &cp)) == 0) {
			n = 1;
			plen = (size_t)snprintf(piece, sizeof piece, "\\x%02x", s[i]);
		} else if (!unsafe_cp(cp, how)) {
			memcpy(piece, s + i, n);
			plen = n;
		} else if (how == PROTO_SHOW_LINE) {
			for (size_t k = 0; k < n; k++)
				plen +=
				    (size_t)snprintf(piece + plen, sizeof piece - plen, "\\x%02x", s[i + k]);
		} else {
			plen = (size_t)snprintf(piece, sizeof piece, "\\u%04x", cp);
		}
		if (o + plen >= cap)
			break;
		memcpy(out + o, piece, plen);
		o += plen;
		i += n;
	}
	out[o] = '\0';
	return o;
}
