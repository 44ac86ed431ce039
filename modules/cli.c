/* cli: the client core: the server link (login, PEER, CONTACTS, presence,
 * keepalive, reconnect with backoff) and contact keys; it prints nothing. */
#include "cli.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/platform_util.h>

#include "conn.h"
#include "log.h"
#include "net.h"
#include "peer.h"
#include "proto.h"
#include "tls.h"

#define CLI_LOGOUT_WAIT_MS 2000
/* Server commands awaiting their reply: a whole contacts file as ADDs,
 * plus PEER, CONTACTS, the sync PING and a few keepalives. */
#define CLI_PENDING_MAX   (STORE_MAX_ENTRIES + 8)
#define CLI_PENDING_SPARE 4 /* kept free for the sync and LOGOUT */

enum srv_state {
	S_IDLE,       /* no credentials, or given up (bad password, kicked) */
	S_CONNECTING, /* TCP + TLS */
	S_GREETING,   /* waiting for "IM 1 <server>" */
	S_AUTH,       /* RESUME, LOGIN or SIGNUP sent */
	S_SETUP,      /* PEER, CONTACTS and the sync PING sent */
	S_READY,
	S_RETRY,   /* waiting for the backoff timer */
	S_REFUSED, /* the server's key is not the pinned one: no retries */
	S_LOGOUT,  /* LOGOUT sent, waiting for BYE */
};

enum want {
	W_LOGIN,
	W_RESUME,
	W_PEER,
	W_CONTACTS,
	W_ADD,
	W_DEL,
	W_PING,
	W_SYNC,
	W_LOGOUT,
	W_VERSION,
	W_CALL,
	W_PUNCH
};

struct pending {
	enum want what;
	char name[PROTO_NAME_MAX + 1];
};

struct contact {
	char name[PROTO_NAME_MAX + 1];
	int listed, online, stale, asked, keychange;
	int v11;   /* a REACH came about it since its ONLINE: it takes CALL and PUNCH */
	int reach; /* PEER_REACH_* */
	char ip[48], lan_ip[48];
	unsigned port;
	char key[PROTO_KEY_HEX + 1];
	char newkey[PROTO_KEY_HEX + 1]; /* the announced key awaiting trust */
};

struct cli {
	struct loop *loop;
	const struct conf_client *cfg;
	struct store *st;
	cli_emit_fn emit;
	void *emit_arg;
	struct peer *peer;
	struct proto_nets lan_nets; /* cfg->lan_nets, parsed */
	struct tls_cfg *srv_tls;
	/* The servers to log in to, in the configured order; cur is the one
	 * being tried or used, hostport its name in logs and the key of its
	 * pinned key and tokens. A round tries each server not refused once;
	 * tried counts this round's. refused: bit i set when server i showed
	 * another key than the pinned one (or no im greeting): skipped until
	 * the next login command. */
	struct conf_server_addr srv[CONF_SERVERS_MAX];
	size_t nsrv, cur, tried;
	unsigned refused;
	char hostport[CONF_STR_MAX + 16];
	/* The last TLS session with server tls_sess_srv (its ticket and
	 * master secret, so memory only): the next connection to that server
	 * offers it to resume. */
	unsigned char tls_sess[TLS_SESSION_MAX];
	size_t tls_sess_len, tls_sess_srv;

	char user[PROTO_NAME_MAX + 1];
	char password[CLI_PASSWORD_MAX];
	/* have_creds: a user to log in as, with a password (have_password)
	 * or only the stored resume token. */
	int have_creds, have_password, signup;
	int token_seen;    /* this login's TOKEN came: one per login, so a server
	                    * cannot make us rewrite the file at will */
	int token_refused; /* this connection's RESUME was refused */
	/* Log in with the stored token when there is one: on reconnects and
	 * at a start without a typed password. A password the user typed
	 * (login NAME PASSWORD) is checked as asked, never skipped. */
	int resume_first;
	char name[PROTO_NAME_MAX + 1];
	char srvkey[PROTO_KEY_HEX + 1]; /* the key this connection's server presented */

	enum srv_state state;
	int v11; /* this server connection speaks protocol 1.1 (OK 1.1 to VERSION) */
	struct conn *sc;
	/* This attempt's addresses of server cur: tried in a cycle from
	 * ai_first (the one after an address just lost, else the first). */
	struct addrinfo *ai_list, *ai_cur, *ai_first;
	/* The address of the login in use (in_use_*), and after it was lost
	 * the one to try last among server avoid_srv's (avoid_len > 0): a
	 * host name's several addresses count as several servers. */
	struct sockaddr_storage in_use, avoid;
	socklen_t in_use_len, avoid_len;
	size_t avoid_srv;
	struct loop_timer retry_t, ping_t, quit_t;
	unsigned attempt; /* retries since the last login: picks the delay cap */
	uint64_t rng;     /* splitmix64 state for the retry jitter */
	int failures;     /* connection attempts failed in a row */
	uint64_t last_rx;
	struct pending *pend; /* a ring of pcap, grown up to CLI_PENDING_MAX */
	size_t pcap, phead, plen;

	struct contact *ct;
	size_t nct, ctcap;

	unsigned long next_id;
	int quitting, draining, quit_done, status;
};

/* ---- events ---- */

static void emit(struct cli *c, enum cli_ev_type type, const char *name, const char *text)
{
	struct cli_event ev = {.type = type, .name = name, .text = text};
	c->emit(c->emit_arg, &ev);
}

static void emitf(struct cli *c, enum cli_ev_type type, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void emitf(struct cli *c, enum cli_ev_type type, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	emit(c, type, NULL, buf);
}

/* ---- contacts ---- */

static struct contact *ct_find(struct cli *c, const char *name)
{
	for (size_t i = 0; i < c->nct; i++)
		if (strcmp(c->ct[i].name, name) == 0)
			return &c->ct[i];
	return NULL;
}

static struct contact *ct_get(struct cli *c, const char *name)
{
	struct contact *k = ct_find(c, name);
	if (k != NULL)
		return k;
	if (c->nct >= STORE_MAX_ENTRIES * 2)
		return NULL;
	if (c->nct == c->ctcap) {
		size_t cap = c->ctcap ? c->ctcap * 2 : 16;
		struct contact *p = realloc(c->ct, cap * sizeof *p);
		if (p == NULL)
			return NULL;
		c->ct = p;
		c->ctcap = cap;
	}
	k = &c->ct[c->nct++];
	memset(k, 0, sizeof *k);
	snprintf(k->name, sizeof k->name, "%s", name);
	return k;
}

static int peer_lookup(void *arg, const char *name, struct peer_contact *pc, const char **why)
{
	struct cli *c = arg;
	struct contact *k = ct_find(c, name);
	if (k == NULL || !k->listed) {
		*why = PEER_NOTCONTACT;
		return -1;
	}
	if (!k->online) {
		*why = PEER_OFFLINE;
		return -1;
	}
	if (k->keychange) {
		*why = PEER_UNTRUSTED;
		return -1;
	}
	snprintf(pc->ip, sizeof pc->ip, "%s", k->ip);
	snprintf(pc->lan_ip, sizeof pc->lan_ip, "%s", k->lan_ip);
	snprintf(pc->key, sizeof pc->key, "%s", k->key);
	pc->port = k->port;
	pc->reach = k->reach;
	pc->calls = c->v11 && k->v11;
	return 0;
}

static void peer_msg(void *arg, const char *name, const char *id, const char *text)
{
	struct cli *c = arg;
	struct cli_event ev = {.type = CLI_EV_MSG, .name = name, .id = id, .text = text};
	c->emit(c->emit_arg, &ev);
}

static void drain_over(struct loop *l, void *arg);

/* While quitting, the last outcome lets the logout go on (from a timer:
 * we are inside the peer module here). */
static void outcome_seen(struct cli *c)
{
	if (c->draining && peer_pending(c->peer) == 0)
		loop_timer_set(c->loop, &c->quit_t, 0, drain_over, c);
}

static void peer_sent(void *arg, const char *name, unsigned long id)
{
	struct cli *c = arg;
	struct cli_event ev = {.type = CLI_EV_SENT, .name = name, .num = id};
	c->emit(c->emit_arg, &ev);
	outcome_seen(c);
}

static void peer_failed(void *arg, const char *name, unsigned long id, const char *reason)
{
	struct cli *c = arg;
	struct cli_event ev = {.type = CLI_EV_FAILED, .name = name, .num = id, .text = reason};
	c->emit(c->emit_arg, &ev);
	outcome_seen(c);
}

static void peer_typing_cb(void *arg, const char *name)
{
	struct cli *c = arg;
	emit(c, CLI_EV_TYPING, name, NULL);
}

/* A contact kept online only by its conversation while the server was
 * away goes offline when that conversation ends. */
static void peer_closed(void *arg, const char *name, const char *reason)
{
	struct cli *c = arg;
	if (strcmp(reason, PEER_CLOSED) == 0)
		emit(c, CLI_EV_CLOSED, name, NULL);
	struct contact *k = ct_find(c, name);
	if (k && k->online && k->stale &&
	    (c->state == S_READY || c->state == S_IDLE || c->state == S_REFUSED)) {
		k->online = k->stale = 0;
		emit(c, CLI_EV_OFFLINE, k->name, NULL);
	}
}

static int srv_cmd(struct cli *c, enum want what, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* CALL and PUNCH go only to a 1.1 server, once logged in (PEER sent). */
static int peer_ask(void *arg, const char *name, enum peer_ask what)
{
	struct cli *c = arg;
	if (!c->v11 || c->sc == NULL || (c->state != S_SETUP && c->state != S_READY))
		return -1;
	if (what == PEER_ASK_CALL)
		return srv_cmd(c, W_CALL, name, "CALL %s", name);
	return srv_cmd(c, W_PUNCH, name, "PUNCH %s", name);
}

static void peer_path(void *arg, const char *name, enum peer_path how)
{
	struct cli *c = arg;
	emit(c, CLI_EV_PATH, name, peer_path_word(how));
}

static const struct peer_ops cli_peer_ops = {peer_lookup,    peer_msg,    peer_sent, peer_failed,
                                             peer_typing_cb, peer_closed, peer_ask,  peer_path};

/* ---- the server link ---- */

static void srv_open(struct conn *sc);
static void srv_line(struct conn *sc, char *line, size_t len);
static void srv_close(struct conn *sc, const char *why);
static const struct conn_ops srv_ops = {srv_open, srv_line, NULL, srv_close};
static void start_connect(struct cli *c);
static void finish_quit(struct cli *c);

static int logged_in(const struct cli *c)
{
	return c->sc && (c->state == S_SETUP || c->state == S_READY);
}

/* Makes room for one more pending command, growing the ring. 0/-1. */
static int pend_reserve(struct cli *c)
{
	if (c->plen < c->pcap)
		return 0;
	if (c->pcap >= CLI_PENDING_MAX)
		return -1;
	size_t cap = c->pcap ? c->pcap * 2 : 16;
	if (cap > CLI_PENDING_MAX)
		cap = CLI_PENDING_MAX;
	struct pending *p = malloc(cap * sizeof *p);
	if (p == NULL)
		return -1;
	for (size_t i = 0; i < c->plen; i++)
		p[i] = c->pend[(c->phead + i) % c->pcap];
	free(c->pend);
	c->pend = p;
	c->pcap = cap;
	c->phead = 0;
	return 0;
}

/* Sends a command whose reply we will match in order. 0, or -1 when not
 * connected, or (with an ERROR event) when it cannot be queued. Only the
 * sync PING and LOGOUT may use the last CLI_PENDING_SPARE slots. */
static int srv_cmd(struct cli *c, enum want what, const char *name, const char *fmt, ...)
{
	if (c->sc == NULL)
		return -1;
	int spare = what == W_SYNC || what == W_LOGOUT || what == W_LOGIN || what == W_RESUME;
	if ((!spare && c->plen + CLI_PENDING_SPARE >= CLI_PENDING_MAX) || pend_reserve(c) < 0) {
		if (what != W_PING && what != W_CALL && what != W_PUNCH)
			emitf(c, CLI_EV_ERROR, "too many commands waiting for the server; %s %s not sent",
			      what == W_ADD   ? "ADD"
			      : what == W_DEL ? "DEL"
			                      : "command",
			      name ? name : "");
		return -1;
	}
	char line[PROTO_LINE_MAX * 2];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	int rc = -1;
	if (n >= 0 && (size_t)n < sizeof line) {
		struct pending *p = &c->pend[(c->phead + c->plen) % c->pcap];
		p->what = what;
		snprintf(p->name, sizeof p->name, "%s", name ? name : "");
		c->plen++;
		rc = conn_send(c->sc, "%s", line);
		if (rc < 0)
			c->plen--;
	}
	mbedtls_platform_zeroize(line, sizeof line);
	return rc;
}

static void ping_tick(struct loop *l, void *arg)
{
	struct cli *c = arg;
	uint64_t iv = (uint64_t)c->cfg->ping_interval * 1000;
	if (!logged_in(c) && c->state != S_LOGOUT)
		return;
	if (loop_now(l) - c->last_rx > 2 * iv + 1000) {
		conn_abort(c->sc, "the server stopped answering PINGs");
		return;
	}
	srv_cmd(c, W_PING, NULL, "PING");
	loop_timer_set(l, &c->ping_t, iv, ping_tick, c);
}

static void retry_now(struct loop *l, void *arg)
{
	(void)l;
	start_connect(arg);
}

unsigned cli_backoff_cap(unsigned attempt, unsigned base_ms, unsigned max_ms)
{
	if (max_ms < base_ms)
		max_ms = base_ms;
	unsigned cap = base_ms;
	for (unsigned i = 0; i < attempt && cap < max_ms; i++)
		cap = cap > max_ms / 2 ? max_ms : cap * 2;
	return cap;
}

unsigned cli_backoff_ms(unsigned attempt, uint32_t rnd, unsigned base_ms, unsigned max_ms)
{
	unsigned cap = cli_backoff_cap(attempt, base_ms, max_ms);
	unsigned floor = cap < CLI_BACKOFF_FLOOR_MS ? cap : CLI_BACKOFF_FLOOR_MS;
	return floor + (unsigned)(rnd % ((uint32_t)(cap - floor) + 1));
}

/* The jitter needs no secrecy, only clients that differ from each other:
 * splitmix64, seeded from the kernel per client. */
static uint32_t jitter_rand(struct cli *c)
{
	uint64_t z = (c->rng += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return (uint32_t)((z ^ (z >> 31)) >> 32);
}

static void jitter_seed(struct cli *c)
{
	if (getrandom(&c->rng, sizeof c->rng, GRND_NONBLOCK) == (ssize_t)sizeof c->rng)
		return;
	/* No kernel randomness yet (early boot): time and pid still spread
	 * clients started at different moments or on different boxes. */
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	c->rng = ((uint64_t)ts.tv_sec << 32) ^ (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 16);
}

/* Full jitter: a random delay up to a cap that doubles per failed
 * attempt, so clients that lost the same server at the same moment do
 * not all come back in the same second. */
static void schedule_retry(struct cli *c)
{
	unsigned base = (unsigned)c->cfg->reconnect_base_ms, max = (unsigned)c->cfg->reconnect_max_ms;
	unsigned cap = cli_backoff_cap(c->attempt, base, max);
	unsigned ms = cli_backoff_ms(c->attempt, jitter_rand(c), base, max);
	c->state = S_RETRY;
	loop_timer_set(c->loop, &c->retry_t, ms, retry_now, c);
	log_info("server %s: retrying in %u ms (retry %u, delay cap %u ms)", c->hostport, ms, c->attempt + 1,
	         cap);
	if (c->attempt < 1000)
		c->attempt++;
}

/* ---- the server list: failover ---- */

static void set_server(struct cli *c, size_t i)
{
	c->cur = i;
	snprintf(c->hostport, sizeof c->hostport, "%s", c->srv[i].hostport);
}

/* How many servers a round tries: those not refused. */
static size_t usable_servers(const struct cli *c)
{
	size_t n = 0;
	for (size_t i = 0; i < c->nsrv; i++)
		n += !(c->refused & (1u << i));
	return n;
}

/* Makes the next server not refused the current one, in list order,
 * wrapping (the same one when it is the only one). */
static void advance_server(struct cli *c)
{
	for (size_t k = 1; k <= c->nsrv; k++) {
		size_t i = (c->cur + k) % c->nsrv;
		if (!(c->refused & (1u << i))) {
			set_server(c, i);
			return;
		}
	}
}

/* The current server failed (unreachable, TLS, busy): the next one at
 * once while this round has servers left to try, else after the backoff
 * delay, which starts the next round. counted: the failed server was
 * part of the round (a refused one leaves it instead). */
static void next_server(struct cli *c, int counted)
{
	size_t from = c->cur;
	advance_server(c);
	if (counted)
		c->tried++;
	if (c->tried < usable_servers(c)) {
		log_info("server %s: trying the next server, %s", c->srv[from].hostport, c->hostport);
		c->state = S_RETRY;
		loop_timer_set(c->loop, &c->retry_t, 0, retry_now, c);
		return;
	}
	c->tried = 0;
	schedule_retry(c);
}

/* What follows a failure in an error event: whether another server
 * comes at once. */
static const char *retry_word(const struct cli *c)
{
	return usable_servers(c) > 1 ? "trying the next server" : "retrying";
}

/* The address after ai in this attempt's cycle (wrapping to the list's
 * head), or NULL once the cycle is back at ai_first. */
static struct addrinfo *ai_next_cyclic(const struct cli *c, const struct addrinfo *ai)
{
	struct addrinfo *n = ai->ai_next ? ai->ai_next : c->ai_list;
	return n == c->ai_first ? NULL : n;
}

/* Starts a non-blocking connect to the current address, or the next
 * ones of the cycle. 0/-1. */
static int connect_ai(struct cli *c)
{
	for (; c->ai_cur; c->ai_cur = ai_next_cyclic(c, c->ai_cur)) {
		struct addrinfo *ai = c->ai_cur;
		/* mbedTLS writes each handshake record with its own send(): with
		 * Nagle on, a (resumed) handshake waits out a delayed ACK, about
		 * 40 ms per connection, longer than its CPU: TCP_NODELAY. */
		enum net_step step;
		int fd = net_dial(ai->ai_addr, ai->ai_addrlen, 1, &step);
		if (fd < 0) {
			if (step == NET_CONNECT)
				log_info("server %s: connect: %s", c->hostport, strerror(errno));
			continue;
		}
		c->sc = conn_new(c->loop, fd, c->srv_tls, 1, &srv_ops, c, (size_t)c->cfg->max_line,
		                 (size_t)c->cfg->max_output_buffer);
		if (c->sc == NULL)
			continue;
		if (c->tls_sess_len > 0 && c->tls_sess_srv == c->cur)
			(void)tls_session_offer(c->sc->tls, c->tls_sess, c->tls_sess_len);
		conn_deadline(c->sc, (unsigned)c->cfg->connect_timeout * 1000,
		              "the server did not answer in time");
		return 0;
	}
	return -1;
}

static void start_connect(struct cli *c)
{
	if (c->sc != NULL || c->quitting || !c->have_creds)
		return;
	loop_timer_stop(c->loop, &c->retry_t);
	c->state = S_CONNECTING;
	c->plen = 0;
	if (c->ai_list) {
		freeaddrinfo(c->ai_list);
		c->ai_list = NULL;
	}
	c->ai_cur = c->ai_first = NULL;
	struct addrinfo hints;
	memset(&hints, 0, sizeof hints);
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_ADDRCONFIG;
	char port[8];
	const struct conf_server_addr *a = &c->srv[c->cur];
	snprintf(port, sizeof port, "%u", a->port);
	/* The one blocking call in the loop: resolving the server's name. */
	int rc = getaddrinfo(a->host, port, &hints, &c->ai_list);
	if (rc != 0) {
		if (c->failures++ == 0)
			emitf(c, CLI_EV_ERROR, "cannot resolve server %s: %s; %s", a->host, gai_strerror(rc),
			      retry_word(c));
		log_info("server %s: cannot resolve %s: %s", c->hostport, a->host, gai_strerror(rc));
		c->ai_list = NULL;
		next_server(c, 1);
		return;
	}
	c->ai_first = c->ai_list;
	for (struct addrinfo *ai = c->ai_list; c->avoid_len > 0 && c->avoid_srv == c->cur && ai;
	     ai = ai->ai_next)
		if (ai->ai_addrlen == c->avoid_len && memcmp(ai->ai_addr, &c->avoid, c->avoid_len) == 0) {
			c->ai_first = ai->ai_next ? ai->ai_next : c->ai_list;
			break;
		}
	c->ai_cur = c->ai_first;
	if (connect_ai(c) < 0) {
		if (c->failures++ == 0)
			emitf(c, CLI_EV_ERROR, "cannot connect to server %s: %s; %s", c->hostport,
			      strerror(errno), retry_word(c));
		next_server(c, 1);
	}
}

/* Why a key could not even be kept in memory (store_set_*_key). */
static const char *unpinned_why(int e)
{
	return e == ENOSPC ? "the list of remembered keys is full" : strerror(e);
}

enum pinned { PINNED, PINNED_IN_MEMORY, NOT_PINNED };

/* Pins key for name (a contact, or with server set a server "host:port"):
 * PINNED (stored), PINNED_IN_MEMORY (the file could not be written: for
 * this run only) or NOT_PINNED (not even in memory), with *e the errno
 * of the failure. Whether a failed store kept it is read back, not
 * guessed from the errno. */
static enum pinned pin_key(struct cli *c, int server, const char *name, const char *key, int *e)
{
	int rc = server ? store_set_server_key(c->st, name, key) : store_set_contact_key(c->st, name, key);
	*e = errno;
	if (rc == 0)
		return PINNED;
	const char *now = server ? store_server_key(c->st, name) : store_contact_key(c->st, name);
	return now != NULL && strcmp(now, key) == 0 ? PINNED_IN_MEMORY : NOT_PINNED;
}

static void srv_open(struct conn *sc)
{
	struct cli *c = sc->owner;
	char key[PROTO_KEY_HEX + 1];
	if (tls_peer_key(sc->tls, key) < 0) {
		c->state = S_REFUSED;
		conn_abort(sc, "the server presented no certificate");
		return;
	}
	const char *want = c->cfg->server_key[0] ? c->cfg->server_key : store_server_key(c->st, c->hostport);
	if (want == NULL) {
		int e = 0;
		enum pinned pin = pin_key(c, 1, c->hostport, key, &e);
		if (pin != PINNED) {
			if (pin == NOT_PINNED) {
				/* Not even in memory: the next connection would be a
				 * first use again, so none is made. */
				c->state = S_REFUSED;
				emitf(c, CLI_EV_ERROR,
				      "cannot remember the key of server %s (%s): refusing to log in; set "
				      "server_key in [client]",
				      c->hostport, unpinned_why(e));
				conn_abort(sc, "server key not pinned");
				return;
			}
			emitf(c, CLI_EV_ERROR,
			      "cannot store the key of server %s in %s/known_servers: %s. It stays pinned "
			      "while this client runs, but the next run would trust whatever key it is shown "
			      "first: fix the state directory, or set server_key = %s in [client]",
			      c->hostport, c->st->dir, strerror(e), key);
		}
		emitf(c, CLI_EV_NOTICE, "trusting the key of server %s on first use: %s", c->hostport, key);
	} else if (strcmp(want, key) != 0) {
		c->state = S_REFUSED;
		emitf(
		    c, CLI_EV_ERROR,
		    "server %s presented key %s but %s is expected: refusing to log in. Someone may be "
		    "impersonating the server. Ask its operator for the fingerprint ('im server "
		    "--fingerprint'); if the key was changed on purpose, set server_key = %s in [client]%s%s",
		    c->hostport, key, want, key,
		    c->cfg->server_key[0]
		        ? ""
		        : " or delete the server's line in the state directory's known_servers",
		    usable_servers(c) > 1 ? ". Skipping this server; trying the others" : "");
		conn_abort(sc, "server key mismatch");
		return;
	}
	/* Kept only once the key checked out; a resumed session carries the
	 * certificate it was made with, so the check above holds for it. */
	ssize_t n = tls_session_save(sc->tls, c->tls_sess, sizeof c->tls_sess);
	c->tls_sess_len = n > 0 ? (size_t)n : 0;
	c->tls_sess_srv = c->cur;
	memcpy(c->srvkey, key, sizeof c->srvkey);
	c->state = S_GREETING;
}

/* ---- resume tokens ---- */

/* Tokens are kept per server (host:port) as they came, but one counts
 * for every server of the list that presents the key its issuer
 * presented: the nodes of one cluster share their tokens and, set up
 * as the README says, their key. A token never goes to a server outside
 * the list, nor to one with another key. */

/* The user's token from server i, when it fits the server we are
 * connected to now (the same key), or NULL. */
static const struct store_token *token_at(struct cli *c, size_t i)
{
	const struct store_token *t = store_token(c->st, c->srv[i].hostport, c->user);
	return t != NULL && strcmp(t->key, c->srvkey) == 0 ? t : NULL;
}

/* Forgets the user's tokens that fit this server (and any other one
 * stored for it), in memory and on disk. */
static void forget_token(struct cli *c)
{
	for (size_t i = 0; i < c->nsrv; i++) {
		if (i == c->cur ? store_token(c->st, c->hostport, c->user) == NULL : token_at(c, i) == NULL)
			continue;
		if (store_del_token(c->st, c->srv[i].hostport, c->user) < 0)
			emitf(c, CLI_EV_NOTICE,
			      "cannot remove the resume token of %s from %s/tokens: %s (the server refuses "
			      "it anyway)",
			      c->user, c->st->dir, strerror(errno));
	}
}

/* The token to RESUME with on this connection, or NULL: this server's
 * own, else one from another server of the list with the same key. */
static const char *usable_token(struct cli *c)
{
	if (c->signup || !c->cfg->resume_tokens || !c->resume_first)
		return NULL;
	const struct store_token *own = store_token(c->st, c->hostport, c->user);
	if (own != NULL && strcmp(own->key, c->srvkey) != 0) {
		log_warn("server %s: the resume token of %s was issued by a server with another key; "
		         "forgetting it",
		         c->hostport, c->user);
		if (store_del_token(c->st, c->hostport, c->user) < 0)
			log_warn("cannot remove it from %s/tokens: %s", c->st->dir, strerror(errno));
	}
	for (size_t k = 0; k < c->nsrv; k++) {
		size_t i = (c->cur + k) % c->nsrv;
		const struct store_token *t = token_at(c, i);
		if (t == NULL)
			continue;
		if (i != c->cur)
			log_info("server %s: offering the resume token that %s issued (the same key)",
			         c->hostport, c->srv[i].hostport);
		return t->token;
	}
	return NULL;
}

/* Only a token was given and it is gone or refused: the password is
 * needed, which the ui asks for (interactive) or reports (batch). */
static void need_password(struct cli *c, const char *why)
{
	char text[256];
	snprintf(text, sizeof text,
	         "%s; log in with the password (login %s PASSWORD, or /login %s interactively)", why, c->user,
	         c->user);
	struct cli_event ev = {.type = CLI_EV_NEED_PASSWORD, .name = c->user, .text = text};
	c->have_creds = 0;
	c->state = S_IDLE;
	if (c->sc)
		conn_close(c->sc, "no password to log in with");
	c->emit(c->emit_arg, &ev);
}

/* Sends RESUME when a token fits this server, else LOGIN or SIGNUP. */
static void send_auth(struct cli *c)
{
	c->state = S_AUTH;
	c->token_refused = 0;
	const char *token = usable_token(c);
	if (token != NULL) {
		log_info("server %s: resuming as %s with the stored token", c->hostport, c->user);
		srv_cmd(c, W_RESUME, NULL, "RESUME %s %s", c->user, token);
	} else if (c->have_password) {
		srv_cmd(c, W_LOGIN, NULL, "%s %s %s", c->signup ? "SIGNUP" : "LOGIN", c->user, c->password);
	} else {
		need_password(c, "no resume token for this server any more");
	}
}

/* A fresh TOKEN after OK: it replaces the one we had (a RESUME made that
 * one void). */
static void on_token(struct cli *c, const char *token)
{
	if (!logged_in(c)) {
		log_warn("server %s: TOKEN before a login; ignored", c->hostport);
		return;
	}
	if (c->token_seen) {
		log_warn("server %s: a second TOKEN for this login; ignored", c->hostport);
		return;
	}
	c->token_seen = 1;
	if (!c->cfg->resume_tokens)
		return;
	if (!tokens_text_valid(token)) {
		log_warn("server %s: malformed TOKEN line; ignored", c->hostport);
		return;
	}
	if (store_set_token(c->st, c->hostport, c->srvkey, c->user, token) < 0) {
		emitf(c, CLI_EV_NOTICE,
		      "cannot store the resume token in %s/tokens: %s; the next start logs in with the "
		      "password",
		      c->st->dir, strerror(errno));
		return;
	}
	/* The new one replaces those other servers of the list gave with the
	 * same key: one token per cluster, the newest. */
	for (size_t i = 0; i < c->nsrv; i++)
		if (i != c->cur && token_at(c, i) != NULL &&
		    store_del_token(c->st, c->srv[i].hostport, c->user) < 0)
			log_warn("cannot remove the replaced resume token of %s at %s from %s/tokens: %s",
			         c->user, c->srv[i].hostport, c->st->dir, strerror(errno));
}

/* Sends the contact list: CONTACTS with what fits a line, ADD for the
 * rest. */
static void send_contacts(struct cli *c)
{
	char line[PROTO_LINE_MAX];
	size_t max = (size_t)c->cfg->max_line - 1, len = (size_t)snprintf(line, sizeof line, "CONTACTS"), i;
	for (i = 0; i < c->st->ncontacts; i++) {
		size_t n = strlen(c->st->contacts[i]);
		if (len + 1 + n > max)
			break;
		line[len++] = ' ';
		memcpy(line + len, c->st->contacts[i], n + 1);
		len += n;
	}
	srv_cmd(c, W_CONTACTS, NULL, "%s", line);
	for (; i < c->st->ncontacts; i++)
		srv_cmd(c, W_ADD, c->st->contacts[i], "ADD %s", c->st->contacts[i]);
}

/* The LAN address to announce: lan_ip when set; with auto, the address
 * this host reaches the server from, when it is a LAN address (behind a
 * NAT, the one contacts behind the same NAT can dial); else none. */
static void lan_address(struct cli *c, char *out, size_t cap)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	out[0] = '\0';
	if (strcmp(c->cfg->lan_ip, "none") == 0)
		return;
	if (strcmp(c->cfg->lan_ip, "auto") != 0) {
		snprintf(out, cap, "%s", c->cfg->lan_ip);
		return;
	}
	if (getsockname(c->sc->fd, (struct sockaddr *)&ss, &sl) < 0 ||
	    net_addr_text(&ss, 1, out, cap, NULL) < 0 || !proto_lan_ip_ok(out, &c->lan_nets) ||
	    strchr(out, '%') != NULL)
		out[0] = '\0';
}

static void logged_in_as(struct cli *c, const char *name)
{
	char folded[PROTO_NAME_MAX + 1];
	if (proto_name_fold(name, folded) < 0)
		snprintf(folded, sizeof folded, "%s", c->user);
	snprintf(c->name, sizeof c->name, "%s", folded);
	peer_set_name(c->peer, c->name);
	c->signup = 0; /* the account exists now: reconnects log in */
	c->state = S_SETUP;
	c->failures = 0;
	c->attempt = 0;
	c->tried = 0;
	c->token_seen = 0;
	c->resume_first = 1;
	c->avoid_len = 0;
	c->in_use_len = 0;
	if (c->ai_cur && c->ai_cur->ai_addrlen <= sizeof c->in_use) {
		memcpy(&c->in_use, c->ai_cur->ai_addr, c->ai_cur->ai_addrlen);
		c->in_use_len = c->ai_cur->ai_addrlen;
	}
	log_info("server %s: logged in as %s", c->hostport, c->name);
	if (c->nsrv > 1)
		emitf(c, CLI_EV_NOTICE, "logged in as %s at server %s", c->name, c->hostport);
	conn_deadline(c->sc, 0, NULL);
	char lan[CONF_STR_MAX];
	lan_address(c, lan, sizeof lan);
	if (lan[0])
		srv_cmd(c, W_PEER, NULL, "PEER %u %s %s", peer_port(c->peer), c->st->fingerprint, lan);
	else
		srv_cmd(c, W_PEER, NULL, "PEER %u %s", peer_port(c->peer), c->st->fingerprint);
	send_contacts(c);
	/* Replies come in order: once this PONG is back, every presence line
	 * about who is online already has arrived. */
	srv_cmd(c, W_SYNC, NULL, "PING sync");
	loop_timer_set(c->loop, &c->ping_t, (uint64_t)c->cfg->ping_interval * 1000, ping_tick, c);
}

/* Contacts last seen online before the server link was lost, and not
 * announced since, go offline; a live conversation says it is there
 * (it may just be reconnecting more slowly than us). */
static void sweep_stale(struct cli *c)
{
	for (size_t i = 0; i < c->nct; i++) {
		struct contact *k = &c->ct[i];
		if (k->online && k->stale && !peer_is_open(c->peer, k->name)) {
			k->online = k->stale = 0;
			emit(c, CLI_EV_OFFLINE, k->name, NULL);
			peer_close(c->peer, k->name, PEER_OFFLINE);
			peer_forget(c->peer, k->name);
		}
	}
}

static void synced(struct cli *c)
{
	c->state = S_READY;
	sweep_stale(c);
	emit(c, CLI_EV_READY, c->name, NULL);
}

static void on_online(struct cli *c, const char *args)
{
	struct proto_online on;
	if (proto_parse_online(args, &on) < 0) {
		log_warn("server %s: malformed ONLINE line", c->hostport);
		return;
	}
	const char *name = on.name;
	struct contact *k = ct_find(c, name);
	if (k == NULL || !k->listed) {
		log_info("server %s: ONLINE for %s, who is not a contact; ignored", c->hostport, name);
		return;
	}
	const char *known = store_contact_key(c->st, name);
	int e = 0;
	enum pinned pin = known == NULL ? pin_key(c, 0, name, on.key, &e) : PINNED;
	if (known == NULL && pin == NOT_PINNED) {
		/* Not even in memory: treated as a changed key, with its
		 * event, so the state, the events and who agree. It waits for
		 * trust, which says why it cannot be given. */
		if (!k->keychange || strcmp(k->newkey, on.key) != 0) {
			k->keychange = 1;
			snprintf(k->newkey, sizeof k->newkey, "%s", on.key);
			emitf(c, CLI_EV_ERROR,
			      "cannot remember the key of %s (%s): nothing is sent to or accepted from %s",
			      name, unpinned_why(e), name);
			emit(c, CLI_EV_KEYCHANGE, name, NULL);
			peer_close(c->peer, name, PEER_UNTRUSTED);
		}
	} else if (known == NULL) {
		k->keychange = 0;
		if (pin == PINNED_IN_MEMORY)
			emitf(c, CLI_EV_ERROR,
			      "cannot store the key of %s in %s/known_keys: %s. It stays pinned while this "
			      "client runs, but the next run would take any key announced for %s as its "
			      "first: fix the state directory",
			      name, c->st->dir, strerror(e), name);
	} else if (strcmp(known, on.key) != 0) {
		if (!k->keychange || strcmp(k->newkey, on.key) != 0) {
			k->keychange = 1;
			snprintf(k->newkey, sizeof k->newkey, "%s", on.key);
			log_warn(
			    "WARNING: the server announces a NEW KEY for %s: %s (remembered: %s). Someone "
			    "may be impersonating %s. Check the key with %s in person; 'trust %s' accepts "
			    "it.",
			    name, on.key, known, name, name, name);
			emit(c, CLI_EV_KEYCHANGE, name, NULL);
			/* Nothing more goes to or comes from the old connection
			 * either: it may be the very one being replaced. */
			peer_close(c->peer, name, PEER_UNTRUSTED);
		}
	} else {
		k->keychange = 0;
	}
	/* Another address or key: another session of it (a new run numbers
	 * its messages from 1 again), whose ids must not pass for repeats. */
	if (strcmp(k->ip, on.ip) != 0 || k->port != on.port || strcmp(k->key, on.key) != 0)
		peer_forget(c->peer, name);
	snprintf(k->ip, sizeof k->ip, "%s", on.ip);
	snprintf(k->lan_ip, sizeof k->lan_ip, "%s", on.lan);
	/* A 1.1 contact's REACH follows; a version-1 contact gets none. */
	k->v11 = 0;
	k->reach = PEER_REACH_UNKNOWN;
	snprintf(k->key, sizeof k->key, "%s", on.key);
	k->port = on.port;
	k->online = 1;
	k->stale = 0;
	struct cli_event ev = {.type = CLI_EV_ONLINE, .name = name, .ip = k->ip, .port = k->port};
	c->emit(c->emit_arg, &ev);
}

/* ERR 429 or 503 to a login: retried with backoff, said once per streak
 * (a count above zero also keeps srv_close quiet). 1 if it was one. */
static int login_busy(struct cli *c, const char *text)
{
	if (strncmp(text, "429", 3) != 0 && strncmp(text, "503", 3) != 0)
		return 0;
	if (c->failures++ == 0) {
		if (text[0] == '4')
			emitf(c, CLI_EV_ERROR, "too many failed logins for %s; wait a minute (retrying)",
			      c->user);
		else
			/* "503 server full", or a cluster node that cannot reach
			 * its accounts: the server's own words say which */
			emitf(c, CLI_EV_ERROR, "the server cannot take the login now (%s); retrying", text);
	}
	conn_abort(c->sc, text[0] == '4' ? "too many login attempts" : "server busy");
	return 1;
}

static void on_reply(struct cli *c, char **tok, int n)
{
	if (c->plen == 0) {
		log_warn("server %s: unexpected reply '%s'", c->hostport, tok[0]);
		return;
	}
	struct pending p = c->pend[c->phead];
	c->phead = (c->phead + 1) % c->pcap;
	c->plen--;
	int ok = strcmp(tok[0], "ERR") != 0;
	const char *text = n > 1 ? tok[1] : "";
	switch (p.what) {
	case W_RESUME:
		if (ok && strcmp(tok[0], "OK") == 0 && n == 2) {
			log_info("server %s: resumed as %s without the password", c->hostport, c->user);
			logged_in_as(c, tok[1]);
			return;
		}
		if (login_busy(c, text))
			return;
		/* 401 (expired, revoked, rotated away) or a server that does not
		 * know RESUME: the token is of no more use. */
		{
			char shown[128];
			proto_printable(ok ? tok[0] : text, strlen(ok ? tok[0] : text), shown, sizeof shown,
			                PROTO_SHOW_SCREEN);
			log_info("server %s: the resume token of %s was refused (%s)", c->hostport, c->user,
			         shown);
		}
		forget_token(c);
		if (c->have_password) {
			c->token_refused = 1;
			srv_cmd(c, W_LOGIN, NULL, "LOGIN %s %s", c->user, c->password);
			return;
		}
		need_password(c, "the server refused the stored resume token (expired or revoked)");
		return;
	case W_LOGIN:
		if (ok && strcmp(tok[0], "OK") == 0 && n == 2) {
			logged_in_as(c, tok[1]);
			return;
		}
		if (login_busy(c, text))
			return;
		/* Token and password both refused: most likely the password
		 * was changed (im passwd), which also revoked the token. */
		emitf(c, CLI_EV_ERROR, "%s failed: %s%s", c->signup ? "signup" : "login", ok ? tok[0] : text,
		      c->token_refused ? " (the stored resume token was refused too: was the password "
		                         "changed? log in with the new one)"
		                       : "");
		c->have_creds = c->have_password = 0;
		mbedtls_platform_zeroize(c->password, sizeof c->password);
		c->state = S_IDLE;
		conn_close(c->sc, "login refused");
		return;
	case W_SYNC:
		synced(c);
		return;
	case W_LOGOUT:
		conn_close(c->sc, "logged out");
		return;
	case W_PEER:
	case W_CONTACTS:
	case W_ADD:
	case W_DEL:
		if (!ok)
			emitf(c, CLI_EV_ERROR, "the server refused %s%s%s: %s",
			      p.what == W_PEER       ? "PEER"
			      : p.what == W_CONTACTS ? "CONTACTS"
			      : p.what == W_ADD      ? "ADD"
			                             : "DEL",
			      p.name[0] ? " " : "", p.name, text);
		return;
	case W_PING:
		return;
	case W_VERSION:
		c->v11 = ok && n == 2 && strcmp(tok[0], "OK") == 0 && strcmp(tok[1], "1.1") == 0;
		if (c->v11)
			log_info("server %s: speaks protocol 1.1 (reachability, CALL, PUNCH)", c->hostport);
		else
			log_info("server %s: speaks protocol 1 only; dialing contacts directly", c->hostport);
		return;
	case W_CALL:
	case W_PUNCH:
		if (!ok) {
			char shown[128];
			proto_printable(text, strlen(text), shown, sizeof shown, PROTO_SHOW_SCREEN);
			log_info("server %s: %s %s refused: %s", c->hostport,
			         p.what == W_CALL ? "CALL" : "PUNCH", p.name, shown);
			peer_ask_failed(c->peer, p.name, p.what == W_CALL ? PEER_ASK_CALL : PEER_ASK_PUNCH);
		}
		return;
	}
}

/* REACH <name> <state> <ip>, CALL <name>, PUNCH <name> <ip> <port>: the
 * lines of protocol 1.1. 0, or -1 when line is none of them. */
static int srv_line11(struct cli *c, char *line)
{
	struct proto_reach r;
	int kind = proto_parse_reach(line, &r);
	if (kind < 0 || !c->v11 || !logged_in(c))
		return -1;
	if (kind == PROTO_REACH_LINE) {
		if (strcmp(r.name, c->name) == 0) {
			log_info("server %s: our peer port is %s at %s", c->hostport,
			         r.state == PEER_REACH_OPEN     ? "reachable"
			         : r.state == PEER_REACH_CLOSED ? "not reachable"
			                                        : "not probed yet",
			         r.ip);
			peer_set_self(c->peer, r.ip, r.state);
			return 0;
		}
		struct contact *k = ct_find(c, r.name);
		if (k && k->listed && k->online) {
			k->v11 = 1;
			k->reach = r.state;
		}
		return 0;
	}
	if (kind == PROTO_CALL_LINE)
		peer_call_in(c->peer, r.name);
	else
		peer_punch_in(c->peer, r.name, r.ip, r.port);
	return 0;
}

static void srv_line(struct conn *sc, char *line, size_t len)
{
	struct cli *c = sc->owner;
	(void)len;
	c->last_rx = loop_now(c->loop);
	char *tok[6];
	if (c->state == S_GREETING) {
		if (proto_split(line, tok, 3) != 3 || strcmp(tok[0], "IM") != 0 || strcmp(tok[1], "1") != 0) {
			emitf(c, CLI_EV_ERROR, "server %s does not speak im protocol 1", c->hostport);
			c->state = S_REFUSED;
			conn_abort(sc, "bad greeting");
			return;
		}
		char shown[PROTO_LINE_MAX * 4];
		proto_printable(tok[2], strlen(tok[2]), shown, sizeof shown, PROTO_SHOW_SCREEN);
		log_info("server %s: '%s', %s", c->hostport, shown, tls_describe(sc->tls));
		/* Its reply is the first in the FIFO; a version-1 server's ERR
		 * leaves this connection on protocol 1. */
		c->v11 = 0;
		peer_set_self(c->peer, "", PEER_REACH_UNKNOWN);
		for (size_t i = 0; i < c->nct; i++)
			c->ct[i].v11 = 0;
		srv_cmd(c, W_VERSION, NULL, "VERSION 1.1");
		send_auth(c);
		return;
	}
	/* Split with room for the rest-of-line fields, then look closer. */
	char first[16];
	snprintf(first, sizeof first, "%.*s", (int)strcspn(line, " "), line);
	if (strcmp(first, "ONLINE") == 0) {
		on_online(c, line[6] == ' ' ? line + 7 : "");
		return;
	}
	if (srv_line11(c, line) == 0)
		return;
	int n = proto_split(line, tok, 2);
	if (n < 1) {
		log_warn("server %s: malformed line", c->hostport);
		return;
	}
	if (strcmp(tok[0], "OFFLINE") == 0 && n == 2) {
		char name[PROTO_NAME_MAX + 1];
		struct contact *k = proto_name_fold(tok[1], name) == 0 ? ct_find(c, name) : NULL;
		if (k && k->online) {
			k->online = k->stale = 0;
			emit(c, CLI_EV_OFFLINE, name, NULL);
			peer_close(c->peer, name, PEER_OFFLINE);
			peer_forget(c->peer, name);
		}
	} else if (strcmp(tok[0], "ASKED") == 0 && n == 2) {
		char name[PROTO_NAME_MAX + 1];
		struct contact *k = proto_name_fold(tok[1], name) == 0 ? ct_get(c, name) : NULL;
		if (k && !k->listed) {
			k->asked = 1;
			emit(c, CLI_EV_ASKED, name, NULL);
		}
	} else if (strcmp(tok[0], "TOKEN") == 0 && n == 2) {
		on_token(c, tok[1]);
	} else if (strcmp(tok[0], "KICKED") == 0) {
		emitf(c, CLI_EV_ERROR, "kicked by the server: %s", n > 1 ? tok[1] : "no reason given");
		/* Someone else holds the account now (another login, or our
		 * token in other hands, which that RESUME voided anyway): the
		 * next start proves the password. */
		forget_token(c);
		c->state = S_IDLE;
		c->status = 1;
		conn_close(sc, "kicked");
		cli_quit(c);
	} else if (strcmp(tok[0], "OK") == 0 || strcmp(tok[0], "ERR") == 0 || strcmp(tok[0], "PONG") == 0 ||
	           strcmp(tok[0], "BYE") == 0) {
		on_reply(c, tok, n);
	} else {
		char shown[64];
		proto_printable(tok[0], strlen(tok[0]), shown, sizeof shown, PROTO_SHOW_SCREEN);
		log_debug("server %s: ignoring '%s'", c->hostport, shown);
	}
}

static void srv_close(struct conn *sc, const char *why)
{
	struct cli *c = sc->owner;
	enum srv_state was = c->state;
	c->sc = NULL;
	c->plen = 0;
	loop_timer_stop(c->loop, &c->ping_t);
	log_info("server %s: %s", c->hostport, why);
	if (c->quitting) {
		if (!c->draining)
			finish_quit(c);
		return;
	}
	if (was == S_REFUSED && usable_servers(c) > 1) {
		/* This server is skipped until the next login command; the
		 * others are tried (no password or token went to it). */
		c->refused |= 1u << c->cur;
		for (size_t i = 0; i < c->nct; i++)
			if (c->ct[i].online)
				c->ct[i].stale = 1;
		next_server(c, 0);
		return;
	}
	if (was == S_IDLE || was == S_REFUSED) {
		/* No retries, so no more presence: who is online is not known. */
		for (size_t i = 0; i < c->nct; i++)
			if (c->ct[i].online)
				c->ct[i].stale = 1;
		sweep_stale(c);
		return;
	}
	/* Not logged in yet (no answer, TLS, busy): the server's next
	 * address, if it has one left in this attempt. */
	struct addrinfo *next = c->ai_cur ? ai_next_cyclic(c, c->ai_cur) : NULL;
	if ((was == S_CONNECTING || was == S_GREETING || was == S_AUTH) && next != NULL) {
		log_info("server %s: trying its next address", c->hostport);
		c->ai_cur = next;
		if (connect_ai(c) == 0)
			return;
	}
	/* Presence stays as last known while away (so conversations carry
	 * on); the next login's sync says who really left. */
	for (size_t i = 0; i < c->nct; i++)
		if (c->ct[i].online)
			c->ct[i].stale = 1;
	if (was == S_READY || was == S_SETUP) {
		emitf(c, CLI_EV_ERROR, "lost the server connection (%s); reconnecting", why);
		/* After the usual delay, a new round from the next server:
		 * the lost one comes last. */
		c->tried = 0;
		memcpy(&c->avoid, &c->in_use, sizeof c->avoid);
		c->avoid_len = c->in_use_len;
		c->avoid_srv = c->cur;
		advance_server(c);
		schedule_retry(c);
		return;
	} else if (c->failures++ == 0) {
		emitf(c, CLI_EV_ERROR, "cannot reach server %s (%s); %s", c->hostport, why, retry_word(c));
	}
	next_server(c, 1);
}

/* ---- commands ---- */

/* A fresh login with what login_with or cli_resume just set: the backoff
 * starts over and a connection still open for the old one goes. */
static void begin_login(struct cli *c)
{
	c->failures = 0;
	c->attempt = 0;
	c->tried = 0;
	c->refused = 0;
	c->avoid_len = 0;
	if (c->sc) {
		c->state = S_IDLE;
		conn_abort(c->sc, "new login");
	}
	start_connect(c);
}

/* Starts a login with a password; resume_first: try the stored token
 * first (the password is then the fallback). */
static void login_with(struct cli *c, const char *name, const char *password, int signup, int resume_first)
{
	char folded[PROTO_NAME_MAX + 1];
	size_t pwlen = strlen(password);
	if (proto_name_fold(name, folded) < 0) {
		emitf(c, CLI_EV_ERROR,
		      "'%s' is not a valid name (1-32 of a-z 0-9 _ . -, starting with a letter or digit)",
		      name);
		return;
	}
	if (pwlen == 0 || pwlen >= sizeof c->password || strpbrk(password, "\r\n")) {
		emitf(c, CLI_EV_ERROR, "the password must be 1-%zu bytes on one line",
		      sizeof c->password - 1);
		return;
	}
	if (c->have_creds && c->state != S_IDLE && c->state != S_REFUSED) {
		emitf(c, CLI_EV_ERROR, "already logged in as %s", c->name[0] ? c->name : c->user);
		return;
	}
	snprintf(c->user, sizeof c->user, "%s", folded);
	memcpy(c->password, password, pwlen + 1);
	c->signup = signup;
	c->resume_first = resume_first;
	c->have_creds = c->have_password = 1;
	begin_login(c);
}

void cli_login(struct cli *c, const char *name, const char *password, int signup)
{
	login_with(c, name, password, signup, 0);
}

void cli_login_saved(struct cli *c, const char *name, const char *password)
{
	login_with(c, name, password, 0, 1);
}

int cli_resume(struct cli *c, const char *name)
{
	char folded[PROTO_NAME_MAX + 1];
	if (!c->cfg->resume_tokens || proto_name_fold(name, folded) < 0)
		return -1;
	size_t i = 0;
	while (i < c->nsrv && store_token(c->st, c->srv[i].hostport, folded) == NULL)
		i++;
	if (i == c->nsrv)
		return -1;
	if (c->have_creds && c->state != S_IDLE && c->state != S_REFUSED) {
		emitf(c, CLI_EV_ERROR, "already logged in as %s", c->name[0] ? c->name : c->user);
		return 0;
	}
	snprintf(c->user, sizeof c->user, "%s", folded);
	mbedtls_platform_zeroize(c->password, sizeof c->password);
	c->signup = c->have_password = 0;
	c->resume_first = 1;
	c->have_creds = 1;
	begin_login(c);
	return 0;
}

unsigned long cli_msg(struct cli *c, const char *name, const char *text)
{
	unsigned long id = ++c->next_id;
	char folded[PROTO_NAME_MAX + 1];
	if (proto_name_fold(name, folded) < 0) {
		peer_failed(c, name, id, PEER_NOTCONTACT);
		return id;
	}
	if (c->name[0] == '\0') {
		peer_failed(c, folded, id, PEER_OFFLINE);
		return id;
	}
	peer_send(c->peer, folded, id, text);
	return id;
}

static int fold_or_error(struct cli *c, const char *name, char out[PROTO_NAME_MAX + 1])
{
	if (proto_name_fold(name, out) == 0)
		return 0;
	emitf(c, CLI_EV_ERROR,
	      "'%s' is not a valid name (1-32 of a-z 0-9 _ . -, starting with a letter or digit)", name);
	return -1;
}

int cli_open(struct cli *c, const char *name)
{
	char folded[PROTO_NAME_MAX + 1];
	if (fold_or_error(c, name, folded) < 0)
		return -1;
	struct contact *k = ct_find(c, folded);
	if (k == NULL || !k->listed) {
		emitf(c, CLI_EV_ERROR, "%s is not a contact; add it first", folded);
		return -1;
	}
	if (k->online && !k->keychange && c->name[0])
		peer_open(c->peer, folded);
	return 0;
}

void cli_close(struct cli *c, const char *name)
{
	char folded[PROTO_NAME_MAX + 1];
	if (proto_name_fold(name, folded) == 0)
		peer_close(c->peer, folded, PEER_CLOSED);
}

int cli_add(struct cli *c, const char *name)
{
	char folded[PROTO_NAME_MAX + 1];
	if (fold_or_error(c, name, folded) < 0)
		return -1;
	struct contact *k = ct_get(c, folded);
	if (k == NULL || store_add_contact(c->st, folded) < 0) {
		emitf(c, CLI_EV_ERROR, "cannot add %s to %s/contacts: %s", folded, c->st->dir,
		      k ? strerror(errno) : "too many contacts");
		return -1;
	}
	k->listed = 1;
	k->asked = 0;
	if (logged_in(c))
		srv_cmd(c, W_ADD, folded, "ADD %s", folded);
	return 0;
}

int cli_del(struct cli *c, const char *name)
{
	char folded[PROTO_NAME_MAX + 1];
	if (fold_or_error(c, name, folded) < 0)
		return -1;
	if (store_del_contact(c->st, folded) < 0) {
		emitf(c, CLI_EV_ERROR, "cannot remove %s from %s/contacts: %s", folded, c->st->dir,
		      strerror(errno));
		return -1;
	}
	struct contact *k = ct_find(c, folded);
	if (k) {
		int was_online = k->online;
		k->listed = k->online = k->stale = 0;
		peer_close(c->peer, folded, PEER_CLOSED);
		if (was_online)
			emit(c, CLI_EV_OFFLINE, folded, NULL);
	}
	if (logged_in(c))
		srv_cmd(c, W_DEL, folded, "DEL %s", folded);
	return 0;
}

int cli_trust(struct cli *c, const char *name)
{
	char folded[PROTO_NAME_MAX + 1];
	if (fold_or_error(c, name, folded) < 0)
		return -1;
	struct contact *k = ct_find(c, folded);
	if (k == NULL || !k->keychange) {
		emitf(c, CLI_EV_ERROR, "no changed key of %s waits to be trusted", folded);
		return -1;
	}
	int e = 0;
	enum pinned pin = pin_key(c, 0, folded, k->newkey, &e);
	if (pin != PINNED) {
		if (pin == NOT_PINNED) {
			emitf(c, CLI_EV_ERROR, "cannot remember the key of %s: %s", folded, unpinned_why(e));
			return -1;
		}
		emitf(c, CLI_EV_ERROR,
		      "cannot store the key of %s in %s/known_keys: %s; it is trusted only while this "
		      "client runs",
		      folded, c->st->dir, strerror(e));
	}
	log_warn("trusting the new key of %s: %s", folded, k->newkey);
	k->keychange = 0;
	return 0;
}

static int cmp_ct(const void *a, const void *b)
{
	return strcmp(((const struct contact *)a)->name, ((const struct contact *)b)->name);
}

void cli_each_contact(struct cli *c, void (*fn)(void *arg, const struct cli_contact *ct), void *arg)
{
	if (c->nct > 0)
		qsort(c->ct, c->nct, sizeof *c->ct, cmp_ct);
	for (size_t i = 0; i < c->nct; i++) {
		const struct contact *k = &c->ct[i];
		if (!k->listed && !k->asked)
			continue;
		/* The pinned key is the store's: k->key is the last one
		 * announced (the new one, while a change waits for trust),
		 * and empty until the contact was online in this run. */
		const char *pinned = store_contact_key(c->st, k->name);
		struct cli_contact row = {k->name,      k->listed, k->online, k->asked,
		                          k->keychange, k->ip,     k->port,   pinned ? pinned : "",
		                          k->newkey};
		fn(arg, &row);
	}
}

enum cli_link cli_link(const struct cli *c)
{
	switch (c->state) {
	case S_READY:
		return CLI_LINK_UP;
	case S_CONNECTING:
	case S_GREETING:
	case S_AUTH:
	case S_SETUP:
		return c->name[0] ? CLI_LINK_RETRY : CLI_LINK_CONNECTING;
	case S_RETRY:
		return CLI_LINK_RETRY;
	case S_IDLE:
	case S_REFUSED:
	case S_LOGOUT:
		break;
	}
	return CLI_LINK_IDLE;
}

const char *cli_fingerprint(const struct cli *c)
{
	return c->st->fingerprint;
}

const char *cli_reason_text(const char *word)
{
	static const char *const map[][2] = {
	    {PEER_OFFLINE, "not online"},
	    {PEER_NOTCONTACT, "not a mutual contact"},
	    {PEER_UNTRUSTED, "its key changed; check it, then /trust it"},
	    {PEER_UNREACHABLE, "cannot connect to its address"},
	    {PEER_REFUSED, "it refused the connection"},
	    {PEER_KEYMISMATCH, "it presented a key other than the one announced"},
	    {PEER_TIMEOUT, "no answer in time"},
	    {PEER_LOST, "the connection broke"},
	    {PEER_CLOSED, "the conversation was closed"},
	    {PEER_TOOLONG, "the message is too long"},
	    {PEER_BUSY, "too many messages wait for it"},
	};
	for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
		if (strcmp(map[i][0], word) == 0)
			return map[i][1];
	return word;
}

static void finish_quit(struct cli *c)
{
	if (c->quit_done)
		return;
	c->quit_done = 1;
	loop_timer_stop(c->loop, &c->quit_t);
	loop_timer_stop(c->loop, &c->ping_t);
	loop_timer_stop(c->loop, &c->retry_t);
	if (c->sc) {
		struct conn *sc = c->sc;
		c->sc = NULL;
		conn_abort(sc, "quitting");
	}
	peer_shutdown(c->peer);
	emit(c, CLI_EV_BYE, NULL, NULL);
	/* The loop ends after this pass, which frees what was closed. */
	loop_stop(c->loop);
}

static void logout_wait_over(struct loop *l, void *arg)
{
	(void)l;
	finish_quit(arg);
}

/* Second step of quitting: BYE to peers, LOGOUT, then finish_quit. */
static void quit_logout(struct cli *c)
{
	c->draining = 0;
	if (logged_in(c)) {
		c->state = S_LOGOUT;
		/* Peers hear BYE first: a conversation ends before presence does. */
		peer_shutdown(c->peer);
		if (srv_cmd(c, W_LOGOUT, NULL, "LOGOUT") == 0) {
			loop_timer_set(c->loop, &c->quit_t, CLI_LOGOUT_WAIT_MS, logout_wait_over, c);
			return;
		}
	}
	finish_quit(c);
}

static void drain_over(struct loop *l, void *arg)
{
	(void)l;
	quit_logout(arg);
}

void cli_quit(struct cli *c)
{
	if (c->quitting)
		return;
	c->quitting = 1;
	/* Messages already on their way get their ACK (or their timeout)
	 * before the conversations end: the peer may well have them. */
	if (peer_pending(c->peer) > 0) {
		c->draining = 1;
		loop_timer_set(c->loop, &c->quit_t, (uint64_t)c->cfg->connect_timeout * 1000, drain_over, c);
		return;
	}
	quit_logout(c);
}

unsigned cli_peer_port(const struct cli *c)
{
	return peer_port(c->peer);
}

const char *cli_name(const struct cli *c)
{
	return c->name;
}

int cli_status(const struct cli *c)
{
	if (c->status == 0 && c->name[0] == '\0')
		return 1;
	return c->status;
}

struct cli *cli_new(struct loop *l, const struct conf_client *cfg, struct store *st, cli_emit_fn emit_fn,
                    void *arg, char *err, size_t errlen)
{
	if (cfg->server_key[0] && !proto_key_valid(cfg->server_key)) {
		snprintf(err, errlen,
		         "server_key must be 64 lower-case hex digits (im server --fingerprint)");
		return NULL;
	}
	struct cli *c = calloc(1, sizeof *c);
	if (c == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	c->loop = l;
	c->cfg = cfg;
	c->st = st;
	c->emit = emit_fn;
	c->emit_arg = arg;
	jitter_seed(c);
	char why[200];
	int n = cfg->server[0] ? conf_servers_parse(cfg->server, (unsigned)cfg->server_port, c->srv,
	                                            CONF_SERVERS_MAX, why, sizeof why)
	                       : -1;
	if (n < 0) {
		snprintf(err, errlen, "bad server in [client]: %s",
		         cfg->server[0] ? why : "none given (HOST or HOST:PORT, up to 8)");
		cli_free(c);
		return NULL;
	}
	c->nsrv = (size_t)n;
	set_server(c, 0);
	struct peer_cfg pcfg = {
	    .listen = cfg->peer_listen,
	    .port = (unsigned)cfg->peer_port,
	    .key_file = st->key_file,
	    .cert_file = st->cert_file,
	    .timeout_ms = (unsigned)cfg->connect_timeout * 1000,
	    .max_line = (size_t)cfg->max_line,
	    .max_out = (size_t)cfg->max_output_buffer,
	    .max_unidentified = (size_t)cfg->max_peer_unauth,
	    .max_unidentified_per_ip = (size_t)cfg->max_peer_unauth_per_ip,
	    .ipv6_prefix = cfg->ipv6_prefix,
	    .hello_timeout_ms = (unsigned)cfg->peer_hello_timeout * 1000,
	    .max_queued = (size_t)cfg->max_queued_messages,
	};
	if (proto_nets_parse(cfg->lan_nets, &pcfg.lan_nets, err, errlen) < 0 ||
	    proto_nets_parse(cfg->lan_nets, &c->lan_nets, err, errlen) < 0) {
		cli_free(c);
		return NULL;
	}
	c->srv_tls = tls_cfg_new(TLS_CLIENT, NULL, NULL, err, errlen);
	if (c->srv_tls == NULL || (c->peer = peer_new(l, &pcfg, &cli_peer_ops, c, err, errlen)) == NULL) {
		cli_free(c);
		return NULL;
	}
	for (size_t i = 0; i < st->ncontacts; i++) {
		struct contact *k = ct_get(c, st->contacts[i]);
		if (k)
			k->listed = 1;
	}
	return c;
}

void cli_free(struct cli *c)
{
	if (c == NULL)
		return;
	peer_free(c->peer);
	tls_cfg_free(c->srv_tls);
	if (c->ai_list)
		freeaddrinfo(c->ai_list);
	mbedtls_platform_zeroize(c->password, sizeof c->password);
	mbedtls_platform_zeroize(c->tls_sess, sizeof c->tls_sess);
	free(c->pend);
	free(c->ct);
	free(c);
}
