//! `tollcast stream decode|encode` end to end: runs the built binary.

mod common;

use std::process::Output;
use std::time::{Duration, SystemTime};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};
use tollcast_wire::ilp::{Packet, Prepare};
use tollcast_wire::stream::{
    ConnectionOptions, IlpPacketType, ServerSecret, StreamDataFrame, StreamKeys, StreamMoneyFrame,
    StreamPacket,
};

use common::run;

fn stdout_json(o: &Output) -> Value {
    assert!(
        o.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).expect("stdout is JSON")
}

fn sample() -> StreamPacket {
    let mut p = StreamPacket::new(7, IlpPacketType::Prepare, 100);
    p.frames.push(
        StreamMoneyFrame {
            stream_id: 1,
            shares: 1,
        }
        .into(),
    );
    p.frames.push(
        StreamDataFrame {
            stream_id: 1,
            offset: 0,
            data: b"hello"[..].into(),
        }
        .into(),
    );
    p
}

const SECRET: [u8; 32] = [42u8; 32];

#[test]
fn encode_then_decode_round_trips() {
    let secret = B64.encode(SECRET);
    let packet_json = sample().to_json().to_string();
    let enc = run(&["stream", "encode", "--secret", &secret], &packet_json);
    assert!(
        enc.status.success(),
        "{}",
        String::from_utf8_lossy(&enc.stderr)
    );
    let hex_data = String::from_utf8(enc.stdout).unwrap();
    // The Rust library decrypts what the CLI produced.
    let keys = StreamKeys::from_shared_secret(&SECRET);
    let data = hex::decode(hex_data.trim()).unwrap();
    assert_eq!(
        StreamPacket::decrypt_and_decode(&keys, &data).unwrap(),
        sample()
    );
    // And the CLI decodes it again, from stdin.
    let out = stdout_json(&run(
        &["stream", "decode", "--secret", &secret, "-"],
        &hex_data,
    ));
    assert_eq!(out["packet"], sample().to_json());
    assert_eq!(out["packet"]["frames"][1]["name"], "StreamData");
    assert_eq!(out["condition"], hex::encode(keys.condition(&data)));
}

#[test]
fn decodes_a_whole_ilp_prepare() {
    let keys = StreamKeys::from_shared_secret(&SECRET);
    let data = sample().encrypt_and_encode(&keys);
    let prepare = Prepare {
        amount: 100,
        expires_at: SystemTime::now() + Duration::from_secs(30),
        execution_condition: keys.condition(&data),
        destination: "g.tollcast.viewer.abc".parse().unwrap(),
        data: data.into(),
    };
    let hex_packet = hex::encode(Packet::Prepare(prepare).encode());
    let out = stdout_json(&run(
        &[
            "stream",
            "decode",
            "--secret",
            &B64.encode(SECRET),
            &hex_packet,
        ],
        "",
    ));
    assert_eq!(out["packet"], sample().to_json());
    assert_eq!(out["ilp"]["type"], "prepare");
    assert_eq!(out["ilp"]["destination"], "g.tollcast.viewer.abc");
    assert_eq!(out["ilp"]["conditionMatchesData"], true);
    assert!(out.get("warning").is_none());
}

#[test]
fn plain_mode_and_fixture_shape() {
    let fixture = json!({"sequence": "0", "packetType": 12, "amount": "0", "frames": [
        {"type": 16, "name": "StreamClose", "streamId": "123", "errorCode": 255, "errorMessage": "an error message"}]});
    let enc = run(&["stream", "encode", "--plain"], &fixture.to_string());
    assert_eq!(
        String::from_utf8(enc.stdout).unwrap().trim(),
        "010c0100010001011014017bff10616e206572726f72206d657373616765"
    );
    let out = stdout_json(&run(
        &[
            "stream",
            "decode",
            "--plain",
            "010c0100010001011014017bff10616e206572726f72206d657373616765",
        ],
        "",
    ));
    assert_eq!(out["packet"], fixture);
}

#[test]
fn bad_input_exits_1_with_a_clear_message() {
    let keys = StreamKeys::from_shared_secret(&SECRET);
    let data = hex::encode(sample().encrypt_and_encode(&keys));
    let cases: [(&[&str], &str); 5] = [
        (
            &[
                "stream",
                "decode",
                "--secret",
                &B64.encode([1u8; 32]),
                &data,
            ],
            "wrong shared secret",
        ),
        (
            &["stream", "decode", "--secret", &B64.encode(SECRET), "zz"],
            "not valid hex",
        ),
        (
            &["stream", "decode", "--secret", "***", &data],
            "--secret must be base64",
        ),
        (
            &["stream", "decode", "--secret", &B64.encode(SECRET), "0102"],
            "decrypting it as STREAM data failed",
        ),
        (
            &[
                "stream",
                "encode",
                "--secret",
                &B64.encode(SECRET),
                "{\"sequence\":1}",
            ],
            "invalid STREAM packet JSON",
        ),
    ];
    for (args, msg) in cases {
        let o = run(args, "");
        assert_eq!(o.status.code(), Some(1), "{args:?}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(msg), "{args:?}: stderr {err:?} lacks {msg:?}");
    }
}

#[test]
fn decodes_with_a_server_secret_via_the_destination_token() {
    let server_secret = [11u8; 32];
    let server = ServerSecret::new(server_secret);
    let opts = ConnectionOptions {
        connection_tag: Some("viewer-7".into()),
        receipt: None,
    };
    let creds = server.generate_address_and_secret("g.tollcast.recv", &opts);
    let keys = StreamKeys::from_shared_secret(&creds.shared_secret);
    let data = sample().encrypt_and_encode(&keys);
    let prepare = Prepare {
        amount: 100,
        expires_at: SystemTime::now() + Duration::from_secs(30),
        execution_condition: keys.condition(&data),
        destination: creds.destination_account.parse().unwrap(),
        data: data.into(),
    };
    let hex_packet = hex::encode(Packet::Prepare(prepare).encode());
    let args = [
        "stream",
        "decode",
        "--server-secret",
        &B64.encode(server_secret),
        &hex_packet,
    ];
    let out = stdout_json(&run(&args, ""));
    assert_eq!(out["packet"], sample().to_json());
    assert_eq!(out["connection"]["connectionTag"], "viewer-7");
    assert_eq!(out["ilp"]["conditionMatchesData"], true);
    // Another server's secret finds no token.
    let o = run(
        &[
            "stream",
            "decode",
            "--server-secret",
            &B64.encode([12u8; 32]),
            &hex_packet,
        ],
        "",
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no segment of the destination"));
}
