#!/bin/sh
# active-customers: distinct customer ids that placed a (clean) order that day.
#   reads  orders/clean/region=R/date=D/orders.csv
#   writes customers/active/region=R/date=D/customers.txt  (one id per line, sorted)
set -eu

die() { echo "active-customers: $*" >&2; exit 1; }
usage() { echo "usage: run.sh --region eu|us|apac --date YYYY-MM-DD" >&2; exit 2; }

region=''
date=''
while [ $# -gt 0 ]; do
  case $1 in
    --region) [ $# -ge 2 ] || usage; region=$2; shift 2 ;;
    --date)   [ $# -ge 2 ] || usage; date=$2; shift 2 ;;
    *) echo "active-customers: unknown argument: $1" >&2; usage ;;
  esac
done
[ -n "$region" ] && [ -n "$date" ] || usage
[ -n "${STRATA_WAREHOUSE:-}" ] || die "STRATA_WAREHOUSE is not set"

in_ref="orders/clean/region=$region/date=$date"
src="$STRATA_WAREHOUSE/$in_ref/orders.csv"
[ -f "$src" ] || die "missing input file $src (is partition $in_ref built?)"
[ "$(head -n 1 "$src")" = 'order_id,customer_id,amount_cents' ] \
  || die "$src: expected header order_id,customer_id,amount_cents"

out="$STRATA_WAREHOUSE/customers/active/region=$region/date=$date"
mkdir -p "$out"
tmp="$out/.customers.txt.tmp.$$"
trap 'rm -f "$tmp"' EXIT

awk -F, 'NR > 1 && $2 != "" { print $2 }' "$src" | LC_ALL=C sort -u > "$tmp"
mv "$tmp" "$out/customers.txt"

n=$(wc -l < "$out/customers.txt" | tr -d ' ')
if [ -n "${STRATA_MANIFEST_FILE:-}" ]; then
  printf '{"customers": %d}\n' "$n" > "$STRATA_MANIFEST_FILE"
fi
echo "active-customers: $n customers -> $out/customers.txt"
