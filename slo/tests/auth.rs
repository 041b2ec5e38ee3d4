//! Basic auth against a real Prometheus that requires it (its web config).

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use slo::prom::{Prom, PromConfig};

struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// bcrypt of "s3cret" (cost 4), as Prometheus's web config wants it.
const HASH: &str = "$2b$04$W20qKdXTEMFUETzofnIHYOeT0KSGYwgKMOezSL6HKDsRG5.TS0uaC";

#[tokio::test]
async fn basic_auth_reaches_a_protected_prometheus() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("prometheus.yml"),
        "global: {scrape_interval: 1s}\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("web.yml"),
        format!("basic_auth_users:\n  slo: '{HASH}'\n"),
    )
    .unwrap();
    let mut started = None;
    for _ in 0..5 {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut guard = Guard(
            Command::new("prometheus")
                .arg(format!(
                    "--config.file={}",
                    dir.path().join("prometheus.yml").display()
                ))
                .arg(format!(
                    "--web.config.file={}",
                    dir.path().join("web.yml").display()
                ))
                .arg(format!(
                    "--storage.tsdb.path={}",
                    dir.path().join("data").display()
                ))
                .arg(format!("--web.listen-address=127.0.0.1:{port}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("prometheus is installed by scripts/test.sh"),
        );
        let url = format!("http://127.0.0.1:{port}");
        for _ in 0..100 {
            if matches!(guard.0.try_wait(), Ok(Some(_))) {
                break;
            }
            // Unauthenticated requests get 401 once it listens.
            if reqwest::get(format!("{url}/-/ready"))
                .await
                .is_ok_and(|r| r.status() == 401)
            {
                started = Some((guard, url));
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        if started.is_some() {
            break;
        }
    }
    let (_guard, url) = started.expect("prometheus with basic auth did not start");

    let mut config = PromConfig::new(&url);
    config.retries = 0;
    config.basic_auth = Some(("slo".into(), "s3cret".into()));
    let prom = Prom::new(config.clone()).unwrap();
    assert_eq!(prom.scalar("vector(42)", None).await.unwrap(), Some(42.0));

    config.basic_auth = Some(("slo".into(), "wrong".into()));
    let denied = Prom::new(config.clone())
        .unwrap()
        .scalar("vector(42)", None)
        .await;
    assert!(denied.is_err(), "wrong password got an answer");
    config.basic_auth = None;
    assert!(
        Prom::new(config)
            .unwrap()
            .scalar("vector(42)", None)
            .await
            .is_err()
    );
}
