//! The HTTP client of one user: a single keep-alive connection (as a
//! browser tab or a wrk connection), opened on first use and reopened when
//! the server closes it (or, over HTTP/2, sends GOAWAY). A request costs
//! little more than its bytes on the wire: it is built once ([`request`]),
//! over HTTP/1.1 its pre-encoded head is written and the response parsed by
//! the user itself (`h1.rs`), over HTTP/2 it goes through hyper. Redirects
//! are not followed (a 3xx is reported as what it is) and no proxy is
//! consulted.
//!
//! HTTP/1.1 is the default. With `http2`, an https target is offered `h2`
//! and `http/1.1` by ALPN (the server chooses), and a plain http target is
//! spoken to in h2c with prior knowledge. Each user still has its own
//! connection and one request in flight on it: over HTTP/2 that is one
//! stream at a time, so a connection's streams count as users' concurrency.
//! TLS options (trust, insecure, client certificate) live in [`tls`].
//!
//! Host names are looked up once for all users and the answer is kept for a
//! short while ([`DNS_TTL`], or [`DNS_FAILURE_TTL`] for a failed lookup), so a
//! failing resolver costs one lookup at a time, not one per request. Every
//! failure carries a short reason (`connection refused`, `dns: no such host`,
//! `certificate verify failed: unknown issuer`) for the report.
//!
//! A request's response headers and the first [`MAX_KEPT_BODY`] bytes of its
//! body are kept only when [`Connection::send`] is asked to ([`Keep`], for
//! checks, captures and cookies), and `extra` headers (a `cookie`) are added
//! to one request only; without them a request allocates as before.

mod h1;
pub mod request;
pub mod tls;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

use http::header::HeaderValue;
use http::{Response, Uri, Version};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::client::conn::http2;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;

pub use self::h1::MAX_HEAD;
pub use self::request::{AGENT, Prepared, Traceparent, traceparent};
pub use self::tls::{ClientOptions, TlsError, TlsOptions};

/// Where requests go: scheme, host, port and an optional base path.
#[derive(Clone)]
pub struct Target {
    host: String,
    port: u16,
    authority: HeaderValue,
    /// Prefix of every request path (from a base URL like `http://h/api`).
    pub base_path: String,
    /// `http` or `https`.
    scheme: http::uri::Scheme,
    /// `authority` for absolute URIs (HTTP/2).
    uri_authority: http::uri::Authority,
    tls: Option<(Arc<rustls::ClientConfig>, ServerName<'static>)>,
    /// h2c over http (prior knowledge); h2 offered by ALPN over https.
    http2: bool,
    /// The last lookup of `host`, shared by all users.
    dns: Arc<std::sync::Mutex<Dns>>,
    /// The HTTP versions of the responses, as [`version_bit`]s of all users.
    versions: Arc<AtomicU8>,
}

/// The shared lookup state: the last answer, and the lookup under way.
#[derive(Default)]
struct Dns {
    last: Option<Lookup>,
    pending: Option<tokio::sync::watch::Receiver<bool>>,
}

/// How long a successful lookup is used.
pub const DNS_TTL: Duration = Duration::from_secs(30);
/// How long a failed lookup is used before the host is looked up again.
pub const DNS_FAILURE_TTL: Duration = Duration::from_secs(1);

/// A lookup and when it was made.
struct Lookup {
    at: Instant,
    result: Result<Vec<SocketAddr>, String>,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls.is_some())
            .field("http2", &self.http2)
            .finish()
    }
}

impl Target {
    /// Parses a base URL (`http` or `https`) with the default options
    /// (HTTP/1.1, the web roots).
    pub fn parse(base: &str) -> Result<Self, String> {
        Self::new(base, &ClientOptions::default(), None).map_err(|e| e.to_string())
    }

    /// Parses a base URL (`http` or `https`) and builds the client's TLS
    /// configuration from `options` (reading their PEM files);
    /// `ssl_cert_file` is the value of `SSL_CERT_FILE`.
    pub fn new(
        base: &str,
        options: &ClientOptions,
        ssl_cert_file: Option<PathBuf>,
    ) -> Result<Self, TargetError> {
        let url = reqwest::Url::parse(base).map_err(|e| format!("{base:?} is not a URL: {e}"))?;
        let host = url
            .host_str()
            .ok_or_else(|| format!("{base:?} has no host"))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = url
            .port_or_known_default()
            .ok_or_else(|| format!("{base:?} has no port"))?;
        let authority = match url.port() {
            Some(p) => format!("{}:{p}", url.host_str().unwrap_or_default()),
            None => url.host_str().unwrap_or_default().to_owned(),
        };
        let uri_authority = http::uri::Authority::try_from(authority.as_str())
            .map_err(|e| format!("{base:?}: {e}"))?;
        let authority = HeaderValue::try_from(authority).map_err(|e| format!("{base:?}: {e}"))?;
        let (scheme, tls) = match url.scheme() {
            "http" => (http::uri::Scheme::HTTP, None),
            "https" => {
                let config = tls::client_config(options, ssl_cert_file)?;
                let name =
                    ServerName::try_from(host.clone()).map_err(|e| format!("{base:?}: {e}"))?;
                (http::uri::Scheme::HTTPS, Some((config, name)))
            }
            other => return Err(format!("{base:?}: unsupported scheme {other:?}").into()),
        };
        Ok(Self {
            host,
            port,
            authority,
            base_path: url.path().trim_end_matches('/').to_owned(),
            scheme,
            uri_authority,
            tls,
            http2: options.http2,
            dns: Arc::default(),
            versions: Arc::default(),
        })
    }

    /// The HTTP versions the responses came in (`HTTP/1.1`, `HTTP/2`, or
    /// both, comma-separated); `None` before any response.
    pub fn http_versions(&self) -> Option<String> {
        let seen = self.versions.load(Ordering::Relaxed);
        let names: Vec<&str> = VERSIONS
            .iter()
            .filter(|(v, _)| seen & version_bit(*v) != 0)
            .map(|(_, name)| *name)
            .collect();
        (!names.is_empty()).then(|| names.join(", "))
    }

    /// The addresses of the host: an IP literal as it is, a name from the
    /// shared lookup. At most one lookup runs at a time, in its own task, so
    /// a caller that stops waiting (its request timed out) costs nothing more.
    /// Waiting ends early when `cut` completes (the run's schedule is over).
    async fn addresses(&self, cut: impl Future<Output = ()>) -> Result<Vec<SocketAddr>, SendError> {
        if let Ok(ip) = self.host.parse::<std::net::IpAddr>() {
            return Ok(vec![SocketAddr::new(ip, self.port)]);
        }
        let answer = |l: &Lookup| match &l.result {
            Ok(addrs) => Ok(addrs.clone()),
            Err(reason) => Err(SendError::Connect(reason.clone())),
        };
        let mut waiting = {
            let mut dns = self.dns.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(l) = &dns.last {
                let ttl = if l.result.is_ok() {
                    DNS_TTL
                } else {
                    DNS_FAILURE_TTL
                };
                if l.at.elapsed() < ttl {
                    return answer(l);
                }
            }
            match &dns.pending {
                Some(rx) => rx.clone(),
                None => {
                    let (tx, rx) = tokio::sync::watch::channel(false);
                    dns.pending = Some(rx.clone());
                    let (shared, host, port) = (self.dns.clone(), self.host.clone(), self.port);
                    tokio::spawn(async move {
                        let result = match tokio::net::lookup_host((host.as_str(), port)).await {
                            Ok(addrs) => {
                                let addrs: Vec<SocketAddr> = addrs.collect();
                                if addrs.is_empty() {
                                    Err("dns: no address for the host".to_owned())
                                } else {
                                    Ok(addrs)
                                }
                            }
                            Err(e) => Err(dns_reason(&e)),
                        };
                        let mut dns = shared.lock().unwrap_or_else(|e| e.into_inner());
                        dns.last = Some(Lookup {
                            at: Instant::now(),
                            result,
                        });
                        dns.pending = None;
                        let _ = tx.send(true);
                    });
                    rx
                }
            }
        };
        let done = tokio::select! {
            r = waiting.wait_for(|d| *d) => r.is_ok(),
            _ = cut => {
                return Err(SendError::Connect(
                    "dns: no answer before the end of the run".into(),
                ));
            }
        };
        let dns = self.dns.lock().unwrap_or_else(|e| e.into_inner());
        match (&dns.last, done) {
            (Some(l), true) => answer(l),
            _ => Err(SendError::Connect("dns: the lookup did not finish".into())),
        }
    }

    /// The origin-form target of `path` (which starts with `/`); over
    /// HTTP/2 the connection adds the scheme and authority.
    pub fn uri(&self, path: &str) -> Result<Uri, http::uri::InvalidUri> {
        if self.base_path.is_empty() {
            Uri::try_from(path)
        } else {
            Uri::try_from(format!("{}{path}", self.base_path))
        }
    }

    /// `uri` in absolute form, as HTTP/2 sends it (`:scheme`, `:authority`).
    fn absolute(&self, uri: Uri) -> Result<Uri, SendError> {
        if uri.scheme().is_some() {
            return Ok(uri);
        }
        let mut parts = uri.into_parts();
        parts.scheme = Some(self.scheme.clone());
        parts.authority = Some(self.uri_authority.clone());
        if parts.path_and_query.is_none() {
            parts.path_and_query = Some(http::uri::PathAndQuery::from_static("/"));
        }
        Uri::from_parts(parts).map_err(|e| SendError::Request(format!("invalid URI: {e}")))
    }
}

/// The versions a response can come in, with their names in the report.
const VERSIONS: [(Version, &str); 5] = [
    (Version::HTTP_09, "HTTP/0.9"),
    (Version::HTTP_10, "HTTP/1.0"),
    (Version::HTTP_11, "HTTP/1.1"),
    (Version::HTTP_2, "HTTP/2"),
    (Version::HTTP_3, "HTTP/3"),
];

/// One bit per version in [`VERSIONS`].
fn version_bit(v: Version) -> u8 {
    VERSIONS
        .iter()
        .position(|(known, _)| *known == v)
        .map_or(0, |i| 1 << i)
}

/// Why a target cannot be used: its URL, or its TLS material.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error("{0}")]
    Url(String),
    #[error("{}\n  = hint: {}", .0, .0.hint())]
    Tls(TlsError),
}

impl From<String> for TargetError {
    fn from(e: String) -> Self {
        TargetError::Url(e)
    }
}

impl From<TlsError> for TargetError {
    fn from(e: TlsError) -> Self {
        TargetError::Tls(e)
    }
}

/// Why a request failed, with a short reason for the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendError {
    /// The connection could not be opened (lookup, TCP or TLS).
    Connect(String),
    /// The request or the response failed on an open connection.
    Request(String),
}

/// The reason for a failed host lookup. The resolver's error (from
/// `getaddrinfo`) reads `failed to lookup address information: DETAIL`.
pub fn dns_reason(e: &std::io::Error) -> String {
    let text = e.to_string();
    let detail = text
        .strip_prefix("failed to lookup address information: ")
        .unwrap_or(&text);
    let lower = detail.to_ascii_lowercase();
    let what = if lower.contains("name or service not known")
        || lower.contains("nodename nor servname")
        || lower.contains("no address associated")
        || lower.contains("no such host")
    {
        "no such host"
    } else if lower.contains("temporary failure") {
        "temporary failure in name resolution"
    } else {
        detail
    };
    format!("dns: {what}")
}

/// The reason for a failed TCP connect.
pub fn connect_reason(e: &std::io::Error) -> String {
    use std::io::ErrorKind;
    match e.kind() {
        ErrorKind::ConnectionRefused => "connection refused".into(),
        ErrorKind::ConnectionReset => "connection reset".into(),
        ErrorKind::TimedOut => "connect timed out".into(),
        ErrorKind::AddrNotAvailable => "address not available".into(),
        ErrorKind::HostUnreachable => "host unreachable".into(),
        ErrorKind::NetworkUnreachable => "network unreachable".into(),
        ErrorKind::PermissionDenied => "connect not permitted".into(),
        _ => format!("connect: {e}"),
    }
}

/// The reason for a failed TLS handshake: certificate problems say
/// `certificate verify failed: ...` ([`tls::rustls_reason`]).
pub fn tls_reason(e: &std::io::Error) -> String {
    match e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
        Some(inner) => tls::rustls_reason(inner),
        None => match e.kind() {
            std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::ConnectionReset => {
                "tls handshake failed: the server closed the connection".into()
            }
            _ => format!("tls handshake failed: {e}"),
        },
    }
}

/// The reason for a failed exchange on an open connection. A TLS alert
/// that arrives after the handshake (TLS 1.3 servers refuse a missing
/// client certificate so) reads as the TLS failure it is.
pub fn request_reason(e: &hyper::Error) -> String {
    if let Some(r) = tls::find_rustls(e) {
        tls::rustls_reason(r)
    } else if e.is_incomplete_message() {
        "connection closed before the response was complete".into()
    } else if e.is_parse() || e.is_parse_status() {
        format!("invalid response: {e}")
    } else if e.is_body_write_aborted() || e.is_canceled() || e.is_closed() {
        "connection closed by the server".into()
    } else {
        match std::error::Error::source(e) {
            Some(s) => format!("{e}: {s}"),
            None => e.to_string(),
        }
    }
}

/// The most bytes of a response body that are kept ([`Keep::body`]); the
/// rest is read and counted, not kept.
pub const MAX_KEPT_BODY: usize = 1 << 20;

/// What of a response to keep beyond its status and size. The default keeps
/// nothing (and costs nothing).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Keep {
    /// The final response's header fields.
    pub headers: bool,
    /// The first [`MAX_KEPT_BODY`] bytes of the body (after transfer decoding).
    pub body: bool,
}

impl Keep {
    /// Whether anything is kept.
    pub fn any(self) -> bool {
        self.headers || self.body
    }
}

/// What was kept of a response, as [`Keep`] asked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Kept {
    /// The final response's header fields (not those of an interim 1xx),
    /// every value of a repeated field (`set-cookie`) in order; empty
    /// unless [`Keep::headers`]. Over HTTP/1.1, a field whose name or value
    /// is not valid for `http` is left out.
    pub headers: http::HeaderMap,
    /// The first [`MAX_KEPT_BODY`] bytes of the decoded body; empty unless
    /// [`Keep::body`].
    pub body: Bytes,
    /// The body was longer than [`MAX_KEPT_BODY`]: `body` is its start.
    pub body_truncated: bool,
}

/// A response body being kept, up to [`MAX_KEPT_BODY`] bytes.
#[derive(Debug, Default)]
struct KeptBody {
    bytes: Vec<u8>,
    truncated: bool,
}

impl KeptBody {
    /// Appends what fits of `data` under the cap.
    fn push(&mut self, data: &[u8]) {
        let room = MAX_KEPT_BODY.saturating_sub(self.bytes.len());
        if data.len() > room {
            self.truncated = true;
        }
        self.bytes
            .extend_from_slice(data.get(..room.min(data.len())).unwrap_or_default());
    }
}

/// What came back for a request: its status, the size of its body, and
/// what was kept of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub status: u16,
    /// Bytes of the response body (after any transfer decoding), all of it
    /// whatever was kept.
    pub body_bytes: u64,
    /// Present iff the request asked to keep something ([`Keep::any`]).
    pub kept: Option<Box<Kept>>,
}

/// The sending half of an open connection: HTTP/1.1 written and read by
/// the user itself (`h1.rs`), HTTP/2 through hyper's connection task.
enum Sender {
    H1(Box<h1::H1>),
    H2(http2::SendRequest<Full<Bytes>>),
}

impl Sender {
    /// Whether a request can be sent (waiting for HTTP/2 to be ready);
    /// false when the connection is closed (by the server, or by GOAWAY
    /// over HTTP/2).
    async fn ready(&mut self) -> bool {
        match self {
            Sender::H1(c) => !c.closed_while_idle(),
            Sender::H2(s) => s.ready().await.is_ok(),
        }
    }
}

/// A request's failure on an open connection: a TLS alert found in it
/// (the server refused the client after the handshake) is a connect error.
fn exchange_error(e: &hyper::Error) -> SendError {
    if tls::find_rustls(e).is_some() {
        SendError::Connect(request_reason(e))
    } else {
        SendError::Request(request_reason(e))
    }
}

/// A server that answers h2c's connection preface in HTTP/1.1 (it does not
/// speak HTTP/2 with prior knowledge) makes h2 see a malformed frame, or
/// the connection closed, before the first response: the reason says what
/// that likely means.
fn h2c_hint(error: SendError) -> SendError {
    match error {
        SendError::Request(r)
            if r.contains("frame with invalid size")
                || r == "connection closed by the server"
                // The server closed as the preface was still being written.
                || r.contains("broken pipe") =>
        {
            SendError::Request(format!(
                "the server does not speak h2c (HTTP/2 without TLS)? drop --http2 ({r})"
            ))
        }
        other => other,
    }
}

/// One user's connection.
#[derive(Default)]
pub struct Connection {
    sender: Option<Sender>,
    /// The [`version_bit`]s of the responses seen on it.
    versions: u8,
}

impl Connection {
    async fn open(
        target: &Target,
        connect_timeout: Duration,
        cut: impl Future<Output = ()>,
    ) -> Result<Sender, SendError> {
        let stream = tokio::time::timeout(connect_timeout, async {
            let mut last = None;
            for addr in target.addresses(cut).await? {
                match TcpStream::connect(addr).await {
                    Ok(s) => return Ok(s),
                    Err(e) => last = Some(connect_reason(&e)),
                }
            }
            Err(SendError::Connect(
                last.unwrap_or_else(|| "connect: no address".into()),
            ))
        })
        .await
        .map_err(|_| SendError::Connect("connect timed out".into()))??;
        let _ = stream.set_nodelay(true);
        match &target.tls {
            None if target.http2 => handshake_h2(stream).await,
            None => Ok(Sender::H1(Box::new(h1::H1::new(h1::Io::Tcp(stream))))),
            Some((config, name)) => {
                let tls = tokio_rustls::TlsConnector::from(config.clone())
                    .connect(name.clone(), stream)
                    .await
                    .map_err(|e| SendError::Connect(tls_reason(&e)))?;
                if tls.get_ref().1.alpn_protocol() == Some(b"h2") {
                    handshake_h2(tls).await
                } else {
                    Ok(Sender::H1(Box::new(h1::H1::new(h1::Io::Tls(Box::new(
                        tls,
                    ))))))
                }
            }
        }
    }

    /// Sends a request with its `traceparent` and `extra` headers (added to
    /// this request only, after the prepared ones; an extra `cookie` joins
    /// the request's own, see [`request`]) and reads the whole response; returns
    /// its status and size, and what `keep` asks for of its headers and
    /// body. A host lookup still unanswered when `cut` completes fails the
    /// request.
    #[allow(clippy::too_many_arguments)]
    pub async fn send(
        &mut self,
        target: &Target,
        request: &Prepared,
        tp: &Traceparent,
        keep: Keep,
        extra: &[(http::HeaderName, HeaderValue)],
        connect_timeout: Duration,
        cut: impl Future<Output = ()>,
    ) -> Result<Received, SendError> {
        // A connection the server closed while idle is replaced before use.
        let reusable = match self.sender.as_mut() {
            Some(s) => s.ready().await,
            None => false,
        };
        let (mut sender, fresh) = match self.sender.take() {
            Some(s) if reusable => (s, false),
            _ => (Self::open(target, connect_timeout, cut).await?, true),
        };
        let (received, version, reusable) = match &mut sender {
            Sender::H1(c) => {
                let (r, kept) = c.exchange(request, tp, keep, extra).await?;
                let received = Received {
                    status: r.status,
                    body_bytes: r.body_bytes,
                    kept,
                };
                (received, r.version, r.reusable)
            }
            Sender::H2(s) => {
                let response: Response<Incoming> = s
                    .send_request(request.to_h2(target, tp, extra)?)
                    .await
                    .map_err(|e| {
                        let error = exchange_error(&e);
                        if fresh && target.tls.is_none() {
                            h2c_hint(error)
                        } else {
                            error
                        }
                    })?;
                let status = response.status().as_u16();
                let version = response.version();
                let (parts, mut body) = response.into_parts();
                let mut kept_body = keep.body.then(KeptBody::default);
                let mut body_bytes: u64 = 0;
                while let Some(frame) = body.frame().await {
                    let frame = frame.map_err(|e| exchange_error(&e))?;
                    if let Some(data) = frame.data_ref() {
                        body_bytes = body_bytes.saturating_add(data.len() as u64);
                        if let Some(k) = kept_body.as_mut() {
                            k.push(data);
                        }
                    }
                }
                let kept = keep.any().then(|| {
                    let body = kept_body.unwrap_or_default();
                    Box::new(Kept {
                        headers: if keep.headers {
                            parts.headers
                        } else {
                            http::HeaderMap::new()
                        },
                        body: Bytes::from(body.bytes),
                        body_truncated: body.truncated,
                    })
                });
                let received = Received {
                    status,
                    body_bytes,
                    kept,
                };
                (received, version, true)
            }
        };
        let bit = version_bit(version);
        if self.versions & bit == 0 {
            self.versions |= bit;
            target.versions.fetch_or(bit, Ordering::Relaxed);
        }
        if reusable {
            self.sender = Some(sender);
        }
        Ok(received)
    }
}

/// The HTTP/2 handshake on an open stream (prior knowledge, or `h2`
/// chosen by ALPN); the connection's task runs on its own.
async fn handshake_h2<T>(io: T) -> Result<Sender, SendError>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (sender, conn) = http2::handshake(TokioExecutor::new(), TokioIo::new(io))
        .await
        .map_err(|e| SendError::Connect(request_reason(&e)))?;
    tokio::spawn(conn);
    Ok(Sender::H2(sender))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        let t = Target::parse("http://127.0.0.1:8080").unwrap();
        assert_eq!((t.host.as_str(), t.port), ("127.0.0.1", 8080));
        assert_eq!(t.authority, "127.0.0.1:8080");
        assert_eq!(t.uri("/x?y=1").unwrap(), "/x?y=1");
        let t = Target::parse("https://example.com/api/").unwrap();
        assert_eq!((t.port, t.base_path.as_str()), (443, "/api"));
        assert_eq!(t.uri("/x").unwrap(), "/api/x");
        let t = Target::parse("http://[::1]:9/").unwrap();
        assert_eq!(t.host, "::1");
        assert_eq!(t.authority, "[::1]:9");
        assert!(Target::parse("ftp://h/").is_err());
        assert!(Target::parse("nope").is_err());
    }

    /// The error a failed lookup gives: std's resolver path wraps
    /// `gai_strerror(EAI_NONAME)` as "failed to lookup address information: ...".
    /// (No lookup is made here: tests send no DNS queries.)
    #[test]
    fn a_failed_lookup_reads_dns_no_such_host() {
        let e = std::io::Error::other(
            "failed to lookup address information: Name or service not known",
        );
        assert_eq!(dns_reason(&e), "dns: no such host");
        let e = std::io::Error::other(
            "failed to lookup address information: Temporary failure in name resolution",
        );
        assert_eq!(dns_reason(&e), "dns: temporary failure in name resolution");
        let e = std::io::Error::other("failed to lookup address information: Weird");
        assert_eq!(dns_reason(&e), "dns: Weird");
    }

    /// A lookup that hangs (a resolver that never answers) is waited for by
    /// every caller at once, each only as long as its own bound, and starts
    /// no second lookup; its failure then answers them all and is kept for
    /// a while. No lookup is made here: the state is set by hand.
    #[tokio::test]
    async fn a_hanging_lookup_is_shared_and_bounded() {
        let t = Target::parse("http://loadgen-test.invalid:8080").unwrap();
        let (done, pending) = tokio::sync::watch::channel(false);
        t.dns.lock().unwrap().pending = Some(pending);
        let started = Instant::now();
        let waiting: Vec<_> = (0..20)
            .map(|_| {
                let t = t.clone();
                tokio::spawn(async move {
                    tokio::time::timeout(
                        Duration::from_millis(200),
                        t.addresses(std::future::pending()),
                    )
                    .await
                })
            })
            .collect();
        for w in waiting {
            assert!(w.await.unwrap().is_err(), "bounded by the caller's timeout");
        }
        assert!(started.elapsed() < Duration::from_secs(2));
        assert!(t.dns.lock().unwrap().last.is_none(), "no other lookup ran");
        // The lookup fails: the callers waiting get its reason at once.
        let caller = {
            let t = t.clone();
            tokio::spawn(async move { t.addresses(std::future::pending()).await })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        {
            let mut dns = t.dns.lock().unwrap();
            dns.last = Some(Lookup {
                at: Instant::now(),
                result: Err("dns: no such host".into()),
            });
            dns.pending = None;
        }
        done.send(true).unwrap();
        assert_eq!(
            caller.await.unwrap(),
            Err(SendError::Connect("dns: no such host".into()))
        );
        // Within DNS_FAILURE_TTL, callers get the failure without a lookup.
        assert_eq!(
            t.addresses(std::future::pending()).await,
            Err(SendError::Connect("dns: no such host".into()))
        );
        assert!(t.dns.lock().unwrap().pending.is_none());
        // A lookup still pending when the run ends fails the wait at once.
        let t = Target::parse("http://loadgen-test.invalid:8080").unwrap();
        let (_done, pending) = tokio::sync::watch::channel(false);
        t.dns.lock().unwrap().pending = Some(pending);
        let (end, mut ended) = tokio::sync::watch::channel(false);
        let caller = tokio::spawn(async move {
            let cut = async move {
                let _ = ended.wait_for(|e| *e).await;
            };
            t.addresses(cut).await
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        end.send(true).unwrap();
        let r = tokio::time::timeout(Duration::from_secs(1), caller)
            .await
            .expect("the end of the run cuts the wait");
        assert_eq!(
            r.unwrap(),
            Err(SendError::Connect(
                "dns: no answer before the end of the run".into()
            ))
        );
    }

    #[test]
    fn versions_are_named_once_each() {
        let t = Target::parse("http://127.0.0.1:1").unwrap();
        assert_eq!(t.http_versions(), None);
        t.versions
            .fetch_or(version_bit(Version::HTTP_2), Ordering::Relaxed);
        assert_eq!(t.http_versions().as_deref(), Some("HTTP/2"));
        t.versions
            .fetch_or(version_bit(Version::HTTP_11), Ordering::Relaxed);
        assert_eq!(t.http_versions().as_deref(), Some("HTTP/1.1, HTTP/2"));
        let uri = t.absolute(Uri::from_static("/x?y=1")).unwrap();
        assert_eq!(uri, "http://127.0.0.1:1/x?y=1");
        let hinted = h2c_hint(SendError::Request(
            "http2 error: connection error detected: frame with invalid size".into(),
        ));
        assert!(
            matches!(&hinted, SendError::Request(r) if r.starts_with("the server does not speak h2c")),
            "{hinted:?}"
        );
        let piped = h2c_hint(SendError::Request(
            "connection error: stream closed because of a broken pipe".into(),
        ));
        assert!(
            matches!(&piped, SendError::Request(r) if r.starts_with("the server does not speak h2c")),
            "{piped:?}"
        );
        let other = h2c_hint(SendError::Request("invalid response: x".into()));
        assert_eq!(other, SendError::Request("invalid response: x".into()));
    }

    #[test]
    fn connect_and_tls_reasons() {
        use std::io::{Error, ErrorKind};
        assert_eq!(
            connect_reason(&Error::from(ErrorKind::ConnectionRefused)),
            "connection refused"
        );
        let bad_cert = Error::new(
            ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
        );
        assert!(
            tls_reason(&bad_cert).starts_with("certificate verify failed: unknown issuer"),
            "{}",
            tls_reason(&bad_cert)
        );
        let plain = Error::new(
            ErrorKind::InvalidData,
            rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType),
        );
        assert!(tls_reason(&plain).contains("plain HTTP"));
    }
}
