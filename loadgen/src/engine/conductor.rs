//! The conductor: the schedule of a run. It waits for goose to launch the
//! user pool, starts the clock, feeds the open model's queue with arrivals
//! on schedule (or just waits out the closed model's ramp, which the users
//! read themselves), ends the schedule, gives the requests in flight at most
//! one timeout, then stops goose.
//!
//! Every arrival of the open model's schedule is either queued for a user or
//! counted as dropped, none is lost: the arrivals due in the schedule's last
//! moment, which the timer wakes the feeder for only once the schedule's time
//! is over, are still queued (see [`feed`]), and users that are free get a
//! moment to take them ([`SETTLE`]) before what is left in the queue is
//! counted as dropped.

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
        if let Some(rx) = &ctx.tickets
            && !ctx.budget_spent()
        {
            settle(&ctx, rx, pool).await;
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

/// How long free users get, once the schedule's time is over, to take the
/// arrivals queued in its last moment; a queue that users are too busy to
/// empty is not waited for.
const SETTLE: Duration = Duration::from_millis(20);

/// Waits (at most [`SETTLE`]) until the queue is empty, or every user is
/// busy, or the run is halted: a user woken for a ticket that was queued
/// just before the end takes it before the schedule closes.
async fn settle(ctx: &RunCtx, rx: &async_channel::Receiver<Ticket>, pool: usize) {
    let until = Instant::now() + SETTLE;
    let mut first = true;
    while !rx.is_empty()
        && ctx.in_flight.load(Ordering::SeqCst) < pool
        && Instant::now() < until
        && !ctx.control.halted()
        && !stopping(ctx)
    {
        if first {
            tokio::task::yield_now().await;
            first = false;
        } else {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
}

/// Arrivals of the schedule from position `next` (the integral of the rate)
/// to its end, spaced `1 / scale` apart.
fn arrivals_left(profile: &Pacer, next: f64, scale: f64) -> u64 {
    let left = (profile.expected_iterations() - next).max(0.0) * scale;
    // A float-to-integer cast saturates (and takes NaN to 0).
    left.ceil() as u64
}

/// Feeds the open model's queue on schedule until the last arrival, the
/// schedule's end, a stop, or (with a request budget of N) N queued
/// iterations: each makes at least one request, so N are enough. An
/// arrival that finds the queue full is dropped; arrivals so far behind the
/// clock that they could not fit in the queue anyway are dropped in one
/// step, so no rate keeps this loop busy. When the schedule's time is over
/// with arrivals still due in it (the timer wakes this loop up to a tick
/// late), they are queued at once while the queue has room, and the rest are
/// dropped: every arrival is either queued or counted.
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
    let mut late = false;
    'feed: while let Some(due) = profile.time_for(next) {
        loop {
            if stopping(ctx) || ctx.control.halted() || queued >= enough || ctx.budget_spent() {
                break 'feed;
            }
            if ctx.schedule_time() >= duration {
                late = true;
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
        if offer(ctx, ticket_tx, pick, begin_std, due) {
            queued += 1;
        }
        next += 1.0 / scale;
        sent = sent.wrapping_add(1);
        if sent % 256 == 0 {
            tokio::task::yield_now().await;
        }
    }
    if late {
        // Due before the end, not fed yet: queued now while there is room
        // (no more than the queue and the pool can take), the rest dropped.
        let left = arrivals_left(profile, next, scale);
        let room = ticket_tx
            .capacity()
            .unwrap_or(0)
            .saturating_sub(ticket_tx.len())
            .saturating_add(pool);
        let mut done: u64 = 0;
        while done < left && queued < enough {
            let Some(due) = profile.time_for(next) else {
                break;
            };
            if done >= room as u64 {
                ctx.drop_many(left - done);
                break;
            }
            if offer(ctx, ticket_tx, pick, begin_std, due) {
                queued += 1;
            }
            next += 1.0 / scale;
            done += 1;
        }
    }
}

/// Queues the arrival due at `due` (from the start, pauses excluded) for a
/// user; true if queued, false if the queue was full (it is counted as
/// dropped).
fn offer(
    ctx: &RunCtx,
    ticket_tx: &async_channel::Sender<Ticket>,
    pick: &WeightedIndex<u32>,
    begin_std: Instant,
    due: Duration,
) -> bool {
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
        false
    } else {
        true
    }
}

/// `at + d`, or `None` beyond what the clock can hold.
fn after(at: tokio::time::Instant, d: Duration) -> Option<tokio::time::Instant> {
    at.checked_add(d)
}

#[cfg(test)]
mod tests {
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU64, AtomicUsize};

    use tokio::sync::watch;

    use super::*;
    use crate::engine::control::Control;
    use crate::scenario::Load;

    /// A run's state for the feeder alone: an open model at `rate` for
    /// `millis`, a queue of `max_queue`, no users, no connections.
    fn open_ctx(
        rate: f64,
        millis: u64,
        max_queue: usize,
    ) -> (Arc<RunCtx>, async_channel::Sender<Ticket>, Pacer, Duration) {
        let yaml = format!(
            "base_url: http://127.0.0.1:1\nscenarios:\n  - name: s\n    requests:\n      - name: r\n        path: /\nload:\n  model: open\n  rate: {rate}\n  duration: {millis}ms\n  max_users: 1\n"
        );
        let plan = crate::scenario::parse(&yaml, std::path::Path::new("feed.yaml")).unwrap();
        let Load::Open {
            start_rate,
            ref stages,
            ..
        } = plan.load
        else {
            panic!("not an open model: {:?}", plan.load);
        };
        let profile = Pacer::new(start_rate, stages);
        let duration = plan.load.duration();
        let target = crate::client::Target::new(&plan.base_url, &plan.client, None).unwrap();
        let (ticket_tx, ticket_rx) = async_channel::bounded(max_queue);
        let ctx = RunCtx {
            plan: Arc::new(plan),
            target,
            static_requests: Vec::new(),
            conns: Vec::new(),
            control: Arc::new(Control::default()),
            spans: None,
            base: "http://127.0.0.1:1".into(),
            start: OnceLock::new(),
            started_at: OnceLock::new(),
            shards: crate::tally::Shards::new(1, 1),
            ended: watch::Sender::new(false),
            finished: OnceLock::new(),
            timeout_reason: String::new(),
            dropped: AtomicU64::new(0),
            seq: AtomicU64::new(0),
            iterations: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
            ready: AtomicUsize::new(0),
            tickets: Some(ticket_rx),
            live: None,
            started_requests: AtomicU64::new(0),
            spent: tokio::sync::Notify::new(),
            checks: crate::checks::CheckCounts::new(0, 1),
            series: Vec::new(),
            metrics: None,
            run_id: None,
            trace_prefix: None,
            traced: false,
        };
        (Arc::new(ctx), ticket_tx, profile, duration)
    }

    /// Feeds the schedule with the clock started `ago` before now; returns
    /// (queued, dropped).
    async fn feed_from(rate: f64, millis: u64, max_queue: usize, ago: Duration) -> (u64, u64) {
        let (ctx, ticket_tx, profile, duration) = open_ctx(rate, millis, max_queue);
        let pick = WeightedIndex::new([1u32]).unwrap();
        let begin_std = Instant::now().checked_sub(ago).unwrap();
        let begin = tokio::time::Instant::now().checked_sub(ago).unwrap();
        ctx.start.set(begin_std).unwrap();
        feed(
            &ctx, &ticket_tx, &profile, &pick, 1, begin, begin_std, duration,
        )
        .await;
        let queued = ticket_tx.len() as u64;
        (queued, ctx.dropped.load(Ordering::Relaxed))
    }

    #[test]
    fn arrivals_left_counts_to_the_end_of_the_schedule() {
        let p = Pacer::new(
            10_000.0,
            &[crate::scenario::Stage {
                duration: Duration::from_secs(10),
                target: 10_000.0,
            }],
        );
        assert_eq!(arrivals_left(&p, 0.0, 1.0), 100_000);
        assert_eq!(arrivals_left(&p, 99_993.0, 1.0), 7);
        // Twice the rate: arrivals half a position apart.
        assert_eq!(arrivals_left(&p, 99_998.0, 2.0), 4);
        assert_eq!(arrivals_left(&p, 100_000.0, 1.0), 0);
        assert_eq!(arrivals_left(&p, 1e12, 1.0), 0);
        assert_eq!(arrivals_left(&p, 0.0, f64::INFINITY), u64::MAX);
    }

    /// The arrivals due in the schedule's last moment were lost when the
    /// timer woke the feeder after the schedule's time was over: neither
    /// queued nor counted as dropped. Here the whole schedule is in the past
    /// when the feeder starts, so every arrival is one of those.
    #[tokio::test]
    async fn arrivals_due_before_the_end_are_queued_even_when_fed_late() {
        let (queued, dropped) = feed_from(2000.0, 200, 1000, Duration::from_millis(300)).await;
        assert_eq!((queued, dropped), (400, 0));
    }

    /// With a queue too small for what is due, the rest is dropped, and
    /// every arrival is still accounted for.
    #[tokio::test]
    async fn late_arrivals_beyond_the_queue_are_dropped_not_lost() {
        let (queued, dropped) = feed_from(2000.0, 200, 10, Duration::from_millis(300)).await;
        assert_eq!(queued, 10);
        assert_eq!(queued + dropped, 400);
        // Started behind the clock, the rest on time: all 400 accounted for.
        let (queued, dropped) = feed_from(2000.0, 200, 1000, Duration::from_millis(100)).await;
        assert_eq!(queued + dropped, 400, "queued {queued}, dropped {dropped}");
        assert_eq!(dropped, 0);
    }
}
