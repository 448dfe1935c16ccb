//! The one adapter between HTTP and a unary gRPC method: path segments, the query (GET,
//! DELETE) or the JSON body (POST, PUT, PATCH) become one JSON object, typed by the request
//! message's descriptor and read by serde into the message; the service is called as the
//! caller ([`super::call`]); its answer is the response message as JSON, a page
//! (`{"items":[..],"next_page_token":".."}`) when the message is one, or one field of it.

use std::future::Future;
use std::sync::Arc;

use axum::extract::{RawPathParams, RawQuery, State};
use axum::http::Method;
use axum::response::IntoResponse;
use axum::routing::{on, MethodFilter, MethodRouter};
use axum::{Extension, Json};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{Map, Value};

use super::{call, json_value, parse_body, query_object, Body, Needs, Param, St};
use crate::api::ApiContext;
use crate::web::auth::Caller;
use crate::web::descriptor::{self, MessageInfo};
use crate::web::error::ApiError;

/// What the adapter of one route needs to know, fixed when the router is built.
#[derive(Debug)]
pub struct Spec {
    pub method: Method,
    pub grpc: &'static str,
    /// The request message.
    pub input: &'static MessageInfo,
    /// Query parameters it takes.
    pub params: &'static [Param],
    pub needs: Option<Needs>,
    /// Answer only this field of the response.
    pub field: Option<&'static str>,
    /// The response's repeated field when the answer is a page.
    pub page: Option<&'static str>,
}

impl Spec {
    /// Whether the request comes as a JSON body (else as the query).
    pub fn has_body(method: &Method) -> bool {
        matches!(*method, Method::POST | Method::PUT | Method::PATCH)
    }

    /// The request as one JSON object.
    fn request(
        &self,
        path: &RawPathParams,
        query: Option<&str>,
        body: &[u8],
    ) -> Result<Value, ApiError> {
        let mut obj = query_object(query, self.params)?;
        if Self::has_body(&self.method) {
            let Value::Object(b) = parse_body::<Value>(body)? else {
                return Err(ApiError::invalid("", "body: expected a JSON object"));
            };
            for (k, v) in b {
                if obj.insert(k.clone(), v).is_some() {
                    return Err(ApiError::invalid(
                        &k,
                        format!("{k} is given in both the query and the body"),
                    ));
                }
            }
        }
        for (name, text) in path {
            let kind = self
                .input
                .field(name)
                .and_then(super::kind_of)
                .unwrap_or(super::Kind::Str);
            // The path names the object: it wins over a body's copy of the same field.
            obj.insert(name.to_owned(), json_value(name, kind, text)?);
        }
        Ok(Value::Object(obj))
    }

    /// The answer's JSON.
    fn answer(&self, v: Value) -> Value {
        let mut v = v;
        if let Some(f) = self.field {
            return v.get_mut(f).map(Value::take).unwrap_or(Value::Null);
        }
        if let Some(items) = self.page {
            let mut page = Map::new();
            page.insert(
                "items".into(),
                v.get_mut(items).map_or(Value::Null, Value::take),
            );
            page.insert(
                "next_page_token".into(),
                v.get_mut("next_page_token")
                    .map_or(Value::String(String::new()), Value::take),
            );
            return Value::Object(page);
        }
        v
    }
}

/// The method router serving `spec` by calling `f` (`|ctx, r| Api { ctx }.method(r)`).
pub fn handler<Req, Resp, F, Fut>(spec: Arc<Spec>, f: F) -> MethodRouter<St>
where
    Req: DeserializeOwned + Send + 'static,
    Resp: Serialize + Send + 'static,
    F: Fn(Arc<ApiContext>, tonic::Request<Req>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<tonic::Response<Resp>, tonic::Status>> + Send + 'static,
{
    let filter = MethodFilter::try_from(spec.method.clone()).unwrap_or(MethodFilter::GET);
    let serve = move |State(st): State<St>,
                      Extension(c): Extension<Caller>,
                      path: RawPathParams,
                      RawQuery(q): RawQuery,
                      Body(body): Body| {
        let (spec, f) = (spec.clone(), f.clone());
        async move {
            let r: Result<Json<Value>, ApiError> = async {
                if let Some(n) = spec.needs {
                    n.check(&st.ctx)?;
                }
                let obj = spec.request(&path, q.as_deref(), &body)?;
                let req: Req = serde_json::from_value(obj).map_err(|e| {
                    ApiError::invalid(&field_in(&e.to_string()), format!("request: {e}"))
                })?;
                let resp = call(&st, &c, spec.grpc, req, f).await?;
                let v = serde_json::to_value(resp)
                    .map_err(|e| ApiError::from(crate::error::Error::internal(e.to_string())))?;
                Ok(Json(spec.answer(v)))
            }
            .await;
            r.into_response()
        }
    };
    on(filter, serve)
}

/// The items' field of `output` when that message is a page.
pub fn page_of(output: &str) -> Option<&'static str> {
    descriptor::index()
        .message(output)?
        .page_items()
        .map(|f| f.name.as_str())
}

/// The field a serde message names (`invalid type: ..., expected u64 at ... "incident_id"`),
/// when it names one in backquotes.
fn field_in(message: &str) -> String {
    message
        .split('`')
        .nth(1)
        .filter(|f| f.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or("")
        .to_owned()
}
