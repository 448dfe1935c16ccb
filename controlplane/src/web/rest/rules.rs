//! The ruleset (`RulesService`): list, one rule, add, enable, disable, delete, validate,
//! reload and its status.

use axum::extract::{Path, RawQuery, State};
use axum::http::Method;
use axum::{Extension, Json};

use super::{
    call, param, parse_body, parse_query, path_u32, Answer, Body, Kind, Page, Param, Route, St,
    PAGE_SIZE, PAGE_TOKEN,
};
use crate::api::rules::RulesApi;
use crate::model::Role;
use crate::proto;
use crate::proto::rules_service_server::RulesService;
use crate::web::auth::Caller;
use crate::web::error::ApiError;

const LIST_PARAMS: &[Param] = &[
    Param {
        name: "query",
        field: "text_contains",
        kind: Kind::Str,
        doc: "Case-insensitive substring of the rule text.",
    },
    param("sid", Kind::U32, "Signature id."),
    param(
        "enabled",
        Kind::Bool,
        "Only enabled (true) or disabled (false) rules.",
    ),
    PAGE_SIZE,
    PAGE_TOKEN,
];

type Rp = Path<(String, String)>;

fn rule_ref(Path((gid, sid)): Rp) -> Result<proto::RuleRef, ApiError> {
    Ok(proto::RuleRef {
        gid: path_u32("gid", &gid)?,
        sid: path_u32("sid", &sid)?,
    })
}

async fn list(
    State(st): State<St>,
    Extension(c): Extension<Caller>,
    RawQuery(q): RawQuery,
) -> Result<Json<Page<proto::Rule>>, ApiError> {
    let req: proto::ListRulesRequest = parse_query(q.as_deref(), LIST_PARAMS)?;
    let r = call(
        &st,
        &c,
        "osprey.v1.RulesService/List",
        req,
        |ctx, r| async move { RulesApi { ctx }.list(r).await },
    )
    .await?;
    Ok(Json(Page {
        items: r.rules,
        next_page_token: r.next_page_token,
    }))
}

async fn get(
    State(st): State<St>,
    Extension(c): Extension<Caller>,
    p: Rp,
) -> Result<Json<proto::Rule>, ApiError> {
    let r = rule_ref(p)?;
    let req = proto::GetRuleRequest {
        sid: r.sid,
        gid: r.gid,
    };
    let r = call(
        &st,
        &c,
        "osprey.v1.RulesService/Get",
        req,
        |ctx, r| async move { RulesApi { ctx }.get(r).await },
    )
    .await?;
    Ok(Json(r))
}

async fn add(
    State(st): State<St>,
    Extension(c): Extension<Caller>,
    Body(body): Body,
) -> Result<Json<proto::AddRulesResponse>, ApiError> {
    let req: proto::AddRulesRequest = parse_body(&body)?;
    let r = call(
        &st,
        &c,
        "osprey.v1.RulesService/Add",
        req,
        |ctx, r| async move { RulesApi { ctx }.add(r).await },
    )
    .await?;
    Ok(Json(r))
}

async fn enable(
    State(st): State<St>,
    Extension(c): Extension<Caller>,
    p: Rp,
) -> Result<Json<proto::Rule>, ApiError> {
    let r = call(
        &st,
        &c,
        "osprey.v1.RulesService/Enable",
        rule_ref(p)?,
        |ctx, r| async move { RulesApi { ctx }.enable(r).await },
    )
    .await?;
    Ok(Json(r))
}

async fn disable(
    State(st): State<St>,
    Extension(c): Extension<Caller>,
    p: Rp,
) -> Result<Json<proto::Rule>, ApiError> {
    let r = call(
        &st,
        &c,
        "osprey.v1.RulesService/Disable",
        rule_ref(p)?,
        |ctx, r| async move { RulesApi { ctx }.disable(r).await },
    )
    .await?;
    Ok(Json(r))
}

async fn delete(
    State(st): State<St>,
    Extension(c): Extension<Caller>,
    p: Rp,
) -> Result<Json<proto::DeleteRuleResponse>, ApiError> {
    let r = call(
        &st,
        &c,
        "osprey.v1.RulesService/Delete",
        rule_ref(p)?,
        |ctx, r| async move { RulesApi { ctx }.delete(r).await },
    )
    .await?;
    Ok(Json(r))
}

async fn validate(
    State(st): State<St>,
    Extension(c): Extension<Caller>,
    Body(body): Body,
) -> Result<Json<proto::ValidateResponse>, ApiError> {
    let req: proto::ValidateRequest = parse_body(&body)?;
    let r = call(
        &st,
        &c,
        "osprey.v1.RulesService/Validate",
        req,
        |ctx, r| async move { RulesApi { ctx }.validate(r).await },
    )
    .await?;
    Ok(Json(r))
}

async fn reload(
    State(st): State<St>,
    Extension(c): Extension<Caller>,
    Body(body): Body,
) -> Result<Json<proto::ReloadResponse>, ApiError> {
    let req: proto::ReloadRequest = parse_body(&body)?;
    let r = call(
        &st,
        &c,
        "osprey.v1.RulesService/Reload",
        req,
        |ctx, r| async move { RulesApi { ctx }.reload(r).await },
    )
    .await?;
    Ok(Json(r))
}

async fn status(
    State(st): State<St>,
    Extension(c): Extension<Caller>,
) -> Result<Json<proto::RulesetStatus>, ApiError> {
    let req = proto::RulesetStatusRequest {};
    let r = call(
        &st,
        &c,
        "osprey.v1.RulesService/Status",
        req,
        |ctx, r| async move { RulesApi { ctx }.status(r).await },
    )
    .await?;
    Ok(Json(r))
}

pub fn routes() -> Vec<Route> {
    const ONE: &str = "/api/v1/rules/{gid}/{sid}";
    vec![
        Route::new(
            Method::GET,
            "/api/v1/rules",
            "Stored rules by (gid, sid), filtered and paged.",
            list,
        )
        .grpc("osprey.v1.RulesService/List")
        .params(LIST_PARAMS)
        .answer(Answer::Page("Rule")),
        Route::new(
            Method::POST,
            "/api/v1/rules",
            "Adds rules (one per line); 400 with line:column diagnostics if any is invalid.",
            add,
        )
        .grpc("osprey.v1.RulesService/Add")
        .role(Role::Operator)
        .body("AddRulesRequest")
        .rules_body()
        .answer(Answer::Message("AddRulesResponse")),
        Route::new(Method::GET, ONE, "One rule.", get)
            .grpc("osprey.v1.RulesService/Get")
            .answer(Answer::Message("Rule")),
        Route::new(
            Method::DELETE,
            ONE,
            "Deletes a rule (takes effect at the next reload).",
            delete,
        )
        .grpc("osprey.v1.RulesService/Delete")
        .role(Role::Operator)
        .answer(Answer::Message("DeleteRuleResponse")),
        Route::new(
            Method::POST,
            "/api/v1/rules/{gid}/{sid}/enable",
            "Enables a rule (takes effect at the next reload).",
            enable,
        )
        .grpc("osprey.v1.RulesService/Enable")
        .role(Role::Operator)
        .answer(Answer::Message("Rule")),
        Route::new(
            Method::POST,
            "/api/v1/rules/{gid}/{sid}/disable",
            "Disables a rule (takes effect at the next reload).",
            disable,
        )
        .grpc("osprey.v1.RulesService/Disable")
        .role(Role::Operator)
        .answer(Answer::Message("Rule")),
        Route::new(
            Method::POST,
            "/api/v1/rules/validate",
            "Checks rule text without storing it: diagnostics with line and column.",
            validate,
        )
        .grpc("osprey.v1.RulesService/Validate")
        .body("ValidateRequest")
        .rules_body()
        .answer(Answer::Message("ValidateResponse")),
        Route::new(
            Method::POST,
            "/api/v1/rules/reload",
            "Compiles the enabled rules and swaps them in; answers once every worker runs them.",
            reload,
        )
        .grpc("osprey.v1.RulesService/Reload")
        .role(Role::Operator)
        .body("ReloadRequest")
        .answer(Answer::Message("ReloadResponse")),
        Route::new(
            Method::GET,
            "/api/v1/rules/status",
            "Active generation, rule counts, pending hash and reload history.",
            status,
        )
        .grpc("osprey.v1.RulesService/Status")
        .answer(Answer::Message("RulesetStatus")),
    ]
}
