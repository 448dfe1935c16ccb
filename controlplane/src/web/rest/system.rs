//! `GET /api/v1/status`, `GET /api/v1/stats` (`SystemService`) and `GET /api/v1/session`.

use axum::extract::{RawQuery, State};
use axum::http::Method;
use axum::{Extension, Json};

use super::{call, parse_query, Answer, Route, St};
use crate::api::system::SystemApi;
use crate::proto;
use crate::proto::system_service_server::SystemService;
use crate::web::auth::Caller;
use crate::web::error::ApiError;

async fn status(
    State(st): State<St>,
    Extension(c): Extension<Caller>,
    RawQuery(q): RawQuery,
) -> Result<Json<proto::StatusResponse>, ApiError> {
    let req: proto::StatusRequest = parse_query(q.as_deref(), &[])?;
    let r = call(
        &st,
        &c,
        "osprey.v1.SystemService/Status",
        req,
        |ctx, r| async move { SystemApi { ctx }.status(r).await },
    )
    .await?;
    Ok(Json(r))
}

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

async fn stats(
    State(st): State<St>,
    Extension(c): Extension<Caller>,
    RawQuery(q): RawQuery,
) -> Result<Json<proto::StatsResponse>, ApiError> {
    let _: proto::StatsRequest = parse_query(q.as_deref(), &[])?;
    Ok(Json(stats_of(&st, &c).await?))
}

pub fn routes() -> Vec<Route> {
    vec![
        Route::new(
            Method::GET,
            "/api/v1/status",
            "Version, uptime, ports, workers, ruleset generation and component health.",
            status,
        )
        .grpc("osprey.v1.SystemService/Status")
        .answer(Answer::Message("StatusResponse")),
        Route::new(
            Method::GET,
            "/api/v1/stats",
            "Counters per worker, their totals and the control plane's.",
            stats,
        )
        .grpc("osprey.v1.SystemService/Stats")
        .answer(Answer::Message("StatsResponse")),
        Route::new(
            Method::GET,
            "/api/v1/session",
            "Who the console takes the caller for, its role and the CSRF token its mutating requests carry.",
            crate::web::auth::session,
        )
        .answer(Answer::Schema("Session")),
    ]
}
