/* rusers: the accounts and resume tokens of cluster mode in Redis. An
 * account is "<prefix>user:<name>" holding its users-file line; a token is
 * "<prefix>token:<sha256 hex>" holding its tokens-file line until it
 * expires, listed in "<prefix>tokens:<name>" so that passwd and deluser
 * can end them all. */
#include "rusers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/platform_util.h>

#ifdef IM_CLUSTER
#include "redis.h"
#endif

#define RUSERS_TIMEOUT_MS 5000 /* an admin mode waits this long for Redis */

void rusers_key(const char *prefix, const char *kind, const char *what, char out[RUSERS_KEY_MAX])
{
	snprintf(out, RUSERS_KEY_MAX, "%s%s:%s", prefix, kind, what);
}

#ifdef IM_CLUSTER

struct rusers {
	struct redis_sync *rs;
	char addr[CONF_STR_MAX];
	char prefix[sizeof((struct conf_cluster *)0)->key_prefix];
};

struct rusers *rusers_open(const struct conf_cluster *cc, char *err, size_t errlen)
{
	char pw[512] = "", why[256];
	int loose;
	if (cc->redis_password_file[0] != '\0' &&
	    redis_password_load(cc->redis_password_file, pw, sizeof pw, &loose, err, errlen) < 0)
		return NULL;
	struct rusers *u = calloc(1, sizeof *u);
	if (u == NULL) {
		snprintf(err, errlen, "out of memory");
		mbedtls_platform_zeroize(pw, sizeof pw);
		return NULL;
	}
	snprintf(u->addr, sizeof u->addr, "%s", cc->redis);
	snprintf(u->prefix, sizeof u->prefix, "%s", cc->key_prefix);
	u->rs = redis_sync_open(cc->redis, pw, RUSERS_TIMEOUT_MS, why, sizeof why);
	mbedtls_platform_zeroize(pw, sizeof pw);
	if (u->rs == NULL) {
		snprintf(err, errlen, "cannot reach redis %s ([cluster] redis): %s", cc->redis, why);
		free(u);
		return NULL;
	}
	return u;
}

void rusers_close(struct rusers *u)
{
	if (u == NULL)
		return;
	redis_sync_close(u->rs);
	free(u);
}

/* A reply that is not an error, or NULL with err saying why (the reply
 * freed). */
static redisReply *checked(struct rusers *u, redisReply *rp, const char *why, char *err, size_t errlen)
{
	if (rp == NULL) {
		char tmp[256];
		snprintf(tmp, sizeof tmp, "%s", err);
		snprintf(err, errlen, "redis %s: %s", u->addr, tmp);
		return NULL;
	}
	if (rp->type == REDIS_REPLY_ERROR) {
		snprintf(err, errlen, "redis %s refused %s: %.*s", u->addr, why,
		         (int)(rp->len > 200 ? 200 : rp->len), rp->str);
		freeReplyObject(rp);
		return NULL;
	}
	return rp;
}

enum users_status rusers_find(struct rusers *u, const char *name, struct users_rec *r, char *err,
                              size_t errlen)
{
	char key[RUSERS_KEY_MAX];
	rusers_key(u->prefix, "user", name, key);
	redisReply *rp = checked(u, redis_sync_cmd(u->rs, err, errlen, "GET %s", key), "GET", err, errlen);
	if (rp == NULL)
		return USERS_IOERR;
	enum users_status st = USERS_NOENT;
	if (rp->type == REDIS_REPLY_STRING) {
		if (users_parse_line(rp->str, rp->len, r) == 0 && strcmp(r->name, name) == 0) {
			st = USERS_OK;
		} else {
			snprintf(err, errlen, "redis %s: the record %s is not understood", u->addr, key);
			st = USERS_IOERR;
		}
	}
	freeReplyObject(rp);
	return st;
}

enum users_status rusers_put(struct rusers *u, const struct users_rec *r, int how, char *err, size_t errlen)
{
	char key[RUSERS_KEY_MAX], line[USERS_LINE_MAX];
	if (users_format_line(r, line, sizeof line) < 0) {
		snprintf(err, errlen, "the record of %s is not valid", r->name);
		return USERS_IOERR;
	}
	rusers_key(u->prefix, "user", r->name, key);
	const char *cond = how == 0 ? "NX" : how == 1 ? "XX" : NULL;
	redisReply *rp = cond ? redis_sync_cmd(u->rs, err, errlen, "SET %s %s %s", key, line, cond)
	                      : redis_sync_cmd(u->rs, err, errlen, "SET %s %s", key, line);
	mbedtls_platform_zeroize(line, sizeof line);
	if ((rp = checked(u, rp, "SET", err, errlen)) == NULL)
		return USERS_IOERR;
	enum users_status st =
	    rp->type == REDIS_REPLY_NIL ? (how == 0 ? USERS_EXISTS : USERS_NOENT) : USERS_OK;
	freeReplyObject(rp);
	return st;
}

enum users_status rusers_del(struct rusers *u, const char *name, char *err, size_t errlen)
{
	char key[RUSERS_KEY_MAX];
	rusers_key(u->prefix, "user", name, key);
	redisReply *rp = checked(u, redis_sync_cmd(u->rs, err, errlen, "DEL %s", key), "DEL", err, errlen);
	if (rp == NULL)
		return USERS_IOERR;
	enum users_status st = rp->type == REDIS_REPLY_INTEGER && rp->integer > 0 ? USERS_OK : USERS_NOENT;
	freeReplyObject(rp);
	return st;
}

static int cmp_rec(const void *a, const void *b)
{
	return strcmp(((const struct users_rec *)a)->name, ((const struct users_rec *)b)->name);
}

int rusers_each(struct rusers *u, void (*fn)(const struct users_rec *r, void *arg), void *arg, char *err,
                size_t errlen)
{
	char pattern[RUSERS_KEY_MAX], cursor[32] = "0";
	struct users_rec *v = NULL;
	size_t n = 0, cap = 0;
	int rc = -1;
	size_t plen = strlen(u->prefix) + strlen("user:");
	rusers_key(u->prefix, "user", "*", pattern);
	/* SCAN may return a key twice; the names are checked for that after
	 * sorting. The values come with one GET each: an admin mode, not a
	 * hot path. */
	do {
		redisReply *rp = checked(
		    u, redis_sync_cmd(u->rs, err, errlen, "SCAN %s MATCH %s COUNT 1000", cursor, pattern),
		    "SCAN", err, errlen);
		if (rp == NULL)
			goto out;
		if (rp->type != REDIS_REPLY_ARRAY || rp->elements != 2 ||
		    rp->element[0]->type != REDIS_REPLY_STRING || rp->element[1]->type != REDIS_REPLY_ARRAY) {
			snprintf(err, errlen, "redis %s: unexpected answer to SCAN", u->addr);
			freeReplyObject(rp);
			goto out;
		}
		snprintf(cursor, sizeof cursor, "%s", rp->element[0]->str);
		redisReply *keys = rp->element[1];
		for (size_t i = 0; i < keys->elements; i++) {
			redisReply *k = keys->element[i];
			if (k->type != REDIS_REPLY_STRING || k->len <= plen || k->len > plen + PROTO_NAME_MAX)
				continue;
			char name[PROTO_NAME_MAX + 1];
			snprintf(name, sizeof name, "%.*s", (int)(k->len - plen), k->str + plen);
			if (n == cap) {
				size_t ncap = cap ? cap * 2 : 64;
				struct users_rec *nv = realloc(v, ncap * sizeof *nv);
				if (nv == NULL) {
					snprintf(err, errlen, "out of memory");
					freeReplyObject(rp);
					goto out;
				}
				v = nv;
				cap = ncap;
			}
			enum users_status st = rusers_find(u, name, &v[n], err, errlen);
			if (st == USERS_OK)
				n++;
			else if (st == USERS_IOERR && strstr(err, "not understood"))
				fprintf(stderr, "im: warning: %s; skipped\n", err);
			else if (st == USERS_IOERR) {
				freeReplyObject(rp);
				goto out;
			}
		}
		freeReplyObject(rp);
	} while (strcmp(cursor, "0") != 0);
	if (n)
		qsort(v, n, sizeof *v, cmp_rec);
	for (size_t i = 0; i < n; i++)
		if (i == 0 || strcmp(v[i].name, v[i - 1].name) != 0)
			fn(&v[i], arg);
	rc = 0;
out:
	if (v)
		mbedtls_platform_zeroize(v, cap * sizeof *v);
	free(v);
	return rc;
}

int rusers_revoke(struct rusers *u, const char *name, char *err, size_t errlen)
{
	char list[RUSERS_KEY_MAX], key[RUSERS_KEY_MAX];
	rusers_key(u->prefix, "tokens", name, list);
	redisReply *rp =
	    checked(u, redis_sync_cmd(u->rs, err, errlen, "LRANGE %s 0 -1", list), "LRANGE", err, errlen);
	if (rp == NULL)
		return -1;
	int n = 0;
	for (size_t i = 0; rp->type == REDIS_REPLY_ARRAY && i < rp->elements; i++) {
		redisReply *h = rp->element[i];
		if (h->type != REDIS_REPLY_STRING || h->len != 64)
			continue;
		rusers_key(u->prefix, "token", h->str, key);
		redisReply *d =
		    checked(u, redis_sync_cmd(u->rs, err, errlen, "DEL %s", key), "DEL", err, errlen);
		if (d == NULL) {
			freeReplyObject(rp);
			return -1;
		}
		n += d->type == REDIS_REPLY_INTEGER ? (int)d->integer : 0;
		freeReplyObject(d);
	}
	freeReplyObject(rp);
	if ((rp = checked(u, redis_sync_cmd(u->rs, err, errlen, "DEL %s", list), "DEL", err, errlen)) == NULL)
		return -1;
	freeReplyObject(rp);
	return n;
}

int rusers_kick(struct rusers *u, const char *from, const char *name, char *err, size_t errlen)
{
	char channel[RUSERS_KEY_MAX], msg[RUSERS_KEY_MAX];
	snprintf(channel, sizeof channel, "%sevents", u->prefix);
	snprintf(msg, sizeof msg, "%s KICK %s", from, name);
	/* one argument each: hiredis splits a format at its spaces */
	redisReply *rp = checked(u, redis_sync_cmd(u->rs, err, errlen, "PUBLISH %s %s", channel, msg),
	                         "PUBLISH", err, errlen);
	if (rp == NULL)
		return -1;
	int n = rp->type == REDIS_REPLY_INTEGER ? (int)rp->integer : 0;
	freeReplyObject(rp);
	return n;
}

#endif
