//! The stream's NIP-53 announcement (kind 30311): published when live, re-published
//! periodically and whenever the viewer count changes (`current_participants`), and a final
//! `ended` version. Shared by `tollcast stream` and `tollcast origin`.

use std::time::Duration;

use tollcast_events::live::{LiveEvent as Announcement, LiveStatus};
use tollcast_events::nostr::prelude::{Event, FinalizeEvent, Keys, Tag, Timestamp};
use tollcast_net::nostr_relay::client::RelayClient;

/// Keeps the stream's NIP-53 announcement current on a set of relays.
pub struct Announcer {
    keys: Keys,
    base: Announcement,
    /// tollcast tags appended after the NIP-53 ones (`price`, `spsp`, `split`, chat price...).
    extra: Vec<Vec<String>>,
    clients: Vec<RelayClient>,
    /// created_at of the last signed version: a replacement must be strictly newer.
    last: u64,
    /// Last version published (for tests and status).
    last_event: Option<Event>,
}

impl Announcer {
    /// `base` is the live version (status live, starts set); `extra` tags are appended.
    pub fn new(
        keys: Keys,
        base: Announcement,
        extra: Vec<Vec<String>>,
        clients: Vec<RelayClient>,
    ) -> Self {
        Self {
            keys,
            base,
            extra,
            clients,
            last: 0,
            last_event: None,
        }
    }

    /// The announcement as it is now.
    pub fn current(&self) -> &Announcement {
        &self.base
    }

    /// The last signed version.
    pub fn last_event(&self) -> Option<&Event> {
        self.last_event.as_ref()
    }

    /// Set `current_participants` (and raise `total_participants` to at least it); true when
    /// the count changed (the caller re-publishes).
    pub fn set_viewers(&mut self, n: u64) -> bool {
        let changed = self.base.current_participants != Some(n);
        self.base.current_participants = Some(n);
        let total = self.base.total_participants.unwrap_or(0).max(n);
        self.base.total_participants = Some(total);
        changed
    }

    /// Add a `streaming` URL (e.g. a relay's playlist) if not present.
    pub fn add_streaming(&mut self, url: &str) {
        if !self.base.streaming.iter().any(|u| u == url) {
            self.base.streaming.push(url.to_string());
        }
    }

    fn sign(&mut self, a: &Announcement) -> Result<Event, String> {
        let now = Timestamp::now().as_secs().max(self.last + 1);
        self.last = now;
        let mut b = a.to_builder().map_err(|e| e.to_string())?;
        for t in &self.extra {
            b = b.tag(Tag::parse(t.clone()).map_err(|e| e.to_string())?);
        }
        b.custom_created_at(Timestamp::from_secs(now))
            .finalize(&self.keys)
            .map_err(|e| e.to_string())
    }

    /// Sign `a` and publish it to every relay (concurrently, 5 s each), reporting failures on
    /// stderr; returns how many relays accepted it.
    pub async fn publish(&mut self, a: &Announcement) -> usize {
        let ev = match self.sign(a) {
            Ok(ev) => ev,
            Err(e) => {
                eprintln!("announcement not signed: {e}");
                return 0;
            }
        };
        self.last_event = Some(ev.clone());
        let sends: Vec<_> = self
            .clients
            .iter()
            .map(|c| {
                let (c, ev) = (c.clone(), ev.clone());
                tokio::spawn(async move {
                    match c.publish(&ev, Duration::from_secs(5)).await {
                        Ok(ack) if ack.accepted => true,
                        Ok(ack) => {
                            eprintln!("relay {} refused announcement: {}", c.url(), ack.message);
                            false
                        }
                        Err(e) => {
                            eprintln!("relay {}: announcement not published: {e}", c.url());
                            false
                        }
                    }
                })
            })
            .collect();
        let mut ok = 0;
        for s in sends {
            if matches!(s.await, Ok(true)) {
                ok += 1;
            }
        }
        ok
    }

    /// Publish the live version.
    pub async fn live(&mut self) -> usize {
        let a = self.base.clone();
        self.publish(&a).await
    }

    /// Publish the ended version (status ended, `ends` now, no viewers).
    pub async fn ended(&mut self) -> usize {
        let mut a = self.base.clone();
        a.status = Some(LiveStatus::Ended);
        a.ends = Some(Timestamp::now().as_secs());
        if a.current_participants.is_some() {
            a.current_participants = Some(0);
        }
        self.publish(&a).await
    }
}
