//! Where a finished request is recorded: a few [`Shards`], each a mutex of a
//! [`Tally`], the statistics of the requests that finished since the
//! recorder last took them, per request name (everything [`Stats`] keeps)
//! and per second (what an interval reports). A worker thread records into
//! its own shard: no channel, no task wake-up, and nothing allocated per
//! request (a tally's histograms are made on its first request after a
//! tick: per tick, not per request). The recorder swaps each shard's tally
//! for an empty one on its tick, merges it into its statistics
//! ([`NameTally::merge_into`], [`SecondTally::merge_into`], visiting only
//! the recorded range of each histogram) and keeps the emptied one for the
//! next shard, so a tick costs a few small merges whatever the number of
//! users.

use std::cell::Cell;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use hdrhistogram::Histogram;

use crate::metrics::{Buckets, SeriesKey, record_series};
use crate::stats::{
    ERROR_KINDS, MAX_REASON_CHARS, MAX_REASONS, OTHER_REASON, Outcome, SLOWEST, Sample, Stats,
    add_reason, clip_reason, histogram, micros,
};
use crate::traced::TracedSample;

const KINDS: usize = ERROR_KINDS.len();

/// One of the slowest requests of a tally, kept as numbers (its trace id is
/// formatted only if it is still among the slowest when merged).
#[derive(Debug, Clone, Copy)]
struct RawSlow {
    latency: Duration,
    outcome: Outcome,
    trace_id: u128,
    at: Duration,
}

/// An error message of one kind with its count. A reset keeps the text
/// (with no count) so that the same message next time allocates nothing.
#[derive(Debug)]
struct Reason {
    kind: usize,
    text: String,
    n: u64,
    /// When it was first seen since the last reset: merged in that order.
    order: u64,
    /// One the run's statistics keep already: always counted by itself.
    known: bool,
}

/// New distinct messages a tally keeps per kind (the run keeps the first
/// [`MAX_REASONS`]; a tally keeps more, so that a message another shard
/// just made one of those is still counted by itself).
const LOCAL_REASONS: usize = 4 * MAX_REASONS;
/// Messages kept across resets, at most.
const KEPT_REASONS: usize = 2 * KINDS * LOCAL_REASONS;

/// The statistics of one request name in a tally.
#[derive(Debug, Default)]
pub struct NameTally {
    /// Corrected and as-sent latencies; made on the first request.
    histograms: Option<Box<(Histogram<u64>, Histogram<u64>)>>,
    count: u64,
    bytes: u64,
    statuses: Vec<(u16, u64)>,
    errors: [u64; KINDS],
    /// The first [`MAX_REASONS`] distinct messages per kind (those with a
    /// count), and some of earlier ticks (without).
    reasons: Vec<Reason>,
    next_order: u64,
    /// Errors beyond those, per kind.
    other: [u64; KINDS],
    /// The slowest requests, slowest first.
    slowest: Vec<RawSlow>,
}

/// Adds `from` into `into` (same bounds), visiting only the buckets between
/// its lowest and highest value: a few hundred or thousand for latencies
/// that sit within a decade or two, instead of all 23,552 that
/// `Histogram::add` walks.
fn add_recorded(into: &mut Histogram<u64>, from: &Histogram<u64>) {
    if from.is_empty() {
        return;
    }
    let end = from.max();
    let mut v = from.lowest_equivalent(from.min_nz());
    while v <= end {
        let c = from.count_at(v);
        if c > 0 {
            into.saturating_record_n(v, c);
        }
        let next = from.next_non_equivalent(v);
        if next <= v {
            break;
        }
        v = next;
    }
}

/// Adds one to the count of `key` in a short list of counts.
fn bump<K: PartialEq>(counts: &mut Vec<(K, u64)>, key: K) {
    match counts.iter_mut().find(|(k, _)| *k == key) {
        Some((_, n)) => *n = n.saturating_add(1),
        None => counts.push((key, 1)),
    }
}

/// A default reason (`HTTP 503`) written on the stack.
struct ShortText {
    buf: [u8; 32],
    len: usize,
}

impl std::fmt::Write for ShortText {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len.checked_add(s.len()).ok_or(std::fmt::Error)?;
        let dst = self.buf.get_mut(self.len..end).ok_or(std::fmt::Error)?;
        dst.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

impl ShortText {
    fn as_str(&self) -> &str {
        std::str::from_utf8(self.buf.get(..self.len).unwrap_or_default()).unwrap_or_default()
    }
}

impl NameTally {
    fn record(&mut self, s: &mut Sample) {
        let (corrected, actual) = &mut **self.histograms.get_or_insert_with(|| {
            self.slowest.reserve_exact(SLOWEST + 1);
            Box::new((histogram(), histogram()))
        });
        corrected.saturating_record(micros(s.corrected));
        actual.saturating_record(micros(s.actual));
        self.count = self.count.saturating_add(1);
        self.bytes = self.bytes.saturating_add(s.body_bytes);
        if let Some(status) = s.outcome.status() {
            bump(&mut self.statuses, status);
        }
        if let Some(kind) = s.outcome.error_index() {
            self.errors[kind] = self.errors[kind].saturating_add(1);
            self.add_reason(kind, s.outcome, s.reason.take());
        }
        if self.slowest.len() < SLOWEST
            || self.slowest.last().is_some_and(|l| l.latency < s.corrected)
        {
            let at = self
                .slowest
                .iter()
                .position(|x| x.latency < s.corrected)
                .unwrap_or(self.slowest.len());
            self.slowest.insert(
                at,
                RawSlow {
                    latency: s.corrected,
                    outcome: s.outcome,
                    trace_id: s.trace_id,
                    at: s.at,
                },
            );
            self.slowest.truncate(SLOWEST);
        }
    }

    /// Counts an error message the way [`add_reason`] does, allocating
    /// only for a message not seen before in this tally.
    fn add_reason(&mut self, kind: usize, outcome: Outcome, given: Option<String>) {
        let mut short = ShortText {
            buf: [0; 32],
            len: 0,
        };
        let given = given.map(|r| {
            if r.len() <= MAX_REASON_CHARS && !r.contains('\n') {
                r
            } else {
                clip_reason(&r)
            }
        });
        let text = match &given {
            Some(r) => r.as_str(),
            None => {
                outcome.write_default_reason(&mut short);
                short.as_str()
            }
        };
        let known = self
            .reasons
            .iter()
            .position(|r| r.kind == kind && r.text == text);
        if let Some(r) = known.and_then(|i| self.reasons.get_mut(i))
            && (r.n > 0 || r.known)
        {
            if r.n == 0 {
                r.order = self.next_order;
                self.next_order = self.next_order.saturating_add(1);
            }
            r.n = r.n.saturating_add(1);
            return;
        }
        let distinct = self
            .reasons
            .iter()
            .filter(|r| r.kind == kind && r.n > 0 && !r.known)
            .count();
        if distinct >= LOCAL_REASONS || text == OTHER_REASON {
            self.other[kind] = self.other[kind].saturating_add(1);
            return;
        }
        let order = self.next_order;
        self.next_order = order.saturating_add(1);
        match known.and_then(|i| self.reasons.get_mut(i)) {
            Some(r) => {
                r.n = 1;
                r.order = order;
            }
            None => {
                let text = match given {
                    Some(r) => r,
                    None => text.to_owned(),
                };
                self.reasons.push(Reason {
                    kind,
                    text,
                    n: 1,
                    order,
                    known: false,
                });
            }
        }
    }

    /// The messages with a count, in the order they were first seen.
    fn live_reasons(&self) -> impl Iterator<Item = &Reason> {
        let mut after: Option<u64> = None;
        std::iter::from_fn(move || {
            let next = self
                .reasons
                .iter()
                .filter(|r| r.n > 0 && after.is_none_or(|a| r.order > a))
                .min_by_key(|r| r.order)?;
            after = Some(next.order);
            Some(next)
        })
    }

    /// Marks the messages `stats` keeps as known (see [`Tally::know`]).
    fn know(&mut self, stats: &Stats) {
        for (kind, messages) in &stats.reasons {
            let Some(k) = ERROR_KINDS.iter().position(|x| x == kind) else {
                continue;
            };
            for text in messages.keys().filter(|m| *m != OTHER_REASON) {
                match self
                    .reasons
                    .iter_mut()
                    .find(|r| r.kind == k && r.text == *text)
                {
                    Some(r) => r.known = true,
                    None => self.reasons.push(Reason {
                        kind: k,
                        text: text.clone(),
                        n: 0,
                        order: 0,
                        known: true,
                    }),
                }
            }
        }
    }

    /// Adds this name's statistics into `into`.
    pub fn merge_into(&self, into: &mut Stats) {
        if self.count == 0 {
            return;
        }
        if let Some(h) = &self.histograms {
            add_recorded(&mut into.corrected, &h.0);
            add_recorded(&mut into.actual, &h.1);
        }
        into.count = into.count.saturating_add(self.count);
        into.bytes = into.bytes.saturating_add(self.bytes);
        for &(status, n) in &self.statuses {
            into.add_statuses(status, n);
        }
        for (kind, &n) in ERROR_KINDS.iter().zip(&self.errors) {
            if n > 0 {
                into.add_errors(kind, n);
            }
        }
        for r in self.live_reasons() {
            add_reason(&mut into.reasons, ERROR_KINDS[r.kind], &r.text, r.n);
        }
        for (kind, &n) in ERROR_KINDS.iter().zip(&self.other) {
            if n > 0 {
                add_reason(&mut into.reasons, kind, OTHER_REASON, n);
            }
        }
        for s in &self.slowest {
            into.offer_slow(s.latency, s.outcome, s.trace_id, s.at);
        }
    }

    fn reset(&mut self) {
        if self.count == 0 {
            return;
        }
        // Made again on the next request: a fresh (zeroed) allocation costs
        // less than zeroing every count of a used one.
        self.histograms = None;
        self.count = 0;
        self.bytes = 0;
        self.statuses.clear();
        self.errors = [0; KINDS];
        if self.reasons.len() > KEPT_REASONS {
            self.reasons.retain(|r| r.known);
        }
        for r in &mut self.reasons {
            r.n = 0;
        }
        self.next_order = 0;
        self.other = [0; KINDS];
        self.slowest.clear();
    }
}

/// What one second of a tally holds: what an interval reports.
#[derive(Debug)]
pub struct SecondTally {
    second: u64,
    corrected: Histogram<u64>,
    count: u64,
    statuses: Vec<(u16, u64)>,
    errors: [u64; KINDS],
}

impl SecondTally {
    /// The second of the run (from its start) these requests ended in.
    pub fn second(&self) -> u64 {
        self.second
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    /// Adds this second's statistics into `into` (an interval's).
    pub fn merge_into(&self, into: &mut Stats) {
        add_recorded(&mut into.corrected, &self.corrected);
        into.count = into.count.saturating_add(self.count);
        for &(status, n) in &self.statuses {
            into.add_statuses(status, n);
        }
        for (kind, &n) in ERROR_KINDS.iter().zip(&self.errors) {
            if n > 0 {
                into.add_errors(kind, n);
            }
        }
    }
}

/// The requests a shard recorded since the recorder last took them.
#[derive(Debug, Default)]
pub struct Tally {
    names: Vec<NameTally>,
    /// The seconds seen since the last reset.
    seconds: Vec<SecondTally>,
    count: u64,
    /// Whether the client metrics are on: then `series` counts buckets.
    metrics: bool,
    /// The client metrics' bucket counts per series (request and outcome).
    series: Vec<(SeriesKey, Buckets)>,
    /// Per name, the requests kept with their trace ids (empty when off).
    traced: Vec<TracedSample>,
}

impl Tally {
    pub fn new(names: usize) -> Self {
        Self {
            names: (0..names).map(|_| NameTally::default()).collect(),
            seconds: Vec::new(),
            count: 0,
            metrics: false,
            series: Vec::new(),
            traced: Vec::new(),
        }
    }

    /// A tally that also keeps requests with their trace ids (see
    /// [`crate::traced`]).
    pub fn with_traced(mut self, on: bool) -> Self {
        self.traced = if on {
            (0..self.names.len())
                .map(|_| TracedSample::default())
                .collect()
        } else {
            Vec::new()
        };
        self
    }

    /// Per name, the requests kept with their trace ids since the last
    /// reset (empty when off).
    pub fn traced(&self) -> &[TracedSample] {
        &self.traced
    }

    /// A tally that also counts the client metrics' buckets.
    pub fn with_metrics(mut self, on: bool) -> Self {
        self.metrics = on;
        self
    }

    /// The client metrics' counts since the last reset (empty when off).
    pub fn series(&self) -> &[(SeriesKey, Buckets)] {
        &self.series
    }

    /// Records one finished request (its reason, if any, is taken).
    pub fn record(&mut self, mut s: Sample) {
        self.count = self.count.saturating_add(1);
        if self.metrics {
            record_series(
                &mut self.series,
                (s.series, s.outcome),
                s.actual,
                s.corrected,
            );
        }
        if let Some(t) = self.traced.get_mut(s.name) {
            t.record(s.trace_id, s.actual);
        }
        // A name outside the plan's still counts in its second.
        if let Some(name) = self.names.get_mut(s.name) {
            name.record(&mut s);
        }
        let second = s.at.as_secs();
        let slot = match self.seconds.iter().position(|x| x.second == second) {
            Some(i) => i,
            None => {
                self.seconds.push(SecondTally {
                    second,
                    corrected: histogram(),
                    count: 0,
                    statuses: Vec::new(),
                    errors: [0; KINDS],
                });
                self.seconds.len() - 1
            }
        };
        let Some(t) = self.seconds.get_mut(slot) else {
            return;
        };
        t.second = second;
        t.corrected.saturating_record(micros(s.corrected));
        t.count = t.count.saturating_add(1);
        if let Some(status) = s.outcome.status() {
            bump(&mut t.statuses, status);
        }
        if let Some(kind) = s.outcome.error_index() {
            t.errors[kind] = t.errors[kind].saturating_add(1);
        }
    }

    /// Requests recorded since the last reset.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The statistics per request name, by name index.
    pub fn names(&self) -> &[NameTally] {
        &self.names
    }

    /// The seconds with requests, in no particular order.
    pub fn seconds(&self) -> impl Iterator<Item = &SecondTally> {
        self.seconds.iter()
    }

    /// Tells the tally which error messages the run's statistics per name
    /// (`per_name`) already keep, so that it counts each of them by itself
    /// whatever else it sees (allocating only for one not known before).
    pub fn know(&mut self, per_name: &[Stats]) {
        for (n, stats) in self.names.iter_mut().zip(per_name) {
            n.know(stats);
        }
    }

    /// Empties the tally, keeping its reason texts and lists; the
    /// histograms are made again on the next request.
    pub fn reset(&mut self) {
        if self.count == 0 {
            return;
        }
        for n in &mut self.names {
            n.reset();
        }
        self.seconds.clear();
        self.series.clear();
        for t in &mut self.traced {
            t.clear();
        }
        self.count = 0;
    }
}

/// What a drained tally is merged into (the recorder).
pub trait Merge {
    /// Readies an empty tally before it goes to a shard (see [`Tally::know`]).
    fn prepare(&self, spare: &mut Tally);
    fn merge(&mut self, t: &Tally);
}

static NEXT_THREAD: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// This thread's number, for picking its shard.
    static THREAD: Cell<Option<usize>> = const { Cell::new(None) };
}

fn thread_number() -> usize {
    THREAD.with(|t| match t.get() {
        Some(n) => n,
        None => {
            let n = NEXT_THREAD.fetch_add(1, Ordering::Relaxed);
            t.set(Some(n));
            n
        }
    })
}

/// A run's shards: the users record into them, the recorder drains them.
#[derive(Debug)]
pub struct Shards {
    shards: Box<[Mutex<Tally>]>,
    names: usize,
    metrics: bool,
    traced: bool,
}

impl Shards {
    /// `count` shards (at least one) for a plan of `names` request names.
    pub fn new(count: usize, names: usize) -> Self {
        Self {
            shards: (0..count.max(1))
                .map(|_| Mutex::new(Tally::new(names)))
                .collect(),
            names,
            metrics: false,
            traced: false,
        }
    }

    /// Shards whose tallies also keep requests with their trace ids.
    pub fn with_traced(mut self, on: bool) -> Self {
        self.traced = on;
        for s in &mut self.shards {
            let t = s.get_mut().unwrap_or_else(|e| e.into_inner());
            *t = std::mem::take(t).with_traced(on);
        }
        self
    }

    /// Shards whose tallies also count the client metrics' buckets.
    pub fn with_metrics(mut self, on: bool) -> Self {
        self.metrics = on;
        for s in &mut self.shards {
            let t = s.get_mut().unwrap_or_else(|e| e.into_inner());
            t.metrics = on;
        }
        self
    }

    /// How many shards a run gets on a runtime of `workers` threads: two per
    /// worker, so two threads rarely share one.
    pub fn count_for(workers: usize) -> usize {
        workers.clamp(1, 64).saturating_mul(2)
    }

    pub fn len(&self) -> usize {
        self.shards.len()
    }

    pub fn is_empty(&self) -> bool {
        self.shards.is_empty()
    }

    /// An empty tally to hand to [`Shards::drain`].
    pub fn spare(&self) -> Tally {
        Tally::new(self.names)
            .with_metrics(self.metrics)
            .with_traced(self.traced)
    }

    /// Records a finished request into the calling thread's shard.
    pub fn record(&self, s: Sample) {
        let i = thread_number() % self.shards.len().max(1);
        if let Some(shard) = self.shards.get(i) {
            // A panic elsewhere while recording leaves the counts usable.
            let mut t = shard.lock().unwrap_or_else(|e| e.into_inner());
            t.record(s);
        }
    }

    /// Takes every shard's requests, one shard at a time, swapping it for
    /// `spare` (the lock is held only for the swap), and merges each into
    /// `into`; `spare` comes back empty. Returns the requests taken.
    pub fn drain(&self, spare: &mut Tally, into: &mut impl Merge) -> u64 {
        let mut taken = 0u64;
        for shard in &self.shards {
            into.prepare(spare);
            {
                let mut t = shard.lock().unwrap_or_else(|e| e.into_inner());
                if t.count() == 0 {
                    continue;
                }
                std::mem::swap(&mut *t, spare);
            }
            taken = taken.saturating_add(spare.count());
            into.merge(spare);
            spare.reset();
        }
        taken
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(name: usize, ms: u64, at_ms: u64, outcome: Outcome, reason: Option<&str>) -> Sample {
        Sample {
            name,
            series: 0,
            corrected: Duration::from_millis(ms),
            actual: Duration::from_millis(ms / 2),
            at: Duration::from_millis(at_ms),
            outcome,
            trace_id: u128::from(ms) + 1,
            reason: reason.map(str::to_owned),
            body_bytes: ms,
        }
    }

    fn samples() -> Vec<Sample> {
        let mut v = Vec::new();
        for i in 0..300u64 {
            let outcome = match i % 10 {
                0 => Outcome::Status(503),
                1 => Outcome::Status(404),
                2 => Outcome::Connect,
                3 => Outcome::Timeout,
                _ => Outcome::Ok(200),
            };
            let reason = match outcome {
                Outcome::Connect => Some(format!("refused {}", i % 70)),
                Outcome::Timeout => Some(format!("slow\nline {i}")),
                _ => None,
            };
            let mut s = sample((i % 2) as usize, 1 + (i * 37) % 500, i * 10, outcome, None);
            s.reason = reason;
            v.push(s);
        }
        v
    }

    /// What pushing every sample into `Stats` gives, per name and per second.
    fn direct(v: &[Sample]) -> (Vec<Stats>, std::collections::BTreeMap<u64, Stats>) {
        let mut names = vec![Stats::default(), Stats::default()];
        let mut seconds = std::collections::BTreeMap::<u64, Stats>::new();
        for s in v {
            names[s.name].push(s);
            seconds.entry(s.at.as_secs()).or_default().push_interval(s);
        }
        (names, seconds)
    }

    fn same(a: &Stats, b: &Stats) {
        assert_eq!(a.corrected, b.corrected);
        assert_eq!(a.actual, b.actual);
        assert_eq!(a.count, b.count);
        assert_eq!(a.bytes, b.bytes);
        assert_eq!(a.errors, b.errors);
        assert_eq!(a.statuses, b.statuses);
        assert_eq!(a.reasons, b.reasons);
        assert_eq!(a.slowest, b.slowest);
    }

    #[test]
    fn a_drained_tally_gives_what_direct_pushes_give() {
        let v = samples();
        let (want_names, want_seconds) = direct(&v);
        let shards = Shards::new(3, 2);
        let mut spare = shards.spare();
        struct Into {
            names: Vec<Stats>,
            seconds: std::collections::BTreeMap<u64, Stats>,
        }
        impl Merge for Into {
            fn prepare(&self, spare: &mut Tally) {
                spare.know(&self.names);
            }
            fn merge(&mut self, t: &Tally) {
                for (n, into) in t.names().iter().zip(&mut self.names) {
                    n.merge_into(into);
                }
                for sec in t.seconds() {
                    sec.merge_into(self.seconds.entry(sec.second()).or_default());
                }
            }
        }
        let mut into = Into {
            names: vec![Stats::default(), Stats::default()],
            seconds: Default::default(),
        };
        let mut drained = 0;
        // Drained several times along the way, as the recorder's tick does.
        for (i, s) in v.iter().enumerate() {
            shards.record(s.clone());
            if i % 97 == 0 {
                drained += shards.drain(&mut spare, &mut into);
            }
        }
        drained += shards.drain(&mut spare, &mut into);
        let Into { names, seconds } = into;
        assert_eq!(drained, v.len() as u64);
        assert_eq!(spare.count(), 0);
        for (a, b) in names.iter().zip(&want_names) {
            same(a, b);
        }
        assert_eq!(seconds.len(), want_seconds.len());
        for ((ta, a), (tb, b)) in seconds.iter().zip(&want_seconds) {
            assert_eq!(ta, tb);
            assert_eq!(a.corrected, b.corrected);
            assert_eq!(a.count, b.count);
            assert_eq!(a.errors, b.errors);
            assert_eq!(a.statuses, b.statuses);
        }
        // The bounds hold: five distinct connect messages, the rest as other.
        let connect = &names[0].reasons["connect"];
        assert_eq!(connect.len(), MAX_REASONS + 1, "{connect:?}");
        assert!(
            names[1].reasons["timeout"]
                .keys()
                .all(|k| !k.contains('\n'))
        );
        assert_eq!(names[0].reasons["status"]["HTTP 503"], 30);
    }

    #[test]
    fn a_reset_tally_starts_over() {
        let mut t = Tally::new(1);
        t.record(sample(0, 5, 100, Outcome::Ok(200), None));
        t.record(sample(0, 6, 1100, Outcome::Status(500), Some("HTTP 500")));
        assert_eq!(t.seconds().count(), 2);
        t.reset();
        assert_eq!(t.count(), 0);
        assert_eq!(t.seconds().count(), 0);
        t.record(sample(0, 7, 2100, Outcome::Ok(200), None));
        let s: Vec<u64> = t.seconds().map(|s| s.second()).collect();
        assert_eq!(s, vec![2]);
        let mut into = Stats::default();
        t.names()[0].merge_into(&mut into);
        assert_eq!(into.count, 1);
        assert_eq!(into.slowest.len(), 1);
        assert_eq!(into.slowest[0].trace_id, format!("{:032x}", 8));
        // A name outside the plan counts in its second only.
        t.record(sample(5, 7, 2100, Outcome::Ok(200), None));
        assert_eq!(t.count(), 2);
        assert_eq!(t.seconds().map(|s| s.count()).sum::<u64>(), 2);
    }
}
