//! Paid live chat (NIP-53 kind 1311) and reactions (kind 7).
//!
//! - [`settings`]: the creator's chat rules in its live event (`chat_price`, `slow_mode`,
//!   `chat_mode`, moderator `p` tags).
//! - [`gate`]: the relay side, an ILP service in front of pay-to-write that enforces them.
//! - [`client`]: the writer side, [`ChatClient`] (sign + pay-to-write through a wallet).
//! - [`resolve`]: live event + the relay's pay-to-write address, from the relay itself.

pub mod client;
pub mod gate;
pub mod resolve;
pub mod settings;

pub use client::{ChatClient, ChatError, Sent};
pub use gate::ChatGate;
pub use resolve::{ChatTarget, resolve};
pub use settings::ChatSettings;
