/* sess: the server's session records (one per online user, by name), who
 * lists whom, DESIGN's mutual presence rule (ONLINE / OFFLINE / ASKED, the
 * latter at most once per asker per session; protocol 1.1's REACH lines
 * beside them), and the mirror of each record
 * as a file in the run directory. */
#ifndef IM_SESS_H
#define IM_SESS_H

#include <stddef.h>
#include <time.h>

#include "conn.h"
#include "hmap.h"
#include "proto.h"
#include "reach.h"

typedef char sess_name[PROTO_NAME_MAX + 1];

struct sess {
	sess_name name;
	struct conn *c;
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
	struct sess *dirty_next; /* on the table's list of files to rewrite */
	int dirty;
};

struct sess_table {
	struct hmap by_name;   /* name -> struct sess */
	struct hmap listed_by; /* name -> struct sess_watch: who lists it */
	char run_dir[512];
	struct loop *loop;
	struct sess *dirty; /* records whose file is out of date */
};

/* Empties the table and the run directory (creating it 0700); files are
 * rewritten once per pass of loop l, however many changes it made. 0/-1. */
int sess_init(struct sess_table *t, const char *run_dir, struct loop *l);
/* The session of name, or NULL. */
struct sess *sess_find(const struct sess_table *t, const char *name);
/* Records a new session for name (not already online) on c; writes its
 * file. Returns it, or NULL when out of memory. */
struct sess *sess_login(struct sess_table *t, const char *name, struct conn *c);
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
