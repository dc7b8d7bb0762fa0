#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kafka_proxy::net::forward::fuzz_replies(data));
