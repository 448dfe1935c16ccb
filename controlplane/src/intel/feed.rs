//! A feed as the manager holds it: where it comes from ([`Origin`]), what it holds (the
//! newest version of each STIX object, or a file's bytes), its cursor and its status.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::IntelFeed;

/// Where a feed's objects come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// A bundle or list file, read at start.
    File(std::path::PathBuf),
    /// A TAXII 2.1 collection, polled.
    Taxii(Box<IntelFeed>),
    /// Bundles and lists imported through the API (`osprey ctl intel import`).
    Import,
}

impl Origin {
    /// `file`, `taxii` or `import`.
    pub fn kind(&self) -> &'static str {
        match self {
            Origin::File(_) => "file",
            Origin::Taxii(_) => "taxii",
            Origin::Import => "import",
        }
    }

    /// The file's path or the server's URL.
    pub fn location(&self) -> String {
        match self {
            Origin::File(p) => p.display().to_string(),
            Origin::Taxii(f) => f.url.clone().unwrap_or_default(),
            Origin::Import => String::new(),
        }
    }
}

/// What a feed remembers between polls and restarts (stored).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct FeedCursor {
    /// `file`, `taxii` or `import`.
    pub kind: String,
    /// The newest `X-TAXII-Date-Added-Last` (or `date_added`) seen: the next poll's
    /// `added_after`.
    pub added_after: Option<String>,
    pub objects_fetched: u64,
    pub last_poll_ns: u64,
    pub last_ok_ns: u64,
}

/// Why a poll or read failed (the `cause` label of `osprey_intel_feed_errors_total`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Cause {
    /// No connection, a timeout, a TLS failure.
    Unreachable,
    /// A 5xx answer.
    ServerError,
    /// A 4xx answer (bad credentials, no such collection).
    Refused,
    /// A body that is not the JSON TAXII promises.
    Malformed,
    /// A response larger than `[intel] max_response_bytes`.
    TooLarge,
    /// A server whose pages do not advance (`more` with the same `next` again).
    PageLoop,
    /// No collection matches the feed's `collection`.
    NoCollection,
    /// The feed holds `[intel] max_objects_per_feed` objects already.
    TooManyObjects,
    /// A file that cannot be read or is not a bundle or list.
    Read,
    /// Storage refused the objects.
    Storage,
}

impl Cause {
    pub const fn name(self) -> &'static str {
        match self {
            Cause::Unreachable => "unreachable",
            Cause::ServerError => "server_error",
            Cause::Refused => "refused",
            Cause::Malformed => "malformed",
            Cause::TooLarge => "too_large",
            Cause::PageLoop => "page_loop",
            Cause::NoCollection => "no_collection",
            Cause::TooManyObjects => "too_many_objects",
            Cause::Read => "read",
            Cause::Storage => "storage",
        }
    }
}

/// A failed poll or read: its cause and what happened.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}: {message}", cause.name())]
pub struct FeedError {
    pub cause: Cause,
    pub message: String,
}

impl FeedError {
    pub fn new(cause: Cause, message: impl Into<String>) -> FeedError {
        FeedError {
            cause,
            message: message.into(),
        }
    }
}

/// Counts of a feed's indicators in its last compilation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct IndicatorCounts {
    /// In the workers' tables.
    pub active: u64,
    /// Past `valid_until`: left out of the tables.
    pub expired: u64,
    /// Patterns the workers cannot match (listed with the reason).
    pub unsupported: u64,
    pub revoked: u64,
    /// Objects or lines that could not be read.
    pub malformed: u64,
}

/// A feed's state as the API and metrics show it.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct FeedStatus {
    pub name: String,
    pub kind: String,
    pub location: String,
    pub collection: String,
    pub poll_secs: u64,
    pub last_poll_ns: u64,
    pub last_ok_ns: u64,
    pub last_error: String,
    pub objects_fetched: u64,
    /// Objects held now (newest version of each id).
    pub objects: u64,
    /// Errors by cause.
    pub errors: BTreeMap<&'static str, u64>,
    pub indicators: IndicatorCounts,
    pub hits: u64,
    /// Retro-hunt findings (among `hits`).
    pub retro_findings: u64,
    pub alerts: u64,
}

/// A feed's content.
#[derive(Debug, Default)]
pub(crate) enum Content {
    #[default]
    Empty,
    /// A file's bytes (while it is compiled at start).
    Text(Arc<[u8]>),
    /// STIX objects by id, each the version with the latest `modified`.
    Objects(HashMap<String, Value>),
}

/// Keeps `new` in `map` unless the object held under its id is a later version; returns
/// whether it was kept.
pub(crate) fn keep_newest(map: &mut HashMap<String, Value>, new: Value) -> bool {
    let Some(id) = new.get("id").and_then(Value::as_str).map(str::to_owned) else {
        return false;
    };
    let modified = |v: &Value| {
        v.get("modified")
            .and_then(Value::as_str)
            .and_then(stix::object::timestamp_nanos)
    };
    match map.get(&id) {
        Some(old) if modified(old) > modified(&new) => false,
        _ => {
            map.insert(id, new);
            true
        }
    }
}
