//! Settlement engines in the shape of Interledger RFC 0038: the connector asks an engine to
//! settle an amount with a peer (`send_settlement`, idempotent per key), forwards the messages
//! the peers' engines exchange (`receive_message`), and the engine credits incoming settlements
//! to the ledger. RFC 0038 does this over HTTP; here it is a Rust trait, so an engine can live
//! in-process (the default [`LocalClaimEngine`]) or wrap a remote/on-chain engine later.

use serde::{Deserialize, Serialize};

use crate::channels::ChannelRole;
use crate::claims::Claim;
use crate::error::{LedgerError, Result};
use crate::store::Ledger;

/// BTP protocolData name under which settlement-engine messages ([`EngineMessage`] JSON,
/// content type 2 = application/json) travel between peers. Distinct from M2M's
/// `payment-channel-claim` (EIP-712 claims), so the two never get confused.
pub const PROTOCOL_DATA_NAME: &str = "tollcast-settlement";

/// An amount with its scale, as in RFC 0038 (`{"amount":"100","scale":9}`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quantity {
    #[serde(with = "u64_string")]
    pub amount: u64,
    pub scale: u8,
}

impl Quantity {
    pub fn new(amount: u64, scale: u8) -> Self {
        Quantity { amount, scale }
    }

    /// The same value in `scale`, if it is exactly representable there.
    pub fn to_scale(self, scale: u8) -> Result<u64> {
        let bad = || {
            LedgerError::InvalidAmount(format!(
                "{} at scale {} is not a whole number of units at scale {scale}",
                self.amount, self.scale
            ))
        };
        if scale >= self.scale {
            let f = 10u64
                .checked_pow(u32::from(scale - self.scale))
                .ok_or_else(bad)?;
            self.amount.checked_mul(f).ok_or_else(bad)
        } else {
            let f = 10u64
                .checked_pow(u32::from(self.scale - scale))
                .ok_or_else(bad)?;
            if !self.amount.is_multiple_of(f) {
                return Err(bad());
            }
            Ok(self.amount / f)
        }
    }
}

mod u64_string {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &u64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&v.to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Result of `send_settlement`: what was committed and the message to deliver to the peer's
/// engine (over BTP protocolData `tollcast-settlement`, or any channel).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settlement {
    pub committed: Quantity,
    pub message: Vec<u8>,
}

/// Result of `receive_message`: what was credited to the account (zero for non-payment
/// messages or duplicates) and an optional reply for the peer's engine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EngineReply {
    pub credited: Quantity,
    pub reply: Option<Vec<u8>>,
}

/// A settlement engine (RFC 0038 shape).
pub trait SettlementEngine: Send + Sync {
    /// RFC 0038 `POST /accounts`: get ready to settle with `account`. May return a message for
    /// the peer's engine (e.g. our channel key).
    fn setup_account(&self, account: &str) -> Result<Option<Vec<u8>>>;

    /// RFC 0038 `POST /accounts/:id/settlements`: pay the peer `quantity`; the ledger balance
    /// goes down by what was committed. Repeating the same `idempotency_key` returns the first
    /// result and pays nothing more.
    fn send_settlement(
        &self,
        account: &str,
        quantity: Quantity,
        idempotency_key: &str,
    ) -> Result<Settlement>;

    /// RFC 0038 `POST /accounts/:id/messages`: a message from the peer's engine. A payment is
    /// credited to the ledger here, exactly once.
    fn receive_message(&self, account: &str, message: &[u8]) -> Result<EngineReply>;
}

/// Messages between two [`LocalClaimEngine`]s (JSON).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum EngineMessage {
    /// "My key is `pubkey` (x-only hex)": the receiver opens its channels with this peer.
    Hello { pubkey: String },
    /// A cumulative claim in the sender's payer channel.
    Claim { claim: Claim },
}

impl EngineMessage {
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    pub fn from_bytes(b: &[u8]) -> Result<Self> {
        serde_json::from_slice(b).map_err(|e| {
            LedgerError::Claim(crate::error::ClaimError::Malformed(format!(
                "settlement message: {e}"
            )))
        })
    }
}

/// The default engine: settles by exchanging payment-channel claims, backed by the ledger.
/// Sending signs the next cumulative claim and lowers the balance in one transaction; receiving
/// verifies the peer's claim and credits the new amount once.
#[derive(Clone, Debug)]
pub struct LocalClaimEngine {
    ledger: Ledger,
    keys: nostr::key::Keys,
}

impl LocalClaimEngine {
    /// An engine that signs with `keys` (typically the node's Nostr keys).
    pub fn new(ledger: Ledger, keys: nostr::key::Keys) -> Self {
        LocalClaimEngine { ledger, keys }
    }

    /// Our x-only public key.
    pub fn pubkey(&self) -> [u8; 32] {
        self.keys.public_key().to_bytes()
    }

    /// Open both channels with the peer of `account` whose key is known (e.g. its npub):
    /// one where we pay, one where it pays. Idempotent.
    pub fn register_peer(&self, account: &str, peer_pubkey: [u8; 32]) -> Result<()> {
        let me = self.pubkey();
        self.ledger.write(|tx| {
            tx.open_channel(account, ChannelRole::Payer, me, peer_pubkey, None)?;
            tx.open_channel(account, ChannelRole::Payee, peer_pubkey, me, None)?;
            Ok(())
        })
    }

    /// Settle `amount` base units of the account's asset with a key stable across crashes
    /// (derived from the next claim seq), so a retry after a crash never pays twice.
    pub fn settle(&self, account: &str, amount: u64) -> Result<Settlement> {
        let acc = self
            .ledger
            .account(account)?
            .ok_or_else(|| LedgerError::UnknownAccount(account.to_string()))?;
        let ch = self
            .ledger
            .channel_for(account, ChannelRole::Payer)?
            .ok_or_else(|| LedgerError::NoChannel(account.to_string()))?;
        let key = format!("auto:{account}:{}", ch.seq + 1);
        self.send_settlement(account, Quantity::new(amount, acc.config.asset_scale), &key)
    }

    /// Settle what is due on `account` now (see [`Ledger::send_due_claim`]): the message to
    /// deliver to the peer, or `None` when nothing is due. Safe to call from several tasks at
    /// once and to retry periodically.
    pub fn settle_due(&self, account: &str) -> Result<Option<Settlement>> {
        Ok(self
            .ledger
            .send_due_claim(account, &self.keys)?
            .map(|sent| Settlement {
                committed: Quantity::new(sent.amount, sent.claim.asset_scale),
                message: EngineMessage::Claim { claim: sent.claim }.to_bytes(),
            }))
    }

    /// The latest claim we sent on `account` as a message, to resend after a reconnect or a
    /// crash (claims are cumulative, so the latest covers every earlier one).
    pub fn latest_message(&self, account: &str) -> Result<Option<Vec<u8>>> {
        Ok(self
            .ledger
            .channel_for(account, ChannelRole::Payer)?
            .and_then(|c| c.last_claim)
            .map(|claim| EngineMessage::Claim { claim }.to_bytes()))
    }
}

impl SettlementEngine for LocalClaimEngine {
    fn setup_account(&self, account: &str) -> Result<Option<Vec<u8>>> {
        if self.ledger.account(account)?.is_none() {
            return Err(LedgerError::UnknownAccount(account.to_string()));
        }
        Ok(Some(
            EngineMessage::Hello {
                pubkey: hex::encode(self.pubkey()),
            }
            .to_bytes(),
        ))
    }

    fn send_settlement(
        &self,
        account: &str,
        quantity: Quantity,
        idempotency_key: &str,
    ) -> Result<Settlement> {
        let acc = self
            .ledger
            .account(account)?
            .ok_or_else(|| LedgerError::UnknownAccount(account.to_string()))?;
        let scale = acc.config.asset_scale;
        let amount = quantity.to_scale(scale)?;
        let sent = self
            .ledger
            .send_claim(account, amount, &self.keys, idempotency_key)?;
        Ok(Settlement {
            committed: Quantity::new(amount, scale),
            message: EngineMessage::Claim { claim: sent.claim }.to_bytes(),
        })
    }

    fn receive_message(&self, account: &str, message: &[u8]) -> Result<EngineReply> {
        let acc = self
            .ledger
            .account(account)?
            .ok_or_else(|| LedgerError::UnknownAccount(account.to_string()))?;
        let zero = Quantity::new(0, acc.config.asset_scale);
        match EngineMessage::from_bytes(message)? {
            EngineMessage::Hello { pubkey } => {
                let bytes: [u8; 32] = hex::decode(&pubkey)
                    .ok()
                    .and_then(|v| v.try_into().ok())
                    .ok_or_else(|| {
                        LedgerError::Claim(crate::error::ClaimError::Malformed(
                            "hello pubkey must be 32 bytes of hex".into(),
                        ))
                    })?;
                // A peer already known under another key keeps its channels: a hello cannot
                // take over someone else's channel.
                if let Some(ch) = self.ledger.channel_for(account, ChannelRole::Payee)?
                    && ch.payer != bytes
                {
                    return Err(LedgerError::ChannelExists(format!(
                        "account {account:?} already has a channel with key {}",
                        hex::encode(ch.payer)
                    )));
                }
                self.register_peer(account, bytes)?;
                Ok(EngineReply {
                    credited: zero,
                    reply: None,
                })
            }
            EngineMessage::Claim { claim } => {
                let r = self.ledger.receive_claim(account, &claim)?;
                Ok(EngineReply {
                    credited: Quantity::new(r.credited, acc.config.asset_scale),
                    reply: None,
                })
            }
        }
    }
}
