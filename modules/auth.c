/* auth: who may log in, for the server. It owns the password checks on the
 * worker pool, the users file's in-memory copy (re-read when data_dir says
 * it changed), the failed-login and sign-up limiters with the memory of the
 * addresses each name logged in from lately, and the resume tokens. */
#include "auth.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/platform_util.h>

#include "hmap.h"
#include "log.h"
#include "rng.h"
#include "rusers.h"
#include "slab.h"
#include "tokens.h"

#ifdef IM_CLUSTER
#include "redis.h"
#endif

#define AUTH_USERS_POLL_MS 1000    /* without inotify: how soon admin changes are noticed */
#define AUTH_WINDOW_MS     60000   /* failed-login counting window */
#define AUTH_SIGNUP_MS     3600000 /* sign-up counting window */
#define AUTH_KNOWN_MS      (30ULL * 24 * 3600 * 1000) /* how long a login's address is known */
#define AUTH_TOKENS_MS     1000                       /* the tokens file is rewritten at most this often */
#define AUTH_CALIBRATE     2000 /* PBKDF2 rounds timed at start for the first estimate */
#define AUTH_BUSY_SHARE    0.75 /* of the time left: the rest is margin for a busier CPU */

/* One resume token in memory: only its hash, like the file. */
struct tok {
	unsigned char hash[TOKENS_HASH_LEN];
	int64_t expires;
	unsigned char bind[TOKENS_BIND_LEN];
};

/* A user's tokens, oldest first; cap is max_tokens_per_user. */
struct tuser {
	char name[PROTO_NAME_MAX + 1];
	size_t n, cap;
	struct tok t[];
};

/* A counter of events within a window: failed logins by address, by name
 * from an address, by name; sign-ups by address. */
struct failcount {
	char key[PROTO_NAME_MAX + AUTH_IPKEY_MAX + 16]; /* "KIND WHAT" */
	int n;
	uint64_t start, window;
};

#define AUTH_FAILKEY_MAX sizeof((struct failcount *)0)->key
#define AUTH_NAMEIP_MAX  (PROTO_NAME_MAX + AUTH_IPKEY_MAX + 2)

/* The addresses a name logged in from lately (at most
 * known_addresses_per_name, most recent first). The names are listed by
 * their last login, oldest first: past known_names, or 30 days after its
 * last login, the oldest is forgotten. */
struct known {
	char name[PROTO_NAME_MAX + 1];
	struct known *prev, *next;
	int n;
	struct {
		char ipk[AUTH_IPKEY_MAX];
		uint64_t at;
	} addr[]; /* known_addresses_per_name of them */
};

struct auth {
	const struct conf_server *cf;
	struct loop *loop;
	struct pool *pool;
	auth_reload_fn on_reload;
	void *reload_arg;
	struct hmap failures;
	struct hmap known;                   /* name -> struct known */
	struct known *known_old, *known_new; /* by last login */
	struct slab known_mem;               /* where the struct known live */
	char users_path[CONF_PATH_MAX + 8];
	struct hmap users;     /* name -> struct users_rec: the users file as last read */
	int median_iterations; /* of users; 0 = work it out again */
	struct stat users_st;
	int inotify_fd;
	struct loop_timer users_timer, sweep_timer, tokens_timer;
	char tokens_path[CONF_PATH_MAX + 8];
	struct hmap tokens;    /* name -> struct tuser */
	struct slab token_mem; /* where the struct tuser live */
	int tokens_dirty;
	mbedtls_entropy_context entropy;
	mbedtls_ctr_drbg_context drbg;
	int drbg_ok;
	int workers;
	double ns_per_iter;      /* measured PBKDF2 cost per round, per worker */
	long long pending_iters; /* PBKDF2 rounds queued or running */
	struct redis *redis;     /* cluster mode: where accounts and tokens live; else NULL */
	char prefix[80];         /* cluster mode: [cluster] key_prefix */
};

struct auth_job {
	struct pool_job base;
	struct auth *auth;
	auth_done_fn done;
	void *owner; /* NULL once the owner has gone */
	int signup, iterations;
	int resume;    /* cluster mode: a RESUME, answered from Redis */
	int clustered; /* cluster mode: Redis reads before and stores after the hash */
	int stored;    /* cluster mode: a sign-up's SET was answered */
	int counted;   /* its rounds are in pending_iters */
	long long ns;  /* how long the work took */
	enum auth_result result;
	int err;
	int found; /* LOGIN: rec is the user's record */
	struct users_rec rec;
	char name[PROTO_NAME_MAX + 1];
	char ipk[AUTH_IPKEY_MAX]; /* the client's address key */
	char pw[PROTO_LINE_MAX];
	size_t pwlen;
	char tokhex[2 * TOKENS_HASH_LEN + 1]; /* cluster RESUME: the token's key */
};

/* ---- password work, in a worker thread ---- */

static long long mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void job_work(struct pool_job *pj)
{
	struct auth_job *j = (struct auth_job *)pj;
	long long t0 = mono_ns();
	if (j->signup) {
		strcpy(j->rec.name, j->name);
		if (users_hash(j->pw, j->pwlen, j->iterations, &j->rec) < 0) {
			j->result = AUTH_IOERR;
			j->err = EIO;
		} else if (j->clustered) {
			j->result = AUTH_OK; /* stored in Redis by the loop (job_done) */
		} else {
			enum users_status st = users_add(j->auth->users_path, &j->rec);
			j->err = errno;
			j->result = st == USERS_OK ? AUTH_OK : st == USERS_EXISTS ? AUTH_EXISTS : AUTH_IOERR;
		}
	} else if (j->found) {
		j->result = users_verify(&j->rec, j->pw, j->pwlen) ? AUTH_OK : AUTH_BAD;
	} else {
		/* Spend the same time on an unknown name, through the same
		 * code as a real check (no salt to draw), so timing does not
		 * tell which names exist. */
		struct users_rec dummy = {.iterations = j->iterations, .salt_len = USERS_SALT_LEN};
		users_verify(&dummy, j->pw, j->pwlen);
		j->result = AUTH_BAD;
	}
	mbedtls_platform_zeroize(j->pw, sizeof j->pw);
	j->ns = mono_ns() - t0;
}

/* ---- limits ---- */

/* The counter of KIND WHAT (its key written to key), its window started
 * again if it has passed; NULL if there is none. */
static struct failcount *find(struct auth *a, const char *kind, const char *what, char key[AUTH_FAILKEY_MAX])
{
	snprintf(key, AUTH_FAILKEY_MAX, "%s %s", kind, what);
	struct failcount *f = hmap_get(&a->failures, key);
	if (f && loop_now(a->loop) - f->start >= f->window) {
		f->n = 0;
		f->start = loop_now(a->loop);
	}
	return f;
}

/* The count of KIND WHAT in its current window (0 if none). */
static int counted(struct auth *a, const char *kind, const char *what)
{
	char key[AUTH_FAILKEY_MAX];
	struct failcount *f = find(a, kind, what, key);
	return f ? f->n : 0;
}

/* Adds delta (1 or -1) to KIND WHAT; a count never goes below 0. */
static void count(struct auth *a, const char *kind, const char *what, uint64_t window, int delta)
{
	char key[AUTH_FAILKEY_MAX];
	struct failcount *f = find(a, kind, what, key);
	if (f == NULL && delta < 0)
		return;
	if (f == NULL) {
		if ((f = calloc(1, sizeof *f)) == NULL)
			return;
		snprintf(f->key, sizeof f->key, "%s", key);
		f->start = loop_now(a->loop);
		f->window = window;
		if (hmap_put(&a->failures, f->key, f) < 0) {
			free(f);
			return;
		}
	}
	f->n = f->n + delta < 0 ? 0 : f->n + delta;
	if (f->n == 0) {
		/* A login taken back leaves nothing to count: no entry kept
		 * (a burst of good logins would otherwise hold memory, and
		 * pin heap pages, until the sweep). */
		hmap_del(&a->failures, f->key);
		free(f);
	}
}

void auth_ip_key(const struct auth *a, const char *ip, char out[AUTH_IPKEY_MAX])
{
	if (proto_ip_prefix(ip, a->cf->ipv6_prefix, out, AUTH_IPKEY_MAX) < 0)
		snprintf(out, AUTH_IPKEY_MAX, "%s", ip);
}

static void name_ip(char out[AUTH_NAMEIP_MAX], const char *name, const char *ipk)
{
	snprintf(out, AUTH_NAMEIP_MAX, "%s %s", name, ipk);
}

/* A login for name from ipk started (delta 1) or was taken back (-1): it
 * counts against the address and the name from that address while it is
 * checked, so guesses checked at once on many connections cannot all slip
 * under those limits. */
static void count_attempt(struct auth *a, const char *ipk, const char *name, int delta)
{
	char nameip[AUTH_NAMEIP_MAX];
	name_ip(nameip, name, ipk);
	count(a, "ip", ipk, AUTH_WINDOW_MS, delta);
	count(a, "nameip", nameip, AUTH_WINDOW_MS, delta);
}

#ifdef IM_CLUSTER
/* An answer nobody waits for: an error in it (a Redis too old for a
 * command, out of memory) is logged, with what was asked (arg). */
static void warn_reply(struct redis *r, redisReply *rp, void *arg)
{
	if (rp && rp->type == REDIS_REPLY_ERROR)
		log_err("redis %s refused %s: %.*s", redis_addr(r), (const char *)arg,
		        (int)(rp->len > 200 ? 200 : rp->len), rp->str);
}

static char what_fail[] = "the failed-login count (MULTI/EXEC)";
static char what_token[] = "a resume token (SET EXAT: Redis 6.2 or later)";
#endif

/* A failed login by name (delta 1) or one taken back (-1). In cluster mode
 * a failure also counts in Redis ("<prefix>fail:<name>"), where every node
 * reads it before a LOGIN's hash, so that guesses spread over the nodes
 * meet one limit. The count is created with its expiry in one transaction:
 * a count without one would lock the name out for good. */
static void count_name(struct auth *a, const char *name, int delta)
{
	count(a, "name", name, AUTH_WINDOW_MS, delta);
#ifdef IM_CLUSTER
	char key[RUSERS_KEY_MAX];
	if (delta <= 0 || a->redis == NULL || !redis_up(a->redis))
		return;
	rusers_key(a->prefix, "fail", name, key);
	if (redis_cmd(a->redis, NULL, NULL, "MULTI") == 0 &&
	    redis_cmd(a->redis, NULL, NULL, "SET %s 0 EX %d NX", key, AUTH_WINDOW_MS / 1000) == 0 &&
	    redis_cmd(a->redis, NULL, NULL, "INCR %s", key) == 0)
		redis_cmd(a->redis, warn_reply, what_fail, "EXEC");
#endif
}

/* The name's own budget per address is small, so a guesser elsewhere does
 * not lock its owner out; the larger one over all addresses still stops
 * guessing spread over many, except from an address the name logged in
 * from lately. Only answered guesses count there: a login dropped before
 * its answer tells nothing and costs the owner nothing. */
void auth_count_failure(struct auth *a, const char *ipk, const char *name, int delta)
{
	count_attempt(a, ipk, name, delta);
	count_name(a, name, delta);
}

/* A sign-up for a taken name tells that the name exists: it counts against
 * the address only, so that it cannot spend the owner's budgets. */
static void count_taken(struct auth *a, const char *ipk)
{
	count(a, "ip", ipk, AUTH_WINDOW_MS, 1);
}

/* ---- the addresses each name logged in from lately ---- */

static void known_unlink(struct auth *a, struct known *k)
{
	if (k->prev)
		k->prev->next = k->next;
	else
		a->known_old = k->next;
	if (k->next)
		k->next->prev = k->prev;
	else
		a->known_new = k->prev;
	k->prev = k->next = NULL;
}

static void known_forget(struct auth *a, struct known *k)
{
	known_unlink(a, k);
	hmap_del(&a->known, k->name);
	slab_release(&a->known_mem, k);
}

/* Remembers (for AUTH_KNOWN_MS, in memory) that name logged in from ipk. */
static void known_address(struct auth *a, const char *ipk, const char *name)
{
	int cap = a->cf->known_addresses_per_name;
	struct known *k = hmap_get(&a->known, name);
	if (k) {
		known_unlink(a, k);
	} else {
		if (a->known.n >= (size_t)a->cf->known_names && a->known_old)
			known_forget(a, a->known_old);
		if ((k = slab_alloc(&a->known_mem)) == NULL)
			return;
		snprintf(k->name, sizeof k->name, "%s", name);
		if (hmap_put(&a->known, k->name, k) < 0) {
			slab_release(&a->known_mem, k);
			return;
		}
	}
	/* ipk moves to the front; a new one pushes the oldest out when full */
	int i = 0;
	while (i < k->n && strcmp(k->addr[i].ipk, ipk) != 0)
		i++;
	if (i == k->n && k->n < cap)
		k->n++;
	if (i == cap)
		i--;
	memmove(&k->addr[1], &k->addr[0], (size_t)i * sizeof k->addr[0]);
	snprintf(k->addr[0].ipk, sizeof k->addr[0].ipk, "%s", ipk);
	k->addr[0].at = loop_now(a->loop);
	k->prev = a->known_new;
	if (a->known_new)
		a->known_new->next = k;
	else
		a->known_old = k;
	a->known_new = k;
	log_debug("known addresses: %s has %d, %zu names have some", name, k->n, a->known.n);
}

/* 1 if name logged in from ipk during the last AUTH_KNOWN_MS (and it is
 * still among the name's known_addresses_per_name latest). */
static int is_known(struct auth *a, const char *ipk, const char *name)
{
	const struct known *k = hmap_get(&a->known, name);
	for (int i = 0; k && i < k->n; i++)
		if (strcmp(k->addr[i].ipk, ipk) == 0)
			return loop_now(a->loop) - k->addr[i].at < AUTH_KNOWN_MS;
	return 0;
}

/* Forgets the names whose last login is AUTH_KNOWN_MS old; with gone_only,
 * instead every name without an account. */
static void known_sweep(struct auth *a, int gone_only)
{
	struct known *k = a->known_old, *next;
	for (; k; k = next) {
		next = k->next;
		if (gone_only && hmap_get(&a->users, k->name) == NULL)
			known_forget(a, k);
		else if (!gone_only && loop_now(a->loop) - k->addr[0].at >= AUTH_KNOWN_MS)
			known_forget(a, k);
		else if (!gone_only)
			break; /* the rest are newer */
	}
}

void auth_succeeded(struct auth *a, const char *ipk, const char *name, int counted)
{
	if (counted)
		count_attempt(a, ipk, name, -1); /* counted when it started */
	known_address(a, ipk, name);
}

const char *auth_too_many_failures(struct auth *a, const char *ipk, const char *name)
{
	char nameip[AUTH_NAMEIP_MAX];
	name_ip(nameip, name, ipk);
	if (counted(a, "ip", ipk) >= a->cf->max_failures_per_ip)
		return "from this address";
	if (counted(a, "nameip", nameip) >= a->cf->max_failures_per_name)
		return "for this name from this address";
	if (counted(a, "name", name) >= a->cf->max_failures_per_name_total && !is_known(a, ipk, name))
		return "for this name from all addresses";
	return NULL;
}

const char *auth_too_many_failures_ip(struct auth *a, const char *ipk)
{
	return counted(a, "ip", ipk) >= a->cf->max_failures_per_ip ? "from this address" : NULL;
}

/* Sign-ups per address and hour: each costs a hash and a users file line.
 * A taken name is answered before any hashing. */
enum auth_signup auth_signup_check(struct auth *a, const char *ipk, const char *name)
{
#ifdef IM_CLUSTER
	if (a->redis && !redis_up(a->redis))
		return AUTH_SIGNUP_NOSTORE;
#endif
	if (counted(a, "signup", ipk) >= a->cf->max_signups_per_ip)
		return AUTH_SIGNUP_RATE;
	auth_check_users(a);
	if (hmap_get(&a->users, name)) {
		count_taken(a, ipk);
		return AUTH_SIGNUP_TAKEN;
	}
	count(a, "signup", ipk, AUTH_SIGNUP_MS, 1);
	return AUTH_SIGNUP_GO;
}

struct sweep {
	struct failcount **old;
	size_t n, cap;
	uint64_t now;
};

static void collect_old(void *val, void *arg)
{
	struct failcount *f = val;
	struct sweep *sw = arg;
	if (sw->now - f->start < f->window || sw->n == sw->cap)
		return;
	sw->old[sw->n++] = f;
}

/* Forgets counters whose window has passed, so memory stays bounded. */
static void sweep_failures(struct loop *l, void *arg)
{
	struct auth *a = arg;
	struct sweep sw = {NULL, 0, a->failures.n, loop_now(l)};
	if (sw.cap && (sw.old = malloc(sw.cap * sizeof *sw.old)) != NULL) {
		hmap_each(&a->failures, collect_old, &sw);
		for (size_t i = 0; i < sw.n; i++) {
			hmap_del(&a->failures, sw.old[i]->key);
			free(sw.old[i]);
		}
		free(sw.old);
	}
	known_sweep(a, 0);
	loop_timer_set(l, &a->sweep_timer, AUTH_WINDOW_MS, sweep_failures, a);
}

/* ---- the users file in memory ---- */

static void free_val(void *val, void *arg)
{
	(void)arg;
	free(val);
}

static void free_rec(void *val, void *arg)
{
	(void)arg;
	mbedtls_platform_zeroize(val, sizeof(struct users_rec));
	free(val);
}

static void add_rec(const struct users_rec *r, void *arg)
{
	struct users_rec *copy = malloc(sizeof *copy);
	if (copy == NULL)
		return;
	*copy = *r;
	struct users_rec *old = hmap_get(arg, copy->name);
	if (hmap_put(arg, copy->name, copy) < 0)
		free(copy);
	else
		free(old);
}

/* A sign-up is known at once, without waiting for the file to be read. */
static void remember_user(struct auth *a, const struct users_rec *r)
{
	add_rec(r, &a->users);
	a->median_iterations = 0;
}

static int cmp_int(const void *x, const void *y)
{
	int p = *(const int *)x, q = *(const int *)y;
	return (p > q) - (p < q);
}

struct iters {
	int *v;
	size_t n;
};

static void collect_iterations(void *val, void *arg)
{
	const struct users_rec *r = val;
	struct iters *it = arg;
	it->v[it->n++] = r->iterations;
}

/* The cost an unknown name's password is hashed at: the median of the
 * accounts', so that a wrong password for an unknown name takes as long as
 * one for a typical account, whatever pbkdf2_iterations says today. */
static int dummy_iterations(struct auth *a)
{
	if (a->median_iterations)
		return a->median_iterations;
	struct iters it = {NULL, 0};
	if (a->users.n == 0 || (it.v = malloc(a->users.n * sizeof *it.v)) == NULL)
		return a->cf->pbkdf2_iterations;
	hmap_each(&a->users, collect_iterations, &it);
	qsort(it.v, it.n, sizeof *it.v, cmp_int);
	a->median_iterations = it.v[it.n / 2];
	free(it.v);
	return a->median_iterations;
}

void auth_reload_users(struct auth *a)
{
	struct hmap fresh = {0};
	if (a->redis)
		return; /* cluster mode: the accounts are read from Redis */
	if (users_each(a->users_path, add_rec, &fresh) < 0) {
		log_err("cannot read %s: %s; keeping the accounts read before", a->users_path,
		        strerror(errno));
		hmap_each(&fresh, free_rec, NULL);
		hmap_free(&fresh);
		return;
	}
	hmap_each(&a->users, free_rec, NULL);
	hmap_free(&a->users);
	a->users = fresh;
	a->median_iterations = 0;
	known_sweep(a, 1); /* a deleted account's addresses go with it */
	log_debug("users file read: %zu accounts", a->users.n);
	if (a->on_reload)
		a->on_reload(a->reload_arg);
}

/* At every login (one stat), and whenever the data directory reports a
 * change. */
void auth_check_users(struct auth *a)
{
	struct stat st;
	if (a->redis)
		return;
	if (stat(a->users_path, &st) < 0)
		memset(&st, 0, sizeof st);
	if (st.st_ino != a->users_st.st_ino || st.st_size != a->users_st.st_size ||
	    st.st_mtim.tv_sec != a->users_st.st_mtim.tv_sec ||
	    st.st_mtim.tv_nsec != a->users_st.st_mtim.tv_nsec) {
		a->users_st = st;
		auth_reload_users(a);
	}
}

int auth_user_exists(const struct auth *a, const char *name)
{
	return hmap_get(&a->users, name) != NULL;
}

const char *auth_users_path(const struct auth *a)
{
	return a->users_path;
}

static void on_data_dir_event(struct loop *l, int fd, int revents, void *arg)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	(void)l;
	(void)revents;
	while (read(fd, buf, sizeof buf) > 0) {
		/* Any event will do: the checks compare the files themselves. */
	}
	auth_check_users(arg);
}

static void poll_users(struct loop *l, void *arg)
{
	struct auth *a = arg;
	auth_check_users(a);
	loop_timer_set(l, &a->users_timer, AUTH_USERS_POLL_MS, poll_users, a);
}

/* inotify on the data directory costs nothing while idle; where it is
 * missing, a one-second timer does the same. */
static void watch_users(struct auth *a)
{
	/* Test hook: IM_TEST_NO_INOTIFY=1 makes inotify_init1 fail (EMFILE),
	 * so the tests can always run the fallback path. */
	const char *no_inotify = getenv("IM_TEST_NO_INOTIFY");
	if (no_inotify && strcmp(no_inotify, "1") == 0) {
		a->inotify_fd = -1;
		errno = EMFILE;
	} else {
		a->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	}
	if (a->inotify_fd >= 0 &&
	    inotify_add_watch(a->inotify_fd, a->cf->data_dir, IN_CLOSE_WRITE | IN_MOVED_TO | IN_DELETE) >=
	        0 &&
	    loop_add(a->loop, a->inotify_fd, POLLIN, on_data_dir_event, a) == 0)
		return;
	log_warn("inotify on %s: %s; checking the users file every second", a->cf->data_dir, strerror(errno));
	if (a->inotify_fd >= 0)
		close(a->inotify_fd);
	a->inotify_fd = -1;
	loop_timer_set(a->loop, &a->users_timer, AUTH_USERS_POLL_MS, poll_users, a);
}

/* ---- password checks ---- */

static int store_signup(struct auth_job *j);

/* A check is decided (in the loop thread: from the pool, or from a Redis
 * answer in cluster mode, where a sign-up comes back here once stored). */
static void job_done(struct pool_job *pj)
{
	struct auth_job *j = (struct auth_job *)pj;
	struct auth *a = j->auth;
	if (j->counted)
		a->pending_iters -= j->iterations;
	j->counted = 0;
	if (j->ns > 0 && j->iterations > 0) {
		double per = (double)j->ns / j->iterations;
		a->ns_per_iter = a->ns_per_iter > 0 ? 0.7 * a->ns_per_iter + 0.3 * per : per;
	}
	j->ns = 0;
	if (j->owner == NULL) {
		mbedtls_platform_zeroize(j, sizeof *j);
		free(j);
		return;
	}
	if (j->clustered && j->signup && j->result == AUTH_OK && !j->stored) {
		if (store_signup(j) == 0)
			return; /* back here with Redis's answer */
		j->result = AUTH_UNAVAILABLE;
	}
	switch (j->result) {
	case AUTH_OK:
		if (j->signup) {
			remember_user(a, &j->rec);
		} else if (!j->clustered) {
			auth_check_users(a);
			if (hmap_get(&a->users, j->name) == NULL)
				j->result = AUTH_DELETED;
		}
		break;
	case AUTH_UNAVAILABLE:
		if (j->signup)
			count(a, "signup", j->ipk, AUTH_SIGNUP_MS, -1);
		else if (!j->resume)
			count_attempt(a, j->ipk, j->name, -1);
		break;
	case AUTH_LIMITED:
		count_attempt(a, j->ipk, j->name, -1); /* nothing was tried */
		break;
	case AUTH_EXISTS:
		count_taken(a, j->ipk);
		break;
	case AUTH_IOERR:
		if (!j->signup)
			count_attempt(a, j->ipk, j->name, -1);
		break;
	case AUTH_BAD:
		count_name(a, j->name, 1); /* the rest when it started */
		break;
	case AUTH_DELETED:
		break; /* counted when it started */
	}
	struct auth_outcome o = {j->result, j->signup, j->resume, j->err, j->name, j->ipk};
	j->done(j->owner, &o);
	mbedtls_platform_zeroize(j, sizeof *j);
	free(j);
}

static int start_login_read(struct auth_job *j);

struct auth_job *auth_submit(struct auth *a, int signup, const char *name, const char *ipk, const char *pw,
                             unsigned budget_ms, auth_done_fn done, void *owner, enum auth_refusal *why)
{
	*why = AUTH_NOMEM;
	struct auth_job *j = calloc(1, sizeof *j);
	if (j == NULL)
		return NULL;
	j->clustered = a->redis != NULL;
	j->base.work = job_work;
	j->base.done = job_done;
	j->auth = a;
	j->done = done;
	j->owner = owner;
	j->signup = signup;
	j->iterations = a->cf->pbkdf2_iterations;
	if (!signup) {
		auth_check_users(a);
		const struct users_rec *r = hmap_get(&a->users, name);
		if (r) {
			j->rec = *r;
			j->found = 1;
		} else {
			j->iterations = dummy_iterations(a);
		}
#ifdef IM_CLUSTER
		/* Redis away: only the accounts read before can be checked. */
		if (j->clustered && !j->found && !redis_up(a->redis)) {
			free(j);
			*why = AUTH_NOSTORE;
			return NULL;
		}
#endif
	}
	/* The checks ahead share the workers; this one then takes a worker
	 * of its own. One that would not finish within three quarters of the
	 * time its login has left is refused now, not timed out later with
	 * the work still queued. */
	double wait_ms = ((double)a->pending_iters / a->workers + j->iterations) * a->ns_per_iter / 1e6;
	if (wait_ms > budget_ms * AUTH_BUSY_SHARE) {
		log_debug("password checks queued: %lld rounds, about %.0f ms (%.0f ns a round)",
		          a->pending_iters, wait_ms, a->ns_per_iter);
		mbedtls_platform_zeroize(j, sizeof *j);
		free(j);
		*why = AUTH_BUSY;
		if (signup)
			count(a, "signup", ipk, AUTH_SIGNUP_MS, -1); /* nothing was spent */
		return NULL;
	}
	j->counted = 1;
	a->pending_iters += j->iterations;
	snprintf(j->name, sizeof j->name, "%s", name);
	snprintf(j->ipk, sizeof j->ipk, "%s", ipk);
	if (!signup)
		count_attempt(a, ipk, name, 1);
	j->pwlen = strlen(pw);
	if (j->pwlen >= sizeof j->pw)
		j->pwlen = sizeof j->pw - 1;
	memcpy(j->pw, pw, j->pwlen);
	if (j->clustered && !signup) {
		if (start_login_read(j) == 0)
			return j; /* the pool gets it with Redis's answer */
		if (!j->found) {
			/* Redis is away, and the account is not known here */
			a->pending_iters -= j->iterations;
			count_attempt(a, ipk, name, -1);
			mbedtls_platform_zeroize(j, sizeof *j);
			free(j);
			*why = AUTH_NOSTORE;
			return NULL;
		}
	}
	pool_submit(a->pool, &j->base);
	return j;
}

void auth_cancel(struct auth_job *j)
{
	/* A queued job is skipped when a worker reaches it: it no longer
	 * holds anyone up. */
	if (j->counted) {
		j->auth->pending_iters -= j->iterations;
		j->counted = 0;
	}
	j->owner = NULL; /* the job frees itself when it returns */
	atomic_store(&j->base.cancelled, 1);
}

/* ---- resume tokens ---- */

/* Adds a token to name's list, dropping the oldest beyond the cap. */
static int add_token(struct auth *a, const char *name, const struct tok *t)
{
	struct tuser *u = hmap_get(&a->tokens, name);
	if (u == NULL) {
		size_t cap = (size_t)a->cf->max_tokens_per_user;
		if ((u = slab_alloc(&a->token_mem)) == NULL)
			return -1;
		snprintf(u->name, sizeof u->name, "%s", name);
		u->cap = cap;
		if (hmap_put(&a->tokens, u->name, u) < 0) {
			slab_release(&a->token_mem, u);
			return -1;
		}
	}
	if (u->n == u->cap) {
		memmove(&u->t[0], &u->t[1], (u->n - 1) * sizeof u->t[0]);
		u->n--;
	}
	u->t[u->n++] = *t;
	return 0;
}

static void load_token(const struct tokens_rec *r, void *arg)
{
	struct auth *a = arg;
	struct tok t;
	if (r->expires <= (int64_t)time(NULL))
		return;
	memcpy(t.hash, r->hash, sizeof t.hash);
	memcpy(t.bind, r->bind, sizeof t.bind);
	t.expires = r->expires;
	add_token(a, r->name, &t);
}

struct flush {
	struct auth *a;
	struct tokens_rec *v;
	size_t n;
	struct tuser **empty;
	size_t nempty;
	int64_t now;
};

/* Drops u's tokens that expired or whose password (or account) has gone,
 * and copies the rest for the file. */
static void prune_user(void *val, void *arg)
{
	struct tuser *u = val;
	struct flush *f = arg;
	const struct users_rec *r = hmap_get(&f->a->users, u->name);
	unsigned char bind[TOKENS_BIND_LEN];
	size_t k = 0;
	if (r && tokens_bind(r, bind) == 0) {
		for (size_t i = 0; i < u->n; i++) {
			if (u->t[i].expires <= f->now || memcmp(u->t[i].bind, bind, sizeof bind) != 0)
				continue;
			u->t[k++] = u->t[i];
			struct tokens_rec *out = &f->v[f->n++];
			snprintf(out->name, sizeof out->name, "%s", u->name);
			memcpy(out->hash, u->t[i].hash, sizeof out->hash);
			memcpy(out->bind, u->t[i].bind, sizeof out->bind);
			out->expires = u->t[i].expires;
		}
	}
	u->n = k;
	if (k == 0)
		f->empty[f->nempty++] = u;
}

static void add_count(void *val, void *arg)
{
	*(size_t *)arg += ((struct tuser *)val)->n;
}

static void tokens_changed(struct auth *a);

/* Writes every live token's hash to the file (one rewrite for however many
 * changes came since the last). */
static void flush_tokens(struct auth *a)
{
	size_t total = 0;
	/* A password changed by "im passwd" just now voids its tokens here
	 * too, not only at their next RESUME. */
	auth_check_users(a);
	hmap_each(&a->tokens, add_count, &total);
	struct flush f = {a, NULL, 0, NULL, 0, (int64_t)time(NULL)};
	f.v = malloc((total ? total : 1) * sizeof *f.v);
	f.empty = malloc((a->tokens.n ? a->tokens.n : 1) * sizeof *f.empty);
	if (f.v == NULL || f.empty == NULL) {
		log_err("out of memory writing %s; trying again in a second", a->tokens_path);
		goto out;
	}
	hmap_each(&a->tokens, prune_user, &f);
	for (size_t i = 0; i < f.nempty; i++) {
		hmap_del(&a->tokens, f.empty[i]->name);
		slab_release(&a->token_mem, f.empty[i]);
	}
	if (tokens_write(a->tokens_path, f.v, f.n) < 0) {
		log_err("cannot write %s: %s; trying again in a second", a->tokens_path, strerror(errno));
		goto out;
	}
	a->tokens_dirty = 0;
	log_debug("tokens file %s written: %zu tokens", a->tokens_path, f.n);
out:
	if (f.v)
		mbedtls_platform_zeroize(f.v, total * sizeof *f.v);
	free(f.v);
	free(f.empty);
	if (a->tokens_dirty)
		tokens_changed(a);
}

static void on_tokens_timer(struct loop *l, void *arg)
{
	(void)l;
	struct auth *a = arg;
	if (a->tokens_dirty)
		flush_tokens(a);
}

/* Batches the rewrite: the first change arms the timer, the rest ride it. */
static void tokens_changed(struct auth *a)
{
	a->tokens_dirty = 1;
	if (a->tokens_timer.slot == 0)
		loop_timer_set(a->loop, &a->tokens_timer, AUTH_TOKENS_MS, on_tokens_timer, a);
}

static int store_token(struct auth *a, const char *name, const struct tok *t);

int auth_token_issue(struct auth *a, const char *name, char *out)
{
	unsigned char raw[TOKENS_RAW_LEN];
	const struct users_rec *r = hmap_get(&a->users, name);
	struct tok t;
	if (!a->drbg_ok || r == NULL || tokens_bind(r, t.bind) < 0 ||
	    mbedtls_ctr_drbg_random(&a->drbg, raw, sizeof raw) != 0)
		return -1;
	tokens_encode(raw, out);
	mbedtls_platform_zeroize(raw, sizeof raw);
	t.expires = (int64_t)time(NULL) + a->cf->token_lifetime;
	if (a->redis) {
		if (tokens_hash(out, t.hash) < 0 || store_token(a, name, &t) < 0) {
			mbedtls_platform_zeroize(out, TOKENS_TEXT_LEN + 1);
			return -1;
		}
		return 0;
	}
	if (tokens_hash(out, t.hash) < 0 || add_token(a, name, &t) < 0) {
		mbedtls_platform_zeroize(out, TOKENS_TEXT_LEN + 1);
		return -1;
	}
	tokens_changed(a);
	return 0;
}

int auth_resume(struct auth *a, const char *name, const char *text, const char *ipk)
{
	static const struct tok none; /* an unknown name is compared with this */
	unsigned char h[TOKENS_HASH_LEN], bind[TOKENS_BIND_LEN];
	auth_check_users(a);
	const struct users_rec *r = hmap_get(&a->users, name);
	struct tuser *u = hmap_get(&a->tokens, name);
	int found = -1;
	if (tokens_hash(text, h) == 0) {
		size_t n = u ? u->n : 1;
		for (size_t i = 0; i < n; i++) {
			const struct tok *t = u ? &u->t[i] : &none;
			volatile unsigned char diff = 0;
			for (size_t k = 0; k < sizeof h; k++)
				diff |= t->hash[k] ^ h[k];
			if (diff == 0 && u)
				found = (int)i;
		}
	}
	int ok = found >= 0 && r != NULL && tokens_bind(r, bind) == 0 &&
	         memcmp(u->t[found].bind, bind, sizeof bind) == 0 &&
	         u->t[found].expires > (int64_t)time(NULL);
	if (found >= 0) {
		/* Used, or dead anyway: it goes either way. */
		memmove(&u->t[found], &u->t[found + 1], (u->n - (size_t)found - 1) * sizeof u->t[0]);
		u->n--;
		tokens_changed(a);
	}
	if (!ok) {
		auth_count_failure(a, ipk, name, 1);
		return -1;
	}
	return 0;
}

/* ---- cluster mode: accounts, tokens and failure counts in Redis ---- */

int auth_clustered(const struct auth *a)
{
	return a->redis != NULL;
}

#ifdef IM_CLUSTER

static void hex(const unsigned char *b, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[b[i] >> 4];
		out[2 * i + 1] = digits[b[i] & 15];
	}
	out[2 * n] = '\0';
}

/* An account is gone from Redis: gone here too. */
static void forget_user(struct auth *a, const char *name)
{
	struct users_rec *r = hmap_get(&a->users, name);
	if (r == NULL)
		return;
	hmap_del(&a->users, name);
	free_rec(r, NULL);
	a->median_iterations = 0;
}

/* The record in Redis's answer rp, when it is name's: 0 with r filled. A
 * record that is not understood is logged and counts as none. */
static int reply_user(struct auth *a, const redisReply *rp, const char *name, struct users_rec *r)
{
	if (rp == NULL || rp->type != REDIS_REPLY_STRING)
		return -1;
	if (users_parse_line(rp->str, rp->len, r) == 0 && strcmp(r->name, name) == 0)
		return 0;
	log_err("redis %s: the record %suser:%s is not understood: treated as no account",
	        redis_addr(a->redis), a->prefix, name);
	return -1;
}

/* A LOGIN's account and the name's failed logins over all nodes. */
static void login_read(struct redis *r, redisReply *rp, void *arg)
{
	struct auth_job *j = arg;
	struct auth *a = j->auth;
	struct users_rec rec;
	(void)r;
	if (j->owner == NULL) {
		job_done(&j->base); /* frees it */
		return;
	}
	if (rp == NULL || rp->type != REDIS_REPLY_ARRAY || rp->elements != 2) {
		if (!j->found) {
			j->result = AUTH_UNAVAILABLE;
			job_done(&j->base);
			return;
		}
		/* the account as read before, as while Redis is away */
		pool_submit(a->pool, &j->base);
		return;
	}
	const redisReply *fails = rp->element[1];
	if (fails->type == REDIS_REPLY_STRING &&
	    strtol(fails->str, NULL, 10) >= a->cf->max_failures_per_name_total &&
	    !is_known(a, j->ipk, j->name)) {
		j->result = AUTH_LIMITED;
		job_done(&j->base);
		return;
	}
	if (reply_user(a, rp->element[0], j->name, &rec) == 0) {
		add_rec(&rec, &a->users);
		a->median_iterations = 0;
		j->rec = rec;
		j->found = 1;
	} else {
		/* deleted (on any node), or never there: checked against
		 * nothing, at the cost of a real check */
		forget_user(a, j->name);
		j->found = 0;
	}
	mbedtls_platform_zeroize(&rec, sizeof rec);
	pool_submit(a->pool, &j->base);
}

static int start_login_read(struct auth_job *j)
{
	struct auth *a = j->auth;
	char user[RUSERS_KEY_MAX], fail[RUSERS_KEY_MAX];
	rusers_key(a->prefix, "user", j->name, user);
	rusers_key(a->prefix, "fail", j->name, fail);
	return redis_cmd(a->redis, login_read, j, "MGET %s %s", user, fail);
}

static void signup_stored(struct redis *r, redisReply *rp, void *arg)
{
	struct auth_job *j = arg;
	(void)r;
	j->stored = 1;
	if (rp == NULL || rp->type == REDIS_REPLY_ERROR) {
		if (rp)
			log_err("redis %s refused to store the account %s: %.*s", redis_addr(j->auth->redis),
			        j->name, (int)(rp->len > 200 ? 200 : rp->len), rp->str);
		j->result = AUTH_UNAVAILABLE;
	} else if (rp->type == REDIS_REPLY_NIL) {
		j->result = AUTH_EXISTS; /* another node's sign-up came first */
	}
	job_done(&j->base);
}

/* A sign-up's account goes to Redis only if the name is new there: of two
 * nodes signing the same name up at once, exactly one wins. */
static int store_signup(struct auth_job *j)
{
	struct auth *a = j->auth;
	char key[RUSERS_KEY_MAX], line[USERS_LINE_MAX];
	if (users_format_line(&j->rec, line, sizeof line) < 0)
		return -1;
	rusers_key(a->prefix, "user", j->name, key);
	int rc = redis_cmd(a->redis, signup_stored, j, "SET %s %s NX", key, line);
	mbedtls_platform_zeroize(line, sizeof line);
	return rc;
}

/* What the answers about a user's list of tokens need (the auth may be
 * gone by the time they come). */
struct tokens_trim {
	struct redis *redis;
	char list[RUSERS_KEY_MAX];
	char prefix[80];
	long cap;
};

static void tokens_dropped(struct redis *r, redisReply *rp, void *arg)
{
	struct tokens_trim *tt = arg;
	char key[RUSERS_KEY_MAX];
	(void)r;
	for (size_t i = 0; rp && rp->type == REDIS_REPLY_ARRAY && i < rp->elements; i++) {
		const redisReply *h = rp->element[i];
		if (h->type != REDIS_REPLY_STRING || h->len != 2 * TOKENS_HASH_LEN)
			continue;
		rusers_key(tt->prefix, "token", h->str, key);
		redis_cmd(tt->redis, NULL, NULL, "DEL %s", key);
	}
	free(tt);
}

/* The list of the user's tokens is newest first: beyond
 * max_tokens_per_user the oldest go, list entry and token alike. */
static void token_listed(struct redis *r, redisReply *rp, void *arg)
{
	struct tokens_trim *tt = arg;
	if (rp && rp->type == REDIS_REPLY_INTEGER && rp->integer > tt->cap &&
	    redis_cmd(r, tokens_dropped, tt, "RPOP %s %lld", tt->list, rp->integer - tt->cap) == 0)
		return;
	free(tt);
}

static int store_token(struct auth *a, const char *name, const struct tok *t)
{
	struct tokens_rec rec = {0};
	char hx[2 * TOKENS_HASH_LEN + 1], key[RUSERS_KEY_MAX], line[TOKENS_LINE_MAX + 1];
	if (!redis_up(a->redis))
		return -1;
	snprintf(rec.name, sizeof rec.name, "%s", name);
	memcpy(rec.hash, t->hash, sizeof rec.hash);
	memcpy(rec.bind, t->bind, sizeof rec.bind);
	rec.expires = t->expires;
	struct tokens_trim *tt = calloc(1, sizeof *tt);
	if (tt == NULL || tokens_format_line(&rec, line, sizeof line) < 0) {
		free(tt);
		return -1;
	}
	tt->redis = a->redis;
	tt->cap = a->cf->max_tokens_per_user;
	snprintf(tt->prefix, sizeof tt->prefix, "%s", a->prefix);
	rusers_key(a->prefix, "tokens", name, tt->list);
	hex(t->hash, sizeof t->hash, hx);
	rusers_key(a->prefix, "token", hx, key);
	long long at = (long long)t->expires;
	if (redis_cmd(a->redis, warn_reply, what_token, "SET %s %s EXAT %lld", key, line, at) < 0) {
		free(tt);
		return -1;
	}
	if (redis_cmd(a->redis, token_listed, tt, "LPUSH %s %s", tt->list, hx) < 0)
		free(tt);
	else
		redis_cmd(a->redis, NULL, NULL, "EXPIREAT %s %lld", tt->list, at);
	return 0;
}

/* A RESUME's token (taken: it works once, on whichever node) and account. */
static void resume_read(struct redis *r, redisReply *rp, void *arg)
{
	struct auth_job *j = arg;
	struct auth *a = j->auth;
	struct tokens_rec t;
	struct users_rec u;
	unsigned char bind[TOKENS_BIND_LEN];
	(void)r;
	if (j->owner == NULL) {
		job_done(&j->base);
		return;
	}
	if (rp == NULL || rp->type != REDIS_REPLY_ARRAY || rp->elements != 2) {
		j->result = AUTH_UNAVAILABLE;
		job_done(&j->base);
		return;
	}
	const redisReply *tok = rp->element[0];
	if (tok->type == REDIS_REPLY_ERROR || rp->element[1]->type == REDIS_REPLY_ERROR) {
		const redisReply *e = tok->type == REDIS_REPLY_ERROR ? tok : rp->element[1];
		log_err("redis %s refused a RESUME's reads (GETDEL: Redis 6.2 or later): %.*s", redis_addr(r),
		        (int)(e->len > 200 ? 200 : e->len), e->str);
		j->result = AUTH_UNAVAILABLE;
		job_done(&j->base);
		return;
	}
	int have_user = reply_user(a, rp->element[1], j->name, &u) == 0;
	if (have_user) {
		add_rec(&u, &a->users);
		a->median_iterations = 0;
	} else if (rp->element[1]->type == REDIS_REPLY_NIL) {
		forget_user(a, j->name);
	}
	int ok = have_user && tok->type == REDIS_REPLY_STRING &&
	         tokens_parse_line(tok->str, tok->len, &t) == 0 && strcmp(t.name, j->name) == 0 &&
	         t.expires > (int64_t)time(NULL) && tokens_bind(&u, bind) == 0 &&
	         memcmp(bind, t.bind, sizeof bind) == 0;
	mbedtls_platform_zeroize(&u, sizeof u);
	j->result = ok ? AUTH_OK : AUTH_BAD;
	if (!ok)
		count_attempt(a, j->ipk, j->name, 1); /* and by name in job_done */
	job_done(&j->base);
}

struct auth_job *auth_resume_submit(struct auth *a, const char *name, const char *text, const char *ipk,
                                    auth_done_fn done, void *owner, enum auth_refusal *why)
{
	unsigned char h[TOKENS_HASH_LEN];
	char tkey[RUSERS_KEY_MAX], ukey[RUSERS_KEY_MAX];
	*why = AUTH_NOSTORE;
	if (a->redis == NULL || !redis_up(a->redis))
		return NULL;
	*why = AUTH_NOMEM;
	struct auth_job *j = calloc(1, sizeof *j);
	if (j == NULL || tokens_hash(text, h) < 0) {
		free(j);
		return NULL;
	}
	j->base.done = job_done;
	j->auth = a;
	j->done = done;
	j->owner = owner;
	j->resume = 1;
	j->clustered = 1;
	snprintf(j->name, sizeof j->name, "%s", name);
	snprintf(j->ipk, sizeof j->ipk, "%s", ipk);
	hex(h, sizeof h, j->tokhex);
	rusers_key(a->prefix, "token", j->tokhex, tkey);
	rusers_key(a->prefix, "user", name, ukey);
	/* One transaction: the token is taken and the account read together;
	 * nothing else is sent on the link in between (one thread). */
	if (redis_cmd(a->redis, NULL, NULL, "MULTI") < 0 ||
	    redis_cmd(a->redis, NULL, NULL, "GETDEL %s", tkey) < 0 ||
	    redis_cmd(a->redis, NULL, NULL, "GET %s", ukey) < 0 ||
	    redis_cmd(a->redis, resume_read, j, "EXEC") < 0) {
		free(j);
		*why = AUTH_NOSTORE;
		return NULL;
	}
	return j;
}

void auth_cluster(struct auth *a, struct redis *r, const char *prefix)
{
	a->redis = r;
	snprintf(a->prefix, sizeof a->prefix, "%s", prefix);
	if (a->users.n)
		log_info(
		    "cluster mode: the accounts are in redis %s; %s (%zu account%s) is not used ('im users "
		    "--import %s' loads it into redis)",
		    redis_addr(r), a->users_path, a->users.n, a->users.n == 1 ? "" : "s", a->users_path);
	hmap_each(&a->users, free_rec, NULL);
	hmap_free(&a->users);
	memset(&a->users, 0, sizeof a->users);
	a->median_iterations = 0;
	if (a->inotify_fd >= 0) {
		loop_del(a->loop, a->inotify_fd);
		close(a->inotify_fd);
		a->inotify_fd = -1;
	}
	loop_timer_stop(a->loop, &a->users_timer);
}

#else

static int start_login_read(struct auth_job *j)
{
	(void)j;
	return -1;
}

static int store_signup(struct auth_job *j)
{
	(void)j;
	return -1;
}

static int store_token(struct auth *a, const char *name, const struct tok *t)
{
	(void)a;
	(void)name;
	(void)t;
	return -1;
}

struct auth_job *auth_resume_submit(struct auth *a, const char *name, const char *text, const char *ipk,
                                    auth_done_fn done, void *owner, enum auth_refusal *why)
{
	(void)a, (void)name, (void)text, (void)ipk, (void)done, (void)owner;
	*why = AUTH_NOSTORE;
	return NULL;
}

#endif

/* ---- life ---- */

struct auth *auth_new(const struct conf_server *cf, struct loop *l, struct pool *p, const char *users_path,
                      auth_reload_fn on_reload, void *arg)
{
	struct auth *a = calloc(1, sizeof *a);
	if (a == NULL)
		return NULL;
	a->cf = cf;
	a->loop = l;
	a->pool = p;
	a->on_reload = on_reload;
	a->reload_arg = arg;
	a->inotify_fd = -1;
	slab_init(&a->token_mem,
	          sizeof(struct tuser) + (size_t)cf->max_tokens_per_user * sizeof(((struct tuser *)0)->t[0]),
	          64);
	slab_init(&a->known_mem,
	          sizeof(struct known) +
	              (size_t)cf->known_addresses_per_name * sizeof(((struct known *)0)->addr[0]),
	          64);
	snprintf(a->users_path, sizeof a->users_path, "%s", users_path);
	snprintf(a->tokens_path, sizeof a->tokens_path, "%s/tokens", cf->data_dir);
	a->workers = pool_size(p) > 0 ? pool_size(p) : 1;
	static const char pers[] = "im resume tokens";
	mbedtls_ctr_drbg_init(&a->drbg);
	a->drbg_ok = rng_entropy_init(&a->entropy) == 0 &&
	             mbedtls_ctr_drbg_seed(&a->drbg, mbedtls_entropy_func, &a->entropy,
	                                   (const unsigned char *)pers, sizeof pers - 1) == 0;
	if (!a->drbg_ok)
		log_err("cannot seed the random generator: no resume tokens");
	/* A first measure of the hash for the queue estimate; every check
	 * done later refines it. */
	unsigned char salt[USERS_SALT_LEN] = {0}, dk[USERS_HASH_LEN];
	long long t0 = mono_ns();
	users_pbkdf2("calibrate", 9, salt, sizeof salt, AUTH_CALIBRATE, dk, sizeof dk);
	a->ns_per_iter = (double)(mono_ns() - t0) / AUTH_CALIBRATE;
	auth_check_users(a);
	if (tokens_each(a->tokens_path, load_token, a) < 0)
		log_err("cannot read %s: %s; starting without resume tokens", a->tokens_path,
		        strerror(errno));
	watch_users(a);
	loop_timer_set(l, &a->sweep_timer, AUTH_WINDOW_MS, sweep_failures, a);
	return a;
}

void auth_free(struct auth *a)
{
	if (a == NULL)
		return;
	a->on_reload = NULL; /* the sessions are gone by now */
	if (a->tokens_dirty)
		flush_tokens(a);
	loop_timer_stop(a->loop, &a->tokens_timer);
	loop_timer_stop(a->loop, &a->sweep_timer);
	loop_timer_stop(a->loop, &a->users_timer);
	hmap_free(&a->tokens);
	slab_free_all(&a->token_mem);
	mbedtls_ctr_drbg_free(&a->drbg);
	mbedtls_entropy_free(&a->entropy);
	hmap_each(&a->failures, free_val, NULL);
	hmap_free(&a->failures);
	while (a->known_old)
		known_forget(a, a->known_old);
	hmap_free(&a->known);
	slab_free_all(&a->known_mem);
	hmap_each(&a->users, free_rec, NULL);
	hmap_free(&a->users);
	if (a->inotify_fd >= 0) {
		loop_del(a->loop, a->inotify_fd);
		close(a->inotify_fd);
	}
	free(a);
}
