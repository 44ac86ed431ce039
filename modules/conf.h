/* conf: the [server] and [client] settings, their defaults, and loading an
 * INI file over them (modules/ini.c). After conf_finish() the structs are read-only. */
#ifndef IM_CONF_H
#define IM_CONF_H

#include <stddef.h>

#define CONF_PATH_MAX 512
#define CONF_STR_MAX  256

struct conf_server {
	char listen[CONF_STR_MAX]; /* "*" = every address, IPv4 and IPv6 */
	int port;
	char data_dir[CONF_PATH_MAX];
	char run_dir[CONF_PATH_MAX]; /* "" until conf_finish: <data_dir>/run */
	int allow_signup;
	int pbkdf2_iterations;
	int min_password_length;
	char key_file[CONF_PATH_MAX];  /* "" = <data_dir>/server.key */
	char cert_file[CONF_PATH_MAX]; /* "" = <data_dir>/server.crt */
	char server_name[CONF_STR_MAX];
	char log[16];  /* "stderr" or "syslog" */
	int log_level; /* enum log_level */
	int keepalive_timeout;
	int max_contacts;
	int max_line;
	int max_connections;
	int max_connections_per_ip;
	int max_unauth;
	int max_unauth_per_ip;
	int ipv6_prefix; /* bits of an IPv6 address that per-IP limits count by */
	int login_timeout;
	int handshake_timeout;   /* seconds to finish TLS, within login_timeout */
	int tls_tickets;         /* TLS session tickets, keys in <data_dir>/ticket.keys */
	int ticket_key_lifetime; /* seconds a ticket key seals; it opens for twice that */
	int max_failures_per_ip;
	int max_failures_per_name;       /* for one name from one address (prefix) */
	int max_failures_per_name_total; /* for one name from all addresses */
	int known_addresses_per_name;    /* recent login addresses kept per name */
	int known_names;                 /* names whose addresses are kept */
	int max_signups_per_ip;          /* an hour, per address (prefix) */
	int max_contact_changes;         /* a minute, per session */
	int max_output_buffer;
	int workers; /* 0 = number of cores */
	char user[CONF_STR_MAX];
	char pid_file[CONF_PATH_MAX];
	int log_rate_limit;          /* lines a second per call site, 0 = no limit */
	int allow_resume;            /* TOKEN after a login, RESUME accepted */
	int token_lifetime;          /* seconds a resume token stays valid */
	int max_tokens_per_user;     /* live tokens per user, oldest dropped */
	char lan_nets[CONF_STR_MAX]; /* extra LAN networks in PEER: proto_nets_parse() */
	int reach_probe;             /* probe each 1.1 client's announced peer port */
	int reach_timeout;           /* seconds a probe may take */
	int max_probes;              /* probes at once, the rest wait */
	int max_calls;               /* CALL and PUNCH lines per session a minute */
	int probes_per_minute;       /* probes of one session a minute */
	int max_probes_per_ip;       /* probes queued or running for one address */
};

struct conf_client {
	char server[CONF_STR_MAX];
	int server_port;
	char server_key[CONF_STR_MAX]; /* "" = trust on first use */
	char state_dir[CONF_PATH_MAX]; /* conf_finish: ~/.im; "" without HOME */
	char peer_listen[CONF_STR_MAX];
	int peer_port;
	char lan_ip[CONF_STR_MAX];   /* "auto", "none" ("" too), or an address proto_lan_ip_ok() takes */
	char lan_nets[CONF_STR_MAX]; /* extra LAN networks: proto_nets_parse() */
	char user[CONF_STR_MAX];
	char password_file[CONF_PATH_MAX];
	char log[16];
	int log_level;
	int log_rate_limit;
	int ping_interval;
	int connect_timeout;
	int max_line;
	int max_output_buffer;
	int max_queued_messages;    /* per conversation, not yet acknowledged */
	int peer_hello_timeout;     /* seconds for an incoming peer to finish TLS and hello */
	int max_peer_unauth;        /* incoming peer connections before their hello */
	int max_peer_unauth_per_ip; /* the same, from one address (IPv6: one ipv6_prefix) */
	int ipv6_prefix;            /* bits of an IPv6 address the per-IP cap counts by */
	int reconnect_base_ms;      /* the first retry's delay cap; doubles per retry */
	int reconnect_max_ms;       /* the ceiling of the retry delay cap */
	int resume_tokens;          /* keep the server's resume token and log in with it */
};

/* [cluster]: cluster mode (several servers sharing one map through Redis). */
struct conf_cluster {
	char redis[CONF_STR_MAX];                /* "HOST:PORT" or "[v6]:PORT"; "" = cluster mode off */
	char redis_password_file[CONF_PATH_MAX]; /* first line = Redis AUTH password; "" = no AUTH */
	char key_prefix[65];                     /* every key and the channel start with it */
	char node_id[65];                        /* conf_finish: "<hostname>:<port>" when unset */
	int record_ttl;                          /* seconds node and session records outlive a refresh */
};

struct conf {
	struct conf_server srv;
	struct conf_client cli;
	struct conf_cluster clu;
};

/* Fills every field with its documented default. */
void conf_defaults(struct conf *c);

/* Loads the INI file at path over c. On error writes "path:line: message"
 * into err and returns -1; a missing file is an error too. */
int conf_load(struct conf *c, const char *path, char *err, size_t errlen);

/* Derives the fields whose defaults depend on others and checks them
 * together. Returns 0, or -1 with a message in err. */
int conf_finish(struct conf *c, char *err, size_t errlen);

/* Splits "HOST:PORT" or "[v6]:PORT" (port 1-65535) into host (cap bytes,
 * brackets removed) and *port. 0, or -1 with the reason in why. */
int conf_hostport(const char *v, char *host, size_t cap, int *port, char *why, size_t whylen);

/* Checks a listen value ("*" or addresses, as the listen keys take):
 * 0, or -1 with the reason in why. */
int conf_listen_valid(const char *v, char *why, size_t whylen);

/* Calls fn(section, key) for every key the loader accepts; for the test
 * that keeps config/im.conf complete. */
void conf_each_key(void (*fn)(const char *section, const char *key, void *arg), void *arg);

#endif
