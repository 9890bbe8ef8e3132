/*
 * The writer schemas the decoder fuzzer knows, shared with the seed
 * generator (gen_corpus.c) so seeds and target agree on ids.
 *
 * Besides our own two schemas they cover every branch of the decoder's
 * schema handling: evolved writers resolved through a projection (added
 * fields of every Avro type, including a recursive one, missing optional
 * fields, an int promoted to long, enum symbols in another order plus one
 * we lack), and writers that cannot be resolved (a non-record, a missing
 * required field, a string where we read a long). Each is known by its
 * Confluent id (a schema.dir of <id>.avsc files) and, like every schema.dir
 * file, by its CRC-64-AVRO fingerprint.
 */
#ifndef LTV_FUZZ_SCHEMAS_H
#define LTV_FUZZ_SCHEMAS_H

#define FZ_P_EVENT_ID "{\"name\":\"event_id\",\"type\":\"string\"}"
#define FZ_P_CUSTOMER_ID "{\"name\":\"customer_id\",\"type\":\"string\"}"
#define FZ_P_ORDER_ID "{\"name\":\"order_id\",\"type\":\"string\"}"
#define FZ_P_TYPE                                                                                 \
    "{\"name\":\"type\",\"type\":{\"type\":\"enum\",\"name\":\"PurchaseType\",\"symbols\":"     \
    "[\"order\",\"cancel\",\"refund\"]},\"default\":\"order\"}"
#define FZ_P_TS "{\"name\":\"ts\",\"type\":\"long\"}"
#define FZ_P_AMOUNT "{\"name\":\"amount\",\"type\":\"long\"}"
#define FZ_P_CURRENCY "{\"name\":\"currency\",\"type\":\"string\"}"
#define FZ_P_CHANNEL "{\"name\":\"channel\",\"type\":[\"null\",\"string\"],\"default\":null}"
#define FZ_P_CAMPAIGN "{\"name\":\"campaign\",\"type\":[\"null\",\"string\"],\"default\":null}"
#define FZ_PURCHASE(fields)                                                                       \
    "{\"type\":\"record\",\"name\":\"Purchase\",\"namespace\":\"ltvstream.v1\",\"fields\":["     \
    fields "]}"

#define FZ_V_EVENT_ID "{\"name\":\"event_id\",\"type\":\"string\"}"
#define FZ_V_CUSTOMER_ID "{\"name\":\"customer_id\",\"type\":[\"null\",\"string\"],\"default\":null}"
#define FZ_V_VISITOR_ID "{\"name\":\"visitor_id\",\"type\":\"string\"}"
#define FZ_V_TS "{\"name\":\"ts\",\"type\":\"long\"}"
#define FZ_V_PAGE "{\"name\":\"page\",\"type\":\"string\"}"
#define FZ_V_UTM_SOURCE "{\"name\":\"utm_source\",\"type\":[\"null\",\"string\"],\"default\":null}"
#define FZ_V_UTM_CAMPAIGN                                                                         \
    "{\"name\":\"utm_campaign\",\"type\":[\"null\",\"string\"],\"default\":null}"
#define FZ_VISIT(fields)                                                                          \
    "{\"type\":\"record\",\"name\":\"Visit\",\"namespace\":\"ltvstream.v1\",\"fields\":[" fields  \
    "]}"

/* Extra fields of every Avro type a producer might add: what the bounds
 * check (avro_check.c) and Avro-C's skipping of writer-only fields see. */
#define FZ_EXTRA_FIELDS                                                                           \
    "{\"name\":\"flag\",\"type\":\"boolean\"},"                                                   \
    "{\"name\":\"qty\",\"type\":\"int\"},"                                                        \
    "{\"name\":\"ratio\",\"type\":\"float\"},"                                                    \
    "{\"name\":\"price\",\"type\":\"double\"},"                                                   \
    "{\"name\":\"blob\",\"type\":\"bytes\"},"                                                     \
    "{\"name\":\"hash\",\"type\":{\"type\":\"fixed\",\"name\":\"Hash4\",\"size\":4}},"           \
    "{\"name\":\"items\",\"type\":{\"type\":\"array\",\"items\":{\"type\":\"record\","          \
    "\"name\":\"Item\",\"fields\":[{\"name\":\"sku\",\"type\":\"string\"},"                      \
    "{\"name\":\"n\",\"type\":\"long\"}]}}},"                                                    \
    "{\"name\":\"attrs\",\"type\":{\"type\":\"map\",\"values\":[\"null\",\"string\",\"long\"]}}," \
    "{\"name\":\"marks\",\"type\":{\"type\":\"array\",\"items\":\"null\"}},"                    \
    "{\"name\":\"empty\",\"type\":{\"type\":\"array\",\"items\":{\"type\":\"record\","          \
    "\"name\":\"Empty\",\"fields\":[]}}},"                                                       \
    "{\"name\":\"grid\",\"type\":{\"type\":\"array\",\"items\":{\"type\":\"array\",\"items\":"   \
    "{\"type\":\"record\",\"name\":\"Unit\",\"fields\":[{\"name\":\"u\",\"type\":\"null\"}]}}}},"     \
    "{\"name\":\"chain\",\"type\":[\"null\",{\"type\":\"record\",\"name\":\"Node\",\"fields\":[" \
    "{\"name\":\"v\",\"type\":\"int\"},{\"name\":\"next\",\"type\":[\"null\",\"Node\"]}]}]}"

/* Confluent ids (files <id>.avsc in the fuzzer's schema.dir). */
enum {
    FZ_ID_PURCHASE = 1,        /* ours */
    FZ_ID_VISIT = 2,           /* ours */
    FZ_ID_PURCHASE_WIDE = 3,   /* ours + FZ_EXTRA_FIELDS in the middle */
    FZ_ID_PURCHASE_OLD = 4,    /* no type, channel, campaign: defaults */
    FZ_ID_PURCHASE_ENUM = 5,   /* type symbols reordered, one unknown; int amount */
    FZ_ID_VISIT_WIDE = 6,      /* no customer_id, plain-string utm_source, extras */
    FZ_ID_NOT_RECORD = 7,      /* "string": incompatible */
    FZ_ID_PURCHASE_BAD = 8,    /* amount as string: incompatible */
    FZ_ID_VISIT_NO_PAGE = 9,   /* lacks a required field: incompatible */
};

typedef struct fz_schema_s {
    int id;
    const char *json; /* NULL: our own schema of the kind the id names */
} fz_schema_t;

static const fz_schema_t fz_schemas[] = {
    {FZ_ID_PURCHASE, NULL}, /* ltv_reader_schema_json(LTV_EV_PURCHASE) */
    {FZ_ID_VISIT, NULL},    /* ltv_reader_schema_json(LTV_EV_VISIT) */
    {FZ_ID_PURCHASE_WIDE,
     FZ_PURCHASE(FZ_P_EVENT_ID "," FZ_P_CUSTOMER_ID "," FZ_P_ORDER_ID "," FZ_P_TYPE "," FZ_P_TS
                 "," FZ_EXTRA_FIELDS "," FZ_P_AMOUNT "," FZ_P_CURRENCY "," FZ_P_CHANNEL
                 "," FZ_P_CAMPAIGN)},
    {FZ_ID_PURCHASE_OLD, FZ_PURCHASE(FZ_P_EVENT_ID "," FZ_P_CUSTOMER_ID "," FZ_P_ORDER_ID
                                     "," FZ_P_TS "," FZ_P_AMOUNT "," FZ_P_CURRENCY)},
    {FZ_ID_PURCHASE_ENUM,
     FZ_PURCHASE(FZ_P_EVENT_ID "," FZ_P_CUSTOMER_ID "," FZ_P_ORDER_ID
                 ",{\"name\":\"type\",\"type\":{\"type\":\"enum\",\"name\":\"PurchaseType\","
                 "\"symbols\":[\"refund\",\"chargeback\",\"order\",\"cancel\"]}}," FZ_P_TS
                 ",{\"name\":\"amount\",\"type\":\"int\"}," FZ_P_CURRENCY "," FZ_P_CHANNEL
                 "," FZ_P_CAMPAIGN)},
    {FZ_ID_VISIT_WIDE,
     FZ_VISIT(FZ_V_EVENT_ID "," FZ_V_VISITOR_ID "," FZ_V_TS "," FZ_V_PAGE
              ",{\"name\":\"utm_source\",\"type\":\"string\"}," FZ_EXTRA_FIELDS
              "," FZ_V_UTM_CAMPAIGN)},
    {FZ_ID_NOT_RECORD, "\"string\""},
    {FZ_ID_PURCHASE_BAD,
     FZ_PURCHASE(FZ_P_EVENT_ID "," FZ_P_CUSTOMER_ID "," FZ_P_ORDER_ID "," FZ_P_TYPE "," FZ_P_TS
                 ",{\"name\":\"amount\",\"type\":\"string\"}," FZ_P_CURRENCY "," FZ_P_CHANNEL
                 "," FZ_P_CAMPAIGN)},
    {FZ_ID_VISIT_NO_PAGE, FZ_VISIT(FZ_V_EVENT_ID "," FZ_V_CUSTOMER_ID "," FZ_V_VISITOR_ID
                                   "," FZ_V_TS "," FZ_V_UTM_SOURCE "," FZ_V_UTM_CAMPAIGN)},
};

#define FZ_NSCHEMAS ((int)(sizeof(fz_schemas) / sizeof(fz_schemas[0])))

#endif
