//! One module per top-level subcommand; each exposes `Args` (clap) and `run`.

pub mod event;
pub mod ilp;
pub mod stream;
pub mod event_sign;
pub mod toon;
