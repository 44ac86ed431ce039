/* hmap: a string-keyed hash table (chained, grows by doubling). It stores
 * pointers only: each key must live as long as its entry (usually inside
 * the value it maps to). */
#ifndef IM_HMAP_H
#define IM_HMAP_H

#include <stddef.h>

struct hmap_node {
	struct hmap_node *next;
	const char *key;
	void *val;
};

struct hmap {
	struct hmap_node **b;
	size_t nb, n;
};

/* Looks key up; returns its value or NULL. */
void *hmap_get(const struct hmap *m, const char *key);
/* Maps key to val, replacing an old value. Returns 0, or -1 out of memory. */
int hmap_put(struct hmap *m, const char *key, void *val);
/* Removes key; returns the value it had, or NULL. */
void *hmap_del(struct hmap *m, const char *key);
/* Calls fn on every value; fn must not change the map. */
void hmap_each(const struct hmap *m, void (*fn)(void *val, void *arg), void *arg);
/* Frees the table (not the values); the map is empty and reusable after. */
void hmap_free(struct hmap *m);

#endif
