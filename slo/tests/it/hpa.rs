//! `slo hpa`: the per-pod target from the checked-in stress run, the three
//! outputs, and bad input (exit 2, the place, a hint).

use crate::util::{root, slo};

use serde_json::Value;

const REPORT: &str = "k8s/capacity/target-app-stress.json";

fn hpa(args: &[&str]) -> (Option<i32>, String, String) {
    let report = root().join(REPORT);
    let mut all = vec!["hpa", "--deployment", "target-app"];
    let owned: Vec<String> = args
        .iter()
        .map(|a| a.replace("REPORT", report.to_str().unwrap()))
        .collect();
    all.extend(owned.iter().map(String::as_str));
    slo(&all)
}

fn milli(q: &str) -> f64 {
    q.strip_suffix('m').map_or_else(
        || q.parse::<f64>().unwrap(),
        |m| m.parse::<f64>().unwrap() / 1000.0,
    )
}

#[test]
fn target_follows_the_measured_capacity_and_headroom() {
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(root().join(REPORT)).unwrap()).unwrap();
    let rates: Vec<f64> = report["intervals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["count"].as_f64().unwrap())
        .collect();
    let peak = rates.iter().cloned().fold(0.0, f64::max);
    let first = rates[2..10].iter().sum::<f64>() / 8.0;

    let target = |headroom: &str| -> f64 {
        let (code, out, err) = hpa(&["--capacity", "REPORT", "--headroom", headroom]);
        assert_eq!(code, Some(0), "{err}");
        assert!(err.contains("broke at"), "the run found a knee: {err}");
        let h: Value = serde_saphyr::from_str(&out).unwrap();
        let note = h["metadata"]["annotations"]["slo.loadgen.dev/target-rps-per-pod"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(note.contains("stress run \"capacity\""), "{note}");
        milli(
            h["spec"]["metrics"][0]["pods"]["target"]["averageValue"]
                .as_str()
                .unwrap(),
        )
    };
    let t7 = target("0.7");
    let t5 = target("0.5");
    // Above the first step's rate, below the run's peak (past the knee).
    assert!(
        t7 / 0.7 >= first && t7 / 0.7 < peak,
        "{t7} from {first}..{peak}"
    );
    assert!((t5 / t7 - 0.5 / 0.7).abs() < 0.01, "{t5} vs {t7}");
    // Two replicas served the run: half the capacity each.
    let (code, out, _) = hpa(&["--capacity", "REPORT", "--replicas-in-run", "2"]);
    assert_eq!(code, Some(0));
    let h: Value = serde_saphyr::from_str(&out).unwrap();
    let t2 = milli(
        h["spec"]["metrics"][0]["pods"]["target"]["averageValue"]
            .as_str()
            .unwrap(),
    );
    assert!((t2 - t7 / 2.0).abs() <= 1.0, "{t2} vs {t7}");
}

#[test]
fn the_three_outputs() {
    let (code, out, err) = hpa(&[
        "--target-rps",
        "120",
        "--format",
        "keda",
        "--namespace",
        "shop",
    ]);
    assert_eq!(code, Some(0), "{err}");
    let k: Value = serde_saphyr::from_str(&out).unwrap();
    assert_eq!(k["kind"], "ScaledObject");
    assert_eq!(k["spec"]["triggers"][0]["metadata"]["threshold"], "120");
    let q = k["spec"]["triggers"][0]["metadata"]["query"]
        .as_str()
        .unwrap();
    assert!(
        q.contains("namespace=\"shop\"") && q.contains("job=\"target-app\""),
        "{q}"
    );
    let (code, out, _) = hpa(&["--target-rps", "120", "--format", "adapter"]);
    assert_eq!(code, Some(0));
    let a: Value = serde_saphyr::from_str(&out).unwrap();
    assert_eq!(
        a["rules"]["custom"][0]["name"]["as"],
        "http_server_requests_per_second"
    );
    let (code, out, _) = hpa(&[
        "--target-rps",
        "120",
        "--min-replicas",
        "3",
        "--max-replicas",
        "7",
    ]);
    assert_eq!(code, Some(0));
    let h: Value = serde_saphyr::from_str(&out).unwrap();
    assert_eq!(
        (
            h["spec"]["minReplicas"].as_u64(),
            h["spec"]["maxReplicas"].as_u64()
        ),
        (Some(3), Some(7))
    );
}

#[test]
fn bad_input_exits_2_with_a_hint() {
    let tmp = tempfile::tempdir().unwrap();
    let broken = tmp.path().join("broken.json");
    std::fs::write(&broken, "{\n  \"version\": 1,\n  \"scenario\": oops\n}").unwrap();
    let short = tmp.path().join("short.json");
    // A whole report (the reader needs one) with one second of intervals.
    let mut whole: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("common/testdata/report.json")).unwrap(),
    )
    .unwrap();
    let part: Value = serde_json::from_str(
        r#"{"version": 1, "scenario": "s", "intervals": [{"t": 0, "count": 5, "errors": {}, "status_codes": {}, "p50_ms": 1, "p90_ms": 1, "p99_ms": 1, "max_ms": 1}], "thresholds": [{"threshold": "error_rate<1%", "request": null, "abort_on_fail": false, "observed": null, "observed_text": "no data", "passed": false, "metric": "error_rate", "op": "<", "limit": 0.01}]}"#,
    )
    .unwrap();
    for (k, v) in part.as_object().unwrap() {
        whole[k] = v.clone();
    }
    std::fs::write(&short, whole.to_string()).unwrap();
    let (b, s) = (broken.to_str().unwrap(), short.to_str().unwrap());
    for (args, expect) in [
        (vec![], "--target-rps"),
        (vec!["--target-rps", "0"], "positive number"),
        (
            vec!["--target-rps", "10", "--capacity", "REPORT"],
            "cannot be used with",
        ),
        (
            vec!["--capacity", "REPORT", "--headroom", "1.5"],
            "--headroom",
        ),
        (vec!["--capacity", "/nonexistent.json"], "failed to read"),
        (vec!["--capacity", b], "broken.json:3:"),
        (vec!["--capacity", s], "fewer than the 5 s window"),
        (
            vec![
                "--target-rps",
                "10",
                "--min-replicas",
                "5",
                "--max-replicas",
                "2",
            ],
            "--min-replicas",
        ),
        (
            vec!["--target-rps", "10", "--selector", "{job=}"],
            "--selector",
        ),
        (
            vec!["--target-rps", "10", "--scale-down-window", "90m"],
            "--scale-down-window 1h30m: Kubernetes allows at most 1h",
        ),
        (
            vec!["--target-rps", "10", "--format", "vpa"],
            "invalid value",
        ),
    ] {
        let (code, _, err) = hpa(&args);
        assert_eq!(code, Some(2), "{args:?}: {err}");
        assert!(err.contains(expect), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}
