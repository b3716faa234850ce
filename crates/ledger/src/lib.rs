//! tollcast-ledger: accounts, balances, credit limits, payment-channel claims and settlement.
//!
//! Durable in an embedded store (redb): every PREPARE reserves, FULFILL commits, REJECT or
//! expiry rolls back, each in one write transaction committed with immediate durability before
//! the call returns, so a kill -9 at any moment loses or double-counts nothing.
//!
//! # Sign convention
//!
//! An account's `balance` is what **we owe the peer** (interledger-rs convention). Positive: the
//! peer prepaid or earned that much with us. Negative: the peer owes us, down to
//! `config.min_balance` (0 = prepaid account, `-L` = credit limit `L`).
//!
//! | event                              | balance | pending_incoming | pending_outgoing |
//! |------------------------------------|---------|------------------|------------------|
//! | `prepare_incoming(a)` (peer pays)  |         | +a               |                  |
//! | `fulfill_incoming`                 | −a      | −a               |                  |
//! | `reject_incoming` / expiry         |         | −a               |                  |
//! | `prepare_outgoing(a)` (we pay)     |         |                  | +a               |
//! | `fulfill_outgoing`                 | +a      |                  | −a               |
//! | `reject_outgoing` / expiry         |         |                  | −a               |
//! | `deposit` / `withdraw` (admin)     | ±a      |                  |                  |
//! | `send_claim` (we settle)           | −a      |                  |                  |
//! | `receive_claim` (peer settles)     | +a      |                  |                  |
//!
//! An incoming PREPARE is accepted only if `balance − pending_incoming − a ≥ min_balance`
//! (else [`LedgerError::InsufficientBalance`]: answer T04). Across two peers' ledgers,
//! `A.balance[B] + B.balance[A] = 0` once nothing is in flight: money is conserved network-wide.
//!
//! # API summary
//!
//! ```text
//! Ledger::open(path) / Ledger::temporary()            -> Ledger (Clone + Send + Sync)
//! ledger.create_account(id, AccountConfig::prepaid("USD", 6) | ::credit("USD", 6, limit)
//!                          .with_settlement(threshold, settle_to)
//!                          .with_max_balance(max).with_max_packet_amount(max))
//! ledger.prepare_incoming(acct, PacketId, amount, expires_at_ms) -> Receipt
//! ledger.fulfill_incoming(acct, PacketId) / reject_incoming(acct, PacketId)
//! ledger.prepare_outgoing / fulfill_outgoing / reject_outgoing  (same shapes)
//! ledger.prepare_forward(in_acct, in_id, in_amt, in_exp, out_acct, out_id, out_amt, out_exp)
//!   -> (in receipt, out receipt); then fulfill_forward(in_acct, in_id, out_acct, out_id)
//!   -> (out receipt, in receipt) or reject_forward(..): both legs always move together
//! ledger.write(|tx| { tx.fulfill(Outgoing, ..)?; tx.fulfill(Incoming, ..) })   any atomic batch
//! ledger.expire_pending(now_ms) / abort_all_pending()  roll back unanswered packets (startup!)
//! ledger.deposit(acct, amount, reference) / withdraw(..)   idempotent per reference
//! ledger.account(id) / accounts() / pending() / packet(dir, id) / journal(from, limit)
//! ledger.totals() / audit()  -> Totals   (audit replays the journal against the state)
//! ledger.prune_finished(before_ms) / compact_journal(through_id)   bound the file size
//! ledger.settlements_due()   -> Vec<SettlementDue>   (Receipt.settlement_due on crossing)
//! ledger.open_channel(acct, ChannelRole, payer, payee, capacity) / channel_for(acct, role)
//! ledger.send_claim(acct, amount, &keys, idempotency_key) -> SentClaim { claim, amount, receipt }
//! ledger.send_due_claim(acct, &keys) -> Option<SentClaim>   (amount computed in the txn)
//! ledger.receive_claim(acct, &claim) -> ClaimReceipt { credited, receipt }
//! ledger.settlement_sent(acct, amount, key) / settlement_received(..)   other engines' books
//! Claim::{sign, verify, digest, to_json, from_json, to_bytes, from_bytes}, ChannelId::derive
//! trait SettlementEngine { setup_account, send_settlement(acct, Quantity, key), receive_message }
//! LocalClaimEngine::new(ledger, keys).register_peer(acct, peer_xonly) / settle(acct, amount)
//!   / settle_due(acct) -> Option<Settlement { committed, message }> / latest_message(acct)
//! ledger.submit(move |tx| ...)   like write(), but group-committed ('static + Fn closure)
//! ```
//!
//! # Durability, concurrency, blocking
//!
//! Every call returns only after its change is durable (redb `Durability::Immediate`, one
//! fsync). Single operations (`prepare_*`, `fulfill_*`, `reject_*`, `*_forward`, `deposit`,
//! `withdraw`, claims, `submit`) go through **group commit**: one committer thread runs all
//! operations queued by concurrent callers in one transaction with one fsync, so throughput
//! grows with concurrency. `write` runs its closure in its own transaction on the calling
//! thread (any closure, no `'static` needed). All calls block for an fsync (milliseconds):
//! from async code call them inside `tokio::task::spawn_blocking`.
//!
//! After a restart call `expire_pending(now_ms())` (or `abort_all_pending()` when no in-flight
//! packet can still be answered) before serving packets.
//!
//! # Settlement flow (what a connector does)
//!
//! 1. Per peer account, once: `engine.register_peer(acct, peer_xonly)` when the peer's key is
//!    known (its Nostr pubkey), or send `engine.setup_account(acct)` (a hello) to the peer.
//! 2. When a receipt carries `settlement_due` (or periodically, for every
//!    `ledger.settlements_due()`): `engine.settle_due(acct)` → send `settlement.message` to the
//!    peer as BTP protocolData [`PROTOCOL_DATA_NAME`] (content type 2, JSON).
//! 3. On that protocolData from a peer: `engine.receive_message(acct, data)` — credits the
//!    account once; forged, replayed or stale claims are refused and change nothing.
//! 4. On reconnect: resend `engine.latest_message(acct)` (claims are cumulative, so the latest
//!    one makes up for any message lost in a crash; the peer credits only the difference).
//!
//! ```
//! use nostr::key::Keys;
//! use tollcast_ledger::*;
//!
//! let (a, b) = (Ledger::temporary()?, Ledger::temporary()?);
//! a.create_account("b", AccountConfig::credit("USD", 6, 0).with_settlement(100, 0))?;
//! b.create_account("a", AccountConfig::credit("USD", 6, 1_000))?;
//! let (ea, eb) = (LocalClaimEngine::new(a.clone(), Keys::generate()),
//!                 LocalClaimEngine::new(b.clone(), Keys::generate()));
//! ea.register_peer("b", eb.pubkey())?;
//! eb.register_peer("a", ea.pubkey())?;
//! // a forwards a 150-unit packet to b: a owes b 150, above a's threshold of 100.
//! let id = PacketId::derive(&[b"example"]);
//! b.prepare_incoming("a", id, 150, u64::MAX)?;
//! b.fulfill_incoming("a", id)?;
//! a.prepare_outgoing("b", id, 150, u64::MAX)?;
//! let due = a.fulfill_outgoing("b", id)?.settlement_due.expect("threshold crossed");
//! assert_eq!(due.amount, 150);
//! let settlement = ea.settle_due("b")?.expect("something is due");
//! let got = eb.receive_message("a", &settlement.message)?;
//! assert_eq!(got.credited.amount, 150);
//! assert_eq!(a.account("b")?.unwrap().balance + b.account("a")?.unwrap().balance, 0);
//! # Ok::<(), LedgerError>(())
//! ```
//!
//! Packet ids are chosen by the caller ([`PacketId::derive`]) so retries are idempotent:
//! repeating a fulfill or reject changes nothing; a second prepare with the same id fails with
//! `DuplicatePacket`; fulfilling a rejected/expired packet fails with `PacketFinished`.

mod audit;
pub mod channels;
pub mod claims;
pub mod error;
mod group;
pub use group::Submitted;
pub mod journal;
pub mod settlement;
pub mod store;
mod tx;
pub mod types;

pub use channels::{Channel, ChannelRole, ClaimReceipt, SentClaim};
pub use claims::{ChannelId, Claim};
pub use error::{ClaimError, LedgerError, Result};
pub use journal::{Entry, EntryKind, Totals};
pub use settlement::{
    EngineMessage, EngineReply, LocalClaimEngine, PROTOCOL_DATA_NAME, Quantity, Settlement,
    SettlementEngine,
};
pub use store::{Ledger, now_ms};
pub use tx::LedgerTx;
pub use types::{
    Account, AccountConfig, Direction, PacketId, PacketState, Pending, Receipt, SettlementDue,
};
