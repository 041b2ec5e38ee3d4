//! Shared state of the running service: lifecycle phase, metrics, faults,
//! simulated work, the order store and the in-flight limit.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use tokio::sync::Semaphore;

use crate::faults::Faults;
use crate::metrics::Metrics;
use crate::orders::OrderStore;
use crate::spans::Spans;
use crate::work::Work;

/// Where the service is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Starting,
    Ready,
    Draining,
}

impl Phase {
    pub fn is_ready(self) -> bool {
        self == Phase::Ready
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Starting => "starting",
            Phase::Ready => "ready",
            Phase::Draining => "draining",
        }
    }
}

/// The lifecycle phase, readable from any task.
#[derive(Debug, Clone, Default)]
pub struct Lifecycle(Arc<AtomicU8>);

impl Lifecycle {
    pub fn phase(&self) -> Phase {
        match self.0.load(Ordering::Acquire) {
            0 => Phase::Starting,
            1 => Phase::Ready,
            _ => Phase::Draining,
        }
    }

    /// Starting -> Ready, unless the service is already draining.
    pub fn promote(&self) {
        let _ = self
            .0
            .compare_exchange(0, 1, Ordering::AcqRel, Ordering::Acquire);
    }

    pub fn set(&self, phase: Phase) {
        let value = match phase {
            Phase::Starting => 0,
            Phase::Ready => 1,
            Phase::Draining => 2,
        };
        self.0.store(value, Ordering::Release);
    }
}

/// Limits that protect the service.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// API requests served at once; beyond it, 503 with Retry-After.
    pub max_in_flight: usize,
    /// Largest accepted request body, in bytes.
    pub max_body_bytes: usize,
    /// An API request still running after this is answered with 504.
    pub request_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_in_flight: 1024,
            max_body_bytes: 64 * 1024,
            request_timeout: Duration::from_secs(30),
        }
    }
}

/// Everything a request handler or middleware may need. Cloned for every
/// extractor and middleware, so it is one `Arc`.
#[derive(Debug, Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    pub fn new(shared: Shared) -> Self {
        Self(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The contents of [`AppState`].
#[derive(Debug)]
pub struct Shared {
    pub lifecycle: Lifecycle,
    pub metrics: Arc<Metrics>,
    pub faults: Faults,
    pub work: Work,
    /// The last orders accepted, for `GET /api/orders/{id}`.
    pub orders: OrderStore,
    pub in_flight: Arc<Semaphore>,
    pub limits: Limits,
    /// Request spans (none with `--telemetry off`).
    pub spans: Spans,
    /// `http` or `https`, for the `url.scheme` span attribute.
    pub scheme: &'static str,
}
