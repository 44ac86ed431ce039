/* tokens: the resume tokens file (<data_dir>/tokens): only hashes of tokens,
 * with their expiry and their tie to a password, under a lock, rewritten
 * atomically. */
#include "tokens.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mbedtls/base64.h>
#include <mbedtls/md.h>
#include <mbedtls/platform_util.h>

#include "afile.h"
#include "log.h"

#define TOKENS_FILE_MAX (256 * 1024 * 1024) /* refuse to hold anything bigger */

static int hex_decode(const char *s, size_t n, unsigned char *out, size_t outlen)
{
	if (n != outlen * 2)
		return -1;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
		if (v < 0)
			return -1;
		if (i % 2 == 0)
			out[i / 2] = (unsigned char)(v << 4);
		else
			out[i / 2] |= (unsigned char)v;
	}
	return 0;
}

static void hex_encode(const unsigned char *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

int tokens_parse_line(const char *line, size_t len, struct tokens_rec *r)
{
	const char *f[4];
	size_t fl[4];
	const char *p = line, *end = line + len;
	if (len > TOKENS_LINE_MAX)
		return -1;
	for (int i = 0; i < 4; i++) {
		const char *colon = i < 3 ? memchr(p, ':', (size_t)(end - p)) : NULL;
		if (i < 3 && colon == NULL)
			return -1;
		f[i] = p;
		fl[i] = (size_t)((colon ? colon : end) - p);
		p = (colon ? colon : end) + 1;
	}
	struct tokens_rec rec;
	char name[PROTO_NAME_MAX + 1], folded[PROTO_NAME_MAX + 1];
	memset(&rec, 0, sizeof rec);
	if (fl[0] == 0 || fl[0] > PROTO_NAME_MAX)
		return -1;
	memcpy(name, f[0], fl[0]);
	name[fl[0]] = '\0';
	if (strlen(name) != fl[0] || proto_name_fold(name, folded) < 0 || strcmp(name, folded) != 0)
		return -1;
	strcpy(rec.name, name);
	if (hex_decode(f[1], fl[1], rec.hash, sizeof rec.hash) < 0 ||
	    hex_decode(f[3], fl[3], rec.bind, sizeof rec.bind) < 0)
		return -1;
	if (fl[2] == 0 || fl[2] > 18 || (f[2][0] == '0' && fl[2] > 1))
		return -1;
	int64_t v = 0;
	for (size_t i = 0; i < fl[2]; i++) {
		if (f[2][i] < '0' || f[2][i] > '9')
			return -1;
		v = v * 10 + (f[2][i] - '0');
	}
	rec.expires = v;
	*r = rec;
	return 0;
}

int tokens_format_line(const struct tokens_rec *r, char *out, size_t cap)
{
	char hash[2 * TOKENS_HASH_LEN + 1], bind[2 * TOKENS_BIND_LEN + 1], folded[PROTO_NAME_MAX + 1];
	if (strnlen(r->name, sizeof r->name) > PROTO_NAME_MAX || proto_name_fold(r->name, folded) < 0 ||
	    strcmp(folded, r->name) != 0 || r->expires < 0)
		return -1;
	hex_encode(r->hash, sizeof r->hash, hash);
	hex_encode(r->bind, sizeof r->bind, bind);
	int n = snprintf(out, cap, "%s:%s:%" PRId64 ":%s", r->name, hash, r->expires, bind);
	return n < 0 || (size_t)n >= cap ? -1 : n;
}

int tokens_text_valid(const char *s)
{
	size_t n = 0;
	for (; s[n]; n++) {
		char c = s[n];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_'))
			return 0;
	}
	return n == TOKENS_TEXT_LEN;
}

void tokens_encode(const unsigned char raw[TOKENS_RAW_LEN], char *text)
{
	unsigned char b64[TOKENS_TEXT_LEN + 4];
	size_t olen = 0;
	mbedtls_base64_encode(b64, sizeof b64, &olen, raw, TOKENS_RAW_LEN);
	for (size_t i = 0; i < TOKENS_TEXT_LEN; i++)
		text[i] = b64[i] == '+' ? '-' : b64[i] == '/' ? '_' : (char)b64[i];
	text[TOKENS_TEXT_LEN] = '\0';
	mbedtls_platform_zeroize(b64, sizeof b64);
}

int tokens_hash(const char *text, unsigned char out[TOKENS_HASH_LEN])
{
	const mbedtls_md_info_t *md = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);
	return md && mbedtls_md(md, (const unsigned char *)text, strlen(text), out) == 0 ? 0 : -1;
}

int tokens_bind(const struct users_rec *r, unsigned char out[TOKENS_BIND_LEN])
{
	unsigned char buf[sizeof r->salt + USERS_HASH_LEN + 16], sum[32];
	const mbedtls_md_info_t *md = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);
	if (md == NULL || r->salt_len > sizeof r->salt)
		return -1;
	int n = snprintf((char *)buf, 16, "%d:", r->iterations);
	memcpy(buf + n, r->salt, r->salt_len);
	memcpy(buf + n + r->salt_len, r->hash, USERS_HASH_LEN);
	int rc = mbedtls_md(md, buf, (size_t)n + r->salt_len + USERS_HASH_LEN, sum);
	memcpy(out, sum, TOKENS_BIND_LEN);
	mbedtls_platform_zeroize(buf, sizeof buf);
	mbedtls_platform_zeroize(sum, sizeof sum);
	return rc == 0 ? 0 : -1;
}

/* Reads the whole file; a missing one is empty. 0, or -1 with errno. */
static int slurp(const char *path, char **buf, size_t *len)
{
	FILE *f = fopen(path, "re");
	*buf = NULL;
	*len = 0;
	if (f == NULL)
		return errno == ENOENT ? 0 : -1;
	size_t cap = 0;
	char chunk[65536];
	size_t got;
	while ((got = fread(chunk, 1, sizeof chunk, f)) > 0) {
		if (*len + got > TOKENS_FILE_MAX) {
			errno = EFBIG;
			goto fail;
		}
		if (*len + got > cap) {
			size_t ncap = cap ? cap * 2 : sizeof chunk;
			while (ncap < *len + got)
				ncap *= 2;
			char *nb = realloc(*buf, ncap);
			if (nb == NULL)
				goto fail;
			*buf = nb;
			cap = ncap;
		}
		memcpy(*buf + *len, chunk, got);
		*len += got;
	}
	if (ferror(f))
		goto fail;
	fclose(f);
	return 0;
fail:;
	int saved = errno ? errno : EIO;
	fclose(f);
	free(*buf);
	*buf = NULL;
	errno = saved;
	return -1;
}

int tokens_each(const char *path, void (*fn)(const struct tokens_rec *r, void *arg), void *arg)
{
	char *buf;
	size_t len;
	if (slurp(path, &buf, &len) < 0)
		return -1;
	size_t pos = 0;
	struct tokens_rec rec;
	for (int lineno = 1; pos < len; lineno++) {
		const char *line = buf + pos, *nl = memchr(line, '\n', len - pos);
		size_t llen = nl ? (size_t)(nl - line) : len - pos;
		pos += llen + 1;
		if (tokens_parse_line(line, llen, &rec) == 0)
			fn(&rec, arg);
		else
			log_warn("%s:%d: line not understood; dropped", path, lineno);
	}
	free(buf);
	return 0;
}

/* The text of recs, one line each; NULL when out of memory. */
static char *format_all(const struct tokens_rec *recs, size_t n, size_t *outlen)
{
	char *out = malloc(n * (TOKENS_LINE_MAX + 1) + 1);
	size_t olen = 0;
	if (out == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		int w = tokens_format_line(&recs[i], out + olen, TOKENS_LINE_MAX + 1);
		if (w < 0)
			continue;
		olen += (size_t)w;
		out[olen++] = '\n';
	}
	*outlen = olen;
	return out;
}

static int lock_for(const char *path)
{
	char lockpath[PATH_MAX];
	int n = snprintf(lockpath, sizeof lockpath, "%s.lock", path);
	if (n < 0 || (size_t)n >= sizeof lockpath) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return afile_lock(lockpath);
}

int tokens_write(const char *path, const struct tokens_rec *recs, size_t n)
{
	size_t olen = 0;
	char *out = format_all(recs, n, &olen);
	if (out == NULL)
		return -1;
	int lock = lock_for(path), rc = -1;
	if (lock >= 0) {
		/* Every writer holds the lock, so any temp file now is a killed one's. */
		(void)afile_clean(path);
		rc = afile_write(path, out, olen, 0600);
	}
	int saved = errno;
	afile_unlock(lock);
	free(out);
	errno = saved;
	return rc;
}

struct keep {
	struct tokens_rec *v;
	size_t n, cap;
	const char *drop;
	int removed, failed;
};

static void keep_other(const struct tokens_rec *r, void *arg)
{
	struct keep *k = arg;
	if (strcmp(r->name, k->drop) == 0) {
		k->removed++;
		return;
	}
	if (k->n == k->cap) {
		size_t ncap = k->cap ? k->cap * 2 : 64;
		struct tokens_rec *nv = realloc(k->v, ncap * sizeof *nv);
		if (nv == NULL) {
			k->failed = 1;
			return;
		}
		k->v = nv;
		k->cap = ncap;
	}
	k->v[k->n++] = *r;
}

int tokens_revoke(const char *path, const char *name)
{
	struct keep k = {NULL, 0, 0, name, 0, 0};
	/* No file, no tokens (and no lock file left in a data_dir that never
	 * had a server). */
	if (access(path, F_OK) < 0 && errno == ENOENT)
		return 0;
	int lock = lock_for(path), rc = -1;
	if (lock < 0)
		return -1;
	if (tokens_each(path, keep_other, &k) == 0 && !k.failed) {
		size_t olen = 0;
		char *out = k.removed ? format_all(k.v, k.n, &olen) : NULL;
		if (k.removed == 0)
			rc = 0;
		else if (out != NULL && afile_write(path, out, olen, 0600) == 0)
			rc = k.removed;
		free(out);
	} else if (k.failed) {
		errno = ENOMEM;
	}
	int saved = errno;
	free(k.v);
	afile_unlock(lock);
	errno = saved;
	return rc;
}
