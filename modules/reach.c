/* reach: the server's reachability probes (see reach.h): a FIFO, a cap on
 * probes at once and on those of one address, a per-client rate, a
 * deadline per probe. */
#include "reach.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "net.h"

#define REACH_WINDOW_MS 60000

enum { Q_IDLE = 0, Q_QUEUED, Q_RUNNING };

struct reach {
	struct loop *loop;
	int max, running, max_per_ip, per_min;
	unsigned timeout_ms;
	reach_fn done;
	struct reach_req *head, *tail; /* waiting, oldest first */
	struct loop_timer pump_timer;
	/* Probes refused for max_per_ip, logged at most once a window: */
	int ip_refused; /* not logged yet */
	int ip_logged;  /* a report went out, at ip_logged_at */
	uint64_t ip_logged_at;
	char ip_who[48], ip_key[48]; /* the latest refused */
	struct loop_timer ip_timer;
};

struct reach *reach_new(struct loop *l, int max, int max_per_ip, int per_min, int timeout_s, reach_fn done)
{
	struct reach *r = calloc(1, sizeof *r);
	if (r == NULL)
		return NULL;
	r->loop = l;
	r->max = max;
	r->max_per_ip = max_per_ip;
	r->per_min = per_min;
	r->timeout_ms = (unsigned)timeout_s * 1000;
	r->done = done;
	return r;
}

const char *reach_state_text(enum reach_state st)
{
	return st == REACH_OPEN ? "open" : st == REACH_CLOSED ? "closed" : "unknown";
}

static void enqueue(struct reach *r, struct reach_req *q)
{
	q->state = Q_QUEUED;
	q->next = NULL;
	q->prev = r->tail;
	if (r->tail)
		r->tail->next = q;
	else
		r->head = q;
	r->tail = q;
}

static void dequeue(struct reach *r, struct reach_req *q)
{
	if (q->prev)
		q->prev->next = q->next;
	else
		r->head = q->next;
	if (q->next)
		q->next->prev = q->prev;
	else
		r->tail = q->prev;
	q->next = q->prev = NULL;
	q->state = Q_IDLE;
}

/* Ends q's running probe: the socket closed, the slot freed. */
static void stop_running(struct reach_req *q)
{
	struct reach *r = q->r;
	loop_del(r->loop, q->fd);
	close(q->fd);
	q->fd = -1;
	loop_timer_stop(r->loop, &q->deadline);
	r->running--;
	q->state = Q_IDLE;
}

/* q is done with its address's share: ended, or cancelled. */
static void uncharge(struct reach_req *q)
{
	if (q->per_ip) {
		q->per_ip->probes--;
		q->per_ip = NULL;
	}
}

/* Logs the probes refused for max_per_ip since the last report, if any. */
static void ip_report(struct loop *l, void *arg)
{
	struct reach *r = arg;
	(void)l;
	if (r->ip_refused == 0)
		return;
	log_warn("reachability probes refused for max_probes_per_ip (%d queued or under way for one "
	         "address): %d in the last minute, the latest for %s from %s; their state is unknown",
	         r->max_per_ip, r->ip_refused, r->ip_who, r->ip_key);
	r->ip_refused = 0;
	r->ip_logged = 1;
	r->ip_logged_at = loop_now(r->loop);
}

/* A probe for who was refused: per_ip is full. Reported now when no report
 * went out for a window, else counted and reported when it ends. */
static void ip_refuse(struct reach *r, const char *who, const struct reach_ip *per_ip)
{
	uint64_t now = loop_now(r->loop);
	r->ip_refused++;
	snprintf(r->ip_who, sizeof r->ip_who, "%s", who);
	snprintf(r->ip_key, sizeof r->ip_key, "%s", per_ip->key ? per_ip->key : "?");
	if (!r->ip_logged || now - r->ip_logged_at >= REACH_WINDOW_MS)
		ip_report(r->loop, r);
	else
		loop_timer_set(r->loop, &r->ip_timer, r->ip_logged_at + REACH_WINDOW_MS - now, ip_report, r);
}

static void pump(struct loop *l, void *arg);

/* q's probe ended with st (why: for the log). A target asked for
 * meanwhile goes to the back of the queue instead of a report: this
 * result is about a port the client no longer announces. Never starts
 * probes itself (the caller pumps), so a done callback cannot recurse. */
static void finished(struct reach_req *q, enum reach_state st, const char *why)
{
	struct reach *r = q->r;
	char hp[80];
	net_hostport(hp, sizeof hp, q->ip, q->port);
	unsigned ms = (unsigned)(loop_now(r->loop) - q->started);
	if (q->state == Q_RUNNING)
		stop_running(q);
	if (q->again) {
		q->again = 0;
		log_debug("reach %s at %s: %s (%s, %u ms), superseded by a newer PEER", q->who, hp,
		          reach_state_text(st), why, ms);
		enqueue(r, q);
		return;
	}
	log_info("reach %s at %s: %s (%s, %u ms)", q->who, hp, reach_state_text(st), why, ms);
	uncharge(q);
	r->done(q->owner, st);
}

static void on_connect(struct loop *l, int fd, int revents, void *arg)
{
	struct reach_req *q = arg;
	struct reach *r = q->r;
	(void)l;
	int err = net_connect_error(fd, revents);
	finished(q, err ? REACH_CLOSED : REACH_OPEN, err ? strerror(err) : "connected");
	/* Not here: a socket made in this dispatch pass could take the
	 * number of one that is still to be dispatched, with its events. */
	loop_timer_set(r->loop, &r->pump_timer, 0, pump, r);
}

static void on_deadline(struct loop *l, void *arg)
{
	struct reach_req *q = arg;
	struct reach *r = q->r;
	char why[48];
	snprintf(why, sizeof why, "no answer within %u s", r->timeout_ms / 1000);
	finished(q, REACH_CLOSED, why);
	pump(l, r);
}

/* Starts q's connect: 0, or -1 when it was decided at once (reported). */
static int start(struct reach *r, struct reach_req *q)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	memset(&ss, 0, sizeof ss);
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
	q->started = loop_now(r->loop);
	memcpy(q->ip, q->want_ip, sizeof q->ip);
	q->port = q->want_port;
	if (inet_pton(AF_INET, q->ip, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((unsigned short)q->port);
		sl = sizeof *s4;
	} else if (inet_pton(AF_INET6, q->ip, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((unsigned short)q->port);
		sl = sizeof *s6;
	} else {
		finished(q, REACH_UNKNOWN, "no usable address");
		return -1;
	}
	char hp[80];
	net_hostport(hp, sizeof hp, q->ip, q->port);
	log_debug("reach %s: probing %s", q->who, hp);
	enum net_step step;
	int fd = net_dial((struct sockaddr *)&ss, sl, 0, &step);
	if (fd < 0) {
		/* Out of descriptors or memory is the server's trouble, not a
		 * sign that the client cannot be reached. */
		int ours = step == NET_SOCKET;
		if (ours)
			log_warn("reach %s: socket: %s", q->who, strerror(errno));
		finished(q, ours ? REACH_UNKNOWN : REACH_CLOSED, strerror(errno));
		return -1;
	}
	if (loop_add(r->loop, fd, POLLOUT, on_connect, q) < 0) {
		close(fd);
		finished(q, REACH_UNKNOWN, "out of memory");
		return -1;
	}
	q->fd = fd;
	q->state = Q_RUNNING;
	r->running++;
	loop_timer_set(r->loop, &q->deadline, r->timeout_ms, on_deadline, q);
	return 0;
}

/* Starts waiting probes while slots are free. */
static void pump(struct loop *l, void *arg)
{
	struct reach *r = arg;
	(void)l;
	while (r->running < r->max && r->head) {
		struct reach_req *q = r->head;
		dequeue(r, q);
		start(r, q);
	}
}

int reach_ask(struct reach *r, struct reach_req *q, void *owner, const char *who, const char *ip,
              unsigned port, struct reach_ip *per_ip)
{
	uint64_t now = loop_now(r->loop);
	if (q->r == NULL) {
		q->r = r;
		q->fd = -1;
		q->since = now;
	}
	q->owner = owner;
	snprintf(q->who, sizeof q->who, "%s", who);
	snprintf(q->want_ip, sizeof q->want_ip, "%s", ip);
	q->want_port = port;
	/* Waiting already: it will probe the new target, at no extra cost. */
	if (q->state == Q_QUEUED || (q->state == Q_RUNNING && q->again))
		return 0;
	if (now - q->since >= REACH_WINDOW_MS) {
		q->since = now;
		q->count = 0;
		q->warned = 0;
	}
	if (q->count >= r->per_min) {
		if (!q->warned) {
			log_warn("too many reachability probes for %s (probes_per_minute %d): not probing it "
			         "again for the rest of the minute",
			         who, r->per_min);
			q->warned = 1;
		}
		return -1;
	}
	if (q->state == Q_RUNNING) {
		/* Still holding its share: the probe after it needs no more. */
		q->count++;
		q->again = 1;
		return 0;
	}
	/* Many accounts behind one address (or one user with many) must not
	 * fill max probes and hold up everyone else's REACH. A refusal does
	 * not count against the client's rate: it cost nothing. */
	if (per_ip->probes >= r->max_per_ip) {
		ip_refuse(r, who, per_ip);
		return -1;
	}
	q->count++;
	per_ip->probes++;
	q->per_ip = per_ip;
	enqueue(r, q);
	/* Started from a timer, not here: a probe decided at once reports
	 * through done, which the caller may not expect inside this call. */
	loop_timer_set(r->loop, &r->pump_timer, 0, pump, r);
	return 0;
}

void reach_cancel(struct reach_req *q)
{
	struct reach *r = q->r;
	if (r == NULL)
		return;
	q->again = 0;
	uncharge(q);
	if (q->state == Q_QUEUED) {
		dequeue(r, q);
	} else if (q->state == Q_RUNNING) {
		stop_running(q);
		/* The freed slot is filled from a timer: this runs inside a
		 * connection's close, where no report may go out. */
		loop_timer_set(r->loop, &r->pump_timer, 0, pump, r);
	}
}

void reach_free(struct reach *r)
{
	if (r == NULL)
		return;
	while (r->head)
		dequeue(r, r->head);
	loop_timer_stop(r->loop, &r->pump_timer);
	loop_timer_stop(r->loop, &r->ip_timer);
	ip_report(r->loop, r);
	free(r);
}
