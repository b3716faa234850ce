//! The machine a figure was measured on: cores, CPU model, memory, load, kernel.

use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub nproc: usize,
    pub cpu_model: String,
    pub mem_gib: f64,
    /// 1/5/15-minute load averages when the run started.
    pub load_start: [f64; 3],
    /// ... and when it ended (other jobs on a shared machine inflate the figures).
    pub load_end: [f64; 3],
    pub kernel: String,
    pub build: &'static str,
}

fn first_line_with(path: &str, key: &str) -> Option<String> {
    let s = std::fs::read_to_string(path).ok()?;
    s.lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_string())
}

pub fn loadavg() -> [f64; 3] {
    let s = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let mut it = s.split_whitespace().map(|v| v.parse().unwrap_or(f64::NAN));
    [
        it.next().unwrap_or(f64::NAN),
        it.next().unwrap_or(f64::NAN),
        it.next().unwrap_or(f64::NAN),
    ]
}

impl Machine {
    pub fn describe() -> Machine {
        let mem_kb: f64 = first_line_with("/proc/meminfo", "MemTotal")
            .and_then(|v| v.split_whitespace().next().and_then(|n| n.parse().ok()))
            .unwrap_or(0.0);
        Machine {
            nproc: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            cpu_model: first_line_with("/proc/cpuinfo", "model name")
                .unwrap_or_else(|| "unknown".into()),
            mem_gib: (mem_kb / 1024.0 / 1024.0 * 10.0).round() / 10.0,
            load_start: loadavg(),
            load_end: [f64::NAN; 3],
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .map(|s| s.trim().to_string())
                .unwrap_or_default(),
            build: if cfg!(debug_assertions) {
                "debug"
            } else {
                "release"
            },
        }
    }

    pub fn line(&self) -> String {
        format!(
            "{} × {}, {} GiB RAM, Linux {}, {} build; load average {:.1}/{:.1}/{:.1} at start, {:.1}/{:.1}/{:.1} at end",
            self.nproc,
            self.cpu_model,
            self.mem_gib,
            self.kernel,
            self.build,
            self.load_start[0],
            self.load_start[1],
            self.load_start[2],
            self.load_end[0],
            self.load_end[1],
            self.load_end[2]
        )
    }
}
