#!/usr/bin/env python3
"""global-sales: sum the daily sales of every region.

reads  sales/region=eu/date=D/total.json, .../region=us/..., .../region=apac/...
writes sales/global/date=D/total.json  {"date", "total_cents", "orders", "regions": {...}}
"""
import argparse
import json
import os
import sys

REGIONS = ("eu", "us", "apac")  # keep in sync with the inputs in job.yaml


def fail(msg):
    print(f"global-sales: {msg}", file=sys.stderr)
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
    p.add_argument("--date", required=True)
    a = p.parse_args()

    regions = {}
    for region in REGIONS:
        path = input_file(f"sales/region={region}/date={a.date}", "total.json")
        try:
            with open(path, encoding="utf-8") as f:
                t = json.load(f)
            regions[region] = {"total_cents": int(t["total_cents"]), "orders": int(t["orders"])}
        except (ValueError, KeyError, TypeError) as e:
            fail(f"{path}: unreadable sales total ({e})")

    result = {
        "date": a.date,
        "total_cents": sum(r["total_cents"] for r in regions.values()),
        "orders": sum(r["orders"] for r in regions.values()),
        "regions": regions,
    }
    dst = os.path.join(warehouse(), f"sales/global/date={a.date}", "total.json")
    write_json(dst, result)
    manifest = os.environ.get("STRATA_MANIFEST_FILE")
    if manifest:
        with open(manifest, "w", encoding="utf-8") as f:
            json.dump({"total_cents": result["total_cents"], "orders": result["orders"]}, f, sort_keys=True)
    print(f"global-sales: {a.date}: {result['orders']} orders, {result['total_cents']} cents -> {dst}")


if __name__ == "__main__":
    main()
