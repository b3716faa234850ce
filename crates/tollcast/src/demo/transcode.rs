//! The demo's transcoder: a `tollcast transcode` child with its own node under the hub, and
//! the paid NIP-90 job the streamer places with it. The job client runs in this process on the
//! streamer's wallet (an in-process node under the hub with a credit line): it publishes the
//! kind-5200 request signed with the stream's key, accepts the offer and pays the transcoder
//! one billing unit at a time as its signed rung manifests show delivered media. The job's
//! origin (source mirrored + the ladder) becomes relay-a's upstream.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use nostr::prelude::Keys;
use tollcast_agents::transcoder::job_client::{ActiveJob, JobClient, JobClientConfig};
use tollcast_events::{Price, StreamAddress};
use tollcast_media::ladder::Rung;
use tollcast_net::connector::{AccountId, Node, NodeConfig};

use super::child::{Agent, write_file};
use super::topology::{self, ASSET_CODE, ASSET_SCALE, Member};
use super::{Options, s, start};

/// Price per transcoded minute of source (micro-USD).
pub const PRICE_PER_MINUTE: u64 = 1_200;
/// Seconds of media per payment: short, so a 30 s demo shows several payments.
const UNIT_SECS: f64 = 4.0;
/// Seconds the transcoder works ahead of payment.
const CREDIT_SECS: f64 = 8.0;

/// A running, paid transcoding job.
pub struct Transcoding {
    /// The streamer's wallet node (pays the job).
    pub wallet: Node,
    pub job: ActiveJob,
    /// The transcoder agent's HTTP base and its ILP node's (ledger at `/accounts`).
    pub http: String,
    pub node_url: String,
    pub pubkey: String,
}

impl Transcoding {
    /// Base URL of the job's LL-HLS origin (`{origin}/live/master.m3u8`).
    pub fn origin(&self) -> &str {
        &self.job.result.origin
    }
}

/// The ladder asked for: two rungs under the 640x360 source, cheap on CPU.
fn rungs() -> Vec<Rung> {
    vec![
        Rung::new("240p", 426, 240, 400_000),
        Rung::new("144p", 256, 144, 150_000),
    ]
}

/// Starts the transcoder child (`me` is its account at the hub), then the streamer's wallet
/// node (`payer`) and places the job with it (`keys`: the transcoder's, named in the stream's
/// announcement); returns once the result names the job's origin.
#[allow(clippy::too_many_arguments)]
pub async fn place(
    agents: &mut Vec<Agent>,
    o: &Options,
    dir: &Path,
    me: &Member,
    payer: &Member,
    hub_port: u16,
    nostr_url: &str,
    origin_url: &str,
    stream: &StreamAddress,
    streamer_keys: &Keys,
    keys: &Keys,
) -> anyhow::Result<Transcoding> {
    let node_cfg = write_file(
        dir,
        &format!("{}.toml", me.id),
        &topology::member_toml(dir, me, hub_port, false),
    )?;
    let i = start(
        agents,
        o,
        dir,
        &me.id,
        vec![
            s("transcode"),
            s("--nostr"),
            s(nostr_url),
            s("--listen"),
            s("127.0.0.1:0"),
            s("--node-config"),
            node_cfg.display().to_string(),
            s("--price-per-minute"),
            PRICE_PER_MINUTE.to_string(),
            s("--asset-code"),
            s(ASSET_CODE),
            s("--asset-scale"),
            ASSET_SCALE.to_string(),
            s("--unit-secs"),
            UNIT_SECS.to_string(),
            s("--credit-secs"),
            CREDIT_SECS.to_string(),
            s("--preset"),
            s("ultrafast"),
            s("--store-dir"),
            dir.join("transcoder-chunks").display().to_string(),
        ],
        vec!["ready: "],
        vec![(s("TOLLCAST_SECRET_KEY"), keys.secret_key().to_secret_hex())],
    )
    .await?;
    let (http, node_url) = {
        let out = agents[i].out.lock().unwrap_or_else(|e| e.into_inner());
        let r = out
            .ready
            .as_ref()
            .context("the transcoder printed no ready line")?;
        (
            r["http"]
                .as_str()
                .context("transcoder's ready line has no http")?
                .to_string(),
            r["node_http"]
                .as_str()
                .context("transcoder's ready line has no node_http")?
                .to_string(),
        )
    };

    let cfg = NodeConfig::from_toml(
        &topology::member_toml(dir, payer, hub_port, false),
        &payer.id,
    )
    .map_err(|e| anyhow::anyhow!("wallet config of {}: {e}", payer.id))?;
    let wallet = Node::start(cfg)
        .await
        .map_err(|e| anyhow::anyhow!("wallet node of {}: {e}", payer.id))?;
    anyhow::ensure!(
        wallet
            .connector
            .wait_connected(&AccountId::new("hub"), Duration::from_secs(15))
            .await,
        "the streamer's wallet could not connect to the hub"
    );
    let jc = JobClient::new(
        JobClientConfig {
            stream: stream.clone(),
            source_url: origin_url.to_string(),
            rungs: rungs(),
            bid_per_minute: Price::new(PRICE_PER_MINUTE, ASSET_CODE, ASSET_SCALE),
            max_price_per_minute: PRICE_PER_MINUTE * 5,
            part_target: 0.2,
            segment_target: 1.0,
            offer_window: Duration::from_millis(1500),
            result_timeout: Duration::from_secs(40),
        },
        streamer_keys.clone(),
        &[nostr_url.to_string()],
        wallet.connector.sender(AccountId::local()),
        AccountId::local(),
    )
    .map_err(|e| anyhow::anyhow!("job client: {e}"))?;
    let job = jc
        .start()
        .await
        .map_err(|e| anyhow::anyhow!("placing the transcoding job: {e}"))?;
    Ok(Transcoding {
        wallet,
        pubkey: job.result.signer.clone(),
        job,
        http,
        node_url,
    })
}
