//! The HdrHistogram interval log (one histogram of corrected latency, in
//! microseconds, per second of the run), readable by HdrHistogram tools.

use std::time::{Duration, SystemTime};

use hdrhistogram::serialization::V2DeflateSerializer;
use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, Tag};

use crate::stats::decode_histogram;

/// Renders the log from the run's per-second histograms.
pub fn render(started_at: SystemTime, intervals: &[(u64, String)]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let mut serializer = V2DeflateSerializer::new();
    {
        let mut builder = IntervalLogWriterBuilder::new();
        builder
            .add_comment("loadgen: corrected latency in microseconds, one histogram per second")
            .with_start_time(started_at)
            .with_base_time(started_at)
            .with_max_value_divisor(1000.0);
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
                    Tag::new("corrected"),
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
    fn log_parses_back() {
        let mut h = hdrhistogram::Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).unwrap();
        h.record(1500).unwrap();
        let enc = crate::stats::encode_histogram(&h);
        let bytes = render(SystemTime::UNIX_EPOCH, &[(0, enc.clone()), (1, enc)]).unwrap();
        let entries: Vec<_> = IntervalLogIterator::new(&bytes)
            .filter_map(|e| match e {
                Ok(LogEntry::Interval(i)) => Some(i.start_timestamp()),
                _ => None,
            })
            .collect();
        assert_eq!(
            entries,
            vec![Duration::from_secs(0), Duration::from_secs(1)]
        );
    }
}
