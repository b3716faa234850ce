//! Interop with reference Nostr software over real WebSockets on 127.0.0.1:
//! - nostr-tools (JS) publishes to and reads from a tollcast relay;
//! - the tollcast client publishes to and reads from the Python `nostr-relay` (PyPI 1.14),
//!   installed by `scripts/setup-pyrelay.sh`.

mod nostr_common;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use nostr::prelude::*;
use nostr_common::*;
use tollcast_net::nostr_relay::RelayConfig;
use tollcast_net::nostr_relay::client::{ClientOptions, RelayClient};
use tollcast_net::nostr_relay::pool::{PoolItem, RelayPool};

fn repo_root() -> PathBuf {
    std::env::var_os("TOLLCAST_REPO_ROOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.."))
}

#[tokio::test]
async fn nostr_tools_publishes_and_reads_from_tollcast_relay() {
    let interop = repo_root().join("tests/interop");
    assert!(
        interop.join("node_modules/nostr-tools").exists(),
        "tests/interop/node_modules is missing: run scripts/setup.sh (installs the JS reference peers)"
    );
    let r = start_relay(RelayConfig::default()).await;
    let out = tokio::process::Command::new("node")
        .arg(interop.join("nostr_relay/nostr-tools-client.mjs"))
        .arg(&r.url)
        .current_dir(&interop)
        .output()
        .await
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
    let summary = stdout.lines().last().unwrap_or_default().to_string();
    println!("CONFORMANCE nostr-tools 2.25.2 vs tollcast relay: {summary}");
    assert!(out.status.success(), "nostr-tools checks failed");
    assert!(summary.ends_with(", 0 failed"), "{summary}");
    // The accepted event really is in our store (2 published: the first and the live one).
    assert_eq!(r.relay.core().store.len().unwrap(), 2);
}

/// The Python relay, started for one test on an ephemeral port, killed on drop.
struct PyRelay {
    child: std::process::Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Drop for PyRelay {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn pyrelay_bin() -> PathBuf {
    std::env::var_os("TOLLCAST_PYRELAY")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target/pyrelay-venv/bin/nostr-relay"))
}

async fn start_pyrelay() -> PyRelay {
    let bin = pyrelay_bin();
    assert!(
        bin.exists(),
        "Python nostr-relay not found at {}: run scripts/setup-pyrelay.sh (or set TOLLCAST_PYRELAY)",
        bin.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    // Start from the package's own config.yaml; change only the database path and port.
    let python = bin.with_file_name("python");
    let pkg = std::process::Command::new(&python)
        .args([
            "-c",
            "import nostr_relay,os;print(os.path.dirname(nostr_relay.__file__))",
        ])
        .output()
        .expect("run the venv's python");
    let pkg = String::from_utf8(pkg.stdout).unwrap();
    let default_cfg = std::fs::read_to_string(PathBuf::from(pkg.trim()).join("config.yaml"))
        .expect("nostr_relay/config.yaml");
    let cfg = default_cfg
        .replace(
            "sqlite+aiosqlite:///nostr.sqlite3",
            &format!("sqlite+aiosqlite:///{}/nostr.sqlite3", dir.path().display()),
        )
        .replace("6969", &port.to_string());
    let cfg_path = dir.path().join("config.yaml");
    std::fs::write(&cfg_path, cfg).unwrap();
    let child = std::process::Command::new(&bin)
        .arg("-c")
        .arg(&cfg_path)
        .arg("serve")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start nostr-relay");
    let url = format!("ws://127.0.0.1:{port}");
    // Wait until it accepts TCP connections (guard: 30 s).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "nostr-relay did not start within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    PyRelay {
        child,
        url,
        _dir: dir,
    }
}

#[tokio::test]
async fn tollcast_client_publishes_and_reads_from_python_relay() {
    let py = start_pyrelay().await;
    let client = RelayClient::connect(&py.url, ClientOptions::default()).unwrap();
    let keys = Keys::generate();
    let ev = note(
        &keys,
        1311,
        "hello python relay",
        vec![tag(&["t", "tollcast"])],
        now(),
    );
    let ack = client.publish(&ev, T).await.unwrap();
    assert!(ack.accepted, "{ack:?}");

    let got = client
        .fetch(
            vec![Filter::new().author(keys.public_key()).hashtag("tollcast")],
            T,
        )
        .await
        .unwrap();
    assert_eq!(ids(&got), vec![ev.id]);

    // A forged event is refused (the Python relay answers with an empty id; the client still
    // matches the OK to the pending publish).
    let mut forged = note(&keys, 1, "forged", vec![], now());
    forged.sig = note(&Keys::generate(), 1, "x", vec![], now()).sig;
    let ack = client.publish(&forged, T).await.unwrap();
    assert!(!ack.accepted);
    assert!(ack.message.starts_with("invalid:"), "{ack:?}");

    // A pool over the Python relay and a tollcast relay: one copy of an event on both.
    let ours = start_relay(RelayConfig::default()).await;
    let pool = RelayPool::new(
        [py.url.as_str(), ours.url.as_str()],
        ClientOptions::default(),
    )
    .unwrap();
    let both = note(&keys, 1311, "on both", vec![], now());
    let results = pool.publish(&both, T).await;
    assert_eq!(results.len(), 2);
    for (url, r) in &results {
        assert!(r.as_ref().unwrap().accepted, "{url}: {r:?}");
    }
    let mut sub = pool
        .subscribe(vec![Filter::new().id(both.id)])
        .await
        .unwrap();
    let mut events = 0;
    let mut eoses = 0;
    loop {
        match tokio::time::timeout(T, sub.recv()).await.unwrap().unwrap() {
            PoolItem::Event { event, .. } => {
                assert_eq!(event.id, both.id);
                events += 1;
            }
            PoolItem::Eose { .. } => eoses += 1,
            PoolItem::AllEose => break,
            PoolItem::Closed { relay, message } => panic!("{relay} closed: {message}"),
        }
    }
    assert_eq!(
        (events, eoses),
        (1, 2),
        "deduplicated across relays, EOSE from each"
    );
}
