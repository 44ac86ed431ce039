/* conf: the [server] and [client] settings, their defaults, and loading an
 * INI file over them (modules/ini.c). One table describes every key. */
#include "conf.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ini.h"
#include "log.h"
#include "paths.h"
#include "proto.h"

enum conf_type {
	T_INT,
	T_BOOL,
	T_STR,
	T_PATH,
	T_LOGDEST,
	T_LEVEL,
	T_TOKEN,
	T_LISTEN,
	T_LANIP,
	T_NETS,
	T_HOSTPORT,
	T_NODEID,
	T_PREFIX
};

struct conf_key {
	const char *section;
	const char *key;
	enum conf_type type;
	size_t offset;
	size_t size; /* for strings: the field's capacity */
	long min, max;
};

#define S(field, type, lo, hi)                                                                               \
	{                                                                                                    \
		"server", #field, type, offsetof(struct conf, srv.field),                                    \
		    sizeof(((struct conf *)0)->srv.field), lo, hi                                            \
	}
#define C(field, type, lo, hi)                                                                               \
	{                                                                                                    \
		"client", #field, type, offsetof(struct conf, cli.field),                                    \
		    sizeof(((struct conf *)0)->cli.field), lo, hi                                            \
	}

#define K(field, type, lo, hi)                                                                               \
	{                                                                                                    \
		"cluster", #field, type, offsetof(struct conf, clu.field),                                   \
		    sizeof(((struct conf *)0)->clu.field), lo, hi                                            \
	}

static const struct conf_key keys[] = {
    S(listen, T_LISTEN, 0, 0),
    S(port, T_INT, 0, 65535),
    S(data_dir, T_PATH, 0, 0),
    S(run_dir, T_PATH, 0, 0),
    S(allow_signup, T_BOOL, 0, 1),
    S(pbkdf2_iterations, T_INT, 1000, 100000000),
    S(min_password_length, T_INT, 1, 256),
    S(key_file, T_PATH, 0, 0),
    S(cert_file, T_PATH, 0, 0),
    S(server_name, T_TOKEN, 0, 0),
    S(log, T_LOGDEST, 0, 0),
    S(log_level, T_LEVEL, 0, 0),
    S(log_rate_limit, T_INT, 0, 1000000),
    S(keepalive_timeout, T_INT, 5, 86400),
    S(max_contacts, T_INT, 1, 100000),
    S(max_line, T_INT, 256, 1024),
    S(max_connections, T_INT, 1, 1000000),
    S(max_connections_per_ip, T_INT, 1, 1000000),
    S(max_unauth, T_INT, 1, 1000000),
    S(max_unauth_per_ip, T_INT, 1, 1000000),
    S(ipv6_prefix, T_INT, 32, 128),
    S(login_timeout, T_INT, 1, 3600),
    S(handshake_timeout, T_INT, 1, 3600),
    S(tls_tickets, T_BOOL, 0, 1),
    S(ticket_key_lifetime, T_INT, 60, 31 * 86400),
    S(max_failures_per_ip, T_INT, 1, 1000000),
    S(max_failures_per_name, T_INT, 1, 1000000),
    S(max_failures_per_name_total, T_INT, 1, 1000000),
    S(known_addresses_per_name, T_INT, 1, 64),
    S(known_names, T_INT, 1, 10000000),
    S(max_signups_per_ip, T_INT, 1, 1000000),
    S(max_contact_changes, T_INT, 1, 1000000),
    S(max_output_buffer, T_INT, 4096, 64 * 1024 * 1024),
    S(workers, T_INT, 0, 64),
    S(user, T_STR, 0, 0),
    S(pid_file, T_PATH, 0, 0),
    S(allow_resume, T_BOOL, 0, 1),
    S(token_lifetime, T_INT, 2, 10 * 365 * 86400),
    S(max_tokens_per_user, T_INT, 1, 64),
    S(lan_nets, T_NETS, 0, 0),
    S(reach_probe, T_BOOL, 0, 1),
    S(reach_timeout, T_INT, 1, 30),
    S(max_probes, T_INT, 1, 1024),
    S(max_calls, T_INT, 1, 600),
    S(probes_per_minute, T_INT, 1, 60),
    S(max_probes_per_ip, T_INT, 1, 1024),
    C(server, T_STR, 0, 0),
    C(server_port, T_INT, 1, 65535),
    C(server_key, T_STR, 0, 0),
    C(state_dir, T_PATH, 0, 0),
    C(peer_listen, T_LISTEN, 0, 0),
    C(peer_port, T_INT, 0, 65535),
    C(lan_nets, T_NETS, 0, 0),
    C(lan_ip, T_LANIP, 0, 0),
    C(user, T_STR, 0, 0),
    C(password_file, T_PATH, 0, 0),
    C(log, T_LOGDEST, 0, 0),
    C(log_level, T_LEVEL, 0, 0),
    C(log_rate_limit, T_INT, 0, 1000000),
    C(ping_interval, T_INT, 1, 3600),
    C(connect_timeout, T_INT, 1, 600),
    C(max_line, T_INT, 256, 1024),
    C(max_output_buffer, T_INT, 4096, 64 * 1024 * 1024),
    C(max_queued_messages, T_INT, 1, 1000000),
    C(peer_hello_timeout, T_INT, 1, 600),
    C(max_peer_unauth, T_INT, 1, 1024),
    C(max_peer_unauth_per_ip, T_INT, 1, 1024),
    C(ipv6_prefix, T_INT, 32, 128),
    C(reconnect_base_ms, T_INT, 100, 600000),
    C(reconnect_max_ms, T_INT, 100, 3600000),
    C(resume_tokens, T_BOOL, 0, 1),
    K(redis, T_HOSTPORT, 0, 0),
    K(redis_password_file, T_STR, 0, 0),
    K(key_prefix, T_PREFIX, 0, 0),
    K(node_id, T_NODEID, 0, 0),
    K(record_ttl, T_INT, 3, 3600),
};

void conf_defaults(struct conf *c)
{
	memset(c, 0, sizeof *c);
	struct conf_server *s = &c->srv;
	strcpy(s->listen, "*");
	s->port = 5190;
	strcpy(s->data_dir, PATHS_DATA_DIR);
	s->allow_signup = 1;
	s->pbkdf2_iterations = 310000;
	s->min_password_length = 8;
	strcpy(s->server_name, "im");
	strcpy(s->log, "stderr");
	s->log_level = LOG_LVL_INFO;
	s->log_rate_limit = LOG_RATE_DEFAULT;
	s->keepalive_timeout = 90;
	s->max_contacts = 256;
	s->max_line = 1024;
	s->max_connections = 1024;
	s->max_connections_per_ip = 64;
	s->max_unauth = 128;
	s->max_unauth_per_ip = 16;
	s->ipv6_prefix = 64;
	s->login_timeout = 30;
	s->handshake_timeout = 10;
	s->tls_tickets = 1;
	s->ticket_key_lifetime = 86400;
	s->max_failures_per_ip = 20;
	s->max_failures_per_name = 5;
	s->max_failures_per_name_total = 30;
	s->known_addresses_per_name = 4;
	s->known_names = 10000;
	s->max_signups_per_ip = 10;
	s->max_contact_changes = 60;
	s->max_output_buffer = 256 * 1024;
	s->workers = 0;
	s->allow_resume = 1;
	s->token_lifetime = 30 * 86400;
	s->max_tokens_per_user = 4;
	s->reach_probe = 1;
	s->reach_timeout = 3;
	s->max_probes = 32;
	s->max_calls = 30;
	s->probes_per_minute = 6;
	s->max_probes_per_ip = 4;

	struct conf_client *k = &c->cli;
	strcpy(k->server, "localhost");
	k->server_port = 5190;
	strcpy(k->peer_listen, "*");
	strcpy(k->lan_ip, "auto");
	strcpy(k->log, "stderr");
	k->log_level = LOG_LVL_WARN;
	k->log_rate_limit = LOG_RATE_DEFAULT;
	k->ping_interval = 30;
	k->connect_timeout = 10;
	k->max_line = 1024;
	k->max_output_buffer = 1024 * 1024;
	k->max_queued_messages = 1024;
	k->peer_hello_timeout = 5;
	k->max_peer_unauth = 32;
	k->max_peer_unauth_per_ip = 4;
	k->ipv6_prefix = 64;
	k->reconnect_base_ms = 1000;
	k->reconnect_max_ms = 30000;
	k->resume_tokens = 1;

	strcpy(c->clu.key_prefix, "im:");
	c->clu.record_ttl = 15;
}

struct load_state {
	struct conf *c;
	char *err;
	size_t errlen;
	int failed;
	int bad_section_line; /* the first [section] that is neither server nor client */
	char bad_section[INI_SECTION_MAX];
};

/* "*" or IP addresses (IPv6 may be bracketed), separated by spaces or
 * commas: what the listeners accept. */
int conf_listen_valid(const char *v, char *why, size_t whylen)
{
	char list[CONF_STR_MAX], *save = NULL;
	int n = 0;
	snprintf(list, sizeof list, "%s", v);
	for (char *a = strtok_r(list, " ,", &save); a; a = strtok_r(NULL, " ,", &save), n++) {
		size_t len = strlen(a);
		if (len > 2 && a[0] == '[' && a[len - 1] == ']') {
			a[len - 1] = '\0';
			a++;
		}
		if (strcmp(a, "*") != 0 && !proto_ip_valid(a)) {
			snprintf(why, whylen, "'%s' is not an IP address (or * for every address)", a);
			return -1;
		}
	}
	if (n == 0) {
		snprintf(why, whylen, "no address given");
		return -1;
	}
	return 0;
}

int conf_hostport(const char *v, char *host, size_t cap, int *port, char *why, size_t whylen)
{
	const char *colon, *h = v;
	size_t hlen;
	if (*v == '[') {
		const char *close = strchr(v, ']');
		if (close == NULL || close[1] != ':') {
			snprintf(why, whylen, "'%s' is not [IPv6]:PORT", v);
			return -1;
		}
		h = v + 1;
		hlen = (size_t)(close - h);
		colon = close + 1;
	} else {
		colon = strrchr(v, ':');
		if (colon == NULL || memchr(v, ':', (size_t)(colon - v)) != NULL) {
			snprintf(why, whylen, "'%s' is not HOST:PORT (an IPv6 address goes in brackets)", v);
			return -1;
		}
		hlen = (size_t)(colon - v);
	}
	unsigned p;
	if (hlen == 0 || hlen >= cap || strpbrk(v, " \t") != NULL || proto_port(colon + 1, &p) < 0 ||
	    p == 0) {
		snprintf(why, whylen, "'%s' is not HOST:PORT with a port 1-65535", v);
		return -1;
	}
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	/* an IPv6 address in brackets; else an IPv4 address or a host name */
	int ok =
	    *v == '['
	        ? strchr(host, ':') != NULL && proto_ip_valid(host)
	        : strspn(host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_") == hlen &&
	              host[0] != '-' && host[0] != '.';
	if (!ok) {
		snprintf(why, whylen, "'%s' is not an %s", host,
		         *v == '[' ? "IPv6 address" : "IPv4 address or host name");
		return -1;
	}
	*port = (int)p;
	return 0;
}

static int set_value(struct conf *c, const struct conf_key *k, const char *v, char *why, size_t whylen)
{
	char *field = (char *)c + k->offset;
	switch (k->type) {
	case T_INT: {
		char *end;
		errno = 0;
		long n = strtol(v, &end, 10);
		if (*v == '\0' || *end != '\0' || errno != 0) {
			snprintf(why, whylen, "'%s' is not a number", v);
			return -1;
		}
		if (n < k->min || n > k->max) {
			snprintf(why, whylen, "%ld is out of range %ld..%ld", n, k->min, k->max);
			return -1;
		}
		*(int *)field = (int)n;
		return 0;
	}
	case T_BOOL:
		if (!strcmp(v, "yes") || !strcmp(v, "true") || !strcmp(v, "on") || !strcmp(v, "1"))
			*(int *)field = 1;
		else if (!strcmp(v, "no") || !strcmp(v, "false") || !strcmp(v, "off") || !strcmp(v, "0"))
			*(int *)field = 0;
		else {
			snprintf(why, whylen, "'%s' is not yes or no", v);
			return -1;
		}
		return 0;
	case T_LOGDEST:
		if (strcmp(v, "stderr") != 0 && strcmp(v, "syslog") != 0) {
			snprintf(why, whylen, "'%s' is not stderr or syslog", v);
			return -1;
		}
		break;
	case T_LEVEL: {
		int lvl = log_level_parse(v);
		if (lvl < 0) {
			snprintf(why, whylen, "'%s' is not error, warn, info or debug", v);
			return -1;
		}
		*(int *)field = lvl;
		return 0;
	}
	case T_PATH:
		if (*v == '\0') {
			snprintf(why, whylen, "empty path");
			return -1;
		}
		break;
	case T_TOKEN:
		/* It goes on the wire as one token of a line. */
		if (*v == '\0' || strpbrk(v, " \t") != NULL || !proto_utf8_valid(v, strlen(v))) {
			snprintf(why, whylen, "'%s' must be one word", v);
			return -1;
		}
		break;
	case T_LISTEN:
		if (conf_listen_valid(v, why, whylen) < 0)
			return -1;
		break;
	case T_NETS: {
		struct proto_nets nets;
		if (proto_nets_parse(v, &nets, why, whylen) < 0)
			return -1;
		break;
	}
	case T_LANIP: {
		/* lan_nets counts only when it comes first in the file. */
		struct proto_nets nets;
		char ignored[8];
		if (proto_nets_parse(c->cli.lan_nets, &nets, ignored, sizeof ignored) < 0)
			nets.n = 0;
		if (*v != '\0' && strcmp(v, "auto") != 0 && strcmp(v, "none") != 0 &&
		    !proto_lan_ip_ok(v, &nets)) {
			snprintf(
			    why, whylen,
			    "'%s' is not a private, link-local or unique-local IP address (a LAN address "
			    "peers may dial), nor in a lan_nets network set above it; or auto, or none",
			    v);
			return -1;
		}
		break;
	}
	case T_HOSTPORT: {
		char host[CONF_STR_MAX];
		int port;
		if (*v != '\0' && conf_hostport(v, host, sizeof host, &port, why, whylen) < 0)
			return -1;
		break;
	}
	case T_NODEID:
		/* It is a word in the events channel and part of Redis keys. */
		if (*v == '\0' || strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		                            "0123456789_.:-") != strlen(v)) {
			snprintf(why, whylen, "'%s' must be 1-64 of A-Z a-z 0-9 _ . : -", v);
			return -1;
		}
		break;
	case T_PREFIX:
		/* Printable ASCII without spaces or glob characters (the prefix goes
		 * into SCAN patterns). */
		for (const char *p = v; *p; p++)
			if (*p <= ' ' || *p >= 0x7f || strchr("*?[]\\", *p) != NULL) {
				snprintf(why, whylen,
				         "'%s' must be printable ASCII without spaces or any of * ? [ ] \\",
				         v);
				return -1;
			}
		break;
	case T_STR:
		break;
	}
	if (strlen(v) >= k->size) {
		snprintf(why, whylen, "value is longer than %zu bytes", k->size - 1);
		return -1;
	}
	strcpy(field, v);
	return 0;
}

static int known_section(const char *section)
{
	return !strcmp(section, "server") || !strcmp(section, "client") || !strcmp(section, "cluster");
}

/* ini_read calls this per key; returning 0 makes it report the line. */
static int on_key(void *user, const char *section, const char *name, const char *value)
{
	struct load_state *st = user;
	char why[160];
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		if (strcmp(keys[i].section, section) != 0 || strcmp(keys[i].key, name) != 0)
			continue;
		if (set_value(st->c, &keys[i], value, why, sizeof why) == 0)
			return 1;
		if (!st->failed)
			snprintf(st->err, st->errlen, "bad value for %s in [%s]: %s", name, section, why);
		st->failed = 1;
		return 0;
	}
	if (!st->failed) {
		if (!known_section(section))
			snprintf(st->err, st->errlen, "unknown section [%s] (key %s)", section, name);
		else
			snprintf(st->err, st->errlen, "unknown key %s in [%s]", name, section);
	}
	st->failed = 1;
	return 0;
}

/* An unknown section is an error even when it holds no key (a typo such
 * as [sever] above keys is caught by on_key). It is reported only when the
 * rest of the file is fine, so a bad key keeps its own message. */
static int on_section(void *user, const char *section, int lineno)
{
	struct load_state *st = user;
	if (st->bad_section_line == 0 && !known_section(section)) {
		st->bad_section_line = lineno;
		snprintf(st->bad_section, sizeof st->bad_section, "%s", section);
	}
	return 1;
}

int conf_load(struct conf *c, const char *path, char *err, size_t errlen)
{
	char msg[400] = "";
	struct load_state st = {c, msg, sizeof msg, 0, 0, ""};
	FILE *f = fopen(path, "r");
	if (f == NULL) {
		snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		return -1;
	}
	int rc = ini_read(f, on_key, on_section, &st);
	int read_errno = errno;
	fclose(f);
	if (rc == 0 && st.bad_section_line != 0) {
		snprintf(err, errlen, "%s:%d: unknown section [%.40s]", path, st.bad_section_line,
		         st.bad_section);
		return -1;
	}
	if (rc == 0)
		return 0;
	if (rc < 0)
		snprintf(err, errlen, "%s: cannot read: %s", path, strerror(read_errno));
	else if (st.failed)
		snprintf(err, errlen, "%s:%d: %s", path, rc, msg);
	else
		snprintf(err, errlen, "%s:%d: syntax error (expected [section] or key = value)", path, rc);
	return -1;
}

static int join_path(char *dst, size_t dstlen, const char *dir, const char *name)
{
	int n = snprintf(dst, dstlen, "%s/%s", dir, name);
	return n < 0 || (size_t)n >= dstlen ? -1 : 0;
}

int conf_finish(struct conf *c, char *err, size_t errlen)
{
	struct conf_server *s = &c->srv;
	if ((s->run_dir[0] == '\0' && join_path(s->run_dir, sizeof s->run_dir, s->data_dir, "run") < 0) ||
	    (s->key_file[0] == '\0' &&
	     join_path(s->key_file, sizeof s->key_file, s->data_dir, "server.key") < 0) ||
	    (s->cert_file[0] == '\0' &&
	     join_path(s->cert_file, sizeof s->cert_file, s->data_dir, "server.crt") < 0)) {
		snprintf(err, errlen, "data_dir is too long");
		return -1;
	}
	if (s->max_unauth_per_ip > s->max_unauth)
		s->max_unauth_per_ip = s->max_unauth;
	if (s->max_connections_per_ip > s->max_connections)
		s->max_connections_per_ip = s->max_connections;
#ifndef IM_CLUSTER
	if (c->clu.redis[0] != '\0') {
		snprintf(err, errlen,
		         "redis = %s in [cluster]: this im was built without cluster mode "
		         "(CLUSTER=no); leave redis empty or use a build with it",
		         c->clu.redis);
		return -1;
	}
#endif
	struct conf_client *k = &c->cli;
	/* Only the client needs a state directory; without HOME it stays
	 * empty and the client says so, other modes run on. */
	const char *home = getenv("HOME");
	if (k->state_dir[0] == '\0' && home != NULL && *home != '\0' &&
	    join_path(k->state_dir, sizeof k->state_dir, home, ".im") < 0) {
		snprintf(err, errlen, "HOME is too long for state_dir");
		return -1;
	}
	return 0;
}

void conf_each_key(void (*fn)(const char *section, const char *key, void *arg), void *arg)
{
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
		fn(keys[i].section, keys[i].key, arg);
}
