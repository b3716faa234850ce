//! `tollcast stream`: the creator's go-live command (the streamer agent: ingest, LL-HLS
//! origin, signed manifests, NIP-53 announcement, wallet; prints the OBS settings, a `ready:`
//! line and status lines), and, as subcommands, the STREAM (RFC 0029) packet toolbox:
//! `tollcast stream decode|encode` decrypt/decode and build packets given the shared secret.

use std::io::Read;
use std::path::PathBuf;

use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use serde_json::{Value, json};
use tollcast_agents::streamer::config::{SourceKind, StreamerConfig};
use tollcast_agents::streamer::{Streamer, StreamerStatus};
use tollcast_media::live::LiveEvent;
use tollcast_wire::ilp;
use tollcast_wire::stream::{IlpPacketType, ServerSecret, StreamKeys, StreamPacket};

#[derive(clap::Args)]
#[command(
    args_conflicts_with_subcommands = true,
    about = "Go live: run the streamer agent (OBS/RTMP, SRT or test-pattern ingest -> LL-HLS origin, \
             signed manifests, NIP-53 announcement, wallet); `stream decode|encode`: STREAM packets",
    long_about = "Go live with one command.\n\n\
        `tollcast stream --config streamer.toml` starts the streamer agent: an RTMP listener \
        (OBS's default, rtmp://127.0.0.1:1935/live/<stream key>; or SRT, or a synthetic test \
        pattern), the LL-HLS origin, segment manifests signed with your key, the NIP-53 live \
        event (kind 30311) with price, split and payment tags kept current, and your wallet \
        (an ILP node receiving your earnings over STREAM/SPSP). It prints the OBS settings to \
        use, then `key: value` lines, one `ready: {json}` line, and a status line every few \
        seconds (live, viewers, earnings, latency). Every config key has a default; see \
        examples/streamer.toml. Flags override the config.\n\n\
        The STREAM (RFC 0029) packet toolbox stays available as subcommands:\n  \
        tollcast stream decode --secret <base64> 0c81...   (a whole ILP PREPARE/FULFILL/REJECT)\n  \
        tollcast stream decode --secret <base64> - < data.hex\n  \
        echo '{\"sequence\":\"1\",\"packetType\":12,\"amount\":\"0\",\"frames\":[]}' | tollcast stream encode --secret <base64>"
)]
pub struct Args {
    #[command(subcommand)]
    command: Option<Sub>,
    /// The streamer config (TOML); every key has a default (see examples/streamer.toml).
    #[arg(long, short)]
    config: Option<PathBuf>,
    /// Ingest: `rtmp` (OBS), `srt` or `synthetic` (test pattern with the wall clock burned in).
    #[arg(long)]
    source: Option<String>,
    /// RTMP listen address (port 0 picks a free port).
    #[arg(long)]
    rtmp_listen: Option<std::net::SocketAddr>,
    /// The stream key OBS must present (default: the config's, else a random one).
    #[arg(long)]
    stream_key: Option<String>,
    /// Origin HTTP listen address (port 0 picks a free port).
    #[arg(long)]
    listen: Option<std::net::SocketAddr>,
    /// Chunk store directory.
    #[arg(long)]
    store_dir: Option<PathBuf>,
    /// Creator key file (created with a fresh key if missing).
    #[arg(long)]
    key_file: Option<PathBuf>,
    /// Secret key (hex or nsec) instead of the key file.
    #[arg(long, env = "TOLLCAST_SECRET_KEY", hide_env_values = true)]
    secret_key: Option<String>,
    /// Nostr relay (ws://) for the announcement and manifests; repeatable (replaces the
    /// config's list). Default: the wallet node's own relay.
    #[arg(long = "relay")]
    relays: Vec<String>,
    /// Wallet ledger file of the creator's ILP node.
    #[arg(long)]
    wallet_ledger: Option<PathBuf>,
    /// A full node TOML for the wallet (peers, routes) instead of the standalone node.
    #[arg(long)]
    node_config: Option<PathBuf>,
    /// Run without a wallet node.
    #[arg(long)]
    no_wallet: bool,
    /// Stream title.
    #[arg(long)]
    title: Option<String>,
    /// Synthetic source: stop after this many seconds.
    #[arg(long)]
    duration: Option<f64>,
    /// Synthetic source: picture size WIDTHxHEIGHT.
    #[arg(long)]
    size: Option<String>,
    /// Seconds between status lines (0: none).
    #[arg(long)]
    status_every: Option<u64>,
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
    let Some(command) = args.command else {
        return go_live(args).await;
    };
    match command {
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

/// Load the config and apply the flags over it.
fn streamer_config(a: &Args) -> anyhow::Result<StreamerConfig> {
    let mut cfg = match &a.config {
        Some(p) => StreamerConfig::load(p).map_err(|e| {
            anyhow::anyhow!("{e}\n(see examples/streamer.toml for every key and its default)")
        })?,
        None => StreamerConfig::default(),
    };
    if let Some(s) = &a.source {
        cfg.ingest.source = match s.as_str() {
            "rtmp" => SourceKind::Rtmp,
            "srt" => SourceKind::Srt,
            "synthetic" => SourceKind::Synthetic,
            o => bail!("--source `{o}`: use rtmp, srt or synthetic"),
        };
    }
    if let Some(l) = a.rtmp_listen {
        cfg.ingest.rtmp_listen = l;
    }
    if let Some(k) = &a.stream_key {
        cfg.ingest.stream_key = k.clone();
    }
    if let Some(l) = a.listen {
        cfg.origin.listen = l;
    }
    if let Some(d) = &a.store_dir {
        cfg.origin.store_dir = d.clone();
    }
    if let Some(k) = &a.key_file {
        cfg.stream.key_file = k.clone();
    }
    if let Some(k) = &a.secret_key {
        cfg.stream.secret_key = Some(k.clone());
    }
    if !a.relays.is_empty() {
        cfg.nostr.relays = a.relays.clone();
    }
    if let Some(l) = &a.wallet_ledger {
        cfg.wallet.ledger = l.clone();
    }
    if let Some(n) = &a.node_config {
        cfg.wallet.node_config = Some(n.clone());
    }
    if a.no_wallet {
        cfg.wallet.enabled = false;
    }
    if let Some(t) = &a.title {
        cfg.stream.title = Some(t.clone());
    }
    if let Some(d) = a.duration {
        cfg.ingest.duration = Some(d);
    }
    if let Some(s) = &a.size {
        cfg.ingest.size = s.clone();
    }
    if let Some(s) = a.status_every {
        cfg.stream.status_every = s;
    }
    if cfg.ingest.duration.is_some() && cfg.ingest.source != SourceKind::Synthetic {
        bail!("--duration / ingest.duration only apply to the synthetic source");
    }
    cfg.validate().map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(cfg)
}

fn print_out(s: &str) {
    // A closed stdout (the reader went away) must not stop the stream.
    use std::io::Write;
    let mut o = std::io::stdout().lock();
    let _ = o.write_all(s.as_bytes());
    let _ = o.flush();
}

fn status_line(s: &StreamerStatus) -> String {
    let tx = s
        .transcoder
        .as_deref()
        .map(|t| format!(" transcoder={}", &t[..16.min(t.len())]))
        .unwrap_or_default();
    format!(
        "status: {} viewers={} relays={} earnings={} {}/{} latency_ms={} segments={}{tx}\n",
        if s.live {
            "live"
        } else {
            "waiting-for-encoder"
        },
        s.viewers,
        s.relays,
        s.earnings,
        if s.asset_code.is_empty() {
            "-"
        } else {
            &s.asset_code
        },
        s.asset_scale,
        s.latency_ms.map_or("-".to_string(), |l| l.to_string()),
        s.segments
    )
}

async fn go_live(a: Args) -> anyhow::Result<()> {
    let cfg = streamer_config(&a)?;
    let mut streamer = Streamer::start(cfg.clone())
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut events = streamer.subscribe();
    let i = streamer.info.clone();
    let mut out = streamer.obs_settings(&cfg);
    out.push_str(&format!("playlist: {}\n", i.playlist));
    if let Some(s) = &i.rtmp_server {
        out.push_str(&format!("rtmp: {s}\n"));
    }
    if let Some(k) = &i.stream_key {
        out.push_str(&format!("stream_key: {k}\n"));
    }
    if let Some(u) = &i.ingest_url {
        out.push_str(&format!("ingest: {u}\n"));
    }
    out.push_str(&format!("npub: {}\n", i.npub));
    out.push_str(&format!("stream: {}\n", i.stream));
    out.push_str(&format!("naddr: {}\n", i.naddr));
    for r in &i.nostr_relays {
        out.push_str(&format!("nostr: {r}\n"));
    }
    if let Some(s) = &i.spsp {
        out.push_str(&format!("spsp: {s}\n"));
    }
    if let Some(n) = &i.node {
        out.push_str(&format!("node: {n}\n"));
    }
    if let Some(n) = &i.ilp_address {
        out.push_str(&format!("ilp: {n}\n"));
    }
    out.push_str(&format!("ready: {}\n", serde_json::to_string(&i)?));
    print_out(&out);

    let progress = tokio::spawn(async move {
        loop {
            match events.recv().await {
                Ok(LiveEvent::SessionStarted { what, .. }) => eprintln!("session started: {what}"),
                Ok(LiveEvent::SessionEnded { reason, .. }) => eprintln!("session ended: {reason}"),
                Ok(LiveEvent::Segment(m)) => tracing::info!(
                    "segment {} {:.2}s {} parts {}",
                    m.msn,
                    m.duration,
                    m.parts.len(),
                    m.segment
                ),
                Ok(_) => {}
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(_) => break,
            }
        }
    });
    let every = cfg.stream.status_every;
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(every.max(1)));
    tick.tick().await;
    let finished = streamer.finished();
    tokio::pin!(finished);
    let ended = loop {
        tokio::select! {
            r = &mut finished => {
                r.map_err(|e| anyhow::anyhow!("{e}"))?;
                break true;
            }
            _ = tokio::signal::ctrl_c() => break false,
            _ = tick.tick(), if every > 0 => print_out(&status_line(&streamer.status())),
        }
    };
    streamer.end().await;
    progress.abort();
    print_out(&status_line(&streamer.status()));
    if ended {
        print_out(
            "ended: stream over (announced status ended); origin keeps serving until Ctrl-C\n",
        );
        tokio::signal::ctrl_c().await?;
    }
    Ok(())
}
