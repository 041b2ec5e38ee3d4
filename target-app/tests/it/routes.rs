//! Every public route over real HTTP, including a table of bad inputs: each
//! gets its documented status and a JSON error, never a 500.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

use crate::util::{start_in_process, test_config};

async fn get(url: &str) -> (StatusCode, Value) {
    let r = reqwest::get(url).await.unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn health_products_and_orders() {
    let app = start_in_process(test_config()).await;
    let base = format!("http://{}", app.addr);

    let (s, body) = get(&format!("{base}/health")).await;
    assert_eq!((s, body["status"].as_str()), (StatusCode::OK, Some("ok")));

    let (s, body) = get(&format!("{base}/api/products")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(body.as_array().map(Vec::len), Some(20));

    let (s, body) = get(&format!("{base}/api/products/7")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(body["id"], 7);

    let r = reqwest::Client::new()
        .post(format!("{base}/api/orders"))
        .json(&serde_json::json!({"product_id": 3, "quantity": 2}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let body: Value = r.json().await.unwrap();
    assert!(
        uuid::Uuid::parse_str(body["order_id"].as_str().unwrap()).is_ok(),
        "{body}"
    );
    assert_eq!(body["quantity"], 2);
    assert_eq!(body["total_cents"], 2 * 3999);

    let metrics = reqwest::get(format!("{base}/metrics")).await.unwrap();
    assert_eq!(
        metrics.headers()["content-type"],
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    let text = metrics.text().await.unwrap();
    assert_eq!(
        crate::util::sample(&text, "orders_created_total"),
        Some(1.0),
        "{text}"
    );
    // The route label is the template, never the raw path.
    assert!(text.contains("http_route=\"/api/products/{id}\""));
    assert!(!text.contains("http_route=\"/api/products/7\""));
}

#[tokio::test]
async fn readiness_is_503_while_starting() {
    let app = start_in_process(target_app::Config {
        startup_delay: Duration::from_millis(800),
        ..test_config()
    })
    .await;
    let url = format!("http://{}/ready", app.addr);
    let (s, body) = get(&url).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["status"], "starting");
    // Liveness does not wait for readiness.
    let (s, _) = get(&format!("http://{}/health", app.addr)).await;
    assert_eq!(s, StatusCode::OK);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (s, body) = get(&url).await;
        if s == StatusCode::OK {
            assert_eq!(body["status"], "ready");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "never ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// (method, path, content type, body, status, error code)
type Case<'a> = (&'a str, &'a str, Option<&'a str>, String, u16, &'a str);

#[tokio::test]
async fn bad_inputs_get_documented_statuses_and_json_errors() {
    let app = start_in_process(target_app::Config {
        limits: target_app::Limits {
            max_body_bytes: 1024,
            ..target_app::Limits::default()
        },
        ..test_config()
    })
    .await;
    let base = format!("http://{}", app.addr);
    let client = reqwest::Client::new();
    let json = "application/json";
    let big = format!(
        "{{\"product_id\":1,\"quantity\":1,\"pad\":\"{}\"}}",
        "x".repeat(4096)
    );
    let cases: Vec<Case> = vec![
        (
            "GET",
            "/api/products/abc",
            None,
            String::new(),
            400,
            "malformed_id",
        ),
        (
            "GET",
            "/api/products/-1",
            None,
            String::new(),
            400,
            "malformed_id",
        ),
        (
            "GET",
            "/api/products/1.5",
            None,
            String::new(),
            400,
            "malformed_id",
        ),
        (
            "GET",
            "/api/products/0",
            None,
            String::new(),
            400,
            "malformed_id",
        ),
        (
            "GET",
            "/api/products/99999999999",
            None,
            String::new(),
            400,
            "malformed_id",
        ),
        (
            "GET",
            "/api/products/%20",
            None,
            String::new(),
            400,
            "malformed_id",
        ),
        (
            "GET",
            "/api/products/21",
            None,
            String::new(),
            404,
            "not_found",
        ),
        (
            "GET",
            "/api/products/999",
            None,
            String::new(),
            404,
            "not_found",
        ),
        ("GET", "/api/nope", None, String::new(), 404, "not_found"),
        ("GET", "/", None, String::new(), 404, "not_found"),
        (
            "DELETE",
            "/api/products",
            None,
            String::new(),
            405,
            "method_not_allowed",
        ),
        (
            "GET",
            "/api/orders",
            None,
            String::new(),
            405,
            "method_not_allowed",
        ),
        (
            "POST",
            "/api/orders",
            Some(json),
            "{".into(),
            400,
            "malformed_json",
        ),
        (
            "POST",
            "/api/orders",
            Some(json),
            "".into(),
            400,
            "malformed_json",
        ),
        (
            "POST",
            "/api/orders",
            Some(json),
            "{\"product_id\":1,".into(),
            400,
            "malformed_json",
        ),
        (
            "POST",
            "/api/orders",
            Some(json),
            "not json".into(),
            400,
            "malformed_json",
        ),
        (
            "POST",
            "/api/orders",
            Some(json),
            "{\"product_id\":\"1\",\"quantity\":1}".into(),
            422,
            "invalid_body",
        ),
        (
            "POST",
            "/api/orders",
            Some(json),
            "{\"product_id\":1,\"quantity\":1.5}".into(),
            422,
            "invalid_body",
        ),
        (
            "POST",
            "/api/orders",
            Some(json),
            "{\"product_id\":1,\"quantity\":-1}".into(),
            422,
            "invalid_body",
        ),
        (
            "POST",
            "/api/orders",
            Some(json),
            "{\"product_id\":1}".into(),
            422,
            "invalid_body",
        ),
        (
            "POST",
            "/api/orders",
            Some(json),
            "{\"product_id\":1,\"quantity\":1,\"x\":1}".into(),
            422,
            "invalid_body",
        ),
        (
            "POST",
            "/api/orders",
            Some(json),
            "[1,2]".into(),
            422,
            "invalid_body",
        ),
        (
            "POST",
            "/api/orders",
            Some(json),
            "null".into(),
            422,
            "invalid_body",
        ),
        (
            "POST",
            "/api/orders",
            Some(json),
            "{\"product_id\":1,\"quantity\":0}".into(),
            422,
            "invalid_quantity",
        ),
        (
            "POST",
            "/api/orders",
            Some(json),
            "{\"product_id\":1,\"quantity\":101}".into(),
            422,
            "invalid_quantity",
        ),
        (
            "POST",
            "/api/orders",
            Some(json),
            "{\"product_id\":999,\"quantity\":1}".into(),
            422,
            "unknown_product",
        ),
        (
            "POST",
            "/api/orders",
            Some(json),
            "{\"product_id\":0,\"quantity\":1}".into(),
            422,
            "unknown_product",
        ),
        (
            "POST",
            "/api/orders",
            Some("text/plain"),
            "{\"product_id\":1,\"quantity\":1}".into(),
            415,
            "unsupported_media_type",
        ),
        (
            "POST",
            "/api/orders",
            None,
            "{\"product_id\":1,\"quantity\":1}".into(),
            415,
            "unsupported_media_type",
        ),
        (
            "POST",
            "/api/orders",
            Some(json),
            big,
            413,
            "body_too_large",
        ),
    ];
    for (method, path, content_type, body, status, code) in cases {
        let mut req = client.request(method.parse().unwrap(), format!("{base}{path}"));
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        let r = req.body(body.clone()).send().await.unwrap();
        let got = r.status().as_u16();
        let ct = r
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned());
        let text = r.text().await.unwrap();
        assert_eq!(got, status, "{method} {path} {body:.60}: {text}");
        assert_eq!(ct.as_deref(), Some("application/json"), "{method} {path}");
        let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(v["error"], code, "{method} {path} {body:.60}: {text}");
        assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    // The server is still healthy after all of it.
    let (s, _) = get(&format!("{base}/health")).await;
    assert_eq!(s, StatusCode::OK);
}
