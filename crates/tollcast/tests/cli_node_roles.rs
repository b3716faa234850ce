//! `tollcast node --role relay` as an operator runs it: a creator goes live with `tollcast
//! stream` (synthetic source, its wallet node hosting the Nostr relay), an operator's node
//! config with a `[relay]` section pulls that stream, verifies it against the signed manifests
//! and serves it: the relay's playlist and chunks (hash-checked) come through its own port, and
//! the node prints `ready:` with the node and relay endpoints. A role without its section, an
//! unknown key, a missing required flag of the role's command all exit 1 with a clear message.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

struct Kill(Child);
impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn http_get(addr: &str, path: &str) -> (u16, Vec<u8>) {
    let r = common::http::get_blocking(addr, path);
    (r.status, r.body)
}

/// Spawn the binary; read stdout until a `ready:` line.
fn spawn_ready(args: &[&str]) -> (Kill, Value, String) {
    let mut child = Kill(
        Command::new(env!("CARGO_BIN_EXE_tollcast"))
            .args(args)
            .env_remove("TOLLCAST_SECRET_KEY")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap(),
    );
    let mut out = BufReader::new(child.0.stdout.take().unwrap());
    let mut text = String::new();
    loop {
        let mut l = String::new();
        assert!(out.read_line(&mut l).unwrap() > 0, "no ready line:\n{text}");
        text.push_str(&l);
        if let Some(j) = l.strip_prefix("ready: ") {
            let v = serde_json::from_str(j).unwrap();
            // Keep draining stdout so the child never blocks on a full pipe.
            std::thread::spawn(move || {
                let mut sink = String::new();
                while out.read_line(&mut sink).unwrap_or(0) > 0 {
                    sink.clear();
                }
            });
            return (child, v, text);
        }
    }
}

#[test]
fn node_role_relay_serves_a_live_stream() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    let streamer_toml = dir.path().join("streamer.toml");
    std::fs::write(
        &streamer_toml,
        format!(
            "[stream]\nkey_file = \"{d}/creator.key\"\nstatus_every = 0\n\
             [ingest]\nsource = \"synthetic\"\nsize = \"426x240\"\nvideo_kbps = 300\n\
             [origin]\nlisten = \"127.0.0.1:0\"\nstore_dir = \"{d}/chunks\"\n\
             [wallet]\nledger = \"{d}/creator.redb\"\n"
        ),
    )
    .unwrap();
    let (_streamer, s, _) = spawn_ready(&["stream", "--config", streamer_toml.to_str().unwrap()]);
    let origin = format!("http://{}", s["http"].as_str().unwrap());
    let nostr = s["nostr_relays"][0].as_str().unwrap();
    let stream = s["stream"].as_str().unwrap();

    let node_toml = dir.path().join("node.toml");
    std::fs::write(
        &node_toml,
        format!(
            "[node]\nname = \"edge\"\nlisten = \"127.0.0.1:0\"\nledger = \"{d}/edge.redb\"\n\n\
             [spsp]\nasset_code = \"USD\"\nasset_scale = 6\n\n\
             [relay]\nupstream = \"{origin}\"\nstream = \"{stream}\"\nnostr = [\"{nostr}\"]\n\
             listen = \"127.0.0.1:0\"\nstore_dir = \"{d}/relay-cache\"\n"
        ),
    )
    .unwrap();
    let (_node, ready, text) = spawn_ready(&[
        "node",
        "--role",
        "relay",
        "--config",
        node_toml.to_str().unwrap(),
    ]);
    assert_eq!(ready["role"], "relay", "{ready}");
    assert!(ready["node"].as_str().is_some() && ready["nostr"].as_str().is_some());
    assert!(text.contains("playlist: http://"), "{text}");
    let relay = ready["relay"]["http"].as_str().unwrap().to_string();

    // The relay serves the stream: a blocking reload for segment 2, then its init and first
    // segment, whose bytes hash to their names (the relay verified them against manifests).
    let t = Instant::now();
    let media = loop {
        let (st, b) = http_get(&relay, "/live/source/index.m3u8?_HLS_msn=2");
        if st == 200 {
            break String::from_utf8(b).unwrap();
        }
        assert!(
            t.elapsed() < Duration::from_secs(40),
            "relay never served segment 2 ({st})"
        );
        std::thread::sleep(Duration::from_millis(300));
    };
    assert!(media.contains("#EXT-X-PART:"), "{media}");
    let seg = media
        .lines()
        .find(|l| !l.starts_with('#') && !l.is_empty())
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_string();
    let (st, body) = http_get(&relay, &format!("/{seg}"));
    assert_eq!(st, 200, "{seg}");
    assert_eq!(
        tollcast_media::store::sha256_hex(&body),
        seg.split('.').next().unwrap()
    );
    let (st, _) = http_get(&relay, "/live/master.m3u8");
    assert_eq!(st, 200);
}

/// A paid `[relay]` (the same agent as `tollcast relay`) signs its offer with the node key and
/// answers SPSP over Nostr for it; that key may not also be the node's own `[spsp] nostr_key`
/// (viewers would get credentials paying the node, not the relay).
#[test]
fn node_role_relay_paid_offers_spsp_over_nostr_with_the_node_key() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    let key = "7f".repeat(32);
    let pk = tollcast_events::nostr::prelude::Keys::parse(&key)
        .unwrap()
        .public_key()
        .to_hex();
    let creator = "11".repeat(32);
    let relay = format!(
        "[relay]\nupstream = \"http://127.0.0.1:9\"\nstream = \"30311:{creator}:live\"\n\
         listen = \"127.0.0.1:0\"\nstore_dir = \"{d}/cache\"\nbilling_db = \"{d}/billing.redb\"\n\
         price_per_second = 5\n"
    );
    let node = |spsp: &str| {
        format!(
            "[node]\nname = \"edge\"\nlisten = \"127.0.0.1:0\"\nledger = \":memory:\"\n\
             node_key = \"{key}\"\n[spsp]\nasset_code = \"USD\"\nasset_scale = 6\n{spsp}\n{relay}"
        )
    };
    let ok = dir.path().join("ok.toml");
    std::fs::write(&ok, node("")).unwrap();
    let (_n, ready, text) =
        spawn_ready(&["node", "--role", "relay", "--config", ok.to_str().unwrap()]);
    assert!(text.contains("credit mode: 5 USD"), "{text}");
    assert_eq!(ready["relay"]["pubkey"], pk.as_str(), "{ready}");
    assert_eq!(
        ready["relay"]["credit"]["spsp_nostr"],
        pk.as_str(),
        "{ready}"
    );

    let clash = dir.path().join("clash.toml");
    std::fs::write(&clash, node(&format!("nostr_key = \"{key}\"\n"))).unwrap();
    let out = common::run(
        &[
            "node",
            "--role",
            "relay",
            "--config",
            clash.to_str().unwrap(),
        ],
        "",
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("spsp_nostr = false"), "{err}");
}

#[test]
fn node_role_errors_are_clear() {
    let dir = tempfile::tempdir().unwrap();
    let base = "[node]\nname = \"x\"\nlisten = \"127.0.0.1:0\"\nledger = \":memory:\"\n\
                [spsp]\nasset_code = \"USD\"\nasset_scale = 6\n";
    let cases = [
        ("", "relay", "needs a [relay] section"),
        (
            "[relay]\nupstream = \"http://127.0.0.1:9\"\nstream = \"x\"\nupstrem = 1\n",
            "relay",
            "upstrem",
        ),
        (
            "[transcoder]\nprice_per_minute = 5\n",
            "transcoder",
            "tollcast transcode --help",
        ),
        (
            "[moderator]\nstreams = [\"x\"]\nbanned_wrds = [\"y\"]\n",
            "moderator",
            "banned_wrds",
        ),
    ];
    for (i, (extra, role, want)) in cases.iter().enumerate() {
        let p = dir.path().join(format!("n{i}.toml"));
        std::fs::write(&p, format!("{base}{extra}")).unwrap();
        let out = common::run(
            &["node", "--role", role, "--config", p.to_str().unwrap()],
            "",
        );
        assert_eq!(out.status.code(), Some(1), "{role}: {extra}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(want), "{role}: want {want:?} in {err}");
    }
}

/// The command roles start from a node config: a free moderator runs beside the node, a
/// transcoder is paid at the node it starts from the same config; both print `ready:`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_role_moderator_and_transcoder_start() {
    use tollcast_net::nostr_relay::{NostrRelay, RelayConfig};
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    let relay = NostrRelay::open(RelayConfig::default(), dir.path().join("r.redb")).unwrap();
    let (addr, _t) = relay.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let node = |name: &str| {
        format!(
            "[node]\nname = \"{name}\"\nlisten = \"127.0.0.1:0\"\nledger = \"{d}/{name}.redb\"\n\
             [spsp]\nasset_code = \"USD\"\nasset_scale = 6\n"
        )
    };
    let cases = [
        (
            "moderator",
            format!(
                "{}[moderator]\nrelays = [\"ws://{addr}\"]\nstreams = [\"30311:{}:live\"]\nlisten = \"127.0.0.1:0\"\n",
                node("mod"),
                tollcast_events::nostr::prelude::Keys::generate()
                    .public_key()
                    .to_hex()
            ),
        ),
        (
            "transcoder",
            format!(
                "{}[transcoder]\nnostr = [\"ws://{addr}\"]\nlisten = \"127.0.0.1:0\"\nstore_dir = \"{d}/tx\"\npreset = \"ultrafast\"\n",
                node("tx")
            ),
        ),
    ];
    for (role, toml) in cases {
        let p = dir.path().join(format!("{role}.toml"));
        std::fs::write(&p, toml).unwrap();
        let p2 = p.clone();
        let (child, ready, text) = tokio::task::spawn_blocking(move || {
            spawn_ready(&["node", "--role", role, "--config", p2.to_str().unwrap()])
        })
        .await
        .unwrap();
        assert!(ready.is_object(), "{role}: {text}");
        drop(child);
    }
}
