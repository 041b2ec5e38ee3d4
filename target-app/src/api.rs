//! The service's public routes: health, readiness, products and orders, and
//! the JSON error shape every failure uses.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Path, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use crate::orders::{Inserted, Order};
use crate::state::AppState;
use crate::work::{Payment, Product};

/// Smallest and largest quantity an order may ask for.
pub const QUANTITY_RANGE: std::ops::RangeInclusive<u32> = 1..=100;

/// An error answered as `{"error": CODE, "message": TEXT}` with its status.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(json!({ "error": self.code, "message": self.message })),
        )
            .into_response()
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        let code = match &rejection {
            JsonRejection::JsonDataError(_) => "invalid_body",
            JsonRejection::JsonSyntaxError(_) => "malformed_json",
            JsonRejection::MissingJsonContentType(_) => "unsupported_media_type",
            _ if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => "body_too_large",
            _ => "bad_body",
        };
        ApiError::new(rejection.status(), code, rejection.body_text())
    }
}

/// `Json`, with rejections answered in the service's JSON error shape.
pub struct JsonBody<T>(pub T);

impl<S, T> FromRequest<S> for JsonBody<T>
where
    Json<T>: FromRequest<S, Rejection = JsonRejection>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let Json(value) = Json::<T>::from_request(req, state).await?;
        Ok(Self(value))
    }
}

/// Liveness: the process is up and serving.
pub async fn health() -> impl IntoResponse {
    Json(json!({ "status": "ok" }))
}

/// Readiness: 503 while starting and while draining.
pub async fn ready(State(state): State<AppState>) -> Response {
    let phase = state.lifecycle.phase();
    let status = if phase.is_ready() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(json!({ "status": phase.as_str() }))).into_response()
}

/// The exposition for Prometheus.
pub async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            crate::metrics::CONTENT_TYPE,
        )],
        state.metrics.encode(),
    )
        .into_response()
}

pub async fn list_products(State(state): State<AppState>) -> Json<Vec<Product>> {
    Json(state.work.list_products().await)
}

/// Parses a product id from the path: positive decimal digits only.
pub fn parse_product_id(raw: &str) -> Result<u32, ApiError> {
    let malformed = || {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed_id",
            format!("product id must be a positive integer, got {raw:?}"),
        )
    };
    if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return Err(malformed());
    }
    match raw.parse::<u32>() {
        Ok(0) | Err(_) => Err(malformed()),
        Ok(id) => Ok(id),
    }
}

pub async fn get_product(
    State(state): State<AppState>,
    Path(raw): Path<String>,
) -> Result<Json<Product>, ApiError> {
    let id = parse_product_id(&raw)?;
    state.work.product(id).await.map(Json).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no product with id {id}"),
        )
    })
}

/// The body of `POST /api/orders`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderRequest {
    pub product_id: u32,
    pub quantity: u32,
}

/// Reads an order from a JSON body: an object with exactly the known fields.
/// (serde would also accept an array of field values; an order is an object.)
pub fn parse_order(body: serde_json::Value) -> Result<OrderRequest, ApiError> {
    if !body.is_object() {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
            "expected a JSON object like {\"product_id\": 1, \"quantity\": 2}",
        ));
    }
    serde_json::from_value(body).map_err(|e| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
            e.to_string(),
        )
    })
}

pub async fn create_order(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<serde_json::Value>,
) -> Result<(StatusCode, Json<Order>), ApiError> {
    let order = parse_order(body)?;
    if !QUANTITY_RANGE.contains(&order.quantity) {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_quantity",
            format!(
                "quantity must be between {} and {}, got {}",
                QUANTITY_RANGE.start(),
                QUANTITY_RANGE.end(),
                order.quantity
            ),
        ));
    }
    let product = state.work.validate(order.product_id).await.ok_or_else(|| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown_product",
            format!("no product with id {}", order.product_id),
        )
    })?;
    let total_cents = u64::from(product.price_cents) * u64::from(order.quantity);
    if state.work.pay(total_cents).await == Payment::Declined {
        state.metrics.payment_failures.inc();
        tracing::warn!(
            product_id = order.product_id,
            total_cents,
            "payment declined"
        );
        return Err(ApiError::new(
            StatusCode::PAYMENT_REQUIRED,
            "payment_declined",
            "the payment was declined",
        ));
    }
    state.work.reserve(product.id, order.quantity).await;
    let created = Order {
        order_id: uuid::Uuid::new_v4(),
        product_id: product.id,
        quantity: order.quantity,
        total_cents,
        status: "confirmed",
    };
    match state.orders.insert(created.clone()) {
        Inserted::Added => {
            state.metrics.orders_stored.inc();
        }
        Inserted::Evicted => {
            state.metrics.orders_evicted.inc();
        }
        Inserted::Replaced => {}
    }
    state.metrics.orders_created.inc();
    tracing::info!(order_id = %created.order_id, total_cents, "order created");
    Ok((StatusCode::CREATED, Json(created)))
}

/// Longest part of a malformed order id quoted back in the error message.
const QUOTED_ID_CHARS: usize = 64;

/// Parses an order id from the path: a UUID (hyphenated, simple, braced or
/// URN form).
pub fn parse_order_id(raw: &str) -> Result<uuid::Uuid, ApiError> {
    uuid::Uuid::try_parse(raw).map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_order_id",
            format!(
                "order id must be a UUID like 67e55044-10b1-426f-9247-bb680e5fe0c8, got {:?}",
                common::diagnostic::cut(raw, QUOTED_ID_CHARS)
            ),
        )
    })
}

/// An order accepted earlier, while the bounded store still holds it.
pub async fn get_order(
    State(state): State<AppState>,
    Path(raw): Path<String>,
) -> Result<Json<Order>, ApiError> {
    let id = parse_order_id(&raw)?;
    state.orders.get(&id).map(Json).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!(
                "no order with id {id} (unknown, or evicted: the service keeps the last {} orders)",
                state.orders.capacity()
            ),
        )
    })
}

/// Unknown paths.
pub async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route")
}

/// Known paths with the wrong method.
pub async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this route does not accept that method",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn product_ids() {
        assert_eq!(parse_product_id("7"), Ok(7));
        assert_eq!(parse_product_id("4294967295"), Ok(u32::MAX));
        for bad in [
            "",
            "0",
            "-1",
            "+1",
            "1.5",
            "abc",
            "1e3",
            " 1",
            "4294967296",
            "０",
        ] {
            let err = parse_product_id(bad).unwrap_err();
            assert_eq!(err.status, StatusCode::BAD_REQUEST, "{bad:?}");
        }
    }

    #[test]
    fn order_ids() {
        let id = uuid::Uuid::from_u128(0x67e5_5044_10b1_426f_9247_bb68_0e5f_e0c8);
        for good in [
            "67e55044-10b1-426f-9247-bb680e5fe0c8",
            "67E55044-10B1-426F-9247-BB680E5FE0C8",
            "67e5504410b1426f9247bb680e5fe0c8",
        ] {
            assert_eq!(parse_order_id(good), Ok(id), "{good:?}");
        }
        for bad in [
            "",
            "1",
            "abc",
            "67e55044-10b1-426f-9247-bb680e5fe0c",
            "67e55044-10b1-426f-9247-bb680e5fe0c8a",
            "67e55044-10b1-426f-9247-bb680e5fe0cg",
            " 67e55044-10b1-426f-9247-bb680e5fe0c8",
        ] {
            let err = parse_order_id(bad).unwrap_err();
            assert_eq!(err.status, StatusCode::BAD_REQUEST, "{bad:?}");
            assert_eq!(err.code, "invalid_order_id", "{bad:?}");
        }
        // A huge id is quoted cut, never whole.
        let err = parse_order_id(&"x".repeat(100_000)).unwrap_err();
        assert!(err.message.len() < 200, "{}", err.message);
    }
}
