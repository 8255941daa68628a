#!/usr/bin/env python3
"""weekly-sales dynamic job.config.

stdin : {"outputs": ["sales/weekly/week=2026-W45", ...]}
stdout: {"configs": [{"outputs": [ref], "inputs": [7 x sales/global/date=...],
                      "args": ["--week", "2026-W45"], "env": {}}, ...]}
One config (one task) per requested week. Errors go to stderr with exit 1.
"""
import datetime
import json
import re
import sys

REF = re.compile(r"^sales/weekly/week=(\d{4})-W(\d{2})$")


def fail(msg):
    print(f"weekly-sales config: {msg}", file=sys.stderr)
    sys.exit(1)


def week_days(year, week):
    """The 7 dates (Monday..Sunday) of ISO week `week` of ISO year `year`."""
    return [datetime.date.fromisocalendar(year, week, d) for d in range(1, 8)]


def main():
    try:
        request = json.load(sys.stdin)
    except json.JSONDecodeError as e:
        fail(f"stdin is not JSON: {e}")
    outputs = request.get("outputs") if isinstance(request, dict) else None
    if not isinstance(outputs, list) or not all(isinstance(o, str) for o in outputs):
        fail('stdin must be {"outputs": ["sales/weekly/week=YYYY-Www", ...]}')

    configs = []
    for ref in dict.fromkeys(outputs):  # de-duplicate, keep order
        m = REF.match(ref)
        if not m:
            fail(f"cannot handle output {ref!r} (expected sales/weekly/week=YYYY-Www)")
        year, week = int(m.group(1)), int(m.group(2))
        try:
            days = week_days(year, week)
        except ValueError:
            fail(f"{ref}: {year} has no ISO week {week}")
        label = f"{year:04d}-W{week:02d}"
        configs.append({
            "outputs": [ref],
            "inputs": [f"sales/global/date={d.isoformat()}" for d in days],
            "args": ["--week", label],
            "env": {},
        })

    sys.stdout.write(json.dumps({"configs": configs}) + "\n")


if __name__ == "__main__":
    main()
