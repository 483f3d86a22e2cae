#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| cairn_etcd_wal::fuzz_body(data));
