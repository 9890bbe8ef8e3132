#include "cache.h"

#include <stdlib.h>
#include <string.h>

struct ltv_cache_s {
    ltv_centry_t **bucket;
    size_t nbucket, n, max;
    size_t bytes, max_bytes;
    ltv_centry_t *head, *tail;
    uint64_t evictions;
};

ltv_cache_t *ltv_cache_new(size_t max_entries, size_t max_bytes) {
    ltv_cache_t *c = ltv_calloc(1, sizeof(*c));
    c->nbucket = 1024;
    c->bucket = ltv_calloc(c->nbucket, sizeof(*c->bucket));
    c->max = max_entries ? max_entries : SIZE_MAX;
    c->max_bytes = max_bytes ? max_bytes : SIZE_MAX;
    return c;
}

static void entry_free(ltv_centry_t *e) {
    ltv_customer_destroy(e->c);
    free(e);
}

void ltv_cache_clear(ltv_cache_t *cache) {
    ltv_centry_t *e = cache->head;
    while (e) {
        ltv_centry_t *nx = e->next;
        entry_free(e);
        e = nx;
    }
    memset(cache->bucket, 0, sizeof(*cache->bucket) * cache->nbucket);
    cache->head = cache->tail = NULL;
    cache->n = 0;
    cache->bytes = 0;
}

void ltv_cache_destroy(ltv_cache_t *cache) {
    if (!cache)
        return;
    ltv_cache_clear(cache);
    free(cache->bucket);
    free(cache);
}

static uint64_t key_hash(ltv_entity_t kind, const char *id, size_t idlen) {
    return ltv_hash(id, idlen) ^ ((uint64_t)kind * 0x9E3779B97F4A7C15ULL);
}

ltv_centry_t *ltv_cache_get(ltv_cache_t *cache, ltv_entity_t kind, const char *id, size_t idlen) {
    uint64_t h = key_hash(kind, id, idlen);
    for (ltv_centry_t *e = cache->bucket[h & (cache->nbucket - 1)]; e; e = e->hnext)
        if (e->hash == h && e->kind == kind && e->idlen == idlen && !memcmp(e->id, id, idlen))
            return e;
    return NULL;
}

static void lru_unlink(ltv_cache_t *cache, ltv_centry_t *e) {
    if (e->prev)
        e->prev->next = e->next;
    else
        cache->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        cache->tail = e->prev;
    e->prev = e->next = NULL;
}

static void lru_push_front(ltv_cache_t *cache, ltv_centry_t *e) {
    e->prev = NULL;
    e->next = cache->head;
    if (cache->head)
        cache->head->prev = e;
    else
        cache->tail = e;
    cache->head = e;
}

static void grow(ltv_cache_t *cache) {
    size_t nb = cache->nbucket * 2;
    ltv_centry_t **b = ltv_calloc(nb, sizeof(*b));
    for (size_t i = 0; i < cache->nbucket; i++) {
        ltv_centry_t *e = cache->bucket[i];
        while (e) {
            ltv_centry_t *nx = e->hnext;
            e->hnext = b[e->hash & (nb - 1)];
            b[e->hash & (nb - 1)] = e;
            e = nx;
        }
    }
    free(cache->bucket);
    cache->bucket = b;
    cache->nbucket = nb;
}

ltv_centry_t *ltv_cache_add(ltv_cache_t *cache, ltv_entity_t kind, const char *id, size_t idlen,
                            int32_t partition) {
    if (cache->n >= cache->nbucket)
        grow(cache);
    ltv_centry_t *e = ltv_calloc(1, sizeof(*e) + idlen + 1);
    e->hash = key_hash(kind, id, idlen);
    e->kind = kind;
    e->idlen = idlen;
    memcpy(e->id, id, idlen);
    e->partition = partition;
    e->slot = -1;
    e->bytes = sizeof(*e) + idlen + 1 + 8;
    cache->bytes += e->bytes;
    size_t b = e->hash & (cache->nbucket - 1);
    e->hnext = cache->bucket[b];
    cache->bucket[b] = e;
    lru_push_front(cache, e);
    cache->n++;
    return e;
}

void ltv_cache_touch(ltv_cache_t *cache, ltv_centry_t *e) {
    if (cache->head == e)
        return;
    lru_unlink(cache, e);
    lru_push_front(cache, e);
}

void ltv_cache_remove(ltv_cache_t *cache, ltv_centry_t *e) {
    ltv_centry_t **pp = &cache->bucket[e->hash & (cache->nbucket - 1)];
    while (*pp && *pp != e)
        pp = &(*pp)->hnext;
    if (*pp)
        *pp = e->hnext;
    lru_unlink(cache, e);
    cache->n--;
    cache->bytes -= e->bytes;
    entry_free(e);
}

void ltv_cache_drop_partition(ltv_cache_t *cache, int32_t partition) {
    ltv_centry_t *e = cache->head;
    while (e) {
        ltv_centry_t *nx = e->next;
        if (e->partition == partition)
            ltv_cache_remove(cache, e);
        e = nx;
    }
}

void ltv_cache_evict(ltv_cache_t *cache, uint32_t current) {
    ltv_centry_t *e = cache->tail;
    while ((cache->n > cache->max || cache->bytes > cache->max_bytes) && e) {
        ltv_centry_t *prev = e->prev;
        if (e->batch != current) {
            ltv_cache_remove(cache, e);
            cache->evictions++;
        }
        e = prev;
    }
}

void ltv_cache_account(ltv_cache_t *cache, ltv_centry_t *e) {
    size_t b = sizeof(*e) + e->idlen + 1 + 8 + ltv_customer_mem(e->c);
    cache->bytes = cache->bytes - e->bytes + b;
    e->bytes = b;
}

size_t ltv_cache_count(const ltv_cache_t *cache) { return cache->n; }
size_t ltv_cache_bytes(const ltv_cache_t *cache) { return cache->bytes; }
uint64_t ltv_cache_evictions(const ltv_cache_t *cache) { return cache->evictions; }
