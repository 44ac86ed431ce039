/* churn: the churn test's driver (tests/t_churn.sh). One poll() loop over
 * the project's loop, conn and tls modules drives thousands of virtual
 * clients of a running im server through logins, logouts, kills, hangs,
 * second logins and ADD/DEL; it keeps the truth of who is online and who
 * lists whom, and after quiescence compares every client's view and the
 * server's session files with that truth. Figures go to stdout.
 *
 * usage: churn [options] PORT SERVER_PID RUN_DIR
 *   PORT and RUN_DIR may be comma-separated lists (at most 8): the nodes
 *   of one cluster, each connection going to one picked at random (so a
 *   second login often lands on another node), the session files read
 *   from every node's run_dir (each online user in exactly one).
 *   -n CLIENTS  clients logged in at once (2000)
 *   -u USERS    accounts u00000.. (password "benchpass1"; CLIENTS * 1.1)
 *   -d CONTACTS mutual contacts each at the start (20)
 *   -s SECONDS  length of the churn (60)
 *   -r RATE     logins + leaves per second during the churn (CLIENTS / 50)
 *   -a RATE     ADD + DEL per second, all clients together (CLIENTS / 100:
 *               a client's ADD/DEL rate stays well under one a minute)
 *   -k SECONDS  the server's keepalive_timeout: clients PING every third
 *               of it, and some "hang" (stop talking) so keepalive must
 *               drop them; 0 = no hangs (10)
 *   -c N        handshakes and logins in flight at once (64)
 *   -x SEED     random seed (default: from the clock; printed)
 *   -m MB       churn_rss_back passes when the end RSS is within this many
 *               MiB of the start, or 20% of it, whichever is larger (4),
 *               plus CHURN_KEPT_PER_USER_KIB for each user
 *   -R          report RSS figures only (churn_rss_back prints SKIP; for
 *               sanitizer builds, whose allocator keeps freed memory, and
 *               a server under an emulator, $IM_EMULATOR, whose RSS it is)
 *   -P          self-check: perturb the truth before comparing, so both
 *               comparisons must report mismatches
 * Results: "PASS churn_NAME" / "FAIL churn_NAME: why" for setup,
 * views_match, session_files_match, all_left, clients_done, rss_back;
 * exit 0 when all passed. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "conn.h"
#include "loop.h"
#include "proto.h"
#include "tls.h"

#define CHURN_KEPT_PER_USER_KIB 4 /* see churn_rss_back */
#define CHURN_NODES             8 /* servers of one cluster */

#define PASSWORD     "benchpass1"
#define QMAX         32   /* replies one connection may await */
#define MAX_LIST     40   /* ADD stops here */
#define MIN_LIST     10   /* DEL stops here */
#define SRC_NETS     250  /* source addresses 127.0.1.1 .. 127.0.1.250 */
#define QUIET_MS     2000 /* no line anywhere for this long = quiet */
#define CHECK_ROUNDS 3
#define TICK_MS      10
#define NREPORT      8 /* mismatches printed in full per comparison */

enum cmd { C_LOGIN, C_CONTACTS, C_PEER, C_ADD, C_DEL, C_PING, C_LOGOUT };

enum vstate {
	V_GREET,    /* connecting, handshaking or awaiting "IM 1" */
	V_LOGIN,    /* LOGIN sent */
	V_READY,    /* logged in: the user's session (if u->vc is this) */
	V_LEAVING,  /* LOGOUT sent; the server closes */
	V_HUNG,     /* silent and not read: keepalive must drop it */
	V_REPLACED, /* the user logged in again elsewhere: KICKED expected */
};

struct seen {
	int who;
	unsigned port;
	char key[PROTO_KEY_HEX + 1];
	char ip[48];
};

struct user;

/* One connection of a virtual client. */
struct vc {
	struct conn *c;
	struct user *u;
	enum vstate st;
	enum cmd q[QMAX];
	int qarg[QMAX];
	int qh, qn;
	int adddel_pending, kicked, peered, kill_at_login;
	int backup[MAX_LIST + 1], nbackup; /* the list before a CONTACTS in flight */
	unsigned backup_port;              /* and the address before a PEER */
	char backup_key[PROTO_KEY_HEX + 1];
	struct loop_timer later; /* a late PEER, or a kill during login */
	uint64_t hang_at, peered_at;
	struct seen *view; /* the contacts it was told are online */
	size_t nview, capview;
	struct loop_timer ping;
	struct vc *prev, *next;
};

struct user {
	int idx;
	char name[16];
	int list[MAX_LIST + 1]; /* whom it lists: the client's own file */
	int nlist;
	struct vc *vc;       /* its current connection, or NULL */
	uint64_t rest_until; /* no login before (so keepalive, not a login, ends a hang) */
	unsigned gen, port;
	char key[PROTO_KEY_HEX + 1];
	char ip[16];
	int fake_offline;                   /* self-check only */
	uint64_t peer_at, left_at, list_at; /* its last PEER, leaving (0 = n/a), list change */
};

/* News latencies in ms during the churn: from PEER to a contact's ONLINE,
 * from LOGOUT or kill to a contact's OFFLINE (the driver's own delays
 * included: one process plays every client). */
struct lat {
	double *v;
	size_t n, cap;
};

static struct {
	int clients, users, contacts, secs, rate, adrate, ka, conc, rss_mb, rss_skip, perturb;
	unsigned long long seed;
	unsigned short port[CHURN_NODES];
	int nports;
	int pid;
	char *run_dir[CHURN_NODES];
	int ndirs;
} opt = {2000, 0, 20, 60, 0, -1, 10, 64, 4, 0, 0, 0, {0}, 0, 0, {NULL}, 0};

static struct {
	long logins, login_err, logouts, kills_rst, kills_fin, kills_checking, hangs, hang_dropped,
	    hang_kicked, hang_undropped;
	long replaces, kicked, kicked_unexpected, adds, dels, recontacts, repeers, late_peers, refused,
	    err_other, proto_err;
	long online_lines, offline_lines, asked_lines, other_lines, closed_unexpected, stuck,
	    change_then_logout;
} st;

static struct loop *lp;
static struct tls_cfg *cfg;
static struct user *users;
static struct vc *vcs; /* every open connection */
static int nvcs, in_flight;
static uint64_t last_line, t_start;
static long rss0, rss_peak, rss_setup;
static int failed_checks;
static struct lat lat_online, lat_offline;

static int sampling; /* during the churn only: the final mass leave is no news */

static void lat_add(struct lat *l, uint64_t since)
{
	if (!sampling)
		return;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 4096;
		double *p = realloc(l->v, cap * sizeof *p);
		if (p == NULL)
			return;
		l->v = p;
		l->cap = cap;
	}
	l->v[l->n++] = (double)(loop_now(lp) - since);
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static void lat_print(const char *what, struct lat *l)
{
	if (l->n == 0)
		return;
	qsort(l->v, l->n, sizeof *l->v, cmp_d);
	printf("churn: %s_ms n=%zu p50=%.0f p99=%.0f max=%.0f\n", what, l->n, l->v[l->n / 2],
	       l->v[l->n * 99 / 100], l->v[l->n - 1]);
}

static void report(int ok, const char *name, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void report(int ok, const char *name, const char *fmt, ...)
{
	if (ok) {
		printf("PASS churn_%s\n", name);
		return;
	}
	failed_checks++;
	va_list ap;
	va_start(ap, fmt);
	printf("FAIL churn_%s: ", name);
	vprintf(fmt, ap);
	printf("\n");
	va_end(ap);
}

static void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void note(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	printf("churn: [%5.1fs] ", (double)(loop_clock() - t_start) / 1000);
	vprintf(fmt, ap);
	printf("\n");
	va_end(ap);
}

/* xorshift64*: reproducible from the printed seed. */
static unsigned long long rng_state;
static unsigned rnd(unsigned n)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (unsigned)((rng_state * 2685821657736338717ULL) >> 33) % n;
}

static long rss_kib(void)
{
	char path[64], line[256];
	long kib = -1;
	snprintf(path, sizeof path, "/proc/%d/status", opt.pid);
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return -1;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

static int server_alive(void)
{
	return kill(opt.pid, 0) == 0 || errno == EPERM;
}

static int user_index(const char *name)
{
	int i;
	char end;
	if (sscanf(name, "u%d%c", &i, &end) != 1 || i < 0 || i >= opt.users)
		return -1;
	return i;
}

/* ---- contact lists ---- */

static int lists(const struct user *u, int who)
{
	for (int i = 0; i < u->nlist; i++)
		if (u->list[i] == who)
			return 1;
	return 0;
}

static void list_add(struct user *u, int who)
{
	if (!lists(u, who) && u->nlist < MAX_LIST + 1)
		u->list[u->nlist++] = who;
}

static void list_del(struct user *u, int who)
{
	for (int i = 0; i < u->nlist; i++)
		if (u->list[i] == who) {
			u->list[i] = u->list[--u->nlist];
			return;
		}
}

/* The truth: u has a session the server has announced (PEER sent). */
static int online(const struct user *u)
{
	return u->vc != NULL && u->vc->st == V_READY && u->vc->peered && !u->fake_offline;
}

/* The truth: does a see b online? */
static int should_see(const struct user *a, const struct user *b)
{
	return online(b) && lists(a, b->idx) && lists(b, a->idx);
}

/* ---- connections ---- */

static void push(struct vc *v, enum cmd c, int arg)
{
	if (v->qn == QMAX) {
		fprintf(stderr, "churn: %s: more than %d commands in flight\n", v->u->name, QMAX);
		exit(1);
	}
	int i = (v->qh + v->qn) % QMAX;
	v->q[i] = c;
	v->qarg[i] = arg;
	v->qn++;
}

static void send_ping(struct loop *l, void *arg);

static void arm_ping(struct vc *v)
{
	if (opt.ka > 0)
		loop_timer_set(lp, &v->ping, (uint64_t)opt.ka * 1000 / 3 - rnd(500), send_ping, v);
}

static void send_ping(struct loop *l, void *arg)
{
	struct vc *v = arg;
	(void)l;
	if (v->st != V_READY)
		return;
	if (v->qn < QMAX - 4) {
		conn_send(v->c, "PING k");
		push(v, C_PING, 0);
	}
	arm_ping(v);
}

static void vc_free(struct vc *v)
{
	loop_timer_stop(lp, &v->ping);
	loop_timer_stop(lp, &v->later);
	if (v->u->vc == v)
		v->u->vc = NULL;
	if (v->prev)
		v->prev->next = v->next;
	else
		vcs = v->next;
	if (v->next)
		v->next->prev = v->prev;
	if (v->st == V_GREET || v->st == V_LOGIN)
		in_flight--;
	nvcs--;
	free(v->view);
	free(v);
}

/* Sends the whole contact list; arg 1 = may be refused and taken back. */
static void send_contacts(struct vc *v, int arg)
{
	struct user *u = v->u;
	char line[PROTO_LINE_MAX];
	int n = snprintf(line, sizeof line, "CONTACTS");
	for (int i = 0; i < u->nlist; i++)
		n += snprintf(line + n, sizeof line - (size_t)n, " %s", users[u->list[i]].name);
	conn_send(v->c, "%s", line);
	push(v, C_CONTACTS, arg);
	u->list_at = loop_now(lp);
}

/* Announces a new address and key (each PEER a new one: a stale ONLINE
 * anywhere shows). */
static void send_peer(struct vc *v)
{
	struct user *u = v->u;
	v->backup_port = u->port;
	snprintf(v->backup_key, sizeof v->backup_key, "%s", u->key);
	u->gen++;
	u->port = 20000 + ((unsigned)u->idx + u->gen * 7919u) % 40000;
	snprintf(u->key, sizeof u->key, "%08x%08x%048x", (unsigned)u->idx, u->gen, 0u);
	conn_send(v->c, "PEER %u %s", u->port, u->key);
	push(v, C_PEER, 0);
	if (!v->peered)
		v->peered_at = loop_now(lp);
	v->peered = 1;
	u->peer_at = loop_now(lp);
}

static void late_peer(struct loop *l, void *arg)
{
	struct vc *v = arg;
	(void)l;
	if (v->st == V_READY && !v->peered)
		send_peer(v);
}

static void logged_in(struct vc *v)
{
	in_flight--;
	v->st = V_READY;
	st.logins++;
	send_contacts(v, 0);
	/* Some wait before PEER: presence is withheld until then. */
	if (rnd(10) == 0) {
		st.late_peers++;
		loop_timer_set(lp, &v->later, 200 + rnd(1300), late_peer, v);
	} else {
		send_peer(v);
	}
	arm_ping(v);
}

static void unexpected(struct vc *v, long *counter, const char *what, const char *line)
{
	if ((*counter)++ < 5)
		note("%s: %s: %.200s", v->u->name, what, line);
}

/* A second login that failed leaves the first in place (not KICKED). */
static void restore_replaced(struct user *u)
{
	for (struct vc *o = vcs; o && u->vc == NULL; o = o->next)
		if (o->u == u && o->st == V_REPLACED && !o->kicked) {
			o->st = V_READY;
			u->vc = o;
			arm_ping(o);
		}
}

/* A reply ("OK", "ERR", "PONG", "BYE") to the oldest command in flight. */
static void on_reply(struct vc *v, const char *line)
{
	if (v->qn == 0) {
		unexpected(v, &st.proto_err, "reply to no command", line);
		return;
	}
	enum cmd c = v->q[v->qh];
	int arg = v->qarg[v->qh];
	v->qh = (v->qh + 1) % QMAX;
	v->qn--;
	int ok = strncmp(line, "OK", 2) == 0 && (line[2] == '\0' || line[2] == ' ');
	int err = strncmp(line, "ERR ", 4) == 0;
	struct user *u = v->u;
	switch (c) {
	case C_LOGIN:
		if (ok && strcmp(line + 3, u->name) == 0 && v->st == V_LOGIN) {
			logged_in(v);
			return;
		}
		unexpected(v, &st.login_err, "login refused", line);
		in_flight--;
		v->st = V_LEAVING;
		conn_close(v->c, "login refused");
		restore_replaced(u);
		return;
	case C_ADD:
	case C_DEL:
		v->adddel_pending = 0;
		if (ok) {
			c == C_ADD ? st.adds++ : st.dels++;
			return;
		}
		/* Not applied: the client takes its change back. */
		if (err && strncmp(line, "ERR 429", 7) == 0)
			st.refused++;
		else
			unexpected(v, &st.err_other, c == C_ADD ? "ADD" : "DEL", line);
		if (c == C_ADD)
			list_del(u, arg);
		else
			list_add(u, arg);
		return;
	case C_CONTACTS:
	case C_PEER:
		v->adddel_pending = 0;
		if (ok)
			return;
		/* Refused: the client keeps what the server has. */
		if (err && strncmp(line, "ERR 429", 7) == 0 && (c == C_PEER || arg))
			st.refused++;
		else
			unexpected(v, &st.err_other, c == C_PEER ? "PEER" : "CONTACTS", line);
		if (c == C_CONTACTS && arg) {
			memcpy(u->list, v->backup, sizeof u->list);
			u->nlist = v->nbackup;
		} else if (c == C_PEER) {
			u->port = v->backup_port;
			snprintf(u->key, sizeof u->key, "%s", v->backup_key);
		}
		return;
	case C_PING:
		if (strncmp(line, "PONG", 4) != 0)
			unexpected(v, &st.proto_err, "PING answered", line);
		return;
	case C_LOGOUT:
		if (strcmp(line, "BYE") != 0)
			unexpected(v, &st.proto_err, "LOGOUT answered", line);
		return;
	}
}

static void view_set(struct vc *v, const struct proto_online *o, int who)
{
	size_t i;
	for (i = 0; i < v->nview && v->view[i].who != who; i++)
		;
	if (i == v->nview) {
		if (v->nview == v->capview) {
			size_t cap = v->capview ? v->capview * 2 : 8;
			struct seen *p = realloc(v->view, cap * sizeof *p);
			if (p == NULL) {
				fprintf(stderr, "churn: out of memory\n");
				exit(1);
			}
			v->view = p;
			v->capview = cap;
		}
		v->nview++;
	}
	v->view[i].who = who;
	v->view[i].port = o->port;
	snprintf(v->view[i].key, sizeof v->view[i].key, "%s", o->key);
	snprintf(v->view[i].ip, sizeof v->view[i].ip, "%s", o->ip);
}

static void view_del(struct vc *v, int who)
{
	for (size_t i = 0; i < v->nview; i++)
		if (v->view[i].who == who) {
			v->view[i] = v->view[--v->nview];
			return;
		}
}

/* Gone while the server checks the password: the worker's answer must
 * find no one, and no session may stay behind. */
static void kill_in_login(struct loop *l, void *arg)
{
	struct vc *v = arg;
	struct linger lg = {1, 0};
	(void)l;
	if (v->st != V_LOGIN)
		return;
	setsockopt(v->c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
	in_flight--;
	v->st = V_LEAVING;
	st.kills_checking++;
	conn_abort(v->c, "killed during login");
}

/* An ONLINE caused by b's latest PEER (not by a's login or either side's
 * list change): its delay is the fan-out latency. */
static int news_of_peer(const struct vc *a, const struct user *b, const char *key)
{
	return online(b) && !strcmp(key, b->key) && a->peered && b->peer_at > a->peered_at &&
	       b->peer_at > a->u->list_at && b->peer_at >= b->list_at;
}

static void on_line(struct conn *c, char *line, size_t len)
{
	struct vc *v = c->owner;
	(void)len;
	if (v->st == V_GREET) {
		if (strncmp(line, "IM 1 ", 5) != 0) {
			unexpected(v, &st.login_err, "greeting", line);
			in_flight--;
			v->st = V_LEAVING;
			conn_close(c, "bad greeting");
			return;
		}
		v->st = V_LOGIN;
		conn_send(c, "LOGIN %s %s", v->u->name, PASSWORD);
		push(v, C_LOGIN, 0);
		/* The line goes out after this pass; the kill comes a moment
		 * later, while the server checks the password (or just after). */
		if (v->kill_at_login)
			loop_timer_set(lp, &v->later, rnd(4), kill_in_login, v);
		return;
	}
	if (!strncmp(line, "OK", 2) || !strncmp(line, "ERR ", 4) || !strncmp(line, "PONG", 4) ||
	    !strcmp(line, "BYE")) {
		on_reply(v, line);
		return;
	}
	/* News, not an answer: quiet means none of these for a while. */
	last_line = loop_now(lp);
	if (!strncmp(line, "ONLINE ", 7)) {
		struct proto_online o;
		int who;
		st.online_lines++;
		if (proto_parse_online(line + 7, &o) < 0 || (who = user_index(o.name)) < 0) {
			unexpected(v, &st.proto_err, "bad ONLINE", line);
			return;
		}
		view_set(v, &o, who);
		if (v->st == V_READY && news_of_peer(v, &users[who], o.key))
			lat_add(&lat_online, users[who].peer_at);
	} else if (!strncmp(line, "OFFLINE ", 8)) {
		int who = user_index(line + 8);
		st.offline_lines++;
		if (who < 0) {
			unexpected(v, &st.proto_err, "bad OFFLINE", line);
			return;
		}
		view_del(v, who);
		/* News of its logout or kill. */
		if (v->st == V_READY && users[who].vc == NULL && users[who].left_at)
			lat_add(&lat_offline, users[who].left_at);
	} else if (!strncmp(line, "ASKED ", 6)) {
		st.asked_lines++;
	} else if (!strncmp(line, "KICKED", 6)) {
		if (v->st == V_REPLACED || v->st == V_HUNG)
			v->kicked = 1, st.kicked++;
		else
			unexpected(v, &st.kicked_unexpected, "KICKED", line);
	} else if (strncmp(line, "TOKEN ", 6) != 0) {
		/* Lines of later protocol versions are allowed; counted. */
		unexpected(v, &st.other_lines, "other line", line);
	}
}

static void on_close(struct conn *c, const char *why)
{
	struct vc *v = c->owner;
	if (v->st == V_HUNG)
		v->kicked ? st.hang_kicked++ : st.hang_dropped++;
	else if (v->st == V_READY || v->st == V_GREET || v->st == V_LOGIN)
		unexpected(v, &st.closed_unexpected, "connection ended", why);
	else if (v->st == V_REPLACED && !v->kicked)
		unexpected(v, &st.kicked_unexpected, "closed without KICKED", why);
	struct user *u = v->u;
	int in_login = v->st == V_GREET || v->st == V_LOGIN;
	vc_free(v);
	if (in_login)
		restore_replaced(u);
}

static const struct conn_ops ops = {NULL, on_line, NULL, on_close};

/* Opens a connection for u from its own loopback source address. */
static struct vc *connect_user(struct user *u)
{
	struct vc *v = calloc(1, sizeof *v);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (v == NULL || fd < 0) {
		fprintf(stderr, "churn: cannot open a socket: %s (raise ulimit -n)\n", strerror(errno));
		exit(1);
	}
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
	struct sockaddr_in sa;
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(0x7f000100u + 1 + (unsigned)(u->idx % SRC_NETS));
	inet_ntop(AF_INET, &sa.sin_addr, u->ip, sizeof u->ip);
	if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		fprintf(stderr, "churn: bind %s: %s\n", u->ip, strerror(errno));
		exit(1);
	}
	sa.sin_port = htons(opt.port[opt.nports > 1 ? rnd((unsigned)opt.nports) : 0]);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0 && errno != EINPROGRESS) {
		fprintf(stderr, "churn: connect: %s\n", strerror(errno));
		exit(1);
	}
	v->u = u;
	v->st = V_GREET;
	if ((v->c = conn_new(lp, fd, cfg, 1, &ops, v, PROTO_LINE_MAX, 1 << 20)) == NULL) {
		fprintf(stderr, "churn: out of memory\n");
		exit(1);
	}
	v->next = vcs;
	if (vcs)
		vcs->prev = v;
	vcs = v;
	nvcs++;
	in_flight++;
	u->vc = v;
	u->left_at = 0;
	return v;
}

/* ---- churn actions ---- */

static struct user *pick(int want_online)
{
	for (int tries = 0; tries < 64; tries++) {
		struct user *u = &users[rnd((unsigned)opt.users)];
		if (want_online && u->vc && u->vc->st == V_READY && u->vc->qn == 0)
			return u;
		if (!want_online && u->vc == NULL && loop_now(lp) >= u->rest_until)
			return u;
	}
	return NULL;
}

/* One ADD or DEL, and the client's list changed to match. */
static void change_one(struct vc *v)
{
	struct user *u = v->u;
	if ((rnd(2) && u->nlist < MAX_LIST) || u->nlist <= MIN_LIST) {
		int who;
		do
			who = (int)rnd((unsigned)opt.users);
		while (who == u->idx || lists(u, who));
		list_add(u, who);
		conn_send(v->c, "ADD %s", users[who].name);
		u->list_at = loop_now(lp);
		push(v, C_ADD, who);
	} else {
		int who = u->list[rnd((unsigned)u->nlist)];
		list_del(u, who);
		conn_send(v->c, "DEL %s", users[who].name);
		u->list_at = loop_now(lp);
		push(v, C_DEL, who);
	}
	v->adddel_pending = 1;
}

static void do_logout(struct user *u)
{
	struct vc *v = u->vc;
	v->st = V_LEAVING;
	u->left_at = loop_now(lp);
	loop_timer_stop(lp, &v->ping);
	conn_send(v->c, "LOGOUT");
	push(v, C_LOGOUT, 0);
	st.logouts++;
}

/* An abrupt end without LOGOUT: a reset, or a FIN without close_notify. */
static void do_kill(struct user *u, int rst)
{
	struct vc *v = u->vc;
	if (rst) {
		struct linger lg = {1, 0};
		setsockopt(v->c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
		st.kills_rst++;
	} else {
		st.kills_fin++;
	}
	v->st = V_LEAVING;
	u->left_at = loop_now(lp);
	conn_abort(v->c, "killed");
}

/* Stops talking and reading; the server's keepalive must find it. */
static void do_hang(struct user *u)
{
	struct vc *v = u->vc;
	v->st = V_HUNG;
	v->hang_at = loop_now(lp);
	loop_timer_stop(lp, &v->ping);
	conn_hold(v->c, 1);
	u->vc = NULL;
	u->left_at = 0;
	u->rest_until = v->hang_at + (uint64_t)opt.ka * 1000 + 3000;
	st.hangs++;
}

/* A second login while the first is open: the first must be KICKED. */
static void do_replace(struct user *u)
{
	struct vc *old = u->vc;
	old->st = V_REPLACED;
	loop_timer_stop(lp, &old->ping);
	connect_user(u);
	st.replaces++;
}

/* Every tenth leave is a hang while keepalive has time to find it before
 * the churn ends; the others are drawn at random. */
static void do_leave(struct user *u, uint64_t churn_left_ms)
{
	static unsigned nleave;
	unsigned r = rnd(90);
	if (nleave++ % 10 == 0 && opt.ka > 0 && churn_left_ms > (uint64_t)opt.ka * 1000 + 1000)
		do_hang(u);
	else if (r < 20) {
		/* A change and the goodbye in one write (one TLS record):
		 * the server handles both in the same loop pass. */
		change_one(u->vc);
		st.change_then_logout++;
		do_logout(u);
	} else if (r < 40)
		do_logout(u);
	else if (r < 60)
		do_kill(u, 1);
	else if (r < 80)
		do_kill(u, 0);
	else if (in_flight < opt.conc)
		do_replace(u);
	else
		do_logout(u);
}

/* A new whole list: two contacts fewer, two more (bounded). */
static void do_recontacts(struct vc *v)
{
	struct user *u = v->u;
	memcpy(v->backup, u->list, sizeof u->list);
	v->nbackup = u->nlist;
	for (int k = 0; k < 2 && u->nlist > MIN_LIST; k++)
		list_del(u, u->list[rnd((unsigned)u->nlist)]);
	for (int k = 0; k < 2 && u->nlist < MAX_LIST; k++) {
		int who = (int)rnd((unsigned)opt.users);
		if (who != u->idx)
			list_add(u, who);
	}
	send_contacts(v, 1);
	st.recontacts++;
}

static void do_adddel(void)
{
	struct user *u = pick(1);
	if (u == NULL || u->vc->adddel_pending || !u->vc->peered)
		return;
	struct vc *v = u->vc;
	unsigned r = rnd(8);
	v->adddel_pending = 1;
	if (r == 0) {
		do_recontacts(v);
		return;
	}
	if (r == 1) {
		send_peer(v);
		st.repeers++;
		return;
	}
	change_one(v);
}

/* ---- the comparisons ---- */

/* Counts one mismatch; prints the first few when asked. */
static void mismatch(int *bad, int print, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void mismatch(int *bad, int print, const char *fmt, ...)
{
	if ((*bad)++ >= NREPORT || !print)
		return;
	va_list ap;
	va_start(ap, fmt);
	printf("churn: mismatch: ");
	vprintf(fmt, ap);
	printf("\n");
	va_end(ap);
}

static int view_mismatches(int print)
{
	int bad = 0;
	for (int i = 0; i < opt.users; i++) {
		struct user *a = &users[i];
		if (!online(a))
			continue;
		struct vc *v = a->vc;
		for (size_t k = 0; k < v->nview; k++) {
			const struct seen *s = &v->view[k];
			const struct user *b = &users[s->who];
			const char *why = NULL;
			if (!should_see(a, b))
				why = online(b) ? "not a mutual contact" : "offline";
			else if (s->port != b->port || strcmp(s->key, b->key) || strcmp(s->ip, b->ip))
				why = "stale address or key";
			if (why)
				mismatch(&bad, print, "%s sees %s online (%s)", a->name, b->name, why);
		}
		for (int k = 0; k < a->nlist; k++) {
			const struct user *b = &users[a->list[k]];
			size_t j;
			for (j = 0; j < v->nview && v->view[j].who != b->idx; j++)
				;
			if (should_see(a, b) && j == v->nview)
				mismatch(&bad, print, "%s does not see %s online", a->name, b->name);
		}
	}
	return bad;
}

/* One field of a session file against the truth; a reason or NULL. */
static const char *field_mismatch(const struct user *u, const char *key, char *val)
{
	char port[16];
	snprintf(port, sizeof port, "%u", u->port);
	if (!strcmp(key, "name"))
		return strcmp(val, u->name) ? "name differs" : NULL;
	if (!strcmp(key, "port"))
		return strcmp(val, port) ? "port differs" : NULL;
	if (!strcmp(key, "key"))
		return strcmp(val, u->key) ? "key differs" : NULL;
	if (!strcmp(key, "ip"))
		return strcmp(val, u->ip) ? "ip differs" : NULL;
	int n = 0;
	char *save = NULL;
	for (char *t = strtok_r(val, " ", &save); t; t = strtok_r(NULL, " ", &save), n++)
		if (user_index(t) < 0 || !lists(u, user_index(t)))
			return "lists a contact the client does not";
	return n != u->nlist ? "misses a contact the client lists" : NULL;
}

/* One session file against the truth; returns a reason or NULL. */
static const char *file_mismatch(const char *path, const struct user *u)
{
	static const char *const wanted[] = {"name", "ip", "port", "key", "contacts"};
	char line[PROTO_LINE_MAX * 16];
	int fields = 0;
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return "cannot be read";
	const char *why = NULL;
	while (!why && fgets(line, sizeof line, f)) {
		line[strcspn(line, "\n")] = '\0';
		char *val = strchr(line, '=');
		if (val == NULL)
			continue;
		*val++ = '\0';
		for (size_t i = 0; i < sizeof wanted / sizeof *wanted; i++)
			if (!strcmp(line, wanted[i])) {
				fields++;
				why = field_mismatch(u, line, val);
			}
	}
	fclose(f);
	return why ? why : fields < 5 ? "lacks fields" : NULL;
}

static int file_mismatches(int print, int *nfiles)
{
	int bad = 0;
	char *seen = calloc((size_t)opt.users, 1);
	if (seen == NULL)
		return -1;
	*nfiles = 0;
	for (int k = 0; k < opt.ndirs; k++) {
		DIR *d = opendir(opt.run_dir[k]);
		if (d == NULL) {
			note("cannot read %s: %s", opt.run_dir[k], strerror(errno));
			free(seen);
			return -1;
		}
		struct dirent *e;
		while ((e = readdir(d)) != NULL) {
			if (e->d_name[0] == '.')
				continue;
			(*nfiles)++;
			int i = user_index(e->d_name);
			char path[1024];
			snprintf(path, sizeof path, "%s/%s", opt.run_dir[k], e->d_name);
			const char *why = i < 0                ? "not a user of this test"
			                  : !online(&users[i]) ? "user is offline"
			                  : seen[i]            ? "a second session file (on another node)"
			                                       : NULL;
			if (why == NULL) {
				seen[i] = 1;
				why = file_mismatch(path, &users[i]);
			}
			if (why)
				mismatch(&bad, print, "session file %s/%s: %s", opt.run_dir[k], e->d_name,
				         why);
		}
		closedir(d);
	}
	for (int i = 0; i < opt.users; i++)
		if (online(&users[i]) && !seen[i])
			mismatch(&bad, print, "no session file for online %s", users[i].name);
	free(seen);
	return bad;
}

/* Self-check: a truth that is wrong in three ways (a user offline, a key,
 * a contact list) must be caught by both comparisons. */
static void perturb(void)
{
	int done = 0;
	for (int i = 0; i < opt.users && done < 3; i++) {
		struct user *u = &users[i];
		if (!online(u))
			continue;
		int mutual = -1;
		for (int k = 0; k < u->nlist && mutual < 0; k++)
			if (should_see(u, &users[u->list[k]]))
				mutual = u->list[k];
		if (mutual < 0)
			continue;
		if (done == 0) {
			u->fake_offline = 1;
			note("self-check: pretending %s is offline", u->name);
		} else if (done == 1) {
			u->key[0] = u->key[0] == 'f' ? 'e' : 'f';
			note("self-check: pretending %s announced another key", u->name);
		} else {
			list_del(u, mutual);
			note("self-check: pretending %s does not list %s", u->name, users[mutual].name);
		}
		done++;
	}
}

/* ---- phases ---- */

enum phase { P_SETUP, P_CHURN, P_SETTLE, P_UNHANG, P_QUIET, P_FLUSH, P_LEAVE, P_RSS, P_DONE };

static enum phase phase;
static uint64_t phase_at, churn_end, budget_end, next_note;
static double churn_credit, adddel_credit;
static int round_no, users_started;
static struct loop_timer tick;

static void enter(enum phase p)
{
	phase = p;
	phase_at = loop_now(lp);
}

static int busy_count(void)
{
	int n = 0;
	for (struct vc *v = vcs; v; v = v->next)
		n += v->st != V_HUNG && (v->st != V_READY || v->qn > 0 || !v->peered);
	return n;
}

static const char *const state_names[] = {"greeting", "login", "ready", "leaving", "hung", "replaced"};

/* Ends every connection still waiting for something after a phase's
 * deadline, so one lost answer is reported instead of stalling the run. */
static void abort_stuck(const char *where)
{
	for (;;) {
		struct vc *v;
		for (v = vcs; v && (v->st == V_HUNG || (v->st == V_READY && v->qn == 0 && v->peered));
		     v = v->next)
			;
		if (v == NULL)
			return;
		unexpected(v, &st.stuck, where, state_names[v->st]);
		if (v->st == V_GREET || v->st == V_LOGIN)
			in_flight--;
		v->st = V_LEAVING;
		conn_abort(v->c, "stuck");
	}
}

static int count_state(enum vstate s)
{
	int n = 0;
	for (struct vc *v = vcs; v; v = v->next)
		n += v->st == s;
	return n;
}

static int online_count(void)
{
	int n = 0;
	for (int i = 0; i < opt.users; i++)
		n += users[i].vc != NULL;
	return n;
}

static void churn_step(uint64_t now)
{
	uint64_t left = churn_end > now ? churn_end - now : 0;
	churn_credit += opt.rate * TICK_MS / 1000.0;
	adddel_credit += opt.adrate * TICK_MS / 1000.0;
	for (; churn_credit >= 1; churn_credit -= 1) {
		int n = online_count();
		int login = n < opt.clients * 9 / 10 ? 1 : n >= opt.clients ? 0 : (int)rnd(2);
		struct user *u = login && in_flight < opt.conc ? pick(0) : pick(1);
		if (u && u->vc == NULL)
			connect_user(u)->kill_at_login = rnd(20) == 0;
		else if (u)
			do_leave(u, left);
	}
	for (; adddel_credit >= 1; adddel_credit -= 1)
		do_adddel();
}

static void compare(void)
{
	int nfiles = 0;
	int vbad = view_mismatches(0), fbad = file_mismatches(0, &nfiles);
	note("check round %d: %d clients online, %d view mismatches, %d session file mismatches (%d files)",
	     round_no, count_state(V_READY), vbad, fbad, nfiles);
	if ((vbad == 0 && fbad == 0) || round_no >= CHECK_ROUNDS) {
		vbad = view_mismatches(1);
		fbad = file_mismatches(1, &nfiles);
		report(vbad == 0, "views_match", "%d mismatches between clients' views and the truth", vbad);
		report(fbad == 0, "session_files_match", "%d mismatches between %s%s and the truth", fbad,
		       opt.run_dir[0], opt.ndirs > 1 ? " (and the other nodes' run_dir)" : "");
		printf("churn: mismatches_views=%d mismatches_files=%d check_rounds=%d\n", vbad, fbad,
		       round_no);
		for (int i = 0; i < opt.users; i++)
			if (users[i].vc && users[i].vc->st == V_READY)
				rnd(2) ? do_logout(&users[i]) : do_kill(&users[i], (int)rnd(2));
		enter(P_LEAVE);
		return;
	}
	enter(P_QUIET);
}

static void finish(void)
{
	long rss1 = rss_kib();
	long slack = rss0 / 5 > opt.rss_mb * 1024L ? rss0 / 5 : opt.rss_mb * 1024L;
	/* What the server keeps on purpose after a user has left, for days:
	 * its resume tokens and recent login addresses (a few hundred bytes,
	 * in slabs), and the heap pages such long-lived records hold. A
	 * server that kept the connections' memory would be near the peak,
	 * tens of KiB a user. */
	slack += (long)opt.users * CHURN_KEPT_PER_USER_KIB;
	/* Counts of the whole run, the final leaving included. */
	printf("churn: clients=%d users=%d logins=%ld logouts=%ld (right after a change %ld) kills=%ld (rst "
	       "%ld, "
	       "fin %ld, in login %ld)\n",
	       opt.clients, opt.users, st.logins, st.logouts, st.change_then_logout,
	       st.kills_rst + st.kills_fin + st.kills_checking, st.kills_rst, st.kills_fin,
	       st.kills_checking);
	printf("churn: hangs=%ld (dropped %ld, kicked %ld) replaced=%ld kicked=%ld adds=%ld dels=%ld "
	       "contacts=%ld peers=%ld late_peers=%ld refused_429=%ld\n",
	       st.hangs, st.hang_dropped, st.hang_kicked, st.replaces, st.kicked, st.adds, st.dels,
	       st.recontacts, st.repeers, st.late_peers, st.refused);
	printf("churn: lines online=%ld offline=%ld asked=%ld other=%ld; errors login=%ld other=%ld "
	       "protocol=%ld kicked_wrongly=%ld closed_unexpectedly=%ld hang_not_dropped=%ld stuck=%ld\n",
	       st.online_lines, st.offline_lines, st.asked_lines, st.other_lines, st.login_err, st.err_other,
	       st.proto_err, st.kicked_unexpected, st.closed_unexpected, st.hang_undropped, st.stuck);
	lat_print("online_latency", &lat_online);
	lat_print("offline_latency", &lat_offline);
	printf("churn: rss_kib start=%ld after_setup=%ld peak=%ld end=%ld (allowed end <= %ld)\n", rss0,
	       rss_setup, rss_peak, rss1, rss0 + slack);
	long errs = st.login_err + st.err_other + st.proto_err + st.kicked_unexpected + st.closed_unexpected +
	            st.hang_undropped + st.stuck;
	report(
	    errs == 0, "clients_done",
	    "%ld unexpected answers or ends (login %ld, other ERR %ld, protocol %ld, KICKED %ld, closed %ld, "
	    "hang not dropped %ld, stuck %ld)",
	    errs, st.login_err, st.err_other, st.proto_err, st.kicked_unexpected, st.closed_unexpected,
	    st.hang_undropped, st.stuck);
	if (opt.rss_skip && getenv("IM_EMULATOR"))
		printf("SKIP churn_rss_back: the server runs under %s: its RSS is the emulator's, code cache "
		       "included\n",
		       getenv("IM_EMULATOR"));
	else if (opt.rss_skip)
		printf("SKIP churn_rss_back: sanitizer build (its allocator keeps freed memory)\n");
	else
		report(rss1 >= 0 && rss1 <= rss0 + slack, "rss_back",
		       "server RSS %ld KiB after all left, started at %ld KiB (peak %ld)", rss1, rss0,
		       rss_peak);
	enter(P_DONE);
	loop_stop(lp);
}

static void phase_step(uint64_t now)
{
	switch (phase) {
	case P_SETUP:
		while (users_started < opt.clients && in_flight < opt.conc)
			connect_user(&users[users_started++]);
		if (now > phase_at + 150000) {
			report(0, "setup", "only %d of %d clients logged in after 150 s",
			       count_state(V_READY), opt.clients);
			loop_stop(lp);
			return;
		}
		if (users_started == opt.clients && busy_count() == 0) {
			rss_setup = rss_kib();
			note("setup: %d clients logged in with %d contacts each, server RSS %ld KiB",
			     opt.clients, opt.contacts, rss_setup);
			report(count_state(V_READY) == opt.clients, "setup",
			       "only %d of %d clients logged in", count_state(V_READY), opt.clients);
			churn_end = now + (uint64_t)opt.secs * 1000;
			sampling = 1;
			enter(P_CHURN);
		}
		return;
	case P_CHURN:
		if (now < churn_end) {
			churn_step(now);
			return;
		}
		note("churn over: %ld logins, %ld logouts, %ld kills, %ld hangs, %ld replaced", st.logins,
		     st.logouts, st.kills_rst + st.kills_fin + st.kills_checking, st.hangs, st.replaces);
		sampling = 0;
		enter(P_SETTLE);
		return;
	case P_SETTLE: {
		/* Every command answered, every leaving connection closed. */
		if (busy_count() > 0 && now < phase_at + 30000)
			return;
		abort_stuck("no answer 30 s after the churn");
		uint64_t latest = 0;
		for (struct vc *v = vcs; v; v = v->next)
			if (v->st == V_HUNG && v->hang_at > latest)
				latest = v->hang_at;
		/* The server drops a silent client keepalive_timeout after its
		 * last line; give its timer a few seconds' grace. */
		if (latest && now < latest + (uint64_t)opt.ka * 1000 + 3000)
			return;
		for (struct vc *v = vcs; v; v = v->next)
			if (v->st == V_HUNG)
				conn_hold(v->c, 0);
		enter(P_UNHANG);
		return;
	}
	case P_UNHANG:
		/* Read out what the server sent each hung client; its close
		 * (end of stream) shows keepalive dropped it. */
		if (count_state(V_HUNG) > 0 && now < phase_at + 10000)
			return;
		for (struct vc *v = vcs; v; v = v->next)
			if (v->st == V_HUNG) {
				unexpected(v, &st.hang_undropped, "hung connection still open", "");
				v->st = V_LEAVING;
				conn_abort(v->c, "hung too long");
				break; /* the list changed; the rest go on the next tick */
			}
		if (count_state(V_HUNG) == 0)
			enter(P_QUIET);
		return;
	case P_QUIET:
		/* Keepalive PINGs go on; only news counts. */
		if ((now < last_line + QUIET_MS || now < phase_at + QUIET_MS) && now < phase_at + 30000)
			return;
		if (now >= phase_at + 30000)
			note("no quiet 2 s within 30 s: comparing anyway");
		/* Flush: a PING round trip on every connection. */
		for (struct vc *v = vcs; v; v = v->next)
			if (v->st == V_READY) {
				conn_send(v->c, "PING flush");
				push(v, C_PING, 0);
			}
		enter(P_FLUSH);
		return;
	case P_FLUSH:
		if (busy_count() > 0 && now < phase_at + 30000)
			return;
		abort_stuck("no PONG in 30 s");
		round_no++;
		if (opt.perturb && round_no == 1)
			perturb();
		compare();
		return;
	case P_LEAVE: {
		int nfiles = 0;
		int left = nvcs == 0 && file_mismatches(0, &nfiles) == 0 && nfiles == 0;
		if (!left && now < phase_at + 30000)
			return;
		report(left, "all_left",
		       "30 s after the last logout, %d connections open, %d session files left", nvcs,
		       nfiles);
		note("all left; waiting 3 s for the server to settle");
		enter(P_RSS);
		return;
	}
	case P_RSS:
		if (now >= phase_at + 3000)
			finish();
		return;
	case P_DONE:
		return;
	}
}

static void on_tick(struct loop *l, void *arg)
{
	uint64_t now = loop_now(l);
	(void)arg;
	long rss = rss_kib();
	if (rss > rss_peak)
		rss_peak = rss;
	if (!server_alive()) {
		report(0, "server_alive", "the server (pid %d) is gone", opt.pid);
		loop_stop(l);
		return;
	}
	if (now > budget_end) {
		report(0, "in_time", "stuck in phase %d: %d connections, %d busy, %d hung", phase, nvcs,
		       busy_count(), count_state(V_HUNG));
		loop_stop(l);
		return;
	}
	if (now >= next_note) {
		next_note = now + 5000;
		note("phase %d: %d connections (%d logged in, %d logging in, %d hung), server RSS %ld KiB",
		     phase, nvcs, count_state(V_READY), in_flight, count_state(V_HUNG), rss);
	}
	phase_step(now);
	if (phase != P_DONE)
		loop_timer_set(l, &tick, TICK_MS, on_tick, NULL);
}

static void usage(void)
{
	fprintf(stderr,
	        "usage: churn [-n CLIENTS] [-u USERS] [-d CONTACTS] [-s SECONDS] [-r RATE] [-a RATE]\n"
	        "             [-k KEEPALIVE] [-c INFLIGHT] [-x SEED] [-m MB] [-R] [-P] PORT PID RUN_DIR\n");
	exit(2);
}

static void parse_args(int argc, char **argv)
{
	int ch;
	while ((ch = getopt(argc, argv, "n:u:d:s:r:a:k:c:x:m:RP")) != -1) {
		switch (ch) {
		case 'n':
			opt.clients = atoi(optarg);
			break;
		case 'u':
			opt.users = atoi(optarg);
			break;
		case 'd':
			opt.contacts = atoi(optarg);
			break;
		case 's':
			opt.secs = atoi(optarg);
			break;
		case 'r':
			opt.rate = atoi(optarg);
			break;
		case 'a':
			opt.adrate = atoi(optarg);
			break;
		case 'k':
			opt.ka = atoi(optarg);
			break;
		case 'c':
			opt.conc = atoi(optarg);
			break;
		case 'x':
			opt.seed = strtoull(optarg, NULL, 10);
			break;
		case 'm':
			opt.rss_mb = atoi(optarg);
			break;
		case 'R':
			opt.rss_skip = 1;
			break;
		case 'P':
			opt.perturb = 1;
			break;
		default:
			usage();
		}
	}
	if (argc - optind != 3)
		usage();
	char *save = NULL;
	for (char *t = strtok_r(argv[optind], ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		if (opt.nports == CHURN_NODES || (opt.port[opt.nports++] = (unsigned short)atoi(t)) == 0)
			usage();
	}
	opt.pid = atoi(argv[optind + 1]);
	save = NULL;
	for (char *t = strtok_r(argv[optind + 2], ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		if (opt.ndirs == CHURN_NODES)
			usage();
		opt.run_dir[opt.ndirs++] = t;
	}
	if (opt.users == 0)
		opt.users = opt.clients + opt.clients / 10;
	if (opt.rate == 0)
		opt.rate = opt.clients / 50 > 4 ? opt.clients / 50 : 4;
	if (opt.adrate < 0)
		opt.adrate = opt.clients / 100 > 1 ? opt.clients / 100 : 1;
	if (opt.clients < 1 || opt.users < opt.clients || opt.contacts < 2 || opt.contacts > MAX_LIST ||
	    opt.users <= opt.contacts || opt.conc < 1 || opt.pid <= 0 || opt.nports == 0 || opt.ndirs == 0)
		usage();
}

int main(int argc, char **argv)
{
	char err[256];
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	parse_args(argc, argv);
	if (opt.seed == 0)
		opt.seed = (unsigned long long)time(NULL) ^ ((unsigned long long)getpid() << 20);
	rng_state = opt.seed;
	if (tls_init() < 0 || (cfg = tls_cfg_new(TLS_CLIENT, NULL, NULL, err, sizeof err)) == NULL ||
	    (lp = loop_new()) == NULL) {
		fprintf(stderr, "churn: cannot set up TLS or the loop: %s\n", err);
		return 1;
	}
	/* The server's key is not pinned: this test is about presence. */
	if ((users = calloc((size_t)opt.users, sizeof *users)) == NULL)
		return 1;
	for (int i = 0; i < opt.users; i++) {
		users[i].idx = i;
		snprintf(users[i].name, sizeof users[i].name, "u%05d", i);
		/* i lists its nearest CONTACTS around it, and they list i. */
		for (int d = 1; d <= opt.contacts / 2; d++) {
			list_add(&users[i], (i + d) % opt.users);
			list_add(&users[i], (i - d + opt.users) % opt.users);
		}
	}
	t_start = loop_clock();
	rss0 = rss_peak = rss_kib();
	printf("churn: seed=%llu clients=%d users=%d contacts=%d secs=%d rate=%d adddel_rate=%d keepalive=%d "
	       "server_rss_start_kib=%ld\n",
	       opt.seed, opt.clients, opt.users, opt.contacts, opt.secs, opt.rate, opt.adrate, opt.ka, rss0);
	if (rss0 < 0) {
		report(0, "server_alive", "cannot read /proc/%d/status", opt.pid);
		return 1;
	}
	/* Setup, churn, hang drops, quiescence and the leaving, each bounded. */
	budget_end = loop_now(lp) + (uint64_t)opt.secs * 1000 + 300000;
	enter(P_SETUP);
	loop_timer_set(lp, &tick, 0, on_tick, NULL);
	loop_run(lp);
	return failed_checks || phase != P_DONE ? 1 : 0;
}
