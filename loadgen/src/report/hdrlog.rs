//! The HdrHistogram interval log: one histogram of corrected latency per
//! second of the run, in the format of HdrHistogram's `HistogramLogWriter`
//! (so its `HistogramLogProcessor`, and the Python and Go log readers, read
//! it as they read their own):
//!
//! ```text
//! #loadgen: corrected latency (from the intended start), values in microseconds, ...
//! #[Histogram log format version 1.3]
//! #[StartTime: 1764600000.123 (seconds since epoch), 2026-12-01T14:40:00.123Z]
//! #[BaseTime: 1764600000.123 (seconds since epoch)]
//! "StartTimestamp","Interval_Length","Interval_Max","Interval_Compressed_Histogram"
//! #[MaxValueDivisor: 1000.000]
//! 0.000,1.000,12.345,HISTFAAAA...
//! ```
//!
//! Units: the histograms hold microseconds (1 µs to 1 h, 3 significant
//! digits), so `HistogramLogProcessor -outputValueUnitRatio 1000` prints
//! milliseconds (its default ratio, 1e6, assumes nanoseconds).
//! `Interval_Max` is in milliseconds (the maximum divided by 1000), as the
//! reference writer's default ratio makes it for nanosecond histograms.
//! Timestamps are seconds from `BaseTime`, the run's start. Lines carry no
//! tag: the reference processor reads only untagged lines unless given
//! `-tag`.
//!
//! The `hdrhistogram` crate writes the `StartTime`/`BaseTime` comments (the
//! former without the date), a `MaxValueDivisor` comment the reference
//! readers skip, and the interval lines; the version header, the dated
//! `StartTime` and the legend are written here, before its writer starts.

use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

use hdrhistogram::serialization::V2DeflateSerializer;
use hdrhistogram::serialization::interval_log::IntervalLogWriterBuilder;

use crate::stats::decode_histogram;

/// The reference format version the log follows.
pub const FORMAT_VERSION: &str = "1.3";
/// The reference legend line, before the interval lines.
pub const LEGEND: &str =
    "\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\"";
/// What `Interval_Max` is divided by: microseconds to milliseconds.
pub const MAX_VALUE_DIVISOR: f64 = 1000.0;

/// Seconds since the epoch with milliseconds, as the reference writes them.
fn epoch_seconds(t: SystemTime) -> String {
    let d = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    format!("{}.{:03}", d.as_secs(), d.subsec_millis())
}

/// The header: a comment naming the units, the format version, the start
/// time (with its date) and base time, and the legend.
fn header(started_at: SystemTime) -> String {
    let mut out = String::new();
    let at = epoch_seconds(started_at);
    let _ = writeln!(
        out,
        "#loadgen: corrected latency (from the intended start), values in microseconds, Interval_Max in milliseconds, one histogram per second"
    );
    let _ = writeln!(out, "#[Histogram log format version {FORMAT_VERSION}]");
    let _ = writeln!(
        out,
        "#[StartTime: {at} (seconds since epoch), {}]",
        humantime::format_rfc3339_millis(started_at)
    );
    let _ = writeln!(out, "#[BaseTime: {at} (seconds since epoch)]");
    let _ = writeln!(out, "{LEGEND}");
    out
}

/// Renders the log from the run's per-second histograms.
pub fn render(started_at: SystemTime, intervals: &[(u64, String)]) -> Result<Vec<u8>, String> {
    let mut out = header(started_at).into_bytes();
    let mut serializer = V2DeflateSerializer::new();
    {
        // StartTime and BaseTime are in the header above, so the crate's
        // builder is given neither (each would be written twice).
        let mut builder = IntervalLogWriterBuilder::new();
        builder.with_max_value_divisor(MAX_VALUE_DIVISOR);
        let mut writer = builder
            .begin_log_with(&mut out, &mut serializer)
            .map_err(|e| e.to_string())?;
        for (second, encoded) in intervals {
            let h = decode_histogram(encoded)?;
            writer
                .write_histogram(
                    &h,
                    Duration::from_secs(*second),
                    Duration::from_secs(1),
                    None,
                )
                .map_err(|e| format!("{e:?}"))?;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};

    #[test]
    fn log_follows_the_reference_layout_and_parses_back() {
        let mut h = hdrhistogram::Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).unwrap();
        h.record(1500).unwrap();
        let enc = crate::stats::encode_histogram(&h);
        let start = SystemTime::UNIX_EPOCH + Duration::from_millis(1_764_600_000_123);
        let bytes = render(start, &[(0, enc.clone()), (1, enc)]).unwrap();
        let text = String::from_utf8(bytes.clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[1], "#[Histogram log format version 1.3]");
        assert_eq!(
            lines[2],
            "#[StartTime: 1764600000.123 (seconds since epoch), 2025-12-01T14:40:00.123Z]"
        );
        assert_eq!(
            lines[3],
            "#[BaseTime: 1764600000.123 (seconds since epoch)]"
        );
        assert_eq!(lines[4], LEGEND);
        // Untagged lines, Interval_Max in milliseconds (1500 us).
        let intervals: Vec<&str> = lines
            .iter()
            .copied()
            .filter(|l| !l.starts_with(['#', '"']))
            .collect();
        assert_eq!(intervals.len(), 2, "{text}");
        assert!(
            intervals[0].starts_with("0.000,1.000,1.500,HISTF"),
            "{text}"
        );
        assert!(
            intervals[1].starts_with("1.000,1.000,1.500,HISTF"),
            "{text}"
        );
        // The crate's own reader takes it, StartTime once.
        let entries: Vec<_> = IntervalLogIterator::new(&bytes)
            .map(|e| e.unwrap())
            .collect();
        let starts = entries
            .iter()
            .filter(|e| matches!(e, LogEntry::StartTime(_)))
            .count();
        assert_eq!(starts, 1);
        let at: Vec<_> = entries
            .iter()
            .filter_map(|e| match e {
                LogEntry::Interval(i) => Some((i.start_timestamp(), i.tag().is_none())),
                _ => None,
            })
            .collect();
        assert_eq!(
            at,
            vec![
                (Duration::from_secs(0), true),
                (Duration::from_secs(1), true)
            ]
        );
    }
}
