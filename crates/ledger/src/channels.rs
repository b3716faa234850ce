//! Payment channels in the ledger: the durable state of each channel (last cumulative amount and
//! seq, latest claim) and the two operations that move money through it atomically with the
//! account balance: sending a claim (we pay: balance down) and accepting one (we are paid:
//! balance up by exactly the newly claimed amount, once).

use redb::{ReadableDatabase, ReadableTable};
use serde::{Deserialize, Serialize};

use crate::claims::{ChannelId, Claim};
use crate::error::{ClaimError, LedgerError, Result};
use crate::journal::EntryKind;
use crate::store::{CHANNELS, Ledger, decode, encode};
use crate::tx::LedgerTx;
use crate::types::Receipt;

/// Which end of a channel we are.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChannelRole {
    /// We sign claims to the peer (we settle what we owe it).
    Payer,
    /// The peer signs claims to us (it settles what it owes us).
    Payee,
}

/// The durable state of one channel.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Channel {
    pub id: ChannelId,
    /// The ledger account the channel settles.
    pub account: String,
    pub role: ChannelRole,
    /// Payer's x-only public key.
    pub payer: [u8; 32],
    /// Payee's x-only public key.
    pub payee: [u8; 32],
    pub asset_code: String,
    pub asset_scale: u8,
    /// Highest cumulative amount the payer may claim; `None` = unbounded (pure IOU channel).
    pub capacity: Option<u64>,
    /// Cumulative amount of the last claim sent (payer) or accepted (payee).
    pub cumulative: u64,
    /// Seq of that claim (0 = none yet).
    pub seq: u64,
    /// That claim, kept so the payer can resend it and the payee can redeem it.
    pub last_claim: Option<Claim>,
}

impl Serialize for ChannelId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for ChannelId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        ChannelId::from_hex(&s).map_err(serde::de::Error::custom)
    }
}

/// What accepting a claim did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClaimReceipt {
    /// Base units newly credited to the account (0 for an identical duplicate).
    pub credited: u64,
    pub receipt: Receipt,
}

/// What sending a claim did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SentClaim {
    /// The claim to deliver to the peer.
    pub claim: Claim,
    /// What this settlement paid (the claim's cumulative minus the previous one).
    pub amount: u64,
    pub receipt: Receipt,
}

impl Ledger {
    /// Register the channel of `account` in which we play `role`. Asset code and scale come from
    /// the account. Idempotent: returns the existing channel if it has the same parameters.
    pub fn open_channel(
        &self,
        account: &str,
        role: ChannelRole,
        payer: [u8; 32],
        payee: [u8; 32],
        capacity: Option<u64>,
    ) -> Result<Channel> {
        self.write(|tx| tx.open_channel(account, role, payer, payee, capacity))
    }

    /// A channel by id.
    pub fn channel(&self, id: &ChannelId) -> Result<Option<Channel>> {
        let r = self.db.begin_read()?;
        let t = r.open_table(CHANNELS)?;
        let v = t.get(&id.0[..])?;
        v.map(|v| decode(v.value())).transpose()
    }

    /// All channels, ordered by id.
    pub fn channels(&self) -> Result<Vec<Channel>> {
        let r = self.db.begin_read()?;
        let t = r.open_table(CHANNELS)?;
        t.iter()?.map(|kv| decode(kv?.1.value())).collect()
    }

    /// The channel of `account` in which we play `role`, if one is registered.
    pub fn channel_for(&self, account: &str, role: ChannelRole) -> Result<Option<Channel>> {
        Ok(self
            .channels()?
            .into_iter()
            .find(|c| c.account == account && c.role == role))
    }

    /// Settle `amount` to the peer of `account`: sign the next cumulative claim with `keys`
    /// (the payer), store it and lower the balance, all in one transaction. Idempotent per
    /// `idempotency_key`: a repeat returns the claim made the first time and changes nothing.
    pub fn send_claim(
        &self,
        account: &str,
        amount: u64,
        keys: &nostr::key::Keys,
        idempotency_key: &str,
    ) -> Result<SentClaim> {
        let (account, keys, key) = (
            account.to_string(),
            keys.clone(),
            idempotency_key.to_string(),
        );
        self.submit(move |tx| tx.send_claim(&account, amount, &keys, &key))
    }

    /// Settle whatever is due on `account` right now (balance above the settle threshold, down
    /// to `settle_to`), computed inside the transaction, so concurrent or repeated calls never
    /// pay a stale amount twice. `Ok(None)` when nothing is due.
    pub fn send_due_claim(
        &self,
        account: &str,
        keys: &nostr::key::Keys,
    ) -> Result<Option<SentClaim>> {
        let (account, keys) = (account.to_string(), keys.clone());
        self.submit(move |tx| tx.send_due_claim(&account, &keys))
    }

    /// Accept a claim from the peer of `account`: verify it, and credit the newly claimed amount
    /// exactly once. Forged, replayed, rolled-back or foreign claims fail and change nothing; an
    /// identical duplicate of the last accepted claim succeeds with `credited == 0`.
    pub fn receive_claim(&self, account: &str, claim: &Claim) -> Result<ClaimReceipt> {
        let (account, claim) = (account.to_string(), claim.clone());
        self.submit(move |tx| tx.receive_claim(&account, &claim))
    }
}

impl LedgerTx<'_> {
    fn put_channel(&self, c: &Channel) -> Result<()> {
        self.dirty.set(true);
        self.txn
            .open_table(CHANNELS)?
            .insert(&c.id.0[..], &encode(c)?[..])?;
        Ok(())
    }

    /// A channel by id.
    pub fn channel(&self, id: &ChannelId) -> Result<Option<Channel>> {
        let t = self.txn.open_table(CHANNELS)?;
        let v = t.get(&id.0[..])?;
        v.map(|v| decode(v.value())).transpose()
    }

    /// The channel of `account` with `role`.
    pub fn channel_for(&self, account: &str, role: ChannelRole) -> Result<Option<Channel>> {
        let t = self.txn.open_table(CHANNELS)?;
        for kv in t.iter()? {
            let c: Channel = decode(kv?.1.value())?;
            if c.account == account && c.role == role {
                return Ok(Some(c));
            }
        }
        Ok(None)
    }

    /// See [`Ledger::open_channel`].
    pub fn open_channel(
        &mut self,
        account: &str,
        role: ChannelRole,
        payer: [u8; 32],
        payee: [u8; 32],
        capacity: Option<u64>,
    ) -> Result<Channel> {
        let a = self.account(account)?;
        for key in [&payer, &payee] {
            secp256k1::XOnlyPublicKey::from_byte_array(key).map_err(|_| {
                LedgerError::Claim(ClaimError::Malformed(format!(
                    "{} is not a valid x-only public key",
                    hex::encode(key)
                )))
            })?;
        }
        let id = ChannelId::derive(&payer, &payee, &a.config.asset_code, a.config.asset_scale);
        let fresh = Channel {
            id,
            account: account.to_string(),
            role,
            payer,
            payee,
            asset_code: a.config.asset_code.clone(),
            asset_scale: a.config.asset_scale,
            capacity,
            cumulative: 0,
            seq: 0,
            last_claim: None,
        };
        if let Some(existing) = self.channel(&id)? {
            if existing.account == fresh.account
                && existing.role == fresh.role
                && existing.capacity == fresh.capacity
            {
                return Ok(existing);
            }
            return Err(LedgerError::ChannelExists(id.to_hex()));
        }
        if self.channel_for(account, role)?.is_some() {
            return Err(LedgerError::ChannelExists(format!(
                "account {account:?} already has a {role:?} channel"
            )));
        }
        self.put_channel(&fresh)?;
        Ok(fresh)
    }

    /// See [`Ledger::send_claim`].
    pub fn send_claim(
        &mut self,
        account: &str,
        amount: u64,
        keys: &nostr::key::Keys,
        idempotency_key: &str,
    ) -> Result<SentClaim> {
        let a = self.account(account)?;
        let mut c = self
            .channel_for(account, ChannelRole::Payer)?
            .ok_or_else(|| LedgerError::NoChannel(account.to_string()))?;
        let request = format!("claim|{account}|{amount}|{}", c.id);
        let key = format!("settle:{idempotency_key}");
        let first = self.idempotency(&key, request.as_bytes())?;
        if !first {
            // Repeat: hand back the claim recorded under this key.
            let claim = self
                .claim_for_key(idempotency_key)?
                .ok_or_else(|| LedgerError::Corrupt(format!("no claim under key {key:?}")))?;
            return Ok(SentClaim {
                claim,
                amount,
                receipt: Receipt {
                    account: a,
                    journal_id: None,
                    settlement_due: None,
                },
            });
        }
        if amount == 0 {
            return Err(LedgerError::InvalidAmount(
                "a settlement must be positive".into(),
            ));
        }
        if keys.public_key().to_bytes() != c.payer {
            return Err(LedgerError::Claim(ClaimError::WrongSigner {
                expected: hex::encode(c.payer),
                got: keys.public_key().to_hex(),
            }));
        }
        let cumulative = c
            .cumulative
            .checked_add(amount)
            .ok_or_else(|| LedgerError::Overflow(account.to_string()))?;
        if let Some(cap) = c.capacity
            && cumulative > cap
        {
            return Err(ClaimError::OverCapacity {
                cumulative,
                capacity: cap,
            }
            .into());
        }
        let seq = c.seq + 1;
        let claim = Claim::sign(keys, c.id, &c.asset_code, c.asset_scale, cumulative, seq)?;
        c.cumulative = cumulative;
        c.seq = seq;
        c.last_claim = Some(claim.clone());
        self.put_channel(&c)?;
        self.dirty.set(true);
        self.txn.open_table(crate::store::IDEMPOTENCY)?.insert(
            format!("claim:{idempotency_key}").as_str(),
            &encode(&claim)?[..],
        )?;
        let amt = i128::from(amount);
        let receipt = self.apply(
            a,
            EntryKind::SettlementSent,
            None,
            None,
            amount,
            (-amt, 0, 0),
            Some(format!("channel {} seq {seq}", c.id)),
        )?;
        Ok(SentClaim {
            claim,
            amount,
            receipt,
        })
    }

    /// See [`Ledger::send_due_claim`].
    pub fn send_due_claim(
        &mut self,
        account: &str,
        keys: &nostr::key::Keys,
    ) -> Result<Option<SentClaim>> {
        let Some(amount) = self.account(account)?.settlement_due() else {
            return Ok(None);
        };
        if amount == 0 {
            return Ok(None);
        }
        let seq = self
            .channel_for(account, ChannelRole::Payer)?
            .ok_or_else(|| LedgerError::NoChannel(account.to_string()))?
            .seq;
        self.send_claim(account, amount, keys, &format!("due:{account}:{}", seq + 1))
            .map(Some)
    }

    fn claim_for_key(&self, idempotency_key: &str) -> Result<Option<Claim>> {
        let t = self.txn.open_table(crate::store::IDEMPOTENCY)?;
        let v = t.get(format!("claim:{idempotency_key}").as_str())?;
        v.map(|v| decode(v.value())).transpose()
    }

    /// See [`Ledger::receive_claim`].
    pub fn receive_claim(&mut self, account: &str, claim: &Claim) -> Result<ClaimReceipt> {
        let a = self.account(account)?;
        let mut c = self
            .channel_for(account, ChannelRole::Payee)?
            .ok_or_else(|| LedgerError::NoChannel(account.to_string()))?;
        if claim.channel_id != c.id {
            return Err(ClaimError::WrongChannel {
                expected: c.id.to_hex(),
                got: claim.channel_id.to_hex(),
            }
            .into());
        }
        if claim.asset_code != c.asset_code || claim.asset_scale != c.asset_scale {
            return Err(ClaimError::AssetMismatch {
                expected_code: c.asset_code.clone(),
                expected_scale: c.asset_scale,
                got_code: claim.asset_code.clone(),
                got_scale: claim.asset_scale,
            }
            .into());
        }
        claim.verify(&c.payer)?;
        if claim.seq == c.seq && claim.cumulative == c.cumulative && c.seq > 0 {
            // The same balance proof again (signatures are randomized, so compare content).
            return Ok(ClaimReceipt {
                credited: 0,
                receipt: Receipt {
                    account: a,
                    journal_id: None,
                    settlement_due: None,
                },
            });
        }
        if claim.seq <= c.seq || claim.cumulative <= c.cumulative {
            return Err(ClaimError::Stale {
                cumulative: claim.cumulative,
                seq: claim.seq,
                last_cumulative: c.cumulative,
                last_seq: c.seq,
            }
            .into());
        }
        if let Some(cap) = c.capacity
            && claim.cumulative > cap
        {
            return Err(ClaimError::OverCapacity {
                cumulative: claim.cumulative,
                capacity: cap,
            }
            .into());
        }
        let credited = claim.cumulative - c.cumulative;
        c.cumulative = claim.cumulative;
        c.seq = claim.seq;
        c.last_claim = Some(claim.clone());
        self.put_channel(&c)?;
        let amt = i128::from(credited);
        let receipt = self.apply(
            a,
            EntryKind::SettlementReceived,
            None,
            None,
            credited,
            (amt, 0, 0),
            Some(format!("channel {} seq {}", c.id, claim.seq)),
        )?;
        Ok(ClaimReceipt { credited, receipt })
    }
}
