#![no_main]
//! See `scoreticker::fuzzing::espn`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| scoreticker::fuzzing::espn(data));
