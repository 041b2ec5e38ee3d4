//! The "where the time goes" view: for each request name, the server span
//! names that the slow requests spend their time in (the same analysis as
//! the report's `bottlenecks`, [`crate::bottleneck`]), and the slowest
//! requests, each expandable into its span tree.
//!
//! The panel is built from the run's kept requests ([`crate::traced`], in
//! each live snapshot) and the spans the trace sink holds, by a task off
//! the drawing thread every few seconds ([`build_panel`] is the pure part);
//! the view only draws the latest panel.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Paragraph};

use super::state::UiState;
use super::text::{bold, fit, ms, source_line};
use crate::bottleneck::{self, Breakdown, TreeLine};
use crate::traced::Chosen;

/// Slowest requests listed.
pub const SLOWEST: usize = 10;

/// One of the slowest requests, with its spans when they have arrived.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SlowTrace {
    pub request: String,
    pub latency_ms: f64,
    pub trace_id: u128,
    /// Empty until (unless) its spans arrive.
    pub tree: Vec<TreeLine>,
}

/// What the view shows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TracesPanel {
    /// Where the spans come from ("trace sink 127.0.0.1:4318").
    pub source: String,
    /// Shown when there is nothing live to show, and how to get it.
    pub hint: Option<String>,
    /// Spans the sink received, and of them those of this run's traces.
    pub received_spans: u64,
    pub kept_spans: u64,
    pub breakdowns: Vec<Breakdown>,
    /// The slowest requests of all names, slowest first.
    pub slowest: Vec<SlowTrace>,
    /// Seconds since the panel was built.
    pub age_s: Option<u64>,
}

/// The panel, kept fresh by a background task.
#[derive(Debug, Default)]
pub struct TracesState {
    panel: Mutex<(TracesPanel, Option<Instant>)>,
}

impl TracesState {
    /// A panel with only a hint: no spans come during this run.
    pub fn hint(source: &str, hint: &str) -> Self {
        Self {
            panel: Mutex::new((
                TracesPanel {
                    source: source.to_owned(),
                    hint: Some(hint.to_owned()),
                    ..TracesPanel::default()
                },
                None,
            )),
        }
    }

    pub fn set(&self, panel: TracesPanel) {
        let mut g = self.panel.lock().unwrap_or_else(|e| e.into_inner());
        *g = (panel, Some(Instant::now()));
    }

    /// The panel as of now.
    pub fn panel(&self) -> TracesPanel {
        let g = self.panel.lock().unwrap_or_else(|e| e.into_inner());
        let mut p = g.0.clone();
        p.age_s = g.1.map(|t| t.elapsed().as_secs());
        p
    }
}

/// The panel of `chosen` (the run's kept requests) against the spans held
/// now, by trace id.
pub fn build_panel(
    source: &str,
    chosen: &[Chosen],
    spans: &HashMap<u128, Vec<bottleneck::Span>>,
    (received_spans, kept_spans): (u64, u64),
) -> TracesPanel {
    let breakdowns = chosen
        .iter()
        .map(|c| {
            bottleneck::analyse(
                &c.name,
                &c.slow,
                &c.typical,
                &c.sample,
                spans,
                bottleneck::Options::default(),
            )
        })
        .collect();
    let mut slowest: Vec<(&str, bottleneck::Traced)> = chosen
        .iter()
        .flat_map(|c| c.slow.iter().map(move |t| (c.name.as_str(), *t)))
        .collect();
    slowest.sort_by(|a, b| {
        b.1.latency
            .cmp(&a.1.latency)
            .then(a.1.trace_id.cmp(&b.1.trace_id))
    });
    slowest.truncate(SLOWEST);
    TracesPanel {
        source: source.to_owned(),
        hint: None,
        received_spans,
        kept_spans,
        breakdowns,
        slowest: slowest
            .into_iter()
            .map(|(name, t)| SlowTrace {
                request: name.to_owned(),
                latency_ms: t.latency.as_secs_f64() * 1e3,
                trace_id: t.trace_id,
                tree: spans
                    .get(&t.trace_id)
                    .map(|s| bottleneck::span_tree(s))
                    .unwrap_or_default(),
            })
            .collect(),
        age_s: None,
    }
}

fn dim() -> Style {
    Style::new().fg(Color::DarkGray)
}

/// The breakdown lines: per request name, its spans by share of the slow
/// requests' time, the bottleneck marked, then the separating attributes.
pub fn breakdown_lines(p: &TracesPanel, width: usize) -> Vec<Line<'static>> {
    let source = format!(
        "{}  {} spans received, {} of this run's traces",
        p.source, p.received_spans, p.kept_spans
    );
    let mut lines = vec![source_line(&source, p.age_s, width)];
    if let Some(h) = &p.hint {
        lines.push(Line::styled(fit(h, width), Style::new().fg(Color::Yellow)));
        return lines;
    }
    if p.breakdowns.is_empty() {
        lines.push(Line::from("no requests yet"));
    }
    let name_w = width.saturating_sub(42).clamp(12, 48);
    for b in &p.breakdowns {
        let missing = if b.slow_missing > 0 {
            format!(", {} without a trace", b.slow_missing)
        } else {
            String::new()
        };
        let head = format!(
            "{}: {} slow (p99 and up){missing}, {} typical (p40-p60)",
            b.request, b.slow, b.typical
        );
        lines.push(Line::from(""));
        lines.push(Line::styled(fit(&head, width), bold()));
        if b.lines.is_empty() {
            lines.push(Line::styled("  no spans for these requests yet", dim()));
            continue;
        }
        lines.push(Line::styled(
            format!(
                "  {:<name_w$} {:>9} {:>9} {:>9} {:>6}",
                "span (self time)", "typical", "slow", "slow p99", "share"
            ),
            dim(),
        ));
        for l in &b.lines {
            let mark = b.bottleneck.as_deref() == Some(l.span.as_str());
            let text = format!(
                "{} {:<name_w$} {:>9} {:>9} {:>9} {:>5.0}%",
                if mark { ">" } else { " " },
                fit(&l.span, name_w),
                ms(l.typical_ms),
                ms(l.slow_ms),
                ms(l.slow_p99_ms),
                l.share * 100.0
            );
            lines.push(if mark {
                Line::styled(text, bold().fg(Color::Yellow))
            } else {
                Line::from(text)
            });
        }
        for s in &b.separators {
            lines.push(Line::from(fit(
                &format!(
                    "  slow requests have {}={} on {}: {:.0}% of slow, {:.0}% of all",
                    s.key,
                    s.value,
                    s.span,
                    s.slow * 100.0,
                    s.all * 100.0
                ),
                width,
            )));
        }
    }
    lines
}

/// Most lines of one opened span tree; the rest is counted on a line.
pub const MAX_TREE_LINES: usize = 200;

/// The slowest requests' lines, the expanded ones with their span trees,
/// and the index of the selected request's line and of the line after its
/// tree.
pub fn slowest_lines(
    p: &TracesPanel,
    ui: &UiState,
    width: usize,
) -> (Vec<Line<'static>>, usize, usize) {
    let mut lines = Vec::new();
    let (mut at, mut end) = (0, 0);
    if p.slowest.is_empty() {
        lines.push(Line::styled("no slow requests yet", dim()));
    }
    // Room first for the latency, the whole trace id and the span count.
    let name_w = width.saturating_sub(59).clamp(8, 40);
    for (i, t) in p.slowest.iter().enumerate() {
        let open = ui.expanded.contains(&t.trace_id);
        let selected = i == ui.selected;
        if selected {
            at = lines.len();
        }
        let spans = if t.tree.is_empty() {
            "no spans yet".to_owned()
        } else {
            format!("{} spans", t.tree.len())
        };
        let text = format!(
            "{} {:<name_w$} {:>8}  {:032x}  {spans}",
            if open { "v" } else { ">" },
            fit(&t.request, name_w),
            ms(t.latency_ms),
            t.trace_id
        );
        let style = if selected {
            bold().fg(Color::Black).bg(Color::Cyan)
        } else {
            Style::new()
        };
        lines.push(Line::styled(fit(&text, width), style));
        if open {
            for l in t.tree.iter().take(MAX_TREE_LINES) {
                let attrs: Vec<String> = l
                    .attributes
                    .iter()
                    .filter(|(k, _)| !k.starts_with("http.") && !k.starts_with("url."))
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect();
                let indent = "  ".repeat(l.depth + 1);
                let text = format!(
                    "{indent}{}  {} (self {}) at +{}  {}",
                    l.name,
                    ms(l.duration_ms),
                    ms(l.self_ms),
                    ms(l.offset_ms),
                    attrs.join(" ")
                );
                lines.push(Line::from(fit(text.trim_end(), width)));
            }
            if t.tree.len() > MAX_TREE_LINES {
                lines.push(Line::styled(
                    format!("  ... {} more spans", t.tree.len() - MAX_TREE_LINES),
                    dim(),
                ));
            }
        }
        if selected {
            end = lines.len();
        }
    }
    (lines, at, end)
}

/// Draws the view into `area`.
pub fn draw(frame: &mut Frame, area: Rect, p: &TracesPanel, ui: &UiState) {
    let [top, bottom] =
        Layout::vertical([Constraint::Percentage(55), Constraint::Percentage(45)]).areas(area);
    let width = usize::from(top.width.saturating_sub(2));
    // The selected request's name first: its breakdown is the one in sight.
    let mut shown = p.clone();
    if let Some(name) = p.slowest.get(ui.selected).map(|t| t.request.as_str()) {
        shown.breakdowns.sort_by_key(|b| b.request != name);
    }
    frame.render_widget(
        Paragraph::new(breakdown_lines(&shown, width))
            .block(Block::bordered().title("Where the time goes (> bottleneck)")),
        top,
    );
    let width = usize::from(bottom.width.saturating_sub(2));
    let (lines, at, end) = slowest_lines(p, ui, width);
    // Scrolled so that the selected request and as much of its tree as
    // fits are on screen.
    let height = usize::from(bottom.height.saturating_sub(2)).max(1);
    let skip = end.saturating_sub(height).min(at);
    frame.render_widget(
        Paragraph::new(lines.into_iter().skip(skip).collect::<Vec<_>>()).block(
            Block::bordered().title("Slowest requests (Up/Down select, Enter opens its spans)"),
        ),
        bottom,
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bottleneck::Traced;
    use std::time::Duration;

    fn span(
        trace: u128,
        id: u64,
        parent: u64,
        name: &str,
        start: u64,
        end: u64,
    ) -> bottleneck::Span {
        bottleneck::Span {
            trace_id: trace,
            span_id: id,
            parent,
            name: name.into(),
            start_ns: start * 1_000_000,
            end_ns: end * 1_000_000,
            attributes: vec![("app.step".into(), name.into())],
        }
    }

    #[test]
    fn the_panel_lists_the_slowest_with_their_trees() {
        let t = |id: u128, ms: u64| Traced {
            trace_id: id,
            latency: Duration::from_millis(ms),
        };
        let chosen = vec![
            Chosen {
                name: "a".into(),
                slow: vec![t(1, 300), t(2, 250)],
                typical: vec![t(3, 20)],
                sample: vec![t(1, 300), t(3, 20)],
            },
            Chosen {
                name: "b".into(),
                slow: (10..30).map(|i| t(i, 100 + i as u64)).collect(),
                typical: vec![],
                sample: vec![],
            },
        ];
        let mut spans = HashMap::new();
        spans.insert(
            1,
            vec![span(1, 1, 0, "root", 0, 290), span(1, 2, 1, "db", 10, 280)],
        );
        spans.insert(3, vec![span(3, 1, 0, "root", 0, 18)]);
        let p = build_panel("trace sink", &chosen, &spans, (5, 3));
        assert_eq!(p.breakdowns.len(), 2);
        assert_eq!(p.breakdowns[0].bottleneck.as_deref(), Some("db"));
        assert_eq!(p.slowest.len(), SLOWEST);
        assert_eq!(p.slowest[0].trace_id, 1);
        assert_eq!(p.slowest[0].tree.len(), 2);
        assert!(p.slowest[1].tree.is_empty(), "no spans for trace 2");
        assert_eq!(p.slowest[2].request, "b");
        assert!(
            p.slowest
                .windows(2)
                .all(|w| w[0].latency_ms >= w[1].latency_ms)
        );

        // Collapsed: one line per request; expanded: its tree under it.
        let mut ui = UiState::default();
        let (lines, at, end) = slowest_lines(&p, &ui, 120);
        assert_eq!((lines.len(), at, end), (SLOWEST, 0, 1));
        ui.expanded.insert(1);
        ui.selected = 1;
        let (lines, at, end) = slowest_lines(&p, &ui, 120);
        assert_eq!((lines.len(), at, end), (SLOWEST + 2, 3, 4));
        let text: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
        assert!(
            text[2].starts_with("    db  270ms (self 270ms) at +10ms  app.step=db"),
            "{text:?}"
        );
        let head: Vec<String> = breakdown_lines(&p, 120)
            .iter()
            .map(|l| l.to_string())
            .collect();
        assert!(head.iter().any(|l| l.starts_with("> db")), "{head:#?}");
        assert!(
            head.iter().any(|l| l.contains("1 without a trace")),
            "{head:#?}"
        );
    }

    #[test]
    fn a_hint_replaces_the_breakdown() {
        let s = TracesState::hint("none", "add --trace-sink");
        let p = s.panel();
        assert_eq!(p.age_s, None);
        let lines: Vec<String> = breakdown_lines(&p, 80)
            .iter()
            .map(|l| l.to_string())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[1], "add --trace-sink");
        s.set(TracesPanel::default());
        assert_eq!(s.panel().age_s, Some(0));
    }
}
