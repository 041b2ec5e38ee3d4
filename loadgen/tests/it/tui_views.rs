//! Snapshots of every view of the live terminal UI, at 80x24 and 160x48,
//! drawn from fixed data on ratatui's TestBackend.

use std::time::Duration;

use loadgen::live::{Clock, NameRow, Point, SlowRow, Snapshot, ThresholdRow};
use loadgen::tui::view::{self, AlertRow, SloPanel, SloRow, UiState, View};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

fn snapshot() -> Snapshot {
    let points = (0..40)
        .map(|t| Point {
            t,
            ok: 95 + t % 7,
            errors: if (20..25).contains(&t) { 12 } else { t % 2 },
            p50_ms: 20.0 + (t % 5) as f64,
            p90_ms: 45.0 + (t % 9) as f64,
            p99_ms: if (20..25).contains(&t) { 480.0 } else { 90.0 },
        })
        .collect();
    Snapshot {
        scenario: "steady".into(),
        target: "http://127.0.0.1:8080".into(),
        clock: Clock {
            elapsed: Duration::from_secs(41),
            duration: Duration::from_secs(120),
            stage: Some((1, 3)),
            target_rate: Some(100.0),
            target_users: None,
            in_flight: 7,
            pool: 100,
            dropped: 3,
            paused: false,
            scale: 1.0,
        },
        achieved_rps: 98.0,
        requests: 4012,
        errors: 83,
        points,
        names: vec![
            NameRow {
                name: "list products".into(),
                count: 1980,
                rps: 48.3,
                p50_ms: 21.0,
                p95_ms: 55.2,
                p99_ms: 92.4,
                max_ms: 1210.0,
                errors: 40,
            },
            NameRow {
                name: "create order".into(),
                count: 2032,
                rps: 49.6,
                p50_ms: 48.0,
                p95_ms: 270.5,
                p99_ms: 480.1,
                max_ms: 2034.0,
                errors: 43,
            },
        ],
        statuses: [(200, 3929), (500, 80)].into_iter().collect(),
        error_kinds: [("status".to_owned(), 80), ("timeout".to_owned(), 3)]
            .into_iter()
            .collect(),
        error_reasons: [
            (
                "status".to_owned(),
                [("HTTP 500".to_owned(), 80)].into_iter().collect(),
            ),
            (
                "timeout".to_owned(),
                [("timeout after 2s".to_owned(), 3)].into_iter().collect(),
            ),
        ]
        .into_iter()
        .collect(),
        histogram: vec![
            (1.0, 0),
            (2.0, 3),
            (5.0, 40),
            (10.0, 300),
            (20.0, 1500),
            (50.0, 1400),
            (100.0, 500),
            (200.0, 150),
            (500.0, 100),
            (1000.0, 10),
            (2000.0, 3),
            (5000.0, 1),
            (f64::INFINITY, 0),
        ],
        thresholds: vec![
            ThresholdRow {
                text: "p(95)<300ms".into(),
                observed: Some(120.5),
                passing: Some(true),
                abort_on_fail: false,
            },
            ThresholdRow {
                text: "error_rate<1%".into(),
                observed: Some(0.0207),
                passing: Some(false),
                abort_on_fail: true,
            },
            ThresholdRow {
                text: "rps>90".into(),
                observed: None,
                passing: None,
                abort_on_fail: false,
            },
        ],
        slowest: vec![
            SlowRow {
                name: "create order".into(),
                latency_ms: 2034.0,
                status: Some(201),
                error: None,
                trace_id: "4bf92f3577b34da6a3ce929d0e0e4736".into(),
            },
            SlowRow {
                name: "list products".into(),
                latency_ms: 1210.0,
                status: None,
                error: Some("timeout".into()),
                trace_id: "00f067aa0ba902b7a3ce929d0e0e4736".into(),
            },
        ],
        under: vec![],
    }
}

fn slo_panel() -> SloPanel {
    SloPanel {
        source: "Prometheus http://127.0.0.1:9090".into(),
        age_s: Some(2),
        error: None,
        hint: None,
        slos: vec![SloRow {
            name: "availability".into(),
            objective_pct: 99.9,
            period: "30d".into(),
            sli: Some(0.9793),
            budget_remaining: Some(-19.7),
            burns: vec![
                ("5m".into(), Some(20.7)),
                ("30m".into(), Some(16.1)),
                ("1h".into(), Some(15.0)),
                ("6h".into(), None),
            ],
            alerts: vec![
                AlertRow {
                    severity: "page",
                    factor: 14.4,
                    long: "1h".into(),
                    short: "5m".into(),
                    firing: true,
                    inconclusive: false,
                },
                AlertRow {
                    severity: "ticket",
                    factor: 3.0,
                    long: "1d".into(),
                    short: "2h".into(),
                    firing: false,
                    inconclusive: false,
                },
            ],
            inconclusive: vec![],
        }],
    }
}

fn render(w: u16, h: u16, snap: &Snapshot, slo: &SloPanel, ui: &UiState) -> String {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| view::draw(f, snap, slo, ui)).unwrap();
    format!("{}", t.backend())
}

#[test]
fn every_view_at_both_sizes() {
    let (snap, slo) = (snapshot(), slo_panel());
    for (w, h) in [(80, 24), (160, 48)] {
        for v in View::ALL {
            let ui = UiState {
                view: v,
                ..UiState::default()
            };
            let out = render(w, h, &snap, &slo, &ui);
            insta::assert_snapshot!(format!("{v:?}_{w}x{h}"), out);
        }
    }
}

#[test]
fn help_paused_and_errors() {
    let mut snap = snapshot();
    snap.clock.paused = true;
    snap.clock.scale = 1.21;
    let ui = UiState {
        view: View::Overview,
        help: true,
        note: Some("rate control needs the open model".into()),
    };
    insta::assert_snapshot!("help_80x24", render(80, 24, &snap, &slo_panel(), &ui));
    let failing = SloPanel {
        source: "Prometheus http://127.0.0.1:9".into(),
        age_s: Some(7),
        error: Some("request to Prometheus failed: connection refused".into()),
        hint: None,
        slos: vec![],
    };
    let ui = UiState {
        view: View::Slo,
        ..UiState::default()
    };
    let out = render(80, 24, &snap, &failing, &ui);
    assert!(out.contains("connection refused"), "{out}");
    insta::assert_snapshot!("slo_error_80x24", out);
}

#[test]
fn slo_panel_shows_an_untrusted_prometheus_answer() {
    let mut panel = slo_panel();
    let row = &mut panel.slos[0];
    row.sli = None;
    row.budget_remaining = None;
    row.alerts[0].firing = false;
    row.alerts[0].inconclusive = true;
    row.inconclusive =
        vec!["Prometheus answered {} NaN to sum(errors): a count must be finite".into()];
    let ui = UiState {
        view: View::Slo,
        ..UiState::default()
    };
    let out = render(160, 48, &snapshot(), &panel, &ui);
    assert!(out.contains("SLI inconclusive"), "{out}");
    assert!(
        out.contains("INCONCLUSIVE: Prometheus answered {} NaN to sum(errors)"),
        "{out}"
    );
    assert!(out.contains("5m: INCONCLUSIVE"), "{out}");
    assert!(!out.contains("no traffic"), "{out}");
}
