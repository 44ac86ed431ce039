/* sess: the server's session records, who lists whom, the mutual presence
 * rule, and the mirror of each local record as a file in the run
 * directory; other nodes' sessions (cluster mode) sit beside them. */
#include "sess.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "proto.h"

/* Who lists a name: the reverse of every contact list, so that presence
 * work is proportional to a user's contacts, never to all sessions. */
struct sess_watch {
	sess_name name;
	struct sess **v;
	size_t n, cap;
};

/* 1 if the entry name in directory dfd is clearly a session file this
 * server wrote (write_now): a regular file, not a link, named NAME or
 * .NAME.tmp for a valid folded NAME, starting "name=NAME\n" (a temporary
 * one may also be empty, cut short by a crash). Anything else is not ours. */
static int is_session_file(int dfd, const char *entry)
{
	char name[PROTO_NAME_MAX + 1], folded[PROTO_NAME_MAX + 1], want[PROTO_NAME_MAX + 8];
	char head[PROTO_NAME_MAX + 8];
	size_t len = strlen(entry);
	int tmp = entry[0] == '.' && len > 5 && strcmp(entry + len - 4, ".tmp") == 0;
	if (tmp)
		len -= 5;
	if (len == 0 || len > PROTO_NAME_MAX)
		return 0;
	memcpy(name, entry + tmp, len);
	name[len] = '\0';
	if (proto_name_fold(name, folded) < 0 || strcmp(name, folded) != 0)
		return 0;
	/* Look before opening: opening a device or FIFO can have effects. */
	struct stat st;
	if (fstatat(dfd, entry, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
		return 0;
	int fd = openat(dfd, entry, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return 0;
	int n = snprintf(want, sizeof want, "name=%s\n", name);
	ssize_t got = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) ? read(fd, head, (size_t)n) : -1;
	close(fd);
	return (got == n && memcmp(head, want, (size_t)n) == 0) || (tmp && got == 0 && st.st_size == 0);
}

int sess_init(struct sess_table *t, const char *run_dir, struct loop *l)
{
	memset(t, 0, sizeof *t);
	t->loop = l;
	if (snprintf(t->run_dir, sizeof t->run_dir, "%s", run_dir) >= (int)sizeof t->run_dir) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if (mkdir(run_dir, 0700) < 0 && errno != EEXIST)
		return -1;
	DIR *d = opendir(run_dir);
	if (d == NULL)
		return -1;
	struct dirent *e;
	int dfd = dirfd(d);
	/* Session files here belong to a server that is gone. Anything else
	 * is someone's data: never deleted, only reported. */
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (!is_session_file(dfd, e->d_name)) {
			/* Anyone who can write run_dir names these: shown
			 * escaped, so a name cannot forge log lines. */
			char shown[NAME_MAX * 4 + 1];
			proto_printable(e->d_name, strlen(e->d_name), shown, sizeof shown, PROTO_SHOW_LINE);
			log_warn("run_dir %s holds %s, which is not a session file of im; leaving it alone",
			         run_dir, shown);
		} else if (unlinkat(dfd, e->d_name, 0) < 0)
			log_warn("cannot remove stale session file %s/%s: %s", run_dir, e->d_name,
			         strerror(errno));
	}
	closedir(d);
	return 0;
}

struct sess *sess_find(const struct sess_table *t, const char *name)
{
	return hmap_get(&t->by_name, name);
}

/* Finds name in the sorted v[0..n): 1 with its index in *at, or 0 with
 * the index it would take. */
static int names_find(const sess_name *v, size_t n, const char *name, size_t *at)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strcmp(v[mid], name);
		if (c == 0) {
			*at = mid;
			return 1;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*at = lo;
	return 0;
}

/* Inserts name into the sorted set *v: 1 added, 0 already there, -1 out
 * of memory. */
static int names_insert(sess_name **v, size_t *n, size_t *cap, const char *name)
{
	size_t at;
	if (names_find(*v, *n, name, &at))
		return 0;
	if (*n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 8;
		sess_name *nv = realloc(*v, ncap * sizeof *nv);
		if (nv == NULL)
			return -1;
		*v = nv;
		*cap = ncap;
	}
	memmove(*v + at + 1, *v + at, (*n - at) * sizeof **v);
	strcpy((*v)[at], name);
	(*n)++;
	return 1;
}

int sess_lists(const struct sess *s, const char *name)
{
	size_t at;
	return names_find(s->contacts, s->ncontacts, name, &at);
}

/* The run directory holds what is live, not what must survive a crash
 * (it is cleared at start), so files are renamed into place for atomicity
 * but not fsynced: 10,000 logins must not cost 20,000 disk flushes. */
static void write_now(struct sess_table *t, const struct sess *s)
{
	char path[600], tmp[640];
	size_t cap = 512 + s->ncontacts * (PROTO_NAME_MAX + 1);
	char *buf = malloc(cap);
	if (buf == NULL)
		return;
	int n =
	    snprintf(buf, cap, "name=%s\nip=%s\nport=%u\nkey=%s\nlan_ip=%s\nlogin=%lld\ncontacts=", s->name,
	             s->ip, s->port, s->key, s->lan, (long long)s->login);
	for (size_t i = 0; i < s->ncontacts; i++)
		n += snprintf(buf + n, cap - (size_t)n, "%s%s", i ? " " : "", s->contacts[i]);
	n += snprintf(buf + n, cap - (size_t)n, "\n");
	snprintf(path, sizeof path, "%s/%s", t->run_dir, s->name);
	snprintf(tmp, sizeof tmp, "%s/.%s.tmp", t->run_dir, s->name);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, buf, (size_t)n) != n || close(fd) < 0 || rename(tmp, path) < 0) {
		log_warn("cannot write session file %s: %s", path, strerror(errno));
		if (fd >= 0)
			unlink(tmp);
	}
	free(buf);
}

static void flush_one(struct sess_table *t, struct sess *s)
{
	if (s->file_dirty)
		write_now(t, s);
	s->file_dirty = 0;
	if (t->hooks.changed)
		t->hooks.changed(t->hooks.arg, s);
}

static void write_dirty(struct loop *l, void *arg)
{
	struct sess_table *t = arg;
	struct sess *s = t->dirty;
	(void)l;
	t->dirty = NULL;
	for (; s; s = s->dirty_next) {
		s->dirty = 0;
		flush_one(t, s);
	}
}

/* A burst of ADDs or presence changes costs one rewrite (and, in cluster
 * mode, one record published), after the pass. file: what the run_dir
 * file shows changed too. Another node's session has neither. */
static void changed(struct sess_table *t, struct sess *s, int file)
{
	if (s->c == NULL)
		return;
	s->file_dirty |= file;
	if (s->dirty)
		return;
	if (t->dirty == NULL && loop_defer(t->loop, write_dirty, t) < 0) {
		flush_one(t, s);
		return;
	}
	s->dirty = 1;
	s->dirty_next = t->dirty;
	t->dirty = s;
}

static void write_file(struct sess_table *t, struct sess *s)
{
	changed(t, s, 1);
}

static void forget_dirty(struct sess_table *t, struct sess *s)
{
	if (!s->dirty)
		return;
	/* Stop at the unlink: the next step would read through s's successor,
	 * which is NULL when s was the list's last entry. */
	for (struct sess **p = &t->dirty; *p; p = &(*p)->dirty_next)
		if (*p == s) {
			*p = s->dirty_next;
			s->dirty = 0;
			return;
		}
}

static void remove_file(struct sess_table *t, const struct sess *s)
{
	char path[600];
	if (s->c == NULL)
		return;
	snprintf(path, sizeof path, "%s/%s", t->run_dir, s->name);
	if (unlink(path) < 0 && errno != ENOENT)
		log_warn("cannot remove session file %s: %s", path, strerror(errno));
}

static int visible(const struct sess *s)
{
	return s != NULL && s->port != 0;
}

/* One line to to's client; nothing for another node's session (its own
 * node tells it). */
static void tell(const struct sess *to, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void tell(const struct sess *to, const char *fmt, ...)
{
	char line[PROTO_LINE_MAX * 2];
	if (to->c == NULL)
		return;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	if (n >= 0 && (size_t)n < sizeof line)
		conn_send(to->c, "%s", line);
}

/* Protocol 1.1: REACH lines go only to 1.1 connections, and only about
 * 1.1 sessions (no REACH says the contact cannot take CALL or PUNCH). */
static void send_reach(struct sess *to, const struct sess *about)
{
	if (to->v11 && about->v11)
		tell(to, "REACH %s %s %s", about->name, reach_state_text(about->reach), about->ip);
}

static void send_online(struct sess *to, const struct sess *about)
{
	if (about->lan[0])
		tell(to, "ONLINE %s %s %u %s %s", about->name, about->ip, about->port, about->key,
		     about->lan);
	else
		tell(to, "ONLINE %s %s %u %s", about->name, about->ip, about->port, about->key);
	send_reach(to, about);
}

/* Tells to that asker lists it, once per session of to: a one-sided
 * ADD/DEL loop must cost to one line, not one per ADD. */
static void send_asked(struct sess *to, const struct sess *asker)
{
	if (to->c == NULL)
		return;
	int r = names_insert(&to->asked, &to->nasked, &to->capasked, asker->name);
	if (r == 0)
		return;
	if (r < 0)
		log_warn("out of memory remembering who asked %s", to->name);
	tell(to, "ASKED %s", asker->name);
}

static int watch_add(struct sess_table *t, const char *name, struct sess *s)
{
	struct sess_watch *w = hmap_get(&t->listed_by, name);
	if (w == NULL) {
		if ((w = calloc(1, sizeof *w)) == NULL)
			return -1;
		strcpy(w->name, name);
		if (hmap_put(&t->listed_by, w->name, w) < 0) {
			free(w);
			return -1;
		}
	}
	if (w->n == w->cap) {
		size_t cap = w->cap ? w->cap * 2 : 4;
		struct sess **v = realloc(w->v, cap * sizeof *v);
		if (v == NULL)
			return -1;
		w->v = v;
		w->cap = cap;
	}
	w->v[w->n++] = s;
	return 0;
}

static void watch_del(struct sess_table *t, const char *name, const struct sess *s)
{
	struct sess_watch *w = hmap_get(&t->listed_by, name);
	if (w == NULL)
		return;
	for (size_t i = 0; i < w->n; i++)
		if (w->v[i] == s) {
			w->v[i] = w->v[--w->n];
			break;
		}
	if (w->n == 0) {
		hmap_del(&t->listed_by, name);
		free(w->v);
		free(w);
	}
}

/* s now lists name (or no longer does): tell both sides what changed. */
static void edge_added(struct sess_table *t, struct sess *s, const char *name)
{
	struct sess *o = sess_find(t, name);
	if (o == NULL)
		return;
	if (sess_lists(o, s->name)) {
		if (visible(s) && visible(o)) {
			send_online(s, o);
			send_online(o, s);
		}
	} else if (visible(o) && visible(s)) {
		/* Before s's PEER, sess_set_peer tells o, once. */
		send_asked(o, s);
	}
}

static void edge_removed(struct sess_table *t, struct sess *s, const char *name)
{
	struct sess *o = sess_find(t, name);
	if (o && sess_lists(o, s->name) && visible(s) && visible(o)) {
		tell(s, "OFFLINE %s", o->name);
		tell(o, "OFFLINE %s", s->name);
	}
}

struct sess *sess_login(struct sess_table *t, const char *name, struct conn *c)
{
	struct sess *s = calloc(1, sizeof *s);
	if (s == NULL)
		return NULL;
	strcpy(s->name, name);
	s->c = c;
	snprintf(s->ip, sizeof s->ip, "%s", c->ip);
	s->login = time(NULL);
	if (hmap_put(&t->by_name, s->name, s) < 0) {
		free(s);
		return NULL;
	}
	write_file(t, s);
	return s;
}

struct sess *sess_mirror(struct sess_table *t, const char *name, const char *node, const char *ip,
                         time_t login)
{
	struct sess *s = calloc(1, sizeof *s);
	if (s == NULL)
		return NULL;
	snprintf(s->name, sizeof s->name, "%s", name);
	snprintf(s->node, sizeof s->node, "%s", node);
	snprintf(s->ip, sizeof s->ip, "%s", ip);
	s->login = login;
	if (hmap_put(&t->by_name, s->name, s) < 0) {
		free(s);
		return NULL;
	}
	return s;
}

void sess_set_hooks(struct sess_table *t, const struct sess_hooks *h)
{
	t->hooks = *h;
}

void sess_logout(struct sess_table *t, struct sess *s)
{
	if (visible(s))
		for (size_t i = 0; i < s->ncontacts; i++) {
			struct sess *o = sess_find(t, s->contacts[i]);
			if (visible(o) && sess_lists(o, s->name))
				tell(o, "OFFLINE %s", s->name);
		}
	for (size_t i = 0; i < s->ncontacts; i++)
		watch_del(t, s->contacts[i], s);
	hmap_del(&t->by_name, s->name);
	/* The gone hook sees s->dirty: a change of this pass not yet
	 * published (an ADD just before the close) is its to announce. */
	if (s->c && t->hooks.gone)
		t->hooks.gone(t->hooks.arg, s);
	forget_dirty(t, s);
	remove_file(t, s);
	free(s->contacts);
	free(s->asked);
	free(s);
}

void sess_set_peer(struct sess_table *t, struct sess *s, unsigned port, const char *key, const char *lan)
{
	int first = !visible(s);
	if (!first && s->port == port && strcmp(s->key, key) == 0 && strcmp(s->lan, lan) == 0)
		return;
	s->port = port;
	snprintf(s->key, sizeof s->key, "%s", key);
	snprintf(s->lan, sizeof s->lan, "%s", lan);
	write_file(t, s);
	for (size_t i = 0; i < s->ncontacts; i++) {
		struct sess *o = sess_find(t, s->contacts[i]);
		if (!visible(o))
			continue;
		if (sess_lists(o, s->name)) {
			send_online(o, s);
			if (first)
				send_online(s, o);
		} else if (first) {
			send_asked(o, s);
		}
	}
	/* Who asked for s while it could not be told, or before it came. */
	struct sess_watch *w = first ? hmap_get(&t->listed_by, s->name) : NULL;
	/* Only those who can be told now: the others' own first PEER tells s. */
	for (size_t i = 0; w && i < w->n; i++)
		if (visible(w->v[i]) && !sess_lists(s, w->v[i]->name))
			send_asked(s, w->v[i]);
}

int sess_mutual(const struct sess *a, const struct sess *b)
{
	return visible(a) && visible(b) && sess_lists(a, b->name) && sess_lists(b, a->name);
}

void sess_set_reach(struct sess_table *t, struct sess *s, enum reach_state st)
{
	int news = s->reach != st;
	s->reach = st;
	if (news)
		changed(t, s, 0);
	if (!visible(s))
		return;
	if (s->v11)
		tell(s, "REACH %s %s %s", s->name, reach_state_text(st), s->ip);
	for (size_t i = 0; news && i < s->ncontacts; i++) {
		struct sess *o = sess_find(t, s->contacts[i]);
		if (o && sess_mutual(s, o))
			send_reach(o, s);
	}
}

void sess_set_version(struct sess_table *t, struct sess *s, int v11)
{
	int was = s->v11;
	s->v11 = v11;
	if (was != v11)
		changed(t, s, 0);
	if (was || !v11 || !visible(s))
		return;
	tell(s, "REACH %s %s %s", s->name, reach_state_text(s->reach), s->ip);
	for (size_t i = 0; i < s->ncontacts; i++) {
		struct sess *o = sess_find(t, s->contacts[i]);
		if (o && sess_mutual(s, o)) {
			send_reach(s, o);
			send_reach(o, s);
		}
	}
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* Sorts names, drops duplicates and s's own name; returns the new count. */
static size_t normalise(const struct sess *s, sess_name *names, size_t n)
{
	if (n > 0)
		qsort(names, n, sizeof *names, cmp_name);
	size_t m = 0;
	for (size_t i = 0; i < n; i++)
		if ((m == 0 || strcmp(names[m - 1], names[i]) != 0) && strcmp(names[i], s->name) != 0)
			memmove(names[m++], names[i], sizeof *names);
	return m;
}

size_t sess_contacts_diff(const struct sess *s, sess_name *names, size_t *n)
{
	*n = normalise(s, names, *n);
	size_t i = 0, j = 0, d = 0;
	while (i < s->ncontacts || j < *n) {
		int c = i == s->ncontacts ? 1 : j == *n ? -1 : strcmp(s->contacts[i], names[j]);
		d += c != 0;
		i += c <= 0;
		j += c >= 0;
	}
	return d;
}

int sess_set_contacts(struct sess_table *t, struct sess *s, const sess_name *names, size_t m)
{
	sess_name *old = s->contacts;
	size_t nold = s->ncontacts;
	sess_name *fresh = m ? malloc(m * sizeof *fresh) : NULL;
	if (m && fresh == NULL)
		return -1;
	if (m)
		memcpy(fresh, names, m * sizeof *fresh);
	s->contacts = fresh;
	s->ncontacts = s->capcontacts = m;
	/* Walk both sorted lists once: the differences are the news. */
	size_t i = 0, j = 0;
	while (i < nold || j < m) {
		int c = i == nold ? 1 : j == m ? -1 : strcmp(old[i], fresh[j]);
		if (c < 0) {
			watch_del(t, old[i], s);
			edge_removed(t, s, old[i]);
			i++;
		} else if (c > 0) {
			if (watch_add(t, fresh[j], s) < 0)
				log_warn("out of memory indexing %s's contacts", s->name);
			edge_added(t, s, fresh[j]);
			j++;
		} else {
			i++;
			j++;
		}
	}
	free(old);
	write_file(t, s);
	return 0;
}

int sess_add(struct sess_table *t, struct sess *s, const char *name)
{
	if (strcmp(name, s->name) == 0)
		return 0;
	int r = names_insert(&s->contacts, &s->ncontacts, &s->capcontacts, name);
	if (r <= 0)
		return r;
	if (watch_add(t, name, s) < 0)
		log_warn("out of memory indexing %s's contacts", s->name);
	edge_added(t, s, name);
	write_file(t, s);
	return 0;
}

void sess_del(struct sess_table *t, struct sess *s, const char *name)
{
	size_t i;
	for (i = 0; i < s->ncontacts; i++)
		if (strcmp(s->contacts[i], name) == 0)
			break;
	if (i == s->ncontacts)
		return;
	memmove(s->contacts[i], s->contacts[i + 1], (s->ncontacts - i - 1) * sizeof *s->contacts);
	s->ncontacts--;
	watch_del(t, name, s);
	edge_removed(t, s, name);
	write_file(t, s);
}

struct each_arg {
	void (*fn)(struct sess *s, void *arg);
	void *arg;
};

static void each_one(void *val, void *arg)
{
	struct each_arg *ea = arg;
	ea->fn(val, ea->arg);
}

void sess_each(struct sess_table *t, void (*fn)(struct sess *s, void *arg), void *arg)
{
	struct each_arg ea = {fn, arg};
	hmap_each(&t->by_name, each_one, &ea);
}

static void free_watch(void *val, void *arg)
{
	struct sess_watch *w = val;
	(void)arg;
	free(w->v);
	free(w);
}

static void free_sess(void *val, void *arg)
{
	struct sess *s = val;
	forget_dirty(arg, s);
	remove_file(arg, s);
	free(s->contacts);
	free(s->asked);
	free(s);
}

void sess_free(struct sess_table *t)
{
	hmap_each(&t->by_name, free_sess, t);
	hmap_each(&t->listed_by, free_watch, NULL);
	hmap_free(&t->by_name);
	hmap_free(&t->listed_by);
}
