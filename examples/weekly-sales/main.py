#!/usr/bin/env python3
"""weekly-sales: sum the 7 global daily totals of one ISO week.

argv   --week YYYY-Www             (from config.py's args)
inputs read from STRATA_JOB_CONFIG  (7 x sales/global/date=YYYY-MM-DD)
writes sales/weekly/week=YYYY-Www/total.json
"""
import argparse
import datetime
import json
import os
import re
import sys

INPUT_REF = re.compile(r"^sales/global/date=(\d{4}-\d{2}-\d{2})$")


def fail(msg):
    print(f"weekly-sales: {msg}", file=sys.stderr)
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


def input_refs():
    raw = os.environ.get("STRATA_JOB_CONFIG")
    if not raw:
        fail("STRATA_JOB_CONFIG is not set")
    try:
        config = json.loads(raw)
        refs = []
        for dep in config.get("inputs", []):
            refs.append(dep if isinstance(dep, str) else dep["partitionRef"])
    except (json.JSONDecodeError, AttributeError, KeyError, TypeError) as e:
        fail(f"STRATA_JOB_CONFIG is not a valid job config ({e!r})")
    return refs


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--week", required=True)
    a = p.parse_args()
    m = re.fullmatch(r"(\d{4})-W(\d{2})", a.week)
    if not m:
        fail(f"bad --week {a.week!r} (expected YYYY-Www)")
    try:
        expected = {datetime.date.fromisocalendar(int(m.group(1)), int(m.group(2)), d).isoformat()
                    for d in range(1, 8)}
    except ValueError:
        fail(f"{a.week} is not an ISO week")

    dates = {}
    for ref in input_refs():
        im = INPUT_REF.match(ref)
        if not im:
            fail(f"unexpected input partition {ref!r}")
        dates[im.group(1)] = ref
    if set(dates) != expected:
        fail(f"inputs do not cover week {a.week} exactly: got {sorted(dates)}, "
             f"expected {sorted(expected)}")

    days = []
    for date in sorted(dates):
        path = input_file(dates[date], "total.json")
        try:
            with open(path, encoding="utf-8") as f:
                t = json.load(f)
            days.append({"date": date, "total_cents": int(t["total_cents"]), "orders": int(t["orders"])})
        except (ValueError, KeyError, TypeError) as e:
            fail(f"{path}: unreadable sales total ({e})")

    result = {
        "week": a.week,
        "total_cents": sum(d["total_cents"] for d in days),
        "orders": sum(d["orders"] for d in days),
        "days": days,
    }
    dst = os.path.join(warehouse(), f"sales/weekly/week={a.week}", "total.json")
    write_json(dst, result)
    manifest = os.environ.get("STRATA_MANIFEST_FILE")
    if manifest:
        with open(manifest, "w", encoding="utf-8") as f:
            json.dump({"total_cents": result["total_cents"], "orders": result["orders"]}, f, sort_keys=True)
    print(f"weekly-sales: {a.week}: {result['orders']} orders, {result['total_cents']} cents -> {dst}")


if __name__ == "__main__":
    main()
