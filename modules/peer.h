/* peer: the peer channel: the listener, dialing a contact, the IM 1 hello
 * with its key checks, MSG/ACK/TYPING/BYE, message ids and their timeouts. */
#ifndef IM_PEER_H
#define IM_PEER_H

#include <stddef.h>

#include "loop.h"
#include "proto.h"

/* Where a contact is, as the server announced it. */
struct peer_contact {
	char ip[48];
	unsigned port;
	char lan_ip[48]; /* "" = none announced */
	char key[PROTO_KEY_HEX + 1];
	int reach; /* PEER_REACH_*: what the server's probe found */
	int calls; /* it and the server speak 1.1: it can take CALL and PUNCH */
};

/* A reachability state from the server's probe (REACH). */
#define PEER_REACH_UNKNOWN PROTO_REACH_UNKNOWN
#define PEER_REACH_OPEN    PROTO_REACH_OPEN
#define PEER_REACH_CLOSED  PROTO_REACH_CLOSED

/* How a conversation connected: the rungs of the path ladder, in the
 * order they are tried. */
enum peer_path { PEER_PATH_NONE, PEER_PATH_LAN, PEER_PATH_DIRECT, PEER_PATH_REVERSE, PEER_PATH_PUNCHED };

/* What the ladder's choice depends on. */
struct peer_ladder {
	int same_nat;  /* its LAN address is on our networks and its ip is our observed ip */
	int lan;       /* its LAN address is on our networks; our observed ip is not known yet */
	int reach;     /* its PEER_REACH_* state */
	int self_open; /* the server's probe reached our own listener */
	int calls;     /* it and the server speak 1.1 (CALL and PUNCH) */
};

/* The rung to try after rung `after` (PEER_PATH_NONE: the first), or
 * PEER_PATH_NONE when none is left: lan when same_nat, or when lan (it
 * may be the same NAT) and its state is closed (direct, which would dial
 * the LAN address second, is skipped then); direct unless its state is
 * closed; reverse when we are open and it takes calls; punched when it
 * takes calls. Pure function. */
enum peer_path peer_ladder_next(enum peer_path after, const struct peer_ladder *in);
/* The word of a path: "lan", "direct", "reverse", "punched" ("" for none). */
const char *peer_path_word(enum peer_path how);

/* What the peer module asks the server to relay (ops->ask). */
enum peer_ask { PEER_ASK_CALL, PEER_ASK_PUNCH };

/* Failure reasons given to ops->failed; also the words of batch mode. */
#define PEER_OFFLINE     "offline"     /* not announced online */
#define PEER_NOTCONTACT  "notcontact"  /* not a mutual contact */
#define PEER_UNTRUSTED   "untrusted"   /* its key changed; waiting for trust */
#define PEER_UNREACHABLE "unreachable" /* no TCP connection to its address */
#define PEER_REFUSED     "refused"     /* it closed before accepting us */
#define PEER_KEYMISMATCH "keymismatch" /* it presented another key */
#define PEER_TIMEOUT     "timeout"     /* no answer within connect_timeout */
#define PEER_LOST        "lost"        /* the connection broke */
#define PEER_CLOSED      "closed"      /* the conversation was closed */
#define PEER_TOOLONG     "toolong"     /* the message does not fit a line */
#define PEER_BUSY        "busy"        /* too many messages wait for this peer */

struct peer_ops {
	/* Fills *pc for a contact we may talk to (mutual, announced online,
	 * key trusted): 0, or -1 with *why set to a PEER_* reason. */
	int (*lookup)(void *arg, const char *name, struct peer_contact *pc, const char **why);
	/* A message arrived: its sender's id and its text, still escaped. */
	void (*msg)(void *arg, const char *name, const char *id, const char *text);
	/* The peer acknowledged message id. */
	void (*sent)(void *arg, const char *name, unsigned long id);
	/* Message id will never be acknowledged, for reason (a PEER_* word). */
	void (*failed)(void *arg, const char *name, unsigned long id, const char *reason);
	/* The peer is typing (optional; may be NULL). */
	void (*typing)(void *arg, const char *name);
	/* The conversation with name ended from its side or by an error, with
	 * reason (a PEER_* word; "closed" is its BYE). Optional; may be NULL. */
	void (*closed)(void *arg, const char *name, const char *reason);
	/* Asks the server to have name dial us (CALL) or to coordinate a
	 * simultaneous open (PUNCH). 0 when sent (an ERR reply comes back
	 * through peer_ask_failed), -1 when it cannot be asked now. */
	int (*ask)(void *arg, const char *name, enum peer_ask what);
	/* A conversation with name opened (hello done) by path how. */
	void (*path)(void *arg, const char *name, enum peer_path how);
};

struct peer_cfg {
	const char *listen; /* "*" = every address */
	unsigned port;      /* 0 = ephemeral */
	const char *key_file, *cert_file;
	unsigned timeout_ms; /* dial + hello, and each message's ACK */
	size_t max_line, max_out;
	size_t max_unidentified; /* incoming connections not yet through hello */
	size_t max_queued;       /* messages per conversation not yet acknowledged */
	/* 0 in these means: max_unidentified, timeout_ms, 64. */
	size_t max_unidentified_per_ip; /* the same from one address or IPv6 prefix */
	unsigned hello_timeout_ms;      /* for an incoming one to finish TLS and hello */
	int ipv6_prefix;                /* bits an IPv6 address is counted by */
	struct proto_nets lan_nets;     /* LAN networks beside the private ranges */
};

struct peer;

/* Opens the listener and the TLS configurations. When the cap on
 * incoming connections before their hello is reached, the oldest that has
 * not sent a ClientHello goes, else the oldest of the address (or IPv6
 * prefix) holding the most: idle TCP connections, from any number of
 * addresses, cannot lock out a contact, which sends its ClientHello at
 * once. Returns NULL with err set. The ops may be called from inside any
 * peer_* call. */
struct peer *peer_new(struct loop *l, const struct peer_cfg *cfg, const struct peer_ops *ops, void *arg,
                      char *err, size_t errlen);
/* Sends BYE on every conversation and fails what is pending ("closed");
 * the connections are gone when the current loop pass ends. */
void peer_shutdown(struct peer *p);
/* Frees what peer_shutdown() left: call after the loop stopped. Safe on
 * NULL. */
void peer_free(struct peer *p);

/* The port the listener really got. */
unsigned peer_port(const struct peer *p);
/* Sets the name we say in "IM 1 <name>" (after login). */
void peer_set_name(struct peer *p, const char *name);

/* Queues message id (text escaped, without newlines) to name, dialing if
 * needed; the outcome is ops->sent or ops->failed, exactly once. */
void peer_send(struct peer *p, const char *name, unsigned long id, const char *text);
/* Dials name ahead of a first message, if not connected yet. */
void peer_open(struct peer *p, const char *name);
/* Ends the conversation with name (BYE) and fails its pending messages
 * with reason. */
void peer_close(struct peer *p, const char *name, const char *reason);
/* name's session ended (the server said it left, or announced it anew at
 * another address or key): the ids of its messages shown so far are
 * forgotten, as its next session numbers its messages from 1 again. */
void peer_forget(struct peer *p, const char *name);
/* What the server said about us: our observed ip ("" = unknown) and
 * whether its probe reached our listener (PEER_REACH_*). */
void peer_set_self(struct peer *p, const char *ip, int reach);
/* The server refused (ERR) our CALL or PUNCH about name: the ladder goes
 * on to its next rung at once. */
void peer_ask_failed(struct peer *p, const char *name, enum peer_ask what);
/* The server relays name's CALL: when name is a contact we may talk to
 * and no dial to it is under way, dial its announced address (path
 * reverse); a new connection replaces an open one once its hello is done. */
void peer_call_in(struct peer *p, const char *name);
/* The server relays a PUNCH: dial name at ip port from our listener's
 * port, retrying every PEER_PUNCH_RETRY_MS until timeout_ms has passed
 * (path punched). Only to the address and port the server announced for
 * name, only for a contact we may talk to, one dial at a time. */
#define PEER_PUNCH_RETRY_MS 250
void peer_punch_in(struct peer *p, const char *name, const char *ip, unsigned port);
/* How many messages, over all conversations, await their outcome. */
size_t peer_pending(const struct peer *p);
/* 1 if a conversation with name is open (hello done). */
int peer_is_open(const struct peer *p, const char *name);

#endif
