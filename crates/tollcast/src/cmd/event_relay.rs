//! `tollcast event publish` and `tollcast event req`: talk to Nostr relays.
//!
//! `publish` sends one signed event to every `--relay`: a `ws://`/`wss://` URL gets a NIP-01
//! `EVENT` (the relay's `OK` is printed), an ILP address gets a pay-to-write PREPARE (the TOON
//! event as data, condition `sha256(sha256(data))`) sent through the tollcast node given with
//! `--node`. `req` sends a REQ and streams matching events as JSON lines, like `nak req`.

use std::io::Read;
use std::time::{Duration, SystemTime};

use anyhow::{Context, bail};
use nostr::prelude::{Event, Filter};
use serde_json::{Value, json};
use tollcast_net::connector::{AccountId, IncomingRequest, Node, NodeConfig};
use tollcast_net::nostr_relay::client::ClientOptions;
use tollcast_net::nostr_relay::pay_to_write::prepare_for_event;
use tollcast_net::nostr_relay::pool::{PoolItem, RelayPool};
use tollcast_wire::address::Address;

#[derive(clap::Args)]
#[command(
    long_about = "Publish one signed Nostr event (JSON, from FILE or stdin) to relays.\n\n\
Each --relay is either a WebSocket URL (ws://host:port, wss://...), which gets a NIP-01 EVENT, \
or the ILP address of a tollcast relay (e.g. g.tollcast.node1.nostr), which gets a paid write: \
an ILP PREPARE carrying the TOON-encoded event, sent through your account at a tollcast node \
(--node btp+ws://:TOKEN@HOST:PORT). The amount is --amount, or TOON bytes × --price-per-byte.\n\n\
Prints one JSON line per relay ({relay, accepted, message}); exits 1 if any relay refused.\n\n\
Example: tollcast event sign --nsec $NSEC < note.json | tollcast event publish --relay ws://127.0.0.1:7777"
)]
pub struct PublishArgs {
    /// Relay: ws(s):// URL or ILP address of a tollcast relay. Repeat for several.
    #[arg(long, required = true)]
    pub relay: Vec<String>,
    /// File holding the signed event JSON; default stdin.
    pub file: Option<std::path::PathBuf>,
    /// For ILP relays: your account at a tollcast node, btp+ws://:TOKEN@HOST:PORT.
    #[arg(long, env = "TOLLCAST_NODE")]
    pub node: Option<String>,
    /// BTP auth token, if not in the --node URL.
    #[arg(long, env = "TOLLCAST_NODE_TOKEN")]
    pub token: Option<String>,
    /// Asset code of your account at the node.
    #[arg(long, default_value = "USD")]
    pub asset_code: String,
    /// Asset scale of your account at the node.
    #[arg(long, default_value_t = 9)]
    pub asset_scale: u8,
    /// Amount to pay per ILP relay (base units); default: TOON bytes × --price-per-byte.
    #[arg(long)]
    pub amount: Option<u64>,
    /// Price per byte assumed when --amount is not given (TOON nodes default to 10).
    #[arg(long, default_value_t = 10)]
    pub price_per_byte: u64,
    /// Seconds to wait for each relay's answer.
    #[arg(long, default_value_t = 10)]
    pub timeout: u64,
}

#[derive(clap::Args)]
#[command(
    long_about = "Query relays with a NIP-01 filter and print matching events, one JSON \
object per line (like `nak req`). Events seen on several relays are printed once.\n\n\
FILTER is a JSON object or an array of objects, e.g. '{\"kinds\":[30311],\"limit\":10}'. \
Stops at the end of stored events (EOSE from every relay) unless --stream is given.\n\n\
Example: tollcast event req --relay ws://127.0.0.1:7777 '{\"kinds\":[1311],\"#a\":[\"30311:<pubkey>:<d>\"]}'"
)]
pub struct ReqArgs {
    /// Relay WebSocket URL (ws:// or wss://). Repeat for several.
    #[arg(long, required = true)]
    pub relay: Vec<String>,
    /// NIP-01 filter JSON (object or array of objects).
    pub filter: String,
    /// Keep the subscription open and print new events as they arrive.
    #[arg(long)]
    pub stream: bool,
    /// Seconds to wait for stored events (EOSE) before giving up.
    #[arg(long, default_value_t = 10)]
    pub timeout: u64,
}

fn is_ws(s: &str) -> bool {
    s.starts_with("ws://") || s.starts_with("wss://")
}

fn read_event(file: Option<&std::path::Path>) -> anyhow::Result<Event> {
    let mut text = String::new();
    match file {
        Some(p) => {
            text = std::fs::read_to_string(p)
                .with_context(|| format!("cannot read {}", p.display()))?
        }
        None => {
            std::io::stdin()
                .read_to_string(&mut text)
                .context("cannot read the event from stdin")?;
        }
    }
    let ev: Event = serde_json::from_str(text.trim()).context(
        "input is not a signed Nostr event JSON (sign a template with `tollcast event sign`)",
    )?;
    Ok(ev)
}

pub async fn publish(args: PublishArgs) -> anyhow::Result<()> {
    let ev = read_event(args.file.as_deref())?;
    if ev.verify().is_err() {
        bail!("the event's id or signature is invalid; re-sign it with `tollcast event sign`");
    }
    let timeout = Duration::from_secs(args.timeout);
    let (ws, ilp): (Vec<&String>, Vec<&String>) = args.relay.iter().partition(|r| is_ws(r));
    let mut refused = 0usize;
    if !ws.is_empty() {
        let pool = RelayPool::new(ws.iter().map(|s| s.as_str()), ClientOptions::default())
            .context("bad --relay URL: use ws://host:port or wss://host")?;
        for (relay, res) in pool.publish(&ev, timeout).await {
            let line = match res {
                Ok(ack) => {
                    refused += usize::from(!ack.accepted);
                    json!({"relay": relay, "accepted": ack.accepted, "message": ack.message})
                }
                Err(e) => {
                    refused += 1;
                    json!({"relay": relay, "accepted": false, "message": format!("error: {e}")})
                }
            };
            println!("{line}");
        }
    }
    if !ilp.is_empty() {
        let mut addrs = Vec::new();
        for a in &ilp {
            addrs.push(Address::new(a).map_err(|e| {
                anyhow::anyhow!("--relay {a}: not a ws:// URL and not an ILP address ({e})")
            })?);
        }
        let Some(node_url) = &args.node else {
            bail!(
                "publishing to an ILP address needs --node btp+ws://:TOKEN@HOST:PORT (your account at a tollcast node)"
            );
        };
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let dir =
            std::env::temp_dir().join(format!("tollcast-event-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).context("cannot create a temporary directory")?;
        let res = publish_ilp(&args, &ev, node_url, &dir, addrs, timeout).await;
        let _ = std::fs::remove_dir_all(&dir);
        refused += res?;
    }
    if refused > 0 {
        bail!(
            "{refused} of {} relays did not accept the event",
            args.relay.len()
        );
    }
    Ok(())
}

/// Pay-to-write through an in-process node whose only account is `--node`; returns how many
/// relays refused.
async fn publish_ilp(
    args: &PublishArgs,
    ev: &Event,
    node_url: &str,
    dir: &std::path::Path,
    addrs: Vec<Address>,
    timeout: Duration,
) -> anyhow::Result<usize> {
    let mut refused = 0;
    {
        let node = start_client_node(args, node_url, dir).await?;
        let upstream = AccountId::new("upstream");
        if !node.connector.wait_connected(&upstream, timeout).await {
            bail!("could not connect to the node at {node_url} (check the URL and the token)");
        }
        let sender = node.connector.sender(AccountId::local());
        for addr in addrs {
            let mut prepare = prepare_for_event(ev, addr.clone(), 0, SystemTime::now() + timeout)
                .context("cannot TOON-encode the event")?;
            prepare.amount = args
                .amount
                .unwrap_or(prepare.data.len() as u64 * args.price_per_byte);
            let amount = prepare.amount;
            let res = sender
                .handle(IncomingRequest {
                    from: AccountId::local(),
                    prepare,
                })
                .await;
            let line = match res {
                Ok(_) => {
                    json!({"relay": addr.as_str(), "accepted": true, "message": "", "paid": amount})
                }
                Err(r) => {
                    refused += 1;
                    json!({"relay": addr.as_str(), "accepted": false,
                           "message": format!("{} {}", r.code.as_str(), r.message), "paid": 0})
                }
            };
            println!("{line}");
        }
    }
    Ok(refused)
}

async fn start_client_node(
    args: &PublishArgs,
    node_url: &str,
    dir: &std::path::Path,
) -> anyhow::Result<Node> {
    let toml_str = |s: &str| toml::Value::String(s.to_string()).to_string();
    let token_line = match &args.token {
        Some(t) => format!("auth_token = {}\n", toml_str(t)),
        None => String::new(),
    };
    let text = format!(
        "[node]\nname = \"event-cli\"\naddress = \"private.tollcast.event-cli\"\nlisten = \"127.0.0.1:0\"\nledger = {}\n\n\
         [[accounts]]\nid = \"upstream\"\nrelation = \"parent\"\nasset_code = {}\nasset_scale = {}\nbtp_url = {}\n{token_line}",
        toml_str(&dir.join("ledger.redb").display().to_string()),
        toml_str(&args.asset_code),
        args.asset_scale,
        toml_str(node_url),
    );
    let cfg =
        NodeConfig::from_toml(&text, "--node").context("--node: give btp+ws://:TOKEN@HOST:PORT")?;
    Node::start(cfg).await.context("starting the local node")
}

fn parse_filters(text: &str) -> anyhow::Result<Vec<Filter>> {
    let v: Value = serde_json::from_str(text)
        .context("FILTER is not JSON: give an object like '{\"kinds\":[1]}'")?;
    let items = match v {
        Value::Array(a) => a,
        o @ Value::Object(_) => vec![o],
        _ => bail!("FILTER must be a JSON object or an array of objects"),
    };
    if items.is_empty() {
        bail!("FILTER array is empty");
    }
    items
        .into_iter()
        .map(|f| {
            serde_json::from_value::<Filter>(f.clone())
                .with_context(|| format!("invalid filter {f}"))
        })
        .collect()
}

pub async fn req(args: ReqArgs) -> anyhow::Result<()> {
    let filters = parse_filters(&args.filter)?;
    if let Some(bad) = args.relay.iter().find(|r| !is_ws(r)) {
        bail!("--relay {bad}: give a WebSocket URL (ws://host:port or wss://host)");
    }
    let pool =
        RelayPool::new(args.relay.iter(), ClientOptions::default()).context("bad --relay URL")?;
    let mut sub = pool.subscribe(filters).await?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(args.timeout);
    let mut done: Vec<String> = Vec::new();
    let mut closed = 0usize;
    let mut eose_all = false;
    loop {
        let item = if eose_all {
            sub.recv().await
        } else {
            match tokio::time::timeout_at(deadline, sub.recv()).await {
                Ok(i) => i,
                Err(_) => {
                    let missing: Vec<&String> =
                        args.relay.iter().filter(|r| !done.contains(r)).collect();
                    bail!(
                        "no end of stored events within {} s from: {}",
                        args.timeout,
                        missing
                            .iter()
                            .map(|s| s.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    );
                }
            }
        };
        match item {
            Some(PoolItem::Event { event, .. }) => println!("{}", event.as_json()),
            Some(PoolItem::Eose { relay }) => done.push(relay),
            Some(PoolItem::Closed { relay, message }) => {
                eprintln!("{relay} closed the subscription: {message}");
                done.push(relay);
                closed += 1;
            }
            Some(PoolItem::AllEose) => {
                if closed == args.relay.len() {
                    bail!("every relay refused the subscription");
                }
                if !args.stream {
                    return Ok(());
                }
                eose_all = true;
            }
            None => bail!("the relay connections stopped"),
        }
    }
}
