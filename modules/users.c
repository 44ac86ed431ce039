/* users: the users file (<data_dir>/users), one salted PBKDF2-HMAC-SHA256
 * record per line, and every change to it under a lock with atomic rewrite. */
#include "users.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mbedtls/base64.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/md.h>
#include <mbedtls/pkcs5.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/version.h>

#include "afile.h"
#include "log.h"
#include "rng.h"

#define USERS_FILE_MAX (64 * 1024 * 1024) /* refuse to slurp anything bigger */
#define B64_MAX        45                 /* base64 of 32 bytes, with NUL */

/* Decodes canonical, padded base64 only: re-encoding must give s back, so
 * every record has exactly one spelling. Returns the byte count or -1. */
static int b64_decode(const char *s, size_t n, unsigned char *out, size_t cap)
{
	unsigned char tmp[64];
	char back[B64_MAX * 2];
	size_t olen, blen;
	if (n == 0 || n % 4 != 0 || n >= sizeof back)
		return -1;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		int ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		         c == '+' || c == '/' || (c == '=' && i >= n - 2 && (i == n - 1 || s[n - 1] == '='));
		if (!ok)
			return -1;
	}
	if (mbedtls_base64_decode(tmp, sizeof tmp, &olen, (const unsigned char *)s, n) != 0 || olen > cap)
		return -1;
	if (mbedtls_base64_encode((unsigned char *)back, sizeof back, &blen, tmp, olen) != 0 || blen != n ||
	    memcmp(back, s, n) != 0)
		return -1;
	memcpy(out, tmp, olen);
	return (int)olen;
}

/* Parses 1..INT_MAX written without sign or leading zeros. */
static int parse_count(const char *s, size_t n)
{
	long v = 0;
	if (n == 0 || n > 10 || s[0] == '0')
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v > INT_MAX ? -1 : (int)v;
}

/* 1 if s[0..n) is a valid user name already in folded form. */
static int name_ok(const char *s, size_t n)
{
	char in[PROTO_NAME_MAX + 1], folded[PROTO_NAME_MAX + 1];
	if (n == 0 || n > PROTO_NAME_MAX)
		return 0;
	memcpy(in, s, n);
	in[n] = '\0';
	return strlen(in) == n && proto_name_fold(in, folded) == 0 && strcmp(in, folded) == 0;
}

int users_parse_line(const char *line, size_t len, struct users_rec *r)
{
	const char *field[5];
	size_t flen[5];
	const char *p = line, *end = line + len;
	if (len > USERS_LINE_MAX)
		return -1;
	for (int i = 0; i < 5; i++) {
		const char *colon = i < 4 ? memchr(p, ':', (size_t)(end - p)) : NULL;
		const char *stop = colon ? colon : end;
		if (i < 4 && colon == NULL)
			return -1;
		field[i] = p;
		flen[i] = (size_t)(stop - p);
		p = stop + 1;
	}
	if (memchr(field[4], ':', flen[4]) != NULL)
		return -1;
	struct users_rec rec;
	memset(&rec, 0, sizeof rec);
	if (!name_ok(field[0], flen[0]))
		return -1;
	memcpy(rec.name, field[0], flen[0]);
	if (flen[1] != strlen(USERS_SCHEME) || memcmp(field[1], USERS_SCHEME, flen[1]) != 0)
		return -1;
	rec.iterations = parse_count(field[2], flen[2]);
	if (rec.iterations < 0)
		return -1;
	int n = b64_decode(field[3], flen[3], rec.salt, sizeof rec.salt);
	if (n < USERS_SALT_MIN)
		return -1;
	rec.salt_len = (size_t)n;
	if (b64_decode(field[4], flen[4], rec.hash, sizeof rec.hash) != USERS_HASH_LEN)
		return -1;
	*r = rec;
	return 0;
}

int users_format_line(const struct users_rec *r, char *out, size_t cap)
{
	char salt[B64_MAX], hash[B64_MAX];
	size_t slen, hlen;
	if (!name_ok(r->name, strnlen(r->name, sizeof r->name)) || r->iterations < 1 ||
	    r->salt_len < USERS_SALT_MIN || r->salt_len > sizeof r->salt)
		return -1;
	if (mbedtls_base64_encode((unsigned char *)salt, sizeof salt, &slen, r->salt, r->salt_len) != 0 ||
	    mbedtls_base64_encode((unsigned char *)hash, sizeof hash, &hlen, r->hash, sizeof r->hash) != 0)
		return -1;
	int n = snprintf(out, cap, "%s:%s:%d:%s:%s", r->name, USERS_SCHEME, r->iterations, salt, hash);
	return n < 0 || (size_t)n >= cap ? -1 : n;
}

int users_pbkdf2(const char *pw, size_t pwlen, const unsigned char *salt, size_t saltlen, int iterations,
                 unsigned char *out, size_t outlen)
{
	if (iterations < 1 || outlen == 0 || outlen > UINT32_MAX)
		return -1;
#if MBEDTLS_VERSION_NUMBER >= 0x03030000
	return mbedtls_pkcs5_pbkdf2_hmac_ext(MBEDTLS_MD_SHA256, (const unsigned char *)pw, pwlen, salt,
	                                     saltlen, (unsigned)iterations, (uint32_t)outlen, out) == 0
	           ? 0
	           : -1;
#else
	mbedtls_md_context_t md;
	const mbedtls_md_info_t *info = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);
	int rc = -1;
	mbedtls_md_init(&md);
	if (info != NULL && mbedtls_md_setup(&md, info, 1) == 0 &&
	    mbedtls_pkcs5_pbkdf2_hmac(&md, (const unsigned char *)pw, pwlen, salt, saltlen,
	                              (unsigned)iterations, (uint32_t)outlen, out) == 0)
		rc = 0;
	mbedtls_md_free(&md);
	return rc;
#endif
}

int users_hash(const char *pw, size_t pwlen, int iterations, struct users_rec *r)
{
	static const char pers[] = "im users salt";
	mbedtls_entropy_context entropy;
	mbedtls_ctr_drbg_context drbg;
	int rc = -1;
	/* A generator per call: no state shared between worker threads. */
	mbedtls_ctr_drbg_init(&drbg);
	if (rng_entropy_init(&entropy) < 0 ||
	    mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &entropy, (const unsigned char *)pers,
	                          sizeof pers - 1) != 0 ||
	    mbedtls_ctr_drbg_random(&drbg, r->salt, USERS_SALT_LEN) != 0)
		goto out;
	r->salt_len = USERS_SALT_LEN;
	r->iterations = iterations;
	if (users_pbkdf2(pw, pwlen, r->salt, r->salt_len, iterations, r->hash, sizeof r->hash) < 0)
		goto out;
	rc = 0;
out:
	if (rc < 0)
		mbedtls_platform_zeroize(r->hash, sizeof r->hash);
	mbedtls_ctr_drbg_free(&drbg);
	mbedtls_entropy_free(&entropy);
	return rc;
}

int users_verify(const struct users_rec *r, const char *pw, size_t pwlen)
{
	unsigned char dk[USERS_HASH_LEN];
	volatile unsigned char diff = 0;
	if (r->salt_len > sizeof r->salt ||
	    users_pbkdf2(pw, pwlen, r->salt, r->salt_len, r->iterations, dk, sizeof dk) < 0)
		return 0;
	for (size_t i = 0; i < sizeof dk; i++)
		diff |= dk[i] ^ r->hash[i];
	mbedtls_platform_zeroize(dk, sizeof dk);
	return diff == 0;
}

/* Reads the whole file at path into a malloc'd buffer. 0, or -1 with errno. */
static int read_file(const char *path, char **buf, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	size_t cap = 4096, n = 0;
	char *b = malloc(cap);
	if (b == NULL)
		goto fail;
	for (;;) {
		if (n == cap) {
			if (cap >= USERS_FILE_MAX) {
				errno = EFBIG;
				goto fail;
			}
			char *nb = realloc(b, cap * 2);
			if (nb == NULL)
				goto fail;
			b = nb;
			cap *= 2;
		}
		ssize_t got = read(fd, b + n, cap - n);
		if (got < 0) {
			if (errno == EINTR)
				continue;
			goto fail;
		}
		if (got == 0)
			break;
		n += (size_t)got;
	}
	close(fd);
	*buf = b;
	*len = n;
	return 0;
fail:;
	int saved = errno;
	free(b);
	close(fd);
	errno = saved;
	return -1;
}

/* Steps to the next line of buf: *line and *llen (no newline). 0 at end. */
static int next_line(const char *buf, size_t len, size_t *pos, const char **line, size_t *llen)
{
	if (*pos >= len)
		return 0;
	const char *p = buf + *pos;
	const char *nl = memchr(p, '\n', len - *pos);
	*line = p;
	*llen = nl ? (size_t)(nl - p) : len - *pos;
	*pos += *llen + (nl ? 1 : 0);
	return 1;
}

static void warn_line(const char *path, int lineno)
{
	log_warn("%s:%d: line not understood; kept as it is", path, lineno);
}

static int first_field_is(const char *line, size_t llen, const char *name)
{
	size_t n = strlen(name);
	return llen > n && line[n] == ':' && memcmp(line, name, n) == 0;
}

enum users_status users_find(const char *path, const char *name, struct users_rec *r)
{
	char *buf;
	size_t len, pos = 0, llen;
	const char *line;
	if (read_file(path, &buf, &len) < 0)
		return errno == ENOENT ? USERS_NOENT : USERS_IOERR;
	enum users_status st = USERS_NOENT;
	struct users_rec rec;
	while (next_line(buf, len, &pos, &line, &llen)) {
		/* Only the line that names the user is worth parsing. */
		if (first_field_is(line, llen, name) && users_parse_line(line, llen, &rec) == 0) {
			*r = rec;
			st = USERS_OK;
			break;
		}
	}
	free(buf);
	return st;
}

int users_each(const char *path, void (*fn)(const struct users_rec *r, void *arg), void *arg)
{
	char *buf;
	size_t len, pos = 0, llen;
	const char *line;
	if (read_file(path, &buf, &len) < 0)
		return errno == ENOENT ? 0 : -1;
	struct users_rec rec;
	for (int lineno = 1; next_line(buf, len, &pos, &line, &llen); lineno++) {
		if (users_parse_line(line, llen, &rec) == 0)
			fn(&rec, arg);
		else
			warn_line(path, lineno);
	}
	free(buf);
	return 0;
}

/* Creates every missing folder leading to path's last component, 0700. */
static int make_parent(const char *path)
{
	char dir[PATH_MAX];
	int n = snprintf(dir, sizeof dir, "%s", path);
	if (n < 0 || (size_t)n >= sizeof dir) {
		errno = ENAMETOOLONG;
		return -1;
	}
	char *slash = strrchr(dir, '/');
	if (slash == NULL || slash == dir)
		return 0;
	*slash = '\0';
	for (char *p = dir + 1;; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char saved = *p;
		*p = '\0';
		if (mkdir(dir, 0700) < 0 && errno != EEXIST)
			return -1;
		*p = saved;
		if (saved == '\0')
			return 0;
	}
}

enum users_op { OP_ADD, OP_SET, OP_DEL };

/* The one read-modify-write path: lock, read, edit, atomic replace. Lines
 * the parser does not understand are copied through untouched. */
static enum users_status change(const char *path, enum users_op op, const char *name,
                                const struct users_rec *r, int *created)
{
	char lockpath[PATH_MAX], newline[USERS_LINE_MAX + 1];
	char *buf = NULL, *out = NULL;
	size_t len = 0, olen = 0, pos = 0, llen;
	const char *line;
	enum users_status st = USERS_IOERR;
	int lock = -1, found = 0, saved = 0;
	int nl = 0;

	if (op != OP_DEL) {
		nl = users_format_line(r, newline, sizeof newline);
		if (nl < 0) {
			errno = EINVAL;
			return USERS_IOERR;
		}
	}
	int n = snprintf(lockpath, sizeof lockpath, "%s.lock", path);
	if (n < 0 || (size_t)n >= sizeof lockpath) {
		errno = ENAMETOOLONG;
		return USERS_IOERR;
	}
	if (op == OP_ADD && make_parent(path) < 0)
		return USERS_IOERR;
	lock = afile_lock(lockpath);
	if (lock < 0)
		return USERS_IOERR;
	/* Every writer holds the lock, so any temp file now is a killed one's. */
	(void)afile_clean(path);
	if (read_file(path, &buf, &len) < 0) {
		if (errno != ENOENT)
			goto done;
		if (op != OP_ADD) {
			st = USERS_NOENT;
			goto done;
		}
		buf = NULL;
		len = 0;
		if (created != NULL)
			*created = 1;
	}
	out = malloc(len + (size_t)nl + 2);
	if (out == NULL)
		goto done;
	struct users_rec rec;
	for (int lineno = 1; next_line(buf, len, &pos, &line, &llen); lineno++) {
		int parsed = users_parse_line(line, llen, &rec) == 0;
		if (!parsed)
			warn_line(path, lineno);
		if (op == OP_ADD && first_field_is(line, llen, name)) {
			st = USERS_EXISTS;
			goto done;
		}
		if (parsed && op != OP_ADD && strcmp(rec.name, name) == 0) {
			if (op == OP_DEL) {
				found = 1;
				continue;
			}
			if (!found) {
				found = 1;
				memcpy(out + olen, newline, (size_t)nl);
				olen += (size_t)nl;
				out[olen++] = '\n';
				continue;
			}
		}
		memcpy(out + olen, line, llen);
		olen += llen;
		out[olen++] = '\n';
	}
	if (op == OP_ADD) {
		memcpy(out + olen, newline, (size_t)nl);
		olen += (size_t)nl;
		out[olen++] = '\n';
	} else if (!found) {
		st = USERS_NOENT;
		goto done;
	}
	if (afile_write(path, out, olen, 0600) < 0)
		goto done;
	st = USERS_OK;
done:
	saved = errno;
	free(out);
	free(buf);
	afile_unlock(lock);
	errno = saved;
	return st;
}

enum users_status users_add(const char *path, const struct users_rec *r)
{
	return change(path, OP_ADD, r->name, r, NULL);
}

enum users_status users_add_created(const char *path, const struct users_rec *r, int *created)
{
	*created = 0;
	enum users_status st = change(path, OP_ADD, r->name, r, created);
	if (st != USERS_OK)
		*created = 0;
	return st;
}

enum users_status users_set(const char *path, const struct users_rec *r)
{
	return change(path, OP_SET, r->name, r, NULL);
}

enum users_status users_del(const char *path, const char *name)
{
	return change(path, OP_DEL, name, NULL, NULL);
}
