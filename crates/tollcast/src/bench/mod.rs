//! Measurements that answer the brief (`tollcast bench ...`): a whole network run in-process
//! with real sockets and real ffmpeg ([`network`]), what each part costs per stage, per relay
//! and per payment, and the reports ([`report`]) that BENCHMARKS.md and FEASIBILITY.md quote.
//!
//! Each agent runs on its own named tokio runtime, so its CPU time can be read per thread from
//! `/proc/self/task/*/schedstat` ([`cpu`]); ffmpeg children are read from `/proc/<pid>`.

pub mod cpu;
pub mod fanout;
pub mod http;
pub mod machine;
pub mod meter;
pub mod network;
pub mod playlist;
pub mod report;
pub mod stats;
