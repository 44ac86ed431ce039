/* rusers: the accounts and resume tokens of cluster mode, kept in Redis
 * (the keys' names, and the admin modes' blocking reads and changes). */
#ifndef IM_RUSERS_H
#define IM_RUSERS_H

#include <stddef.h>

#include "conf.h"
#include "users.h"

#define RUSERS_KEY_MAX 200 /* key_prefix (64) + "tokens:" + a name or a hash in hex */

/* Writes "<prefix><kind>:<what>" into out (RUSERS_KEY_MAX bytes): the key
 * of an account (kind "user"), a token ("token", the SHA-256 in hex), a
 * user's list of tokens ("tokens") or failed-login count ("fail"). */
void rusers_key(const char *prefix, const char *kind, const char *what, char out[RUSERS_KEY_MAX]);

#ifdef IM_CLUSTER
struct rusers;

/* Opens the blocking link to the Redis of cc for an admin mode. NULL with
 * the reason in err (naming the address) when it cannot be reached. */
struct rusers *rusers_open(const struct conf_cluster *cc, char *err, size_t errlen);
/* Closes it. Safe on NULL. */
void rusers_close(struct rusers *u);

/* The account name: USERS_OK with r filled, USERS_NOENT, or USERS_IOERR
 * with the reason in err (Redis unreachable, or a record not understood). */
enum users_status rusers_find(struct rusers *u, const char *name, struct users_rec *r, char *err,
                              size_t errlen);
/* Stores r: how 0 = only if new (USERS_EXISTS if not), 1 = only if it
 * exists (USERS_NOENT if not), 2 = either way. Atomic per account. */
enum users_status rusers_put(struct rusers *u, const struct users_rec *r, int how, char *err, size_t errlen);
/* Deletes the account name: USERS_OK, USERS_NOENT or USERS_IOERR. */
enum users_status rusers_del(struct rusers *u, const char *name, char *err, size_t errlen);
/* Calls fn for every account, sorted by name. Records not understood are
 * warned about on stderr and skipped. 0, or -1 with the reason in err. */
int rusers_each(struct rusers *u, void (*fn)(const struct users_rec *r, void *arg), void *arg, char *err,
                size_t errlen);
/* Deletes every resume token of name. The number removed, or -1. */
int rusers_revoke(struct rusers *u, const char *name, char *err, size_t errlen);
/* Publishes "<from> KICK <name>" on the cluster's channel: the node that
 * holds name's session ends it. The number of nodes listening, or -1. */
int rusers_kick(struct rusers *u, const char *from, const char *name, char *err, size_t errlen);
#endif

#endif
