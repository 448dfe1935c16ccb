//! The audit log (`AuditService`). Admin only.

use axum::extract::{RawQuery, State};
use axum::http::Method;
use axum::{Extension, Json};

use super::{param, parse_query, Answer, Kind, Page, Param, Route, St, PAGE_SIZE, PAGE_TOKEN};
use crate::api::audit::AuditApi;
use crate::model::Role;
use crate::proto;
use crate::proto::audit_service_server::AuditService;
use crate::web::auth::Caller;
use crate::web::error::ApiError;

const PARAMS: &[Param] = &[
    Param {
        name: "from_ns",
        field: "since_ns",
        kind: Kind::U64,
        doc: "Inclusive lower bound, wall-clock ns since the epoch; 0 = unbounded.",
    },
    Param {
        name: "to_ns",
        field: "until_ns",
        kind: Kind::U64,
        doc: "Exclusive upper bound; 0 = unbounded.",
    },
    param("who", Kind::Str, "Identity."),
    param(
        "method",
        Kind::Str,
        "Method (osprey.v1.RulesService/Add, console/Preferences...).",
    ),
    param(
        "oldest_first",
        Kind::Bool,
        "Oldest first instead of newest first.",
    ),
    PAGE_SIZE,
    PAGE_TOKEN,
];

async fn list(
    State(st): State<St>,
    Extension(c): Extension<Caller>,
    RawQuery(q): RawQuery,
) -> Result<Json<Page<proto::AuditEntry>>, ApiError> {
    let req: proto::ListAuditRequest = parse_query(q.as_deref(), PARAMS)?;
    let r = grpc!(st, c, AuditApi.list, "osprey.v1.AuditService/List", req).await?;
    Ok(Json(Page {
        items: r.entries,
        next_page_token: r.next_page_token,
    }))
}

pub fn routes() -> Vec<Route> {
    vec![Route::new(
        Method::GET,
        "/api/v1/audit",
        "The audit log: who did what, when, with what result.",
        list,
    )
    .grpc("osprey.v1.AuditService/List")
    .role(Role::Admin)
    .params(PARAMS)
    .answer(Answer::Page("AuditEntry"))]
}
