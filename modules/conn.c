/* conn: one TLS connection in the poll loop: handshake, line framing,
 * a bounded output queue, a deadline and one close path. */
#include "conn.h"
#include "net.h"

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <mbedtls/platform_util.h>

#define CONN_CHUNK          16384 /* one TLS record's worth of plaintext */
#define CONN_CLOSE_GRACE_MS 2000  /* to flush a last reply before closing */

/* Reads land here; only a partial line is copied into the connection, so
 * an idle connection holds no buffer. One loop thread, one scratch. */
static char scratch[PROTO_LINE_MAX * 2 + CONN_CHUNK];

static void on_io(struct loop *l, int fd, int revents, void *arg);

/* Connections reading out a peer's last bytes before closing; the owner's
 * exit path closes them at once (conn_reap). */
static struct conn *draining;
static void finish(struct conn *c);

static void describe_peer(struct conn *c)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	strcpy(c->ip, "?");
	strcpy(c->peer, "?");
	if (getpeername(c->fd, (struct sockaddr *)&ss, &sl) < 0)
		return;
	/* An IPv4 client on a dual-stack socket is shown as IPv4. */
	if (net_addr_text(&ss, 1, c->ip, sizeof c->ip, &c->port) == 0)
		net_hostport(c->peer, sizeof c->peer, c->ip, c->port);
}

struct conn *conn_new(struct loop *l, int fd, struct tls_cfg *cfg, int connecting, const struct conn_ops *ops,
                      void *owner, size_t max_line, size_t max_out)
{
	struct conn *c = calloc(1, sizeof *c);
	if (c == NULL) {
		close(fd);
		return NULL;
	}
	c->fd = fd;
	c->loop = l;
	c->ops = ops;
	c->owner = owner;
	c->max_line = max_line > PROTO_LINE_MAX ? PROTO_LINE_MAX : max_line;
	c->max_out = max_out;
	c->state = connecting ? CONN_CONNECTING : CONN_HANDSHAKE;
	c->tls = tls_new(cfg, fd);
	if (c->tls == NULL || loop_add(l, fd, connecting ? POLLOUT : POLLIN, on_io, c) < 0) {
		tls_free(c->tls);
		close(fd);
		free(c);
		return NULL;
	}
	if (!connecting)
		describe_peer(c);
	return c;
}

void conn_reap(void)
{
	while (draining)
		finish(draining);
}

size_t conn_queued(const struct conn *c)
{
	return c->outlen - c->outoff;
}

/* Frees a buffer that may have held a password (a LOGIN line). */
static void wipe_free(char *p, size_t n)
{
	if (p != NULL)
		mbedtls_platform_zeroize(p, n);
	free(p);
}

static void free_later(struct loop *l, void *arg)
{
	struct conn *c = arg;
	(void)l;
	wipe_free(c->in, c->inlen);
	wipe_free(c->out, c->outcap);
	free(c);
}

/* Closes the socket and schedules the memory to go after the pass. */
static void finish(struct conn *c)
{
	if (c->state == CONN_DEAD)
		return;
	c->state = CONN_DEAD;
	if (c->draining) {
		if (c->drain_prev)
			c->drain_prev->drain_next = c->drain_next;
		else
			draining = c->drain_next;
		if (c->drain_next)
			c->drain_next->drain_prev = c->drain_prev;
	}
	loop_timer_stop(c->loop, &c->deadline);
	loop_del(c->loop, c->fd);
	close(c->fd);
	tls_free(c->tls);
	c->tls = NULL;
	if (loop_defer(c->loop, free_later, c) < 0)
		free_later(c->loop, c); /* nothing can reach c any more */
}

static void notify_close(struct conn *c, const char *why)
{
	const struct conn_ops *ops = c->ops;
	c->ops = NULL;
	if (ops && ops->on_close)
		ops->on_close(c, why);
}

void conn_abort(struct conn *c, const char *why)
{
	if (c->state == CONN_DEAD)
		return;
	notify_close(c, why);
	finish(c);
}

static void set_interest(struct conn *c, int want_write)
{
	short ev = 0;
	if (!c->reading_paused && !c->held && c->state != CONN_CLOSING)
		ev |= POLLIN;
	if (want_write || c->state == CONN_CONNECTING)
		ev |= POLLOUT;
	loop_mod(c->loop, c->fd, ev);
}

/* Writes queued bytes until none are left (1), the socket is full (0, and
 * POLLOUT is asked for), or the write fails (-1). A write the library could
 * not finish is retried with the same length, as mbedTLS requires. */
static int write_queued(struct conn *c)
{
	while (c->outoff < c->outlen) {
		if (c->pending == 0) {
			size_t n = c->outlen - c->outoff;
			c->pending = n > CONN_CHUNK ? CONN_CHUNK : n;
		}
		ssize_t n = tls_write(c->tls, c->out + c->outoff, c->pending);
		if (n == TLS_WANT_WRITE || n == TLS_WANT_READ) {
			set_interest(c, 1);
			return 0;
		}
		if (n < 0)
			return -1;
		c->outoff += (size_t)n;
		c->pending = 0;
	}
	return 1;
}

/* Writes what is queued. 0 when all is out or the socket is full, -1 when
 * the connection failed (already aborted). */
static int flush(struct conn *c)
{
	int rc = write_queued(c);
	if (rc < 0) {
		char why[160];
		snprintf(why, sizeof why, "write failed: %s", tls_error(c->tls));
		conn_abort(c, why);
		return -1;
	}
	if (rc == 0)
		return 0;
	wipe_free(c->out, c->outcap);
	c->out = NULL;
	c->outoff = c->outlen = c->outcap = 0;
	if (c->reading_paused) {
		c->reading_paused = 0;
		/* Records may already wait inside the library: read them now. */
		if (c->state == CONN_OPEN)
			on_io(c->loop, c->fd, POLLIN, c);
		if (c->state == CONN_DEAD)
			return -1;
	}
	set_interest(c, 0);
	return 0;
}

static void flush_later(struct loop *l, void *arg)
{
	struct conn *c = arg;
	(void)l;
	c->flush_queued = 0;
	if (c->state == CONN_OPEN)
		flush(c);
}

static void deadline_passed(struct loop *l, void *arg);

/* The sender may be walking a list that the close would change (presence
 * fan-out), so the connection ends from a timer, not inside the call. */
static int overflow(struct conn *c, const char *why)
{
	if (!c->overflow) {
		c->overflow = 1;
		c->deadline_why = why;
		loop_timer_set(c->loop, &c->deadline, 0, deadline_passed, c);
	}
	return -1;
}

int conn_send(struct conn *c, const char *fmt, ...)
{
	if (c->state != CONN_OPEN || c->overflow)
		return -1;
	char line[PROTO_LINE_MAX * 2];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof line - 1, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof line - 1)
		return -1;
	line[n++] = '\n';
	size_t need = c->outlen + (size_t)n;
	if (need - c->outoff > c->max_out)
		return overflow(c, "output buffer full (peer is not reading)");
	if (need > c->outcap) {
		if (c->outoff > 0 && c->pending == 0) {
			memmove(c->out, c->out + c->outoff, c->outlen - c->outoff);
			c->outlen -= c->outoff;
			c->outoff = 0;
			need = c->outlen + (size_t)n;
		}
		size_t cap = c->outcap ? c->outcap : 512;
		while (cap < need)
			cap *= 2;
		if (cap != c->outcap) {
			char *p = realloc(c->out, cap);
			if (p == NULL)
				return overflow(c, "out of memory");
			c->out = p;
			c->outcap = cap;
		}
	}
	memcpy(c->out + c->outlen, line, (size_t)n);
	c->outlen += (size_t)n;
	/* A reader that lags by half its allowance stops being read from. */
	if (conn_queued(c) > c->max_out / 2)
		c->reading_paused = 1;
	if (!c->flush_queued) {
		c->flush_queued = 1;
		if (loop_defer(c->loop, flush_later, c) < 0) {
			c->flush_queued = 0;
			return flush(c);
		}
	}
	return 0;
}

static void drain(struct conn *c)
{
	char buf[4096];
	for (;;) {
		ssize_t n = recv(c->fd, buf, sizeof buf, 0);
		if (n > 0)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
			return;
		finish(c); /* end of stream or an error */
		return;
	}
}

/* A closing connection: once its last lines are out (or cannot go), say
 * close_notify and close; while the socket is full, on_io comes back. */
static void close_when_flushed(struct conn *c)
{
	if (c->draining) {
		drain(c);
		return;
	}
	if (write_queued(c) == 0)
		return;
	tls_close_notify(c->tls);
	shutdown(c->fd, SHUT_WR);
	if (!c->drain_first) {
		finish(c);
		return;
	}
	/* The peer is still sending (the rest of a bad line): closing now
	 * would answer its bytes with a reset, which can destroy our last
	 * reply in its receive queue. Read and discard until its end or the
	 * grace deadline. */
	c->draining = 1;
	c->drain_next = draining;
	if (draining)
		draining->drain_prev = c;
	draining = c;
	loop_mod(c->loop, c->fd, POLLIN);
	drain(c);
}

static void resume_later(struct loop *l, void *arg)
{
	struct conn *c = arg;
	if (c->state == CONN_OPEN && !c->held)
		on_io(l, c->fd, POLLIN, c);
}

void conn_hold(struct conn *c, int hold)
{
	if (c->state != CONN_OPEN || c->held == (unsigned)!!hold)
		return;
	c->held = !!hold;
	set_interest(c, conn_queued(c) > 0);
	if (!hold && loop_defer(c->loop, resume_later, c) < 0)
		conn_abort(c, "out of memory");
}

static void close_grace_over(struct loop *l, void *arg)
{
	(void)l;
	finish(arg);
}

void conn_close(struct conn *c, const char *why)
{
	if (c->state == CONN_DEAD || c->state == CONN_CLOSING)
		return;
	int was_open = c->state == CONN_OPEN;
	notify_close(c, why);
	if (!was_open) {
		finish(c);
		return;
	}
	c->state = CONN_CLOSING;
	loop_timer_set(c->loop, &c->deadline, CONN_CLOSE_GRACE_MS, close_grace_over, c);
	close_when_flushed(c);
}

static void deadline_passed(struct loop *l, void *arg)
{
	struct conn *c = arg;
	(void)l;
	conn_abort(c, c->deadline_why ? c->deadline_why : "deadline passed");
}

void conn_deadline(struct conn *c, unsigned ms, const char *why)
{
	if (c->state == CONN_DEAD || c->state == CONN_CLOSING || c->overflow)
		return;
	if (ms == 0) {
		loop_timer_stop(c->loop, &c->deadline);
		return;
	}
	c->deadline_why = why;
	loop_timer_set(c->loop, &c->deadline, ms, deadline_passed, c);
}

static void bad_line(struct conn *c, enum proto_frame why)
{
	static const char *const names[] = {"", "", "line too long", "NUL byte in line",
	                                    "line is not valid UTF-8"};
	if (c->ops && c->ops->on_bad_line)
		c->ops->on_bad_line(c, why);
	c->drain_first = 1;
	conn_close(c, names[why]);
}

/* Frames and dispatches the lines in buf; keeps a partial line. */
static void dispatch(struct conn *c, char *buf, size_t len)
{
	size_t off = 0;
	while (c->state == CONN_OPEN && !c->reading_paused && !c->held) {
		size_t linelen, used;
		enum proto_frame r = proto_frame(buf + off, len - off, c->max_line, &linelen, &used);
		if (r == PROTO_MORE)
			break;
		if (r != PROTO_LINE) {
			bad_line(c, r);
			return;
		}
		buf[off + linelen] = '\0';
		c->ops->on_line(c, buf + off, linelen);
		off += used;
	}
	if (c->state != CONN_OPEN)
		return;
	size_t rest = len - off;
	if (rest == 0)
		return;
	if ((c->in = malloc(rest)) == NULL) {
		c->inlen = 0;
		conn_abort(c, "out of memory");
		return;
	}
	memcpy(c->in, buf + off, rest);
	c->inlen = rest;
}

static void do_read(struct conn *c);

static void read_later(struct loop *l, void *arg)
{
	struct conn *c = arg;
	(void)l;
	c->read_queued = 0;
	if (c->state == CONN_OPEN)
		do_read(c);
}

static void do_read(struct conn *c)
{
	for (;;) {
		size_t have = c->inlen;
		if (have)
			memcpy(scratch, c->in, have);
		/* Lines already complete in the kept bytes go first (after a
		 * pause there may be several). */
		ssize_t n = 0;
		if (c->reading_paused || c->held)
			return;
		if (have < sizeof scratch && memchr(scratch, '\n', have) == NULL) {
			n = tls_read(c->tls, scratch + have, sizeof scratch - have);
			if (n == TLS_WANT_READ || n == TLS_WANT_WRITE)
				return;
			if (n == 0) {
				conn_abort(c, "connection closed by peer");
				return;
			}
			if (n < 0) {
				char why[160];
				snprintf(why, sizeof why, "read failed: %s", tls_error(c->tls));
				conn_abort(c, why);
				return;
			}
		}
		/* The kept bytes are in the scratch buffer now; dispatch keeps
		 * whatever is left in a buffer of just that size. */
		wipe_free(c->in, have);
		c->in = NULL;
		c->inlen = 0;
		dispatch(c, scratch, have + (size_t)n);
		if (c->state != CONN_OPEN)
			return;
		/* One buffer's worth per pass: what this sent to others gets
		 * flushed before the rest is read (a flood of presence changes
		 * must not pile up in a reader's queue), and other connections
		 * get their turn. The socket wakes poll() again; bytes already
		 * inside the library do not, so come back for those. */
		if (tls_pending(c->tls) == 0)
			return;
		if (!c->read_queued) {
			c->read_queued = 1;
			if (loop_defer(c->loop, read_later, c) < 0)
				c->read_queued = 0;
			else
				return;
		}
	}
}

static void handshake(struct conn *c)
{
	int rc = tls_handshake(c->tls);
	if (rc == TLS_WANT_READ || rc == TLS_WANT_WRITE) {
		loop_mod(c->loop, c->fd, rc == TLS_WANT_READ ? POLLIN : POLLOUT);
		return;
	}
	if (rc < 0) {
		char why[160];
		snprintf(why, sizeof why, "TLS handshake failed: %s", tls_error(c->tls));
		conn_abort(c, why);
		return;
	}
	c->state = CONN_OPEN;
	set_interest(c, 0);
	if (c->ops->on_open)
		c->ops->on_open(c);
	if (c->state == CONN_OPEN)
		do_read(c);
}

static void on_io(struct loop *l, int fd, int revents, void *arg)
{
	struct conn *c = arg;
	(void)l;
	(void)fd;
	switch (c->state) {
	case CONN_CONNECTING: {
		int err = net_connect_error(c->fd, revents);
		if (err != 0) {
			char why[160];
			snprintf(why, sizeof why, "connect failed: %s", strerror(err));
			conn_abort(c, why);
			return;
		}
		describe_peer(c);
		c->state = CONN_HANDSHAKE;
		handshake(c);
		return;
	}
	case CONN_HANDSHAKE:
		handshake(c);
		return;
	case CONN_OPEN:
		/* An error is reported even when POLLIN is off; not reading
		 * would leave it firing, so end here. */
		if ((revents & (POLLERR | POLLHUP)) && (c->held || c->reading_paused)) {
			conn_abort(c, "connection lost");
			return;
		}
		if ((revents & POLLOUT) && flush(c) < 0)
			return;
		if (c->state == CONN_OPEN && (revents & (POLLIN | POLLHUP | POLLERR)))
			do_read(c);
		return;
	case CONN_CLOSING:
		close_when_flushed(c);
		return;
	case CONN_DEAD:
		return;
	}
}
