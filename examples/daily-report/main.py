#!/usr/bin/env python3
"""daily-report: join a region's daily sales with its active customers.

reads  sales/region=R/date=D/total.json
       customers/active/region=R/date=D/customers.txt
writes reports/daily/region=R/date=D/report.json
"""
import argparse
import json
import os
import sys


def fail(msg):
    print(f"daily-report: {msg}", file=sys.stderr)
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

    sales_path = input_file(f"sales/region={a.region}/date={a.date}", "total.json")
    cust_path = input_file(f"customers/active/region={a.region}/date={a.date}", "customers.txt")

    try:
        with open(sales_path, encoding="utf-8") as f:
            sales = json.load(f)
        total, orders = int(sales["total_cents"]), int(sales["orders"])
    except (ValueError, KeyError, TypeError) as e:
        fail(f"{sales_path}: unreadable sales total ({e})")
    if sales.get("region") != a.region or sales.get("date") != a.date:
        fail(f"{sales_path}: holds region={sales.get('region')} date={sales.get('date')}, "
             f"expected region={a.region} date={a.date}")

    with open(cust_path, encoding="utf-8") as f:
        customers = sorted({line.strip() for line in f if line.strip()})

    n = len(customers)
    report = {
        "region": a.region,
        "date": a.date,
        "total_cents": total,
        "orders": orders,
        "active_customers": n,
        "avg_order_cents": total // orders if orders else 0,
        "revenue_per_customer_cents": total // n if n else 0,
    }
    dst = os.path.join(warehouse(), f"reports/daily/region={a.region}/date={a.date}", "report.json")
    write_json(dst, report)
    manifest = os.environ.get("STRATA_MANIFEST_FILE")
    if manifest:
        with open(manifest, "w", encoding="utf-8") as f:
            json.dump({"orders": orders, "active_customers": n}, f, sort_keys=True)
    print(f"daily-report: {a.region} {a.date}: {orders} orders, {n} customers -> {dst}")


if __name__ == "__main__":
    main()
