//! tollcast-ledger: accounts, balances, credit limits, payment-channel claims and settlement.
//!
//! Durable in an embedded store: every PREPARE reserves, FULFILL commits, REJECT rolls back,
//! and a kill -9 at any moment loses or double-counts nothing.
