//! Wiring: the router, the listeners (plain or TLS, plus the admin listener),
//! the lifecycle (starting, ready, draining) and graceful shutdown.

use std::net::{SocketAddr, TcpListener};
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware::from_fn_with_state;
use axum::routing::{get, post};
use axum_server::accept::DefaultAcceptor;
use axum_server::tls_rustls::{RustlsAcceptor, RustlsConfig};
use axum_server::{Handle, Server};
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

use crate::api;
use crate::conn::{self, ConnectionLimits, Guard, Peer, Pressure};
use crate::faults::{FaultPlan, Faults};
use crate::metrics::Metrics;
use crate::observe;
use crate::orders::{DEFAULT_ORDER_STORE_SIZE, OrderStore};
use crate::spans::Spans;
use crate::state::{AppState, Lifecycle, Limits, Phase, Shared};
use crate::tls::{TlsConfig, TlsError, server_config};
use crate::work::{Work, WorkConfig};

/// The admin listener.
#[derive(Debug, Clone, PartialEq)]
pub struct AdminConfig {
    pub listen: SocketAddr,
    pub token: String,
}

/// Everything the server needs; built by the binary from flags.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub listen: SocketAddr,
    /// The admin API; `None` when no token is set.
    pub admin: Option<AdminConfig>,
    pub tls: Option<TlsConfig>,
    pub limits: Limits,
    /// Connection cap, header-read and idle timeouts (both listeners).
    pub connections: ConnectionLimits,
    pub work: WorkConfig,
    /// Orders kept for `GET /api/orders/{id}`; the oldest is evicted first.
    pub order_store_size: NonZeroUsize,
    pub faults: FaultPlan,
    /// Readiness stays 503 this long after start (a simulated warm-up).
    pub startup_delay: Duration,
    /// After SIGTERM, readiness is 503 and requests are still served this long,
    /// so load balancers can take the instance out before it stops accepting.
    pub shutdown_delay: Duration,
    /// Then in-flight requests get at most this long to finish.
    pub drain_timeout: Duration,
    /// Whether request spans are created (with the tracer that
    /// [`crate::Telemetry::init`] installed; none without it).
    pub tracing: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            admin: None,
            tls: None,
            limits: Limits::default(),
            connections: ConnectionLimits::default(),
            work: WorkConfig::default(),
            order_store_size: DEFAULT_ORDER_STORE_SIZE,
            faults: FaultPlan::default(),
            startup_delay: Duration::ZERO,
            shutdown_delay: Duration::ZERO,
            drain_timeout: Duration::from_secs(20),
            tracing: true,
        }
    }
}

/// Errors while starting.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("failed to listen on {addr}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error("server failed: {0}")]
    Serve(std::io::Error),
}

/// Builds the public router over `state`.
pub fn app(state: AppState) -> Router {
    let api = Router::new()
        .route("/api/products", get(api::list_products))
        .route("/api/products/{id}", get(api::get_product))
        .route("/api/orders", post(api::create_order))
        .route("/api/orders/{id}", get(api::get_order))
        // The last layer added runs first: shed, then timeout, then faults.
        .route_layer(from_fn_with_state(state.clone(), observe::inject_faults))
        .route_layer(from_fn_with_state(state.clone(), observe::timeout))
        .route_layer(from_fn_with_state(state.clone(), observe::shed));
    Router::new()
        .route("/health", get(api::health))
        .route("/ready", get(api::ready))
        .route("/metrics", get(api::metrics))
        .merge(api)
        .fallback(api::not_found)
        .method_not_allowed_fallback(api::method_not_allowed)
        .layer(DefaultBodyLimit::max(state.limits.max_body_bytes))
        .layer(from_fn_with_state(state.clone(), observe::observe))
        .with_state(state)
}

fn bind(addr: SocketAddr) -> Result<TcpListener, ServerError> {
    let listener = TcpListener::bind(addr).map_err(|source| ServerError::Bind { addr, source })?;
    listener
        .set_nonblocking(true)
        .map_err(|source| ServerError::Bind { addr, source })?;
    Ok(listener)
}

/// The listener with its connection cap.
fn capped(
    listener: TcpListener,
    limits: &ConnectionLimits,
    pressure: &Arc<Pressure>,
) -> Result<conn::Listener, ServerError> {
    let listener = tokio::net::TcpListener::from_std(listener).map_err(ServerError::Serve)?;
    Ok(conn::Listener::new(
        listener,
        limits.max_connections,
        pressure.clone(),
    ))
}

type ServeTask = JoinHandle<std::io::Result<()>>;

/// A started server.
#[derive(Debug)]
pub struct Running {
    /// The public address (with the real port when 0 was asked for).
    pub addr: SocketAddr,
    /// The admin address, when the admin API is on.
    pub admin_addr: Option<SocketAddr>,
    pub state: AppState,
    handle: Handle<Peer>,
    admin_handle: Option<Handle<Peer>>,
    tasks: Vec<ServeTask>,
    shutdown_delay: Duration,
    drain_timeout: Duration,
}

/// Binds the listeners and starts serving. Readiness turns 200 after the
/// startup delay.
pub async fn start(config: Config) -> Result<Running, ServerError> {
    let tls = config.tls.as_ref().map(server_config).transpose()?;
    let spans = Spans::new(config.tracing.then(crate::telemetry::tracer).flatten());
    let faults = Faults::new(config.faults.clone());
    let state = AppState::new(Shared {
        lifecycle: Lifecycle::default(),
        metrics: Arc::new(Metrics::new()),
        faults: faults.clone(),
        work: Work::new(config.work.clone(), spans.clone(), faults),
        orders: OrderStore::new(config.order_store_size),
        in_flight: Arc::new(Semaphore::new(config.limits.max_in_flight)),
        limits: config.limits.clone(),
        spans,
        scheme: if tls.is_some() { "https" } else { "http" },
    });
    let listener = bind(config.listen)?;
    let addr = listener.local_addr().map_err(|source| ServerError::Bind {
        addr: config.listen,
        source,
    })?;
    let limits = &config.connections;
    let handle = Handle::new();
    let service = app(state.clone()).into_make_service_with_connect_info::<SocketAddr>();
    let mut tasks = Vec::new();
    let pressure = Arc::new(Pressure::default());
    let server = Server::from_listener(capped(listener, limits, &pressure)?).handle(handle.clone());
    let task: ServeTask = match tls {
        Some(tls) => {
            let tls = RustlsAcceptor::new(RustlsConfig::from_config(tls))
                .handshake_timeout(limits.header_read_timeout);
            let server = server.acceptor(Guard::new(tls, limits, pressure));
            tokio::spawn(server.serve(service))
        }
        None => {
            let server = server.acceptor(Guard::new(DefaultAcceptor, limits, pressure));
            tokio::spawn(server.serve(service))
        }
    };
    tasks.push(task);

    let (admin_addr, admin_handle) = match &config.admin {
        None => (None, None),
        Some(admin) => {
            let listener = bind(admin.listen)?;
            let admin_addr = listener.local_addr().map_err(|source| ServerError::Bind {
                addr: admin.listen,
                source,
            })?;
            let admin_handle = Handle::new();
            let router = crate::admin::router(&admin.token, state.faults.clone());
            let pressure = Arc::new(Pressure::default());
            let server = Server::from_listener(capped(listener, limits, &pressure)?)
                .handle(admin_handle.clone());
            let server = server.acceptor(Guard::new(DefaultAcceptor, limits, pressure));
            tasks.push(tokio::spawn(server.serve(router.into_make_service())));
            (Some(admin_addr), Some(admin_handle))
        }
    };

    let lifecycle = state.lifecycle.clone();
    let startup_delay = config.startup_delay;
    tokio::spawn(async move {
        tokio::time::sleep(startup_delay).await;
        lifecycle.promote();
    });

    Ok(Running {
        addr,
        admin_addr,
        state,
        handle,
        admin_handle,
        tasks,
        shutdown_delay: config.shutdown_delay,
        drain_timeout: config.drain_timeout,
    })
}

/// What a drain did.
#[derive(Debug, Clone, PartialEq)]
pub struct DrainReport {
    /// Connections still open when the drain began.
    pub connections_at_drain: usize,
    /// True when connections were still open at the drain timeout and were cut.
    pub timed_out: bool,
}

impl Running {
    /// Connections the public listener holds open now.
    pub fn connection_count(&self) -> usize {
        self.handle.connection_count()
    }

    /// Waits until a listener stops on its own (an error), which should not happen.
    pub async fn failed(&mut self) -> ServerError {
        let (result, _, _) = futures_select_all(&mut self.tasks).await;
        match result {
            Ok(Ok(())) => ServerError::Serve(std::io::Error::other("listener stopped")),
            Ok(Err(e)) => ServerError::Serve(e),
            Err(e) => ServerError::Serve(std::io::Error::other(e)),
        }
    }

    /// Graceful shutdown: readiness turns 503 at once; requests are still
    /// served for the shutdown delay; then the listeners close and in-flight
    /// requests get up to the drain timeout to finish.
    pub async fn shutdown(self) -> DrainReport {
        self.state.lifecycle.set(Phase::Draining);
        tracing::info!(
            shutdown_delay_ms = self.shutdown_delay.as_millis() as u64,
            drain_timeout_ms = self.drain_timeout.as_millis() as u64,
            "draining"
        );
        tokio::time::sleep(self.shutdown_delay).await;
        let connections_at_drain = self.handle.connection_count();
        self.handle.graceful_shutdown(Some(self.drain_timeout));
        if let Some(admin) = &self.admin_handle {
            admin.graceful_shutdown(Some(Duration::from_secs(1)));
        }
        let started = tokio::time::Instant::now();
        for task in self.tasks {
            let _ = task.await;
        }
        let timed_out = started.elapsed() >= self.drain_timeout;
        tracing::info!(connections_at_drain, timed_out, "drained");
        DrainReport {
            connections_at_drain,
            timed_out,
        }
    }
}

/// Resolves when the first of `tasks` finishes.
async fn futures_select_all(
    tasks: &mut [ServeTask],
) -> (
    Result<std::io::Result<()>, tokio::task::JoinError>,
    usize,
    (),
) {
    std::future::poll_fn(|cx| {
        for (i, task) in tasks.iter_mut().enumerate() {
            if let std::task::Poll::Ready(r) = std::pin::Pin::new(task).poll(cx) {
                return std::task::Poll::Ready((r, i, ()));
            }
        }
        std::task::Poll::Pending
    })
    .await
}
