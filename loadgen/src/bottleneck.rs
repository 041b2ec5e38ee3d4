//! Where the time goes: the join of the requests loadgen sent with the
//! server spans of their traces, and the analysis of what made the slow
//! ones slow. Pure: it takes the requests (trace id and client-side
//! latency) and the spans, and returns a [`Breakdown`] per request name.
//!
//! For one request name it compares the slow requests (the caller picks
//! them: those at or above the name's p99) with typical ones (around its
//! p50):
//! - per span name, its *self time* (its duration minus the time covered
//!   by its children) in typical and in slow requests, and its share of the
//!   slow requests' whole time;
//! - the client-side time no server span covers (network, connection
//!   set-up, queueing in the client or in front of the server) as a line
//!   of its own;
//! - the span attributes that tell slow from typical: present in most slow
//!   requests and far fewer of a uniform sample of all, by a margin that
//!   chance does not explain: at least two slow requests have it, and a
//!   binomial test against its rate in the sample puts the chance of so
//!   many under 1% (so one slow order's amount is never a separator);
//! - how many slow and typical requests had no trace at all (sampling, or
//!   spans lost in export);
//! - the bottleneck: the span whose self time grows most from typical to
//!   slow.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

/// A span of a trace, as the analysis needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct Span {
    pub trace_id: u128,
    pub span_id: u64,
    /// The parent's span id; 0 for none.
    pub parent: u64,
    pub name: String,
    pub start_ns: u64,
    pub end_ns: u64,
    /// Attributes as `key` and the value's text.
    pub attributes: Vec<(String, String)>,
}

impl Span {
    fn duration_ns(&self) -> u64 {
        self.end_ns.saturating_sub(self.start_ns)
    }
}

/// A request loadgen sent: its trace id and its latency as the client saw
/// it (from the send to the end).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Traced {
    pub trace_id: u128,
    pub latency: Duration,
}

/// The line of the time no server span covers.
pub const CLIENT_SIDE: &str = "(not in any server span: network, queueing)";

/// One span name's part of a request name's time.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    pub span: String,
    /// Median self time over the typical requests (0 where absent), ms.
    pub typical_ms: f64,
    /// Median self time over the slow requests, ms.
    pub slow_ms: f64,
    /// Its 99th percentile over the slow requests, ms.
    pub slow_p99_ms: f64,
    /// Its share of the slow requests' whole (client-side) time.
    pub share: f64,
}

/// An attribute that tells slow requests from the others.
#[derive(Debug, Clone, PartialEq)]
pub struct Separator {
    /// The span it is on.
    pub span: String,
    pub key: String,
    pub value: String,
    /// Share of the slow requests (with a trace) that have it.
    pub slow: f64,
    /// Share of the sample of all requests (with a trace) that have it.
    pub all: f64,
}

/// What made one request name's slow requests slow.
#[derive(Debug, Clone, PartialEq)]
pub struct Breakdown {
    pub request: String,
    /// Slow requests, and those of them with no trace.
    pub slow: usize,
    pub slow_missing: usize,
    /// Typical requests, and those of them with no trace.
    pub typical: usize,
    pub typical_missing: usize,
    /// Per span name, the largest share of the slow time first; the
    /// client-side line ([`CLIENT_SIDE`]) among them.
    pub lines: Vec<Line>,
    /// Attributes on spans of most slow requests and fewer of all.
    pub separators: Vec<Separator>,
    /// The span name whose self time grows most from typical to slow (the
    /// client-side line may be it).
    pub bottleneck: Option<String>,
}

/// How separators are chosen.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// An attribute separates when its share in slow requests exceeds its
    /// share in all by at least this much.
    pub min_gap: f64,
    /// At most this many separators, the largest gaps first.
    pub max_separators: usize,
    /// An attribute separates only when at least this many slow requests
    /// have it,
    pub min_count: usize,
    /// and so many having it would happen by chance (at its rate in the
    /// sample) with a probability under this.
    pub alpha: f64,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            min_gap: 0.3,
            max_separators: 5,
            min_count: 2,
            alpha: 0.01,
        }
    }
}

/// The self time of each span of one trace, summed per span name, and the
/// time its root spans cover (their union), in ns.
struct TraceTimes {
    self_ns: BTreeMap<String, u64>,
    covered_ns: u64,
}

/// Length of the union of intervals, each clipped to `[lo, hi]`.
fn union_len(mut iv: Vec<(u64, u64)>, lo: u64, hi: u64) -> u64 {
    iv.retain_mut(|(s, e)| {
        *s = (*s).max(lo);
        *e = (*e).min(hi);
        s < e
    });
    iv.sort_unstable();
    let mut total = 0u64;
    let mut cur: Option<(u64, u64)> = None;
    for (s, e) in iv {
        cur = match cur {
            Some((cs, ce)) if s <= ce => Some((cs, ce.max(e))),
            Some((cs, ce)) => {
                total = total.saturating_add(ce - cs);
                Some((s, e))
            }
            None => Some((s, e)),
        };
    }
    if let Some((cs, ce)) = cur {
        total = total.saturating_add(ce - cs);
    }
    total
}

fn trace_times(spans: &[Span]) -> TraceTimes {
    let ids: std::collections::HashSet<u64> = spans.iter().map(|s| s.span_id).collect();
    let mut children: HashMap<u64, Vec<(u64, u64)>> = HashMap::new();
    let mut roots = Vec::new();
    for s in spans {
        if s.parent != 0 && ids.contains(&s.parent) && s.parent != s.span_id {
            children
                .entry(s.parent)
                .or_default()
                .push((s.start_ns, s.end_ns));
        } else {
            roots.push((s.start_ns, s.end_ns));
        }
    }
    let mut self_ns: BTreeMap<String, u64> = BTreeMap::new();
    for s in spans {
        let covered = children
            .get(&s.span_id)
            .map_or(0, |c| union_len(c.clone(), s.start_ns, s.end_ns));
        let own = s.duration_ns().saturating_sub(covered);
        let e = self_ns.entry(s.name.clone()).or_default();
        *e = e.saturating_add(own);
    }
    let lo = roots.iter().map(|r| r.0).min().unwrap_or(0);
    let hi = roots.iter().map(|r| r.1).max().unwrap_or(0);
    TraceTimes {
        self_ns,
        covered_ns: union_len(roots, lo, hi),
    }
}

/// The `q` quantile (0..=1) of `v` (sorted here), nearest rank; 0 when empty.
fn quantile(v: &mut [f64], q: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_unstable_by(f64::total_cmp);
    let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
    v[rank - 1]
}

/// Per-request times: self ms per span name, with the client-side line.
fn request_times(r: &Traced, spans: &[Span]) -> BTreeMap<String, f64> {
    let t = trace_times(spans);
    let latency_ns = u64::try_from(r.latency.as_nanos()).unwrap_or(u64::MAX);
    let mut out: BTreeMap<String, f64> = t
        .self_ns
        .into_iter()
        .map(|(k, v)| (k, v as f64 / 1e6))
        .collect();
    out.insert(
        CLIENT_SIDE.to_owned(),
        latency_ns.saturating_sub(t.covered_ns) as f64 / 1e6,
    );
    out
}

/// The (span, key, value) attributes present in a trace, each once.
fn attributes(spans: &[Span]) -> std::collections::BTreeSet<(String, String, String)> {
    spans
        .iter()
        .flat_map(|s| {
            s.attributes
                .iter()
                .map(|(k, v)| (s.name.clone(), k.clone(), v.clone()))
        })
        .collect()
}

/// P(X >= k) for X binomial with `n` trials of probability `p` (0 < p <
/// 1), summed in log space so that no term underflows before it matters.
fn binomial_tail(n: usize, k: usize, p: f64) -> f64 {
    if k == 0 {
        return 1.0;
    }
    if k > n {
        return 0.0;
    }
    let (lp, lq) = (p.ln(), (1.0 - p).ln());
    // ln C(n, j) for j = k, built up from ln C(n, 0) = 0.
    let mut ln_c = 0.0;
    for j in 0..k {
        ln_c += ((n - j) as f64).ln() - ((j + 1) as f64).ln();
    }
    let mut terms = Vec::with_capacity(n - k + 1);
    for j in k..=n {
        terms.push(ln_c + j as f64 * lp + (n - j) as f64 * lq);
        if j < n {
            ln_c += ((n - j) as f64).ln() - ((j + 1) as f64).ln();
        }
    }
    let top = terms.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let sum: f64 = terms.iter().map(|t| (t - top).exp()).sum();
    (top + sum.ln()).exp().min(1.0)
}

/// The breakdown of request name `request`: `slow` and `typical` are its
/// slow and typical requests, `sample` a uniform sample of all of them
/// (for how common an attribute is), `spans` the spans by trace id.
pub fn analyse(
    request: &str,
    slow: &[Traced],
    typical: &[Traced],
    sample: &[Traced],
    spans: &HashMap<u128, Vec<Span>>,
    opts: Options,
) -> Breakdown {
    let with_trace = |rs: &[Traced]| -> Vec<(Traced, BTreeMap<String, f64>)> {
        rs.iter()
            .filter_map(|r| {
                let s = spans.get(&r.trace_id).filter(|s| !s.is_empty())?;
                Some((*r, request_times(r, s)))
            })
            .collect()
    };
    let slow_t = with_trace(slow);
    let typical_t = with_trace(typical);
    let mut names: Vec<String> = slow_t
        .iter()
        .chain(&typical_t)
        .flat_map(|(_, m)| m.keys().cloned())
        .collect();
    names.sort();
    names.dedup();
    let slow_total_ms: f64 = slow_t
        .iter()
        .map(|(r, _)| r.latency.as_secs_f64() * 1e3)
        .sum();
    let mut lines: Vec<Line> = names
        .iter()
        .map(|n| {
            let of = |set: &[(Traced, BTreeMap<String, f64>)]| -> Vec<f64> {
                set.iter()
                    .map(|(_, m)| m.get(n).copied().unwrap_or(0.0))
                    .collect()
            };
            let mut s = of(&slow_t);
            let mut t = of(&typical_t);
            let sum: f64 = s.iter().sum();
            Line {
                span: n.clone(),
                typical_ms: quantile(&mut t, 0.5),
                slow_ms: quantile(&mut s, 0.5),
                slow_p99_ms: quantile(&mut s, 0.99),
                share: if slow_total_ms > 0.0 {
                    sum / slow_total_ms
                } else {
                    0.0
                },
            }
        })
        .collect();
    lines.sort_by(|a, b| b.share.total_cmp(&a.share).then(a.span.cmp(&b.span)));
    let bottleneck = (!slow_t.is_empty())
        .then(|| {
            lines
                .iter()
                .max_by(|a, b| {
                    (a.slow_ms - a.typical_ms)
                        .total_cmp(&(b.slow_ms - b.typical_ms))
                        .then(b.span.cmp(&a.span))
                })
                .filter(|l| l.slow_ms > l.typical_ms)
                .map(|l| l.span.clone())
        })
        .flatten();
    // Attributes: share of slow requests with a trace that have each,
    // against the share of the sample's requests with a trace.
    let count = |rs: &[Traced]| {
        let mut n = 0usize;
        let mut seen: BTreeMap<(String, String, String), usize> = BTreeMap::new();
        for r in rs {
            if let Some(s) = spans.get(&r.trace_id).filter(|s| !s.is_empty()) {
                n += 1;
                for a in attributes(s) {
                    *seen.entry(a).or_default() += 1;
                }
            }
        }
        (n, seen)
    };
    let (n_slow, in_slow) = count(slow);
    let (n_all, in_all) = count(sample);
    let mut separators: Vec<Separator> = if n_slow == 0 || n_all == 0 {
        Vec::new()
    } else {
        in_slow
            .into_iter()
            .filter_map(|((span, key, value), c)| {
                let slow = c as f64 / n_slow as f64;
                let seen = in_all
                    .get(&(span.clone(), key.clone(), value.clone()))
                    .copied()
                    .unwrap_or(0);
                let all = seen as f64 / n_all as f64;
                // The rate in all requests, with one pseudo-count either
                // way: an attribute the sample missed is rare, not impossible.
                let rate = (seen as f64 + 1.0) / (n_all as f64 + 2.0);
                let chance = binomial_tail(n_slow, c, rate);
                (slow - all >= opts.min_gap && c >= opts.min_count && chance < opts.alpha)
                    .then_some(Separator {
                        span,
                        key,
                        value,
                        slow,
                        all,
                    })
            })
            .collect()
    };
    separators.sort_by(|a, b| {
        (b.slow - b.all)
            .total_cmp(&(a.slow - a.all))
            .then(a.key.cmp(&b.key))
    });
    separators.truncate(opts.max_separators);
    Breakdown {
        request: request.to_owned(),
        slow: slow.len(),
        slow_missing: slow.len() - slow_t.len(),
        typical: typical.len(),
        typical_missing: typical.len() - typical_t.len(),
        lines,
        separators,
        bottleneck,
    }
}

/// One line of a trace's span tree ([`span_tree`]).
#[derive(Debug, Clone, PartialEq)]
pub struct TreeLine {
    /// 0 for a root span, 1 for its children, and so on.
    pub depth: usize,
    pub name: String,
    /// From the start of the trace's first span, ms.
    pub offset_ms: f64,
    pub duration_ms: f64,
    /// Its duration less the time its children cover, ms.
    pub self_ms: f64,
    pub attributes: Vec<(String, String)>,
}

/// Deepest level [`span_tree`] descends to; deeper spans are left out.
pub const MAX_DEPTH: usize = 32;

/// The spans of one trace as a tree: each root (a span whose parent is not
/// in the trace) and below it its children, depth first, siblings in start
/// order. A span is listed once, whatever its parent links say (a cycle
/// ends where it would repeat).
pub fn span_tree(spans: &[Span]) -> Vec<TreeLine> {
    let ids: std::collections::HashSet<u64> = spans.iter().map(|s| s.span_id).collect();
    let mut children: HashMap<u64, Vec<&Span>> = HashMap::new();
    let mut roots: Vec<&Span> = Vec::new();
    for s in spans {
        if s.parent != 0 && s.parent != s.span_id && ids.contains(&s.parent) {
            children.entry(s.parent).or_default().push(s);
        } else {
            roots.push(s);
        }
    }
    let by_start = |v: &mut Vec<&Span>| {
        v.sort_by(|a, b| {
            a.start_ns
                .cmp(&b.start_ns)
                .then(a.name.cmp(&b.name))
                .then(a.span_id.cmp(&b.span_id))
        })
    };
    by_start(&mut roots);
    for v in children.values_mut() {
        by_start(v);
    }
    let t0 = spans.iter().map(|s| s.start_ns).min().unwrap_or(0);
    let ms = |ns: u64| ns as f64 / 1e6;
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    // Depth first with an explicit stack: input depth never grows the call stack.
    let mut stack: Vec<(&Span, usize)> = roots.iter().rev().map(|s| (*s, 0)).collect();
    while let Some((s, depth)) = stack.pop() {
        if !seen.insert(s.span_id) || depth >= MAX_DEPTH {
            continue;
        }
        let kids = children.get(&s.span_id).map(Vec::as_slice).unwrap_or(&[]);
        let covered = union_len(
            kids.iter().map(|c| (c.start_ns, c.end_ns)).collect(),
            s.start_ns,
            s.end_ns,
        );
        out.push(TreeLine {
            depth,
            name: s.name.clone(),
            offset_ms: ms(s.start_ns.saturating_sub(t0)),
            duration_ms: ms(s.duration_ns()),
            self_ms: ms(s.duration_ns().saturating_sub(covered)),
            attributes: s.attributes.clone(),
        });
        stack.extend(kids.iter().rev().map(|c| (*c, depth + 1)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    fn span(trace: u128, id: u64, parent: u64, name: &str, start: u64, end: u64) -> Span {
        Span {
            trace_id: trace,
            span_id: id,
            parent,
            name: name.into(),
            start_ns: start * MS,
            end_ns: end * MS,
            attributes: Vec::new(),
        }
    }

    /// An order: a server span 0..total with validate, payment, inventory
    /// children in sequence; the client saw `client` ms.
    fn order(trace: u128, pay: u64, inv: u64, client: u64, slow_path: bool) -> (Traced, Vec<Span>) {
        let v_end = 1 + 3;
        let p_end = v_end + pay;
        let i_end = p_end + inv;
        let total = i_end + 2;
        let mut p = span(trace, 3, 1, "process_payment", v_end, p_end);
        p.attributes
            .push(("app.payment.slow_path".into(), slow_path.to_string()));
        (
            Traced {
                trace_id: trace,
                latency: Duration::from_millis(client.max(total)),
            },
            vec![
                span(trace, 1, 99, "POST /api/orders", 0, total),
                span(trace, 2, 1, "validate_order", 1, v_end),
                p,
                span(trace, 4, 1, "reserve_inventory", p_end, i_end),
            ],
        )
    }

    #[test]
    fn binomial_tail_matches_the_closed_forms() {
        // P(X >= 1) = 1 - (1-p)^n; P(X >= n) = p^n.
        assert!((binomial_tail(10, 1, 0.1) - (1.0 - 0.9f64.powi(10))).abs() < 1e-12);
        assert!((binomial_tail(10, 10, 0.1) - 1e-10).abs() < 1e-20);
        assert!((binomial_tail(4, 2, 0.5) - 11.0 / 16.0).abs() < 1e-12);
        assert_eq!(binomial_tail(5, 0, 0.3), 1.0);
        assert_eq!(binomial_tail(5, 6, 0.3), 0.0);
        // Large n neither underflows to 0 nor overflows.
        let t = binomial_tail(10_000, 9_000, 0.9);
        assert!((0.4..0.6).contains(&t), "{t}");
    }

    #[test]
    fn two_slow_requests_with_a_common_value_separate_only_when_it_is_rare() {
        // Two slow orders both paid by card: 2 of 2 by chance is likely at
        // a 40% rate (0.16), unlikely at 3% (about 0.002).
        for (card_share, separates) in [(40u128, false), (3, true)] {
            let mut spans = HashMap::new();
            let (mut slow, mut sample) = (Vec::new(), Vec::new());
            for i in 0..100u128 {
                let is_slow = i < 2;
                let card = is_slow || (2..2 + card_share.saturating_sub(2)).contains(&i);
                let (r, mut s) = order(i + 1, if is_slow { 400 } else { 30 }, 10, 0, false);
                s[2].attributes.push((
                    "app.payment.method".into(),
                    if card { "card" } else { "cash" }.into(),
                ));
                spans.insert(r.trace_id, s);
                sample.push(r);
                if is_slow {
                    slow.push(r);
                }
            }
            let b = analyse(
                "create order",
                &slow,
                &sample[50..60],
                &sample,
                &spans,
                Options::default(),
            );
            let found = b
                .separators
                .iter()
                .any(|s| s.key == "app.payment.method" && s.value == "card");
            assert_eq!(found, separates, "{card_share}%: {:?}", b.separators);
        }
    }

    #[test]
    fn two_slow_requests_sharing_an_order_amount_separate_nothing() {
        let mut spans = HashMap::new();
        let (mut slow, mut sample) = (Vec::new(), Vec::new());
        for i in 0..100u128 {
            let slow_path = i < 2;
            let (r, mut s) = order(i + 1, if slow_path { 400 } else { 30 }, 10, 0, false);
            // Every order has its own amount, the two slow ones too: one slow
            // request with a value is not enough.
            s[2].attributes
                .push(("app.payment.amount_cents".into(), (1000 + i).to_string()));
            spans.insert(r.trace_id, s);
            sample.push(r);
            if slow_path {
                slow.push(r);
            }
        }
        let b = analyse(
            "create order",
            &slow,
            &sample[50..60],
            &sample,
            &spans,
            Options::default(),
        );
        assert_eq!(b.bottleneck.as_deref(), Some("process_payment"));
        assert!(b.separators.is_empty(), "{:?}", b.separators);
    }

    #[test]
    fn span_tree_is_depth_first_in_start_order_with_self_times() {
        let (_, spans) = order(7, 30, 10, 0, true);
        // Shuffled input gives the same tree.
        let mut shuffled = spans.clone();
        shuffled.reverse();
        let tree = span_tree(&shuffled);
        let names: Vec<(usize, &str)> = tree.iter().map(|l| (l.depth, l.name.as_str())).collect();
        assert_eq!(
            names,
            [
                (0, "POST /api/orders"),
                (1, "validate_order"),
                (1, "process_payment"),
                (1, "reserve_inventory"),
            ]
        );
        // The server span: 0..46 ms, children cover 1..44.
        assert_eq!(tree[0].duration_ms, 46.0);
        assert_eq!(tree[0].self_ms, 3.0);
        assert_eq!(tree[2].offset_ms, 4.0);
        assert_eq!(tree[2].self_ms, 30.0);
        assert_eq!(
            tree[2].attributes,
            [("app.payment.slow_path".to_owned(), "true".to_owned())]
        );
    }

    #[test]
    fn span_tree_survives_cycles_and_depth() {
        // a -> b -> a: neither is a root; nothing is listed twice.
        let cycle = vec![span(1, 1, 2, "a", 0, 10), span(1, 2, 1, "b", 1, 5)];
        assert!(span_tree(&cycle).is_empty());
        // A self-parented span is a root.
        assert_eq!(span_tree(&[span(1, 5, 5, "self", 0, 1)]).len(), 1);
        // A chain deeper than the cap stops at it.
        let chain: Vec<Span> = (1..=100u64)
            .map(|i| span(1, i, i - 1, "s", i, 200 - i))
            .collect();
        let tree = span_tree(&chain);
        assert_eq!(tree.len(), MAX_DEPTH);
        assert_eq!(tree.last().map(|l| l.depth), Some(MAX_DEPTH - 1));
        assert!(span_tree(&[]).is_empty());
    }

    #[test]
    fn self_time_subtracts_children_once_even_when_they_overlap() {
        let spans = vec![
            span(1, 1, 0, "root", 0, 100),
            span(1, 2, 1, "a", 10, 40),
            span(1, 3, 1, "b", 30, 60),
            span(1, 4, 2, "a.child", 15, 25),
            // A child past its parent's end only counts inside it.
            span(1, 5, 1, "late", 90, 120),
        ];
        let t = trace_times(&spans);
        assert_eq!(t.self_ns["root"], (100 - 50 - 10) * MS);
        assert_eq!(t.self_ns["a"], 20 * MS);
        assert_eq!(t.self_ns["late"], 30 * MS);
        assert_eq!(t.covered_ns, 100 * MS);
        assert_eq!(union_len(vec![(0, 10), (5, 20), (30, 40)], 0, 35), 25);
        assert_eq!(union_len(vec![], 0, 10), 0);
    }

    #[test]
    fn the_slow_payment_is_the_bottleneck_and_its_attribute_separates() {
        let mut spans = HashMap::new();
        let (mut slow, mut typical, mut sample) = (Vec::new(), Vec::new(), Vec::new());
        for i in 0..100u128 {
            // One in ten pays slowly; the slow requests are those.
            let slow_path = i % 10 == 0;
            let pay = if slow_path { 230 } else { 30 };
            let (r, s) = order(i + 1, pay, 10, 0, slow_path);
            spans.insert(r.trace_id, s);
            sample.push(r);
            if slow_path {
                slow.push(r);
            } else if i % 10 == 5 {
                typical.push(r);
            }
        }
        // A slow request whose trace never arrived.
        slow.push(Traced {
            trace_id: 10_000,
            latency: Duration::from_millis(300),
        });
        let b = analyse(
            "create order",
            &slow,
            &typical,
            &sample,
            &spans,
            Options::default(),
        );
        assert_eq!(b.bottleneck.as_deref(), Some("process_payment"));
        assert_eq!((b.slow, b.slow_missing), (11, 1));
        assert_eq!((b.typical, b.typical_missing), (10, 0));
        let pay = &b.lines[0];
        assert_eq!(pay.span, "process_payment");
        assert!((pay.slow_ms - 230.0).abs() < 1e-9, "{pay:?}");
        assert!((pay.typical_ms - 30.0).abs() < 1e-9);
        // 230 of 246 ms of each slow order.
        assert!((pay.share - 230.0 / 246.0).abs() < 1e-9, "{pay:?}");
        let sep = &b.separators[0];
        assert_eq!(
            (sep.key.as_str(), sep.value.as_str()),
            ("app.payment.slow_path", "true")
        );
        assert_eq!((sep.slow, sep.all), (1.0, 0.1));
        assert_eq!(b.separators.len(), 1, "{:?}", b.separators);
        // No client-side time: the client saw what the server span covers.
        let client = b.lines.iter().find(|l| l.span == CLIENT_SIDE).unwrap();
        assert_eq!(client.slow_ms, 0.0);
    }

    #[test]
    fn time_outside_the_server_is_its_own_line_and_can_be_the_bottleneck() {
        let mut spans = HashMap::new();
        let (mut slow, mut typical) = (Vec::new(), Vec::new());
        for i in 0..20u128 {
            // The slow half waited 400 ms before the server saw them.
            let client = if i < 10 { 0 } else { 446 };
            let (r, s) = order(i + 1, 30, 10, client, false);
            spans.insert(r.trace_id, s);
            if i < 10 {
                typical.push(r);
            } else {
                slow.push(r);
            }
        }
        let all: Vec<Traced> = slow.iter().chain(&typical).copied().collect();
        let b = analyse(
            "create order",
            &slow,
            &typical,
            &all,
            &spans,
            Options::default(),
        );
        assert_eq!(b.bottleneck.as_deref(), Some(CLIENT_SIDE));
        let c = &b.lines[0];
        assert_eq!(c.span, CLIENT_SIDE);
        assert!((c.slow_ms - 400.0).abs() < 1e-9, "{c:?}");
        assert!(b.separators.is_empty());
    }

    #[test]
    fn no_traces_at_all_gives_counts_and_no_bottleneck() {
        let slow = [Traced {
            trace_id: 5,
            latency: Duration::from_millis(9),
        }];
        let b = analyse("x", &slow, &[], &[], &HashMap::new(), Options::default());
        assert_eq!((b.slow, b.slow_missing), (1, 1));
        assert!(b.lines.is_empty() && b.separators.is_empty() && b.bottleneck.is_none());
    }
}
