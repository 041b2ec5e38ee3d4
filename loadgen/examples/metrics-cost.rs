//! What the client metrics cost, for `bench/client-metrics.sh` under
//! callgrind: `metrics-cost record N on|off` records N finished requests
//! into a shard's tally with the client metrics on or off;
//! `metrics-cost reading N SERIES` builds and encodes N readings (the
//! OpenMetrics text and the remote-write body) of SERIES request series.

use std::time::Duration;

use loadgen::metrics::{ClientMetrics, Gauges, SeriesMeta, openmetrics, remote_write};
use loadgen::stats::{Outcome, Sample};
use loadgen::tally::Tally;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(100_000);
    match args.get(1).map(String::as_str) {
        Some("record") => {
            let on = args.get(3).is_some_and(|s| s == "on");
            let mut t = Tally::new(2).with_metrics(on);
            for i in 0..n {
                let outcome = if i % 50 == 0 {
                    Outcome::Status(503)
                } else {
                    Outcome::Ok(200)
                };
                t.record(Sample {
                    name: (i % 2) as usize,
                    series: (i % 2) as u32,
                    corrected: Duration::from_micros(500 + (i * 7919) % 20_000),
                    actual: Duration::from_micros(400 + (i * 7919) % 15_000),
                    at: Duration::from_millis(i / 100),
                    outcome,
                    trace_id: u128::from(i) + 1,
                    reason: None,
                    body_bytes: 100,
                });
                // A tick every 100k requests: the recorder takes the tally.
                if i % 100_000 == 99_999 {
                    t.reset();
                }
            }
            println!("{} recorded, metrics {on}", t.count());
        }
        Some("reading") => {
            let series: u32 = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(4);
            let metas = (0..series)
                .map(|i| SeriesMeta {
                    scenario: "shop".into(),
                    request: format!("request {i}"),
                    method: "GET".into(),
                })
                .collect();
            let mut m = ClientMetrics::new("bench", &[], "127.0.0.1", metas);
            let mut shard = Vec::new();
            for i in 0..series {
                for o in [Outcome::Ok(200), Outcome::Status(503)] {
                    loadgen::metrics::record_series(
                        &mut shard,
                        (i, o),
                        Duration::from_millis(5),
                        Duration::from_millis(6),
                    );
                }
            }
            m.absorb(&shard);
            let mut bytes = 0usize;
            for i in 0..n {
                let e = std::sync::Arc::new(m.exposition(i as i64, &Gauges::default()));
                bytes += openmetrics::encode(&e).len();
                bytes += remote_write::encode(&e).len();
            }
            println!("{n} readings of {series} series: {bytes} bytes");
        }
        _ => eprintln!("usage: metrics-cost record N on|off | metrics-cost reading N SERIES"),
    }
}
