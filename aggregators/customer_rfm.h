/* Rendering of ltv.customer_rfm rows (see customer_rfm.c). */
#ifndef LTV_CUSTOMER_RFM_H
#define LTV_CUSTOMER_RFM_H

#include "agg.h"
#include "customer.h"
#include "out.h"

void ltv_customer_rfm_render(const ltv_aggs_t *aggs, const ltv_customer_t *c,
                             const ltv_emit_info_t *info, int64_t tz, ltv_out_t *out);

#endif
