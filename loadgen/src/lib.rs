//! A load generator on goose 0.19: scenarios from YAML, an open (arrival
//! rate) and a closed (users) workload model, latency measured honestly
//! (HdrHistogram, corrected for coordinated omission), thresholds that gate
//! CI, and reports that merge.
//!
//! The pure core ([`scenario`], [`threshold`], [`pacer`], [`stats`], [`bottleneck`],
//! [`recorder`], [`report`]) is unit-tested without a network; [`engine`]
//! does the I/O and is integration-tested against the real target app.
//! [`live`] and [`tui`] are the live view, [`progress`] the progress line,
//! [`output`] writes the report files, [`prometheus`] starts the demo's
//! Prometheus, and [`cli`] is the command line (clap stops there); the
//! binary only wires it up. [`client`] and [`client_spans`] are the HTTP
//! client and its OTLP spans, [`trace_sink`] the OTLP receiver the
//! analysis reads server spans from, [`input`] the size caps of the user files it
//! reads (reading, diagnostics, atomic writes, JUnit and exit codes are
//! `common`'s).
//!
//! Dependencies point one way: `cli` → `engine`/`output`/`report`/`tui` →
//! `live`/`recorder`/`threshold` → `scenario`/`stats`; no module imports
//! one that imports it back.

pub mod bottleneck;
pub mod checks;
pub mod cli;
pub mod client;
pub mod client_spans;
pub mod engine;
pub mod input;
pub mod live;
pub mod metrics;
pub mod output;
pub mod pacer;
pub mod progress;
pub mod prometheus;
pub mod recorder;
pub mod report;
pub mod scenario;
pub mod stats;
pub mod tally;
pub mod threshold;
pub mod trace_fetch;
pub mod trace_sink;
pub mod traced;
pub mod tui;

/// The bundled scenarios, by name, for `loadgen demo` and the docs.
pub mod bundled {
    pub const SMOKE: &str = include_str!("../scenarios/smoke.yaml");
    pub const STEADY: &str = include_str!("../scenarios/steady.yaml");
    pub const SPIKE: &str = include_str!("../scenarios/spike.yaml");
    pub const STRESS: &str = include_str!("../scenarios/stress.yaml");
    pub const JOURNEY: &str = include_str!("../scenarios/journey.yaml");
}
