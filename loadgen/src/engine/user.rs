//! The user loop: what each goose user does on every transaction. In the
//! open model a user takes the next ticket from the queue and runs that
//! iteration, its corrected latency counted from the ticket's intended start;
//! in the closed model a user runs iterations while the ramp includes it.
//! Every finished request is recorded into the worker thread's shard (see
//! [`crate::tally`]); the recorder task takes the shards on its tick, so a
//! user never waits on it.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use goose::goose::{GooseUser, TransactionFunction, TransactionResult};
use rand::distr::Distribution;
use rand::distr::weighted::WeightedIndex;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::ctx::RunCtx;
use crate::client::{Connection, SendError};
use crate::pacer::Pacer;
use crate::scenario::template::RenderCtx;
use crate::stats::{Outcome, Sample};

const USER_AGENT: &str = concat!("loadgen/", env!("CARGO_PKG_VERSION"));

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
        let (uri, headers, body, mut trace_id, mut span_id, traced) = {
            let mut render = RenderCtx {
                seq,
                rng: &mut *rng,
            };
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
                        body_bytes: 0,
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
                    conn.send(&ctx.target, request, plan.timeout, ctx.until_cut()),
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
