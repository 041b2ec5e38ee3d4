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
use crate::metrics::{ClientMetrics, Gauges, SeriesMeta, now_ms};
use crate::pacer::Pacer;
use crate::recorder::{Recorded, Recorder};
use crate::scenario::Load;
use crate::scenario::Plan;
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
        let mut rec = Recorder::new(plan.names.len(), keep_interval_histograms)
            .with_traced(clock.traced)
            .with_metrics(clock.metrics.as_ref().map(|sink| {
                let (host, port) = server_address(&target);
                ClientMetrics::new(&sink.run_id, &sink.labels, &host, metas(&plan))
                    .with_server_port(port)
            }));
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
                    publish(&clock, &rec, &profile, duration, false);
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
        publish(&clock, &rec, &profile, duration, true);
        rec.finish()
    })
}

/// Publishes a reading of the client metrics, when they are on; `last`
/// marks the final one (the run's totals).
fn publish(ctx: &RunCtx, rec: &Recorder, profile: &Pacer, duration: Duration, last: bool) {
    let (Some(sink), Some(m)) = (&ctx.metrics, rec.metrics()) else {
        return;
    };
    let t = ctx.schedule_time().min(duration);
    let open = matches!(ctx.plan.load, Load::Open { .. });
    let scale = ctx.live.as_ref().map_or(1.0, |l| l.scale());
    let running = !last;
    let g = Gauges {
        iterations: ctx.iterations.load(Ordering::Relaxed),
        dropped: ctx.dropped.load(Ordering::Relaxed),
        active_users: if running {
            ctx.in_flight.load(Ordering::Relaxed) as u64
        } else {
            0
        },
        target_rate: (open).then(|| {
            if running {
                profile.rate_at(t) * scale
            } else {
                0.0
            }
        }),
        target_users: (!open).then(|| {
            if running {
                profile.rate_at(t).floor()
            } else {
                0.0
            }
        }),
    };
    sink.readings
        .send_replace(Some(Arc::new(m.exposition(now_ms(), &g))));
    if last {
        sink.finished.send_replace(true);
    }
}

/// The `server_address` and `server_port` labels: the target's host (no
/// port, no credentials) and its port, the scheme's default when the base
/// URL gives none (`127.0.0.1`, 8080; `shop.example`, 443).
fn server_address(base: &str) -> (String, Option<u16>) {
    let (scheme, rest) = base.split_once("://").unwrap_or(("http", base));
    let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    // Credentials in the URL are never a label.
    let hostport = authority.rsplit('@').next().unwrap_or(authority);
    let default = match scheme {
        "https" => Some(443),
        "http" => Some(80),
        _ => None,
    };
    // `[::1]:9`: the port is after the bracket.
    let split_at = match hostport.rfind(']') {
        Some(b) => hostport[b..].find(':').map(|i| b + i),
        None => hostport.rfind(':'),
    };
    match split_at {
        Some(i) => {
            let port = hostport[i + 1..].parse::<u16>().ok().or(default);
            (hostport[..i].to_owned(), port)
        }
        None => (hostport.to_owned(), default),
    }
}

/// The series of the request histograms: one per scenario, request name
/// and method, in the order [`series_table`] numbers them.
fn metas(plan: &Plan) -> Vec<SeriesMeta> {
    series_table(plan).0
}

/// Numbers each (scenario, request name, method) once: the metas by
/// number, and per scenario and request its number.
pub(super) fn series_table(plan: &Plan) -> (Vec<SeriesMeta>, Vec<Vec<u32>>) {
    let mut metas: Vec<SeriesMeta> = Vec::new();
    let per = plan
        .scenarios
        .iter()
        .map(|s| {
            s.requests
                .iter()
                .map(|r| {
                    let meta = SeriesMeta {
                        scenario: s.name.clone(),
                        request: r.name.clone(),
                        method: r.method.as_str().to_owned(),
                    };
                    let at = match metas.iter().position(|m| *m == meta) {
                        Some(i) => i,
                        None => {
                            metas.push(meta);
                            metas.len() - 1
                        }
                    };
                    u32::try_from(at).unwrap_or(u32::MAX)
                })
                .collect()
        })
        .collect();
    (metas, per)
}

#[cfg(test)]
mod tests {
    use super::server_address;

    #[test]
    fn the_server_address_is_the_host_without_credentials_and_the_port_apart() {
        let s = |h: &str, p: u16| (h.to_owned(), Some(p));
        assert_eq!(
            server_address("http://127.0.0.1:8080/api"),
            s("127.0.0.1", 8080)
        );
        assert_eq!(
            server_address("https://u:p@shop.example"),
            s("shop.example", 443)
        );
        assert_eq!(server_address("http://[::1]:9/x?y"), s("[::1]", 9));
        assert_eq!(server_address("http://[::1]/"), s("[::1]", 80));
    }
}
