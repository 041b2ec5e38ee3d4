//! What the parts of a run share: the plan and target, one connection per
//! user, the clocks, the counters, the shards the users record into and the
//! queue of the open model. The conductor, the user loop and the recorder
//! task each hold an `Arc` of it.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::watch;

use super::control::Control;
use crate::client::{Connection, Prepared, Target};
use crate::client_spans::ClientSpans;
use crate::live::Live;
use crate::scenario::Plan;
use crate::tally::Shards;

/// One iteration of the open model, queued for a user.
pub(super) struct Ticket {
    pub(super) intended: Instant,
    pub(super) scenario: usize,
    pub(super) seq: u64,
}

/// The state of one run, shared by its tasks.
pub(super) struct RunCtx {
    pub(super) plan: Arc<Plan>,
    pub(super) target: Target,
    /// Per scenario and request: the request, built once when it has no template.
    pub(super) static_requests: Vec<Vec<Option<Prepared>>>,
    /// One connection per goose user, by the user's index.
    pub(super) conns: Vec<tokio::sync::Mutex<Connection>>,
    pub(super) control: Arc<Control>,
    pub(super) spans: Option<Arc<ClientSpans>>,
    pub(super) base: String,
    /// When the run's clock starts: once goose has launched the users.
    pub(super) start: OnceLock<Instant>,
    /// The same moment on the wall clock (the report's `started_at`).
    pub(super) started_at: OnceLock<SystemTime>,
    /// Where finished requests are recorded; the recorder task drains them.
    pub(super) shards: Shards,
    /// Set when the schedule is over: nothing new starts, think time is cut.
    pub(super) ended: watch::Sender<bool>,
    /// When the last request ended (or was abandoned).
    pub(super) finished: OnceLock<Instant>,
    /// The reason recorded for a timed-out request.
    pub(super) timeout_reason: String,
    pub(super) dropped: AtomicU64,
    pub(super) seq: AtomicU64,
    pub(super) iterations: AtomicU64,
    pub(super) in_flight: AtomicUsize,
    pub(super) ready: AtomicUsize,
    pub(super) tickets: Option<async_channel::Receiver<Ticket>>,
    /// A live view's snapshot and switches, when one is attached.
    pub(super) live: Option<Arc<Live>>,
    /// Requests started so far, counted against the plan's request budget.
    pub(super) started_requests: AtomicU64,
    /// Told when the last request of the budget has started.
    pub(super) spent: tokio::sync::Notify,
    /// The checks' passes and failures, and the requests skipped.
    pub(super) checks: crate::checks::CheckCounts,
    /// Per scenario and request: its series of the client metrics.
    pub(super) series: Vec<Vec<u32>>,
    /// Where the client metrics go, when they are on.
    pub(super) metrics: Option<crate::metrics::Sink>,
    /// Its run id (the `loadgen_run` label), when they are on.
    pub(super) run_id: Option<String>,
    /// The top 32 bits of every trace id, when set.
    pub(super) trace_prefix: Option<u32>,
    /// Whether the recorder keeps requests with their trace ids.
    pub(super) traced: bool,
}

impl RunCtx {
    /// The client-metrics series of request `request` of scenario `scenario`.
    pub(super) fn series_of(&self, scenario: usize, request: usize) -> u32 {
        self.series
            .get(scenario)
            .and_then(|s| s.get(request))
            .copied()
            .unwrap_or(0)
    }

    /// Counts `n` dropped iterations (saturating: a count never wraps).
    pub(super) fn drop_many(&self, n: u64) {
        let _ = self
            .dropped
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |d| {
                Some(d.saturating_add(n))
            });
    }

    /// Takes one request from the plan's budget: false when it is spent
    /// (no budget: always true). The one that takes the last tells the
    /// conductor.
    pub(super) fn take_request(&self) -> bool {
        let Some(budget) = self.plan.requests else {
            return true;
        };
        let taken = self
            .started_requests
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < budget).then_some(n + 1)
            });
        match taken {
            Ok(n) => {
                if n + 1 == budget {
                    self.spent.notify_one();
                }
                true
            }
            Err(_) => false,
        }
    }

    /// True once every request of the plan's budget has started.
    pub(super) fn budget_spent(&self) -> bool {
        self.plan
            .requests
            .is_some_and(|b| self.started_requests.load(Ordering::SeqCst) >= b)
    }

    /// True once the schedule is over or the run is halted.
    pub(super) fn over(&self) -> bool {
        *self.ended.borrow() || self.control.halted()
    }

    /// Returns once the schedule is over or the run is halted.
    pub(super) async fn until_over(&self) {
        let mut ended = self.ended.subscribe();
        tokio::select! {
            _ = ended.wait_for(|e| *e) => {}
            _ = self.control.until_halted() => {}
        }
    }

    /// Returns once a request still waiting for its host lookup should give
    /// up: the run is halted, or the schedule's time is over. A run that its
    /// request budget ended lets the requests holding part of the budget go
    /// on (each is bounded by its timeout), so all N are sent.
    pub(super) async fn until_cut(&self) {
        let mut ended = self.ended.subscribe();
        tokio::select! {
            _ = ended.wait_for(|e| *e && !self.budget_spent()) => {}
            _ = self.control.until_halted() => {}
        }
    }

    /// Sleeps for `d`, cut short when the schedule ends.
    pub(super) async fn think(&self, d: Duration) {
        if d.is_zero() {
            return;
        }
        tokio::select! {
            _ = tokio::time::sleep(d) => {}
            _ = self.until_over() => {}
        }
    }

    pub(super) fn paused(&self) -> bool {
        self.live.as_ref().is_some_and(|l| l.paused())
    }

    pub(super) fn paused_total(&self) -> Duration {
        self.live
            .as_ref()
            .map_or(Duration::ZERO, |l| l.paused_total())
    }

    /// Schedule time: since the start, pauses excluded.
    pub(super) fn schedule_time(&self) -> Duration {
        self.start.get().map_or(Duration::ZERO, |s| {
            s.elapsed().saturating_sub(self.paused_total())
        })
    }

    /// While the view holds the run paused, waits, and counts the pause.
    pub(super) async fn hold_while_paused(&self) {
        let Some(live) = &self.live else { return };
        if !live.paused() {
            return;
        }
        let from = Instant::now();
        while live.paused() && !stopping(self) && !self.control.halted() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        live.add_paused(from.elapsed());
    }
}

/// True once the run must stop. Goose clears its killswitch when it starts,
/// so an interruption that came earlier is passed on again here.
pub(super) fn stopping(ctx: &RunCtx) -> bool {
    if ctx.control.interrupted.load(Ordering::SeqCst) && !goose::is_killswitch_triggered() {
        goose::trigger_killswitch("interrupted");
    }
    goose::is_killswitch_triggered()
}
