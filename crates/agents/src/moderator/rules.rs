//! Chat rules as pure logic: keywords, per-author rate, new-account rate.

use std::collections::{HashMap, VecDeque};

use nostr::prelude::PublicKey;

use super::config::RuleSet;

/// Why a message broke the rules.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Violation {
    /// Contains a banned word.
    Keyword(String),
    /// More than the per-minute limit.
    Rate { count: u32, limit: u32 },
    /// A new account above its per-minute limit.
    NewAccount { count: u32, limit: u32 },
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Violation::Keyword(w) => write!(f, "banned word `{w}`"),
            Violation::Rate { count, limit } => {
                write!(f, "{count} messages in a minute (limit {limit})")
            }
            Violation::NewAccount { count, limit } => write!(
                f,
                "new account: {count} messages in a minute (limit {limit})"
            ),
        }
    }
}

/// Judges chat lines, remembering each author's recent message times.
#[derive(Debug)]
pub struct RuleEngine {
    rules: RuleSet,
    words: Vec<String>,
    recent: HashMap<PublicKey, VecDeque<u64>>,
}

impl RuleEngine {
    pub fn new(rules: RuleSet) -> Self {
        let words = rules
            .banned_words
            .iter()
            .map(|w| w.trim().to_lowercase())
            .filter(|w| !w.is_empty())
            .collect();
        Self {
            rules,
            words,
            recent: HashMap::new(),
        }
    }

    /// The banned words, lower case (published as the mute list's `word` entries).
    pub fn words(&self) -> &[String] {
        &self.words
    }

    /// Judge one message of `author` at `at` (unix s). `account_age`: seconds since the
    /// author's oldest known profile, None when it has none.
    pub fn judge(
        &mut self,
        author: PublicKey,
        content: &str,
        at: u64,
        account_age: Option<u64>,
    ) -> Option<Violation> {
        let lower = content.to_lowercase();
        if let Some(w) = self.words.iter().find(|w| lower.contains(w.as_str())) {
            return Some(Violation::Keyword(w.clone()));
        }
        let q = self.recent.entry(author).or_default();
        q.push_back(at);
        while q.front().is_some_and(|t| *t + 60 <= at) {
            q.pop_front();
        }
        // Keep memory bounded whatever the sender does.
        while q.len() > 10_000 {
            q.pop_front();
        }
        let count = u32::try_from(q.len()).unwrap_or(u32::MAX);
        let new = self.rules.new_account_age_secs > 0
            && account_age.is_none_or(|a| a < self.rules.new_account_age_secs);
        if new && count > self.rules.new_account_max_per_minute {
            return Some(Violation::NewAccount {
                count,
                limit: self.rules.new_account_max_per_minute,
            });
        }
        let limit = self.rules.max_messages_per_minute;
        if limit > 0 && count > limit {
            return Some(Violation::Rate { count, limit });
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nostr::prelude::Keys;

    #[test]
    fn keyword_rate_and_new_account() {
        let mut e = RuleEngine::new(RuleSet {
            banned_words: vec!["Buy Followers".into()],
            max_messages_per_minute: 3,
            new_account_age_secs: 100,
            new_account_max_per_minute: 1,
        });
        let a = Keys::generate().public_key();
        assert_eq!(
            e.judge(a, "cheap BUY FOLLOWERS now", 0, Some(1000)),
            Some(Violation::Keyword("buy followers".into()))
        );
        let old = Keys::generate().public_key();
        for t in 0..3 {
            assert_eq!(e.judge(old, "hi", t, Some(1000)), None);
        }
        assert!(matches!(
            e.judge(old, "hi", 3, Some(1000)),
            Some(Violation::Rate { count: 4, limit: 3 })
        ));
        // A minute later the window is empty again.
        assert_eq!(e.judge(old, "hi", 100, Some(1000)), None);
        let new = Keys::generate().public_key();
        assert_eq!(e.judge(new, "hi", 0, None), None);
        assert!(matches!(
            e.judge(new, "hi", 1, Some(5)),
            Some(Violation::NewAccount { count: 2, limit: 1 })
        ));
    }
}
