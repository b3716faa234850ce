//! `tollcast demo --duration 30 --viewers 10`: the whole network comes up as child processes,
//! simulated viewers pay their relays and fetch parts, and the run ends with a summary whose
//! books balance (every ledger read and summed, the transcoder's included), the transcoder is
//! paid for the streamer's NIP-90 ladder job and relay-a pulls its job origin, exit code 0.
//! Also: bad input exits 1.

mod common;

#[test]
fn demo_runs_and_the_books_balance() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tollcast"))
        .args([
            "demo",
            "--duration",
            "30",
            "--viewers",
            "10",
            "--listen",
            "127.0.0.1:0",
            "--dir",
        ])
        .arg(dir.path())
        .env_remove("TOLLCAST_SECRET_KEY")
        .output()
        .expect("run tollcast demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "demo failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    assert!(stdout.contains("http://127.0.0.1:"), "{stdout}");
    let ready = stdout
        .lines()
        .find_map(|l| l.strip_prefix("ready: "))
        .expect("a ready line");
    let ready: serde_json::Value = serde_json::from_str(ready).unwrap();
    assert_eq!(ready["relays"].as_array().unwrap().len(), 2);
    assert!(stdout.contains("summary after"), "{stdout}");
    let parts: u64 = stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("parts delivered: "))
        .and_then(|l| l.split_whitespace().next()?.parse().ok())
        .expect("parts delivered line");
    // 10 viewers for ~25 s of 0.2 s parts: well over a thousand; demand a healthy fraction.
    assert!(parts > 500, "too few parts delivered: {parts}\n{stdout}");
    assert!(
        stdout.contains("books balanced: yes"),
        "books must balance:\n{stdout}\n{stderr}"
    );
    let payments: u64 = stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("payments: "))
        .and_then(|l| l.split_whitespace().next()?.parse().ok())
        .expect("payments line");
    assert!(payments > 200, "{stdout}");
    // Relays earned money; viewers paid it (the relay line is positive).
    let relay_line = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("relay "))
        .expect("relay earnings line");
    assert!(!relay_line.contains(" 0.000000 USD  "), "{relay_line}");
    // Relays pay the creator its split: the creator line is positive too.
    let creator_line = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("creator "))
        .expect("creator earnings line");
    assert!(!creator_line.contains(" 0.000000 USD  "), "{creator_line}");
    // The transcoder answered the streamer's paid NIP-90 job: it earned money and relay-a
    // pulls its job origin (source mirrored + ladder), trusting its key.
    // (The agent list also has a line starting with "transcoder": take the one with an amount.)
    let earned: f64 = stdout
        .lines()
        .filter(|l| l.trim_start().starts_with("transcoder ") && l.contains(" USD "))
        .find_map(|l| l.split_whitespace().nth(1)?.parse().ok())
        .expect("transcoder earnings line");
    assert!(earned > 0.0, "transcoder earned {earned}\n{stdout}");
    // The streamer's wallet hires the moderator per stream-hour: its own ledger shows pay.
    let moderator: f64 = stdout
        .lines()
        .filter(|l| l.trim_start().starts_with("moderator ") && l.contains(" USD "))
        .find_map(|l| l.split_whitespace().nth(1)?.parse().ok())
        .expect("moderator earnings line");
    assert!(moderator > 0.0, "moderator earned {moderator}\n{stdout}");
    let job = &ready["transcoder"];
    assert!(
        job["pubkey"].as_str().is_some_and(|k| k.len() == 64),
        "{ready}"
    );
    let rungs: Vec<&str> = job["renditions"]
        .as_array()
        .expect("the job's renditions")
        .iter()
        .filter_map(|r| r.as_str())
        .collect();
    assert!(rungs.contains(&"source") && rungs.len() >= 3, "{rungs:?}");
    let relay_a = &ready["relays"][0];
    assert_eq!(relay_a["upstream"], job["origin"], "{ready}");
    assert!(
        stdout.contains("transcoding: ")
            && stdout.contains("pulls from the transcoder's job origin"),
        "{stdout}"
    );
    assert!(
        stdout.contains("recording: "),
        "the recorder's VOD line: {stdout}"
    );
    println!("MEASURE demo summary:\n{stdout}");
}

#[test]
fn demo_refuses_bad_input() {
    let out = common::run(&["demo", "--duration=-3"], "");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("--duration"));
    let out = common::run(&["demo", "--viewers", "100000"], "");
    assert_eq!(out.status.code(), Some(1));
}
