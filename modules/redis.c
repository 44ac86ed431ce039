/* redis: im's link to Redis/Valkey for cluster mode: an async hiredis
 * connection driven by the loop (with AUTH, reconnect and backoff), one
 * subscription on a second connection, and a blocking link for admin tools. */
#ifdef IM_CLUSTER
#include "redis.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>

#include <hiredis/async.h>
#include <mbedtls/platform_util.h>

#include "conf.h"

#define REDIS_CONNECT_MS  5000  /* to connect, AUTH and get the first PONG */
#define REDIS_BACKOFF_MS  1000  /* the first retry's delay */
#define REDIS_BACKOFF_MAX 30000 /* the longest */
#define REDIS_ANSWER_MS   10000 /* a command unanswered this long: the link is dead */
#define REDIS_WATCH_MS    1000  /* how often that is checked */

/* One connection (commands, or the subscription) and its retry state. The
 * hiredis context is driven through the adapter below: its fd's interest
 * lives here. */
struct rlink {
	struct redis *r;
	int is_sub;
	redisAsyncContext *ac; /* NULL while down */
	int fd, watched;
	short events;
	int up; /* connected, authenticated, answered (and for sub: subscribed) */
	unsigned delay_ms;
	unsigned pending;  /* commands sent, not answered yet */
	uint64_t answered; /* loop time of the last answer (or of the first pending command) */
	struct loop_timer retry, deadline; /* deadline: to get up, then the answer watch */
};

struct redis {
	struct loop *l;
	char addr[CONF_STR_MAX], host[CONF_STR_MAX];
	int port;
	char *password;
	redis_state_fn state;
	void *arg;
	int started, freeing;
	int told; /* -1 nothing told yet, else the last up told */
	struct rlink cmd, sub;
	char *channel;
	redis_msg_fn msg;
	redis_sub_fn subfn;
	void *subarg;
};

/* A command in flight: hiredis holds it as the callback's privdata. */
struct pending {
	struct redis *r;
	redis_reply_fn fn;
	void *arg;
};

static void link_connect(struct loop *l, void *arg);
static void link_fail(struct rlink *k, redisAsyncContext *ac, const char *why);

int redis_parse_addr(const char *s, char *host, size_t cap, int *port)
{
	char why[8];
	return conf_hostport(s, host, cap, port, why, sizeof why);
}

/* ---- the hiredis event adapter onto the loop ---- */

static void ev_on_io(struct loop *l, int fd, int revents, void *arg)
{
	struct rlink *k = arg;
	redisAsyncContext *ac = k->ac;
	if (ac == NULL)
		return;
	/* an error or hang-up is seen by whichever handler hiredis waits on */
	int bad = (revents & (POLLERR | POLLHUP | POLLNVAL)) != 0;
	if ((revents & POLLIN) || (bad && (k->events & POLLIN)))
		redisAsyncHandleRead(ac);
	if (k->ac != ac) /* freed inside the handler */
		return;
	if ((revents & POLLOUT) || (bad && (k->events & POLLOUT)))
		redisAsyncHandleWrite(ac);
}

static void ev_update(struct rlink *k)
{
	struct loop *l = k->r->l;
	if (k->events == 0) {
		/* no interest: unwatched, so a hang-up cannot spin the loop */
		if (k->watched)
			loop_del(l, k->fd);
		k->watched = 0;
	} else if (!k->watched) {
		if (loop_add(l, k->fd, k->events, ev_on_io, k) == 0)
			k->watched = 1;
	} else
		loop_mod(l, k->fd, k->events);
}

static void ev_add_read(void *p)
{
	struct rlink *k = p;
	k->events |= POLLIN;
	ev_update(k);
}

static void ev_del_read(void *p)
{
	struct rlink *k = p;
	k->events &= (short)~POLLIN;
	ev_update(k);
}

static void ev_add_write(void *p)
{
	struct rlink *k = p;
	k->events |= POLLOUT;
	ev_update(k);
}

static void ev_del_write(void *p)
{
	struct rlink *k = p;
	k->events &= (short)~POLLOUT;
	ev_update(k);
}

/* hiredis is freeing the context: its fd is closed right after (and the
 * disconnect callback, if any, comes after this). */
static void ev_cleanup(void *p)
{
	struct rlink *k = p;
	k->events = 0;
	ev_update(k);
}

/* ---- state ---- */

static void tell(struct redis *r, int up, const char *why)
{
	if (r->freeing || r->told == up)
		return;
	r->told = up;
	if (r->state != NULL)
		r->state(r, up, why, r->arg);
}

static unsigned jitter(unsigned ms)
{
	/* +-25 %: nodes that lost the same Redis do not all come back at once */
	uint32_t rnd = 0;
	if (getrandom(&rnd, sizeof rnd, GRND_NONBLOCK) != (ssize_t)sizeof rnd)
		rnd = (uint32_t)loop_clock() * 2654435761u;
	return ms - ms / 4 + rnd % (ms / 2 + 1);
}

/* The link's context is gone (k->ac already NULL): say why (the command
 * link only), and retry after the backoff. */
static void link_down(struct rlink *k, int was_up, const char *why)
{
	struct redis *r = k->r;
	loop_timer_stop(r->l, &k->deadline);
	if (r->freeing)
		return;
	if (k->is_sub) {
		if (was_up && r->subfn != NULL)
			r->subfn(r, 0, r->subarg);
	} else {
		tell(r, 0, why);
		/* Messages may have been missed on a Redis that the command link
		 * found dead or restarted: the subscription starts over too (its
		 * subscriber resynchronises when it is back). */
		link_fail(&r->sub, r->sub.ac, "the command link went down");
	}
	unsigned ms = jitter(k->delay_ms);
	k->delay_ms = k->delay_ms >= REDIS_BACKOFF_MAX / 2 ? REDIS_BACKOFF_MAX : k->delay_ms * 2;
	loop_timer_set(r->l, &k->retry, ms, link_connect, k);
}

/* We give up on ac (a bad answer, a deadline): free it (at once, or, when
 * hiredis is inside one of its callbacks, on return from it; the disconnect
 * callback then finds k->ac changed and stays quiet), then link_down. A
 * callback of an older context changes nothing. */
static void link_fail(struct rlink *k, redisAsyncContext *ac, const char *why)
{
	if (ac == NULL || ac != k->ac)
		return;
	int was_up = k->up;
	k->up = 0;
	k->ac = NULL;
	redisAsyncFree(ac);
	link_down(k, was_up, why);
}

/* A Redis that stopped answering (hung, or a network that drops packets
 * without a reset) is taken for gone, as one that closed the link. */
static void on_watch(struct loop *l, void *arg)
{
	struct rlink *k = arg;
	if (!k->up || k->ac == NULL)
		return;
	if (k->pending > 0 && loop_now(l) - k->answered > REDIS_ANSWER_MS) {
		link_fail(k, k->ac, "no answer for 10 s");
		return;
	}
	loop_timer_set(l, &k->deadline, REDIS_WATCH_MS, on_watch, k);
}

/* The connection is ready: reset the backoff, tell. */
static void link_ready(struct rlink *k)
{
	struct redis *r = k->r;
	k->up = 1;
	k->delay_ms = REDIS_BACKOFF_MS;
	loop_timer_stop(r->l, &k->deadline);
	if (!k->is_sub)
		loop_timer_set(r->l, &k->deadline, REDIS_WATCH_MS, on_watch, k);
	if (k->is_sub) {
		if (r->subfn != NULL)
			r->subfn(r, 1, r->subarg);
	} else
		tell(r, 1, NULL);
}

/* why: the reply's error text, cut to fit a log line. */
static void reply_why(char *why, size_t cap, const char *what, const redisReply *rep)
{
	if (rep == NULL)
		snprintf(why, cap, "%s: connection lost", what);
	else if (rep->type == REDIS_REPLY_ERROR)
		snprintf(why, cap, "%s: %.120s", what, rep->str);
	else
		snprintf(why, cap, "%s: unexpected reply (type %d)", what, rep->type);
}

static void on_message(redisAsyncContext *ac, void *reply, void *priv)
{
	struct rlink *k = priv;
	struct redis *r = k->r;
	redisReply *rep = reply;
	char why[160];
	if (rep == NULL || ac != k->ac || r->freeing)
		return;
	if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 3 ||
	    rep->element[0]->type != REDIS_REPLY_STRING) {
		reply_why(why, sizeof why, "SUBSCRIBE", rep);
		link_fail(k, ac, why);
		return;
	}
	const char *kind = rep->element[0]->str;
	if (!strcmp(kind, "subscribe")) {
		if (!k->up)
			link_ready(k);
	} else if (!strcmp(kind, "message") && rep->element[2]->type == REDIS_REPLY_STRING) {
		if (r->msg != NULL)
			r->msg(r, rep->element[2]->str, rep->element[2]->len, r->subarg);
	}
}

static void on_ping(redisAsyncContext *ac, void *reply, void *priv)
{
	struct rlink *k = priv;
	redisReply *rep = reply;
	char why[160];
	if (ac != k->ac || rep == NULL)
		return; /* the disconnect path has it */
	if (rep->type != REDIS_REPLY_STATUS || strcmp(rep->str, "PONG") != 0) {
		/* NOAUTH: Redis wants a password that was not configured */
		reply_why(why, sizeof why, k->r->password ? "PING" : "PING (no redis_password_file set)",
		          rep);
		link_fail(k, ac, why);
		return;
	}
	if (!k->is_sub) {
		link_ready(k);
		return;
	}
	if (redisAsyncCommand(ac, on_message, k, "SUBSCRIBE %s", k->r->channel) != REDIS_OK)
		link_fail(k, ac, "SUBSCRIBE could not be sent");
}

static void on_auth(redisAsyncContext *ac, void *reply, void *priv)
{
	struct rlink *k = priv;
	redisReply *rep = reply;
	char why[160];
	if (ac != k->ac || rep == NULL)
		return;
	if (rep->type == REDIS_REPLY_ERROR) {
		reply_why(why, sizeof why, "AUTH refused (check redis_password_file)", rep);
		link_fail(k, ac, why);
	}
}

static void on_connect(const redisAsyncContext *cac, int status)
{
	redisAsyncContext *ac = (redisAsyncContext *)(uintptr_t)cac;
	struct rlink *k = ac->data;
	char why[160];
	if (status != REDIS_OK) {
		/* hiredis frees ac when this returns */
		snprintf(why, sizeof why, "%s", ac->errstr[0] ? ac->errstr : "cannot connect");
		if (ac == k->ac) {
			k->ac = NULL;
			k->up = 0;
			link_down(k, 0, why);
		}
		return;
	}
	/* AUTH and PING go out together; PING's answer says whether it worked */
	if ((k->r->password != NULL &&
	     redisAsyncCommand(ac, on_auth, k, "AUTH %s", k->r->password) != REDIS_OK) ||
	    redisAsyncCommand(ac, on_ping, k, "PING") != REDIS_OK)
		link_fail(k, ac, "cannot send AUTH or PING");
}

static void on_disconnect(const redisAsyncContext *cac, int status)
{
	redisAsyncContext *ac = (redisAsyncContext *)(uintptr_t)cac;
	struct rlink *k = ac->data;
	char why[160];
	snprintf(why, sizeof why, "%s",
	         status == REDIS_OK ? "closed"
	         : ac->errstr[0]    ? ac->errstr
	                            : "connection lost");
	/* hiredis is freeing ac (the peer closed, or an error): not ours to
	 * free again */
	if (ac == k->ac) {
		int was_up = k->up;
		k->ac = NULL;
		k->up = 0;
		link_down(k, was_up, why);
	}
}

static void on_deadline(struct loop *l, void *arg)
{
	struct rlink *k = arg;
	if (k->ac != NULL && !k->up)
		link_fail(k, k->ac, "timed out connecting (no answer within 5 s)");
}

static void link_connect(struct loop *l, void *arg)
{
	struct rlink *k = arg;
	struct redis *r = k->r;
	char why[160];
	redisAsyncContext *ac = redisAsyncConnect(r->host, r->port);
	k->ac = NULL;
	if (ac == NULL || ac->err) {
		snprintf(why, sizeof why, "%s", ac ? ac->errstr : "out of memory");
		if (ac != NULL)
			redisAsyncFree(ac);
		link_down(k, 0, why);
		return;
	}
	k->ac = ac;
	k->pending = 0;
	k->fd = ac->c.fd;
	k->events = 0;
	k->watched = 0;
	ac->data = k;
	ac->ev.data = k;
	ac->ev.addRead = ev_add_read;
	ac->ev.delRead = ev_del_read;
	ac->ev.addWrite = ev_add_write;
	ac->ev.delWrite = ev_del_write;
	ac->ev.cleanup = ev_cleanup;
	/* the connect callback arms the write interest, so the adapter first */
	redisAsyncSetConnectCallback(ac, on_connect);
	redisAsyncSetDisconnectCallback(ac, on_disconnect);
	loop_timer_set(r->l, &k->deadline, REDIS_CONNECT_MS, on_deadline, k);
}

/* ---- the public side ---- */

struct redis *redis_new(struct loop *l, const char *addr, const char *password, redis_state_fn state,
                        void *arg)
{
	struct redis *r = calloc(1, sizeof *r);
	if (r == NULL)
		return NULL;
	if (strlen(addr) >= sizeof r->addr || redis_parse_addr(addr, r->host, sizeof r->host, &r->port) < 0) {
		free(r);
		return NULL;
	}
	snprintf(r->addr, sizeof r->addr, "%s", addr);
	if (password != NULL && *password != '\0' && (r->password = strdup(password)) == NULL) {
		free(r);
		return NULL;
	}
	r->l = l;
	r->state = state;
	r->arg = arg;
	r->told = -1;
	r->cmd.r = r->sub.r = r;
	r->sub.is_sub = 1;
	r->cmd.delay_ms = r->sub.delay_ms = REDIS_BACKOFF_MS;
	return r;
}

int redis_start(struct redis *r)
{
	if (r->started)
		return -1;
	r->started = 1;
	link_connect(r->l, &r->cmd);
	if (r->channel != NULL)
		link_connect(r->l, &r->sub);
	return 0;
}

int redis_subscribe(struct redis *r, const char *channel, redis_msg_fn msg, redis_sub_fn sub, void *arg)
{
	if (r->channel != NULL || (r->channel = strdup(channel)) == NULL)
		return -1;
	r->msg = msg;
	r->subfn = sub;
	r->subarg = arg;
	if (r->started)
		link_connect(r->l, &r->sub);
	return 0;
}

int redis_up(const struct redis *r)
{
	return r != NULL && r->cmd.up;
}

const char *redis_addr(const struct redis *r)
{
	return r->addr;
}

static void on_reply(redisAsyncContext *ac, void *reply, void *priv)
{
	struct pending *p = priv;
	struct rlink *k = &p->r->cmd;
	if (k->pending > 0)
		k->pending--;
	k->answered = loop_now(p->r->l);
	if (p->fn != NULL)
		p->fn(p->r, reply, p->arg);
	free(p);
}

int redis_cmd(struct redis *r, redis_reply_fn fn, void *arg, const char *fmt, ...)
{
	if (!r->cmd.up || r->cmd.ac == NULL)
		return -1;
	struct pending *p = malloc(sizeof *p);
	if (p == NULL)
		return -1;
	p->r = r;
	p->fn = fn;
	p->arg = arg;
	va_list ap;
	va_start(ap, fmt);
	int rc = redisvAsyncCommand(r->cmd.ac, on_reply, p, fmt, ap);
	va_end(ap);
	if (rc != REDIS_OK) {
		free(p);
		return -1;
	}
	if (r->cmd.pending++ == 0)
		r->cmd.answered = loop_now(r->l);
	return 0;
}

static void link_close(struct rlink *k)
{
	loop_timer_stop(k->r->l, &k->retry);
	loop_timer_stop(k->r->l, &k->deadline);
	redisAsyncContext *ac = k->ac;
	k->ac = NULL;
	k->up = 0;
	if (ac != NULL)
		redisAsyncFree(ac); /* pending callbacks get NULL */
}

void redis_free(struct redis *r)
{
	if (r == NULL)
		return;
	r->freeing = 1;
	link_close(&r->cmd);
	link_close(&r->sub);
	if (r->password != NULL) {
		mbedtls_platform_zeroize(r->password, strlen(r->password));
		free(r->password);
	}
	free(r->channel);
	free(r);
}

int redis_password_load(const char *path, char *out, size_t cap, int *loose, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	struct stat st;
	if (f == NULL || fstat(fileno(f), &st) < 0) {
		snprintf(err, errlen, "redis_password_file %s: cannot open: %s", path, strerror(errno));
		if (f != NULL)
			fclose(f);
		return -1;
	}
	*loose = (st.st_mode & 077) != 0;
	char *line = fgets(out, (int)cap, f);
	int whole = line != NULL && (strchr(line, '\n') != NULL || feof(f));
	fclose(f);
	size_t n = line ? strcspn(line, "\r\n") : 0;
	if (line != NULL)
		line[n] = '\0';
	if (!whole || n == 0) {
		mbedtls_platform_zeroize(out, cap);
		snprintf(err, errlen, "redis_password_file %s: %s", path,
		         n == 0 ? "the first line is empty" : "the password is too long");
		return -1;
	}
	return 0;
}

/* ---- the blocking link ---- */

struct redis_sync {
	redisContext *c;
};

struct redis_sync *redis_sync_open(const char *addr, const char *password, int timeout_ms, char *err,
                                   size_t cap)
{
	char host[CONF_STR_MAX];
	int port;
	if (redis_parse_addr(addr, host, sizeof host, &port) < 0) {
		snprintf(err, cap, "'%s' is not HOST:PORT", addr);
		return NULL;
	}
	struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
	redisContext *c = redisConnectWithTimeout(host, port, tv);
	if (c == NULL || c->err) {
		snprintf(err, cap, "cannot connect to redis %s: %s", addr, c ? c->errstr : "out of memory");
		redisFree(c);
		return NULL;
	}
	redisSetTimeout(c, tv);
	struct redis_sync *s = calloc(1, sizeof *s);
	if (s == NULL) {
		redisFree(c);
		snprintf(err, cap, "out of memory");
		return NULL;
	}
	s->c = c;
	redisReply *rep = NULL;
	if (password != NULL && *password != '\0') {
		rep = redisCommand(c, "AUTH %s", password);
		if (rep == NULL || rep->type == REDIS_REPLY_ERROR) {
			snprintf(err, cap, "redis %s refused AUTH (check redis_password_file): %.120s", addr,
			         rep ? rep->str : c->errstr);
			goto fail;
		}
		freeReplyObject(rep);
	}
	rep = redisCommand(c, "PING");
	if (rep == NULL || rep->type != REDIS_REPLY_STATUS) {
		/* NOAUTH: Redis wants a password that was not configured */
		snprintf(err, cap, "redis %s does not answer PING%s: %.120s", addr,
		         password != NULL && *password != '\0' ? "" : " (no redis_password_file set)",
		         rep == NULL                      ? c->errstr
		         : rep->type == REDIS_REPLY_ERROR ? rep->str
		                                          : "unexpected reply");
		goto fail;
	}
	freeReplyObject(rep);
	return s;
fail:
	if (rep != NULL)
		freeReplyObject(rep);
	redis_sync_close(s);
	return NULL;
}

redisReply *redis_sync_cmd(struct redis_sync *s, char *err, size_t cap, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	redisReply *rep = redisvCommand(s->c, fmt, ap);
	va_end(ap);
	if (rep == NULL)
		snprintf(err, cap, "redis: %s", s->c->errstr[0] ? s->c->errstr : "no answer");
	return rep;
}

void redis_sync_close(struct redis_sync *s)
{
	if (s == NULL)
		return;
	redisFree(s->c);
	free(s);
}

#else
/* Built without cluster mode (CLUSTER=no): no Redis code at all. */
typedef int redis_not_built;
#endif
