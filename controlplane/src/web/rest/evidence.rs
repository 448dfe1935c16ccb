//! Evidence (`EvidenceService`): the items and the key that signs their custody log. 404
//! `failed_precondition` while `[evidence]` is off.

use axum::extract::{RawQuery, State};
use axum::http::Method;
use axum::{Extension, Json};

use super::{param, parse_query, Answer, Kind, Param, Route, St};
use crate::api::evidence::EvidenceApi;
use crate::proto;
use crate::proto::evidence_service_server::EvidenceService;
use crate::web::auth::Caller;
use crate::web::error::ApiError;

const PARAMS: &[Param] = &[param(
    "incident_id",
    Kind::U64,
    "Only this incident's items, when not 0.",
)];

async fn list(
    State(st): State<St>,
    Extension(c): Extension<Caller>,
    RawQuery(q): RawQuery,
) -> Result<Json<proto::ListEvidenceResponse>, ApiError> {
    if st.ctx.evidence.is_none() {
        return Err(ApiError::not_enabled("evidence"));
    }
    let req: proto::ListEvidenceRequest = parse_query(q.as_deref(), PARAMS)?;
    Ok(Json(
        grpc!(
            st,
            c,
            EvidenceApi.list,
            "osprey.v1.EvidenceService/List",
            req
        )
        .await?,
    ))
}

pub fn routes() -> Vec<Route> {
    vec![Route::new(
        Method::GET,
        "/api/v1/evidence",
        "Evidence items with their hashes, and the custody log's public key.",
        list,
    )
    .grpc("osprey.v1.EvidenceService/List")
    .params(PARAMS)
    .answer(Answer::Message("ListEvidenceResponse"))]
}
