//! `tollcast origin`: ingest (synthetic / RTMP / SRT) -> CMAF cutter -> chunk store -> LL-HLS
//! origin on 127.0.0.1, printing the playlist URL and one progress line per segment.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, bail};
use nostr::prelude::{Keys, Timestamp, ToBech32};
use tollcast_agents::streamer::announce::Announcer;
use tollcast_events::live::{LiveEvent as Announcement, LiveStatus, Participant};
use tollcast_events::{Role, StreamAddress};
use tollcast_media::cutter::CutterConfig;
use tollcast_media::ingest::Source;
use tollcast_media::live::{LiveConfig, LiveEvent, ManifestSigner, spawn_live};
use tollcast_media::origin::Origin;
use tollcast_media::playlist::PlaylistConfig;
use tollcast_media::store::ChunkStore;
use tollcast_net::nostr_relay::client::{ClientOptions, RelayClient};

/// Run a live LL-HLS origin from an encoder (or a synthetic test source).
///
/// Point OBS at `rtmp://127.0.0.1:1935/live/<key>` after starting with
/// `--source rtmp://127.0.0.1:1935/live/<key>`; or try it with `--source synthetic`.
/// Open the printed URL in a player with low-latency HLS (hls.js, Safari).
#[derive(clap::Args)]
pub struct Args {
    /// `synthetic`, `rtmp://127.0.0.1:1935/live/<stream key>` (RTMP listener; the key is
    /// checked) or `srt://127.0.0.1:9000[?passphrase=<10-79 chars>]` (SRT listener).
    #[arg(long, default_value = "synthetic")]
    source: String,
    /// HTTP address of the origin (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Directory of the content-addressed chunk store (created if missing).
    #[arg(long, default_value = "tollcast-chunks")]
    store_dir: PathBuf,
    /// Chunk store size bound in MiB; oldest chunks are evicted beyond it.
    #[arg(long, default_value_t = 1024)]
    store_mib: u64,
    /// LL-HLS part target in seconds (0.1 to 1.0).
    #[arg(long, default_value_t = 0.2)]
    part_target: f64,
    /// Segment target in seconds (segments start at keyframes; 1 to 6).
    #[arg(long, default_value_t = 1.0)]
    segment_target: f64,
    /// Segments kept in the media playlist.
    #[arg(long, default_value_t = 12)]
    window: usize,
    /// End the stream (EXT-X-ENDLIST) when the encoder disconnects instead of pausing it.
    #[arg(long)]
    end_on_disconnect: bool,
    /// Synthetic source only: stop after this many seconds.
    #[arg(long)]
    duration: Option<f64>,
    /// Synthetic source only: picture size WIDTHxHEIGHT.
    #[arg(long, default_value = "640x360")]
    size: String,
    /// Secret key (hex or nsec) that signs the segment manifests; a fresh key if omitted.
    #[arg(long, env = "TOLLCAST_SECRET_KEY", hide_env_values = true)]
    secret_key: Option<String>,
    /// The stream's identifier (`d` tag of its kind-30311 live event).
    #[arg(long, default_value = "live")]
    stream_id: String,
    /// Nostr relay (ws:// or wss://) to publish each signed segment manifest to; repeatable.
    #[arg(long = "relay")]
    relays: Vec<String>,
    /// Title of the stream's NIP-53 announcement (kind 30311, published when --relay is given).
    #[arg(long)]
    title: Option<String>,
    /// Summary (description) of the stream's announcement.
    #[arg(long)]
    summary: Option<String>,
    /// Preview image URL of the stream's announcement.
    #[arg(long)]
    image: Option<String>,
    /// Hashtag (`t` tag) of the stream's announcement; repeatable.
    #[arg(long = "tag")]
    tags: Vec<String>,
    /// Price per watched minute announced to viewers, as AMOUNT:ASSET:SCALE in base units,
    /// e.g. `1000:USD:6` (1000 micro-dollars a minute).
    #[arg(long)]
    price_per_minute: Option<String>,
    /// SPSP endpoint (https:// URL or $payment-pointer) viewers pay, announced with the stream.
    #[arg(long)]
    spsp: Option<String>,
    /// Seconds between re-publications of the live announcement (keeps it current).
    #[arg(long, default_value_t = 60)]
    announce_every: u64,
    /// Transcoder pubkey (hex or npub) named in the announcement as a `transcoder`
    /// participant, so viewers trust its rung manifests; repeatable.
    #[arg(long = "transcoder")]
    transcoders: Vec<String>,
}

/// Parse `AMOUNT:ASSET:SCALE` into the tag values of a `price` tag.
fn parse_price(s: &str) -> anyhow::Result<[String; 3]> {
    let p = tollcast_agents::streamer::config::parse_price(s)
        .map_err(|e| anyhow::anyhow!("--price-per-minute: {e}"))?;
    Ok([
        p.amount.to_string(),
        p.asset_code,
        p.asset_scale.to_string(),
    ])
}

pub async fn run(a: Args) -> anyhow::Result<()> {
    if !(0.1..=1.0).contains(&a.part_target) {
        bail!("--part-target must be between 0.1 and 1.0 seconds");
    }
    if !(1.0..=6.0).contains(&a.segment_target) || a.segment_target < 2.0 * a.part_target {
        bail!("--segment-target must be 1 to 6 seconds and at least twice --part-target");
    }
    if a.window < 3 {
        bail!("--window must be at least 3 segments");
    }
    let transcoders = a
        .transcoders
        .iter()
        .map(|k| {
            nostr::prelude::PublicKey::parse(k)
                .with_context(|| format!("--transcoder {k}: not a hex or npub public key"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut extra = Vec::new();
    if let Some(p) = &a.price_per_minute {
        let [amount, code, scale] = parse_price(p)?;
        extra.push(vec!["price".into(), "minute".into(), amount, code, scale]);
    }
    if let Some(s) = &a.spsp {
        extra.push(vec!["spsp".into(), s.clone()]);
    }
    let mut source = Source::parse(&a.source).map_err(|e| anyhow::anyhow!("{e}"))?;
    if let Source::Synthetic(o) = &mut source {
        let (w, h) = a
            .size
            .split_once('x')
            .and_then(|(w, h)| Some((w.parse::<u32>().ok()?, h.parse::<u32>().ok()?)))
            .filter(|(w, h)| {
                (16..=3840).contains(w) && (16..=2160).contains(h) && w % 2 == 0 && h % 2 == 0
            })
            .context("--size must be WIDTHxHEIGHT with even numbers, e.g. 640x360")?;
        o.width = w;
        o.height = h;
        o.duration = a.duration;
    } else if a.duration.is_some() {
        bail!("--duration only applies to --source synthetic");
    }
    let store = ChunkStore::open(&a.store_dir, a.store_mib.saturating_mul(1024 * 1024))
        .with_context(|| format!("opening the chunk store in {}", a.store_dir.display()))?;
    let cut = CutterConfig {
        part_target: a.part_target,
        segment_target: a.segment_target,
    };
    let origin = Origin::new(
        store,
        PlaylistConfig {
            part_target: cut.part_target,
            segment_target: cut.segment_target,
            window: a.window,
        },
    );
    let listener = tokio::net::TcpListener::bind(a.listen)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {} (in use? try --listen 127.0.0.1:0)",
                a.listen
            )
        })?;
    let http = listener.local_addr()?;
    let router = origin.router();
    tokio::spawn(async move {
        if let Err(e) = tollcast_net::http_serve::serve(listener, router).await {
            eprintln!("origin HTTP server stopped: {e}");
        }
    });
    let keys = match &a.secret_key {
        Some(k) => Keys::parse(k).context("--secret-key must be a 64-hex or nsec secret key")?,
        None => Keys::generate(),
    };
    let mut clients = Vec::new();
    for url in &a.relays {
        clients.push(
            RelayClient::connect(url, ClientOptions::default())
                .map_err(|e| anyhow::anyhow!("--relay {url}: {e} (want ws://host:port)"))?,
        );
    }
    let stream = StreamAddress::new(keys.public_key(), a.stream_id.clone());
    let playlist = format!("http://{http}/live/master.m3u8");
    let mut announcer = (!clients.is_empty()).then(|| {
        Announcer::new(
            keys.clone(),
            Announcement {
                title: a.title.clone(),
                summary: a.summary.clone(),
                image: a.image.clone(),
                streaming: vec![playlist.clone()],
                status: Some(LiveStatus::Live),
                starts: Some(Timestamp::now().as_secs()),
                hashtags: a.tags.clone(),
                participants: std::iter::once(Participant {
                    pubkey: keys.public_key(),
                    relay: a.relays.first().cloned(),
                    role: Some("Host".into()),
                    proof: None,
                })
                .chain(transcoders.iter().map(|pk| Participant {
                    pubkey: *pk,
                    relay: a.relays.first().cloned(),
                    role: Some("transcoder".into()),
                    proof: None,
                }))
                .collect(),
                relays: a.relays.clone(),
                ..Announcement::new(a.stream_id.clone())
            },
            extra,
            clients.clone(),
        )
    });
    let mut cfg = LiveConfig::new(source);
    cfg.cutter = cut;
    cfg.end_on_disconnect = a.end_on_disconnect;
    cfg.signer = Some(ManifestSigner {
        keys: keys.clone(),
        stream: stream.clone(),
        role: Role::Streamer,
    });
    let live = spawn_live(cfg, origin.clone())
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut rx = live.subscribe();
    println!("playlist: {playlist}");
    println!(
        "manifests signed by {} for stream {stream}",
        keys.public_key().to_bech32()?
    );
    // The announcement goes out once live, then again every --announce-every seconds.
    let announcer = match announcer.take() {
        Some(mut an) => {
            an.live().await;
            let relays: Vec<&str> = a.relays.iter().map(String::as_str).collect();
            println!(
                "announced (NIP-53 kind 30311): {}",
                stream.to_naddr(&relays)?
            );
            let every = std::time::Duration::from_secs(a.announce_every.max(1));
            let an = std::sync::Arc::new(tokio::sync::Mutex::new(an));
            let an2 = an.clone();
            let refresh = tokio::spawn(async move {
                let mut t = tokio::time::interval(every);
                t.tick().await;
                loop {
                    t.tick().await;
                    an2.lock().await.live().await;
                }
            });
            Some((an, refresh))
        }
        None => None,
    };
    let end_announcement = || async {
        if let Some((an, refresh)) = &announcer {
            refresh.abort();
            an.lock().await.ended().await;
        }
    };
    if let Some(r) = live.rtmp_addr {
        println!("rtmp ingest: rtmp://{r}/<app>/<stream key> (as given in --source)");
    }
    let progress = tokio::spawn(async move {
        let mut seg_latency: Vec<i64> = Vec::new();
        let mut publishes = Vec::new();
        loop {
            match rx.recv().await {
                Ok(LiveEvent::SessionStarted { what, .. }) => eprintln!("session started: {what}"),
                Ok(LiveEvent::Init { hash, codecs, .. }) => {
                    eprintln!("init {hash} codecs {codecs}")
                }
                Ok(LiveEvent::Part {
                    capture_ms,
                    available_ms,
                    ..
                }) => seg_latency.push(available_ms - capture_ms),
                Ok(LiveEvent::Segment(m)) => {
                    seg_latency.sort();
                    let med = seg_latency.get(seg_latency.len() / 2).copied().unwrap_or(0);
                    eprintln!(
                        "segment {} {:.2}s {} parts, capture->playlist median {med} ms, {}",
                        m.msn,
                        m.duration,
                        m.parts.len(),
                        m.segment
                    );
                    seg_latency.clear();
                }
                // Segment (31311) and part (21311, ephemeral) manifests alike.
                Ok(LiveEvent::ManifestSigned(ev)) | Ok(LiveEvent::PartManifestSigned(ev)) => {
                    // Part manifests come ~5/s: forget publishes that are done.
                    publishes.retain(|p: &tokio::task::JoinHandle<()>| !p.is_finished());
                    for c in &clients {
                        // Publish concurrently so a slow relay does not hold up the progress lines.
                        let (c, ev) = (c.clone(), ev.clone());
                        publishes.push(tokio::spawn(async move {
                            match c.publish(&ev, std::time::Duration::from_secs(5)).await {
                                Ok(ack) if ack.accepted => {}
                                Ok(ack) => eprintln!(
                                    "relay {} refused manifest {}: {}",
                                    c.url(),
                                    ev.id,
                                    ack.message
                                ),
                                Err(e) => eprintln!(
                                    "relay {}: manifest {} not published: {e}",
                                    c.url(),
                                    ev.id
                                ),
                            }
                        }));
                    }
                }
                Ok(LiveEvent::SessionEnded { reason, .. }) => eprintln!("session ended: {reason}"),
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    eprintln!("progress display skipped {n} events")
                }
                Err(_) => break,
            }
        }
        for p in publishes {
            let _ = p.await;
        }
    });
    tokio::select! {
        r = live.join() => {
            r.map_err(|e| anyhow::anyhow!("{e}"))?;
            // Let the last manifests reach the relays before saying so.
            let _ = tokio::time::timeout(std::time::Duration::from_secs(10), progress).await;
            end_announcement().await;
            eprintln!("stream ended; origin keeps serving until Ctrl-C");
            tokio::signal::ctrl_c().await?;
        }
        _ = tokio::signal::ctrl_c() => {
            end_announcement().await;
            eprintln!("stopping");
        }
    }
    Ok(())
}
