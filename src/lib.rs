//! pidone as a library: the binary's modules, so that the fuzz crate
//! (`fuzz/`) and the replay test (`tests/fuzz_replay.rs`) reach the
//! parsers. The binary does not link it (it declares the same modules);
//! nothing here is an API for others.
#![allow(dead_code)]

pub mod boot;
pub mod caps;
pub mod cli;
pub mod dhcp;
pub mod error;
pub mod files;
pub mod launch;
pub mod log;
pub mod metadata;
pub mod netlink;
pub mod plan;
pub mod power;
pub mod procfs;
pub mod setup;
pub mod signals;
pub mod spawn;
pub mod status;
pub mod supervise;
pub mod values;

pub mod fuzzing;
