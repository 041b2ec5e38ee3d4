//! The fault-plan parser (`--faults FILE`, `PUT /admin/faults`) on arbitrary
//! bytes: it never panics; what it accepts passes the range checks, and what
//! it refuses names a line and column.

#![no_main]

use libfuzzer_sys::fuzz_target;
use target_app::faults::FaultPlan;

fuzz_target!(|data: &[u8]| {
    match FaultPlan::from_bytes(data, "fuzz.yaml") {
        Ok(plan) => {
            if let Err(e) = plan.validated() {
                panic!("accepted a plan that is out of range: {e}");
            }
        }
        Err(e) => {
            let Some((line, column)) = e.location() else {
                panic!("an error without a location: {e}");
            };
            assert!(line >= 1 && column >= 1, "{e}");
        }
    }
});
