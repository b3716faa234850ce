//! ffmpeg as a supervised child process: spawned with piped stdout (CMAF fMP4), optional piped
//! stdin (FLV from our RTMP listener), and its stderr turned into tracing lines at the level
//! ffmpeg itself gave them. Killed when dropped.

use std::process::Stdio;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

use crate::error::{MediaError, Result};

/// The ffmpeg binary (override with `TOLLCAST_FFMPEG`).
pub fn ffmpeg_bin() -> String {
    std::env::var("TOLLCAST_FFMPEG").unwrap_or_else(|_| "ffmpeg".into())
}

/// A running ffmpeg.
pub struct FfmpegProcess {
    pub child: Child,
    pub stdout: ChildStdout,
    pub stdin: Option<ChildStdin>,
    last_error: Arc<Mutex<Option<String>>>,
}

impl FfmpegProcess {
    /// Start ffmpeg with `args` (after the common `-hide_banner -nostdin -loglevel` prefix).
    /// `label` names the child in log lines.
    pub fn spawn(label: &str, args: &[String], with_stdin: bool) -> Result<Self> {
        let mut cmd = Command::new(ffmpeg_bin());
        cmd.args(["-hide_banner", "-loglevel", "level+warning"]);
        if !with_stdin {
            cmd.arg("-nostdin");
        }
        cmd.args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .stdin(if with_stdin {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .kill_on_drop(true);
        tracing::debug!(target: "ffmpeg", %label, ?args, "spawning ffmpeg");
        let mut child = cmd.spawn().map_err(|e| {
            MediaError::Ffmpeg(format!(
                "cannot start `{}` ({e}); install it (apt-get install ffmpeg) or set TOLLCAST_FFMPEG",
                ffmpeg_bin()
            ))
        })?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| MediaError::Ffmpeg("no stdout pipe".into()))?;
        let stdin = child.stdin.take();
        let last_error = Arc::new(Mutex::new(None));
        if let Some(stderr) = child.stderr.take() {
            let label = label.to_string();
            let last = last_error.clone();
            tokio::spawn(async move {
                let mut lines = BufReader::new(stderr).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    log_line(&label, &line, &last);
                }
            });
        }
        Ok(Self {
            child,
            stdout,
            stdin,
            last_error,
        })
    }

    /// The last error line ffmpeg printed, if any.
    pub fn last_error(&self) -> Option<String> {
        self.last_error.lock().ok().and_then(|g| g.clone())
    }

    /// Wait for exit; Ok(()) on success, else an error carrying ffmpeg's last error line.
    pub async fn wait(&mut self) -> Result<()> {
        let status = self.child.wait().await?;
        // Give the stderr task a moment to record the final lines.
        tokio::task::yield_now().await;
        if status.success() {
            Ok(())
        } else {
            Err(MediaError::Ffmpeg(format!(
                "exited with {status}{}",
                self.last_error()
                    .map(|e| format!(": {e}"))
                    .unwrap_or_default()
            )))
        }
    }
}

/// Turn one ffmpeg stderr line (`[level] message` with `-loglevel level+...`) into a log record.
pub(crate) fn log_line(label: &str, line: &str, last: &Mutex<Option<String>>) {
    let line = line.trim();
    if line.is_empty() {
        return;
    }
    // ffmpeg prints "[ctx @ 0x..] [level] message" or "[level] message".
    let mut level = "info";
    let mut msg = line.to_string();
    for lvl in ["panic", "fatal", "error", "warning", "info"] {
        let tag = format!("[{lvl}] ");
        if let Some(i) = line.find(&tag) {
            level = lvl;
            msg = format!("{}{}", &line[..i], &line[i + tag.len()..]);
            break;
        }
    }
    let msg = msg.as_str();
    match level {
        "fatal" | "panic" | "error" => {
            if let Ok(mut g) = last.lock() {
                *g = Some(msg.to_string());
            }
            tracing::error!(target: "ffmpeg", source = %label, "{msg}")
        }
        "warning" => tracing::warn!(target: "ffmpeg", source = %label, "{msg}"),
        _ => tracing::info!(target: "ffmpeg", source = %label, "{msg}"),
    }
}
