#!/usr/bin/env python3
"""Checks a TPC-C state dump (`vbench run --workload tpcc --dump-state DIR`) against the
consistency conditions of clause 3.3.2, independently of the Rust checker: plain CSV and
arithmetic, standard library only. Usage: scripts/tpcc-check-dump.py DIR [--no-deliveries]
Prints one line per condition and exits 1 if any is violated."""
import csv
import sys
from collections import defaultdict


def rows(d, table):
    with open(f"{d}/{table}.csv", newline="") as f:
        return list(csv.DictReader(f))


def money(a, b, terms):
    # Every amount is whole cents; only floating-point error remains in the sums.
    return abs(a - b) <= 0.005 + 1e-12 * terms * max(abs(a), abs(b), 1.0)


def main():
    d = sys.argv[1]
    deliveries_ran = "--no-deliveries" not in sys.argv
    W, D, C, H = (rows(d, t) for t in ("warehouse", "district", "customer", "history"))
    O, NO, OL = (rows(d, t) for t in ("orders", "new_order", "order_line"))
    bad = defaultdict(int)
    dytd = defaultdict(float)
    for r in D:
        dytd[r["d_w_id"]] += float(r["d_ytd"])
    hw, hd, hc = defaultdict(float), defaultdict(float), defaultdict(float)
    hn = defaultdict(int)
    for r in H:
        a = float(r["h_amount"])
        hw[r["h_w_id"]] += a
        hd[(r["h_w_id"], r["h_d_id"])] += a
        hc[(r["h_c_w_id"], r["h_c_d_id"], r["h_c_id"])] += a
        hn[r["h_w_id"]] += 1
    for r in W:
        w, ytd = r["w_id"], float(r["w_ytd"])
        if not money(ytd, dytd[w], 10):
            bad["1 W_YTD = sum(D_YTD)"] += 1
        if not money(ytd, hw[w], hn[w]):
            bad["8 W_YTD = sum(H_AMOUNT)"] += 1
    max_o, max_no, min_no, n_no = {}, {}, {}, defaultdict(int)
    ol_cnt_sum, ol_rows = defaultdict(int), defaultdict(int)
    orders = {}
    for r in O:
        k = (r["o_w_id"], r["o_d_id"])
        o = int(r["o_id"])
        max_o[k] = max(max_o.get(k, 0), o)
        ol_cnt_sum[k] += int(r["o_ol_cnt"])
        orders[(r["o_w_id"], r["o_d_id"], o)] = r
    new_orders = set()
    for r in NO:
        k = (r["no_w_id"], r["no_d_id"])
        o = int(r["no_o_id"])
        max_no[k] = max(max_no.get(k, 0), o)
        min_no[k] = min(min_no.get(k, o), o)
        n_no[k] += 1
        new_orders.add((r["no_w_id"], r["no_d_id"], o))
    lines_of = defaultdict(int)
    delivered_amount = defaultdict(float)
    delivered_terms = defaultdict(int)
    for r in OL:
        k = (r["ol_w_id"], r["ol_d_id"])
        ol_rows[k] += 1
        ok = (r["ol_w_id"], r["ol_d_id"], int(r["ol_o_id"]))
        lines_of[ok] += 1
        o = orders.get(ok)
        if o is None or (r["ol_delivery_d"] == "") != (o["o_carrier_id"] == ""):
            bad["7 OL_DELIVERY_D null iff O_CARRIER_ID null"] += 1
        if o is not None and r["ol_delivery_d"] != "":
            c = (o["o_w_id"], o["o_d_id"], o["o_c_id"])
            delivered_amount[c] += float(r["ol_amount"])
            delivered_terms[c] += 1
    for r in D:
        k = (r["d_w_id"], r["d_id"])
        nxt = int(r["d_next_o_id"]) - 1
        if nxt != max_o.get(k, 0) or (k in max_no and nxt != max_no[k]):
            bad["2 D_NEXT_O_ID - 1 = max(O_ID) = max(NO_O_ID)"] += 1
        if k in n_no and max_no[k] - min_no[k] + 1 != n_no[k]:
            bad["3 max(NO_O_ID) - min(NO_O_ID) + 1 = count(NEW_ORDER)"] += 1
        if ol_cnt_sum[k] != ol_rows[k]:
            bad["4 sum(O_OL_CNT) = count(ORDER_LINE)"] += 1
        if not money(float(r["d_ytd"]), hd[k], 3000):
            bad["9 D_YTD = sum(H_AMOUNT)"] += 1
    for k, o in orders.items():
        if (o["o_carrier_id"] == "") != (k in new_orders):
            bad["5 O_CARRIER_ID null iff NEW_ORDER row"] += 1
        if int(o["o_ol_cnt"]) != lines_of[k]:
            bad["6 O_OL_CNT = count(lines)"] += 1
    for r in C:
        c = (r["c_w_id"], r["c_d_id"], r["c_id"])
        bal, ytd = float(r["c_balance"]), float(r["c_ytd_payment"])
        terms = delivered_terms[c] + 2
        if not money(bal, delivered_amount[c] - hc[c], terms):
            bad["10 C_BALANCE = sum(delivered OL_AMOUNT) - sum(H_AMOUNT)"] += 1
        if not money(bal + ytd, delivered_amount[c], terms):
            bad["12 C_BALANCE + C_YTD_PAYMENT = sum(delivered OL_AMOUNT)"] += 1
    if not deliveries_ran:
        print("(condition 11 needs the load's value; not checked here)")
    names = [
        "1 W_YTD = sum(D_YTD)", "2 D_NEXT_O_ID - 1 = max(O_ID) = max(NO_O_ID)",
        "3 max(NO_O_ID) - min(NO_O_ID) + 1 = count(NEW_ORDER)", "4 sum(O_OL_CNT) = count(ORDER_LINE)",
        "5 O_CARRIER_ID null iff NEW_ORDER row", "6 O_OL_CNT = count(lines)",
        "7 OL_DELIVERY_D null iff O_CARRIER_ID null", "8 W_YTD = sum(H_AMOUNT)", "9 D_YTD = sum(H_AMOUNT)",
        "10 C_BALANCE = sum(delivered OL_AMOUNT) - sum(H_AMOUNT)",
        "12 C_BALANCE + C_YTD_PAYMENT = sum(delivered OL_AMOUNT)",
    ]
    for n in names:
        print(f"condition {n}: {bad[n]} violation(s)")
    print(f"{len(W)} warehouses, {len(D)} districts, {len(C)} customers, {len(O)} orders, {len(OL)} order lines")
    sys.exit(1 if any(bad.values()) else 0)


if __name__ == "__main__":
    main()
