//! Execution on goose 0.19: scenarios and transactions are built at run time
//! from the [`Plan`].
//!
//! - Closed model: one goose scenario per scenario (with its weight), users
//!   ramped by goose's test plan; each transaction runs one iteration.
//! - Open model: goose runs `max_users` users that take iterations from a
//!   queue fed by our [`Pacer`]; each iteration carries its intended start, and
//!   latency is recorded from it (coordinated-omission corrected) as well as
//!   from the actual send. An iteration that finds the queue full (every user
//!   busy and `max_queue` already waiting) is dropped and counted.
//!
//! Results go over a channel to the [`Recorder`] task; users never wait on it.
//!
//! A run ends within its duration plus one request timeout, whatever the
//! target does. When the schedule ends, no iteration or request starts any
//! more, think time is cut, iterations still queued are counted as dropped,
//! and the requests in flight get at most `timeout`. An interruption (or an
//! abort-on-fail threshold) stops everything at once: requests in flight are
//! abandoned. The report's times are measured, never the schedule's.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

use goose::GooseAttack;
use goose::config::{GooseConfiguration, GooseDefault, GooseDefaultType};
use goose::goose::{GooseUser, Scenario as GooseScenario, Transaction, TransactionResult};
use rand::Rng;
use rand::distr::Distribution;
use rand::distr::weighted::WeightedIndex;
use tokio::sync::{mpsc, watch};

use crate::client::{Connection, SendError, Target};
use crate::client_spans::ClientSpans;
use crate::live::{Clock, Live, Snapshot};
use crate::pacer::Pacer;
use crate::recorder::{Recorded, Recorder};
use crate::scenario::template::RenderCtx;
use crate::scenario::{Load, Plan};
use crate::stats::{Outcome, Sample};
use crate::threshold::Threshold;

/// Errors that stop a run from starting or finishing.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("goose failed: {0}")]
    Goose(String),
    #[error("invalid target: {0}")]
    Target(String),
    #[error("cannot allocate {0}")]
    TooLarge(String),
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
}

/// Run-wide switches set from outside (signal handlers), and live counters
/// read from outside (the progress line).
#[derive(Debug)]
pub struct Control {
    pub interrupted: AtomicBool,
    pub requests: AtomicU64,
    pub errors: AtomicU64,
    /// Set once everything must stop now: requests in flight are abandoned.
    halt: watch::Sender<bool>,
    /// A second interruption: skip whatever waiting is left.
    pub hurry: AtomicBool,
}

impl Default for Control {
    fn default() -> Self {
        Self {
            interrupted: AtomicBool::new(false),
            requests: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            halt: watch::Sender::new(false),
            hurry: AtomicBool::new(false),
        }
    }
}

impl Control {
    /// Stops the run at once; reports are still written.
    pub fn interrupt(&self) {
        self.interrupted.store(true, Ordering::SeqCst);
        self.halt();
        goose::trigger_killswitch("interrupted");
    }

    /// Stops every request and wait of the run now.
    pub fn halt(&self) {
        self.halt.send_replace(true);
    }

    pub fn halted(&self) -> bool {
        *self.halt.borrow()
    }

    /// Returns once the run is halted.
    pub async fn until_halted(&self) {
        let mut rx = self.halt.subscribe();
        // The sender lives as long as `self`: waiting cannot fail.
        let _ = rx.wait_for(|h| *h).await;
    }
}

struct Ticket {
    intended: Instant,
    scenario: usize,
    seq: u64,
}

enum Msg {
    Sample(Sample),
    Finish,
}

struct RunCtx {
    plan: Arc<Plan>,
    target: Target,
    /// Per scenario and request: the request target, when the path has no template.
    static_uris: Vec<Vec<Option<http::Uri>>>,
    /// One connection per goose user, by the user's index.
    conns: Vec<tokio::sync::Mutex<Connection>>,
    control: Arc<Control>,
    spans: Option<Arc<ClientSpans>>,
    base: String,
    /// When the run's clock starts: once goose has launched the users.
    start: std::sync::OnceLock<Instant>,
    /// The same moment on the wall clock (the report's `started_at`).
    started_at: std::sync::OnceLock<SystemTime>,
    tx: mpsc::UnboundedSender<Msg>,
    /// Set when the schedule is over: nothing new starts, think time is cut.
    ended: watch::Sender<bool>,
    /// When the last request ended (or was abandoned).
    finished: std::sync::OnceLock<Instant>,
    /// The reason recorded for a timed-out request.
    timeout_reason: String,
    dropped: AtomicU64,
    seq: AtomicU64,
    iterations: AtomicU64,
    in_flight: AtomicUsize,
    ready: AtomicUsize,
    tickets: Option<async_channel::Receiver<Ticket>>,
    /// A live view's snapshot and switches, when one is attached.
    live: Option<Arc<Live>>,
}

impl RunCtx {
    /// Counts `n` dropped iterations (saturating: a count never wraps).
    fn drop_many(&self, n: u64) {
        let _ = self
            .dropped
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |d| {
                Some(d.saturating_add(n))
            });
    }

    /// True once the schedule is over or the run is halted.
    fn over(&self) -> bool {
        *self.ended.borrow() || self.control.halted()
    }

    /// Returns once the schedule is over or the run is halted.
    async fn until_over(&self) {
        let mut ended = self.ended.subscribe();
        tokio::select! {
            _ = ended.wait_for(|e| *e) => {}
            _ = self.control.until_halted() => {}
        }
    }

    /// Sleeps for `d`, cut short when the schedule ends.
    async fn think(&self, d: Duration) {
        if d.is_zero() {
            return;
        }
        tokio::select! {
            _ = tokio::time::sleep(d) => {}
            _ = self.until_over() => {}
        }
    }

    fn paused(&self) -> bool {
        self.live.as_ref().is_some_and(|l| l.paused())
    }

    fn paused_total(&self) -> Duration {
        self.live
            .as_ref()
            .map_or(Duration::ZERO, |l| l.paused_total())
    }

    /// Schedule time: since the start, pauses excluded.
    fn schedule_time(&self) -> Duration {
        self.start.get().map_or(Duration::ZERO, |s| {
            s.elapsed().saturating_sub(self.paused_total())
        })
    }

    /// While the view holds the run paused, waits, and counts the pause.
    async fn hold_while_paused(&self) {
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

const USER_AGENT: &str = concat!("loadgen/", env!("CARGO_PKG_VERSION"));

/// True once the run must stop. Goose clears its killswitch when it starts,
/// so an interruption that came earlier is passed on again here.
fn stopping(ctx: &RunCtx) -> bool {
    if ctx.control.interrupted.load(Ordering::SeqCst) && !goose::is_killswitch_triggered() {
        goose::trigger_killswitch("interrupted");
    }
    goose::is_killswitch_triggered()
}

/// A finished request, for [`record`].
struct Done {
    name: usize,
    intended_start: Instant,
    sent: Instant,
    end: Instant,
    outcome: Outcome,
    trace_id: u128,
    reason: Option<String>,
}

/// Counts a finished request and sends it to the recorder.
fn record(ctx: &RunCtx, d: Done) {
    let Done {
        name,
        intended_start,
        sent,
        end,
        outcome,
        trace_id,
        reason,
    } = d;
    ctx.control.requests.fetch_add(1, Ordering::Relaxed);
    if outcome.error_kind().is_some() {
        ctx.control.errors.fetch_add(1, Ordering::Relaxed);
    }
    // The recorder outlives every user; a closed channel only means the run is over.
    let _ = ctx.tx.send(Msg::Sample(Sample {
        name,
        corrected: end.saturating_duration_since(intended_start),
        actual: end.saturating_duration_since(sent),
        at: end.saturating_duration_since(ctx.start.get().copied().unwrap_or(sent)),
        outcome,
        trace_id,
        reason,
    }));
}

/// Runs one iteration of `scenario`. The first request's corrected latency
/// counts from `intended` (the open model's schedule). Returns false when
/// the schedule was already over, so the iteration never started.
async fn iteration(
    user: &GooseUser,
    ctx: &RunCtx,
    index: usize,
    intended: Option<Instant>,
    seq: u64,
) -> bool {
    if ctx.over() {
        return false;
    }
    let plan = &ctx.plan;
    let scenario = &plan.scenarios[index];
    let Some(conn) = ctx.conns.get(user.weighted_users_index) else {
        return false;
    };
    ctx.in_flight.fetch_add(1, Ordering::SeqCst);
    let mut conn = conn.lock().await;
    for (i, req) in scenario.requests.iter().enumerate() {
        // Once the schedule is over, no further request of the iteration starts.
        if i > 0 && ctx.over() {
            break;
        }
        let (uri, headers, body, mut trace_id, mut span_id, traced) = {
            let mut rng = rand::rng();
            let mut render = RenderCtx { seq, rng: &mut rng };
            // Static paths were parsed once; others are rendered and parsed here.
            let uri = match &ctx.static_uris[index][i] {
                Some(u) => Ok(u.clone()),
                None => ctx.target.uri(&req.path.render(&mut render)),
            };
            let Ok(uri) = uri else {
                // A template rendered into something that is not a path.
                let now = Instant::now();
                record(
                    ctx,
                    Done {
                        name: req.name_id,
                        intended_start: now,
                        sent: now,
                        end: now,
                        outcome: Outcome::Request,
                        trace_id: 0,
                        reason: Some("the path template rendered an invalid URI".into()),
                    },
                );
                continue;
            };
            let headers: Vec<(http::HeaderName, String)> = req
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), v.render(&mut render)))
                .collect();
            let body = req.body.as_ref().map(|b| b.render(&mut render));
            let trace_id: u128 = rng.random_range(1..=u128::MAX);
            let span_id: u64 = rng.random_range(1..=u64::MAX);
            let traced = ctx
                .spans
                .as_ref()
                .is_some_and(|s| s.share > 0.0 && rng.random::<f64>() < s.share);
            (uri, headers, body, trace_id, span_id, traced)
        };
        let client_span = match (&ctx.spans, traced) {
            (Some(spans), true) => {
                let url = format!(
                    "{}{}",
                    ctx.base.trim_end_matches(ctx.target.base_path.as_str()),
                    uri
                );
                let span = spans.start(&req.name, req.method.as_str(), &url);
                trace_id = span.trace_id;
                span_id = span.span_id;
                Some(span)
            }
            _ => None,
        };
        let mut builder = http::Request::builder()
            .method(req.method.clone())
            .uri(uri)
            .header("user-agent", USER_AGENT)
            .header(
                "traceparent",
                format!("00-{trace_id:032x}-{span_id:016x}-01"),
            );
        for (k, v) in &plan.headers {
            builder = builder.header(k, v);
        }
        for (k, v) in headers {
            builder = builder.header(k, v);
        }
        let request = builder.body(http_body_util::Full::new(hyper::body::Bytes::from(
            body.unwrap_or_default(),
        )));
        let sent = Instant::now();
        let intended_start = match (i, intended) {
            (0, Some(t)) => t.min(sent),
            _ => sent,
        };
        let result = match request {
            Ok(request) => {
                let send = tokio::time::timeout(
                    plan.timeout,
                    conn.send(&ctx.target, request, plan.timeout, ctx.until_over()),
                );
                tokio::select! {
                    r = send => Some(r),
                    // Halted: the request is abandoned, not counted.
                    _ = ctx.control.until_halted() => None,
                }
            }
            // A header value rendered from a template may be invalid.
            Err(_) => Some(Ok(Err(SendError::Request(
                "a header template rendered an invalid value".into(),
            )))),
        };
        let Some(result) = result else {
            *conn = Connection::default();
            break;
        };
        let end = Instant::now();
        let (outcome, reason) = match result {
            Err(_) => {
                // The connection is in an unknown state after a timeout.
                *conn = Connection::default();
                (Outcome::Timeout, Some(ctx.timeout_reason.clone()))
            }
            Ok(Err(SendError::Connect(r))) => (Outcome::Connect, Some(r)),
            Ok(Err(SendError::Request(r))) => (Outcome::Request, Some(r)),
            Ok(Ok(status)) if req.accepts(status) => (Outcome::Ok(status), None),
            Ok(Ok(status)) => (Outcome::Status(status), None),
        };
        if let Some(span) = client_span {
            span.end(outcome);
        }
        record(
            ctx,
            Done {
                name: req.name_id,
                intended_start,
                sent,
                end,
                outcome,
                trace_id,
                reason,
            },
        );
        if i + 1 < scenario.requests.len() {
            ctx.think(req.think_time).await;
        }
    }
    drop(conn);
    ctx.iterations.fetch_add(1, Ordering::Relaxed);
    ctx.in_flight.fetch_sub(1, Ordering::SeqCst);
    if let Some(last) = scenario.requests.last() {
        ctx.think(last.think_time).await;
    }
    true
}

fn quiet_config(host: &str) -> GooseConfiguration {
    let mut c = GooseConfiguration::default();
    c.host = Some(host.to_owned());
    c.no_metrics = true;
    c.no_print_metrics = true;
    c.no_error_summary = true;
    c.no_telnet = true;
    c.no_status_codes = true;
    c.no_transaction_metrics = true;
    c.no_scenario_metrics = true;
    c.quiet = 1;
    c
}

fn goose_err(e: impl std::fmt::Debug) -> EngineError {
    EngineError::Goose(format!("{e:?}"))
}

/// Checks the abort-on-fail thresholds against what is recorded so far.
fn failing_abort(
    thresholds: &[Threshold],
    rec: &Recorder,
    names: &[String],
    elapsed: Duration,
    dropped: u64,
) -> Option<String> {
    // Rates are judged at the end only: a ramp is slow at first by design.
    let mut aborting = thresholds
        .iter()
        .filter(|t| t.abort_on_fail && t.metric != crate::threshold::Metric::Rps)
        .peekable();
    aborting.peek()?;
    let total = rec.total();
    aborting.find_map(|t| {
        let v = crate::report::observe(t, &total, rec.per_name(), names, elapsed, dropped)?;
        (!t.passes(v)).then(|| t.to_string())
    })
}

/// The safety net given to goose as its run time (seconds): the schedule,
/// one timeout and a minute, capped so goose's own clock cannot overflow.
fn goose_run_time(duration: Duration, timeout: Duration) -> usize {
    const TEN_YEARS: u64 = 10 * 365 * 24 * 3600;
    let secs = duration
        .as_secs()
        .saturating_add(timeout.as_secs())
        .saturating_add(60)
        .min(TEN_YEARS);
    usize::try_from(secs).unwrap_or(usize::MAX)
}

/// `at + d`, or `None` beyond what the clock can hold.
fn after(at: tokio::time::Instant, d: Duration) -> Option<tokio::time::Instant> {
    at.checked_add(d)
}

/// How long goose gets to wind down its users once the run is halted.
const GOOSE_WIND_DOWN: Duration = Duration::from_millis(700);

/// Runs the plan to the end (or until interrupted or aborted).
pub async fn run(
    plan: Plan,
    host: Option<String>,
    keep_interval_histograms: bool,
    control: Arc<Control>,
    spans: Option<Arc<ClientSpans>>,
    live: Option<Arc<Live>>,
) -> Result<RunResult, EngineError> {
    let plan = Arc::new(plan);
    let base = host
        .map(|h| h.trim_end_matches('/').to_owned())
        .unwrap_or_else(|| plan.base_url.clone());
    let (tx, mut rx) = mpsc::unbounded_channel::<Msg>();
    let (ticket_tx, ticket_rx) = match &plan.load {
        Load::Open { max_queue, .. } => {
            let cap = usize::try_from(*max_queue).unwrap_or(usize::MAX).max(1);
            let (t, r) = async_channel::bounded::<Ticket>(cap);
            (Some(t), Some(r))
        }
        Load::Closed { .. } => (None, None),
    };
    let started_at = SystemTime::now();
    let start = Instant::now();
    // Goose runs a fixed pool of users; our own schedule decides what they do:
    // the pacer hands out iterations (open), or the ramp says how many of the
    // pool are active at each moment (closed).
    let duration = plan.load.duration();
    let (pool, profile) = match &plan.load {
        Load::Open {
            max_users,
            start_rate,
            stages,
            ..
        } => (
            usize::try_from(*max_users).unwrap_or(usize::MAX),
            Pacer::new(*start_rate, stages),
        ),
        Load::Closed {
            start_users,
            stages,
        } => {
            let peak = stages
                .iter()
                .map(|s| s.target.max(0.0) as usize)
                .chain(std::iter::once(*start_users as usize))
                .max()
                .unwrap_or(1);
            (peak.max(1), Pacer::new(f64::from(*start_users), stages))
        }
    };
    let target = Target::parse(&base).map_err(EngineError::Target)?;
    let mut conns = Vec::new();
    conns
        .try_reserve_exact(pool)
        .map_err(|_| EngineError::TooLarge(format!("connections for {pool} users")))?;
    conns.extend((0..pool).map(|_| tokio::sync::Mutex::default()));
    let static_uris = plan
        .scenarios
        .iter()
        .map(|s| {
            s.requests
                .iter()
                .map(|r| {
                    let path = r.path.is_static().then(|| {
                        r.path.render(&mut RenderCtx {
                            seq: 0,
                            rng: &mut rand::rng(),
                        })
                    })?;
                    target.uri(&path).ok()
                })
                .collect()
        })
        .collect();
    let ctx = Arc::new(RunCtx {
        static_uris,
        target,
        conns,
        plan: plan.clone(),
        control: control.clone(),
        spans: spans.clone(),
        base: base.clone(),
        start: std::sync::OnceLock::new(),
        started_at: std::sync::OnceLock::new(),
        tx: tx.clone(),
        ended: watch::Sender::new(false),
        finished: std::sync::OnceLock::new(),
        timeout_reason: format!("timeout after {}", humantime::format_duration(plan.timeout)),
        dropped: AtomicU64::new(0),
        seq: AtomicU64::new(0),
        iterations: AtomicU64::new(0),
        in_flight: AtomicUsize::new(0),
        ready: AtomicUsize::new(0),
        tickets: ticket_rx,
        live: live.clone(),
    });
    let aborted: Arc<std::sync::OnceLock<String>> = Arc::default();

    // The recorder task: drains samples, closes intervals each second, and
    // checks abort-on-fail thresholds.
    let recorder = {
        let plan = plan.clone();
        let clock = ctx.clone();
        let aborted = aborted.clone();
        let profile = profile.clone();
        let target = base.clone();
        tokio::spawn(async move {
            let mut rec = Recorder::new(plan.names.len(), keep_interval_histograms);
            // A live view gets four snapshots a second; otherwise once a second is enough.
            let every = if clock.live.is_some() {
                Duration::from_millis(250)
            } else {
                Duration::from_secs(1)
            };
            let mut tick = tokio::time::interval(every);
            loop {
                tokio::select! {
                    msg = rx.recv() => match msg {
                        Some(Msg::Sample(s)) => rec.push(&s),
                        Some(Msg::Finish) | None => break,
                    },
                    _ = tick.tick() => {
                        let now = clock.start.get().map_or(Duration::ZERO, |s| s.elapsed());
                        rec.close_before(now);
                        let dropped = clock.dropped.load(Ordering::Relaxed);
                        if aborted.get().is_none()
                            && !goose::is_killswitch_triggered()
                            && let Some(t) = failing_abort(&plan.thresholds, &rec, &plan.names, now, dropped)
                        {
                            let _ = aborted.set(t);
                            clock.control.halt();
                            goose::trigger_killswitch("threshold failed");
                        }
                        if let Some(live) = &clock.live {
                            let t = clock.schedule_time().min(duration);
                            let scale = live.scale();
                            let open = matches!(plan.load, Load::Open { .. });
                            live.publish(Snapshot::build(&plan, &target, &rec, Clock {
                                elapsed: t,
                                duration,
                                stage: profile.stage_at(t),
                                target_rate: open.then(|| profile.rate_at(t) * scale),
                                target_users: (!open).then(|| profile.rate_at(t).floor()),
                                in_flight: clock.in_flight.load(Ordering::Relaxed),
                                pool,
                                dropped,
                                paused: live.paused(),
                                scale,
                            }, live.marks()));
                        }
                    }
                }
            }
            rec.finish()
        })
    };

    let mut attack = GooseAttack::initialize_with_config(quiet_config(&base)).map_err(goose_err)?;
    attack = *attack
        .set_default(GooseDefault::Users, pool)
        .map_err(goose_err)?;
    attack = *attack
        .set_default(
            GooseDefault::IncreaseRate,
            pool.saturating_mul(100).max(1000).to_string().as_str(),
        )
        .map_err(goose_err)?;
    attack = *attack
        .set_default(
            GooseDefault::RunTime,
            // A safety net only: the conductor stops goose when the schedule
            // is over and the requests in flight are done or timed out.
            goose_run_time(duration, plan.timeout),
        )
        .map_err(goose_err)?;
    let weights: Vec<u32> = plan.scenarios.iter().map(|s| s.weight).collect();
    let pick = Arc::new(WeightedIndex::new(&weights).map_err(goose_err)?);
    let user_fn: goose::goose::TransactionFunction = {
        let ctx = ctx.clone();
        let profile = profile.clone();
        let pick = pick.clone();
        Arc::new(move |user: &mut GooseUser| {
            let ctx = ctx.clone();
            let profile = profile.clone();
            let pick = pick.clone();
            Box::pin(async move {
                if user.get_session_data::<bool>().is_none() {
                    user.set_session_data(true);
                    ctx.ready.fetch_add(1, Ordering::SeqCst);
                }
                if let Some(rx) = &ctx.tickets {
                    let ticket = tokio::select! {
                        t = rx.recv() => t.ok(),
                        _ = ctx.until_over() => None,
                    };
                    match ticket {
                        Some(ticket) => {
                            let started = iteration(
                                user,
                                &ctx,
                                ticket.scenario,
                                Some(ticket.intended),
                                ticket.seq,
                            )
                            .await;
                            if !started {
                                // Taken from the queue as the schedule ended.
                                ctx.drop_many(1);
                            }
                        }
                        // The schedule is over: idle until goose stops this user.
                        None => tokio::time::sleep(Duration::from_millis(50)).await,
                    }
                    return TransactionResult::Ok(());
                }
                // Closed model: this user works while the ramp includes it.
                let Some(start) = ctx.start.get().copied() else {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    return TransactionResult::Ok(());
                };
                let t = start.elapsed().saturating_sub(ctx.paused_total());
                let active = !ctx.paused()
                    && !ctx.over()
                    && t < duration
                    && (user.weighted_users_index as f64) < profile.rate_at(t).floor();
                if active {
                    let scenario = pick.sample(&mut rand::rng());
                    let seq = ctx.seq.fetch_add(1, Ordering::Relaxed);
                    iteration(user, &ctx, scenario, None, seq).await;
                } else {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                TransactionResult::Ok(())
            })
        })
    };
    attack = attack.register_scenario(
        GooseScenario::new(&plan.name)
            .register_transaction(Transaction::new(user_fn).set_name("iteration")),
    );

    // The conductor: waits for goose to launch the pool, starts the clock,
    // feeds the queue (open) or just waits out the ramp (closed), ends the
    // schedule, gives the requests in flight at most one timeout, then stops
    // goose.
    let conductor = {
        let ctx = ctx.clone();
        let pick = pick.clone();
        tokio::spawn(async move {
            let deadline = Instant::now() + Duration::from_secs(10);
            while ctx.ready.load(Ordering::SeqCst) < pool
                && Instant::now() < deadline
                && !ctx.control.halted()
            {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            let begin = tokio::time::Instant::now();
            let begin_std = Instant::now();
            let _ = ctx.start.set(begin_std);
            let _ = ctx.started_at.set(SystemTime::now());
            if let Some(ticket_tx) = &ticket_tx {
                feed(
                    &ctx, ticket_tx, &profile, &pick, pool, begin, begin_std, duration,
                )
                .await;
            }
            // The schedule runs to its end (the last arrival may come earlier).
            while !stopping(&ctx) && !ctx.control.halted() && ctx.schedule_time() < duration {
                ctx.hold_while_paused().await;
                let left = duration.saturating_sub(ctx.schedule_time());
                tokio::select! {
                    _ = tokio::time::sleep(left.min(Duration::from_millis(50))) => {}
                    _ = ctx.control.until_halted() => {}
                }
            }
            // The schedule is over: nothing new starts, and what is still
            // queued never will.
            ctx.ended.send_replace(true);
            if let (Some(ticket_tx), Some(rx)) = (&ticket_tx, &ctx.tickets) {
                ticket_tx.close();
                while rx.try_recv().is_ok() {
                    ctx.drop_many(1);
                }
            }
            // Requests in flight get at most one timeout (a little more, so
            // that their own timeout is what ends them and is recorded).
            let grace = ctx.plan.timeout.saturating_add(Duration::from_millis(200));
            let drained = async {
                while ctx.in_flight.load(Ordering::SeqCst) > 0 {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            };
            tokio::select! {
                _ = drained => {}
                _ = tokio::time::sleep(grace) => {}
                _ = ctx.control.until_halted() => {}
            }
            let _ = ctx.finished.set(Instant::now());
            ctx.control.halt();
            if !goose::is_killswitch_triggered() {
                goose::trigger_killswitch("schedule complete");
            }
        })
    };

    let outcome = {
        let execute = attack.execute();
        tokio::pin!(execute);
        let wind_down = async {
            control.until_halted().await;
            tokio::time::sleep(GOOSE_WIND_DOWN).await;
        };
        tokio::select! {
            r = &mut execute => Some(r),
            // Goose waits for every user's current transaction; ours all
            // return once halted, but the run never waits on goose for long.
            _ = wind_down => None,
        }
    };
    conductor.abort();
    let finished = ctx.finished.get().copied().unwrap_or_else(Instant::now);
    // Iterations still queued when the run stopped never started: dropped.
    if let Some(rx) = &ctx.tickets {
        rx.close();
        while rx.try_recv().is_ok() {
            ctx.drop_many(1);
        }
    }
    let clock_start = ctx.start.get().copied().unwrap_or(start);
    let elapsed = finished.saturating_duration_since(clock_start);
    let _ = tx.send(Msg::Finish);
    drop(tx);
    let recorded = recorder.await.map_err(goose_err)?;
    if let Some(outcome) = outcome {
        outcome.map_err(goose_err)?;
    }
    let started_at = ctx.started_at.get().copied().unwrap_or(started_at);
    Ok(RunResult {
        recorded,
        started_at,
        ended_at: started_at.checked_add(elapsed).unwrap_or(started_at),
        elapsed,
        iterations: ctx.iterations.load(Ordering::Relaxed),
        dropped: ctx.dropped.load(Ordering::Relaxed),
        interrupted: control.interrupted.load(Ordering::SeqCst),
        aborted_by: aborted.get().cloned(),
    })
}

/// Feeds the open model's queue on schedule until the last arrival, the
/// schedule's end, or a stop. An arrival that finds the queue full is
/// dropped; arrivals so far behind the clock that they could not fit in the
/// queue anyway are dropped in one step, so no rate keeps this loop busy.
#[allow(clippy::too_many_arguments)]
async fn feed(
    ctx: &RunCtx,
    ticket_tx: &async_channel::Sender<Ticket>,
    profile: &Pacer,
    pick: &WeightedIndex<u32>,
    pool: usize,
    begin: tokio::time::Instant,
    begin_std: Instant,
    duration: Duration,
) {
    // `next` is the schedule position (the integral of the rate) of the
    // next arrival; a live rate scale spaces arrivals 1/scale apart from
    // the moment it changes.
    let mut next = 0.0f64;
    let mut scale = ctx.live.as_ref().map_or(1.0, |l| l.scale());
    let mut sent: u64 = 0;
    'feed: while let Some(due) = profile.time_for(next) {
        loop {
            if stopping(ctx) || ctx.control.halted() || ctx.schedule_time() >= duration {
                break 'feed;
            }
            ctx.hold_while_paused().await;
            if let Some(live) = &ctx.live {
                let s = live.scale();
                if s != scale {
                    let now = profile.count_at(ctx.schedule_time());
                    next = now + (next - now).max(0.0) * scale / s;
                    scale = s;
                    continue 'feed;
                }
            }
            let deadline = ctx
                .paused_total()
                .checked_add(due)
                .and_then(|d| after(begin, d));
            let now = tokio::time::Instant::now();
            match deadline {
                Some(deadline) if now >= deadline => break,
                Some(deadline) => {
                    tokio::time::sleep((deadline - now).min(Duration::from_millis(50))).await
                }
                None => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
        let room = ticket_tx
            .capacity()
            .unwrap_or(0)
            .saturating_sub(ticket_tx.len())
            .saturating_add(pool);
        let behind = ((profile.count_at(ctx.schedule_time()) - next) * scale).floor();
        let mut due = due;
        if behind > room as f64 {
            let skip = behind - room as f64;
            // A float-to-integer cast saturates: no overflow at any rate.
            ctx.drop_many(skip as u64);
            next += skip / scale;
            due = profile.time_for(next).unwrap_or(due);
        }
        let intended = ctx
            .paused_total()
            .checked_add(due)
            .and_then(|d| begin_std.checked_add(d))
            .unwrap_or_else(Instant::now);
        let ticket = Ticket {
            intended,
            scenario: pick.sample(&mut rand::rng()),
            seq: ctx.seq.fetch_add(1, Ordering::Relaxed),
        };
        if ticket_tx.try_send(ticket).is_err() {
            ctx.drop_many(1);
        }
        next += 1.0 / scale;
        sent = sent.wrapping_add(1);
        if sent % 256 == 0 {
            tokio::task::yield_now().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn goose_run_time_never_overflows() {
        assert_eq!(
            goose_run_time(Duration::from_secs(10), Duration::from_secs(2)),
            72
        );
        let huge = goose_run_time(Duration::MAX, Duration::MAX);
        assert_eq!(huge, 10 * 365 * 24 * 3600);
    }
}
