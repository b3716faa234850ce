//! `tollcast balance`: show a running node's accounts and balances (from its /accounts).

use anyhow::Context;
use tollcast_net::connector::AccountsView;

#[derive(clap::Args)]
#[command(
    long_about = "Show the accounts of a running node: asset, balance (what the node owes \
the peer; negative means the peer owes the node), pending amounts, credit limit and whether the \
BTP link is up. Amounts are shown in base units and in whole asset units."
)]
pub struct Args {
    /// The node's HTTP address, e.g. http://127.0.0.1:7768.
    #[arg(long, default_value = "http://127.0.0.1:7768")]
    pub node: String,
    /// Print the raw JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Formats base units at `scale` as a decimal string (exact).
pub fn units(amount: i128, scale: u8) -> String {
    let neg = amount < 0;
    let digits = amount.unsigned_abs().to_string();
    let s = scale as usize;
    let body = if s == 0 {
        digits
    } else if digits.len() > s {
        format!(
            "{}.{}",
            &digits[..digits.len() - s],
            &digits[digits.len() - s..]
        )
    } else {
        format!("0.{}{}", "0".repeat(s - digits.len()), digits)
    };
    if neg { format!("-{body}") } else { body }
}

async fn fetch(url: &str) -> anyhow::Result<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rest = url
        .strip_prefix("http://")
        .with_context(|| format!("--node {url:?} must look like http://127.0.0.1:7768"))?;
    let hostport = rest.split('/').next().unwrap_or_default();
    anyhow::ensure!(!hostport.is_empty(), "--node {url:?} has no host");
    let hostport = if hostport.contains(':') {
        hostport.to_string()
    } else {
        format!("{hostport}:80")
    };
    let mut s = tokio::net::TcpStream::connect(hostport.as_str())
        .await
        .with_context(|| {
            format!("cannot reach the node at {url}; is `tollcast node` running there?")
        })?;
    let req = format!("GET /accounts HTTP/1.1\r\nHost: {hostport}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await?;
    let text = String::from_utf8(buf).context("node answered with non-UTF-8")?;
    let (head, body) = text
        .split_once("\r\n\r\n")
        .context("malformed HTTP answer")?;
    anyhow::ensure!(
        head.starts_with("HTTP/1.1 200"),
        "node answered: {}",
        head.lines().next().unwrap_or("")
    );
    // axum sends a fixed Content-Length for JSON, so the body is plain.
    Ok(body.to_string())
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let body = fetch(args.node.trim_end_matches('/')).await?;
    let view: AccountsView =
        serde_json::from_str(&body).context("node answered with unexpected JSON")?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&view)?);
        return Ok(());
    }
    println!("node {}", view.address);
    println!(
        "{:<16} {:<8} {:>6} {:>22} {:>22} {:>12} {:>12} {:>10}",
        "ACCOUNT", "RELATION", "ASSET", "BALANCE", "(units)", "PENDING IN", "PENDING OUT", "LINK"
    );
    for a in &view.accounts {
        println!(
            "{:<16} {:<8} {:>6} {:>22} {:>22} {:>12} {:>12} {:>10}",
            a.id,
            format!("{:?}", a.relation).to_lowercase(),
            format!("{}/{}", a.asset_code, a.asset_scale),
            a.balance,
            units(a.balance, a.asset_scale),
            a.pending_incoming,
            a.pending_outgoing,
            if a.connected { "up" } else { "down" }
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::units;

    #[test]
    fn unit_formatting() {
        assert_eq!(units(1_500_000, 6), "1.500000");
        assert_eq!(units(-5, 6), "-0.000005");
        assert_eq!(units(42, 0), "42");
        assert_eq!(units(0, 2), "0.00");
    }
}
