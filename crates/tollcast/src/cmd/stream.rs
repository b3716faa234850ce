//! `tollcast stream`: decrypt and decode STREAM (RFC 0029) packets to JSON, and build
//! encrypted ones from JSON, given the connection's shared secret.

use std::io::Read;

use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use serde_json::{Value, json};
use tollcast_wire::ilp;
use tollcast_wire::stream::{IlpPacketType, ServerSecret, StreamKeys, StreamPacket};

#[derive(clap::Args)]
#[command(
    about = "Decrypt/decode and build STREAM packets (the encrypted `data` of ILP packets)",
    long_about = "Decrypt/decode and build STREAM (RFC 0029) packets.\n\n\
        Packets are shown as JSON in the shape of the RFC test vectors: integers as decimal \
        strings, StreamData/StreamReceipt bytes as base64, each frame with its type and name.\n\n\
        Examples:\n  tollcast stream decode --secret <base64> 0c81...   (a whole ILP PREPARE/FULFILL/REJECT)\n  \
        tollcast stream decode --secret <base64> - < data.hex\n  \
        echo '{\"sequence\":\"1\",\"packetType\":12,\"amount\":\"0\",\"frames\":[]}' | tollcast stream encode --secret <base64>"
)]
pub struct Args {
    #[command(subcommand)]
    command: Sub,
}

#[derive(clap::Subcommand)]
enum Sub {
    /// Decrypt and decode a STREAM packet; prints JSON.
    ///
    /// INPUT is hex: either a whole ILP PREPARE/FULFILL/REJECT (its data field is decrypted,
    /// and for a PREPARE the execution condition is checked) or the bare STREAM ciphertext
    /// (nonce || tag || ciphertext). Use `-` to read the hex from stdin.
    Decode {
        /// The connection's shared secret, base64 (as returned by SPSP `shared_secret`).
        #[arg(long, required_unless_present_any = ["plain", "server_secret"])]
        secret: Option<String>,
        /// Instead of --secret: the receiver's 32-byte server secret (base64). The shared
        /// secret is then derived from the connection token in the ILP PREPARE's destination
        /// (addresses issued by a tollcast or ilp-protocol-stream receiver).
        #[arg(long, conflicts_with_all = ["secret", "plain"])]
        server_secret: Option<String>,
        /// Treat INPUT as STREAM data even if it also parses as an ILP packet.
        #[arg(long)]
        raw: bool,
        /// INPUT is an unencrypted STREAM packet (no secret needed).
        #[arg(long)]
        plain: bool,
        /// Hex bytes, or `-` for stdin.
        input: String,
    },
    /// Encode a STREAM packet from JSON (fixture shape) and encrypt it; prints hex.
    Encode {
        /// The connection's shared secret, base64.
        #[arg(long, required_unless_present = "plain")]
        secret: Option<String>,
        /// Print the unencrypted encoding instead.
        #[arg(long)]
        plain: bool,
        /// Print JSON {data, fulfillment, condition} instead of bare hex.
        #[arg(long)]
        json: bool,
        /// The packet JSON, or `-` (default) for stdin.
        #[arg(default_value = "-")]
        input: String,
    },
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    match args.command {
        Sub::Decode {
            secret,
            server_secret,
            raw,
            plain,
            input,
        } => {
            let bytes = parse_hex(&read_input(&input)?)?;
            let out = if plain {
                let p = StreamPacket::decode(bytes.into())
                    .context("not a valid plaintext STREAM packet")?;
                json!({ "packet": p.to_json() })
            } else if let Some(server_secret) = server_secret {
                let (shared, connection) = secret_from_destination(&server_secret, &bytes)?;
                let mut out = decode(&StreamKeys::from_shared_secret(&shared), bytes, false)?;
                out["connection"] = connection;
                out
            } else {
                let keys = StreamKeys::from_shared_secret(&parse_secret(secret.as_deref())?);
                decode(&keys, bytes, raw)?
            };
            println!("{}", serde_json::to_string_pretty(&out)?);
        }
        Sub::Encode {
            secret,
            plain,
            json,
            input,
        } => {
            let text = read_input(&input)?;
            let value: Value = serde_json::from_str(&text).context("input is not JSON")?;
            let packet = StreamPacket::from_json(&value)?;
            if plain {
                println!("{}", hex::encode(packet.encode()));
                return Ok(());
            }
            let keys = StreamKeys::from_shared_secret(&parse_secret(secret.as_deref())?);
            let data = packet.encrypt_and_encode(&keys);
            if json {
                let out = json!({
                    "data": hex::encode(&data),
                    "fulfillment": hex::encode(keys.fulfillment(&data)),
                    "condition": hex::encode(keys.condition(&data)),
                });
                println!("{}", serde_json::to_string_pretty(&out)?);
            } else {
                println!("{}", hex::encode(&data));
            }
        }
    }
    Ok(())
}

fn decode(keys: &StreamKeys, bytes: Vec<u8>, raw: bool) -> anyhow::Result<Value> {
    let ilp_packet = if raw {
        None
    } else {
        ilp::Packet::decode(bytes.clone().into()).ok()
    };
    let Some(ilp_packet) = ilp_packet else {
        let p = StreamPacket::decrypt_and_decode(keys, &bytes)
            .context("input is not an ILP packet, and decrypting it as STREAM data failed")?;
        return Ok(with_proof(keys, &bytes, p, json!(null)));
    };
    let (kind, expected, data, info) = match &ilp_packet {
        ilp::Packet::Prepare(p) => {
            let condition_ok = keys.condition(&p.data) == p.execution_condition;
            let info = json!({
                "type": "prepare",
                "amount": p.amount.to_string(),
                "destination": p.destination.as_str(),
                "expiresAt": ilp::to_iso8601(p.expires_at),
                "executionCondition": hex::encode(p.execution_condition),
                "conditionMatchesData": condition_ok,
            });
            ("prepare", IlpPacketType::Prepare, &p.data, info)
        }
        ilp::Packet::Fulfill(f) => (
            "fulfill",
            IlpPacketType::Fulfill,
            &f.data,
            json!({ "type": "fulfill", "fulfillment": hex::encode(f.fulfillment) }),
        ),
        ilp::Packet::Reject(r) => (
            "reject",
            IlpPacketType::Reject,
            &r.data,
            json!({
                "type": "reject",
                "code": r.code.to_string(),
                "triggeredBy": r.triggered_by.as_ref().map(|a| a.as_str().to_owned()),
                "message": r.message,
            }),
        ),
    };
    if data.is_empty() {
        bail!("the ILP {kind} carries no data, so there is no STREAM packet to decode");
    }
    let packet = StreamPacket::decrypt_and_decode(keys, data)
        .with_context(|| format!("decrypting the data of the ILP {kind} failed"))?;
    let mut out = with_proof(keys, data, packet.clone(), info);
    if packet.ilp_packet_type != expected {
        out["warning"] = json!(format!(
            "STREAM packet says ILP type {} but travels in a {kind}: a receiver must discard it",
            packet.ilp_packet_type as u8
        ));
    }
    Ok(out)
}

/// Finds the connection token in a PREPARE's destination and derives its shared secret.
fn secret_from_destination(server_secret: &str, bytes: &[u8]) -> anyhow::Result<([u8; 32], Value)> {
    let secret: [u8; 32] = parse_secret(Some(server_secret))
        .context("--server-secret")?
        .try_into()
        .map_err(|_| anyhow::anyhow!("--server-secret must be 32 bytes (base64)"))?;
    let server = ServerSecret::new(secret);
    let prepare = ilp::Prepare::decode(bytes.to_vec().into()).context(
        "--server-secret needs a whole ILP PREPARE as INPUT (its destination holds the token)",
    )?;
    for segment in prepare.destination.as_str().split('.') {
        if let Ok(token) = server.open_token(segment) {
            let connection = json!({
                "token": segment,
                "connectionTag": token.connection_tag,
                "receipts": token.receipt.is_some(),
                "sharedSecret": STANDARD.encode(token.shared_secret),
            });
            return Ok((token.shared_secret, connection));
        }
    }
    bail!(
        "no segment of the destination {} is a connection token issued with this server secret",
        prepare.destination
    )
}

fn with_proof(keys: &StreamKeys, data: &[u8], p: StreamPacket, ilp: Value) -> Value {
    let mut out = json!({
        "packet": p.to_json(),
        "fulfillment": hex::encode(keys.fulfillment(data)),
        "condition": hex::encode(keys.condition(data)),
    });
    if !ilp.is_null() {
        out["ilp"] = ilp;
    }
    out
}

fn read_input(arg: &str) -> anyhow::Result<String> {
    if arg != "-" {
        return Ok(arg.to_owned());
    }
    let mut s = String::new();
    std::io::stdin()
        .read_to_string(&mut s)
        .context("reading stdin")?;
    Ok(s)
}

fn parse_hex(s: &str) -> anyhow::Result<Vec<u8>> {
    let cleaned: String = s.split_whitespace().collect();
    let cleaned = cleaned.strip_prefix("0x").unwrap_or(&cleaned);
    if cleaned.is_empty() {
        bail!("no input: give the packet as hex, or `-` to read hex from stdin");
    }
    hex::decode(cleaned)
        .map_err(|e| anyhow::anyhow!("input is not valid hex ({e}); give the packet bytes as hex"))
}

fn parse_secret(secret: Option<&str>) -> anyhow::Result<Vec<u8>> {
    let s = secret
        .context("--secret <base64 shared secret> is required (or use --plain)")?
        .trim();
    let bytes = STANDARD
        .decode(s)
        .or_else(|_| URL_SAFE.decode(s))
        .or_else(|_| {
            base64::engine::general_purpose::STANDARD_NO_PAD.decode(s.trim_end_matches('='))
        })
        .or_else(|_| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(s.trim_end_matches('='))
        })
        .map_err(|_| {
            anyhow::anyhow!("--secret must be base64 (the 32-byte STREAM shared secret)")
        })?;
    if bytes.is_empty() {
        bail!("--secret is empty: pass the connection's base64 shared secret");
    }
    Ok(bytes)
}
