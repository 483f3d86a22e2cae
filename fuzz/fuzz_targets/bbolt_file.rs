#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| cairn_bbolt::fuzz_body(data));
