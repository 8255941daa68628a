#!/usr/bin/env python3
"""region-sales: total the clean orders of one region and day.

reads  orders/clean/region=R/date=D/orders.csv
writes sales/region=R/date=D/total.json  {"region", "date", "total_cents", "orders"}
"""
import argparse
import csv
import json
import os
import sys

HEADER = ["order_id", "customer_id", "amount_cents"]


def fail(msg):
    print(f"region-sales: {msg}", file=sys.stderr)
    sys.exit(1)


def warehouse():
    root = os.environ.get("STRATA_WAREHOUSE")
    if not root:
        fail("STRATA_WAREHOUSE is not set")
    return root


def input_file(ref, name):
    path = os.path.join(warehouse(), ref, name)
    if not os.path.isfile(path):
        fail(f"missing input file {path} (is partition {ref} built?)")
    return path


def write_json(path, obj):
    os.makedirs(os.path.dirname(path), exist_ok=True)  # mkdir -p
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2, sort_keys=True)
        f.write("\n")
    os.replace(tmp, path)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--region", required=True, choices=["eu", "us", "apac"])
    p.add_argument("--date", required=True)
    a = p.parse_args()

    src = input_file(f"orders/clean/region={a.region}/date={a.date}", "orders.csv")
    with open(src, encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    if not rows or rows[0] != HEADER:
        fail(f"{src}: expected header {','.join(HEADER)}")

    total = 0
    for lineno, row in enumerate(rows[1:], start=2):
        try:
            total += int(row[2])
        except (IndexError, ValueError):
            fail(f"{src}:{lineno}: bad row {row!r}")

    result = {"region": a.region, "date": a.date, "total_cents": total, "orders": len(rows) - 1}
    dst = os.path.join(warehouse(), f"sales/region={a.region}/date={a.date}", "total.json")
    write_json(dst, result)
    manifest = os.environ.get("STRATA_MANIFEST_FILE")
    if manifest:
        with open(manifest, "w", encoding="utf-8") as f:
            json.dump({"total_cents": total, "orders": result["orders"]}, f, sort_keys=True)
    print(f"region-sales: {result['orders']} orders, {total} cents -> {dst}")


if __name__ == "__main__":
    main()
