//! Static routing table with longest-prefix match on ILP address segments.
//!
//! A prefix matches a destination when it equals it or is followed by a `.` in it, so
//! `g.a` routes `g.a.b` but not `g.ab`. The empty prefix is the default route (usually
//! the parent).

use super::service::AccountId;

/// Where a routed packet goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Hop {
    /// Forward to a peer account.
    Account(AccountId),
    /// Deliver to the local handler registered under this index.
    Local(usize),
}

#[derive(Clone, Debug, Default)]
pub struct Router {
    /// Sorted longest prefix first so the first match wins.
    routes: Vec<(String, Hop)>,
}

pub fn prefix_matches(prefix: &str, destination: &str) -> bool {
    prefix.is_empty()
        || destination == prefix
        || (destination.len() > prefix.len()
            && destination.starts_with(prefix)
            && destination.as_bytes()[prefix.len()] == b'.')
}

impl Router {
    /// Adds (or replaces) the route for `prefix`.
    pub fn insert(&mut self, prefix: impl Into<String>, hop: Hop) {
        let prefix = prefix.into();
        self.routes.retain(|(p, _)| *p != prefix);
        self.routes.push((prefix, hop));
        self.routes
            .sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.0.cmp(&b.0)));
    }

    /// The hop for `destination` by longest matching prefix.
    pub fn lookup(&self, destination: &str) -> Option<&Hop> {
        self.routes
            .iter()
            .find(|(p, _)| prefix_matches(p, destination))
            .map(|(_, h)| h)
    }

    pub fn routes(&self) -> impl Iterator<Item = (&str, &Hop)> {
        self.routes.iter().map(|(p, h)| (p.as_str(), h))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longest_prefix_on_segments() {
        let mut r = Router::default();
        r.insert("", Hop::Account("parent".into()));
        r.insert("g.a", Hop::Account("a".into()));
        r.insert("g.a.b", Hop::Account("b".into()));
        r.insert("g.me.svc", Hop::Local(0));
        assert_eq!(r.lookup("g.a.b.c"), Some(&Hop::Account("b".into())));
        assert_eq!(r.lookup("g.a.bc"), Some(&Hop::Account("a".into())));
        assert_eq!(r.lookup("g.a"), Some(&Hop::Account("a".into())));
        assert_eq!(r.lookup("g.ab"), Some(&Hop::Account("parent".into())));
        assert_eq!(r.lookup("g.me.svc.~x"), Some(&Hop::Local(0)));
        let mut none = Router::default();
        none.insert("g.a", Hop::Account("a".into()));
        assert_eq!(none.lookup("g.b"), None);
        none.insert("g.a", Hop::Account("a2".into()));
        assert_eq!(none.routes().count(), 1);
        assert_eq!(none.lookup("g.a.x"), Some(&Hop::Account("a2".into())));
    }
}
