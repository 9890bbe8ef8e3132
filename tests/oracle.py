#!/usr/bin/env python3
"""Independent recomputation of ltvstream's final output rows.

Reads the generator's dump (`ltvstream gen --dump FILE`, or ltv_gen_opts_t.dump):
every valid, non-duplicate event, one per line, in arrival order:

    P <event_id> <customer> <order_id> <o|c|r> <ts_ms> <amount> <channel|-> <campaign|-> <arrival_ms>
    V <event_id> <customer|-> <visitor_id> <ts_ms> <arrival_ms>

(arrival: the Kafka message timestamp when the generator stamps messages
with their arrival, --kafka-timestamps) and prints, as JSON lines, the rows
the stage should end with after consuming the whole stream with
run.stop.at.end=true and the default configuration
(tz +00:00, horizons 30,90, rolling window W=30, allowed lateness one day,
default RFM edges and segment rules). Each line is one row:

    {"topic": "<output topic>", "key": "<row key>", <field>: <value>, ...}

with the row's counts (integers), the RFM segment of a customer (string) and
the expected `final` flags (booleans). The first line is {"topic": "_meta", ...}
with the final watermark and clock day. Rows whose counts are all zero are
not printed (the stage may or may not hold such a row).

With `--to T` (ms since the epoch) only the events that arrived before T
count: what `ltvstream backfill --to T` reads when message timestamps are
arrival times (the duplicates the dump leaves out arrive after their
original, so a cut never keeps a duplicate without it).

This is deliberately written from the definitions (SPEC.md, README.md and
the comments of the aggregators), not from the stage's code: plain loops
over customers and days, no incremental deltas.
"""
import json
import sys
from collections import defaultdict
from datetime import date, timedelta

DAY = 86_400_000
LATENESS = DAY
HORIZONS = (30, 90)
W = 30
RET_WINDOWS = ((1, "1d"), (7, "7d"), (30, "30d"))
REVISIT_DAYS = 3
R_DAYS = (14, 30, 60, 120)
F_EDGES = (1, 2, 3, 5)
M_EDGES = (5000, 20000, 50000, 100000)
SEGMENT_RULES = [  # name, R range, F range; first match wins
    ("champions", (5, 5), (4, 5)),
    ("loyal", (3, 4), (4, 5)),
    ("potential_loyalist", (4, 5), (2, 3)),
    ("new_customer", (5, 5), (1, 1)),
    ("promising", (4, 4), (1, 1)),
    ("need_attention", (3, 3), (3, 3)),
    ("about_to_sleep", (3, 3), (1, 2)),
    ("cant_lose", (1, 2), (5, 5)),
    ("at_risk", (1, 2), (3, 4)),
    ("lost", (1, 1), (1, 1)),
    ("hibernating", (1, 2), (1, 2)),
]
SEGMENTS = []
for _name, _r, _f in SEGMENT_RULES:
    if _name not in SEGMENTS:
        SEGMENTS.append(_name)

T_F2 = "ltv.f2_rate"
T_ROLL = "ltv.f2_rolling"
T_MIX = "ltv.retention_mix"
T_SEG = "ltv.rfm_segments"
T_CRFM = "ltv.customer_rfm"

EPOCH = date(1970, 1, 1)


def day_of(ts):
    return ts // DAY  # floor, UTC


def ymd(day):
    return (EPOCH + timedelta(days=day)).isoformat()


def channel_label(ch):
    if ch is None or ch == "":
        return "(none)"
    if ch in ("all", "(none)") or ch.startswith("~"):
        return "~" + ch
    return ch


def r_score(days):
    for i, edge in enumerate(R_DAYS):
        if days <= edge:
            return 5 - i
    return 1


def f_score(n):
    return 1 + sum(1 for e in F_EDGES if n > e)


def m_score(m):
    return 1 + sum(1 for e in M_EDGES if m >= e)


def segment(r, f):
    for name, (rlo, rhi), (flo, fhi) in SEGMENT_RULES:
        if rlo <= r <= rhi and flo <= f <= fhi:
            return name
    raise ValueError("no segment rule for R=%d F=%d" % (r, f))


class Order:
    __slots__ = ("oid", "seen", "ts", "amount", "channel", "cancelled", "refunded", "refund_ids")

    def __init__(self, oid):
        self.oid = oid
        self.seen = False
        self.ts = 0
        self.amount = 0
        self.channel = None
        self.cancelled = False
        self.refunded = 0
        self.refund_ids = set()

    def net(self):
        return max(0, self.amount - self.refunded)


class Entity:
    """A customer (purchases and its visits) or an anonymous visitor."""

    __slots__ = ("orders", "visit_days")

    def __init__(self):
        self.orders = {}
        self.visit_days = set()

    def active(self):
        act = [o for o in self.orders.values() if o.seen and not o.cancelled]
        act.sort(key=lambda o: (o.ts, o.oid))
        return act


def read_dump(path, before=None):
    ents = defaultdict(Entity)
    visits_per_day = defaultdict(int)
    max_ts = None
    with open(path) as fp:
        for line in fp:
            f = line.split()
            if not f:
                continue
            if before is not None and int(f[-1]) >= before:
                continue
            if f[0] == "P":
                _, eid, cust, oid, typ, ts, amount, channel, _campaign, _arrival = f
                ts, amount = int(ts), int(amount)
                o = ents["c:" + cust].orders.get(oid)
                if o is None:
                    o = ents["c:" + cust].orders[oid] = Order(oid)
                if typ == "o":
                    if not o.seen:  # the first order event of an order id counts
                        o.seen = True
                        o.ts = ts
                        o.amount = amount
                        o.channel = None if channel == "-" else channel
                elif typ == "c":
                    o.cancelled = True
                elif typ == "r":
                    if eid not in o.refund_ids:  # one refund per event id
                        o.refund_ids.add(eid)
                        o.refunded += amount
                else:
                    raise ValueError("bad purchase type in " + line)
            elif f[0] == "V":
                _, eid, cust, visitor, ts, _arrival = f
                ts = int(ts)
                key = "c:" + cust if cust != "-" else "v:" + visitor
                ents[key].visit_days.add(day_of(ts))
                visits_per_day[day_of(ts)] += 1
            else:
                raise ValueError("bad dump line " + line)
            max_ts = ts if max_ts is None else max(max_ts, ts)
    return ents, visits_per_day, max_ts


def main():
    args = sys.argv[1:]
    before = None
    if len(args) == 3 and args[0] == "--to":
        before = int(args[1])
        args = args[2:]
    if len(args) != 1:
        sys.stderr.write("usage: oracle.py [--to T_MS] DUMP\n")
        return 2
    ents, visits_per_day, max_ts = read_dump(args[0], before)
    if max_ts is None:
        sys.stderr.write("empty dump\n")
        return 1
    wm = max_ts - LATENESS
    clock = day_of(wm)
    out = []

    def emit(topic, key, fields):
        row = {"topic": topic, "key": key}
        row.update(fields)
        out.append(row)

    emit("_meta", "", {"watermark_ms": wm, "clock_day": ymd(clock), "max_ts": max_ts})

    # Per customer: active orders by (ts, order id).
    active = {k: e.active() for k, e in ents.items() if k.startswith("c:")}

    # ---- ltv.f2_rate: cohorts by first purchase day, overall and per channel.
    cohort = defaultdict(lambda: defaultdict(int))  # (day, dim) -> field -> count
    for act in active.values():
        if not act:
            continue
        d = day_of(act[0].ts)
        for dim in ("all", channel_label(act[0].channel)):
            c = cohort[(d, dim)]
            c["cohort_size"] += 1
            if len(act) >= 2:
                c["f2_count"] += 1
                d2 = day_of(act[1].ts)
                for h in HORIZONS:
                    if d2 - d <= h:
                        c["f2_within_%dd" % h] += 1
            if len(act) >= 3:
                c["f3_count"] += 1
            if len(act) >= 4:
                c["f4_count"] += 1
    for (d, dim), c in sorted(cohort.items()):
        end = (d + 1) * DAY
        fields = {"cohort_size": c["cohort_size"], "f2_count": c["f2_count"],
                  "f3_count": c["f3_count"], "f4_count": c["f4_count"]}
        for h in HORIZONS:
            fields["f2_within_%dd" % h] = c["f2_within_%dd" % h]
        for h in HORIZONS:
            fields["f2_rate_%dd_final" % h] = wm >= end + h * DAY
        fields["final"] = wm >= end + max(HORIZONS) * DAY
        emit(T_F2, "%s|%s" % (ymd(d), dim), fields)

    # ---- ltv.f2_rolling: day t sums the cohorts t-H-W+1 .. t-H, per horizon.
    dims = sorted({dim for (_, dim) in cohort})
    if cohort:
        first_cohort = min(d for (d, _) in cohort)
        for dim in dims:
            for t in range(first_cohort + min(HORIZONS), clock + 1):
                fields = {}
                nonzero = False
                for h in HORIZONS:
                    size = within = 0
                    for d in range(t - h - W + 1, t - h + 1):
                        c = cohort.get((d, dim))
                        if c:
                            size += c["cohort_size"]
                            within += c["f2_within_%dd" % h]
                    fields["cohorts_%dd" % h] = size
                    fields["f2_within_%dd" % h] = within
                    nonzero = nonzero or size or within
                if nonzero:
                    fields["final"] = wm >= (t + 1) * DAY
                    emit(T_ROLL, "%s|%s" % (ymd(t), dim), fields)

    # ---- ltv.retention_mix: daily rows, then rolling 7d / 30d.
    ADD = ("orders", "new_orders", "returning_orders", "revenue", "new_revenue",
           "returning_revenue", "new_customers", "visits", "new_visitors",
           "new_visitors_revisited_3d")
    daily = defaultdict(lambda: defaultdict(int))
    order_days = {}   # customer -> set of days with an active order
    first_day = {}    # customer -> first purchase day
    for k, act in active.items():
        if not act:
            continue
        first_day[k] = day_of(act[0].ts)
        days = set()
        for i, o in enumerate(act):
            d = day_of(o.ts)
            row = daily[d]
            row["orders"] += 1
            row["revenue"] += o.net()
            if i == 0:
                row["new_orders"] += 1
                row["new_revenue"] += o.net()
            else:
                row["returning_orders"] += 1
                row["returning_revenue"] += o.net()
            days.add(d)
        order_days[k] = days
        for d in days:
            daily[d]["customers"] += 1
            if d == first_day[k]:
                daily[d]["new_customers"] += 1
            else:
                daily[d]["returning_customers"] += 1
    for d, n in visits_per_day.items():
        daily[d]["visits"] += n
    vdays_of = {}
    for k, e in ents.items():
        if not e.visit_days:
            continue
        vd = sorted(e.visit_days)
        vdays_of[k] = vd
        for i, d in enumerate(vd):
            daily[d]["visitors"] += 1
            if i == 0:
                daily[d]["new_visitors"] += 1
            else:
                daily[d]["returning_visitors"] += 1
        if len(vd) >= 2 and vd[1] - vd[0] <= REVISIT_DAYS:
            daily[vd[0]]["new_visitors_revisited_3d"] += 1

    MIX_FIELDS = ("orders", "new_orders", "returning_orders", "revenue", "new_revenue",
                  "returning_revenue", "customers", "new_customers", "returning_customers",
                  "visits", "visitors", "new_visitors", "returning_visitors",
                  "new_visitors_revisited_3d")
    for d in sorted(daily):
        fields = {f: daily[d][f] for f in MIX_FIELDS}
        fields["final"] = wm >= (d + 1) * DAY + REVISIT_DAYS * DAY
        emit(T_MIX, "%s|1d" % ymd(d), fields)
    if daily:
        lo = min(daily)
        for w, name in RET_WINDOWS[1:]:
            for t in range(lo, clock + 1):
                win = range(t - w + 1, t + 1)
                fields = {f: sum(daily[d][f] for d in win if d in daily) for f in ADD}
                fields["customers"] = sum(
                    1 for days in order_days.values() if any(d in days for d in win))
                fields["visitors"] = sum(
                    1 for vd in vdays_of.values() if any(t - w < d <= t for d in vd))
                fields["returning_customers"] = fields["customers"] - fields["new_customers"]
                fields["returning_visitors"] = fields["visitors"] - fields["new_visitors"]
                if not any(fields.values()):
                    continue
                fields = {f: fields[f] for f in MIX_FIELDS}
                fields["final"] = wm >= (t + 1) * DAY + REVISIT_DAYS * DAY
                emit(T_MIX, "%s|%s" % (ymd(t), name), fields)

    # ---- ltv.rfm_segments: per day t, each customer's segment judged by its
    # orders on days <= t (recency from the last such order's day).
    if first_day:
        buyers = [[day_of(o.ts) for o in act] for act in active.values() if act]
        for t in range(min(first_day.values()), clock + 1):
            counts = dict.fromkeys(SEGMENTS, 0)
            for days in buyers:
                upto = [d for d in days if d <= t]
                if not upto:
                    continue
                counts[segment(r_score(t - max(upto)), f_score(len(upto)))] += 1
            fields = {"customers": sum(counts.values())}
            fields.update(counts)
            fields["final"] = wm >= (t + 1) * DAY
            emit(T_SEG, ymd(t), fields)

    # ---- ltv.customer_rfm: current scores at the final clock day.
    for k, act in sorted(active.items()):
        if not act:
            continue
        last = max(day_of(o.ts) for o in act)
        since = max(0, clock - last)
        r, f, m = r_score(since), f_score(len(act)), m_score(sum(o.net() for o in act))
        emit(T_CRFM, k[2:], {"r_score": r, "f_score": f, "m_score": m,
                             "segment": segment(r, f)})

    w = sys.stdout.write
    for row in out:
        w(json.dumps(row, separators=(",", ":")))
        w("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
