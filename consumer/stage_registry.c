/*
 * The stage and the Schema Registry.
 *
 * A registry that gives no answer (unreachable, timing out, 5xx) is an
 * outage, not bad input: an event whose writer schema cannot be fetched
 * is never dead-lettered. The batch ends before it, what was read before
 * it is committed, every partition goes back to its committed offset and
 * the stage backs off (100 ms doubling to 5 s, as for Redis), then reads
 * on from there: the deferred message is decoded again, which is the
 * retry. Nothing is skipped and nothing is applied twice, the consumer
 * keeps polling between attempts (it stays in its group), and /readyz
 * says not ready while the last request got no answer.
 *
 * Output schemas (output.format=avro) are registered under
 * TopicNameStrategy subjects, <topic>-value, before the first row is
 * emitted, retrying the same way while the registry is unreachable; a
 * refusal (incompatible with the subject's earlier versions, invalid)
 * stops the stage, since it could write no row a reader can decode.
 */
#include "stage_int.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000

static int backoff_next(int ms) {
    if (ms < BACKOFF_MIN_MS)
        return BACKOFF_MIN_MS;
    return ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : ms * 2;
}

int stage_registry_register_outputs(ltv_stage_t *st) {
    int n = ltv_emitter_avro_count(st->em);
    for (int i = 0; i < n; i++) {
        const char *topic, *schema;
        int32_t id;
        ltv_emitter_avro_topic(st->em, i, &topic, &schema, &id);
        if (id >= 0)
            continue; /* output.avro.schema.ids names it */
        char subject[512];
        snprintf(subject, sizeof(subject), "%s-value", topic);
        int backoff = 0, logged = 0;
        for (;;) {
            if (st->stop && *st->stop)
                return 1;
            char err[768];
            ltv_reg_res_t r = ltv_registry_register(st->registry, subject, schema, &id, err,
                                                    sizeof(err));
            if (r == LTV_REG_OK) {
                ltv_emitter_avro_set_id(st->em, i, id);
                ltv_info("schema registry: output schema of %s is id %d (subject %s)", topic,
                         (int)id, subject);
                break;
            }
            if (r != LTV_REG_UNAVAILABLE) {
                ltv_err("%s: the rows of topic %s cannot be written", err, topic);
                return -1;
            }
            st->stats.registry_retries++;
            if (!logged++)
                ltv_err("%s; retrying with backoff", err);
            stage_publish(st); /* /readyz: registry unreachable */
            backoff = backoff_next(backoff);
            stage_sleep_ms(st, backoff);
        }
    }
    return 0;
}

void stage_registry_wait(ltv_stage_t *st) {
    st->registry_wait = 0;
    /* The batch before the deferred message was sent by the caller; once
     * it is in Redis the committed offsets are exactly where to read on. */
    stage_complete(st);
    if (!st->need_reposition) {
        /* A seek with a timeout guarantees that nothing fetched for the old
         * positions is delivered afterwards (librdkafka's contract), so the
         * messages dropped after the deferred one come again, in order. */
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(st->nparts);
        for (int i = 0; i < st->nparts; i++) {
            part_t *p = &st->parts[i];
            if (p->assigned)
                rd_kafka_topic_partition_list_add(l, p->topic, p->partition)->offset =
                    p->stored_next >= 0 ? p->stored_next : RD_KAFKA_OFFSET_BEGINNING;
        }
        rd_kafka_error_t *e = l->cnt ? rd_kafka_seek_partitions(st->rk, l, 10000) : NULL;
        int failed = e != NULL;
        if (e) {
            ltv_warn("seeking back to the committed offsets: %s", rd_kafka_error_string(e));
            rd_kafka_error_destroy(e);
        }
        for (int i = 0; i < l->cnt && !failed; i++)
            failed = l->elems[i].err != RD_KAFKA_RESP_ERR_NO_ERROR;
        rd_kafka_topic_partition_list_destroy(l);
        /* The general way back (reads the offsets from Redis, reassigns,
         * drops the cache): correct whatever the seek left behind. */
        if (failed)
            st->need_reposition = 1;
    }
    stage_publish(st); /* /readyz: registry unreachable */
    st->registry_backoff_ms = backoff_next(st->registry_backoff_ms);
    stage_sleep_ms(st, st->registry_backoff_ms);
}

void stage_registry_turn(ltv_stage_t *st) {
    if (!st->registry_outage || !st->registry)
        return;
    ltv_registry_stats_t rs;
    ltv_registry_stats(st->registry, &rs);
    if (!rs.up)
        return;
    ltv_info("schema registry: answering again");
    st->registry_outage = 0;
    st->registry_backoff_ms = 0;
}
