//! The REST API under `/api/v1`: one table of [`Route`]s feeds both the router and the
//! OpenAPI document (`super::openapi`), so neither can name a route the other lacks.
//!
//! A route that is a gRPC method is one line of [`table`]: `rpc!(POST
//! "/api/v1/rules/validate" => RulesService/Validate, RulesApi.validate)`. The one adapter
//! ([`unary`]) turns the path, query or JSON body into the request message (typed by its
//! descriptor, read by serde), calls the same tonic service implementation the gRPC server
//! runs ([`call`]) and answers the response message as JSON; its summary, role, query
//! parameters, body and answer are read from the protos ([`super::descriptor`]). The
//! request carries the caller's principal, takes the same admission permit by role and
//! method, and the service authorizes, audits, checks limits and pages exactly as it does
//! for gRPC. Lists answer `{"items":[...],"next_page_token":"..."}`; query parameters are
//! parsed strictly (an unknown or malformed one is a 400 naming it). The few routes that
//! are not one gRPC call (an alert by its key, a report's document, preferences, the
//! session, the network map, the WebSocket) have their own handlers in the same table.
//!
//! Streaming methods are served by the WebSocket (`GET /api/v1/stream`), listed in
//! [`STREAMED`]; a test fails when any other gRPC method has no route.

/// Calls `$api { ctx }.$method(request)` through [`call`] as the caller.
macro_rules! grpc {
    ($st:expr, $c:expr, $api:ident . $m:ident, $path:literal, $req:expr) => {
        $crate::web::rest::call(&$st, &$c, $path, $req, |ctx, r| async move {
            $api { ctx }.$m(r).await
        })
    };
}

/// A route of `VERB path` serving gRPC method `Service/Method` of `osprey.v1`, implemented
/// by `Api.method` (the service trait in scope).
macro_rules! rpc {
    ($verb:ident $path:literal => $svc:ident / $m:ident, $api:ident . $f:ident) => {
        $crate::web::rest::Route::rpc(
            ::axum::http::Method::$verb,
            $path,
            concat!("osprey.v1.", stringify!($svc), "/", stringify!($m)),
            |ctx, r| async move { $api { ctx }.$f(r).await },
        )
    };
}

pub mod alerts;
pub mod preferences;
pub mod reports;
pub mod system;
pub mod table;
pub mod unary;

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
use super::descriptor;
use super::error::ApiError;
use super::WebState;
use crate::api::ApiContext;
use crate::model::Role;

/// The shared state every handler gets.
pub type St = Arc<WebState>;

/// Room for the fields around a rule text in a JSON body.
const RULES_BODY_SLACK: usize = 4096;

/// The type of a query parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    U64,
    U32,
    I32,
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
    pub role: Role,
    /// The gRPC method it calls, if any.
    pub grpc: Option<&'static str>,
    pub params: &'static [Param],
    /// The request body's message, if it takes one.
    pub body: Option<&'static str>,
    pub answer: Answer,
    /// Largest body accepted.
    pub body_limit: BodyLimit,
    /// A capability the route needs enabled (else 404 `failed_precondition`).
    pub needs: Option<Needs>,
    /// Answer only this field of the gRPC response.
    pub field: Option<&'static str>,
    pub handler: Serve,
}

/// How a route is served.
pub enum Serve {
    /// Its own handler.
    Own(Box<MethodRouter<St>>),
    /// The adapter of [`unary`], given the route's final [`unary::Spec`].
    Rpc(Box<dyn Fn(Arc<unary::Spec>) -> MethodRouter<St> + Send + Sync>),
}

/// A capability that is off unless configured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Needs {
    Incidents,
    Playbooks,
    Evidence,
}

impl Needs {
    /// 404 `failed_precondition` when the capability is off.
    pub fn check(self, ctx: &ApiContext) -> Result<(), ApiError> {
        let (on, name) = match self {
            Needs::Incidents => (ctx.incidents.is_some(), "incidents"),
            Needs::Playbooks => (ctx.playbooks.is_some(), "playbooks"),
            Needs::Evidence => (ctx.evidence.is_some(), "evidence"),
        };
        if on {
            Ok(())
        } else {
            Err(ApiError::not_enabled(name))
        }
    }
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
            role: Role::Viewer,
            grpc: None,
            params: &[],
            body: None,
            answer: Answer::Schema("Empty"),
            body_limit: BodyLimit::Request,
            needs: None,
            field: None,
            handler: Serve::Own(Box::new(on(filter, handler))),
        }
    }

    /// A route of `method` on `path` calling the unary gRPC method `grpc`
    /// (`osprey.v1.RulesService/Get`) through `f`; its summary, role, request body or query
    /// parameters and answer are the protos' (each can be set after). Use [`rpc!`].
    pub fn rpc<Req, Resp, F, Fut>(
        method: Method,
        path: &'static str,
        grpc: &'static str,
        f: F,
    ) -> Self
    where
        Req: serde::de::DeserializeOwned + Send + 'static,
        Resp: Serialize + Send + 'static,
        F: Fn(Arc<ApiContext>, tonic::Request<Req>) -> Fut + Clone + Send + Sync + 'static,
        Fut: Future<Output = Result<tonic::Response<Resp>, tonic::Status>> + Send + 'static,
    {
        let index = descriptor::index();
        let m = index.method(grpc);
        let input = m.map_or("", |m| m.input.as_str());
        let output = m.map_or("", |m| m.output.as_str());
        let with_body = unary::Spec::has_body(&method);
        let answer = match unary::page_of(output) {
            Some(_) => Answer::Page(
                index
                    .message(output)
                    .and_then(|o| o.page_items())
                    .map_or("", |f| f.type_name.as_str()),
            ),
            None => Answer::Message(output),
        };
        Route {
            method,
            path,
            summary: m.map_or("", |m| m.summary()),
            role: m.and_then(|m| m.role()).unwrap_or(Role::Viewer),
            grpc: Some(grpc),
            params: if with_body {
                &[]
            } else {
                derived_params(input, path)
            },
            body: with_body.then_some(input),
            answer,
            body_limit: BodyLimit::Request,
            needs: None,
            field: None,
            handler: Serve::Rpc(Box::new(move |spec| unary::handler(spec, f.clone()))),
        }
    }

    pub fn summary(mut self, s: &'static str) -> Self {
        self.summary = s;
        self
    }

    pub fn needs(mut self, n: Needs) -> Self {
        self.needs = Some(n);
        self
    }

    /// Answers only `field` of the response (a message field: documented as its type).
    pub fn field(mut self, field: &'static str) -> Self {
        self.field = Some(field);
        let output = self
            .grpc
            .and_then(|g| descriptor::index().method(g))
            .and_then(|m| descriptor::index().message(&m.output))
            .and_then(|o| o.field(field));
        if let Some(f) = output {
            self.answer = Answer::Message(f.type_name.as_str());
        }
        self
    }

    /// The method router serving this route.
    fn method_router(self) -> MethodRouter<St> {
        match self.handler {
            Serve::Own(r) => *r,
            Serve::Rpc(make) => {
                let index = descriptor::index();
                let grpc = self.grpc.unwrap_or("");
                let m = index.method(grpc);
                static EMPTY: descriptor::MessageInfo =
                    descriptor::MessageInfo { fields: Vec::new() };
                let spec = unary::Spec {
                    method: self.method,
                    grpc,
                    input: m.and_then(|m| index.message(&m.input)).unwrap_or(&EMPTY),
                    params: self.params,
                    needs: self.needs,
                    field: self.field,
                    page: if self.field.is_some() {
                        None
                    } else {
                        m.and_then(|m| unary::page_of(&m.output))
                    },
                };
                make(Arc::new(spec))
            }
        }
    }

    pub fn role(mut self, r: Role) -> Self {
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
    let mut all = table::routes();
    all.extend(super::network::routes());
    all.extend(super::ws::routes());
    all.extend(super::openapi::routes());
    all
}

/// gRPC methods served by the WebSocket instead of a REST route (server-streaming), with
/// the subscription that carries them.
pub const STREAMED: &[(&str, &str)] = &[
    (
        "osprey.v1.AlertsService/Tail",
        "GET /api/v1/stream?topics=alerts",
    ),
    (
        "osprey.v1.IncidentService/Watch",
        "GET /api/v1/stream?topics=incidents",
    ),
];

/// The query parameters of a GET or DELETE route calling a method with `input`: the
/// message's scalar fields that are not path segments, documented by their comments.
fn derived_params(input: &str, path: &str) -> &'static [Param] {
    use std::collections::BTreeMap;
    use std::sync::Mutex;
    static CACHE: Mutex<BTreeMap<(String, String), &'static [Param]>> = Mutex::new(BTreeMap::new());
    let mut cache = CACHE.lock().unwrap_or_else(|p| p.into_inner());
    let key = (input.to_owned(), path.to_owned());
    if let Some(p) = cache.get(&key) {
        return p;
    }
    let Some(msg) = descriptor::index().message(input) else {
        return &[];
    };
    let in_path = |name: &str| path.contains(&format!("{{{name}}}"));
    let params: Vec<Param> = msg
        .fields
        .iter()
        .filter(|f| !in_path(&f.name))
        .filter_map(|f| {
            Some(Param {
                name: f.name.as_str(),
                field: f.name.as_str(),
                kind: kind_of(f)?,
                doc: f.doc.as_str(),
            })
        })
        .collect();
    // Kept for the process: one small slice per (message, path) of the table.
    let params: &'static [Param] = Vec::leak(params);
    cache.insert(key, params);
    params
}

/// The query parameter type of a field, if a query can set it.
pub fn kind_of(f: &descriptor::Field) -> Option<Kind> {
    use prost_types::field_descriptor_proto::Type;
    let k = match f.ty {
        Type::Uint64 | Type::Fixed64 => Kind::U64,
        Type::Uint32 | Type::Fixed32 => Kind::U32,
        Type::Double | Type::Float => Kind::F64,
        Type::Bool => Kind::Bool,
        Type::Int32 | Type::Sint32 | Type::Sfixed32 => Kind::I32,
        Type::String if f.repeated => Kind::List,
        Type::String => Kind::Str,
        _ => return None,
    };
    (!f.repeated || k == Kind::List).then_some(k)
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
        let path = route.path;
        r = r.route(
            path,
            route.method_router().layer(DefaultBodyLimit::max(limit)),
        );
    }
    r.route_layer(from_fn_with_state(st, super::auth::require_caller))
        .route_layer(axum::middleware::from_fn(super::error::json_errors))
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
    let obj = query_object(query, params)?;
    serde_json::from_value(serde_json::Value::Object(obj))
        .map_err(|e| ApiError::invalid("", format!("query: {e}")))
}

/// The query string as a JSON object of request fields (see [`parse_query`]).
pub fn query_object(
    query: Option<&str>,
    params: &[Param],
) -> Result<serde_json::Map<String, serde_json::Value>, ApiError> {
    let mut obj = serde_json::Map::new();
    let pairs: Vec<(String, String)> = form_pairs(query.unwrap_or(""))?;
    for (k, v) in pairs {
        let Some(p) = params.iter().find(|p| p.name == k) else {
            let known: Vec<_> = params.iter().map(|p| p.name).collect();
            let takes = if known.is_empty() {
                "this route takes none".to_owned()
            } else {
                format!("this route takes: {}", known.join(", "))
            };
            return Err(ApiError::invalid(
                &k,
                format!("unknown query parameter `{k}`; {takes}"),
            ));
        };
        let value = json_value(p.name, p.kind, &v)?;
        if obj.insert(p.field.to_owned(), value).is_some() {
            return Err(ApiError::invalid(
                p.name,
                format!("{} is given twice", p.name),
            ));
        }
    }
    Ok(obj)
}

/// A query or path value `v` of parameter `name` as JSON of its type.
pub fn json_value(name: &str, kind: Kind, v: &str) -> Result<serde_json::Value, ApiError> {
    use serde_json::Value;
    let bad = |what: &str| ApiError::invalid(name, format!("{name} `{v}` is not {what}"));
    Ok(match kind {
        Kind::U64 => Value::from(v.parse::<u64>().map_err(|_| bad("a whole number"))?),
        Kind::U32 => Value::from(
            v.parse::<u32>()
                .map_err(|_| bad("a whole number below 2^32"))?,
        ),
        Kind::I32 => Value::from(
            v.parse::<i32>()
                .map_err(|_| bad("a whole number within ±2^31"))?,
        ),
        Kind::F64 => Value::from(
            v.parse::<f64>()
                .ok()
                .filter(|x| x.is_finite())
                .ok_or_else(|| bad("a number"))?,
        ),
        Kind::Bool => Value::from(match v {
            "true" | "1" => true,
            "false" | "0" => false,
            _ => return Err(bad("true or false")),
        }),
        Kind::Str => Value::from(v),
        Kind::List => Value::from(
            v.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect::<Vec<_>>(),
        ),
    })
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
