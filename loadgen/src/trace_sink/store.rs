//! Where received spans are kept: by trace id, bounded in span count and
//! in (estimated) bytes, the oldest trace out first. Pure: no I/O, no
//! locking (the sink holds it under a mutex only to insert).
//!
//! The unit of eviction is the trace: a trace kept in part would give the
//! analysis wrong self times (a parent without its children), while a
//! trace gone entirely is counted as missing, which it reports honestly.
//! A single trace larger than the cap loses its oldest spans instead.

use std::collections::{HashMap, VecDeque};

use crate::bottleneck::Span;

/// What the store has counted, spans throughout.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreCounts {
    /// Spans put in.
    pub kept: u64,
    /// Spans pushed out to stay under the caps.
    pub evicted: u64,
    /// Spans held now.
    pub held: u64,
    /// Traces held now.
    pub traces: u64,
    /// Estimated bytes held now.
    pub bytes: u64,
}

/// Spans by trace id, at most `max_spans` of them and about `max_bytes`.
#[derive(Debug)]
pub struct Store {
    max_spans: usize,
    max_bytes: usize,
    traces: HashMap<u128, Vec<Span>>,
    /// Trace ids in the order of their first span's arrival; each trace
    /// held appears exactly once.
    order: VecDeque<u128>,
    spans: usize,
    bytes: usize,
    kept: u64,
    evicted: u64,
}

/// The heap and inline size of a span, roughly (what the byte cap counts).
pub fn span_bytes(s: &Span) -> usize {
    const PER_ATTRIBUTE: usize = 2 * std::mem::size_of::<String>();
    let attributes = s.attributes.iter().fold(0usize, |n, (k, v)| {
        n.saturating_add(PER_ATTRIBUTE + k.len() + v.len())
    });
    std::mem::size_of::<Span>()
        .saturating_add(s.name.len())
        .saturating_add(attributes)
}

impl Store {
    /// An empty store; a cap of 0 is taken as 1.
    pub fn new(max_spans: usize, max_bytes: usize) -> Self {
        Self {
            max_spans: max_spans.max(1),
            max_bytes: max_bytes.max(1),
            traces: HashMap::new(),
            order: VecDeque::new(),
            spans: 0,
            bytes: 0,
            kept: 0,
            evicted: 0,
        }
    }

    /// Adds `spans` (one batch, in arrival order), then evicts what goes
    /// over the caps; returns the number of spans evicted by this call.
    pub fn insert(&mut self, spans: Vec<Span>) -> u64 {
        let before = self.evicted;
        for span in spans {
            self.bytes = self.bytes.saturating_add(span_bytes(&span));
            self.spans = self.spans.saturating_add(1);
            self.kept = self.kept.saturating_add(1);
            let id = span.trace_id;
            match self.traces.entry(id) {
                std::collections::hash_map::Entry::Occupied(mut e) => e.get_mut().push(span),
                std::collections::hash_map::Entry::Vacant(e) => {
                    e.insert(vec![span]);
                    self.order.push_back(id);
                }
            }
        }
        self.evict();
        self.evicted - before
    }

    fn over(&self) -> bool {
        self.spans > self.max_spans || self.bytes > self.max_bytes
    }

    fn evict(&mut self) {
        while self.over() && self.order.len() > 1 {
            let Some(id) = self.order.pop_front() else {
                return;
            };
            if let Some(gone) = self.traces.remove(&id) {
                self.forget(&gone);
            }
        }
        if !self.over() {
            return;
        }
        // One trace over a cap on its own: its oldest spans go, all at once.
        let Some(id) = self.order.front().copied() else {
            return;
        };
        let Some(trace) = self.traces.get_mut(&id) else {
            return;
        };
        let (mut spans, mut bytes, mut cut) = (self.spans, self.bytes, 0);
        while cut < trace.len() && (spans > self.max_spans || bytes > self.max_bytes) {
            spans = spans.saturating_sub(1);
            bytes = bytes.saturating_sub(span_bytes(&trace[cut]));
            cut += 1;
        }
        let gone: Vec<Span> = trace.drain(..cut).collect();
        if trace.is_empty() {
            self.traces.remove(&id);
            self.order.clear();
        }
        self.forget(&gone);
    }

    fn forget(&mut self, gone: &[Span]) {
        for s in gone {
            self.bytes = self.bytes.saturating_sub(span_bytes(s));
        }
        self.spans = self.spans.saturating_sub(gone.len());
        self.evicted = self.evicted.saturating_add(gone.len() as u64);
    }

    /// The spans of one trace, in arrival order (empty when none).
    pub fn spans_of(&self, trace_id: u128) -> Vec<Span> {
        self.traces.get(&trace_id).cloned().unwrap_or_default()
    }

    /// Everything held, by trace id; the store is empty after.
    pub fn take_all(&mut self) -> HashMap<u128, Vec<Span>> {
        self.order.clear();
        self.spans = 0;
        self.bytes = 0;
        std::mem::take(&mut self.traces)
    }

    pub fn counts(&self) -> StoreCounts {
        StoreCounts {
            kept: self.kept,
            evicted: self.evicted,
            held: self.spans as u64,
            traces: self.traces.len() as u64,
            bytes: self.bytes as u64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(trace: u128, id: u64) -> Span {
        Span {
            trace_id: trace,
            span_id: id,
            parent: 0,
            name: "s".into(),
            start_ns: 0,
            end_ns: 1,
            attributes: vec![],
        }
    }

    #[test]
    fn the_oldest_trace_goes_first_and_whole() {
        let mut s = Store::new(4, usize::MAX);
        assert_eq!(s.insert(vec![span(1, 1), span(1, 2), span(2, 3)]), 0);
        // A later span of trace 1 does not make it younger.
        assert_eq!(s.insert(vec![span(1, 4)]), 0);
        assert_eq!(s.insert(vec![span(3, 5)]), 3);
        assert!(s.spans_of(1).is_empty());
        assert_eq!(s.spans_of(2).len(), 1);
        assert_eq!(s.spans_of(3).len(), 1);
        let c = s.counts();
        assert_eq!((c.kept, c.evicted, c.held, c.traces), (5, 3, 2, 2));
    }

    #[test]
    fn one_trace_over_the_cap_loses_its_oldest_spans() {
        let mut s = Store::new(3, usize::MAX);
        assert_eq!(s.insert((1..=5).map(|i| span(7, i)).collect()), 2);
        let ids: Vec<u64> = s.spans_of(7).iter().map(|x| x.span_id).collect();
        assert_eq!(ids, [3, 4, 5]);
        assert_eq!(s.counts().held, 3);
    }

    #[test]
    fn the_byte_cap_evicts_too() {
        let one = span_bytes(&span(1, 1));
        let mut s = Store::new(1000, one * 2);
        s.insert(vec![span(1, 1), span(2, 2), span(3, 3)]);
        assert!(s.spans_of(1).is_empty());
        let c = s.counts();
        assert_eq!((c.held, c.evicted), (2, 1));
        assert!(c.bytes as usize <= one * 2);
    }

    #[test]
    fn take_all_empties_and_counts_stay() {
        let mut s = Store::new(10, usize::MAX);
        s.insert(vec![span(1, 1), span(2, 2)]);
        let all = s.take_all();
        assert_eq!(all.len(), 2);
        assert_eq!(s.counts().held, 0);
        assert_eq!(s.counts().kept, 2);
        // Eviction order starts afresh.
        s.insert((0..11).map(|i| span(9, i)).collect());
        assert_eq!(s.counts().held, 10);
    }
}
