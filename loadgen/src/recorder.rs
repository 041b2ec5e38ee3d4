//! The recorder: takes what the users recorded (a shard's [`Tally`] at a
//! time, or single samples) and keeps the statistics per request name, for
//! the whole run, and per second. Users never wait on it: they record into
//! their shard and go on. What a whole run produced,
//! [`RunResult`], is the recorder's record with the run's clock and counts.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use crate::metrics::ClientMetrics;
use crate::stats::{Sample, Stats, encode_histogram};
use crate::tally::{Merge, Tally};

/// One second of the run in the report's interval series (a wire type of
/// the run report, `common::report`).
pub use common::report::IntervalSummary;

/// The summary of second `t` from its statistics.
fn interval_summary(t: u64, s: &Stats) -> IntervalSummary {
    IntervalSummary {
        t,
        count: s.count,
        errors: s.errors.clone(),
        status_codes: s.statuses.clone(),
        p50_ms: s.percentile_ms(50.0, true),
        p90_ms: s.percentile_ms(90.0, true),
        p99_ms: s.percentile_ms(99.0, true),
        max_ms: s.max_ms(true),
    }
}

/// Everything recorded in a run.
#[derive(Debug, Clone, Default)]
pub struct Recorded {
    pub per_name: Vec<Stats>,
    pub total: Stats,
    pub intervals: Vec<IntervalSummary>,
    /// (second, encoded corrected histogram) per interval, for the HdrHistogram log.
    pub interval_histograms: Vec<(u64, String)>,
    /// Per name, the requests kept with their trace ids, when asked for.
    pub traced: Vec<crate::traced::TracedSample>,
}

/// What the run produced.
#[derive(Debug)]
pub struct RunResult {
    pub recorded: Recorded,
    /// When the schedule's clock started (the users launched).
    pub started_at: SystemTime,
    /// When the last request ended (or was abandoned).
    pub ended_at: SystemTime,
    /// Measured: from `started_at` to `ended_at`.
    pub elapsed: Duration,
    pub iterations: u64,
    pub dropped: u64,
    /// Stopped by Ctrl-C (or SIGTERM) before the end.
    pub interrupted: bool,
    /// The abort-on-fail threshold that stopped the run.
    pub aborted_by: Option<String>,
    /// The HTTP versions of the responses (`HTTP/1.1`, `HTTP/2`); none
    /// before any response.
    pub http_version: Option<String>,
    /// The checks' passes and failures, and the requests skipped.
    pub checks: crate::checks::ChecksSnapshot,
    /// The `loadgen_run` label of the client metrics, when they were on.
    pub run_id: Option<String>,
}

/// Accumulates samples; intervals are closed once they are old enough that
/// no sample can still arrive for them.
#[derive(Debug)]
pub struct Recorder {
    recorded: Recorded,
    open: BTreeMap<u64, Stats>,
    keep_histograms: bool,
    /// The client metrics' cumulative counts, when they are on.
    metrics: Option<ClientMetrics>,
}

impl Recorder {
    pub fn new(names: usize, keep_histograms: bool) -> Self {
        Self {
            recorded: Recorded {
                per_name: vec![Stats::default(); names],
                ..Recorded::default()
            },
            open: BTreeMap::new(),
            keep_histograms,
            metrics: None,
        }
    }

    /// A recorder that also keeps requests with their trace ids.
    pub fn with_traced(mut self, on: bool) -> Self {
        self.recorded.traced = if on {
            (0..self.recorded.per_name.len())
                .map(|_| crate::traced::TracedSample::default())
                .collect()
        } else {
            Vec::new()
        };
        self
    }

    /// The requests kept with their trace ids so far, per name (empty
    /// unless [`Recorder::with_traced`]).
    pub fn traced(&self) -> &[crate::traced::TracedSample] {
        &self.recorded.traced
    }

    /// A recorder that also keeps the client metrics' counts in `m`.
    pub fn with_metrics(mut self, m: Option<ClientMetrics>) -> Self {
        self.metrics = m;
        self
    }

    /// The client metrics so far, when they are on.
    pub fn metrics(&self) -> Option<&ClientMetrics> {
        self.metrics.as_ref()
    }

    pub fn push(&mut self, s: &Sample) {
        if let Some(stats) = self.recorded.per_name.get_mut(s.name) {
            stats.push(s);
        }
        // The total is the merge of the names, made when it is needed.
        let second = s.at.as_secs();
        // A sample for an interval already closed (very late) still counts in the totals.
        if self
            .recorded
            .intervals
            .last()
            .is_none_or(|last| second > last.t)
        {
            self.open.entry(second).or_default().push_interval(s);
        }
    }

    /// Adds a shard's tally (see [`crate::tally`]): the same as pushing its
    /// requests one by one, late ones included.
    pub fn absorb(&mut self, t: &Tally) {
        if let Some(m) = &mut self.metrics {
            m.absorb(t.series());
        }
        for (into, from) in self.recorded.traced.iter_mut().zip(t.traced()) {
            into.merge(from);
        }
        for (n, stats) in t.names().iter().zip(&mut self.recorded.per_name) {
            n.merge_into(stats);
        }
        for sec in t.seconds() {
            // A second already closed (very late requests) still counts in the totals.
            if self
                .recorded
                .intervals
                .last()
                .is_none_or(|last| sec.second() > last.t)
            {
                sec.merge_into(self.open.entry(sec.second()).or_default());
            }
        }
    }

    /// Closes the intervals that end before `now - 1s`.
    pub fn close_before(&mut self, now: Duration) {
        let limit = now.as_secs().saturating_sub(1);
        while let Some((&second, _)) = self.open.first_key_value() {
            if second >= limit {
                break;
            }
            if let Some((second, stats)) = self.open.pop_first() {
                self.close(second, &stats);
            }
        }
    }

    fn close(&mut self, second: u64, stats: &Stats) {
        // Seconds without any request still appear, with zero counts.
        let next = self.recorded.intervals.last().map_or(0, |l| l.t + 1);
        for empty in next..second {
            self.recorded
                .intervals
                .push(interval_summary(empty, &Stats::default()));
        }
        self.recorded
            .intervals
            .push(interval_summary(second, stats));
        if self.keep_histograms {
            self.recorded
                .interval_histograms
                .push((second, encode_histogram(&stats.corrected)));
        }
    }

    /// The seconds closed so far.
    pub fn intervals(&self) -> &[IntervalSummary] {
        &self.recorded.intervals
    }

    /// The statistics per name so far.
    pub fn per_name(&self) -> &[Stats] {
        &self.recorded.per_name
    }

    /// All requests so far: the merge of the names.
    pub fn total(&self) -> Stats {
        let mut total = Stats::default();
        for s in &self.recorded.per_name {
            total.merge(s);
        }
        total
    }

    /// Closes every interval and returns the record.
    pub fn finish(mut self) -> Recorded {
        while let Some((second, stats)) = self.open.pop_first() {
            self.close(second, &stats);
        }
        self.recorded.total = self.total();
        self.recorded
    }
}

impl Merge for Recorder {
    fn prepare(&self, spare: &mut Tally) {
        spare.know(&self.recorded.per_name);
    }

    fn merge(&mut self, t: &Tally) {
        self.absorb(t);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::Outcome;

    fn at(secs: f64, name: usize) -> Sample {
        Sample {
            name,
            series: 0,
            corrected: Duration::from_millis(10),
            actual: Duration::from_millis(10),
            at: Duration::from_secs_f64(secs),
            outcome: Outcome::Ok(200),
            trace_id: 1,
            reason: None,
            body_bytes: 0,
        }
    }

    #[test]
    fn intervals_close_in_order_with_gaps_filled() {
        let mut r = Recorder::new(2, true);
        r.push(&at(0.2, 0));
        r.push(&at(0.7, 1));
        r.push(&at(3.1, 0));
        r.close_before(Duration::from_secs_f64(2.5));
        assert_eq!(r.recorded.intervals.len(), 1);
        assert_eq!(r.total().count, 3);
        let done = r.finish();
        let counts: Vec<(u64, u64)> = done.intervals.iter().map(|i| (i.t, i.count)).collect();
        assert_eq!(counts, vec![(0, 2), (1, 0), (2, 0), (3, 1)]);
        assert_eq!(done.per_name[0].count, 2);
        assert_eq!(done.per_name[1].count, 1);
        assert_eq!(done.total.count, 3);
        assert_eq!(done.interval_histograms.len(), 2);
    }
}
