/* conn: one TLS connection in the poll loop, for the server's clients, the
 * client's server link and peer links alike: state, handshake, line framing
 * with its hard limit, a bounded output queue, a deadline, one close path. */
#ifndef IM_CONN_H
#define IM_CONN_H

#include <stddef.h>

#include "loop.h"
#include "proto.h"
#include "tls.h"

enum conn_state {
	CONN_CONNECTING, /* our non-blocking connect() is under way */
	CONN_HANDSHAKE,
	CONN_OPEN,
	CONN_CLOSING, /* flushing what is queued, then close_notify */
	CONN_DEAD,    /* closed; freed after the loop pass */
};

struct conn;

struct conn_ops {
	/* The handshake finished; the owner checks tls_peer_key() here. */
	void (*on_open)(struct conn *c);
	/* One line, without its newline, NUL-terminated, valid UTF-8. The
	 * buffer is the connection's; it may be modified in place. */
	void (*on_line)(struct conn *c, char *line, size_t len);
	/* A line that cannot be framed (too long, NUL, bad UTF-8); the owner
	 * may queue a last reply; the connection closes right after. */
	void (*on_bad_line)(struct conn *c, enum proto_frame why);
	/* Called exactly once when the connection ends, for any reason; after
	 * it returns the owner must forget c (it is freed after the pass). */
	void (*on_close)(struct conn *c, const char *why);
};

struct conn {
	enum conn_state state;
	int fd;
	struct tls *tls;
	struct loop *loop;
	const struct conn_ops *ops;
	void *owner;
	char ip[48];   /* the peer's address, text, no brackets */
	char peer[64]; /* "ip:port" or "[ip]:port", for logs */
	unsigned port;
	char *in; /* a partial line, allocated only while one waits */
	size_t inlen, max_line;
	char *out; /* queued output, allocated only while some waits */
	size_t outoff, outlen, outcap, max_out;
	size_t pending; /* length of a TLS write that must be retried */
	struct loop_timer deadline;
	const char *deadline_why;
	unsigned reading_paused : 1, flush_queued : 1, held : 1, overflow : 1, read_queued : 1;
	struct conn *drain_prev, *drain_next;
	unsigned drain_first : 1, draining : 1;
};

/* Takes ownership of connected (or, with connecting set, connecting)
 * non-blocking socket fd and starts the TLS handshake in the loop.
 * Returns NULL (fd closed) when out of memory. */
struct conn *conn_new(struct loop *l, int fd, struct tls_cfg *cfg, int connecting, const struct conn_ops *ops,
                      void *owner, size_t max_line, size_t max_out);

/* Queues one line (the newline is added). A queue that would pass max_out
 * drops the line and aborts the connection from a timer
 * ("output buffer full"), never inside this call. Returns 0, or -1 if the
 * line was not queued. */
int conn_send(struct conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Ends the connection: on_close(why) now, then what is queued is flushed
 * (bounded by a short deadline), close_notify sent and the socket closed. */
void conn_close(struct conn *c, const char *why);

/* Ends the connection now, dropping what is queued. */
void conn_abort(struct conn *c, const char *why);

/* Aborts the connection with why after ms milliseconds; 0 disarms. */
void conn_deadline(struct conn *c, unsigned ms, const char *why);

/* Holds (1) or resumes (0) the delivery of lines, e.g. while a password
 * is checked; lines that arrive meanwhile wait, in order. */
void conn_hold(struct conn *c, int hold);

/* Closes at once the connections still reading out a peer's last bytes
 * after a close (kept open so our last reply is not lost to a reset); for
 * a program's exit path. */
void conn_reap(void);

/* Bytes queued and not yet written. */
size_t conn_queued(const struct conn *c);

#endif
