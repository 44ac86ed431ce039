/* auth: who may log in, for the server: password checks on the worker pool,
 * the users file's in-memory copy, the failed-login and sign-up limiters with
 * the memory of recent login addresses, and resume tokens. */
#ifndef IM_AUTH_H
#define IM_AUTH_H

#include <stddef.h>

#include "conf.h"
#include "loop.h"
#include "pool.h"
#include "proto.h"
#include "users.h"

#define AUTH_IPKEY_MAX 56 /* proto_ip_prefix() text: an address or "PREFIX/BITS" */

enum auth_result {
	AUTH_OK,
	AUTH_BAD,         /* wrong password or unknown name */
	AUTH_EXISTS,      /* SIGNUP: the name is taken */
	AUTH_IOERR,       /* the users file could not be used; err holds errno */
	AUTH_DELETED,     /* LOGIN: the account went while its password was checked */
	AUTH_UNAVAILABLE, /* cluster mode: Redis did not answer, and the account is not known here */
	AUTH_LIMITED,     /* cluster mode: the name's failed logins over all nodes are spent */
};

/* Why auth_submit() or auth_resume_submit() gave no job. */
enum auth_refusal {
	AUTH_NOMEM = 0,
	AUTH_BUSY,    /* the password checks queued would not finish in time */
	AUTH_NOSTORE, /* cluster mode: Redis is away and the answer needs it */
};

/* What a finished check tells its owner (valid during the callback only). */
struct auth_outcome {
	enum auth_result result;
	int signup;
	int resume; /* a RESUME's outcome (auth_resume_submit) */
	int err;
	const char *name; /* folded */
	const char *ipk;  /* the address key the check was counted under */
};

struct auth;
struct auth_job;

/* Called in the loop thread when a check submitted for owner is decided. */
typedef void (*auth_done_fn)(void *owner, const struct auth_outcome *o);
/* Called after the users file was read again (accounts may have gone). */
typedef void (*auth_reload_fn)(void *arg);

/* Sets up authentication for the server with config cf, reading
 * <data_dir>/users (users_path) and watching data_dir for changes (inotify,
 * or a one-second timer). on_reload runs after every re-read. NULL when out
 * of memory. */
struct auth *auth_new(const struct conf_server *cf, struct loop *l, struct pool *p, const char *users_path,
                      auth_reload_fn on_reload, void *arg);
/* Frees everything auth_new() made. Jobs still out must have been handed
 * back (pool_free()) first. Safe on NULL. */
void auth_free(struct auth *a);

/* Writes the key the per-address limits count ip by (IPv6: its
 * /ipv6_prefix network) into out. */
void auth_ip_key(const struct auth *a, const char *ip, char out[AUTH_IPKEY_MAX]);

/* Which failed-login limit a login for name from ipk is over (a phrase for
 * logs, "from this address" ...), or NULL when it may go ahead. */
const char *auth_too_many_failures(struct auth *a, const char *ipk, const char *name);

/* A failed login for name from ipk, answered: counted by address, by name
 * from that address and by name (from all addresses); delta -1 takes one
 * back. (A sign-up refused as taken counts by address only.) */
void auth_count_failure(struct auth *a, const char *ipk, const char *name, int delta);

/* A login for name from ipk succeeded: the failure counted when it started
 * is taken back (counted: a LOGIN) and the address is remembered. */
void auth_succeeded(struct auth *a, const char *ipk, const char *name, int counted);

/* Whether the failed-login limit of the address ipk is spent (the only
 * limit a RESUME is held to): a phrase for logs, or NULL. */
const char *auth_too_many_failures_ip(struct auth *a, const char *ipk);

enum auth_signup { AUTH_SIGNUP_GO, AUTH_SIGNUP_RATE, AUTH_SIGNUP_TAKEN, AUTH_SIGNUP_NOSTORE };
/* Whether a sign-up for name from ipk may be hashed: not over the hourly
 * sign-ups of the address (AUTH_SIGNUP_RATE), not a taken name
 * (AUTH_SIGNUP_TAKEN, counted as a failure of the address only), not in
 * cluster mode while Redis is away (AUTH_SIGNUP_NOSTORE). AUTH_SIGNUP_GO
 * counts it. */
enum auth_signup auth_signup_check(struct auth *a, const char *ipk, const char *name);

/* Re-reads the users file if it changed since it was read (one stat). */
void auth_check_users(struct auth *a);
/* Re-reads the users file now (SIGHUP). */
void auth_reload_users(struct auth *a);
/* 1 if name has an account (as last read), else 0. */
int auth_user_exists(const struct auth *a, const char *name);
/* The users file's path. */
const char *auth_users_path(const struct auth *a);

/* Queues the password check of LOGIN (signup 0) or SIGNUP for name from
 * ipk on the worker pool; done(owner, ...) runs in the loop thread later,
 * unless auth_cancel() came first. A LOGIN counts as a failure of the
 * address and of the name from it until it succeeds, and of the name from
 * all addresses once it is answered as wrong. pw is copied. Returns the
 * job; NULL with *why AUTH_BUSY when the checks queued ahead (measured
 * hash time x queue / workers) would not let it finish within budget_ms,
 * AUTH_NOSTORE in cluster mode when Redis is away and a LOGIN's name is not
 * known here, AUTH_NOMEM when out of memory. In cluster mode a LOGIN reads
 * the account and the name's failed logins over all nodes from Redis first
 * (AUTH_LIMITED when they are spent), and a SIGNUP stores the account
 * there only if the name is new (AUTH_EXISTS if another node was first). */
struct auth_job *auth_submit(struct auth *a, int signup, const char *name, const char *ipk, const char *pw,
                             unsigned budget_ms, auth_done_fn done, void *owner, enum auth_refusal *why);
/* The owner has gone: done is never called; the job frees itself. */
void auth_cancel(struct auth_job *j);

/* Resume tokens ([server] allow_resume, token_lifetime,
 * max_tokens_per_user). The file <data_dir>/tokens holds their SHA-256
 * only; it is rewritten at most once a second (a crash loses at most the
 * last second's new tokens: their clients log in with the password). */

/* Makes a new token for name (which must have an account), keeps its
 * hash (dropping the user's oldest beyond max_tokens_per_user) and writes
 * its text (TOKENS_TEXT_LEN + 1 bytes) into out. 0, or -1. */
int auth_token_issue(struct auth *a, const char *name, char *out);

/* RESUME name text from ipk: 0 when text is a live token of name, which is
 * then void; -1 otherwise (unknown name, wrong, expired, or earned with a
 * password since changed), counted as a failed login. Constant time in
 * the token. */
int auth_resume(struct auth *a, const char *name, const char *text, const char *ipk);

/* Cluster mode (IM_CLUSTER builds). */
struct redis;

/* From now on the accounts are read from Redis r at each login (the ones
 * read are kept in memory, for logins while Redis is away), sign-ups are
 * stored there, resume tokens live there ("<prefix>token:<sha256 hex>",
 * listed per user) and each failed login by name counts there too, for
 * every node: the users and tokens files are no longer used. Once, right
 * after auth_new(); r outlives a. */
void auth_cluster(struct auth *a, struct redis *r, const char *prefix);
/* 1 in cluster mode (auth_cluster() was called). */
int auth_clustered(const struct auth *a);
/* Cluster mode: RESUME name text from ipk, answered from Redis (the token
 * taken there, so it works once across all nodes); done(owner, ...) gets
 * AUTH_OK, AUTH_BAD (counted as a failed login) or AUTH_UNAVAILABLE, with
 * o->resume set. NULL with *why when it cannot start (AUTH_NOSTORE: Redis
 * is away). auth_cancel() ends it. */
struct auth_job *auth_resume_submit(struct auth *a, const char *name, const char *text, const char *ipk,
                                    auth_done_fn done, void *owner, enum auth_refusal *why);

#endif
