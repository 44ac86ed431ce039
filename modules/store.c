/* store: the client's state directory: identity key and certificate,
 * contacts, known_keys, known_servers and tokens, every rewrite through afile. */
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mbedtls/platform_util.h>

#include "afile.h"
#include "log.h"
#include "tls.h"

#define STORE_FILE_MAX (1024 * 1024) /* larger state files are refused */

static int join(char *dst, size_t len, const char *dir, const char *name)
{
	int n = snprintf(dst, len, "%s/%s", dir, name);
	return n < 0 || (size_t)n >= len ? -1 : 0;
}

/* Reads a whole state file into a NUL-terminated buffer; a missing file is
 * an empty one. Returns the buffer (caller frees) or NULL with err set. */
static char *slurp(const char *path, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		if (errno == ENOENT)
			return calloc(1, 1);
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	char *buf = NULL;
	size_t len = 0, cap = 0;
	for (;;) {
		if (len + 4096 + 1 > cap) {
			if (cap >= STORE_FILE_MAX) {
				snprintf(err, errlen, "%s: larger than %d bytes", path, STORE_FILE_MAX);
				goto fail;
			}
			cap = cap ? cap * 2 : 8192;
			char *p = realloc(buf, cap);
			if (p == NULL) {
				snprintf(err, errlen, "%s: out of memory", path);
				goto fail;
			}
			buf = p;
		}
		ssize_t n = read(fd, buf + len, cap - len - 1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
			goto fail;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	buf[len] = '\0';
	return buf;
fail:
	close(fd);
	free(buf);
	return NULL;
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* The next line of a state file that holds something (not blank, not a
 * '#' comment), NUL-terminated in place; NULL at the end. */
static char *next_entry(char **cur, int *lineno)
{
	while (*cur != NULL && **cur != '\0') {
		char *line = *cur, *nl = strchr(line, '\n');
		if (nl)
			*nl++ = '\0';
		*cur = nl;
		++*lineno;
		line[strcspn(line, "\r")] = '\0';
		if (*line != '\0' && *line != '#')
			return line;
	}
	return NULL;
}

/* Parses the contacts file: one name per line, '#' comments, blanks. */
static int load_contacts(struct store *s, const char *path, char *err, size_t errlen)
{
	char *buf = slurp(path, err, errlen);
	if (buf == NULL)
		return -1;
	int lineno = 0, rc = -1;
	char *cur = buf, *line;
	while ((line = next_entry(&cur, &lineno)) != NULL) {
		char name[PROTO_NAME_MAX + 1];
		if (proto_name_fold(line, name) < 0) {
			snprintf(err, errlen, "%s:%d: '%.40s' is not a valid name", path, lineno, line);
			goto out;
		}
		if (store_has_contact(s, name))
			continue;
		if (s->ncontacts >= STORE_MAX_ENTRIES) {
			snprintf(err, errlen, "%s:%d: more than %d contacts", path, lineno,
			         STORE_MAX_ENTRIES);
			goto out;
		}
		void *p = realloc(s->contacts, (s->ncontacts + 1) * sizeof *s->contacts);
		if (p == NULL) {
			snprintf(err, errlen, "%s: out of memory", path);
			goto out;
		}
		s->contacts = p;
		memcpy(s->contacts[s->ncontacts++], name, sizeof name);
		qsort(s->contacts, s->ncontacts, sizeof *s->contacts, cmp_name);
	}
	rc = 0;
out:
	free(buf);
	return rc;
}

/* Parses "<name> <key>" lines into *list. */
static int load_keys(const char *path, struct store_key **list, size_t *n, char *err, size_t errlen)
{
	char *buf = slurp(path, err, errlen);
	if (buf == NULL)
		return -1;
	int lineno = 0, rc = -1;
	char *cur = buf, *line;
	while ((line = next_entry(&cur, &lineno)) != NULL) {
		char *sp = strchr(line, ' ');
		if (sp == NULL || sp == line || (size_t)(sp - line) >= sizeof(*list)->name ||
		    !proto_key_valid(sp + 1)) {
			snprintf(err, errlen, "%s:%d: expected '<name> <64 hex digits>'", path, lineno);
			goto out;
		}
		if (*n >= STORE_MAX_ENTRIES) {
			snprintf(err, errlen, "%s:%d: more than %d entries", path, lineno, STORE_MAX_ENTRIES);
			goto out;
		}
		struct store_key *p = realloc(*list, (*n + 1) * sizeof **list);
		if (p == NULL) {
			snprintf(err, errlen, "%s: out of memory", path);
			goto out;
		}
		*list = p;
		*sp = '\0';
		snprintf(p[*n].name, sizeof p[*n].name, "%s", line);
		snprintf(p[*n].key, sizeof p[*n].key, "%s", sp + 1);
		(*n)++;
	}
	rc = 0;
out:
	free(buf);
	return rc;
}

/* Parses "<host:port> <server-key> <name> <token>" lines. The file is a
 * cache of secrets the server can always replace (a password login gives
 * a new token), so a line that does not parse is skipped with a warning
 * rather than stopping the client; the next rewrite drops it. */
static int load_tokens(struct store *s, const char *path, char *err, size_t errlen)
{
	char *buf = slurp(path, err, errlen);
	if (buf == NULL)
		return -1;
	struct stat st;
	if (buf[0] != '\0' && stat(path, &st) == 0 && (st.st_mode & 077))
		log_warn("%s can be read by others (mode %03o): anyone who reads it can log in as you; "
		         "chmod 600 it",
		         path, (unsigned)(st.st_mode & 0777));
	size_t blen = strlen(buf);
	int lineno = 0, rc = -1;
	char *cur = buf, *line;
	while ((line = next_entry(&cur, &lineno)) != NULL) {
		char *tok[4];
		char name[PROTO_NAME_MAX + 1];
		if (proto_split(line, tok, 4) != 4 || strlen(tok[0]) >= sizeof s->tokens->hostport ||
		    !proto_key_valid(tok[1]) || proto_name_fold(tok[2], name) < 0 ||
		    !tokens_text_valid(tok[3])) {
			log_warn("%s:%d: expected '<host:port> <server key> <name> <token>'; line ignored",
			         path, lineno);
			continue;
		}
		if (store_token(s, tok[0], name) != NULL)
			continue;
		if (s->ntokens >= STORE_MAX_ENTRIES) {
			log_warn("%s:%d: more than %d tokens; the rest are ignored", path, lineno,
			         STORE_MAX_ENTRIES);
			break;
		}
		struct store_token *p = realloc(s->tokens, (s->ntokens + 1) * sizeof *p);
		if (p == NULL) {
			snprintf(err, errlen, "%s: out of memory", path);
			goto out;
		}
		s->tokens = p;
		p += s->ntokens++;
		snprintf(p->hostport, sizeof p->hostport, "%s", tok[0]);
		snprintf(p->key, sizeof p->key, "%s", tok[1]);
		snprintf(p->name, sizeof p->name, "%s", name);
		snprintf(p->token, sizeof p->token, "%s", tok[3]);
	}
	rc = 0;
out:
	mbedtls_platform_zeroize(buf, blen);
	free(buf);
	return rc;
}

int store_open(struct store *s, const char *dir, char *err, size_t errlen)
{
	memset(s, 0, sizeof *s);
	snprintf(s->dir, sizeof s->dir, "%s", dir);
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		snprintf(err, errlen, "cannot create state directory %s: %s", dir, strerror(errno));
		return -1;
	}
	struct stat st;
	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "state directory %s is not a directory", dir);
		return -1;
	}
	if (st.st_mode & 077)
		log_warn("state directory %s can be read by others (mode %03o); chmod 700 it", dir,
		         (unsigned)(st.st_mode & 0777));
	char contacts[CONF_PATH_MAX + 16], known[CONF_PATH_MAX + 16], servers[CONF_PATH_MAX + 16],
	    tokens[CONF_PATH_MAX + 16];
	if (join(s->key_file, sizeof s->key_file, dir, "id.key") < 0 ||
	    join(s->cert_file, sizeof s->cert_file, dir, "id.crt") < 0 ||
	    join(contacts, sizeof contacts, dir, "contacts") < 0 ||
	    join(known, sizeof known, dir, "known_keys") < 0 ||
	    join(servers, sizeof servers, dir, "known_servers") < 0 ||
	    join(tokens, sizeof tokens, dir, "tokens") < 0) {
		snprintf(err, errlen, "state directory path too long");
		return -1;
	}
	if (access(s->key_file, F_OK) < 0) {
		if (errno != ENOENT) {
			snprintf(err, errlen, "%s: %s", s->key_file, strerror(errno));
			return -1;
		}
		if (tls_keygen(s->key_file, s->cert_file, "im client", err, errlen) < 0)
			return -1;
		log_info("generated identity key %s", s->key_file);
	}
	if (tls_key_fingerprint(s->key_file, s->fingerprint, err, errlen) < 0)
		return -1;
	if (load_contacts(s, contacts, err, errlen) < 0 ||
	    load_keys(known, &s->keys, &s->nkeys, err, errlen) < 0 ||
	    load_keys(servers, &s->servers, &s->nservers, err, errlen) < 0 ||
	    load_tokens(s, tokens, err, errlen) < 0) {
		store_close(s);
		return -1;
	}
	return 0;
}

void store_close(struct store *s)
{
	free(s->contacts);
	free(s->keys);
	free(s->servers);
	if (s->tokens)
		mbedtls_platform_zeroize(s->tokens, s->ntokens * sizeof *s->tokens);
	free(s->tokens);
	s->contacts = NULL;
	s->keys = s->servers = NULL;
	s->tokens = NULL;
	s->ncontacts = s->nkeys = s->nservers = s->ntokens = 0;
}

static int find_contact(const struct store *s, const char *name)
{
	const char(*p)[PROTO_NAME_MAX + 1] = NULL;
	if (s->ncontacts > 0)
		p = bsearch(name, s->contacts, s->ncontacts, sizeof *s->contacts, cmp_name);
	return p ? (int)(p - s->contacts) : -1;
}

int store_has_contact(const struct store *s, const char *name)
{
	return find_contact(s, name) >= 0;
}

static int save_contacts(const struct store *s)
{
	char path[CONF_PATH_MAX + 16];
	if (join(path, sizeof path, s->dir, "contacts") < 0) {
		errno = ENAMETOOLONG;
		return -1;
	}
	size_t cap = s->ncontacts * (PROTO_NAME_MAX + 1) + 1;
	char *buf = malloc(cap), *p = buf;
	if (buf == NULL)
		return -1;
	for (size_t i = 0; i < s->ncontacts; i++)
		p += sprintf(p, "%s\n", s->contacts[i]);
	int rc = afile_write(path, buf, (size_t)(p - buf), 0600);
	free(buf);
	return rc;
}

/* The contacts list is changed in memory first; when the file cannot be
 * rewritten the change is undone in memory only (never by another save,
 * which would fail the same way). */
int store_add_contact(struct store *s, const char *name)
{
	if (store_has_contact(s, name))
		return 0;
	if (s->ncontacts >= STORE_MAX_ENTRIES) {
		errno = ENOSPC;
		return -1;
	}
	void *p = realloc(s->contacts, (s->ncontacts + 1) * sizeof *s->contacts);
	if (p == NULL)
		return -1;
	s->contacts = p;
	snprintf(s->contacts[s->ncontacts++], sizeof *s->contacts, "%s", name);
	qsort(s->contacts, s->ncontacts, sizeof *s->contacts, cmp_name);
	if (save_contacts(s) < 0) {
		int e = errno;
		int i = find_contact(s, name);
		memmove(s->contacts[i], s->contacts[i + 1],
		        (s->ncontacts - (size_t)i - 1) * sizeof *s->contacts);
		s->ncontacts--;
		errno = e;
		return -1;
	}
	return 0;
}

int store_del_contact(struct store *s, const char *name)
{
	int i = find_contact(s, name);
	if (i < 0)
		return 0;
	char saved[PROTO_NAME_MAX + 1];
	memcpy(saved, s->contacts[i], sizeof saved);
	memmove(s->contacts[i], s->contacts[i + 1], (s->ncontacts - (size_t)i - 1) * sizeof *s->contacts);
	s->ncontacts--;
	if (save_contacts(s) < 0) {
		int e = errno;
		/* The array still has room for the slot just freed. */
		memmove(s->contacts[i + 1], s->contacts[i], (s->ncontacts - (size_t)i) * sizeof *s->contacts);
		memcpy(s->contacts[i], saved, sizeof saved);
		s->ncontacts++;
		errno = e;
		return -1;
	}
	return 0;
}

static const char *key_lookup(const struct store_key *list, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(list[i].name, name) == 0)
			return list[i].key;
	return NULL;
}

/* Sets name's key in the list and rewrites file. The list keeps the new
 * key even when the write fails: a key seen in this run stays pinned in
 * memory whatever the disk says (undoing it would make the next sight
 * another "first use", which a stranger could be). */
static int key_set(const char *dir, const char *file, struct store_key **list, size_t *n, const char *name,
                   const char *key)
{
	char path[CONF_PATH_MAX + 16];
	if (strlen(name) >= sizeof(*list)->name) {
		errno = ENAMETOOLONG;
		return -1;
	}
	size_t i;
	for (i = 0; i < *n; i++)
		if (strcmp((*list)[i].name, name) == 0)
			break;
	if (i == *n) {
		if (*n >= STORE_MAX_ENTRIES) {
			errno = ENOSPC;
			return -1;
		}
		struct store_key *p = realloc(*list, (*n + 1) * sizeof **list);
		if (p == NULL)
			return -1;
		*list = p;
		snprintf(p[i].name, sizeof p[i].name, "%s", name);
		(*n)++;
	}
	snprintf((*list)[i].key, sizeof(*list)[i].key, "%s", key);
	if (join(path, sizeof path, dir, file) < 0) {
		errno = ENAMETOOLONG;
		return -1;
	}
	size_t cap = *n * (sizeof **list + 2) + 1;
	char *buf = malloc(cap), *p = buf;
	if (buf == NULL)
		return -1;
	for (size_t k = 0; k < *n; k++)
		p += sprintf(p, "%s %s\n", (*list)[k].name, (*list)[k].key);
	int rc = afile_write(path, buf, (size_t)(p - buf), 0600);
	free(buf);
	return rc;
}

const char *store_contact_key(const struct store *s, const char *name)
{
	return key_lookup(s->keys, s->nkeys, name);
}

int store_set_contact_key(struct store *s, const char *name, const char *key)
{
	return key_set(s->dir, "known_keys", &s->keys, &s->nkeys, name, key);
}

const char *store_server_key(const struct store *s, const char *hostport)
{
	return key_lookup(s->servers, s->nservers, hostport);
}

int store_set_server_key(struct store *s, const char *hostport, const char *key)
{
	return key_set(s->dir, "known_servers", &s->servers, &s->nservers, hostport, key);
}

static int find_token(const struct store *s, const char *hostport, const char *name)
{
	for (size_t i = 0; i < s->ntokens; i++)
		if (strcmp(s->tokens[i].hostport, hostport) == 0 && strcmp(s->tokens[i].name, name) == 0)
			return (int)i;
	return -1;
}

const struct store_token *store_token(const struct store *s, const char *hostport, const char *name)
{
	int i = find_token(s, hostport, name);
	return i < 0 ? NULL : &s->tokens[i];
}

/* Rewrites the tokens file from the list; the buffer is wiped. */
static int save_tokens(const struct store *s)
{
	char path[CONF_PATH_MAX + 16];
	if (join(path, sizeof path, s->dir, "tokens") < 0) {
		errno = ENAMETOOLONG;
		return -1;
	}
	size_t cap = s->ntokens * (sizeof *s->tokens + 4) + 1;
	char *buf = malloc(cap), *p = buf;
	if (buf == NULL)
		return -1;
	for (size_t i = 0; i < s->ntokens; i++) {
		const struct store_token *t = &s->tokens[i];
		p += sprintf(p, "%s %s %s %s\n", t->hostport, t->key, t->name, t->token);
	}
	int rc = afile_write(path, buf, (size_t)(p - buf), 0600);
	int e = errno;
	mbedtls_platform_zeroize(buf, cap);
	free(buf);
	errno = e;
	return rc;
}

int store_set_token(struct store *s, const char *hostport, const char *key, const char *name,
                    const char *token)
{
	if (strlen(hostport) >= sizeof s->tokens->hostport || strlen(name) > PROTO_NAME_MAX ||
	    !proto_key_valid(key) || !tokens_text_valid(token)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	int i = find_token(s, hostport, name);
	struct store_token *t = i < 0 ? NULL : &s->tokens[i];
	if (t == NULL) {
		if (s->ntokens >= STORE_MAX_ENTRIES) {
			errno = ENOSPC;
			return -1;
		}
		struct store_token *p = realloc(s->tokens, (s->ntokens + 1) * sizeof *p);
		if (p == NULL)
			return -1;
		s->tokens = p;
		t = &p[s->ntokens++];
		snprintf(t->hostport, sizeof t->hostport, "%s", hostport);
		snprintf(t->name, sizeof t->name, "%s", name);
	}
	snprintf(t->key, sizeof t->key, "%s", key);
	snprintf(t->token, sizeof t->token, "%s", token);
	return save_tokens(s);
}

int store_del_token(struct store *s, const char *hostport, const char *name)
{
	int k = find_token(s, hostport, name);
	if (k < 0)
		return 0;
	size_t i = (size_t)k;
	memmove(&s->tokens[i], &s->tokens[i + 1], (s->ntokens - i - 1) * sizeof *s->tokens);
	s->ntokens--;
	mbedtls_platform_zeroize(&s->tokens[s->ntokens], sizeof *s->tokens);
	return save_tokens(s);
}

int store_read_password(const char *path, char *out, size_t outlen, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "password_file %s: %s", path, strerror(errno));
		return -1;
	}
	struct stat st;
	if (fstat(fd, &st) == 0 && (st.st_mode & 077))
		log_warn("password_file %s can be read by others (mode %03o); chmod 600 it", path,
		         (unsigned)(st.st_mode & 0777));
	char buf[512];
	ssize_t n;
	do
		n = read(fd, buf, sizeof buf - 1);
	while (n < 0 && errno == EINTR);
	int e = errno;
	close(fd);
	if (n < 0) {
		snprintf(err, errlen, "password_file %s: %s", path, strerror(e));
		return -1;
	}
	buf[n] = '\0';
	size_t len = strcspn(buf, "\r\n");
	int rc = 0;
	if (len == 0 || len >= outlen) {
		snprintf(err, errlen, "password_file %s: the first line must hold the password (1-%zu bytes)",
		         path, outlen - 1);
		rc = -1;
	} else {
		memcpy(out, buf, len);
		out[len] = '\0';
	}
	mbedtls_platform_zeroize(buf, sizeof buf);
	return rc;
}
