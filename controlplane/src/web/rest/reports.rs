//! A stored report's document (`ReportService/Get`), served with its own content type so a
//! browser opens (or saves) it.

use axum::extract::{Path, State};
use axum::http::{header, Method};
use axum::response::{IntoResponse, Response};
use axum::Extension;

use super::{path_u64, Answer, Route, St};
use crate::api::reports::ReportsApi;
use crate::proto;
use crate::proto::report_service_server::ReportService;
use crate::web::auth::Caller;
use crate::web::error::ApiError;

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

/// `GET /api/v1/reports/{id}`.
pub fn routes() -> Vec<Route> {
    vec![Route::new(
        Method::GET,
        "/api/v1/reports/{id}",
        "A stored report's document: text/html or application/pdf.",
        document,
    )
    .grpc("osprey.v1.ReportService/Get")
    .answer(Answer::Schema("ReportDocument"))]
}
