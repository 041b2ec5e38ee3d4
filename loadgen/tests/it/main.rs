//! Integration tests, in one test binary: the real loadgen binary against the
//! real target app on loopback (started in-process on an ephemeral port), the
//! engine in-process under the live view's switches, and the TUI's views
//! rendered into insta snapshots (`snapshots/`).

mod bottlenecks;
mod client_metrics;
mod edges;
mod flows;
mod http1_wire;
mod hygiene;
mod junit_xml;
mod limits;
mod live_controls;
mod malformed;
mod manual;
mod mutants;
mod otlp;
mod outputs;
mod pipes;
mod remote_write;
mod reports;
mod runs;
mod tls_http2;
mod trace_sink;
mod traces_from;
mod tui;
mod tui_views;
mod url_mode;
mod util;
