//! One module per top-level subcommand; each exposes `Args` (clap) and `run`.

pub mod balance;
pub mod bench;
pub mod chat;
pub mod demo;
pub mod discover;
pub mod econ;
pub mod event;
pub mod event_relay;
pub mod event_sign;
pub mod ilp;
pub mod moderate;
pub mod node;
pub mod origin;
pub mod pay;
pub mod record;
pub mod relay;
pub mod stream;
pub mod tip;
pub mod toon;
pub mod transcode;
pub mod watch;
