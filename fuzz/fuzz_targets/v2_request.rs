#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| cairn_server::fuzzing::run("v2_request", data));
