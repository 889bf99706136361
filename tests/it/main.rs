//! jitlink's integration tests, one binary: each module is an area (select one with
//! `cargo test --test it AREA::`), and `common` is the one harness that compiles C, C++ and Rust
//! at test time, links natively and with jitlink (in process, through the `jitlink` tool, at a
//! fixed base, in an executor), runs both and compares. Objects are cached under
//! `target/test-cache/`, keyed by compiler, flags and source hash.

mod common;

mod api;
mod c_programs;
mod check;
mod cli;
mod coff;
mod cpp;
mod debugger;
mod differential;
mod differential_aarch64;
mod errors;
mod executor;
mod fuzz_regressions;
mod lazy;
mod macho;
mod reopt;
mod rust_staticlib;
mod stubs;
mod tls;
mod workloads;
mod wx;
