//! A byte-counting TCP forwarder: put between two ILP nodes, it counts every byte of the BTP
//! link (WebSocket frames carrying BTP carrying ILP/STREAM), both directions, as sent on the wire
//! above TCP.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[derive(Default, Debug)]
pub struct Counts {
    /// Bytes from the connecting side to the target.
    pub up: AtomicU64,
    /// Bytes from the target back.
    pub down: AtomicU64,
}

impl Counts {
    pub fn total(&self) -> u64 {
        self.up.load(Ordering::Relaxed) + self.down.load(Ordering::Relaxed)
    }
}

/// Listen on 127.0.0.1:0 and forward every connection to `target`, counting bytes.
pub async fn start(target: SocketAddr) -> std::io::Result<(SocketAddr, Arc<Counts>)> {
    let l = TcpListener::bind("127.0.0.1:0").await?;
    let addr = l.local_addr()?;
    let counts = Arc::new(Counts::default());
    let c = counts.clone();
    tokio::spawn(async move {
        while let Ok((inbound, _)) = l.accept().await {
            let c = c.clone();
            tokio::spawn(async move {
                let Ok(outbound) = TcpStream::connect(target).await else {
                    return;
                };
                let _ = inbound.set_nodelay(true);
                let _ = outbound.set_nodelay(true);
                let (ri, wi) = inbound.into_split();
                let (ro, wo) = outbound.into_split();
                let a = pump(ri, wo, c.clone(), true);
                let b = pump(ro, wi, c, false);
                let _ = tokio::join!(a, b);
            });
        }
    });
    Ok((addr, counts))
}

async fn pump(
    mut r: tokio::net::tcp::OwnedReadHalf,
    mut w: tokio::net::tcp::OwnedWriteHalf,
    c: Arc<Counts>,
    up: bool,
) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match r.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let ctr = if up { &c.up } else { &c.down };
        ctr.fetch_add(n as u64, Ordering::Relaxed);
        if w.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    let _ = w.shutdown().await;
}
