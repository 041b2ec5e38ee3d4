//! Drawing: pure functions of a [`Snapshot`], the SLO panel and the view's
//! own state onto a ratatui frame (snapshot-tested on a TestBackend).

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style};
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{
    Axis, Block, Cell, Chart, Clear, Dataset, GraphType, Paragraph, Row, Table, Tabs, Wrap,
};

pub use super::state::{UiState, View};
pub use super::text::fit;
use super::text::{bold, ms, source_line};
use crate::live::Snapshot;

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

/// Characters of `text`, for laying out lines.
fn chars(text: &str) -> usize {
    text.chars().count()
}

fn pct(v: f64) -> String {
    format!("{:.3}%", v * 100.0)
}

/// Draws the whole screen.
pub fn draw(
    frame: &mut Frame,
    snap: &Snapshot,
    slo: &SloPanel,
    traces: &super::traces::TracesPanel,
    ui: &UiState,
) {
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
        View::Slo => draw_slo(frame, body, slo, snap.clock.elapsed),
        View::Traces => super::traces::draw(frame, body, traces, ui),
    }
    let keys = if ui.help {
        "Esc close  q quit  p pause  +/- rate  Tab view"
    } else if ui.view == View::Traces {
        "q quit  p pause  Up/Down pick  Enter open/close  Tab view  ? help"
    } else {
        "q quit  p pause  +/- rate  Tab view  ? help"
    };
    let text = match &ui.note {
        Some(n) => format!("{keys}  | {n}"),
        None => keys.to_owned(),
    };
    frame.render_widget(
        Paragraph::new(fit(&text, usize::from(footer.width)))
            .style(Style::new().fg(Color::DarkGray)),
        footer,
    );
    if ui.help {
        draw_help(frame, area);
    }
}

fn draw_header(frame: &mut Frame, area: Rect, s: &Snapshot) {
    let c = &s.clock;
    let width = usize::from(area.width);
    // With a request budget the run ends at whichever comes first; a
    // schedule that is only the run's ceiling (a budget alone) is not shown.
    let left = secs(c.duration.saturating_sub(c.elapsed));
    let remaining = match c.budget {
        Some(n) => {
            let requests = format!("{} of {n} requests", n.saturating_sub(s.requests));
            if c.duration >= crate::scenario::limits::MAX_RUN {
                requests
            } else {
                format!("{left} or {requests}")
            }
        }
        None => left,
    };
    let stage = c
        .stage
        .map_or("-".to_owned(), |(i, n)| format!("{}/{}", i + 1, n));
    // The open model's rate counts iterations (each may send several
    // requests); requests are counted apart, in the last second.
    let per_s = c.iterations as f64 / c.elapsed.as_secs_f64().max(1.0);
    let load = match (c.target_rate, c.target_users) {
        (Some(r), _) => format!("{r:.1} iterations/s target, {per_s:.1} avg"),
        (None, Some(u)) => format!("{u:.0} users target, {per_s:.1} iterations/s avg"),
        _ => format!("{per_s:.1} iterations/s avg"),
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
    // The scenario's name and the target share the first line with the
    // state marks; each keeps at least a third of it.
    let marks: usize = state.iter().map(|s| chars(&s.content)).sum();
    let room = width.saturating_sub(marks + 6);
    let name = fit(
        &s.scenario,
        room.saturating_sub(chars(&s.target).min(room * 2 / 3)),
    );
    let target = fit(&s.target, room.saturating_sub(chars(&name)));
    let line1 = Line::from(
        [
            vec![
                Span::styled(name, bold()),
                Span::raw(format!(" -> {target}  ")),
            ],
            state,
        ]
        .concat(),
    );
    let line2 = Line::from(fit(
        &format!(
            "elapsed {}  remaining {}  stage {stage}  users {}/{} active  dropped {}",
            secs(c.elapsed),
            remaining,
            c.in_flight,
            c.pool,
            c.dropped
        ),
        width,
    ));
    let line3 = Line::from(fit(
        &format!(
            "requests {}  errors {}  {:.0} requests/s  {load}",
            s.requests, s.errors, s.achieved_rps
        ),
        width,
    ));
    frame.render_widget(
        Paragraph::new(vec![line1, line2, line3]).block(Block::new()),
        area,
    );
}

fn draw_overview(frame: &mut Frame, area: Rect, s: &Snapshot) {
    let (charts, names, thresholds) = if area.width >= 120 {
        let [charts, tables] =
            Layout::vertical([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(area);
        let [names, thresholds] =
            Layout::horizontal([Constraint::Percentage(60), Constraint::Percentage(40)])
                .areas(tables);
        (charts, names, thresholds)
    } else {
        // Narrow: the tables take the whole width, one above the other, each
        // as tall as its rows (the charts keep at least 7 lines).
        let room = area.height.saturating_sub(7);
        let want_names = u16::try_from(s.names.len().saturating_add(3)).unwrap_or(u16::MAX);
        // The checks, when there are any, sit beside the thresholds.
        let want_thresholds = u16::try_from(
            s.thresholds
                .len()
                .max(s.checks.len())
                .max(1)
                .saturating_add(2),
        )
        .unwrap_or(u16::MAX);
        let thresholds_h = want_thresholds.min(room / 2).max(3.min(room));
        let names_h = want_names.min(room.saturating_sub(thresholds_h));
        let [charts, names, thresholds] = Layout::vertical([
            Constraint::Min(0),
            Constraint::Length(names_h),
            Constraint::Length(thresholds_h),
        ])
        .areas(area);
        (charts, names, thresholds)
    };
    let [left, right] =
        Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(charts);
    draw_throughput(frame, left, s);
    draw_latency_chart(frame, right, s);
    draw_names(frame, names, s);
    if s.checks.is_empty() {
        draw_thresholds(frame, thresholds, s);
        return;
    }
    let [thresholds, checks] = if area.width >= 120 {
        Layout::vertical([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(thresholds)
    } else {
        Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)])
            .areas(thresholds)
    };
    draw_thresholds(frame, thresholds, s);
    super::checks::draw_checks(frame, checks, s);
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
    const FIXED: [u16; 7] = [7, 6, 5, 5, 5, 5, 5];
    // The name takes what the numbers leave (one space between columns).
    let fixed: u16 = FIXED.iter().sum::<u16>() + 7;
    let name_w = area.width.saturating_sub(2 + fixed).max(4);
    let header = Row::new([
        "request", "count", "req/s", "p50", "p95", "p99", "max", "err",
    ])
    .style(bold());
    let rows = s.names.iter().map(|n| {
        Row::new(vec![
            Cell::from(fit(&n.name, usize::from(name_w))),
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
    let mut widths = vec![Constraint::Length(name_w)];
    widths.extend(FIXED.iter().map(|w| Constraint::Length(*w)));
    frame.render_widget(
        Table::new(rows, widths)
            .header(header)
            .block(Block::bordered().title("Requests")),
        area,
    );
}

/// A threshold as one line of at most `width` characters:
/// `PASS p(95) 212 ms < 300 ms`, the request name (and a checks
/// threshold's check) then the rest cut to fit.
pub fn threshold_line(t: &crate::live::ThresholdRow, width: usize) -> Line<'static> {
    let (mark, color) = match t.passing {
        Some(true) => ("PASS", Color::Green),
        Some(false) => ("FAIL", Color::Red),
        None => (" -- ", Color::DarkGray),
    };
    let rest = match &t.value {
        Some(v) => format!(" {v} {} {}", t.op, t.limit),
        None => format!(" {} {} (no data yet)", t.op, t.limit),
    };
    let mut label = t.metric.clone();
    if let Some(r) = common::report::scope(t.request.as_deref(), t.check.as_deref()) {
        let room = width.saturating_sub(5 + chars(&label) + chars(&rest) + 3);
        label = format!("{label} [{}]", fit(&r, room.max(4)));
    }
    let text = fit(&format!("{label}{rest}"), width.saturating_sub(5));
    Line::from(vec![
        Span::styled(mark, bold().fg(color)),
        Span::raw(format!(" {text}")),
    ])
}

fn draw_thresholds(frame: &mut Frame, area: Rect, s: &Snapshot) {
    let width = usize::from(area.width.saturating_sub(2));
    let lines: Vec<Line> = if s.thresholds.is_empty() {
        vec![Line::from("no thresholds")]
    } else {
        s.thresholds
            .iter()
            .map(|t| threshold_line(t, width))
            .collect()
    };
    frame.render_widget(
        Paragraph::new(lines).block(Block::bordered().title("Thresholds")),
        area,
    );
}

/// The histogram's buckets shown in `columns` columns: the empty buckets
/// at either end left out, then the neighbouring pair with the fewest
/// requests merged until each bucket has [`BUCKET_COLUMNS`] columns. A
/// bucket is (upper bound in ms, requests); merging keeps the upper one.
pub fn fit_buckets(histogram: &[(f64, u64)], columns: usize) -> Vec<(f64, u64)> {
    let first = histogram.iter().position(|b| b.1 > 0).unwrap_or(0);
    let last = histogram
        .iter()
        .rposition(|b| b.1 > 0)
        .unwrap_or(histogram.len().saturating_sub(1));
    let mut b: Vec<(f64, u64)> = histogram.get(first..=last).unwrap_or_default().to_vec();
    let max = (columns / BUCKET_COLUMNS).max(1);
    while b.len() > max {
        let Some(i) = (0..b.len() - 1).min_by_key(|&i| b[i].1.saturating_add(b[i + 1].1)) else {
            break;
        };
        let n = b[i].1.saturating_add(b[i + 1].1);
        b[i + 1].1 = n;
        b.remove(i);
    }
    b
}

/// Columns a histogram bucket needs at least: a label of 4 characters and a gap.
pub const BUCKET_COLUMNS: usize = 5;

/// A bucket's upper bound as its label, in ms like the title.
fn bucket_label(bound: f64) -> String {
    if bound.is_finite() {
        format!("{bound:.0}")
    } else {
        "+Inf".to_owned()
    }
}

/// A count in at most 4 characters: 1500, 12k, 1.2M, 45M, 3.1G.
pub fn short_count(n: u64) -> String {
    let f = n as f64;
    if n < 10_000 {
        n.to_string()
    } else if f < 999_500.0 {
        format!("{:.0}k", f / 1e3)
    } else if f < 9_950_000.0 {
        format!("{:.1}M", f / 1e6)
    } else if f < 999_500_000.0 {
        format!("{:.0}M", f / 1e6)
    } else if f < 9_950_000_000.0 {
        format!("{:.1}G", f / 1e9)
    } else {
        format!("{:.0}G", (f / 1e9).min(999.0))
    }
}

/// Draws the latency histogram: one bar per bucket, its count on the line
/// above the bar (never on it), its upper bound in ms under it.
fn draw_histogram(frame: &mut Frame, area: Rect, histogram: &[(f64, u64)]) {
    let title = if area.width >= 48 {
        "Latency histogram, corrected (upper bound, ms)"
    } else {
        "Latency, corrected (upper bound, ms)"
    };
    let block = Block::bordered().title(fit(title, usize::from(area.width.saturating_sub(2))));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if histogram.iter().all(|b| b.1 == 0) {
        frame.render_widget(Paragraph::new("no requests yet"), inner);
        return;
    }
    if inner.height < 3 || usize::from(inner.width) < BUCKET_COLUMNS {
        return;
    }
    let buckets = fit_buckets(histogram, usize::from(inner.width));
    let column = (usize::from(inner.width) / buckets.len().max(1)).max(BUCKET_COLUMNS);
    let bar_w = (column - 1).min(8);
    // Rows: the bars, the line above the tallest for its count, the labels.
    let bar_rows = usize::from(inner.height) - 2;
    let top = buckets.iter().map(|b| b.1).max().unwrap_or(1).max(1);
    const PARTS: [&str; 8] = [" ", "▁", "▂", "▃", "▄", "▅", "▆", "▇"];
    let label_y = inner.y + inner.height - 1;
    let buf = frame.buffer_mut();
    for (i, &(bound, n)) in buckets.iter().enumerate() {
        let Some(x) = u16::try_from(i * column)
            .ok()
            .and_then(|dx| inner.x.checked_add(dx))
        else {
            break;
        };
        let w = u16::try_from(bar_w).unwrap_or(1);
        // Height in eighths of a line; a bucket with requests shows at least one.
        let eighths = ((n as f64 / top as f64) * (bar_rows * 8) as f64).round() as usize;
        let eighths = if n > 0 { eighths.max(1) } else { 0 };
        let full = eighths / 8;
        let cells = eighths.div_ceil(8);
        for k in 0..cells {
            let y = label_y - 1 - u16::try_from(k).unwrap_or(0);
            let glyph = if k < full { "█" } else { PARTS[eighths % 8] };
            for dx in 0..w {
                buf[(x + dx, y)].set_symbol(glyph);
            }
        }
        let count_y = label_y - 1 - u16::try_from(cells).unwrap_or(0);
        let count = fit(&short_count(n), bar_w);
        let pad = (bar_w - chars(&count)) / 2;
        buf.set_string(
            x + u16::try_from(pad).unwrap_or(0),
            count_y,
            count,
            Style::new(),
        );
        let label = fit(&bucket_label(bound), bar_w);
        let pad = (bar_w - chars(&label)) / 2;
        buf.set_string(
            x + u16::try_from(pad).unwrap_or(0),
            label_y,
            label,
            Style::new().fg(Color::DarkGray),
        );
    }
}

fn draw_latency(frame: &mut Frame, area: Rect, s: &Snapshot) {
    let [top, bottom] =
        Layout::vertical([Constraint::Percentage(55), Constraint::Percentage(45)]).areas(area);
    let [hist, codes] =
        Layout::horizontal([Constraint::Percentage(65), Constraint::Percentage(35)]).areas(top);
    draw_histogram(frame, hist, &s.histogram);
    let codes_w = usize::from(codes.width.saturating_sub(2));
    let mut lines = vec![Line::styled("status", bold())];
    lines.extend(
        s.statuses
            .iter()
            .map(|(code, n)| Line::from(fit(&format!("{code}  {n}"), codes_w))),
    );
    lines.push(Line::styled("errors", bold()));
    if s.error_kinds.is_empty() {
        lines.push(Line::from("none"));
    }
    for (kind, n) in &s.error_kinds {
        lines.push(Line::styled(
            fit(&format!("{kind}  {n}"), codes_w),
            Style::new().fg(Color::Red),
        ));
        // Why: the first few messages of the kind, most frequent first.
        if let Some(reasons) = s.error_reasons.get(kind) {
            let mut reasons: Vec<(&String, &u64)> = reasons.iter().collect();
            reasons.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
            for (why, n) in reasons {
                // The count stays in sight; the message is cut to fit.
                let count = format!("  {n}");
                let why = fit(why, codes_w.saturating_sub(2 + chars(&count)));
                lines.push(Line::from(format!("  {why}{count}")));
            }
        }
    }
    frame.render_widget(
        Paragraph::new(lines).block(Block::bordered().title("Status codes and errors")),
        codes,
    );
    let header = Row::new(["request", "latency", "status", "trace id"]).style(bold());
    let name_w = bottom.width.saturating_sub(2 + 8 + 8 + 32 + 3).max(4);
    let rows = s.slowest.iter().map(|w| {
        Row::new(vec![
            fit(&w.name, usize::from(name_w)),
            ms(w.latency_ms),
            fit(
                &w.status
                    .map(|c| c.to_string())
                    .or_else(|| w.error.clone())
                    .unwrap_or_default(),
                8,
            ),
            w.trace_id.clone(),
        ])
    });
    frame.render_widget(
        Table::new(
            rows,
            [
                Constraint::Length(name_w),
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

/// How much of a window of `window` this run's `elapsed` time fills.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Held {
    /// The window holds its whole length of the run (or it is no length).
    Full,
    /// Part of it, at least a twelfth (a long window's short one): shown, marked.
    Partial,
    /// Less than a twelfth: too little to show a rate for.
    TooLittle,
}

/// How much data a window of length `window` (PromQL text: `5m`, `1h`,
/// `3d`) holds after `elapsed` of the run: `None` when it is no duration
/// (the client side's "run").
pub fn held(window: &str, elapsed: std::time::Duration) -> Option<Held> {
    let w = humantime::parse_duration(window).ok()?;
    Some(if elapsed >= w {
        Held::Full
    } else if elapsed.saturating_mul(12) >= w {
        Held::Partial
    } else {
        Held::TooLittle
    })
}

/// A run's length as the SLO panel writes it beside a window: `8s`, `10m`,
/// `10m5s`, `2h`, `2h5m`.
fn span(d: std::time::Duration) -> String {
    let s = d.as_secs();
    match (s / 3600, s / 60 % 60, s % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, 0) => format!("{m}m"),
        (0, m, s) => format!("{m}m{s}s"),
        (h, 0, _) => format!("{h}h"),
        (h, m, _) => format!("{h}h{m}m"),
    }
}

/// `8s of 1h` for a window that holds less than its length.
fn of_window(elapsed: std::time::Duration, window: &str) -> String {
    format!("{} of {window}", span(elapsed))
}

fn draw_slo(frame: &mut Frame, area: Rect, p: &SloPanel, elapsed: std::time::Duration) {
    let width = usize::from(area.width.saturating_sub(2));
    let mut lines = vec![source_line(&p.source, p.age_s, width)];
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
        let rest = format!("  objective {}% over {}  SLI ", s.objective_pct, s.period);
        let tail = format!("  budget left {budget}");
        let name_w = width
            .saturating_sub(chars(&rest) + chars(&sli) + chars(&tail))
            .max(12);
        lines.push(Line::from(vec![
            Span::styled(fit(&s.name, name_w), bold()),
            Span::raw(rest),
            Span::styled(
                sli,
                Style::new().fg(match met {
                    Some(true) => Color::Green,
                    Some(false) => Color::Red,
                    None => Color::DarkGray,
                }),
            ),
            Span::raw(tail),
        ]));
        if let Some(Held::Partial | Held::TooLittle) = held(&s.period, elapsed) {
            lines.push(Line::styled(
                format!(
                    "  SLI and budget from {} (this run so far)",
                    of_window(elapsed, &s.period)
                ),
                Style::new().fg(Color::DarkGray),
            ));
        }
        if !s.burns.is_empty() {
            let mut shown = Vec::new();
            let mut too_little = Vec::new();
            for (w, b) in &s.burns {
                let rate = b.map_or("-".into(), |b| format!("{b:.2}"));
                match held(w, elapsed) {
                    Some(Held::TooLittle) => too_little.push(w.as_str()),
                    Some(Held::Partial) => {
                        shown.push(format!("{w} {rate} ({})", of_window(elapsed, w)));
                    }
                    Some(Held::Full) | None => shown.push(format!("{w} {rate}")),
                }
            }
            if !shown.is_empty() {
                lines.push(Line::from(format!("  burn rate  {}", shown.join("  "))));
            }
            if !too_little.is_empty() {
                lines.push(Line::styled(
                    format!(
                        "  burn rate  too little data ({}) for {}",
                        span(elapsed),
                        too_little.join(" ")
                    ),
                    Style::new().fg(Color::DarkGray),
                ));
            }
        }
        for a in &s.alerts {
            let rule = format!(
                "  {:<6} > {:>4}x over {} and {}: ",
                a.severity, a.factor, a.long, a.short
            );
            let long = held(&a.long, elapsed);
            let verdict = if matches!(long, Some(Held::TooLittle)) {
                Span::styled(
                    format!("too little data ({})", of_window(elapsed, &a.long)),
                    Style::new().fg(Color::DarkGray),
                )
            } else if a.firing {
                Span::styled("WOULD FIRE", bold().fg(Color::Red))
            } else if a.inconclusive {
                Span::styled("INCONCLUSIVE", bold().fg(Color::Yellow))
            } else {
                Span::styled("ok", Style::new().fg(Color::Green))
            };
            let mut spans = vec![Span::raw(rule), verdict];
            if matches!(long, Some(Held::Partial)) {
                spans.push(Span::raw(format!(" ({})", of_window(elapsed, &a.long))));
            }
            lines.push(Line::from(spans));
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
    let h = area.height.min(15);
    let r = Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    );
    let text = vec![
        Line::from("q, Ctrl-C       stop (reports are written)"),
        Line::from("Esc             close this help"),
        Line::from("p               pause / resume the load"),
        Line::from("+ / -           arrival rate x1.1 / /1.1"),
        Line::from("                (open model)"),
        Line::from("Tab             next view"),
        Line::from("Up/Down, Enter  slowest requests: pick,"),
        Line::from("                open the span tree"),
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn fit_cuts_with_an_ellipsis() {
        assert_eq!(fit("create order", 12), "create order");
        assert_eq!(fit("create order", 7), "create…");
        assert_eq!(fit("create order", 1), "…");
        assert_eq!(fit("create order", 0), "");
    }

    #[test]
    fn buckets_merge_where_they_do_not_fit() {
        let h = [
            (1.0, 0),
            (2.0, 5),
            (5.0, 1),
            (10.0, 100),
            (20.0, 2),
            (f64::INFINITY, 0),
        ];
        // Empty ends left out; room for all four.
        assert_eq!(
            fit_buckets(&h, 20),
            vec![(2.0, 5), (5.0, 1), (10.0, 100), (20.0, 2)]
        );
        // Room for three: the sparsest neighbours (5 + 1) merge, upper bound kept.
        assert_eq!(fit_buckets(&h, 15), vec![(5.0, 6), (10.0, 100), (20.0, 2)]);
        assert_eq!(fit_buckets(&h, 3), vec![(20.0, 108)]);
        assert_eq!(
            fit_buckets(&h, 15).iter().map(|b| b.1).sum::<u64>(),
            108,
            "merging keeps every request"
        );
    }

    #[test]
    fn counts_fit_in_four_characters() {
        for (n, want) in [
            (0, "0"),
            (9999, "9999"),
            (10_000, "10k"),
            (999_499, "999k"),
            (999_500, "1.0M"),
            (12_345_678, "12M"),
            (3_100_000_000, "3.1G"),
            (u64::MAX, "999G"),
        ] {
            assert_eq!(short_count(n), want, "{n}");
        }
    }

    #[test]
    fn windows_hold_the_run_so_far() {
        let s = Duration::from_secs;
        assert_eq!(held("5m", s(8)), Some(Held::TooLittle));
        assert_eq!(held("5m", s(25)), Some(Held::Partial));
        assert_eq!(held("5m", s(300)), Some(Held::Full));
        assert_eq!(held("1h", s(299)), Some(Held::TooLittle));
        assert_eq!(held("1h", s(300)), Some(Held::Partial));
        assert_eq!(held("3d", s(8)), Some(Held::TooLittle));
        assert_eq!(held("run", s(8)), None);
        assert_eq!(span(s(8)), "8s");
        assert_eq!(span(s(600)), "10m");
        assert_eq!(span(s(605)), "10m5s");
        assert_eq!(span(s(7200)), "2h");
        assert_eq!(span(s(7500)), "2h5m");
    }
}
