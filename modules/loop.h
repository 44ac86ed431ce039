/* loop: the single-threaded poll() event loop shared by server and client:
 * descriptors with callbacks, a heap of timers, a cached monotonic clock,
 * signals through a self-pipe, and work deferred to after each pass. */
#ifndef IM_LOOP_H
#define IM_LOOP_H

#include <stddef.h>
#include <stdint.h>

struct loop;
typedef void (*loop_fd_fn)(struct loop *l, int fd, int revents, void *arg);
typedef void (*loop_fn)(struct loop *l, void *arg);

/* A timer lives inside its owner's struct; zero-initialise it. */
struct loop_timer {
	uint64_t when; /* ms on the loop clock */
	size_t slot;   /* heap index + 1; 0 = not armed */
	loop_fn fn;
	void *arg;
};

/* Returns a new loop, or NULL when out of memory. */
struct loop *loop_new(void);
/* Runs deferred work, then frees the loop; descriptors are not closed.
 * Safe on NULL. */
void loop_free(struct loop *l);

/* Watches fd for events (POLLIN/POLLOUT); one registration per fd.
 * Returns 0, or -1 when out of memory or fd is already watched. */
int loop_add(struct loop *l, int fd, short events, loop_fd_fn fn, void *arg);
/* Changes the events watched on fd. */
void loop_mod(struct loop *l, int fd, short events);
/* Stops watching fd; its callback is not called again, even in this pass. */
void loop_del(struct loop *l, int fd);

/* Monotonic milliseconds, read once per wake-up. */
uint64_t loop_now(const struct loop *l);
/* Milliseconds from the monotonic clock, read now. */
uint64_t loop_clock(void);

/* Arms t to call fn(arg) ms milliseconds from now (re-arms if armed). */
void loop_timer_set(struct loop *l, struct loop_timer *t, uint64_t ms, loop_fn fn, void *arg);
/* Disarms t; safe if not armed. */
void loop_timer_stop(struct loop *l, struct loop_timer *t);

/* Runs fn(arg) after the current dispatch pass (for freeing what a
 * callback may still point to); work deferred by deferred work runs after
 * the next poll, which then does not wait. Returns 0, or -1 when out of
 * memory. */
int loop_defer(struct loop *l, loop_fn fn, void *arg);

/* Routes signo to fn through the self-pipe; the handler only writes a byte.
 * Returns 0 or -1. */
int loop_signal(struct loop *l, int signo, loop_fn fn, void *arg);

/* Runs until loop_stop(). Returns 0, or -1 if poll() fails. */
int loop_run(struct loop *l);
/* Makes loop_run() return after the current pass. */
void loop_stop(struct loop *l);

#endif
