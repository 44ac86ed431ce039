/* peer: the peer channel: one listener, one connection per contact used
 * both ways and how it is found (the path ladder: LAN, direct, reverse,
 * punched), the IM 1 hello with both key checks, MSG/ACK and timeouts. */
#include "peer.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conn.h"
#include "hmap.h"
#include "log.h"
#include "net.h"
#include "tls.h"

/* Messages on the wire without an ACK yet; more wait in the conversation,
 * so a burst never overflows the connection's output bound. */
#define PEER_WINDOW 64
/* Ids of a contact's messages we acknowledged, remembered per
 * conversation: a message sent again on a new connection (its ACK was lost
 * with the old one) is acknowledged again but shown once. */
#define PEER_ACKED_IDS 64

struct msg {
	struct msg *next;
	unsigned long id;
	uint64_t sent_at; /* loop ms; 0 = not on the wire yet */
	char text[];
};

enum link_state { LINK_TLS, LINK_HELLO, LINK_OPEN };

/* Descriptors kept for the client's own use (standard streams, the server
 * link, the listener, state files, dials) when the open file limit is low:
 * unidentified incoming connections get at most half of the rest. */
#define PEER_FD_RESERVE   16
#define PEER_NETIF_MAX    64
#define PEER_WARN_MS      60000 /* at most one listener warning per minute */
#define PEER_PAUSE_MS     1000  /* accepting stops this long at the fd limit */
#define PEER_PUNCH_MIN_MS 1000  /* a punch attempt's least time for TCP, TLS and hello */

/* Incoming connections before their hello from one address (IPv6: one
 * ipv6_prefix network). */
struct pfx {
	char key[64];
	size_t n;
};

struct conv;

/* One connection with a peer. An incoming one belongs to no conversation
 * until its hello names a contact. */
struct link {
	struct peer *p;
	struct conv *cv;
	struct conn *c;
	int outgoing;
	enum link_state st;
	int detached;       /* its conversation has let go of it */
	const char *reason; /* what its pending messages fail with */
	char addr[2][64];   /* outgoing: announced address, then LAN address */
	int naddr, ai;
	unsigned port;
	char key[PROTO_KEY_HEX + 1]; /* outgoing: the key the server announced */
	struct link *prev, *next;    /* incoming, before hello, oldest first */
	struct pfx *pfx;             /* incoming, before hello: its address's count */
	int progress;                /* incoming: its ClientHello came (progressed()) */
	enum peer_path how;          /* outgoing or punched: the rung it was made for */
	int alt;                     /* its conversation's alt, not its link */
	struct conv *want;           /* punched as the TLS server: the contact it must be */
};

struct conv {
	struct conv *next;
	struct peer *p;
	char name[PROTO_NAME_MAX + 1];
	struct link *link;
	struct msg *head, *tail, *unsent; /* one queue; the sent ones first */
	size_t inflight, queued;          /* on the wire; in the whole queue */
	struct loop_timer ack_t;          /* the oldest message on the wire */
	struct loop_timer wait_t;         /* our dial lost a tie-break: theirs comes */
	/* The path ladder: the rung being tried, what it decides on, the
	 * LAN address worth a dial ("" = none), what its messages fail with
	 * when no rung is left. */
	enum peer_path stage;
	struct peer_ladder lad;
	char lan[64];
	const char *why;
	int called;                /* this ladder sent CALL: a connection from it is the reverse path */
	struct loop_timer stage_t; /* reverse: its dial is due; punched: PUNCH is due */
	/* A second connection under way beside link (a dial that a CALL
	 * asked for, or a simultaneous open): it replaces link once its
	 * hello is done. At most one at a time. */
	struct link *alt;
	char punch_ip[48];
	unsigned punch_port;
	uint64_t punch_until;      /* loop ms: no new punch attempt after it */
	struct loop_timer punch_t; /* the next punch attempt */
	/* The last PEER_ACKED_IDS message ids of the contact we showed and
	 * ACKed (a ring; "" = free), kept across its connections. */
	char acked[PEER_ACKED_IDS][PROTO_MSG_ID_MAX + 1];
	unsigned acked_at;
};

struct peer {
	struct loop *loop;
	struct peer_cfg cfg;
	const struct peer_ops *ops;
	void *arg;
	int lfd;
	unsigned port;
	struct sockaddr_storage laddr; /* the listener's: punches dial from it */
	char self_ip[48];              /* our address as the server sees it */
	int self_reach;                /* PEER_REACH_* of our listener */
	struct tls_cfg *dial_cfg, *accept_cfg;
	char name[PROTO_NAME_MAX + 1];
	struct conv *convs;
	struct link *incoming, *incoming_tail; /* not through hello yet, oldest first */
	size_t nincoming, max_incoming;        /* max_incoming: the cap the fd limit allows */
	struct hmap pfx;                       /* key -> struct pfx */
	struct loop_timer accept_t;            /* accepting paused at the fd limit */
	uint64_t evict_warned, pause_warned;   /* loop ms of the last such warning */
	unsigned long evicted, paused;         /* since that warning */
};

static const char dial_timeout_why[] = "no answer in time";
static const char ack_timeout_why[] = "no acknowledgement in time";

static void on_open(struct conn *c);
static void on_line(struct conn *c, char *line, size_t len);
static void on_bad_line(struct conn *c, enum proto_frame why);
static void on_close(struct conn *c, const char *why);
static const struct conn_ops link_ops = {on_open, on_line, on_bad_line, on_close};

static struct conv *conv_find(const struct peer *p, const char *name)
{
	for (struct conv *cv = p->convs; cv; cv = cv->next)
		if (strcmp(cv->name, name) == 0)
			return cv;
	return NULL;
}

static struct conv *conv_get(struct peer *p, const char *name)
{
	struct conv *cv = conv_find(p, name);
	if (cv != NULL)
		return cv;
	cv = calloc(1, sizeof *cv);
	if (cv == NULL)
		return NULL;
	cv->p = p;
	snprintf(cv->name, sizeof cv->name, "%s", name);
	cv->next = p->convs;
	p->convs = cv;
	return cv;
}

/* Fails messages of cv: the ones on the wire only, or all of them. */
static void fail_msgs(struct conv *cv, const char *reason, int only_sent)
{
	struct peer *p = cv->p;
	loop_timer_stop(p->loop, &cv->ack_t);
	while (cv->head && (!only_sent || cv->head != cv->unsent)) {
		struct msg *m = cv->head;
		cv->head = m->next;
		if (cv->head == NULL)
			cv->tail = NULL;
		if (cv->unsent == m)
			cv->unsent = m->next;
		unsigned long id = m->id;
		free(m);
		cv->queued--;
		p->ops->failed(p->arg, cv->name, id, reason);
	}
	cv->inflight = 0;
	if (cv->head == NULL)
		loop_timer_stop(p->loop, &cv->wait_t);
}

enum peer_path peer_ladder_next(enum peer_path after, const struct peer_ladder *in)
{
	if (after < PEER_PATH_LAN && (in->same_nat || (in->lan && in->reach == PEER_REACH_CLOSED)))
		return PEER_PATH_LAN;
	if (after < PEER_PATH_DIRECT && in->reach != PEER_REACH_CLOSED)
		return PEER_PATH_DIRECT;
	if (after < PEER_PATH_REVERSE && in->self_open && in->calls)
		return PEER_PATH_REVERSE;
	if (after < PEER_PATH_PUNCHED && in->calls)
		return PEER_PATH_PUNCHED;
	return PEER_PATH_NONE;
}

const char *peer_path_word(enum peer_path how)
{
	static const char *const w[] = {"", "lan", "direct", "reverse", "punched"};
	return (size_t)how < sizeof w / sizeof w[0] ? w[how] : "";
}

/* Stops cv's ladder: no rung is tried any more. */
static void ladder_stop(struct conv *cv)
{
	cv->stage = PEER_PATH_NONE;
	cv->called = 0;
	loop_timer_stop(cv->p->loop, &cv->stage_t);
	loop_timer_stop(cv->p->loop, &cv->punch_t);
}

static void ack_timeout(struct loop *l, void *arg)
{
	struct conv *cv = arg;
	(void)l;
	if (cv->link && cv->link->st == LINK_OPEN) {
		log_warn("peer %s (%s): %s", cv->name, cv->link->c->peer, ack_timeout_why);
		cv->link->reason = PEER_TIMEOUT;
		conn_abort(cv->link->c, ack_timeout_why);
	} else {
		fail_msgs(cv, PEER_TIMEOUT, 1);
	}
}

/* Puts queued messages on the wire, up to the window. */
static void pump(struct conv *cv)
{
	struct peer *p = cv->p;
	while (cv->link && cv->link->st == LINK_OPEN && cv->unsent && cv->inflight < PEER_WINDOW) {
		struct msg *m = cv->unsent;
		cv->unsent = m->next;
		cv->inflight++;
		m->sent_at = loop_now(p->loop);
		if (cv->ack_t.slot == 0)
			loop_timer_set(p->loop, &cv->ack_t, p->cfg.timeout_ms, ack_timeout, cv);
		/* A full output queue aborts the link, which fails m too. */
		if (conn_send(cv->link->c, "MSG %lu %s", m->id, m->text) < 0)
			return;
	}
}

static void wait_over(struct loop *l, void *arg)
{
	struct conv *cv = arg;
	(void)l;
	if (cv->link == NULL && cv->alt == NULL)
		fail_msgs(cv, PEER_REFUSED, 0);
}

/* Takes an incoming link off the list of those before their hello. */
static void unlink_incoming(struct link *k)
{
	struct peer *p = k->p;
	if (k->prev)
		k->prev->next = k->next;
	else
		p->incoming = k->next;
	if (k->next)
		k->next->prev = k->prev;
	else
		p->incoming_tail = k->prev;
	k->prev = k->next = NULL;
	if (k->pfx)
		p->nincoming--;
	if (k->pfx && --k->pfx->n == 0)
		free(hmap_del(&p->pfx, k->pfx->key));
	k->pfx = NULL;
}

static void link_free(struct link *k)
{
	if (k->pfx)
		unlink_incoming(k);
	free(k);
}

static int dial(struct link *k);
static void ladder_next(struct conv *cv);
static void dial_conv(struct conv *cv);
static void punch_retry(struct loop *l, void *arg);

static void on_close(struct conn *c, const char *why)
{
	struct link *k = c->owner;
	struct peer *p = k->p;
	struct conv *cv = k->cv;
	if (k->detached || cv == NULL) {
		/* One that never sent a ClientHello is most likely the
		 * server's reachability probe (or a port scan): not news. */
		if (cv == NULL && (k->progress || (c->tls && tls_answered(c->tls))))
			log_info("peer connection from %s closed: %s", c->peer, why);
		else if (cv == NULL)
			log_debug("peer connection from %s closed before a TLS ClientHello: %s", c->peer,
			          why);
		link_free(k);
		return;
	}
	log_info("peer %s (%s): %s", cv->name, c->peer, why);
	if (k->alt) {
		enum peer_path how = k->how;
		int tcp = c->state == CONN_CONNECTING;
		const char *reason = k->reason                 ? k->reason
		                     : why == dial_timeout_why ? PEER_TIMEOUT
		                                               : PEER_REFUSED;
		cv->alt = NULL;
		link_free(k);
		if (cv->link && cv->link->st == LINK_OPEN)
			return;
		if (how == PEER_PATH_PUNCHED && tcp &&
		    loop_now(p->loop) + PEER_PUNCH_RETRY_MS < cv->punch_until) {
			loop_timer_set(p->loop, &cv->punch_t, PEER_PUNCH_RETRY_MS, punch_retry, cv);
			return;
		}
		if (how == PEER_PATH_PUNCHED && cv->stage == PEER_PATH_PUNCHED) {
			if (tcp) {
				cv->why = PEER_UNREACHABLE;
				ladder_next(cv);
			} else {
				ladder_stop(cv);
				fail_msgs(cv, reason, 0);
			}
			return;
		}
		return;
	}
	if (k->outgoing && k->st != LINK_OPEN) {
		/* The announced address failed at TCP level: try the LAN one. */
		if (c->state == CONN_CONNECTING && k->ai + 1 < k->naddr) {
			k->ai++;
			if (dial(k) == 0)
				return;
		}
		const char *reason = k->reason;
		if (reason == NULL)
			reason = why == dial_timeout_why       ? PEER_TIMEOUT
			         : c->state == CONN_CONNECTING ? PEER_UNREACHABLE
			                                       : PEER_REFUSED;
		cv->link = NULL;
		link_free(k);
		/* Not reached at all: the next rung of the ladder. */
		if (c->state == CONN_CONNECTING && cv->stage != PEER_PATH_NONE) {
			cv->why = reason;
			ladder_next(cv);
			return;
		}
		ladder_stop(cv);
		/* Both of us may have dialed at once; the larger name yields and
		 * the other's connection is on its way, so wait for it. */
		if (strcmp(reason, PEER_REFUSED) == 0 && strcmp(p->name, cv->name) > 0 && cv->head) {
			loop_timer_set(p->loop, &cv->wait_t, p->cfg.timeout_ms, wait_over, cv);
			return;
		}
		fail_msgs(cv, reason, 0);
		return;
	}
	const char *reason = k->reason ? k->reason : PEER_LOST;
	cv->link = NULL;
	link_free(k);
	fail_msgs(cv, reason, 0);
	if (p->ops->closed)
		p->ops->closed(p->arg, cv->name, reason);
}

/* Starts a TCP connect to k's current address. 0, or -1 (logged). */
static int dial(struct link *k)
{
	struct peer *p = k->p;
	struct addrinfo hints, *ai = NULL;
	memset(&hints, 0, sizeof hints);
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
	char port[8];
	snprintf(port, sizeof port, "%u", k->port);
	int rc = getaddrinfo(k->addr[k->ai], port, &hints, &ai);
	if (rc != 0) {
		log_warn("peer %s: bad address %s: %s", k->cv->name, k->addr[k->ai], gai_strerror(rc));
		return -1;
	}
	enum net_step step;
	int fd = net_dial(ai->ai_addr, ai->ai_addrlen, 0, &step);
	freeaddrinfo(ai);
	if (fd < 0) {
		if (step == NET_SOCKET)
			log_warn("peer %s: socket: %s", k->cv->name, strerror(errno));
		else
			log_info("peer %s: connect to %s port %u: %s", k->cv->name, k->addr[k->ai], k->port,
			         strerror(errno));
		return -1;
	}
	k->c = conn_new(p->loop, fd, p->dial_cfg, 1, &link_ops, k, p->cfg.max_line, p->cfg.max_out);
	if (k->c == NULL)
		return -1;
	/* named for the logs until the connect completes and says it exactly */
	net_hostport(k->c->peer, sizeof k->c->peer, k->addr[k->ai], k->port);
	k->st = LINK_TLS;
	conn_deadline(k->c, p->cfg.timeout_ms, dial_timeout_why);
	return 0;
}

/* Writes to out the LAN address to dial beside the announced one, or ""
 * when lan is none, not a LAN address, or on none of our interfaces'
 * subnets: a contact must not aim us at an address of its choosing. An
 * IPv6 link-local address is dialed only when exactly one of our up
 * interfaces has a link-local address, which is then its scope; with
 * several, the right one cannot be told and a guess would be arbitrary. */
static void lan_to_dial(const struct peer *p, const char *name, const char *lan, char *out, size_t cap)
{
	struct ifaddrs *all = NULL;
	struct in6_addr a6;
	struct proto_netif nif[PEER_NETIF_MAX];
	char text[PEER_NETIF_MAX][INET6_ADDRSTRLEN];
	size_t n = 0;
	out[0] = '\0';
	if (lan[0] == '\0')
		return;
	if (!proto_lan_ip_ok(lan, &p->cfg.lan_nets)) {
		log_info(
		    "peer %s: ignoring LAN address %s: not a private, link-local or unique-local address, "
		    "nor in lan_nets",
		    name, lan);
		return;
	}
	if (getifaddrs(&all) < 0) {
		log_warn("peer %s: cannot list our interfaces (%s); not dialing LAN address %s", name,
		         strerror(errno), lan);
		return;
	}
	for (struct ifaddrs *i = all; i && n < PEER_NETIF_MAX; i = i->ifa_next) {
		if (i->ifa_addr == NULL || i->ifa_netmask == NULL || !(i->ifa_flags & IFF_UP) ||
		    (i->ifa_flags & IFF_LOOPBACK))
			continue;
		const unsigned char *m;
		size_t mlen;
		const void *a;
		if (i->ifa_addr->sa_family == AF_INET) {
			a = &((struct sockaddr_in *)i->ifa_addr)->sin_addr;
			m = (const unsigned char *)&((struct sockaddr_in *)i->ifa_netmask)->sin_addr;
			mlen = 4;
		} else if (i->ifa_addr->sa_family == AF_INET6) {
			a = &((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr;
			m = ((struct sockaddr_in6 *)i->ifa_netmask)->sin6_addr.s6_addr;
			mlen = 16;
		} else {
			continue;
		}
		int bits = 0;
		for (size_t b = 0; b < mlen * 8 && (m[b / 8] & (0x80 >> (b % 8))); b++)
			bits++;
		if (inet_ntop(i->ifa_addr->sa_family, a, text[n], sizeof text[n]) == NULL)
			continue;
		nif[n].name = i->ifa_name;
		nif[n].addr = text[n];
		nif[n].bits = bits;
		n++;
	}
	int at = proto_lan_on_net(lan, &p->cfg.lan_nets, nif, n);
	if (at == -2)
		log_info("peer %s: LAN address %s is link-local and more than one of our interfaces has "
		         "a link-local address, so which link it is on is unknown; not dialing it",
		         name, lan);
	else if (at < 0)
		log_info("peer %s: LAN address %s is on none of our networks; not dialing it", name, lan);
	else if (inet_pton(AF_INET6, lan, &a6) == 1 && IN6_IS_ADDR_LINKLOCAL(&a6))
		snprintf(out, cap, "%s%%%s", lan, nif[at].name);
	else
		snprintf(out, cap, "%s", lan);
	freeifaddrs(all);
}

/* The ladder's first rung for cv's contact: what the rungs depend on is
 * taken now, once. Fails the messages when it cannot even start. */
static void dial_conv(struct conv *cv)
{
	struct peer *p = cv->p;
	struct peer_contact pc = {0};
	const char *why = PEER_OFFLINE;
	if (p->ops->lookup(p->arg, cv->name, &pc, &why) < 0) {
		fail_msgs(cv, why, 0);
		return;
	}
	cv->lan[0] = '\0';
	if (pc.lan_ip[0] && strcmp(pc.lan_ip, pc.ip) != 0)
		lan_to_dial(p, cv->name, pc.lan_ip, cv->lan, sizeof cv->lan);
	cv->lad.same_nat = cv->lan[0] && p->self_ip[0] && strcmp(pc.ip, p->self_ip) == 0;
	cv->lad.lan = cv->lan[0] && p->self_ip[0] == '\0';
	cv->lad.reach = pc.reach;
	cv->lad.self_open = p->self_reach == PEER_REACH_OPEN;
	cv->lad.calls = pc.calls;
	cv->why = PEER_UNREACHABLE;
	cv->stage = PEER_PATH_NONE;
	cv->called = 0;
	loop_timer_stop(p->loop, &cv->wait_t);
	ladder_next(cv);
}

/* A dial for rung lan or direct: the LAN address alone, or the announced
 * address and then the LAN one when it was not a rung of its own. */
static int rung_dial(struct conv *cv, const struct peer_contact *pc)
{
	struct peer *p = cv->p;
	struct link *k = calloc(1, sizeof *k);
	if (k == NULL)
		return -1;
	k->p = p;
	k->cv = cv;
	k->outgoing = 1;
	k->how = cv->stage;
	k->port = pc->port;
	snprintf(k->key, sizeof k->key, "%s", pc->key);
	if (cv->stage == PEER_PATH_LAN) {
		snprintf(k->addr[k->naddr++], sizeof k->addr[0], "%s", cv->lan);
	} else {
		snprintf(k->addr[k->naddr++], sizeof k->addr[0], "%s", pc->ip);
		if (cv->lan[0] && peer_ladder_next(PEER_PATH_NONE, &cv->lad) != PEER_PATH_LAN)
			snprintf(k->addr[k->naddr++], sizeof k->addr[0], "%s", cv->lan);
	}
	cv->link = k;
	while (dial(k) < 0) {
		if (++k->ai >= k->naddr) {
			cv->link = NULL;
			free(k);
			cv->why = PEER_UNREACHABLE;
			return -1;
		}
	}
	log_debug("peer %s: dialing %s port %u (%s)", cv->name, k->addr[k->ai], k->port,
	          peer_path_word(cv->stage));
	return 0;
}

/* 1 while a punch attempt of cv runs or is due (one the contact's PUNCH
 * may have started): its end moves the ladder on. */
static int punch_running(const struct conv *cv)
{
	return (cv->alt && cv->alt->how == PEER_PATH_PUNCHED) || cv->punch_t.slot != 0;
}

static void stage_over(struct loop *l, void *arg)
{
	struct conv *cv = arg;
	(void)l;
	if (cv->stage == PEER_PATH_PUNCHED && punch_running(cv)) {
		log_debug(
		    "peer %s: no punch request answered in time, but a punch is under way; waiting for it",
		    cv->name);
		return;
	}
	log_info("peer %s: no %s connection in time", cv->name, peer_path_word(cv->stage));
	cv->why = PEER_UNREACHABLE;
	ladder_next(cv);
}

/* Starts rung cv->stage. 0, or -1 when it cannot be tried. */
static int rung_start(struct conv *cv)
{
	struct peer *p = cv->p;
	struct peer_contact pc = {0};
	const char *why = PEER_OFFLINE;
	if (p->ops->lookup(p->arg, cv->name, &pc, &why) < 0) {
		cv->why = why;
		cv->stage = PEER_PATH_PUNCHED; /* nothing more to try */
		return -1;
	}
	if (cv->stage == PEER_PATH_LAN || cv->stage == PEER_PATH_DIRECT)
		return rung_dial(cv, &pc);
	enum peer_ask what = cv->stage == PEER_PATH_REVERSE ? PEER_ASK_CALL : PEER_ASK_PUNCH;
	if (p->ops->ask == NULL || p->ops->ask(p->arg, cv->name, what) < 0)
		return -1;
	if (what == PEER_ASK_CALL)
		cv->called = 1;
	log_info("peer %s: asking the server for a %s connection", cv->name, peer_path_word(cv->stage));
	loop_timer_set(p->loop, &cv->stage_t, p->cfg.timeout_ms, stage_over, cv);
	return 0;
}

/* Tries cv's next rung; with none left, its messages fail with cv->why:
 * what the last dial failed with when no rung beyond direct applied (so
 * a version-1 path fails as it always did), else "unreachable". */
static void ladder_next(struct conv *cv)
{
	struct peer *p = cv->p;
	/* a punch the contact started (punch_t) runs on, to its window's end */
	loop_timer_stop(p->loop, &cv->stage_t);
	for (;;) {
		enum peer_path next = peer_ladder_next(cv->stage, &cv->lad);
		if (next == PEER_PATH_NONE && punch_running(cv)) {
			/* one the contact started: the messages wait for its end,
			 * which the punch's window bounds */
			log_debug("peer %s: no path left but a punch is under way; waiting for it", cv->name);
			cv->stage = PEER_PATH_PUNCHED;
			return;
		}
		if (next == PEER_PATH_NONE) {
			const char *why = cv->why ? cv->why : PEER_UNREACHABLE;
			cv->called = 0;
			cv->stage = PEER_PATH_NONE;
			fail_msgs(cv, why, 0);
			return;
		}
		cv->stage = next;
		if (rung_start(cv) == 0)
			return;
	}
}

/* Makes fd, a TCP connection with cv's punch address (our punch dial,
 * or its dial that our listener accepted), cv's punch connection: the
 * smaller name is the TLS client and says hello first, as a dialer does;
 * the larger one is the TLS server and checks the hello as it would an
 * incoming one's. 0, or -1 (fd closed). */
static int punch_link(struct conv *cv, int fd, const char *key)
{
	struct peer *p = cv->p;
	struct link *k = calloc(1, sizeof *k);
	if (k == NULL) {
		close(fd);
		return -1;
	}
	int client = strcmp(p->name, cv->name) < 0;
	k->p = p;
	k->cv = cv;
	k->alt = 1;
	k->how = PEER_PATH_PUNCHED;
	k->outgoing = client;
	k->want = client ? NULL : cv;
	k->port = cv->punch_port;
	snprintf(k->addr[0], sizeof k->addr[0], "%s", cv->punch_ip);
	k->naddr = 1;
	snprintf(k->key, sizeof k->key, "%s", key);
	k->st = LINK_TLS;
	/* Connected or not, the connect's completion check starts the TLS
	 * handshake in this role (an accepted socket polls writable at once). */
	k->c = conn_new(p->loop, fd, client ? p->dial_cfg : p->accept_cfg, 1, &link_ops, k, p->cfg.max_line,
	                p->cfg.max_out);
	if (k->c == NULL) {
		free(k);
		return -1;
	}
	net_hostport(k->c->peer, sizeof k->c->peer, cv->punch_ip, cv->punch_port);
	cv->alt = k;
	/* An attempt ends with the punch's window (a second at least, for its
	 * TLS handshake), so the rung does too. */
	uint64_t now = loop_now(p->loop);
	uint64_t left = cv->punch_until > now ? cv->punch_until - now : 0;
	conn_deadline(k->c, left > PEER_PUNCH_MIN_MS ? (unsigned)left : PEER_PUNCH_MIN_MS, dial_timeout_why);
	return 0;
}

/* One attempt of a simultaneous open toward cv's punch address, from our
 * listener's port. The smaller name is the TLS client and says hello
 * first, as a dialer does; the larger one is the TLS server and checks
 * the hello as it would an incoming one's. */
static void punch_try(struct conv *cv)
{
	struct peer *p = cv->p;
	struct peer_contact pc = {0};
	const char *why = PEER_OFFLINE;
	struct addrinfo hints, *ai = NULL;
	char port[8];
	if (p->ops->lookup(p->arg, cv->name, &pc, &why) < 0 || cv->alt) {
		if (cv->stage == PEER_PATH_PUNCHED && cv->alt == NULL) {
			cv->why = why;
			ladder_next(cv);
		}
		return;
	}
	memset(&hints, 0, sizeof hints);
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
	snprintf(port, sizeof port, "%u", cv->punch_port);
	int fd = -1;
	enum net_step step = NET_SOCKET;
	if (getaddrinfo(cv->punch_ip, port, &hints, &ai) == 0) {
		fd = net_dial_from(&p->laddr, ai->ai_addr, ai->ai_addrlen, &step);
		freeaddrinfo(ai);
	}
	if (fd >= 0 && punch_link(cv, fd, pc.key) == 0) {
		log_debug("peer %s: punching to %s port %u as the TLS %s", cv->name, cv->punch_ip,
		          cv->punch_port, strcmp(p->name, cv->name) < 0 ? "client" : "server");
		return;
	}
	if (fd < 0) {
		int e = errno;
		log_info("peer %s: punch to %s port %u: %s%s", cv->name, cv->punch_ip, cv->punch_port,
		         step == NET_BIND ? "binding to our peer port: " : "", strerror(e));
		if (e == EAFNOSUPPORT) /* its address family is not our listener's: no retry helps */
			cv->punch_until = 0;
	}
	if (loop_now(p->loop) + PEER_PUNCH_RETRY_MS < cv->punch_until) {
		loop_timer_set(p->loop, &cv->punch_t, PEER_PUNCH_RETRY_MS, punch_retry, cv);
	} else if (cv->stage == PEER_PATH_PUNCHED) {
		cv->why = PEER_UNREACHABLE;
		ladder_next(cv);
	}
}

static void punch_retry(struct loop *l, void *arg)
{
	(void)l;
	punch_try(arg);
}

/* The messages on the wire of a connection being replaced go back to the
 * front of the queue, to be sent again on the new one: the old one may
 * have been dead (an expired NAT mapping) and never delivered them, and
 * one it did deliver is shown once by the receiver (its ACKed ids). */
static void requeue(struct conv *cv)
{
	if (cv->inflight == 0)
		return;
	log_info("peer %s: sending %zu unacknowledged message%s again on the new connection", cv->name,
	         cv->inflight, cv->inflight == 1 ? "" : "s");
	for (struct msg *m = cv->head; m && m != cv->unsent; m = m->next)
		m->sent_at = 0;
	cv->unsent = cv->head;
	cv->inflight = 0;
	loop_timer_stop(cv->p->loop, &cv->ack_t);
}

/* Link k of cv finished its hello by path how: it becomes the
 * conversation's connection, replacing any other, and the ladder stops. */
static void link_opened(struct link *k, enum peer_path how)
{
	struct conv *cv = k->cv;
	struct peer *p = k->p;
	struct link *old = cv->link;
	if (old && old != k) {
		int was_open = old->st == LINK_OPEN;
		old->detached = 1; /* freed by the abort */
		conn_abort(old->c, "replaced by a new connection");
		if (was_open)
			requeue(cv);
	}
	if (cv->alt && cv->alt != k) {
		struct link *a = cv->alt;
		a->detached = 1;
		conn_abort(a->c, "another connection opened first");
	}
	cv->alt = NULL;
	k->alt = 0;
	k->want = NULL;
	k->how = how;
	cv->link = k;
	k->st = LINK_OPEN;
	ladder_stop(cv);
	cv->called = 0;
	loop_timer_stop(p->loop, &cv->wait_t);
	conn_deadline(k->c, 0, NULL);
	log_info("peer %s (%s): conversation open (%s, %s, %s)", cv->name, k->c->peer,
	         k->outgoing ? "outgoing" : "incoming", peer_path_word(how), tls_describe(k->c->tls));
	if (p->ops->path)
		p->ops->path(p->arg, cv->name, how);
}

static void on_open(struct conn *c)
{
	struct link *k = c->owner;
	struct peer *p = k->p;
	k->st = LINK_HELLO;
	if (!k->outgoing)
		return; /* the key is checked against the name its hello claims */
	char key[PROTO_KEY_HEX + 1];
	if (tls_peer_key(c->tls, key) < 0) {
		log_warn("peer %s (%s) presented no certificate: refusing", k->cv->name, c->peer);
		k->reason = PEER_KEYMISMATCH;
		conn_abort(c, "no certificate");
		return;
	}
	if (strcmp(key, k->key) != 0) {
		log_warn("peer %s (%s) presented key %s, but the server announced %s: refusing", k->cv->name,
		         c->peer, key, k->key);
		k->reason = PEER_KEYMISMATCH;
		conn_abort(c, "key mismatch");
		return;
	}
	conn_send(c, "IM 1 %s", p->name);
}

/* Takes an incoming link whose hello named a contact, or refuses it. */
static void hello_in(struct link *k, char *line)
{
	struct peer *p = k->p;
	struct conn *c = k->c;
	struct proto_peer_line pl;
	char key[PROTO_KEY_HEX + 1];
	const char *name = pl.name;
	struct peer_contact pc = {0};
	const char *why = PEER_OFFLINE;
	if (proto_parse_peer_line(line, &pl) != PROTO_PEER_HELLO) {
		log_info("peer connection from %s: bad hello; closing", c->peer);
		conn_abort(c, "bad hello"); /* nothing to flush: no descriptor kept for a grace */
		return;
	}
	if (k->want && strcmp(name, k->want->name) != 0) {
		log_warn("peer connection with %s (punched for %s) claims to be %s: refused", c->peer,
		         k->want->name, name);
		k->reason = PEER_REFUSED;
		conn_abort(c, "punched connection named another contact");
		return;
	}
	if (p->name[0] == '\0' || p->ops->lookup(p->arg, name, &pc, &why) < 0) {
		log_info("peer connection from %s claiming %s refused: %s", c->peer, name,
		         p->name[0] ? why : "not logged in");
		k->reason = why;
		conn_abort(c, "refused");
		return;
	}
	/* On a punched connection (k->want) the messages waiting for it fail
	 * as a dialer's do. */
	if (tls_peer_key(c->tls, key) < 0) {
		log_warn("peer connection from %s claiming %s presented no certificate: refused", c->peer,
		         name);
		k->reason = PEER_KEYMISMATCH;
		conn_close(c, "no certificate");
		return;
	}
	if (strcmp(key, pc.key) != 0) {
		log_warn("peer connection from %s claiming %s presented key %s, but the server announced %s: "
		         "refused",
		         c->peer, name, key, pc.key);
		k->reason = PEER_KEYMISMATCH;
		conn_close(c, "key mismatch");
		return;
	}
	struct conv *cv = k->want ? k->want : conv_get(p, name);
	if (cv == NULL) {
		conn_close(c, "out of memory");
		return;
	}
	if (cv->link && !k->want) {
		struct link *old = cv->link;
		/* One connection per pair: when both are dialing, the smaller
		 * name's dial wins on both sides. Otherwise a new dial from the
		 * peer replaces the old connection, which it has given up (ours
		 * may be half-open: its end is gone). */
		if (old->outgoing && old->st != LINK_OPEN && strcmp(p->name, name) < 0) {
			log_debug("peer %s: both dialed; keeping ours", name);
			conn_close(c, "both dialed");
			return;
		}
	}
	/* Unasked, it came by the LAN address or the announced one; asked
	 * for with CALL, it is the reverse path. */
	enum peer_path how = k->want                                         ? PEER_PATH_PUNCHED
	                     : cv->called                                    ? PEER_PATH_REVERSE
	                     : pc.lan_ip[0] && strcmp(c->ip, pc.lan_ip) == 0 ? PEER_PATH_LAN
	                                                                     : PEER_PATH_DIRECT;
	if (k->pfx)
		unlink_incoming(k);
	k->cv = cv;
	link_opened(k, how);
	if (conn_send(c, "IM 1 %s", p->name) == 0)
		pump(cv);
}

static struct msg *take_acked(struct conv *cv, unsigned long id)
{
	struct msg *prev = NULL;
	for (struct msg *m = cv->head; m && m != cv->unsent; prev = m, m = m->next) {
		if (m->id != id)
			continue;
		if (prev)
			prev->next = m->next;
		else
			cv->head = m->next;
		if (cv->tail == m)
			cv->tail = prev;
		cv->inflight--;
		cv->queued--;
		return m;
	}
	return NULL;
}

static void on_ack(struct conv *cv, unsigned long id)
{
	struct peer *p = cv->p;
	struct msg *m = take_acked(cv, id);
	if (m == NULL) {
		log_debug("peer %s: ACK for unknown id %lu", cv->name, id);
		return;
	}
	free(m);
	if (cv->inflight == 0) {
		loop_timer_stop(p->loop, &cv->ack_t);
	} else {
		uint64_t due = cv->head->sent_at + p->cfg.timeout_ms, now = loop_now(p->loop);
		loop_timer_set(p->loop, &cv->ack_t, due > now ? due - now : 0, ack_timeout, cv);
	}
	p->ops->sent(p->arg, cv->name, id);
	pump(cv);
}

/* Rewrites a peer's text into our own escaping: a backslash before
 * anything but "n" or "\\" (or at the very end) is kept as a literal
 * backslash. out holds twice the input. */
static void relax_escapes(const char *in, char *out)
{
	for (; *in; in++) {
		*out++ = *in;
		if (*in != '\\')
			continue;
		if (in[1] == 'n' || in[1] == '\\')
			*out++ = *++in;
		else
			*out++ = '\\';
	}
	*out = '\0';
}

/* "MSG <id> <text...>": the text is everything after the id's space,
 * leading and trailing spaces included; none at all is an empty message.
 * An independent peer's slips in the text are taken liberally, but an id
 * that is not 1-32 printable ASCII characters is refused: the line is not
 * shown, not acknowledged, and the connection closes (a peer that cannot
 * name its messages does not speak the protocol; our messages still on
 * the wire fail as "lost"). */
static void on_msg(struct link *k, char *line, const struct proto_peer_line *pl)
{
	/* A line is at most PROTO_LINE_MAX bytes, so its text relaxed fits. */
	static char text[PROTO_LINE_MAX * 2 + 1];
	struct peer *p = k->p;
	char *id = line + (pl->id - line);
	id[pl->idlen] = '\0'; /* pl->text starts after it */
	if (!proto_msg_id_valid(id)) {
		char shown[6 * 40 + 1];
		proto_printable(id, strnlen(id, 40), shown, sizeof shown, PROTO_SHOW_SCREEN);
		log_warn("peer %s (%s): MSG with a bad id '%s' (not 1-%d printable ASCII characters without "
		         "spaces); closing",
		         k->cv->name, k->c->peer, shown, PROTO_MSG_ID_MAX);
		conn_close(k->c, "bad message id");
		return;
	}
	struct conv *cv = k->cv;
	for (size_t i = 0; i < PEER_ACKED_IDS; i++) {
		if (strcmp(cv->acked[i], id) == 0) {
			log_debug("peer %s (%s): MSG %s again (acknowledged before): acknowledging it, not "
			          "showing it twice",
			          cv->name, k->c->peer, id);
			conn_send(k->c, "ACK %s", id);
			return;
		}
	}
	relax_escapes(pl->text, text);
	p->ops->msg(p->arg, cv->name, id, text);
	/* remembered once shown, whether or not this ACK gets out */
	snprintf(cv->acked[cv->acked_at], sizeof cv->acked[0], "%s", id);
	cv->acked_at = (cv->acked_at + 1) % PEER_ACKED_IDS;
	conn_send(k->c, "ACK %s", id);
}

static void on_line(struct conn *c, char *line, size_t len)
{
	struct link *k = c->owner;
	struct peer *p = k->p;
	(void)len;
	if (k->st != LINK_OPEN && !k->outgoing) {
		hello_in(k, line);
		return;
	}
	struct conv *cv = k->cv;
	struct proto_peer_line pl;
	enum proto_peer_kind kind = proto_parse_peer_line(line, &pl);
	if (k->st == LINK_OPEN && kind == PROTO_PEER_MSG) {
		on_msg(k, line, &pl);
		return;
	}
	if (k->st != LINK_OPEN) {
		if (kind != PROTO_PEER_HELLO || strcmp(pl.name, cv->name) != 0) {
			log_warn("peer %s (%s): bad or foreign hello; closing", cv->name, c->peer);
			k->reason = PEER_REFUSED;
			conn_close(c, "bad hello");
			return;
		}
		link_opened(k, k->how == PEER_PATH_DIRECT && k->ai == 1 ? PEER_PATH_LAN : k->how);
		pump(cv);
		return;
	}
	if (kind == PROTO_PEER_ACK) { /* plain decimal only: not "+1" or " 1" */
		on_ack(cv, pl.ack);
	} else if (kind == PROTO_PEER_TYPING) {
		if (p->ops->typing)
			p->ops->typing(p->arg, cv->name);
	} else if (kind == PROTO_PEER_BYE) {
		k->reason = PEER_CLOSED;
		conn_close(c, "peer said BYE");
	} else {
		log_debug("peer %s (%s): ignoring unknown line", cv->name, c->peer);
	}
}

/* A line that cannot be framed (too long, a NUL, bad UTF-8). From an
 * incoming connection before its hello it ends the connection at once:
 * the close grace, which keeps a socket reading out the last bytes so a
 * reply is not lost to a reset, would keep it outside the caps on
 * connections before hello for a while, and it is owed no reply. */
static void on_bad_line(struct conn *c, enum proto_frame why)
{
	struct link *k = c->owner;
	static const char *const names[] = {"", "", "line too long", "NUL byte in line",
	                                    "line is not valid UTF-8"};
	if (k->outgoing || k->st == LINK_OPEN)
		return;
	log_info("peer connection from %s: %s before hello; closing", c->peer,
	         (size_t)why < sizeof names / sizeof names[0] ? names[why] : "bad line");
	conn_abort(c, "bad line before hello");
}

static void resume_accept(struct loop *l, void *arg)
{
	struct peer *p = arg;
	if (p->lfd >= 0)
		loop_mod(l, p->lfd, POLLIN);
}

/* A warning about the listener at most once a minute, with how often it
 * happened since: an attacker must not be able to fill the log. */
static int warn_due(struct peer *p, uint64_t *last)
{
	uint64_t now = loop_now(p->loop);
	if (*last != 0 && now - *last < PEER_WARN_MS)
		return 0;
	*last = now;
	return 1;
}

struct busiest {
	size_t n;
};

static void find_busiest(void *val, void *arg)
{
	struct pfx *x = val;
	struct busiest *b = arg;
	if (x->n > b->n)
		b->n = x->n;
}

/* 1 if incoming k has made progress: we answered its ClientHello, or one
 * whole TLS handshake record (its ClientHello) waits in the socket for
 * the next poll. A real contact sends its ClientHello right after
 * connecting; a connection that has not sent that much is the first
 * suspect, whatever its address. Sticky once seen. */
static int progressed(struct link *k)
{
	unsigned char h[5];
	int avail = 0;
	if (!k->progress && k->c->tls != NULL && tls_answered(k->c->tls))
		k->progress = 1;
	if (!k->progress && recv(k->c->fd, h, sizeof h, MSG_PEEK | MSG_DONTWAIT) == (ssize_t)sizeof h &&
	    h[0] == 0x16 && ioctl(k->c->fd, FIONREAD, &avail) == 0 &&
	    (size_t)avail >= sizeof h + ((size_t)h[3] << 8 | h[4]))
		k->progress = 1;
	return k->progress;
}

/* Closes one incoming connection before its hello: from the address x,
 * or, with x NULL, from any. The oldest that has made no progress (no
 * ClientHello) goes first; when every one has, the oldest from x, or (x
 * NULL) from the address that holds the most (the oldest of them on a
 * tie). So a contact's connection, which sends its ClientHello right
 * after connecting, outlives idle connections from any number of
 * addresses; an attacker who sends complete ClientHellos from more
 * addresses than the cap can still crowd it out. */
static int evict(struct peer *p, const struct pfx *x)
{
	struct busiest b = {0};
	struct link *k;
	for (k = p->incoming; k; k = k->next)
		if ((x == NULL || k->pfx == x) && !progressed(k))
			break;
	if (k == NULL) {
		if (x == NULL)
			hmap_each(&p->pfx, find_busiest, &b);
		k = p->incoming;
		while (k && (x ? k->pfx != x : k->pfx->n != b.n))
			k = k->next;
	}
	if (k == NULL)
		return -1;
	p->evicted++;
	if (warn_due(p, &p->evict_warned)) {
		const char *which = progressed(k) ? "" : " without a ClientHello";
		if (x)
			log_warn(
			    "peer listener: %s opened more than %zu connections that have not said hello; "
			    "closing its oldest%s, %s (%lu closed since last logged; logged at most once a "
			    "minute)",
			    x->key, p->cfg.max_unidentified_per_ip, which, k->c->peer, p->evicted);
		else if (!progressed(k))
			log_warn("peer listener: %zu connections have not said hello; closing the oldest%s, "
			         "%s from %s "
			         "(%lu closed since last logged; logged at most once a minute)",
			         p->nincoming, which, k->c->peer, k->pfx->key, p->evicted);
		else
			log_warn(
			    "peer listener: %zu connections have not said hello; closing the oldest from "
			    "the busiest address, %s with %zu: %s (%lu closed since last logged; logged "
			    "at most once a minute)",
			    p->nincoming, k->pfx->key, k->pfx->n, k->c->peer, p->evicted);
		p->evicted = 0;
	}
	conn_abort(k->c, x ? "evicted: too many connections before hello from its address"
	                   : "evicted: too many connections before hello");
	return 0;
}

/* Files the new incoming connection k under its address's count. */
static int count_incoming(struct peer *p, struct link *k)
{
	char key[64];
	if (proto_ip_prefix(k->c->ip, p->cfg.ipv6_prefix, key, sizeof key) < 0)
		snprintf(key, sizeof key, "?");
	struct pfx *x = hmap_get(&p->pfx, key);
	if (x == NULL) {
		x = calloc(1, sizeof *x);
		if (x == NULL)
			return -1;
		snprintf(x->key, sizeof x->key, "%s", key);
		if (hmap_put(&p->pfx, x->key, x) < 0) {
			free(x);
			return -1;
		}
	}
	/* Counted before any eviction, so x outlives its last old link. */
	x->n++;
	k->pfx = x;
	if (x->n > p->cfg.max_unidentified_per_ip)
		evict(p, x);
	while (p->nincoming >= p->max_incoming && evict(p, NULL) == 0)
		;
	k->prev = p->incoming_tail;
	if (p->incoming_tail)
		p->incoming_tail->next = k;
	else
		p->incoming = k;
	p->incoming_tail = k;
	p->nincoming++;
	return 0;
}

/* 1 if a and b are the same IP address (texts of any form). */
static int same_ip(const char *a, const char *b)
{
	unsigned char x[16], y[16];
	if (inet_pton(AF_INET, a, x) == 1)
		return inet_pton(AF_INET, b, y) == 1 && memcmp(x, y, 4) == 0;
	return inet_pton(AF_INET6, a, x) == 1 && inet_pton(AF_INET6, b, y) == 1 && memcmp(x, y, 16) == 0;
}

/* Our listener shares its port with the punch dials, so the contact's
 * punch SYN lands on it when no punch socket of ours holds that address
 * pair just then (ours was refused and waits to retry, or the contact's
 * SYN came late). A connection from exactly a conversation's punch
 * address and port while its punch window is open is that punch: it
 * takes the role the names give it (as an ordinary incoming one both
 * sides would be TLS servers and wait for each other). 1 when cfd was
 * taken (or closed) so. */
static int punch_accepted(struct peer *p, int cfd)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	char ip[INET6_ADDRSTRLEN];
	unsigned port = 0;
	uint64_t now = loop_now(p->loop);
	memset(&ss, 0, sizeof ss);
	if (getpeername(cfd, (struct sockaddr *)&ss, &sl) < 0 ||
	    net_addr_text(&ss, 1, ip, sizeof ip, &port) < 0)
		return 0;
	for (struct conv *cv = p->convs; cv; cv = cv->next) {
		if (cv->punch_until <= now || cv->punch_port != port || !same_ip(cv->punch_ip, ip))
			continue;
		struct link *a = cv->alt;
		/* our own attempt still connecting cannot be this pair's */
		if (a && (a->how != PEER_PATH_PUNCHED || a->c->state != CONN_CONNECTING))
			return 0;
		struct peer_contact pc = {0};
		const char *why = PEER_OFFLINE;
		if (p->ops->lookup(p->arg, cv->name, &pc, &why) < 0)
			return 0;
		if (a) {
			a->detached = 1;
			conn_abort(a->c, "its punch reached our listener");
			cv->alt = NULL;
		}
		loop_timer_stop(p->loop, &cv->punch_t);
		if (punch_link(cv, cfd, pc.key) == 0) {
			log_debug("peer %s: its punch from %s port %u reached our listener; TLS %s", cv->name,
			          ip, port, strcmp(p->name, cv->name) < 0 ? "client" : "server");
		} else if (cv->stage == PEER_PATH_PUNCHED) {
			cv->why = PEER_UNREACHABLE;
			ladder_next(cv);
		}
		return 1;
	}
	return 0;
}

static void on_accept(struct loop *l, int fd, int revents, void *arg)
{
	struct peer *p = arg;
	(void)revents;
	for (int burst = 0; burst < 64; burst++) {
		int cfd = net_accept(fd, NULL, 0);
		if (cfd < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
				/* The backlog keeps the listener readable: without
				 * a pause the loop would spin and log each turn. */
				p->paused++;
				if (warn_due(p, &p->pause_warned)) {
					log_warn("peer listener: accept: %s; pausing new connections for a "
					         "second (%lu times since last logged; logged at most once a "
					         "minute)",
					         strerror(errno), p->paused);
					p->paused = 0;
				}
				loop_mod(l, fd, 0);
				loop_timer_set(l, &p->accept_t, PEER_PAUSE_MS, resume_accept, p);
			} else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
			           errno != ECONNABORTED) {
				log_warn("peer listener: accept: %s", strerror(errno));
			}
			return;
		}
		if (punch_accepted(p, cfd))
			continue;
		struct link *k = calloc(1, sizeof *k);
		if (k == NULL) {
			close(cfd);
			continue;
		}
		k->p = p;
		k->st = LINK_TLS;
		k->c = conn_new(l, cfd, p->accept_cfg, 0, &link_ops, k, p->cfg.max_line, p->cfg.max_out);
		if (k->c == NULL) {
			free(k);
			continue;
		}
		if (count_incoming(p, k) < 0) {
			conn_abort(k->c, "out of memory");
			continue;
		}
		log_debug("peer connection from %s", k->c->peer);
		conn_deadline(k->c, p->cfg.hello_timeout_ms, "no hello in time");
	}
}

static int listen_on(struct peer *p, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	memset(&ss, 0, sizeof ss);
	int any = strcmp(p->cfg.listen, "*") == 0;
	int family = AF_INET6;
	if (any) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
		s6->sin6_family = AF_INET6;
		s6->sin6_addr = in6addr_any;
		s6->sin6_port = htons((uint16_t)p->cfg.port);
		sl = sizeof *s6;
	} else {
		struct addrinfo hints, *ai;
		memset(&hints, 0, sizeof hints);
		hints.ai_socktype = SOCK_STREAM;
		hints.ai_flags = AI_NUMERICHOST | AI_PASSIVE;
		int rc = getaddrinfo(p->cfg.listen, NULL, &hints, &ai);
		if (rc != 0) {
			snprintf(err, errlen, "peer_listen '%s': %s", p->cfg.listen, gai_strerror(rc));
			return -1;
		}
		memcpy(&ss, ai->ai_addr, ai->ai_addrlen);
		sl = ai->ai_addrlen;
		family = ai->ai_family;
		freeaddrinfo(ai);
		if (family == AF_INET)
			((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)p->cfg.port);
		else
			((struct sockaddr_in6 *)&ss)->sin6_port = htons((uint16_t)p->cfg.port);
	}
	enum net_step step;
	int fd = net_listen_shared(&ss, sl, any, -1, 64, &step);
	if (fd < 0) {
		if (step == NET_SOCKET)
			snprintf(err, errlen, "peer listener: socket: %s", strerror(errno));
		else if (step == NET_NAME)
			snprintf(err, errlen, "peer listener: getsockname: %s", strerror(errno));
		else
			snprintf(err, errlen, "peer listener on %s port %u: %s", p->cfg.listen, p->cfg.port,
			         strerror(errno));
		return -1;
	}
	p->laddr = ss;
	p->port = ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
	                                        : ((struct sockaddr_in6 *)&ss)->sin6_port);
	if (loop_add(p->loop, fd, POLLIN, on_accept, p) < 0) {
		snprintf(err, errlen, "peer listener: out of memory");
		close(fd);
		return -1;
	}
	p->lfd = fd;
	return 0;
}

/* Every connection is a descriptor: raise the soft limit toward the hard
 * one if needed, and keep connections before their hello well inside it,
 * so they can never starve the contacts' or our own descriptors. */
static void fit_fd_limit(struct peer *p)
{
	struct rlimit rl;
	rlim_t want = (rlim_t)(p->cfg.max_unidentified * 2 + PEER_FD_RESERVE * 4);
	p->max_incoming = p->cfg.max_unidentified;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	if (rl.rlim_cur < want) {
		rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > want ? want : rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
		getrlimit(RLIMIT_NOFILE, &rl);
	}
	rlim_t room = rl.rlim_cur > PEER_FD_RESERVE ? (rl.rlim_cur - PEER_FD_RESERVE) / 2 : 0;
	if (room < 1)
		room = 1;
	if (room < p->max_incoming) {
		p->max_incoming = (size_t)room;
		log_info(
		    "peer listener: the open file limit %lu allows %zu connections before hello, not %zu",
		    (unsigned long)rl.rlim_cur, p->max_incoming, p->cfg.max_unidentified);
	}
}

struct peer *peer_new(struct loop *l, const struct peer_cfg *cfg, const struct peer_ops *ops, void *arg,
                      char *err, size_t errlen)
{
	struct peer *p = calloc(1, sizeof *p);
	if (p == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	p->loop = l;
	p->cfg = *cfg;
	p->ops = ops;
	p->arg = arg;
	p->lfd = -1;
	if (p->cfg.max_unidentified == 0)
		p->cfg.max_unidentified = 1;
	if (p->cfg.max_unidentified_per_ip == 0)
		p->cfg.max_unidentified_per_ip = p->cfg.max_unidentified;
	if (p->cfg.hello_timeout_ms == 0)
		p->cfg.hello_timeout_ms = p->cfg.timeout_ms;
	if (p->cfg.ipv6_prefix == 0)
		p->cfg.ipv6_prefix = 64;
	fit_fd_limit(p);
	p->dial_cfg = tls_cfg_new(TLS_CLIENT, cfg->key_file, cfg->cert_file, err, errlen);
	if (p->dial_cfg == NULL)
		goto fail;
	p->accept_cfg = tls_cfg_new(TLS_SERVER_PEER, cfg->key_file, cfg->cert_file, err, errlen);
	if (p->accept_cfg == NULL || listen_on(p, err, errlen) < 0)
		goto fail;
	return p;
fail:
	peer_free(p);
	return NULL;
}

unsigned peer_port(const struct peer *p)
{
	return p->port;
}

void peer_set_name(struct peer *p, const char *name)
{
	snprintf(p->name, sizeof p->name, "%s", name);
}

void peer_send(struct peer *p, const char *name, unsigned long id, const char *text)
{
	size_t len = strlen(text);
	/* "MSG " id " " text "\n" must fit the line limit. */
	if (len + 4 + 20 + 2 > p->cfg.max_line) {
		p->ops->failed(p->arg, name, id, PEER_TOOLONG);
		return;
	}
	struct peer_contact pc = {0};
	const char *why = PEER_OFFLINE;
	struct conv *cv = conv_find(p, name);
	/* Asked on every message, an open conversation included: a contact
	 * may have become untrusted (or gone) since it was dialed. */
	if (p->ops->lookup(p->arg, name, &pc, &why) < 0) {
		p->ops->failed(p->arg, name, id, why);
		return;
	}
	if (cv && cv->queued >= p->cfg.max_queued) {
		p->ops->failed(p->arg, name, id, PEER_BUSY);
		return;
	}
	struct msg *m = malloc(sizeof *m + len + 1);
	if (cv == NULL)
		cv = conv_get(p, name);
	if (m == NULL || cv == NULL) {
		free(m);
		p->ops->failed(p->arg, name, id, PEER_LOST);
		return;
	}
	m->next = NULL;
	m->id = id;
	m->sent_at = 0;
	memcpy(m->text, text, len + 1);
	if (cv->tail)
		cv->tail->next = m;
	else
		cv->head = m;
	cv->tail = m;
	cv->queued++;
	if (cv->unsent == NULL)
		cv->unsent = m;
	if (cv->link || cv->stage != PEER_PATH_NONE)
		pump(cv);
	else if (cv->wait_t.slot == 0)
		dial_conv(cv);
}

void peer_open(struct peer *p, const char *name)
{
	struct peer_contact pc = {0};
	const char *why = PEER_OFFLINE;
	struct conv *cv = conv_find(p, name);
	if ((cv && (cv->link || cv->stage != PEER_PATH_NONE)) || p->ops->lookup(p->arg, name, &pc, &why) < 0)
		return;
	if (cv == NULL && (cv = conv_get(p, name)) == NULL)
		return;
	dial_conv(cv);
}

size_t peer_pending(const struct peer *p)
{
	size_t n = 0;
	for (const struct conv *cv = p->convs; cv; cv = cv->next)
		n += cv->queued;
	return n;
}

int peer_is_open(const struct peer *p, const char *name)
{
	const struct conv *cv = conv_find(p, name);
	return cv && cv->link && cv->link->st == LINK_OPEN;
}

void peer_close(struct peer *p, const char *name, const char *reason)
{
	struct conv *cv = conv_find(p, name);
	if (cv == NULL)
		return;
	struct link *k = cv->link;
	if (k) {
		struct conn *c = k->c; /* valid until the pass ends; k is not */
		k->detached = 1;
		cv->link = NULL;
		if (k->st == LINK_OPEN)
			conn_send(c, "BYE");
		conn_close(c, reason);
		/* Whatever cannot be flushed at once is dropped, not waited on. */
		if (c->state == CONN_CLOSING)
			conn_abort(c, reason);
	}
	if (cv->alt) {
		cv->alt->detached = 1;
		conn_abort(cv->alt->c, reason);
		cv->alt = NULL;
	}
	ladder_stop(cv);
	loop_timer_stop(p->loop, &cv->wait_t);
	fail_msgs(cv, reason, 0);
}

void peer_forget(struct peer *p, const char *name)
{
	struct conv *cv = conv_find(p, name);
	if (cv == NULL)
		return;
	memset(cv->acked, 0, sizeof cv->acked);
	cv->acked_at = 0;
}

void peer_set_self(struct peer *p, const char *ip, int reach)
{
	snprintf(p->self_ip, sizeof p->self_ip, "%s", ip);
	p->self_reach = reach;
}

void peer_ask_failed(struct peer *p, const char *name, enum peer_ask what)
{
	struct conv *cv = conv_find(p, name);
	enum peer_path stage = what == PEER_ASK_CALL ? PEER_PATH_REVERSE : PEER_PATH_PUNCHED;
	/* Only while that rung still waits: a late reply is for an old one. */
	if (cv == NULL || cv->stage != stage || cv->stage_t.slot == 0)
		return;
	cv->why = PEER_UNREACHABLE;
	ladder_next(cv);
}

static const char punch_what[] = "a punch request";

/* The conversation with name for a CALL or PUNCH, when name is a contact
 * we may talk to and no dial to it is under way (a contact, or a server,
 * that floods us with them gets one dial at a time); else NULL, logged. */
static struct conv *relayed_conv(struct peer *p, const char *name, const char *what, struct peer_contact *pc)
{
	const char *why = PEER_OFFLINE;
	if (p->name[0] == '\0' || p->ops->lookup(p->arg, name, pc, &why) < 0) {
		log_debug("peer %s: ignoring %s: %s", name, what, why);
		return NULL;
	}
	struct conv *cv = conv_get(p, name);
	if (cv == NULL)
		return NULL;
	/* The PUNCH our punched rung asked for always starts the punch: it
	 * is that rung's attempt. */
	if (cv->stage == PEER_PATH_PUNCHED && cv->stage_t.slot != 0 && strcmp(what, punch_what) == 0)
		return cv;
	if (cv->alt || (cv->link && cv->link->st != LINK_OPEN) || cv->punch_t.slot != 0) {
		log_debug("peer %s: ignoring %s: a dial to it is under way", name, what);
		return NULL;
	}
	return cv;
}

void peer_call_in(struct peer *p, const char *name)
{
	struct peer_contact pc = {0};
	struct conv *cv = relayed_conv(p, name, "a call request", &pc);
	if (cv == NULL)
		return;
	struct link *k = calloc(1, sizeof *k);
	if (k == NULL)
		return;
	k->p = p;
	k->cv = cv;
	k->outgoing = 1;
	k->alt = 1;
	k->how = PEER_PATH_REVERSE;
	k->port = pc.port;
	k->naddr = 1;
	snprintf(k->key, sizeof k->key, "%s", pc.key);
	snprintf(k->addr[0], sizeof k->addr[0], "%s", pc.ip);
	if (dial(k) < 0) {
		free(k);
		return;
	}
	cv->alt = k;
	log_info("peer %s: it asked us to dial it; dialing %s port %u", name, pc.ip, pc.port);
}

void peer_punch_in(struct peer *p, const char *name, const char *ip, unsigned port)
{
	struct peer_contact pc = {0};
	struct conv *cv = relayed_conv(p, name, punch_what, &pc);
	if (cv == NULL)
		return;
	/* Never an address of the server's choosing: only where the server
	 * announced this contact to be. */
	if (strcmp(ip, pc.ip) != 0 || port != pc.port) {
		log_warn("peer %s: ignoring a punch request to %s port %u: it is announced at %s port %u",
		         name, ip, port, pc.ip, pc.port);
		return;
	}
	snprintf(cv->punch_ip, sizeof cv->punch_ip, "%s", ip);
	cv->punch_port = port;
	cv->punch_until = loop_now(p->loop) + p->cfg.timeout_ms;
	/* The punch's own window bounds the rung from now on. */
	if (cv->stage == PEER_PATH_PUNCHED)
		loop_timer_stop(p->loop, &cv->stage_t);
	if (cv->alt && cv->alt->how == PEER_PATH_PUNCHED) {
		/* the contact's PUNCH started it already: it runs on in the
		 * new window */
		log_info("peer %s: punching to %s port %u (under way)", name, ip, port);
		return;
	}
	if (cv->alt) {
		/* a dial its CALL asked for: the punch we asked for goes first */
		struct link *a = cv->alt;
		a->detached = 1;
		conn_abort(a->c, "our punch request was answered");
		cv->alt = NULL;
	}
	loop_timer_stop(p->loop, &cv->punch_t);
	log_info("peer %s: punching to %s port %u", name, ip, port);
	punch_try(cv);
}

void peer_shutdown(struct peer *p)
{
	if (p == NULL)
		return;
	for (struct conv *cv = p->convs; cv; cv = cv->next)
		peer_close(p, cv->name, PEER_CLOSED);
	while (p->incoming) {
		struct conn *c = p->incoming->c;
		conn_abort(c, "shutting down");
	}
	loop_timer_stop(p->loop, &p->accept_t);
	if (p->lfd >= 0) {
		loop_del(p->loop, p->lfd);
		close(p->lfd);
		p->lfd = -1;
	}
}

void peer_free(struct peer *p)
{
	if (p == NULL)
		return;
	peer_shutdown(p);
	while (p->convs) {
		struct conv *cv = p->convs;
		p->convs = cv->next;
		loop_timer_stop(p->loop, &cv->ack_t);
		loop_timer_stop(p->loop, &cv->wait_t);
		loop_timer_stop(p->loop, &cv->stage_t);
		loop_timer_stop(p->loop, &cv->punch_t);
		free(cv);
	}
	tls_cfg_free(p->dial_cfg);
	tls_cfg_free(p->accept_cfg);
	hmap_free(&p->pfx);
	free(p);
}
