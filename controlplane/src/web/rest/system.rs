//! `GET /api/v1/session`, and the counters of `SystemService/Stats` for the WebSocket's
//! `stats` topic.

use axum::http::Method;

use super::{call, Answer, Route, St};
use crate::api::system::SystemApi;
use crate::proto;
use crate::proto::system_service_server::SystemService;
use crate::web::auth::Caller;
use crate::web::error::ApiError;

/// The counters `GET /api/v1/stats` answers (also the WebSocket's `stats` topic).
pub async fn stats_of(st: &St, c: &Caller) -> Result<proto::StatsResponse, ApiError> {
    call(
        st,
        c,
        "osprey.v1.SystemService/Stats",
        proto::StatsRequest {},
        |ctx, r| async move { SystemApi { ctx }.stats(r).await },
    )
    .await
}

/// `GET /api/v1/session`.
pub fn routes() -> Vec<Route> {
    vec![Route::new(
        Method::GET,
        "/api/v1/session",
        "Who the console takes the caller for, its role and the CSRF token its mutating requests carry.",
        crate::web::auth::session,
    )
    .answer(Answer::Schema("Session"))]
}
