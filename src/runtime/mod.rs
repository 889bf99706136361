//! What linked code needs from the running process: host symbols (and, as they land,
//! initializers, unwind registration and thread-local storage).

pub mod counters;
pub mod host;
pub mod init;
pub mod reentry;
pub mod tls;
pub mod unwind;
pub mod win64;
