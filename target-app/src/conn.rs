//! Connection-level protection, below the router: a cap on open connections
//! (the listener stops accepting at the cap, so waiting clients stay in the
//! kernel's backlog instead of taking file descriptors), a header-read
//! timeout (a client that opened a connection or started a request must send
//! its whole head in time), an idle keep-alive timeout, and JSON bodies for
//! the errors hyper answers before any route runs (400, 414, 431).
//!
//! [`Listener`] holds a slot per accepted connection; [`Guard`] wraps each
//! connection's stream and service so that the stream knows whether a
//! request is being served, and times the connection out only when none is.
//! While the listener waits for a free slot, connections that are between
//! requests (idle keep-alive, or silent since they opened) for at least
//! [`EVICT_AFTER_IDLE`] are closed to make room, so a fresh client is not
//! stuck behind a flood of idle sockets.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use axum_server::accept::Accept;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::futures::OwnedNotified;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};

/// Default `--max-connections` when the open-file limit allows it.
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;
/// File descriptors kept free for everything but client connections.
pub const RESERVED_FDS: u64 = 256;
/// Largest request head (request line and headers), in bytes; larger heads
/// are answered 431 and the connection is closed.
pub const MAX_HEADER_BYTES: usize = 96 * 1024;

/// Under connection pressure, a connection between requests for this long is closed.
pub const EVICT_AFTER_IDLE: Duration = Duration::from_millis(250);

/// Set while the listener waits for a slot; wakes idle connections.
#[derive(Debug, Default)]
pub struct Pressure {
    waiting: AtomicBool,
    notify: Arc<Notify>,
}

impl Pressure {
    fn on(&self) -> bool {
        self.waiting.load(Ordering::Acquire)
    }
}

/// Limits on client connections.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectionLimits {
    /// Connections open at once; beyond it the listener stops accepting.
    pub max_connections: usize,
    /// A new connection, or one that started sending a request, must have
    /// sent the whole request head within this time.
    pub header_read_timeout: Duration,
    /// A keep-alive connection with no request for this long is closed.
    pub idle_timeout: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            max_connections: default_max_connections(),
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
        }
    }
}

/// [`DEFAULT_MAX_CONNECTIONS`], lowered to the soft open-file limit minus
/// [`RESERVED_FDS`] when that is smaller (at least 16).
pub fn default_max_connections() -> usize {
    let soft = procfs::process::Process::myself()
        .ok()
        .and_then(|me| me.limits().ok())
        .and_then(|l| match l.max_open_files.soft_limit {
            procfs::process::LimitValue::Value(v) => Some(v),
            procfs::process::LimitValue::Unlimited => None,
        });
    match soft {
        Some(soft) => {
            let room = usize::try_from(soft.saturating_sub(RESERVED_FDS)).unwrap_or(usize::MAX);
            room.clamp(16, DEFAULT_MAX_CONNECTIONS)
        }
        None => DEFAULT_MAX_CONNECTIONS,
    }
}

/// The address type of the capped listener (a peer's socket address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer(pub SocketAddr);

impl axum_server::Address for Peer {
    type Stream = Capped;
    type Listener = Listener;
}

impl axum::extract::connect_info::Connected<Peer> for SocketAddr {
    fn connect_info(peer: Peer) -> Self {
        peer.0
    }
}

/// A TCP listener that accepts only while a connection slot is free.
#[derive(Debug)]
pub struct Listener {
    inner: TcpListener,
    slots: Arc<Semaphore>,
    pressure: Arc<Pressure>,
}

impl Listener {
    /// The listener; give `pressure` to the [`Guard`] of the same server.
    pub fn new(inner: TcpListener, max_connections: usize, pressure: Arc<Pressure>) -> Self {
        Self {
            inner,
            slots: Arc::new(Semaphore::new(max_connections.max(1))),
            pressure,
        }
    }
}

impl axum_server::AddrListener<Capped, Peer> for Listener {
    async fn bind_to(_addr: Peer) -> io::Result<Self> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "a capped listener is built from a bound socket",
        ))
    }

    async fn accept_stream(&self) -> io::Result<(Capped, Peer)> {
        let slot = match self.slots.clone().try_acquire_owned() {
            Ok(slot) => slot,
            Err(_) => {
                self.pressure.waiting.store(true, Ordering::Release);
                self.pressure.notify.notify_waiters();
                let slot = self.slots.clone().acquire_owned().await;
                self.pressure.waiting.store(false, Ordering::Release);
                slot.map_err(io::Error::other)?
            }
        };
        let (stream, addr) = self.inner.accept().await?;
        Ok((
            Capped {
                stream,
                _slot: slot,
            },
            Peer(addr),
        ))
    }

    fn get_local_addr(&self) -> io::Result<Peer> {
        self.inner.local_addr().map(Peer)
    }
}

/// An accepted TCP stream holding its connection slot until it is dropped.
#[derive(Debug)]
pub struct Capped {
    stream: TcpStream,
    _slot: OwnedSemaphorePermit,
}

impl AsyncRead for Capped {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Capped {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// What a connection's stream and its service share.
#[derive(Debug)]
struct ConnState {
    /// Requests the service is running on this connection.
    in_flight: AtomicUsize,
    times: Mutex<Times>,
    /// The reader's waker, woken when the last request ends so the idle
    /// timer is armed even if hyper does not read again on its own.
    reader: Mutex<Option<Waker>>,
}

#[derive(Debug, Clone, Copy)]
struct Times {
    /// When the current request head began (the connection's start for the first).
    head_since: Option<Instant>,
    /// Bytes read since the current request head began.
    head_bytes: usize,
    /// Last read or write.
    last_activity: Instant,
}

impl ConnState {
    fn new() -> Self {
        let now = Instant::now();
        Self {
            in_flight: AtomicUsize::new(0),
            times: Mutex::new(Times {
                head_since: Some(now),
                head_bytes: 0,
                last_activity: now,
            }),
            reader: Mutex::new(None),
        }
    }

    fn times(&self) -> std::sync::MutexGuard<'_, Times> {
        match self.times.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    fn reader(&self) -> std::sync::MutexGuard<'_, Option<Waker>> {
        match self.reader.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    fn busy(&self) -> bool {
        self.in_flight.load(Ordering::Acquire) > 0
    }
}

/// Wraps each connection: its stream in [`Guarded`], its service in [`Tracked`].
#[derive(Debug, Clone)]
pub struct Guard<A> {
    inner: A,
    header_read_timeout: Duration,
    idle_timeout: Duration,
    pressure: Arc<Pressure>,
}

impl<A> Guard<A> {
    pub fn new(inner: A, limits: &ConnectionLimits, pressure: Arc<Pressure>) -> Self {
        Self {
            inner,
            header_read_timeout: limits.header_read_timeout,
            idle_timeout: limits.idle_timeout,
            pressure,
        }
    }
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<A, I, S> Accept<I, S> for Guard<A>
where
    A: Accept<I, S>,
    A::Future: Send + 'static,
    A::Stream: Send + 'static,
    A::Service: Send + 'static,
{
    type Stream = Guarded<A::Stream>;
    type Service = Tracked<A::Service>;
    type Future = BoxFuture<io::Result<(Self::Stream, Self::Service)>>;

    fn accept(&self, stream: I, service: S) -> Self::Future {
        let inner = self.inner.accept(stream, service);
        let header_read_timeout = self.header_read_timeout;
        let idle_timeout = self.idle_timeout;
        let pressure = self.pressure.clone();
        Box::pin(async move {
            let (stream, service) = inner.await?;
            let state = Arc::new(ConnState::new());
            let stream = Guarded {
                inner: stream,
                state: state.clone(),
                header_read_timeout,
                idle_timeout,
                timer: Box::pin(tokio::time::sleep(header_read_timeout)),
                pressure,
                notified: None,
                replacement: Vec::new(),
                replaced: false,
                rejected: false,
            };
            Ok((
                stream,
                Tracked {
                    inner: service,
                    state,
                },
            ))
        })
    }
}

/// A connection's service, counting the requests it is running.
#[derive(Debug, Clone)]
pub struct Tracked<S> {
    inner: S,
    state: Arc<ConnState>,
}

struct InFlight(Arc<ConnState>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let left = self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
        self.0.times().last_activity = Instant::now();
        if left == 1
            && let Some(waker) = self.0.reader().take()
        {
            waker.wake();
        }
    }
}

impl<S, R> tower_service::Service<R> for Tracked<S>
where
    S: tower_service::Service<R>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<S::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: R) -> Self::Future {
        self.state.in_flight.fetch_add(1, Ordering::AcqRel);
        {
            let mut times = self.state.times();
            times.head_since = None;
            times.head_bytes = 0;
        }
        let guard = InFlight(self.state.clone());
        let future = self.inner.call(req);
        Box::pin(async move {
            let response = future.await;
            drop(guard);
            response
        })
    }
}

/// A connection's stream, closed when the client is too slow to send a
/// request head or idle too long, and whose hyper-made error answers get a
/// JSON body.
pub struct Guarded<T> {
    inner: T,
    state: Arc<ConnState>,
    header_read_timeout: Duration,
    idle_timeout: Duration,
    timer: Pin<Box<Sleep>>,
    pressure: Arc<Pressure>,
    /// Armed while idle: fires when the listener runs out of slots.
    notified: Option<Pin<Box<OwnedNotified>>>,
    /// A rewritten response still to be written, in place of hyper's.
    replacement: Vec<u8>,
    replaced: bool,
    /// The request head grew past [`MAX_HEADER_BYTES`]: answer 431, then close.
    rejected: bool,
}

impl<T> std::fmt::Debug for Guarded<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guarded")
            .field("in_flight", &self.state.in_flight)
            .finish_non_exhaustive()
    }
}

impl<T> Guarded<T> {
    /// When the connection times out if nothing happens, and why.
    fn deadline(&self) -> Option<(Instant, &'static str)> {
        if self.state.busy() {
            return None;
        }
        let times = *self.state.times();
        let (at, why) = match times.head_since {
            Some(since) => (
                since
                    .checked_add(self.header_read_timeout)
                    .unwrap_or_else(far_future),
                "header read timeout",
            ),
            None => (
                times
                    .last_activity
                    .checked_add(self.idle_timeout)
                    .unwrap_or_else(far_future),
                "idle timeout",
            ),
        };
        // Between requests, under pressure: make room for a new connection.
        if times.head_bytes == 0 && self.pressure.on() {
            let evict = times
                .last_activity
                .checked_add(EVICT_AFTER_IDLE)
                .unwrap_or_else(far_future);
            if evict < at {
                return Some((evict, "closed to free a connection slot"));
            }
        }
        Some((at, why))
    }
}

fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86_400 * 365)
}

impl<T: AsyncRead + AsyncWrite + Unpin> AsyncRead for Guarded<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.rejected {
            return self.poll_reject(cx);
        }
        {
            let mut reader = self.state.reader();
            if !reader.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                *reader = Some(cx.waker().clone());
            }
        }
        if !self.state.busy() {
            // Wake up when the listener runs out of slots, to re-check.
            let notify = self.pressure.notify.clone();
            let notified = self
                .notified
                .get_or_insert_with(|| Box::pin(notify.notified_owned()));
            if notified.as_mut().poll(cx).is_ready() {
                self.notified = None;
                cx.waker().wake_by_ref();
            }
        }
        if let Some((deadline, why)) = self.deadline() {
            if self.timer.deadline() != deadline {
                self.timer.as_mut().reset(deadline);
            }
            if self.timer.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, why)));
            }
        }
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        let read = buf.filled().len() - before;
        if let Poll::Ready(Ok(())) = result
            && read > 0
        {
            let now = Instant::now();
            let busy = self.state.busy();
            let too_large = {
                let mut times = self.state.times();
                times.last_activity = now;
                if !busy {
                    if times.head_since.is_none() {
                        times.head_since = Some(now);
                    }
                    times.head_bytes = times.head_bytes.saturating_add(read);
                }
                !busy && times.head_bytes > MAX_HEADER_BYTES
            };
            if too_large && !self.replaced {
                buf.set_filled(before);
                self.replaced = true;
                self.rejected = true;
                self.replacement = error_response(431).unwrap_or_default();
                return self.poll_reject(cx);
            }
        }
        result
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin> Guarded<T> {
    /// Writes the 431 answer, then fails the read so hyper closes.
    fn poll_reject(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        std::task::ready!(self.poll_replacement(cx))?;
        std::task::ready!(Pin::new(&mut self.inner).poll_flush(cx))?;
        Poll::Ready(Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "request head too large",
        )))
    }
}

impl<T: AsyncWrite + Unpin> Guarded<T> {
    /// Writes what is left of a replacement response.
    fn poll_replacement(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.replacement.is_empty() {
            let n = std::task::ready!(Pin::new(&mut self.inner).poll_write(cx, &self.replacement))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.replacement.drain(..n);
        }
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin> AsyncWrite for Guarded<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        std::task::ready!(self.poll_replacement(cx))?;
        let head_pending = !self.state.busy() && self.state.times().head_since.is_some();
        if head_pending
            && !self.replaced
            && let Some(body) = rewrite_parse_error(buf)
        {
            self.replaced = true;
            self.replacement = body;
            // The replacement stands for all of hyper's bytes.
            let _ = self.poll_replacement(cx)?;
            return Poll::Ready(Ok(buf.len()));
        }
        let result = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = result
            && n > 0
        {
            self.state.times().last_activity = Instant::now();
        }
        result
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        std::task::ready!(self.poll_replacement(cx))?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        std::task::ready!(self.poll_replacement(cx))?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// When `written` is the bodiless response hyper sends for a request it
/// could not parse (written before any route ran), the same status with the
/// service's JSON error body.
pub fn rewrite_parse_error(written: &[u8]) -> Option<Vec<u8>> {
    let rest = written
        .strip_prefix(b"HTTP/1.1 ")
        .or_else(|| written.strip_prefix(b"HTTP/1.0 "))?;
    if !written.ends_with(b"\r\n\r\n") || written.len() > 1024 {
        return None;
    }
    let head = std::str::from_utf8(written).ok()?.to_ascii_lowercase();
    if !head.contains("\r\ncontent-length: 0\r\n") {
        return None;
    }
    let code: u16 = std::str::from_utf8(rest.get(..3)?).ok()?.parse().ok()?;
    error_response(code)
}

/// A whole `connection: close` response with the service's JSON error body,
/// for the statuses answered before routing.
fn error_response(code: u16) -> Option<Vec<u8>> {
    let (error, message) = match code {
        400 => (
            "malformed_request",
            "the request line or a header is not valid HTTP/1.1",
        ),
        414 => (
            "uri_too_long",
            "the request target is longer than 65534 bytes",
        ),
        431 => (
            "headers_too_large",
            "the request line and headers are larger than 96 KiB",
        ),
        _ => return None,
    };
    let reason = axum::http::StatusCode::from_u16(code)
        .ok()?
        .canonical_reason()
        .unwrap_or("");
    let body = serde_json::json!({ "error": error, "message": message }).to_string();
    Some(
        format!(
            "HTTP/1.1 {code} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
        .into_bytes(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hyper_parse_errors_get_a_json_body() {
        let hyper = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\ndate: Tue, 01 Dec 2026 08:00:00 GMT\r\n\r\n";
        let out = String::from_utf8(rewrite_parse_error(hyper).unwrap()).unwrap();
        assert!(
            out.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"),
            "{out}"
        );
        let (head, body) = out.split_once("\r\n\r\n").unwrap();
        assert!(head.contains(&format!("content-length: {}", body.len())));
        let json: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(json["error"], "headers_too_large");
    }

    #[test]
    fn ordinary_responses_are_left_alone() {
        for written in [
            &b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"[..],
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 12\r\n\r\n",
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n{}",
            b"{\"error\":\"x\"}",
            b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n",
        ] {
            assert_eq!(rewrite_parse_error(written), None, "{written:?}");
        }
    }

    #[test]
    fn the_default_cap_leaves_file_descriptors_free() {
        let cap = default_max_connections();
        assert!((16..=DEFAULT_MAX_CONNECTIONS).contains(&cap));
    }
}
