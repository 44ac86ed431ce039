/* store: the client's state directory: its long-term identity (key and
 * certificate), the contacts file and the remembered server and contact keys. */
#ifndef IM_STORE_H
#define IM_STORE_H

#include <stddef.h>

#include "conf.h"
#include "proto.h"

/* A ceiling on each list, so a corrupt or hostile file cannot eat memory. */
#define STORE_MAX_ENTRIES 4096

struct store_key {
	char name[CONF_STR_MAX + 8]; /* a contact name, or "host:port" */
	char key[PROTO_KEY_HEX + 1];
};

struct store {
	char dir[CONF_PATH_MAX];
	char key_file[CONF_PATH_MAX + 16];
	char cert_file[CONF_PATH_MAX + 16];
	char fingerprint[PROTO_KEY_HEX + 1];  /* DESIGN's <key> of our identity */
	char (*contacts)[PROTO_NAME_MAX + 1]; /* sorted, folded, unique */
	size_t ncontacts;
	struct store_key *keys; /* remembered contact keys */
	size_t nkeys;
	struct store_key *servers; /* remembered server keys by "host:port" */
	size_t nservers;
};

/* Opens dir (creating it 0700), generating the identity on first use, and
 * loads the lists. 0, or -1 with err set ("path:line: ..." for bad files). */
int store_open(struct store *s, const char *dir, char *err, size_t errlen);
/* Frees the lists; safe to call twice. */
void store_close(struct store *s);

/* 1 if name (folded) is in the contacts list. */
int store_has_contact(const struct store *s, const char *name);
/* Adds or removes a folded name and rewrites the contacts file atomically.
 * 0 (also when nothing changed), or -1 with errno set. */
int store_add_contact(struct store *s, const char *name);
int store_del_contact(struct store *s, const char *name);

/* The remembered key of a contact, or NULL if none yet. */
const char *store_contact_key(const struct store *s, const char *name);
/* Remembers (or replaces) a contact's key, rewriting known_keys. 0, or -1
 * with errno set. After -1 the key may still be remembered in memory (for
 * this run): it is when only the file failed (it could not be written,
 * its path is too long: ENAMETOOLONG, or its text could not be built:
 * ENOMEM); it is not when the list is full (ENOSPC), the name is too long
 * (ENAMETOOLONG) or the list could not grow (ENOMEM). The errno alone
 * does not tell: read the key back with store_contact_key(). */
int store_set_contact_key(struct store *s, const char *name, const char *key);

/* The remembered key of server "host:port", or NULL. */
const char *store_server_key(const struct store *s, const char *hostport);
/* Remembers the key of server "host:port", rewriting known_servers; -1 as
 * for store_set_contact_key, with the key kept in memory the same way. */
int store_set_server_key(struct store *s, const char *hostport, const char *key);

/* Reads the first line of a password file (warning if others can read it)
 * into out. 0, or -1 with err set. */
int store_read_password(const char *path, char *out, size_t outlen, char *err, size_t errlen);

#endif
