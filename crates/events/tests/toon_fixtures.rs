//! TOON spec v4.0 conformance: all 516 official fixtures (`shared/vectors/toon/fixtures`)
//! through `tollcast_events::toon::{json_to_toon, toon_to_json}`, the functions the CLI and
//! the event codec use, with the fixture options mapped (delimiter, indentSize, strict).

mod common;

use tollcast_events::toon::{
    DecodeOpts, EncodeOptions, json_to_toon, parse_delimiter, toon_to_json,
};

fn run_case(category: &str, t: &serde_json::Value) -> Result<(), String> {
    let opts = t.get("options").cloned().unwrap_or(serde_json::json!({}));
    let indent = opts
        .get("indentSize")
        .or_else(|| opts.get("indent"))
        .and_then(|v| v.as_u64())
        .unwrap_or(2) as usize;
    let should_error = t
        .get("shouldError")
        .and_then(|v| v.as_bool())
        .unwrap_or(false);
    match category {
        "encode" => {
            let delimiter = match opts.get("delimiter").and_then(|v| v.as_str()) {
                Some(d) => parse_delimiter(d).ok_or(format!("unknown delimiter {d:?}"))?,
                None => serde_toon::Delimiter::Comma,
            };
            let out = json_to_toon(&t["input"], &EncodeOptions { delimiter, indent });
            match (out, should_error) {
                (Err(_), true) => Ok(()),
                (Ok(s), false) if Some(s.as_str()) == t["expected"].as_str() => Ok(()),
                (r, _) => Err(format!("got {r:?}, expected {}", t["expected"])),
            }
        }
        _ => {
            let strict = opts.get("strict").and_then(|v| v.as_bool()).unwrap_or(true);
            let input = t["input"].as_str().ok_or("decode input is not a string")?;
            let out = toon_to_json(input, DecodeOpts { strict, indent });
            match (out, should_error) {
                (Err(_), true) => Ok(()),
                (Ok(v), false) if common::json_eq(&v, &t["expected"]) => Ok(()),
                (r, _) => Err(format!("got {r:?}, expected {}", t["expected"])),
            }
        }
    }
}

#[test]
fn toon_v4_fixtures() {
    let root = common::vectors_dir().join("toon/fixtures");
    let (mut pass, mut total) = (0usize, 0usize);
    let mut failures = Vec::new();
    for category in ["encode", "decode"] {
        let mut files: Vec<_> = std::fs::read_dir(root.join(category))
            .unwrap_or_else(|e| {
                panic!(
                    "{}: {e} (vectors live in <repo>/../shared/vectors)",
                    root.display()
                )
            })
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        files.sort();
        for f in files {
            let doc: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(&f).unwrap()).unwrap();
            assert_eq!(doc["version"], "4.0", "{}", f.display());
            for t in doc["tests"].as_array().unwrap() {
                total += 1;
                match run_case(category, t) {
                    Ok(()) => pass += 1,
                    Err(e) => failures.push(format!(
                        "{category}/{}: {}: {e}",
                        f.file_name().unwrap().to_string_lossy(),
                        t["name"]
                    )),
                }
            }
        }
    }
    println!("CONFORMANCE toon-v4.0 fixtures: {pass}/{total}");
    assert_eq!(total, 516, "fixture count changed");
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
