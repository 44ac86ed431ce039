/* store: the client's state directory: its long-term identity (key and
 * certificate), the contacts file, the remembered server and contact keys
 * and the servers' resume tokens. */
#ifndef IM_STORE_H
#define IM_STORE_H

#include <stddef.h>

#include "conf.h"
#include "proto.h"
#include "tokens.h"

/* A ceiling on each list, so a corrupt or hostile file cannot eat memory. */
#define STORE_MAX_ENTRIES 4096

struct store_key {
	char name[CONF_STR_MAX + 8]; /* a contact name, or "host:port" */
	char key[PROTO_KEY_HEX + 1];
};

/* A resume token a server gave us: valid only for that server (host:port
 * and the key it presented then) and that user. */
struct store_token {
	char hostport[CONF_STR_MAX + 8];
	char key[PROTO_KEY_HEX + 1]; /* the server's key when it issued the token */
	char name[PROTO_NAME_MAX + 1];
	char token[TOKENS_TEXT_LEN + 1];
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
	struct store_token *tokens; /* secrets: wiped by store_close */
	size_t ntokens;
};

/* Opens dir (creating it 0700), generating the identity on first use, and
 * loads the lists. 0, or -1 with err set ("path:line: ..." for bad files). */
int store_open(struct store *s, const char *dir, char *err, size_t errlen);
/* Frees the lists (wiping the tokens); safe to call twice. */
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

/* The resume token of user name at server "host:port", or NULL. The
 * caller must check ->key against the key the server presents now. */
const struct store_token *store_token(const struct store *s, const char *hostport, const char *name);
/* Remembers (replacing) name's token at hostport, issued by the server
 * with key, and rewrites the tokens file (0600, atomically). 0, or -1 with
 * errno set when the file could not be written (the token is then kept in
 * memory for this run, except with ENOSPC, ENAMETOOLONG or ENOMEM). */
int store_set_token(struct store *s, const char *hostport, const char *key, const char *name,
                    const char *token);
/* Forgets name's token at hostport (in memory at once) and rewrites the
 * file. 0 (also when there was none), or -1 with errno set. */
int store_del_token(struct store *s, const char *hostport, const char *name);

/* Reads the first line of a password file (warning if others can read it)
 * into out. 0, or -1 with err set. */
int store_read_password(const char *path, char *out, size_t outlen, char *err, size_t errlen);

#endif
