/* sess: the server's session records (one per online user, by name), who
 * lists whom, DESIGN's mutual presence rule (ONLINE / OFFLINE / ASKED, the
 * latter at most once per asker per session; protocol 1.1's REACH lines
 * beside them), and the mirror of each local record as a file in the run
 * directory. In cluster mode the table also holds other nodes' sessions
 * (connection-less: nothing is ever sent to them), so the same rules apply
 * across nodes. */
#ifndef IM_SESS_H
#define IM_SESS_H

#include <stddef.h>
#include <time.h>

#include "conn.h"
#include "hmap.h"
#include "proto.h"
#include "reach.h"

typedef char sess_name[PROTO_NAME_MAX + 1];

#define SESS_NODE_MAX 64 /* a cluster node id's length */

struct sess {
	sess_name name;
	struct conn *c;               /* NULL: another node's session (cluster mode) */
	char node[SESS_NODE_MAX + 1]; /* that node's id; "" for a local session */
	char ip[48];
	unsigned port; /* 0 until PEER */
	char key[PROTO_KEY_HEX + 1];
	char lan[48];
	sess_name *contacts; /* sorted, unique */
	size_t ncontacts, capcontacts;
	sess_name *asked; /* sorted: who this session was told ASKED about */
	size_t nasked, capasked;
	time_t login;
	int v11;                 /* its connection said VERSION 1.1: REACH lines, CALL, PUNCH */
	enum reach_state reach;  /* what the probe of its port found */
	struct sess *dirty_next; /* on the table's list of records changed */
	int dirty;               /* on that list */
	int file_dirty;          /* its run_dir file is out of date */
	int published;           /* cluster mode: its LOGIN went out */
	int stale;               /* cluster: 1 unconfirmed by a running resync, 2 told by the channel */
};

/* Who hears of a local session's changes (cluster mode): changed once per
 * loop pass however many changes it had (the record is then current),
 * gone when it ends (before it is freed; out of the table already, and
 * s->dirty set when a change of this pass was never given to changed).
 * Neither may log a session out or change one. */
struct sess_hooks {
	void (*changed)(void *arg, struct sess *s);
	void (*gone)(void *arg, const struct sess *s);
	void *arg;
};

struct sess_table {
	struct hmap by_name;   /* name -> struct sess */
	struct hmap listed_by; /* name -> struct sess_watch: who lists it */
	char run_dir[512];
	struct loop *loop;
	struct sess *dirty; /* records changed in this pass */
	struct sess_hooks hooks;
};

/* Empties the table and the run directory (creating it 0700); files are
 * rewritten once per pass of loop l, however many changes it made. 0/-1. */
int sess_init(struct sess_table *t, const char *run_dir, struct loop *l);
/* The session of name, or NULL. */
struct sess *sess_find(const struct sess_table *t, const char *name);
/* Records a new session for name (not already online) on c; writes its
 * file. Returns it, or NULL when out of memory. */
struct sess *sess_login(struct sess_table *t, const char *name, struct conn *c);
/* Records another node's session for name (not in the table), without a
 * connection: node its id, ip and login as that node published them.
 * Returns it, or NULL when out of memory. Its PEER, contacts, version and
 * reach are then set with the functions below, which announce what they
 * change to the local sessions as for a local one. */
struct sess *sess_mirror(struct sess_table *t, const char *name, const char *node, const char *ip,
                         time_t login);
/* Sets who hears of local sessions' changes (all zero: no one). */
void sess_set_hooks(struct sess_table *t, const struct sess_hooks *h);
/* Ends s: OFFLINE to its mutual contacts, forgets it, removes its file,
 * frees it. */
void sess_logout(struct sess_table *t, struct sess *s);
/* Sets where peers reach s and announces it (again, if it changed). */
void sess_set_peer(struct sess_table *t, struct sess *s, unsigned port, const char *key, const char *lan);
/* Sets s's reachability and tells it: REACH about itself to s (a 1.1
 * session that sent PEER), and, when st is new, REACH about s to each
 * mutual 1.1 contact. */
void sess_set_reach(struct sess_table *t, struct sess *s, enum reach_state st);
/* Sets whether s's connection speaks protocol 1.1. Becoming 1.1 after its
 * PEER, s is told REACH about itself and its mutual 1.1 contacts, and they
 * are told REACH about s. */
void sess_set_version(struct sess_table *t, struct sess *s, int v11);
/* 1 if a and b list each other and both sent PEER (they see each other
 * online). */
int sess_mutual(const struct sess *a, const struct sess *b);
/* Replaces s's contact list with the n valid, folded names, as
 * sess_contacts_diff() left them (sorted, unique, without s's own name);
 * only the differences are announced. 0, or -1 when out of memory. */
int sess_set_contacts(struct sess_table *t, struct sess *s, const sess_name *names, size_t n);
/* Sorts names, drops duplicates and s's own name (*n shrinks), and
 * returns how many names replacing s's list with them would add or remove. */
size_t sess_contacts_diff(const struct sess *s, sess_name *names, size_t *n);
/* Adds one contact (0/-1) or removes one. */
int sess_add(struct sess_table *t, struct sess *s, const char *name);
void sess_del(struct sess_table *t, struct sess *s, const char *name);
/* 1 if s lists name. */
int sess_lists(const struct sess *s, const char *name);
/* Calls fn on every session; fn may not log sessions out. */
void sess_each(struct sess_table *t, void (*fn)(struct sess *s, void *arg), void *arg);
/* Forgets every session and removes their files (server shutdown). */
void sess_free(struct sess_table *t);

#endif
