//! Reports (`ReportService`): list, generate, and the stored document itself, served with
//! its own content type so a browser opens (or saves) it.

use axum::extract::{Path, RawQuery, State};
use axum::http::{header, Method};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};

use super::{param, parse_body, parse_query, path_u64, Answer, Body, Kind, Param, Route, St};
use crate::api::reports::ReportsApi;
use crate::model::Role;
use crate::proto;
use crate::proto::report_service_server::ReportService;
use crate::web::auth::Caller;
use crate::web::error::ApiError;

const LIST_PARAMS: &[Param] = &[param(
    "limit",
    Kind::U32,
    "At most this many, newest first (0: the server's page size).",
)];

async fn list(
    State(st): State<St>,
    Extension(c): Extension<Caller>,
    RawQuery(q): RawQuery,
) -> Result<Json<proto::ListReportsResponse>, ApiError> {
    let req: proto::ListReportsRequest = parse_query(q.as_deref(), LIST_PARAMS)?;
    Ok(Json(
        grpc!(st, c, ReportsApi.list, "osprey.v1.ReportService/List", req).await?,
    ))
}

async fn generate(
    State(st): State<St>,
    Extension(c): Extension<Caller>,
    Body(body): Body,
) -> Result<Json<proto::ReportInfo>, ApiError> {
    let req: proto::GenerateReportRequest = parse_body(&body)?;
    let r = grpc!(
        st,
        c,
        ReportsApi.generate,
        "osprey.v1.ReportService/Generate",
        req
    )
    .await?;
    Ok(Json(r.report.unwrap_or_default()))
}

async fn document(
    State(st): State<St>,
    Extension(c): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let req = proto::GetReportRequest {
        id: path_u64("id", &id)?,
    };
    let r = grpc!(st, c, ReportsApi.get, "osprey.v1.ReportService/Get", req).await?;
    let info = r.report.unwrap_or_default();
    let kind = if info.format == "pdf" {
        "application/pdf"
    } else {
        "text/html; charset=utf-8"
    };
    let name = format!(
        "inline; filename=\"osprey-report-{}.{}\"",
        info.id, info.format
    );
    Ok((
        [
            (header::CONTENT_TYPE, kind.to_owned()),
            (header::CONTENT_DISPOSITION, name),
        ],
        r.content,
    )
        .into_response())
}

pub fn routes() -> Vec<Route> {
    vec![
        Route::new(
            Method::GET,
            "/api/v1/reports",
            "Stored reports, newest first.",
            list,
        )
        .grpc("osprey.v1.ReportService/List")
        .params(LIST_PARAMS)
        .answer(Answer::Message("ListReportsResponse")),
        Route::new(
            Method::POST,
            "/api/v1/reports",
            "Generates and stores a report of [from_ns, to_ns) as html or pdf; answers its description (the document is at /api/v1/reports/{id}).",
            generate,
        )
        .grpc("osprey.v1.ReportService/Generate")
        .role(Role::Operator)
        .body("GenerateReportRequest")
        .answer(Answer::Message("ReportInfo")),
        Route::new(
            Method::GET,
            "/api/v1/reports/{id}",
            "A stored report's document: text/html or application/pdf.",
            document,
        )
        .grpc("osprey.v1.ReportService/Get")
        .answer(Answer::Schema("ReportDocument")),
    ]
}
