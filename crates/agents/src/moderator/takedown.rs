//! Takedown bookkeeping as pure logic: a moderator's report tally, and the vote count a relay
//! keeps of the moderators it trusts.

use std::collections::{BTreeMap, BTreeSet};

use nostr::prelude::PublicKey;
use tollcast_events::moderation::Vote;

/// One moderator's view of the reports against one stream.
#[derive(Debug, Default, Clone)]
pub struct ReportTally {
    /// Reporter → time of its newest counted report.
    reporters: BTreeMap<PublicKey, u64>,
    /// Reports at or before this time no longer count (an appeal was heard).
    forget_before: u64,
}

impl ReportTally {
    /// Count a report by `reporter` made at `at`.
    pub fn report(&mut self, reporter: PublicKey, at: u64) {
        if at <= self.forget_before {
            return;
        }
        let e = self.reporters.entry(reporter).or_insert(at);
        *e = (*e).max(at);
    }

    /// An appeal at `at`: reports made up to then stop counting.
    pub fn appeal(&mut self, at: u64) {
        self.forget_before = self.forget_before.max(at);
        self.reporters.retain(|_, t| *t > at);
    }

    /// Distinct reporters that count.
    pub fn count(&self) -> usize {
        self.reporters.len()
    }
}

/// The votes of trusted moderators on one stream: the newest vote of each counts.
#[derive(Debug, Default, Clone)]
pub struct VoteTally {
    votes: BTreeMap<PublicKey, (u64, Vote, String)>,
}

impl VoteTally {
    /// Record `vote` by `moderator` at `at` (older than its last vote: ignored).
    /// Returns true when the tally changed.
    pub fn record(&mut self, moderator: PublicKey, at: u64, vote: Vote, reason: &str) -> bool {
        match self.votes.get(&moderator) {
            Some((t, v, _)) if *t > at || (*t == at && *v == vote) => false,
            _ => {
                self.votes.insert(moderator, (at, vote, reason.to_string()));
                true
            }
        }
    }

    /// Moderators whose current vote is takedown.
    pub fn takedown_votes(&self) -> BTreeSet<PublicKey> {
        self.votes
            .iter()
            .filter(|(_, (_, v, _))| *v == Vote::Takedown)
            .map(|(k, _)| *k)
            .collect()
    }

    /// The reasons given with current takedown votes.
    pub fn reasons(&self) -> Vec<String> {
        self.votes
            .values()
            .filter(|(_, v, _)| *v == Vote::Takedown)
            .map(|(_, _, r)| r.clone())
            .collect()
    }

    /// True when at least `threshold` (≥ 1) trusted moderators currently vote takedown.
    pub fn decided(&self, threshold: u32) -> bool {
        self.takedown_votes().len() >= threshold.max(1) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nostr::prelude::Keys;

    #[test]
    fn newest_vote_counts_and_appeals_reset_reports() {
        let (a, b) = (Keys::generate().public_key(), Keys::generate().public_key());
        let mut v = VoteTally::default();
        assert!(v.record(a, 10, Vote::Takedown, "x"));
        assert!(!v.decided(2));
        assert!(v.record(b, 11, Vote::Takedown, "y"));
        assert!(v.decided(2));
        assert!(!v.record(b, 5, Vote::Keep, "old vote"));
        assert!(v.decided(2));
        assert!(v.record(b, 12, Vote::Keep, "appeal heard"));
        assert!(!v.decided(2));

        let mut r = ReportTally::default();
        r.report(a, 1);
        r.report(b, 2);
        r.report(b, 3);
        assert_eq!(r.count(), 2);
        r.appeal(3);
        assert_eq!(r.count(), 0);
        r.report(a, 3);
        assert_eq!(
            r.count(),
            0,
            "a report from before the appeal does not count"
        );
        r.report(a, 4);
        assert_eq!(r.count(), 1);
    }
}
