#![no_main]
//! See `scoreticker::fuzzing::mapped`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| scoreticker::fuzzing::mapped(data));
