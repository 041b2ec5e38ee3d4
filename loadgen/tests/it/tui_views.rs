//! Snapshots of every view of the live terminal UI, at 80x24 and 160x48,
//! drawn from fixed data on ratatui's TestBackend.

use std::time::Duration;

use loadgen::bottleneck::{Span, Traced};
use loadgen::live::{Clock, NameRow, Point, SlowRow, Snapshot, ThresholdRow};
use loadgen::threshold::Threshold;
use loadgen::traced::Chosen;
use loadgen::tui::traces::{TracesPanel, build_panel};
use loadgen::tui::view::{self, AlertRow, SloPanel, SloRow, UiState, View};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

fn threshold(expr: &str, abort_on_fail: bool) -> Threshold {
    Threshold {
        abort_on_fail,
        ..Threshold::parse(expr).unwrap()
    }
}

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
            target_rate: Some(50.0),
            target_users: None,
            in_flight: 7,
            pool: 100,
            dropped: 3,
            iterations: 2001,
            budget: None,
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
            ThresholdRow::of(&threshold("p(95)<300ms", false), Some(120.5)),
            ThresholdRow::of(&threshold("error_rate<1%", true), Some(0.0207)),
            ThresholdRow::of(&threshold("rps>90", false), None),
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
        checks: vec![],
        traced: vec![],
    }
}

/// Orders whose payment is slow one time in ten, and their spans; one
/// slow order's spans have not arrived.
fn traces_panel() -> TracesPanel {
    let ms = 1_000_000u64;
    let mut spans = std::collections::HashMap::new();
    let mut sample = Vec::new();
    let mut slow = Vec::new();
    let mut typical = Vec::new();
    for i in 1..=100u64 {
        let trace_id = u128::from(i) << 64 | 0xabc;
        let slow_path = i % 10 == 0;
        let pay = if slow_path { 230 } else { 30 };
        let total = 4 + pay + 10 + 2;
        let span = |id: u64, parent: u64, name: &str, a: u64, b: u64| Span {
            trace_id,
            span_id: id,
            parent,
            name: name.into(),
            start_ns: a * ms,
            end_ns: b * ms,
            attributes: vec![],
        };
        let mut payment = span(3, 1, "process_payment", 4, 4 + pay);
        payment
            .attributes
            .push(("app.payment.slow_path".into(), slow_path.to_string()));
        let r = Traced {
            trace_id,
            latency: Duration::from_millis(total + 3),
        };
        if i != 50 {
            spans.insert(
                trace_id,
                vec![
                    span(1, 0, "POST /api/orders", 0, total),
                    span(2, 1, "validate_order", 1, 4),
                    payment,
                    span(4, 1, "reserve_inventory", 4 + pay, 14 + pay),
                ],
            );
        }
        sample.push(r);
        if slow_path {
            slow.push(r);
        } else if i % 3 == 0 {
            typical.push(r);
        }
    }
    slow.sort_by(|a, b| b.latency.cmp(&a.latency).then(a.trace_id.cmp(&b.trace_id)));
    let chosen = vec![Chosen {
        name: "create order".into(),
        slow,
        typical,
        sample,
    }];
    let mut p = build_panel("trace sink 127.0.0.1:4318", &chosen, &spans, (412, 400));
    p.age_s = Some(1);
    p
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
    t.draw(|f| view::draw(f, snap, slo, &traces_panel(), ui))
        .unwrap();
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
        ..UiState::default()
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
    // Two hours in: the 1h window of the alert holds its whole length.
    let mut snap = snapshot();
    snap.clock.elapsed = Duration::from_secs(7200);
    let out = render(160, 48, &snap, &panel, &ui);
    assert!(out.contains("SLI inconclusive"), "{out}");
    assert!(
        out.contains("INCONCLUSIVE: Prometheus answered {} NaN to sum(errors)"),
        "{out}"
    );
    assert!(out.contains("5m: INCONCLUSIVE"), "{out}");
    assert!(!out.contains("no traffic"), "{out}");
}

/// Block characters the histogram draws its bars with.
fn is_bar(symbol: &str) -> bool {
    matches!(symbol, "█" | "▁" | "▂" | "▃" | "▄" | "▅" | "▆" | "▇")
}

/// The inside of the bordered block whose title starts with `title`:
/// (x0, y0, x1, y1), the ends excluded.
fn block_inside(buf: &ratatui::buffer::Buffer, title: &str) -> (u16, u16, u16, u16) {
    let area = buf.area;
    let row = |y: u16| -> String { (0..area.width).map(|x| buf[(x, y)].symbol()).collect() };
    let y0 = (0..area.height)
        .find(|&y| row(y).contains(title))
        .expect("the block is drawn");
    let line: Vec<String> = (0..area.width)
        .map(|x| buf[(x, y0)].symbol().to_owned())
        .collect();
    let x0 = line.iter().position(|s| s == "┌").unwrap() as u16;
    let x1 = (x0 as usize
        + 1
        + line[x0 as usize + 1..]
            .iter()
            .position(|s| s == "┐")
            .unwrap()) as u16;
    let y1 = (y0 + 1..area.height)
        .find(|&y| buf[(x0, y)].symbol() == "└")
        .unwrap();
    (x0 + 1, y0 + 1, x1, y1)
}

#[test]
fn histogram_labels_in_ms_and_counts_never_on_bars() {
    let mut snap = snapshot();
    snap.histogram = vec![
        (1.0, 0),
        (2.0, 1),
        (5.0, 7),
        (10.0, 99),
        (20.0, 12_345_678),
        (50.0, 999_999),
        (100.0, 50_000),
        (200.0, 3),
        (500.0, 0),
        (1000.0, 1),
        (2000.0, 0),
        (5000.0, 42),
        (f64::INFINITY, 17),
    ];
    let ui = UiState {
        view: View::Latency,
        ..UiState::default()
    };
    for (w, h) in [(80, 24), (60, 20), (120, 40), (40, 16)] {
        let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
        t.draw(|f| view::draw(f, &snap, &slo_panel(), &traces_panel(), &ui))
            .unwrap();
        let buf = t.backend().buffer().clone();
        let (x0, y0, x1, y1) = block_inside(&buf, "┌Latency");
        let label_y = y1 - 1;
        let mut text = String::new();
        for x in x0..x1 {
            // Down each column: nothing under a bar's top but more bar.
            let mut in_bar = false;
            for y in y0..label_y {
                let s = buf[(x, y)].symbol();
                if in_bar {
                    assert!(
                        is_bar(s),
                        "{w}x{h}: {s:?} under a bar at {x},{y}\n{}",
                        t.backend()
                    );
                }
                in_bar |= is_bar(s);
            }
        }
        for y in y0..y1 {
            text.push_str(&(x0..x1).map(|x| buf[(x, y)].symbol()).collect::<String>());
            text.push('\n');
        }
        let labels: String = (x0..x1).map(|x| buf[(x, label_y)].symbol()).collect();
        // Upper bounds in ms, as the title says: no "<1.0" for one second.
        assert!(!labels.contains('<') && !labels.contains('s'), "{labels}");
        assert!(labels.contains("+Inf"), "{w}x{h}: {labels}");
        if w >= 80 {
            for want in ["12M", "1.0M", "50k", "99", "42", "17"] {
                assert!(text.contains(want), "{w}x{h}: no {want} in\n{text}");
            }
            assert!(labels.contains("5000"), "{labels}");
        }
    }
    let mut t = Terminal::new(TestBackend::new(80, 24)).unwrap();
    t.draw(|f| view::draw(f, &snap, &slo_panel(), &traces_panel(), &ui))
        .unwrap();
    insta::assert_snapshot!("histogram_wide_range_80x24", format!("{}", t.backend()));
    let mut t = Terminal::new(TestBackend::new(60, 20)).unwrap();
    t.draw(|f| view::draw(f, &snap, &slo_panel(), &traces_panel(), &ui))
        .unwrap();
    insta::assert_snapshot!("histogram_wide_range_60x20", format!("{}", t.backend()));
}

#[test]
fn long_names_are_cut_with_an_ellipsis_at_80x24() {
    let long = "a-very-long-request-name-that-would-never-fit-in-its-column-at-all";
    let mut snap = snapshot();
    snap.scenario = "checkout-flow-with-a-scenario-name-longer-than-the-terminal-is-wide".into();
    snap.target = "https://a-rather-long-host-name.internal.example:8443/with/a/path".into();
    snap.names[0].name = long.into();
    snap.slowest[0].name = long.into();
    snap.slowest[1].error = Some("connection refused".into());
    let mut t = threshold("p(99)<1.5s", false);
    t.request = Some(long.into());
    snap.thresholds.push(ThresholdRow::of(&t, Some(980.0)));
    snap.error_reasons
        .get_mut("timeout")
        .unwrap()
        .insert(format!("timeout after 2s while reading {long}"), 2);
    let mut panel = slo_panel();
    panel.slos[0].name = format!("availability-of-{long}");
    for v in View::ALL {
        let ui = UiState {
            view: v,
            ..UiState::default()
        };
        let out = render(80, 24, &snap, &panel, &ui);
        assert!(out.contains('…'), "{v:?}: nothing cut\n{out}");
        assert!(!out.contains(long), "{v:?}: a long name shown whole\n{out}");
        insta::assert_snapshot!(format!("long_names_{v:?}_80x24"), out);
    }
    let ui = UiState::default();
    let out = render(80, 24, &snap, &panel, &ui);
    // The columns stay where the header puts them.
    let lines: Vec<&str> = out.lines().collect();
    let header = lines
        .iter()
        .find(|l| l.contains("request") && l.contains("count"))
        .unwrap();
    let row = lines.iter().find(|l| l.contains("a-very-long")).unwrap();
    let col = |l: &str, needle: &str| l[..l.find(needle).unwrap()].chars().count();
    assert_eq!(col(header, "count"), col(row, "1980"), "\n{header}\n{row}");
    assert_eq!(col(header, "err"), col(row, "40 "), "\n{header}\n{row}");
    // A threshold keeps its verdict, value and limit; its request name is cut.
    let t = lines.iter().find(|l| l.contains("p(99) [")).unwrap();
    assert!(t.contains("…] 980 ms < 1.5 s"), "{t}");
    // The header keeps the target in sight.
    assert!(lines[0].contains("-> https://"), "{}", lines[0]);
}

#[test]
fn slo_panel_marks_windows_that_hold_part_of_their_length() {
    let mut snap = snapshot();
    let ui = UiState {
        view: View::Slo,
        ..UiState::default()
    };
    // 8 s in: no window of 5m or more holds a twelfth of itself yet, and the
    // SLI says how little of its period it is computed from.
    snap.clock.elapsed = std::time::Duration::from_secs(8);
    let out = render(80, 24, &snap, &slo_panel(), &ui);
    assert!(
        out.contains("burn rate  too little data (8s) for 5m 30m 1h 6h"),
        "{out}"
    );
    assert!(!out.contains("20.70") && !out.contains("15.00"), "{out}");
    assert!(!out.contains("WOULD FIRE"), "{out}");
    assert!(out.contains("too little data (8s of 1h)"), "{out}");
    assert!(out.contains("SLI and budget from 8s of 30d"), "{out}");
    // 10 minutes in: 5m is whole, 30m and 1h partial and marked, 6h not shown.
    snap.clock.elapsed = std::time::Duration::from_secs(600);
    let out = render(80, 24, &snap, &slo_panel(), &ui);
    assert!(
        out.contains("burn rate  5m 20.70  30m 16.10 (10m of 30m)"),
        "{out}"
    );
    assert!(out.contains("1h 15.00 (10m of 1h)"), "{out}");
    assert!(
        out.contains("burn rate  too little data (10m) for 6h"),
        "{out}"
    );
    assert!(out.contains("WOULD FIRE (10m of 1h)"), "{out}");
    insta::assert_snapshot!("slo_10m_80x24", out);
    // A day in, every window is whole and nothing is marked.
    snap.clock.elapsed = std::time::Duration::from_secs(86_400);
    let out = render(80, 24, &snap, &slo_panel(), &ui);
    assert!(
        out.contains("burn rate  5m 20.70  30m 16.10  1h 15.00  6h -"),
        "{out}"
    );
    assert!(
        out.contains("WOULD FIRE\n") || out.contains("WOULD FIRE "),
        "{out}"
    );
    assert!(!out.contains("too little"), "{out}");
    // The SLI's 30d period still holds a day of it, and says so.
    assert!(
        out.contains("SLI and budget from 24h of 30d (this run so far)"),
        "{out}"
    );
    snap.clock.elapsed = std::time::Duration::from_secs(31 * 86_400);
    let out = render(80, 24, &snap, &slo_panel(), &ui);
    assert!(!out.contains(" of "), "{out}");
}

#[test]
fn header_tells_iterations_from_requests() {
    // Two requests an iteration: 50 iterations/s make about 100 requests/s.
    let mut snap = snapshot();
    let ui = UiState::default();
    let out = render(80, 24, &snap, &slo_panel(), &ui);
    let line = out.lines().nth(2).unwrap();
    assert!(
        line.contains(
            "requests 4012  errors 83  98 requests/s  50.0 iterations/s target, 48.8 avg"
        ),
        "{line}"
    );
    // The closed model has users, not a rate; what they achieve is iterations.
    snap.clock.target_rate = None;
    snap.clock.target_users = Some(10.0);
    let out = render(80, 24, &snap, &slo_panel(), &ui);
    let line = out.lines().nth(2).unwrap();
    assert!(
        line.contains("98 requests/s  10 users target, 48.8 iterations/s avg"),
        "{line}"
    );
    assert!(!line.contains('…'), "{line}");
}

#[test]
fn header_counts_down_a_request_budget() {
    let mut snap = snapshot();
    let ui = UiState::default();
    // A budget alone (`-n`): requests left, not the 24h ceiling of the schedule.
    snap.clock.budget = Some(5000);
    snap.clock.duration = loadgen::scenario::limits::MAX_RUN;
    let out = render(80, 24, &snap, &slo_panel(), &ui);
    let line = out.lines().nth(1).unwrap();
    assert!(line.contains("remaining 988 of 5000 requests"), "{line}");
    assert!(!line.contains("23h") && !line.contains("86"), "{line}");
    // A budget and a duration: whichever comes first.
    snap.clock.duration = Duration::from_secs(120);
    let out = render(80, 24, &snap, &slo_panel(), &ui);
    let line = out.lines().nth(1).unwrap();
    assert!(
        line.contains("remaining 1m19s or 988 of 5000 requests"),
        "{line}"
    );
}

fn check(name: &str, request: &str, passes: u64, fails: u64) -> common::report::CheckResult {
    common::report::CheckResult {
        name: name.into(),
        request: request.into(),
        passes,
        fails,
    }
}

#[test]
fn overview_shows_the_checks_beside_the_thresholds_failing_ones_in_red() {
    let mut snap = snapshot();
    snap.checks = vec![
        check("status in [201]", "create order", 2000, 32),
        check("fast", "list products", 1980, 0),
        check("capture order_id", "create order", 0, 0),
    ];
    let mut t = threshold("checks>99%", true);
    t.check = Some("status in [201]".into());
    snap.thresholds
        .push(ThresholdRow::of(&t, Some(2000.0 / 2032.0)));
    let ui = UiState::default();
    for (w, h) in [(80, 24), (160, 48)] {
        let mut term = Terminal::new(TestBackend::new(w, h)).unwrap();
        term.draw(|f| view::draw(f, &snap, &slo_panel(), &traces_panel(), &ui))
            .unwrap();
        let out = format!("{}", term.backend());
        assert!(out.contains("Checks 3980/4012 passed"), "{out}");
        assert!(out.contains("FAIL  98.4% status in [201]"), "{out}");
        assert!(out.contains(" ok  100.0% fast"), "{out}");
        // The failing check's line is red, mark and text.
        let buf = term.backend().buffer();
        let (mut red, mut green) = (false, false);
        for y in 0..h {
            let line: String = (0..w).map(|x| buf[(x, y)].symbol()).collect();
            if let Some(at) = line.find("FAIL  98.4%") {
                let x = u16::try_from(line[..at].chars().count()).unwrap();
                red = buf[(x, y)].fg == ratatui::style::Color::Red
                    && buf[(x + 7, y)].fg == ratatui::style::Color::Red;
            }
            if let Some(at) = line.find(" ok  100.0%") {
                let x = u16::try_from(line[..at].chars().count()).unwrap();
                green = buf[(x + 1, y)].fg == ratatui::style::Color::Green;
            }
        }
        assert!(red && green, "{out}");
        insta::assert_snapshot!(format!("checks_Overview_{w}x{h}"), out);
    }
    // No checks: no block.
    let out = render(80, 24, &snapshot(), &slo_panel(), &ui);
    assert!(!out.contains("Checks"), "{out}");
}

#[test]
fn traces_view_names_the_bottleneck_and_opens_a_span_tree() {
    let snap = snapshot();
    let mut panel = traces_panel();
    let render_traces = |panel: &TracesPanel, ui: &UiState, w: u16, h: u16| {
        let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
        t.draw(|f| view::draw(f, &snap, &slo_panel(), panel, ui))
            .unwrap();
        format!("{}", t.backend())
    };
    let mut ui = UiState {
        view: View::Traces,
        ..UiState::default()
    };
    let out = render_traces(&panel, &ui, 120, 40);
    assert!(out.contains("> process_payment"), "{out}");
    assert!(
        out.contains("app.payment.slow_path=true on process_payment: 100% of slow, 9% of all"),
        "{out}"
    );
    assert!(out.contains("1 without a trace"), "{out}");
    assert!(
        out.contains("no spans yet"),
        "the order whose spans never came\n{out}"
    );
    // The second slowest opened: its tree under it, the rest below.
    ui.listed = panel.slowest.iter().map(|t| t.trace_id).collect();
    ui.selected = 1;
    ui.expanded.insert(ui.listed[1]);
    let out = render_traces(&panel, &ui, 120, 40);
    assert!(
        out.contains(
            "    process_payment  230ms (self 230ms) at +4.0ms  app.payment.slow_path=true"
        ),
        "{out}"
    );
    insta::assert_snapshot!("traces_open_120x40", out);
    // In a small terminal the selected row stays on screen.
    ui.selected = 9;
    let out = render_traces(&panel, &ui, 80, 24);
    let last = format!("{:032x}", ui.listed[9]);
    assert!(out.contains(&last), "{out}");
    panel.breakdowns.clear();
    panel.slowest.clear();
    panel.hint = Some("add --trace-sink ADDR".into());
    let out = render_traces(
        &panel,
        &UiState {
            view: View::Traces,
            ..UiState::default()
        },
        80,
        24,
    );
    assert!(out.contains("add --trace-sink ADDR"), "{out}");
}
