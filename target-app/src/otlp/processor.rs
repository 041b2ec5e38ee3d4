//! A batching span processor that encodes each span when it ends, on the
//! thread that ended it, and hands the exporting thread bytes instead of
//! spans.
//!
//! The SDK's batch processor sends every [`SpanData`] (a few hundred bytes,
//! with its attributes' heap parts) through a channel to its thread, which
//! encodes and frees them there: two moves per span and every allocation
//! freed on another thread than the one that made it, the expensive case for
//! the allocator and the caches. Here a span is encoded into a thread-local
//! buffer while it is still in the cache, appended under a short lock to the
//! batch being filled, and freed where it was made; the exporting thread
//! wraps full batches into a request and posts them.
//!
//! The batching is the SDK's ([`BatchConfig`], the `OTEL_BSP_*` variables):
//! a batch goes when it holds `max_export_batch_size` spans or when
//! `scheduled_delay` has passed, at most `max_queue_size` spans wait, and
//! spans that find the queue full are dropped and counted.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use opentelemetry::Context;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{Span, SpanData, SpanExporter as _, SpanProcessor};

use super::encode::{self, EncodedResource, ScopeGroups};
use super::{ConfigError, HttpSpanExporter};

/// When batches go and how many spans may wait: the SDK's batch settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchConfig {
    /// `OTEL_BSP_SCHEDULE_DELAY` (ms, default 5000): the longest a span
    /// waits for a batch that does not fill.
    pub scheduled_delay: Duration,
    /// `OTEL_BSP_MAX_QUEUE_SIZE` (default 2048): spans waiting beyond it are
    /// dropped.
    pub max_queue_size: usize,
    /// `OTEL_BSP_MAX_EXPORT_BATCH_SIZE` (default 512, at most the queue's
    /// size): the most spans in one request.
    pub max_export_batch_size: usize,
    /// `OTEL_BSP_EXPORT_TIMEOUT` (ms, default 30000): how long a flush or a
    /// shutdown waits for the exports it asked for.
    pub export_timeout: Duration,
}

impl Default for BatchConfig {
    fn default() -> Self {
        BatchConfig {
            scheduled_delay: Duration::from_millis(5000),
            max_queue_size: 2048,
            max_export_batch_size: 512,
            export_timeout: Duration::from_millis(30_000),
        }
    }
}

impl BatchConfig {
    /// The settings from the `OTEL_BSP_*` variables through `get`; unset or
    /// empty ones keep their defaults, malformed ones are an error.
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let number = |variable: &str, least: u64| -> Result<Option<u64>, ConfigError> {
            let Some(value) = get(variable).filter(|v| !v.trim().is_empty()) else {
                return Ok(None);
            };
            match value.trim().parse::<u64>() {
                Ok(n) if n >= least => Ok(Some(n)),
                _ => Err(ConfigError::Batch {
                    variable: variable.to_owned(),
                    value,
                    expected: if least == 0 {
                        "whole milliseconds, e.g. 5000"
                    } else {
                        "a whole number of spans, at least 1"
                    },
                }),
            }
        };
        let size = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
        let mut c = BatchConfig::default();
        if let Some(ms) = number("OTEL_BSP_SCHEDULE_DELAY", 0)? {
            c.scheduled_delay = Duration::from_millis(ms);
        }
        if let Some(n) = number("OTEL_BSP_MAX_QUEUE_SIZE", 1)? {
            c.max_queue_size = size(n);
        }
        if let Some(n) = number("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", 1)? {
            c.max_export_batch_size = size(n);
        }
        if let Some(ms) = number("OTEL_BSP_EXPORT_TIMEOUT", 0)? {
            c.export_timeout = Duration::from_millis(ms);
        }
        // As the SDK does: a batch is never larger than the queue.
        c.max_export_batch_size = c.max_export_batch_size.min(c.max_queue_size);
        Ok(c)
    }
}

/// See the module's documentation.
#[derive(Debug)]
pub struct EncodingProcessor {
    shared: Arc<Shared>,
    worker: Mutex<Option<JoinHandle<()>>>,
}

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    /// The exporting thread waits on it for work.
    work: Condvar,
    /// Flushes and shutdowns wait on it for the exporting thread.
    progress: Condvar,
    config: BatchConfig,
    dropped: AtomicU64,
}

#[derive(Debug, Default)]
struct State {
    /// The batch being filled.
    open: ScopeGroups,
    /// Batches of `max_export_batch_size` spans, oldest first.
    full: VecDeque<ScopeGroups>,
    /// Spans in `open` and `full`.
    queued: usize,
    resource: Arc<EncodedResource>,
    /// Flushes asked for, and the last one the exporting thread has done
    /// (with the error of its exports, if one failed).
    flushes_asked: u64,
    flushes_done: u64,
    flush_error: Option<String>,
    shutting_down: bool,
    stopped: bool,
}

fn lock(m: &Mutex<State>) -> MutexGuard<'_, State> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

thread_local! {
    /// Where a request thread encodes the span it ends, before the lock.
    static ENTRY: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

impl EncodingProcessor {
    /// Starts the exporting thread, which posts with `exporter`.
    pub fn new(exporter: HttpSpanExporter, config: BatchConfig) -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            work: Condvar::new(),
            progress: Condvar::new(),
            config,
            dropped: AtomicU64::new(0),
        });
        let worker = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("otlp-spans".to_owned())
                .spawn(move || export_loop(&shared, &exporter))?
        };
        Ok(EncodingProcessor {
            shared,
            worker: Mutex::new(Some(worker)),
        })
    }

    /// Spans dropped so far because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    /// Waits on `progress` until `done` or `timeout`; false on timeout.
    fn wait_for(&self, timeout: Duration, done: impl Fn(&State) -> bool) -> (bool, Option<String>) {
        let deadline = Instant::now().checked_add(timeout);
        let mut st = lock(&self.shared.state);
        while !done(&st) {
            let left = match deadline {
                Some(d) => d.saturating_duration_since(Instant::now()),
                None => Duration::from_secs(86_400),
            };
            if left.is_zero() {
                return (false, None);
            }
            st = self
                .shared
                .progress
                .wait_timeout(st, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        (true, st.flush_error.take())
    }
}

impl SpanProcessor for EncodingProcessor {
    fn on_start(&self, _span: &mut Span, _cx: &Context) {}

    fn on_end(&self, span: SpanData) {
        if !span.span_context.is_sampled() {
            return;
        }
        let config = &self.shared.config;
        ENTRY.with_borrow_mut(|entry| {
            entry.clear();
            encode::put_span_entry(entry, &span);
            let mut st = lock(&self.shared.state);
            if st.shutting_down {
                return;
            }
            if st.queued >= config.max_queue_size {
                drop(st);
                self.shared.dropped.fetch_add(1, Ordering::Relaxed);
                return;
            }
            st.open.push(&span.instrumentation_scope, entry);
            st.queued += 1;
            if st.open.spans() >= config.max_export_batch_size {
                let full = std::mem::take(&mut st.open);
                st.full.push_back(full);
                drop(st);
                self.shared.work.notify_one();
            }
        });
        // `span` is freed here, on the thread that made it.
    }

    fn force_flush(&self) -> OTelSdkResult {
        let asked = {
            let mut st = lock(&self.shared.state);
            if st.shutting_down {
                return Err(OTelSdkError::AlreadyShutdown);
            }
            st.flushes_asked += 1;
            st.flushes_asked
        };
        self.shared.work.notify_one();
        match self.wait_for(self.shared.config.export_timeout, |st| {
            st.flushes_done >= asked || st.stopped
        }) {
            (false, _) => Err(OTelSdkError::Timeout(self.shared.config.export_timeout)),
            (true, Some(error)) => Err(OTelSdkError::InternalFailure(error)),
            (true, None) => Ok(()),
        }
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        {
            let mut st = lock(&self.shared.state);
            if st.shutting_down {
                return Err(OTelSdkError::AlreadyShutdown);
            }
            st.shutting_down = true;
        }
        self.shared.work.notify_one();
        let (stopped, error) = self.wait_for(timeout, |st| st.stopped);
        if !stopped {
            return Err(OTelSdkError::Timeout(timeout));
        }
        if let Some(worker) = self
            .worker
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            let _ = worker.join();
        }
        match error {
            Some(error) => Err(OTelSdkError::InternalFailure(error)),
            None => Ok(()),
        }
    }

    fn set_resource(&mut self, resource: &Resource) {
        lock(&self.shared.state).resource = Arc::new(EncodedResource::new(resource));
    }
}

impl Drop for EncodingProcessor {
    /// Without a shutdown the exporting thread still posts what is queued,
    /// then ends; nothing waits for it.
    fn drop(&mut self) {
        lock(&self.shared.state).shutting_down = true;
        self.shared.work.notify_one();
    }
}

/// The exporting thread: waits for a full batch, the delay, a flush or the
/// shutdown; posts the batches it takes; ends after the shutdown's last
/// post.
fn export_loop(shared: &Shared, exporter: &HttpSpanExporter) {
    let config = &shared.config;
    let mut reported = 0;
    let mut st = lock(&shared.state);
    loop {
        // A zero delay would spin while nothing is queued.
        let delay = config.scheduled_delay.max(Duration::from_millis(1));
        let deadline = Instant::now().checked_add(delay);
        let mut delay_passed = false;
        while st.full.is_empty() && !st.shutting_down && st.flushes_done >= st.flushes_asked {
            let left = match deadline {
                Some(d) => d.saturating_duration_since(Instant::now()),
                None => Duration::from_secs(86_400),
            };
            if left.is_zero() {
                delay_passed = true;
                break;
            }
            st = shared
                .work
                .wait_timeout(st, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        let flush = st.flushes_asked;
        let last = st.shutting_down;
        let mut batches: Vec<ScopeGroups> = st.full.drain(..).collect();
        if (delay_passed || last || flush > st.flushes_done) && st.open.spans() > 0 {
            batches.push(std::mem::take(&mut st.open));
        }
        st.queued -= batches.iter().map(ScopeGroups::spans).sum::<usize>();
        let resource = st.resource.clone();
        drop(st);

        let dropped = shared.dropped.load(Ordering::Relaxed);
        if dropped > reported {
            tracing::warn!(
                dropped = dropped - reported,
                "spans dropped: the export queue was full (OTEL_BSP_MAX_QUEUE_SIZE={})",
                config.max_queue_size
            );
            reported = dropped;
        }
        let mut error = None;
        for batch in &batches {
            let mut body = Vec::new();
            batch.encode(&resource, &mut body);
            let result = exporter.compressed(body).and_then(|b| exporter.send(b));
            if let Err(e) = result {
                tracing::warn!("failed to export {} spans: {e}", batch.spans());
                error = Some(e.to_string());
            }
        }
        drop(batches);

        st = lock(&shared.state);
        if flush > st.flushes_done || last {
            st.flushes_done = st.flushes_done.max(flush);
            st.flush_error = error.or(st.flush_error.take());
        }
        if last {
            let _ = exporter.shutdown_with_timeout(Duration::ZERO);
            st.stopped = true;
            shared.progress.notify_all();
            return;
        }
        shared.progress.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<BatchConfig, ConfigError> {
        BatchConfig::from_env(super::super::environment(vars))
    }

    #[test]
    fn batch_settings_come_from_the_sdks_variables() {
        assert_eq!(config(&[]).unwrap(), BatchConfig::default());
        let c = config(&[
            ("OTEL_BSP_SCHEDULE_DELAY", "200"),
            ("OTEL_BSP_MAX_QUEUE_SIZE", " 100 "),
            ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "10"),
            ("OTEL_BSP_EXPORT_TIMEOUT", "0"),
        ])
        .unwrap();
        assert_eq!(
            c,
            BatchConfig {
                scheduled_delay: Duration::from_millis(200),
                max_queue_size: 100,
                max_export_batch_size: 10,
                export_timeout: Duration::ZERO,
            }
        );
        // A batch is never larger than the queue.
        let c = config(&[("OTEL_BSP_MAX_QUEUE_SIZE", "64")]).unwrap();
        assert_eq!((c.max_queue_size, c.max_export_batch_size), (64, 64));
        // Empty counts as unset.
        assert_eq!(
            config(&[("OTEL_BSP_SCHEDULE_DELAY", "")]).unwrap(),
            BatchConfig::default()
        );
        for (var, bad) in [
            ("OTEL_BSP_SCHEDULE_DELAY", "5s"),
            ("OTEL_BSP_MAX_QUEUE_SIZE", "0"),
            ("OTEL_BSP_MAX_QUEUE_SIZE", "-1"),
            ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "lots"),
            ("OTEL_BSP_EXPORT_TIMEOUT", "1e3"),
        ] {
            let err = config(&[(var, bad)]).unwrap_err().to_string();
            assert!(err.contains(var) && err.contains(bad), "{err}");
        }
    }
}
