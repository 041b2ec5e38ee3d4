//! Drawing: pure functions of a [`Snapshot`], the SLO panel and the view's
//! own state onto a ratatui frame (snapshot-tested on a TestBackend).

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{
    Axis, Bar, BarChart, BarGroup, Block, Cell, Chart, Clear, Dataset, GraphType, Paragraph, Row,
    Table, Tabs, Wrap,
};

use crate::live::Snapshot;

/// Which view is on screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum View {
    #[default]
    Overview,
    Latency,
    Slo,
}

impl View {
    pub const ALL: [View; 3] = [View::Overview, View::Latency, View::Slo];

    pub fn title(self) -> &'static str {
        match self {
            View::Overview => "Overview",
            View::Latency => "Latency & errors",
            View::Slo => "SLOs",
        }
    }

    pub fn next(self) -> View {
        match self {
            View::Overview => View::Latency,
            View::Latency => View::Slo,
            View::Slo => View::Overview,
        }
    }
}

/// The view's own state.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UiState {
    pub view: View,
    pub help: bool,
    /// A short note in the footer (e.g. "rate control needs the open model").
    pub note: Option<String>,
}

/// One multi-window alert of an SLO and whether it would fire now.
pub use slo::evaluate::AlertState as AlertRow;

/// One SLO as the panel shows it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SloRow {
    pub name: String,
    pub objective_pct: f64,
    pub period: String,
    pub sli: Option<f64>,
    pub budget_remaining: Option<f64>,
    /// (window, burn rate) shortest first; `None` is no traffic.
    pub burns: Vec<(String, Option<f64>)>,
    pub alerts: Vec<AlertRow>,
    /// Answers from Prometheus that could not be trusted (each names its
    /// query and what came back); the numbers they would give are left out.
    pub inconclusive: Vec<String>,
}

/// The SLO panel's content.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SloPanel {
    /// Where the numbers come from ("Prometheus http://…", "client side").
    pub source: String,
    /// Seconds since the last refresh.
    pub age_s: Option<u64>,
    /// The last refresh failed with this (shown, never fatal).
    pub error: Option<String>,
    /// A hint, such as how to install Prometheus.
    pub hint: Option<String>,
    pub slos: Vec<SloRow>,
}

fn ms(v: f64) -> String {
    if v >= 1000.0 {
        format!("{:.2}s", v / 1000.0)
    } else if v >= 10.0 {
        format!("{v:.0}ms")
    } else {
        format!("{v:.1}ms")
    }
}

fn secs(d: std::time::Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 {
        format!("{}h{:02}m{:02}s", s / 3600, s / 60 % 60, s % 60)
    } else if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}

fn pct(v: f64) -> String {
    format!("{:.3}%", v * 100.0)
}

fn bold() -> Style {
    Style::new().add_modifier(Modifier::BOLD)
}

/// Draws the whole screen.
pub fn draw(frame: &mut Frame, snap: &Snapshot, slo: &SloPanel, ui: &UiState) {
    let area = frame.area();
    let [header, tabs, body, footer] = Layout::vertical([
        Constraint::Length(3),
        Constraint::Length(1),
        Constraint::Min(8),
        Constraint::Length(1),
    ])
    .areas(area);
    draw_header(frame, header, snap);
    let titles: Vec<&str> = View::ALL.iter().map(|v| v.title()).collect();
    let selected = View::ALL.iter().position(|v| *v == ui.view).unwrap_or(0);
    frame.render_widget(
        Tabs::new(titles)
            .select(selected)
            .highlight_style(bold().fg(Color::Yellow)),
        tabs,
    );
    match ui.view {
        View::Overview => draw_overview(frame, body, snap),
        View::Latency => draw_latency(frame, body, snap),
        View::Slo => draw_slo(frame, body, slo),
    }
    let keys = "q quit  p pause  +/- rate  Tab view  ? help";
    let text = match &ui.note {
        Some(n) => format!("{keys}  | {n}"),
        None => keys.to_owned(),
    };
    frame.render_widget(
        Paragraph::new(text).style(Style::new().fg(Color::DarkGray)),
        footer,
    );
    if ui.help {
        draw_help(frame, area);
    }
}

fn draw_header(frame: &mut Frame, area: Rect, s: &Snapshot) {
    let c = &s.clock;
    let remaining = c.duration.saturating_sub(c.elapsed);
    let stage = c
        .stage
        .map_or("-".to_owned(), |(i, n)| format!("{}/{}", i + 1, n));
    let load = match (c.target_rate, c.target_users) {
        (Some(r), _) => format!("rate {r:.1}/s target, {:.0}/s achieved", s.achieved_rps),
        (None, Some(u)) => format!("users {u:.0} target, {:.0}/s achieved", s.achieved_rps),
        _ => format!("{:.0}/s achieved", s.achieved_rps),
    };
    let mut state = Vec::new();
    if c.paused {
        state.push(Span::styled(
            " PAUSED ",
            bold().fg(Color::Black).bg(Color::Yellow),
        ));
    }
    if (c.scale - 1.0).abs() > 1e-9 && c.target_rate.is_some() {
        state.push(Span::styled(
            format!(" x{:.2} ", c.scale),
            bold().fg(Color::Cyan),
        ));
    }
    let line1 = Line::from(
        [
            vec![
                Span::styled(s.scenario.clone(), bold()),
                Span::raw(format!(" -> {}  ", s.target)),
            ],
            state,
        ]
        .concat(),
    );
    let line2 = Line::from(format!(
        "elapsed {}  remaining {}  stage {stage}  {load}",
        secs(c.elapsed),
        secs(remaining)
    ));
    let line3 = Line::from(format!(
        "active {}/{} users  requests {}  errors {}  dropped {}",
        c.in_flight, c.pool, s.requests, s.errors, c.dropped
    ));
    frame.render_widget(
        Paragraph::new(vec![line1, line2, line3]).block(Block::new()),
        area,
    );
}

fn draw_overview(frame: &mut Frame, area: Rect, s: &Snapshot) {
    let [charts, tables] =
        Layout::vertical([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(area);
    let [left, right] =
        Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(charts);
    draw_throughput(frame, left, s);
    draw_latency_chart(frame, right, s);
    let share = if area.width < 120 { 70 } else { 60 };
    let [names, thresholds] = Layout::horizontal([
        Constraint::Percentage(share),
        Constraint::Percentage(100 - share),
    ])
    .areas(tables);
    draw_names(frame, names, s);
    draw_thresholds(frame, thresholds, s);
}

fn bounds(points: &[(f64, f64)]) -> ([f64; 2], [f64; 2]) {
    let x0 = points.first().map_or(0.0, |p| p.0);
    let x1 = points.last().map_or(1.0, |p| p.0).max(x0 + 1.0);
    let y1 = points.iter().map(|p| p.1).fold(0.0, f64::max).max(1.0) * 1.1;
    ([x0, x1], [0.0, y1])
}

/// A named, coloured series of (x, y) points.
type Series<'a> = (&'a str, Color, &'a [(f64, f64)]);

fn chart<'a>(title: &'a str, sets: Vec<Series<'a>>, unit: &str) -> Chart<'a> {
    let all: Vec<(f64, f64)> = sets.iter().flat_map(|s| s.2.iter().copied()).collect();
    let mut sorted = all.clone();
    sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (x, y) = bounds(&sorted);
    let datasets = sets
        .into_iter()
        .map(|(name, color, data)| {
            Dataset::default()
                .name(name)
                .marker(Marker::Braille)
                .graph_type(GraphType::Line)
                .style(Style::new().fg(color))
                .data(data)
        })
        .collect();
    Chart::new(datasets)
        .block(Block::bordered().title(title))
        .x_axis(
            Axis::default()
                .bounds(x)
                .labels([format!("{:.0}s", x[0]), format!("{:.0}s", x[1])]),
        )
        .y_axis(
            Axis::default()
                .bounds(y)
                .labels(["0".to_owned(), format!("{:.0}{unit}", y[1])]),
        )
}

fn draw_throughput(frame: &mut Frame, area: Rect, s: &Snapshot) {
    let ok: Vec<(f64, f64)> = s.points.iter().map(|p| (p.t as f64, p.ok as f64)).collect();
    let err: Vec<(f64, f64)> = s
        .points
        .iter()
        .map(|p| (p.t as f64, p.errors as f64))
        .collect();
    frame.render_widget(
        chart(
            "Throughput (req/s)",
            vec![("ok", Color::Green, &ok), ("errors", Color::Red, &err)],
            "",
        ),
        area,
    );
}

fn draw_latency_chart(frame: &mut Frame, area: Rect, s: &Snapshot) {
    let pick = |f: fn(&crate::live::Point) -> f64| -> Vec<(f64, f64)> {
        s.points.iter().map(|p| (p.t as f64, f(p))).collect()
    };
    let (p50, p90, p99) = (pick(|p| p.p50_ms), pick(|p| p.p90_ms), pick(|p| p.p99_ms));
    frame.render_widget(
        chart(
            "Latency, corrected (ms)",
            vec![
                ("p50", Color::Green, &p50),
                ("p90", Color::Yellow, &p90),
                ("p99", Color::Red, &p99),
            ],
            "ms",
        ),
        area,
    );
}

fn draw_names(frame: &mut Frame, area: Rect, s: &Snapshot) {
    let header =
        Row::new(["request", "count", "rps", "p50", "p95", "p99", "max", "err"]).style(bold());
    let rows = s.names.iter().map(|n| {
        Row::new(vec![
            Cell::from(n.name.clone()),
            Cell::from(n.count.to_string()),
            Cell::from(format!("{:.1}", n.rps)),
            Cell::from(ms(n.p50_ms)),
            Cell::from(ms(n.p95_ms)),
            Cell::from(ms(n.p99_ms)),
            Cell::from(ms(n.max_ms)),
            Cell::from(n.errors.to_string()).style(if n.errors > 0 {
                Style::new().fg(Color::Red)
            } else {
                Style::new()
            }),
        ])
    });
    let widths = [
        Constraint::Min(7),
        Constraint::Length(6),
        Constraint::Length(6),
        Constraint::Length(6),
        Constraint::Length(6),
        Constraint::Length(6),
        Constraint::Length(6),
        Constraint::Length(4),
    ];
    frame.render_widget(
        Table::new(rows, widths)
            .header(header)
            .block(Block::bordered().title("Requests")),
        area,
    );
}

fn draw_thresholds(frame: &mut Frame, area: Rect, s: &Snapshot) {
    let lines: Vec<Line> = if s.thresholds.is_empty() {
        vec![Line::from("no thresholds")]
    } else {
        s.thresholds
            .iter()
            .map(|t| {
                let (mark, color) = match t.passing {
                    Some(true) => ("PASS", Color::Green),
                    Some(false) => ("FAIL", Color::Red),
                    None => (" -- ", Color::DarkGray),
                };
                let observed = t.observed.map_or(String::new(), |v| format!(" ({v:.3})"));
                Line::from(vec![
                    Span::styled(mark, bold().fg(color)),
                    Span::raw(format!(" {}{observed}", t.text)),
                ])
            })
            .collect()
    };
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: true })
            .block(Block::bordered().title("Thresholds")),
        area,
    );
}

fn draw_latency(frame: &mut Frame, area: Rect, s: &Snapshot) {
    let [top, bottom] =
        Layout::vertical([Constraint::Percentage(55), Constraint::Percentage(45)]).areas(area);
    let [hist, codes] =
        Layout::horizontal([Constraint::Percentage(65), Constraint::Percentage(35)]).areas(top);
    let bars: Vec<Bar> = s
        .histogram
        .iter()
        .map(|(b, n)| {
            let label = if b.is_finite() {
                format!("<{}", ms(*b).trim_end_matches("ms").trim_end_matches(".0"))
            } else {
                "more".to_owned()
            };
            Bar::default().value(*n).label(Line::from(label))
        })
        .collect();
    frame.render_widget(
        BarChart::default()
            .block(Block::bordered().title("Latency histogram, corrected (ms)"))
            .bar_width(4)
            .bar_gap(1)
            .data(BarGroup::default().bars(&bars)),
        hist,
    );
    let mut lines = vec![Line::styled("status", bold())];
    lines.extend(
        s.statuses
            .iter()
            .map(|(code, n)| Line::from(format!("{code}  {n}"))),
    );
    lines.push(Line::styled("errors", bold()));
    if s.error_kinds.is_empty() {
        lines.push(Line::from("none"));
    }
    for (kind, n) in &s.error_kinds {
        lines.push(Line::styled(
            format!("{kind}  {n}"),
            Style::new().fg(Color::Red),
        ));
        // Why: the first few messages of the kind, most frequent first.
        if let Some(reasons) = s.error_reasons.get(kind) {
            let mut reasons: Vec<(&String, &u64)> = reasons.iter().collect();
            reasons.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
            for (why, n) in reasons {
                lines.push(Line::from(format!("  {why}  {n}")));
            }
        }
    }
    frame.render_widget(
        Paragraph::new(lines).block(Block::bordered().title("Status codes and errors")),
        codes,
    );
    let header = Row::new(["request", "latency", "status", "trace id"]).style(bold());
    let rows = s.slowest.iter().map(|w| {
        Row::new(vec![
            w.name.clone(),
            ms(w.latency_ms),
            w.status
                .map(|c| c.to_string())
                .or_else(|| w.error.clone())
                .unwrap_or_default(),
            w.trace_id.clone(),
        ])
    });
    frame.render_widget(
        Table::new(
            rows,
            [
                Constraint::Min(10),
                Constraint::Length(8),
                Constraint::Length(8),
                Constraint::Length(32),
            ],
        )
        .header(header)
        .block(Block::bordered().title("Slowest requests")),
        bottom,
    );
}

fn draw_slo(frame: &mut Frame, area: Rect, p: &SloPanel) {
    let mut lines = Vec::new();
    let age = p
        .age_s
        .map_or("not yet".to_owned(), |a| format!("{a}s ago"));
    lines.push(Line::from(vec![
        Span::styled("source ", bold()),
        Span::raw(format!("{}  (refreshed {age})", p.source)),
    ]));
    if let Some(e) = &p.error {
        lines.push(Line::styled(
            format!("error: {e}"),
            Style::new().fg(Color::Red),
        ));
    }
    if let Some(h) = &p.hint {
        lines.push(Line::styled(h.clone(), Style::new().fg(Color::Yellow)));
    }
    if p.slos.is_empty() {
        lines.push(Line::from(
            "no SLOs (loadgen run --slo SPEC --prometheus URL)",
        ));
    }
    for s in &p.slos {
        lines.push(Line::from(""));
        let sli = match s.sli {
            Some(v) => pct(v),
            None if !s.inconclusive.is_empty() => "inconclusive".to_owned(),
            None => "no traffic".to_owned(),
        };
        let budget = s
            .budget_remaining
            .map_or("-".to_owned(), |b| format!("{:.1}%", b * 100.0));
        let met = s.sli.map(|v| v * 100.0 >= s.objective_pct);
        lines.push(Line::from(vec![
            Span::styled(s.name.clone(), bold()),
            Span::raw(format!(
                "  objective {}% over {}  SLI ",
                s.objective_pct, s.period
            )),
            Span::styled(
                sli,
                Style::new().fg(match met {
                    Some(true) => Color::Green,
                    Some(false) => Color::Red,
                    None => Color::DarkGray,
                }),
            ),
            Span::raw(format!("  budget left {budget}")),
        ]));
        if !s.burns.is_empty() {
            let burns: Vec<String> = s
                .burns
                .iter()
                .map(|(w, b)| format!("{w} {}", b.map_or("-".into(), |b| format!("{b:.2}"))))
                .collect();
            lines.push(Line::from(format!("  burn rate  {}", burns.join("  "))));
        }
        for a in &s.alerts {
            lines.push(Line::from(vec![
                Span::raw(format!(
                    "  {:<6} > {:>4}x over {} and {}: ",
                    a.severity, a.factor, a.long, a.short
                )),
                if a.firing {
                    Span::styled("WOULD FIRE", bold().fg(Color::Red))
                } else if a.inconclusive {
                    Span::styled("INCONCLUSIVE", bold().fg(Color::Yellow))
                } else {
                    Span::styled("ok", Style::new().fg(Color::Green))
                },
            ]));
        }
        for m in &s.inconclusive {
            lines.push(Line::styled(
                format!("  INCONCLUSIVE: {m}"),
                Style::new().fg(Color::Yellow),
            ));
        }
    }
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(Block::bordered().title("SLOs: SLI, error budget, burn rates")),
        area,
    );
}

fn draw_help(frame: &mut Frame, area: Rect) {
    let w = area.width.min(46);
    let h = area.height.min(12);
    let r = Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    );
    let text = vec![
        Line::from("q, Esc, Ctrl-C  stop (reports are written)"),
        Line::from("p               pause / resume the load"),
        Line::from("+ / -           arrival rate x1.1 / /1.1"),
        Line::from("                (open model)"),
        Line::from("Tab             next view"),
        Line::from("?               this help"),
        Line::from(""),
        Line::from("Latency is corrected for coordinated"),
        Line::from("omission (from each intended start)."),
    ];
    frame.render_widget(Clear, r);
    frame.render_widget(
        Paragraph::new(text).block(Block::bordered().title("Keys")),
        r,
    );
}
