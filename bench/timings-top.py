#!/usr/bin/env python3
"""The most expensive units of a cargo --timings report, and the total.

    python3 bench/timings-top.py cargo-timing.html [N]

Prints the N (default 10) units with the longest duration (crate, version,
target, seconds, share of the summed duration) and the summed duration of all
units, which on a loaded machine compares better between two reports than the
wall time does.
"""

import json
import re
import sys


def units(html):
    m = re.search(r"const UNIT_DATA = (\[.*?\]);\s*\n", html, re.S)
    if not m:
        sys.exit("no UNIT_DATA in the report (is it a cargo --timings HTML file?)")
    return json.loads(m.group(1))


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    n = int(sys.argv[2]) if len(sys.argv) == 3 else 10
    with open(sys.argv[1], encoding="utf-8") as f:
        data = units(f.read())
    total = sum(u["duration"] for u in data)
    print(f"units: {len(data)}, summed duration: {total:.1f} s")
    print("| # | unit | s | share |")
    print("|---|---|---|---|")
    for i, u in enumerate(sorted(data, key=lambda u: -u["duration"])[:n], 1):
        target = u.get("target", "").strip()
        name = f'{u["name"]} {u["version"]}{(" " + target) if target else ""}'
        print(f'| {i} | {name} | {u["duration"]:.1f} | {100 * u["duration"] / total:.1f}% |')


if __name__ == "__main__":
    main()
