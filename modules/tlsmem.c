/* tlsmem: a per-thread cache of small freed blocks in front of malloc, for
 * mbedTLS (see tlsmem.h). Every block carries a 16-byte header with its
 * size class (0: too big to cache); a class is 16 bytes wide. A thread
 * keeps at most TLSMEM_KEEP blocks of each class, so the cache holds at
 * most about 70 KiB per thread and usually a few KiB. */
#include "tlsmem.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define TLSMEM_HEAD    16 /* keeps the block 16-byte aligned */
#define TLSMEM_CLASS   16
#define TLSMEM_CLASSES 16 /* blocks up to 256 bytes are cached */
#define TLSMEM_KEEP    32

struct tlsmem_free {
	struct tlsmem_free *next;
};

static _Thread_local struct {
	struct tlsmem_free *head;
	unsigned n;
} cache[TLSMEM_CLASSES];

void *tlsmem_calloc(size_t n, size_t size)
{
	if (size != 0 && n > (SIZE_MAX - TLSMEM_HEAD) / size)
		return NULL;
	size_t len = n * size, c = (len + TLSMEM_CLASS - 1) / TLSMEM_CLASS;
	unsigned char *p;
	if (c == 0)
		c = 1;
	if (c <= TLSMEM_CLASSES) {
		len = c * TLSMEM_CLASS;
		struct tlsmem_free *b = cache[c - 1].head;
		if (b != NULL) {
			cache[c - 1].head = b->next;
			cache[c - 1].n--;
			memset(b, 0, len);
			return b;
		}
		p = calloc(1, TLSMEM_HEAD + len);
	} else {
		c = 0;
		p = calloc(1, TLSMEM_HEAD + len);
	}
	if (p == NULL)
		return NULL;
	memcpy(p, &c, sizeof c);
	return p + TLSMEM_HEAD;
}

void tlsmem_free(void *ptr)
{
	if (ptr == NULL)
		return;
	unsigned char *p = (unsigned char *)ptr - TLSMEM_HEAD;
	size_t c;
	memcpy(&c, p, sizeof c);
	if (c != 0 && cache[c - 1].n < TLSMEM_KEEP) {
		struct tlsmem_free *b = ptr;
		b->next = cache[c - 1].head;
		cache[c - 1].head = b;
		cache[c - 1].n++;
		return;
	}
	free(p);
}
