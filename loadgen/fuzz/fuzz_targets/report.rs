//! Report files as `loadgen merge` reads them: any bytes are refused with a
//! message or parse into a report that merges. Never a panic, and no
//! allocation beyond what the input justifies (histogram headers are checked).
#![no_main]

use libfuzzer_sys::fuzz_target;
use loadgen::report;

fuzz_target!(|bytes: &[u8]| {
    let Ok(text) = common::input::decode(bytes.to_vec(), "fuzz.json") else {
        return;
    };
    if let Ok(r) = report::parse(&text, "fuzz.json") {
        let _ = report::merge(&[("a".into(), r.clone()), ("b".into(), r)]);
    }
});
