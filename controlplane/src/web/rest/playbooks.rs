//! Playbooks (`PlaybookService`). 404 `failed_precondition` while incidents (and so
//! playbooks) are off.

use axum::extract::{RawQuery, State};
use axum::http::Method;
use axum::{Extension, Json};

use super::{parse_query, Answer, Route, St};
use crate::api::playbooks::PlaybooksApi;
use crate::proto;
use crate::proto::playbook_service_server::PlaybookService;
use crate::web::auth::Caller;
use crate::web::error::ApiError;

async fn list(
    State(st): State<St>,
    Extension(c): Extension<Caller>,
    RawQuery(q): RawQuery,
) -> Result<Json<proto::ListPlaybooksResponse>, ApiError> {
    if st.ctx.playbooks.is_none() {
        return Err(ApiError::not_enabled("playbooks"));
    }
    let req: proto::ListPlaybooksRequest = parse_query(q.as_deref(), &[])?;
    Ok(Json(
        grpc!(
            st,
            c,
            PlaybooksApi.list,
            "osprey.v1.PlaybookService/List",
            req
        )
        .await?,
    ))
}

pub fn routes() -> Vec<Route> {
    vec![Route::new(
        Method::GET,
        "/api/v1/playbooks",
        "Loaded playbooks, their versions and counters.",
        list,
    )
    .grpc("osprey.v1.PlaybookService/List")
    .answer(Answer::Message("ListPlaybooksResponse"))]
}
