#![no_main]
//! See `scoreticker::fuzzing::client_message`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| scoreticker::fuzzing::client_message(data));
