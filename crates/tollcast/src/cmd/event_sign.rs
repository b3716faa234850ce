//! `tollcast event sign|verify`: offline signing of event templates and verification of
//! signed events (NIP-01 id + BIP-340 signature), in JSON or TOON.

use std::io::Read;

use anyhow::{Context, bail};
use nostr::prelude::{Event, EventBuilder, FinalizeEvent, Keys, Kind, Tag, Timestamp};
use serde::Deserialize;

#[derive(clap::Args)]
pub struct SignArgs {
    /// Secret key as nsec (NIP-19) or 64 hex characters. Prefer the environment variable so
    /// the key stays out of shell history and process lists.
    #[arg(long, env = "TOLLCAST_NSEC", hide_env_values = true)]
    key: String,
    /// Write the signed event as TOON (the ILP wire form) instead of JSON.
    #[arg(long)]
    toon: bool,
}

#[derive(clap::Args)]
pub struct VerifyArgs {}

/// What `event sign` reads: `{"kind": n, "content": "…", "tags": [[…]], "created_at": n?}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Template {
    kind: u16,
    #[serde(default)]
    content: String,
    #[serde(default)]
    tags: Vec<Vec<String>>,
    created_at: Option<u64>,
}

fn read_stdin() -> anyhow::Result<String> {
    let mut s = String::new();
    std::io::stdin()
        .read_to_string(&mut s)
        .context("stdin is not UTF-8 text")?;
    Ok(s)
}

/// Sign the JSON template on stdin; print the signed event.
pub fn sign(a: SignArgs) -> anyhow::Result<()> {
    let keys = Keys::parse(a.key.trim()).map_err(|e| {
        anyhow::anyhow!("--key/TOLLCAST_NSEC is not an nsec or 64-hex secret key: {e}")
    })?;
    let t: Template = serde_json::from_str(&read_stdin()?).context(
        "stdin must be a JSON event template {\"kind\": <0-65535>, \"content\": \"...\", \"tags\": [[\"name\", ...]], \"created_at\": <unix s, optional>}",
    )?;
    let mut tags = Vec::with_capacity(t.tags.len());
    for (i, v) in t.tags.into_iter().enumerate() {
        tags.push(
            Tag::parse(v)
                .map_err(|_| anyhow::anyhow!("tag #{i} is empty: a tag needs at least a name"))?,
        );
    }
    let mut b = EventBuilder::new(Kind::from(t.kind), t.content).tags(tags);
    if let Some(ts) = t.created_at {
        b = b.custom_created_at(Timestamp::from_secs(ts));
    }
    let ev = b.finalize(&keys).context("signing failed")?;
    if a.toon {
        println!("{}", tollcast_events::to_toon(&ev));
    } else {
        println!("{}", ev.as_json());
    }
    Ok(())
}

/// Verify the signed event (JSON or TOON) on stdin; print `valid <id>` or fail with the reason.
pub fn verify(_a: VerifyArgs) -> anyhow::Result<()> {
    let input = read_stdin()?;
    let trimmed = input.trim_start();
    let ev: Event = if trimmed.starts_with('{') {
        Event::from_json(trimmed.trim_end()).context("invalid: not a Nostr event in JSON")?
    } else {
        tollcast_events::toon::from_toon_unverified(&input)
            .context("invalid: not a Nostr event in TOON")?
    };
    if !ev.verify_id() {
        bail!(
            "invalid: id {} is not the NIP-01 hash of the event (content, tags, kind, created_at or pubkey changed)",
            ev.id.to_hex()
        );
    }
    if !ev.verify_signature() {
        bail!(
            "invalid: signature does not verify for pubkey {} (BIP-340)",
            ev.pubkey.to_hex()
        );
    }
    println!("valid {}", ev.id.to_hex());
    Ok(())
}
