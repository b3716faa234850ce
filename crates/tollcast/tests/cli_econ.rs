//! `tollcast econ` through the real binary on examples/econ/*.toml: the table, the CSV (parsed,
//! right rows, hand-checked values), well-formed SVG charts, --json, and exit 1 with the field
//! and unit named for bad input.

use std::path::PathBuf;
use std::process::{Command, Output};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn example(name: &str) -> String {
    root()
        .join("examples/econ")
        .join(name)
        .display()
        .to_string()
}

fn tollcast(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tollcast"))
        .args(args)
        .output()
        .unwrap()
}

/// Minimal well-formedness check: one root element, every tag closed in order, attributes
/// quoted, no raw `<` or stray `&` in text or attribute values. Returns the element names seen.
fn check_xml(doc: &str) -> Result<Vec<String>, String> {
    let mut s = doc.trim_start();
    if let Some(rest) = s.strip_prefix("<?xml") {
        s = &rest[rest.find("?>").ok_or("unterminated prolog")? + 2..];
    }
    let mut stack: Vec<String> = Vec::new();
    let mut seen = Vec::new();
    let mut roots = 0;
    let check_text = |t: &str| -> Result<(), String> {
        let mut rest = t;
        while let Some(i) = rest.find('&') {
            let end = rest[i..].find(';').ok_or(format!("bare & in {t:?}"))?;
            let ent = &rest[i + 1..i + end];
            if !["amp", "lt", "gt", "quot", "apos"].contains(&ent) && !ent.starts_with('#') {
                return Err(format!("unknown entity &{ent};"));
            }
            rest = &rest[i + end..];
        }
        Ok(())
    };
    while !s.is_empty() {
        let lt = s.find('<').unwrap_or(s.len());
        let text = &s[..lt];
        if stack.is_empty() && !text.trim().is_empty() {
            return Err(format!("text outside the root: {text:?}"));
        }
        check_text(text)?;
        if lt == s.len() {
            break;
        }
        s = &s[lt..];
        let gt = s.find('>').ok_or("unterminated tag")?;
        let tag = &s[1..gt];
        if tag.contains('<') {
            return Err(format!("'<' inside tag {tag:?}"));
        }
        s = &s[gt + 1..];
        if let Some(name) = tag.strip_prefix('/') {
            let open = stack.pop().ok_or(format!("close {name} without open"))?;
            if open != name.trim() {
                return Err(format!("<{open}> closed by </{name}>"));
            }
            continue;
        }
        let self_closing = tag.ends_with('/');
        let body = tag.trim_end_matches('/');
        let name_end = body.find(char::is_whitespace).unwrap_or(body.len());
        let name = &body[..name_end];
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == ':' || c == '-')
        {
            return Err(format!("bad element name in {tag:?}"));
        }
        // attributes: name="value" separated by whitespace
        let mut attrs = body[name_end..].trim();
        while !attrs.is_empty() {
            let eq = attrs
                .find('=')
                .ok_or(format!("attribute without value in {tag:?}"))?;
            let after = &attrs[eq + 1..];
            if !after.starts_with('"') {
                return Err(format!("unquoted attribute in {tag:?}"));
            }
            let close = after[1..]
                .find('"')
                .ok_or(format!("unterminated attribute in {tag:?}"))?;
            check_text(&after[1..1 + close])?;
            attrs = after[close + 2..].trim_start();
        }
        if stack.is_empty() {
            roots += 1;
        }
        seen.push(name.to_string());
        if !self_closing {
            stack.push(name.to_string());
        }
    }
    if !stack.is_empty() {
        return Err(format!("unclosed elements {stack:?}"));
    }
    if roots != 1 || seen.first().map(String::as_str) != Some("svg") {
        return Err(format!("expected a single <svg> root, saw {roots} roots"));
    }
    Ok(seen)
}

#[test]
fn xml_checker_rejects_malformed_documents() {
    assert!(check_xml("<svg><rect/></svg>").is_ok());
    for bad in [
        "<svg><rect></svg>",
        "<svg><g></rect></svg>",
        "<svg><text>a < b</text></svg>",
        "<svg><text>R&D</text></svg>",
        "<svg width=1></svg>",
        "<svg></svg><svg></svg>",
        "<svg>",
    ] {
        assert!(check_xml(bad).is_err(), "{bad}");
    }
}

#[test]
fn econ_on_the_examples_prints_table_and_writes_csv_and_charts() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("out.csv");
    let svg = dir.path().join("charts");
    let o = tollcast(&[
        "econ",
        "--assumptions",
        &example("assumptions.toml"),
        "--measured",
        &example("measured.toml"),
        "--csv",
        csv.to_str().unwrap(),
        "--svg-dir",
        svg.to_str().unwrap(),
    ]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // Example: 1000 viewers x 100 h x 0.05 = 5000 gross; two 10-bps hops: 5000 -> 4995 ->
    // 4990.005 at the relay; relay 20 % = 998.001; transcoder 6000 min x 0.002 = 12;
    // moderator 100 h x 0.5 = 50; creator 4990.005 - 998.001 - 12 - 50 = 3930.004 = 78.60008 %.
    assert!(out.contains("viewers pay 5000.00 USD"), "{out}");
    let row = |role: &str| -> Vec<String> {
        out.lines()
            .find(|l| l.split_whitespace().next() == Some(role))
            .unwrap_or_else(|| panic!("no {role} row in\n{out}"))
            .split_whitespace()
            .map(String::from)
            .collect()
    };
    assert_eq!(row("creator")[..3], ["creator", "1", "3930.00"]);
    // relays = ceil(1000 / 200) = 5
    assert_eq!(row("relay")[..3], ["relay", "5", "998.00"]);
    assert_eq!(row("transcoder")[2], "12.00");
    assert_eq!(row("moderator")[2], "50.00");
    assert_eq!(row("connectors")[2], "10.00"); // 5 + 4.995 = 9.995, shown to 2 places
    assert!(out.contains("tollcast:   78.60 %"), "{out}");
    assert!(out.contains("Twitch:     50 %"), "{out}");
    assert!(out.contains("YouTube:    55-70 %"), "{out}");
    // every input is measured or derived now: nothing flagged as an estimate
    assert!(!out.contains("ESTIMATE (not yet measured)"), "{out}");
    assert!(
        out.contains("relay_core_seconds_per_viewer_hour                      7.9  measured"),
        "{out}"
    );
    // relay per viewer-hour: CPU (7.9 + 0.0144) x 0.02 / 3600 = 0.0000439689 plus bytes
    // (1.368e9 + 1.0872e6) x 0.01 / 1e9 = 0.0136909; + fixed 0.05 / 200 = 0.00025 -> 0.0139849;
    // 4990.005 / 100000 = 0.04990005 reaches the relay per viewer-hour: 0.0139849 / 0.04990005
    // = 2802.6 bps needed
    assert!(
        out.contains("needs a margin of 2803 bps (assumed 2000 bps)"),
        "{out}"
    );
    assert!(
        out.contains("moves the creator share most: fees.relay_margin_bps"),
        "{out}"
    );
    // the table's columns line up: every role row has the same length as the header
    let header = out.lines().find(|l| l.starts_with("role")).unwrap();
    for r in ["creator", "relay", "transcoder", "moderator", "connectors"] {
        let l = out
            .lines()
            .find(|l| l.split_whitespace().next() == Some(r))
            .unwrap();
        assert_eq!(l.len(), header.len(), "{l:?} vs {header:?}");
    }

    // CSV: header + 4 summary + 5 roles x 5 + 6 break-even + 6 comparison + 19 inputs x 3
    let text = std::fs::read_to_string(&csv).unwrap();
    let rows: Vec<Vec<&str>> = text.lines().map(|l| l.split(',').collect()).collect();
    assert_eq!(rows[0], ["section", "item", "metric", "value", "unit"]);
    assert!(rows.iter().all(|r| r.len() == 5), "{text}");
    assert_eq!(rows.len(), 1 + 4 + 25 + 6 + 6 + 57);
    let get = |sec: &str, item: &str, metric: &str| -> String {
        rows.iter()
            .find(|r| r[0] == sec && r[1] == item && r[2] == metric)
            .unwrap_or_else(|| panic!("no {sec},{item},{metric}"))[3]
            .to_string()
    };
    assert_eq!(get("summary", "stream", "gross"), "5000");
    assert_eq!(get("summary", "stream", "at_relay"), "4990.005");
    assert_eq!(get("role", "creator", "revenue"), "3930.004");
    assert_eq!(get("role", "relay", "revenue"), "998.001");
    assert_eq!(
        get("comparison", "tollcast", "creator_share_pct"),
        "78.60008"
    );
    // transcoder CPU per minute: 16.32 core-s x 0.02 / 3600 = 0.0000906666... -> 0.000090667
    assert_eq!(
        get("break_even", "transcoder", "cost_per_minute"),
        "0.000090667"
    );
    // every section sums back: role revenues = gross
    let sum: f64 = rows
        .iter()
        .filter(|r| r[0] == "role" && r[2] == "revenue")
        .map(|r| r[3].parse::<f64>().unwrap())
        .sum();
    assert!((sum - 5000.0).abs() < 1e-6, "{sum}");
    // sensitivity rows are ranked: effects never increase down the file
    let effects: Vec<f64> = rows
        .iter()
        .filter(|r| r[0] == "sensitivity" && r[2] == "effect")
        .map(|r| r[3].parse().unwrap())
        .collect();
    assert_eq!(effects.len(), 19);
    assert!(effects.windows(2).all(|w| w[0] >= w[1]), "{effects:?}");
    assert!(effects[0] > 0.0);

    // Charts: well-formed, with the bars they should have.
    for (file, min_rects) in [
        ("roles.svg", 1 + 15 + 3),
        ("creator_share.svg", 1 + 4),
        ("tornado.svg", 1 + 2),
    ] {
        let doc = std::fs::read_to_string(svg.join(file)).unwrap();
        let names = check_xml(&doc).unwrap_or_else(|e| panic!("{file}: {e}\n{doc}"));
        let rects = names.iter().filter(|n| *n == "rect").count();
        assert!(rects >= min_rects, "{file}: {rects} rects");
    }
    let tornado = std::fs::read_to_string(svg.join("tornado.svg")).unwrap();
    let nonzero = effects.iter().filter(|e| **e > 0.0).count();
    // background + two bars per input that moves the share + two legend swatches
    assert_eq!(tornado.matches("<rect").count(), 1 + 2 * nonzero + 2);
    let share = std::fs::read_to_string(svg.join("creator_share.svg")).unwrap();
    assert!(
        share.contains("78.6 %") && share.contains("Twitch"),
        "{share}"
    );
}

#[test]
fn econ_json_carries_inputs_report_and_sensitivity() {
    let o = tollcast(&[
        "econ",
        "--json",
        "--swing",
        "10",
        "--assumptions",
        &example("assumptions.toml"),
        "--measured",
        &example("measured.toml"),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["report"]["gross"], "5000");
    assert_eq!(v["report"]["roles"][0]["role"], "creator");
    assert_eq!(
        v["measured"]["relay_core_seconds_per_viewer_hour"]["status"],
        "measured"
    );
    assert_eq!(v["assumptions"]["currency"], "USD");
    // ±10 %: price 0.045 / 0.055 is the swing of the price field
    let price = v["sensitivity"]["swings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["field"] == "audience.price_per_viewer_hour")
        .unwrap();
    assert_eq!(price["low_value"], "0.045");
    assert_eq!(price["high_value"], "0.055");
}

#[test]
fn econ_bad_input_exits_1_and_names_field_and_unit() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("out.csv");
    let good = std::fs::read_to_string(example("assumptions.toml")).unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        good.replace("viewers_per_relay = 200", "viewers_per_relay = 0"),
    )
    .unwrap();
    let o = tollcast(&[
        "econ",
        "--assumptions",
        bad.to_str().unwrap(),
        "--measured",
        &example("measured.toml"),
        "--csv",
        csv.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("`network.viewers_per_relay` is 0; expected viewers served by one relay, > 0"),
        "{err}"
    );
    assert!(!csv.exists(), "nothing is written on bad input");

    let o = tollcast(&[
        "econ",
        "--assumptions",
        dir.path().join("missing.toml").to_str().unwrap(),
        "--measured",
        &example("measured.toml"),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("cannot read the assumptions file") && err.contains("missing.toml"),
        "{err}"
    );

    let measured = std::fs::read_to_string(example("measured.toml")).unwrap();
    let badm = dir.path().join("m.toml");
    std::fs::write(&badm, measured.replacen("value = 16.32", "", 1)).unwrap();
    let o = tollcast(&[
        "econ",
        "--assumptions",
        &example("assumptions.toml"),
        "--measured",
        badm.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(
            "missing `transcoder_core_seconds_per_ladder_minute.value` (CPU core-seconds per minute"
        ),
        "{err}"
    );
}

/// Wire bytes of one per-second STREAM payment as tollcast encodes it: STREAM PREPARE (one
/// StreamMoney frame) in an ILP PREPARE in a BTP MESSAGE, answered by a STREAM FULFILL reply in
/// an ILP FULFILL in a BTP RESPONSE, each in a WebSocket binary frame (client frames are masked:
/// 2 + 4 header bytes; server frames 2; both under 126 bytes of payload gain 0 extra length bytes,
/// larger ones 2). The example's `payment_bytes_per_viewer_hour` must be this x 3,600 within 25 %.
#[test]
fn payment_overhead_in_the_example_matches_real_packet_sizes() {
    use std::time::{Duration, SystemTime};
    use tollcast_wire::address::Address;
    use tollcast_wire::btp::{BtpPacket, ContentType, Frame, Message, ProtocolData, Response};
    use tollcast_wire::ilp::{Fulfill, Prepare};
    use tollcast_wire::stream::{
        Frame as SFrame, IlpPacketType, StreamKeys, StreamMoneyFrame, StreamPacket,
    };

    let keys = StreamKeys::from_shared_secret(&[7u8; 32]);
    let mut sp = StreamPacket::new(1234, IlpPacketType::Prepare, 990);
    sp.frames.push(SFrame::StreamMoney(StreamMoneyFrame {
        stream_id: 1,
        shares: 1,
    }));
    let data = sp.encrypt_and_encode(&keys);
    // A STREAM destination: the receiver's address plus a 64-character base64url connection
    // token, as ilp-protocol-stream and tollcast generate.
    let destination = Address::new(&format!("g.tollcast.relay-a.{}", "A".repeat(64))).unwrap();
    let prepare = Prepare {
        amount: 1000,
        expires_at: SystemTime::now() + Duration::from_secs(30),
        execution_condition: keys.condition(&data),
        destination,
        data: data.into(),
    };
    let reply = StreamPacket::new(1234, IlpPacketType::Fulfill, 1000).encrypt_and_encode(&keys);
    let fulfill = Fulfill {
        fulfillment: [1u8; 32],
        data: reply.into(),
    };
    let ilp = |d: tollcast_wire::Bytes| {
        vec![ProtocolData {
            name: "ilp".into(),
            content_type: ContentType(0),
            data: d,
        }]
    };
    let out = BtpPacket {
        request_id: 1,
        frame: Frame::Message(Message {
            protocol_data: ilp(prepare.encode()),
        }),
    }
    .encode()
    .len();
    let back = BtpPacket {
        request_id: 1,
        frame: Frame::Response(Response {
            protocol_data: ilp(fulfill.encode()),
        }),
    }
    .encode()
    .len();
    let ws =
        |n: usize, masked: bool| n + 2 + if n >= 126 { 2 } else { 0 } + if masked { 4 } else { 0 };
    let per_payment = ws(out, true) + ws(back, false);
    let per_hour = per_payment * 3600;
    println!(
        "ECON payment bytes: BTP prepare {out} B, BTP fulfill {back} B, with WebSocket framing {per_payment} B per payment = {per_hour} B per viewer-hour"
    );

    let measured = std::fs::read_to_string(example("measured.toml")).unwrap();
    let table: toml::Table = measured.parse().unwrap();
    let claimed = table["payment_bytes_per_viewer_hour"]["value"]
        .as_integer()
        .unwrap() as f64;
    let ratio = claimed / per_hour as f64;
    assert!(
        (0.75..=1.25).contains(&ratio),
        "examples/econ/measured.toml says {claimed} B per viewer-hour, real packets give {per_hour}"
    );
}
