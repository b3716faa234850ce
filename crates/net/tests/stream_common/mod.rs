//! Shared set-up for STREAM tests: tollcast nodes from TOML, and the JS reference scripts.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tempfile::TempDir;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tollcast_net::connector::{Node, NodeConfig};

/// Starts a node from a TOML body (the `[node]` ledger path is filled in with a temp file).
pub async fn node(name: &str, address: &str, accounts_toml: &str) -> (Node, TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let ledger = dir.path().join("ledger.redb");
    let text = format!(
        "[node]\nname = \"{name}\"\naddress = \"{address}\"\nlisten = \"127.0.0.1:0\"\nledger = \"{}\"\n\n{accounts_toml}",
        ledger.display()
    );
    let cfg = NodeConfig::from_toml(&text, "test").unwrap();
    (Node::start(cfg).await.unwrap(), dir)
}

/// `<repo>/tests/interop`, failing loudly if the JS peers are not installed.
pub fn interop_dir() -> PathBuf {
    let d = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/interop");
    assert!(
        d.join("node_modules/@interledger/pay").exists()
            && d.join("node_modules/ilp-connector").exists(),
        "JS reference peers missing in {}: run scripts/setup.sh (npm install in tests/interop)",
        d.display()
    );
    d
}

/// A running node script talking JSON lines prefixed with `TOLLCAST_JSON `.
pub struct JsPeer {
    child: tokio::process::Child,
    lines: tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
    stdin: tokio::process::ChildStdin,
}

impl JsPeer {
    pub fn spawn(args: &[&str]) -> JsPeer {
        let dir = interop_dir().join("stream_e2e");
        let mut child = tokio::process::Command::new("node")
            .args(args)
            .current_dir(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("node (Node.js 20) must be installed");
        let stdout = child.stdout.take().unwrap();
        let stdin = child.stdin.take().unwrap();
        JsPeer {
            child,
            lines: BufReader::new(stdout).lines(),
            stdin,
        }
    }

    /// Next machine-readable line (other output, e.g. connector logs, is skipped).
    pub async fn next_json(&mut self, timeout: Duration) -> serde_json::Value {
        let fut = async {
            loop {
                let line = self
                    .lines
                    .next_line()
                    .await
                    .unwrap()
                    .expect("JS peer exited early");
                if let Some(j) = line.strip_prefix("TOLLCAST_JSON ") {
                    return serde_json::from_str(j).unwrap();
                }
            }
        };
        tokio::time::timeout(timeout, fut)
            .await
            .expect("JS peer did not answer in time")
    }

    pub async fn send_line(&mut self, line: &str) {
        self.stdin
            .write_all(format!("{line}\n").as_bytes())
            .await
            .unwrap();
        self.stdin.flush().await.unwrap();
    }

    pub async fn wait(mut self) -> std::process::ExitStatus {
        tokio::time::timeout(Duration::from_secs(60), self.child.wait())
            .await
            .unwrap()
            .unwrap()
    }
}
