//! `tollcast node --role X`: the node config's role sections and the agents they start.
//!
//! The node TOML may hold one section per role besides the connector's own keys:
//! - `[relay]` ([`RelayRole`]): the relay agent runs in this process; viewers' payments (credit
//!   mode) arrive at a STREAM receiver on this node's connector (`<node address>.relay`), the
//!   offer is published on the node's own Nostr relay unless `nostr` names others.
//! - `[verifier]` ([`VerifierRole`]): the transcoding verifier (a moderator-class agent) runs
//!   in this process.
//! - `[recorder]`: the keys are the long flags of `tollcast record` (arrays repeat a flag,
//!   `true` sets a switch).
//! - `[transcoder]`: `TranscoderConfig` keys plus the `tollcast transcode` flags `nostr`,
//!   `secret_key`, `listen`; `[moderator]`: `ModeratorConfig` keys plus the `tollcast
//!   moderate` flags `key`, `listen`.
//!
//! Those three run their command in this process; a paid one gets this node's connector config
//! as its `--node-config` / `--node` (it starts the node itself), a free one runs beside the
//! node started here.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use serde::Deserialize;
use serde_json::{Value, json};
use tollcast_agents::relay::agent::{RelayAgent, RelayAgentConfig, parse_stream};
use tollcast_agents::verifier::{Verifier, VerifierConfig, Watch};
use tollcast_events::nostr::prelude::{Keys, PublicKey};
use tollcast_net::connector::NodeConfig;
use tollcast_net::node_services::NodeServices;
use tollcast_net::nostr_relay::client::{ClientOptions, RelayClient};

/// The agent a node runs beside its connector.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Role {
    /// CDN edge: verified, cached LL-HLS fan-out, paid per second (`[relay]`).
    Relay,
    /// Paid NIP-90 ABR ladder (`[transcoder]`, flags of `tollcast transcode`).
    Transcoder,
    /// Chat/report moderation and takedown votes (`[moderator]`, flags of `tollcast moderate`).
    Moderator,
    /// Live-to-VOD (`[recorder]`, flags of `tollcast record`).
    Recorder,
    /// Transcoding spot checks by SSIM/PSNR (`[verifier]`).
    Verifier,
}

/// Every role section name (stripped before the connector config is parsed).
pub const SECTIONS: [&str; 5] = ["relay", "transcoder", "moderator", "recorder", "verifier"];

impl Role {
    pub fn as_str(&self) -> &'static str {
        match self {
            Role::Relay => "relay",
            Role::Transcoder => "transcoder",
            Role::Moderator => "moderator",
            Role::Recorder => "recorder",
            Role::Verifier => "verifier",
        }
    }

    /// Roles run through their command, which may start the node itself.
    pub fn runs_own_node(&self) -> bool {
        matches!(self, Role::Transcoder | Role::Moderator | Role::Recorder)
    }
}

/// The connector config (role sections removed) and the role sections.
pub fn load(path: &Path) -> anyhow::Result<(NodeConfig, toml::Table)> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut table: toml::Table =
        toml::from_str(&text).with_context(|| format!("{} is not valid TOML", path.display()))?;
    let mut sections = toml::Table::new();
    for s in SECTIONS {
        if let Some(v) = table.remove(s) {
            sections.insert(s.to_string(), v);
        }
    }
    let rest = toml::to_string(&table)?;
    let cfg = NodeConfig::from_toml(&rest, &path.display().to_string())?;
    Ok((cfg, sections))
}

fn section<T: for<'de> Deserialize<'de>>(sections: &toml::Table, role: Role) -> anyhow::Result<T> {
    let v = sections.get(role.as_str()).cloned().with_context(|| {
        format!(
            "--role {0} needs a [{0}] section in the node config (see examples/node-{0}.toml)",
            role.as_str()
        )
    })?;
    v.try_into()
        .map_err(|e: toml::de::Error| anyhow::anyhow!("[{}]: {e}", role.as_str()))
}

/// An agent started in this process.
pub struct RunningAgent {
    pub role: String,
    /// `key: value` lines to print.
    pub lines: Vec<(String, String)>,
    /// The role's part of the `ready:` JSON.
    pub ready: Value,
    status: Box<dyn Fn() -> String + Send>,
    _keep: Vec<Box<dyn std::any::Any + Send>>,
}

impl RunningAgent {
    /// Print a status line every 10 s until Ctrl-C.
    pub async fn run_until_ctrl_c(&mut self) -> anyhow::Result<()> {
        let mut tick = tokio::time::interval(Duration::from_secs(10));
        tick.tick().await;
        loop {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => return Ok(()),
                _ = tick.tick() => eprintln!("{}", (self.status)()),
            }
        }
    }
}

pub async fn start_in_process(
    role: Role,
    cfg: &NodeConfig,
    svc: &NodeServices,
    sections: &toml::Table,
) -> anyhow::Result<RunningAgent> {
    match role {
        Role::Relay => start_relay(section(sections, role)?, cfg, svc).await,
        Role::Verifier => start_verifier(section(sections, role)?, svc).await,
        o => bail!("--role {} runs through its command", o.as_str()),
    }
}

fn nostr_urls(given: &[String], svc: &NodeServices) -> anyhow::Result<Vec<String>> {
    let mut urls = given.to_vec();
    if urls.is_empty() {
        urls.extend(svc.relay.as_ref().map(|r| r.url.clone()));
    }
    if urls.is_empty() {
        bail!("no Nostr relay: set `nostr = [\"ws://...\"]` in the role section or enable [nostr]");
    }
    Ok(urls)
}

fn parse_key(s: &str) -> anyhow::Result<PublicKey> {
    PublicKey::parse(s).with_context(|| format!("`{s}` is not a hex or npub public key"))
}

/// `[relay]`: the relay agent, the same config and start path as `tollcast relay`
/// ([`RelayAgentConfig`]: its keys are that command's long flags with `_`, `moderators` for
/// `--moderator`). Defaults taken from the node: the Nostr relay (its own), the asset (its
/// `[spsp]` asset, else its first account's) and the offer's key (the node key).
pub type RelayRole = RelayAgentConfig;

async fn start_relay(
    mut r: RelayRole,
    cfg: &NodeConfig,
    svc: &NodeServices,
) -> anyhow::Result<RunningAgent> {
    r.nostr = nostr_urls(&r.nostr, svc)?;
    let first = cfg.accounts.first();
    r.asset_code = r
        .asset_code
        .or_else(|| cfg.spsp.asset_code.clone())
        .or_else(|| first.map(|a| a.asset_code.clone()));
    r.asset_scale = r
        .asset_scale
        .or(cfg.spsp.asset_scale)
        .or_else(|| first.map(|a| a.asset_scale));
    let node_keys = cfg.node.signing_keys()?;
    // One key, one SPSP-over-Nostr answerer: the node's [spsp] receiver credits no viewer.
    let offer_key = match &r.secret_key {
        Some(k) => Keys::parse(k)
            .context("[relay] secret_key must be hex or nsec")?
            .public_key(),
        None => node_keys.public_key(),
    };
    if r.spsp_nostr
        && r.price_per_second.is_some()
        && svc.spsp.as_ref().and_then(|s| s.nostr_pubkey) == Some(offer_key)
    {
        bail!(
            "[relay] its key also answers SPSP over Nostr for the node ([spsp] nostr_key): viewers \
             would get credentials that pay the node, not the relay. Give [relay] secret_key \
             another key, or set spsp_nostr = false"
        );
    }
    let agent = RelayAgent::start(r, Some(&svc.node.connector), Some(node_keys))
        .await
        .map_err(|e| anyhow::anyhow!("[relay] {e}"))?;
    let agent = Arc::new(agent);
    let a = agent.clone();
    Ok(RunningAgent {
        role: "relay".into(),
        lines: agent.lines(),
        ready: agent.ready(),
        status: Box::new(move || a.status_line()),
        _keep: vec![Box::new(agent)],
    })
}

/// `[verifier]`: spot-check a stream's transcoders.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifierRole {
    /// The stream: naddr1... or `30311:<author hex>:<d>` (required).
    pub stream: String,
    /// Transcoders whose renditions are checked (hex or npub; required).
    pub transcoders: Vec<String>,
    /// Where source chunks are fetched: the origin or a relay (required).
    pub source_url: String,
    /// Where each transcoder's chunks are fetched, by its key (default `source_url`).
    #[serde(default)]
    pub rendition_urls: BTreeMap<String, String>,
    /// Nostr relay with the manifests; reports are published there (default: the node's).
    #[serde(default)]
    pub nostr: Option<String>,
    /// Key signing the reports (hex or nsec; default: the node's key).
    #[serde(default)]
    pub secret_key: Option<String>,
    /// `[verifier.check]`: thresholds, sampling and ladder
    /// (`tollcast_agents::verifier::VerifierConfig`; every key has a default).
    #[serde(default)]
    pub check: VerifierConfig,
}

async fn start_verifier(v: VerifierRole, svc: &NodeServices) -> anyhow::Result<RunningAgent> {
    let stream = parse_stream(&v.stream).map_err(|e| anyhow::anyhow!("[verifier] {e}"))?;
    let transcoders = v
        .transcoders
        .iter()
        .map(|s| parse_key(s))
        .collect::<anyhow::Result<Vec<_>>>()?;
    if transcoders.is_empty() {
        bail!("[verifier] transcoders must name at least one transcoder key");
    }
    let mut rendition_urls = std::collections::HashMap::new();
    for (k, u) in &v.rendition_urls {
        rendition_urls.insert(parse_key(k)?, u.clone());
    }
    let url = nostr_urls(v.nostr.as_slice(), svc)?.remove(0);
    let keys = match &v.secret_key {
        Some(k) => Keys::parse(k).context("[verifier] secret_key must be hex or nsec")?,
        None => Keys::generate(),
    };
    let client = RelayClient::connect(&url, ClientOptions::default())
        .map_err(|e| anyhow::anyhow!("[verifier] nostr {url}: {e}"))?;
    let agent = Verifier::start(
        v.check.clone(),
        keys.clone(),
        client,
        Watch {
            stream: stream.clone(),
            transcoders,
            source_url: v.source_url.clone(),
            rendition_urls,
        },
    )
    .await
    .map_err(|e| anyhow::anyhow!("[verifier] {e}"))?;
    let stats = agent.stats.clone();
    let status = Box::new(move || {
        use std::sync::atomic::Ordering::Relaxed;
        format!(
            "verifier: seen {} checked {} passed {} failed {} errors {}",
            stats.seen.load(Relaxed),
            stats.checked.load(Relaxed),
            stats.passed.load(Relaxed),
            stats.failed.load(Relaxed),
            stats.errors.load(Relaxed)
        )
    });
    Ok(RunningAgent {
        role: "verifier".into(),
        lines: vec![
            ("verifier".into(), keys.public_key().to_hex()),
            ("stream".into(), stream.to_string()),
        ],
        ready: json!({ "pubkey": keys.public_key().to_hex(), "stream": stream.to_string(), "nostr": url }),
        status,
        _keep: vec![Box::new(agent)],
    })
}

/// The section as command-line flags: `key = v` -> `--key v`, arrays repeat, `true` -> `--key`.
pub fn section_to_argv(t: &toml::Table) -> anyhow::Result<Vec<String>> {
    let mut argv = Vec::new();
    for (k, v) in t {
        let flag = format!("--{}", k.replace('_', "-"));
        let scalar = |v: &toml::Value| -> anyhow::Result<String> {
            Ok(match v {
                toml::Value::String(s) => s.clone(),
                toml::Value::Integer(i) => i.to_string(),
                toml::Value::Float(f) => f.to_string(),
                o => bail!("`{k}`: want a string, number, boolean or array of them (got {o})"),
            })
        };
        match v {
            toml::Value::Boolean(true) => argv.push(flag),
            toml::Value::Boolean(false) => {}
            toml::Value::Array(a) => {
                for x in a {
                    argv.push(flag.clone());
                    argv.push(scalar(x)?);
                }
            }
            o => {
                argv.push(flag);
                argv.push(scalar(o)?);
            }
        }
    }
    Ok(argv)
}

/// Keys of a role section that are flags of its command; the other keys of `[transcoder]` /
/// `[moderator]` are the agent's config struct, handed over as that command's `--config`.
fn flag_keys(role: Role) -> Option<&'static [&'static str]> {
    match role {
        Role::Transcoder => Some(&["nostr", "secret_key", "listen"]),
        Role::Moderator => Some(&["key", "listen"]),
        _ => None,
    }
}

fn temp_path(cfg: &NodeConfig, what: &str) -> PathBuf {
    std::env::temp_dir().join(format!(
        "tollcast-{}-{what}-{}.toml",
        cfg.node.name,
        std::process::id()
    ))
}

fn write_temp(path: PathBuf, text: &str) -> anyhow::Result<TempFile> {
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    Ok(TempFile(path))
}

/// Roles run through their command (`tollcast record` / `transcode` / `moderate`), in this
/// process.
pub async fn run_command_role(
    role: Role,
    cfg: &NodeConfig,
    sections: &toml::Table,
) -> anyhow::Result<()> {
    let mut t: toml::Table = section(sections, role)?;
    let mut argv = vec![format!("tollcast-{}", role.as_str())];
    let mut temps = Vec::new();
    if let Some(keys) = flag_keys(role) {
        // Split: flags on the command line, the rest as the agent's config file.
        let mut flags = toml::Table::new();
        for k in keys {
            if let Some(v) = t.remove(*k) {
                flags.insert((*k).to_string(), v);
            }
        }
        argv.extend(section_to_argv(&flags)?);
        let mut file = toml::Table::new();
        file.insert(role.as_str().to_string(), toml::Value::Table(t.clone()));
        let tmp = write_temp(temp_path(cfg, role.as_str()), &toml::to_string(&file)?)?;
        argv.push("--config".into());
        argv.push(tmp.0.display().to_string());
        temps.push(tmp);
    } else {
        argv.extend(section_to_argv(&t)?);
    }
    // A paid agent receives at this node: hand it the connector config.
    let node_flag = match role {
        Role::Recorder
            if (t.contains_key("price_per_gb") || t.contains_key("price-per-gb"))
                && !t.contains_key("node_config")
                && !t.contains_key("node-config") =>
        {
            Some("--node-config")
        }
        Role::Transcoder => Some("--node-config"),
        Role::Moderator
            if t.get("billing")
                .and_then(|b| b.get("price_per_hour"))
                .and_then(|p| p.as_integer())
                .unwrap_or(0)
                > 0 =>
        {
            Some("--node")
        }
        _ => None,
    };
    let services = match node_flag {
        Some(flag) => {
            let tmp = write_temp(temp_path(cfg, "node"), &toml::to_string(cfg)?)?;
            argv.push(flag.into());
            argv.push(tmp.0.display().to_string());
            temps.push(tmp);
            None
        }
        None => {
            // Free agent: the node runs here beside it.
            let svc = NodeServices::start(cfg.clone()).await?;
            println!(
                "node: {} {}",
                svc.node.local_addr,
                svc.node.connector.address().as_str()
            );
            Some(svc)
        }
    };
    macro_rules! run_cmd {
        ($m:ident, $name:literal) => {{
            #[derive(clap::Parser)]
            struct Cli {
                #[command(flatten)]
                a: crate::cmd::$m::Args,
            }
            let a = <Cli as clap::Parser>::try_parse_from(&argv).map_err(|e| {
                anyhow::anyhow!("[{}] (see `tollcast {} --help`): {e}", role.as_str(), $name)
            })?;
            crate::cmd::$m::run(a.a).await
        }};
    }
    let r = match role {
        Role::Recorder => run_cmd!(record, "record"),
        Role::Transcoder => run_cmd!(transcode, "transcode"),
        Role::Moderator => run_cmd!(moderate, "moderate"),
        o => bail!("--role {} runs in process", o.as_str()),
    };
    drop(services);
    drop(temps);
    r
}

struct TempFile(PathBuf);
impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example(name: &str) -> (NodeConfig, toml::Table) {
        let p = format!("{}/../../examples/{name}", env!("CARGO_MANIFEST_DIR"));
        load(Path::new(&p)).unwrap()
    }

    #[test]
    fn example_role_configs_load() {
        let (_, s) = example("node-relay.toml");
        let r: RelayRole = section(&s, Role::Relay).unwrap();
        assert_eq!(r.listen.port(), 8081);
        let (_, s) = example("node-verifier.toml");
        let v: VerifierRole = section(&s, Role::Verifier).unwrap();
        assert_eq!(v.check.ssim_min, 0.92);
        assert_eq!(v.check.targets().unwrap().len(), 3);
        let (_, s) = example("node-recorder.toml");
        let argv = section_to_argv(s["recorder"].as_table().unwrap()).unwrap();
        assert!(
            argv.windows(2)
                .any(|w| w == ["--relay", "ws://127.0.0.1:7777"])
        );
        assert!(
            argv.windows(2)
                .any(|w| w == ["--store-dir", "tollcast-recorder-chunks"])
        );
        let (_, s) = example("node-transcoder.toml");
        assert!(s["transcoder"].get("nostr").is_some());
        let (_, s) = example("node-moderator.toml");
        let m: tollcast_agents::moderator::config::ModeratorConfig = {
            let mut t = s["moderator"].as_table().unwrap().clone();
            for k in flag_keys(Role::Moderator).unwrap() {
                t.remove(*k);
            }
            toml::Value::Table(t).try_into().unwrap()
        };
        assert_eq!(m.rules.banned_words.len(), 1);
        // Plain node configs still load, with no role sections.
        let (_, s) = example("node-alice.toml");
        assert!(s.is_empty());
    }
}
