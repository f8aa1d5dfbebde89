#![no_main]
// The parser behind it: pidone::fuzzing::run (shared with the replay test).
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    pidone::fuzzing::run("env_file", data);
});
