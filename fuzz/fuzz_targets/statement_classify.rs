#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sluice_fuzz::fuzzing::statement_classify(data));
