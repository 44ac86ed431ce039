/* loop: the single-threaded poll() event loop shared by server and client:
 * descriptors, a timer heap, the cached clock, signals and deferred work. */
#include "loop.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct watch {
	loop_fd_fn fn;
	void *arg;
	size_t pidx; /* index in pfds + 1; 0 = unused */
};

struct deferred {
	loop_fn fn;
	void *arg;
};

#define LOOP_NSIG 65

struct loop {
	struct watch *w; /* indexed by fd */
	size_t wcap;
	struct pollfd *pfds;
	size_t npfds, pcap;
	struct loop_timer **heap;
	size_t nheap, hcap;
	struct deferred *defer;
	size_t ndefer, dcap;
	uint64_t now;
	int stop;
	int sigpipe[2];
	struct {
		loop_fn fn;
		void *arg;
	} sig[LOOP_NSIG];
};

static int self_pipe_w = -1;

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
	if (need <= *cap)
		return 0;
	size_t n = *cap ? *cap : 16;
	while (n < need)
		n *= 2;
	void *q = realloc(*p, n * elem);
	if (q == NULL)
		return -1;
	*p = q;
	*cap = n;
	return 0;
}

uint64_t loop_clock(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

struct loop *loop_new(void)
{
	struct loop *l = calloc(1, sizeof *l);
	if (l == NULL)
		return NULL;
	l->sigpipe[0] = l->sigpipe[1] = -1;
	l->now = loop_clock();
	return l;
}

static void run_deferred(struct loop *l);

void loop_free(struct loop *l)
{
	if (l == NULL)
		return;
	while (l->ndefer > 0)
		run_deferred(l); /* frees what the last pass closed */
	if (l->sigpipe[0] >= 0) {
		close(l->sigpipe[0]);
		close(l->sigpipe[1]);
		self_pipe_w = -1;
	}
	free(l->w);
	free(l->pfds);
	free(l->heap);
	free(l->defer);
	free(l);
}

int loop_add(struct loop *l, int fd, short events, loop_fd_fn fn, void *arg)
{
	size_t cap = l->wcap;
	if (fd < 0 || grow((void **)&l->w, &l->wcap, (size_t)fd + 1, sizeof *l->w) < 0)
		return -1;
	memset(l->w + cap, 0, (l->wcap - cap) * sizeof *l->w);
	if (l->w[fd].pidx != 0 || grow((void **)&l->pfds, &l->pcap, l->npfds + 1, sizeof *l->pfds) < 0)
		return -1;
	l->pfds[l->npfds] = (struct pollfd){.fd = fd, .events = events};
	l->w[fd] = (struct watch){fn, arg, ++l->npfds};
	return 0;
}

void loop_mod(struct loop *l, int fd, short events)
{
	if (fd >= 0 && (size_t)fd < l->wcap && l->w[fd].pidx != 0)
		l->pfds[l->w[fd].pidx - 1].events = events;
}

void loop_del(struct loop *l, int fd)
{
	if (fd < 0 || (size_t)fd >= l->wcap || l->w[fd].pidx == 0)
		return;
	/* Move the last pollfd into the hole; the dispatch pass walks a copy of
	 * the results and checks each fd's registration before calling it. */
	size_t i = l->w[fd].pidx - 1;
	struct pollfd last = l->pfds[--l->npfds];
	if (i != l->npfds) {
		l->pfds[i] = last;
		l->w[last.fd].pidx = i + 1;
	}
	l->w[fd].pidx = 0;
	l->w[fd].fn = NULL;
}

uint64_t loop_now(const struct loop *l)
{
	return l->now;
}

static void heap_swap(struct loop *l, size_t a, size_t b)
{
	struct loop_timer *t = l->heap[a];
	l->heap[a] = l->heap[b];
	l->heap[b] = t;
	l->heap[a]->slot = a + 1;
	l->heap[b]->slot = b + 1;
}

static void heap_up(struct loop *l, size_t i)
{
	while (i > 0) {
		size_t p = (i - 1) / 2;
		if (l->heap[p]->when <= l->heap[i]->when)
			break;
		heap_swap(l, i, p);
		i = p;
	}
}

static void heap_down(struct loop *l, size_t i)
{
	for (;;) {
		size_t a = 2 * i + 1, b = a + 1, m = i;
		if (a < l->nheap && l->heap[a]->when < l->heap[m]->when)
			m = a;
		if (b < l->nheap && l->heap[b]->when < l->heap[m]->when)
			m = b;
		if (m == i)
			return;
		heap_swap(l, i, m);
		i = m;
	}
}

void loop_timer_stop(struct loop *l, struct loop_timer *t)
{
	if (t->slot == 0)
		return;
	size_t i = t->slot - 1;
	t->slot = 0;
	if (i != --l->nheap) {
		l->heap[i] = l->heap[l->nheap];
		l->heap[i]->slot = i + 1;
		heap_down(l, i);
		heap_up(l, i);
	}
}

void loop_timer_set(struct loop *l, struct loop_timer *t, uint64_t ms, loop_fn fn, void *arg)
{
	loop_timer_stop(l, t);
	/* Grow before arming so failure leaves the timer off, never corrupt. */
	if (grow((void **)&l->heap, &l->hcap, l->nheap + 1, sizeof *l->heap) < 0)
		abort();
	t->when = l->now + ms;
	t->fn = fn;
	t->arg = arg;
	l->heap[l->nheap] = t;
	t->slot = ++l->nheap;
	heap_up(l, l->nheap - 1);
}

int loop_defer(struct loop *l, loop_fn fn, void *arg)
{
	if (grow((void **)&l->defer, &l->dcap, l->ndefer + 1, sizeof *l->defer) < 0)
		return -1;
	l->defer[l->ndefer++] = (struct deferred){fn, arg};
	return 0;
}

static void on_signal(int signo)
{
	int saved = errno;
	unsigned char b = (unsigned char)signo;
	if (self_pipe_w >= 0 && write(self_pipe_w, &b, 1) < 0) {
		/* pipe full: a wake-up is already pending */
	}
	errno = saved;
}

static void on_sigpipe_readable(struct loop *l, int fd, int revents, void *arg)
{
	unsigned char buf[64];
	ssize_t n;
	while ((n = read(fd, buf, sizeof buf)) > 0)
		for (ssize_t i = 0; i < n; i++)
			if (buf[i] < LOOP_NSIG && l->sig[buf[i]].fn)
				l->sig[buf[i]].fn(l, l->sig[buf[i]].arg);
}

int loop_signal(struct loop *l, int signo, loop_fn fn, void *arg)
{
	if (signo <= 0 || signo >= LOOP_NSIG)
		return -1;
	if (l->sigpipe[0] < 0) {
		if (pipe2(l->sigpipe, O_NONBLOCK | O_CLOEXEC) < 0)
			return -1;
		self_pipe_w = l->sigpipe[1];
		if (loop_add(l, l->sigpipe[0], POLLIN, on_sigpipe_readable, NULL) < 0)
			return -1;
	}
	l->sig[signo].fn = fn;
	l->sig[signo].arg = arg;
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	return sigaction(signo, &sa, NULL);
}

void loop_stop(struct loop *l)
{
	l->stop = 1;
}

/* Runs the work deferred so far; what it defers in turn waits for the next
 * pass (after a poll that does not sleep), so a busy connection that keeps
 * deferring its reads cannot starve the others. */
static void run_deferred(struct loop *l)
{
	size_t n = l->ndefer;
	for (size_t i = 0; i < n; i++)
		l->defer[i].fn(l, l->defer[i].arg);
	if (l->ndefer > n)
		memmove(l->defer, l->defer + n, (l->ndefer - n) * sizeof *l->defer);
	l->ndefer -= n;
}

int loop_run(struct loop *l)
{
	struct pollfd *ready = NULL;
	size_t rcap = 0;
	l->stop = 0;
	while (!l->stop) {
		int timeout = -1;
		if (l->ndefer > 0)
			timeout = 0;
		else if (l->nheap > 0) {
			uint64_t when = l->heap[0]->when;
			uint64_t now = loop_clock();
			timeout = when <= now ? 0 : (int)(when - now > 60000 ? 60000 : when - now);
		}
		int n = poll(l->pfds, l->npfds, timeout);
		l->now = loop_clock();
		if (n < 0 && errno != EINTR) {
			free(ready);
			return -1;
		}
		if (n > 0) {
			/* Walk a copy: callbacks add and remove descriptors. */
			if (grow((void **)&ready, &rcap, l->npfds, sizeof *ready) < 0) {
				free(ready);
				return -1;
			}
			size_t nr = 0;
			for (size_t i = 0; i < l->npfds; i++)
				if (l->pfds[i].revents)
					ready[nr++] = l->pfds[i];
			for (size_t i = 0; i < nr; i++) {
				int fd = ready[i].fd;
				if ((size_t)fd < l->wcap && l->w[fd].pidx != 0)
					l->w[fd].fn(l, fd, ready[i].revents, l->w[fd].arg);
			}
		}
		while (l->nheap > 0 && l->heap[0]->when <= l->now) {
			struct loop_timer *t = l->heap[0];
			loop_timer_stop(l, t);
			t->fn(l, t->arg);
		}
		run_deferred(l);
	}
	free(ready);
	return 0;
}
