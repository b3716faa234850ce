//! Shared by the CLI tests: run the built `tollcast` binary with arguments, environment and stdin
//! ([`run`]), keep it running and read its lines ([`proc`]), GET from it ([`http`]).
#![allow(dead_code)] // each test binary uses its own subset

pub mod http;
pub mod nodes;
pub mod proc;

use std::io::Write;
use std::process::{Command, Output, Stdio};

/// Runs `tollcast <args>` with `stdin` piped in and extra environment variables set. The ambient
/// `TOLLCAST_NSEC` is removed so a developer's own key never leaks into a test.
pub fn run_env(args: &[&str], env: &[(&str, &str)], stdin: &str) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tollcast"));
    cmd.args(args).env_remove("TOLLCAST_NSEC");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the tollcast binary");
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("wait for tollcast")
}

/// Runs `tollcast <args>` with `stdin` piped in.
pub fn run(args: &[&str], stdin: &str) -> Output {
    run_env(args, &[], stdin)
}
