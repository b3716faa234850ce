//! `tollcast discover`: live streams from your follow graph (NIP-02, 1st and 2nd degree), by
//! tag, ranked locally from verifiable signals (relay-reported viewers, paid chat, tips) — no
//! central indexer. See `tollcast_agents::discovery` for the ranking.

use std::time::Duration;

use anyhow::{Context, bail};
use nostr::prelude::{Keys, PublicKey};
use tollcast_agents::discovery::{Listing, Options, Recording, discover, discover_recordings};
use tollcast_net::nostr_relay::client::ClientOptions;
use tollcast_net::nostr_relay::pool::RelayPool;

#[derive(clap::Args)]
#[command(
    long_about = "List live streams (NIP-53 kind 30311, status live) worth watching, \
seen from your follow list (kind 3) and the follow lists of the people you follow.\n\n\
Ranking (higher first): 2 x social(distance) + ln(1+viewers) + 0.5 ln(1+paid chat) + ln(1+tips), \
where social is 1 for people you follow, 0.5 for the 2nd degree and 0 otherwise; viewers are the \
loads reported in signed relay offers (kind 31312), or the creator's current_participants when no \
relay reports; paid chat counts kind-1311 messages (paid writes on tollcast relays), at most 10 per \
author.\n\n\
Example: tollcast discover --relay ws://127.0.0.1:7777 --pubkey npub1... --tag music"
)]
pub struct Args {
    /// Nostr relay to ask (ws:// or wss://); repeat for several.
    #[arg(long = "relay", required = true)]
    relays: Vec<String>,
    /// Whose follow graph to use: npub or 64-hex public key.
    #[arg(long, conflicts_with = "secret_key")]
    pubkey: Option<String>,
    /// Or your secret key (hex or nsec); only its public key is used.
    #[arg(long, env = "TOLLCAST_SECRET_KEY", hide_env_values = true)]
    secret_key: Option<String>,
    /// Only streams with this `t` tag (repeat: any of them).
    #[arg(long = "tag")]
    tags: Vec<String>,
    /// Follow-graph depth: 1 (people you follow) or 2 (and whom they follow).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=2))]
    depth: u32,
    /// Also list streams from outside your graph (trending by activity only).
    #[arg(long)]
    all: bool,
    /// Most streams to list.
    #[arg(long, default_value_t = 50)]
    limit: usize,
    /// Seconds to wait for each round of relay answers.
    #[arg(long, default_value_t = 5)]
    timeout: u64,
    /// Treat a `live` announcement older than this many seconds as stale.
    #[arg(long, default_value_t = 3600)]
    max_age: u64,
    /// List recordings (NIP-71 videos, e.g. recorders' VODs of past streams) instead of live
    /// streams: closest hosts first, newest first within a distance.
    #[arg(long)]
    vod: bool,
    /// Print JSON (an array of listings) instead of a table.
    #[arg(long)]
    json: bool,
}

fn user_key(a: &Args) -> anyhow::Result<PublicKey> {
    if let Some(p) = &a.pubkey {
        return PublicKey::parse(p).context("--pubkey must be an npub or a 64-hex public key");
    }
    if let Some(s) = &a.secret_key {
        return Ok(Keys::parse(s)
            .context("--secret-key must be a 64-hex or nsec secret key")?
            .public_key());
    }
    bail!("say whose follow graph to use: --pubkey <npub> (or --secret-key / TOLLCAST_SECRET_KEY)")
}

pub async fn run(a: Args) -> anyhow::Result<()> {
    let user = user_key(&a)?;
    for r in &a.relays {
        if !(r.starts_with("ws://") || r.starts_with("wss://")) {
            bail!("--relay {r}: want a ws:// or wss:// URL");
        }
    }
    let pool =
        RelayPool::new(&a.relays, ClientOptions::default()).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut opts = Options::new(user);
    opts.depth = a.depth;
    opts.tags = a.tags.clone();
    opts.everyone = a.all;
    opts.limit = a.limit;
    opts.timeout = Duration::from_secs(a.timeout.max(1));
    opts.max_age = Duration::from_secs(a.max_age);
    if a.vod {
        let list = discover_recordings(&pool, &opts).await?;
        if a.json {
            println!("{}", serde_json::to_string_pretty(&list)?);
        } else {
            print_recordings(&list);
        }
        return Ok(());
    }
    let list = discover(&pool, &opts).await?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&list)?);
    } else {
        print_table(&list);
    }
    Ok(())
}

fn cut(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut o: String = s.chars().take(n.saturating_sub(1)).collect();
        o.push('…');
        o
    }
}

fn print_table(list: &[Listing]) {
    if list.is_empty() {
        println!("no live streams found (follow some creators, try --all or another --tag)");
        return;
    }
    println!(
        "{:<28} {:<16} {:>4} {:>7} {:>5} {:<20} NADDR",
        "TITLE", "HOST", "DIST", "VIEWERS", "CHAT", "TAGS"
    );
    for l in list {
        let dist = l.distance.map_or("-".to_string(), |d| d.to_string());
        println!(
            "{:<28} {:<16} {:>4} {:>7} {:>5} {:<20} {}",
            cut(l.title.as_deref().unwrap_or("(untitled)"), 28),
            cut(&l.host_npub, 16),
            dist,
            l.signals.viewers,
            l.signals.paid_chat,
            cut(&l.tags.join(","), 20),
            l.naddr
        );
    }
}

fn print_recordings(list: &[Recording]) {
    if list.is_empty() {
        println!("no recordings found (try --all or another --tag)");
        return;
    }
    println!(
        "{:<28} {:<16} {:>4} {:>8} {:<20} URL",
        "TITLE", "HOST", "DIST", "SECONDS", "TAGS"
    );
    for r in list {
        println!(
            "{:<28} {:<16} {:>4} {:>8} {:<20} {}",
            cut(&r.title, 28),
            cut(&r.host_npub, 16),
            r.distance.map_or("-".to_string(), |d| d.to_string()),
            r.duration.map_or("-".to_string(), |d| format!("{d:.1}")),
            cut(&r.tags.join(","), 20),
            r.url
        );
    }
}
