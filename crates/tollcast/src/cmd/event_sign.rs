//! `tollcast event sign|verify`: placeholder until the events crate lands.

#[derive(clap::Args)]
pub struct SignArgs {}

#[derive(clap::Args)]
pub struct VerifyArgs {}

pub fn sign(_a: SignArgs) -> anyhow::Result<()> {
    anyhow::bail!("not built yet")
}

pub fn verify(_a: VerifyArgs) -> anyhow::Result<()> {
    anyhow::bail!("not built yet")
}
