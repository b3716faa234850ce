//! `tollcast relay`: run a relay agent (CDN edge) for one stream: pull chunks from an origin or
//! a parent relay, verify them against the stream's signed manifests (followed on Nostr), cache
//! and serve LL-HLS; optionally paid — credit mode (money per second over ILP STREAM) and/or
//! ILP-native mode (chunk bytes inside the FULFILLs that pay for them) — with revenue splits
//! forwarded over ILP in batches, and advertised on Nostr. Prints `ready: {json}` once serving.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use nostr::prelude::{Filter, Keys, Kind, PublicKey, Timestamp};
use tollcast_agents::relay::billing::{Billing, BillingConfig};
use tollcast_agents::relay::http::NATIVE_PAY_PATH;
use tollcast_agents::relay::manifests::ManifestBook;
use tollcast_agents::relay::native::{NativePricing, NativeServer};
use tollcast_agents::relay::nostr::follow_manifests;
use tollcast_agents::relay::offer::OfferSettings;
use tollcast_agents::relay::splits::{SplitsConfig, Splitter};
use tollcast_agents::relay::{Relay, RelayConfig};
use tollcast_events::Price;
use tollcast_events::StreamAddress;
use tollcast_events::split::{SplitShare, Splits};
use tollcast_media::store::ChunkStore;
use tollcast_net::connector::{AccountId, Node, NodeConfig};
use tollcast_net::nostr_relay::client::{ClientOptions, RelayClient};
use tollcast_net::stream::{StreamReceiver, spsp_http};

/// Run a relay agent for one stream.
///
/// Example: `tollcast relay --upstream http://127.0.0.1:8080 --stream 30311:<hex pubkey>:live
/// --nostr ws://127.0.0.1:7777`, then play `http://127.0.0.1:8081/live/master.m3u8`.
/// Chain relays by giving another relay's URL as `--upstream`. Add `--price-per-second` and
/// `--node-config` to charge viewers (credit mode): they pay over ILP STREAM via the SPSP
/// endpoint `/.well-known/pay/<viewer id>` and send `Authorization: Bearer <viewer id>`.
/// `--native` adds ILP-native delivery (SPSP at `/.well-known/pay-native/<viewer id>`, chunks
/// requested by hash over STREAM, priced by `--price-per-gb` / `--price-per-part`);
/// `--native-only` stops serving chunks over HTTP. Revenue splits: `--split
/// creator=<spsp>=<weight>` (repeatable) or `--splits-from-event` (the `split` tags of the
/// stream's signed kind-30311 event), plus `--relay-margin-ppm` and `--upstream-pay-to` /
/// `--upstream-ppm`; shares are paid every `--batch-ms` and booked in `--splits-db`.
#[derive(clap::Args)]
pub struct Args {
    /// Where to pull from: the origin's or a parent relay's base URL (http://host:port).
    #[arg(long)]
    upstream: String,
    /// Viewer id to present to a paid upstream relay (pay it at its
    /// `/.well-known/pay/<this id>`, e.g. with `tollcast pay`).
    #[arg(long)]
    upstream_viewer: Option<String>,
    /// The stream: `30311:<author hex pubkey>:<d>` (its live event address).
    #[arg(long)]
    stream: String,
    /// Nostr relay (ws://) carrying the stream's segment manifests; repeatable, at least one.
    #[arg(long = "nostr", required = true)]
    nostr: Vec<String>,
    /// Also trust manifests signed by this key (hex or npub), e.g. the stream's transcoder.
    #[arg(long = "signer")]
    signers: Vec<String>,
    /// HTTP address to serve viewers on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:8081")]
    listen: SocketAddr,
    /// Directory of the chunk cache (created if missing).
    #[arg(long, default_value = "tollcast-relay-cache")]
    store_dir: PathBuf,
    /// Chunk cache bound in MiB; oldest chunks are evicted beyond it.
    #[arg(long, default_value_t = 512)]
    store_mib: u64,
    /// Longest a fetched chunk waits for the manifest that signs it, in ms.
    #[arg(long, default_value_t = 8000)]
    manifest_wait_ms: u64,
    /// Credit mode: base units a viewer pays per second of service (needs --node-config).
    #[arg(long)]
    price_per_second: Option<u64>,
    /// Credit mode: service continues this many ms after paid time ran out.
    #[arg(long, default_value_t = 3000)]
    grace_ms: u64,
    /// Credit mode: asset viewers pay in (as the node's accounts count it).
    #[arg(long, default_value = "USD")]
    asset_code: String,
    /// Credit mode: that asset's scale (decimal places of its base unit).
    #[arg(long, default_value_t = 6)]
    asset_scale: u8,
    /// Credit mode: file keeping viewers' balances across restarts.
    #[arg(long, default_value = "tollcast-relay-billing.redb")]
    billing_db: PathBuf,
    /// Credit mode: the ILP node (connector TOML) that receives viewers' payments.
    #[arg(long)]
    node_config: Option<PathBuf>,
    /// Secret key (hex or nsec) signing the relay offer; a fresh key if omitted.
    #[arg(long, env = "TOLLCAST_SECRET_KEY", hide_env_values = true)]
    secret_key: Option<String>,
    /// Viewers advertised as capacity in the relay offer.
    #[arg(long, default_value_t = 1000)]
    capacity: u64,
    /// Public base URL of this relay for the offer (default http://<listen address>).
    #[arg(long)]
    public_url: Option<String>,
    /// ILP-native mode: serve chunks by hash over STREAM, bytes inside the FULFILLs that pay
    /// for them (needs --node-config and a price).
    #[arg(long)]
    native: bool,
    /// ILP-native only: chunks are not served over HTTP at all (playlists still are).
    #[arg(long)]
    native_only: bool,
    /// ILP-native mode: base units per 10^9 bytes delivered.
    #[arg(long, default_value_t = 0)]
    price_per_gb: u64,
    /// ILP-native mode: base units per chunk delivered (spread over its bytes).
    #[arg(long, default_value_t = 0)]
    price_per_part: u64,
    /// Revenue split payee `role=spsp_url_or_pointer=weight` (role: creator, transcoder,
    /// relay, upstream); repeatable. The rest after margin and upstream share goes by weight.
    #[arg(long = "split")]
    splits: Vec<String>,
    /// Read the split from the `split` tags of the stream's signed kind-30311 live event.
    #[arg(long)]
    splits_from_event: bool,
    /// Splits: this relay's margin, parts per million of viewer revenue (100000 = 10 %).
    #[arg(long, default_value_t = 100_000)]
    relay_margin_ppm: u32,
    /// Splits: SPSP endpoint of the upstream relay, paid `--upstream-ppm` of revenue.
    #[arg(long)]
    upstream_pay_to: Option<String>,
    /// Splits: the upstream relay's share, parts per million of viewer revenue.
    #[arg(long, default_value_t = 0)]
    upstream_ppm: u32,
    /// Splits: pay out owed shares every this many ms.
    #[arg(long, default_value_t = 5000)]
    batch_ms: u64,
    /// Splits: file keeping the books (revenue, shares sent) across restarts.
    #[arg(long, default_value = "tollcast-relay-splits.redb")]
    splits_db: PathBuf,
    /// Honour takedown votes (kind 1985) of this moderator (hex or npub); repeatable. When
    /// `--takedown-threshold` of them vote takedown, every route answers 451 with the reason.
    #[arg(long = "moderator")]
    moderator: Vec<String>,
    /// Takedown votes of trusted moderators needed to stop serving.
    #[arg(long, default_value_t = 2)]
    takedown_threshold: u32,
}

/// The stream's splits from its signed live event on any of `clients`.
async fn splits_from_event(
    clients: &[RelayClient],
    stream: &StreamAddress,
) -> anyhow::Result<Splits> {
    let filter = Filter::new()
        .kind(Kind::from(tollcast_events::live::KIND_LIVE_EVENT))
        .author(stream.pubkey)
        .identifier(stream.identifier.clone());
    let mut newest: Option<nostr::prelude::Event> = None;
    for c in clients {
        let evs = c
            .fetch(vec![filter.clone()], Duration::from_secs(5))
            .await
            .map_err(|e| anyhow::anyhow!("fetching the live event from {}: {e}", c.url()))?;
        for ev in evs {
            if newest.as_ref().is_none_or(|n| ev.created_at > n.created_at) {
                newest = Some(ev);
            }
        }
    }
    let ev = newest.ok_or_else(|| {
        anyhow::anyhow!(
            "--splits-from-event: no kind-30311 event for {stream} on the --nostr relays; \
             publish it first or give --split role=pay_to=weight"
        )
    })?;
    Splits::from_live_event(&ev).map_err(|e| anyhow::anyhow!("the live event's split tags: {e}"))
}

fn parse_key(s: &str) -> anyhow::Result<PublicKey> {
    PublicKey::parse(s).with_context(|| format!("`{s}` is not a hex or npub public key"))
}

pub async fn run(a: Args) -> anyhow::Result<()> {
    let stream: StreamAddress = a
        .stream
        .parse()
        .map_err(|e| anyhow::anyhow!("--stream: {e} (want 30311:<hex pubkey>:<d>)"))?;
    let signers = a
        .signers
        .iter()
        .map(|s| parse_key(s))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let native = a.native || a.native_only;
    if a.price_per_second.is_some() && a.node_config.is_none() {
        bail!("credit mode needs both --price-per-second and --node-config (the ILP node paid)");
    }
    if native && a.node_config.is_none() {
        bail!("ILP-native mode (--native) needs --node-config (the ILP node viewers pay)");
    }
    if a.node_config.is_some() && a.price_per_second.is_none() && !native {
        bail!("--node-config is for a paid relay: add --price-per-second and/or --native");
    }
    let mut shares = Vec::new();
    for s in &a.splits {
        shares.push(
            SplitShare::parse_cli(s)
                .map_err(|e| anyhow::anyhow!("--split {s}: {e} (want role=pay_to=weight)"))?,
        );
    }
    let want_splits = !shares.is_empty() || a.splits_from_event || a.upstream_pay_to.is_some();
    if want_splits && a.node_config.is_none() {
        bail!("revenue splits are paid from the relay's ILP node: give --node-config");
    }
    let store = ChunkStore::open(&a.store_dir, a.store_mib.saturating_mul(1024 * 1024))
        .with_context(|| format!("opening the chunk cache in {}", a.store_dir.display()))?;
    let book = Arc::new(ManifestBook::new(stream.clone(), signers.clone()));
    let mut clients = Vec::new();
    for url in &a.nostr {
        let c = RelayClient::connect(url, ClientOptions::default())
            .map_err(|e| anyhow::anyhow!("--nostr {url}: {e} (want ws://host:port)"))?;
        // Manifests of the last ten minutes cover any live window; older ones are VOD's business.
        let since = Timestamp::from_secs(Timestamp::now().as_secs().saturating_sub(600));
        follow_manifests(&c, book.clone(), &signers, Some(since))
            .await
            .map_err(|e| anyhow::anyhow!("--nostr {url}: {e}"))?;
        clients.push(c);
    }

    let listener = tokio::net::TcpListener::bind(a.listen)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {} (in use? try --listen 127.0.0.1:0)",
                a.listen
            )
        })?;
    let http = listener.local_addr()?;
    let public = a.public_url.clone().unwrap_or(format!("http://{http}"));

    // Paid: the relay's ILP node, a credit-mode receiver (crediting viewers by their
    // credential tag), an ILP-native receiver (answering chunk requests), the splitter.
    let node = match &a.node_config {
        Some(path) => {
            let cfg = NodeConfig::load(path)
                .map_err(|e| anyhow::anyhow!("--node-config {}: {e}", path.display()))?;
            Some(
                Node::start(cfg)
                    .await
                    .map_err(|e| anyhow::anyhow!("starting the ILP node: {e}"))?,
            )
        }
        None => None,
    };
    let mut credit = None;
    if let (Some(pps), Some(node)) = (a.price_per_second, &node) {
        let receiver =
            StreamReceiver::attach(&node.connector, "relay", &a.asset_code, a.asset_scale, None)
                .map_err(|e| anyhow::anyhow!("node address cannot take a receiver: {e}"))?;
        let billing = Arc::new(
            Billing::open(
                BillingConfig {
                    price_per_second: pps,
                    grace: Duration::from_millis(a.grace_ms),
                    asset_code: a.asset_code.clone(),
                    asset_scale: a.asset_scale,
                    pay_to: Some(format!("{public}/.well-known/pay/{{viewer}}")),
                },
                &a.billing_db,
            )
            .map_err(|e| anyhow::anyhow!("--billing-db {}: {e}", a.billing_db.display()))?,
        );
        billing.follow(&receiver);
        credit = Some((receiver, billing));
    }
    let native_receiver = match (&node, native) {
        (Some(node), true) => Some(
            StreamReceiver::attach(
                &node.connector,
                "native",
                &a.asset_code,
                a.asset_scale,
                None,
            )
            .map_err(|e| anyhow::anyhow!("node address cannot take a receiver: {e}"))?,
        ),
        _ => None,
    };
    let billing = credit.as_ref().map(|(_, b)| b.clone());
    let mut cfg = RelayConfig::new(a.upstream.clone());
    cfg.manifest_wait = Duration::from_millis(a.manifest_wait_ms);
    cfg.upstream_viewer = a.upstream_viewer.clone();
    cfg.ilp_only_chunks = a.native_only;
    let relay = Relay::new(cfg, store, book, billing).map_err(|e| anyhow::anyhow!("{e}"))?;
    let pricing = NativePricing {
        price_per_gb: a.price_per_gb,
        price_per_part: a.price_per_part,
    };
    if let Some(r) = &native_receiver {
        r.set_responder(Some(NativeServer::new(relay.clone(), pricing)));
    }
    let mut router = match &credit {
        Some((receiver, _)) => relay.paid_router(receiver.clone()),
        None => relay.router(),
    };
    if let Some(r) = &native_receiver {
        router = router.merge(spsp_http::router(r.clone(), NATIVE_PAY_PATH));
    }
    let mut splitter = None;
    if want_splits && let Some(node) = &node {
        let mut sc = SplitsConfig::new(stream.to_string());
        sc.relay_margin_ppm = a.relay_margin_ppm;
        sc.upstream_pay_to = a.upstream_pay_to.clone();
        sc.upstream_ppm = a.upstream_ppm;
        sc.batch = Duration::from_millis(a.batch_ms.max(10));
        sc.shares = if a.splits_from_event {
            splits_from_event(&clients, &stream).await?
        } else {
            Splits { shares }
        };
        let s = Splitter::open(sc, &a.splits_db)
            .map_err(|e| anyhow::anyhow!("--splits-db {}: {e}", a.splits_db.display()))?;
        if let Some((r, _)) = &credit {
            s.follow(r);
        }
        if let Some(r) = &native_receiver {
            s.follow(r);
        }
        s.run(
            node.connector.sender(AccountId::local()),
            node.connector.address().clone(),
        );
        // The books of the stream, for dashboards and audits (StreamBooks JSON).
        let books = s.clone();
        router = router.route(
            "/splits",
            axum::routing::get(move || {
                let books = books.clone();
                async move { axum::Json(books.books()) }
            }),
        );
        splitter = Some(s);
    }
    // Takedown decisions of trusted moderators (agents/src/relay/moderation.rs): 451 + notice.
    let _takedown = if a.moderator.is_empty() {
        None
    } else {
        let policy = tollcast_agents::relay::moderation::TakedownPolicy {
            moderators: a.moderator.clone(),
            threshold: a.takedown_threshold,
            relays: a.nostr.clone(),
        };
        let notice_keys = a.secret_key.as_deref().and_then(|k| Keys::parse(k).ok());
        let w = tollcast_agents::relay::moderation::TakedownWatch::start(
            stream.clone(),
            &policy,
            notice_keys,
        )
        .await
        .map_err(|e| anyhow::anyhow!("--moderator: {e}"))?;
        router = w.guard(router);
        Some(w)
    };
    tokio::spawn(async move {
        if let Err(e) = tollcast_net::http_serve::serve(listener, router).await {
            eprintln!("relay HTTP server stopped: {e}");
        }
    });
    let keys = match &a.secret_key {
        Some(k) => Keys::parse(k).context("--secret-key must be a 64-hex or nsec secret key")?,
        None => Keys::generate(),
    };
    println!("playlist: {public}/live/master.m3u8");
    println!("upstream: {}", a.upstream);
    if let Some((receiver, _)) = &credit {
        println!(
            "credit mode: {} {} (scale {}) per second, pay via SPSP {public}/.well-known/pay/<viewer id> (ILP {})",
            a.price_per_second.unwrap_or(0),
            receiver.config().asset_code,
            receiver.config().asset_scale,
            receiver.config().server_address,
        );
    }
    if let Some(r) = &native_receiver {
        println!(
            "ILP-native mode: {} per GB + {} per chunk ({} scale {}), SPSP {public}{NATIVE_PAY_PATH}/<viewer id> (ILP {}){}",
            a.price_per_gb,
            a.price_per_part,
            a.asset_code,
            a.asset_scale,
            r.config().server_address,
            if a.native_only {
                ", chunks not served over HTTP"
            } else {
                ""
            }
        );
    }
    if let Some(s) = &splitter {
        let c = s.config();
        println!(
            "splits: margin {} ppm, upstream {} ppm, {} payees, paid every {} ms, books in {}",
            c.relay_margin_ppm,
            c.upstream_ppm,
            c.shares.shares.len(),
            c.batch.as_millis(),
            a.splits_db.display()
        );
    }
    if let Some(node) = &node {
        println!(
            "node: {} (BTP {})",
            node.connector.address(),
            node.btp_url()
        );
    }
    let ready = serde_json::json!({
        "url": public,
        "http": http.to_string(),
        "playlist": format!("{public}/live/master.m3u8"),
        "upstream": a.upstream,
        "stream": stream.to_string(),
        "pubkey": keys.public_key().to_hex(),
        "metrics": format!("{public}/metrics"),
        "credit": credit.as_ref().map(|(r, _)| serde_json::json!({
            "spsp": format!("{public}/.well-known/pay"),
            "ilp_address": r.config().server_address.to_string(),
            "price_per_second": a.price_per_second,
        })),
        "native": native_receiver.as_ref().map(|r| serde_json::json!({
            "spsp": format!("{public}{NATIVE_PAY_PATH}"),
            "ilp_address": r.config().server_address.to_string(),
            "price_per_gb": a.price_per_gb,
            "price_per_part": a.price_per_part,
            "only": a.native_only,
        })),
        "asset_code": a.asset_code,
        "asset_scale": a.asset_scale,
        "node": node.as_ref().map(|n| serde_json::json!({
            "address": n.connector.address().to_string(),
            "btp": n.btp_url(),
        })),
        "splits": splitter.as_ref().map(|_| format!("{public}/splits")),
        "splits_db": splitter.as_ref().map(|_| a.splits_db.display().to_string()),
    });
    println!("ready: {ready}");
    if node.is_some() {
        let mut spsp = Vec::new();
        let mut ilp_address = String::new();
        if let Some((r, _)) = &credit {
            spsp.push(format!("{public}/.well-known/pay"));
            ilp_address = r.config().server_address.to_string();
        }
        if let Some(r) = &native_receiver {
            spsp.push(format!("{public}{NATIVE_PAY_PATH}"));
            if ilp_address.is_empty() {
                ilp_address = r.config().server_address.to_string();
            }
        }
        relay.advertise(
            keys,
            clients.clone(),
            OfferSettings {
                ilp_address,
                spsp,
                url: Some(public.clone()),
                price_per_gb: (native && a.price_per_gb > 0)
                    .then(|| Price::new(a.price_per_gb, a.asset_code.clone(), a.asset_scale)),
                capacity: a.capacity,
                every: Duration::from_secs(60),
            },
        );
    }
    let mut tick = tokio::time::interval(Duration::from_secs(10));
    tick.tick().await;
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            _ = tick.tick() => {
                let m = relay.metrics();
                use std::sync::atomic::Ordering::Relaxed;
                eprintln!(
                    "manifests {} hashes, upstream chunk fetches {}, cache hits {}, refused {}, served {} bytes, 402s {}",
                    relay.manifests().len(),
                    m.upstream_chunk_fetches.load(Relaxed),
                    m.cache_hits.load(Relaxed),
                    m.refused_chunks.load(Relaxed),
                    m.bytes_served.load(Relaxed),
                    m.payment_required.load(Relaxed),
                );
            }
        }
    }
    Ok(())
}
