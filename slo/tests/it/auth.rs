//! Basic auth against a real Prometheus that requires it (its web config).

use crate::util;

use slo::prom::{Prom, PromConfig};

/// bcrypt of "s3cret" (cost 4), as Prometheus's web config wants it.
const HASH: &str = "$2b$04$W20qKdXTEMFUETzofnIHYOeT0KSGYwgKMOezSL6HKDsRG5.TS0uaC";

#[tokio::test]
async fn basic_auth_reaches_a_protected_prometheus() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("web.yml"),
        format!("basic_auth_users:\n  slo: '{HASH}'\n"),
    )
    .unwrap();
    // Once it listens, unauthenticated requests get 401.
    let web = format!("--web.config.file={}", dir.path().join("web.yml").display());
    let (_guard, url) =
        util::start_prometheus(dir.path(), "global: {scrape_interval: 1s}\n", &[web], 401).await;

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
