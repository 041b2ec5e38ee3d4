//! Check counts: how many times each check on a response passed and failed,
//! and how many requests were skipped (not sent) because a value they use
//! was never captured or an earlier check ended the iteration.
//!
//! A check is not a transport error: a request whose check fails is still
//! counted in the request statistics by its status. The counts live in
//! atomics shared by every user ([`CheckCounts`]); the live view, the
//! thresholds and the report read a [`ChecksSnapshot`] of them.

use std::sync::atomic::{AtomicU64, Ordering};

use common::report::CheckResult;
use serde::{Deserialize, Serialize};

/// What a check is, for counting and reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckMeta {
    /// As written (`name:`), or made from the check (`status in [201]`).
    pub name: String,
    /// The request it belongs to: its name.
    pub request: String,
    /// Index of that request name in [`crate::scenario::Plan::names`].
    pub name_id: usize,
}

/// The passes and failures of one check.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckTally {
    pub passes: u64,
    pub fails: u64,
}

impl CheckTally {
    /// Passes and failures together.
    pub fn total(&self) -> u64 {
        self.passes.saturating_add(self.fails)
    }

    /// The share that passed, or `None` when the check never ran.
    pub fn pass_rate(&self) -> Option<f64> {
        let total = self.total();
        (total > 0).then(|| self.passes as f64 / total as f64)
    }

    pub fn add(&mut self, other: CheckTally) {
        self.passes = self.passes.saturating_add(other.passes);
        self.fails = self.fails.saturating_add(other.fails);
    }
}

/// Counters shared by the users of a run: one pair per check (indexed like
/// [`crate::scenario::Plan::checks`]) and one skip counter per request name.
#[derive(Debug)]
pub struct CheckCounts {
    checks: Vec<[AtomicU64; 2]>,
    skipped: Vec<AtomicU64>,
}

impl CheckCounts {
    /// Counters for `checks` checks and `names` request names.
    pub fn new(checks: usize, names: usize) -> Self {
        Self {
            checks: (0..checks)
                .map(|_| [AtomicU64::new(0), AtomicU64::new(0)])
                .collect(),
            skipped: (0..names).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// Counts one evaluation of check `id`.
    pub fn count(&self, id: usize, passed: bool) {
        if let Some(c) = self.checks.get(id) {
            c[usize::from(!passed)].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counts a request of name `name_id` that was not sent.
    pub fn skip(&self, name_id: usize) {
        if let Some(s) = self.skipped.get(name_id) {
            s.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The counts so far.
    pub fn snapshot(&self) -> ChecksSnapshot {
        ChecksSnapshot {
            checks: self
                .checks
                .iter()
                .map(|[p, f]| CheckTally {
                    passes: p.load(Ordering::Relaxed),
                    fails: f.load(Ordering::Relaxed),
                })
                .collect(),
            skipped: self
                .skipped
                .iter()
                .map(|s| s.load(Ordering::Relaxed))
                .collect(),
        }
    }
}

/// The check counts at one moment: per check (indexed like
/// [`crate::scenario::Plan::checks`]) and skipped requests per request name
/// (indexed like [`crate::scenario::Plan::names`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChecksSnapshot {
    pub checks: Vec<CheckTally>,
    pub skipped: Vec<u64>,
}

impl ChecksSnapshot {
    /// The sum over the checks that `keep` selects.
    pub fn sum(&self, meta: &[CheckMeta], keep: impl Fn(&CheckMeta) -> bool) -> CheckTally {
        let mut sum = CheckTally::default();
        for (m, t) in meta.iter().zip(&self.checks) {
            if keep(m) {
                sum.add(*t);
            }
        }
        sum
    }
}

/// The checks of a run and their counts, as thresholds read them: the
/// checks (like [`crate::scenario::Plan::checks`]) and a snapshot of their
/// counts indexed like them.
#[derive(Debug, Clone, Copy)]
pub struct CheckData<'a> {
    pub meta: &'a [CheckMeta],
    pub counts: &'a ChecksSnapshot,
}

impl CheckData<'static> {
    /// A run without checks.
    pub const NONE: CheckData<'static> = CheckData {
        meta: &[],
        counts: &ChecksSnapshot {
            checks: Vec::new(),
            skipped: Vec::new(),
        },
    };
}

impl<'a> CheckData<'a> {
    pub fn new(meta: &'a [CheckMeta], counts: &'a ChecksSnapshot) -> Self {
        Self { meta, counts }
    }

    /// The sum over the checks of `request` (all requests when `None`)
    /// named `check` (any name when `None`).
    pub fn tally(&self, request: Option<&str>, check: Option<&str>) -> CheckTally {
        self.counts.sum(self.meta, |m| {
            request.is_none_or(|r| m.request == r) && check.is_none_or(|c| m.name == c)
        })
    }
}

/// The checks with their counts as reports and views show them: one row
/// per (request, check name), in first-seen order; a check written twice
/// under one request name (in two scenarios) is one row, its counts added.
pub fn results(meta: &[CheckMeta], counts: &ChecksSnapshot) -> Vec<CheckResult> {
    let mut out: Vec<CheckResult> = Vec::new();
    for (i, m) in meta.iter().enumerate() {
        let t = counts.checks.get(i).copied().unwrap_or_default();
        add(
            &mut out,
            &CheckResult {
                name: m.name.clone(),
                request: m.request.clone(),
                passes: t.passes,
                fails: t.fails,
            },
        );
    }
    out
}

/// Adds `r` to the row of its (request, check name) in `rows`, or appends it.
pub fn add(rows: &mut Vec<CheckResult>, r: &CheckResult) {
    match rows
        .iter_mut()
        .find(|x| x.request == r.request && x.name == r.name)
    {
        Some(x) => {
            x.passes = x.passes.saturating_add(r.passes);
            x.fails = x.fails.saturating_add(r.fails);
        }
        None => rows.push(r.clone()),
    }
}

/// Report rows as checks and counts again (for judging thresholds on a
/// merged report).
pub fn from_results(rows: &[CheckResult]) -> (Vec<CheckMeta>, ChecksSnapshot) {
    let meta = rows
        .iter()
        .map(|r| CheckMeta {
            name: r.name.clone(),
            request: r.request.clone(),
            name_id: 0,
        })
        .collect();
    let counts = ChecksSnapshot {
        checks: rows
            .iter()
            .map(|r| CheckTally {
                passes: r.passes,
                fails: r.fails,
            })
            .collect(),
        skipped: Vec::new(),
    };
    (meta, counts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_sums() {
        let meta = vec![
            CheckMeta {
                name: "status".into(),
                request: "a".into(),
                name_id: 0,
            },
            CheckMeta {
                name: "body".into(),
                request: "b".into(),
                name_id: 1,
            },
        ];
        let counts = CheckCounts::new(2, 2);
        counts.count(0, true);
        counts.count(0, false);
        counts.count(1, true);
        counts.count(7, true);
        counts.skip(1);
        counts.skip(9);
        let s = counts.snapshot();
        assert_eq!(s.skipped, vec![0, 1]);
        assert_eq!(
            s.sum(&meta, |_| true),
            CheckTally {
                passes: 2,
                fails: 1
            }
        );
        assert_eq!(s.sum(&meta, |m| m.request == "a").pass_rate(), Some(0.5));
        assert_eq!(CheckTally::default().pass_rate(), None);
    }

    fn meta(name: &str, request: &str) -> CheckMeta {
        CheckMeta {
            name: name.into(),
            request: request.into(),
            name_id: 0,
        }
    }

    #[test]
    fn rows_add_up_a_check_written_twice_and_select_by_request_and_name() {
        let meta = vec![
            meta("status in [201]", "create"),
            meta("fast", "read"),
            meta("status in [201]", "create"),
            meta("status in [201]", "other"),
        ];
        let counts = ChecksSnapshot {
            checks: vec![
                CheckTally {
                    passes: 3,
                    fails: 1,
                },
                CheckTally {
                    passes: 0,
                    fails: 2,
                },
                CheckTally {
                    passes: 5,
                    fails: 0,
                },
            ],
            skipped: vec![],
        };
        let rows = results(&meta, &counts);
        let brief: Vec<(&str, &str, u64, u64)> = rows
            .iter()
            .map(|r| (r.name.as_str(), r.request.as_str(), r.passes, r.fails))
            .collect();
        // The fourth check has no counts yet (a shorter snapshot): zero.
        assert_eq!(
            brief,
            [
                ("status in [201]", "create", 8, 1),
                ("fast", "read", 0, 2),
                ("status in [201]", "other", 0, 0),
            ]
        );
        assert_eq!(rows[0].pass_rate(), Some(8.0 / 9.0));
        assert_eq!(rows[2].pass_rate(), None);
        let data = CheckData::new(&meta, &counts);
        assert_eq!(data.tally(None, None).total(), 11);
        assert_eq!(data.tally(Some("create"), None).passes, 8);
        assert_eq!(data.tally(None, Some("fast")).fails, 2);
        assert_eq!(data.tally(Some("read"), Some("status in [201]")).total(), 0);
        assert_eq!(CheckData::NONE.tally(None, None).total(), 0);
        // Back from rows, the same sums.
        let (m, c) = from_results(&rows);
        assert_eq!(CheckData::new(&m, &c).tally(Some("create"), None).passes, 8);
    }
}
