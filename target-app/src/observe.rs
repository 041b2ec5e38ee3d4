//! Request middleware: the server span and metrics of every request, and the
//! protections and faults that apply to API routes.
//!
//! Order, outermost first: [`observe`] (all routes), then on API routes
//! [`shed`] (in-flight limit), [`timeout`], and [`inject_faults`].

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use opentelemetry::propagation::Extractor;
use opentelemetry::trace::TraceContextExt;
use tracing::{Instrument, Span, field::Empty};
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::api::ApiError;
use crate::metrics::{ActiveLabels, RequestLabels, ShedLabels, TraceExemplar};
use crate::state::AppState;

/// Routes that are measured but not traced: probes and scrapes are noise in a trace store.
const UNTRACED: [&str; 3] = ["/health", "/ready", "/metrics"];

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

/// Decrements the active-requests gauge even when the request is cancelled.
struct ActiveGuard<'a>(&'a prometheus_client::metrics::gauge::Gauge);

impl Drop for ActiveGuard<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}

fn server_span(req: &Request, route: Option<&str>, scheme: &str) -> Span {
    let method = method_label(req.method());
    // Span names use "HTTP" for methods outside the standard set.
    let verb = if method == "_OTHER" { "HTTP" } else { method };
    let name = match route {
        Some(r) => format!("{verb} {r}"),
        None => verb.to_owned(),
    };
    let headers = req.headers();
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
    let span = tracing::info_span!(
        "http.server.request",
        otel.name = %name,
        otel.kind = "server",
        otel.status_code = Empty,
        "http.request.method" = method,
        "http.route" = route,
        "url.path" = req.uri().path(),
        "url.query" = req.uri().query(),
        "url.scheme" = scheme,
        "server.address" = host,
        "server.port" = port,
        "client.address" = client.map(tracing::field::display),
        "network.protocol.version" = version(req.version()),
        "user_agent.original" = user_agent,
        "http.response.status_code" = Empty,
        "error.type" = Empty,
    );
    let parent = opentelemetry::global::get_text_map_propagator(|p| {
        p.extract(&HeaderExtractor(req.headers()))
    });
    if parent.span().span_context().is_valid() {
        // An error here means the span is disabled; nothing to continue.
        let _ = span.set_parent(parent);
    }
    span
}

/// The method as a bounded label: the standard methods, or `_OTHER` (as the
/// OpenTelemetry HTTP conventions say), so arbitrary methods cannot create
/// unbounded series.
fn method_label(method: &axum::http::Method) -> &'static str {
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

/// The trace id of a sampled span, for an exemplar.
fn sampled_trace_id(span: &Span) -> Option<String> {
    if span.is_disabled() {
        return None;
    }
    let cx = span.context();
    let sc = cx.span().span_context().clone();
    (sc.is_valid() && sc.is_sampled()).then(|| sc.trace_id().to_string())
}

/// The server span, duration histogram and active-requests gauge.
pub async fn observe(
    State(state): State<AppState>,
    matched: Option<MatchedPath>,
    req: Request,
    next: Next,
) -> Response {
    let start = Instant::now();
    let route = matched.as_ref().map(|m| m.as_str());
    let method = method_label(req.method()).to_owned();
    let route_label = route.unwrap_or("").to_owned();
    let active = state
        .metrics
        .active_requests
        .get_or_create_owned(&ActiveLabels {
            http_request_method: method.clone(),
            http_route: route_label.clone(),
        });
    active.inc();
    let _active = ActiveGuard(&active);

    let traced = state.tracing && !route.is_some_and(|r| UNTRACED.contains(&r));
    let span = if traced {
        server_span(&req, route, state.scheme)
    } else {
        Span::none()
    };
    let response = next.run(req).instrument(span.clone()).await;
    let status = response.status();
    if traced {
        span.record("http.response.status_code", i64::from(status.as_u16()));
        if status.is_server_error() {
            span.record("otel.status_code", "ERROR");
            span.record("error.type", status.as_str());
        }
    }
    state
        .metrics
        .request_duration
        .get_or_create(&RequestLabels {
            http_request_method: method,
            http_route: route_label,
            http_response_status_code: status.as_u16(),
        })
        .observe(
            start.elapsed().as_secs_f64(),
            sampled_trace_id(&span).map(|trace_id| TraceExemplar { trace_id }),
            None,
        );
    response
}

/// Refuses API requests beyond the in-flight limit with 503 and Retry-After.
pub async fn shed(
    State(state): State<AppState>,
    matched: Option<MatchedPath>,
    req: Request,
    next: Next,
) -> Response {
    match state.in_flight.clone().try_acquire_owned() {
        Ok(permit) => {
            let response = next.run(req).await;
            drop(permit);
            response
        }
        Err(_) => {
            state
                .metrics
                .requests_shed
                .get_or_create(&ShedLabels {
                    http_route: matched.map(|m| m.as_str().to_owned()).unwrap_or_default(),
                })
                .inc();
            let mut response = ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "overloaded",
                format!(
                    "more than {} requests in flight; retry later",
                    state.limits.max_in_flight
                ),
            )
            .into_response();
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            response
        }
    }
}

/// Answers 504 when an API request runs past the request timeout.
pub async fn timeout(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let limit = state.limits.request_timeout;
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(response) => response,
        Err(_) => {
            tracing::warn!(timeout_ms = limit.as_millis() as u64, "request timed out");
            ApiError::new(
                StatusCode::GATEWAY_TIMEOUT,
                "timeout",
                format!(
                    "the request took longer than {}",
                    humantime::format_duration(limit)
                ),
            )
            .into_response()
        }
    }
}

/// Applies the live fault plan: stall, extra latency, injected errors.
pub async fn inject_faults(
    State(state): State<AppState>,
    matched: Option<MatchedPath>,
    req: Request,
    next: Next,
) -> Response {
    let plan = state.faults.current();
    if plan.is_empty() {
        return next.run(req).await;
    }
    let route = matched.as_ref().map(|m| m.as_str()).unwrap_or("");
    let decision = plan.decide(route, &mut rand::rng());
    if !decision.delay.is_zero() {
        tokio::time::sleep(decision.delay)
            .instrument(tracing::info_span!(
                "fault.delay",
                "app.fault.delay_ms" = decision.delay.as_millis() as i64
            ))
            .await;
    }
    if let Some(code) = decision.error_status {
        state.metrics.faults_injected.inc();
        let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return ApiError::new(status, "injected_fault", "error injected by the fault plan")
            .into_response();
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::split_authority;

    #[test]
    fn methods_are_bounded() {
        use axum::http::Method;
        assert_eq!(super::method_label(&Method::GET), "GET");
        assert_eq!(
            super::method_label(&Method::from_bytes(b"FOO1").unwrap()),
            "_OTHER"
        );
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
