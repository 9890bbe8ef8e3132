#include "clock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int64_t ltv_clock_watermark(const ltv_clockpos_t *pos, int n, int64_t now_ms,
                            int64_t idle_timeout_ms, int64_t lateness_ms) {
    int64_t min_active = INT64_MAX, max_all = INT64_MIN;
    for (int i = 0; i < n; i++) {
        const ltv_clockpos_t *p = &pos[i];
        if (p->maxts == INT64_MIN)
            continue;
        if (p->maxts > max_all)
            max_all = p->maxts;
        int idle = p->at_end ||
                   (idle_timeout_ms > 0 && now_ms - p->active_ms > idle_timeout_ms);
        if (!idle && p->maxts < min_active)
            min_active = p->maxts;
    }
    if (max_all == INT64_MIN)
        return INT64_MIN;
    int64_t base = min_active != INT64_MAX ? min_active : max_all;
    return base - lateness_ms;
}

int ltv_clockpos_format(const ltv_clockpos_t *p, char *out, int outsz) {
    return snprintf(out, (size_t)outsz, "%lld,%lld,%d", (long long)p->maxts,
                    (long long)p->active_ms, p->at_end ? 1 : 0);
}

int ltv_clockpos_parse(ltv_clockpos_t *p, const char *v, int vlen) {
    char tmp[80];
    if (vlen <= 0 || vlen >= (int)sizeof(tmp))
        return -1;
    memcpy(tmp, v, (size_t)vlen);
    tmp[vlen] = '\0';
    long long a, b;
    int c;
    char tail;
    if (sscanf(tmp, "%lld,%lld,%d%c", &a, &b, &c, &tail) != 3)
        return -1;
    p->maxts = a;
    p->active_ms = b;
    p->at_end = c != 0;
    return 0;
}
