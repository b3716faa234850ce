//! Agents as child processes: spawn `tollcast <subcommand>` (this same binary), wait until it
//! says it is ready, keep its stdout/stderr (in a log file, or echoed with `-v`), and stop it
//! cleanly (SIGINT, then SIGKILL after a grace period).
//!
//! Readiness: every stdout line the demo reads from an agent (e.g. `LISTENING ` for `tollcast
//! node`, which comes after its `ready:` line) has been printed; with no such line asked for,
//! the agent's `ready: {json}` line (plan11's contract) decides.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::watch;

/// How many recent stderr lines are kept for error messages.
const TAIL: usize = 30;

/// What to spawn and how to know it is up.
pub struct Spec {
    /// Short name shown in status lines, e.g. `relay-a`.
    pub name: String,
    /// Arguments after the binary, e.g. `["node", "--config", ...]`.
    pub args: Vec<String>,
    /// Stdout line prefixes that together mean "ready" (empty: the `ready:` line does).
    pub ready_prefixes: Vec<&'static str>,
    /// Echo the child's output to our stderr (`-v`).
    pub verbose: bool,
    /// Log file for the child's stdout and stderr.
    pub log: PathBuf,
    /// Extra environment variables.
    pub env: Vec<(String, String)>,
}

/// Output lines of a child, shared with its reader tasks.
#[derive(Default)]
pub struct Output {
    /// Every stdout line (agents print few).
    pub stdout: Vec<String>,
    /// The last stderr lines.
    pub stderr_tail: VecDeque<String>,
    /// The parsed `ready:` JSON, if the agent printed one.
    pub ready: Option<serde_json::Value>,
}

impl Output {
    /// The value of the first stdout line `key: value`.
    pub fn value(&self, key: &str) -> Option<String> {
        let p = format!("{key}: ");
        self.stdout
            .iter()
            .find_map(|l| l.strip_prefix(&p).map(|v| v.trim().to_string()))
    }

    /// The first stdout line starting with `prefix`, without the prefix.
    pub fn line(&self, prefix: &str) -> Option<String> {
        self.stdout
            .iter()
            .find_map(|l| l.strip_prefix(prefix).map(|v| v.trim().to_string()))
    }
}

/// A running agent process.
pub struct Agent {
    pub name: String,
    child: Child,
    pub out: Arc<Mutex<Output>>,
    /// Latest stderr line (status lines some agents print periodically).
    pub stderr_rx: watch::Receiver<String>,
    pub log: PathBuf,
}

impl Agent {
    /// Spawns the child and waits up to `timeout` for it to be ready.
    pub async fn start(spec: Spec, timeout: Duration) -> anyhow::Result<Agent> {
        let exe = std::env::current_exe().context("locating the tollcast binary")?;
        let mut cmd = Command::new(exe);
        cmd.args(&spec.args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for (k, v) in &spec.env {
            cmd.env(k, v);
        }
        // If the demo dies without cleaning up (SIGKILL), its agents get Ctrl-C instead of
        // running on as orphans.
        // SAFETY: prctl is async-signal-safe and touches only the child being set up.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGINT);
                Ok(())
            });
        }
        // Children log at info so the log files say what happened (-v echoes them).
        if std::env::var_os("RUST_LOG").is_none() {
            cmd.env("RUST_LOG", "info");
        }
        let mut child = cmd
            .spawn()
            .with_context(|| format!("starting {} ({})", spec.name, spec.args.join(" ")))?;
        let out = Arc::new(Mutex::new(Output::default()));
        let log = tokio::fs::File::create(&spec.log)
            .await
            .with_context(|| format!("creating {}", spec.log.display()))?;
        let log = Arc::new(tokio::sync::Mutex::new(log));
        let (ready_tx, mut ready_rx) = watch::channel(false);
        let (err_tx, stderr_rx) = watch::channel(String::new());
        let stdout = child.stdout.take().context("child stdout")?;
        let stderr = child.stderr.take().context("child stderr")?;
        {
            let (out, log, name, verbose) =
                (out.clone(), log.clone(), spec.name.clone(), spec.verbose);
            let prefixes = spec.ready_prefixes.clone();
            tokio::spawn(async move {
                let mut lines = BufReader::new(stdout).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    let _ = log
                        .lock()
                        .await
                        .write_all(format!("{line}\n").as_bytes())
                        .await;
                    if verbose {
                        eprintln!("[{name}] {line}");
                    }
                    let ready = {
                        let mut o = out.lock().unwrap_or_else(|e| e.into_inner());
                        if let Some(j) = line.strip_prefix("ready: ")
                            && let Ok(v) = serde_json::from_str(j)
                        {
                            o.ready = Some(v);
                        }
                        o.stdout.push(line);
                        // The lines the demo reads must all be there (a `ready:` line may come
                        // before some of them); with none asked for, the `ready:` line decides.
                        if prefixes.is_empty() {
                            o.ready.is_some()
                        } else {
                            prefixes
                                .iter()
                                .all(|p| o.stdout.iter().any(|l| l.starts_with(p)))
                        }
                    };
                    if ready {
                        let _ = ready_tx.send(true);
                    }
                }
            });
        }
        {
            let (out, log, name, verbose) =
                (out.clone(), log.clone(), spec.name.clone(), spec.verbose);
            tokio::spawn(async move {
                let mut lines = BufReader::new(stderr).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    let _ = log
                        .lock()
                        .await
                        .write_all(format!("{line}\n").as_bytes())
                        .await;
                    if verbose {
                        eprintln!("[{name}] {line}");
                    }
                    {
                        let mut o = out.lock().unwrap_or_else(|e| e.into_inner());
                        if o.stderr_tail.len() == TAIL {
                            o.stderr_tail.pop_front();
                        }
                        o.stderr_tail.push_back(line.clone());
                    }
                    let _ = err_tx.send(line);
                }
            });
        }
        let mut agent = Agent {
            name: spec.name.clone(),
            child,
            out,
            stderr_rx,
            log: spec.log.clone(),
        };
        let waited = tokio::time::timeout(timeout, async {
            loop {
                if *ready_rx.borrow_and_update() {
                    return Ok(());
                }
                tokio::select! {
                    r = ready_rx.changed() => if r.is_err() { return Err(()) },
                    _ = agent.child.wait() => return Err(()),
                }
            }
        })
        .await;
        match waited {
            Ok(Ok(())) => Ok(agent),
            Ok(Err(())) | Err(_) => {
                // Give the readers a moment to collect the last words.
                tokio::time::sleep(Duration::from_millis(200)).await;
                let why = match agent.child.try_wait() {
                    Ok(Some(st)) => format!("exited ({st})"),
                    _ => format!("was not ready within {timeout:?}"),
                };
                let tail = agent.tail();
                agent.stop(Duration::from_secs(2)).await;
                bail!(
                    "{} {why}; its last output:\n{tail}\n(full log: {})",
                    spec.name,
                    spec.log.display()
                )
            }
        }
    }

    /// The last stderr lines, for error messages.
    pub fn tail(&self) -> String {
        let o = self.out.lock().unwrap_or_else(|e| e.into_inner());
        let mut s = String::new();
        for l in o.stdout.iter().rev().take(5).rev() {
            s.push_str(&format!("  {l}\n"));
        }
        for l in &o.stderr_tail {
            s.push_str(&format!("  {l}\n"));
        }
        s
    }

    /// The child exited on its own (crash or end)?
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// SIGINT (what Ctrl-C sends), then SIGKILL if it has not exited within `grace`.
    pub async fn stop(&mut self, grace: Duration) {
        if self.exited().is_some() {
            return;
        }
        if let Some(pid) = self.child.id() {
            // SAFETY: kill(2) with a pid we spawned and still own (not yet reaped).
            unsafe {
                libc::kill(pid as libc::pid_t, libc::SIGINT);
            }
        }
        if tokio::time::timeout(grace, self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}

/// Writes `text` to `dir/name`, returning the path.
pub fn write_file(dir: &Path, name: &str, text: &str) -> anyhow::Result<PathBuf> {
    let p = dir.join(name);
    std::fs::write(&p, text).with_context(|| format!("writing {}", p.display()))?;
    Ok(p)
}
