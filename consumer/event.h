/*
 * A decoded input event, independent of framing and writer schema. Strings
 * point into the batch arena and live until the batch is written.
 */
#ifndef LTV_EVENT_H
#define LTV_EVENT_H

#include <stdint.h>
#include "util.h"

typedef enum {
    LTV_EV_PURCHASE = 1,
    LTV_EV_VISIT = 2,
    LTV_EV_AD_SPEND = 3,
} ltv_ev_kind_t;

/* Order of the `type` enum symbols in schemas/purchase.avsc. */
typedef enum {
    LTV_PT_ORDER = 0,
    LTV_PT_CANCEL = 1,
    LTV_PT_REFUND = 2,
} ltv_ptype_t;

typedef struct ltv_event_s {
    ltv_ev_kind_t kind;
    ltv_ptype_t ptype;      /* purchases */
    int64_t ts;             /* event time, ms since the epoch, UTC; ad spend: its day's start */
    int64_t amount;         /* purchases: minor units; ad spend: the cost */
    ltv_str_t event_id;
    ltv_str_t customer_id;  /* absent for anonymous visits */
    ltv_str_t order_id;     /* purchases */
    ltv_str_t currency;     /* purchases, ad spend */
    ltv_str_t channel;      /* purchases, ad spend: channel; visits: utm_source */
    ltv_str_t campaign;     /* purchases, ad spend: campaign; visits: utm_campaign */
    ltv_str_t visitor_id;   /* visits */
    ltv_str_t page;         /* visits */
    uint8_t signup;         /* visits: the customer signed up with this visit */
} ltv_event_t;

#endif
