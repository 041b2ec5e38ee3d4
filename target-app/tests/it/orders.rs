//! `GET /api/orders/{id}` over real HTTP: an order reads back as it was
//! created, unknown and malformed ids get their JSON errors, the bounded store
//! evicts the oldest order first (and counts it), and the route is measured,
//! traced and open to faults like every API route.

use std::num::NonZeroUsize;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::util::{client, sample, scrape, spawn_app, start_in_process, test_config, wait_for};

async fn create(base: &str, product_id: u32, quantity: u32) -> Value {
    let r = reqwest::Client::new()
        .post(format!("{base}/api/orders"))
        .json(&json!({"product_id": product_id, "quantity": quantity}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    r.json().await.unwrap()
}

async fn get(url: &str) -> (StatusCode, Value) {
    let r = reqwest::get(url).await.unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn id_of(order: &Value) -> &str {
    order["order_id"]
        .as_str()
        .unwrap_or_else(|| panic!("no order_id in {order}"))
}

#[tokio::test]
async fn a_created_order_reads_back_with_the_same_fields() {
    let app = start_in_process(test_config()).await;
    let base = format!("http://{}", app.addr);
    let first = create(&base, 3, 2).await;
    let second = create(&base, 5, 1).await;
    assert_ne!(id_of(&first), id_of(&second));
    for created in [&first, &second] {
        let (status, read) = get(&format!("{base}/api/orders/{}", id_of(created))).await;
        assert_eq!(status, StatusCode::OK, "{read}");
        // The same JSON as the POST answer, field for field.
        assert_eq!(&read, created);
        for field in [
            "order_id",
            "product_id",
            "quantity",
            "total_cents",
            "status",
        ] {
            assert!(!read[field].is_null(), "{field} in {read}");
        }
    }
    assert_eq!(first["total_cents"], 2 * 3999);
    assert_eq!(first["status"], "confirmed");
    // Any UUID form names the same order.
    let simple = id_of(&first).replace('-', "").to_uppercase();
    let (status, read) = get(&format!("{base}/api/orders/{simple}")).await;
    assert_eq!((status, &read), (StatusCode::OK, &first));

    let text = scrape(&base).await;
    assert_eq!(sample(&text, "orders_stored"), Some(2.0), "{text}");
    assert_eq!(sample(&text, "orders_evicted_total"), Some(0.0), "{text}");
    // The route label is the template, never the raw path.
    assert_eq!(
        sample(
            &text,
            "http_server_request_duration_seconds_count{http_request_method=\"GET\",http_route=\"/api/orders/{id}\",http_response_status_code=\"200\"}"
        ),
        Some(3.0),
        "{text}"
    );
    assert!(!text.contains(id_of(&first)), "{text}");
}

#[tokio::test]
async fn unknown_and_malformed_ids_get_json_errors() {
    let app = start_in_process(test_config()).await;
    let base = format!("http://{}", app.addr);
    create(&base, 1, 1).await;

    let unknown = uuid::Uuid::new_v4();
    let (status, body) = get(&format!("{base}/api/orders/{unknown}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["error"], "not_found");
    let message = body["message"].as_str().unwrap();
    assert!(message.contains(&unknown.to_string()), "{message}");
    assert!(message.contains("evicted"), "{message}");

    let long = "z".repeat(10_000);
    for bad in [
        "abc",
        "1",
        "67e55044-10b1-426f-9247-bb680e5fe0c",
        "67e55044-10b1-426f-9247-bb680e5fe0cg",
        "%20",
        long.as_str(),
    ] {
        let (status, body) = get(&format!("{base}/api/orders/{bad}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad:?}: {body}");
        assert_eq!(body["error"], "invalid_order_id", "{bad:?}: {body}");
        let message = body["message"].as_str().unwrap();
        assert!(message.contains("UUID"), "{message}");
        assert!(message.len() < 200, "{message}");
    }
    // A path below the id is no route; another method on the route is 405.
    let (status, body) = get(&format!("{base}/api/orders/{unknown}/items")).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
    let r = reqwest::Client::new()
        .delete(format!("{base}/api/orders/{unknown}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);

    let text = scrape(&base).await;
    for (status, count) in [("404", 1.0), ("400", 6.0)] {
        let series = format!(
            "http_server_request_duration_seconds_count{{http_request_method=\"GET\",http_route=\"/api/orders/{{id}}\",http_response_status_code=\"{status}\"}}"
        );
        assert_eq!(sample(&text, &series), Some(count), "{series}: {text}");
    }
}

#[tokio::test]
async fn a_full_store_evicts_the_oldest_order_first() {
    let app = start_in_process(target_app::Config {
        order_store_size: NonZeroUsize::new(2).unwrap(),
        ..test_config()
    })
    .await;
    let base = format!("http://{}", app.addr);
    let mut orders = Vec::new();
    for n in 1..=4 {
        orders.push(create(&base, n, 1).await);
    }
    let mut statuses = Vec::new();
    for order in &orders {
        let (status, body) = get(&format!("{base}/api/orders/{}", id_of(order))).await;
        if status == StatusCode::OK {
            assert_eq!(&body, order);
        } else {
            assert_eq!(body["error"], "not_found", "{body}");
        }
        statuses.push(status.as_u16());
    }
    assert_eq!(statuses, [404, 404, 200, 200]);

    let text = scrape(&base).await;
    assert_eq!(sample(&text, "orders_created_total"), Some(4.0), "{text}");
    assert_eq!(sample(&text, "orders_evicted_total"), Some(2.0), "{text}");
    assert_eq!(sample(&text, "orders_stored"), Some(2.0), "{text}");
}

#[tokio::test]
async fn faults_can_target_the_order_read_route_alone() {
    let app = start_in_process(target_app::Config {
        faults: target_app::faults::FaultPlan {
            rules: vec![target_app::faults::FaultRule {
                route: Some("/api/orders/{id}".to_owned()),
                error_rate: 1.0,
                error_status: Some(503),
                latency: None,
                jitter: None,
            }],
            stall: None,
            steps: Vec::new(),
        },
        ..test_config()
    })
    .await;
    let base = format!("http://{}", app.addr);
    // Creating is not targeted; reading is, even for an order that exists.
    let order = create(&base, 2, 1).await;
    let (status, body) = get(&format!("{base}/api/orders/{}", id_of(&order))).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"], "injected_fault");
    let text = scrape(&base).await;
    assert_eq!(
        sample(&text, "faults_injected_errors_total"),
        Some(1.0),
        "{text}"
    );
}

#[test]
fn the_store_size_flag_bounds_the_store_and_reads_are_traced() {
    let app = spawn_app(
        &[
            "--telemetry",
            "console",
            "--work-scale",
            "0",
            "--order-store-size",
            "2",
        ],
        &[],
    );
    let http = client();
    let ids: Vec<String> = (0..3)
        .map(|_| {
            let r = http
                .post(app.url("/api/orders"))
                .json(&json!({"product_id": 4, "quantity": 3}))
                .send()
                .unwrap();
            assert_eq!(r.status(), 201);
            let body: Value = r.json().unwrap();
            id_of(&body).to_owned()
        })
        .collect();
    let statuses: Vec<u16> = ids
        .iter()
        .map(|id| {
            http.get(app.url(&format!("/api/orders/{id}")))
                .send()
                .unwrap()
                .status()
                .as_u16()
        })
        .collect();
    assert_eq!(statuses, [404, 200, 200]);
    let text = http
        .get(app.url("/metrics"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert_eq!(sample(&text, "orders_evicted_total"), Some(1.0), "{text}");

    // One server span per read, named by the template, with the raw path in url.path.
    let spans = wait_for(Duration::from_secs(10), || {
        let spans: Vec<Value> = app
            .json_lines()
            .into_iter()
            .filter(|l| l["span"] == "GET /api/orders/{id}" && l["kind"] == "server")
            .collect();
        (spans.len() == 3).then_some(spans)
    })
    .unwrap_or_else(|| panic!("no 3 order read spans in {:#?}", app.json_lines()));
    let last = spans
        .iter()
        .find(|s| s["attributes"]["url.path"] == format!("/api/orders/{}", ids[2]))
        .unwrap_or_else(|| panic!("no span for the last read in {spans:#?}"));
    assert_eq!(last["attributes"]["http.route"], "/api/orders/{id}");
    assert_eq!(last["attributes"]["http.response.status_code"], "200");
}

#[test]
fn out_of_range_store_sizes_are_refused() {
    for size in ["0", "1000001", "-1", "many"] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_target-app"))
            .args(["--telemetry", "off", "--listen", "127.0.0.1:0"])
            .arg(format!("--order-store-size={size}"))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{size}: {stderr}");
        assert!(stderr.contains("--order-store-size"), "{size}: {stderr}");
        assert!(!stderr.contains("panicked"), "{size}: {stderr}");
    }
}
