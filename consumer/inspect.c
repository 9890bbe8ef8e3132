/*
 * `ltvstream customer [-c file] [-X key=value]... [--visitor] <id>...`:
 * prints what the namespace holds for some customers, one JSON object a
 * line, by the field names of ltv_customer_view (purchase_count, monetary,
 * segment, o:<order_id> ...). Customers are stored as compact binary values
 * (customer_codec.c), which redis-cli cannot show; this is how an operator
 * looks one up. Exit status 0 when every customer was found, 1 otherwise.
 */
#include "cli.h"
#include "json.h"
#include "rfm.h"
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void put_field(void *opaque, const char *field, const char *v, size_t vlen) {
    ltv_json_strn(opaque, field, v, vlen);
}

int ltv_customer_main(int argc, char **argv) {
    char **args = ltv_calloc((size_t)argc + 1, sizeof(char *));
    const char **ids = ltv_calloc((size_t)argc + 1, sizeof(char *));
    int nargs = 0, nids = 0, visitor = 0, rc = 0;
    args[nargs++] = argv[0];
    for (int i = 1; i < argc; i++) {
        if ((!strcmp(argv[i], "-c") || !strcmp(argv[i], "-X") || !strcmp(argv[i], "-b")) &&
            i + 1 < argc) {
            args[nargs++] = argv[i];
            args[nargs++] = argv[++i];
        } else if (!strcmp(argv[i], "--visitor")) {
            visitor = 1;
        } else if (argv[i][0] == '-') {
            fprintf(stderr, "usage: ltvstream customer [-c file] [-X key=value]... [--visitor] "
                            "<id>...\n");
            rc = 2;
        } else {
            ids[nids++] = argv[i];
        }
    }
    char err[512];
    ltv_conf_t *conf = ltv_conf_new();
    ltv_aggs_t *aggs = NULL;
    ltv_store_t *st = NULL;
    if (rc || (rc = ltv_cli_parse_conf(nargs, args, conf)))
        goto out;
    if (!nids) {
        fprintf(stderr, "ltvstream customer: no customer id given\n");
        rc = 2;
        goto out;
    }
    if (!(aggs = ltv_aggs_new(conf, err, sizeof(err)))) {
        fprintf(stderr, "ltvstream: %s\n", err);
        rc = 2;
        goto out;
    }
    st = ltv_store_new(conf, aggs);
    if (ltv_store_connect(st, err, sizeof(err)) != LTV_STORE_OK) {
        fprintf(stderr, "ltvstream: redis: %s\n", err);
        rc = 1;
        goto out;
    }
    const ltv_rfm_conf_t *rfm = ltv_aggs_rfm(aggs);
    ltv_buf_t b;
    ltv_buf_init(&b);
    for (int i = 0; i < nids; i++) {
        ltv_customer_t *c = NULL;
        if (ltv_store_get_customer(st, visitor ? LTV_ENT_VISITOR : LTV_ENT_CUSTOMER, ids[i], &c,
                                   err, sizeof(err)) != LTV_STORE_OK) {
            fprintf(stderr, "ltvstream: %s: %s\n", ids[i], err);
            rc = 1;
            continue;
        }
        if (!c) {
            fprintf(stderr, "ltvstream: %s: not found in namespace %s\n", ids[i],
                    conf->namespace_);
            rc = 1;
            continue;
        }
        ltv_buf_reset(&b);
        ltv_json_begin(&b);
        ltv_json_str(&b, visitor ? "visitor_id" : "customer_id", ids[i]);
        ltv_customer_view(c, c->rfm_seg >= 0 ? rfm->names[c->rfm_seg] : NULL, put_field, &b);
        ltv_json_end(&b);
        printf("%s\n", b.p);
        ltv_customer_destroy(c);
    }
    ltv_buf_free(&b);
out:
    ltv_store_destroy(st);
    ltv_aggs_destroy(aggs);
    ltv_conf_destroy(conf);
    free(ids);
    free(args);
    return rc;
}
