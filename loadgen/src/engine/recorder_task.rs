//! The recorder task: on each tick (four a second with a live view, else
//! one) it drains the shards the users record into, closes the
//! [`Recorder`]'s intervals, checks the abort-on-fail thresholds (on the
//! check counts too), and publishes a [`Snapshot`] (with the check counts)
//! for a live view when one is attached. Told to
//! finish, it drains the shards once more and hands back the whole record.

use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::sync::oneshot;

use super::ctx::RunCtx;
use crate::checks::CheckData;
use crate::live::{Clock, Snapshot};
use crate::pacer::Pacer;
use crate::recorder::{Recorded, Recorder};
use crate::scenario::Load;
use crate::threshold::failing_abort;

/// Starts the recorder task of the run `ctx`; `aborted` receives the
/// abort-on-fail threshold that stopped the run, if one did.
pub(super) fn spawn(
    ctx: Arc<RunCtx>,
    mut finish: oneshot::Receiver<()>,
    aborted: Arc<OnceLock<String>>,
    profile: Pacer,
    keep_interval_histograms: bool,
    duration: Duration,
    pool: usize,
) -> tokio::task::JoinHandle<Recorded> {
    let plan = ctx.plan.clone();
    let target = ctx.base.clone();
    let clock = ctx;
    tokio::spawn(async move {
        let mut rec = Recorder::new(plan.names.len(), keep_interval_histograms);
        // A live view gets four snapshots a second; otherwise once a second is enough.
        let every = if clock.live.is_some() {
            Duration::from_millis(250)
        } else {
            Duration::from_secs(1)
        };
        let mut tick = tokio::time::interval(every);
        let mut spare = clock.shards.spare();
        loop {
            tokio::select! {
                // Told to finish, or the run is gone.
                _ = &mut finish => break,
                _ = tick.tick() => {
                    clock.shards.drain(&mut spare, &mut rec);
                    let now = clock.start.get().map_or(Duration::ZERO, |s| s.elapsed());
                    rec.close_before(now);
                    let dropped = clock.dropped.load(Ordering::Relaxed);
                    let checks = clock.checks.snapshot();
                    if aborted.get().is_none()
                        && !goose::is_killswitch_triggered()
                        && let Some(t) = failing_abort(
                            &plan.thresholds, || rec.total(), rec.per_name(), &plan.names, now, dropped,
                            CheckData::new(&plan.checks, &checks),
                        )
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
                            iterations: clock.iterations.load(Ordering::Relaxed),
                            budget: plan.requests,
                            paused: live.paused(),
                            scale,
                        }, live.marks(), &checks));
                    }
                }
            }
        }
        clock.shards.drain(&mut spare, &mut rec);
        rec.finish()
    })
}
