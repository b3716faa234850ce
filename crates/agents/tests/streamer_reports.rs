//! The streamer reacts to its verifier: a `tollcast stream`-style streamer (synthetic source,
//! a real Nostr relay) configured with `transcode.verifiers` receives a signed transcode
//! report about a transcoder and issues a replace request for it; a report signed by an
//! untrusted key about another transcoder changes nothing.

use std::time::Duration;

use tollcast_agents::streamer::Streamer;
use tollcast_agents::streamer::config::{SourceKind, StreamerConfig};
use tollcast_agents::verifier::compare::{Scores, Target};
use tollcast_agents::verifier::report::{Failure, TranscodeReport};
use tollcast_events::StreamAddress;
use tollcast_events::nostr::prelude::Keys;
use tollcast_net::nostr_relay::client::{ClientOptions, RelayClient};
use tollcast_net::nostr_relay::{NostrRelay, RelayConfig};

fn report(stream: &StreamAddress, transcoder: &Keys) -> TranscodeReport {
    TranscodeReport {
        transcoder: transcoder.public_key(),
        stream: stream.clone(),
        manifest: None,
        failure: Failure::WrongResolution,
        target: Target {
            name: "360p".into(),
            width: 640,
            height: 360,
            video_bps: 700_000,
        },
        msn: 3,
        source_segment: "a".repeat(64),
        rendition_segment: "b".repeat(64),
        rendition_init: "c".repeat(64),
        scores: Some(Scores {
            ssim: 0.98,
            psnr: 36.0,
            width: 426,
            height: 240,
        }),
        ssim_min: 0.92,
        psnr_min: 30.0,
        content: "rendition is 426x240, the job asked for 640x360".into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trusted_verifier_report_moves_the_job() {
    let dir = tempfile::tempdir().unwrap();
    let relay = NostrRelay::open(RelayConfig::default(), dir.path().join("r.redb")).unwrap();
    let (addr, _t) = relay.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let url = format!("ws://{addr}");
    let verifier = Keys::generate();
    let creator = Keys::generate();
    let mut cfg = StreamerConfig::default();
    cfg.stream.secret_key = Some(creator.secret_key().to_secret_hex());
    cfg.ingest.source = SourceKind::Synthetic;
    cfg.ingest.size = "320x180".into();
    cfg.origin.listen = "127.0.0.1:0".parse().unwrap();
    cfg.origin.store_dir = dir.path().join("chunks");
    cfg.nostr.relays = vec![url.clone()];
    cfg.wallet.enabled = false;
    cfg.transcode.verifiers = vec![verifier.public_key().to_hex()];
    let streamer = Streamer::start(cfg).await.unwrap();
    let mut moves = streamer.transcode().subscribe();
    let stream = StreamAddress::new(creator.public_key(), "live");

    let client = RelayClient::connect(&url, ClientOptions::default()).unwrap();
    let (cheater, other) = (Keys::generate(), Keys::generate());
    // Untrusted signer first: ignored.
    let fake = report(&stream, &other).sign(&Keys::generate()).unwrap();
    assert!(
        client
            .publish(&fake, Duration::from_secs(5))
            .await
            .unwrap()
            .accepted
    );
    let real = report(&stream, &cheater).sign(&verifier).unwrap();
    assert!(
        client
            .publish(&real, Duration::from_secs(5))
            .await
            .unwrap()
            .accepted
    );
    let req = tokio::time::timeout(Duration::from_secs(10), moves.recv())
        .await
        .expect("the streamer reacts")
        .unwrap();
    assert_eq!(req.transcoder, cheater.public_key());
    assert_eq!(req.report, Some(real.id));
    assert_eq!(streamer.transcode().excluded(), vec![cheater.public_key()]);
}
