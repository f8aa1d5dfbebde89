//! pidone as a library: the binary's modules, so that the fuzz crate
//! (`fuzz/`) and the replay test (`tests/fuzz_replay.rs`) reach the
//! parsers. The binary does not link it (it declares the same modules);
//! nothing here is an API for others.
#![allow(dead_code)]
// No panic path in production code, checked by the build: a PID 1 that
// dies takes the container with it (tests may unwrap). Nothing prints
// with print!/eprintln! either: a write to stderr that fails is ignored.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic,
        clippy::print_stdout,
        clippy::print_stderr
    )
)]

pub mod boot;
pub mod cgroup;
pub mod cli;
pub mod delay;
pub mod dhcp;
pub mod error;
pub mod features;
pub mod launch;
pub mod log;
pub mod mdata;
pub mod metadata;
pub mod notify;
pub mod plan;
pub mod probe;
pub mod say;
pub mod setup;
pub mod spawn;
pub mod status;
pub mod supervise;
pub mod sys;
pub mod values;
pub mod watch;

pub mod fuzzing;
