/* tls: everything mbedTLS. Configurations for the login channel and the
 * peer channel, non-blocking connections driven by the caller's poll loop,
 * long-term key generation and the key fingerprint of DESIGN ("<key>"). */
#ifndef IM_TLS_H
#define IM_TLS_H

#include <stddef.h>
#include <sys/types.h>

#include "proto.h"

enum tls_role {
	TLS_SERVER_LOGIN, /* im server: presents its key, asks none */
	TLS_CLIENT,       /* dials: presents its key if it has one */
	TLS_SERVER_PEER,  /* a client's peer listener: requires a certificate */
};

/* Return codes of the I/O calls besides byte counts. */
enum { TLS_WANT_READ = -2, TLS_WANT_WRITE = -3, TLS_ERROR = -4 };

struct tls_cfg;
struct tls;

/* Seeds the shared random generator; call once, in the loop thread. 0/-1. */
int tls_init(void);

/* Generates an EC P-256 key (file mode 0600, never overwriting) and a
 * self-signed certificate with common name cn. 0, or -1 with err set. */
int tls_keygen(const char *key_file, const char *cert_file, const char *cn, char *err, size_t errlen);

/* Writes the fingerprint (DESIGN's <key>) of the key in key_file. 0/-1. */
int tls_key_fingerprint(const char *key_file, char hex[PROTO_KEY_HEX + 1], char *err, size_t errlen);

/* Makes a configuration: TLS 1.2+, ECDHE with AEAD only, X25519 then
 * P-256, no renegotiation. key_file/cert_file may be NULL for a client
 * with no identity. Returns NULL with err set on failure. */
struct tls_cfg *tls_cfg_new(enum tls_role role, const char *key_file, const char *cert_file, char *err,
                            size_t errlen);
/* Frees a configuration no connection uses any more. Safe on NULL. */
void tls_cfg_free(struct tls_cfg *cfg);
/* Replaces key and certificate (SIGHUP); new connections use them. 0/-1. */
int tls_cfg_reload(struct tls_cfg *cfg, const char *key_file, const char *cert_file, char *err,
                   size_t errlen);

/* Turns on session tickets (RFC 5077) for a TLS_SERVER_LOGIN
 * configuration, reloads included. The ticket keys live in key_file (0600,
 * made if missing or bad); a key seals new tickets for lifetime seconds
 * and then opens them for lifetime more, and a ticket is good for lifetime
 * seconds. tls_cfg_reload() re-reads the file. 0, or -1 with err set. */
int tls_tickets(struct tls_cfg *cfg, const char *key_file, long lifetime, char *err, size_t errlen);

/* Room for a saved session (tls_session_save): the server's certificate
 * and a ticket. */
#define TLS_SESSION_MAX 8192

/* Wraps connected non-blocking socket fd (the fd stays the caller's).
 * Returns NULL when out of memory. */
struct tls *tls_new(struct tls_cfg *cfg, int fd);
/* Frees the TLS state. Safe on NULL. */
void tls_free(struct tls *t);

/* Advances the handshake: 0 when done, TLS_WANT_READ/WRITE, TLS_ERROR. */
int tls_handshake(struct tls *t);
/* Reads up to len bytes: count > 0, 0 at the peer's close, or TLS_WANT_*
 * / TLS_ERROR. Call again until TLS_WANT_READ: records wait inside. */
ssize_t tls_read(struct tls *t, void *buf, size_t len);
/* Writes: count > 0 or TLS_WANT_* / TLS_ERROR. After TLS_WANT_*, call
 * again with the same pointer and length. */
ssize_t tls_write(struct tls *t, const void *buf, size_t len);
/* Bytes of decrypted input waiting inside the library: poll() cannot
 * see them, so a reader that stops early must come back for them. */
size_t tls_pending(const struct tls *t);
/* Sends close_notify (best effort, non-blocking). */
void tls_close_notify(struct tls *t);
/* The text of the last error on t, for logs; valid until the next call. */
const char *tls_error(const struct tls *t);
/* The peer certificate's key fingerprint, after the handshake. The
 * certificate itself is never trusted: callers must compare this against
 * the key they pinned or were told. 0, or -1 if the peer sent none. */
int tls_peer_key(const struct tls *t, char hex[PROTO_KEY_HEX + 1]);
/* The negotiated suite, with ", TLS session resumed" after a resumed
 * handshake, for logs; valid until the next call. */
const char *tls_describe(const struct tls *t);
/* 1 once anything was sent on t. A server's first send is its answer to
 * a complete ClientHello, so 0 there means the peer has not even said
 * that much (the progress a listener may evict by). */
int tls_answered(const struct tls *t);

/* 1 when the finished handshake resumed a session (a ticket was opened:
 * no ECDHE, no signature), else 0. */
int tls_resumed(const struct tls *t);
/* Serialises t's session after the handshake into buf: the master secret,
 * the peer's certificate and the ticket, so a secret to wipe after use.
 * Returns its length, or -1 (no session, or cap too small). */
ssize_t tls_session_save(const struct tls *t, unsigned char *buf, size_t cap);
/* Before a client's handshake: offers the saved session (its ticket) for
 * resumption. A server that cannot open the ticket makes a full handshake
 * instead. The peer certificate after a resumed handshake is the one
 * saved, so tls_peer_key() checks stay as they are. 0/-1. */
int tls_session_offer(struct tls *t, const unsigned char *buf, size_t len);

#endif
