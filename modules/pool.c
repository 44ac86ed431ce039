/* pool: a few worker threads for slow CPU work (password hashing); results
 * come back to the loop through an eventfd. */
#include "pool.h"

#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

struct pool {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct pool_job *todo, **todo_tail;
	struct pool_job *done, **done_tail;
	int stopping, nthreads, efd;
	pthread_t *threads;
	struct loop *loop;
};

static void *worker(void *arg)
{
	struct pool *p = arg;
	pthread_mutex_lock(&p->mu);
	for (;;) {
		while (p->todo == NULL && !p->stopping)
			pthread_cond_wait(&p->cv, &p->mu);
		if (p->stopping)
			break;
		struct pool_job *j = p->todo;
		p->todo = j->next;
		if (p->todo == NULL)
			p->todo_tail = &p->todo;
		pthread_mutex_unlock(&p->mu);
		if (!atomic_load(&j->cancelled))
			j->work(j);
		pthread_mutex_lock(&p->mu);
		j->next = NULL;
		*p->done_tail = j;
		p->done_tail = &j->next;
		uint64_t one = 1;
		if (write(p->efd, &one, sizeof one) < 0) {
			/* counter saturated: the loop is already woken */
		}
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

static void on_done(struct loop *l, int fd, int revents, void *arg)
{
	struct pool *p = arg;
	uint64_t n;
	(void)l;
	(void)revents;
	if (read(fd, &n, sizeof n) < 0) {
		/* EAGAIN: nothing new; the list below is the truth anyway */
	}
	pthread_mutex_lock(&p->mu);
	struct pool_job *j = p->done;
	p->done = NULL;
	p->done_tail = &p->done;
	pthread_mutex_unlock(&p->mu);
	while (j) {
		struct pool_job *next = j->next;
		j->done(j);
		j = next;
	}
}

struct pool *pool_new(struct loop *l, int n)
{
	if (n <= 0) {
		long cores = sysconf(_SC_NPROCESSORS_ONLN);
		n = cores > 0 ? (int)cores : 1;
	}
	struct pool *p = calloc(1, sizeof *p);
	if (p == NULL)
		return NULL;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	p->todo_tail = &p->todo;
	p->done_tail = &p->done;
	p->loop = l;
	p->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	p->threads = calloc((size_t)n, sizeof *p->threads);
	if (p->efd < 0 || p->threads == NULL || loop_add(l, p->efd, POLLIN, on_done, p) < 0)
		goto fail;
	for (; p->nthreads < n; p->nthreads++)
		if (pthread_create(&p->threads[p->nthreads], NULL, worker, p) != 0)
			goto fail;
	return p;
fail:
	pool_free(p);
	return NULL;
}

int pool_size(const struct pool *p)
{
	return p->nthreads;
}

int pool_submit(struct pool *p, struct pool_job *j)
{
	j->next = NULL;
	atomic_store(&j->cancelled, 0);
	pthread_mutex_lock(&p->mu);
	*p->todo_tail = j;
	p->todo_tail = &j->next;
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
	return 0;
}

void pool_free(struct pool *p)
{
	if (p == NULL)
		return;
	pthread_mutex_lock(&p->mu);
	p->stopping = 1;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	for (int i = 0; i < p->nthreads; i++)
		pthread_join(p->threads[i], NULL);
	/* Hand back every job, worked or not, so owners free them. */
	*p->done_tail = p->todo;
	p->todo = NULL;
	if (p->efd >= 0)
		on_done(p->loop, p->efd, POLLIN, p);
	if (p->efd >= 0) {
		loop_del(p->loop, p->efd);
		close(p->efd);
	}
	free(p->threads);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cv);
	free(p);
}
