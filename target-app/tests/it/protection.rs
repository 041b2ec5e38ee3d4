//! Overload protection: past the in-flight limit, API requests get 503 with
//! Retry-After and are counted, while probes keep answering.

use std::time::Duration;

use reqwest::StatusCode;

use crate::util::{sample, scrape, start_in_process, test_config};

#[tokio::test]
async fn requests_past_the_limit_are_shed() {
    let app = start_in_process(target_app::Config {
        limits: target_app::Limits {
            max_in_flight: 2,
            ..target_app::Limits::default()
        },
        // Hold every API request so that the first two keep their slots.
        faults: target_app::faults::FaultPlan {
            rules: vec![],
            stall: Some(Duration::from_millis(1500)),
            steps: Vec::new(),
        },
        ..test_config()
    })
    .await;
    let base = format!("http://{}", app.addr);
    let client = reqwest::Client::new();
    let held: Vec<_> = (0..2)
        .map(|_| tokio::spawn(client.get(format!("{base}/api/products")).send()))
        .collect();
    // Wait until both hold a slot.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while app.state.in_flight.available_permits() > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "requests never arrived"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    for _ in 0..3 {
        let r = client
            .get(format!("{base}/api/products/1"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(r.headers()["retry-after"], "1");
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["error"], "overloaded");
    }
    // Probes and metrics are never shed.
    let r = client.get(format!("{base}/health")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = client.get(format!("{base}/ready")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let text = scrape(&base).await;
    assert_eq!(
        sample(
            &text,
            "http_server_requests_shed_total{http_route=\"/api/products/{id}\"}"
        ),
        Some(3.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            "http_server_active_requests{http_request_method=\"GET\",http_route=\"/api/products\"}"
        ),
        Some(2.0)
    );
    // The held requests complete normally.
    for h in held {
        assert_eq!(h.await.unwrap().unwrap().status(), StatusCode::OK);
    }
    let text = scrape(&base).await;
    assert_eq!(
        sample(
            &text,
            "http_server_active_requests{http_request_method=\"GET\",http_route=\"/api/products\"}"
        ),
        Some(0.0)
    );
}
