//! A load generator on goose 0.19: scenarios from YAML, an open (arrival
//! rate) and a closed (users) workload model, latency measured honestly
//! (HdrHistogram, corrected for coordinated omission), thresholds that gate
//! CI, and reports that merge.
//!
//! The pure core ([`scenario`], [`threshold`], [`pacer`], [`stats`],
//! [`recorder`], [`report`]) is unit-tested without a network; [`engine`]
//! does the I/O and is integration-tested against the real target app.

pub mod client;
pub mod client_spans;
pub mod engine;
pub mod input;
pub mod live;
pub mod pacer;
pub mod recorder;
pub mod report;
pub mod scenario;
pub mod stats;
pub mod threshold;
pub mod tui;

/// The bundled scenarios, by name, for `loadgen demo` and the docs.
pub mod bundled {
    pub const SMOKE: &str = include_str!("../scenarios/smoke.yaml");
    pub const STEADY: &str = include_str!("../scenarios/steady.yaml");
    pub const SPIKE: &str = include_str!("../scenarios/spike.yaml");
    pub const STRESS: &str = include_str!("../scenarios/stress.yaml");
}
