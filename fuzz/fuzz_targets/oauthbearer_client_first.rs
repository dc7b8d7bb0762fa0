#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kafka_proxy::fuzzing::run("oauthbearer_client_first", data));
