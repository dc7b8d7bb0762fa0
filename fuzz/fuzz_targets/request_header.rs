#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kafka_proxy::codec::fuzzing::request_header(data));
