//! Integration tests: the real loadgen binary against the real target app on
//! loopback (started in-process on an ephemeral port).

mod edges;
mod junit_xml;
mod limits;
mod malformed;
mod mutants;
mod otlp;
mod pipes;
mod reports;
mod runs;
mod tui;
mod util;
