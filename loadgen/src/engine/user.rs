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
use crate::client::{Connection, Keep, Prepared, SendError, Target, traceparent};
use crate::pacer::Pacer;
use crate::scenario::template::RenderCtx;
use crate::scenario::{Plan, Request, VarScope, flow};
use crate::stats::{Outcome, Sample};

/// A finished request, for [`record`].
struct Done {
    name: usize,
    /// The request's series of the client metrics.
    series: u32,
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
        series,
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
        series,
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
        let mut value =
            http::HeaderValue::try_from(v.render(render)).map_err(|_| Unprepared::Header)?;
        value.set_sensitive(v.reads_env());
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

/// What a user keeps between its iterations, in its goose session.
#[derive(Clone)]
pub(super) struct UserState {
    /// The user's own generator for its ids, draws and picks.
    rng: SmallRng,
    /// The captured variables, by index: the user's persist, the
    /// iteration's are cleared when an iteration starts.
    values: Vec<Option<String>>,
    /// The cookie jar (`cookies: true`).
    jar: Option<Box<cookie_store::CookieStore>>,
    /// The `once` requests (scenario, request) that have done their work
    /// for this user: answered, every check passed, every capture found.
    once_done: std::collections::BTreeSet<(usize, usize)>,
}

impl UserState {
    fn new(plan: &Plan) -> Self {
        Self {
            rng: SmallRng::from_rng(&mut rand::rng()),
            values: vec![None; plan.vars.len()],
            jar: plan.cookies.then(Box::default),
            once_done: std::collections::BTreeSet::new(),
        }
    }
}

/// The goose session slot holding a user's [`UserState`] (taken out for
/// an iteration, put back after).
#[derive(Clone)]
struct Slot(Option<UserState>);

/// What an iteration did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ran {
    /// It never started: the schedule was over, or the budget spent.
    Not,
    /// Every request was skipped or had done its work (`once`): nothing
    /// was sent, and no part of the budget was taken.
    Empty,
    /// It sent at least one request.
    Sent,
}

/// Whether request `i` of scenario `index` is left out of this iteration
/// without being counted: a `once` request that has done its work.
fn done_once(state: &UserState, req: &Request, index: usize, i: usize) -> bool {
    req.once && state.once_done.contains(&(index, i))
}

/// Whether `req` lacks a value it uses (it is then skipped, not sent).
fn lacks_value(state: &UserState, req: &Request) -> bool {
    req.uses.iter().any(|v| state.values[*v].is_none())
}

/// The most cookies a user's jar keeps (a load test's user talks to one
/// site; browsers keep at least 50 per domain), and the largest cookie
/// (name and value) it takes, as RFC 6265 section 6.1 asks at least.
const MAX_COOKIES: usize = 300;
const MAX_COOKIE_BYTES: usize = 4096;

/// The URL of a request, for the cookie jar.
fn request_url(ctx: &RunCtx, uri: &http::Uri) -> Option<reqwest::Url> {
    let origin = ctx.base.trim_end_matches(ctx.target.base_path.as_str());
    reqwest::Url::parse(&format!("{origin}{uri}")).ok()
}

/// The `cookie` header the jar holds for `url`, if any.
fn cookie_header(jar: &cookie_store::CookieStore, url: &reqwest::Url) -> Option<http::HeaderValue> {
    let mut line = String::new();
    for (name, value) in jar.get_request_values(url) {
        if !line.is_empty() {
            line.push_str("; ");
        }
        line.push_str(name);
        line.push('=');
        line.push_str(value);
    }
    if line.is_empty() {
        return None;
    }
    let mut v = http::HeaderValue::try_from(line).ok()?;
    v.set_sensitive(true);
    Some(v)
}

/// Stores the cookies a response sets: at most [`MAX_COOKIE_BYTES`] each
/// and [`MAX_COOKIES`] in all (beyond it, some are let go, as browsers do).
fn store_cookies(
    jar: &mut cookie_store::CookieStore,
    url: &reqwest::Url,
    headers: &http::HeaderMap,
) {
    let cookies = headers
        .get_all(http::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| cookie_store::RawCookie::parse(v.to_owned()).ok())
        .filter(|c| c.name().len().saturating_add(c.value().len()) <= MAX_COOKIE_BYTES);
    jar.store_response_cookies(cookies, url);
    let count = jar.iter_any().count();
    if count > MAX_COOKIES {
        let excess: Vec<(String, String, String)> = jar
            .iter_any()
            .take(count - MAX_COOKIES)
            .map(|c| {
                (
                    String::from(&c.domain),
                    c.path.as_ref().to_owned(),
                    c.name().to_owned(),
                )
            })
            .collect();
        for (domain, path, name) in excess {
            jar.remove(&domain, &path, &name);
        }
    }
}

/// Runs one iteration of `scenario`. The first request's corrected latency
/// counts from `intended` (the open model's schedule).
async fn iteration(
    user: &GooseUser,
    state: &mut UserState,
    ctx: &RunCtx,
    index: usize,
    intended: Option<Instant>,
    seq: u64,
) -> Ran {
    if ctx.over() {
        return Ran::Not;
    }
    let plan = &ctx.plan;
    let scenario = &plan.scenarios[index];
    let Some(conn) = ctx.conns.get(user.weighted_users_index) else {
        return Ran::Not;
    };
    for (v, scope) in state.values.iter_mut().zip(&plan.vars.scopes) {
        if *scope == VarScope::Iteration {
            *v = None;
        }
    }
    // Up to the first request sent, nothing of the user's state changes:
    // the requests before it are skipped (or have done their work), and
    // the budget is taken for that one only.
    let Some(start) = scenario
        .requests
        .iter()
        .enumerate()
        .position(|(i, r)| !done_once(state, r, index, i) && !lacks_value(state, r))
    else {
        for (i, r) in scenario.requests.iter().enumerate() {
            if !done_once(state, r, index, i) {
                ctx.checks.skip(r.name_id);
            }
        }
        return Ran::Empty;
    };
    // In flight before the budget is taken: the conductor, once the budget
    // is spent, waits for every iteration that took a part of it.
    ctx.in_flight.fetch_add(1, Ordering::SeqCst);
    if !ctx.take_request() {
        ctx.in_flight.fetch_sub(1, Ordering::SeqCst);
        return Ran::Not;
    }
    for (i, r) in scenario.requests.iter().enumerate().take(start) {
        if !done_once(state, r, index, i) {
            ctx.checks.skip(r.name_id);
        }
    }
    // The request of the budget taken above is the first one's.
    let mut held = true;
    // A check with fail_iteration failed: the rest is skipped.
    let mut ended = false;
    let mut first = true;
    let mut conn = conn.lock().await;
    for (i, req) in scenario.requests.iter().enumerate().skip(start) {
        if done_once(state, req, index, i) {
            continue;
        }
        // Once the schedule is over, no further request of the iteration starts.
        if !held && ctx.over() {
            break;
        }
        if ended || lacks_value(state, req) {
            // After a failed fail_iteration check, or without a value it
            // needs (never sent with an empty one).
            ctx.checks.skip(req.name_id);
            continue;
        }
        if !held && !ctx.take_request() {
            break;
        }
        held = false;
        let rng = &mut state.rng;
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
                        vars: &state.values,
                    },
                )
                .map(Cow::Owned),
            };
            let mut trace_id: u128 = rng.random_range(1..=u128::MAX);
            if let Some(prefix) = ctx.trace_prefix {
                trace_id = crate::traced::with_prefix(trace_id, prefix);
            }
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
                        series: ctx.series_of(index, i),
                        intended_start: now,
                        sent: now,
                        end: now,
                        outcome: Outcome::Request,
                        trace_id: 0,
                        reason: Some("the path template rendered an invalid URI".into()),
                        body_bytes: 0,
                    },
                );
                fail_all(ctx, req, state, &mut ended);
                continue;
            }
            other => other,
        };
        let client_span = match (&ctx.spans, traced, &prepared) {
            (Some(spans), true, Ok(p)) => {
                let origin = ctx.base.trim_end_matches(ctx.target.base_path.as_str());
                // A value from the environment is never exported: the
                // span then carries the path as written.
                let url = if req.path.reads_env() {
                    format!("{origin}{}{}", ctx.target.base_path, req.path.written())
                } else {
                    format!("{origin}{}", p.uri())
                };
                let span = spans.start(&req.name, req.method.as_str(), &url);
                trace_id = span.trace_id;
                span_id = span.span_id;
                Some(span)
            }
            _ => None,
        };
        let url = match (&state.jar, &prepared) {
            (Some(_), Ok(p)) => request_url(ctx, p.uri()),
            _ => None,
        };
        let mut extra = Vec::new();
        if let (Some(jar), Some(url)) = (&state.jar, &url)
            && let Some(cookie) = cookie_header(jar, url)
        {
            extra.push((http::header::COOKIE, cookie));
        }
        let keep = Keep {
            headers: req.keep_headers,
            body: req.keep_body,
        };
        let tp = traceparent(trace_id, span_id);
        let sent = Instant::now();
        let intended_start = match (first, intended) {
            (true, Some(t)) => t.min(sent),
            _ => sent,
        };
        first = false;
        let result = match &prepared {
            Ok(request) => {
                let send = tokio::time::timeout(
                    plan.timeout,
                    conn.send(
                        &ctx.target,
                        request,
                        &tp,
                        keep,
                        &extra,
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
        let mut received = None;
        let (outcome, reason, body_bytes) = match result {
            Err(_) => {
                // The connection is in an unknown state after a timeout.
                *conn = Connection::default();
                (Outcome::Timeout, Some(ctx.timeout_reason.clone()), 0)
            }
            Ok(Err(SendError::Connect(r))) => (Outcome::Connect, Some(r), 0),
            Ok(Err(SendError::Request(r))) => (Outcome::Request, Some(r), 0),
            Ok(Ok(r)) => {
                let counted = (
                    if req.accepts(r.status) {
                        Outcome::Ok(r.status)
                    } else {
                        Outcome::Status(r.status)
                    },
                    None,
                    r.body_bytes,
                );
                received = Some(r);
                counted
            }
        };
        if let Some(span) = client_span {
            span.end(outcome);
        }
        record(
            ctx,
            Done {
                name: req.name_id,
                series: ctx.series_of(index, i),
                intended_start,
                sent,
                end,
                outcome,
                trace_id,
                reason,
                body_bytes,
            },
        );
        if let Some(r) = &received {
            let kept = r.kept.as_deref();
            if let (Some(jar), Some(url), Some(k)) = (state.jar.as_deref_mut(), &url, kept) {
                store_cookies(jar, url, &k.headers);
            }
            if !req.checks.is_empty() || !req.captures.is_empty() {
                let response = flow::Response::new(
                    Some(r.status),
                    end.saturating_duration_since(sent),
                    kept.map(|k| &k.headers),
                    kept.map_or(&[][..], |k| &k.body[..]),
                );
                let passed = evaluate(ctx, req, state, &response, seq, &mut ended);
                if req.once && passed {
                    state.once_done.insert((index, i));
                }
            } else if req.once && req.accepts(r.status) {
                state.once_done.insert((index, i));
            }
        } else {
            fail_all(ctx, req, state, &mut ended);
        }
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
    Ran::Sent
}

/// Runs `req`'s checks and captures on `response`, counting each.
fn evaluate(
    ctx: &RunCtx,
    req: &Request,
    state: &mut UserState,
    response: &flow::Response<'_>,
    seq: u64,
    ended: &mut bool,
) -> bool {
    let mut all = true;
    for check in &req.checks {
        let passed = flow::passes(
            check,
            response,
            &mut RenderCtx {
                seq,
                rng: &mut state.rng,
                vars: &state.values,
            },
        );
        ctx.checks.count(check.id, passed);
        all &= passed;
        if !passed && check.fail_iteration {
            *ended = true;
        }
    }
    for c in &req.captures {
        let value = flow::capture(&c.from, response);
        ctx.checks.count(c.check, value.is_some());
        all &= value.is_some();
        state.values[c.var] = value;
    }
    all
}

/// A request that got no response: each of its checks and captures fails.
fn fail_all(ctx: &RunCtx, req: &Request, state: &mut UserState, ended: &mut bool) {
    for check in &req.checks {
        ctx.checks.count(check.id, false);
        *ended |= check.fail_iteration;
    }
    for c in &req.captures {
        ctx.checks.count(c.check, false);
        state.values[c.var] = None;
    }
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
            // The user's state: made on its first turn (its generator
            // seeded once from the thread's), taken out of the session for
            // the turn and put back after.
            let mut state = match user.get_session_data_mut::<Slot>() {
                Some(slot) => slot.0.take(),
                None => {
                    ctx.ready.fetch_add(1, Ordering::SeqCst);
                    user.set_session_data(Slot(None));
                    None
                }
            }
            .unwrap_or_else(|| UserState::new(&ctx.plan));
            let result = user_turn(user, &mut state, &ctx, &profile, &pick, duration).await;
            if let Some(slot) = user.get_session_data_mut::<Slot>() {
                slot.0 = Some(state);
            }
            result
        })
    })
}

/// One turn of a user: an iteration (open model: from the queue; closed
/// model: while the ramp includes it), or a short wait.
async fn user_turn(
    user: &GooseUser,
    state: &mut UserState,
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
                let ran = iteration(
                    user,
                    state,
                    ctx,
                    ticket.scenario,
                    Some(ticket.intended),
                    ticket.seq,
                )
                .await;
                if ran == Ran::Not && !ctx.budget_spent() {
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
        let scenario = pick.sample(&mut state.rng);
        let seq = ctx.seq.fetch_add(1, Ordering::Relaxed);
        if iteration(user, state, ctx, scenario, None, seq).await == Ran::Empty {
            // Nothing to send (e.g. a log-in scenario once logged in): wait
            // a little instead of spinning.
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    } else {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    TransactionResult::Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A jar keeps at most MAX_COOKIES cookies, and no cookie larger than
    /// MAX_COOKIE_BYTES, however many a server sets.
    #[test]
    fn the_cookie_jar_is_bounded() {
        let url = reqwest::Url::parse("http://127.0.0.1:1/a").unwrap();
        let mut jar = cookie_store::CookieStore::default();
        for round in 0..4 {
            let mut headers = http::HeaderMap::new();
            for i in 0..100 {
                headers.append(
                    http::header::SET_COOKIE,
                    format!("c{round}x{i}=v; Path=/").parse().unwrap(),
                );
            }
            store_cookies(&mut jar, &url, &headers);
        }
        assert_eq!(jar.iter_any().count(), MAX_COOKIES);
        let mut big = http::HeaderMap::new();
        big.append(
            http::header::SET_COOKIE,
            format!("big={}; Path=/", "x".repeat(MAX_COOKIE_BYTES))
                .parse()
                .unwrap(),
        );
        let mut fresh = cookie_store::CookieStore::default();
        store_cookies(&mut fresh, &url, &big);
        assert_eq!(fresh.iter_any().count(), 0);
        big.append(http::header::SET_COOKIE, "ok=1; Path=/".parse().unwrap());
        store_cookies(&mut fresh, &url, &big);
        assert_eq!(
            cookie_header(&fresh, &url).map(|v| v.to_str().unwrap().to_owned()),
            Some("ok=1".to_owned())
        );
    }
}
