//! The integration tests, as one test binary (`cargo test --test it`).
//!
//! One module per area, named after the file it lives in: `cargo test --test it lazy::` runs the
//! lazy-linking tests, `cargo test --test it differential::` the x86-64 differential tests. The
//! harness they share (compiling with the system compilers, the cache under
//! `target/test-cache/`, native links, running a program natively and through `jitlink` and
//! comparing both runs) is in `common/`.

mod common;

mod api;
mod boundary;
mod c_programs;
mod check;
mod check_aarch64;
mod check_riscv64;
mod cli;
mod coff;
mod cpp;
mod debugger;
mod differential;
mod differential_aarch64;
mod differential_riscv64;
mod errors;
mod executor;
mod executor_tcp;
mod executor_tiers;
mod fuzz_regressions;
mod host;
mod lazy;
mod macho;
mod macho_inputs;
mod mutation;
mod reopt;
mod rust_staticlib;
mod session_api;
mod stubs;
mod tls;
mod workloads;
mod wx;
