//! How slo writes a duration, the one rule for everything it prints to a
//! person and everything it writes into a generated file: the way a spec and
//! PromQL write it (`30d`, `1h`, `5m`, `1h30m`, `22h24m`).

use std::time::Duration;

/// The units, largest first, in milliseconds.
const UNITS: [(&str, u128); 5] = [
    ("d", 86_400_000),
    ("h", 3_600_000),
    ("m", 60_000),
    ("s", 1_000),
    ("ms", 1),
];

/// A duration in the largest exact units, each unit at most once and
/// largest first, as a spec and PromQL write it: `30d`, `28d`, `1h`, `56m`,
/// `1h30m` (not `90m`), `22h24m`, `1m30s`, `250ms`. Rounded to the nearest
/// millisecond; zero is `0s`. Weeks and years are not used (`14d`,
/// `365d`), as specs write periods in days.
///
/// Every such string is a valid PromQL duration (Prometheus reads compound
/// durations such as `1h30m`), except `0s`, which no range may be.
pub fn format(d: Duration) -> String {
    let mut ms = (d.as_nanos() + 500_000) / 1_000_000;
    if ms == 0 {
        return "0s".to_owned();
    }
    let mut out = String::new();
    for (unit, size) in UNITS {
        let n = ms / size;
        if n > 0 {
            out.push_str(&n.to_string());
            out.push_str(unit);
            ms -= n * size;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(secs: u64) -> String {
        format(Duration::from_secs(secs))
    }

    #[test]
    fn whole_units_as_a_spec_writes_them() {
        assert_eq!(s(30 * 86_400), "30d");
        assert_eq!(s(28 * 86_400), "28d");
        assert_eq!(s(3 * 86_400), "3d");
        assert_eq!(s(86_400), "1d");
        assert_eq!(s(6 * 3_600), "6h");
        assert_eq!(s(3_600), "1h");
        assert_eq!(s(56 * 60), "56m");
        assert_eq!(s(300), "5m");
        assert_eq!(s(366 * 86_400), "366d");
    }

    #[test]
    fn mixed_units_largest_first() {
        assert_eq!(s(90 * 60), "1h30m");
        // A 1d window scaled to a 28-day period: 1344 minutes.
        assert_eq!(s(1_344 * 60), "22h24m");
        assert_eq!(s(7 * 86_400 + 12 * 3_600), "7d12h");
        assert_eq!(s(86_400 + 1), "1d1s");
        assert_eq!(s(86_400 + 3_600 + 60 + 1), "1d1h1m1s");
        assert_eq!(s(25 * 3_600), "1d1h");
    }

    #[test]
    fn zero_and_sub_minute() {
        assert_eq!(s(0), "0s");
        assert_eq!(s(1), "1s");
        assert_eq!(s(45), "45s");
        assert_eq!(s(59), "59s");
        assert_eq!(s(60), "1m");
        assert_eq!(s(90), "1m30s");
        assert_eq!(s(70), "1m10s");
    }

    #[test]
    fn sub_second_to_the_millisecond() {
        assert_eq!(format(Duration::from_millis(250)), "250ms");
        assert_eq!(format(Duration::from_millis(1_500)), "1s500ms");
        assert_eq!(format(Duration::from_millis(60_001)), "1m1ms");
        assert_eq!(format(Duration::from_micros(1_499)), "1ms");
        assert_eq!(format(Duration::from_micros(1_500)), "2ms");
        assert_eq!(format(Duration::from_micros(400)), "0s");
        assert_eq!(format(Duration::from_nanos(999_999_999)), "1s");
    }

    #[test]
    fn every_output_reads_back_as_the_same_duration() {
        for secs in [
            1, 45, 90, 840, 3_360, 80_640, 5_443_200, 2_419_200, 31_622_400,
        ] {
            let text = s(secs);
            assert_eq!(
                humantime::parse_duration(&text).unwrap(),
                Duration::from_secs(secs),
                "{text}"
            );
            let parsed = crate::promql::check(&format!("rate(x[{text}])"));
            assert_eq!(parsed, Ok(()), "{text}");
        }
    }
}
