//! `tollcast` child processes for the multi-process tests: stdout is read line by line on a
//! thread of its own (a chatty child never blocks on a full pipe, whether or not the test still
//! reads), and the child is killed when the handle is dropped. Usable from sync and async tests.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tokio::sync::mpsc::{UnboundedReceiver, error::TryRecvError};

/// How long a test waits for a line before failing.
pub const LINE_TIMEOUT: Duration = Duration::from_secs(60);

pub struct Proc {
    pub child: Child,
    lines: UnboundedReceiver<String>,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `tollcast <args>`; stderr goes to the test's stderr when `TOLLCAST_TEST_LOGS` is set.
pub fn spawn(args: &[&str]) -> Proc {
    spawn_env(args, &[])
}

/// [`spawn`] with extra environment variables. A developer's own key or node in the ambient
/// environment never reaches the child.
pub fn spawn_env(args: &[&str], env: &[(&str, &str)]) -> Proc {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tollcast"));
    cmd.args(args)
        .env_remove("TOLLCAST_SECRET_KEY")
        .env_remove("TOLLCAST_NSEC")
        .env_remove("TOLLCAST_NODE");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let stderr = if std::env::var_os("TOLLCAST_TEST_LOGS").is_some() {
        Stdio::inherit()
    } else {
        Stdio::null()
    };
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .expect("spawn the tollcast binary");
    let out = child.stdout.take().expect("stdout is piped");
    let (tx, lines) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for l in std::io::BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    Proc { child, lines }
}

impl Proc {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The value (trimmed) of the next stdout line starting with `prefix` (async tests).
    pub async fn line(&mut self, prefix: &str) -> String {
        self.lines_for(&[prefix]).await.remove(0)
    }

    /// [`Self::line`] waiting at most `within`.
    pub async fn line_within(&mut self, prefix: &str, within: Duration) -> String {
        self.lines_within(&[prefix], within).await.remove(0)
    }

    /// The values of the next stdout lines starting with each of `prefixes`, in any order.
    pub async fn lines_for(&mut self, prefixes: &[&str]) -> Vec<String> {
        self.lines_within(prefixes, LINE_TIMEOUT).await
    }

    async fn lines_within(&mut self, prefixes: &[&str], within: Duration) -> Vec<String> {
        let mut found: Vec<Option<String>> = vec![None; prefixes.len()];
        tokio::time::timeout(within, async {
            while !found.iter().all(Option::is_some) {
                let l = self
                    .lines
                    .recv()
                    .await
                    .unwrap_or_else(|| panic!("tollcast exited before printing {prefixes:?}"));
                take(&l, prefixes, &mut found);
            }
        })
        .await
        .unwrap_or_else(|_| panic!("no {prefixes:?} lines within {within:?}"));
        found.into_iter().map(Option::unwrap).collect()
    }

    /// [`Self::line`] for sync tests, waiting at most `within`.
    pub fn line_blocking(&mut self, prefix: &str, within: Duration) -> String {
        let deadline = Instant::now() + within;
        let mut found = vec![None];
        while found[0].is_none() {
            match self.lines.try_recv() {
                Ok(l) => take(&l, &[prefix], &mut found),
                Err(TryRecvError::Empty) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10))
                }
                Err(TryRecvError::Empty) => panic!("no `{prefix}` line within {within:?}"),
                Err(TryRecvError::Disconnected) => {
                    panic!("tollcast exited before printing `{prefix}`")
                }
            }
        }
        found.remove(0).unwrap_or_default()
    }

    /// Kill the process now (SIGKILL) and reap it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn take(line: &str, prefixes: &[&str], found: &mut [Option<String>]) {
    for (i, p) in prefixes.iter().enumerate() {
        if found[i].is_none()
            && let Some(v) = line.strip_prefix(p)
        {
            found[i] = Some(v.trim().to_string());
            return;
        }
    }
}
