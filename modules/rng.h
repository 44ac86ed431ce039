/* rng: mbedTLS entropy contexts fed by the kernel (getrandom()), whatever
 * the libc and wherever the process runs (a chroot without /dev, a board
 * early in its boot). */
#ifndef IM_RNG_H
#define IM_RNG_H

#include <mbedtls/entropy.h>

/* mbedtls_entropy_init(), plus getrandom() as a strong source when the
 * library was built without a platform source of its own
 * (MBEDTLS_NO_PLATFORM_ENTROPY, as config/mbedtls.h does: mbedTLS 2.28
 * uses getrandom() only under glibc and reads /dev/urandom elsewhere).
 * 0, or -1 when the source cannot be added. */
int rng_entropy_init(mbedtls_entropy_context *e);

#endif
