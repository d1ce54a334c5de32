#![no_main]
//! See `scoreticker::fuzzing::since`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| scoreticker::fuzzing::since(data));
