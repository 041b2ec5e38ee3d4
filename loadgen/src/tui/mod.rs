//! The live terminal view (`loadgen run --tui`, `loadgen demo` on a
//! terminal). It runs on its own thread, reads the latest [`Snapshot`] a few
//! times a second, and never holds up measurement. The terminal is restored
//! on exit and on panic (ratatui's init installs the hook).

pub mod checks;
pub mod state;
pub mod text;
pub mod traces;
pub mod view;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};

use crate::engine::Control;
use crate::live::{Live, Snapshot};
use traces::TracesState;
use view::{SloPanel, SloRow, UiState, View};

/// The SLO panel, kept fresh by a background task.
#[derive(Debug, Default)]
pub struct SloState {
    panel: Mutex<(SloPanel, Option<Instant>)>,
    /// The spec, for client-side SLIs when there is no Prometheus.
    client_side: Option<slo::model::Service>,
}

impl SloState {
    /// SLIs computed from the run's own requests, with a hint.
    pub fn client_side(service: slo::model::Service, hint: &str) -> Self {
        Self {
            panel: Mutex::new((
                SloPanel {
                    source: "client side (this run's requests)".into(),
                    hint: Some(hint.to_owned()),
                    ..SloPanel::default()
                },
                None,
            )),
            client_side: Some(service),
        }
    }

    fn set(&self, f: impl FnOnce(&mut SloPanel)) {
        let mut g = self.panel.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut g.0);
        g.1 = Some(Instant::now());
    }

    /// The panel as of now, for a snapshot of the run.
    pub fn panel(&self, snap: &Snapshot) -> SloPanel {
        let g = self.panel.lock().unwrap_or_else(|e| e.into_inner());
        let mut p = g.0.clone();
        p.age_s = g.1.map(|t| t.elapsed().as_secs());
        if let Some(service) = &self.client_side {
            p.slos = client_rows(service, snap);
            p.age_s = Some(0);
        }
        p
    }
}

/// SLIs from the run's own results: errors for availability and ratio SLIs,
/// the share of requests under the threshold for latency SLIs.
fn client_rows(service: &slo::model::Service, snap: &Snapshot) -> Vec<SloRow> {
    service
        .slos
        .iter()
        .map(|s| {
            let sli = match &s.sli {
                slo::model::Sli::Latency { threshold, .. } => snap
                    .under
                    .iter()
                    .find(|(ms, _)| (*ms - threshold * 1000.0).abs() < 1e-6)
                    .map(|(_, share)| *share),
                _ => (snap.requests > 0).then(|| 1.0 - snap.errors as f64 / snap.requests as f64),
            };
            SloRow {
                name: s.name.clone(),
                objective_pct: s.objective * 100.0,
                period: "this run".into(),
                sli,
                budget_remaining: None,
                burns: vec![("run".into(), sli.map(|v| (1.0 - v) / s.budget()))],
                alerts: vec![],
                inconclusive: vec![],
            }
        })
        .collect()
}

/// Latency thresholds (ms) of a spec's latency SLIs, for client-side SLIs.
pub fn latency_marks(service: &slo::model::Service) -> Vec<f64> {
    service
        .slos
        .iter()
        .filter_map(|s| match &s.sli {
            slo::model::Sli::Latency { threshold, .. } => Some(threshold * 1000.0),
            _ => None,
        })
        .collect()
}

fn row(r: &slo::evaluate::SloReport) -> SloRow {
    SloRow {
        name: r.name.clone(),
        objective_pct: r.objective * 100.0,
        period: r.period.clone(),
        sli: r.sli,
        budget_remaining: r.budget_remaining_ratio,
        burns: r
            .windows
            .iter()
            .map(|w| (w.window.clone(), w.burn_rate))
            .collect(),
        alerts: r.alerts.clone(),
        inconclusive: r.inconclusive.clone(),
    }
}

/// Refreshes the panel from Prometheus every `every` until `stop`; errors
/// are shown in the panel, never fatal.
pub async fn refresh_slos(
    state: Arc<SloState>,
    service: slo::model::Service,
    prom: slo::prom::Prom,
    url: String,
    every: Duration,
    stop: Arc<AtomicBool>,
) {
    state.set(|p| p.source = format!("Prometheus {url}"));
    while !stop.load(Ordering::Relaxed) {
        let mut rows = Vec::new();
        let mut error = None;
        for s in &service.slos {
            match slo::evaluate::report(&prom, s, None).await {
                Ok(r) => rows.push(row(&r)),
                Err(e) => {
                    error = Some(e.to_string());
                    break;
                }
            }
        }
        state.set(|p| {
            if error.is_none() {
                p.slos = rows;
            }
            p.error = error;
        });
        let until = Instant::now() + every;
        while Instant::now() < until && !stop.load(Ordering::Relaxed) {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// What a key does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Quit,
    /// Closes the overlay on top (the help); nothing without one.
    Close,
    Pause,
    Faster,
    Slower,
    NextView,
    Help,
    /// The row above / below (the slowest requests of the traces view).
    Up,
    Down,
    /// Opens or closes the selected request's span tree.
    Toggle,
    None,
}

pub fn action(code: KeyCode, modifiers: KeyModifiers) -> Action {
    match code {
        KeyCode::Char('c') if modifiers.contains(KeyModifiers::CONTROL) => Action::Quit,
        KeyCode::Char('q') => Action::Quit,
        KeyCode::Esc => Action::Close,
        KeyCode::Char('p') | KeyCode::Char(' ') => Action::Pause,
        KeyCode::Char('+') | KeyCode::Char('=') => Action::Faster,
        KeyCode::Char('-') | KeyCode::Char('_') => Action::Slower,
        KeyCode::Tab => Action::NextView,
        KeyCode::Char('?') | KeyCode::Char('h') => Action::Help,
        KeyCode::Up | KeyCode::Char('k') => Action::Up,
        KeyCode::Down | KeyCode::Char('j') => Action::Down,
        KeyCode::Enter => Action::Toggle,
        _ => Action::None,
    }
}

/// What the run must do after a key.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Effect {
    None,
    /// Stop the run (reports are written).
    Stop,
    TogglePause,
    /// Multiply the open model's arrival rate.
    Rescale(f64),
}

/// The view's answer to `action`: its own state changes here, what the run
/// must do is returned. Esc closes the help and never stops the run.
pub fn handle(ui: &mut UiState, action: Action, open_model: bool) -> Effect {
    match action {
        Action::Quit => {
            ui.note = Some("stopping, writing reports...".into());
            Effect::Stop
        }
        Action::Close if ui.help => {
            ui.help = false;
            Effect::None
        }
        Action::Close => {
            ui.note = Some("q stops the run".into());
            Effect::None
        }
        Action::Pause => Effect::TogglePause,
        Action::Faster | Action::Slower if !open_model => {
            ui.note = Some("rate control needs the open model".into());
            Effect::None
        }
        Action::Faster => Effect::Rescale(1.1),
        Action::Slower => Effect::Rescale(1.0 / 1.1),
        Action::NextView => {
            ui.view = ui.view.next();
            Effect::None
        }
        Action::Help => {
            ui.help = !ui.help;
            Effect::None
        }
        Action::Up | Action::Down | Action::Toggle if ui.view != View::Traces => Effect::None,
        Action::Up => {
            ui.selected = ui.selected.saturating_sub(1);
            Effect::None
        }
        Action::Down => {
            ui.selected = (ui.selected + 1).min(ui.listed.len().saturating_sub(1));
            Effect::None
        }
        Action::Toggle => {
            if let Some(id) = ui.listed.get(ui.selected)
                && !ui.expanded.remove(id)
            {
                ui.expanded.insert(*id);
            }
            Effect::None
        }
        Action::None => Effect::None,
    }
}

/// A running view; `finish` stops it and gives the terminal back.
pub struct Tui {
    done: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Tui {
    /// Takes over the terminal and draws until the run ends or a quit key.
    pub fn start(
        live: Arc<Live>,
        control: Arc<Control>,
        slo: Arc<SloState>,
        traces: Arc<TracesState>,
        open_model: bool,
    ) -> std::io::Result<Tui> {
        let done = Arc::new(AtomicBool::new(false));
        let flag = done.clone();
        let mut terminal = match ratatui::try_init() {
            Ok(t) => t,
            Err(e) => {
                // Whatever half of the set-up happened is undone.
                ratatui::restore();
                return Err(e);
            }
        };
        let thread = std::thread::Builder::new()
            .name("loadgen-tui".into())
            .spawn(move || {
                let mut ui = UiState::default();
                while !flag.load(Ordering::Relaxed) {
                    let snap = live.snapshot();
                    let panel = slo.panel(&snap);
                    let spans = traces.panel();
                    // The selection follows its request as the list re-sorts.
                    let picked = ui.listed.get(ui.selected).copied();
                    ui.listed = spans.slowest.iter().map(|t| t.trace_id).collect();
                    ui.selected = picked
                        .and_then(|id| ui.listed.iter().position(|&t| t == id))
                        .unwrap_or(ui.selected)
                        .min(ui.listed.len().saturating_sub(1));
                    let _ = terminal.draw(|f| view::draw(f, &snap, &panel, &spans, &ui));
                    // Up to ~5 frames a second; keys are handled as they come.
                    if !event::poll(Duration::from_millis(200)).unwrap_or(false) {
                        continue;
                    }
                    let Ok(Event::Key(key)) = event::read() else {
                        continue;
                    };
                    if key.kind != KeyEventKind::Press {
                        continue;
                    }
                    match handle(&mut ui, action(key.code, key.modifiers), open_model) {
                        Effect::Stop => control.interrupt(),
                        Effect::TogglePause => live.toggle_pause(),
                        Effect::Rescale(f) => live.rescale(f),
                        Effect::None => {}
                    }
                }
                ratatui::restore();
            })?;
        Ok(Tui {
            done,
            thread: Some(thread),
        })
    }

    /// Stops drawing and restores the terminal.
    pub fn finish(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        self.done.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Tui {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use view::View;

    #[test]
    fn keys_map_to_actions() {
        let none = KeyModifiers::NONE;
        assert_eq!(action(KeyCode::Char('q'), none), Action::Quit);
        assert_eq!(action(KeyCode::Esc, none), Action::Close);
        assert_eq!(
            action(KeyCode::Char('c'), KeyModifiers::CONTROL),
            Action::Quit
        );
        assert_eq!(action(KeyCode::Char('c'), none), Action::None);
        assert_eq!(action(KeyCode::Char('p'), none), Action::Pause);
        assert_eq!(action(KeyCode::Char('+'), none), Action::Faster);
        assert_eq!(action(KeyCode::Char('-'), none), Action::Slower);
        assert_eq!(action(KeyCode::Tab, none), Action::NextView);
        assert_eq!(action(KeyCode::Char('?'), none), Action::Help);
        assert_eq!(View::Slo.next(), View::Traces);
        assert_eq!(View::Traces.next(), View::Overview);
        assert_eq!(action(KeyCode::Down, none), Action::Down);
        assert_eq!(action(KeyCode::Char('k'), none), Action::Up);
        assert_eq!(action(KeyCode::Enter, none), Action::Toggle);
    }

    #[test]
    fn esc_closes_the_help_and_never_stops_the_run() {
        let mut ui = UiState::default();
        let key = |ui: &mut UiState, code| handle(ui, action(code, KeyModifiers::NONE), true);
        assert_eq!(key(&mut ui, KeyCode::Char('?')), Effect::None);
        assert!(ui.help);
        // Esc in the help overlay closes it; the run goes on.
        assert_eq!(key(&mut ui, KeyCode::Esc), Effect::None);
        assert!(!ui.help);
        // Esc with no overlay does nothing but say which key stops.
        assert_eq!(key(&mut ui, KeyCode::Esc), Effect::None);
        assert_eq!(ui.note.as_deref(), Some("q stops the run"));
        assert!(!ui.help);
        // q stops, also from inside the help.
        key(&mut ui, KeyCode::Char('?'));
        assert_eq!(key(&mut ui, KeyCode::Char('q')), Effect::Stop);
        assert_eq!(key(&mut ui, KeyCode::Char('+')), Effect::Rescale(1.1));
        assert_eq!(key(&mut ui, KeyCode::Char('p')), Effect::TogglePause);
        assert_eq!(
            handle(&mut ui, Action::Faster, false),
            Effect::None,
            "the closed model has no rate"
        );
        assert_eq!(
            ui.note.as_deref(),
            Some("rate control needs the open model")
        );
    }

    #[test]
    fn the_traces_view_selects_and_opens_the_slowest() {
        // Outside the traces view the keys do nothing.
        let mut ui = UiState {
            listed: vec![7, 8, 9],
            ..UiState::default()
        };
        handle(&mut ui, Action::Down, true);
        handle(&mut ui, Action::Toggle, true);
        assert_eq!((ui.selected, ui.expanded.len()), (0, 0));
        ui.view = View::Traces;
        for _ in 0..5 {
            handle(&mut ui, Action::Down, true);
        }
        assert_eq!(ui.selected, 2, "stops at the last row");
        handle(&mut ui, Action::Toggle, true);
        assert!(ui.expanded.contains(&9));
        handle(&mut ui, Action::Up, true);
        handle(&mut ui, Action::Toggle, true);
        assert_eq!(ui.expanded.iter().copied().collect::<Vec<_>>(), [8, 9]);
        handle(&mut ui, Action::Toggle, true);
        assert_eq!(
            ui.expanded.iter().copied().collect::<Vec<_>>(),
            [9],
            "closes again"
        );
        ui.listed.clear();
        ui.selected = 0;
        assert_eq!(
            handle(&mut ui, Action::Toggle, true),
            Effect::None,
            "nothing listed"
        );
        handle(&mut ui, Action::Down, true);
        assert_eq!(ui.selected, 0);
    }
}
