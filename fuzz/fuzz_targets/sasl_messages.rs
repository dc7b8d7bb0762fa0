#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    kafka_proxy::auth::scram::fuzz_server_messages(data);
    kafka_proxy::auth::upstream::fuzz_client_sasl(data);
});
