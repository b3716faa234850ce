//! `tollcast origin` through the real binary: a synthetic stream becomes an LL-HLS origin whose
//! playlist URL is printed; a blocking reload over HTTP returns parts; bad flags exit 1.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn http_get(addr: &str, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut buf = String::new();
    s.read_to_string(&mut buf).unwrap();
    let status = buf.split(' ').nth(1).unwrap().parse().unwrap();
    let body = buf
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

struct Kill(std::process::Child);
impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn origin_serves_a_synthetic_stream() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Kill(
        Command::new(env!("CARGO_BIN_EXE_tollcast"))
            .args([
                "origin",
                "--source",
                "synthetic",
                "--listen",
                "127.0.0.1:0",
                "--size",
                "426x240",
            ])
            .args(["--duration", "6", "--store-dir"])
            .arg(dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut out = BufReader::new(child.0.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    let url = line
        .trim()
        .strip_prefix("playlist: ")
        .expect("first line prints the playlist URL")
        .to_string();
    let addr = url
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap()
        .to_string();
    assert!(url.ends_with("/live/master.m3u8"), "{url}");

    // Block until segment 1 part 0 exists: proves live parts and blocking reload end to end.
    let t = Instant::now();
    let mut body = String::new();
    while t.elapsed() < Duration::from_secs(30) {
        let (status, b) = http_get(&addr, "/live/source/index.m3u8?_HLS_msn=1&_HLS_part=0");
        if status == 200 {
            body = b;
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(body.contains("#EXT-X-PART:DURATION="), "{body}");
    assert!(body.contains("CAN-BLOCK-RELOAD=YES"), "{body}");
    let (status, master) = http_get(&addr, "/live/master.m3u8");
    assert_eq!(status, 200);
    assert!(master.contains("RESOLUTION=426x240"), "{master}");
    // Progress lines on stderr name segments.
    let mut err = BufReader::new(child.0.stderr.take().unwrap());
    let mut seen = String::new();
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(20) && !seen.contains("segment ") {
        let mut l = String::new();
        if err.read_line(&mut l).unwrap() == 0 {
            break;
        }
        seen.push_str(&l);
    }
    assert!(seen.contains("capture->playlist"), "{seen}");
}

#[test]
fn bad_flags_exit_1_with_a_hint() {
    for args in [
        vec!["origin", "--part-target", "5"],
        vec!["origin", "--source", "http://example"],
        vec!["origin", "--size", "abc"],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_tollcast"))
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("error:"), "{args:?}: {err}");
    }
}
