//! The console's pages: HTML, one small script per page, one style sheet and the vendored
//! libraries (`ui/vendor/`, refreshed by `deploy/vendor-ui.sh`), all embedded in the binary
//! so that nothing is fetched at run time. Every asset carries a strong `ETag` (a digest of
//! its bytes) and a `Cache-Control`; the router compresses with gzip when the browser asks.
//!
//! Pages live at `/`, `/network`, `/alerts`, … ([`PAGES`]); their scripts and styles under
//! `/ui/`. The login page is served by the authentication routes through [`login_page`].

use std::sync::OnceLock;

use axum::extract::Path;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use sha2::{Digest, Sha256};
use tower_http::compression::CompressionLayer;

/// One embedded file.
struct Asset {
    name: &'static str,
    bytes: &'static [u8],
    mime: &'static str,
}

macro_rules! asset {
    ($name:literal, $mime:expr) => {
        Asset {
            name: $name,
            bytes: include_bytes!(concat!("ui/", $name)),
            mime: $mime,
        }
    };
}

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// Everything under `ui/` that the console serves.
const ASSETS: &[Asset] = &[
    asset!("overview.html", HTML),
    asset!("network.html", HTML),
    asset!("alerts.html", HTML),
    asset!("incidents.html", HTML),
    asset!("intel.html", HTML),
    asset!("performance.html", HTML),
    asset!("rules.html", HTML),
    asset!("reports.html", HTML),
    asset!("settings.html", HTML),
    asset!("console.css", CSS),
    asset!("common.js", JS),
    asset!("overview.js", JS),
    asset!("network.js", JS),
    asset!("alerts.js", JS),
    asset!("incidents.js", JS),
    asset!("intel.js", JS),
    asset!("performance.js", JS),
    asset!("rules.js", JS),
    asset!("reports.js", JS),
    asset!("settings.js", JS),
    asset!("vendor/uPlot.iife.min.js", JS),
    asset!("vendor/uPlot.min.css", CSS),
    asset!("vendor/cytoscape.min.js", JS),
    asset!("vendor/VERSIONS", "text/plain; charset=utf-8"),
    asset!("vendor/LICENSES/uplot.txt", "text/plain; charset=utf-8"),
    asset!("vendor/LICENSES/cytoscape.txt", "text/plain; charset=utf-8"),
];

/// The pages by URL path and the file each one serves.
pub const PAGES: &[(&str, &str)] = &[
    ("/", "overview.html"),
    ("/network", "network.html"),
    ("/alerts", "alerts.html"),
    ("/incidents", "incidents.html"),
    ("/intel", "intel.html"),
    ("/performance", "performance.html"),
    ("/rules", "rules.html"),
    ("/reports", "reports.html"),
    ("/settings", "settings.html"),
];

/// The embedded pages and assets, to be mounted at `/` behind the console's authentication.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    let mut r = Router::new();
    for &(path, file) in PAGES {
        r = r.route(
            path,
            get(move |h: HeaderMap| async move { serve(file, &h) }),
        );
    }
    r.route(
        "/ui/{*file}",
        get(|Path(file): Path<String>, h: HeaderMap| async move { serve(&file, &h) }),
    )
    .layer(CompressionLayer::new().gzip(true))
}

/// The login page's HTML, for `GET /login` and a refused `POST /login`. It is
/// self-contained (inline style and script): nothing else is served before a session exists.
pub fn login_page() -> &'static str {
    include_str!("ui/login.html")
}

/// The strong validator of each asset, computed once.
fn etag(index: usize) -> &'static HeaderValue {
    static TAGS: OnceLock<Vec<HeaderValue>> = OnceLock::new();
    &TAGS.get_or_init(|| {
        ASSETS
            .iter()
            .map(|a| {
                let d = Sha256::digest(a.bytes);
                HeaderValue::from_str(&format!("\"{}\"", hex::encode(&d[..12])))
                    .expect("hex is a valid header value")
            })
            .collect()
    })[index]
}

/// Pages and the console's own scripts are revalidated on every load (so an upgrade shows at
/// once); vendored libraries change only with their version and may be kept for a day.
fn cache_control(name: &str) -> &'static str {
    if name.starts_with("vendor/") {
        "public, max-age=86400"
    } else {
        "no-cache"
    }
}

fn serve(name: &str, req: &HeaderMap) -> Response {
    let Some(index) = ASSETS.iter().position(|a| a.name == name) else {
        return (StatusCode::NOT_FOUND, "no such console file").into_response();
    };
    let asset = &ASSETS[index];
    let tag = etag(index);
    let headers = [
        (header::ETAG, tag.clone()),
        (
            header::CACHE_CONTROL,
            HeaderValue::from_static(cache_control(name)),
        ),
    ];
    let fresh = req
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == tag || t.trim() == "*"));
    if fresh {
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    (
        headers,
        [(header::CONTENT_TYPE, HeaderValue::from_static(asset.mime))],
        asset.bytes,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    fn find(name: &str) -> Option<&'static Asset> {
        ASSETS.iter().find(|a| a.name == name)
    }

    async fn get(path: &str, headers: &[(&str, &str)]) -> Response {
        let mut req = Request::get(path);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        router::<()>()
            .oneshot(req.body(Body::empty()).unwrap())
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn every_page_is_served_with_its_validators() {
        for &(path, file) in PAGES {
            let res = get(path, &[]).await;
            assert_eq!(res.status(), StatusCode::OK, "{path}");
            assert_eq!(res.headers()[header::CONTENT_TYPE], HTML, "{path}");
            assert_eq!(res.headers()[header::CACHE_CONTROL], "no-cache", "{path}");
            assert!(find(file).is_some());
        }
    }

    #[tokio::test]
    async fn a_matching_etag_answers_not_modified() {
        let first = get("/ui/common.js", &[]).await;
        let tag = first.headers()[header::ETAG].to_str().unwrap().to_owned();
        let again = get("/ui/common.js", &[("if-none-match", &tag)]).await;
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
        let other = get("/ui/common.js", &[("if-none-match", "\"stale\"")]).await;
        assert_eq!(other.status(), StatusCode::OK);
    }

    #[tokio::test]
    async fn assets_are_gzipped_when_asked() {
        let res = get(
            "/ui/vendor/cytoscape.min.js",
            &[("accept-encoding", "gzip")],
        )
        .await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.headers()[header::CONTENT_ENCODING], "gzip");
        assert_eq!(
            res.headers()[header::CACHE_CONTROL],
            "public, max-age=86400"
        );
    }

    #[tokio::test]
    async fn an_unknown_file_is_not_found() {
        assert_eq!(
            get("/ui/../Cargo.toml", &[]).await.status(),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            get("/ui/nothing.js", &[]).await.status(),
            StatusCode::NOT_FOUND
        );
    }

    #[test]
    fn the_login_page_is_embedded() {
        let page = login_page();
        assert!(page.contains("name=\"token\""));
        assert!(
            !page.contains("/ui/"),
            "the login page loads nothing behind the login"
        );
    }

    /// Every script and style a page names is one the router serves.
    #[test]
    fn pages_reference_only_embedded_files() {
        for a in ASSETS.iter().filter(|a| a.name.ends_with(".html")) {
            let text = std::str::from_utf8(a.bytes).unwrap();
            for part in text.split("\"/ui/").skip(1) {
                let name = &part[..part.find('"').unwrap()];
                assert!(find(name).is_some(), "{} names /ui/{name}", a.name);
            }
        }
    }
}
