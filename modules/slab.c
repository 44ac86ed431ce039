/* slab: fixed-size objects carved from chunks of many (see slab.h). */
#include "slab.h"

#include <stdlib.h>
#include <string.h>

#define SLAB_ALIGN sizeof(void *) /* enough for pointers and uint64_t here */

void slab_init(struct slab *s, size_t size, size_t per_chunk)
{
	memset(s, 0, sizeof *s);
	if (size < sizeof(void *))
		size = sizeof(void *);
	s->size = (size + SLAB_ALIGN - 1) / SLAB_ALIGN * SLAB_ALIGN;
	s->per_chunk = per_chunk ? per_chunk : 1;
}

void *slab_alloc(struct slab *s)
{
	void *p = s->free_list;
	if (p) {
		memcpy(&s->free_list, p, sizeof(void *));
	} else {
		if (s->left == 0) {
			char *c = malloc(SLAB_ALIGN + s->size * s->per_chunk);
			if (c == NULL)
				return NULL;
			memcpy(c, &s->chunks, sizeof(void *));
			s->chunks = c;
			s->next = c + SLAB_ALIGN;
			s->left = s->per_chunk;
		}
		p = s->next;
		s->next += s->size;
		s->left--;
	}
	memset(p, 0, s->size);
	return p;
}

void slab_release(struct slab *s, void *p)
{
	if (p == NULL)
		return;
	memcpy(p, &s->free_list, sizeof(void *));
	s->free_list = p;
}

void slab_free_all(struct slab *s)
{
	while (s->chunks) {
		void *c = s->chunks;
		memcpy(&s->chunks, c, sizeof(void *));
		free(c);
	}
	s->free_list = NULL;
	s->next = NULL;
	s->left = 0;
}
