//! The admin API, on its own listener: read and change the fault plan at run
//! time. Every route requires `Authorization: Bearer TOKEN`; the listener is
//! not started at all when no token is configured.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};

use crate::api::ApiError;
use crate::faults::{FaultPlan, Faults};

#[derive(Clone)]
struct AdminState {
    token: Arc<str>,
    faults: Faults,
}

/// Compares in time independent of where the first difference is.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The token of an `Authorization: Bearer TOKEN` value; the scheme is
/// case-insensitive (RFC 7235, section 2.1).
pub fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim_start().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

async fn require_token(State(state): State<AdminState>, req: Request, next: Next) -> Response {
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer_token);
    match presented {
        Some(token) if constant_time_eq(token.as_bytes(), state.token.as_bytes()) => {
            next.run(req).await
        }
        _ => {
            let mut response = ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "send the admin token as \"Authorization: Bearer TOKEN\"",
            )
            .into_response();
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"target-app admin\""),
            );
            response
        }
    }
}

async fn get_faults(State(state): State<AdminState>) -> Json<FaultPlan> {
    Json((*state.faults.current()).clone())
}

/// Replaces the plan with a JSON (or YAML) body; errors name the body's
/// line and column like a file's.
async fn put_faults(
    State(state): State<AdminState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<FaultPlan>, ApiError> {
    let media = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default();
    if !matches!(
        media.as_str(),
        "application/json" | "application/yaml" | "application/x-yaml"
    ) {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the plan with \"Content-Type: application/json\" (or application/yaml)",
        ));
    }
    let plan = FaultPlan::from_bytes(&body, "request body").map_err(|e| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_fault_plan",
            e.to_string(),
        )
    })?;
    tracing::warn!(plan = %serde_json::to_string(&plan).unwrap_or_default(), "fault plan replaced");
    state.faults.set(plan.clone());
    Ok(Json(plan))
}

async fn clear_faults(State(state): State<AdminState>) -> StatusCode {
    tracing::warn!("fault plan cleared");
    state.faults.set(FaultPlan::default());
    StatusCode::NO_CONTENT
}

/// The admin router.
pub fn router(token: &str, faults: Faults) -> Router {
    let state = AdminState {
        token: Arc::from(token),
        faults,
    };
    Router::new()
        .route(
            "/admin/faults",
            get(get_faults).put(put_faults).delete(clear_faults),
        )
        .fallback(crate::api::not_found)
        .layer(middleware::from_fn_with_state(state.clone(), require_token))
        .with_state(state)
}

#[cfg(test)]
mod tests {
    use super::{bearer_token, constant_time_eq};

    #[test]
    fn the_bearer_scheme_is_case_insensitive() {
        for value in [
            "Bearer s3cret",
            "bearer s3cret",
            "BEARER s3cret",
            "bEaReR   s3cret ",
        ] {
            assert_eq!(bearer_token(value), Some("s3cret"), "{value:?}");
        }
        for value in ["Basic s3cret", "Bearers3cret", "Bearer ", "s3cret", ""] {
            assert_eq!(bearer_token(value), None, "{value:?}");
        }
    }

    #[test]
    fn token_comparison() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret2"));
        assert!(!constant_time_eq(b"", b"x"));
    }
}
