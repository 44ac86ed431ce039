/* tls: everything mbedTLS: configurations, non-blocking connections,
 * key generation and key fingerprints. Nothing else includes mbedTLS's ssl. */
#include "tls.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ecp.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/pk.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/sha256.h>
#include <mbedtls/ssl.h>
#include <mbedtls/version.h>
#include <mbedtls/x509_crt.h>
#include <mbedtls/x509_csr.h>
#if defined(MBEDTLS_USE_PSA_CRYPTO) || defined(MBEDTLS_SSL_PROTO_TLS1_3)
#include <psa/crypto.h>
#endif

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
	int users; /* connections using this generation */
	struct tls_cfg *next; /* the generations loaded since, newest first */
};

struct tls {
	mbedtls_ssl_context ssl;
	struct tls_cfg *gen; /* the generation this connection uses */
	int fd;
	int last_err;
	int answered; /* something was sent: a handshake got our first flight */
};

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
	mbedtls_entropy_init(&entropy);
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
	mbedtls_ssl_conf_renegotiation(&cfg->conf, MBEDTLS_SSL_RENEGOTIATION_DISABLED);
	mbedtls_ssl_conf_verify(&cfg->conf, accept_any_chain, NULL);
	/* OPTIONAL still asks for (and parses) the peer's certificate, but
	 * REQUIRED would demand a CA chain, which self-signed keys have none
	 * of. Trust comes from comparing tls_peer_key(), which fails when no
	 * certificate was sent. */
	mbedtls_ssl_conf_authmode(&cfg->conf, role == TLS_SERVER_LOGIN ? MBEDTLS_SSL_VERIFY_NONE
	                                                               : MBEDTLS_SSL_VERIFY_OPTIONAL);
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
		mbedtls_ssl_config_free(&cfg->conf);
		mbedtls_x509_crt_free(&cfg->cert);
		mbedtls_pk_free(&cfg->key);
		free(cfg);
		cfg = next;
	}
}

int tls_cfg_reload(struct tls_cfg *cfg, const char *key_file, const char *cert_file, char *err, size_t errlen)
{
	/* A bad file fails here and leaves the current identity in place. */
	struct tls_cfg *fresh = tls_cfg_new(cfg->role, key_file, cert_file, err, errlen);
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
	t->gen->users--;
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
	int rc = mbedtls_ssl_handshake(&t->ssl);
	return rc == 0 ? 0 : map(t, rc);
}

ssize_t tls_read(struct tls *t, void *buf, size_t len)
{
	int rc = mbedtls_ssl_read(&t->ssl, buf, len);
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
	return pk_fingerprint((mbedtls_pk_context *)(uintptr_t)&crt->MBEDTLS_PRIVATE(pk), hex);
}

const char *tls_describe(const struct tls *t)
{
	return mbedtls_ssl_get_ciphersuite(&t->ssl);
}

int tls_answered(const struct tls *t)
{
	return t->answered;
}
