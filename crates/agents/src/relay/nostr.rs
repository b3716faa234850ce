//! Following a stream's segment manifests on Nostr: subscribe to kind 31311 by the trusted
//! signers and feed every event to the relay's [`ManifestBook`]; forged or foreign manifests
//! are dropped there.

use std::sync::Arc;

use tollcast_events::manifest::KIND_SEGMENT_MANIFEST;
use tollcast_events::nostr::prelude::{Filter, Kind, PublicKey, Timestamp};
use tollcast_net::nostr_relay::client::{ClientError, RelayClient, SubItem};

use super::manifests::{Accepted, ManifestBook};

/// Subscribe on `client` to manifests of `book`'s stream signed by `signers` (plus the stream's
/// author), from `since` on; returns the task feeding them to `book`.
pub async fn follow_manifests(
    client: &RelayClient,
    book: Arc<ManifestBook>,
    signers: &[PublicKey],
    since: Option<Timestamp>,
) -> Result<tokio::task::JoinHandle<()>, ClientError> {
    let mut authors = signers.to_vec();
    authors.push(book.stream().pubkey);
    let mut filter = Filter::new()
        .kind(Kind::from(KIND_SEGMENT_MANIFEST))
        .authors(authors);
    if let Some(s) = since {
        filter = filter.since(s);
    }
    let mut sub = client.subscribe(vec![filter]).await?;
    Ok(tokio::spawn(async move {
        while let Some(item) = sub.recv().await {
            match item {
                SubItem::Event(ev) => match book.accept(&ev) {
                    Ok(Accepted::New { rendition, msn }) => {
                        tracing::debug!("manifest {rendition}/{msn} accepted")
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
