//! Request spans, made with the OpenTelemetry API directly: the server span of
//! each request (HTTP semantic conventions, parent from W3C `traceparent`) and
//! the child spans of the simulated work.
//!
//! The sampling decision is taken once, when a span starts; a span that is not
//! sampled is a non-recording span, so its attributes are never built. Inside
//! a request the span's [`Context`] is current while the request is polled:
//! child spans find their parent there, and log lines their trace and span ids;
//! the span's name is a task-local ([`current_name`]), which costs no
//! allocation, unlike a value in the context.

use std::borrow::Cow;
use std::future::Future;

use axum::extract::Request;
use axum::http::{HeaderMap, StatusCode, header};
use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry::trace::{
    FutureExt, Span as _, SpanKind, Status, TraceContextExt, TraceId, Tracer as _,
};
use opentelemetry::{Context, Key, KeyValue, StringValue, Value};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracer;

tokio::task_local! {
    /// The name of the innermost span of the running request.
    static SPAN_NAME: Cow<'static, str>;
}

/// The name of the current span, for log lines; `None` outside a traced
/// request.
pub fn current_name() -> Option<Cow<'static, str>> {
    SPAN_NAME.try_with(Cow::clone).ok()
}

/// The server span of a request: its context, current while it runs.
#[derive(Debug)]
pub struct RequestSpan {
    cx: Context,
    name: Cow<'static, str>,
}

impl RequestSpan {
    /// Runs the request inside the span.
    pub async fn run<F: Future>(&self, request: F) -> F::Output {
        SPAN_NAME
            .scope(self.name.clone(), request.with_context(self.cx.clone()))
            .await
    }

    /// The trace id of a sampled span, for an exemplar.
    pub fn sampled_trace_id(&self) -> Option<TraceId> {
        let span = self.cx.span();
        let sc = span.span_context();
        (sc.is_valid() && sc.is_sampled()).then(|| sc.trace_id())
    }

    /// Records the response on the span and ends it.
    pub fn finish(self, status: StatusCode) {
        let span = self.cx.span();
        if span.is_recording() {
            let code = KeyValue::new(HTTP_RESPONSE_STATUS_CODE, i64::from(status.as_u16()));
            if status.is_server_error() {
                span.set_attributes([code, KeyValue::new(ERROR_TYPE, status.as_str().to_owned())]);
                span.set_status(Status::error(""));
            } else {
                span.set_attribute(code);
            }
            span.end();
        }
    }
}

/// A context with `span` in it; a span that records nothing is kept as its
/// span context alone, which needs no lock and no box.
fn with_span(parent: &Context, span: opentelemetry_sdk::trace::Span) -> Context {
    if span.is_recording() {
        parent.with_span(span)
    } else {
        parent.with_remote_span_context(span.span_context().clone())
    }
}

/// Starts spans, or nothing when tracing is off.
#[derive(Debug, Clone, Default)]
pub struct Spans {
    tracer: Option<SdkTracer>,
    propagator: TraceContextPropagator,
}

/// Reads W3C trace context from request headers.
struct HeaderExtractor<'a>(&'a HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

const fn key(name: &'static str) -> Key {
    Key::from_static_str(name)
}

const HTTP_REQUEST_METHOD: Key = key("http.request.method");
const HTTP_ROUTE: Key = key("http.route");
const URL_PATH: Key = key("url.path");
const URL_QUERY: Key = key("url.query");
const URL_SCHEME: Key = key("url.scheme");
const SERVER_ADDRESS: Key = key("server.address");
const SERVER_PORT: Key = key("server.port");
const CLIENT_ADDRESS: Key = key("client.address");
const NETWORK_PROTOCOL_VERSION: Key = key("network.protocol.version");
const USER_AGENT_ORIGINAL: Key = key("user_agent.original");
const HTTP_RESPONSE_STATUS_CODE: Key = key("http.response.status_code");
const ERROR_TYPE: Key = key("error.type");
/// The most attributes a server span gets (at its start and its end).
const SERVER_ATTRIBUTES: usize = 12;

/// `ip` as text, as `Display` writes it; IPv4 without the formatting
/// machinery, a fifth of its cost on every traced request.
fn ip_text(ip: std::net::IpAddr) -> String {
    match ip {
        std::net::IpAddr::V4(v4) => {
            let mut s = String::with_capacity(15);
            for (i, o) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    s.push('.');
                }
                if o >= 100 {
                    s.push(char::from(b'0' + o / 100));
                }
                if o >= 10 {
                    s.push(char::from(b'0' + o / 10 % 10));
                }
                s.push(char::from(b'0' + o % 10));
            }
            s
        }
        std::net::IpAddr::V6(_) => ip.to_string(),
    }
}

thread_local! {
    /// The last host and user agent a request thread saw, shared by the
    /// spans that repeat them (a client sends the same ones every time).
    static REPEATED: std::cell::RefCell<[Option<std::sync::Arc<str>>; 2]> =
        const { std::cell::RefCell::new([None, None]) };
}

/// `value` as text shared with the last span on this thread that had the
/// same one in `slot` (0: host, 1: user agent): a reference count instead of
/// a copy.
fn repeated(slot: usize, value: &str) -> Value {
    REPEATED.with_borrow_mut(|last| {
        let shared = match &last[slot] {
            Some(text) if **text == *value => text.clone(),
            _ => {
                let text: std::sync::Arc<str> = value.into();
                last[slot] = Some(text.clone());
                text
            }
        };
        Value::String(StringValue::from(shared))
    })
}

fn text(value: &str) -> Value {
    Value::String(StringValue::from(value.to_owned()))
}

fn constant(value: &'static str) -> Value {
    Value::String(StringValue::from(value))
}

impl Spans {
    /// Spans from `tracer`; `None` makes every method a pass-through.
    pub fn new(tracer: Option<SdkTracer>) -> Self {
        Self {
            tracer,
            propagator: TraceContextPropagator::new(),
        }
    }

    /// Whether spans are made at all.
    pub fn enabled(&self) -> bool {
        self.tracer.is_some()
    }

    /// Starts the server span of `req` and returns the context that carries
    /// it, to be current while the request runs; `None` when tracing is off.
    /// `route` is the matched route template, `scheme` `http` or `https`.
    pub fn server(
        &self,
        req: &Request,
        route: Option<&str>,
        scheme: &'static str,
    ) -> Option<RequestSpan> {
        let tracer = self.tracer.as_ref()?;
        let headers = req.headers();
        let parent = self
            .propagator
            .extract_with_context(&Context::new(), &HeaderExtractor(headers));
        let method = method_label(req.method());
        let name = span_name(method, route);
        let mut builder = tracer
            .span_builder(name.clone())
            .with_kind(SpanKind::Server);
        // Room for every attribute, set below once the span is known to record.
        builder.attributes = Some(Vec::with_capacity(SERVER_ATTRIBUTES));
        let mut span = builder.start_with_context(tracer, &parent);
        if span.is_recording() {
            let user_agent = headers
                .get(header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            // HTTP/1.1 names the server in Host; HTTP/2 in the :authority of the URI.
            let authority = req
                .uri()
                .authority()
                .map(|a| a.as_str())
                .or_else(|| headers.get(header::HOST).and_then(|h| h.to_str().ok()))
                .unwrap_or("");
            let (host, port) = split_authority(authority);
            let client = req
                .extensions()
                .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                .map(|c| c.0.ip());
            // Straight into the room reserved above: no list of our own.
            span.set_attribute(KeyValue::new(HTTP_REQUEST_METHOD, constant(method)));
            if let Some(route) = route {
                // An API route's span name is static, and so its route part.
                let value = match name {
                    Cow::Borrowed(n) if n.ends_with(route) => constant(&n[n.len() - route.len()..]),
                    _ => text(route),
                };
                span.set_attribute(KeyValue::new(HTTP_ROUTE, value));
            }
            span.set_attribute(KeyValue::new(URL_PATH, text(req.uri().path())));
            if let Some(query) = req.uri().query() {
                span.set_attribute(KeyValue::new(URL_QUERY, text(query)));
            }
            span.set_attribute(KeyValue::new(URL_SCHEME, constant(scheme)));
            span.set_attribute(KeyValue::new(SERVER_ADDRESS, repeated(0, host)));
            if let Some(port) = port {
                span.set_attribute(KeyValue::new(SERVER_PORT, port));
            }
            if let Some(client) = client {
                span.set_attribute(KeyValue::new(CLIENT_ADDRESS, ip_text(client)));
            }
            span.set_attribute(KeyValue::new(
                NETWORK_PROTOCOL_VERSION,
                constant(version(req.version())),
            ));
            span.set_attribute(KeyValue::new(USER_AGENT_ORIGINAL, repeated(1, user_agent)));
        }
        Some(RequestSpan {
            cx: with_span(&parent, span),
            name,
        })
    }

    /// Runs `work` inside an internal child span of the current context named
    /// `name`; `attributes` are built only when the span is sampled. Inside a
    /// request that is not sampled, `work` runs in the request's own
    /// (non-recording) span.
    pub async fn child<F, A>(
        &self,
        name: &'static str,
        attributes: impl FnOnce() -> A,
        work: F,
    ) -> F::Output
    where
        F: Future,
        A: IntoIterator<Item = KeyValue>,
    {
        let Some(tracer) = &self.tracer else {
            return work.await;
        };
        let parent = Context::current();
        let unsampled_parent = {
            let span = parent.span();
            span.span_context().is_valid() && !span.is_recording()
        };
        if unsampled_parent {
            // Every standard sampler leaves the children of a request that is
            // not sampled unsampled too (by the parent's flag, or by the same
            // trace id), so the child would record nothing: skip it.
            return work.await;
        }
        let mut span = tracer
            .span_builder(name)
            .with_kind(SpanKind::Internal)
            .start_with_context(tracer, &parent);
        let recording = span.is_recording();
        if recording {
            span.set_attributes(attributes());
        }
        let cx = with_span(&parent, span);
        let out = SPAN_NAME
            .scope(Cow::Borrowed(name), work.with_context(cx.clone()))
            .await;
        if recording {
            cx.span().end();
        }
        out
    }
}

/// The names of the API routes' spans, known without formatting.
const API_SPAN_NAMES: [&str; 3] = [
    "GET /api/products",
    "GET /api/products/{id}",
    "POST /api/orders",
];

/// `METHOD /route`, or the method alone for unmatched paths; "HTTP" for
/// methods outside the standard set.
fn span_name(method: &'static str, route: Option<&str>) -> Cow<'static, str> {
    let verb = if method == "_OTHER" { "HTTP" } else { method };
    let Some(route) = route else {
        return Cow::Borrowed(verb);
    };
    let known = API_SPAN_NAMES.iter().find(|name| {
        name.split_once(' ')
            .is_some_and(|(v, r)| v == verb && r == route)
    });
    match known {
        Some(name) => Cow::Borrowed(name),
        None => Cow::Owned(format!("{verb} {route}")),
    }
}

/// The method as a bounded label: the standard methods, or `_OTHER` (as the
/// OpenTelemetry HTTP conventions say), so arbitrary methods cannot create
/// unbounded series.
pub fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "_OTHER",
    }
}

/// Splits `host[:port]` (IPv6 hosts in brackets) without allocating.
fn split_authority(authority: &str) -> (&str, Option<i64>) {
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    match authority.rsplit_once(':') {
        Some((host, port)) if !port.contains(']') => (
            host.trim_start_matches('[').trim_end_matches(']'),
            port.parse().ok(),
        ),
        _ => (
            authority.trim_start_matches('[').trim_end_matches(']'),
            None,
        ),
    }
}

fn version(v: axum::http::Version) -> &'static str {
    match v {
        axum::http::Version::HTTP_09 => "0.9",
        axum::http::Version::HTTP_10 => "1.0",
        axum::http::Version::HTTP_2 => "2",
        axum::http::Version::HTTP_3 => "3",
        _ => "1.1",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_text_is_shared_until_it_changes() {
        let arc = |v: Value| match v {
            Value::String(s) => s.as_str().to_owned(),
            other => panic!("{other:?}"),
        };
        assert_eq!(arc(repeated(1, "oha/1.16")), "oha/1.16");
        assert_eq!(arc(repeated(1, "oha/1.16")), "oha/1.16");
        assert_eq!(arc(repeated(0, "127.0.0.1")), "127.0.0.1");
        assert_eq!(arc(repeated(1, "curl/8")), "curl/8");
        let a = REPEATED.with_borrow(|l| l[1].clone()).unwrap();
        assert_eq!(&*a, "curl/8");
        assert!(
            std::sync::Arc::strong_count(&a) >= 2,
            "kept for the next span"
        );
    }

    #[test]
    fn ip_text_is_what_display_writes() {
        use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
        for a in [0u8, 1, 9, 10, 99, 100, 127, 200, 255] {
            for b in [0u8, 7, 10, 255] {
                let ip = IpAddr::V4(Ipv4Addr::new(a, b, 99, 100));
                assert_eq!(ip_text(ip), ip.to_string());
            }
        }
        let v6 = IpAddr::V6(Ipv6Addr::LOCALHOST);
        assert_eq!(ip_text(v6), "::1");
    }

    #[test]
    fn methods_are_bounded() {
        use axum::http::Method;
        assert_eq!(method_label(&Method::GET), "GET");
        assert_eq!(
            method_label(&Method::from_bytes(b"FOO1").unwrap()),
            "_OTHER"
        );
    }

    #[test]
    fn names() {
        assert_eq!(span_name("GET", Some("/api/products")), "GET /api/products");
        assert!(matches!(
            span_name("POST", Some("/api/orders")),
            Cow::Borrowed("POST /api/orders")
        ));
        assert_eq!(span_name("PUT", Some("/api/orders")), "PUT /api/orders");
        assert_eq!(span_name("_OTHER", Some("/x")), "HTTP /x");
        assert_eq!(span_name("POST", None), "POST");
    }

    #[test]
    fn authorities() {
        assert_eq!(split_authority("127.0.0.1:8080"), ("127.0.0.1", Some(8080)));
        assert_eq!(split_authority("example.com"), ("example.com", None));
        assert_eq!(split_authority("[::1]:443"), ("::1", Some(443)));
        assert_eq!(split_authority("[::1]"), ("::1", None));
        assert_eq!(split_authority("user@host:81"), ("host", Some(81)));
        assert_eq!(split_authority(""), ("", None));
    }
}
