/* cli: the client core: session state, the server link (login, presence,
 * contacts, keepalive, reconnect) and the glue to the peer channel. It
 * prints nothing: it reports typed events to a sink (the ui module). */
#ifndef IM_CLI_H
#define IM_CLI_H

#include <stdint.h>

#include "conf.h"
#include "loop.h"
#include "store.h"

enum cli_ev_type {
	CLI_EV_READY,     /* name: we are logged in, presence is complete */
	CLI_EV_ONLINE,    /* name, ip, port */
	CLI_EV_OFFLINE,   /* name */
	CLI_EV_ASKED,     /* name lists us; we do not list it */
	CLI_EV_MSG,       /* name, id (the sender's), text (escaped) */
	CLI_EV_SENT,      /* name, num: our message was acknowledged */
	CLI_EV_FAILED,    /* name, num, text: a PEER_* reason word */
	CLI_EV_KEYCHANGE, /* name: the server announced another key */
	CLI_EV_ERROR,     /* text */
	CLI_EV_BYE,       /* the client is leaving */
	CLI_EV_TYPING,    /* name */
	CLI_EV_NOTICE,    /* text: for people, not scripts */
	CLI_EV_CLOSED,    /* name: it ended the conversation (BYE); for people */
	/* name, text: only a resume token was given and it is gone or was
	 * refused; the client is idle until a login with the password */
	CLI_EV_NEED_PASSWORD,
	CLI_EV_PATH, /* name, text: a conversation opened: "direct", "lan", "reverse" or "punched" */
};

struct cli_event {
	enum cli_ev_type type;
	const char *name;
	const char *ip;
	unsigned port;
	const char *id;
	unsigned long num;
	const char *text;
};

typedef void (*cli_emit_fn)(void *arg, const struct cli_event *ev);

/* One row of the contact view. */
struct cli_contact {
	const char *name;
	int listed;    /* in our contacts file */
	int online;    /* announced online (last known, while the server is away) */
	int asked;     /* lists us, not listed by us */
	int keychange; /* waiting for trust */
	const char *ip;
	unsigned port;
	const char *key;    /* its pinned key (hex SHA-256), or "" if none yet */
	const char *newkey; /* with keychange: the announced key awaiting trust */
};

struct cli;

/* Where the server link stands, for a status line. */
enum cli_link {
	CLI_LINK_IDLE,       /* not logged in and not trying */
	CLI_LINK_CONNECTING, /* a login in progress */
	CLI_LINK_UP,         /* logged in, presence complete */
	CLI_LINK_RETRY,      /* lost the server (or never reached it): retrying */
};

/* The longest password the core keeps, its terminating NUL included. */
#define CLI_PASSWORD_MAX 256

/* Makes the client core on loop l with its peer listener; cfg and st must
 * outlive it. Returns NULL with err set. */
struct cli *cli_new(struct loop *l, const struct conf_client *cfg, struct store *st, cli_emit_fn emit,
                    void *arg, char *err, size_t errlen);
/* Frees it; call after the loop stopped. Safe on NULL. */
void cli_free(struct cli *c);

/* Logs in (or signs up) as name with password, connecting to the server;
 * the password is kept until cli_free wipes it. Reconnects use the
 * server's resume token (the password when it is refused). Outcome:
 * READY or ERROR. */
void cli_login(struct cli *c, const char *name, const char *password, int signup);
/* As cli_login without signup, but the resume token stored for this
 * server goes first; the password is kept for when it is refused. */
void cli_login_saved(struct cli *c, const char *name, const char *password);
/* Logs in as name with the resume token stored for this server, without
 * a password (a refused token ends in NEED_PASSWORD). 0 when started (or
 * refused with an ERROR event), -1 when no token is stored for name. */
int cli_resume(struct cli *c, const char *name);
/* Sends text (escaped) to name; returns its id (1, 2, 3... per run). The
 * outcome is SENT or FAILED with that id, exactly once. */
unsigned long cli_msg(struct cli *c, const char *name, const char *text);
/* Dials name ahead of a message. 0, or -1 with an ERROR event. */
int cli_open(struct cli *c, const char *name);
/* Ends the conversation with name (BYE). */
void cli_close(struct cli *c, const char *name);
/* Adds or removes a contact (file and server). 0, or -1 with an ERROR. */
int cli_add(struct cli *c, const char *name);
int cli_del(struct cli *c, const char *name);
/* Accepts the changed key of name. 0, or -1 with an ERROR event. */
int cli_trust(struct cli *c, const char *name);
/* Calls fn for each listed contact and each asker, in name order. */
void cli_each_contact(struct cli *c, void (*fn)(void *arg, const struct cli_contact *ct), void *arg);
/* Logs out (LOGOUT, BYE to peers), emits BYE and stops the loop. */
void cli_quit(struct cli *c);
/* The port the peer listener is bound to. */
unsigned cli_peer_port(const struct cli *c);
/* The server link's state; every change comes with an event (READY, or
 * an ERROR saying what happened), so a view reads it after each. */
enum cli_link cli_link(const struct cli *c);
/* Our own key as contacts see it (hex SHA-256 of the public key). */
const char *cli_fingerprint(const struct cli *c);
/* What a failure reason word of SENT/FAILED (a PEER_* word) means, for
 * people: the one table batch words and the terminal UI share. An
 * unknown word is returned as it is. */
const char *cli_reason_text(const char *word);
/* Our logged-in name, or "" before the first login. */
const char *cli_name(const struct cli *c);
/* The exit status: 1 after a kick, or when no login ever succeeded; else 0. */
int cli_status(const struct cli *c);

/* Reconnect backoff with full jitter: the delay cap of retry number
 * attempt (0 first) is base_ms doubled attempt times, at most max_ms (at
 * least base_ms); the delay is uniform in [min(CLI_BACKOFF_FLOOR_MS, cap),
 * cap], picked by rnd. Pure functions. */
#define CLI_BACKOFF_FLOOR_MS 100
unsigned cli_backoff_cap(unsigned attempt, unsigned base_ms, unsigned max_ms);
unsigned cli_backoff_ms(unsigned attempt, uint32_t rnd, unsigned base_ms, unsigned max_ms);

#endif
