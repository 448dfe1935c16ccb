//! The OpenAPI 3 document of the REST API, served at `GET /api/v1/openapi.json`, generated
//! from the same route table as the router ([`rest::routes`]) and, for request and response
//! bodies, from the protobuf descriptors of `osprey.v1` (the messages the JSON is): a route
//! cannot be served without being documented, nor documented without being served.

use std::sync::OnceLock;

use axum::http::Method;
use axum::Json;
use prost::Message as _;
use prost_types::field_descriptor_proto::{Label, Type};
use serde_json::{json, Map, Value};

use super::rest::{self, Answer, Kind, Route};

/// Schemas of the documents that are not protobuf messages.
fn custom_schemas() -> Map<String, Value> {
    let obj = json!({
        "Error": {
            "type": "object",
            "required": ["error"],
            "properties": { "error": {
                "type": "object",
                "required": ["code", "message", "field"],
                "properties": {
                    "code": { "type": "string", "enum": [
                        "invalid_argument", "unauthenticated", "permission_denied", "not_found",
                        "already_exists", "aborted", "failed_precondition", "resource_exhausted",
                        "unavailable", "internal"] },
                    "message": { "type": "string" },
                    "field": { "type": "string", "description": "The parameter or field at fault; empty when none is." }
                }
            }}
        },
        "Session": {
            "type": "object",
            "properties": {
                "identity": { "type": "string" },
                "role": { "type": "string", "enum": ["viewer", "operator", "admin", "none"] },
                "csrf_token": { "type": "string", "description": "Hex; send as X-CSRF-Token on every mutating request. Empty for bearer callers." }
            }
        },
        "Preferences": {
            "type": "object",
            "additionalProperties": false,
            "required": ["time_zone", "refresh_seconds", "default_range"],
            "properties": {
                "time_zone": { "type": "string", "example": "Europe/Paris" },
                "refresh_seconds": { "type": "integer", "minimum": 1, "maximum": 3600 },
                "default_range": { "type": "string", "example": "24h" }
            }
        },
        "Empty": { "type": "object" },
        "OpenApi": { "type": "object", "description": "This document." },
        "ReportDocument": {
            "type": "string",
            "format": "binary",
            "description": "The report itself: text/html (self-contained) or application/pdf."
        },
        "NetworkGraph": super::network::schema()
    });
    match obj {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// A JSON schema for every message of `osprey.v1`, from the descriptor set.
fn proto_schemas() -> Map<String, Value> {
    let mut out = Map::new();
    let Ok(set) = prost_types::FileDescriptorSet::decode(crate::proto::FILE_DESCRIPTOR_SET) else {
        return out;
    };
    let enums: Vec<(String, Vec<String>)> = set
        .file
        .iter()
        .flat_map(|f| f.enum_type.iter())
        .map(|e| {
            let values = e.value.iter().map(|v| v.name().to_owned()).collect();
            (format!(".osprey.v1.{}", e.name()), values)
        })
        .collect();
    for m in set.file.iter().flat_map(|f| f.message_type.iter()) {
        let mut props = Map::new();
        for f in &m.field {
            let mut s = match f.r#type() {
                Type::Double | Type::Float => json!({ "type": "number" }),
                Type::Bool => json!({ "type": "boolean" }),
                Type::String => json!({ "type": "string" }),
                Type::Bytes => json!({ "type": "string", "format": "byte" }),
                Type::Uint64 | Type::Fixed64 => {
                    json!({ "type": "integer", "format": "uint64", "minimum": 0 })
                }
                Type::Int64 | Type::Sint64 | Type::Sfixed64 => {
                    json!({ "type": "integer", "format": "int64" })
                }
                Type::Uint32 | Type::Fixed32 => {
                    json!({ "type": "integer", "format": "uint32", "minimum": 0 })
                }
                Type::Enum => {
                    let values = enums
                        .iter()
                        .find(|(n, _)| n == f.type_name())
                        .map(|(_, v)| v.clone())
                        .unwrap_or_default();
                    json!({ "type": "string", "enum": values })
                }
                Type::Message | Type::Group => {
                    let name = f.type_name().rsplit('.').next().unwrap_or("");
                    json!({ "$ref": format!("#/components/schemas/{name}") })
                }
                _ => json!({ "type": "integer", "format": "int32" }),
            };
            if f.label() == Label::Repeated {
                s = json!({ "type": "array", "items": s });
            }
            props.insert(f.name().to_owned(), s);
        }
        out.insert(
            m.name().to_owned(),
            json!({ "type": "object", "properties": props }),
        );
    }
    out
}

fn schema_ref(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn answer_schema(a: Answer) -> Option<Value> {
    match a {
        Answer::Message(m) | Answer::Schema(m) => Some(schema_ref(m)),
        Answer::Page(m) => Some(json!({
            "type": "object",
            "required": ["items", "next_page_token"],
            "properties": {
                "items": { "type": "array", "items": schema_ref(m) },
                "next_page_token": { "type": "string", "description": "Empty on the last page." }
            }
        })),
        Answer::Upgrade => None,
    }
}

fn param_schema(k: Kind) -> Value {
    match k {
        Kind::U64 => json!({ "type": "integer", "format": "uint64", "minimum": 0 }),
        Kind::U32 => json!({ "type": "integer", "format": "uint32", "minimum": 0 }),
        Kind::I32 => json!({ "type": "integer", "format": "int32" }),
        Kind::F64 => json!({ "type": "number" }),
        Kind::Bool => json!({ "type": "boolean" }),
        Kind::Str => json!({ "type": "string" }),
        Kind::List => json!({ "type": "array", "items": { "type": "string" } }),
    }
}

fn operation(r: &Route) -> Value {
    let mut params: Vec<Value> = r
        .path
        .split('/')
        .filter_map(|seg| seg.strip_prefix('{')?.strip_suffix('}'))
        .map(|name| json!({ "name": name, "in": "path", "required": true, "schema": { "type": "string" } }))
        .collect();
    params.extend(r.params.iter().map(|p| {
        let mut v = json!({ "name": p.name, "in": "query", "required": false, "description": p.doc, "schema": param_schema(p.kind) });
        if p.kind == Kind::List {
            v["style"] = json!("form");
            v["explode"] = json!(false);
        }
        v
    }));
    let ok = match answer_schema(r.answer) {
        Some(s) => {
            json!({ "description": "OK", "content": { "application/json": { "schema": s } } })
        }
        None => json!({ "description": "Switching to the WebSocket protocol" }),
    };
    let code = if r.answer == Answer::Upgrade {
        "101"
    } else {
        "200"
    };
    let mut op = json!({
        "summary": r.summary,
        "operationId": format!("{} {}", r.method, r.path),
        "parameters": params,
        "x-osprey-role": r.role.as_str(),
        "responses": {
            code: ok,
            "default": { "description": "An error", "content": { "application/json": { "schema": schema_ref("Error") } } }
        }
    });
    if let Some(g) = r.grpc {
        op["x-osprey-grpc"] = json!(g);
    }
    if let Some(b) = r.body {
        op["requestBody"] = json!({ "required": true, "content": { "application/json": { "schema": schema_ref(b) } } });
    }
    op
}

/// The document.
pub fn document() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(|| {
        let mut paths = Map::new();
        for r in rest::routes() {
            let entry = paths.entry(r.path.to_owned()).or_insert_with(|| json!({}));
            entry[r.method.as_str().to_ascii_lowercase()] = operation(&r);
        }
        let mut schemas = proto_schemas();
        schemas.extend(custom_schemas());
        json!({
            "openapi": "3.0.3",
            "info": {
                "title": "Osprey REST API",
                "version": env!("CARGO_PKG_VERSION"),
                "description": "The gRPC management API's services as JSON (proto field names, enums by name, 64-bit integers as numbers, times as *_ns). Lists answer {items, next_page_token}; errors {error: {code, message, field}}. Authenticate with Authorization: Bearer <token>, a client certificate, or the osprey_session cookie of POST /login (then mutating requests carry X-CSRF-Token)."
            },
            "components": {
                "schemas": schemas,
                "securitySchemes": {
                    "bearer": { "type": "http", "scheme": "bearer" },
                    "session": { "type": "apiKey", "in": "cookie", "name": super::auth::COOKIE }
                }
            },
            "security": [ { "bearer": [] }, { "session": [] } ],
            "paths": paths
        })
    })
}

async fn serve() -> Json<Value> {
    Json(document().clone())
}

pub fn routes() -> Vec<Route> {
    vec![
        Route::new(Method::GET, "/api/v1/openapi.json", "This document.", serve)
            .answer(Answer::Schema("OpenApi")),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every schema a document names is defined in it.
    #[test]
    fn every_reference_resolves() {
        let doc = document();
        let text = doc.to_string();
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        for part in text.split("#/components/schemas/").skip(1) {
            let name: String = part
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric())
                .collect();
            assert!(schemas.contains_key(&name), "{name} is not defined");
        }
        assert_eq!(
            doc["components"]["schemas"]["Alert"]["properties"]["timestamp_ns"]["type"],
            "integer"
        );
        assert_eq!(
            doc["components"]["schemas"]["Diagnostic"]["properties"]["severity"]["enum"][1],
            "SEVERITY_ERROR"
        );
    }
}
