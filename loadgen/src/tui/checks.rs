//! The checks block of the overview: each check with its request and the
//! share of its evaluations that passed, failing ones in red.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};

use crate::live::Snapshot;
use common::report::CheckResult;

/// `text` in at most `width` characters, cut with an ellipsis (the shared
/// shortening rule, as the other blocks of the view cut).
fn fit(text: &str, width: usize) -> String {
    if text.chars().nth(width).is_none() {
        text.to_owned()
    } else if width == 0 {
        String::new()
    } else {
        common::input::cut(text, width - 1)
    }
}

/// A check as one line of at most `width` characters: `FAIL  97.0%
/// status in [201] [create order]`, the name and request cut to fit; `ok`
/// when it never failed, `--` before it ran.
pub fn check_line(c: &CheckResult, width: usize) -> Line<'static> {
    let (mark, color) = match c.pass_rate() {
        None => (" -- ", Color::DarkGray),
        Some(_) if c.fails > 0 => ("FAIL", Color::Red),
        Some(_) => (" ok ", Color::Green),
    };
    let share = c
        .pass_rate()
        .map_or_else(|| "    -".to_owned(), |v| format!("{:>5.1}%", v * 100.0));
    let room = width.saturating_sub(5 + share.chars().count() + 1);
    // The request keeps at least a third of what is left.
    let request_w = c.request.chars().count().min(room / 3).max(4);
    let name = fit(&c.name, room.saturating_sub(request_w + 3));
    let request = fit(&c.request, room.saturating_sub(name.chars().count() + 3));
    let text = fit(
        &format!("{share} {name} [{request}]"),
        width.saturating_sub(5),
    );
    let style = if c.fails > 0 {
        Style::new().fg(Color::Red)
    } else {
        Style::new()
    };
    Line::from(vec![
        Span::styled(mark, Style::new().add_modifier(Modifier::BOLD).fg(color)),
        Span::styled(format!(" {text}"), style),
    ])
}

/// Draws the checks, one a line, titled with how many evaluations passed.
pub fn draw_checks(frame: &mut Frame, area: Rect, s: &Snapshot) {
    let width = usize::from(area.width.saturating_sub(2));
    let (passes, total) = s.checks.iter().fold((0u64, 0u64), |(p, t), c| {
        (p.saturating_add(c.passes), t.saturating_add(c.total()))
    });
    let title = fit(&format!("Checks {passes}/{total} passed"), width);
    let lines: Vec<Line> = s.checks.iter().map(|c| check_line(c, width)).collect();
    frame.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(title)),
        area,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(name: &str, request: &str, passes: u64, fails: u64) -> CheckResult {
        CheckResult {
            name: name.into(),
            request: request.into(),
            passes,
            fails,
        }
    }

    fn text(l: &Line) -> String {
        l.spans.iter().map(|s| s.content.as_ref()).collect()
    }

    #[test]
    fn lines_mark_failing_checks_and_fit_their_width() {
        let l = check_line(&check("status in [201]", "create order", 97, 3), 60);
        assert_eq!(text(&l), "FAIL  97.0% status in [201] [create order]");
        assert_eq!(l.spans[0].style.fg, Some(Color::Red));
        let l = check_line(&check("fast", "read", 10, 0), 60);
        assert_eq!(text(&l), " ok  100.0% fast [read]");
        assert_eq!(l.spans[0].style.fg, Some(Color::Green));
        let l = check_line(&check("fast", "read", 0, 0), 60);
        assert_eq!(text(&l), " --      - fast [read]");
        let long = check(&"n".repeat(100), &"r".repeat(100), 1, 1);
        for w in [10, 30, 38, 80] {
            let t = text(&check_line(&long, w));
            assert!(t.chars().count() <= w, "{w}: {t}");
            assert!(t.contains('…'), "{w}: {t}");
        }
        let t = text(&check_line(&long, 38));
        assert!(t.contains("[r"), "the request stays in sight: {t}");
    }
}
