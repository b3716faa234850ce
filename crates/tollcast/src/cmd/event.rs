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
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    match args.command {
        EventCommand::Sign(a) => super::event_sign::sign(a),
        EventCommand::Verify(a) => super::event_sign::verify(a),
    }
}
