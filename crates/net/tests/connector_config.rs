//! The commented example configs in examples/ load and validate; broken configs are refused
//! with a message that says what to fix.

use std::path::PathBuf;

use tollcast_net::connector::NodeConfig;

fn examples() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

#[test]
fn example_configs_are_valid() {
    let mut n = 0;
    for e in std::fs::read_dir(examples()).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        // node-<role>.toml add a role section (`tollcast node --role`), which the role tests of
        // the tollcast crate check; the connector alone sees only the plain node configs.
        let role = ["relay", "transcoder", "moderator", "recorder", "verifier"]
            .iter()
            .any(|r| name == format!("node-{r}.toml"));
        if name.starts_with("node-") && name.ends_with(".toml") && !role {
            let cfg = NodeConfig::load(&p).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(cfg.address().starts_with("g.tollcast."), "{name}");
            n += 1;
        }
    }
    assert!(n >= 3, "expected the node-*.toml examples, found {n}");
}

fn err(text: &str) -> String {
    NodeConfig::from_toml(text, "t.toml")
        .unwrap_err()
        .to_string()
}

const HEAD: &str = "[node]\nname = \"x\"\nledger = \"x.redb\"\n";

#[test]
fn broken_configs_say_what_to_fix() {
    let acc = |extra: &str| {
        format!(
            "{HEAD}[[accounts]]\nid = \"p\"\nrelation = \"peer\"\nasset_code = \"USD\"\nasset_scale = 6\n{extra}\n"
        )
    };
    assert!(err(&acc("")).contains("set btp_url (we connect) or auth_token"));
    assert!(err(&acc("btp_url = \"http://x\"")).contains("is not a ws:// or btp+ws:// URL"));
    assert!(
        err(&acc(
            "auth_token = \"t\"\nsettle_threshold = 5\nsettle_to = 9"
        ))
        .contains("settle_to must not exceed")
    );
    assert!(err(&acc("auth_token = \"t\"\nbogus = 1")).contains("unknown field"));
    let two = format!(
        "{}[[accounts]]\nid = \"p\"\nrelation = \"peer\"\nasset_code = \"USD\"\nasset_scale = 6\nauth_token = \"u\"\n",
        acc("auth_token = \"t\"")
    );
    assert!(err(&two).contains("defined twice"));
    let route = format!(
        "{}[[routes]]\nprefix = \"g.x\"\naccount = \"nobody\"\n",
        acc("auth_token = \"t\"")
    );
    assert!(err(&route).contains("unknown account"));
    let eur = format!(
        "{}[[accounts]]\nid = \"q\"\nrelation = \"peer\"\nasset_code = \"EUR\"\nasset_scale = 6\nauth_token = \"u\"\n",
        acc("auth_token = \"t\"")
    );
    assert!(err(&eur).contains("no rate for asset"));
    assert!(
        err(&format!("{eur}[rates]\nUSD = \"1\"\nEUR = \"abc\"\n"))
            .contains("not a positive decimal")
    );
    assert!(
        err("[node]\nname = \"x\"\naddress = \"not an address\"\nledger = \"x\"\n")
            .contains("not a valid ILP address")
    );
    assert!(err(&acc("auth_token = \"t\"\nid2 = 1")).contains("unknown field"));
    let selfid = format!(
        "{HEAD}[[accounts]]\nid = \"self\"\nrelation = \"peer\"\nasset_code = \"USD\"\nasset_scale = 6\nauth_token = \"t\"\n"
    );
    assert!(
        err(&selfid).contains("(and not \"self\")"),
        "{}",
        err(&selfid)
    );
}

#[test]
fn claim_keys_are_checked() {
    use nostr::nips::nip19::ToBech32;
    let k = nostr::key::Keys::generate();
    let acc = |node: &str, extra: &str| {
        format!(
            "[node]\nname = \"x\"\nledger = \"x.redb\"\n{node}[[accounts]]\nid = \"p\"\nrelation = \"peer\"\nasset_code = \"USD\"\nasset_scale = 6\nauth_token = \"t\"\n{extra}\n"
        )
    };
    let e = err(&acc("", "peer_pubkey = \"nope\""));
    assert!(e.contains("peer_pubkey") && e.contains("npub1"), "{e}");
    let e = err(&acc("node_key = \"zz\"\n", ""));
    assert!(e.contains("node_key is not a secret key"), "{e}");
    // hex and bech32 forms are both accepted.
    for (node_key, peer) in [
        (k.secret_key().to_secret_hex(), k.public_key().to_hex()),
        (
            k.secret_key().to_bech32().unwrap(),
            k.public_key().to_bech32().unwrap(),
        ),
    ] {
        let text = acc(
            &format!("node_key = \"{node_key}\"\n"),
            &format!("peer_pubkey = \"{peer}\""),
        );
        let cfg = NodeConfig::from_toml(&text, "t.toml").expect("valid keys");
        assert_eq!(
            cfg.node.signing_keys().unwrap().public_key(),
            k.public_key()
        );
    }
}
