//! The REST API under `/api/v1`: one table of [`Route`]s feeds both the router and the
//! OpenAPI document (`super::openapi`), so neither can name a route the other lacks.
//!
//! Each handler calls the same tonic service implementation the gRPC server runs
//! ([`call`]): the request carries the caller's principal, takes the same admission permit
//! by role and method, and the service authorizes, audits, checks limits and pages exactly
//! as it does for gRPC. Lists answer `{"items":[...],"next_page_token":"..."}`; query
//! parameters are declared per route ([`Param`]), parsed strictly (an unknown or malformed
//! one is a 400 naming it) and mapped onto the request message's fields.

/// Calls `$api { ctx }.$method(request)` through [`call`] as the caller.
macro_rules! grpc {
    ($st:expr, $c:expr, $api:ident . $m:ident, $path:literal, $req:expr) => {
        $crate::web::rest::call(&$st, &$c, $path, $req, |ctx, r| async move {
            $api { ctx }.$m(r).await
        })
    };
}

pub mod alerts;
pub mod audit;
pub mod blocks;
pub mod evidence;
pub mod incidents;
pub mod intel;
pub mod outputs;
pub mod playbooks;
pub mod preferences;
pub mod reports;
pub mod rules;
pub mod system;

use std::future::Future;
use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::handler::Handler;
use axum::http::Method;
use axum::middleware::from_fn_with_state;
use axum::routing::{on, MethodFilter, MethodRouter};
use axum::Router;
use serde::Serialize;

use super::auth::Caller;
use super::error::ApiError;
use super::WebState;
use crate::api::ApiContext;

/// The shared state every handler gets.
pub type St = Arc<WebState>;

/// Room for the fields around a rule text in a JSON body.
const RULES_BODY_SLACK: usize = 4096;

/// The type of a query parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    U64,
    U32,
    F64,
    Bool,
    Str,
    /// Comma-separated strings.
    List,
}

/// A query parameter: its name, the request field it sets, its type and meaning.
#[derive(Clone, Copy, Debug)]
pub struct Param {
    pub name: &'static str,
    pub field: &'static str,
    pub kind: Kind,
    pub doc: &'static str,
}

/// A parameter named as its field.
pub const fn param(name: &'static str, kind: Kind, doc: &'static str) -> Param {
    Param {
        name,
        field: name,
        kind,
        doc,
    }
}

/// The paging parameters every list takes.
pub const PAGE_SIZE: Param = param(
    "page_size",
    Kind::U32,
    "Items per page; 0 = the default (100), at most api.max_page_size.",
);
pub const PAGE_TOKEN: Param = param(
    "page_token",
    Kind::Str,
    "next_page_token of the previous page; empty = the first page.",
);

/// What a route answers, for the OpenAPI document.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    /// One message of `osprey.v1` (by name).
    Message(&'static str),
    /// A page of messages: `{"items":[...],"next_page_token":"..."}`.
    Page(&'static str),
    /// A document described by a named schema of `super::openapi`.
    Schema(&'static str),
    /// A WebSocket upgrade.
    Upgrade,
}

/// One route of the table.
pub struct Route {
    pub method: Method,
    /// axum and OpenAPI path syntax alike (`/api/v1/rules/{gid}/{sid}`).
    pub path: &'static str,
    pub summary: &'static str,
    /// The least role that may call it.
    pub role: crate::model::Role,
    /// The gRPC method it calls, if any.
    pub grpc: Option<&'static str>,
    pub params: &'static [Param],
    /// The request body's message, if it takes one.
    pub body: Option<&'static str>,
    pub answer: Answer,
    /// Largest body accepted.
    pub body_limit: BodyLimit,
    pub handler: MethodRouter<St>,
}

/// Which configured limit bounds a route's body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyLimit {
    /// `api.max_request_bytes`.
    Request,
    /// `api.max_rules_bytes` (rule text).
    Rules,
}

impl std::fmt::Debug for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.method, self.path)
    }
}

impl Route {
    /// A route of `method` on `path` served by `handler` (the method router is built from
    /// `method`, so the table and the router cannot disagree).
    pub fn new<H, T>(method: Method, path: &'static str, summary: &'static str, handler: H) -> Self
    where
        H: Handler<T, St>,
        T: 'static,
    {
        let filter = MethodFilter::try_from(method.clone()).unwrap_or(MethodFilter::GET);
        Route {
            method,
            path,
            summary,
            role: crate::model::Role::Viewer,
            grpc: None,
            params: &[],
            body: None,
            answer: Answer::Schema("Empty"),
            body_limit: BodyLimit::Request,
            handler: on(filter, handler),
        }
    }

    pub fn role(mut self, r: crate::model::Role) -> Self {
        self.role = r;
        self
    }

    pub fn grpc(mut self, method: &'static str) -> Self {
        self.grpc = Some(method);
        self
    }

    pub fn params(mut self, p: &'static [Param]) -> Self {
        self.params = p;
        self
    }

    pub fn body(mut self, message: &'static str) -> Self {
        self.body = Some(message);
        self
    }

    pub fn answer(mut self, a: Answer) -> Self {
        self.answer = a;
        self
    }

    pub fn rules_body(mut self) -> Self {
        self.body_limit = BodyLimit::Rules;
        self
    }
}

/// Every route of the API, in the order the document lists them.
pub fn routes() -> Vec<Route> {
    let mut all = Vec::new();
    all.extend(system::routes());
    all.extend(alerts::routes());
    all.extend(rules::routes());
    all.extend(incidents::routes());
    all.extend(intel::routes());
    all.extend(blocks::routes());
    all.extend(audit::routes());
    all.extend(playbooks::routes());
    all.extend(evidence::routes());
    all.extend(outputs::routes());
    all.extend(preferences::routes());
    all.extend(reports::routes());
    all.extend(super::network::routes());
    all.extend(super::ws::routes());
    all.extend(super::openapi::routes());
    all
}

/// The API's router: every route of [`routes`] behind the caller check, each with its body
/// limit.
pub fn router(st: St) -> Router<St> {
    let (request, rules) = st.ctx.admission.request_limits();
    let mut r = Router::new();
    for route in routes() {
        let limit = match route.body_limit {
            BodyLimit::Request => request,
            BodyLimit::Rules => rules + RULES_BODY_SLACK,
        };
        r = r.route(
            route.path,
            route.handler.layer(DefaultBodyLimit::max(limit)),
        );
    }
    r.route_layer(from_fn_with_state(st, super::auth::require_caller))
}

/// A page of a list, the one list shape of the API.
#[derive(Debug, Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_page_token: String,
}

/// Calls a gRPC service method in-process as `caller`: the admission permit of its role for
/// `method` (`osprey.v1.RulesService/Validate`), then the handler, which authorizes and
/// audits as for any gRPC call.
pub async fn call<Req, Resp, F, Fut>(
    st: &WebState,
    caller: &Caller,
    method: &'static str,
    msg: Req,
    f: F,
) -> Result<Resp, ApiError>
where
    F: FnOnce(Arc<ApiContext>, tonic::Request<Req>) -> Fut,
    Fut: Future<Output = Result<tonic::Response<Resp>, tonic::Status>>,
{
    let path = format!("/{method}");
    let _permit = st.ctx.admission.permit(&path, caller.principal.role)?;
    let mut req = tonic::Request::new(msg);
    req.extensions_mut().insert(caller.principal.clone());
    Ok(f(st.ctx.clone(), req).await?.into_inner())
}

/// Parses the query string against `params` into the request message `T`: every name must
/// be declared, every value must parse as its type; names are mapped to fields.
pub fn parse_query<T: serde::de::DeserializeOwned>(
    query: Option<&str>,
    params: &[Param],
) -> Result<T, ApiError> {
    let mut obj = serde_json::Map::new();
    let pairs: Vec<(String, String)> = form_pairs(query.unwrap_or(""))?;
    for (k, v) in pairs {
        let Some(p) = params.iter().find(|p| p.name == k) else {
            let known: Vec<_> = params.iter().map(|p| p.name).collect();
            return Err(ApiError::invalid(
                &k,
                format!(
                    "unknown query parameter `{k}`; this route takes: {}",
                    known.join(", ")
                ),
            ));
        };
        let bad = |what: &str| ApiError::invalid(p.name, format!("{} `{v}` is not {what}", p.name));
        let value = match p.kind {
            Kind::U64 => {
                serde_json::Value::from(v.parse::<u64>().map_err(|_| bad("a whole number"))?)
            }
            Kind::U32 => serde_json::Value::from(
                v.parse::<u32>()
                    .map_err(|_| bad("a whole number below 2^32"))?,
            ),
            Kind::F64 => serde_json::Value::from(
                v.parse::<f64>()
                    .ok()
                    .filter(|x| x.is_finite())
                    .ok_or_else(|| bad("a number"))?,
            ),
            Kind::Bool => serde_json::Value::from(match v.as_str() {
                "true" | "1" => true,
                "false" | "0" => false,
                _ => return Err(bad("true or false")),
            }),
            Kind::Str => serde_json::Value::from(v.clone()),
            Kind::List => serde_json::Value::from(
                v.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect::<Vec<_>>(),
            ),
        };
        if obj.insert(p.field.to_owned(), value).is_some() {
            return Err(ApiError::invalid(
                p.name,
                format!("{} is given twice", p.name),
            ));
        }
    }
    serde_json::from_value(serde_json::Value::Object(obj))
        .map_err(|e| ApiError::invalid("", format!("query: {e}")))
}

/// `a=1&b=x%20y` (a query string or a form body) as decoded pairs.
pub(crate) fn form_pairs(q: &str) -> Result<Vec<(String, String)>, ApiError> {
    let mut out = Vec::new();
    for part in q.split('&').filter(|s| !s.is_empty()) {
        let (k, v) = part.split_once('=').unwrap_or((part, ""));
        out.push((decode(k)?, decode(v)?));
    }
    Ok(out)
}

/// Percent-decoding of one query component (`+` is a space).
fn decode(s: &str) -> Result<String, ApiError> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let h = b
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| ApiError::invalid("", format!("bad percent escape in `{s}`")))?;
                out.push(h);
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| ApiError::invalid("", "query is not UTF-8"))
}

/// A request body within the route's limit; a larger one is 413 `resource_exhausted` with
/// the error body (not axum's text).
#[derive(Debug)]
pub struct Body(pub axum::body::Bytes);

impl<S: Send + Sync> axum::extract::FromRequest<S> for Body {
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        axum::body::Bytes::from_request(req, state)
            .await
            .map(Body)
            .map_err(|e| {
                let mut err = ApiError::exhausted(format!(
                    "request body: {e} (api.max_request_bytes, api.max_rules_bytes for rule text)"
                ));
                err.status = e.status();
                if e.status() != axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                    err.code = "invalid_argument";
                }
                err
            })
    }
}

/// A JSON body as message `T`, or a 400 saying what is wrong with it.
pub fn parse_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let text = if body.iter().all(u8::is_ascii_whitespace) {
        &b"{}"[..]
    } else {
        body
    };
    serde_json::from_slice(text).map_err(|e| ApiError::invalid("", format!("body: {e}")))
}

/// A path segment as a number.
pub fn path_u64(name: &str, v: &str) -> Result<u64, ApiError> {
    v.parse()
        .map_err(|_| ApiError::invalid(name, format!("{name} `{v}` is not a whole number")))
}

/// A path segment as a u32.
pub fn path_u32(name: &str, v: &str) -> Result<u32, ApiError> {
    v.parse().map_err(|_| {
        ApiError::invalid(
            name,
            format!("{name} `{v}` is not a whole number below 2^32"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: &[Param] = &[
        Param {
            name: "from_ns",
            field: "start_ns",
            kind: Kind::U64,
            doc: "",
        },
        param("address", Kind::Str, ""),
        param("states", Kind::List, ""),
        PAGE_SIZE,
    ];

    #[derive(serde::Deserialize, Default, Debug)]
    #[serde(default)]
    struct Q {
        start_ns: u64,
        address: String,
        states: Vec<String>,
        page_size: u32,
    }

    #[test]
    fn queries_parse_strictly_into_fields() {
        let q: Q = parse_query(
            Some("from_ns=5&address=192.0.2.1&states=new,acknowledged&page_size=2"),
            P,
        )
        .unwrap();
        assert_eq!(
            (q.start_ns, q.address.as_str(), q.page_size),
            (5, "192.0.2.1", 2)
        );
        assert_eq!(q.states, ["new", "acknowledged"]);
        let e = parse_query::<Q>(Some("from_ns=x"), P).unwrap_err();
        assert_eq!(e.field, "from_ns");
        let e = parse_query::<Q>(Some("sid=1"), P).unwrap_err();
        assert_eq!(e.field, "sid");
        let e = parse_query::<Q>(Some("page_size=99999999999"), P).unwrap_err();
        assert_eq!(e.field, "page_size");
        let q: Q = parse_query(Some("address=2001%3Adb8%3A%3A1"), P).unwrap();
        assert_eq!(q.address, "2001:db8::1");
        assert!(parse_query::<Q>(Some("address=%zz"), P).is_err());
        assert!(parse_query::<Q>(Some("page_size=1&page_size=2"), P).is_err());
    }
}
