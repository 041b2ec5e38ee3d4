//! The real Prometheus server scrapes the real binary every second: request
//! counts by route and status arrive, exemplars carry trace ids, the target is
//! up without scrape errors, and the exposition follows naming conventions.

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use crate::util::{ChildGuard, client, free_port, spawn_app, wait_for};

/// A Prometheus server on 127.0.0.1 with a temp data dir, stopped on drop.
pub struct Prometheus {
    pub url: String,
    _guard: ChildGuard,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    /// Starts Prometheus scraping `target` (host:port) every second.
    pub fn start(target: &str) -> Prometheus {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: target-app\n    static_configs:\n      - targets: ['{target}']\n"
            ),
        )
        .unwrap();
        // Prometheus cannot report a port it picked, so take a free one and retry on a clash.
        for _ in 0..5 {
            let port = free_port();
            let child = Command::new("prometheus")
                .arg(format!("--config.file={}", config.display()))
                .arg(format!(
                    "--storage.tsdb.path={}",
                    dir.path().join("data").display()
                ))
                .arg(format!("--web.listen-address=127.0.0.1:{port}"))
                .arg("--enable-feature=exemplar-storage")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("the prometheus binary is installed by scripts/test.sh");
            let mut guard = ChildGuard::new("prometheus", child);
            let url = format!("http://127.0.0.1:{port}");
            let ready = wait_for(Duration::from_secs(30), || {
                if guard.wait_exit(Duration::ZERO).is_some() {
                    return Some(false);
                }
                let r = client().get(format!("{url}/-/ready")).send().ok()?;
                r.status().is_success().then_some(true)
            });
            if ready == Some(true) {
                return Prometheus {
                    url,
                    _guard: guard,
                    _dir: dir,
                };
            }
        }
        panic!("prometheus did not start");
    }

    pub fn query(&self, promql: &str) -> Vec<Value> {
        let r: Value = client()
            .get(format!("{}/api/v1/query", self.url))
            .query(&[("query", promql)])
            .send()
            .and_then(|r| r.json())
            .unwrap_or(Value::Null);
        r["data"]["result"].as_array().cloned().unwrap_or_default()
    }
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// Checks Prometheus naming conventions on an OpenMetrics exposition.
fn naming_problems(exposition: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let mut types = BTreeMap::new();
    let mut units = BTreeMap::new();
    for line in exposition.lines() {
        let parts: Vec<&str> = line.splitn(4, ' ').collect();
        match parts.as_slice() {
            ["#", "TYPE", name, kind] => {
                types.insert(name.to_string(), kind.to_string());
            }
            ["#", "UNIT", name, unit] => {
                units.insert(name.to_string(), unit.to_string());
            }
            _ => {}
        }
    }
    for (name, kind) in &types {
        if !name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        {
            problems.push(format!("{name}: not snake_case"));
        }
        if kind == "counter" && !exposition.contains(&format!("\n{name}_total")) {
            problems.push(format!("{name}: counter samples lack _total"));
        }
        if kind != "counter" && name.ends_with("_total") {
            problems.push(format!("{name}: _total on a {kind}"));
        }
        for (word, unit) in [
            ("duration", "seconds"),
            ("time", "seconds"),
            ("memory", "bytes"),
        ] {
            if name.contains(word) && !name.ends_with(&format!("_{unit}")) {
                problems.push(format!("{name}: expected base unit suffix _{unit}"));
            }
        }
    }
    for (name, unit) in &units {
        if !name.ends_with(&format!("_{unit}")) {
            problems.push(format!("{name}: unit {unit} is not its suffix"));
        }
    }
    problems
}

#[test]
fn exposition_names_follow_conventions() {
    let app = spawn_app(&["--telemetry", "off", "--work-scale", "0"], &[]);
    client().get(app.url("/api/products")).send().unwrap();
    let text = client()
        .get(app.url("/metrics"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert_eq!(naming_problems(&text), Vec::<String>::new(), "{text}");
    // The check itself catches bad names.
    let bad = "# TYPE requests counter\nrequests 1\n# TYPE latency_ms histogram\n# UNIT req_duration seconds\n# TYPE shed_total gauge\n";
    assert_eq!(naming_problems(bad).len(), 3, "{:?}", naming_problems(bad));
}

#[test]
fn prometheus_scrapes_counts_and_exemplars() {
    // Console telemetry samples every trace, so every observation gets an exemplar.
    let app = spawn_app(&["--telemetry", "console", "--work-scale", "0.02"], &[]);
    let prom = Prometheus::start(&app.addr.to_string());
    let started = now();
    let http = client();
    for _ in 0..12 {
        assert_eq!(
            http.get(app.url("/api/products")).send().unwrap().status(),
            200
        );
    }
    for _ in 0..7 {
        assert_eq!(
            http.get(app.url("/api/products/4"))
                .send()
                .unwrap()
                .status(),
            200
        );
    }
    for _ in 0..5 {
        assert_eq!(
            http.get(app.url("/api/products/404"))
                .send()
                .unwrap()
                .status(),
            404
        );
    }
    for _ in 0..3 {
        let r = http
            .post(app.url("/api/orders"))
            .json(&json!({"product_id": 1, "quantity": 2}))
            .send()
            .unwrap();
        assert_eq!(r.status(), 201);
    }

    let expected: BTreeMap<(String, String), f64> = [
        (("/api/products", "200"), 12.0),
        (("/api/products/{id}", "200"), 7.0),
        (("/api/products/{id}", "404"), 5.0),
        (("/api/orders", "201"), 3.0),
    ]
    .into_iter()
    .map(|((r, s), n)| ((r.to_owned(), s.to_owned()), n))
    .collect();
    let query = "sum by (http_route, http_response_status_code) (http_server_request_duration_seconds_count{job=\"target-app\",http_route=~\"/api/.*\"})";
    let mut last = BTreeMap::new();
    let arrived = wait_for(Duration::from_secs(30), || {
        last = prom
            .query(query)
            .iter()
            .map(|s| {
                let key = (
                    s["metric"]["http_route"].as_str().unwrap_or("").to_owned(),
                    s["metric"]["http_response_status_code"]
                        .as_str()
                        .unwrap_or("")
                        .to_owned(),
                );
                let value = s["value"][1]
                    .as_str()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(-1.0);
                (key, value)
            })
            .collect::<BTreeMap<_, f64>>();
        (last == expected).then_some(())
    });
    assert!(
        arrived.is_some(),
        "expected {expected:?}, Prometheus has {last:?}"
    );

    // The target is up, and the last scrape had no error.
    let up = prom.query("up{job=\"target-app\"}");
    assert_eq!(up.len(), 1);
    assert_eq!(up[0]["value"][1], "1");
    let targets: Value = http
        .get(format!("{}/api/v1/targets", prom.url))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let target = &targets["data"]["activeTargets"][0];
    assert_eq!(target["health"], "up", "{target}");
    assert_eq!(target["lastError"], "", "{target}");
    // Business, gauge and process metrics arrive too.
    for q in [
        "orders_created_total == 3",
        "http_server_active_requests",
        "process_resident_memory_bytes > 0",
        "process_cpu_seconds_total",
        "process_start_time_seconds > 1e9",
    ] {
        assert!(!prom.query(q).is_empty(), "{q} returned nothing");
    }

    // Exemplars with 32-hex trace ids.
    let exemplars = wait_for(Duration::from_secs(20), || {
        let r: Value = http
            .get(format!("{}/api/v1/query_exemplars", prom.url))
            .query(&[
                (
                    "query",
                    "http_server_request_duration_seconds_bucket{http_route=\"/api/orders\"}",
                ),
                ("start", &format!("{}", started - 60.0)),
                ("end", &format!("{}", now() + 60.0)),
            ])
            .send()
            .ok()?
            .json()
            .ok()?;
        let ids: Vec<String> = r["data"]
            .as_array()?
            .iter()
            .flat_map(|series| series["exemplars"].as_array().cloned().unwrap_or_default())
            .filter_map(|e| e["labels"]["trace_id"].as_str().map(str::to_owned))
            .collect();
        (!ids.is_empty()).then_some(ids)
    })
    .expect("no exemplars in Prometheus");
    for id in &exemplars {
        assert_eq!(id.len(), 32, "{id}");
        assert!(id.chars().all(|c| c.is_ascii_hexdigit()), "{id}");
        assert_ne!(id, "00000000000000000000000000000000");
    }
}
