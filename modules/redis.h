/* redis: im's link to Redis/Valkey for cluster mode: an async hiredis
 * connection driven by the loop (with AUTH, reconnect and backoff), one
 * subscription on a second connection, and a blocking link for admin tools. */
#ifndef IM_REDIS_H
#define IM_REDIS_H

#include <stddef.h>

#include <hiredis/hiredis.h>

#include "loop.h"

struct redis;

/* Called when the command link comes up (up = 1, why = NULL: connected,
 * AUTH accepted, PING answered) or goes down (up = 0, why = a short text:
 * "Connection refused", "AUTH refused (...): WRONGPASS ...", "no answer
 * for 10 s"). The first call may be a down (Redis unreachable at start);
 * after that only transitions, never twice in a row with the same up. */
typedef void (*redis_state_fn)(struct redis *r, int up, const char *why, void *arg);
/* A command's answer: reply is owned by the module and freed after the
 * call returns; NULL when the link dropped before the answer came (or the
 * link was freed). */
typedef void (*redis_reply_fn)(struct redis *r, redisReply *reply, void *arg);
/* One message on the subscribed channel: msg is len bytes (not
 * NUL-terminated in general; a NUL is placed after it for convenience). */
typedef void (*redis_msg_fn)(struct redis *r, const char *msg, size_t len, void *arg);
/* The subscription link became ready (up = 1: SUBSCRIBE confirmed; the
 * caller should resynchronise, messages sent while it was down are lost)
 * or went down (up = 0). When the command link goes down the subscription
 * is dropped too (a restarted or hung Redis may have lost messages), so
 * every return of Redis is an up here. */
typedef void (*redis_sub_fn)(struct redis *r, int up, void *arg);

/* Parses "HOST:PORT" or "[v6]:PORT" into host (cap bytes) and *port.
 * 0, or -1 with nothing promised about host. */
int redis_parse_addr(const char *s, char *host, size_t cap, int *port);

/* A link to addr ("HOST:PORT" or "[v6]:PORT"), authenticated with password
 * (NULL or "": no AUTH; copied, wiped on free). Nothing is connected until
 * redis_start(). state is told of every up/down transition. NULL when addr
 * is malformed or memory is short. */
struct redis *redis_new(struct loop *l, const char *addr, const char *password, redis_state_fn state,
                        void *arg);
/* Starts connecting (non-blocking); a failure is retried with backoff
 * (1 s doubling to 30 s, +-25 % jitter). 0, or -1 when already started. */
int redis_start(struct redis *r);
/* Subscribes to channel on a second connection, kept up like the first;
 * each message goes to msg, readiness to sub (may be NULL). Call before or
 * after redis_start(); once per link. 0, or -1. */
int redis_subscribe(struct redis *r, const char *channel, redis_msg_fn msg, redis_sub_fn sub, void *arg);
/* 1 when the command link is up (connected and authenticated). */
int redis_up(const struct redis *r);
/* "HOST:PORT" as configured, for log lines. */
const char *redis_addr(const struct redis *r);
/* Sends a command (printf-like as redisAsyncCommand: spaces in fmt split
 * arguments, a %s is one argument whatever it holds, %b pointer+size_t
 * binary, %d/%lld...); fn (may be NULL) gets the reply. Commands are
 * answered in order. No blocking commands (BLPOP...): a command left
 * unanswered for 10 s takes the link down. 0, or -1 when the link is down
 * (fn is then not called). */
int redis_cmd(struct redis *r, redis_reply_fn fn, void *arg, const char *fmt, ...);
/* Closes both connections: pending fns are called with NULL, state is not
 * called. Frees r. Safe on NULL. */
void redis_free(struct redis *r);

/* Reads a Redis password: the first line of the file at path (without its
 * line end) into out (cap bytes). *loose = 1 when the file can be read by
 * group or others. 0, or -1 with the reason (naming path) in err. */
int redis_password_load(const char *path, char *out, size_t cap, int *loose, char *err, size_t errlen);

/* Blocking link for the admin tools. */
struct redis_sync;
/* Connects to addr within timeout_ms and AUTHs with password (NULL or "":
 * none). NULL on failure with a reason in err (cap bytes). */
struct redis_sync *redis_sync_open(const char *addr, const char *password, int timeout_ms, char *err,
                                   size_t cap);
/* Runs a command (printf-like as redisCommand). The reply (free it with
 * freeReplyObject), or NULL with a reason in err; an error reply
 * (REDIS_REPLY_ERROR) is returned as a reply, not NULL. */
redisReply *redis_sync_cmd(struct redis_sync *s, char *err, size_t cap, const char *fmt, ...);
/* Closes the link. Safe on NULL. */
void redis_sync_close(struct redis_sync *s);

#endif
