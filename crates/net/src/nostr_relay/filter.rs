//! NIP-01 filter semantics: matching, result ordering and the index plan a query uses.
//!
//! Matching follows NIP-01 exactly: list fields match if the event's value is in the list
//! (tag filters: the event has a tag with that letter whose first value is in the list), all
//! present fields must match (AND), several filters in one REQ are OR-ed, and
//! `since <= created_at <= until`. Empty lists are treated as absent.

use nostr::prelude::{Event, EventId, Filter};

use super::store::tag_hash;

/// Whether `event` matches `filter` (all NIP-01 conditions; `limit` is not a condition).
pub fn matches(filter: &Filter, event: &Event) -> bool {
    if let Some(ids) = &filter.ids
        && !ids.is_empty()
        && !ids.contains(&event.id)
    {
        return false;
    }
    if let Some(authors) = &filter.authors
        && !authors.is_empty()
        && !authors.contains(&event.pubkey)
    {
        return false;
    }
    if let Some(kinds) = &filter.kinds
        && !kinds.is_empty()
        && !kinds.contains(&event.kind)
    {
        return false;
    }
    if filter.since.is_some_and(|t| event.created_at < t) {
        return false;
    }
    if filter.until.is_some_and(|t| event.created_at > t) {
        return false;
    }
    for (letter, values) in filter.generic_tags.iter() {
        if values.is_empty() {
            continue;
        }
        let hit = event.tags.iter().any(|t| {
            t.single_letter_tag() == Some(*letter)
                && t.content().is_some_and(|v| values.contains(v))
        });
        if !hit {
            return false;
        }
    }
    if let Some(q) = &filter.search
        && !q.is_empty()
        && !event.content.to_lowercase().contains(&q.to_lowercase())
    {
        return false;
    }
    true
}

/// Whether any filter in `filters` matches.
pub fn matches_any(filters: &[Filter], event: &Event) -> bool {
    filters.iter().any(|f| matches(f, event))
}

/// NIP-01 result order: newest first, ties broken by lowest id.
pub fn sort_newest_first(events: &mut [Event]) {
    events.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(a.id.cmp(&b.id)));
}

/// Which index answers a filter, with the key prefixes to scan (each prefix is followed in the
/// index key by inverted created_at and the id).
#[derive(Debug)]
pub enum QueryPlan {
    Ids(Vec<EventId>),
    AuthorKinds(Vec<Vec<u8>>),
    Authors(Vec<Vec<u8>>),
    Tag(Vec<Vec<u8>>),
    Kinds(Vec<Vec<u8>>),
    Time,
}

/// Most author×kind prefixes before falling back to the author index.
const MAX_AUTHOR_KIND_PREFIXES: usize = 256;

/// Pick the most selective index for `filter`.
pub fn plan(filter: &Filter) -> QueryPlan {
    let nonempty = |o: Option<usize>| o.is_some_and(|n| n > 0);
    if let Some(ids) = &filter.ids
        && !ids.is_empty()
    {
        return QueryPlan::Ids(ids.iter().copied().collect());
    }
    let n_authors = filter.authors.as_ref().map(|a| a.len());
    let n_kinds = filter.kinds.as_ref().map(|k| k.len());
    if let (Some(authors), Some(kinds)) = (&filter.authors, &filter.kinds)
        && nonempty(n_authors)
        && nonempty(n_kinds)
        && authors.len() * kinds.len() <= MAX_AUTHOR_KIND_PREFIXES
    {
        let mut p = Vec::new();
        for a in authors {
            for k in kinds {
                p.push([a.as_bytes().as_slice(), &k.as_u16().to_be_bytes()].concat());
            }
        }
        return QueryPlan::AuthorKinds(p);
    }
    if let Some(authors) = &filter.authors
        && !authors.is_empty()
    {
        return QueryPlan::Authors(authors.iter().map(|a| a.as_bytes().to_vec()).collect());
    }
    // The tag with the fewest values gives the fewest prefixes to scan.
    if let Some((letter, values)) = filter
        .generic_tags
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .min_by_key(|(_, v)| v.len())
    {
        return QueryPlan::Tag(
            values
                .iter()
                .map(|v| [[letter.as_byte()].as_slice(), &tag_hash(v)].concat())
                .collect(),
        );
    }
    if let Some(kinds) = &filter.kinds
        && !kinds.is_empty()
    {
        return QueryPlan::Kinds(
            kinds
                .iter()
                .map(|k| k.as_u16().to_be_bytes().to_vec())
                .collect(),
        );
    }
    QueryPlan::Time
}
