//! The money view of the demo, read from every node's real ledger (`GET /accounts`): what each
//! party earned or spent, and whether the books balance — every hub<->member link booked the
//! same amount on both sides, and all ledgers together sum to zero (money is only moved,
//! never made).

use std::time::Duration;

use serde::Serialize;
use tollcast_net::connector::AccountsView;

use super::http::Http;

/// A node whose ledger the demo reads.
#[derive(Clone, Debug, Serialize)]
pub struct LedgerSource {
    /// Account id at the hub (None for the hub itself).
    pub id: Option<String>,
    /// Role shown in the summary: hub, relay, creator, viewer, ...
    pub role: String,
    /// http://127.0.0.1:PORT of the node; None when its ledger is not served (a wallet
    /// inside another agent, e.g. `tollcast watch`): the hub's side of the link stands in.
    pub url: Option<String>,
}

/// One party's position.
#[derive(Clone, Debug, Serialize)]
pub struct Party {
    pub name: String,
    pub role: String,
    /// Earned (positive) or spent (negative) in total, base units: minus the sum of the
    /// node's balances (a balance is what the node owes the peer).
    pub net: i128,
    pub pending: i128,
}

/// Everyone's position and the checks.
#[derive(Clone, Debug, Serialize)]
pub struct Books {
    pub parties: Vec<Party>,
    /// Sum of every balance in every ledger (0 when balanced).
    pub total: i128,
    /// Links whose two sides disagree: (member, hub side, member side).
    pub mismatched: Vec<(String, i128, i128)>,
    pub pending: i128,
    pub balanced: bool,
    /// Wallets: id -> (balance left of the credit line, credit line).
    pub wallets: Vec<(String, i128, i128)>,
}

impl Books {
    /// Earnings by role (sum of net over parties of that role).
    pub fn by_role(&self, role: &str) -> i128 {
        self.parties
            .iter()
            .filter(|p| p.role == role)
            .map(|p| p.net)
            .sum()
    }
}

async fn view(http: &Http, url: &str) -> anyhow::Result<AccountsView> {
    let a = http
        .get(&format!("{url}/accounts"), None, Duration::from_secs(5))
        .await?;
    anyhow::ensure!(a.status.is_success(), "{url}/accounts: {}", a.status);
    Ok(serde_json::from_slice(&a.body)?)
}

/// Reads every ledger and does the sums. The hub must be first in `sources`.
pub async fn read(http: &Http, sources: &[LedgerSource]) -> anyhow::Result<Books> {
    let mut views = Vec::new();
    for s in sources {
        if let Some(url) = &s.url {
            views.push((s, view(http, url).await?));
        }
    }
    let hub = views
        .iter()
        .find(|(s, _)| s.id.is_none())
        .map(|(_, v)| v.clone())
        .ok_or_else(|| anyhow::anyhow!("no hub ledger"))?;
    // Members whose ledger is not served: mirror the hub's side (their books hold the
    // opposite of what the hub booked with them).
    for s in sources.iter().filter(|s| s.url.is_none()) {
        let Some(id) = &s.id else { continue };
        let hub_side = hub
            .accounts
            .iter()
            .find(|a| &a.id == id)
            .map(|a| a.balance)
            .unwrap_or(0);
        views.push((
            s,
            AccountsView {
                address: id.clone(),
                accounts: hub
                    .accounts
                    .iter()
                    .filter(|a| &a.id == id)
                    .map(|a| tollcast_net::connector::AccountView {
                        id: "hub".into(),
                        balance: -hub_side,
                        pending_incoming: 0,
                        pending_outgoing: 0,
                        ..a.clone()
                    })
                    .collect(),
            },
        ));
    }
    let mut parties = Vec::new();
    let mut total = 0i128;
    let mut pending = 0i128;
    let mut mismatched = Vec::new();
    let mut wallets = Vec::new();
    for (s, v) in &views {
        let sum: i128 = v.accounts.iter().map(|a| a.balance).sum();
        let pend: i128 = v
            .accounts
            .iter()
            .map(|a| a.pending_incoming.abs() + a.pending_outgoing.abs())
            .sum();
        total += sum;
        pending += pend;
        parties.push(Party {
            name: s.id.clone().unwrap_or_else(|| "hub".into()),
            role: s.role.clone(),
            net: -sum,
            pending: pend,
        });
        if let Some(id) = &s.id {
            let hub_side = hub
                .accounts
                .iter()
                .find(|a| &a.id == id)
                .map(|a| a.balance)
                .unwrap_or(0);
            let member_side = v
                .accounts
                .iter()
                .find(|a| a.id == "hub")
                .map(|a| a.balance)
                .unwrap_or(0);
            if hub_side + member_side != 0 {
                mismatched.push((id.clone(), hub_side, member_side));
            }
        }
    }
    for a in &hub.accounts {
        if a.credit_limit > 0 {
            wallets.push((a.id.clone(), a.credit_limit + a.balance, a.credit_limit));
        }
    }
    Ok(Books {
        balanced: total == 0 && mismatched.is_empty() && pending == 0,
        parties,
        total,
        mismatched,
        pending,
        wallets,
    })
}
