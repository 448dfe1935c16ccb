//! Outputs (`OutputService`): the webhooks' dead letters.

use axum::extract::{RawQuery, State};
use axum::http::Method;
use axum::{Extension, Json};

use super::{param, parse_query, Answer, Kind, Page, Param, Route, St, PAGE_SIZE, PAGE_TOKEN};
use crate::api::outputs::OutputsApi;
use crate::proto;
use crate::proto::output_service_server::OutputService;
use crate::web::auth::Caller;
use crate::web::error::ApiError;

const PARAMS: &[Param] = &[
    param("webhook", Kind::Str, "Only this webhook's."),
    PAGE_SIZE,
    PAGE_TOKEN,
];

async fn dead_letters(
    State(st): State<St>,
    Extension(c): Extension<Caller>,
    RawQuery(q): RawQuery,
) -> Result<Json<Page<proto::DeadLetter>>, ApiError> {
    let req: proto::ListDeadLettersRequest = parse_query(q.as_deref(), PARAMS)?;
    let r = grpc!(
        st,
        c,
        OutputsApi.list_dead_letters,
        "osprey.v1.OutputService/ListDeadLetters",
        req
    )
    .await?;
    Ok(Json(Page {
        items: r.dead_letters,
        next_page_token: r.next_page_token,
    }))
}

pub fn routes() -> Vec<Route> {
    vec![Route::new(
        Method::GET,
        "/api/v1/outputs/deadletters",
        "Webhook deliveries that failed every attempt.",
        dead_letters,
    )
    .grpc("osprey.v1.OutputService/ListDeadLetters")
    .params(PARAMS)
    .answer(Answer::Page("DeadLetter"))]
}
