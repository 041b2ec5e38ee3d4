//! The user loop: what each goose user does on every transaction. In the
//! open model a user takes the next ticket from the queue and runs that
//! iteration, its corrected latency counted from the ticket's intended start;
//! in the closed model a user runs iterations while the ramp includes it.
//! Every finished request is recorded into the worker thread's shard (see
//! [`crate::tally`]); the recorder task takes the shards on its tick, so a
//! user never waits on it.

use std::borrow::Cow;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use goose::goose::{GooseUser, TransactionFunction, TransactionResult};
use rand::distr::Distribution;
use rand::distr::weighted::WeightedIndex;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::ctx::RunCtx;
use crate::client::{Connection, Prepared, SendError, Target, traceparent};
use crate::pacer::Pacer;
use crate::scenario::template::RenderCtx;
use crate::scenario::{Plan, Request};
use crate::stats::{Outcome, Sample};

/// A finished request, for [`record`].
struct Done {
    name: usize,
    intended_start: Instant,
    sent: Instant,
    end: Instant,
    outcome: Outcome,
    trace_id: u128,
    reason: Option<String>,
    body_bytes: u64,
}

/// Counts a finished request and records it into this thread's shard.
fn record(ctx: &RunCtx, d: Done) {
    let Done {
        name,
        intended_start,
        sent,
        end,
        outcome,
        trace_id,
        reason,
        body_bytes,
    } = d;
    ctx.control.requests.fetch_add(1, Ordering::Relaxed);
    if outcome.error_kind().is_some() {
        ctx.control.errors.fetch_add(1, Ordering::Relaxed);
    }
    ctx.shards.record(Sample {
        name,
        corrected: end.saturating_duration_since(intended_start),
        actual: end.saturating_duration_since(sent),
        at: end.saturating_duration_since(ctx.start.get().copied().unwrap_or(sent)),
        outcome,
        trace_id,
        reason,
        body_bytes,
    });
}

/// Why a request could not be built from its templates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Unprepared {
    /// The path rendered into something that is not a request target.
    Uri,
    /// A header value rendered into bytes a header cannot hold.
    Header,
}

/// Whether `req` has no template, so it can be built once for the run.
pub(super) fn is_static(req: &Request) -> bool {
    req.path.is_static()
        && req.headers.iter().all(|(_, v)| v.is_static())
        && req.body.as_ref().is_none_or(|b| b.is_static())
}

/// Builds `req` (its path, headers and body rendered) with the plan's
/// headers, ready for any `traceparent`.
pub(super) fn prepare<R: rand::Rng>(
    target: &Target,
    plan: &Plan,
    req: &Request,
    render: &mut RenderCtx<'_, R>,
) -> Result<Prepared, Unprepared> {
    let uri = target
        .uri(&req.path.render(render))
        .map_err(|_| Unprepared::Uri)?;
    let mut headers = Vec::with_capacity(plan.headers.len() + req.headers.len());
    headers.extend(plan.headers.iter().cloned());
    for (k, v) in &req.headers {
        let value =
            http::HeaderValue::try_from(v.render(render)).map_err(|_| Unprepared::Header)?;
        headers.push((k.clone(), value));
    }
    let body = req
        .body
        .as_ref()
        .map(|b| hyper::body::Bytes::from(b.render(render)))
        .unwrap_or_default();
    Ok(Prepared::new(
        target,
        req.method.clone(),
        uri,
        headers,
        body,
    ))
}

/// Runs one iteration of `scenario`. The first request's corrected latency
/// counts from `intended` (the open model's schedule). Returns false when
/// the schedule was already over, so the iteration never started.
async fn iteration(
    user: &GooseUser,
    rng: &mut SmallRng,
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
    // In flight before the budget is taken: the conductor, once the budget
    // is spent, waits for every iteration that took a part of it.
    ctx.in_flight.fetch_add(1, Ordering::SeqCst);
    if !ctx.take_request() {
        ctx.in_flight.fetch_sub(1, Ordering::SeqCst);
        return false;
    }
    let mut conn = conn.lock().await;
    for (i, req) in scenario.requests.iter().enumerate() {
        // Once the schedule is over, no further request of the iteration starts.
        if i > 0 && (ctx.over() || !ctx.take_request()) {
            break;
        }
        let (prepared, mut trace_id, mut span_id, traced) = {
            // Requests without templates were built once, at plan time.
            let prepared = match &ctx.static_requests[index][i] {
                Some(p) => Ok(Cow::Borrowed(p)),
                None => prepare(
                    &ctx.target,
                    plan,
                    req,
                    &mut RenderCtx {
                        seq,
                        rng: &mut *rng,
                    },
                )
                .map(Cow::Owned),
            };
            let trace_id: u128 = rng.random_range(1..=u128::MAX);
            let span_id: u64 = rng.random_range(1..=u64::MAX);
            let traced = ctx
                .spans
                .as_ref()
                .is_some_and(|s| s.share > 0.0 && rng.random::<f64>() < s.share);
            (prepared, trace_id, span_id, traced)
        };
        let prepared = match prepared {
            Err(Unprepared::Uri) => {
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
                        body_bytes: 0,
                    },
                );
                continue;
            }
            other => other,
        };
        let client_span = match (&ctx.spans, traced, &prepared) {
            (Some(spans), true, Ok(p)) => {
                let url = format!(
                    "{}{}",
                    ctx.base.trim_end_matches(ctx.target.base_path.as_str()),
                    p.uri()
                );
                let span = spans.start(&req.name, req.method.as_str(), &url);
                trace_id = span.trace_id;
                span_id = span.span_id;
                Some(span)
            }
            _ => None,
        };
        let tp = traceparent(trace_id, span_id);
        let sent = Instant::now();
        let intended_start = match (i, intended) {
            (0, Some(t)) => t.min(sent),
            _ => sent,
        };
        let result = match &prepared {
            Ok(request) => {
                let send = tokio::time::timeout(
                    plan.timeout,
                    conn.send(
                        &ctx.target,
                        request,
                        &tp,
                        crate::client::Keep::default(),
                        &[],
                        plan.timeout,
                        ctx.until_cut(),
                    ),
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
        let (outcome, reason, body_bytes) = match result {
            Err(_) => {
                // The connection is in an unknown state after a timeout.
                *conn = Connection::default();
                (Outcome::Timeout, Some(ctx.timeout_reason.clone()), 0)
            }
            Ok(Err(SendError::Connect(r))) => (Outcome::Connect, Some(r), 0),
            Ok(Err(SendError::Request(r))) => (Outcome::Request, Some(r), 0),
            Ok(Ok(r)) if req.accepts(r.status) => (Outcome::Ok(r.status), None, r.body_bytes),
            Ok(Ok(r)) => (Outcome::Status(r.status), None, r.body_bytes),
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
                body_bytes,
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

/// The transaction every goose user runs, over and over, until goose stops
/// it: one iteration of the open model's queue or of the closed model's ramp.
pub(super) fn transaction(
    ctx: Arc<RunCtx>,
    profile: Pacer,
    pick: Arc<WeightedIndex<u32>>,
    duration: Duration,
) -> TransactionFunction {
    Arc::new(move |user: &mut GooseUser| {
        let ctx = ctx.clone();
        let profile = profile.clone();
        let pick = pick.clone();
        Box::pin(async move {
            // The user's own generator for its ids, draws and picks: seeded
            // once from the thread's, then cheap (taken out of the session
            // for the iteration, put back after).
            let mut rng = match user.get_session_data::<SmallRng>() {
                Some(rng) => rng.clone(),
                None => {
                    ctx.ready.fetch_add(1, Ordering::SeqCst);
                    let rng = SmallRng::from_rng(&mut rand::rng());
                    user.set_session_data(rng.clone());
                    rng
                }
            };
            let result = user_turn(user, &mut rng, &ctx, &profile, &pick, duration).await;
            if let Some(kept) = user.get_session_data_mut::<SmallRng>() {
                *kept = rng;
            }
            result
        })
    })
}

/// One turn of a user: an iteration (open model: from the queue; closed
/// model: while the ramp includes it), or a short wait.
async fn user_turn(
    user: &GooseUser,
    rng: &mut SmallRng,
    ctx: &RunCtx,
    profile: &Pacer,
    pick: &WeightedIndex<u32>,
    duration: Duration,
) -> TransactionResult {
    if let Some(rx) = &ctx.tickets {
        let ticket = tokio::select! {
            t = rx.recv() => t.ok(),
            _ = ctx.until_over() => None,
        };
        match ticket {
            Some(ticket) => {
                let started = iteration(
                    user,
                    rng,
                    ctx,
                    ticket.scenario,
                    Some(ticket.intended),
                    ticket.seq,
                )
                .await;
                if !started && !ctx.budget_spent() {
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
        && !ctx.budget_spent()
        && t < duration
        && (user.weighted_users_index as f64) < profile.rate_at(t).floor();
    if active {
        let scenario = pick.sample(rng);
        let seq = ctx.seq.fetch_add(1, Ordering::Relaxed);
        iteration(user, rng, ctx, scenario, None, seq).await;
    } else {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    TransactionResult::Ok(())
}
