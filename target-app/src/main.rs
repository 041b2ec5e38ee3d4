//! `target-app`: the instrumented service. Flags become a [`target_app::Config`]
//! here; the library never sees clap.

use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, ValueEnum};
use common::exit::Exit;
use common::fs::stderr_line;
use target_app::conn::default_max_connections;
use target_app::faults::{FaultPlan, FaultRule};
use target_app::orders::{DEFAULT_ORDER_STORE_SIZE, MAX_ORDER_STORE_SIZE};
use target_app::{
    AdminConfig, Config, ConnectionLimits, Limits, Telemetry, TelemetryMode, TlsConfig, WorkConfig,
};

// Telemetry allocates on one thread and frees on the exporter's; mimalloc
// handles that pattern far better than the system allocator (BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Clone, Copy, ValueEnum)]
enum TelemetryArg {
    /// OTLP export (gRPC or http/protobuf by OTEL_EXPORTER_OTLP_PROTOCOL).
    Otlp,
    /// Spans printed to stdout, one JSON object per line.
    Console,
    /// No traces; JSON logs and metrics only.
    Off,
}

/// An OpenTelemetry-instrumented HTTP service for load tests and SLO drills.
#[derive(Debug, Parser)]
#[command(
    version,
    after_help = "Examples:
  target-app --telemetry console
  target-app --listen 127.0.0.1:8080 --admin-listen 127.0.0.1:9090 --admin-token s3cret
  target-app --fault-error-rate 0.05 --fault-route /api/orders --fault-latency 100ms
  OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4317 OTEL_EXPORTER_OTLP_PROTOCOL=grpc target-app

Exit codes: 0 clean shutdown, 1 runtime failure, 2 invalid input."
)]
struct Cli {
    /// Address of the public listener.
    #[arg(long, default_value = "127.0.0.1:8080", env = "TARGET_APP_LISTEN")]
    listen: SocketAddr,
    /// Address of the admin API listener (needs --admin-token).
    #[arg(long, default_value = "127.0.0.1:9090")]
    admin_listen: SocketAddr,
    /// Bearer token of the admin API; without it the admin API is off.
    #[arg(long, env = "TARGET_APP_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
    /// Where traces go.
    #[arg(long, value_enum, default_value = "otlp")]
    telemetry: TelemetryArg,
    /// PEM certificate chain; enables TLS.
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key.
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// PEM CA bundle; clients must present a certificate it signed (mTLS).
    #[arg(long, requires = "tls_cert")]
    tls_client_ca: Option<PathBuf>,
    /// Multiplies every simulated wait (0 disables simulated work).
    #[arg(long, default_value_t = 1.0)]
    work_scale: f64,
    /// Share of payments the simulated provider declines (0..=1).
    #[arg(long, default_value_t = 0.0)]
    payment_failure_rate: f64,
    /// Maximum API requests in flight; beyond it, 503 with Retry-After.
    #[arg(long, default_value_t = 1024)]
    max_in_flight: usize,
    /// Largest request body in bytes.
    #[arg(long, default_value_t = 64 * 1024)]
    max_body_bytes: usize,
    /// API requests running longer are answered with 504 (e.g. 30s, 500ms; 1ms..=1d).
    #[arg(long, default_value = "30s", value_parser = duration_in::<1, 86_400>)]
    request_timeout: Duration,
    /// Readiness stays 503 this long after start (0s..=1h).
    #[arg(long, default_value = "0s", value_parser = duration_in::<0, 3_600>)]
    startup_delay: Duration,
    /// After SIGTERM, keep serving with readiness 503 this long (0s..=1h); a
    /// second SIGTERM or SIGINT exits at once.
    #[arg(long, default_value = "0s", value_parser = duration_in::<0, 3_600>)]
    shutdown_delay: Duration,
    /// Then give in-flight requests at most this long to finish (0s..=1h).
    #[arg(long, default_value = "20s", value_parser = duration_in::<0, 3_600>)]
    drain_timeout: Duration,
    /// Connections open at once (both listeners, each); at the cap the
    /// listener stops accepting until one closes. Default: 10000, or the
    /// open-file limit minus 256 when that is lower.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    max_connections: Option<u32>,
    /// A new connection, or a request once its first byte arrived, must send
    /// the whole request head within this time, or it is closed (1ms..=1h).
    #[arg(long, default_value = "10s", value_parser = duration_in::<1, 3_600>)]
    header_read_timeout: Duration,
    /// Keep-alive connections with no request for this long are closed (1ms..=1d).
    #[arg(long, default_value = "60s", value_parser = duration_in::<1, 86_400>)]
    idle_timeout: Duration,
    /// Orders kept for GET /api/orders/{id} (1..=1000000); when full, the
    /// oldest is evicted first and reads 404.
    #[arg(
        long,
        default_value_t = DEFAULT_ORDER_STORE_SIZE.get() as u32,
        value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_ORDER_STORE_SIZE))
    )]
    order_store_size: u32,
    /// Fault plan file (YAML), or - for standard input; see target-app/README.md.
    #[arg(long)]
    faults: Option<PathBuf>,
    /// Injected error rate (0..=1) for --fault-route, or all API routes.
    #[arg(long)]
    fault_error_rate: Option<f64>,
    /// Status code of injected errors.
    #[arg(long)]
    fault_error_status: Option<u16>,
    /// Extra fixed latency (e.g. 100ms).
    #[arg(long, value_parser = humantime::parse_duration)]
    fault_latency: Option<Duration>,
    /// Extra random latency, uniform in 0..JITTER.
    #[arg(long, value_parser = humantime::parse_duration)]
    fault_jitter: Option<Duration>,
    /// Route template the --fault-* flags apply to (e.g. /api/orders).
    #[arg(long)]
    fault_route: Option<String>,
    /// Hold every API request this long.
    #[arg(long, value_parser = humantime::parse_duration)]
    fault_stall: Option<Duration>,
}

/// A duration between `MIN_MS` milliseconds and `MAX_SECS` seconds.
fn duration_in<const MIN_MS: u64, const MAX_SECS: u64>(text: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(text).map_err(|e| e.to_string())?;
    let (min, max) = (Duration::from_millis(MIN_MS), Duration::from_secs(MAX_SECS));
    if d < min || d > max {
        return Err(format!(
            "must be between {} and {}, got {text}",
            humantime::format_duration(min),
            humantime::format_duration(max)
        ));
    }
    Ok(d)
}

/// The whole start-up configuration.
struct Settings {
    config: Config,
    telemetry: TelemetryMode,
}

impl TryFrom<Cli> for Settings {
    type Error = anyhow::Error;

    fn try_from(cli: Cli) -> anyhow::Result<Self> {
        if !(0.0..=1.0).contains(&cli.payment_failure_rate) {
            anyhow::bail!(
                "--payment-failure-rate must be between 0 and 1, got {}",
                cli.payment_failure_rate
            );
        }
        if !cli.work_scale.is_finite() || cli.work_scale < 0.0 {
            anyhow::bail!("--work-scale must be 0 or more, got {}", cli.work_scale);
        }
        if cli.max_in_flight == 0 {
            anyhow::bail!("--max-in-flight must be at least 1");
        }
        let mut plan = match &cli.faults {
            Some(path) => FaultPlan::from_file(path)?,
            None => FaultPlan::default(),
        };
        let flagged = cli.fault_error_rate.is_some()
            || cli.fault_error_status.is_some()
            || cli.fault_latency.is_some()
            || cli.fault_jitter.is_some();
        if flagged {
            plan.rules.push(FaultRule {
                route: cli.fault_route.clone(),
                error_rate: cli.fault_error_rate.unwrap_or(0.0),
                error_status: cli.fault_error_status,
                latency: cli.fault_latency,
                jitter: cli.fault_jitter,
            });
        } else if cli.fault_route.is_some() {
            anyhow::bail!(
                "--fault-route needs one of --fault-error-rate, --fault-latency, --fault-jitter"
            );
        }
        if cli.fault_stall.is_some() {
            plan.stall = cli.fault_stall;
        }
        let plan = plan.validated().context("invalid --fault-* flags")?;
        let order_store_size = usize::try_from(cli.order_store_size)
            .ok()
            .and_then(NonZeroUsize::new)
            .with_context(|| {
                format!(
                    "--order-store-size must be between 1 and {MAX_ORDER_STORE_SIZE}, got {}",
                    cli.order_store_size
                )
            })?;
        let telemetry = match cli.telemetry {
            TelemetryArg::Otlp => TelemetryMode::Otlp,
            TelemetryArg::Console => TelemetryMode::Console,
            TelemetryArg::Off => TelemetryMode::Off,
        };
        let config = Config {
            listen: cli.listen,
            admin: cli
                .admin_token
                .filter(|t| !t.is_empty())
                .map(|token| AdminConfig {
                    listen: cli.admin_listen,
                    token,
                }),
            tls: cli.tls_cert.zip(cli.tls_key).map(|(cert, key)| TlsConfig {
                cert,
                key,
                client_ca: cli.tls_client_ca,
            }),
            limits: Limits {
                max_in_flight: cli.max_in_flight,
                max_body_bytes: cli.max_body_bytes,
                request_timeout: cli.request_timeout,
            },
            connections: ConnectionLimits {
                max_connections: cli
                    .max_connections
                    .map_or_else(default_max_connections, |n| n as usize),
                header_read_timeout: cli.header_read_timeout,
                idle_timeout: cli.idle_timeout,
            },
            work: WorkConfig {
                scale: cli.work_scale,
                payment_failure_rate: cli.payment_failure_rate,
            },
            order_store_size,
            faults: plan,
            startup_delay: cli.startup_delay,
            shutdown_delay: cli.shutdown_delay,
            drain_timeout: cli.drain_timeout,
            tracing: telemetry.traces(),
        };
        Ok(Settings { config, telemetry })
    }
}

/// SIGTERM and SIGINT, caught from before the service says it is listening
/// (a signal right after start drains instead of killing the process) until
/// it exits (a second signal is caught by the same handlers).
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> std::io::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Self {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
        })
    }

    /// Resolves on the next SIGTERM or SIGINT.
    async fn next(&mut self) -> &'static str {
        tokio::select! {
            _ = self.term.recv() => "SIGTERM",
            _ = self.int.recv() => "SIGINT",
        }
    }
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let telemetry = Telemetry::init(settings.telemetry).context("failed to set up telemetry")?;
    let result = async {
        let mut signals = Signals::install().context("failed to install signal handlers")?;
        let mut running = target_app::start(settings.config)
            .await
            .context("failed to start")?;
        tracing::info!(
            addr = %running.addr,
            admin_addr = running.admin_addr.map(|a| a.to_string()),
            scheme = running.state.scheme,
            "listening"
        );
        tokio::select! {
            signal = signals.next() => {
                tracing::info!(signal, "shutting down");
                tokio::select! {
                    _ = running.shutdown() => {}
                    again = signals.next() => {
                        tracing::warn!(signal = again, "second signal: exiting without draining");
                    }
                }
                Ok(())
            }
            err = running.failed() => Err(anyhow::Error::new(err).context("server stopped")),
        }
    }
    .await;
    telemetry.shutdown();
    result
}

/// The exit code of a server that stopped with `e`: invalid input (2) for
/// what the user configured wrongly (TLS files, telemetry settings), else a
/// runtime failure (1).
fn exit_of(e: &anyhow::Error) -> Exit {
    let invalid_input = e.chain().any(|c| {
        c.downcast_ref::<target_app::ServerError>()
            .is_some_and(|s| matches!(s, target_app::ServerError::Tls(_)))
            || c.downcast_ref::<target_app::telemetry::TelemetryError>()
                .is_some_and(|t| {
                    use target_app::otlp::ConfigError;
                    use target_app::telemetry::TelemetryError;
                    match t {
                        TelemetryError::Protocol { .. } | TelemetryError::Filter(_) => true,
                        TelemetryError::Otlp(c) => !matches!(c, ConfigError::Client(_)),
                        _ => false,
                    }
                })
    });
    if invalid_input {
        Exit::Invalid
    } else {
        Exit::Failure
    }
}

fn main() -> ExitCode {
    // clap's own exit would print with a panic on a closed pipe; print
    // ignoring that, with clap's exit code (0 for --help, 2 for usage).
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return Exit::from_code(e.exit_code())
                .unwrap_or(Exit::Invalid)
                .into();
        }
    };
    // Flags and the files they name are the user's input.
    let settings = match Settings::try_from(cli) {
        Ok(s) => s,
        Err(e) => {
            stderr_line(&format!("target-app: error: {e:#}"));
            return Exit::Invalid.into();
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            stderr_line(&format!(
                "target-app: error: failed to start the runtime: {e}"
            ));
            return Exit::Failure.into();
        }
    };
    match runtime.block_on(serve(settings)) {
        Ok(()) => Exit::Ok.into(),
        Err(e) => {
            stderr_line(&format!("target-app: error: {e:#}"));
            exit_of(&e).into()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }
}
