//! One statistics type, [`Stats`]: push samples, merge, read percentiles.
//! Used for each request name, for the whole run, and (in the recorder's per-second intervals) for
//! each second. Memory is fixed: HdrHistograms in microseconds, counters by
//! kind and status, the first few distinct error messages per kind
//! ([`Reasons`]), and the N slowest requests.

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
/// Distinct error messages kept per error kind; later ones count as [`OTHER_REASON`].
pub const MAX_REASONS: usize = 5;
/// Longest error message kept, in characters; longer ones are cut (with `…`).
pub const MAX_REASON_CHARS: usize = 120;
/// Where messages beyond the first [`MAX_REASONS`] of a kind are counted.
pub const OTHER_REASON: &str = "other";

/// Error messages with their counts, by error kind, and one of the slowest
/// requests: wire types of the run report (`common::report`).
pub use common::report::{Reasons, Slow};

/// Cuts a message to [`MAX_REASON_CHARS`] and to one line.
pub fn clip_reason(message: &str) -> String {
    let line = message.lines().next().unwrap_or_default().trim();
    if line.chars().count() <= MAX_REASON_CHARS {
        return line.to_owned();
    }
    let mut cut: String = line.chars().take(MAX_REASON_CHARS - 1).collect();
    cut.push('…');
    cut
}

/// Counts `n` errors of `kind` with `message`: the first [`MAX_REASONS`]
/// distinct messages of a kind are kept, the rest are counted as
/// [`OTHER_REASON`], so memory stays bounded whatever the errors say.
pub fn add_reason(reasons: &mut Reasons, kind: &str, message: &str, n: u64) {
    let per_kind = match reasons.get_mut(kind) {
        Some(m) => m,
        None => reasons.entry(kind.to_owned()).or_default(),
    };
    let short = message.len() <= MAX_REASON_CHARS && !message.contains('\n');
    let clipped;
    let message = if short {
        message
    } else {
        clipped = clip_reason(message);
        clipped.as_str()
    };
    if let Some(c) = per_kind.get_mut(message) {
        *c = c.saturating_add(n);
        return;
    }
    let distinct = per_kind.keys().filter(|k| *k != OTHER_REASON).count();
    let key = if distinct < MAX_REASONS {
        message
    } else {
        OTHER_REASON
    };
    let c = per_kind.entry(key.to_owned()).or_default();
    *c = c.saturating_add(n);
}

/// Adds every reason of `from` into `into`, within the same bounds.
pub fn merge_reasons(into: &mut Reasons, from: &Reasons) {
    for (kind, messages) in from {
        for (message, n) in messages {
            add_reason(into, kind, message, *n);
        }
    }
}

/// The error kinds, as [`Outcome::error_kind`] names them.
pub const ERROR_KINDS: [&str; 4] = ["status", "timeout", "connect", "request"];

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
    /// Why this outcome is an error, when no transport message says more:
    /// `HTTP 503` for an unexpected status.
    pub fn default_reason(self) -> Option<String> {
        let mut text = String::new();
        self.write_default_reason(&mut text).then_some(text)
    }

    /// Writes [`Outcome::default_reason`] into `out` without allocating
    /// one; false (nothing written) for a success.
    pub fn write_default_reason(self, out: &mut impl std::fmt::Write) -> bool {
        let _ = match self {
            Outcome::Ok(_) => return false,
            Outcome::Status(s) => write!(out, "HTTP {s}"),
            Outcome::Timeout => out.write_str("timeout"),
            Outcome::Connect => out.write_str("connect failed"),
            Outcome::Request => out.write_str("request failed"),
        };
        true
    }

    pub fn status(self) -> Option<u16> {
        match self {
            Outcome::Ok(s) | Outcome::Status(s) => Some(s),
            _ => None,
        }
    }

    /// The error kind, or `None` for a success.
    pub fn error_kind(self) -> Option<&'static str> {
        self.error_index().map(|i| ERROR_KINDS[i])
    }

    /// The error kind's index in [`ERROR_KINDS`], or `None` for a success.
    pub fn error_index(self) -> Option<usize> {
        match self {
            Outcome::Ok(_) => None,
            Outcome::Status(_) => Some(0),
            Outcome::Timeout => Some(1),
            Outcome::Connect => Some(2),
            Outcome::Request => Some(3),
        }
    }
}

/// One finished request, as the recorder sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Index of the request name.
    pub name: usize,
    /// Index of the request's series of the client metrics (scenario,
    /// name and method: [`crate::metrics::SeriesMeta`]).
    pub series: u32,
    /// From the intended start to the end (coordinated-omission corrected).
    pub corrected: Duration,
    /// From the actual send to the end.
    pub actual: Duration,
    /// When it ended, from the run's start.
    pub at: Duration,
    pub outcome: Outcome,
    pub trace_id: u128,
    /// Why it failed, when the transport says (`connection refused`); an
    /// error without one gets [`Outcome::default_reason`].
    pub reason: Option<String>,
    /// Bytes of response body received (0 when no response came).
    pub body_bytes: u64,
}

pub(crate) fn histogram() -> Histogram<u64> {
    // Bounds are constants that the crate accepts; failure would be a bug here.
    Histogram::new_with_bounds(1, MAX_MICROS, 3).unwrap_or_else(|_| unreachable!())
}

pub(crate) fn micros(d: Duration) -> u64 {
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
    /// The first few distinct error messages per kind, with counts.
    pub reasons: Reasons,
    pub slowest: Vec<Slow>,
    /// Bytes of response bodies received.
    pub bytes: u64,
}

impl Default for Stats {
    fn default() -> Self {
        Self {
            corrected: histogram(),
            actual: histogram(),
            count: 0,
            errors: BTreeMap::new(),
            statuses: BTreeMap::new(),
            reasons: Reasons::new(),
            slowest: Vec::new(),
            bytes: 0,
        }
    }
}

impl Stats {
    pub fn push(&mut self, s: &Sample) {
        self.corrected.saturating_record(micros(s.corrected));
        self.actual.saturating_record(micros(s.actual));
        self.count += 1;
        self.bytes = self.bytes.saturating_add(s.body_bytes);
        if let Some(status) = s.outcome.status() {
            *self.statuses.entry(status).or_default() += 1;
        }
        if let Some(kind) = s.outcome.error_kind() {
            self.add_errors(kind, 1);
            match &s.reason {
                Some(r) => add_reason(&mut self.reasons, kind, r, 1),
                None => {
                    let r = s.outcome.default_reason().unwrap_or_default();
                    add_reason(&mut self.reasons, kind, &r, 1);
                }
            }
        }
        self.offer_slow(s.corrected, s.outcome, s.trace_id, s.at);
    }

    /// True when a request of `latency` would be among the slowest kept.
    pub fn is_slow(&self, latency: Duration) -> bool {
        self.slowest.len() < SLOWEST
            || self
                .slowest
                .last()
                .is_some_and(|l| l.latency_ms < latency.as_secs_f64() * 1000.0)
    }

    /// Keeps a request among the slowest when it is one of them.
    pub fn offer_slow(
        &mut self,
        latency: Duration,
        outcome: Outcome,
        trace_id: u128,
        at: Duration,
    ) {
        if self.is_slow(latency) {
            self.slowest.push(Slow {
                trace_id: format!("{trace_id:032x}"),
                latency_ms: latency.as_secs_f64() * 1000.0,
                status: outcome.status(),
                error: outcome.error_kind().map(str::to_owned),
                at_s: at.as_secs_f64(),
            });
            self.sort_slowest();
        }
    }

    /// Adds `n` errors of `kind` to the counts by kind.
    pub fn add_errors(&mut self, kind: &str, n: u64) {
        let c = match self.errors.get_mut(kind) {
            Some(c) => c,
            None => self.errors.entry(kind.to_owned()).or_default(),
        };
        *c = c.saturating_add(n);
    }

    /// Adds `n` responses of `status` to the counts by status.
    pub fn add_statuses(&mut self, status: u16, n: u64) {
        let c = self.statuses.entry(status).or_default();
        *c = c.saturating_add(n);
    }

    /// Records only what an interval reports: corrected latency and counters.
    pub fn push_interval(&mut self, s: &Sample) {
        self.corrected.saturating_record(micros(s.corrected));
        self.count += 1;
        if let Some(status) = s.outcome.status() {
            *self.statuses.entry(status).or_default() += 1;
        }
        if let Some(kind) = s.outcome.error_kind() {
            self.add_errors(kind, 1);
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
        // Counts from report files saturate instead of overflowing.
        self.count = self.count.saturating_add(other.count);
        self.bytes = self.bytes.saturating_add(other.bytes);
        for (k, v) in &other.errors {
            let n = self.errors.entry(k.clone()).or_default();
            *n = n.saturating_add(*v);
        }
        for (k, v) in &other.statuses {
            let n = self.statuses.entry(*k).or_default();
            *n = n.saturating_add(*v);
        }
        merge_reasons(&mut self.reasons, &other.reasons);
        self.slowest.extend(other.slowest.iter().cloned());
        self.sort_slowest();
    }

    pub fn error_count(&self) -> u64 {
        self.errors.values().fold(0, |a, b| a.saturating_add(*b))
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

/// The V2 cookies of HdrHistogram's encoding (plain and deflate).
const V2_COOKIE: u32 = 0x1c84_9313;
const V2_DEFLATE_COOKIE: u32 = 0x1c84_9314;
/// The V2 header: cookie, payload length, offset, digits, low, high, ratio.
const V2_HEADER: usize = 40;
/// Our histograms (1 µs to 1 h, 3 digits) encode in well under this.
const MAX_DECODED: u64 = 4 * 1024 * 1024;

/// Reads a histogram written by [`encode_histogram`]. The header is checked
/// before the histogram is built: only our bounds (1 µs to 1 h, 3 digits)
/// are accepted, so histograms always merge, and a header cannot make the
/// decoder allocate more than the data it came with.
pub fn decode_histogram(s: &str) -> Result<Histogram<u64>, String> {
    use std::io::Read;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(s)
        .map_err(|e| format!("invalid base64: {e}"))?;
    let be32 = |b: &[u8], at: usize| {
        b.get(at..at + 4)
            .and_then(|x| <[u8; 4]>::try_from(x).ok())
            .map(u32::from_be_bytes)
    };
    let be64 = |b: &[u8], at: usize| {
        b.get(at..at + 8)
            .and_then(|x| <[u8; 8]>::try_from(x).ok())
            .map(u64::from_be_bytes)
    };
    if be32(&bytes, 0) != Some(V2_DEFLATE_COOKIE) {
        return Err("invalid histogram: not an HdrHistogram V2 deflate encoding".into());
    }
    let compressed = be32(&bytes, 4).ok_or("invalid histogram: truncated header")?;
    let mut inner = Vec::new();
    let end = 8usize.saturating_add(compressed as usize).min(bytes.len());
    flate2::read::ZlibDecoder::new(bytes.get(8..end).unwrap_or_default())
        .take(MAX_DECODED + 1)
        .read_to_end(&mut inner)
        .map_err(|e| format!("invalid histogram: {e}"))?;
    if inner.len() as u64 > MAX_DECODED {
        return Err(format!("invalid histogram: more than {MAX_DECODED} bytes"));
    }
    let payload = be32(&inner, 4).map(|p| p as usize);
    let header_ok = be32(&inner, 0) == Some(V2_COOKIE)
        && payload.is_some_and(|p| inner.len() >= V2_HEADER && p <= inner.len() - V2_HEADER)
        && be32(&inner, 12) == Some(3)
        && be64(&inner, 16) == Some(1)
        && be64(&inner, 24) == Some(MAX_MICROS);
    if !header_ok {
        return Err(
            "invalid histogram: not a loadgen latency histogram (1 us to 1 h, 3 digits)".into(),
        );
    }
    Deserializer::new()
        .deserialize(&mut inner.as_slice())
        .map_err(|e| format!("invalid histogram: {e:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoding_refuses_foreign_bounds_and_lying_headers() {
        let mut h = histogram();
        h.record(1500).unwrap();
        let ok = encode_histogram(&h);
        assert_eq!(decode_histogram(&ok).unwrap().len(), 1);
        // Other bounds would not merge with ours: refused, not silently dropped.
        let other = Histogram::<u64>::new_with_bounds(1, 1000, 2).unwrap();
        let err = decode_histogram(&encode_histogram(&other)).unwrap_err();
        assert!(err.contains("1 us to 1 h"), "{err}");
        // A header claiming a 4 GB payload allocates nothing of the kind.
        let mut inner = Vec::new();
        inner.extend_from_slice(&V2_COOKIE.to_be_bytes());
        inner.extend_from_slice(&u32::MAX.to_be_bytes());
        inner.extend_from_slice(&0u32.to_be_bytes());
        inner.extend_from_slice(&3u32.to_be_bytes());
        inner.extend_from_slice(&1u64.to_be_bytes());
        inner.extend_from_slice(&MAX_MICROS.to_be_bytes());
        inner.extend_from_slice(&1f64.to_be_bytes());
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut z, &inner).unwrap();
        let z = z.finish().unwrap();
        let mut outer = V2_DEFLATE_COOKIE.to_be_bytes().to_vec();
        outer.extend_from_slice(&(z.len() as u32).to_be_bytes());
        outer.extend_from_slice(&z);
        let lying = base64::engine::general_purpose::STANDARD.encode(&outer);
        assert!(decode_histogram(&lying).is_err());
        for bad in ["", "!!", "AAAA", "HIST"] {
            assert!(decode_histogram(bad).is_err(), "{bad}");
        }
    }

    fn sample(ms: u64, outcome: Outcome) -> Sample {
        Sample {
            name: 0,
            series: 0,
            corrected: Duration::from_millis(ms),
            actual: Duration::from_millis(ms / 2),
            at: Duration::from_secs(1),
            outcome,
            trace_id: u128::from(ms),
            reason: None,
            body_bytes: ms,
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
        // Body bytes add up, pushed and merged: 1..=100, 1000 and 5.
        assert_eq!(a.bytes, 5050 + 1000 + 5);
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
    fn error_reasons_are_counted_by_kind_and_bounded() {
        let mut s = Stats::default();
        let mut refused = sample(1, Outcome::Connect);
        refused.reason = Some("connection refused".into());
        for _ in 0..3 {
            s.push(&refused);
        }
        s.push(&sample(2, Outcome::Status(503)));
        s.push(&sample(2, Outcome::Status(503)));
        assert_eq!(s.reasons["connect"]["connection refused"], 3);
        assert_eq!(s.reasons["status"]["HTTP 503"], 2);
        // Only the first MAX_REASONS distinct messages of a kind are kept.
        for i in 0..20 {
            let mut e = sample(3, Outcome::Request);
            e.reason = Some(format!("broken {i}"));
            s.push(&e);
        }
        let request = &s.reasons["request"];
        assert_eq!(request.len(), MAX_REASONS + 1, "{request:?}");
        assert_eq!(request[OTHER_REASON], 20 - MAX_REASONS as u64);
        assert_eq!(request.values().sum::<u64>(), 20);
        // Long messages are cut; merging keeps the bound.
        let mut long = sample(4, Outcome::Timeout);
        long.reason = Some("x".repeat(10_000));
        s.push(&long);
        let kept = s.reasons["timeout"].keys().next().unwrap();
        assert_eq!(kept.chars().count(), MAX_REASON_CHARS);
        let mut other = Stats::default();
        for i in 0..20 {
            let mut e = sample(3, Outcome::Request);
            e.reason = Some(format!("elsewhere {i}"));
            other.push(&e);
        }
        s.merge(&other);
        assert_eq!(s.reasons["request"].len(), MAX_REASONS + 1);
        assert_eq!(s.reasons["request"].values().sum::<u64>(), 40);
        assert_eq!(s.reasons["connect"]["connection refused"], 3);
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
