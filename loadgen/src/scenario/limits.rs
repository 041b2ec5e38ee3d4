//! The documented range of every number in a scenario (loadgen/README.md,
//! "Ranges"). `validate` and `run` check the same ranges, so what validates
//! is what can run: every count the engine allocates up front (the user
//! pool, the queue of waiting iterations) is bounded here, and no duration
//! arithmetic downstream can overflow.

use std::time::Duration;

/// Per-request timeout: more than 0, at most 1 h (the latency histograms
/// record up to 1 h).
pub const MAX_TIMEOUT: Duration = Duration::from_secs(3600);
/// Think time (per scenario or request): at most 1 h.
pub const MAX_THINK_TIME: Duration = Duration::from_secs(3600);
/// A whole run (the sum of its stages, or `--duration`): at most 24 h. The
/// report keeps one interval per second.
pub const MAX_RUN: Duration = Duration::from_secs(24 * 3600);
/// Arrival rates (`rate`, `start_rate`, open-model stage targets), per
/// second, for one process: more than one process can send anyway (split
/// larger loads with `--shard-count`).
pub const MAX_RATE: f64 = 1e5;
/// `users`, `max_users` and closed-model stage targets: goose starts every
/// user before the run and each holds a connection for the whole run
/// (100 000 users took minutes to start and over 1.4 GB).
pub const MAX_USERS: u32 = 10_000;
/// `max_queue`: iterations waiting for a free user; the queue is allocated
/// up front.
pub const MAX_QUEUE: u32 = 1_000_000;
/// A scenario's weight.
pub const MAX_WEIGHT: u32 = 1_000_000;
/// The sum of all weights (the weighted choice counts in u32).
pub const MAX_TOTAL_WEIGHT: u64 = u32::MAX as u64;
/// A run's request budget (`load.requests`): 1 to 10^9 (a billion
/// requests is days at any rate one process sends).
pub const MAX_REQUESTS: u64 = 1_000_000_000;
/// Rows of one CSV data file.
pub const MAX_DATA_ROWS: usize = 1_000_000;

/// A duration out of its range.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{what} must be more than 0 and at most {}, got {}", fmt(*max), fmt(*got))]
pub struct DurationRange {
    pub what: &'static str,
    pub got: Duration,
    pub max: Duration,
}

/// A duration as a person writes it; whole seconds beyond a year.
fn fmt(d: Duration) -> String {
    if d.as_secs() > 366 * 86_400 {
        format!("{}s", d.as_secs())
    } else {
        humantime::format_duration(d).to_string()
    }
}

/// A number from a file, short: `1e308`, not 309 digits.
pub fn number(v: f64) -> String {
    if v.is_finite() && v.abs() >= 1e7 {
        format!("{v:e}")
    } else {
        format!("{v}")
    }
}

/// Checks that `got` is more than 0 and at most `max`.
pub fn duration(
    what: &'static str,
    got: Duration,
    max: Duration,
) -> Result<Duration, DurationRange> {
    if got.is_zero() || got > max {
        Err(DurationRange { what, got, max })
    } else {
        Ok(got)
    }
}

/// Checks a `--duration` override: the same range as a scenario's run.
pub fn run_duration(got: Duration) -> Result<Duration, DurationRange> {
    duration("--duration", got, MAX_RUN)
}

/// Checks on one request, at most.
pub const MAX_CHECKS: usize = 100;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duration_ranges_exclude_zero_and_include_the_cap() {
        assert!(duration("timeout", Duration::ZERO, MAX_TIMEOUT).is_err());
        assert!(duration("timeout", MAX_TIMEOUT, MAX_TIMEOUT).is_ok());
        let e = duration("timeout", Duration::from_secs(u64::MAX), MAX_TIMEOUT).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("timeout must be more than 0 and at most 1h, got "),
            "{e}"
        );
        assert!(run_duration(Duration::from_secs(86_401)).is_err());
        assert!(run_duration(Duration::from_millis(1)).is_ok());
    }
}
