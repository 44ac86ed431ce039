/* tokens: the resume tokens file (<data_dir>/tokens): one line per token
 * holding only its SHA-256, its expiry and what ties it to the password it
 * was earned with; rewritten atomically under a lock, like the users file. */
#ifndef IM_TOKENS_H
#define IM_TOKENS_H

#include <stddef.h>
#include <stdint.h>

#include "proto.h"
#include "users.h"

#define TOKENS_RAW_LEN  32 /* random bytes in a token */
#define TOKENS_TEXT_LEN 43 /* base64url of them, no padding */
#define TOKENS_HASH_LEN 32 /* SHA-256 */
#define TOKENS_BIND_LEN 8  /* bytes of SHA-256(salt, hash) of the user's password record */
#define TOKENS_LINE_MAX (PROTO_NAME_MAX + 2 * TOKENS_HASH_LEN + 2 * TOKENS_BIND_LEN + 32)

struct tokens_rec {
	char name[PROTO_NAME_MAX + 1];
	unsigned char hash[TOKENS_HASH_LEN];
	int64_t expires; /* Unix time */
	unsigned char bind[TOKENS_BIND_LEN];
};

/* Parses "name:<hash hex>:<expires>:<bind hex>" (no newline) into r.
 * Returns 0, or -1 if the line is not understood. Pure. */
int tokens_parse_line(const char *line, size_t len, struct tokens_rec *r);

/* Writes r as a line (no newline, NUL-terminated) into out. Returns its
 * length, or -1 if cap is too small or r->name is not a valid name. */
int tokens_format_line(const struct tokens_rec *r, char *out, size_t cap);

/* 1 if s is exactly TOKENS_TEXT_LEN characters of base64url, else 0. */
int tokens_text_valid(const char *s);

/* Fills text (TOKENS_TEXT_LEN + 1 bytes) with the base64url form of
 * TOKENS_RAW_LEN bytes of raw. */
void tokens_encode(const unsigned char raw[TOKENS_RAW_LEN], char *text);

/* The SHA-256 of a token's text: what the file keeps. 0 or -1. */
int tokens_hash(const char *text, unsigned char out[TOKENS_HASH_LEN]);

/* What ties a token to the password record r: a password change (new salt
 * and hash) or a deleted and re-created account voids it. 0 or -1. */
int tokens_bind(const struct users_rec *r, unsigned char out[TOKENS_BIND_LEN]);

/* Calls fn for each understood line of the file at path, in file order.
 * A missing file has no tokens; lines not understood are warned about
 * with path:line and skipped. Returns 0, or -1 with errno set. */
int tokens_each(const char *path, void (*fn)(const struct tokens_rec *r, void *arg), void *arg);

/* Replaces the file at path with recs[0..n) (0600), under path.lock.
 * Returns 0, or -1 with errno set. */
int tokens_write(const char *path, const struct tokens_rec *recs, size_t n);

/* Removes every token of name from the file at path under its lock (the
 * admin modes' revocation). Returns the number removed, or -1 with errno. */
int tokens_revoke(const char *path, const char *name);

#endif
