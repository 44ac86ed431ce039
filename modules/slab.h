/* slab: fixed-size objects carved from chunks of many, for records that
 * live long (days) but are made during a burst of short-lived allocations:
 * one malloc per object would scatter them over the heap, and each would
 * keep its page from being handed back once the burst is gone. */
#ifndef IM_SLAB_H
#define IM_SLAB_H

#include <stddef.h>

struct slab {
	size_t size, per_chunk;
	void *free_list; /* objects given back, ready for reuse */
	void *chunks;    /* every chunk, linked through its first word */
	char *next;      /* the rest of the newest chunk */
	size_t left;     /* objects left there */
};

/* Objects of size bytes, per_chunk of them per chunk. */
void slab_init(struct slab *s, size_t size, size_t per_chunk);
/* A zeroed object, or NULL when out of memory. */
void *slab_alloc(struct slab *s);
/* Gives an object back for reuse (the chunks stay until slab_free_all). */
void slab_release(struct slab *s, void *p);
/* Frees every chunk; objects still in use are gone too. */
void slab_free_all(struct slab *s);

#endif
