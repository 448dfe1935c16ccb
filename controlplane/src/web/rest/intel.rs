//! Threat intelligence (`IntelService`): feeds and their health, indicators, hits, stats.

use axum::extract::{RawQuery, State};
use axum::http::Method;
use axum::{Extension, Json};

use super::{param, parse_query, Answer, Kind, Page, Param, Route, St, PAGE_SIZE, PAGE_TOKEN};
use crate::api::intel::IntelApi;
use crate::proto;
use crate::proto::intel_service_server::IntelService;
use crate::web::auth::Caller;
use crate::web::error::ApiError;

const FEED: Param = param("feed", Kind::Str, "Feed name.");
const INDICATOR_PARAMS: &[Param] = &[
    FEED,
    param(
        "type",
        Kind::Str,
        "Indicator type (ipv4-addr, domain-name, url, file:hashes...).",
    ),
    param("value", Kind::Str, "Exact indicator value."),
    PAGE_SIZE,
    PAGE_TOKEN,
];
const HIT_PARAMS: &[Param] = &[
    FEED,
    param("indicator_id", Kind::Str, "STIX id of the indicator."),
    PAGE_SIZE,
    PAGE_TOKEN,
];

async fn feeds(
    State(st): State<St>,
    Extension(c): Extension<Caller>,
    RawQuery(q): RawQuery,
) -> Result<Json<proto::ListFeedsResponse>, ApiError> {
    let req: proto::ListFeedsRequest = parse_query(q.as_deref(), &[])?;
    Ok(Json(
        grpc!(
            st,
            c,
            IntelApi.list_feeds,
            "osprey.v1.IntelService/ListFeeds",
            req
        )
        .await?,
    ))
}

async fn indicators(
    State(st): State<St>,
    Extension(c): Extension<Caller>,
    RawQuery(q): RawQuery,
) -> Result<Json<Page<proto::Indicator>>, ApiError> {
    let req: proto::ListIndicatorsRequest = parse_query(q.as_deref(), INDICATOR_PARAMS)?;
    let r = grpc!(
        st,
        c,
        IntelApi.list_indicators,
        "osprey.v1.IntelService/ListIndicators",
        req
    )
    .await?;
    Ok(Json(Page {
        items: r.indicators,
        next_page_token: r.next_page_token,
    }))
}

async fn hits(
    State(st): State<St>,
    Extension(c): Extension<Caller>,
    RawQuery(q): RawQuery,
) -> Result<Json<Page<proto::Hit>>, ApiError> {
    let req: proto::ListHitsRequest = parse_query(q.as_deref(), HIT_PARAMS)?;
    let r = grpc!(
        st,
        c,
        IntelApi.list_hits,
        "osprey.v1.IntelService/ListHits",
        req
    )
    .await?;
    Ok(Json(Page {
        items: r.hits,
        next_page_token: r.next_page_token,
    }))
}

async fn stats(
    State(st): State<St>,
    Extension(c): Extension<Caller>,
    RawQuery(q): RawQuery,
) -> Result<Json<proto::IntelStatsResponse>, ApiError> {
    let req: proto::IntelStatsRequest = parse_query(q.as_deref(), &[])?;
    Ok(Json(
        grpc!(st, c, IntelApi.stats, "osprey.v1.IntelService/Stats", req).await?,
    ))
}

pub fn routes() -> Vec<Route> {
    vec![
        Route::new(
            Method::GET,
            "/api/v1/intel/feeds",
            "Feeds, their health and the published generation.",
            feeds,
        )
        .grpc("osprey.v1.IntelService/ListFeeds")
        .answer(Answer::Message("ListFeedsResponse")),
        Route::new(
            Method::GET,
            "/api/v1/intel/indicators",
            "Stored indicators, filtered and paged.",
            indicators,
        )
        .grpc("osprey.v1.IntelService/ListIndicators")
        .params(INDICATOR_PARAMS)
        .answer(Answer::Page("Indicator")),
        Route::new(
            Method::GET,
            "/api/v1/intel/hits",
            "Stored indicator hits, newest first, paged.",
            hits,
        )
        .grpc("osprey.v1.IntelService/ListHits")
        .params(HIT_PARAMS)
        .answer(Answer::Page("Hit")),
        Route::new(
            Method::GET,
            "/api/v1/intel/stats",
            "Indicator counts, lookups, hits and the alerts they raised.",
            stats,
        )
        .grpc("osprey.v1.IntelService/Stats")
        .answer(Answer::Message("IntelStatsResponse")),
    ]
}
