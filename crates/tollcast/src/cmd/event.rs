//! `tollcast event`: sign/verify (offline) and publish/req (against relays).

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: EventCommand,
}

#[derive(clap::Subcommand)]
enum EventCommand {
    /// Sign a JSON event template read from stdin; prints the signed event.
    Sign(super::event_sign::SignArgs),
    /// Verify a signed JSON event read from stdin (id and signature); exit 1 if invalid.
    Verify(super::event_sign::VerifyArgs),
    /// Publish a signed event to relays (WebSocket URLs, or ILP addresses as a paid write).
    Publish(super::event_relay::PublishArgs),
    /// Query relays with a NIP-01 filter; prints events as JSON lines (like `nak req`).
    Req(super::event_relay::ReqArgs),
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    match args.command {
        EventCommand::Sign(a) => super::event_sign::sign(a),
        EventCommand::Verify(a) => super::event_sign::verify(a),
        EventCommand::Publish(a) => super::event_relay::publish(a).await,
        EventCommand::Req(a) => super::event_relay::req(a).await,
    }
}
