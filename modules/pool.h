/* pool: a few worker threads for slow CPU work (password hashing) so the
 * poll loop never stalls; results come back through an eventfd it polls. */
#ifndef IM_POOL_H
#define IM_POOL_H

#include "loop.h"

struct pool;

/* A job is the caller's struct; it starts with this header. */
struct pool_job {
	struct pool_job *next;
	void (*work)(struct pool_job *j); /* in a worker thread */
	void (*done)(struct pool_job *j); /* back in the loop thread */
};

/* Starts n workers (0 = one per core) reporting into loop l. NULL on error. */
struct pool *pool_new(struct loop *l, int n);
/* Queues j; j->done runs later in the loop thread, always. 0 or -1. */
int pool_submit(struct pool *p, struct pool_job *j);
/* Jobs queued or running. */
int pool_busy(const struct pool *p);
/* Stops the workers after the queued jobs, runs their done callbacks, and
 * frees. Safe on NULL. */
void pool_free(struct pool *p);

#endif
