/*
 * The write-back cache of customer state. Messages are keyed by customer,
 * so each customer belongs to one input partition and thus to one stage
 * instance at a time: the instance may keep the customer in memory across
 * batches and only write what changed. Entries are bounded in number
 * and in the heap bytes they hold (least recently used go first) and dropped wholesale when their
 * partition is revoked or fenced, because from then on Redis, not the
 * cache, is the truth.
 */
#ifndef LTV_CACHE_H
#define LTV_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "customer.h"

typedef struct ltv_centry_s {
    struct ltv_centry_s *hnext;
    struct ltv_centry_s *prev, *next; /* LRU list, most recent first */
    ltv_customer_t *c;  /* NULL until loaded */
    uint64_t hash;
    int32_t partition;
    uint32_t batch;     /* batch sequence of the last touch */
    int slot;           /* the batch's per-customer slot while batch == current */
    size_t bytes;       /* heap held, as last accounted */
    ltv_entity_t kind;
    size_t idlen;
    char id[];
} ltv_centry_t;

typedef struct ltv_cache_s ltv_cache_t;

/* max_bytes 0: no byte bound. */
ltv_cache_t *ltv_cache_new(size_t max_entries, size_t max_bytes);
void ltv_cache_destroy(ltv_cache_t *cache);

ltv_centry_t *ltv_cache_get(ltv_cache_t *cache, ltv_entity_t kind, const char *id, size_t idlen);
/* Adds an empty entry (c == NULL); the key must not be present. */
ltv_centry_t *ltv_cache_add(ltv_cache_t *cache, ltv_entity_t kind, const char *id, size_t idlen,
                            int32_t partition);
/* Marks e most recently used. */
void ltv_cache_touch(ltv_cache_t *cache, ltv_centry_t *e);
void ltv_cache_remove(ltv_cache_t *cache, ltv_centry_t *e);
void ltv_cache_drop_partition(ltv_cache_t *cache, int32_t partition);
void ltv_cache_clear(ltv_cache_t *cache);
/* Recounts the bytes e holds, after its customer was loaded or changed. */
void ltv_cache_account(ltv_cache_t *cache, ltv_centry_t *e);
/* Evicts least recently used entries not touched in batch `current` until
 * the cache holds at most its maxima. */
void ltv_cache_evict(ltv_cache_t *cache, uint32_t current);
size_t ltv_cache_count(const ltv_cache_t *cache);
size_t ltv_cache_bytes(const ltv_cache_t *cache);
uint64_t ltv_cache_evictions(const ltv_cache_t *cache);

#endif
