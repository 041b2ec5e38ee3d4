//! Report files as `loadgen merge` reads them: any bytes are refused with a
//! message or parse into a report that merges. Never a panic, and no
//! allocation beyond what the input justifies (histogram headers are checked).
#![no_main]

use libfuzzer_sys::fuzz_target;
use loadgen::report::Report;

fuzz_target!(|bytes: &[u8]| {
    let Ok(text) = common::input::decode(bytes.to_vec(), "fuzz.json") else {
        return;
    };
    if let Ok(report) = Report::parse(&text, "fuzz.json") {
        let _ = Report::merge(&[("a".into(), report.clone()), ("b".into(), report)]);
    }
});
