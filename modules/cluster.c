/* cluster: the node's part of the shared session map: this node's session
 * records in Redis and on the channel, the other nodes' in the sess table. */
#ifdef IM_CLUSTER
#include "cluster.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "proto.h"

#define CLUSTER_CHECK_MS     1000    /* how often other nodes' records are looked for */
#define CLUSTER_SCAN_COUNT   500     /* keys a SCAN step asks for */
#define CLUSTER_MAX_CONTACTS 100000  /* max_contacts' ceiling: no node publishes more */
#define CLUSTER_MAX_MSG      4194304 /* bytes of one channel message */
#define CLUSTER_MAX_GONE     100000  /* logouts remembered while the link is down */

/* A record's SET, if the key is absent or this node's (another node's newer
 * session of the name is never overwritten). KEYS[1] key, ARGV: record,
 * "<node> ", ttl. */
static const char refresh_lua[] = "local v=redis.call('GET',KEYS[1]) "
                                  "if (not v) or string.sub(v,1,#ARGV[2])==ARGV[2] then "
                                  "redis.call('SET',KEYS[1],ARGV[1],'EX',ARGV[3]) return 1 end return 0";
/* A record's DEL, if it is still this session's. ARGV: "<node> <login> ". */
static const char del_lua[] = "local v=redis.call('GET',KEYS[1]) "
                              "if v and string.sub(v,1,#ARGV[1])==ARGV[1] then "
                              "return redis.call('DEL',KEYS[1]) end return 0";

/* A session's last change, at its logout: SET and PUBLISH only while the
 * record is still this session's (or, never published, absent), so a
 * newer login on another node (the kick) is never overwritten nor
 * contradicted. KEYS[1] key, ARGV: record, "<node> <login> ", ttl,
 * channel, message, "1" if never published. */
static const char last_lua[] = "local v=redis.call('GET',KEYS[1]) "
                               "if (v and string.sub(v,1,#ARGV[2])==ARGV[2]) or "
                               "((not v) and ARGV[6]=='1') then "
                               "redis.call('SET',KEYS[1],ARGV[1],'EX',ARGV[3]) "
                               "redis.call('PUBLISH',ARGV[4],ARGV[5]) return 1 end return 0";

/* A logout that could not be published (the link was down). */
struct gone {
	sess_name name;
	time_t login;
};

struct tomb {
	sess_name name;
	char node[SESS_NODE_MAX + 1];
};

struct cluster {
	struct loop *loop;
	struct sess_table *t;
	struct redis *r;
	char node[SESS_NODE_MAX + 1];
	char prefix[80];
	char channel[96];
	int ttl;
	struct loop_timer refresh_timer, check_timer, stale_timer;
	int link_up, was_up, sub_up;
	uint64_t grace_until; /* missing node records are not believed before */
	unsigned gen;         /* resync generation: answers of an older one are dropped */
	int scanning;
	int checks; /* node checks awaiting their answer */
	struct gone *gone;
	size_t ngone, capgone;
	struct tomb *tomb; /* LOGOUTs heard during a resync: its GETs may predate them */
	size_t ntomb, captomb;
};

/* What an answer belongs to. */
struct ask {
	struct cluster *c;
	unsigned gen;
	char node[SESS_NODE_MAX + 1];
	sess_name name; /* a GET's */
};

static void resync(struct cluster *c);
static int unpublish(struct cluster *c, const char *name, time_t login);

static int node_valid(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > SESS_NODE_MAX)
		return 0;
	return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:-") == n;
}

static void check_reply(struct redis *r, redisReply *rep, void *arg)
{
	(void)arg;
	if (rep != NULL && rep->type == REDIS_REPLY_ERROR)
		log_warn("cluster: redis %s refused a session record: %.160s", redis_addr(r), rep->str);
}

/* ---- this node's sessions ---- */

/* The record (cluster_design.md, with the reach state after v11):
 * "<node> <login> <ip> <port> <key|-> <lan|-> <v11> <reach> <contacts|->".
 * malloc'd, or NULL. */
static char *record(const struct cluster *c, const struct sess *s)
{
	size_t cap = 512 + SESS_NODE_MAX + s->ncontacts * (PROTO_NAME_MAX + 1);
	char *buf = malloc(cap);
	if (buf == NULL)
		return NULL;
	int n = snprintf(buf, cap, "%s %lld %s %u %s %s %d %s ", c->node, (long long)s->login, s->ip, s->port,
	                 s->key[0] ? s->key : "-", s->lan[0] ? s->lan : "-", s->v11 ? 1 : 0,
	                 reach_state_text(s->reach));
	for (size_t i = 0; i < s->ncontacts; i++)
		n += snprintf(buf + n, cap - (size_t)n, "%s%s", i ? "," : "", s->contacts[i]);
	if (s->ncontacts == 0)
		snprintf(buf + n, cap - (size_t)n, "-");
	return buf;
}

static void key_of(const struct cluster *c, const char *name, char *key, size_t cap)
{
	snprintf(key, cap, "%ssess:%s", c->prefix, name);
}

/* One message on the channel: "<node> <text>" (one argument: hiredis
 * splits its format at spaces). 0, or -1. */
static int say(struct cluster *c, const char *text)
{
	size_t n = strlen(c->node) + 1 + strlen(text) + 1;
	char *msg = malloc(n);
	if (msg == NULL)
		return -1;
	snprintf(msg, n, "%s %s", c->node, text);
	int r = redis_cmd(c->r, check_reply, c, "PUBLISH %s %s", c->channel, msg);
	free(msg);
	return r;
}

/* SET the record and announce it: LOGIN the first time, UPDATE after. */
static void publish(struct cluster *c, struct sess *s, int login)
{
	char key[160];
	if (!c->link_up)
		return;
	char *rec = record(c, s);
	size_t n = rec ? strlen(rec) + PROTO_NAME_MAX + 16 : 0;
	char *text = rec ? malloc(n) : NULL;
	if (text == NULL) {
		log_warn("cluster: out of memory publishing %s's session", s->name);
		free(rec);
		return;
	}
	snprintf(text, n, "%s %s %s", login || !s->published ? "LOGIN" : "UPDATE", s->name, rec);
	key_of(c, s->name, key, sizeof key);
	if (redis_cmd(c->r, check_reply, c, "SET %s %s EX %d", key, rec, c->ttl) == 0 && say(c, text) == 0)
		s->published = 1;
	free(text);
	free(rec);
}

static void on_changed(void *arg, struct sess *s)
{
	publish(arg, s, 0);
}

static void remember_gone(struct cluster *c, const char *name, time_t login)
{
	for (size_t i = 0; i < c->ngone; i++)
		if (strcmp(c->gone[i].name, name) == 0) {
			c->gone[i].login = login;
			return;
		}
	if (c->ngone == c->capgone) {
		size_t cap = c->capgone ? c->capgone * 2 : 16;
		struct gone *v = cap <= CLUSTER_MAX_GONE ? realloc(c->gone, cap * sizeof *v) : NULL;
		if (v == NULL) {
			log_warn("cluster: cannot remember %s's logout until redis is back; other nodes "
			         "drop it when its record expires",
			         name);
			return;
		}
		c->gone = v;
		c->capgone = cap;
	}
	snprintf(c->gone[c->ngone].name, sizeof c->gone[0].name, "%s", name);
	c->gone[c->ngone++].login = login;
}

/* DEL the record if it is still this session's, and say LOGOUT. */
static int unpublish(struct cluster *c, const char *name, time_t login)
{
	char key[160], mine[SESS_NODE_MAX + 32], text[PROTO_NAME_MAX + 16];
	key_of(c, name, key, sizeof key);
	snprintf(mine, sizeof mine, "%s %lld ", c->node, (long long)login);
	snprintf(text, sizeof text, "LOGOUT %s", name);
	if (!c->link_up || redis_cmd(c->r, check_reply, c, "EVAL %s 1 %s %s", del_lua, key, mine) < 0 ||
	    say(c, text) < 0)
		return -1;
	return 0;
}

/* s ends with a change of this pass unpublished (an ADD and a close in
 * one pass): announce it first, as one node would have shown it, unless
 * the record is no longer s's. The DEL and LOGOUT follow in order. */
static void publish_last(struct cluster *c, const struct sess *s)
{
	char key[160], mine[SESS_NODE_MAX + 32];
	char *rec = record(c, s);
	size_t n = rec ? strlen(c->node) + strlen(rec) + PROTO_NAME_MAX + 16 : 0;
	char *msg = rec ? malloc(n) : NULL;
	if (msg == NULL) {
		log_warn("cluster: out of memory publishing %s's last change", s->name);
		free(rec);
		return;
	}
	snprintf(msg, n, "%s %s %s %s", c->node, s->published ? "UPDATE" : "LOGIN", s->name, rec);
	key_of(c, s->name, key, sizeof key);
	snprintf(mine, sizeof mine, "%s %lld ", c->node, (long long)s->login);
	(void)redis_cmd(c->r, check_reply, c, "EVAL %s 1 %s %s %s %d %s %s %s", last_lua, key, rec, mine,
	                c->ttl, c->channel, msg, s->published ? "0" : "1");
	free(msg);
	free(rec);
}

static void on_gone(void *arg, const struct sess *s)
{
	struct cluster *c = arg;
	if (s->dirty && c->link_up)
		publish_last(c, s);
	if (unpublish(c, s->name, s->login) < 0)
		remember_gone(c, s->name, s->login);
}

static void refresh_one(struct sess *s, void *arg)
{
	struct cluster *c = arg;
	char key[160], mine[SESS_NODE_MAX + 2];
	if (s->c == NULL || !s->published)
		return;
	char *rec = record(c, s);
	if (rec == NULL)
		return;
	key_of(c, s->name, key, sizeof key);
	snprintf(mine, sizeof mine, "%s ", c->node);
	redis_cmd(c->r, check_reply, c, "EVAL %s 1 %s %s %s %d", refresh_lua, key, rec, mine, c->ttl);
	free(rec);
}

/* Every record again, in one pipeline: the commands queue on the link and
 * go out together when the loop next writes. */
static void refresh(struct loop *l, void *arg)
{
	struct cluster *c = arg;
	if (c->link_up)
		sess_each(c->t, refresh_one, c);
	loop_timer_set(l, &c->refresh_timer, (uint64_t)c->ttl * 1000 / 3, refresh, c);
}

static void republish_one(struct sess *s, void *arg)
{
	if (s->c != NULL)
		publish(arg, s, 1);
}

void cluster_link(struct cluster *c, int up)
{
	c->link_up = up;
	if (!up)
		return;
	/* After an outage Redis may have lost everything: each node needs a
	 * moment to write its records again before a missing one means a
	 * dead node. */
	if (c->was_up)
		c->grace_until = loop_now(c->loop) + (uint64_t)c->ttl * 1000;
	c->was_up = 1;
	size_t n = c->ngone;
	c->ngone = 0;
	for (size_t i = 0; i < n; i++) {
		/* Not when the name's session here is that one again (a login
		 * in the same second): its LOGIN below says all. */
		const struct sess *now = sess_find(c->t, c->gone[i].name);
		if (now == NULL || now->c == NULL || now->login != c->gone[i].login)
			(void)unpublish(c, c->gone[i].name, c->gone[i].login);
	}
	sess_each(c->t, republish_one, c);
	resync(c);
}

struct leave {
	struct cluster *c;
	struct redis_sync *rs;
	int failed;
};

static void leave_one(struct sess *s, void *arg)
{
	struct leave *lv = arg;
	char key[160], mine[SESS_NODE_MAX + 32], err[200];
	if (s->c == NULL || lv->failed)
		return;
	key_of(lv->c, s->name, key, sizeof key);
	snprintf(mine, sizeof mine, "%s %lld ", lv->c->node, (long long)s->login);
	redisReply *rep = redis_sync_cmd(lv->rs, err, sizeof err, "EVAL %s 1 %s %s", del_lua, key, mine);
	if (rep == NULL) {
		log_warn("cluster: the session records stay until they expire: %s", err);
		lv->failed = 1;
		return;
	}
	freeReplyObject(rep);
}

void cluster_leave(struct cluster *c, struct redis_sync *rs)
{
	struct leave lv = {c, rs, 0};
	if (c != NULL && rs != NULL)
		sess_each(c->t, leave_one, &lv);
}

/* ---- the other nodes' sessions ---- */

static int newer(time_t la, const char *na, time_t lb, const char *nb)
{
	return la > lb || (la == lb && strcmp(na, nb) > 0);
}

struct rec {
	char *node, *ip, *key, *lan, *reach, *contacts;
	long long login;
	unsigned port;
	int v11;
};

/* Splits and checks a record in place: 0, or -1 (with why). */
static int parse_record(char *line, struct rec *r, const char **why)
{
	char *f[9];
	int n = 0;
	char *save = NULL;
	for (char *t = strtok_r(line, " ", &save); t && n < 9; t = strtok_r(NULL, " ", &save))
		f[n++] = t;
	if (n != 9 || strtok_r(NULL, " ", &save) != NULL) {
		*why = "not 9 fields";
		return -1;
	}
	char *end;
	r->node = f[0];
	r->login = strtoll(f[1], &end, 10);
	r->ip = f[2];
	r->key = strcmp(f[4], "-") == 0 ? "" : f[4];
	r->lan = strcmp(f[5], "-") == 0 ? "" : f[5];
	r->reach = f[7];
	r->contacts = strcmp(f[8], "-") == 0 ? "" : f[8];
	if (!node_valid(r->node))
		*why = "bad node id";
	else if (*f[1] == '\0' || *end != '\0' || r->login < 0)
		*why = "bad login time";
	else if (!proto_ip_valid(r->ip))
		*why = "bad address";
	else if (strcmp(f[3], "0") != 0 && proto_port(f[3], &r->port) < 0)
		*why = "bad port";
	else if (r->key[0] && !proto_key_valid(r->key))
		*why = "bad key";
	else if (r->lan[0] && !proto_ip_valid(r->lan))
		*why = "bad lan address";
	else if (strcmp(f[6], "0") != 0 && strcmp(f[6], "1") != 0)
		*why = "bad version";
	else if (strcmp(r->reach, "unknown") != 0 && strcmp(r->reach, "open") != 0 &&
	         strcmp(r->reach, "closed") != 0)
		*why = "bad reach state";
	else
		*why = NULL;
	if (strcmp(f[3], "0") == 0)
		r->port = 0;
	r->v11 = f[6][0] == '1';
	if (*why == NULL && r->port != 0 && r->key[0] == '\0')
		*why = "a port without a key";
	return *why ? -1 : 0;
}

/* The contacts field as sess names: the count, or -1. *out malloc'd. */
static long parse_contacts(char *list, sess_name **out)
{
	size_t n = 0;
	*out = NULL;
	if (*list == '\0')
		return 0;
	for (char *p = list; *p; p++)
		n += *p == ',';
	n++;
	if (n > CLUSTER_MAX_CONTACTS || (*out = malloc(n * sizeof **out)) == NULL)
		return -1;
	size_t i = 0;
	char *save = NULL;
	for (char *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		if (i == n || proto_name_fold(t, (*out)[i]) < 0 || strcmp(t, (*out)[i]) != 0) {
			free(*out);
			*out = NULL;
			return -1;
		}
		i++;
	}
	if (i != n) {
		free(*out);
		*out = NULL;
		return -1;
	}
	return (long)n;
}

static enum reach_state reach_of(const char *s)
{
	return strcmp(s, "open") == 0 ? REACH_OPEN : strcmp(s, "closed") == 0 ? REACH_CLOSED : REACH_UNKNOWN;
}

/* Kicks local session s for a newer login elsewhere: its close logs it out
 * (sess_logout, whose gone hook says LOGOUT: the other nodes ignore it, as
 * their record of the name is the newer node's). */
static void kick_local(struct sess *s, const char *why_peer, const char *ip)
{
	char why[128];
	snprintf(why, sizeof why, "replaced by a newer login on node %s", why_peer);
	conn_send(s->c, "KICKED logged in again from %s", ip);
	conn_close(s->c, why);
}

/* Applies node's record rec of name: a new, replaced or updated mirror.
 * scan: it comes from a resync's GET (a channel message during the
 * resync is newer and wins). */
static void apply(struct cluster *c, const char *name, char *line, int scan)
{
	struct rec r;
	const char *why;
	sess_name *names = NULL;
	if (parse_record(line, &r, &why) < 0) {
		log_warn("cluster: ignoring a session record of %s: %s", name, why);
		return;
	}
	long n = parse_contacts(r.contacts, &names);
	if (n < 0) {
		log_warn("cluster: ignoring a session record of %s: bad contacts", name);
		return;
	}
	if (strcmp(r.node, c->node) == 0) {
		/* Left by this node's earlier life (a crash, a restart within
		 * record_ttl): the others still show it. */
		struct sess *mine = sess_find(c->t, name);
		if (scan && !(mine && mine->c && mine->login == (time_t)r.login)) {
			log_info("cluster: removing %s's record left by this node's previous run", name);
			(void)unpublish(c, name, (time_t)r.login);
		}
		goto out;
	}
	if (scan)
		for (size_t i = 0; i < c->ntomb; i++)
			if (strcmp(c->tomb[i].name, name) == 0 && strcmp(c->tomb[i].node, r.node) == 0)
				goto out;
	struct sess *s = sess_find(c->t, name);
	if (s && s->c != NULL) {
		if (!newer((time_t)r.login, r.node, s->login, c->node)) {
			/* Ours is newer: say so again (its record too, which the
			 * other one overwrote), and that node kicks the older. */
			publish(c, s, 1);
			goto out;
		}
		log_info("cluster: %s logged in on node %s: kicking the older session here", name, r.node);
		kick_local(s, r.node, r.ip);
		s = sess_find(c->t, name);
		if (s && s->c != NULL) /* not closed: cannot happen, but never two */
			goto out;
	}
	if (s && (strcmp(s->node, r.node) != 0 || s->login != (time_t)r.login)) {
		if (!newer((time_t)r.login, r.node, s->login, s->node))
			goto out;
		sess_logout(c->t, s);
		s = NULL;
	}
	if (s && scan && s->stale == 2)
		goto out;
	if (s == NULL && (s = sess_mirror(c->t, name, r.node, r.ip, (time_t)r.login)) == NULL) {
		log_warn("cluster: out of memory mirroring %s's session", name);
		goto out;
	}
	s->stale = scan ? 0 : 2;
	size_t m = (size_t)n;
	sess_set_version(c->t, s, r.v11);
	(void)sess_contacts_diff(s, names, &m);
	if (sess_set_contacts(c->t, s, names, m) < 0)
		log_warn("cluster: out of memory setting %s's contacts", name);
	/* As srv.c's PEER does: a new port's state goes with its ONLINE. */
	if (r.port != 0 && r.port != s->port)
		s->reach = reach_of(r.reach);
	if (r.port != 0)
		sess_set_peer(c->t, s, r.port, r.key, r.lan);
	sess_set_reach(c->t, s, reach_of(r.reach));
out:
	free(names);
}

struct node_sessions {
	const char *node;
	int stale_only;
	struct sess **v;
	size_t n, cap;
};

static void collect(struct sess *s, void *arg)
{
	struct node_sessions *ns = arg;
	if (s->c != NULL || strcmp(s->node, ns->node) != 0 || (ns->stale_only && s->stale != 1))
		return;
	if (ns->n == ns->cap) {
		size_t cap = ns->cap ? ns->cap * 2 : 16;
		struct sess **v = realloc(ns->v, cap * sizeof *v);
		if (v == NULL)
			return;
		ns->v = v;
		ns->cap = cap;
	}
	ns->v[ns->n++] = s;
}

/* Forgets node's sessions (stale_only: those a resync did not find):
 * OFFLINE to their local mutual contacts. */
static void drop_node(struct cluster *c, const char *node, int stale_only, const char *why)
{
	struct node_sessions ns = {node, stale_only, NULL, 0, 0};
	sess_each(c->t, collect, &ns);
	if (ns.n > 0 || !stale_only)
		log_info("cluster: node %s %s: dropping %zu of its sessions", node, why, ns.n);
	for (size_t i = 0; i < ns.n; i++)
		sess_logout(c->t, ns.v[i]);
	free(ns.v);
}

static void tomb_add(struct cluster *c, const char *name, const char *node)
{
	if (c->ntomb == c->captomb) {
		size_t cap = c->captomb ? c->captomb * 2 : 16;
		struct tomb *v = cap <= CLUSTER_MAX_GONE ? realloc(c->tomb, cap * sizeof *v) : NULL;
		if (v == NULL)
			return;
		c->tomb = v;
		c->captomb = cap;
	}
	snprintf(c->tomb[c->ntomb].name, sizeof c->tomb[0].name, "%s", name);
	snprintf(c->tomb[c->ntomb++].node, sizeof c->tomb[0].node, "%s", node);
}

/* Relayed CALL / PUNCH for a local session: the same checks as on one node. */
static void relayed(struct cluster *c, const char *node, const char *to, const char *from, int punch)
{
	struct sess *s = sess_find(c->t, to), *f = sess_find(c->t, from);
	if (s == NULL || s->c == NULL || f == NULL || f->c != NULL || strcmp(f->node, node) != 0 ||
	    !sess_mutual(s, f) || !s->v11)
		return;
	if (punch)
		conn_send(s->c, "PUNCH %s %s %u", f->name, f->ip, f->port);
	else
		conn_send(s->c, "CALL %s", f->name);
}

static void on_message(struct redis *r, const char *msg, size_t len, void *arg)
{
	(void)r;
	cluster_message(arg, msg, len);
}

void cluster_message(struct cluster *c, const char *msg, size_t len)
{
	if (len > CLUSTER_MAX_MSG)
		return;
	char *buf = malloc(len + 1);
	if (buf == NULL)
		return;
	memcpy(buf, msg, len);
	buf[len] = '\0';
	char *node = buf, *word = NULL, *name = NULL, *rest = NULL;
	if ((word = strchr(node, ' ')) != NULL) {
		*word++ = '\0';
		if ((name = strchr(word, ' ')) != NULL) {
			*name++ = '\0';
			if ((rest = strchr(name, ' ')) != NULL)
				*rest++ = '\0';
		}
	}
	char folded[PROTO_NAME_MAX + 1];
	if (name == NULL || !node_valid(node) || strcmp(node, c->node) == 0)
		goto out;
	if (strcmp(word, "DOWN") == 0) {
		drop_node(c, node, 0, "stopped");
		goto out;
	}
	if (proto_name_fold(name, folded) < 0 || strcmp(name, folded) != 0)
		goto out;
	if ((strcmp(word, "LOGIN") == 0 || strcmp(word, "UPDATE") == 0) && rest) {
		if (c->scanning)
			for (size_t i = 0; i < c->ntomb; i++)
				if (strcmp(c->tomb[i].name, name) == 0 && strcmp(c->tomb[i].node, node) == 0)
					c->tomb[i].name[0] = '\0';
		apply(c, name, rest, 0);
	} else if (strcmp(word, "LOGOUT") == 0) {
		struct sess *s = sess_find(c->t, name);
		/* The resync may not have read this name yet. */
		if (c->scanning)
			tomb_add(c, name, node);
		if (s && s->c == NULL && strcmp(s->node, node) == 0)
			sess_logout(c->t, s);
	} else if (strcmp(word, "KICK") == 0) {
		struct sess *s = sess_find(c->t, name);
		if (s && s->c != NULL) {
			log_audit("kicking %s: account deleted (KICK from %s)", name, node);
			conn_send(s->c, "KICKED account deleted");
			conn_close(s->c, "account deleted");
		}
	} else if ((strcmp(word, "CALL") == 0 || strcmp(word, "PUNCH") == 0) && rest && !strchr(rest, ' ')) {
		relayed(c, node, name, rest, word[0] == 'P');
	} else {
		log_debug("cluster: ignoring channel word %.16s from node %s", word, node);
	}
out:
	free(buf);
}

int cluster_relay(struct cluster *c, const struct sess *s, const struct sess *from, int punch)
{
	char text[2 * PROTO_NAME_MAX + 16];
	if (!c->link_up)
		return -1;
	snprintf(text, sizeof text, "%s %s %s", punch ? "PUNCH" : "CALL", s->name, from->name);
	return say(c, text);
}

/* ---- resync: SCAN P sess:* and GET them ---- */

static struct ask *ask_new(struct cluster *c, const char *node)
{
	struct ask *a = calloc(1, sizeof *a);
	if (a == NULL)
		return NULL;
	a->c = c;
	a->gen = c->gen;
	if (node)
		snprintf(a->node, sizeof a->node, "%s", node);
	return a;
}

static void scan_step(struct cluster *c, const char *cursor);

static void mark_stale(struct sess *s, void *arg)
{
	(void)arg;
	if (s->c == NULL)
		s->stale = 1;
}

struct nodes {
	int stale_only;
	char (*v)[SESS_NODE_MAX + 1];
	size_t n, cap;
};

/* Adds s's node to the list (only s is another node's, and when
 * stale_only, one the resync did not find). */
static void node_of(struct sess *s, void *arg)
{
	struct nodes *sn = arg;
	if (s->c != NULL || (sn->stale_only && s->stale != 1))
		return;
	for (size_t i = 0; i < sn->n; i++)
		if (strcmp(sn->v[i], s->node) == 0)
			return;
	if (sn->n == sn->cap) {
		size_t cap = sn->cap ? sn->cap * 2 : 8;
		char(*v)[SESS_NODE_MAX + 1] = realloc(sn->v, cap * sizeof *v);
		if (v == NULL)
			return;
		sn->v = v;
		sn->cap = cap;
	}
	snprintf(sn->v[sn->n++], sizeof sn->v[0], "%s", s->node);
}

/* A node whose sessions the resync did not all find: alive, those ended
 * while this node was not listening; gone, the node check drops them. */
static void stale_checked(struct redis *r, redisReply *rep, void *arg)
{
	struct ask *a = arg;
	(void)r;
	if (rep && rep->type == REDIS_REPLY_INTEGER && rep->integer == 1 && a->gen == a->c->gen)
		drop_node(a->c, a->node, 1, "is up but no longer holds them");
	free(a);
}

static void check_stale(struct cluster *c);

static void stale_later(struct loop *l, void *arg)
{
	struct cluster *c = arg;
	(void)l;
	if (c->link_up && c->sub_up && !c->scanning)
		check_stale(c);
}

static void scan_done(struct redis *r, redisReply *rep, void *arg)
{
	struct ask *done = arg;
	struct cluster *c = done->c;
	(void)r;
	int current = rep != NULL && done->gen == c->gen;
	free(done);
	if (!current)
		return;
	c->scanning = 0;
	c->ntomb = 0;
	uint64_t now = loop_now(c->loop);
	if (now < c->grace_until) {
		/* Redis may have restarted empty: the other nodes write their
		 * sessions again (and the logouts they could not publish) as
		 * they come back. Those not back by then are looked at. */
		loop_timer_set(c->loop, &c->stale_timer, c->grace_until - now, stale_later, c);
		return;
	}
	check_stale(c);
}

/* The nodes of the sessions a resync did not find: is each one up? */
static void check_stale(struct cluster *c)
{
	struct nodes sn = {1, NULL, 0, 0};
	char key[160];
	sess_each(c->t, node_of, &sn);
	for (size_t i = 0; i < sn.n; i++) {
		struct ask *a = ask_new(c, sn.v[i]);
		snprintf(key, sizeof key, "%snode:%s", c->prefix, sn.v[i]);
		if (a && redis_cmd(c->r, stale_checked, a, "EXISTS %s", key) < 0)
			free(a);
	}
	free(sn.v);
	log_debug("cluster: resync done, %zu nodes to check", sn.n);
}

static void got_record(struct redis *r, redisReply *rep, void *arg)
{
	struct ask *a = arg;
	(void)r;
	if (rep && rep->type == REDIS_REPLY_STRING && a->gen == a->c->gen)
		apply(a->c, a->name, rep->str, 1);
	free(a);
}

static void got_scan(struct redis *r, redisReply *rep, void *arg)
{
	struct ask *a = arg;
	struct cluster *c = a->c;
	if (a->gen != c->gen) {
		free(a);
		return;
	}
	free(a);
	if (rep == NULL || rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 ||
	    rep->element[0]->type != REDIS_REPLY_STRING || rep->element[1]->type != REDIS_REPLY_ARRAY) {
		if (rep)
			log_warn("cluster: redis %s: unexpected answer to SCAN: %.120s", redis_addr(r),
			         rep->type == REDIS_REPLY_ERROR ? rep->str : "?");
		c->scanning = 0;
		return;
	}
	redisReply *keys = rep->element[1];
	size_t plen = strlen(c->prefix) + strlen("sess:");
	for (size_t i = 0; i < keys->elements; i++) {
		redisReply *k = keys->element[i];
		char folded[PROTO_NAME_MAX + 1];
		if (k->type != REDIS_REPLY_STRING || k->len <= plen || k->len - plen > PROTO_NAME_MAX ||
		    proto_name_fold(k->str + plen, folded) < 0 || strcmp(k->str + plen, folded) != 0)
			continue;
		struct ask *g = ask_new(c, NULL);
		if (g == NULL)
			break;
		snprintf(g->name, sizeof g->name, "%s", folded);
		if (redis_cmd(c->r, got_record, g, "GET %s", k->str) < 0) {
			free(g);
			break;
		}
	}
	if (strcmp(rep->element[0]->str, "0") == 0) {
		/* Answers come in order: PING's after every GET's. */
		struct ask *d = ask_new(c, NULL);
		if (d == NULL || redis_cmd(c->r, scan_done, d, "PING") < 0) {
			free(d);
			c->scanning = 0;
		}
		return;
	}
	scan_step(c, rep->element[0]->str);
}

static void scan_step(struct cluster *c, const char *cursor)
{
	char pat[160];
	snprintf(pat, sizeof pat, "%ssess:*", c->prefix);
	struct ask *a = ask_new(c, NULL);
	if (a == NULL ||
	    redis_cmd(c->r, got_scan, a, "SCAN %s MATCH %s COUNT %d", cursor, pat, CLUSTER_SCAN_COUNT) < 0) {
		free(a);
		c->scanning = 0;
	}
}

/* Messages sent while nobody listened are lost: read the map whole, once
 * both links are up. */
static void resync(struct cluster *c)
{
	loop_timer_stop(c->loop, &c->stale_timer);
	c->gen++;
	c->scanning = 0;
	c->ntomb = 0;
	if (!c->sub_up || !c->link_up)
		return;
	sess_each(c->t, mark_stale, NULL);
	c->scanning = 1;
	scan_step(c, "0");
}

static void on_sub(struct redis *r, int up, void *arg)
{
	struct cluster *c = arg;
	(void)r;
	c->sub_up = up;
	resync(c);
}

/* ---- other nodes' death ---- */

static void node_checked(struct redis *r, redisReply *rep, void *arg)
{
	struct ask *a = arg;
	struct cluster *c = a->c;
	(void)r;
	c->checks--;
	if (rep && rep->type == REDIS_REPLY_INTEGER && rep->integer == 0 && a->gen == c->gen &&
	    loop_now(c->loop) >= c->grace_until)
		drop_node(c, a->node, 0, "is gone (its record expired)");
	free(a);
}

static void check_nodes(struct loop *l, void *arg)
{
	struct cluster *c = arg;
	loop_timer_set(l, &c->check_timer, CLUSTER_CHECK_MS, check_nodes, c);
	if (!c->link_up || !c->sub_up || c->checks > 0 || loop_now(l) < c->grace_until)
		return;
	struct nodes sn = {0, NULL, 0, 0};
	char key[160];
	sess_each(c->t, node_of, &sn);
	for (size_t i = 0; i < sn.n; i++) {
		struct ask *a = ask_new(c, sn.v[i]);
		snprintf(key, sizeof key, "%snode:%s", c->prefix, sn.v[i]);
		if (a == NULL || redis_cmd(c->r, node_checked, a, "EXISTS %s", key) < 0) {
			free(a);
			break;
		}
		c->checks++;
	}
	free(sn.v);
}

/* ---- life ---- */

struct cluster *cluster_new(struct loop *l, struct sess_table *t, struct redis *r, const char *node,
                            const char *prefix, int ttl)
{
	struct cluster *c = calloc(1, sizeof *c);
	if (c == NULL)
		return NULL;
	c->loop = l;
	c->t = t;
	c->r = r;
	c->ttl = ttl;
	snprintf(c->node, sizeof c->node, "%s", node);
	snprintf(c->prefix, sizeof c->prefix, "%s", prefix);
	snprintf(c->channel, sizeof c->channel, "%sevents", prefix);
	if (redis_subscribe(r, c->channel, on_message, on_sub, c) < 0) {
		free(c);
		return NULL;
	}
	struct sess_hooks h = {on_changed, on_gone, c};
	sess_set_hooks(t, &h);
	loop_timer_set(l, &c->refresh_timer, (uint64_t)ttl * 1000 / 3, refresh, c);
	loop_timer_set(l, &c->check_timer, CLUSTER_CHECK_MS, check_nodes, c);
	return c;
}

void cluster_free(struct cluster *c)
{
	if (c == NULL)
		return;
	struct sess_hooks none = {NULL, NULL, NULL};
	sess_set_hooks(c->t, &none);
	loop_timer_stop(c->loop, &c->refresh_timer);
	loop_timer_stop(c->loop, &c->check_timer);
	loop_timer_stop(c->loop, &c->stale_timer);
	free(c->gone);
	free(c->tomb);
	free(c);
}

#else
/* Built without cluster mode (CLUSTER=no): no Redis code at all. */
typedef int cluster_not_built;
#endif
