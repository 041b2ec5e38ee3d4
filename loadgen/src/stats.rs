//! One statistics type, [`Stats`]: push samples, merge, read percentiles.
//! Used for each request name, for the whole run, and (as [`Interval`]) for
//! each second. Memory is fixed: HdrHistograms in microseconds, counters by
//! kind and status, and the N slowest requests.

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine as _;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};
use serde::{Deserialize, Serialize};

/// Latencies above this (one hour) are recorded as this.
pub const MAX_MICROS: u64 = 3_600_000_000;
/// How many of the slowest requests each [`Stats`] keeps.
pub const SLOWEST: usize = 5;

/// How a request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// A response with an expected status.
    Ok(u16),
    /// A response with a status the scenario does not accept.
    Status(u16),
    Timeout,
    Connect,
    /// Any other transport error (including reading the body).
    Request,
}

impl Outcome {
    pub fn status(self) -> Option<u16> {
        match self {
            Outcome::Ok(s) | Outcome::Status(s) => Some(s),
            _ => None,
        }
    }

    /// The error kind, or `None` for a success.
    pub fn error_kind(self) -> Option<&'static str> {
        match self {
            Outcome::Ok(_) => None,
            Outcome::Status(_) => Some("status"),
            Outcome::Timeout => Some("timeout"),
            Outcome::Connect => Some("connect"),
            Outcome::Request => Some("request"),
        }
    }
}

/// One finished request, as the recorder sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// Index of the request name.
    pub name: usize,
    /// From the intended start to the end (coordinated-omission corrected).
    pub corrected: Duration,
    /// From the actual send to the end.
    pub actual: Duration,
    /// When it ended, from the run's start.
    pub at: Duration,
    pub outcome: Outcome,
    pub trace_id: u128,
}

/// One of the slowest requests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Slow {
    pub trace_id: String,
    pub latency_ms: f64,
    pub status: Option<u16>,
    pub error: Option<String>,
    /// Seconds from the run's start at which it ended.
    pub at_s: f64,
}

fn histogram() -> Histogram<u64> {
    // Bounds are constants that the crate accepts; failure would be a bug here.
    Histogram::new_with_bounds(1, MAX_MICROS, 3).unwrap_or_else(|_| unreachable!())
}

fn micros(d: Duration) -> u64 {
    (d.as_micros() as u64).clamp(1, MAX_MICROS)
}

/// Statistics of a set of requests.
#[derive(Debug, Clone)]
pub struct Stats {
    pub corrected: Histogram<u64>,
    pub actual: Histogram<u64>,
    pub count: u64,
    pub errors: BTreeMap<String, u64>,
    pub statuses: BTreeMap<u16, u64>,
    pub slowest: Vec<Slow>,
}

impl Default for Stats {
    fn default() -> Self {
        Self {
            corrected: histogram(),
            actual: histogram(),
            count: 0,
            errors: BTreeMap::new(),
            statuses: BTreeMap::new(),
            slowest: Vec::new(),
        }
    }
}

impl Stats {
    pub fn push(&mut self, s: &Sample) {
        self.corrected.saturating_record(micros(s.corrected));
        self.actual.saturating_record(micros(s.actual));
        self.count += 1;
        if let Some(status) = s.outcome.status() {
            *self.statuses.entry(status).or_default() += 1;
        }
        if let Some(kind) = s.outcome.error_kind() {
            *self.errors.entry(kind.to_owned()).or_default() += 1;
        }
        let latency_ms = s.corrected.as_secs_f64() * 1000.0;
        if self.slowest.len() < SLOWEST
            || self
                .slowest
                .last()
                .is_some_and(|l| l.latency_ms < latency_ms)
        {
            self.slowest.push(Slow {
                trace_id: format!("{:032x}", s.trace_id),
                latency_ms,
                status: s.outcome.status(),
                error: s.outcome.error_kind().map(str::to_owned),
                at_s: s.at.as_secs_f64(),
            });
            self.sort_slowest();
        }
    }

    /// Records only what an interval reports: corrected latency and counters.
    pub fn push_interval(&mut self, s: &Sample) {
        self.corrected.saturating_record(micros(s.corrected));
        self.count += 1;
        if let Some(status) = s.outcome.status() {
            *self.statuses.entry(status).or_default() += 1;
        }
        if let Some(kind) = s.outcome.error_kind() {
            *self.errors.entry(kind.to_owned()).or_default() += 1;
        }
    }

    fn sort_slowest(&mut self) {
        self.slowest
            .sort_by(|a, b| b.latency_ms.total_cmp(&a.latency_ms));
        self.slowest.truncate(SLOWEST);
    }

    pub fn merge(&mut self, other: &Stats) {
        // Same bounds on both sides: addition cannot fail.
        let _ = self.corrected.add(&other.corrected);
        let _ = self.actual.add(&other.actual);
        self.count += other.count;
        for (k, v) in &other.errors {
            *self.errors.entry(k.clone()).or_default() += v;
        }
        for (k, v) in &other.statuses {
            *self.statuses.entry(*k).or_default() += v;
        }
        self.slowest.extend(other.slowest.iter().cloned());
        self.sort_slowest();
    }

    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }

    pub fn error_rate(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.error_count() as f64 / self.count as f64
        }
    }

    /// A percentile (0..100) in milliseconds, corrected or as sent.
    pub fn percentile_ms(&self, q: f64, corrected: bool) -> f64 {
        let h = if corrected {
            &self.corrected
        } else {
            &self.actual
        };
        if h.is_empty() {
            return 0.0;
        }
        h.value_at_quantile(q / 100.0) as f64 / 1000.0
    }

    pub fn max_ms(&self, corrected: bool) -> f64 {
        let h = if corrected {
            &self.corrected
        } else {
            &self.actual
        };
        h.max() as f64 / 1000.0
    }

    pub fn mean_ms(&self, corrected: bool) -> f64 {
        let h = if corrected {
            &self.corrected
        } else {
            &self.actual
        };
        if h.is_empty() { 0.0 } else { h.mean() / 1000.0 }
    }
}

/// Serializes a histogram (HdrHistogram V2, deflated, base64).
pub fn encode_histogram(h: &Histogram<u64>) -> String {
    let mut buf = Vec::new();
    if V2DeflateSerializer::new().serialize(h, &mut buf).is_err() {
        return String::new();
    }
    base64::engine::general_purpose::STANDARD.encode(buf)
}

/// Reads a histogram written by [`encode_histogram`].
pub fn decode_histogram(s: &str) -> Result<Histogram<u64>, String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(s)
        .map_err(|e| format!("invalid base64: {e}"))?;
    Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .map_err(|e| format!("invalid histogram: {e:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(ms: u64, outcome: Outcome) -> Sample {
        Sample {
            name: 0,
            corrected: Duration::from_millis(ms),
            actual: Duration::from_millis(ms / 2),
            at: Duration::from_secs(1),
            outcome,
            trace_id: u128::from(ms),
        }
    }

    #[test]
    fn push_merge_percentiles() {
        let mut a = Stats::default();
        let mut b = Stats::default();
        for ms in 1..=100 {
            a.push(&sample(ms, Outcome::Ok(200)));
        }
        b.push(&sample(1000, Outcome::Status(500)));
        b.push(&sample(5, Outcome::Timeout));
        a.merge(&b);
        assert_eq!(a.count, 102);
        assert_eq!(a.error_count(), 2);
        assert_eq!(a.errors["status"], 1);
        assert_eq!(a.errors["timeout"], 1);
        assert_eq!(a.statuses[&200], 100);
        assert_eq!(a.statuses[&500], 1);
        let p50 = a.percentile_ms(50.0, true);
        assert!((50.0..=52.0).contains(&p50), "{p50}");
        assert!((a.max_ms(true) - 1000.0).abs() < 1.0);
        assert!((a.max_ms(false) - 500.0).abs() < 1.0);
        assert_eq!(a.slowest.len(), SLOWEST);
        assert_eq!(a.slowest[0].latency_ms, 1000.0);
        assert_eq!(a.slowest[0].status, Some(500));
        assert_eq!(a.slowest[1].latency_ms, 100.0);
        assert!((a.error_rate() - 2.0 / 102.0).abs() < 1e-12);
    }

    #[test]
    fn histograms_round_trip() {
        let mut s = Stats::default();
        for ms in [1, 2, 3, 50, 900] {
            s.push(&sample(ms, Outcome::Ok(200)));
        }
        let text = encode_histogram(&s.corrected);
        let back = decode_histogram(&text).unwrap();
        assert_eq!(back, s.corrected);
        assert!(decode_histogram("not base64!").is_err());
    }
}
