//! The console's pages (static assets embedded in the binary). Placeholder until the pages
//! land: a page saying so, and the login form.

use std::sync::Arc;

use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

use super::WebState;

const INDEX: &str =
    "<!doctype html><html><head><meta charset=\"utf-8\"><title>Osprey</title></head>\
<body><h1>Osprey console</h1><p>The pages are not built into this binary; the REST API is at \
<a href=\"/api/v1/openapi.json\">/api/v1/openapi.json</a>.</p></body></html>";

const LOGIN: &str =
    "<!doctype html><html><head><meta charset=\"utf-8\"><title>Osprey: log in</title></head>\
<body><h1>Osprey console</h1><form method=\"post\" action=\"/login\">\
<label>API token <input type=\"password\" name=\"token\" autofocus></label>\
<button type=\"submit\">Log in</button></form></body></html>";

/// The login page's HTML (served by `web::auth` for `GET /login` and a refused login).
pub fn login_page() -> &'static str {
    LOGIN
}

async fn index() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], INDEX)
}

/// The pages, mounted at `/` behind the login redirect.
pub fn router() -> Router<Arc<WebState>> {
    Router::new().route("/", get(index))
}
