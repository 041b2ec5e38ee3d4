//! Every file scripts/generate.sh writes with a `gen FILE ARGS...` line is
//! current: `slo ARGS...`, run from the workspace root, prints exactly the
//! checked-in FILE. (alerts/ has its own check in alerts.rs.)

mod common;
use common::root;

use std::process::Command;

/// The `gen` lines of scripts/generate.sh: (file, slo arguments).
fn gen_lines() -> Vec<(String, Vec<String>)> {
    let script = std::fs::read_to_string(root().join("scripts/generate.sh")).unwrap();
    script
        .lines()
        .filter_map(|l| l.strip_prefix("gen "))
        .map(|l| {
            let mut words = l.split_whitespace().map(str::to_owned);
            let file = words.next().expect("gen FILE ARGS...");
            (file, words.collect())
        })
        .collect()
}

#[test]
fn generated_files_are_current() {
    let lines = gen_lines();
    assert!(lines.len() >= 6, "scripts/generate.sh lost its gen lines");
    let mut stale = Vec::new();
    for (file, args) in &lines {
        assert!(
            args.iter().all(|a| !a.contains(['\'', '"', '$'])),
            "{file}: keep gen arguments free of quotes and variables"
        );
        let out = Command::new(env!("CARGO_BIN_EXE_slo"))
            .args(args)
            .current_dir(root())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "slo {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        let want = String::from_utf8(out.stdout).unwrap();
        let have = std::fs::read_to_string(root().join(file)).unwrap_or_default();
        if want != have {
            stale.push(file.clone());
        }
    }
    assert!(
        stale.is_empty(),
        "stale generated files: {stale:?}; regenerate with: bash scripts/generate.sh"
    );
}

#[test]
fn the_dashboard_configmap_holds_the_checked_in_dashboard() {
    let cm =
        std::fs::read_to_string(root().join("k8s/base/target-app/grafana-dashboard.yaml")).unwrap();
    let cm: serde_json::Value = serde_saphyr::from_str(&cm).unwrap();
    let inner: serde_json::Value =
        serde_json::from_str(cm["data"]["target-app.json"].as_str().unwrap()).unwrap();
    let file: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("dashboards/target-app.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(inner, file);
}
