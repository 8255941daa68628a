#!/usr/bin/env python3
"""clean-orders: drop raw orders whose amount is <= 0.

reads  orders/raw/region=R/date=D/orders.csv
writes orders/clean/region=R/date=D/orders.csv
manifest {"rows": kept, "dropped": dropped}
"""
import argparse
import csv
import io
import json
import os
import sys

HEADER = ["order_id", "customer_id", "amount_cents"]


def fail(msg):
    print(f"clean-orders: {msg}", file=sys.stderr)
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


def write_atomic(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)  # mkdir -p
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "w", encoding="utf-8", newline="") as f:
        f.write(text)
    os.replace(tmp, path)


def write_manifest(meta):
    path = os.environ.get("STRATA_MANIFEST_FILE")
    if path:
        with open(path, "w", encoding="utf-8") as f:
            json.dump(meta, f, sort_keys=True)
            f.write("\n")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--region", required=True, choices=["eu", "us", "apac"])
    p.add_argument("--date", required=True)
    a = p.parse_args()

    src = input_file(f"orders/raw/region={a.region}/date={a.date}", "orders.csv")
    out_ref = f"orders/clean/region={a.region}/date={a.date}"

    with open(src, encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    if not rows or rows[0] != HEADER:
        fail(f"{src}: expected header {','.join(HEADER)}")

    kept, dropped = [], 0
    for lineno, row in enumerate(rows[1:], start=2):
        if len(row) != 3:
            fail(f"{src}:{lineno}: expected 3 fields, got {len(row)}")
        try:
            amount = int(row[2])
        except ValueError:
            fail(f"{src}:{lineno}: amount_cents is not an integer: {row[2]!r}")
        if amount <= 0:
            dropped += 1
        else:
            kept.append(row)

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(HEADER)
    w.writerows(kept)
    dst = os.path.join(warehouse(), out_ref, "orders.csv")
    write_atomic(dst, buf.getvalue())
    write_manifest({"rows": len(kept), "dropped": dropped})
    print(f"clean-orders: kept {len(kept)}, dropped {dropped} -> {dst}")


if __name__ == "__main__":
    main()
