/* users: the users file (<data_dir>/users), one salted PBKDF2-HMAC-SHA256
 * record per line, and every change to it under a lock with atomic rewrite. */
#ifndef IM_USERS_H
#define IM_USERS_H

#include <stddef.h>

#include "proto.h"

#define USERS_SALT_LEN 16  /* bytes of fresh salt per hash */
#define USERS_SALT_MIN 8   /* shortest salt a line may carry */
#define USERS_HASH_LEN 32  /* PBKDF2-HMAC-SHA256 output */
#define USERS_LINE_MAX 256 /* longest line users_format_line() writes */
#define USERS_SCHEME   "pbkdf2-sha256"

struct users_rec {
	char name[PROTO_NAME_MAX + 1];
	int iterations;
	unsigned char salt[32];
	size_t salt_len;
	unsigned char hash[USERS_HASH_LEN];
};

enum users_status { USERS_OK = 0, USERS_EXISTS, USERS_NOENT, USERS_IOERR };

/* Parses one line (without its newline) of the form
 * name:pbkdf2-sha256:<iterations>:<salt-b64>:<hash-b64> into r. Only the
 * canonical form is accepted (folded name, no leading zeros, padded base64).
 * Returns 0, or -1 if the line is not understood. Pure. */
int users_parse_line(const char *line, size_t len, struct users_rec *r);

/* Writes r as a line (no newline, NUL-terminated) into out. Returns its
 * length, or -1 if cap is too small or r is not a valid record. */
int users_format_line(const struct users_rec *r, char *out, size_t cap);

/* Derives outlen bytes of PBKDF2-HMAC-SHA256. Returns 0 or -1. */
int users_pbkdf2(const char *pw, size_t pwlen, const unsigned char *salt, size_t saltlen, int iterations,
                 unsigned char *out, size_t outlen);

/* Hashes pw with a fresh random salt (CTR-DRBG) and iterations into r,
 * leaving r->name as it is. Returns 0 or -1. Thread-safe. */
int users_hash(const char *pw, size_t pwlen, int iterations, struct users_rec *r);

/* Returns 1 if pw matches r (constant-time compare), 0 if not. Thread-safe. */
int users_verify(const struct users_rec *r, const char *pw, size_t pwlen);

/* Looks name up in the users file at path without taking the lock (renames
 * are atomic). A missing file is USERS_NOENT; USERS_IOERR keeps errno.
 * Thread-safe; silent about lines it does not understand. */
enum users_status users_find(const char *path, const char *name, struct users_rec *r);

/* Appends r under the lock, creating the file and its folder (0700) if
 * needed. USERS_EXISTS if any line already carries the name. */
enum users_status users_add(const char *path, const struct users_rec *r);

/* users_add() that sets *created to 1 when this call created the users
 * file (it did not exist under the lock), else 0. */
enum users_status users_add_created(const char *path, const struct users_rec *r, int *created);

/* Replaces the hash of the user r->name under the lock; USERS_NOENT if the
 * user is not in the file. */
enum users_status users_set(const char *path, const struct users_rec *r);

/* Removes the user name under the lock; USERS_NOENT if absent. */
enum users_status users_del(const char *path, const char *name);

/* Calls fn for each user's record, in file order. A missing file has no
 * users. Lines not understood are warned about with path:line. Returns 0,
 * or -1 with errno set. */
int users_each(const char *path, void (*fn)(const struct users_rec *r, void *arg), void *arg);

#endif
