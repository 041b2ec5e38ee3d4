"""Reads a loadgen HdrHistogram log with HdrHistogram's Python package (an
implementation independent of the Rust crate loadgen writes it with) and
prints, as JSON, what the log holds: the sum of its intervals (count, p50,
p99, max in microseconds) and every way it departs from the reference
format (`problems`). Usage: python hdrlog_check.py LOG
"""

import json
import re
import sys

from hdrh.histogram import HdrHistogram
from hdrh.log import HistogramLogReader

LEGEND = '"StartTimestamp","Interval_Length","Interval_Max","Interval_Compressed_Histogram"'
VERSION = re.compile(r"^#\[Histogram log format version \d+\.\d+\]$")
# The reference writes the date after the seconds: "..., <date>]".
START = re.compile(r"^#\[StartTime: \d+\.\d{3} \(seconds since epoch\), .+\]$")
BASE = re.compile(r"^#\[BaseTime: \d+\.\d{3} \(seconds since epoch\)\]$")


def main(path):
    problems = []
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    intervals = [l for l in lines if l and not l.startswith(("#", '"'))]
    first_interval = next(
        (i for i, l in enumerate(lines) if l and not l.startswith(("#", '"'))),
        len(lines),
    )
    head = lines[:first_interval]
    for name, pattern in [("version", VERSION), ("StartTime", START), ("BaseTime", BASE)]:
        if not any(pattern.match(l) for l in head):
            problems.append(f"no {name} header before the first interval")
    if LEGEND not in head:
        problems.append("no legend line before the first interval")
    for l in intervals:
        if l.startswith("Tag="):
            problems.append(f"a tagged line (the reference processor skips it without -tag): {l[:40]}")
            l = l.split(",", 1)[1]
        fields = l.split(",")
        if len(fields) != 4:
            problems.append(f"not 4 fields: {l[:40]}")
            continue
        h = HdrHistogram.decode(fields[3])
        # Interval_Max is in milliseconds: the microsecond maximum / 1000,
        # written with 3 decimals.
        if abs(float(fields[2]) - h.get_max_value() / 1000.0) > 0.0015:
            problems.append(
                f"Interval_Max {fields[2]} is not the interval's maximum in ms ({h.get_max_value() / 1000.0})"
            )

    reader = HistogramLogReader(path, HdrHistogram(1, 3_600_000_000, 3))
    total = HdrHistogram(1, 3_600_000_000, 3)
    read = 0
    while True:
        h = reader.get_next_interval_histogram()
        if h is None:
            break
        total.add(h)
        read += 1
    reader.close()
    if read != len(intervals):
        problems.append(f"the reader read {read} of {len(intervals)} interval lines")
    print(
        json.dumps(
            {
                "intervals": read,
                "count": total.get_total_count(),
                "p50_us": total.get_value_at_percentile(50.0),
                "p99_us": total.get_value_at_percentile(99.0),
                "max_us": total.get_max_value(),
                "problems": problems,
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1])
