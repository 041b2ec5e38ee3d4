//! Scenario files: any bytes are refused with file:line:column, or accepted
//! as a plan inside the documented ranges. Never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use loadgen::scenario::{Load, limits};

fuzz_target!(|bytes: &[u8]| {
    let text = match common::input::decode(bytes.to_vec(), "/nonexistent/fuzz.yaml") {
        Ok(text) => text,
        Err(common::input::InputError::Utf8 { line, column, .. }) => {
            assert!(line >= 1 && column >= 1);
            return;
        }
        Err(e) => panic!("decoding only fails on UTF-8: {e}"),
    };
    // A directory that does not exist: data files are refused, not read.
    match loadgen::scenario::parse(&text, std::path::Path::new("/nonexistent/fuzz.yaml")) {
        Err(e) => assert!(e.to_string().starts_with("/nonexistent/fuzz.yaml:"), "{e}"),
        Ok(plan) => {
            assert!(plan.timeout <= limits::MAX_TIMEOUT);
            assert!(plan.load.duration() <= limits::MAX_RUN);
            if let Load::Open { max_users, max_queue, .. } = plan.load {
                assert!(max_users <= limits::MAX_USERS && max_queue <= limits::MAX_QUEUE);
            }
        }
    }
});
