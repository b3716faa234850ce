//! CPU time per agent: the sum of `/proc/self/task/<tid>/schedstat` run time over the threads
//! whose name starts with an agent's runtime prefix, and `/proc/<pid>/schedstat` for children
//! (ffmpeg, all threads, from `/proc/<pid>/stat`). Threads: nanosecond resolution (schedstat).

use std::collections::BTreeMap;

/// Run time (ns) of one thread or process from its `schedstat` file.
fn schedstat_ns(path: &str) -> Option<u64> {
    let s = std::fs::read_to_string(path).ok()?;
    s.split_whitespace().next()?.parse().ok()
}

/// CPU nanoseconds per thread name of this process (names as the kernel keeps them, ≤ 15 bytes).
pub fn threads_by_name() -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return out;
    };
    for e in dir.flatten() {
        let tid = e.file_name().to_string_lossy().into_owned();
        let name = std::fs::read_to_string(format!("/proc/self/task/{tid}/comm"))
            .map(|s| s.trim().to_string())
            .unwrap_or_default();
        if let Some(ns) = schedstat_ns(&format!("/proc/self/task/{tid}/schedstat")) {
            *out.entry(name).or_default() += ns;
        }
    }
    out
}

/// CPU nanoseconds of all threads of this process whose name starts with `prefix`.
pub fn prefix_ns(snapshot: &BTreeMap<String, u64>, prefix: &str) -> u64 {
    snapshot
        .iter()
        .filter(|(n, _)| n.starts_with(prefix))
        .map(|(_, v)| *v)
        .sum()
}

/// CPU nanoseconds of process `pid`, all its threads (live and exited): utime + stime of
/// `/proc/<pid>/stat`, in USER_HZ ticks (100 per second on Linux), so 10 ms resolution.
/// (`/proc/<pid>/schedstat` would count the main thread only.)
pub fn process_ns(pid: u32) -> Option<u64> {
    stat_ns(&format!("/proc/{pid}/stat"))
}

fn stat_ns(path: &str) -> Option<u64> {
    let s = std::fs::read_to_string(path).ok()?;
    let (_, tail) = s.rsplit_once(')')?;
    // After "(comm)": state ppid ... ; utime and stime are fields 14 and 15 of the whole line.
    let f: Vec<&str> = tail.split_whitespace().collect();
    let utime: u64 = f.get(11)?.parse().ok()?;
    let stime: u64 = f.get(12)?.parse().ok()?;
    Some((utime + stime) * 10_000_000)
}

/// Children of this process named `comm` (e.g. `ffmpeg`).
pub fn children_named(comm: &str) -> Vec<u32> {
    let me = std::process::id();
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in dir.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // "pid (comm) state ppid ...": comm may hold spaces, so split at the last ')'.
        let Some((head, tail)) = stat.rsplit_once(')') else {
            continue;
        };
        let name = head.split_once('(').map(|(_, n)| n).unwrap_or("");
        let ppid = tail
            .split_whitespace()
            .nth(1)
            .and_then(|p| p.parse::<u32>().ok());
        if name == comm && ppid == Some(me) {
            out.push(pid);
        }
    }
    out
}

/// Command line of process `pid`, arguments joined by spaces ("" if it is gone).
pub fn cmdline(pid: u32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| {
            b.split(|c| *c == 0)
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}

/// CPU nanoseconds of this whole process (all threads, live and exited; 10 ms resolution).
pub fn self_ns() -> u64 {
    stat_ns("/proc/self/stat").unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_thread_cpu_is_counted() {
        let h = std::thread::Builder::new()
            .name("tcb-cputest".into())
            .spawn(|| {
                // Spin until this thread has run 30 ms of CPU (wall time varies with load).
                let own = || schedstat_ns("/proc/thread-self/schedstat").unwrap_or(0);
                let start = own();
                let t = std::time::Instant::now();
                let mut x = 0u64;
                while own() < start + 30_000_000 && t.elapsed() < std::time::Duration::from_secs(20)
                {
                    for _ in 0..10_000 {
                        x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
                    }
                }
                (x, prefix_ns(&threads_by_name(), "tcb-cputest"))
            })
            .unwrap();
        let (_, ns) = h.join().unwrap();
        assert!(ns >= 30_000_000, "30 ms of CPU shows as {ns} ns");
        assert!(
            self_ns() + 20_000_000 >= ns,
            "process total {} < thread {ns}",
            self_ns()
        );
        assert_eq!(prefix_ns(&threads_by_name(), "no-such-thread"), 0);
        assert!(cmdline(std::process::id()).contains("tollcast"));
    }
}
