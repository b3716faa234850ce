//! Differential interop against the JS reference codecs (ilp-packet 3.1.3, btp-packet 2.2.1,
//! ilp-protocol-ildcp 2.2.3) through `tests/interop/ilp/codec.js`, batched over one node process
//! per direction (JSON lines on stdin/stdout).
//!
//! rust->js: seeded random packets encoded in Rust must decode in JS to the same normalized JSON,
//! and JS must re-encode that JSON to the same bytes. js->rust: packets JS generates from its own
//! seeded random values must decode in Rust to the same JSON and re-encode byte-exact.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use tollcast_wire::address::Address;
use tollcast_wire::btp::{
    BtpPacket, ContentType, ErrorFrame, Frame, Message, ProtocolData, Response, Transfer,
};
use tollcast_wire::error_code::ErrorCode;
use tollcast_wire::ildcp;
use tollcast_wire::ilp::{self, Fulfill, Packet, Prepare, Reject};

const N: usize = 1000;

fn interop_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/interop");
    // Node resolves `..` lexically, so hand it a canonical path.
    std::fs::canonicalize(&dir).unwrap_or(dir)
}

/// Sends `requests` as JSON lines to one node process and returns its answers in order.
fn node_batch(requests: &[Value]) -> Vec<Value> {
    let dir = interop_dir();
    assert!(
        dir.join("node_modules/ilp-packet").is_dir(),
        "JS reference peers missing in {}: run scripts/setup.sh (npm install in tests/interop)",
        dir.display()
    );
    let mut child = Command::new("node")
        .arg(dir.join("ilp/codec.js"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn node (is Node.js installed?)");
    let mut stdin = child.stdin.take().unwrap();
    let input: String = requests.iter().map(|r| format!("{r}\n")).collect();
    let writer = std::thread::spawn(move || {
        stdin.write_all(input.as_bytes()).unwrap();
    });
    let out: Vec<Value> = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .map(|l| serde_json::from_str(&l.unwrap()).unwrap())
        .collect();
    writer.join().unwrap();
    assert!(child.wait().unwrap().success(), "codec.js failed");
    assert_eq!(out.len(), requests.len(), "one answer per request");
    out
}

// ---- normalized JSON (same shape as codec.js) -------------------------------------------

fn ilp_value(p: &Packet) -> Value {
    match p {
        Packet::Prepare(p) => json!({
            "type": "prepare",
            "amount": p.amount.to_string(),
            "expiresAt": ilp::to_iso8601(p.expires_at),
            "executionCondition": hex::encode(p.execution_condition),
            "destination": p.destination.as_str(),
            "data": hex::encode(&p.data),
        }),
        Packet::Fulfill(f) => json!({
            "type": "fulfill",
            "fulfillment": hex::encode(f.fulfillment),
            "data": hex::encode(&f.data),
        }),
        Packet::Reject(r) => json!({
            "type": "reject",
            "code": r.code.as_str(),
            "triggeredBy": r.triggered_by.as_ref().map(|a| a.as_str()).unwrap_or(""),
            "message": r.message,
            "data": hex::encode(&r.data),
        }),
    }
}

fn btp_value(p: &BtpPacket) -> Value {
    let mut v = json!({ "type": p.frame.frame_type() as u8, "requestId": p.request_id });
    match &p.frame {
        Frame::Transfer(t) => v["amount"] = json!(t.amount.to_string()),
        Frame::Error(e) => {
            v["code"] = json!(String::from_utf8_lossy(&e.code));
            v["name"] = json!(e.name);
            v["triggeredAt"] = json!(ilp::to_iso8601(e.triggered_at));
            v["data"] = json!(hex::encode(&e.data));
        }
        _ => {}
    }
    v["protocolData"] = p
        .frame
        .protocol_data()
        .iter()
        .map(|e| json!({"name": e.name, "contentType": e.content_type.0, "data": hex::encode(&e.data)}))
        .collect();
    v
}

fn ildcp_request_value(r: &ildcp::Request) -> Value {
    json!({"expiresAt": ilp::to_iso8601(r.expires_at), "data": hex::encode(&r.data)})
}

fn ildcp_response_value(r: &ildcp::Response) -> Value {
    json!({"clientAddress": r.client_address.as_str(), "assetScale": r.asset_scale, "assetCode": r.asset_code})
}

// ---- seeded random values ---------------------------------------------------------------

struct Gen(StdRng);

impl Gen {
    fn int(&mut self, lo: u64, hi: u64) -> u64 {
        self.0.random_range(lo..=hi)
    }
    fn chance(&mut self, p: f64) -> bool {
        self.0.random_bool(p)
    }
    fn bytes(&mut self, n: usize) -> Bytes {
        let mut v = vec![0u8; n];
        self.0.fill(&mut v[..]);
        Bytes::from(v)
    }
    fn data_len(&mut self) -> usize {
        let r: f64 = self.0.random();
        (if r < 0.5 {
            self.int(0, 127)
        } else if r < 0.9 {
            self.int(128, 600)
        } else if r < 0.98 {
            self.int(600, 5000)
        } else {
            self.int(5000, 32767)
        }) as usize
    }
    fn u64(&mut self) -> u64 {
        match self.int(0, 19) {
            0 => 0,
            1 => u64::MAX,
            _ => self.0.random(),
        }
    }
    fn address(&mut self) -> Address {
        const SEG: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_~-";
        let schemes = tollcast_wire::address::SCHEMES;
        let mut a = schemes[self.int(0, schemes.len() as u64 - 1) as usize].to_string();
        let long = self.chance(0.05);
        for _ in 0..(if long { 200 } else { self.int(1, 5) }) {
            let n = self.int(1, if long { 8 } else { 12 });
            let seg: String = (0..n)
                .map(|_| SEG[self.int(0, SEG.len() as u64 - 1) as usize] as char)
                .collect();
            if a.len() + 1 + seg.len() > 1023 {
                break;
            }
            a.push('.');
            a.push_str(&seg);
        }
        Address::new(&a).unwrap()
    }
    fn time(&mut self) -> SystemTime {
        // 1971-01-01 .. 9999-12-31T23:59:59.999Z: the range ilp-packet's Date handling covers.
        UNIX_EPOCH + Duration::from_millis(self.int(31_536_000_000, 253_402_300_799_999))
    }
    fn text(&mut self, max: u64) -> String {
        (0..self.int(0, max))
            .map(|_| {
                let r: f64 = self.0.random();
                let cp = if r < 0.6 {
                    self.int(0x20, 0x7e)
                } else if r < 0.8 {
                    self.int(0xa0, 0x7ff)
                } else if r < 0.95 {
                    loop {
                        let c = self.int(0x800, 0xfffd);
                        if !(0xd800..=0xdfff).contains(&c) {
                            break c;
                        }
                    }
                } else {
                    self.int(0x10000, 0x10ffff)
                };
                char::from_u32(cp as u32).unwrap()
            })
            .collect()
    }
    fn ascii(&mut self, lo: u64, hi: u64) -> String {
        (0..self.int(lo, hi))
            .map(|_| self.int(0x20, 0x7e) as u8 as char)
            .collect()
    }
    fn code(&mut self) -> ErrorCode {
        let c = [b'F', b'T', b'R'][self.int(0, 2) as usize];
        ErrorCode::new([c, b'0' + self.int(0, 9) as u8, b'0' + self.int(0, 9) as u8]).unwrap()
    }
    fn ilp(&mut self) -> Packet {
        match self.int(0, 2) {
            0 => {
                let n = self.data_len();
                Packet::Prepare(Prepare {
                    amount: self.u64(),
                    expires_at: self.time(),
                    execution_condition: self.0.random(),
                    destination: self.address(),
                    data: self.bytes(n),
                })
            }
            1 => {
                let n = self.data_len();
                Packet::Fulfill(Fulfill {
                    fulfillment: self.0.random(),
                    data: self.bytes(n),
                })
            }
            _ => {
                let n = self.data_len();
                let max = if self.chance(0.9) { 60 } else { 400 };
                Packet::Reject(Reject {
                    code: self.code(),
                    triggered_by: if self.chance(0.2) {
                        None
                    } else {
                        Some(self.address())
                    },
                    message: self.text(max),
                    data: self.bytes(n),
                })
            }
        }
    }
    fn protocol_data(&mut self) -> Vec<ProtocolData> {
        (0..self.int(0, 5))
            .map(|i| {
                let name = if i == 0 && self.chance(0.5) {
                    "ilp".to_string()
                } else {
                    self.ascii(0, 12)
                };
                let n = if self.chance(0.9) {
                    self.int(0, 200)
                } else {
                    self.int(200, 3000)
                };
                ProtocolData::new(
                    name,
                    ContentType(self.int(0, 255) as u8),
                    self.bytes(n as usize),
                )
            })
            .collect()
    }
    fn btp(&mut self) -> BtpPacket {
        let request_id = self.0.random();
        let frame = match self.int(0, 3) {
            0 => Frame::Response(Response {
                protocol_data: self.protocol_data(),
            }),
            1 => {
                let code: [u8; 3] = self.ascii(3, 3).into_bytes().try_into().unwrap();
                Frame::Error(ErrorFrame {
                    code,
                    name: self.ascii(0, 30),
                    triggered_at: self.time(),
                    data: Bytes::from(self.text(40).into_bytes()),
                    protocol_data: self.protocol_data(),
                })
            }
            2 => Frame::Message(Message {
                protocol_data: self.protocol_data(),
            }),
            _ => Frame::Transfer(Transfer {
                amount: self.u64(),
                protocol_data: self.protocol_data(),
            }),
        };
        BtpPacket { request_id, frame }
    }
}

/// Runs both directions for one kind and prints the CONFORMANCE lines.
fn differential(
    kind: &str,
    label: &str,
    rust_items: Vec<(Bytes, Value)>,
    decode: impl Fn(Bytes) -> Result<(Value, Bytes), String>,
) {
    // rust -> js: JS decodes Rust bytes to the same JSON, and encodes that JSON to the same bytes.
    let mut reqs = Vec::new();
    for (b, v) in &rust_items {
        reqs.push(json!({"op": "decode", "kind": kind, "hex": hex::encode(b)}));
        reqs.push(json!({"op": "encode", "kind": kind, "value": v}));
    }
    let answers = node_batch(&reqs);
    let mut ok = 0;
    let mut first_failure = None;
    for (i, (b, v)) in rust_items.iter().enumerate() {
        let dec = &answers[2 * i];
        let enc = &answers[2 * i + 1];
        let good = dec["ok"] == json!(true)
            && &dec["value"] == v
            && enc["ok"] == json!(true)
            && enc["hex"] == json!(hex::encode(b));
        if good {
            ok += 1;
        } else if first_failure.is_none() {
            first_failure = Some(format!("rust value {v}\njs decode {dec}\njs encode {enc}"));
        }
    }
    println!(
        "CONFORMANCE {label} interop rust->js: {ok}/{}",
        rust_items.len()
    );
    assert_eq!(
        ok,
        rust_items.len(),
        "first mismatch:\n{}",
        first_failure.unwrap_or_default()
    );

    // js -> rust: Rust decodes JS bytes to the same JSON and re-encodes them byte-exact.
    let generated = node_batch(&[json!({"op": "gen", "kind": kind, "count": N, "seed": 20261127})]);
    let items = generated[0]["items"].as_array().expect("gen items");
    assert_eq!(items.len(), N);
    let mut ok = 0;
    let mut first_failure = None;
    for item in items {
        let raw = Bytes::from(hex::decode(item["hex"].as_str().unwrap()).unwrap());
        match decode(raw.clone()) {
            Ok((value, reencoded)) if value == item["value"] && reencoded == raw => ok += 1,
            other => {
                if first_failure.is_none() {
                    first_failure = Some(format!("js item {item}\nrust {other:?}"));
                }
            }
        }
    }
    println!("CONFORMANCE {label} interop js->rust: {ok}/{}", items.len());
    assert_eq!(
        ok,
        items.len(),
        "first mismatch:\n{}",
        first_failure.unwrap_or_default()
    );
}

#[test]
fn ilp_packets_match_ilp_packet_js() {
    let mut g = Gen(StdRng::seed_from_u64(1));
    let items = (0..N)
        .map(|_| {
            let p = g.ilp();
            (p.encode(), ilp_value(&p))
        })
        .collect();
    differential("ilp", "ilp", items, |b| {
        let p = Packet::decode(b).map_err(|e| e.to_string())?;
        Ok((ilp_value(&p), p.encode()))
    });
}

#[test]
fn btp_frames_match_btp_packet_js() {
    let mut g = Gen(StdRng::seed_from_u64(2));
    let items = (0..N)
        .map(|_| {
            let p = g.btp();
            (p.encode(), btp_value(&p))
        })
        .collect();
    differential("btp", "btp", items, |b| {
        let p = BtpPacket::decode(b).map_err(|e| e.to_string())?;
        Ok((btp_value(&p), p.encode()))
    });
}

#[test]
fn ildcp_matches_ilp_protocol_ildcp_js() {
    let mut g = Gen(StdRng::seed_from_u64(3));
    let now = SystemTime::now();
    let requests = (0..N)
        .map(|_| {
            // ilp-protocol-ildcp refuses expired requests, so expiries lie in the future.
            let n = if g.chance(0.7) {
                0
            } else {
                g.int(1, 300) as usize
            };
            let r = ildcp::Request {
                expires_at: now + Duration::from_millis(g.int(60_000, 1_000_000_000_000)),
                data: g.bytes(n),
            };
            (r.encode(), ildcp_request_value(&r))
        })
        .collect();
    differential("ildcp_request", "ildcp request", requests, |b| {
        let r = ildcp::Request::decode(b).map_err(|e| e.to_string())?;
        Ok((ildcp_request_value(&r), r.encode()))
    });
    let responses = (0..N)
        .map(|_| {
            let r = ildcp::Response::new(g.address(), g.int(0, 255) as u8, g.text(8));
            (r.encode(), ildcp_response_value(&r))
        })
        .collect();
    differential("ildcp_response", "ildcp response", responses, |b| {
        let r = ildcp::Response::decode(b).map_err(|e| e.to_string())?;
        Ok((ildcp_response_value(&r), r.encode()))
    });
}
