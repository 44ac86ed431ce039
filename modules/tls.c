/* tls: everything mbedTLS: configurations, non-blocking connections,
 * key generation and key fingerprints. Nothing else includes mbedTLS's ssl. */
#include "tls.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ecp.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/gcm.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/pem.h>
#include <mbedtls/pk.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/sha256.h>
#include <mbedtls/ssl.h>
#include <mbedtls/version.h>
#include <mbedtls/x509.h>
#include <mbedtls/x509_crt.h>
#include <mbedtls/x509_csr.h>
#if defined(MBEDTLS_USE_PSA_CRYPTO) || defined(MBEDTLS_SSL_PROTO_TLS1_3)
#include <psa/crypto.h>
#endif

#include "afile.h"
#include "log.h"
#include "rng.h"

/* mbedTLS 3.x marks struct fields private; 2.28 has no such macro. */
#ifndef MBEDTLS_PRIVATE
#define MBEDTLS_PRIVATE(member) member
#endif

/* A configuration is a chain of generations. The caller's pointer is the
 * first; each reload is linked right behind it, newest first, and is what
 * new connections use. Live connections point into older generations (and
 * mbedTLS configs point into their own cert and key, so none can move); an
 * older one goes at the next reload once no connection uses it. */
struct tls_cfg {
	mbedtls_ssl_config conf;
	mbedtls_x509_crt cert;
	mbedtls_pk_context key;
	enum tls_role role;
	int users;               /* connections using this generation */
	struct tls_cfg *next;    /* the generations loaded since, newest first */
	struct tickets *tickets; /* shared by all generations; NULL = off */
	int owns_tickets;        /* the first generation frees them */
};

struct tls {
	mbedtls_ssl_context ssl;
	struct tls_cfg *gen; /* the generation this connection uses */
	int fd;
	int last_err;
	int answered; /* something was sent: a handshake got our first flight */
	int resumed;  /* the handshake resumed a session (no ECDHE, no signature) */
	/* A client's only: the master secret of the session it offered (a
	 * resumption keeps it), until the handshake ends; then the session in
	 * use, exported once (mbedTLS 3.x lets each session out only once). */
	unsigned char *offered;
	mbedtls_ssl_session *sess;
};

static void forget_offer(struct tls *t)
{
	if (t->offered != NULL) {
		mbedtls_platform_zeroize(t->offered, 48);
		free(t->offered);
		t->offered = NULL;
	}
}

/* Session tickets (RFC 5077) of the login channel, sealed with keys kept
 * in a file so that they outlive a restart. keys[0] is the current key
 * (seals new tickets); keys[1], if set, the previous one (still opens
 * them). A key seals for lifetime seconds and opens for two. */
#define TICKET_KEYS 2
#define TICKET_ID   4
#define TICKET_IV   12
#define TICKET_TAG  16
#define TICKET_HEAD (TICKET_ID + 8 + TICKET_IV) /* id, issued (BE seconds), IV */

struct ticket_key {
	int set;
	unsigned char id[TICKET_ID];
	long long created; /* unix seconds, from the file */
	unsigned char key[32];
	mbedtls_gcm_context gcm;
};

struct tickets {
	char path[4096];
	long long lifetime;
	struct ticket_key keys[TICKET_KEYS];
	unsigned long full, resumed; /* completed handshakes since start */
	/* SHA-256 of the server certificate new connections are shown. It is
	 * authenticated with each ticket (not sent), so a ticket opens only
	 * under the certificate it was issued with: after a key change the
	 * client sees the new key (and its pin check) at once. */
	unsigned char ident[32];
};

/* Set by the parse callback, read back by tls_handshake() around its call
 * into the library: one loop thread, so it is this connection's. */
static int ticket_opened;

static mbedtls_entropy_context entropy;
static mbedtls_ctr_drbg_context drbg;
static int tls_ready;

/* ECDHE + AEAD only; the keys are EC, so ECDSA suites. */
static const int suites[] = {
#if defined(MBEDTLS_SSL_PROTO_TLS1_3)
    /* TLS 1.3 (mbedTLS 3.x): always ECDHE, always AEAD */
    MBEDTLS_TLS1_3_CHACHA20_POLY1305_SHA256,
    MBEDTLS_TLS1_3_AES_128_GCM_SHA256,
    MBEDTLS_TLS1_3_AES_256_GCM_SHA384,
#endif
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    0,
};

#if MBEDTLS_VERSION_NUMBER >= 0x03000000
static const uint16_t groups[] = {MBEDTLS_SSL_IANA_TLS_GROUP_X25519, MBEDTLS_SSL_IANA_TLS_GROUP_SECP256R1,
                                  MBEDTLS_SSL_IANA_TLS_GROUP_NONE};
#else
static const mbedtls_ecp_group_id curves[] = {MBEDTLS_ECP_DP_CURVE25519, MBEDTLS_ECP_DP_SECP256R1,
                                              MBEDTLS_ECP_DP_NONE};
#endif

#if !defined(MBEDTLS_ERROR_C)
/* The errors people meet, in words (config/mbedtls.h leaves out
 * mbedtls_strerror()'s full table: 13 KB of the binary). An mbedTLS code
 * is a high-level part (TLS, key, certificate) plus a low-level one. */
static const struct {
	int code;
	const char *text;
} tls_errors[] = {
    {MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY, "the peer closed the connection"},
    {MBEDTLS_ERR_SSL_CONN_EOF, "the connection was closed"},
    {MBEDTLS_ERR_NET_CONN_RESET, "connection reset by the peer"},
    {MBEDTLS_ERR_NET_RECV_FAILED, "reading the socket failed"},
    {MBEDTLS_ERR_NET_SEND_FAILED, "writing the socket failed"},
    {MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE, "the peer sent a fatal TLS alert"},
    {MBEDTLS_ERR_SSL_INVALID_RECORD, "an invalid TLS record"},
    {MBEDTLS_ERR_SSL_INVALID_MAC, "a TLS record failed its integrity check"},
    {MBEDTLS_ERR_SSL_UNEXPECTED_MESSAGE, "an unexpected TLS message"},
    {MBEDTLS_ERR_SSL_BAD_INPUT_DATA, "bad input data (a record too long?)"},
    {MBEDTLS_ERR_SSL_ALLOC_FAILED, "out of memory"},
    {MBEDTLS_ERR_SSL_PEER_VERIFY_FAILED, "the peer's certificate was refused"},
    {MBEDTLS_ERR_SSL_NO_CLIENT_CERTIFICATE, "the peer sent no certificate"},
#if defined(MBEDTLS_ERR_SSL_NO_CIPHER_CHOSEN)
    {MBEDTLS_ERR_SSL_NO_CIPHER_CHOSEN,
     "no cipher suite in common (TLS 1.2 with ECDHE-ECDSA and AES-GCM or ChaCha20 is needed)"},
#endif
#if defined(MBEDTLS_ERR_SSL_NO_USABLE_CIPHERSUITE)
    {MBEDTLS_ERR_SSL_NO_USABLE_CIPHERSUITE,
     "no cipher suite in common (TLS 1.2 with ECDHE-ECDSA and AES-GCM or ChaCha20 is needed)"},
#endif
#if defined(MBEDTLS_ERR_SSL_BAD_HS_PROTOCOL_VERSION)
    {MBEDTLS_ERR_SSL_BAD_HS_PROTOCOL_VERSION, "the peer's TLS version is not supported (1.2 is needed)"},
#endif
#if defined(MBEDTLS_ERR_SSL_BAD_HS_CLIENT_HELLO)
    {MBEDTLS_ERR_SSL_BAD_HS_CLIENT_HELLO, "a bad ClientHello (not a TLS 1.2 client?)"},
#endif
#if defined(MBEDTLS_ERR_SSL_HANDSHAKE_FAILURE)
    {MBEDTLS_ERR_SSL_HANDSHAKE_FAILURE, "the handshake failed"},
#endif
    {MBEDTLS_ERR_PK_FILE_IO_ERROR, "cannot read the key file"},
    {MBEDTLS_ERR_PK_KEY_INVALID_FORMAT, "not a key in a known format"},
    {MBEDTLS_ERR_PK_PASSWORD_REQUIRED, "the key is encrypted with a password"},
    {MBEDTLS_ERR_PK_UNKNOWN_PK_ALG, "a key of an unknown type"},
    {MBEDTLS_ERR_PK_TYPE_MISMATCH, "the key does not match"},
    {MBEDTLS_ERR_PK_ALLOC_FAILED, "out of memory"},
    {MBEDTLS_ERR_X509_FILE_IO_ERROR, "cannot read the certificate file"},
    {MBEDTLS_ERR_X509_INVALID_FORMAT, "not a certificate in a known format"},
    {MBEDTLS_ERR_X509_UNKNOWN_SIG_ALG, "a certificate signed with an unsupported algorithm"},
    {MBEDTLS_ERR_X509_ALLOC_FAILED, "out of memory"},
    {MBEDTLS_ERR_PEM_NO_HEADER_FOOTER_PRESENT, "no PEM block"},
    {MBEDTLS_ERR_PEM_INVALID_DATA, "a bad PEM block"},
    {MBEDTLS_ERR_ECP_ALLOC_FAILED, "out of memory"},
    {MBEDTLS_ERR_ECP_FEATURE_UNAVAILABLE, "an elliptic curve im does not support (P-256 and X25519 are)"},
    {MBEDTLS_ERR_CTR_DRBG_ENTROPY_SOURCE_FAILED, "no random numbers from the kernel"},
};

static const char *error_text(int code)
{
	for (size_t i = 0; i < sizeof tls_errors / sizeof tls_errors[0]; i++)
		if (tls_errors[i].code == code)
			return tls_errors[i].text;
	return NULL;
}

/* mbedtls_strerror()'s job, with the table above. */
static void tls_strerror(int rc, char *buf, size_t len)
{
	int e = rc < 0 ? -rc : rc, high = e & 0xFF80, low = e & 0x7F;
	const char *h = high ? error_text(-high) : NULL, *l = low ? error_text(-low) : NULL;
	const char *whole = error_text(-e);
	if (whole != NULL)
		snprintf(buf, len, "%s", whole);
	else if (h != NULL && l != NULL)
		snprintf(buf, len, "%s: %s", h, l);
	else if (h != NULL || l != NULL)
		snprintf(buf, len, "%s (mbedTLS error -0x%04X)", h != NULL ? h : l, (unsigned)e);
	else
		snprintf(buf, len, "mbedTLS error -0x%04X", (unsigned)e);
}
#define mbedtls_strerror tls_strerror
#endif

static void set_err(char *err, size_t errlen, const char *what, int rc)
{
	char buf[100];
	mbedtls_strerror(rc, buf, sizeof buf);
	snprintf(err, errlen, "%s: %s", what, buf);
}

int tls_init(void)
{
	if (tls_ready)
		return 0;
#if defined(MBEDTLS_USE_PSA_CRYPTO) || defined(MBEDTLS_SSL_PROTO_TLS1_3)
	/* mbedTLS 3.x routes TLS 1.3 (and PSA builds) through PSA. */
	if (psa_crypto_init() != PSA_SUCCESS)
		return -1;
#endif
	if (rng_entropy_init(&entropy) < 0)
		return -1;
	mbedtls_ctr_drbg_init(&drbg);
	static const char pers[] = "im tls";
	if (mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &entropy, (const unsigned char *)pers,
	                          sizeof pers - 1) != 0)
		return -1;
	tls_ready = 1;
	return 0;
}

static int parse_key(mbedtls_pk_context *pk, const char *path)
{
#if MBEDTLS_VERSION_NUMBER >= 0x03000000
	return mbedtls_pk_parse_keyfile(pk, path, NULL, mbedtls_ctr_drbg_random, &drbg);
#else
	return mbedtls_pk_parse_keyfile(pk, path, NULL);
#endif
}

/* Writes data to a new file of the given mode; refuses to replace one. */
static int write_new_file(const char *path, const unsigned char *data, size_t len, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd < 0)
		return -1;
	size_t off = 0;
	while (off < len) {
		ssize_t n = write(fd, data + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			goto fail;
		off += (size_t)n;
	}
	if (fsync(fd) < 0)
		goto fail;
	return close(fd);
fail:
	close(fd);
	unlink(path);
	return -1;
}

int tls_keygen(const char *key_file, const char *cert_file, const char *cn, char *err, size_t errlen)
{
	int ret = -1, rc;
	mbedtls_pk_context pk;
	mbedtls_x509write_cert crt;
	mbedtls_mpi serial;
	unsigned char *buf = malloc(4096);
	char subject[128], from[16];
	/* Validity is not what trust rests on (keys are pinned), so the
	 * certificate simply lasts. */
	const char *to = "20991231235959";

	mbedtls_pk_init(&pk);
	mbedtls_x509write_crt_init(&crt);
	mbedtls_mpi_init(&serial);
	if (buf == NULL || tls_init() < 0) {
		snprintf(err, errlen, "out of memory or no entropy");
		goto out;
	}
	if ((rc = mbedtls_pk_setup(&pk, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY))) != 0 ||
	    (rc = mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(pk), mbedtls_ctr_drbg_random,
	                              &drbg)) != 0) {
		set_err(err, errlen, "generating key", rc);
		goto out;
	}
	if ((rc = mbedtls_pk_write_key_pem(&pk, buf, 4096)) != 0) {
		set_err(err, errlen, "encoding key", rc);
		goto out;
	}
	if (write_new_file(key_file, buf, strlen((char *)buf), 0600) < 0) {
		snprintf(err, errlen, "%s: %s", key_file, strerror(errno));
		goto out;
	}

	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(from, sizeof from, "%Y%m%d%H%M%S", &tm);
	snprintf(subject, sizeof subject, "CN=%s", cn);
	unsigned char rnd[16];
	mbedtls_ctr_drbg_random(&drbg, rnd, sizeof rnd);
	rnd[0] &= 0x7f;
	mbedtls_x509write_crt_set_subject_key(&crt, &pk);
	mbedtls_x509write_crt_set_issuer_key(&crt, &pk);
	mbedtls_x509write_crt_set_md_alg(&crt, MBEDTLS_MD_SHA256);
	mbedtls_x509write_crt_set_version(&crt, MBEDTLS_X509_CRT_VERSION_3);
	if ((rc = mbedtls_mpi_read_binary(&serial, rnd, sizeof rnd)) != 0 ||
	    (rc = mbedtls_x509write_crt_set_serial(&crt, &serial)) != 0 ||
	    (rc = mbedtls_x509write_crt_set_subject_name(&crt, subject)) != 0 ||
	    (rc = mbedtls_x509write_crt_set_issuer_name(&crt, subject)) != 0 ||
	    (rc = mbedtls_x509write_crt_set_validity(&crt, from, to)) != 0 ||
	    (rc = mbedtls_x509write_crt_set_basic_constraints(&crt, 0, -1)) != 0 ||
	    (rc = mbedtls_x509write_crt_pem(&crt, buf, 4096, mbedtls_ctr_drbg_random, &drbg)) != 0) {
		set_err(err, errlen, "making certificate", rc);
		unlink(key_file);
		goto out;
	}
	if (write_new_file(cert_file, buf, strlen((char *)buf), 0644) < 0) {
		snprintf(err, errlen, "%s: %s", cert_file, strerror(errno));
		unlink(key_file);
		goto out;
	}
	ret = 0;
out:
	if (buf)
		mbedtls_platform_zeroize(buf, 4096);
	free(buf);
	mbedtls_mpi_free(&serial);
	mbedtls_x509write_crt_free(&crt);
	mbedtls_pk_free(&pk);
	return ret;
}

/* DESIGN's <key>: hex SHA-256 of the DER SubjectPublicKeyInfo. */
static int pk_fingerprint(mbedtls_pk_context *pk, char hex[PROTO_KEY_HEX + 1])
{
	unsigned char der[512], sum[32];
	int n = mbedtls_pk_write_pubkey_der(pk, der, sizeof der);
	if (n <= 0)
		return -1;
#if MBEDTLS_VERSION_NUMBER >= 0x03000000
	mbedtls_sha256(der + sizeof der - n, (size_t)n, sum, 0);
#else
	mbedtls_sha256_ret(der + sizeof der - n, (size_t)n, sum, 0);
#endif
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", sum[i]);
	return 0;
}

int tls_key_fingerprint(const char *key_file, char hex[PROTO_KEY_HEX + 1], char *err, size_t errlen)
{
	mbedtls_pk_context pk;
	mbedtls_pk_init(&pk);
	int rc = tls_init() < 0 ? -1 : parse_key(&pk, key_file);
	if (rc == 0)
		rc = pk_fingerprint(&pk, hex);
	else
		set_err(err, errlen, key_file, rc);
	mbedtls_pk_free(&pk);
	return rc == 0 ? 0 : -1;
}

/* ---- session tickets ---- */

static void key_clear(struct ticket_key *k)
{
	if (k->set)
		mbedtls_gcm_free(&k->gcm);
	mbedtls_platform_zeroize(k, sizeof *k);
}

static int key_arm(struct ticket_key *k)
{
	mbedtls_gcm_init(&k->gcm);
	k->set = 1;
	return mbedtls_gcm_setkey(&k->gcm, MBEDTLS_CIPHER_ID_AES, k->key, 256) == 0 ? 0 : -1;
}

static void put_hex(char *out, const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", p[i]);
}

static int hex_digit(char c)
{
	const char *d = strchr("0123456789abcdef", c);
	return c != '\0' && d != NULL ? (int)(d - "0123456789abcdef") : -1;
}

static int get_hex(const char *s, unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int hi = hex_digit(s[2 * i]), lo = hi < 0 ? -1 : hex_digit(s[2 * i + 1]);
		if (lo < 0)
			return -1;
		p[i] = (unsigned char)(hi << 4 | lo);
	}
	return s[2 * n] == '\0' ? 0 : -1;
}

/* Writes the keys to tk->path (0600, atomically). 0/-1 with errno. */
static int tickets_save(const struct tickets *tk)
{
	char buf[512];
	size_t len = (size_t)snprintf(buf, sizeof buf,
	                              "# im: TLS session ticket keys (secret). id created key; the first "
	                              "seals new tickets\n");
	for (int i = 0; i < TICKET_KEYS; i++) {
		const struct ticket_key *k = &tk->keys[i];
		if (!k->set)
			continue;
		char id[2 * TICKET_ID + 1], key[65];
		put_hex(id, k->id, TICKET_ID);
		put_hex(key, k->key, 32);
		len += (size_t)snprintf(buf + len, sizeof buf - len, "%s %lld %s\n", id, k->created, key);
		mbedtls_platform_zeroize(key, sizeof key);
	}
	int rc = afile_write(tk->path, buf, len, 0600);
	int e = errno;
	mbedtls_platform_zeroize(buf, sizeof buf);
	errno = e;
	return rc;
}

/* Reads the keys of tk->path into tk (cleared first). 0, or -1 with why
 * set (a missing file, a bad line, a file others may read). */
static int tickets_read(struct tickets *tk, char *why, size_t whylen)
{
	for (int i = 0; i < TICKET_KEYS; i++)
		key_clear(&tk->keys[i]);
	int fd = open(tk->path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		snprintf(why, whylen, "%s", strerror(errno));
		return -1;
	}
	char buf[1024];
	struct stat st;
	ssize_t n = -1;
	if (fstat(fd, &st) == 0 && (st.st_mode & 077) == 0)
		n = read(fd, buf, sizeof buf - 1);
	else
		errno = EPERM;
	int e = errno;
	close(fd);
	if (n < 0) {
		snprintf(why, whylen, "%s", e == EPERM ? "others may read it (not mode 0600)" : strerror(e));
		return -1;
	}
	buf[n] = '\0';
	int nk = 0, ok = 1;
	for (char *save = NULL, *line = strtok_r(buf, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		if (line[0] == '#')
			continue;
		/* "id created key", separated by blanks */
		char *f = NULL, *id = strtok_r(line, " \t", &f), *created = strtok_r(NULL, " \t", &f);
		char *key = strtok_r(NULL, " \t", &f), *end = NULL;
		struct ticket_key *k = &tk->keys[nk];
		long long when = created != NULL ? strtoll(created, &end, 10) : 0;
		if (nk == TICKET_KEYS || key == NULL || end == created || *end != '\0' ||
		    get_hex(id, k->id, TICKET_ID) < 0 || get_hex(key, k->key, 32) < 0 || key_arm(k) < 0) {
			ok = 0;
			break;
		}
		k->created = when;
		nk++;
	}
	mbedtls_platform_zeroize(buf, sizeof buf);
	if (!ok || nk == 0) {
		for (int i = 0; i < TICKET_KEYS; i++)
			key_clear(&tk->keys[i]);
		snprintf(why, whylen, "%s",
		         nk == 0 && ok ? "no key in it" : "a line is not 'id created key'");
		return -1;
	}
	return 0;
}

/* Makes a new current key when there is none or it has sealed for its
 * lifetime, the old current becoming the previous; drops a previous key
 * that opened for its lifetime. Saves the file when anything changed. */
static void tickets_rotate(struct tickets *tk, long long now)
{
	struct ticket_key *cur = &tk->keys[0], *prev = &tk->keys[1];
	int changed = 0;
	/* A key dated in the future (a clock set back) would never age. */
	if (prev->set && (now - prev->created >= 2 * tk->lifetime || prev->created > now + 60)) {
		key_clear(prev);
		changed = 1;
	}
	if (!cur->set || now - cur->created >= tk->lifetime || cur->created > now + 60) {
		key_clear(prev);
		if (cur->set && now - cur->created < 2 * tk->lifetime && cur->created <= now + 60) {
			memcpy(prev->id, cur->id, TICKET_ID);
			memcpy(prev->key, cur->key, sizeof prev->key);
			prev->created = cur->created;
			if (key_arm(prev) < 0)
				key_clear(prev);
		}
		key_clear(cur);
		mbedtls_ctr_drbg_random(&drbg, cur->id, sizeof cur->id);
		mbedtls_ctr_drbg_random(&drbg, cur->key, sizeof cur->key);
		cur->created = now;
		if (key_arm(cur) < 0) {
			key_clear(cur);
			log_err("TLS tickets: cannot set up a key; tickets are off until the next rotation");
			return;
		}
		changed = 2;
	}
	if (changed && tickets_save(tk) < 0)
		log_warn("TLS tickets: cannot write %s: %s; the key lives in memory only, so tickets will "
		         "not survive a restart",
		         tk->path, strerror(errno));
	/* After the save: a test that waits for this line finds the file. */
	if (changed == 2)
		log_info("TLS tickets: new ticket key%s",
		         prev->set ? ", the previous one still opens tickets" : "");
}

/* (Re)loads the key file; a missing, unreadable or bad one is replaced
 * by a fresh key, which only costs clients one full handshake. */
static void tickets_load(struct tickets *tk)
{
	char why[128];
	if (tickets_read(tk, why, sizeof why) < 0)
		log_info("TLS tickets: %s: %s; making a new key", tk->path, why);
	tickets_rotate(tk, (long long)time(NULL));
}

static void tickets_free(struct tickets *tk)
{
	if (tk == NULL)
		return;
	for (int i = 0; i < TICKET_KEYS; i++)
		key_clear(&tk->keys[i]);
	mbedtls_platform_zeroize(tk, sizeof *tk);
	free(tk);
}

static void put_be64(unsigned char *p, unsigned long long v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (unsigned char)v;
}

static unsigned long long get_be64(const unsigned char *p)
{
	unsigned long long v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

/* A ticket: key id, issue time and IV in the clear (and authenticated),
 * then the saved session sealed with AES-256-GCM, then the tag. */
static int ticket_write(void *arg, const mbedtls_ssl_session *session, unsigned char *start,
                        const unsigned char *end, size_t *tlen, uint32_t *lifetime)
{
	struct tickets *tk = arg;
	long long now = (long long)time(NULL);
	tickets_rotate(tk, now);
	struct ticket_key *k = &tk->keys[0];
	size_t room = (size_t)(end - start), plen;
	if (!k->set || room < TICKET_HEAD + TICKET_TAG)
		return MBEDTLS_ERR_SSL_BUFFER_TOO_SMALL;
	unsigned char *body = start + TICKET_HEAD;
	int rc = mbedtls_ssl_session_save(session, body, room - TICKET_HEAD - TICKET_TAG, &plen);
	if (rc != 0)
		return rc;
	memcpy(start, k->id, TICKET_ID);
	put_be64(start + TICKET_ID, (unsigned long long)now);
	mbedtls_ctr_drbg_random(&drbg, start + TICKET_ID + 8, TICKET_IV);
	unsigned char aad[TICKET_ID + 8 + sizeof tk->ident];
	memcpy(aad, start, TICKET_ID + 8);
	memcpy(aad + TICKET_ID + 8, tk->ident, sizeof tk->ident);
	rc = mbedtls_gcm_crypt_and_tag(&k->gcm, MBEDTLS_GCM_ENCRYPT, plen, start + TICKET_ID + 8, TICKET_IV,
	                               aad, sizeof aad, body, body, TICKET_TAG, body + plen);
	if (rc != 0) {
		mbedtls_platform_zeroize(body, plen);
		return rc;
	}
	*tlen = TICKET_HEAD + plen + TICKET_TAG;
	*lifetime = (uint32_t)tk->lifetime;
	return 0;
}

static int ticket_parse(void *arg, mbedtls_ssl_session *session, unsigned char *buf, size_t len)
{
	struct tickets *tk = arg;
	long long now = (long long)time(NULL);
	if (len < TICKET_HEAD + TICKET_TAG)
		return MBEDTLS_ERR_SSL_BAD_INPUT_DATA;
	struct ticket_key *k = NULL;
	for (int i = 0; i < TICKET_KEYS; i++)
		if (tk->keys[i].set && memcmp(tk->keys[i].id, buf, TICKET_ID) == 0)
			k = &tk->keys[i];
	/* An unknown key: rotated away, another server's, or made up. */
	if (k == NULL || now - k->created >= 2 * tk->lifetime)
		return MBEDTLS_ERR_SSL_INVALID_MAC;
	size_t plen = len - TICKET_HEAD - TICKET_TAG;
	unsigned char *body = buf + TICKET_HEAD;
	unsigned char aad[TICKET_ID + 8 + sizeof tk->ident];
	memcpy(aad, buf, TICKET_ID + 8);
	memcpy(aad + TICKET_ID + 8, tk->ident, sizeof tk->ident);
	int rc = mbedtls_gcm_auth_decrypt(&k->gcm, plen, buf + TICKET_ID + 8, TICKET_IV, aad, sizeof aad,
	                                  body + plen, TICKET_TAG, body, body);
	if (rc != 0)
		return MBEDTLS_ERR_SSL_INVALID_MAC;
	/* Only now is the issue time known to be ours. */
	long long issued = (long long)get_be64(buf + TICKET_ID);
	if (issued > now + 60 || now - issued > tk->lifetime) {
		mbedtls_platform_zeroize(body, plen);
		return MBEDTLS_ERR_SSL_SESSION_TICKET_EXPIRED;
	}
	rc = mbedtls_ssl_session_load(session, body, plen);
	mbedtls_platform_zeroize(body, plen);
	if (rc != 0)
		return rc;
	ticket_opened = 1;
	return 0;
}

/* A library built without tickets makes full handshakes, nothing worse. */
static void conf_tickets(mbedtls_ssl_config *conf, struct tickets *tk)
{
#if defined(MBEDTLS_SSL_SESSION_TICKETS) && defined(MBEDTLS_SSL_SRV_C)
	mbedtls_ssl_conf_session_tickets_cb(conf, ticket_write, ticket_parse, tk);
#else
	(void)conf;
	(void)tk;
	(void)ticket_write;
	(void)ticket_parse;
#endif
}

static void tickets_ident(struct tickets *tk, const struct tls_cfg *gen)
{
#if MBEDTLS_VERSION_NUMBER >= 0x03000000
	mbedtls_sha256(gen->cert.raw.p, gen->cert.raw.len, tk->ident, 0);
#else
	mbedtls_sha256_ret(gen->cert.raw.p, gen->cert.raw.len, tk->ident, 0);
#endif
}

int tls_tickets(struct tls_cfg *cfg, const char *path, long lifetime, char *err, size_t errlen)
{
	if (cfg->role != TLS_SERVER_LOGIN || cfg->tickets != NULL || lifetime <= 0) {
		snprintf(err, errlen, "session tickets: not a login server configuration");
		return -1;
	}
	struct tickets *tk = calloc(1, sizeof *tk);
	if (tk == NULL || (size_t)snprintf(tk->path, sizeof tk->path, "%s", path) >= sizeof tk->path) {
		snprintf(err, errlen, "session tickets: %s", tk ? "path too long" : "out of memory");
		free(tk);
		return -1;
	}
	tk->lifetime = lifetime;
	tickets_ident(tk, cfg->next ? cfg->next : cfg); /* the newest generation */
	tickets_load(tk);
	cfg->owns_tickets = 1;
	for (struct tls_cfg *g = cfg; g; g = g->next) {
		g->tickets = tk;
		conf_tickets(&g->conf, tk);
	}
	return 0;
}

/* Certificates are self-signed by design; trust comes from comparing key
 * fingerprints (tls_peer_key), so chain errors are cleared here. */
static int accept_any_chain(void *arg, mbedtls_x509_crt *crt, int depth, uint32_t *flags)
{
	(void)arg;
	(void)crt;
	(void)depth;
	*flags = 0;
	return 0;
}

static int load_identity(struct tls_cfg *cfg, const char *key_file, const char *cert_file, char *err,
                         size_t errlen)
{
	int rc;
	if ((rc = mbedtls_x509_crt_parse_file(&cfg->cert, cert_file)) != 0) {
		set_err(err, errlen, cert_file, rc);
		return -1;
	}
	if ((rc = parse_key(&cfg->key, key_file)) != 0) {
		set_err(err, errlen, key_file, rc);
		return -1;
	}
	if ((rc = mbedtls_ssl_conf_own_cert(&cfg->conf, &cfg->cert, &cfg->key)) != 0) {
		set_err(err, errlen, "key and certificate", rc);
		return -1;
	}
	return 0;
}

struct tls_cfg *tls_cfg_new(enum tls_role role, const char *key_file, const char *cert_file, char *err,
                            size_t errlen)
{
	struct tls_cfg *cfg = calloc(1, sizeof *cfg);
	if (cfg == NULL || tls_init() < 0) {
		snprintf(err, errlen, "out of memory or no entropy");
		free(cfg);
		return NULL;
	}
	mbedtls_ssl_config_init(&cfg->conf);
	mbedtls_x509_crt_init(&cfg->cert);
	mbedtls_pk_init(&cfg->key);
	cfg->role = role;
	int endpoint = role == TLS_CLIENT ? MBEDTLS_SSL_IS_CLIENT : MBEDTLS_SSL_IS_SERVER;
	int rc = mbedtls_ssl_config_defaults(&cfg->conf, endpoint, MBEDTLS_SSL_TRANSPORT_STREAM,
	                                     MBEDTLS_SSL_PRESET_DEFAULT);
	if (rc != 0) {
		set_err(err, errlen, "TLS defaults", rc);
		goto fail;
	}
	mbedtls_ssl_conf_rng(&cfg->conf, mbedtls_ctr_drbg_random, &drbg);
#if MBEDTLS_VERSION_NUMBER >= 0x03020000
	mbedtls_ssl_conf_min_tls_version(&cfg->conf, MBEDTLS_SSL_VERSION_TLS1_2);
#else
	mbedtls_ssl_conf_min_version(&cfg->conf, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);
#endif
	mbedtls_ssl_conf_ciphersuites(&cfg->conf, suites);
#if MBEDTLS_VERSION_NUMBER >= 0x03000000
	mbedtls_ssl_conf_groups(&cfg->conf, groups);
#else
	mbedtls_ssl_conf_curves(&cfg->conf, curves);
#endif
#if defined(MBEDTLS_SSL_RENEGOTIATION)
	mbedtls_ssl_conf_renegotiation(&cfg->conf, MBEDTLS_SSL_RENEGOTIATION_DISABLED);
#endif
#if defined(MBEDTLS_SSL_MAX_FRAGMENT_LENGTH)
	/* im's lines are short: a client asks for 1 KiB records (RFC 6066),
	 * and a library built with MBEDTLS_SSL_VARIABLE_BUFFER_LENGTH (see
	 * config/mbedtls.h) then shrinks both ends' record buffers to fit,
	 * for as long as the connection lives. */
	if (role == TLS_CLIENT)
		mbedtls_ssl_conf_max_frag_len(&cfg->conf, MBEDTLS_SSL_MAX_FRAG_LEN_1024);
#endif
	mbedtls_ssl_conf_verify(&cfg->conf, accept_any_chain, NULL);
	/* OPTIONAL still asks for (and parses) the peer's certificate, but
	 * REQUIRED would demand a CA chain, which self-signed keys have none
	 * of. Trust comes from comparing tls_peer_key(), which fails when no
	 * certificate was sent. */
	mbedtls_ssl_conf_authmode(&cfg->conf, role == TLS_SERVER_LOGIN ? MBEDTLS_SSL_VERIFY_NONE
	                                                               : MBEDTLS_SSL_VERIFY_OPTIONAL);
	/* A client takes tickets and offers them back when its owner hands
	 * it a saved session (tls_session_offer); servers issue them only
	 * with tls_tickets(). */
#if defined(MBEDTLS_SSL_SESSION_TICKETS) && defined(MBEDTLS_SSL_CLI_C)
	if (role == TLS_CLIENT)
		mbedtls_ssl_conf_session_tickets(&cfg->conf, MBEDTLS_SSL_SESSION_TICKETS_ENABLED);
#endif
	if (key_file != NULL && load_identity(cfg, key_file, cert_file, err, errlen) < 0)
		goto fail;
	return cfg;
fail:
	tls_cfg_free(cfg);
	return NULL;
}

void tls_cfg_free(struct tls_cfg *cfg)
{
	while (cfg != NULL) {
		struct tls_cfg *next = cfg->next;
		if (cfg->owns_tickets)
			tickets_free(cfg->tickets);
		mbedtls_ssl_config_free(&cfg->conf);
		mbedtls_x509_crt_free(&cfg->cert);
		mbedtls_pk_free(&cfg->key);
		free(cfg);
		cfg = next;
	}
}

int tls_cfg_reload(struct tls_cfg *cfg, const char *key_file, const char *cert_file, char *err, size_t errlen)
{
	struct tickets *tk = cfg->tickets;
	if (tk != NULL)
		tickets_load(tk);
	/* A bad file fails here and leaves the current identity in place. */
	struct tls_cfg *fresh = tls_cfg_new(cfg->role, key_file, cert_file, err, errlen);
	if (fresh != NULL && tk != NULL) {
		fresh->tickets = tk;
		tickets_ident(tk, fresh);
		conf_tickets(&fresh->conf, tk);
	}
	/* Logged last, so a test that waits for it finds the reload done. */
	if (tk != NULL)
		log_info("TLS tickets: %lu of %lu handshakes since start resumed a session; re-read %s",
		         tk->resumed, tk->resumed + tk->full, tk->path);
	if (fresh == NULL)
		return -1;
	fresh->next = cfg->next;
	cfg->next = fresh;
	/* Older reloads that no connection uses any more can go (the first
	 * generation is the caller's handle and stays). */
	for (struct tls_cfg **p = &fresh->next; *p;) {
		struct tls_cfg *g = *p;
		if (g->users > 0) {
			p = &g->next;
			continue;
		}
		*p = g->next;
		g->next = NULL;
		tls_cfg_free(g);
	}
	return 0;
}

/* The generation new connections use: the newest loaded. */
static struct tls_cfg *current(struct tls_cfg *cfg)
{
	return cfg->next ? cfg->next : cfg;
}

static int bio_send(void *ctx, const unsigned char *buf, size_t len)
{
	struct tls *t = ctx;
	ssize_t n = send(t->fd, buf, len, MSG_NOSIGNAL);
	if (n > 0)
		t->answered = 1;
	if (n >= 0)
		return (int)n;
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
		return MBEDTLS_ERR_SSL_WANT_WRITE;
	return MBEDTLS_ERR_NET_SEND_FAILED;
}

static int bio_recv(void *ctx, unsigned char *buf, size_t len)
{
	struct tls *t = ctx;
	ssize_t n = recv(t->fd, buf, len, 0);
	if (n >= 0)
		return (int)n;
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
		return MBEDTLS_ERR_SSL_WANT_READ;
	return MBEDTLS_ERR_NET_RECV_FAILED;
}

struct tls *tls_new(struct tls_cfg *cfg, int fd)
{
	struct tls *t = calloc(1, sizeof *t);
	if (t == NULL)
		return NULL;
	t->fd = fd;
	t->gen = current(cfg);
	mbedtls_ssl_init(&t->ssl);
	if (mbedtls_ssl_setup(&t->ssl, &t->gen->conf) != 0) {
		mbedtls_ssl_free(&t->ssl);
		free(t);
		return NULL;
	}
	t->gen->users++;
	mbedtls_ssl_set_bio(&t->ssl, t, bio_send, bio_recv, NULL);
	return t;
}

void tls_free(struct tls *t)
{
	if (t == NULL)
		return;
	mbedtls_ssl_free(&t->ssl);
	forget_offer(t);
	if (t->sess != NULL) {
		mbedtls_ssl_session_free(t->sess);
		free(t->sess);
	}
	t->gen->users--;
	mbedtls_platform_zeroize(t, sizeof *t);
	free(t);
}

static int map(struct tls *t, int rc)
{
	if (rc == MBEDTLS_ERR_SSL_WANT_READ)
		return TLS_WANT_READ;
	if (rc == MBEDTLS_ERR_SSL_WANT_WRITE)
		return TLS_WANT_WRITE;
	t->last_err = rc;
	return TLS_ERROR;
}

int tls_handshake(struct tls *t)
{
	ticket_opened = 0;
	int rc = mbedtls_ssl_handshake(&t->ssl);
	if (ticket_opened)
		t->resumed = 1;
	ticket_opened = 0;
	if (rc != 0)
		return map(t, rc);
	if (t->gen->role == TLS_CLIENT && t->sess == NULL && (t->sess = malloc(sizeof *t->sess)) != NULL) {
		mbedtls_ssl_session_init(t->sess);
		if (mbedtls_ssl_get_session(&t->ssl, t->sess) != 0) {
			mbedtls_ssl_session_free(t->sess);
			free(t->sess);
			t->sess = NULL;
		}
	}
	if (t->offered != NULL) {
		/* A client knows it resumed when the master secret it offered
		 * is the one in use: a full handshake makes a new one. */
		t->resumed = t->sess != NULL && memcmp(t->sess->MBEDTLS_PRIVATE(master), t->offered, 48) == 0;
		forget_offer(t);
	}
	struct tickets *tk = t->gen->tickets;
	if (tk != NULL) {
		if (t->resumed)
			tk->resumed++;
		else
			tk->full++;
	}
	return 0;
}

ssize_t tls_read(struct tls *t, void *buf, size_t len)
{
	int rc = mbedtls_ssl_read(&t->ssl, buf, len);
#ifdef MBEDTLS_ERR_SSL_RECEIVED_NEW_SESSION_TICKET
	/* TLS 1.3 (mbedTLS 3.x) sends tickets after the handshake. */
	while (rc == MBEDTLS_ERR_SSL_RECEIVED_NEW_SESSION_TICKET)
		rc = mbedtls_ssl_read(&t->ssl, buf, len);
#endif
	if (rc > 0)
		return rc;
	if (rc == 0 || rc == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY || rc == MBEDTLS_ERR_NET_CONN_RESET
#ifdef MBEDTLS_ERR_SSL_CONN_EOF
	    || rc == MBEDTLS_ERR_SSL_CONN_EOF
#endif
	)
		return 0;
	return map(t, rc);
}

ssize_t tls_write(struct tls *t, const void *buf, size_t len)
{
	int rc = mbedtls_ssl_write(&t->ssl, buf, len);
	return rc >= 0 ? rc : map(t, rc);
}

size_t tls_pending(const struct tls *t)
{
	return mbedtls_ssl_get_bytes_avail(&t->ssl);
}

void tls_close_notify(struct tls *t)
{
	(void)mbedtls_ssl_close_notify(&t->ssl);
}

const char *tls_error(const struct tls *t)
{
	/* One loop thread: a static buffer saves 128 bytes per connection. */
	static char buf[128];
	mbedtls_strerror(t->last_err, buf, sizeof buf);
	return buf;
}

int tls_peer_key(const struct tls *t, char hex[PROTO_KEY_HEX + 1])
{
	const mbedtls_x509_crt *crt = mbedtls_ssl_get_peer_cert(&t->ssl);
	if (crt == NULL)
		return -1;
	return pk_fingerprint((mbedtls_pk_context *)(uintptr_t)&crt->pk, hex);
}

const char *tls_describe(const struct tls *t)
{
	static char buf[128];
	snprintf(buf, sizeof buf, "%s%s", mbedtls_ssl_get_ciphersuite(&t->ssl),
	         t->resumed ? ", TLS session resumed" : "");
	return buf;
}

int tls_resumed(const struct tls *t)
{
	return t->resumed;
}

ssize_t tls_session_save(const struct tls *t, unsigned char *buf, size_t cap)
{
	size_t len;
	if (t->sess == NULL || mbedtls_ssl_session_save(t->sess, buf, cap, &len) != 0)
		return -1;
	return (ssize_t)len;
}

int tls_session_offer(struct tls *t, const unsigned char *buf, size_t len)
{
	mbedtls_ssl_session s;
	mbedtls_ssl_session_init(&s);
	int rc = mbedtls_ssl_session_load(&s, buf, len);
	if (rc == 0)
		rc = mbedtls_ssl_set_session(&t->ssl, &s);
	forget_offer(t);
	if (rc == 0 && (t->offered = malloc(48)) != NULL)
		memcpy(t->offered, s.MBEDTLS_PRIVATE(master), 48);
	mbedtls_ssl_session_free(&s);
	return rc == 0 ? 0 : -1;
}

int tls_answered(const struct tls *t)
{
	return t->answered;
}
