/*
 * Lifecycle triggers (topic ltv.lifecycle): the moments a step-mail or CRM
 * tool acts on, one record per customer and occasion.
 *
 *   first_purchase          the customer's first order was applied
 *   second_purchase         the second (F2 conversion), with the days between
 *   f2_followup_due:<d>     d days after the first order placed, no second
 *                           purchase by then
 *   revisit_due             N hours after the first visit, no visit on a later day by then
 *   signup_no_purchase      N days after the sign-up visit, no purchase by then
 *   segment_changed:<v>     the RFM segment changed (from, to); v is the
 *                           customer_rfm row version showing the new segment
 *   lapsed:<v>              the recency score fell to 1
 *
 * The first two fire when the event that makes them true is applied, in
 * arrival order (the order of the customer's partition, so a replay fires
 * the same ones). The timed ones fire when the stage's watermark passes
 * their due time, and only if their condition held at that time in event
 * time ("no second purchase with ts <= due"): a customer who bought on day
 * 5 gets the day-3 follow-up and not the day-7 one, whichever order the
 * stage learnt about it in, unless the purchase arrived later than the
 * watermark (a trigger already sent cannot be taken back). The last two
 * come with RFM re-scoring (rfm.h).
 *
 * Exactly once per customer and occasion: the occasions a customer has
 * settled (fired, or passed with the condition not holding) are part of the
 * customer's state, and a batch's triggers are written to the emission
 * queue in the same transaction as that state, as members "t|...", which
 * carry everything the record shows, so a re-emission renders exactly the
 * record first sent. Timers do not scan customers: each partition has a
 * sorted set <ns>:lcz:<partition> of its customers by their next due time.
 *
 * Pure logic, no I/O: the batch calls the hooks, the store persists the
 * state, the stage emits the members.
 */
#ifndef LTV_LIFECYCLE_H
#define LTV_LIFECYCLE_H

#include <stddef.h>
#include <stdint.h>

#include "conf.h"
#include "customer.h"
#include "event.h"
#include "out.h"
#include "rfm.h"
#include "util.h"

typedef enum {
    LTV_TRG_FIRST_PURCHASE = 0,
    LTV_TRG_SECOND_PURCHASE,
    LTV_TRG_F2_FOLLOWUP,
    LTV_TRG_REVISIT,
    LTV_TRG_SIGNUP_NO_PURCHASE,
    LTV_TRG_SEGMENT_CHANGED,
    LTV_TRG_LAPSED,
    LTV_TRG__N
} ltv_trigger_type_t;

/* The settled occasions are bits of ltv_customer_t.lc_done (LTV_LC_*,
 * customer.h, next to the field). */

/* "first_purchase", ... as in the records' `trigger` field; NULL past the end. */
const char *ltv_trigger_name(int type);

typedef struct ltv_lifecycle_s ltv_lifecycle_t;

/* Follow-up days, revisit hours and sign-up days from conf; off when
 * topic.lifecycle is empty. rfm (segment names, R edges) must outlive it. */
ltv_lifecycle_t *ltv_lifecycle_new(const ltv_conf_t *conf, const ltv_rfm_conf_t *rfm);
void ltv_lifecycle_destroy(ltv_lifecycle_t *lc);
int ltv_lifecycle_enabled(const ltv_lifecycle_t *lc);

/* The batch's hooks. Each may fire triggers (collected until the next
 * ltv_lifecycle_reset) and changes lc_* fields with LTV_D_LIFECYCLE. */

/* After ev was applied to c; n_before and first_visit_before are c->n and
 * c->first_visit_ts before it. */
void ltv_lifecycle_on_event(ltv_lifecycle_t *lc, ltv_customer_t *c, const ltv_event_t *ev,
                            int64_t n_before, int64_t first_visit_before);
/* After c's RFM scores were recomputed (c->rfm_* hold the new values, the
 * version already counted up); old_r and old_seg are the previous ones. */
void ltv_lifecycle_on_rescore(ltv_lifecycle_t *lc, ltv_customer_t *c, int old_r, int old_seg);
/* Settles the timed occasions due at or before `watermark` (INT64_MIN:
 * unknown, none) and reschedules c: lc_due becomes its next due time (0:
 * none). force (a customer found due in the sorted set) marks the schedule
 * changed even when it is not, and has its score written back (store.c
 * otherwise writes it only when lc_due differs from lc_due_stored). */
void ltv_lifecycle_settle(ltv_lifecycle_t *lc, ltv_customer_t *c, int64_t watermark, int force);
/* When c's next unsettled occasion falls due (0: none). */
int64_t ltv_lifecycle_next_due(const ltv_lifecycle_t *lc, const ltv_customer_t *c);

/* The triggers fired since the last reset, as emission-queue members
 * ("t|..."), in firing order; owned by lc. */
int ltv_lifecycle_fired(const ltv_lifecycle_t *lc, char *const **members);
void ltv_lifecycle_reset(ltv_lifecycle_t *lc);

/* ---- one trigger ------------------------------------------------------------ */

typedef struct ltv_trigger_s {
    int type;            /* ltv_trigger_type_t */
    int64_t param;       /* follow-up day, or the customer_rfm version (segment_changed, lapsed) */
    int64_t at;          /* event time of the occasion: the purchase, or when it fell due */
    int64_t days;        /* days from the first purchase's day to at's day; INT64_MIN: none */
    int64_t n;           /* purchase count when it fired */
    int64_t first_ts;    /* first purchase; 0: none */
    const char *from, *to;          /* segments (segment_changed); NULL: none */
    const char *channel, *campaign; /* of the first purchase; NULL: none */
    const char *customer;
} ltv_trigger_t;

/* Splits a "t|..." member (modified in place; t points into it). */
int ltv_trigger_decode(char *member, ltv_trigger_t *t);
/* Its type, -1 if it is no trigger member. */
int ltv_trigger_type_of(const char *member);
/* "f2_followup_due:7", "first_purchase", ...: the longest trigger name, a
 * colon and a long fit in this. */
#define LTV_TRIGGER_OCCASION_MAX 64
void ltv_trigger_occasion(const ltv_trigger_t *t, ltv_buf_t *out);

/* The record: key customer id, header "occasion", fields customer_id,
 * trigger, occasion, trigger_id (customer|occasion), at,
 * days_since_first_purchase, purchase_count, first_purchase_ts,
 * segment_from, segment_to, first_channel, first_campaign, watermark. */
void ltv_trigger_render(const ltv_trigger_t *t, int64_t watermark, ltv_out_t *out);

#endif
