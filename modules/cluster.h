/* cluster: the node's part of the shared session map (cluster mode): it
 * publishes this node's sessions to Redis and the events channel, and keeps
 * the other nodes' sessions in the sess table as connection-less records. */
#ifndef IM_CLUSTER_H
#define IM_CLUSTER_H

#include <stddef.h>

#include "loop.h"
#include "redis.h"
#include "sess.h"

struct cluster;

/* The node node (1-64 of [A-Za-z0-9_.:-]) on link r (not started yet, or
 * started: say cluster_link() at each transition), keys and the channel
 * under prefix, records living ttl seconds after each refresh. It hooks
 * into sessions t (local changes are published; the channel and a resync
 * fill t with the other nodes' sessions). NULL when out of memory. */
struct cluster *cluster_new(struct loop *l, struct sess_table *t, struct redis *r, const char *node,
                            const char *prefix, int ttl);
/* The command link came up (up = 1: this node's sessions are published
 * again, the logouts missed meanwhile too) or went down (up = 0: the
 * mirror is kept as it was until the link is back). */
void cluster_link(struct cluster *c, int up);
/* A clean stop, on blocking link rs (NULL: none): this node's session
 * records are removed at once. */
void cluster_leave(struct cluster *c, struct redis_sync *rs);
/* Asks the node holding s (another node's session) to relay CALL (punch
 * 0) or PUNCH (punch 1) from local session from. 0, or -1 when the link
 * is down. */
int cluster_relay(struct cluster *c, const struct sess *s, const struct sess *from, int punch);
/* Takes one message of the channel, as the subscription delivers it
 * (len bytes): what the link calls; public for the fuzzer. */
void cluster_message(struct cluster *c, const char *msg, size_t len);
/* Unhooks from the sessions and frees c (the link is the caller's: free
 * it first, so no answer still points here). Safe on NULL. */
void cluster_free(struct cluster *c);

#endif
