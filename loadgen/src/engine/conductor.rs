//! The conductor: the schedule of a run. It waits for goose to launch the
//! user pool, starts the clock, feeds the open model's queue with arrivals
//! on schedule (or just waits out the closed model's ramp, which the users
//! read themselves), ends the schedule, gives the requests in flight at most
//! one timeout, then stops goose.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime};

use rand::distr::Distribution;
use rand::distr::weighted::WeightedIndex;

use super::ctx::{RunCtx, Ticket, stopping};
use crate::pacer::Pacer;

/// Starts the conductor of the run `ctx` on a pool of `pool` users.
pub(super) fn spawn(
    ctx: Arc<RunCtx>,
    pick: Arc<WeightedIndex<u32>>,
    ticket_tx: Option<async_channel::Sender<Ticket>>,
    profile: Pacer,
    pool: usize,
    duration: Duration,
) -> tokio::task::JoinHandle<()> {
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
        // The schedule runs to its end (the last arrival may come earlier),
        // or until the request budget is spent.
        while !stopping(&ctx)
            && !ctx.control.halted()
            && ctx.schedule_time() < duration
            && !ctx.budget_spent()
        {
            ctx.hold_while_paused().await;
            let left = duration.saturating_sub(ctx.schedule_time());
            tokio::select! {
                _ = tokio::time::sleep(left.min(Duration::from_millis(50))) => {}
                _ = ctx.control.until_halted() => {}
                _ = ctx.spent.notified() => {}
            }
        }
        // The schedule is over: nothing new starts, and what is still
        // queued never will.
        ctx.ended.send_replace(true);
        // (Tickets left over once the budget is spent were never needed:
        // not dropped.)
        if let (Some(ticket_tx), Some(rx)) = (&ticket_tx, &ctx.tickets) {
            ticket_tx.close();
            let spent = ctx.budget_spent();
            while rx.try_recv().is_ok() {
                if !spent {
                    ctx.drop_many(1);
                }
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
}

/// Feeds the open model's queue on schedule until the last arrival, the
/// schedule's end, a stop, or (with a request budget of N) N queued
/// iterations: each makes at least one request, so N are enough. An
/// arrival that finds the queue full is dropped; arrivals so far behind the
/// clock that they could not fit in the queue anyway are dropped in one
/// step, so no rate keeps this loop busy.
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
    let mut queued: u64 = 0;
    let enough = ctx.plan.requests.unwrap_or(u64::MAX);
    'feed: while let Some(due) = profile.time_for(next) {
        loop {
            if stopping(ctx)
                || ctx.control.halted()
                || ctx.schedule_time() >= duration
                || queued >= enough
                || ctx.budget_spent()
            {
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
        } else {
            queued += 1;
        }
        next += 1.0 / scale;
        sent = sent.wrapping_add(1);
        if sent % 256 == 0 {
            tokio::task::yield_now().await;
        }
    }
}

/// `at + d`, or `None` beyond what the clock can hold.
fn after(at: tokio::time::Instant, d: Duration) -> Option<tokio::time::Instant> {
    at.checked_add(d)
}
