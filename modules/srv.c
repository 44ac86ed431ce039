/* srv: the presence server: listening sockets, the login channel protocol
 * (version 1 and 1.1: VERSION, the CALL and PUNCH relays), connection
 * limits, signals, start-up. Who may log in is auth.c's; the probes behind
 * REACH are reach.c's. */
#include "srv.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <mbedtls/platform_util.h>

#include "auth.h"
#include "conf.h"
#include "conn.h"
#include "hmap.h"
#include "log.h"
#include "loop.h"
#include "net.h"
#include "notify.h"
#include "paths.h"
#include "pool.h"
#include "proto.h"
#include "reach.h"
#ifdef IM_CLUSTER
#include "cluster.h"
#include "redis.h"
#endif
#include "sess.h"
#include "tls.h"
#include "tokens.h"
#include "users.h"
#include "version.h"

#define SRV_MAX_LISTEN   8
#define SRV_WINDOW_MS    60000 /* contact-change counting window */
#define SRV_ACCEPT_BURST 64
#define SRV_SNDBUF       65536 /* bytes; the kernel doubles it */
#define SRV_TRIM_MIN     16    /* connections: below this a trim is not worth it */

enum client_state { CL_AUTH, CL_CHECKING, CL_READY };

/* Connections from one address, or one IPv6 network (ipv6_prefix). */
struct ipcount {
	char key[AUTH_IPKEY_MAX]; /* auth_ip_key() */
	int conns, unauth;
	struct reach_ip probes; /* its sessions' reachability probes */
};

struct client {
	struct client *prev, *next;
	struct srv *srv;
	struct conn *c;
	enum client_state state;
	struct sess *sess;
	struct auth_job *job;
	struct ipcount *ipc;
	int unauth;
	int changes, changes_allowed; /* contact changes in this window */
	int changes_warned;           /* the refusal is logged once a window */
	uint64_t changes_start;
	struct client *uprev, *unext; /* on srv's unauthenticated list, oldest first */
	uint64_t born;                /* loop time of the accept */
	int v11;                      /* the connection said VERSION 1.1 (or later) */
	int version_chosen;           /* it said a VERSION that was accepted: no other */
	struct reach_req probe;       /* its reachability probe */
	int calls, calls_warned;      /* CALL and PUNCH lines in this window */
	uint64_t calls_start;
};

struct srv {
	const struct conf_server *cf;
	struct proto_nets lan_nets; /* cf->lan_nets, parsed */
	struct loop *loop;
	struct tls_cfg *tls;
	struct pool *pool;
	struct sess_table sessions;
	struct auth *auth;
	struct reach *reach;
	struct hmap per_ip;
	struct client *clients;
	struct client *uhead, *utail; /* not logged in yet, oldest first */
	int nconns, nunauth;
	int conns_high; /* most connections since the heap was last trimmed */
	int lfd[SRV_MAX_LISTEN], nlisten;
	char ltext[SRV_MAX_LISTEN][96]; /* "ADDRESS:PORT", logged once ready */
	int lock_fd;
	char users_path[CONF_PATH_MAX + 8];
	struct loop_timer accept_timer, log_timer, trim_timer;
	int stopping;
	const struct conf_cluster *clu;
#ifdef IM_CLUSTER
	char redis_password[CONF_STR_MAX]; /* the first line of redis_password_file */
	struct redis *redis;               /* NULL: cluster mode off */
	struct cluster *cluster;           /* the shared session map, with redis */
	char node_id[80];                  /* clu->node_id or <hostname>:<port> */
	char node_key[160];                /* "<prefix>node:<id>" */
	char node_val[160];                /* "<unix-time-started> <host:port>" */
	int redis_seen;                    /* it was up once: a down is "lost", the next up "back" */
	int password_loose;                /* redis_password_file can be read by others */
	int node_sets;                     /* node records written: the first may replace a past run's */
	int node_twin_said;                /* a second node with this node_id was logged */
	struct loop_timer node_timer;
#endif
};

static void unauth_done(struct client *cl)
{
	struct srv *s = cl->srv;
	if (cl->unauth) {
		cl->unauth = 0;
		s->nunauth--;
		cl->ipc->unauth--;
		if (cl->uprev)
			cl->uprev->unext = cl->unext;
		else
			s->uhead = cl->unext;
		if (cl->unext)
			cl->unext->uprev = cl->uprev;
		else
			s->utail = cl->uprev;
		cl->uprev = cl->unext = NULL;
	}
}

/* ---- the connection's life ---- */

/* glibc keeps freed memory in its heap while a later allocation sits above
 * it, so after a burst of connections the peak's RSS would stay for good;
 * malloc_trim() hands the free pages back. (musl returns them itself.) */
static void trim_heap(struct loop *l, void *arg)
{
	(void)l;
	(void)arg;
#ifdef __GLIBC__
	malloc_trim(0);
#endif
}

static void client_free(struct client *cl)
{
	struct srv *s = cl->srv;
	unauth_done(cl);
	s->nconns--;
	/* Each time the connections halve, once their memory is freed. */
	if (s->conns_high >= SRV_TRIM_MIN && (s->nconns == 0 || s->nconns <= s->conns_high / 2)) {
		s->conns_high = s->nconns;
		loop_timer_set(s->loop, &s->trim_timer, 100, trim_heap, s);
	}
	if (--cl->ipc->conns == 0) {
		hmap_del(&s->per_ip, cl->ipc->key);
		free(cl->ipc);
	}
	if (cl->prev)
		cl->prev->next = cl->next;
	else
		s->clients = cl->next;
	if (cl->next)
		cl->next->prev = cl->prev;
	free(cl);
}

static void on_close(struct conn *c, const char *why)
{
	struct client *cl = c->owner;
	if (cl->job)
		auth_cancel(cl->job);
	reach_cancel(&cl->probe);
	if (cl->sess && cl->srv->stopping) {
		/* Not an OFFLINE for anyone: everyone's link is closing, and
		 * their peer conversations should carry on. sess_free() clears
		 * the records and files. */
		log_audit("drop %s from %s: %s", cl->sess->name, c->peer, why);
	} else if (cl->sess) {
		if (strcmp(why, "logout") == 0)
			log_audit("logout %s from %s", cl->sess->name, c->peer);
		else
			log_audit("drop %s from %s: %s", cl->sess->name, c->peer, why);
		sess_logout(&cl->srv->sessions, cl->sess);
		cl->sess = NULL;
	} else if (strcmp(why, "logout") == 0 || strcmp(why, "connection closed by peer") == 0) {
		log_debug("closed %s: %s", c->peer, why);
	} else {
		/* A timeout, a refused handshake, a bad line: operators see it. */
		log_info("drop %s before login: %s", c->peer, why);
	}
	client_free(cl);
}

static void on_open(struct conn *c)
{
	struct client *cl = c->owner;
	struct srv *s = cl->srv;
	log_debug("handshake done with %s (%s)", c->peer, tls_describe(c->tls));
	/* TLS is done within handshake_timeout; the login's own deadline
	 * still counts from the accept. */
	uint64_t spent = loop_now(s->loop) - cl->born, total = (uint64_t)s->cf->login_timeout * 1000;
	conn_deadline(c, spent < total ? (unsigned)(total - spent) : 1, "login timeout");
	if (s->nconns > s->cf->max_connections || cl->ipc->conns > s->cf->max_connections_per_ip) {
		log_warn("refusing %s: server full (%d connections, %d from this address)", c->peer,
		         s->nconns, cl->ipc->conns);
		conn_send(c, "ERR 503 server full");
		conn_close(c, "server full");
		return;
	}
	conn_send(c, "IM 1 %s", s->cf->server_name);
}

static void on_bad_line(struct conn *c, enum proto_frame why)
{
	static const char *const text[] = {"", "", "line too long", "NUL byte in line",
	                                   "line is not valid UTF-8"};
	conn_send(c, "ERR 400 %s", text[why]);
}

/* A login (LOGIN, SIGNUP, RESUME) for name was decided as good: a session
 * for cl, the older session of the name kicked, OK and a fresh resume
 * token sent. counted: a failure was counted when it started. 0, or -1
 * with ERR sent. */
static int logged_in(struct client *cl, const char *name, const char *what, const char *ipk, int counted)
{
	struct srv *s = cl->srv;
	struct conn *c = cl->c;
	struct sess *old = sess_find(&s->sessions, name);
	time_t after = 0;
	if (old && old->c == NULL) {
		/* Another node's session (cluster mode): that node kicks it
		 * when it hears of this login; here it ends as a kicked one
		 * does (OFFLINE to its contacts). This login must be the newer
		 * one everywhere, whatever the nodes' clocks say. */
		after = old->login + 1;
		sess_logout(&s->sessions, old);
	} else if (old) {
		conn_send(old->c, "KICKED logged in again from %s", c->ip);
		conn_close(old->c, "replaced by a newer login");
	}
	cl->sess = sess_login(&s->sessions, name, c);
	if (cl->sess == NULL) {
		conn_send(c, "ERR 503 server out of memory");
		return -1;
	}
	if (cl->sess->login < after)
		cl->sess->login = after;
	cl->state = CL_READY;
	sess_set_version(&s->sessions, cl->sess, cl->v11);
	unauth_done(cl);
	auth_succeeded(s->auth, ipk, name, counted);
	cl->changes_start = loop_now(s->loop);
	cl->changes = 0;
	cl->changes_warned = 0;
	/* The list a client uploads at login is not churn. */
	cl->changes_allowed = s->cf->max_contacts + s->cf->max_contact_changes;
	cl->calls_start = cl->changes_start;
	cl->calls = 0;
	cl->calls_warned = 0;
	log_audit("%s %s from %s", what, name, c->peer);
	conn_send(c, "OK %s", name);
	char token[TOKENS_TEXT_LEN + 1];
	if (s->cf->allow_resume) {
		if (auth_token_issue(s->auth, name, token) == 0)
			conn_send(c, "TOKEN %s", token);
		else
			log_warn("no resume token for %s from %s: %s", name, c->peer,
			         auth_clustered(s->auth) ? "the accounts store (redis) is unreachable"
			                                 : "out of memory or no random numbers");
		mbedtls_platform_zeroize(token, sizeof token);
	}
	conn_deadline(c, (unsigned)s->cf->keepalive_timeout * 1000, "keepalive timeout");
	return 0;
}

static void refuse_taken(struct conn *c, const char *name)
{
	log_warn("failed signup for %s from %s: name taken", name, c->peer);
	conn_send(c, "ERR 409 name taken");
}

static void login_done(void *owner, const struct auth_outcome *o)
{
	struct client *cl = owner;
	struct srv *s = cl->srv;
	struct conn *c = cl->c;
	cl->job = NULL;
	cl->state = CL_AUTH;
	const char *what = o->resume ? "resume" : o->signup ? "signup" : "login";
	switch (o->result) {
	case AUTH_OK:
		logged_in(cl, o->name, what, o->ipk, !o->signup && !o->resume);
		break;
	case AUTH_BAD:
		if (o->resume) {
			log_warn("failed resume for %s from %s: bad name or token", o->name, c->peer);
			conn_send(c, "ERR 401 bad name or token");
			break;
		}
		log_warn("failed login for %s from %s: bad name or password", o->name, c->peer);
		conn_send(c, "ERR 401 bad name or password");
		break;
	case AUTH_UNAVAILABLE:
		log_warn("%s for %s from %s: the accounts store (redis) did not answer", what, o->name,
		         c->peer);
		conn_send(c, "ERR 503 cannot %s now: the accounts store is unreachable, try again later",
		          what);
		break;
	case AUTH_LIMITED:
		log_warn("too many failed logins for this name on all nodes: refusing login for %s from %s",
		         o->name, c->peer);
		conn_send(c, "ERR 429 too many attempts, wait a minute");
		break;
	case AUTH_DELETED:
		log_warn("login for %s from %s: the account was deleted meanwhile", o->name, c->peer);
		conn_send(c, "ERR 401 bad name or password");
		break;
	case AUTH_EXISTS:
		refuse_taken(c, o->name);
		break;
	case AUTH_IOERR:
		log_err("%s for %s from %s: users file %s: %s", what, o->name, c->peer,
		        auth_users_path(s->auth), strerror(o->err));
		conn_send(c, "ERR 503 cannot %s now: the server cannot use its users file", what);
		break;
	}
	conn_hold(c, 0);
}

static void start_auth(struct client *cl, int signup, const char *name, const char *pw)
{
	struct srv *s = cl->srv;
	struct conn *c = cl->c;
	char ipk[AUTH_IPKEY_MAX];
	auth_ip_key(s->auth, c->ip, ipk);
	const char *over = auth_too_many_failures(s->auth, ipk, name);
	if (over) {
		log_warn("too many failed logins %s: refusing %s for %s from %s", over,
		         signup ? "signup" : "login", name, c->peer);
		conn_send(c, "ERR 429 too many attempts, wait a minute");
		return;
	}
	if (signup) {
		switch (auth_signup_check(s->auth, ipk, name)) {
		case AUTH_SIGNUP_RATE:
			log_warn("too many sign-ups from this address: refusing signup for %s from %s", name,
			         c->peer);
			conn_send(c, "ERR 429 too many sign-ups from this address, try again later");
			return;
		case AUTH_SIGNUP_TAKEN:
			refuse_taken(c, name);
			return;
		case AUTH_SIGNUP_NOSTORE:
			log_warn("refusing signup for %s from %s: the accounts store (redis) is unreachable",
			         name, c->peer);
			conn_send(c, "ERR 503 sign-up is unavailable: the accounts store is unreachable, try "
			             "again later");
			return;
		case AUTH_SIGNUP_GO:
			break;
		}
	}
	/* What is left of login_timeout, counted from the accept. */
	uint64_t spent = loop_now(s->loop) - cl->born, total = (uint64_t)s->cf->login_timeout * 1000;
	enum auth_refusal why;
	cl->job = auth_submit(s->auth, signup, name, ipk, pw, spent < total ? (unsigned)(total - spent) : 0,
	                      login_done, cl, &why);
	if (cl->job == NULL && why == AUTH_NOSTORE) {
		log_warn("refusing login for %s from %s: the accounts store (redis) is unreachable and the "
		         "account was not read here before",
		         name, c->peer);
		conn_send(c, "ERR 503 cannot log in now: accounts unavailable, try again later");
		return;
	}
	if (cl->job == NULL && why == AUTH_BUSY) {
		log_warn("refusing %s for %s from %s: server busy (the password checks queued would not "
		         "finish within login_timeout)",
		         signup ? "signup" : "login", name, c->peer);
		conn_send(c, "ERR 503 server busy, try again in a few seconds");
		return;
	}
	if (cl->job == NULL) {
		conn_send(c, "ERR 503 server out of memory");
		return;
	}
	cl->state = CL_CHECKING;
	/* Lines sent behind the login wait until it is decided. */
	conn_hold(c, 1);
}

/* ---- the protocol ---- */

static void cmd_login(struct client *cl, char *args, int signup)
{
	struct conn *c = cl->c;
	const struct conf_server *cf = cl->srv->cf;
	char *tok[2];
	char name[PROTO_NAME_MAX + 1];
	const char *cmd = signup ? "SIGNUP" : "LOGIN";
	if (cl->state == CL_READY) {
		conn_send(c, "ERR 403 already logged in");
		return;
	}
	if (args == NULL || proto_split(args, tok, 2) != 2) {
		conn_send(c, "ERR 400 usage: %s <name> <password>", cmd);
		return;
	}
	if (proto_name_fold(tok[0], name) < 0) {
		conn_send(
		    c, signup
		           ? "ERR 401 invalid name (1-32 of a-z 0-9 _ . -, starting with a letter or digit)"
		           : "ERR 401 bad name or password");
		goto out;
	}
	if (signup && !cf->allow_signup) {
		conn_send(c, "ERR 403 sign-up is disabled on this server");
		goto out;
	}
	if (signup && proto_utf8_chars(tok[1], strlen(tok[1])) < (size_t)cf->min_password_length) {
		conn_send(c, "ERR 401 password too short (at least %d characters)", cf->min_password_length);
		goto out;
	}
	start_auth(cl, signup, name, tok[1]);
out:
	mbedtls_platform_zeroize(tok[1], strlen(tok[1]));
}

/* RESUME <name> <token>: answered here in the loop (a SHA-256, no
 * password hash). Only the address's failure limit applies: a bad token
 * counts as a failed login, but the per-name lockout never stops the
 * owner's valid token. */
static void cmd_resume(struct client *cl, char *args)
{
	struct srv *s = cl->srv;
	struct conn *c = cl->c;
	char *tok[2];
	char name[PROTO_NAME_MAX + 1], ipk[AUTH_IPKEY_MAX];
	if (cl->state == CL_READY) {
		conn_send(c, "ERR 403 already logged in");
		return;
	}
	if (args == NULL || proto_split(args, tok, 2) != 2 || strchr(tok[1], ' ')) {
		conn_send(c, "ERR 400 usage: RESUME <name> <token>");
		return;
	}
	if (!tokens_text_valid(tok[1])) {
		conn_send(c, "ERR 400 bad token: want %d characters of base64url", TOKENS_TEXT_LEN);
		goto out;
	}
	if (proto_name_fold(tok[0], name) < 0) {
		conn_send(c, "ERR 401 bad name or token");
		goto out;
	}
	if (!s->cf->allow_resume) {
		log_info("refusing resume for %s from %s: allow_resume is off", name, c->peer);
		conn_send(c, "ERR 401 resume is disabled on this server, log in with the password");
		goto out;
	}
	auth_ip_key(s->auth, c->ip, ipk);
	const char *over = auth_too_many_failures_ip(s->auth, ipk);
	if (over) {
		log_warn("too many failed logins %s: refusing resume for %s from %s", over, name, c->peer);
		conn_send(c, "ERR 429 too many attempts, wait a minute");
		goto out;
	}
	if (auth_clustered(s->auth)) {
		/* answered from Redis: the token may be another node's */
		enum auth_refusal why;
		cl->job = auth_resume_submit(s->auth, name, tok[1], ipk, login_done, cl, &why);
		if (cl->job == NULL) {
			log_warn("refusing resume for %s from %s: %s", name, c->peer,
			         why == AUTH_NOSTORE ? "the accounts store (redis) is unreachable"
			                             : "out of memory");
			conn_send(c, why == AUTH_NOSTORE ? "ERR 503 cannot resume now: the accounts store is "
			                                   "unreachable, try again later"
			                                 : "ERR 503 server out of memory");
			goto out;
		}
		cl->state = CL_CHECKING;
		conn_hold(c, 1);
		goto out;
	}
	if (auth_resume(s->auth, name, tok[1], ipk) < 0) {
		log_warn("failed resume for %s from %s: bad name or token", name, c->peer);
		conn_send(c, "ERR 401 bad name or token");
		goto out;
	}
	logged_in(cl, name, "resume", ipk, 0);
out:
	mbedtls_platform_zeroize(tok[1], strlen(tok[1]));
}

/* Probes cl's announced port (only a 1.1 session's: no one else hears
 * REACH). With probing off or over the rate it is unknown, and the client
 * is told so at once: the REACH about itself also tells it its observed
 * address. */
static void probe(struct client *cl)
{
	struct srv *s = cl->srv;
	struct sess *se = cl->sess;
	if (!se->v11)
		return;
	if (!s->cf->reach_probe ||
	    reach_ask(s->reach, &cl->probe, cl, se->name, se->ip, se->port, &cl->ipc->probes) < 0) {
		/* A probe of the port before may still run: its result would
		 * be taken for this one's. */
		reach_cancel(&cl->probe);
		sess_set_reach(&s->sessions, se, REACH_UNKNOWN);
	}
}

static void probe_done(void *owner, enum reach_state st)
{
	struct client *cl = owner;
	if (cl->sess)
		sess_set_reach(&cl->srv->sessions, cl->sess, st);
}

static void cmd_peer(struct client *cl, char *args)
{
	struct conn *c = cl->c;
	char *tok[4];
	unsigned port;
	int n = args ? proto_split(args, tok, 4) : 0;
	if (n < 2 || n > 3 || (n == 3 && strchr(tok[2], ' '))) {
		conn_send(c, "ERR 400 usage: PEER <port> <key> [<lan-ip>]");
		return;
	}
	if (proto_port(tok[0], &port) < 0) {
		conn_send(c, "ERR 400 bad port: %s", tok[0]);
		return;
	}
	if (!proto_key_valid(tok[1])) {
		conn_send(c, "ERR 400 bad key: want 64 lower-case hex digits");
		return;
	}
	if (n == 3 && !proto_ip_valid(tok[2])) {
		conn_send(c, "ERR 400 bad lan address: %.64s", tok[2]);
		return;
	}
	/* Peers dial it: loopback, multicast and the like would let one
	 * contact aim the others at their own host or at anyone. */
	if (n == 3 && !proto_lan_ip_ok(tok[2], &cl->srv->lan_nets)) {
		conn_send(c,
		          "ERR 400 lan address %s is not a private, link-local or unique-local address "
		          "(10/8, 172.16/12, 192.168/16, 169.254/16, fc00::/7, fe80::/10)%s",
		          tok[2], cl->srv->lan_nets.n ? " nor in the server's lan_nets" : "");
		return;
	}
	struct sess *se = cl->sess;
	/* A new port is probed (the old result says nothing about it), and
	 * until the probe is done its state is unknown: what the ONLINE that
	 * the new port causes is followed by. */
	int moved = se->port != port;
	if (moved)
		se->reach = REACH_UNKNOWN;
	conn_send(c, "OK");
	sess_set_peer(&cl->srv->sessions, se, port, tok[1], n == 3 ? tok[2] : "");
	if (moved)
		probe(cl);
}

/* VERSION <v>, any time, once: the connection speaks what the reply
 * says for the rest of its life. A second one is refused: switching
 * 1.1 off and on again would resend REACH lines to the client and its
 * contacts without limit. */
static void cmd_version(struct client *cl, char *args)
{
	struct conn *c = cl->c;
	unsigned major, minor;
	if (cl->version_chosen) {
		conn_send(c, "ERR 400 version already chosen: %s", cl->v11 ? "1.1" : "1");
		return;
	}
	if (args == NULL || proto_version(args, &major, &minor) < 0) {
		conn_send(c, "ERR 400 usage: VERSION <major.minor>");
		return;
	}
	if (major < 1) {
		conn_send(c, "ERR 400 version %u.%u is not spoken here (this server speaks 1 and 1.1)", major,
		          minor);
		return;
	}
	int v11 = major > 1 || minor >= 1;
	conn_send(c, v11 ? "OK 1.1" : "OK 1");
	cl->version_chosen = 1;
	cl->v11 = v11;
	if (cl->sess == NULL || !v11)
		return;
	struct sess *se = cl->sess;
	sess_set_version(&cl->srv->sessions, se, v11);
	/* A 1.1 client after its PEER: it was just told its state; a probe
	 * over the rate leaves that as it is. */
	if (se->port && cl->srv->cf->reach_probe)
		(void)reach_ask(cl->srv->reach, &cl->probe, cl, se->name, se->ip, se->port, &cl->ipc->probes);
}

/* Charges one CALL or PUNCH line: 0, or -1 with ERR 429 sent. */
static int charge_calls(struct client *cl)
{
	struct srv *s = cl->srv;
	uint64_t now = loop_now(s->loop);
	if (now - cl->calls_start >= SRV_WINDOW_MS) {
		cl->calls_start = now;
		cl->calls = 0;
		cl->calls_warned = 0;
	}
	if (cl->calls < s->cf->max_calls) {
		cl->calls++;
		return 0;
	}
	if (!cl->calls_warned) {
		log_warn("too many CALL and PUNCH lines from %s at %s (max_calls %d a minute): refusing them "
		         "for the rest of the minute",
		         cl->sess->name, cl->c->peer, s->cf->max_calls);
		cl->calls_warned = 1;
	}
	conn_send(cl->c, "ERR 429 too many calls, wait a minute");
	return -1;
}

/* Asks o's node (o is another node's session) to tell o of me's CALL or
 * PUNCH: 0, or -1 when it cannot be reached. */
static int relay(struct srv *s, const struct sess *o, const struct sess *me, int punch)
{
#ifdef IM_CLUSTER
	if (s->cluster != NULL)
		return cluster_relay(s->cluster, o, me, punch);
#endif
	(void)s;
	(void)o;
	(void)me;
	(void)punch;
	return -1;
}

/* CALL <name> / PUNCH <name> (protocol 1.1): relays the request to a
 * mutual 1.1 contact online. The server carries who and where, never
 * anything a user wrote: the names are checked, the addresses its own. */
static void cmd_call(struct client *cl, char *args, int punch)
{
	struct srv *s = cl->srv;
	struct conn *c = cl->c;
	struct sess *me = cl->sess;
	const char *cmd = punch ? "PUNCH" : "CALL";
	char name[PROTO_NAME_MAX + 1];
	if (args == NULL || strchr(args, ' ') || proto_name_fold(args, name) < 0) {
		conn_send(c, "ERR 400 usage: %s <name>", cmd);
		return;
	}
	if (me->port == 0) {
		conn_send(c, "ERR 403 send PEER first");
		return;
	}
	if (charge_calls(cl) < 0)
		return;
	/* One answer for offline, one-sided and not yet PEER: it tells no
	 * more than presence does. */
	struct sess *o = sess_find(&s->sessions, name);
	if (o == NULL || !sess_mutual(me, o)) {
		conn_send(c, "ERR 403 %s is not a mutual contact online", name);
		return;
	}
	if (!o->v11) {
		conn_send(c, "ERR 403 %s cannot take calls (protocol 1)", name);
		return;
	}
	if (o->c == NULL && relay(s, o, me, punch) < 0) {
		conn_send(c, "ERR 503 %s is on another server, which cannot be reached now", name);
		return;
	}
	conn_send(c, "OK");
	log_debug("%s from %s to %s", cmd, me->name, o->name);
	if (punch) {
		/* Both in this pass: the simultaneous open needs both ends
		 * dialling at about the same moment. */
		conn_send(c, "PUNCH %s %s %u", o->name, o->ip, o->port);
		if (o->c)
			conn_send(o->c, "PUNCH %s %s %u", me->name, me->ip, me->port);
	} else if (o->c) {
		conn_send(o->c, "CALL %s", me->name);
	}
}

/* Charges cost contact changes to cl's session: 0, or -1 with ERR 429 sent
 * when this minute's allowance is spent. An ADD/DEL loop then costs the
 * server one short reply per line, and the user it names nothing. A line
 * that costs more than a whole minute's allowance (a CONTACTS swapping a
 * long list) goes through when the minute has had no changes yet, and
 * spends all of it: otherwise it could never go through. */
static int charge_changes(struct client *cl, size_t cost)
{
	struct srv *s = cl->srv;
	uint64_t now = loop_now(s->loop);
	if (now - cl->changes_start >= SRV_WINDOW_MS) {
		cl->changes_start = now;
		cl->changes = 0;
		cl->changes_allowed = s->cf->max_contact_changes;
		cl->changes_warned = 0;
	}
	if (cl->changes == 0 && cost > (size_t)cl->changes_allowed)
		cost = (size_t)cl->changes_allowed;
	if (cost <= (size_t)(cl->changes_allowed - cl->changes)) {
		cl->changes += (int)cost;
		return 0;
	}
	if (!cl->changes_warned) {
		log_warn("too many contact changes from %s at %s: refusing them for the rest of the minute",
		         cl->sess->name, cl->c->peer);
		cl->changes_warned = 1;
	}
	conn_send(cl->c, "ERR 429 too many contact changes, wait a minute");
	return -1;
}

static void cmd_contacts(struct client *cl, char *args)
{
	struct conn *c = cl->c;
	size_t n = 0;
	for (char *p = args; p && *p; p++)
		n += *p == ' ';
	n = args && *args ? n + 1 : 0;
	if (n > (size_t)cl->srv->cf->max_contacts) {
		conn_send(c, "ERR 413 too many contacts (at most %d)", cl->srv->cf->max_contacts);
		return;
	}
	sess_name *names = n ? malloc(n * sizeof *names) : NULL;
	if (n && names == NULL) {
		conn_send(c, "ERR 503 server out of memory");
		return;
	}
	char *save = NULL;
	size_t i = 0;
	for (char *t = args ? strtok_r(args, " ", &save) : NULL; t; t = strtok_r(NULL, " ", &save)) {
		if (proto_name_fold(t, names[i]) < 0) {
			conn_send(c, "ERR 400 bad name: %s", t);
			free(names);
			return;
		}
		i++;
	}
	if (i != n) {
		conn_send(c, "ERR 400 names are separated by one space");
		free(names);
		return;
	}
	size_t cost = sess_contacts_diff(cl->sess, names, &n);
	if (charge_changes(cl, cost ? cost : 1) < 0) {
		free(names);
		return;
	}
	conn_send(c, "OK");
	if (sess_set_contacts(&cl->srv->sessions, cl->sess, names, n) < 0)
		log_warn("out of memory setting the contacts of %s", cl->sess->name);
	free(names);
}

static void cmd_add_del(struct client *cl, char *args, int add)
{
	struct conn *c = cl->c;
	char name[PROTO_NAME_MAX + 1];
	if (args == NULL || strchr(args, ' ')) {
		conn_send(c, "ERR 400 usage: %s <name>", add ? "ADD" : "DEL");
		return;
	}
	if (proto_name_fold(args, name) < 0) {
		conn_send(c, "ERR 400 bad name: %s", args);
		return;
	}
	struct sess *me = cl->sess;
	if (charge_changes(cl, 1) < 0)
		return;
	if (!add) {
		conn_send(c, "OK");
		sess_del(&cl->srv->sessions, me, name);
		return;
	}
	if (!sess_lists(me, name) && me->ncontacts >= (size_t)cl->srv->cf->max_contacts) {
		conn_send(c, "ERR 413 too many contacts (at most %d)", cl->srv->cf->max_contacts);
		return;
	}
	conn_send(c, "OK");
	if (sess_add(&cl->srv->sessions, me, name) < 0)
		log_warn("out of memory adding a contact for %s", me->name);
}

static void on_line(struct conn *c, char *line, size_t len)
{
	struct client *cl = c->owner;
	struct srv *s = cl->srv;
	(void)len;
	if (cl->state == CL_READY)
		conn_deadline(c, (unsigned)s->cf->keepalive_timeout * 1000, "keepalive timeout");
	char *args = strchr(line, ' ');
	if (args)
		*args++ = '\0';
	if (strcmp(line, "PING") == 0) {
		if (args)
			conn_send(c, "PONG %s", args);
		else
			conn_send(c, "PONG");
	} else if (strcmp(line, "LOGIN") == 0) {
		cmd_login(cl, args, 0);
	} else if (strcmp(line, "SIGNUP") == 0) {
		cmd_login(cl, args, 1);
	} else if (strcmp(line, "RESUME") == 0) {
		cmd_resume(cl, args);
	} else if (strcmp(line, "VERSION") == 0) {
		cmd_version(cl, args);
	} else if (cl->v11 && (strcmp(line, "CALL") == 0 || strcmp(line, "PUNCH") == 0)) {
		if (cl->state != CL_READY)
			conn_send(c, "ERR 403 not logged in");
		else
			cmd_call(cl, args, line[0] == 'P');
	} else if (strcmp(line, "LOGOUT") == 0) {
		conn_send(c, "BYE");
		conn_close(c, "logout");
	} else if (strcmp(line, "PEER") == 0 || strcmp(line, "CONTACTS") == 0 || strcmp(line, "ADD") == 0 ||
	           strcmp(line, "DEL") == 0) {
		if (cl->state != CL_READY)
			conn_send(c, "ERR 403 not logged in");
		else if (line[0] == 'P')
			cmd_peer(cl, args);
		else if (line[0] == 'C')
			cmd_contacts(cl, args);
		else
			cmd_add_del(cl, args, line[0] == 'A');
	} else if (line[0] == '\0') {
		conn_send(c, "ERR 400 empty line");
	} else {
		conn_send(c, "ERR 400 unknown command: %.40s", line);
	}
}

static const struct conn_ops client_ops = {on_open, on_line, on_bad_line, on_close};

/* ---- sockets ---- */

static void resume_accept(struct loop *l, void *arg)
{
	struct srv *s = arg;
	for (int i = 0; i < s->nlisten; i++)
		loop_mod(l, s->lfd[i], POLLIN);
}

/* max_unauth is full and a connection from ip (its network's count ipc,
 * NULL when it has none) is waiting: rather than refuse it, evict the
 * oldest connection that is idle before login (in TLS, or not yet sent
 * LOGIN) from the network holding the most unauthenticated connections,
 * when that one holds at least two more than ip's. No network can then
 * lock out another by filling the slots, and an eviction always evens the
 * shares out, so evictions cannot chase each other. 0, or -1 (refuse). */
static int evict_for(struct srv *s, const struct ipcount *ipc, const char *ip)
{
	int mine = ipc ? ipc->unauth : 0;
	struct client *victim = NULL;
	/* One walk, oldest first: a network's first idle connection met is its
	 * oldest. No network holds more than max_unauth_per_ip, so one that
	 * holds that many ends the search. */
	for (struct client *u = s->uhead; u; u = u->unext) {
		if (u->state != CL_AUTH || (victim && u->ipc->unauth <= victim->ipc->unauth))
			continue;
		victim = u;
		if (u->ipc->unauth >= s->cf->max_unauth_per_ip)
			break;
	}
	if (victim == NULL || victim->ipc->unauth < mine + 2)
		return -1;
	log_info("evicting %s (%d not logged in from %s) to make room for %s", victim->c->peer,
	         victim->ipc->unauth, victim->ipc->key, ip);
	conn_abort(victim->c, "evicted: max_unauth is full and its network holds the most");
	return 0;
}

static void on_accept(struct loop *l, int lfd, int revents, void *arg)
{
	struct srv *s = arg;
	(void)revents;
	for (int k = 0; k < SRV_ACCEPT_BURST; k++) {
		char ip[48] = "?";
		int fd = net_accept(lfd, ip, sizeof ip);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE) {
				/* The backlog would keep the listener readable and
				 * the loop spinning: pause accepting for a while. */
				log_warn("accept: %s; pausing new connections for a second", strerror(errno));
				for (int i = 0; i < s->nlisten; i++)
					loop_mod(l, s->lfd[i], 0);
				loop_timer_set(l, &s->accept_timer, 1000, resume_accept, s);
			} else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
			           errno != ECONNABORTED) {
				log_warn("accept: %s", strerror(errno));
			}
			return;
		}
		char key[AUTH_IPKEY_MAX];
		auth_ip_key(s->auth, ip, key);
		struct ipcount *ipc = hmap_get(&s->per_ip, key);
		if (ipc && ipc->unauth >= s->cf->max_unauth_per_ip) {
			log_warn("refusing %s: too many connections not logged in from %s (%d)", ip, key,
			         ipc->unauth);
			close(fd);
			continue;
		}
		if (s->nunauth >= s->cf->max_unauth && evict_for(s, ipc, ip) < 0) {
			log_warn("refusing %s: too many connections not logged in (%d in all, %d from %s)",
			         ip, s->nunauth, ipc ? ipc->unauth : 0, key);
			close(fd);
			continue;
		}
		struct client *cl = calloc(1, sizeof *cl);
		if (ipc == NULL && (ipc = calloc(1, sizeof *ipc)) != NULL) {
			strcpy(ipc->key, key);
			ipc->probes.key = ipc->key;
			if (hmap_put(&s->per_ip, ipc->key, ipc) < 0) {
				free(ipc);
				ipc = NULL;
			}
		}
		if (cl == NULL || ipc == NULL) {
			log_err("out of memory accepting %s", ip);
			free(cl);
			close(fd);
			return;
		}
		int one = 1, idle = 60, intvl = 10, cnt = 3, sndbuf = SRV_SNDBUF;
		setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
		setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
		setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof intvl);
		setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof cnt);
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		/* Presence lines are small: a modest kernel send buffer bounds
		 * what a client that never reads can pin, and lets
		 * max_output_buffer find it. */
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
		cl->srv = s;
		cl->ipc = ipc;
		cl->unauth = 1;
		cl->born = loop_now(l);
		ipc->conns++;
		ipc->unauth++;
		s->nconns++;
		if (s->nconns > s->conns_high)
			s->conns_high = s->nconns;
		s->nunauth++;
		cl->uprev = s->utail;
		if (s->utail)
			s->utail->unext = cl;
		else
			s->uhead = cl;
		s->utail = cl;
		cl->next = s->clients;
		if (s->clients)
			s->clients->prev = cl;
		s->clients = cl;
		cl->c = conn_new(l, fd, s->tls, 0, &client_ops, cl, (size_t)s->cf->max_line,
		                 (size_t)s->cf->max_output_buffer);
		if (cl->c == NULL) {
			log_err("out of memory accepting %s", ip);
			client_free(cl);
			continue;
		}
		/* Finishing TLS gets the shorter handshake_timeout: a slot held
		 * by a silent socket comes free soon (on_open sets the rest). */
		if (s->cf->handshake_timeout < s->cf->login_timeout)
			conn_deadline(cl->c, (unsigned)s->cf->handshake_timeout * 1000, "handshake timeout");
		else
			conn_deadline(cl->c, (unsigned)s->cf->login_timeout * 1000, "login timeout");
	}
}

static void flush_log(struct loop *l, void *arg)
{
	struct srv *s = arg;
	if (log_flush(0))
		loop_timer_set(l, &s->log_timer, 1000, flush_log, s);
}

/* A call site started holding lines back: its summary is due in a second
 * even if nothing else is logged by then. */
static void log_held(void *arg)
{
	struct srv *s = arg;
	if (s->loop && s->log_timer.slot == 0)
		loop_timer_set(s->loop, &s->log_timer, 1000, flush_log, s);
}

static int listen_on(struct srv *s, const char *addr, int port)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	memset(&ss, 0, sizeof ss);
	int any = strcmp(addr, "*") == 0;
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
	char a[64];
	snprintf(a, sizeof a, "%s", addr);
	if (a[0] == '[' && a[strlen(a) - 1] == ']') {
		memmove(a, a + 1, strlen(a));
		a[strlen(a) - 1] = '\0';
	}
	if (any || inet_pton(AF_INET6, a, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((unsigned short)port);
		if (any)
			s6->sin6_addr = in6addr_any;
		sl = sizeof *s6;
	} else if (inet_pton(AF_INET, a, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((unsigned short)port);
		sl = sizeof *s4;
	} else {
		log_err("listen: '%s' is not an IP address (use * for every address)", addr);
		return -1;
	}
	enum net_step step;
	int fd = net_listen(&ss, sl, any, 1, 511, &step);
	if (fd < 0) {
		if (step == NET_SOCKET)
			log_err("socket: %s", strerror(errno));
		else if (step == NET_NAME)
			log_err("getsockname: %s", strerror(errno));
		else
			log_err("cannot listen on %s port %d: %s", addr, port, strerror(errno));
		return -1;
	}
	char text[64], hp[80];
	unsigned bound = 0;
	net_addr_text(&ss, 0, text, sizeof text, &bound);
	net_hostport(hp, sizeof hp, text, bound);
	snprintf(s->ltext[s->nlisten], sizeof s->ltext[0], "%s%s", hp,
	         any && ss.ss_family == AF_INET6 ? " (IPv6 and IPv4)" : "");
	if (loop_add(s->loop, fd, POLLIN, on_accept, s) < 0) {
		close(fd);
		return -1;
	}
	s->lfd[s->nlisten++] = fd;
	return 0;
}

static int listen_all(struct srv *s)
{
	char list[CONF_STR_MAX];
	char *save = NULL;
	snprintf(list, sizeof list, "%s", s->cf->listen);
	for (char *a = strtok_r(list, " ,", &save); a; a = strtok_r(NULL, " ,", &save)) {
		if (s->nlisten == SRV_MAX_LISTEN) {
			log_err("listen: at most %d addresses", SRV_MAX_LISTEN);
			return -1;
		}
		if (listen_on(s, a, s->cf->port) < 0)
			return -1;
	}
	if (s->nlisten == 0) {
		log_err("listen: no address given");
		return -1;
	}
	return 0;
}

/* ---- admin changes, signals ---- */

static void free_val(void *val, void *arg)
{
	(void)arg;
	free(val);
}

struct kick {
	struct auth *auth;
	struct sess **gone;
	size_t n, cap;
};

static void find_deleted(struct sess *se, void *arg)
{
	struct kick *k = arg;
	/* Another node's session is that node's to kick. */
	if (se->c != NULL && !auth_user_exists(k->auth, se->name) && k->n < k->cap)
		k->gone[k->n++] = se;
}

/* The users file was read again: online users who are no longer in it go. */
static void kick_deleted(void *arg)
{
	struct srv *s = arg;
	struct kick k = {s->auth, NULL, 0, s->sessions.by_name.n};
	if (k.cap && (k.gone = malloc(k.cap * sizeof *k.gone)) != NULL)
		sess_each(&s->sessions, find_deleted, &k);
	for (size_t i = 0; i < k.n; i++) {
		log_audit("kicking %s: account deleted", k.gone[i]->name);
		conn_send(k.gone[i]->c, "KICKED account deleted");
		conn_close(k.gone[i]->c, "account deleted");
	}
	free(k.gone);
}

/* The STATUS= a service manager shows (systemctl status). */
static void ready_status(const struct srv *s, char *buf, size_t cap)
{
	size_t n = (size_t)snprintf(buf, cap, "listening on");
	for (int i = 0; i < s->nlisten && n < cap; i++)
		n += (size_t)snprintf(buf + n, cap - n, "%s %s", i ? "," : "", s->ltext[i]);
	if (n < cap)
		snprintf(buf + n, cap - n, "; sign-up %s", s->cf->allow_signup ? "allowed" : "disabled");
}

static void on_hup(struct loop *l, void *arg)
{
	struct srv *s = arg;
	char err[256], status[SRV_MAX_LISTEN * 100];
	(void)l;
	notify_reloading();
	if (auth_clustered(s->auth))
		log_info("SIGHUP: reloading the certificate and the ticket keys (the accounts are read from "
		         "redis at each login)");
	else
		log_info("SIGHUP: reloading the users file, the certificate and the ticket keys");
	auth_reload_users(s->auth);
	if (tls_cfg_reload(s->tls, s->cf->key_file, s->cf->cert_file, err, sizeof err) < 0)
		log_err("keeping the old certificate: %s", err);
	ready_status(s, status, sizeof status);
	notify_ready(status);
}

static void on_term(struct loop *l, void *arg)
{
	struct srv *s = arg;
	log_info("shutting down");
	notify_stopping();
	s->stopping = 1;
	loop_stop(l);
}

#ifdef IM_CLUSTER
/* ---- cluster mode: the Redis link and this node's record ---- */

/* The Redis password, read before privileges are dropped (the file may be
 * root's alone). 0, or -1 with the reason in err. */
static int read_redis_password(struct srv *s, char *err, size_t errlen)
{
	if (s->clu->redis[0] == '\0' || s->clu->redis_password_file[0] == '\0')
		return 0;
	return redis_password_load(s->clu->redis_password_file, s->redis_password, sizeof s->redis_password,
	                           &s->password_loose, err, errlen);
}

/* The node record's SET, answering the value it replaced. KEYS[1] key,
 * ARGV: record, ttl. */
static const char node_set_lua[] = "local v=redis.call('GET',KEYS[1]) "
                                   "redis.call('SET',KEYS[1],ARGV[1],'EX',ARGV[2]) return v";

/* Two live nodes with one node_id (a config copied to a second node) take
 * each other's sessions for their own: each refresh then finds the other's
 * record where it left its own. The first SET of a run may find the
 * record of this node's previous run: not a twin. */
static void node_set_done(struct redis *r, redisReply *rep, void *arg)
{
	struct srv *s = arg;
	if (rep == NULL)
		return;
	if (rep->type == REDIS_REPLY_ERROR)
		log_warn("cluster: redis %s refused the node record: %.120s", redis_addr(r), rep->str);
	else if (rep->type == REDIS_REPLY_STRING && s->node_sets++ > 0 &&
	         strcmp(rep->str, s->node_val) != 0 && !s->node_twin_said) {
		const char *where = strchr(rep->str, ' ');
		s->node_twin_said = 1;
		log_err("cluster: another node runs with node_id %s (it listens on %.96s): the two take each "
		        "other's users for their own and presence between them is broken; give each node "
		        "its own node_id (or leave it unset: <hostname>:<port>)",
		        s->node_id, where != NULL ? where + 1 : "?");
	} else if (rep->type == REDIS_REPLY_NIL)
		s->node_sets++;
}

/* P node:<id> lives record_ttl seconds after each refresh: the other
 * nodes take its disappearance for this node's death. */
static void node_refresh(struct loop *l, void *arg)
{
	struct srv *s = arg;
	if (redis_up(s->redis))
		redis_cmd(s->redis, node_set_done, s, "EVAL %s 1 %s %s %d", node_set_lua, s->node_key,
		          s->node_val, s->clu->record_ttl);
	loop_timer_set(l, &s->node_timer, (uint64_t)s->clu->record_ttl * 1000 / 3, node_refresh, s);
}

static void on_redis_state(struct redis *r, int up, const char *why, void *arg)
{
	struct srv *s = arg;
	if (up) {
		log_info(s->redis_seen ? "cluster: redis %s is back" : "cluster: connected to redis %s",
		         redis_addr(r));
		s->redis_seen = 1;
		node_refresh(s->loop, s);
	} else
		log_warn("cluster: %s redis %s (%s); serving local users only",
		         s->redis_seen ? "lost" : "cannot reach", redis_addr(r), why);
	/* After the node record: a session of a node without one is dead. */
	cluster_link(s->cluster, up);
}

/* node_id, or <hostname>:<port> of the first listening socket (characters
 * a node id may not hold become '_'). */
static void node_name(struct srv *s)
{
	if (s->clu->node_id[0] != '\0') {
		snprintf(s->node_id, sizeof s->node_id, "%s", s->clu->node_id);
		return;
	}
	char host[65] = "";
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	unsigned port = (unsigned)s->cf->port;
	if (gethostname(host, sizeof host - 1) < 0 || host[0] == '\0')
		snprintf(host, sizeof host, "im");
	if (getsockname(s->lfd[0], (struct sockaddr *)&ss, &sl) == 0)
		port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
		                                      : ((struct sockaddr_in *)&ss)->sin_port);
	/* 64 at most: the host name cut to leave room for ":65535" */
	snprintf(s->node_id, sizeof s->node_id, "%.58s:%u", host, port);
	for (char *p = s->node_id; *p; p++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:-", *p))
			*p = '_';
}

static int cluster_start(struct srv *s)
{
	if (s->clu->redis[0] == '\0')
		return 0;
	node_name(s);
	snprintf(s->node_key, sizeof s->node_key, "%snode:%s", s->clu->key_prefix, s->node_id);
	char where[96];
	snprintf(where, sizeof where, "%s", s->ltext[0]);
	where[strcspn(where, " ")] = '\0'; /* without " (IPv6 and IPv4)" */
	snprintf(s->node_val, sizeof s->node_val, "%lld %s", (long long)time(NULL), where);
	s->redis = redis_new(s->loop, s->clu->redis, s->redis_password, on_redis_state, s);
	if (s->redis == NULL) {
		log_err("cluster: cannot set up the link to redis %s", s->clu->redis);
		return -1;
	}
	s->cluster =
	    cluster_new(s->loop, &s->sessions, s->redis, s->node_id, s->clu->key_prefix, s->clu->record_ttl);
	if (s->cluster == NULL) {
		log_err("cluster: out of memory");
		return -1;
	}
	log_info("cluster: node %s, redis %s", s->node_id, s->clu->redis);
	auth_cluster(s->auth, s->redis, s->clu->key_prefix);
	if (s->password_loose)
		log_warn("cluster: redis_password_file %s can be read by others: chmod 600 it",
		         s->clu->redis_password_file);
	return redis_start(s->redis);
}

/* A clean stop: the node record goes at once (the other nodes need not
 * wait for it to expire), and the channel hears DOWN. */
static void cluster_stop(struct srv *s)
{
	if (s->redis == NULL)
		return;
	loop_timer_stop(s->loop, &s->node_timer);
	if (redis_up(s->redis)) {
		char err[200];
		struct redis_sync *rs =
		    redis_sync_open(s->clu->redis, s->redis_password, 1000, err, sizeof err);
		/* The sessions' records first: without the node record they
		 * would be taken for a dead node's. */
		cluster_leave(s->cluster, rs);
		redisReply *rep = rs ? redis_sync_cmd(rs, err, sizeof err, "DEL %s", s->node_key) : NULL;
		if (rep != NULL) {
			freeReplyObject(rep);
			char down[120];
			snprintf(down, sizeof down, "%s DOWN -", s->node_id);
			rep = redis_sync_cmd(rs, err, sizeof err, "PUBLISH %sevents %s", s->clu->key_prefix,
			                     down);
		}
		if (rep != NULL && rep->type == REDIS_REPLY_ERROR) {
			snprintf(err, sizeof err, "%.120s", rep->str);
			freeReplyObject(rep);
			rep = NULL;
		}
		if (rep == NULL)
			log_warn("cluster: the node record stays until it expires: %s", err);
		else {
			freeReplyObject(rep);
			log_info("cluster: node %s left the cluster", s->node_id);
		}
		redis_sync_close(rs);
	}
	/* The link first: its pending answers are told it is gone while
	 * the cluster they point into is still there. */
	redis_free(s->redis);
	s->redis = NULL;
	cluster_free(s->cluster);
	s->cluster = NULL;
}
#endif

/* ---- start-up ---- */

static int ensure_identity(const struct conf_server *cf)
{
	char err[300], fp[PROTO_KEY_HEX + 1];
	int have_key = access(cf->key_file, F_OK) == 0, have_cert = access(cf->cert_file, F_OK) == 0;
	if (!have_key && !have_cert) {
		if (tls_keygen(cf->key_file, cf->cert_file, cf->server_name, err, sizeof err) < 0) {
			log_err("cannot create the server key: %s", err);
			return -1;
		}
		log_info("generated a new server key %s and certificate %s", cf->key_file, cf->cert_file);
	} else if (!have_key || !have_cert) {
		log_err("%s exists but %s does not; restore it, or remove both to generate a new key",
		        have_key ? cf->key_file : cf->cert_file, have_key ? cf->cert_file : cf->key_file);
		return -1;
	}
	if (tls_key_fingerprint(cf->key_file, fp, err, sizeof err) < 0) {
		log_err("%s", err);
		return -1;
	}
	log_info("server key fingerprint %s", fp);
	return 0;
}

/* One server per data directory: a second one would clear the first's
 * session files and race it on the users file's in-memory copy. */
static int lock_data_dir(struct srv *s)
{
	char path[CONF_PATH_MAX + 16];
	snprintf(path, sizeof path, "%s/server.lock", s->cf->data_dir);
	s->lock_fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (s->lock_fd < 0) {
		log_err("cannot open %s: %s", path, strerror(errno));
		return -1;
	}
	if (flock(s->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno == EWOULDBLOCK)
			log_err("another im server is running on data_dir %s (it holds %s)", s->cf->data_dir,
			        path);
		else
			log_err("cannot lock %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

/* Becomes cf->user after the port is bound. What the server must keep
 * writing or re-reading (data_dir, run_dir, the users file and its lock,
 * the key and certificate) is handed to that user first. */
static int drop_privileges(const struct srv *s)
{
	const struct conf_server *cf = s->cf;
	struct passwd *pw = getpwnam(cf->user);
	if (pw == NULL) {
		log_err("user %s: no such user", cf->user);
		return -1;
	}
	char users_lock[CONF_PATH_MAX + 16], tokens[CONF_PATH_MAX + 16], tokens_lock[CONF_PATH_MAX + 24];
	snprintf(users_lock, sizeof users_lock, "%s.lock", s->users_path);
	snprintf(tokens, sizeof tokens, "%s/tokens", cf->data_dir);
	snprintf(tokens_lock, sizeof tokens_lock, "%s.lock", tokens);
	/* Directories first, then what it rewrites, then what it reads. */
	const char *const paths[] = {cf->data_dir, cf->run_dir, s->users_path, users_lock,
	                             tokens,       tokens_lock, cf->key_file,  cf->cert_file};
	if (geteuid() == 0) {
		for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++)
			if (lchown(paths[i], pw->pw_uid, pw->pw_gid) < 0 && errno != ENOENT) {
				log_err("cannot hand %s to user %s: %s", paths[i], cf->user, strerror(errno));
				return -1;
			}
		if (fchown(s->lock_fd, pw->pw_uid, pw->pw_gid) < 0) {
			log_err("cannot hand the data_dir lock to user %s: %s", cf->user, strerror(errno));
			return -1;
		}
	}
	if (setgroups(0, NULL) < 0 || setgid(pw->pw_gid) < 0 || setuid(pw->pw_uid) < 0) {
		log_err("cannot become user %s: %s", cf->user, strerror(errno));
		return -1;
	}
	/* Handing the files over is not enough when a parent directory is
	 * closed to the user (a data_dir under a 0700 home): say so now, not
	 * at the first sign-up or SIGHUP. */
	for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
		int dir = i < 2, mode = dir ? R_OK | W_OK | X_OK : i < 6 ? R_OK | W_OK : R_OK;
		if (access(paths[i], mode) < 0 && (dir || errno != ENOENT)) {
			log_err("user %s cannot %s %s: %s; give it access to the path (every parent "
			        "directory too) or choose another data_dir",
			        cf->user, mode & W_OK ? "read and write" : "read", paths[i], strerror(errno));
			return -1;
		}
	}
	log_info("running as user %s", cf->user);
	return 0;
}

static int write_pid_file(const char *path)
{
	char buf[32];
	int n = snprintf(buf, sizeof buf, "%ld\n", (long)getpid());
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, buf, (size_t)n) != n || close(fd) < 0) {
		log_err("pid_file %s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return 0;
}

static int mkdir_p(const char *path, mode_t mode)
{
	char buf[CONF_PATH_MAX];
	snprintf(buf, sizeof buf, "%s", path);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, mode) < 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	return mkdir(buf, mode) < 0 && errno != EEXIST ? -1 : 0;
}

/* The absolute form of path with the symlinks of its existing part
 * resolved (a dangling link too); the part not created yet is kept as
 * written, "." and ".." in it applied by name. 0, or -1. */
static int canon_path(const char *path, char *out, size_t cap)
{
	char head[CONF_PATH_MAX], tail[CONF_PATH_MAX] = "", link[CONF_PATH_MAX];
	int skip = 0, hops = 0;
	snprintf(head, sizeof head, "%s", path);
	for (;;) {
		size_t n = strlen(head);
		while (n > 1 && head[n - 1] == '/')
			head[--n] = '\0';
		char *r = realpath(head, NULL);
		if (r) {
			/* ".." beyond what exists climbs the resolved part */
			for (; skip > 0; skip--) {
				char *sl = strrchr(r, '/');
				if (sl != NULL)
					*(sl == r ? sl + 1 : sl) = '\0';
			}
			int w = snprintf(out, cap, "%s%s", strcmp(r, "/") == 0 && tail[0] ? "" : r, tail);
			free(r);
			return w < 0 || (size_t)w >= cap ? -1 : 0;
		}
		if (errno != ENOENT)
			return -1;
		char *slash = strrchr(head, '/');
		const char *last = slash ? slash + 1 : head;
		ssize_t ln = readlink(head, link, sizeof link - 1);
		if (ln > 0 && ++hops < 40) {
			/* a dangling link: go on with its target */
			link[ln] = '\0';
			char joined[CONF_PATH_MAX * 2];
			if (link[0] == '/' || slash == NULL)
				snprintf(joined, sizeof joined, "%s", link);
			else
				snprintf(joined, sizeof joined, "%.*s/%s", (int)(slash - head), head, link);
			if (strlen(joined) >= sizeof head)
				return -1;
			strcpy(head, joined);
			continue;
		}
		if (strcmp(last, "..") == 0) {
			skip++;
		} else if (skip > 0) {
			skip--;
		} else if (*last != '\0' && strcmp(last, ".") != 0) {
			size_t ll = strlen(last), tl = strlen(tail);
			if (ll + tl + 2 > sizeof tail)
				return -1;
			memmove(tail + ll + 1, tail, tl + 1);
			tail[0] = '/';
			memcpy(tail + 1, last, ll);
		}
		if (slash == NULL)
			strcpy(head, ".");
		else if (slash == head)
			strcpy(head, "/");
		else
			*slash = '\0';
	}
}

/* 1 if path is dir or lies below it (both canonical). */
static int path_within(const char *path, const char *dir)
{
	size_t n = strlen(dir);
	if (strcmp(dir, "/") == 0)
		return 1;
	return strncmp(path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

/* The server empties run_dir at every start (only its own session files,
 * see sess_init); a run_dir that is, contains or holds the data the server
 * keeps is refused outright, by -n too. Symlinks are followed first. */
static int check_run_dir(const struct conf_server *cf, const char *users_path, char *err, size_t errlen)
{
	char run[CONF_PATH_MAX], data[CONF_PATH_MAX], p[CONF_PATH_MAX], lock[CONF_PATH_MAX + 16];
	snprintf(lock, sizeof lock, "%s/server.lock", cf->data_dir);
	if (canon_path(cf->run_dir, run, sizeof run) < 0 || canon_path(cf->data_dir, data, sizeof data) < 0) {
		snprintf(err, errlen, "cannot resolve run_dir %.150s or data_dir %.150s: %.150s", cf->run_dir,
		         cf->data_dir, strerror(errno ? errno : EINVAL));
		return -1;
	}
	if (strcmp(run, data) == 0) {
		snprintf(
		    err, errlen,
		    "run_dir %.150s is data_dir: the server clears run_dir at start; give it a directory of "
		    "its own (default <data_dir>/run)",
		    cf->run_dir);
		return -1;
	}
	if (path_within(data, run)) {
		snprintf(
		    err, errlen,
		    "run_dir %.150s contains data_dir %.150s: the server clears run_dir at start; give it a "
		    "directory of its own (default <data_dir>/run)",
		    cf->run_dir, cf->data_dir);
		return -1;
	}
	const char *const names[] = {"the users file", "key_file", "cert_file", "pid_file",
	                             "the data_dir lock"};
	const char *const files[] = {users_path, cf->key_file, cf->cert_file, cf->pid_file, lock};
	for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
		if (files[i][0] == '\0')
			continue;
		if (canon_path(files[i], p, sizeof p) < 0) {
			snprintf(err, errlen, "cannot resolve %.150s %.150s: %.150s", names[i], files[i],
			         strerror(errno ? errno : EINVAL));
			return -1;
		}
		if (path_within(p, run)) {
			snprintf(err, errlen,
			         "%.150s %.150s is inside run_dir %.150s, which the server clears at start; "
			         "keep run_dir "
			         "for session files only",
			         names[i], files[i], cf->run_dir);
			return -1;
		}
	}
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: im server [-c FILE] [-p PORT] [-l ADDRESSES] [-n] [--fingerprint]\n"
	           "\n"
	           "Runs the presence server in the foreground: the TLS login channel (default\n"
	           "port 5190 on every address), sign-up, session records in the run directory\n"
	           "and presence between mutual contacts. It never sees a message.\n"
	           "\n"
	           "  -c FILE         read the [server] and [cluster] sections of FILE (see\n"
	           "                  config/im.conf);\n");
	paths_help_no_c(f, 18);
	fprintf(f, "  -p PORT         listen on PORT (0: any free port; the log tells which)\n"
	           "  -l ADDRESSES    listen on these addresses (space or comma separated, * = all)\n"
	           "  -n              check the configuration and exit\n"
	           "  --fingerprint   print the server key's fingerprint (what clients pin) and exit\n"
	           "  -h, --help      this text\n"
	           "\n"
	           "Signals: SIGTERM/SIGINT stop cleanly; SIGHUP reloads the users file (not\n"
	           "in cluster mode: the accounts are in Redis), the key and certificate and\n"
	           "the TLS ticket keys. A readiness line \"listening on ADDRESS:PORT\" is\n"
	           "logged.\n"
	           "\n"
	           "Cluster mode ([cluster] redis = HOST:PORT): this server is one node of\n"
	           "several that share the map, the accounts and the resume tokens through\n"
	           "Redis. Each node needs its own data_dir and node_id; give them all the\n"
	           "same server key (copy key_file and cert_file): a client whose server\n"
	           "setting lists every node then trusts them all.\n");
}

/* Every connection is a descriptor: raise the soft limit as far as the
 * hard one allows and say so if max_connections still cannot fit. */
static void fit_fd_limit(const struct conf_server *cf)
{
	struct rlimit rl;
	rlim_t want = (rlim_t)cf->max_connections + cf->max_unauth + cf->max_probes + 64;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	if (rl.rlim_cur < want) {
		rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > want ? want : rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < want)
		log_warn(
		    "open file limit %lu is below max_connections + max_unauth + max_probes; raise ulimit -n",
		    (unsigned long)rl.rlim_cur);
}

static int run(struct srv *s)
{
	const struct conf_server *cf = s->cf;
	fit_fd_limit(cf);
	/* Bind before touching anything: a server that cannot have its port
	 * leaves no trace, and a second one on a busy port cannot clear the
	 * live one's session files. */
	if ((s->loop = loop_new()) == NULL || listen_all(s) < 0)
		return 1;
	if (mkdir_p(cf->data_dir, 0700) < 0) {
		log_err("cannot create data_dir %s: %s", cf->data_dir, strerror(errno));
		return 1;
	}
	if (lock_data_dir(s) < 0)
		return 1;
	if (ensure_identity(cf) < 0)
		return 1;
	char err[300];
	s->tls = tls_cfg_new(TLS_SERVER_LOGIN, cf->key_file, cf->cert_file, err, sizeof err);
	if (s->tls == NULL) {
		log_err("%s", err);
		return 1;
	}
	if (sess_init(&s->sessions, cf->run_dir, s->loop) < 0) {
		log_err("run_dir %s: %s", cf->run_dir, strerror(errno));
		return 1;
	}
	if ((s->reach = reach_new(s->loop, cf->max_probes, cf->max_probes_per_ip, cf->probes_per_minute,
	                          cf->reach_timeout, probe_done)) == NULL) {
		log_err("out of memory");
		return 1;
	}
	if ((s->pool = pool_new(s->loop, cf->workers)) == NULL) {
		log_err("cannot start the worker threads");
		return 1;
	}
	if (cf->pid_file[0] && write_pid_file(cf->pid_file) < 0)
		return 1;
	if (cf->user[0] && drop_privileges(s) < 0)
		return 1;
	/* After the drop: the server user writes the key file at each rotation. */
	char tickets[CONF_PATH_MAX + 16];
	snprintf(tickets, sizeof tickets, "%s/ticket.keys", cf->data_dir);
	if (cf->tls_tickets && tls_tickets(s->tls, tickets, cf->ticket_key_lifetime, err, sizeof err) < 0) {
		log_err("%s", err);
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	if (loop_signal(s->loop, SIGTERM, on_term, s) < 0 || loop_signal(s->loop, SIGINT, on_term, s) < 0 ||
	    loop_signal(s->loop, SIGHUP, on_hup, s) < 0) {
		log_err("cannot set up signals: %s", strerror(errno));
		return 1;
	}
	if ((s->auth = auth_new(cf, s->loop, s->pool, s->users_path, kick_deleted, s)) == NULL) {
		log_err("out of memory");
		return 1;
	}
#ifdef IM_CLUSTER
	if (cluster_start(s) < 0)
		return 1;
#endif
	/* The readiness lines come last: when they appear, the server is. */
	for (int i = 0; i < s->nlisten; i++)
		log_info("listening on %s", s->ltext[i]);
	log_info("im %s server ready (sign-up %s)", IM_VERSION, cf->allow_signup ? "allowed" : "disabled");
	if (notify_init() > 0) {
		char status[SRV_MAX_LISTEN * 100];
		ready_status(s, status, sizeof status);
		notify_ready(status);
	}
	if (loop_run(s->loop) < 0) {
		log_err("poll: %s", strerror(errno));
		return 1;
	}
	return 0;
}

static void shutdown_all(struct srv *s)
{
#ifdef IM_CLUSTER
	cluster_stop(s);
#endif
	struct client *cl = s->clients, *next;
	for (; cl; cl = next) {
		next = cl->next;
		/* A logged-in client's session goes in on_close. */
		conn_close(cl->c, "server shutting down");
	}
	conn_reap();
	reach_free(s->reach);
	s->reach = NULL;
	sess_free(&s->sessions);
	pool_free(s->pool);
	for (int i = 0; i < s->nlisten; i++)
		close(s->lfd[i]);
	if (s->cf->pid_file[0])
		unlink(s->cf->pid_file);
	hmap_each(&s->per_ip, free_val, NULL);
	hmap_free(&s->per_ip);
	auth_free(s->auth);
	s->auth = NULL;
	if (s->lock_fd >= 0)
		close(s->lock_fd);
	log_on_suppress(NULL, NULL);
	notify_free();
	loop_free(s->loop);
	s->loop = NULL;
	tls_cfg_free(s->tls);
}

int srv_main(int argc, char **argv)
{
	static struct conf conf;
	const char *cfile = NULL, *port = NULL, *listen = NULL;
	int check = 0, fingerprint = 0;
	char err[600];
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout);
			return 0;
		} else if (!strcmp(a, "-n")) {
			check = 1;
		} else if (!strcmp(a, "--fingerprint")) {
			fingerprint = 1;
		} else if ((!strcmp(a, "-c") || !strcmp(a, "-p") || !strcmp(a, "-l")) && i + 1 < argc) {
			const char **dst = a[1] == 'c' ? &cfile : a[1] == 'p' ? &port : &listen;
			*dst = argv[++i];
		} else {
			fprintf(stderr, "im server: bad argument '%s'; try 'im server --help'\n", a);
			return 2;
		}
	}
	conf_defaults(&conf);
	if (paths_load(&conf, cfile, &cfile, err, sizeof err) < 0) {
		fprintf(stderr, "im server: %s\n", err);
		return 2;
	}
	if (port) {
		char *end;
		long p = strtol(port, &end, 10);
		if (*port == '\0' || *end || p < 0 || p > 65535) {
			fprintf(stderr, "im server: -p: '%s' is not a port number\n", port);
			return 2;
		}
		conf.srv.port = (int)p;
	}
	if (listen) {
		char why[200];
		if (strlen(listen) >= sizeof conf.srv.listen ||
		    conf_listen_valid(listen, why, sizeof why) < 0) {
			fprintf(stderr, "im server: -l: %s\n",
			        strlen(listen) >= sizeof conf.srv.listen ? "too long" : why);
			return 2;
		}
		snprintf(conf.srv.listen, sizeof conf.srv.listen, "%s", listen);
	}
	if (conf_finish(&conf, err, sizeof err) < 0) {
		fprintf(stderr, "im server: %s\n", err);
		return 2;
	}
	const struct conf_server *cf = &conf.srv;
	static struct srv s;
	s.clu = &conf.clu;
#ifdef IM_CLUSTER
	if (read_redis_password(&s, err, sizeof err) < 0) {
		fprintf(stderr, "im server: %s\n", err);
		return 2;
	}
#endif
	char users_path[CONF_PATH_MAX + 8];
	snprintf(users_path, sizeof users_path, "%s/users", cf->data_dir);
	if (check_run_dir(cf, users_path, err, sizeof err) < 0) {
		fprintf(stderr, "im server: %s\n", err);
		return 2;
	}
	if (check) {
		printf("%s: configuration ok\n", cfile            ? cfile
		                                 : port || listen ? "(defaults and options)"
		                                                  : "(defaults)");
		return 0;
	}
	if (fingerprint) {
		char fp[PROTO_KEY_HEX + 1];
		if (access(cf->key_file, F_OK) < 0) {
			fprintf(stderr,
			        "im server: no server key at %s yet; start the server once to create it\n",
			        cf->key_file);
			return 1;
		}
		if (tls_key_fingerprint(cf->key_file, fp, err, sizeof err) < 0) {
			fprintf(stderr, "im server: %s\n", err);
			return 1;
		}
		printf("%s\n", fp);
		return 0;
	}
	if (log_init("im-server", cf->log, (enum log_level)cf->log_level) < 0) {
		fprintf(stderr, "im server: bad log destination %s\n", cf->log);
		return 2;
	}
	log_set_rate(cf->log_rate_limit);
	log_on_suppress(log_held, &s);
	char data_abs[CONF_PATH_MAX + 4096];
	paths_absolute(cf->data_dir, data_abs, sizeof data_abs);
	log_info("config %s, data_dir %s", cfile ? cfile : "none (built-in defaults)", data_abs);
	s.cf = cf;
	char why[160];
	if (proto_nets_parse(cf->lan_nets, &s.lan_nets, why, sizeof why) < 0) {
		fprintf(stderr, "im server: lan_nets: %s\n", why);
		return 1;
	}
	s.lock_fd = -1;
	snprintf(s.users_path, sizeof s.users_path, "%s", users_path);
	int rc = run(&s);
	if (s.loop)
		shutdown_all(&s);
#ifdef IM_CLUSTER
	mbedtls_platform_zeroize(s.redis_password, sizeof s.redis_password);
#endif
	if (rc == 0)
		log_info("stopped");
	return rc;
}
