//! The dynamic block list (`BlockService`): list, add, remove.

use axum::extract::{Path, RawQuery, State};
use axum::http::Method;
use axum::{Extension, Json};

use super::{
    param, parse_body, parse_query, path_u64, Answer, Body, Kind, Page, Param, Route, St,
    PAGE_SIZE, PAGE_TOKEN,
};
use crate::api::blocks::BlocksApi;
use crate::model::Role;
use crate::proto;
use crate::proto::block_service_server::BlockService;
use crate::web::auth::Caller;
use crate::web::error::ApiError;

const LIST_PARAMS: &[Param] = &[
    param("address", Kind::Str, "Entries matching this address."),
    param("origin", Kind::Str, "api, static, playbook or intel."),
    PAGE_SIZE,
    PAGE_TOKEN,
];

async fn list(
    State(st): State<St>,
    Extension(c): Extension<Caller>,
    RawQuery(q): RawQuery,
) -> Result<Json<Page<proto::BlockEntry>>, ApiError> {
    let req: proto::ListBlocksRequest = parse_query(q.as_deref(), LIST_PARAMS)?;
    let r = grpc!(st, c, BlocksApi.list, "osprey.v1.BlockService/List", req).await?;
    Ok(Json(Page {
        items: r.entries,
        next_page_token: r.next_page_token,
    }))
}

async fn add(
    State(st): State<St>,
    Extension(c): Extension<Caller>,
    Body(body): Body,
) -> Result<Json<proto::AddBlockResponse>, ApiError> {
    let req: proto::AddBlockRequest = parse_body(&body)?;
    Ok(Json(
        grpc!(st, c, BlocksApi.add, "osprey.v1.BlockService/Add", req).await?,
    ))
}

async fn remove(
    State(st): State<St>,
    Extension(c): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<proto::RemoveBlockResponse>, ApiError> {
    let req = proto::BlockRef {
        id: path_u64("id", &id)?,
    };
    Ok(Json(
        grpc!(
            st,
            c,
            BlocksApi.remove,
            "osprey.v1.BlockService/Remove",
            req
        )
        .await?,
    ))
}

pub fn routes() -> Vec<Route> {
    vec![
        Route::new(
            Method::GET,
            "/api/v1/blocks",
            "Block-list entries, filtered and paged.",
            list,
        )
        .grpc("osprey.v1.BlockService/List")
        .params(LIST_PARAMS)
        .answer(Answer::Page("BlockEntry")),
        Route::new(
            Method::POST,
            "/api/v1/blocks",
            "Blocks an address or CIDR (optionally for ttl_secs), published to every worker.",
            add,
        )
        .grpc("osprey.v1.BlockService/Add")
        .role(Role::Operator)
        .body("AddBlockRequest")
        .answer(Answer::Message("AddBlockResponse")),
        Route::new(
            Method::DELETE,
            "/api/v1/blocks/{id}",
            "Removes an entry.",
            remove,
        )
        .grpc("osprey.v1.BlockService/Remove")
        .role(Role::Operator)
        .answer(Answer::Message("RemoveBlockResponse")),
    ]
}
