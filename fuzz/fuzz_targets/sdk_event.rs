#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sluice_sdk::fuzzing::event_scan_and_splice(data));
