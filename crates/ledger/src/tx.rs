//! The write transaction and every mutation of the books: accounts, packet reservations and
//! their outcomes, expiry, deposits and withdrawals, settlements. Each method checks everything
//! before writing, so an error leaves the transaction as it was.

use std::cell::Cell;

use redb::{ReadableTable, WriteTransaction};

use crate::error::{LedgerError, Result};
use crate::journal::{Entry, EntryKind, Sums};
use crate::store::{
    ACCOUNTS, FINISHED, IDEMPOTENCY, JOURNAL, META, PENDING, SUMS, decode, encode, packet_key,
};
use crate::types::{
    Account, AccountConfig, Direction, PacketId, PacketState, Pending, Receipt, SettlementDue,
};

/// One open write transaction. Everything done through it commits together or not at all.
pub struct LedgerTx<'a> {
    pub(crate) txn: &'a WriteTransaction,
    pub(crate) now_ms: u64,
    /// Set by every write, so group commit knows whether a failed job left changes behind.
    pub(crate) dirty: Cell<bool>,
}

impl LedgerTx<'_> {
    /// The transaction's clock (unix ms), used for journal timestamps.
    pub fn now_ms(&self) -> u64 {
        self.now_ms
    }

    /// Read an account inside the transaction.
    pub fn account(&self, id: &str) -> Result<Account> {
        let t = self.txn.open_table(ACCOUNTS)?;
        let v = t
            .get(id)?
            .ok_or_else(|| LedgerError::UnknownAccount(id.to_string()))?;
        decode(v.value())
    }

    pub(crate) fn put_account(&self, a: &Account) -> Result<()> {
        self.dirty.set(true);
        let mut t = self.txn.open_table(ACCOUNTS)?;
        t.insert(a.id.as_str(), &encode(a)?[..])?;
        Ok(())
    }

    /// Append a journal entry (id assigned here) and return its id.
    pub(crate) fn append(&self, mut e: Entry) -> Result<u64> {
        self.dirty.set(true);
        let mut t = self.txn.open_table(JOURNAL)?;
        let id = t.last()?.map_or(1, |(k, _)| k.value() + 1);
        e.id = id;
        e.at_ms = self.now_ms;
        t.insert(id, &encode(&e)?[..])?;
        let mut meta = self.txn.open_table(META)?;
        let mut sums: Sums = match meta.get(SUMS)? {
            Some(v) => decode(v.value())?,
            None => Sums::default(),
        };
        sums.add(e.kind, e.direction, e.amount);
        meta.insert(SUMS, &encode(&sums)?[..])?;
        Ok(id)
    }

    /// Apply deltas to an account, journal them, and detect an upward threshold crossing.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn apply(
        &self,
        mut a: Account,
        kind: EntryKind,
        direction: Option<Direction>,
        packet: Option<PacketId>,
        amount: u64,
        deltas: (i128, i128, i128),
        reference: Option<String>,
    ) -> Result<Receipt> {
        let before = a.balance;
        let ovf = || LedgerError::Overflow(a.id.clone());
        let balance = a.balance.checked_add(deltas.0).ok_or_else(ovf)?;
        let pin = a.pending_incoming.checked_add(deltas.1).ok_or_else(ovf)?;
        let pout = a.pending_outgoing.checked_add(deltas.2).ok_or_else(ovf)?;
        a.balance = balance;
        a.pending_incoming = pin;
        a.pending_outgoing = pout;
        self.put_account(&a)?;
        let id = self.append(Entry {
            id: 0,
            at_ms: 0,
            account: a.id.clone(),
            kind,
            direction,
            packet,
            amount,
            balance_delta: deltas.0,
            pending_incoming_delta: deltas.1,
            pending_outgoing_delta: deltas.2,
            balance_after: a.balance,
            reference,
        })?;
        let settlement_due = match a.config.settle_threshold {
            Some(t) if before <= t && a.balance > t => {
                a.settlement_due().map(|amount| SettlementDue {
                    account: a.id.clone(),
                    amount,
                    balance: a.balance,
                })
            }
            _ => None,
        };
        Ok(Receipt {
            account: a,
            journal_id: Some(id),
            settlement_due,
        })
    }

    /// See [`Ledger::create_account`].
    pub fn create_account(&mut self, id: &str, config: AccountConfig) -> Result<Account> {
        if id.is_empty() || id.len() > 256 {
            return Err(LedgerError::InvalidConfig {
                account: id.to_string(),
                reason: "account id must be 1 to 256 bytes".into(),
            });
        }
        config
            .validate()
            .map_err(|reason| LedgerError::InvalidConfig {
                account: id.to_string(),
                reason,
            })?;
        match self.account(id) {
            Ok(existing) if existing.config == config => return Ok(existing),
            Ok(_) => return Err(LedgerError::AccountExists(id.to_string())),
            Err(LedgerError::UnknownAccount(_)) => {}
            Err(e) => return Err(e),
        }
        let a = Account {
            id: id.to_string(),
            config,
            balance: 0,
            pending_incoming: 0,
            pending_outgoing: 0,
        };
        Ok(self
            .apply(a, EntryKind::AccountCreated, None, None, 0, (0, 0, 0), None)?
            .account)
    }

    /// See [`Ledger::update_account`].
    pub fn update_account(&mut self, id: &str, config: AccountConfig) -> Result<Account> {
        config
            .validate()
            .map_err(|reason| LedgerError::InvalidConfig {
                account: id.to_string(),
                reason,
            })?;
        let mut a = self.account(id)?;
        if a.config.asset_code != config.asset_code || a.config.asset_scale != config.asset_scale {
            return Err(LedgerError::InvalidConfig {
                account: id.to_string(),
                reason: "asset code and scale of an account cannot change".into(),
            });
        }
        if a.config == config {
            return Ok(a);
        }
        a.config = config;
        Ok(self
            .apply(a, EntryKind::AccountUpdated, None, None, 0, (0, 0, 0), None)?
            .account)
    }

    /// Reserve `amount` for a PREPARE (see [`Ledger::prepare_incoming`]/`prepare_outgoing`).
    pub fn prepare(
        &mut self,
        direction: Direction,
        account: &str,
        packet: PacketId,
        amount: u64,
        expires_at_ms: u64,
    ) -> Result<Receipt> {
        let a = self.account(account)?;
        let key = packet_key(direction, &packet);
        if self.txn.open_table(PENDING)?.get(&key[..])?.is_some()
            || self.txn.open_table(FINISHED)?.get(&key[..])?.is_some()
        {
            return Err(LedgerError::DuplicatePacket { direction, packet });
        }
        if let Some(max) = a.config.max_packet_amount
            && amount > max
        {
            return Err(LedgerError::AmountTooLarge {
                account: account.to_string(),
                amount,
                max,
            });
        }
        let amt = i128::from(amount);
        let deltas = match direction {
            Direction::Incoming => {
                if a.balance - a.pending_incoming - amt < a.config.min_balance {
                    return Err(LedgerError::InsufficientBalance {
                        account: account.to_string(),
                        balance: a.balance,
                        pending: a.pending_incoming,
                        min_balance: a.config.min_balance,
                        amount,
                    });
                }
                (0, amt, 0)
            }
            Direction::Outgoing => {
                if let Some(max) = a.config.max_balance
                    && a.balance + a.pending_outgoing + amt > max
                {
                    return Err(LedgerError::ExceedsMaxBalance {
                        account: account.to_string(),
                        balance: a.balance,
                        pending: a.pending_outgoing,
                        max_balance: max,
                        amount,
                    });
                }
                (0, 0, amt)
            }
        };
        let p = Pending {
            direction,
            packet,
            account: account.to_string(),
            amount,
            expires_at_ms,
            state: PacketState::Pending,
            prepared_at_ms: self.now_ms,
        };
        self.dirty.set(true);
        self.txn
            .open_table(PENDING)?
            .insert(&key[..], &encode(&p)?[..])?;
        self.apply(
            a,
            EntryKind::Prepare,
            Some(direction),
            Some(packet),
            amount,
            deltas,
            None,
        )
    }

    /// Take a pending record out of PENDING (or report why it cannot be finished).
    /// `Ok(None)` = already finished in the requested state (idempotent repeat).
    fn take_pending(
        &mut self,
        direction: Direction,
        account: &str,
        packet: PacketId,
        wanted: PacketState,
    ) -> Result<Option<Pending>> {
        let key = packet_key(direction, &packet);
        let unknown = || LedgerError::UnknownPacket {
            direction,
            packet,
            account: account.to_string(),
        };
        let pending = {
            let t = self.txn.open_table(PENDING)?;
            t.get(&key[..])?
                .map(|v| decode::<Pending>(v.value()))
                .transpose()?
        };
        match pending {
            Some(p) if p.account == account => {
                self.dirty.set(true);
                self.txn.open_table(PENDING)?.remove(&key[..])?;
                let mut done = p.clone();
                done.state = wanted;
                self.txn
                    .open_table(FINISHED)?
                    .insert(&key[..], &encode(&done)?[..])?;
                Ok(Some(p))
            }
            Some(_) => Err(unknown()),
            None => {
                let t = self.txn.open_table(FINISHED)?;
                let done = t
                    .get(&key[..])?
                    .map(|v| decode::<Pending>(v.value()))
                    .transpose()?;
                match done {
                    Some(d) if d.account != account => Err(unknown()),
                    Some(d) if d.state == wanted => Ok(None),
                    // A REJECT that finds the packet already expired changes nothing either.
                    Some(d)
                        if wanted == PacketState::Rejected && d.state == PacketState::Expired =>
                    {
                        Ok(None)
                    }
                    Some(d) => Err(LedgerError::PacketFinished {
                        direction,
                        packet,
                        state: d.state,
                    }),
                    None => Err(unknown()),
                }
            }
        }
    }

    fn replay_receipt(&self, account: &str) -> Result<Receipt> {
        Ok(Receipt {
            account: self.account(account)?,
            journal_id: None,
            settlement_due: None,
        })
    }

    /// Commit a reservation into the balance (see [`Ledger::fulfill_incoming`]). Repeating a
    /// fulfill is a no-op; fulfilling a rejected/expired packet fails with `PacketFinished`.
    pub fn fulfill(
        &mut self,
        direction: Direction,
        account: &str,
        packet: PacketId,
    ) -> Result<Receipt> {
        let Some(p) = self.take_pending(direction, account, packet, PacketState::Fulfilled)? else {
            return self.replay_receipt(account);
        };
        let a = self.account(account)?;
        let amt = i128::from(p.amount);
        let deltas = match direction {
            Direction::Incoming => (-amt, -amt, 0),
            Direction::Outgoing => (amt, 0, -amt),
        };
        self.apply(
            a,
            EntryKind::Fulfill,
            Some(direction),
            Some(packet),
            p.amount,
            deltas,
            None,
        )
    }

    /// Release a reservation (see [`Ledger::reject_incoming`]). Repeating is a no-op;
    /// rejecting a fulfilled packet fails with `PacketFinished`.
    pub fn reject(
        &mut self,
        direction: Direction,
        account: &str,
        packet: PacketId,
    ) -> Result<Receipt> {
        let Some(p) = self.take_pending(direction, account, packet, PacketState::Rejected)? else {
            return self.replay_receipt(account);
        };
        self.release(p, EntryKind::Reject)
    }

    fn release(&mut self, p: Pending, kind: EntryKind) -> Result<Receipt> {
        let a = self.account(&p.account)?;
        let amt = i128::from(p.amount);
        let deltas = match p.direction {
            Direction::Incoming => (0, -amt, 0),
            Direction::Outgoing => (0, 0, -amt),
        };
        self.apply(
            a,
            kind,
            Some(p.direction),
            Some(p.packet),
            p.amount,
            deltas,
            None,
        )
    }

    /// See [`Ledger::expire_pending`].
    pub fn expire_pending(&mut self, now_ms: u64) -> Result<Vec<Pending>> {
        let expired: Vec<Pending> = {
            let t = self.txn.open_table(PENDING)?;
            let mut v = Vec::new();
            for kv in t.iter()? {
                let p: Pending = decode(kv?.1.value())?;
                if p.expires_at_ms <= now_ms {
                    v.push(p);
                }
            }
            v
        };
        for p in &expired {
            let taken =
                self.take_pending(p.direction, &p.account, p.packet, PacketState::Expired)?;
            if let Some(p) = taken {
                self.release(p, EntryKind::Expire)?;
            }
        }
        Ok(expired)
    }

    /// Check and record an idempotency key. `Ok(true)` = first use; `Ok(false)` = repeat of the
    /// identical request; error = key reused for a different request.
    pub(crate) fn idempotency(&self, key: &str, request: &[u8]) -> Result<bool> {
        let mut t = self.txn.open_table(IDEMPOTENCY)?;
        let prev = t.get(key)?.map(|v| v.value().to_vec());
        match prev {
            Some(p) if p == request => Ok(false),
            Some(_) => Err(LedgerError::IdempotencyConflict(key.to_string())),
            None => {
                self.dirty.set(true);
                t.insert(key, request)?;
                Ok(true)
            }
        }
    }

    /// See [`Ledger::deposit`].
    pub fn deposit(&mut self, account: &str, amount: u64, reference: &str) -> Result<Receipt> {
        let a = self.account(account)?;
        let req = format!("deposit|{account}|{amount}");
        if !self.idempotency(&format!("admin:{reference}"), req.as_bytes())? {
            return self.replay_receipt(account);
        }
        let amt = i128::from(amount);
        self.apply(
            a,
            EntryKind::Deposit,
            None,
            None,
            amount,
            (amt, 0, 0),
            Some(reference.to_string()),
        )
    }

    /// See [`Ledger::settlement_sent`] / [`Ledger::settlement_received`].
    pub fn settlement(
        &mut self,
        account: &str,
        amount: u64,
        idempotency_key: &str,
        kind: EntryKind,
    ) -> Result<Receipt> {
        let a = self.account(account)?;
        let sign = match kind {
            EntryKind::SettlementSent => -1,
            EntryKind::SettlementReceived => 1,
            other => {
                return Err(LedgerError::InvalidAmount(format!(
                    "{other:?} is not a settlement"
                )));
            }
        };
        let req = format!("{kind:?}|{account}|{amount}");
        if !self.idempotency(&format!("engine:{idempotency_key}"), req.as_bytes())? {
            return self.replay_receipt(account);
        }
        let amt = i128::from(amount);
        self.apply(
            a,
            kind,
            None,
            None,
            amount,
            (sign * amt, 0, 0),
            Some(idempotency_key.to_string()),
        )
    }

    /// See [`Ledger::withdraw`].
    pub fn withdraw(&mut self, account: &str, amount: u64, reference: &str) -> Result<Receipt> {
        let a = self.account(account)?;
        let req = format!("withdraw|{account}|{amount}");
        if !self.idempotency(&format!("admin:{reference}"), req.as_bytes())? {
            return self.replay_receipt(account);
        }
        let amt = i128::from(amount);
        if a.balance - a.pending_incoming - amt < a.config.min_balance {
            return Err(LedgerError::InsufficientBalance {
                account: account.to_string(),
                balance: a.balance,
                pending: a.pending_incoming,
                min_balance: a.config.min_balance,
                amount,
            });
        }
        self.apply(
            a,
            EntryKind::Withdrawal,
            None,
            None,
            amount,
            (-amt, 0, 0),
            Some(reference.to_string()),
        )
    }
}
