#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| cairn_server::fuzzing::grpc_request(data));
