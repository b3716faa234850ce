//! `tollcast ilp decode|encode` run as a real binary.

mod common;

use std::process::Output;

const PREPARE_HEX: &str = "0c68000000000000006b323031373132323330313231343035343974e1136dc71c9e5f283bec83461cbf1261c4014f72d48f8dd65453a0b84e7de10d6578616d706c652e616c696365205db343fdc41898f6df4202329139dc242dd0f558a811b46b28918fdab37c6cb0";
const REJECT_HEX: &str = "0e414630310e6578616d706c652e75732e626f62276d697373696e672064657374696e6174696f6e2e206c65646765723d6578616d706c652e75732e06000000041041";

use common::run;

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

#[test]
fn decode_prepare_and_encode_back() {
    let out = run(&["ilp", "decode", PREPARE_HEX], "");
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["type"], "prepare");
    assert_eq!(v["amount"], "107");
    assert_eq!(v["expiresAt"], "2017-12-23T01:21:40.549Z");
    assert_eq!(v["destination"], "example.alice");
    assert_eq!(
        v["executionCondition"],
        "74e1136dc71c9e5f283bec83461cbf1261c4014f72d48f8dd65453a0b84e7de1"
    );
    let back = run(&["ilp", "encode"], &stdout(&out));
    assert!(back.status.success(), "{}", stderr(&back));
    assert_eq!(stdout(&back).trim(), PREPARE_HEX);
}

#[test]
fn decode_reject_from_stdin_shows_code_name_and_text() {
    let out = run(&["ilp", "decode", "-"], &format!("0x{REJECT_HEX}\n"));
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["code"], "F01");
    assert_eq!(v["codeName"], "Invalid Packet");
    assert_eq!(v["triggeredBy"], "example.us.bob");
    assert_eq!(v["data"], "000000041041");
    assert!(v.get("dataUtf8").is_none(), "binary data has no utf8 view");
    let back = run(&["ilp", "encode"], &stdout(&out));
    assert_eq!(stdout(&back).trim(), REJECT_HEX);
}

#[test]
fn encode_fulfill_with_text_data() {
    let json = r#"{"type":"fulfill","fulfillment":"0000000000000000000000000000000000000000000000000000000000000000","dataUtf8":"hi"}"#;
    let out = run(&["ilp", "encode"], json);
    assert!(out.status.success(), "{}", stderr(&out));
    let hex = stdout(&out).trim().to_string();
    assert_eq!(hex, format!("0d23{}026869", "00".repeat(32)));
    let dec = run(&["ilp", "decode", &hex], "");
    let v: serde_json::Value = serde_json::from_str(&stdout(&dec)).unwrap();
    assert_eq!(v["dataUtf8"], "hi");
    assert_eq!(
        v["condition"],
        "66687aadf862bd776c8fc18b8e9f8e20089714856ee233b3902a591d0d5f2925"
    );
}

#[test]
fn bad_input_exits_1_with_a_clear_message() {
    let cases: &[(&[&str], &str, &str)] = &[
        (&["ilp", "decode", "zz"], "", "not hex"),
        (&["ilp", "decode", "0c01"], "", "not a valid ILP packet"),
        (
            &["ilp", "decode", &format!("{PREPARE_HEX}00")],
            "",
            "trailing",
        ),
        (&["ilp", "encode"], "{", "not valid JSON"),
        (&["ilp", "encode"], r#"{"type":"nope"}"#, "field `type`"),
        (
            &["ilp", "encode"],
            r#"{"type":"prepare","amount":"-1","expiresAt":"2030-01-01T00:00:00.000Z","executionCondition":"00","destination":"g.a"}"#,
            "field `amount`",
        ),
        (
            &["ilp", "encode"],
            r#"{"type":"prepare","amount":"1","expiresAt":"soon","executionCondition":"00","destination":"g.a"}"#,
            "field `expiresAt`",
        ),
        (
            &["ilp", "encode"],
            r#"{"type":"prepare","amount":"1","expiresAt":"2030-01-01T00:00:00.000Z","executionCondition":"00","destination":"g.a"}"#,
            "field `executionCondition` must be 32 bytes",
        ),
        (
            &["ilp", "encode"],
            r#"{"type":"reject","code":"F00","triggeredBy":"nope"}"#,
            "field `triggeredBy`",
        ),
        (
            &["ilp", "encode"],
            r#"{"type":"reject","code":"X1"}"#,
            "field `code`",
        ),
        (
            &["ilp", "encode"],
            r#"{"type":"fulfill","fulfillment":"00","extra":1}"#,
            "unknown field `extra`",
        ),
    ];
    for (args, stdin, needle) in cases {
        let out = run(args, stdin);
        assert_eq!(out.status.code(), Some(1), "{args:?} {stdin}");
        let err = stderr(&out);
        assert!(
            err.contains(needle),
            "{args:?}: expected {needle:?} in {err:?}"
        );
    }
}
