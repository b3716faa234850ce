//! Interop with the JS reference (ilp-protocol-stream 2.7.1 via
//! tests/interop/stream/stream-peer.js, one node process, JSON lines):
//! - codec: 1,000 random Rust packets decode identically in JS; 1,000 random JS packets
//!   decode identically in Rust and re-encode to the same bytes;
//! - crypto: Rust-encrypted packets decrypt in JS (same fulfillment and condition) and
//!   JS-encrypted ones decrypt in Rust;
//! - server tokens: JS `Server#generateAddressAndSecret` addresses open in Rust, Rust-issued
//!   tokens open with the JS token code, with the same shared secret and connection tag.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdout, Command, Stdio};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use tollcast_wire::stream::*;

struct Peer {
    child: Child,
    stdout: BufReader<ChildStdout>,
}

impl Peer {
    fn start() -> Self {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
        let modules = format!("{root}/tests/interop/node_modules/ilp-protocol-stream");
        assert!(
            std::path::Path::new(&modules).exists(),
            "JS reference peers missing ({modules}): run scripts/setup.sh to install tests/interop/node_modules"
        );
        let mut child = Command::new("node")
            .arg(format!("{root}/tests/interop/stream/stream-peer.js"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("node must be installed (scripts/setup.sh)");
        let stdout = BufReader::new(child.stdout.take().unwrap());
        Self { child, stdout }
    }

    /// Sends all requests from a writer thread (a full pipe must not deadlock us) and reads
    /// the replies in order.
    fn batch(&mut self, requests: Vec<Value>) -> Vec<Value> {
        let n = requests.len();
        let mut stdin = self.child.stdin.take().expect("stdin");
        let writer = std::thread::spawn(move || {
            for r in requests {
                writeln!(stdin, "{r}").expect("write to node");
            }
            stdin
        });
        let mut replies = Vec::with_capacity(n);
        let mut line = String::new();
        for _ in 0..n {
            line.clear();
            self.stdout.read_line(&mut line).expect("read from node");
            assert!(!line.is_empty(), "node exited early");
            replies.push(serde_json::from_str::<Value>(&line).expect("reply is JSON"));
        }
        self.child.stdin = Some(writer.join().unwrap());
        replies
    }

    fn one(&mut self, request: Value) -> Value {
        let r = self.batch(vec![request]).remove(0);
        assert_eq!(r["ok"], true, "{r}");
        r
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

fn rand_u64(rng: &mut StdRng) -> u64 {
    match rng.random_range(0..6) {
        0 => 0,
        1 => rng.random_range(0..256),
        2 => (1 << 53) - 1,
        3 => u64::MAX,
        _ => rng.random::<u64>() >> rng.random_range(0..64),
    }
}

fn rand_string(rng: &mut StdRng) -> String {
    const CHARS: &[char] = &[
        'a', 'Z', '0', '9', ' ', '.', '~', '_', '-', 'é', '€', '😀', '\u{0}', '"', '\\',
    ];
    (0..rng.random_range(0..40))
        .map(|_| CHARS[rng.random_range(0..CHARS.len())])
        .collect()
}

fn rand_bytes(rng: &mut StdRng, max: usize) -> Bytes {
    let len = rng.random_range(0..=max);
    (0..len)
        .map(|_| rng.random::<u8>())
        .collect::<Vec<_>>()
        .into()
}

fn rand_frame(rng: &mut StdRng) -> Frame {
    let ty = FrameType::ALL[rng.random_range(0..FrameType::ALL.len())];
    let r = rng;
    match ty {
        FrameType::ConnectionClose => ConnectionCloseFrame {
            code: r.random::<u8>().into(),
            message: rand_string(r),
        }
        .into(),
        FrameType::ConnectionNewAddress => ConnectionNewAddressFrame {
            source_account: format!("g.{}", r.random::<u32>()),
        }
        .into(),
        FrameType::ConnectionMaxData => ConnectionMaxDataFrame {
            max_offset: rand_u64(r),
        }
        .into(),
        FrameType::ConnectionDataBlocked => ConnectionDataBlockedFrame {
            max_offset: rand_u64(r),
        }
        .into(),
        FrameType::ConnectionMaxStreamId => ConnectionMaxStreamIdFrame {
            max_stream_id: rand_u64(r),
        }
        .into(),
        FrameType::ConnectionStreamIdBlocked => ConnectionStreamIdBlockedFrame {
            max_stream_id: rand_u64(r),
        }
        .into(),
        FrameType::ConnectionAssetDetails => ConnectionAssetDetailsFrame {
            source_asset_code: rand_string(r).chars().take(5).collect(),
            source_asset_scale: r.random(),
        }
        .into(),
        FrameType::StreamClose => StreamCloseFrame {
            stream_id: rand_u64(r),
            code: r.random::<u8>().into(),
            message: rand_string(r),
        }
        .into(),
        FrameType::StreamMoney => StreamMoneyFrame {
            stream_id: rand_u64(r),
            shares: rand_u64(r),
        }
        .into(),
        FrameType::StreamMaxMoney => StreamMaxMoneyFrame {
            stream_id: rand_u64(r),
            receive_max: rand_u64(r),
            total_received: rand_u64(r),
        }
        .into(),
        FrameType::StreamMoneyBlocked => StreamMoneyBlockedFrame {
            stream_id: rand_u64(r),
            send_max: rand_u64(r),
            total_sent: rand_u64(r),
        }
        .into(),
        FrameType::StreamData => {
            let max = if r.random_range(0..10) == 0 { 3000 } else { 64 };
            StreamDataFrame {
                stream_id: rand_u64(r),
                offset: rand_u64(r),
                data: rand_bytes(r, max),
            }
            .into()
        }
        FrameType::StreamMaxData => StreamMaxDataFrame {
            stream_id: rand_u64(r),
            max_offset: rand_u64(r),
        }
        .into(),
        FrameType::StreamDataBlocked => StreamDataBlockedFrame {
            stream_id: rand_u64(r),
            max_offset: rand_u64(r),
        }
        .into(),
        FrameType::StreamReceipt => StreamReceiptFrame {
            stream_id: rand_u64(r),
            receipt: rand_bytes(r, 80),
        }
        .into(),
    }
}

fn rand_packet(rng: &mut StdRng) -> StreamPacket {
    let ty = [
        IlpPacketType::Prepare,
        IlpPacketType::Fulfill,
        IlpPacketType::Reject,
    ][rng.random_range(0..3)];
    let mut p = StreamPacket::new(rand_u64(rng), ty, rand_u64(rng));
    for _ in 0..rng.random_range(0..6) {
        p.frames.push(rand_frame(rng));
    }
    p
}

const N: usize = 1000;
const N_CRYPTO: usize = 300;

#[test]
fn stream_interop_with_ilp_protocol_stream() {
    let mut peer = Peer::start();
    let mut rng = StdRng::seed_from_u64(0x5743_2029);

    // Rust -> JS codec.
    let packets: Vec<StreamPacket> = (0..N).map(|_| rand_packet(&mut rng)).collect();
    let replies = peer.batch(
        packets
            .iter()
            .map(|p| json!({"op": "decode", "hex": hex::encode(p.encode())}))
            .collect(),
    );
    let mut failures = Vec::new();
    let ok = packets
        .iter()
        .zip(&replies)
        .filter(|(p, r)| {
            let good = r["ok"] == true && r["packet"] == p.to_json();
            if !good && failures.len() < 5 {
                failures.push(format!("rust->js {} got {r}", p.to_json()));
            }
            good
        })
        .count();
    println!("CONFORMANCE stream interop rust->js: {ok}/{N}");

    // JS -> Rust codec (JS generates the packets).
    let items = peer.one(json!({"op": "random", "count": N}))["items"]
        .as_array()
        .unwrap()
        .clone();
    let mut ok_js = 0;
    for item in &items {
        let bytes = hex::decode(item["hex"].as_str().unwrap()).unwrap();
        match StreamPacket::decode_slice(&bytes) {
            Ok(p) if p.to_json() == item["packet"] && p.encode() == bytes => ok_js += 1,
            Ok(p) if failures.len() < 10 => {
                failures.push(format!("js->rust {} got {}", item["packet"], p.to_json()))
            }
            Err(e) if failures.len() < 10 => {
                failures.push(format!("js->rust {}: {e}", item["packet"]))
            }
            _ => {}
        }
    }
    println!(
        "CONFORMANCE stream interop js->rust: {ok_js}/{}",
        items.len()
    );

    // Crypto both ways, with a fresh shared secret per packet.
    let mut reqs = Vec::new();
    let mut expect = Vec::new();
    for _ in 0..N_CRYPTO {
        let secret: [u8; 32] = rng.random();
        let keys = StreamKeys::from_shared_secret(&secret);
        let p = rand_packet(&mut rng);
        let data = p.encrypt_and_encode(&keys);
        reqs.push(
            json!({"op": "decrypt", "secret": B64.encode(secret), "hex": hex::encode(&data)}),
        );
        expect.push((
            p.to_json(),
            hex::encode(keys.fulfillment(&data)),
            hex::encode(keys.condition(&data)),
        ));
    }
    let replies = peer.batch(reqs);
    let ok_crypto_rj = replies
        .iter()
        .zip(&expect)
        .filter(|(r, (pj, f, c))| {
            r["ok"] == true
                && r["packet"] == *pj
                && r["fulfillment"] == **f
                && r["condition"] == **c
        })
        .count();
    println!("CONFORMANCE stream crypto interop rust->js: {ok_crypto_rj}/{N_CRYPTO}");

    let mut reqs = Vec::new();
    let mut secrets = Vec::new();
    let mut sent = Vec::new();
    for _ in 0..N_CRYPTO {
        let secret: [u8; 32] = rng.random();
        let p = rand_packet(&mut rng);
        reqs.push(json!({"op": "encrypt", "secret": B64.encode(secret), "packet": p.to_json()}));
        secrets.push(secret);
        sent.push(p);
    }
    let replies = peer.batch(reqs);
    let mut ok_crypto_jr = 0;
    for ((r, secret), p) in replies.iter().zip(&secrets).zip(&sent) {
        let keys = StreamKeys::from_shared_secret(secret);
        let data = hex::decode(r["hex"].as_str().unwrap_or_default()).unwrap();
        let decoded = StreamPacket::decrypt_and_decode(&keys, &data);
        let wrong =
            StreamPacket::decrypt_and_decode(&StreamKeys::from_shared_secret(&[0; 32]), &data);
        if decoded.as_ref() == Ok(p)
            && r["fulfillment"] == hex::encode(keys.fulfillment(&data))
            && r["condition"] == hex::encode(keys.condition(&data))
            && wrong == Err(StreamError::Decryption)
        {
            ok_crypto_jr += 1;
        }
    }
    println!("CONFORMANCE stream crypto interop js->rust: {ok_crypto_jr}/{N_CRYPTO}");

    assert!(failures.is_empty(), "{failures:#?}");
    assert_eq!(
        (ok, ok_js, ok_crypto_rj, ok_crypto_jr),
        (N, N, N_CRYPTO, N_CRYPTO)
    );
}

#[test]
fn stream_server_tokens_interop() {
    let mut peer = Peer::start();
    let mut rng = StdRng::seed_from_u64(7);
    const T: usize = 20;
    let mut ok = 0;
    for i in 0..T {
        let secret: [u8; 32] = rng.random();
        let server = ServerSecret::new(secret);
        let tag = if i % 2 == 0 {
            Some(format!("viewer-{i}"))
        } else {
            None
        };
        // JS issues, Rust opens.
        let r = peer.one(
            json!({"op": "tokenIssue", "serverSecret": B64.encode(secret),
            "tag": tag, "serverAddress": "test.tollcast.server"}),
        );
        let dest = r["destinationAccount"].as_str().unwrap();
        let token = connection_token_from_destination("test.tollcast.server", dest).unwrap();
        let opened = server.open_token(token).unwrap();
        let js_ok =
            B64.encode(opened.shared_secret) == r["sharedSecret"] && opened.connection_tag == tag;
        // Rust issues, JS opens.
        let opts = ConnectionOptions {
            connection_tag: tag.clone(),
            receipt: None,
        };
        let creds = server.generate_address_and_secret("test.tollcast.server", &opts);
        let token =
            connection_token_from_destination("test.tollcast.server", &creds.destination_account)
                .unwrap();
        let r = peer
            .one(json!({"op": "tokenOpen", "serverSecret": B64.encode(secret), "token": token}));
        let rust_ok = r["sharedSecret"] == B64.encode(creds.shared_secret)
            && r["tag"] == tag.clone().unwrap_or_default()
            && server.open_token(token).map(|t| t.shared_secret) == Ok(creds.shared_secret);
        ok += usize::from(js_ok && rust_ok);
    }
    println!("CONFORMANCE stream server-token interop: {ok}/{T}");
    assert_eq!(ok, T);
}

#[test]
fn stream_receipts_interop() {
    let mut peer = Peer::start();
    let mut rng = StdRng::seed_from_u64(39);
    const R: usize = 100;
    let mut cases = Vec::new();
    let mut reqs = Vec::new();
    for i in 0..R {
        let secret: [u8; 32] = rng.random();
        let receipt = Receipt {
            nonce: rng.random(),
            stream_id: rng.random(),
            total_received: rand_u64(&mut rng),
        };
        if i % 2 == 0 {
            // Rust signs, JS verifies.
            reqs.push(json!({"op": "receiptVerify", "hex": hex::encode(receipt.sign(&secret)), "secret": B64.encode(secret)}));
        } else {
            // JS signs, Rust verifies.
            reqs.push(json!({"op": "receiptCreate", "nonce": B64.encode(receipt.nonce), "streamId": receipt.stream_id,
                "totalReceived": receipt.total_received.to_string(), "secret": B64.encode(secret)}));
        }
        cases.push((secret, receipt));
    }
    let replies = peer.batch(reqs);
    let mut ok = 0;
    for (i, (r, (secret, receipt))) in replies.iter().zip(&cases).enumerate() {
        let good = if i % 2 == 0 {
            r["ok"] == true
                && r["nonce"] == B64.encode(receipt.nonce)
                && r["streamId"] == receipt.stream_id
                && r["totalReceived"]
                    .as_str()
                    .and_then(|s| s.parse::<u64>().ok())
                    == Some(receipt.total_received)
        } else {
            let bytes = hex::decode(r["hex"].as_str().unwrap_or_default()).unwrap();
            Receipt::verify(&bytes, secret) == Ok(*receipt)
                && bytes == receipt.sign(secret)
                && Receipt::verify(&bytes, &[0; 32]).is_err()
        };
        ok += usize::from(good);
    }
    // A receipt signed with another secret is refused by JS too.
    let forged = Receipt {
        nonce: [1; 16],
        stream_id: 1,
        total_received: 5,
    }
    .sign(&[2; 32]);
    let r = peer.batch(vec![
        json!({"op": "receiptVerify", "hex": hex::encode(forged), "secret": B64.encode([3u8; 32])}),
    ]);
    assert_eq!(r[0]["ok"], false);
    println!("CONFORMANCE stream receipt interop: {ok}/{R}");
    assert_eq!(ok, R);
}
