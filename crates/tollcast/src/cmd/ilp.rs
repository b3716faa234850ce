//! `tollcast ilp`: decode ILPv4 packets from hex to readable JSON, and encode that JSON back.
//!
//! The JSON form: `type` (prepare|fulfill|reject); prepare: `amount` (decimal string),
//! `expiresAt` (ISO 8601 UTC), `executionCondition` (hex), `destination`; fulfill:
//! `fulfillment` (hex); reject: `code`, `triggeredBy`, `message`; all: `data` (hex). Decode adds
//! read-only helpers that encode ignores: `dataUtf8` (when the data is printable text),
//! `codeName` and `condition` (SHA-256 of a fulfillment).

use std::io::Read;

use anyhow::{Context, anyhow, bail};
use serde_json::{Map, Value, json};
use tollcast_wire::Bytes;
use tollcast_wire::address::Address;
use tollcast_wire::error_code::ErrorCode;
use tollcast_wire::ilp::{self, Fulfill, Packet, Prepare, Reject};

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Sub,
}

#[derive(clap::Subcommand)]
enum Sub {
    /// Decode one OER-encoded ILP packet and print it as pretty JSON.
    Decode {
        /// The packet as hex (optionally 0x-prefixed), or `-` to read the hex from stdin.
        input: String,
    },
    /// Read the JSON form of a packet on stdin (as `decode` prints it) and print its hex.
    Encode,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    match args.command {
        Sub::Decode { input } => {
            let text = if input == "-" {
                let mut s = String::new();
                std::io::stdin()
                    .read_to_string(&mut s)
                    .context("reading hex from stdin")?;
                s
            } else {
                input
            };
            let packet = decode_hex(&text)?;
            println!("{}", serde_json::to_string_pretty(&to_json(&packet))?);
        }
        Sub::Encode => {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .context("reading JSON from stdin")?;
            let v: Value = serde_json::from_str(&s).context("stdin is not valid JSON")?;
            let packet = from_json(&v)?;
            println!("{}", hex::encode(packet.encode()));
        }
    }
    Ok(())
}

fn decode_hex(text: &str) -> anyhow::Result<Packet> {
    let t = text.trim();
    let t = t
        .strip_prefix("0x")
        .or_else(|| t.strip_prefix("0X"))
        .unwrap_or(t);
    if t.is_empty() {
        bail!("no input: pass the packet as hex, or `-` and pipe the hex on stdin");
    }
    let bytes = hex::decode(t).map_err(|e| anyhow!("input is not hex ({e})"))?;
    Packet::decode(bytes.into()).map_err(|e| anyhow!("not a valid ILP packet: {e}"))
}

fn printable_utf8(data: &[u8]) -> Option<&str> {
    let s = std::str::from_utf8(data).ok()?;
    (!s.is_empty()
        && s.chars()
            .all(|c| !c.is_control() || matches!(c, '\n' | '\r' | '\t')))
    .then_some(s)
}

fn with_data(mut m: Map<String, Value>, data: &[u8]) -> Value {
    m.insert("data".into(), json!(hex::encode(data)));
    if let Some(s) = printable_utf8(data) {
        m.insert("dataUtf8".into(), json!(s));
    }
    Value::Object(m)
}

fn to_json(p: &Packet) -> Value {
    let mut m = Map::new();
    match p {
        Packet::Prepare(p) => {
            m.insert("type".into(), json!("prepare"));
            m.insert("amount".into(), json!(p.amount.to_string()));
            m.insert("expiresAt".into(), json!(ilp::to_iso8601(p.expires_at)));
            m.insert(
                "executionCondition".into(),
                json!(hex::encode(p.execution_condition)),
            );
            m.insert("destination".into(), json!(p.destination.as_str()));
            with_data(m, &p.data)
        }
        Packet::Fulfill(f) => {
            m.insert("type".into(), json!("fulfill"));
            m.insert("fulfillment".into(), json!(hex::encode(f.fulfillment)));
            m.insert("condition".into(), json!(hex::encode(f.condition())));
            with_data(m, &f.data)
        }
        Packet::Reject(r) => {
            m.insert("type".into(), json!("reject"));
            m.insert("code".into(), json!(r.code.as_str()));
            m.insert(
                "codeName".into(),
                json!(r.code.name().unwrap_or("(not defined by RFC 0027)")),
            );
            m.insert(
                "triggeredBy".into(),
                json!(r.triggered_by.as_ref().map(|a| a.as_str()).unwrap_or("")),
            );
            m.insert("message".into(), json!(r.message));
            with_data(m, &r.data)
        }
    }
}

struct Fields<'a>(&'a Map<String, Value>);

impl Fields<'_> {
    fn str(&self, name: &str, expected: &str) -> anyhow::Result<&str> {
        match self.0.get(name) {
            Some(Value::String(s)) => Ok(s),
            Some(other) => bail!("field `{name}` must be a string ({expected}), got {other}"),
            None => bail!("missing field `{name}` ({expected})"),
        }
    }

    fn hex32(&self, name: &str) -> anyhow::Result<[u8; 32]> {
        let s = self.str(name, "64 hex digits")?;
        let b = hex::decode(s).map_err(|e| anyhow!("field `{name}` is not hex ({e})"))?;
        b.try_into().map_err(|b: Vec<u8>| {
            anyhow!(
                "field `{name}` must be 32 bytes (64 hex digits), got {} bytes",
                b.len()
            )
        })
    }

    fn data(&self) -> anyhow::Result<Bytes> {
        match (self.0.get("data"), self.0.get("dataUtf8")) {
            (Some(_), _) => {
                let s = self.str("data", "hex")?;
                let b = hex::decode(s).map_err(|e| anyhow!("field `data` is not hex ({e})"))?;
                if b.len() > ilp::MAX_DATA_LEN {
                    bail!("field `data` is {} bytes, the maximum is 32767", b.len());
                }
                Ok(Bytes::from(b))
            }
            (None, Some(_)) => Ok(Bytes::from(
                self.str("dataUtf8", "text")?.as_bytes().to_vec(),
            )),
            (None, None) => Ok(Bytes::new()),
        }
    }

    fn only(&self, allowed: &[&str]) -> anyhow::Result<()> {
        for k in self.0.keys() {
            if !allowed.contains(&k.as_str()) {
                bail!("unknown field `{k}` (allowed here: {})", allowed.join(", "));
            }
        }
        Ok(())
    }
}

fn from_json(v: &Value) -> anyhow::Result<Packet> {
    let m = v
        .as_object()
        .ok_or_else(|| anyhow!("expected a JSON object with a `type` field"))?;
    let f = Fields(m);
    match f.str("type", "prepare, fulfill or reject")? {
        "prepare" => {
            f.only(&[
                "type",
                "amount",
                "expiresAt",
                "executionCondition",
                "destination",
                "data",
                "dataUtf8",
            ])?;
            let amount = f.str("amount", "decimal u64 as a string")?;
            let amount: u64 = amount.parse().map_err(|_| {
                anyhow!("field `amount` must be a decimal integer 0..=18446744073709551615, got {amount:?}")
            })?;
            let expires = f.str("expiresAt", "ISO 8601 like 2030-01-01T00:00:00.000Z")?;
            let expires_at = ilp::parse_iso8601(expires).map_err(|_| {
                anyhow!("field `expiresAt` must be ISO 8601 UTC like 2030-01-01T00:00:00.000Z, got {expires:?}")
            })?;
            let dest = f.str("destination", "ILP address")?;
            let destination =
                Address::new(dest).map_err(|e| anyhow!("field `destination`: {e}"))?;
            Ok(Packet::Prepare(Prepare {
                amount,
                expires_at,
                execution_condition: f.hex32("executionCondition")?,
                destination,
                data: f.data()?,
            }))
        }
        "fulfill" => {
            f.only(&["type", "fulfillment", "condition", "data", "dataUtf8"])?;
            Ok(Packet::Fulfill(Fulfill {
                fulfillment: f.hex32("fulfillment")?,
                data: f.data()?,
            }))
        }
        "reject" => {
            f.only(&[
                "type",
                "code",
                "codeName",
                "triggeredBy",
                "message",
                "data",
                "dataUtf8",
            ])?;
            let code: ErrorCode = f
                .str("code", "e.g. F02")?
                .parse()
                .map_err(|e| anyhow!("field `code`: {e}"))?;
            let tb = match m.get("triggeredBy") {
                None => "",
                Some(_) => f.str("triggeredBy", "ILP address or empty")?,
            };
            let triggered_by = if tb.is_empty() {
                None
            } else {
                Some(Address::new(tb).map_err(|e| anyhow!("field `triggeredBy`: {e}"))?)
            };
            let message = match m.get("message") {
                None => "",
                Some(_) => f.str("message", "text")?,
            };
            Ok(Packet::Reject(Reject {
                code,
                triggered_by,
                message: message.to_string(),
                data: f.data()?,
            }))
        }
        other => bail!("field `type` must be prepare, fulfill or reject, got {other:?}"),
    }
}
