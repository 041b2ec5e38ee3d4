//! The admin API, on its own listener: read and change the fault plan at run
//! time. Every route requires `Authorization: Bearer TOKEN`; the listener is
//! not started at all when no token is configured.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};

use crate::api::{ApiError, JsonBody};
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

async fn require_token(State(state): State<AdminState>, req: Request, next: Next) -> Response {
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
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

async fn put_faults(
    State(state): State<AdminState>,
    JsonBody(plan): JsonBody<FaultPlan>,
) -> Result<Json<FaultPlan>, ApiError> {
    let plan = plan.validated().map_err(|e| {
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
    use super::constant_time_eq;

    #[test]
    fn token_comparison() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret2"));
        assert!(!constant_time_eq(b"", b"x"));
    }
}
