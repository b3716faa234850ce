//! Serving an axum router over TCP the way every tollcast HTTP face needs it: with Nagle's
//! algorithm off on each accepted connection.
//!
//! hyper writes a response as headers + body; with Nagle on, the tail of a body larger than one
//! segment waits for the client's delayed ACK (40 ms on Linux) whenever a full segment is still
//! unacknowledged. That was most of a relay's per-delivery time (41–55 ms vs nginx's 17 ms with
//! `tcp_nodelay on`) and of every blocking playlist reload.

use axum::Router;
use axum::serve::ListenerExt;
use tokio::net::TcpListener;

/// Serve `app` on `listener` until the server fails (it never ends on its own).
pub async fn serve(listener: TcpListener, app: Router) -> std::io::Result<()> {
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!("TCP_NODELAY: {e}");
        }
    });
    axum::serve(listener, app).await
}
