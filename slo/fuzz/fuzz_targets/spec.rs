//! The SLO spec parser in all three formats (native, Sloth in both forms,
//! OpenSLO): the first byte picks a header line that selects the format, the
//! rest is the file. Nothing may panic; a refusal names file:line:column;
//! what is accepted generates rules, promtool tests and a dashboard with
//! only finite numbers.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fn finite_only(text: &str) -> bool {
    text.split(|c: char| !c.is_ascii_alphanumeric())
        .all(|t| !["nan", "inf", "infinity"].contains(&t.to_ascii_lowercase().as_str()))
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let header: &[u8] = match pick % 4 {
        0 => b"",
        1 => b"version: prometheus/v1\n",
        2 => b"apiVersion: sloth.slok.dev/v1\n",
        _ => b"apiVersion: openslo/v1\n",
    };
    let bytes = [header, rest].concat();
    let parsed = slo::spec::utf8(bytes, "fuzz.yaml")
        .and_then(|text| slo::spec::parse(&text, Path::new("fuzz.yaml")));
    let service = match parsed {
        Ok(service) => service,
        Err(e) => {
            let message = e.to_string();
            let mut parts = message.splitn(4, ':');
            assert_eq!(parts.next(), Some("fuzz.yaml"), "{message}");
            assert!(parts.next().is_some_and(|l| l.parse::<u64>().is_ok()), "{message}");
            assert!(parts.next().is_some_and(|c| c.parse::<u64>().is_ok()), "{message}");
            return;
        }
    };
    let all = slo::rules::service_rules(&service).expect("what check accepts, alerts generates");
    let mut out = slo::rules::rule_file(&service, &all, "slo alerts fuzz.yaml");
    for r in &all {
        if let Ok(t) = slo::ruletest::unit_tests(r, "rules.yml", "") {
            out += &t;
        }
    }
    let opts = slo::dashboard::Options::for_service(&service);
    let d = slo::dashboard::dashboard(&service, &opts).expect("what check accepts, dashboard generates");
    out += &d.to_string();
    assert!(finite_only(&out), "a NaN or an infinity in:\n{out}");
});
