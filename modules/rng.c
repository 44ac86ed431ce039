/* rng: the kernel's random numbers as mbedTLS's entropy source (rng.h). */
#include "rng.h"

#include <errno.h>
#include <sys/random.h>

#if defined(MBEDTLS_NO_PLATFORM_ENTROPY)
static int kernel_entropy(void *data, unsigned char *out, size_t len, size_t *olen)
{
	(void)data;
	*olen = 0;
	while (*olen < len) {
		ssize_t n = getrandom(out + *olen, len - *olen, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return MBEDTLS_ERR_ENTROPY_SOURCE_FAILED;
		*olen += (size_t)n;
	}
	return 0;
}
#endif

int rng_entropy_init(mbedtls_entropy_context *e)
{
	mbedtls_entropy_init(e);
#if defined(MBEDTLS_NO_PLATFORM_ENTROPY)
	if (mbedtls_entropy_add_source(e, kernel_entropy, NULL, 32, MBEDTLS_ENTROPY_SOURCE_STRONG) != 0)
		return -1;
#endif
	return 0;
}
