#![no_main]
//! See `scoreticker::fuzzing::config`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| scoreticker::fuzzing::config(data));
