//! Prometheus text exposition of the connector's counters: packets and amounts per account
//! and direction, rejects by code, BTP frames refused, and (filled in at scrape time)
//! ledger balances.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;

/// Packet outcome as counted in `tollcast_packets_total{result=...}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Outcome {
    Fulfilled,
    Rejected,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Fulfilled => "fulfilled",
            Outcome::Rejected => "rejected",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Direction {
    Incoming,
    Outgoing,
}

impl Direction {
    fn as_str(self) -> &'static str {
        match self {
            Direction::Incoming => "incoming",
            Direction::Outgoing => "outgoing",
        }
    }
}

#[derive(Default)]
struct Inner {
    packets: BTreeMap<(String, Direction, Outcome), u64>,
    /// Fulfilled amounts (base units of the account's asset).
    amounts: BTreeMap<(String, Direction), u128>,
    rejects: BTreeMap<(String, String), u64>,
    btp_errors: BTreeMap<String, u64>,
    settlements: BTreeMap<String, (u64, u128)>,
}

/// Counters shared by the pipeline and the BTP links.
#[derive(Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

/// One row of `tollcast_balance` (filled from the ledger at scrape time).
pub struct BalanceRow {
    pub account: String,
    pub asset_code: String,
    pub asset_scale: u8,
    pub balance: i128,
    pub pending_incoming: u128,
    pub pending_outgoing: u128,
}

impl Metrics {
    fn with<R>(&self, f: impl FnOnce(&mut Inner) -> R) -> R {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut g)
    }

    pub fn packet(&self, account: &str, dir: Direction, outcome: Outcome, amount: u64) {
        self.with(|m| {
            *m.packets
                .entry((account.to_string(), dir, outcome))
                .or_default() += 1;
            if outcome == Outcome::Fulfilled {
                *m.amounts.entry((account.to_string(), dir)).or_default() += amount as u128;
            }
        });
    }

    /// A REJECT this node returned to `account` (whoever triggered it).
    pub fn reject(&self, account: &str, code: &str) {
        self.with(|m| {
            *m.rejects
                .entry((account.to_string(), code.to_string()))
                .or_default() += 1
        });
    }

    /// A BTP frame or connection refused (`kind`: malformed, unauthenticated, ...).
    pub fn btp_error(&self, kind: &str) {
        self.with(|m| *m.btp_errors.entry(kind.to_string()).or_default() += 1);
    }

    pub fn settlement(&self, account: &str, amount: u64) {
        self.with(|m| {
            let e = m.settlements.entry(account.to_string()).or_default();
            e.0 += 1;
            e.1 += amount as u128;
        });
    }

    /// Renders everything in the Prometheus text format (version 0.0.4).
    pub fn render(&self, balances: &[BalanceRow]) -> String {
        let mut s = String::new();
        self.with(|m| {
            s.push_str("# HELP tollcast_packets_total ILP PREPAREs handled, by account, direction and result.\n# TYPE tollcast_packets_total counter\n");
            for ((a, d, o), n) in &m.packets {
                let _ = writeln!(s, "tollcast_packets_total{{account=\"{}\",direction=\"{}\",result=\"{}\"}} {n}", esc(a), d.as_str(), o.as_str());
            }
            s.push_str("# HELP tollcast_amount_total Fulfilled amounts in base units of the account's asset.\n# TYPE tollcast_amount_total counter\n");
            for ((a, d), n) in &m.amounts {
                let _ = writeln!(s, "tollcast_amount_total{{account=\"{}\",direction=\"{}\"}} {n}", esc(a), d.as_str());
            }
            s.push_str("# HELP tollcast_rejects_total REJECTs returned, by incoming account and ILP error code.\n# TYPE tollcast_rejects_total counter\n");
            for ((a, c), n) in &m.rejects {
                let _ = writeln!(s, "tollcast_rejects_total{{account=\"{}\",code=\"{}\"}} {n}", esc(a), esc(c));
            }
            s.push_str("# HELP tollcast_btp_errors_total BTP frames or connections refused.\n# TYPE tollcast_btp_errors_total counter\n");
            for (k, n) in &m.btp_errors {
                let _ = writeln!(s, "tollcast_btp_errors_total{{kind=\"{}\"}} {n}", esc(k));
            }
            s.push_str("# HELP tollcast_settlements_total Settlements sent, count and amount.\n# TYPE tollcast_settlements_total counter\n");
            for (a, (n, amt)) in &m.settlements {
                let _ = writeln!(s, "tollcast_settlements_total{{account=\"{}\"}} {n}", esc(a));
                let _ = writeln!(s, "tollcast_settled_amount_total{{account=\"{}\"}} {amt}", esc(a));
            }
        });
        s.push_str("# HELP tollcast_balance Ledger balance per account in base units (positive: the peer owes us).\n# TYPE tollcast_balance gauge\n");
        for b in balances {
            let l = format!(
                "account=\"{}\",asset=\"{}\",scale=\"{}\"",
                esc(&b.account),
                esc(&b.asset_code),
                b.asset_scale
            );
            let _ = writeln!(s, "tollcast_balance{{{l}}} {}", b.balance);
            let _ = writeln!(s, "tollcast_pending_incoming{{{l}}} {}", b.pending_incoming);
            let _ = writeln!(s, "tollcast_pending_outgoing{{{l}}} {}", b.pending_outgoing);
        }
        s
    }
}

fn esc(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_balances() {
        let m = Metrics::default();
        m.packet("bob", Direction::Incoming, Outcome::Fulfilled, 10);
        m.packet("bob", Direction::Incoming, Outcome::Fulfilled, 5);
        m.reject("bob", "T04");
        m.btp_error("malformed");
        let out = m.render(&[BalanceRow {
            account: "b\"x".into(),
            asset_code: "USD".into(),
            asset_scale: 6,
            balance: -3,
            pending_incoming: 0,
            pending_outgoing: 1,
        }]);
        assert!(out.contains(
            "tollcast_packets_total{account=\"bob\",direction=\"incoming\",result=\"fulfilled\"} 2"
        ));
        assert!(out.contains("tollcast_amount_total{account=\"bob\",direction=\"incoming\"} 15"));
        assert!(out.contains("tollcast_rejects_total{account=\"bob\",code=\"T04\"} 1"));
        assert!(out.contains("tollcast_balance{account=\"b\\\"x\",asset=\"USD\",scale=\"6\"} -3"));
    }
}
