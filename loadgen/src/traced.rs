//! The requests kept with their trace ids for the "where the time goes"
//! analysis ([`crate::bottleneck`]): per request name, a uniform sample of
//! all requests and the slowest ones, both bounded and both mergeable, so
//! that the users' shards keep them per tick and the recorder adds them up
//! exactly as it does the histograms.
//!
//! - The sample is a bottom-k sketch: the `k` requests whose trace ids are
//!   smallest in their low 64 bits. Trace ids are random, so that is a
//!   uniform sample of the whole run, and the union of two sketches cut to
//!   `k` is the sketch of both streams.
//! - The slowest are the `k` longest latencies (from the send: what the
//!   server's spans can account for).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Duration;

use crate::bottleneck::Traced;

/// Requests in the uniform sample per name.
pub const SAMPLE: usize = 512;
/// Slowest requests kept per name.
pub const SLOWEST: usize = 128;

/// One name's kept requests.
#[derive(Debug, Clone)]
pub struct TracedSample {
    /// Max-heap by key: the top is the first to go.
    sample: BinaryHeap<(u64, u128, u64)>,
    /// Min-heap by latency: the top is the first to go.
    slowest: BinaryHeap<Reverse<(u64, u128)>>,
    k_sample: usize,
    k_slowest: usize,
}

impl Default for TracedSample {
    fn default() -> Self {
        Self::new(SAMPLE, SLOWEST)
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl TracedSample {
    pub fn new(k_sample: usize, k_slowest: usize) -> Self {
        Self {
            sample: BinaryHeap::with_capacity(k_sample.saturating_add(1)),
            slowest: BinaryHeap::with_capacity(k_slowest.saturating_add(1)),
            k_sample,
            k_slowest,
        }
    }

    /// Keeps a request in the sample if its key is among the `k` smallest.
    fn offer_sample(&mut self, key: u64, trace_id: u128, latency_ns: u64) {
        if self.sample.len() < self.k_sample {
            self.sample.push((key, trace_id, latency_ns));
        } else if self.sample.peek().is_some_and(|top| key < top.0) {
            self.sample.pop();
            self.sample.push((key, trace_id, latency_ns));
        }
    }

    /// Keeps a request among the slowest if it is among the `k` slowest.
    fn offer_slowest(&mut self, latency_ns: u64, trace_id: u128) {
        if self.slowest.len() < self.k_slowest {
            self.slowest.push(Reverse((latency_ns, trace_id)));
        } else if self
            .slowest
            .peek()
            .is_some_and(|Reverse(top)| latency_ns > top.0)
        {
            self.slowest.pop();
            self.slowest.push(Reverse((latency_ns, trace_id)));
        }
    }

    /// Keeps a finished request if it is in the sample or among the
    /// slowest (nothing allocated: the heaps hold their capacity).
    pub fn record(&mut self, trace_id: u128, latency: Duration) {
        if trace_id != 0 {
            let ns = nanos(latency);
            self.offer_sample(trace_id as u64, trace_id, ns);
            self.offer_slowest(ns, trace_id);
        }
    }

    /// Adds another's kept requests: the same as recording its stream too.
    pub fn merge(&mut self, other: &TracedSample) {
        for &(key, id, lat) in &other.sample {
            self.offer_sample(key, id, lat);
        }
        for &Reverse((lat, id)) in &other.slowest {
            self.offer_slowest(lat, id);
        }
    }

    pub fn clear(&mut self) {
        self.sample.clear();
        self.slowest.clear();
    }

    pub fn is_empty(&self) -> bool {
        self.sample.is_empty() && self.slowest.is_empty()
    }

    /// The uniform sample, by trace id.
    pub fn sample(&self) -> Vec<Traced> {
        let mut v: Vec<Traced> = self
            .sample
            .iter()
            .map(|&(_, trace_id, lat)| Traced {
                trace_id,
                latency: Duration::from_nanos(lat),
            })
            .collect();
        v.sort_by_key(|t| t.trace_id);
        v
    }

    /// The slowest, slowest first.
    pub fn slowest(&self) -> Vec<Traced> {
        let mut v: Vec<Traced> = self
            .slowest
            .iter()
            .map(|&Reverse((lat, trace_id))| Traced {
                trace_id,
                latency: Duration::from_nanos(lat),
            })
            .collect();
        v.sort_by(|a, b| b.latency.cmp(&a.latency).then(a.trace_id.cmp(&b.trace_id)));
        v
    }

    /// The slow requests (at least `p99`) and the typical ones (from `lo`
    /// to `hi`) of these kept requests.
    pub fn split(&self, p99: Duration, lo: Duration, hi: Duration) -> (Vec<Traced>, Vec<Traced>) {
        let slow = self
            .slowest()
            .into_iter()
            .filter(|t| t.latency >= p99)
            .collect();
        let typical = self
            .sample()
            .into_iter()
            .filter(|t| t.latency >= lo && t.latency <= hi)
            .collect();
        (slow, typical)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(i: u64) -> u128 {
        // A "random" low half, with a high half that must not matter.
        (u128::from(i.wrapping_mul(0x9e37_79b9_7f4a_7c15)) | (7u128 << 100)).max(1)
    }

    #[test]
    fn merged_shards_keep_what_one_stream_keeps() {
        let mut whole = TracedSample::new(50, 10);
        let mut parts = [
            TracedSample::new(50, 10),
            TracedSample::new(50, 10),
            TracedSample::new(50, 10),
        ];
        for i in 0..5000u64 {
            let lat = Duration::from_micros((i * 7919) % 100_000);
            whole.record(id(i), lat);
            parts[(i % 3) as usize].record(id(i), lat);
        }
        let mut merged = TracedSample::new(50, 10);
        for p in &parts {
            merged.merge(p);
        }
        assert_eq!(merged.sample(), whole.sample());
        assert_eq!(merged.slowest(), whole.slowest());
        assert_eq!(whole.sample().len(), 50);
        let slow = whole.slowest();
        assert_eq!(slow.len(), 10);
        assert!(slow.windows(2).all(|w| w[0].latency >= w[1].latency));
        let max = (0..5000u64).map(|i| (i * 7919) % 100_000).max().unwrap();
        assert_eq!(slow[0].latency, Duration::from_micros(max));
    }

    #[test]
    fn the_sample_is_uniform_over_the_whole_run() {
        let mut s = TracedSample::new(400, 1);
        // Latency is the position in the run: a uniform sample's mean is the middle.
        for i in 0..40_000u64 {
            s.record(id(i), Duration::from_micros(i));
        }
        let mean = s
            .sample()
            .iter()
            .map(|t| t.latency.as_micros() as f64)
            .sum::<f64>()
            / 400.0;
        assert!((15_000.0..25_000.0).contains(&mean), "{mean}");
    }

    #[test]
    fn split_takes_the_slow_from_the_slowest_and_the_typical_from_the_sample() {
        let mut s = TracedSample::new(1000, 20);
        for i in 1..=1000u64 {
            s.record(id(i), Duration::from_millis(i));
        }
        let ms = Duration::from_millis;
        let (slow, typical) = s.split(ms(990), ms(400), ms(600));
        assert_eq!(slow.len(), 11);
        assert!(slow.iter().all(|t| t.latency >= ms(990)));
        assert_eq!(typical.len(), 201);
        s.clear();
        assert!(s.is_empty());
        s.record(0, ms(5));
        assert!(s.is_empty(), "a request without a trace id is not kept");
    }
}
