/* pool: a few worker threads for slow CPU work (password hashing) so the
 * poll loop never stalls; results come back through an eventfd it polls. */
#ifndef IM_POOL_H
#define IM_POOL_H

#include <stdatomic.h>

#include "loop.h"

struct pool;

/* A job is the caller's struct; it starts with this header. */
struct pool_job {
	struct pool_job *next;
	void (*work)(struct pool_job *j); /* in a worker thread */
	void (*done)(struct pool_job *j); /* back in the loop thread */
	atomic_int cancelled;             /* set: work is skipped, done still runs */
};

/* Starts n workers (0 = one per core) reporting into loop l. NULL on error. */
struct pool *pool_new(struct loop *l, int n);
/* The number of worker threads. */
int pool_size(const struct pool *p);
/* Queues j; j->done runs later in the loop thread, always. 0 or -1. */
int pool_submit(struct pool *p, struct pool_job *j);
/* Stops the workers (a running job finishes; queued ones are not worked),
 * runs every job's done callback, and frees. Safe on NULL. */
void pool_free(struct pool *p);

#endif
