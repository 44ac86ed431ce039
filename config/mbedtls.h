/*
 * config/mbedtls.h: the mbedTLS configuration of im's own mbedTLS build
 * (MBEDTLS_CONFIG_FILE). It holds only what im uses, so the library is
 * small and so is every connection:
 *
 *   TLS 1.2 client and server, ECDHE-ECDSA with AES-GCM and
 *   ChaCha20-Poly1305, X25519 and P-256, SHA-256 (and SHA-384 for the
 *   AES-256-GCM suite), PBKDF2-HMAC-SHA256 for the users file, X.509
 *   parse and write of self-signed certificates, PEM keys, CTR-DRBG over
 *   the kernel's getrandom(), session tickets (im's own ticket keys).
 *
 * Written for mbedTLS 2.28 (the version Debian ships); 2.28 has no
 * usable TLS 1.3 server, so im speaks TLS 1.2 only with this build.
 *
 * Record buffers: a TLS record can hold 16 KiB, and a peer that does not
 * ask for less may send (and must be able to receive) that much, so both
 * buffers keep the standard size while a handshake runs. im's clients
 * ask for 1 KiB records (the max_fragment_length extension, RFC 6066; a
 * longest line of 1024 bytes then takes two records); once that is
 * agreed, MBEDTLS_SSL_VARIABLE_BUFFER_LENGTH shrinks both buffers of the
 * connection to fit, about 2 KiB in all instead of 33. A client that does
 * not ask (openssl s_client) keeps 16 KiB buffers. (The output side must
 * stay 16 KiB too: 2.28 sizes a connection without the extension to the
 * smaller of the two, so a smaller output buffer would also cut the input
 * one, and a 16 KiB record from such a client would be refused.)
 */
#ifndef IM_MBEDTLS_CONFIG_H
#define IM_MBEDTLS_CONFIG_H

/* System */
#define MBEDTLS_HAVE_ASM
#define MBEDTLS_HAVE_TIME
#define MBEDTLS_HAVE_TIME_DATE
#define MBEDTLS_FS_IO

/* Ciphers and modes */
#define MBEDTLS_AES_C
#define MBEDTLS_AESNI_C /* compiled only on x86-64; nothing elsewhere */
#define MBEDTLS_GCM_C
#define MBEDTLS_CHACHA20_C
#define MBEDTLS_POLY1305_C
#define MBEDTLS_CHACHAPOLY_C
#define MBEDTLS_CIPHER_C

/* Hashes */
#define MBEDTLS_MD_C
#define MBEDTLS_SHA256_C
#define MBEDTLS_SHA512_C /* SHA-384 for TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384 */
#define MBEDTLS_PKCS5_C  /* PBKDF2 */

/* Random numbers: modules/tls.c adds getrandom() as the source (2.28's
 * own would use it with glibc only and read /dev/urandom with musl, which
 * a chroot or a board's early boot may lack) */
#define MBEDTLS_ENTROPY_C
#define MBEDTLS_CTR_DRBG_C
#define MBEDTLS_NO_PLATFORM_ENTROPY

/* Public keys */
#define MBEDTLS_BIGNUM_C
#define MBEDTLS_ECP_C
#define MBEDTLS_ECP_DP_SECP256R1_ENABLED
#define MBEDTLS_ECP_DP_CURVE25519_ENABLED
#define MBEDTLS_ECP_NIST_OPTIM
#define MBEDTLS_ECDH_C
#define MBEDTLS_ECDSA_C
#define MBEDTLS_PK_C
#define MBEDTLS_PK_PARSE_C
#define MBEDTLS_PK_WRITE_C
#define MBEDTLS_ASN1_PARSE_C
#define MBEDTLS_ASN1_WRITE_C
#define MBEDTLS_OID_C
#define MBEDTLS_BASE64_C
#define MBEDTLS_PEM_PARSE_C
#define MBEDTLS_PEM_WRITE_C

/* Certificates: parse, verify the self-signed ones im pins, write ours */
#define MBEDTLS_X509_USE_C
#define MBEDTLS_X509_CRT_PARSE_C
#define MBEDTLS_X509_CREATE_C
#define MBEDTLS_X509_CRT_WRITE_C

/* TLS */
#define MBEDTLS_SSL_TLS_C
#define MBEDTLS_SSL_CLI_C
#define MBEDTLS_SSL_SRV_C
#define MBEDTLS_SSL_PROTO_TLS1_2
#define MBEDTLS_KEY_EXCHANGE_ECDHE_ECDSA_ENABLED
#define MBEDTLS_SSL_EXTENDED_MASTER_SECRET
#define MBEDTLS_SSL_SESSION_TICKETS
#define MBEDTLS_SSL_KEEP_PEER_CERTIFICATE
#define MBEDTLS_SSL_ALL_ALERT_MESSAGES
#define MBEDTLS_SSL_MAX_FRAGMENT_LENGTH
#define MBEDTLS_SSL_VARIABLE_BUFFER_LENGTH
#define MBEDTLS_SSL_IN_CONTENT_LEN 16384
#define MBEDTLS_SSL_OUT_CONTENT_LEN 16384

/* Memory: modules/tlsmem.c keeps small freed blocks per thread (a
 * handshake makes thousands of short-lived big numbers). A sanitizer
 * build uses malloc itself, so it sees every block's life. */
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define IM_TLS_PLAIN_MALLOC
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define IM_TLS_PLAIN_MALLOC
#endif
#if !defined(IM_TLS_PLAIN_MALLOC)
#include <stddef.h>
void *tlsmem_calloc(size_t n, size_t size);
void tlsmem_free(void *p);
#define MBEDTLS_PLATFORM_C
#define MBEDTLS_PLATFORM_MEMORY
#define MBEDTLS_PLATFORM_CALLOC_MACRO tlsmem_calloc
#define MBEDTLS_PLATFORM_FREE_MACRO   tlsmem_free
#endif

/* No MBEDTLS_ERROR_C: its table of every error's text is 13 KB; modules/
 * tls.c words the errors people meet and numbers the rest. */

#include "mbedtls/check_config.h"

#endif /* IM_MBEDTLS_CONFIG_H */
