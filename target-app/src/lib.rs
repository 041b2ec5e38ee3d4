//! An OpenTelemetry-instrumented HTTP service for load tests and SLO drills.
//!
//! A products catalogue and an orders pipeline with simulated work, traced
//! with OpenTelemetry (server span per request, child spans per step, W3C
//! `traceparent` continued), measured with Prometheus metrics in the
//! OpenMetrics format (duration histogram with trace-id exemplars), and
//! equipped for drills: fault injection through an authenticated admin API,
//! an in-flight limit, timeouts, graceful shutdown and optional (m)TLS.
//!
//! The pure parts ([`faults`], [`metrics`], [`orders`], [`work`]) are unit-tested; the
//! server ([`server::start`]) is integration-tested over real HTTP.

pub mod admin;
pub mod api;
pub mod conn;
pub mod console;
pub mod faults;
pub mod logfmt;
pub mod metrics;
pub mod observe;
pub mod orders;
pub mod otlp;
pub mod process;
pub mod server;
pub mod spans;
pub mod state;
pub mod telemetry;
pub mod tls;
pub mod work;

pub use conn::ConnectionLimits;
pub use server::{AdminConfig, Config, Running, ServerError, start};
pub use state::Limits;
pub use telemetry::{Telemetry, TelemetryMode};
pub use tls::TlsConfig;
pub use work::WorkConfig;
