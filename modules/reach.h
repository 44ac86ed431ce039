/* reach: the server's reachability probes: a TCP connect (no data) to a
 * client's observed address and announced peer port, at most max_probes at
 * once (the rest wait in a FIFO), at most max_probes_per_ip queued or
 * running for one observed address, one per client at a time,
 * probes_per_minute per client, each bounded by a deadline, cancelled on
 * logout. */
#ifndef IM_REACH_H
#define IM_REACH_H

#include <stdint.h>

#include "loop.h"

/* What a probe found; also a session's state in REACH lines. */
enum reach_state {
	REACH_UNKNOWN = 0, /* not probed (yet), probing off, or over the rate */
	REACH_OPEN,        /* the connect succeeded */
	REACH_CLOSED,      /* refused, unreachable, or no answer in time */
};

/* Called when q's probe is decided; never for a cancelled one. */
typedef void (*reach_fn)(void *owner, enum reach_state st);

struct reach;

/* One observed address's (or IPv6 network's) share of the probes. The
 * caller keeps one per address, zero-initialised except key (its name in
 * logs, e.g. "192.0.2.7" or "2001:db8::/64"), for as long as any request
 * charged to it is queued or running. */
struct reach_ip {
	const char *key;
	int probes; /* queued or running: reach.c's */
};

/* One client's probe record, inside its owner; zero-initialise it. The
 * fields are reach.c's. */
struct reach_req {
	struct reach *r;
	struct reach_req *next, *prev; /* on the FIFO while queued */
	int state;                     /* idle, queued, running */
	int again;                     /* asked again while running */
	int fd;                        /* the connect, while running */
	struct loop_timer deadline;
	uint64_t started;
	void *owner;
	char who[48];     /* for logs: the user */
	char ip[48];      /* the target being probed: observed address */
	unsigned port;    /* and announced port */
	char want_ip[48]; /* the target asked for last */
	unsigned want_port;
	uint64_t since;          /* the rate window's start, loop ms */
	int count;               /* probes asked in it */
	int warned;              /* the refusal was logged in it */
	struct reach_ip *per_ip; /* charged while queued or running */
};

/* A prober on loop l: at most max probes at once, at most max_per_ip
 * queued or running for one address, per_min a minute for one client,
 * each given timeout_s seconds; results go to done. NULL when out of
 * memory. */
struct reach *reach_new(struct loop *l, int max, int max_per_ip, int per_min, int timeout_s, reach_fn done);

/* Asks for a probe of ip (text, as the login connection's) port port for
 * q, on behalf of owner (done's argument), who naming the user in logs;
 * per_ip is ip's share (always the same one for q). While q's probe runs,
 * the new target is probed once after it (and the running one's result is
 * not reported). 0 when the probe is queued, started or merged into the
 * waiting one; -1 when q is over its rate (logged once a minute per
 * client) or per_ip holds max_per_ip probes already (logged at most once a
 * minute in all, with a count): nothing is done. */
int reach_ask(struct reach *r, struct reach_req *q, void *owner, const char *who, const char *ip,
              unsigned port, struct reach_ip *per_ip);

/* Forgets q's probe, queued or running (its socket is closed, its address
 * share given back); done is not called for it. Safe on an idle or zeroed
 * q. */
void reach_cancel(struct reach_req *q);

/* "open", "closed" or "unknown". */
const char *reach_state_text(enum reach_state st);

/* Frees r (logging the per-address refusals not logged yet); every request
 * must have been cancelled or finished. Safe on NULL. */
void reach_free(struct reach *r);

#endif
