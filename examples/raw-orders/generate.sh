#!/bin/sh
# raw-orders: write ~20 deterministic raw orders for one region and date to
#   $STRATA_WAREHOUSE/orders/raw/region=<region>/date=<date>/orders.csv
# The "randomness" comes from cksum of "region|date|row", so a rerun writes
# exactly the same bytes. Some amounts are <= 0 on purpose (clean-orders drops them).
set -eu

die() { echo "raw-orders: $*" >&2; exit 1; }
usage() { echo "usage: generate.sh --region eu|us|apac --date YYYY-MM-DD" >&2; exit 2; }

region=''
date=''
while [ $# -gt 0 ]; do
  case $1 in
    --region) [ $# -ge 2 ] || usage; region=$2; shift 2 ;;
    --date)   [ $# -ge 2 ] || usage; date=$2; shift 2 ;;
    *) echo "raw-orders: unknown argument: $1" >&2; usage ;;
  esac
done
[ -n "$region" ] && [ -n "$date" ] || usage
case $region in
  eu|us|apac) ;;
  *) die "bad region '$region' (expected eu, us or apac)" ;;
esac
printf '%s\n' "$date" | grep -Eq '^[0-9]{4}-[0-9]{2}-[0-9]{2}$' \
  || die "bad date '$date' (expected YYYY-MM-DD)"
[ -n "${STRATA_WAREHOUSE:-}" ] || die "STRATA_WAREHOUSE is not set"

out="$STRATA_WAREHOUSE/orders/raw/region=$region/date=$date"
mkdir -p "$out"
tmp="$out/.orders.csv.tmp.$$"
trap 'rm -f "$tmp"' EXIT

# hash STRING -> unsigned decimal (POSIX cksum CRC, identical on every platform)
hash() { printf '%s' "$1" | cksum | cut -d' ' -f1; }

seed=$(hash "$region|$date")
rows=$((18 + seed % 5))          # 18..22 rows
compact_date=$(printf '%s' "$date" | tr -d '-')

{
  echo 'order_id,customer_id,amount_cents'
  i=1
  while [ "$i" -le "$rows" ]; do
    h=$(hash "$region|$date|$i")
    customer=$(( (h / 7) % 12 + 1 ))         # 12 possible customers per region
    amount=$(( h % 25000 - 2000 ))           # -2000..22999 cents, ~8% <= 0
    printf '%s-%s-%03d,%s-c%03d,%d\n' "$region" "$compact_date" "$i" "$region" "$customer" "$amount"
    i=$((i + 1))
  done
} > "$tmp"
mv "$tmp" "$out/orders.csv"

if [ -n "${STRATA_MANIFEST_FILE:-}" ]; then
  printf '{"rows": %d}\n' "$rows" > "$STRATA_MANIFEST_FILE"
fi
echo "raw-orders: wrote $rows rows to $out/orders.csv"
