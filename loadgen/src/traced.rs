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

    /// The slow requests (the `slow` slowest kept) and the typical ones
    /// (from `lo` to `hi`) of these kept requests.
    pub fn split(&self, slow: usize, lo: Duration, hi: Duration) -> (Vec<Traced>, Vec<Traced>) {
        let mut slowest = self.slowest();
        slowest.truncate(slow);
        let slow = slowest;
        let typical = self
            .sample()
            .into_iter()
            .filter(|t| t.latency >= lo && t.latency <= hi)
            .collect();
        (slow, typical)
    }
}

/// `trace_id` with its top 32 bits set to a run's `prefix` (what a trace
/// sink keeps, [`crate::trace_sink::Keep::Prefix`]): the low 96 bits stay
/// random (W3C asks for at least 56), and the id is never all zeros.
pub fn with_prefix(trace_id: u128, prefix: u32) -> u128 {
    (u128::from(prefix) << 96) | (trace_id & ((1u128 << 96) - 1)) | 1
}

/// One request name's requests to analyse ([`choose`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Chosen {
    pub name: String,
    /// Its slow requests (p99 and up), slowest first.
    pub slow: Vec<Traced>,
    /// Its typical requests (p40 to p60).
    pub typical: Vec<Traced>,
    /// The uniform sample of all its requests.
    pub sample: Vec<Traced>,
}

/// Per request name with requests, its slow and typical requests (the
/// name's p99 and up, and p40 to p60, as sent) and the sample of all, at
/// most `max` requests in all: the slow ones first, then the typical, then
/// the sample, the names taking turns. `names`, `stats` and `traced` are
/// indexed alike.
pub fn choose(
    names: &[String],
    stats: &[crate::stats::Stats],
    traced: &[TracedSample],
    max: usize,
) -> Vec<Chosen> {
    let mut out: Vec<Chosen> = names
        .iter()
        .zip(stats)
        .zip(traced)
        .filter(|((_, stats), _)| stats.count > 0)
        .map(|((name, stats), traced)| {
            let at = |q: f64| Duration::from_secs_f64(stats.percentile_ms(q, false).max(0.0) / 1e3);
            // p99 and up by rank: the slowest 1% (at least one). The
            // histogram's p99 is the top of its bucket, which can be above
            // every request when there are few.
            let slow = usize::try_from(stats.count.div_ceil(100)).unwrap_or(usize::MAX);
            let (slow, typical) = traced.split(slow, at(40.0), at(60.0));
            Chosen {
                name: name.clone(),
                slow,
                typical,
                sample: traced.sample(),
            }
        })
        .collect();
    let total: usize = out
        .iter()
        .map(|c| c.slow.len() + c.typical.len() + c.sample.len())
        .sum();
    if total <= max {
        return out;
    }
    // Over the budget: take turns over the names, a request at a time.
    let mut left = max;
    let mut kept: Vec<[usize; 3]> = vec![[0; 3]; out.len()];
    for part in 0..3 {
        let mut progress = true;
        while left > 0 && progress {
            progress = false;
            for (c, k) in out.iter().zip(kept.iter_mut()) {
                let len = [c.slow.len(), c.typical.len(), c.sample.len()][part];
                if left > 0 && k[part] < len {
                    k[part] += 1;
                    left -= 1;
                    progress = true;
                }
            }
        }
    }
    for (c, k) in out.iter_mut().zip(kept) {
        c.slow.truncate(k[0]);
        c.typical.truncate(k[1]);
        c.sample.truncate(k[2]);
    }
    out
}

/// The trace ids of `chosen`, each once.
pub fn trace_ids(chosen: &[Chosen]) -> Vec<u128> {
    let mut ids: Vec<u128> = chosen
        .iter()
        .flat_map(|c| c.slow.iter().chain(&c.typical).chain(&c.sample))
        .map(|t| t.trace_id)
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids
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
        let (slow, typical) = s.split(11, ms(400), ms(600));
        assert_eq!(
            s.split(500, ms(0), ms(0)).0.len(),
            20,
            "at most the kept slowest"
        );
        assert_eq!(slow.len(), 11);
        assert!(slow.iter().all(|t| t.latency >= ms(990)));
        assert_eq!(typical.len(), 201);
        s.clear();
        assert!(s.is_empty());
        s.record(0, ms(5));
        assert!(s.is_empty(), "a request without a trace id is not kept");
    }

    #[test]
    fn a_name_with_few_requests_still_has_its_slowest() {
        use crate::stats::{Outcome, Sample, Stats};
        let mut stats = Stats::default();
        let mut traced = TracedSample::default();
        // 40 requests from 250 ms: the histogram's p99 is the top of the
        // slowest one's bucket, above it.
        for i in 1..=40u64 {
            let latency = Duration::from_micros(250_000 + i * 1_001);
            stats.push(&Sample {
                name: 0,
                series: 0,
                corrected: latency,
                actual: latency,
                at: Duration::from_millis(i),
                outcome: Outcome::Ok(200),
                trace_id: id(i),
                reason: None,
                body_bytes: 0,
            });
            traced.record(id(i), latency);
        }
        let c = choose(&["a".to_owned()], &[stats], &[traced], usize::MAX);
        assert_eq!(c[0].slow.len(), 1);
        assert_eq!(
            c[0].slow[0].latency,
            Duration::from_micros(250_000 + 40 * 1_001)
        );
    }

    #[test]
    fn choose_takes_the_slow_first_and_the_names_take_turns() {
        use crate::stats::{Outcome, Sample, Stats};
        let names = vec!["a".to_owned(), "b".to_owned(), "idle".to_owned()];
        let mut stats = vec![Stats::default(), Stats::default(), Stats::default()];
        let mut traced = vec![
            TracedSample::default(),
            TracedSample::default(),
            TracedSample::default(),
        ];
        for n in 0..2usize {
            for i in 1..=200u64 {
                let latency = Duration::from_millis(i);
                stats[n].push(&Sample {
                    name: n,
                    series: 0,
                    corrected: latency,
                    actual: latency,
                    at: Duration::from_millis(i),
                    outcome: Outcome::Ok(200),
                    trace_id: id(i + 1000 * n as u64),
                    reason: None,
                    body_bytes: 0,
                });
                traced[n].record(id(i + 1000 * n as u64), latency);
            }
        }
        let all = choose(&names, &stats, &traced, usize::MAX);
        // The idle name has no requests and is left out.
        assert_eq!(
            all.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(),
            ["a", "b"]
        );
        // The slowest 1% of 200: two; p40..p60 is 80..120 ms.
        let (sa, sb) = (all[0].slow.len(), all[1].slow.len());
        assert_eq!((sa, sb), (2, 2), "{:?}", all[0].slow);
        assert!(
            all[0]
                .slow
                .iter()
                .all(|t| t.latency >= Duration::from_millis(199))
        );
        assert!(
            (39..=43).contains(&all[0].typical.len()),
            "{}",
            all[0].typical.len()
        );
        assert_eq!(all[0].sample.len(), 200);
        let ids = trace_ids(&all);
        assert_eq!(ids.len(), 400, "every request once, though in two lists");
        // A budget of the slow ones and one more: one typical, of the first name.
        let few = choose(&names, &stats, &traced, sa + sb + 1);
        let lens: Vec<[usize; 3]> = few
            .iter()
            .map(|c| [c.slow.len(), c.typical.len(), c.sample.len()])
            .collect();
        assert_eq!(lens, [[sa, 1, 0], [sb, 0, 0]]);
        assert_eq!(few[0].slow[0].latency, Duration::from_millis(200));
    }
}
