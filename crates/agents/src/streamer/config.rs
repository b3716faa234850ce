//! `streamer.toml`: everything `tollcast stream` needs to go live, with documented defaults.
//! Unknown keys are refused (a typo must not silently fall back to a default).
//! `examples/streamer.toml` shows every key with its default.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;
use tollcast_events::Price;
use tollcast_media::cutter::CutterConfig;
use tollcast_media::ingest::Source;
use tollcast_media::ingest::synthetic::SyntheticOptions;

use super::StreamerError;

/// The whole streamer config.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StreamerConfig {
    /// `[stream]`: identity and announcement.
    pub stream: StreamSection,
    /// `[ingest]`: where the picture comes from.
    pub ingest: IngestSection,
    /// `[origin]`: the LL-HLS origin and its chunk store.
    pub origin: OriginSection,
    /// `[nostr]`: relays carrying the announcement and manifests.
    pub nostr: NostrSection,
    /// `[pricing]`: what viewers pay and who shares it.
    pub pricing: PricingSection,
    /// `[wallet]`: the creator's ILP node receiving the earnings.
    pub wallet: WalletSection,
    /// `[obs]`: the encoder settings printed for OBS.
    pub obs: ObsSection,
    /// `[transcode]`: an optional paid NIP-90 ladder.
    pub transcode: TranscodeSection,
    /// `[[hire]]`: services paid per stream-hour from the wallet (e.g. a moderator).
    pub hire: Vec<super::hire::HireSection>,
}

/// `[stream]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StreamSection {
    /// `d` tag of the kind-30311 live event (default `live`).
    pub id: String,
    pub title: Option<String>,
    pub summary: Option<String>,
    /// Preview image URL.
    pub image: Option<String>,
    /// Hashtags (`t` tags).
    pub tags: Vec<String>,
    /// The creator's secret key (hex or nsec). Unset: read from `key_file`.
    pub secret_key: Option<String>,
    /// Key file (hex secret), created with a fresh key on first start so the stream keeps
    /// its address (naddr) across restarts (default `tollcast-streamer.key`).
    pub key_file: PathBuf,
    /// Seconds between status lines on stdout (default 5).
    pub status_every: u64,
}

impl Default for StreamSection {
    fn default() -> Self {
        Self {
            id: "live".into(),
            title: None,
            summary: None,
            image: None,
            tags: Vec::new(),
            secret_key: None,
            key_file: PathBuf::from("tollcast-streamer.key"),
            status_every: 5,
        }
    }
}

/// Which ingest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    /// RTMP listener (OBS's default).
    #[default]
    Rtmp,
    /// SRT listener.
    Srt,
    /// ffmpeg test pattern + tone with the wall clock burned in.
    Synthetic,
}

/// `[ingest]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IngestSection {
    /// `rtmp` (default), `srt` or `synthetic`.
    pub source: SourceKind,
    /// RTMP listen address (default 127.0.0.1:1935; port 0 picks a free one).
    pub rtmp_listen: SocketAddr,
    /// RTMP application name: OBS's server URL is `rtmp://<rtmp_listen>/<app>` (default `live`).
    pub app: String,
    /// The stream key OBS must present. Empty (default): a random key each start.
    pub stream_key: String,
    /// SRT listen address (default 127.0.0.1:9000).
    pub srt_listen: SocketAddr,
    /// SRT passphrase (10-79 characters) or none.
    pub srt_passphrase: Option<String>,
    /// Synthetic source: `WIDTHxHEIGHT` (default 640x360), frame rate, video kbit/s.
    pub size: String,
    pub fps: u32,
    pub video_kbps: u32,
    /// Synthetic source: stop after this many seconds (default: run until stopped).
    pub duration: Option<f64>,
    /// Encoder disconnect ends the stream (EXT-X-ENDLIST, status ended) instead of pausing it.
    pub end_on_disconnect: bool,
}

impl Default for IngestSection {
    fn default() -> Self {
        Self {
            source: SourceKind::Rtmp,
            rtmp_listen: SocketAddr::from(([127, 0, 0, 1], 1935)),
            app: "live".into(),
            stream_key: String::new(),
            srt_listen: SocketAddr::from(([127, 0, 0, 1], 9000)),
            srt_passphrase: None,
            size: "640x360".into(),
            fps: 30,
            video_kbps: 800,
            duration: None,
            end_on_disconnect: false,
        }
    }
}

/// `[origin]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OriginSection {
    /// HTTP listen address of the LL-HLS origin (default 127.0.0.1:8080).
    pub listen: SocketAddr,
    /// Public base URL announced in `streaming` (default `http://<listen>`).
    pub public_url: Option<String>,
    /// Chunk store directory (default `tollcast-chunks`) and its bound in MiB (default 1024).
    pub store_dir: PathBuf,
    pub store_mib: u64,
    /// LL-HLS part target, s (0.1-1.0, default 0.2).
    pub part_target: f64,
    /// Segment target, s (1-6 and at least twice the part target, default 1.0).
    pub segment_target: f64,
    /// Segments kept in the media playlist (default 12).
    pub window: usize,
}

impl Default for OriginSection {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_url: None,
            store_dir: PathBuf::from("tollcast-chunks"),
            store_mib: 1024,
            part_target: 0.2,
            segment_target: 1.0,
            window: 12,
        }
    }
}

/// `[nostr]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NostrSection {
    /// Relays (ws://) for the announcement, manifests and offers. Empty (default): the
    /// wallet node's own relay when the wallet is on.
    pub relays: Vec<String>,
    /// Seconds between re-publications of the live event (default 60); viewer count changes
    /// are published at once (at most every 2 s).
    pub announce_every: u64,
}

impl Default for NostrSection {
    fn default() -> Self {
        Self {
            relays: Vec::new(),
            announce_every: 60,
        }
    }
}

/// `[pricing]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PricingSection {
    /// Price per watched minute, `AMOUNT:ASSET:SCALE` in base units (e.g. `1000:USD:6`).
    pub price_per_minute: Option<String>,
    /// Price of one chat message (kind 1311) in base units of the stream's asset; unset: the
    /// relay's ordinary per-byte price.
    pub chat_price: Option<u64>,
    /// Slow mode: at most one chat message per author per this many seconds (0: off).
    pub slow_mode: u64,
    /// Only subscribers (viewers with a tip receipt) may chat.
    pub subscribers_only: bool,
    /// Weight of the creator's own revenue share, paid to the wallet's SPSP endpoint
    /// (default 100; 0 leaves the creator out of the split).
    pub creator_weight: u32,
    /// Other revenue shares announced on the live event (`[[pricing.split]]`).
    pub split: Vec<SplitEntry>,
}

impl Default for PricingSection {
    fn default() -> Self {
        Self {
            price_per_minute: None,
            chat_price: None,
            slow_mode: 0,
            subscribers_only: false,
            creator_weight: 100,
            split: Vec::new(),
        }
    }
}

/// One revenue share (a `split` tag, see `tollcast_events::split`): `weight` parts of what
/// viewers pay the relays, after the relays' own margins, relative to the sum of all weights.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SplitEntry {
    /// `creator`, `transcoder`, `relay` or `upstream`.
    pub role: String,
    /// SPSP URL (`http(s)://…`) or payment pointer (`$host/path`).
    pub pay_to: String,
    pub weight: u32,
    /// The payee's Nostr key (hex or npub), shown and audited.
    #[serde(default)]
    pub pubkey: Option<String>,
}

impl SplitEntry {
    /// As a split share (checked).
    pub fn share(&self) -> Result<tollcast_events::split::SplitShare, StreamerError> {
        let mut t = vec![
            "split".to_string(),
            self.role.clone(),
            self.pay_to.clone(),
            self.weight.to_string(),
        ];
        if let Some(pk) = &self.pubkey {
            let pk = tollcast_events::nostr::prelude::PublicKey::parse(pk).map_err(|_| {
                StreamerError::Config(format!(
                    "pricing.split pubkey `{pk}` is not a hex or npub public key"
                ))
            })?;
            t.push(pk.to_hex());
        }
        tollcast_events::split::SplitShare::from_tag(&t)
            .map_err(|e| StreamerError::Config(format!("pricing.split: {e}")))
    }
}

/// `[wallet]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WalletSection {
    /// Run the creator's ILP node (default true).
    pub enabled: bool,
    /// A full node TOML (see examples/node-*.toml: peers, routes...). Unset: a standalone
    /// node from the keys below.
    pub node_config: Option<PathBuf>,
    /// Node name (address `g.tollcast.<name>`), default `creator`.
    pub name: String,
    /// Durable ledger file (default `tollcast-creator.redb`).
    pub ledger: PathBuf,
    /// Node listen address (BTP, /nostr, /.well-known/pay, /metrics), default 127.0.0.1:0.
    pub listen: SocketAddr,
    /// Asset of the earnings (default USD, scale 6).
    pub asset_code: String,
    pub asset_scale: u8,
}

impl Default for WalletSection {
    fn default() -> Self {
        Self {
            enabled: true,
            node_config: None,
            name: "creator".into(),
            ledger: PathBuf::from("tollcast-creator.redb"),
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            asset_code: "USD".into(),
            asset_scale: 6,
        }
    }
}

/// `[obs]`: what the printed OBS settings recommend.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ObsSection {
    /// Output resolution (default 1280x720) and frame rate (default 30).
    pub resolution: String,
    pub fps: u32,
    /// Video bitrate kbit/s, CBR (default 2500).
    pub video_kbps: u32,
    /// Audio bitrate kbit/s, AAC 48 kHz (default 160).
    pub audio_kbps: u32,
}

impl Default for ObsSection {
    fn default() -> Self {
        Self {
            resolution: "1280x720".into(),
            fps: 30,
            video_kbps: 2500,
            audio_kbps: 160,
        }
    }
}

/// `[transcode]`: ask transcoders (NIP-90 kind 5200) for an ABR ladder.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TranscodeSection {
    /// Publish a job request when live (default false).
    pub enabled: bool,
    /// Ladder `name:WIDTHxHEIGHT:kbps`, default 720p/480p/360p.
    pub ladder: Vec<String>,
    /// Offered price per transcoded minute, `AMOUNT:ASSET:SCALE` (default 1000:USD:6).
    pub bid_per_minute: Option<String>,
    /// Highest price per minute accepted, base units (default: 4x the bid).
    pub max_price_per_minute: Option<u64>,
    /// The wallet node's account the transcoder is paid from (needs wallet.node_config with
    /// that account and a route to transcoders; default `streamer`).
    pub pay_from: String,
    /// How long offers are collected, ms (default 3000).
    pub offer_window_ms: u64,
    /// Verifiers (hex or npub) whose kind-1984 reports move the job to another transcoder.
    pub verifiers: Vec<String>,
}

impl Default for TranscodeSection {
    fn default() -> Self {
        Self {
            enabled: false,
            ladder: vec![
                "720p:1280x720:2500".into(),
                "480p:854x480:1200".into(),
                "360p:640x360:700".into(),
            ],
            bid_per_minute: None,
            max_price_per_minute: None,
            pay_from: "streamer".into(),
            offer_window_ms: 3000,
            verifiers: Vec::new(),
        }
    }
}

/// Parse `AMOUNT:ASSET:SCALE` into a [`Price`].
pub fn parse_price(s: &str) -> Result<Price, StreamerError> {
    let bad = || {
        StreamerError::Config(format!(
            "price must be AMOUNT:ASSET:SCALE in base units, e.g. 1000:USD:6 (got `{s}`)"
        ))
    };
    let mut it = s.split(':');
    let (Some(a), Some(c), Some(sc), None) = (it.next(), it.next(), it.next(), it.next()) else {
        return Err(bad());
    };
    let amount: u64 = a.parse().map_err(|_| bad())?;
    let scale: u8 = sc.parse().ok().filter(|s| *s <= 18).ok_or_else(bad)?;
    if c.is_empty() || c.len() > 16 || !c.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(bad());
    }
    Ok(Price::new(amount, c, scale))
}

/// Parse `WIDTHxHEIGHT` (even numbers, 16..=3840 x 16..=2160).
pub fn parse_size(s: &str) -> Result<(u32, u32), StreamerError> {
    s.split_once('x')
        .and_then(|(w, h)| Some((w.parse::<u32>().ok()?, h.parse::<u32>().ok()?)))
        .filter(|(w, h)| {
            (16..=3840).contains(w) && (16..=2160).contains(h) && w % 2 == 0 && h % 2 == 0
        })
        .ok_or_else(|| {
            StreamerError::Config(format!(
                "size `{s}` must be WIDTHxHEIGHT with even numbers, e.g. 640x360"
            ))
        })
}

/// 10 random bytes as hex: a stream key nobody guesses.
fn random_key() -> String {
    hex::encode(rand::random::<[u8; 10]>())
}

impl StreamerConfig {
    /// Parse TOML text.
    pub fn from_toml(text: &str) -> Result<Self, StreamerError> {
        let cfg: Self = toml::from_str(text)
            .map_err(|e| StreamerError::Config(format!("streamer config: {e}")))?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Read and parse a TOML file.
    pub fn load(path: &std::path::Path) -> Result<Self, StreamerError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| StreamerError::Config(format!("cannot read {}: {e}", path.display())))?;
        Self::from_toml(&text)
            .map_err(|e| StreamerError::Config(format!("{}: {e}", path.display())))
    }

    /// Check ranges and formats; called by [`Self::from_toml`] and by `Streamer::start`.
    pub fn validate(&self) -> Result<(), StreamerError> {
        let bad = |m: &str| Err(StreamerError::Config(m.to_string()));
        let o = &self.origin;
        if !(0.1..=1.0).contains(&o.part_target) {
            return bad("origin.part_target must be between 0.1 and 1.0 seconds");
        }
        if !(1.0..=6.0).contains(&o.segment_target) || o.segment_target < 2.0 * o.part_target {
            return bad(
                "origin.segment_target must be 1 to 6 seconds and at least twice part_target",
            );
        }
        if o.window < 3 {
            return bad("origin.window must be at least 3 segments");
        }
        if self.stream.id.is_empty() {
            return bad("stream.id must not be empty");
        }
        let k = &self.ingest.stream_key;
        if k.contains('/') || k.contains(char::is_whitespace) {
            return bad("ingest.stream_key must not contain `/` or spaces");
        }
        if self.ingest.app.is_empty() || self.ingest.app.contains('/') {
            return bad("ingest.app must be one non-empty path part, e.g. `live`");
        }
        parse_size(&self.ingest.size)?;
        parse_size(&self.obs.resolution)?;
        if !(1..=120).contains(&self.ingest.fps) || !(1..=120).contains(&self.obs.fps) {
            return bad("frame rates must be 1 to 120");
        }
        if let Some(p) = &self.ingest.srt_passphrase
            && !(10..=79).contains(&p.len())
        {
            return bad("ingest.srt_passphrase must be 10 to 79 characters");
        }
        if let Some(d) = self.ingest.duration
            && (d.is_nan() || d <= 0.0)
        {
            return bad("ingest.duration must be a positive number of seconds");
        }
        if let Some(p) = &self.pricing.price_per_minute {
            parse_price(p)?;
        }
        if let Some(p) = &self.transcode.bid_per_minute {
            parse_price(p)?;
        }
        for v in &self.transcode.verifiers {
            tollcast_events::nostr::prelude::PublicKey::parse(v).map_err(|_| {
                StreamerError::Config(format!(
                    "transcode.verifiers: `{v}` is not a hex or npub public key"
                ))
            })?;
        }
        for r in &self.transcode.ladder {
            crate::verifier::parse_rung(r)
                .map_err(|e| StreamerError::Config(format!("transcode.ladder: {e}")))?;
        }
        for s in &self.pricing.split {
            s.share()?;
        }
        if self.pricing.split.len() + 1 > tollcast_events::split::MAX_SPLITS {
            return bad("too many pricing.split entries (at most 15 besides the creator)");
        }
        for r in &self.nostr.relays {
            if !(r.starts_with("ws://") || r.starts_with("wss://")) {
                return Err(StreamerError::Config(format!(
                    "nostr.relays: `{r}` is not a ws:// or wss:// URL"
                )));
            }
        }
        Ok(())
    }

    /// The stream key: the configured one, else a fresh random one.
    pub fn effective_stream_key(&self) -> String {
        if self.ingest.stream_key.is_empty() {
            random_key()
        } else {
            self.ingest.stream_key.clone()
        }
    }

    /// The media source (`key` is the effective stream key).
    pub fn source(&self, key: &str) -> Result<Source, StreamerError> {
        let i = &self.ingest;
        Ok(match i.source {
            SourceKind::Rtmp => Source::Rtmp {
                listen: i.rtmp_listen,
                app: i.app.clone(),
                key: key.to_string(),
            },
            SourceKind::Srt => Source::Srt {
                listen: i.srt_listen,
                passphrase: i.srt_passphrase.clone(),
            },
            SourceKind::Synthetic => {
                let (width, height) = parse_size(&i.size)?;
                Source::Synthetic(SyntheticOptions {
                    width,
                    height,
                    fps: i.fps,
                    video_kbps: i.video_kbps,
                    duration: i.duration,
                })
            }
        })
    }

    /// Part/segment targets for the cutter.
    pub fn cutter(&self) -> CutterConfig {
        CutterConfig {
            part_target: self.origin.part_target,
            segment_target: self.origin.segment_target,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_typos() {
        let c = StreamerConfig::from_toml("").unwrap();
        assert_eq!(c.ingest.source, SourceKind::Rtmp);
        assert_eq!(c.ingest.rtmp_listen.port(), 1935);
        assert_eq!(c.origin.part_target, 0.2);
        assert!(c.wallet.enabled);
        let e = StreamerConfig::from_toml("[ingest]\nsorce = \"rtmp\"\n").unwrap_err();
        assert!(e.to_string().contains("sorce"), "{e}");
        assert!(StreamerConfig::from_toml("[origin]\npart_target = 3.0\n").is_err());
        assert!(StreamerConfig::from_toml("[pricing]\nprice_per_minute = \"1:USD\"\n").is_err());
        assert!(StreamerConfig::from_toml("[ingest]\nstream_key = \"a/b\"\n").is_err());
        let k = c.effective_stream_key();
        assert_eq!(k.len(), 20);
        assert_ne!(k, c.effective_stream_key());
    }

    #[test]
    fn example_file_parses() {
        let p = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/streamer.toml");
        let c = StreamerConfig::load(std::path::Path::new(p)).unwrap();
        assert_eq!(c.stream.id, "live");
    }
}
