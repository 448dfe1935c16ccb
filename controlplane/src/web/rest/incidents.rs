//! Incidents (`IncidentService`): the queue, one incident with its timeline, workflow
//! changes. 404 `failed_precondition` while `[incidents]` is off.

use axum::extract::{Path, RawQuery, State};
use axum::http::Method;
use axum::{Extension, Json};

use super::{
    param, parse_body, parse_query, path_u64, Answer, Body, Kind, Page, Param, Route, St,
    PAGE_SIZE, PAGE_TOKEN,
};
use crate::api::incidents::IncidentsApi;
use crate::model::Role;
use crate::proto;
use crate::proto::incident_service_server::IncidentService;
use crate::web::auth::Caller;
use crate::web::error::ApiError;

const LIST_PARAMS: &[Param] = &[
    param("states", Kind::List, "Comma-separated workflow states (new, acknowledged, investigating, contained, resolved, false_positive)."),
    param("address", Kind::Str, "An address among the incident's hosts."),
    param("min_score", Kind::F64, "Lowest score."),
    param("tactic_id", Kind::Str, "ATT&CK tactic id (TA0011)."),
    param("by_score", Kind::Bool, "Highest score first instead of newest first."),
    PAGE_SIZE,
    PAGE_TOKEN,
];

const GET_PARAMS: &[Param] = &[param(
    "max_members",
    Kind::U32,
    "Timeline members returned at most; 0 = all kept.",
)];

fn enabled(st: &St) -> Result<(), ApiError> {
    match st.ctx.incidents {
        Some(_) => Ok(()),
        None => Err(ApiError::not_enabled("incidents")),
    }
}

async fn list(
    State(st): State<St>,
    Extension(c): Extension<Caller>,
    RawQuery(q): RawQuery,
) -> Result<Json<Page<proto::Incident>>, ApiError> {
    enabled(&st)?;
    let req: proto::ListIncidentsRequest = parse_query(q.as_deref(), LIST_PARAMS)?;
    let r = grpc!(
        st,
        c,
        IncidentsApi.list,
        "osprey.v1.IncidentService/List",
        req
    )
    .await?;
    Ok(Json(Page {
        items: r.incidents,
        next_page_token: r.next_page_token,
    }))
}

async fn get(
    State(st): State<St>,
    Extension(c): Extension<Caller>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Json<proto::IncidentDetail>, ApiError> {
    enabled(&st)?;
    let mut req: proto::GetIncidentRequest = parse_query(q.as_deref(), GET_PARAMS)?;
    req.id = path_u64("id", &id)?;
    let r = grpc!(
        st,
        c,
        IncidentsApi.get,
        "osprey.v1.IncidentService/Get",
        req
    )
    .await?;
    Ok(Json(r))
}

async fn update(
    State(st): State<St>,
    Extension(c): Extension<Caller>,
    Path(id): Path<String>,
    Body(body): Body,
) -> Result<Json<proto::Incident>, ApiError> {
    enabled(&st)?;
    let mut req: proto::UpdateIncidentRequest = parse_body(&body)?;
    req.id = path_u64("id", &id)?;
    let r = grpc!(
        st,
        c,
        IncidentsApi.update,
        "osprey.v1.IncidentService/Update",
        req
    )
    .await?;
    Ok(Json(r))
}

pub fn routes() -> Vec<Route> {
    vec![
        Route::new(
            Method::GET,
            "/api/v1/incidents",
            "Incidents, newest (or highest score) first, filtered and paged.",
            list,
        )
        .grpc("osprey.v1.IncidentService/List")
        .params(LIST_PARAMS)
        .answer(Answer::Page("Incident")),
        Route::new(
            Method::GET,
            "/api/v1/incidents/{id}",
            "One incident with its timeline.",
            get,
        )
        .grpc("osprey.v1.IncidentService/Get")
        .params(GET_PARAMS)
        .answer(Answer::Message("IncidentDetail")),
        Route::new(
            Method::PATCH,
            "/api/v1/incidents/{id}",
            "Workflow: state, assignee, a note, tags (the body's id is the path's).",
            update,
        )
        .grpc("osprey.v1.IncidentService/Update")
        .role(Role::Operator)
        .body("UpdateIncidentRequest")
        .answer(Answer::Message("Incident")),
    ]
}
