//! Following a stream's manifests on Nostr: subscribe to segment manifests (kind 31311) and
//! live part manifests (kind 21311, ephemeral) by the trusted signers and feed every event to
//! the relay's [`ManifestBook`]; forged or foreign manifests are dropped there.

use std::sync::Arc;

use tollcast_events::manifest::KIND_SEGMENT_MANIFEST;
use tollcast_events::nostr::prelude::{Filter, Kind, PublicKey, Timestamp};
use tollcast_events::part_manifest::KIND_PART_MANIFEST;
use tollcast_net::nostr_relay::client::{ClientError, RelayClient, SubItem};

use super::manifests::{Accepted, ManifestBook};

/// The filters for `authors`' manifests: segment manifests from `since` on (stored, so a
/// late subscriber gets the recent ones), live part manifests (ephemeral: relays keep none; the
/// `since` of 10 s ago only tolerates a producer clock a little behind ours).
pub fn manifest_filters(authors: Vec<PublicKey>, since: Option<Timestamp>) -> Vec<Filter> {
    let mut segments = Filter::new()
        .kind(Kind::from(KIND_SEGMENT_MANIFEST))
        .authors(authors.clone());
    if let Some(s) = since {
        segments = segments.since(s);
    }
    let parts = Filter::new()
        .kind(Kind::from(KIND_PART_MANIFEST))
        .authors(authors)
        .since(Timestamp::from_secs(
            Timestamp::now().as_secs().saturating_sub(10),
        ));
    vec![segments, parts]
}

/// Subscribe on `client` to manifests (segment and part) of `book`'s stream signed by
/// `signers` (plus the stream's author), segment manifests from `since` on; returns the task
/// feeding them to `book`.
pub async fn follow_manifests(
    client: &RelayClient,
    book: Arc<ManifestBook>,
    signers: &[PublicKey],
    since: Option<Timestamp>,
) -> Result<tokio::task::JoinHandle<()>, ClientError> {
    let mut authors = signers.to_vec();
    authors.push(book.stream().pubkey);
    let mut sub = client.subscribe(manifest_filters(authors, since)).await?;
    Ok(tokio::spawn(async move {
        while let Some(item) = sub.recv().await {
            match item {
                SubItem::Event(ev) => match book.accept(&ev) {
                    Ok(Accepted::New(l)) => {
                        tracing::debug!("manifest {}/{} accepted", l.rendition(), l.msn())
                    }
                    Ok(Accepted::Duplicate) => {}
                    Err(e) => tracing::warn!("manifest {} dropped: {e}", ev.id),
                },
                SubItem::Eose => {}
                SubItem::Closed(why) => {
                    tracing::warn!("manifest subscription closed by the relay: {why}");
                    break;
                }
            }
        }
    }))
}
