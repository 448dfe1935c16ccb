//! Stored alerts (`AlertsService/Query` with a tactic filter the store does not index), one
//! alert by its key, and the query parameters of alerts and flows (named `from_ns`/`to_ns`
//! for the messages' `start_ns`/`end_ns`).

use axum::extract::{Path, RawQuery, State};
use axum::http::Method;
use axum::{Extension, Json};

use super::{
    call, param, parse_query, Answer, Kind, Page, Param, Route, St, PAGE_SIZE, PAGE_TOKEN,
};
use crate::api::records::AlertsApi;
use crate::api::{blocking, check_range};
use crate::model::Role;
use crate::proto;
use crate::proto::alerts_service_server::AlertsService;
use crate::store::AlertKey;
use crate::web::auth::Caller;
use crate::web::error::ApiError;

const FROM: Param = Param {
    name: "from_ns",
    field: "start_ns",
    kind: Kind::U64,
    doc: "Inclusive lower bound of packet time, ns since the epoch; 0 = unbounded.",
};
const TO: Param = Param {
    name: "to_ns",
    field: "end_ns",
    kind: Kind::U64,
    doc: "Exclusive upper bound of packet time; 0 = unbounded.",
};
const ADDRESS: Param = param("address", Kind::Str, "Source or destination address.");
const OLDEST: Param = param(
    "oldest_first",
    Kind::Bool,
    "Oldest first instead of newest first.",
);

/// Query parameters of `GET /api/v1/alerts` (`tactic` filters the page it is applied to).
pub const ALERT_PARAMS: &[Param] = &[
    FROM,
    TO,
    param("sid", Kind::U32, "Signature id."),
    ADDRESS,
    Param {
        name: "tactic",
        field: "tactic",
        kind: Kind::Str,
        doc: "ATT&CK tactic id (TA0011) or name; applied to each page, which may then hold fewer items (follow next_page_token).",
    },
    PAGE_SIZE,
    PAGE_TOKEN,
    OLDEST,
];

/// Query parameters of `GET /api/v1/flows`.
pub const FLOW_PARAMS: &[Param] = &[
    FROM,
    TO,
    ADDRESS,
    param(
        "app_proto",
        Kind::Str,
        "Application protocol (http, dns, tls, ...).",
    ),
    PAGE_SIZE,
    PAGE_TOKEN,
    OLDEST,
];

/// `AlertQuery` plus the tactic filter the store does not index.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
struct AlertParams {
    #[serde(flatten)]
    query: proto::AlertQuery,
    tactic: String,
}

fn tactic_matches(a: &proto::Alert, t: &str) -> bool {
    a.tactic_id.eq_ignore_ascii_case(t) || a.tactic_name.eq_ignore_ascii_case(t)
}

async fn list_alerts(
    State(st): State<St>,
    Extension(c): Extension<Caller>,
    RawQuery(q): RawQuery,
) -> Result<Json<Page<proto::Alert>>, ApiError> {
    let p: AlertParams = parse_query(q.as_deref(), ALERT_PARAMS)?;
    let page = call(
        &st,
        &c,
        "osprey.v1.AlertsService/Query",
        p.query,
        |ctx, r| async move { AlertsApi { ctx }.query(r).await },
    )
    .await?;
    let tactic = p.tactic.trim();
    let items = page
        .alerts
        .into_iter()
        .filter(|a| tactic.is_empty() || tactic_matches(a, tactic))
        .collect();
    Ok(Json(Page {
        items,
        next_page_token: page.next_page_token,
    }))
}

/// `{timestamp_ns}-{id}`: the key an alert is stored under.
fn parse_alert_key(text: &str) -> Result<AlertKey, ApiError> {
    let bad = || {
        ApiError::invalid(
            "id",
            format!("alert `{text}` is not `<timestamp_ns>-<id>` (both from the alert's JSON)"),
        )
    };
    let (ts, id) = text.split_once('-').ok_or_else(bad)?;
    Ok(AlertKey {
        ts_nanos: ts.parse().map_err(|_| bad())?,
        id: id.parse().map_err(|_| bad())?,
    })
}

async fn get_alert(
    State(st): State<St>,
    Extension(c): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<proto::Alert>, ApiError> {
    let key = parse_alert_key(&id)?;
    // The same check and permit as the alert query this reads beside.
    let _permit = st
        .ctx
        .admission
        .permit("/osprey.v1.AlertsService/Query", c.principal.role)?;
    let mut req = tonic::Request::new(());
    req.extensions_mut().insert(c.principal.clone());
    st.ctx
        .auth
        .authorize(&req, "osprey.v1.AlertsService/Query", &id, Role::Viewer)?;
    check_range(key.ts_nanos, 0)?;
    let store = st.ctx.store.clone();
    let a = blocking(move || store.get_alert(key)).await?;
    let a = a.ok_or_else(|| crate::error::Error::not_found(format!("alert {id}")))?;
    Ok(Json(proto::Alert::from(&a)))
}

pub fn routes() -> Vec<Route> {
    vec![
        Route::new(
            Method::GET,
            "/api/v1/alerts",
            "Stored alerts, newest first, filtered and paged.",
            list_alerts,
        )
        .grpc("osprey.v1.AlertsService/Query")
        .params(ALERT_PARAMS)
        .answer(Answer::Page("Alert")),
        Route::new(
            Method::GET,
            "/api/v1/alerts/{id}",
            "One stored alert; id is `<timestamp_ns>-<id>` of the alert's JSON.",
            get_alert,
        )
        .answer(Answer::Message("Alert")),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alert_keys_parse() {
        let k = parse_alert_key("1700000000000000000-42").unwrap();
        assert_eq!((k.ts_nanos, k.id), (1_700_000_000_000_000_000, 42));
        assert_eq!(parse_alert_key("42").unwrap_err().field, "id");
        assert!(parse_alert_key("a-b").is_err());
    }
}
