//! Differential tests of the event TOON writer/reader against two independent Rust TOON
//! implementations on random signed events (proptest over generator seeds):
//! - toon-format 0.7 (toon-format org; dev-dependency, oracle only): its `encode_default` of
//!   the event JSON must equal our text (modulo `tags: []` vs our `tags[0]:`), and its strict
//!   decoder must read our text back to the same JSON;
//! - serde_toon 0.3 `to_string` of the same JSON must equal our text modulo the same empty-tags
//!   form and its quoting of strings that begin with U+FEFF (see `toon::to_toon`).

mod common;

use proptest::prelude::*;
use tollcast_events::toon::{event_to_json_value, from_toon, to_toon};

fn modern_empty(ours: &str) -> String {
    ours.replacen("\ntags[0]:\n", "\ntags: []\n", 1)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn matches_toon_format_and_serde_toon(seed in any::<u64>()) {
        let ev = common::random_event(seed);
        let ours = to_toon(&ev);
        let json = event_to_json_value(&ev);

        let tf = toon_format::encode_default(&json).unwrap();
        prop_assert_eq!(&modern_empty(&ours), &tf);
        let back: serde_json::Value = toon_format::decode_strict(&ours).unwrap();
        prop_assert!(common::json_eq(&back, &json));

        let st = serde_toon::to_string(&json).unwrap();
        if !ev.content.starts_with('\u{feff}') && !ev.tags.iter().flat_map(|t| t.as_slice()).any(|v| v.starts_with('\u{feff}')) {
            prop_assert_eq!(&modern_empty(&ours), &st);
        }

        let decoded = from_toon(&ours).unwrap();
        prop_assert_eq!(&decoded, &ev);
        prop_assert_eq!(to_toon(&decoded), ours);
    }
}
