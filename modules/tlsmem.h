/* tlsmem: the allocator of im's own mbedTLS build (config/mbedtls.h names
 * these two as MBEDTLS_PLATFORM_CALLOC_MACRO / FREE_MACRO). A handshake
 * allocates and frees small big-number buffers thousands of times; each
 * thread keeps a few freed blocks of each small size for the next
 * request, so most of those calls never reach malloc and its lock. */
#ifndef IM_TLSMEM_H
#define IM_TLSMEM_H

#include <stddef.h>

/* calloc(n, size) for mbedTLS; NULL when out of memory. */
void *tlsmem_calloc(size_t n, size_t size);
/* Frees what tlsmem_calloc returned (NULL is fine), from any thread. */
void tlsmem_free(void *p);

#endif
