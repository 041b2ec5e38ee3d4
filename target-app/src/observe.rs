//! Request middleware: the server span and metrics of every request, and the
//! protections and faults that apply to API routes.
//!
//! Order, outermost first: [`observe`] (all routes), then on API routes
//! [`shed`] (in-flight limit), [`timeout`], and [`inject_faults`].

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use opentelemetry::KeyValue;

use crate::api::ApiError;
use crate::metrics::{ActiveLabels, RequestLabels, ShedLabels, TraceExemplar};
use crate::spans;
use crate::state::AppState;

/// Routes that are measured but not traced: probes and scrapes are noise in a trace store.
const UNTRACED: [&str; 3] = ["/health", "/ready", "/metrics"];

/// Decrements the active-requests gauge even when the request is cancelled.
struct ActiveGuard<'a>(&'a prometheus_client::metrics::gauge::Gauge);

impl Drop for ActiveGuard<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
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
    let method = spans::method_label(req.method()).to_owned();
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

    let traced = !route.is_some_and(|r| UNTRACED.contains(&r));
    let span = if traced {
        state.spans.server(&req, route, state.scheme)
    } else {
        None
    };
    let response = match &span {
        Some(span) => span.run(next.run(req)).await,
        None => next.run(req).await,
    };
    let status = response.status();
    let exemplar = span
        .as_ref()
        .and_then(|span| span.sampled_trace_id())
        .map(TraceExemplar);
    if let Some(span) = span {
        span.finish(status);
    }
    state
        .metrics
        .request_duration
        .get_or_create(&RequestLabels {
            http_request_method: method,
            http_route: route_label,
            http_response_status_code: status.as_u16(),
        })
        .observe(start.elapsed().as_secs_f64(), exemplar, None);
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
        let delay_ms = i64::try_from(decision.delay.as_millis()).unwrap_or(i64::MAX);
        state
            .spans
            .child(
                "fault.delay",
                || [KeyValue::new("app.fault.delay_ms", delay_ms)],
                tokio::time::sleep(decision.delay),
            )
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
