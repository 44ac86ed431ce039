/* hmap: a string-keyed hash table (chained, grows by doubling) of
 * pointers; keys live inside the values they map to. */
#include "hmap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static size_t hash(const char *s)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */
	while (*s)
		h = (h ^ (unsigned char)*s++) * 1099511628211ull;
	return (size_t)h;
}

static struct hmap_node **slot(const struct hmap *m, const char *key)
{
	struct hmap_node **p = &m->b[hash(key) & (m->nb - 1)];
	while (*p && strcmp((*p)->key, key) != 0)
		p = &(*p)->next;
	return p;
}

void *hmap_get(const struct hmap *m, const char *key)
{
	if (m->nb == 0)
		return NULL;
	struct hmap_node *n = *slot(m, key);
	return n ? n->val : NULL;
}

static int grow(struct hmap *m)
{
	size_t nb = m->nb ? m->nb * 2 : 64;
	struct hmap_node **b = calloc(nb, sizeof *b);
	if (b == NULL)
		return -1;
	for (size_t i = 0; i < m->nb; i++) {
		struct hmap_node *n = m->b[i], *next;
		for (; n; n = next) {
			next = n->next;
			size_t h = hash(n->key) & (nb - 1);
			n->next = b[h];
			b[h] = n;
		}
	}
	free(m->b);
	m->b = b;
	m->nb = nb;
	return 0;
}

int hmap_put(struct hmap *m, const char *key, void *val)
{
	if (m->n >= m->nb && grow(m) < 0)
		return -1;
	struct hmap_node **p = slot(m, key);
	if (*p) {
		(*p)->key = key;
		(*p)->val = val;
		return 0;
	}
	struct hmap_node *n = malloc(sizeof *n);
	if (n == NULL)
		return -1;
	*n = (struct hmap_node){NULL, key, val};
	*p = n;
	m->n++;
	return 0;
}

void *hmap_del(struct hmap *m, const char *key)
{
	if (m->nb == 0)
		return NULL;
	struct hmap_node **p = slot(m, key), *n = *p;
	if (n == NULL)
		return NULL;
	void *val = n->val;
	*p = n->next;
	free(n);
	m->n--;
	return val;
}

void hmap_each(const struct hmap *m, void (*fn)(void *val, void *arg), void *arg)
{
	for (size_t i = 0; i < m->nb; i++)
		for (struct hmap_node *n = m->b[i]; n; n = n->next)
			fn(n->val, arg);
}

void hmap_free(struct hmap *m)
{
	for (size_t i = 0; i < m->nb; i++) {
		struct hmap_node *n = m->b[i], *next;
		for (; n; n = next) {
			next = n->next;
			free(n);
		}
	}
	free(m->b);
	m->b = NULL;
	m->nb = m->n = 0;
}
