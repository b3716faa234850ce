//! The browser side of tollcast: the viewer page (`/`) and the creator/operator dashboard
//! (`/dashboard`), served from `web/` (compiled into the binary) plus hls.js, which comes from
//! npm at set-up (never committed) and is read from disk at request time.
//!
//! The pages talk to the server that serves them: the viewer page to the viewer agent's
//! `/api/*` contract (plan11: status, relay switch, chat, tip) and LL-HLS at `/live/…`; the
//! dashboard to `/api/dashboard` (served by `tollcast demo`). Merge [`web_router`] into any
//! axum router that serves those (`tollcast watch`, `tollcast demo`).

use std::path::PathBuf;

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

const INDEX_HTML: &str = include_str!("../../../web/index.html");
const DASHBOARD_HTML: &str = include_str!("../../../web/dashboard.html");
const PLAYER_JS: &str = include_str!("../../../web/player.js");
const DASHBOARD_JS: &str = include_str!("../../../web/dashboard.js");
const STYLE_CSS: &str = include_str!("../../../web/style.css");

/// Where hls.js is looked for, in order: `$TOLLCAST_HLSJS` (a file), then the npm install of
/// this checkout (`web/node_modules`, `tests/interop/node_modules`), then the same paths
/// relative to the working directory.
pub fn hlsjs_candidates() -> Vec<PathBuf> {
    let mut v = Vec::new();
    if let Some(p) = std::env::var_os("TOLLCAST_HLSJS") {
        v.push(PathBuf::from(p));
    }
    let rel = [
        "web/node_modules/hls.js/dist/hls.min.js",
        "tests/interop/node_modules/hls.js/dist/hls.min.js",
    ];
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    for r in rel {
        v.push(root.join(r));
    }
    for r in rel {
        v.push(PathBuf::from(r));
    }
    v
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

async fn hlsjs() -> Response {
    for p in hlsjs_candidates() {
        if let Ok(bytes) = tokio::fs::read(&p).await {
            return (
                [
                    (header::CONTENT_TYPE, "text/javascript"),
                    (header::CACHE_CONTROL, "max-age=3600"),
                ],
                bytes,
            )
                .into_response();
        }
    }
    (
        StatusCode::NOT_FOUND,
        [(header::CONTENT_TYPE, "text/javascript")],
        "console.error('hls.js is not installed: run scripts/setup.sh (npm ci installs it)');",
    )
        .into_response()
}

/// The pages: `/` (viewer), `/dashboard`, their scripts and style under `/web/`, and
/// `/web/hls.min.js`.
pub fn web_router() -> Router {
    Router::new()
        .route(
            "/",
            get(|| async { asset("text/html; charset=utf-8", INDEX_HTML) }),
        )
        .route(
            "/dashboard",
            get(|| async { asset("text/html; charset=utf-8", DASHBOARD_HTML) }),
        )
        .route(
            "/web/player.js",
            get(|| async { asset("text/javascript", PLAYER_JS) }),
        )
        .route(
            "/web/dashboard.js",
            get(|| async { asset("text/javascript", DASHBOARD_JS) }),
        )
        .route(
            "/web/style.css",
            get(|| async { asset("text/css", STYLE_CSS) }),
        )
        .route("/web/hls.min.js", get(hlsjs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_reference_only_local_assets() {
        for page in [INDEX_HTML, DASHBOARD_HTML] {
            assert!(!page.contains("https://"), "pages must work offline");
            assert!(page.contains("/web/style.css"));
        }
        assert!(INDEX_HTML.contains("/web/hls.min.js"));
    }
}
