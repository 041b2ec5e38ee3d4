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
//! Finished requests are recorded into a few shards (one per worker thread,
//! [`crate::tally`]) that the [`Recorder`](crate::recorder::Recorder) task
//! drains on its tick; users never wait on it.
//!
//! A run ends within its duration plus one request timeout, whatever the
//! target does. When the schedule ends, no iteration or request starts any
//! more, think time is cut, iterations still queued are counted as dropped,
//! and the requests in flight get at most `timeout`. An interruption (or an
//! abort-on-fail threshold) stops everything at once: requests in flight are
//! abandoned. A request budget ([`Plan::requests`]) ends the schedule once
//! its last request has started: no request beyond it starts, and the run
//! ends when those in flight are done. The report's times are measured,
//! never the schedule's.
//!
//! The parts, a file each: `control` (the switches outside code pulls),
//! `ctx` (what the parts share), `conductor` (the schedule), `user` (the
//! user loop) and `recorder_task`; this file sets them up and runs goose.
//! None of them imports this file: they share `ctx` and `control`.

mod conductor;
mod control;
mod ctx;
mod recorder_task;
mod user;

use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

use goose::GooseAttack;
use goose::config::{GooseConfiguration, GooseDefault, GooseDefaultType};
use goose::goose::{Scenario as GooseScenario, Transaction};
use rand::distr::weighted::WeightedIndex;
use tokio::sync::{oneshot, watch};

pub use self::control::Control;
use self::ctx::{RunCtx, Ticket};
use crate::client::Target;
use crate::client_spans::ClientSpans;
use crate::live::Live;
use crate::pacer::Pacer;
pub use crate::recorder::RunResult;
use crate::scenario::template::RenderCtx;
use crate::scenario::{Load, Plan};
use crate::tally::Shards;

/// What a run sends out besides its requests, and what it keeps for after.
#[derive(Debug, Default)]
pub struct Outlets {
    /// Where the client metrics go, when they are on.
    pub metrics: Option<crate::metrics::Sink>,
    /// Keep requests with their trace ids ([`crate::traced`]), for the
    /// analysis of where the time goes.
    pub traced: bool,
    /// The top 32 bits of every trace id the run sends, so that a trace
    /// receiver can tell the run's traces from others'.
    pub trace_prefix: Option<u32>,
}

/// Errors that stop a run from starting or finishing.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("goose failed: {0}")]
    Goose(String),
    #[error("invalid target: {0}")]
    Target(String),
    #[error("invalid target")]
    Tls(#[source] crate::client::TargetError),
    #[error("cannot allocate {0}")]
    TooLarge(String),
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
    outlets: Outlets,
) -> Result<RunResult, EngineError> {
    let Outlets {
        metrics,
        traced,
        trace_prefix,
    } = outlets;
    let plan = Arc::new(plan);
    let base = host
        .map(|h| h.trim_end_matches('/').to_owned())
        .unwrap_or_else(|| plan.base_url.clone());
    let (finish, finish_rx) = oneshot::channel::<()>();
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
    let target = Target::new(&base, &plan.client, crate::client::tls::ssl_cert_file()).map_err(
        |e| match e {
            crate::client::TargetError::Url(e) => EngineError::Target(e),
            tls => EngineError::Tls(tls),
        },
    )?;
    let mut conns = Vec::new();
    conns
        .try_reserve_exact(pool)
        .map_err(|_| EngineError::TooLarge(format!("connections for {pool} users")))?;
    conns.extend((0..pool).map(|_| tokio::sync::Mutex::default()));
    let static_requests = plan
        .scenarios
        .iter()
        .map(|s| {
            s.requests
                .iter()
                .map(|r| {
                    let mut render = RenderCtx {
                        seq: 0,
                        rng: &mut rand::rng(),
                        vars: &[],
                    };
                    user::is_static(r)
                        .then(|| user::prepare(&target, &plan, r, &mut render).ok())
                        .flatten()
                })
                .collect()
        })
        .collect();
    let ctx = Arc::new(RunCtx {
        static_requests,
        target,
        conns,
        plan: plan.clone(),
        control: control.clone(),
        spans: spans.clone(),
        base: base.clone(),
        start: OnceLock::new(),
        started_at: OnceLock::new(),
        shards: Shards::new(
            Shards::count_for(tokio::runtime::Handle::current().metrics().num_workers()),
            plan.names.len(),
        )
        .with_metrics(metrics.is_some())
        .with_traced(traced),
        ended: watch::Sender::new(false),
        finished: OnceLock::new(),
        timeout_reason: format!("timeout after {}", humantime::format_duration(plan.timeout)),
        dropped: AtomicU64::new(0),
        seq: AtomicU64::new(0),
        iterations: AtomicU64::new(0),
        in_flight: AtomicUsize::new(0),
        ready: AtomicUsize::new(0),
        tickets: ticket_rx,
        live: live.clone(),
        started_requests: AtomicU64::new(0),
        spent: tokio::sync::Notify::new(),
        checks: crate::checks::CheckCounts::new(plan.checks.len(), plan.names.len()),
        series: recorder_task::series_table(&plan).1,
        run_id: metrics.as_ref().map(|m| m.run_id.clone()),
        trace_prefix,
        traced,
        metrics,
    });
    let aborted: Arc<OnceLock<String>> = Arc::default();
    let recorder = recorder_task::spawn(
        ctx.clone(),
        finish_rx,
        aborted.clone(),
        profile.clone(),
        keep_interval_histograms,
        duration,
        pool,
    );

    let mut attack = GooseAttack::initialize_with_config(quiet_config(&base)).map_err(goose_err)?;
    // Users send over their own connections (client/), never through goose's
    // reqwest client: one shared client instead of one per user, each of which
    // would load the system's CA certificates (about 18M instructions a user).
    attack = attack
        .set_client_builder_without_cookies(
            goose::client::GooseClientBuilder::new().without_cookies(),
        )
        .map_err(goose_err)?;
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
    let user_fn = user::transaction(ctx.clone(), profile.clone(), pick.clone(), duration);
    attack = attack.register_scenario(
        GooseScenario::new(&plan.name)
            .register_transaction(Transaction::new(user_fn).set_name("iteration")),
    );
    let conductor = conductor::spawn(
        ctx.clone(),
        pick.clone(),
        ticket_tx,
        profile,
        pool,
        duration,
    );

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
    let _ = finish.send(());
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
        http_version: ctx.target.http_versions(),
        checks: ctx.checks.snapshot(),
        run_id: ctx.run_id.clone(),
    })
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
