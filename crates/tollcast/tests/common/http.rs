//! HTTP/1.1 GET over a fresh TCP connection (`Connection: close`), blocking and async, chunked
//! bodies decoded: how the CLI tests look at the processes they start.

use std::time::Duration;

/// Bound of one request.
pub const HTTP_TIMEOUT: Duration = Duration::from_secs(30);

pub struct Resp {
    pub status: u16,
    /// Status line and headers.
    pub head: String,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.head.lines().skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    }
}

fn request(host: &str, path: &str, headers: &[(&str, &str)]) -> String {
    let mut r = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n");
    for (k, v) in headers {
        r.push_str(&format!("{k}: {v}\r\n"));
    }
    r.push_str("Connection: close\r\n\r\n");
    r
}

fn parse(buf: &[u8]) -> Resp {
    let split = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no HTTP head in {:?}", String::from_utf8_lossy(buf)));
    let head = String::from_utf8_lossy(&buf[..split]).into_owned();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line: {head}"));
    let mut body = buf[split + 4..].to_vec();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body = dechunk(&body);
    }
    Resp { status, head, body }
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(i) = b.windows(2).position(|w| w == b"\r\n") {
        let size = std::str::from_utf8(&b[..i]).unwrap_or("0");
        let n =
            usize::from_str_radix(size.split(';').next().unwrap_or("0").trim(), 16).unwrap_or(0);
        if n == 0 || b.len() < i + 2 + n {
            break;
        }
        out.extend_from_slice(&b[i + 2..i + 2 + n]);
        b = &b[(i + 4 + n).min(b.len())..];
    }
    out
}

/// GET `path` from `host` (`127.0.0.1:port`), blocking.
pub fn get_blocking(host: &str, path: &str) -> Resp {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(host).unwrap_or_else(|e| panic!("{host}: {e}"));
    s.set_read_timeout(Some(HTTP_TIMEOUT)).unwrap();
    s.write_all(request(host, path, &[]).as_bytes()).unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).unwrap();
    parse(&buf)
}

/// GET `path` from `host` with extra request headers.
pub async fn get_with(host: &str, path: &str, headers: &[(&str, &str)]) -> Resp {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(host)
        .await
        .unwrap_or_else(|e| panic!("{host}: {e}"));
    s.write_all(request(host, path, headers).as_bytes())
        .await
        .unwrap();
    let mut buf = Vec::new();
    tokio::time::timeout(HTTP_TIMEOUT, s.read_to_end(&mut buf))
        .await
        .unwrap_or_else(|_| panic!("no answer to GET {host}{path} within {HTTP_TIMEOUT:?}"))
        .unwrap();
    parse(&buf)
}

/// GET `path` from `host`.
pub async fn get(host: &str, path: &str) -> Resp {
    get_with(host, path, &[]).await
}

/// GET an `http://host:port/path?query` URL, optionally as viewer `bearer`.
pub async fn get_url(url: &str, bearer: Option<&str>) -> Resp {
    let rest = url
        .strip_prefix("http://")
        .unwrap_or_else(|| panic!("not an http:// URL: {url}"));
    let (host, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let auth = bearer.map(|b| format!("Bearer {b}"));
    let headers: Vec<(&str, &str)> = auth
        .as_deref()
        .map(|a| vec![("Authorization", a)])
        .unwrap_or_default();
    get_with(host, path, &headers).await
}

/// GET `url` and parse its JSON body (status 200 required).
pub async fn get_json(url: &str) -> serde_json::Value {
    let r = get_url(url, None).await;
    assert_eq!(r.status, 200, "{url}: {}", r.text());
    r.json()
}

/// A JSON amount as i128: a number, or a decimal string (amounts may exceed 2^53).
pub fn num(v: &serde_json::Value) -> i128 {
    match v {
        serde_json::Value::Number(n) => n
            .as_i64()
            .map(i128::from)
            .or(n.as_u64().map(i128::from))
            .unwrap_or_else(|| panic!("not an integer: {n}")),
        serde_json::Value::String(s) => s.parse().unwrap_or_else(|e| panic!("{s}: {e}")),
        other => panic!("not a number: {other}"),
    }
}
