//! A TAXII 2.1 client (OASIS TAXII 2.1, sections 4 and 5): server discovery, API root,
//! collections, a collection's objects with `added_after` and paging (`limit`, `next`,
//! `more`, `X-TAXII-Date-Added-Last`), and objects added to a writable collection (POST of an
//! envelope, answered by a status resource). Basic or bearer authentication, TLS with the feed's CA,
//! a long read timeout (servers such as medallion sort a collection per request) and a cap on
//! every response's size. Every failure is a [`FeedError`] with its [`Cause`].

use std::time::Duration;

use serde_json::Value;

use super::feed::{Cause, FeedError};
use crate::config::{IntelAuth, IntelFeed};

/// The media type of TAXII 2.1 resources (section 1.6.8).
pub const TAXII_MEDIA: &str = "application/taxii+json;version=2.1";
/// Pages of one poll at most (a server that never says `more: false`).
pub const MAX_PAGES: usize = 10_000;

/// One poll's result: the objects and the `added_after` of the next poll.
#[derive(Debug, Default)]
pub struct Fetched {
    pub objects: Vec<Value>,
    pub added_last: Option<String>,
    pub pages: usize,
}

/// A client of one feed.
#[derive(Debug)]
pub struct Client {
    http: reqwest::Client,
    url: String,
    collection: Option<String>,
    page_size: Option<u32>,
    auth: Auth,
    max_bytes: u64,
}

#[derive(Debug)]
enum Auth {
    None,
    Basic(String, String),
    Bearer(String),
}

fn secret(value: &Option<String>, file: &Option<std::path::PathBuf>) -> Result<String, FeedError> {
    match (value, file) {
        (Some(v), _) => Ok(v.clone()),
        (None, Some(f)) => std::fs::read_to_string(f)
            .map(|s| s.trim_end_matches(['\n', '\r']).to_owned())
            .map_err(|e| FeedError::new(Cause::Read, format!("{}: {e}", f.display()))),
        (None, None) => Ok(String::new()),
    }
}

fn auth_of(a: &Option<IntelAuth>) -> Result<Auth, FeedError> {
    let Some(a) = a else { return Ok(Auth::None) };
    Ok(match &a.username {
        Some(u) => Auth::Basic(u.clone(), secret(&a.password, &a.password_file)?),
        None => Auth::Bearer(secret(&a.token, &a.token_file)?),
    })
}

fn unreachable(e: &reqwest::Error) -> FeedError {
    // The source chain says why (refused, timed out, certificate).
    let mut msg = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        src = s.source();
    }
    FeedError::new(Cause::Unreachable, msg)
}

impl Client {
    /// A client for `feed` (its secrets and CA read now).
    pub fn new(
        feed: &IntelFeed,
        read_timeout: Duration,
        max_bytes: u64,
    ) -> Result<Client, FeedError> {
        let mut b = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(read_timeout)
            .user_agent(concat!("osprey/", env!("CARGO_PKG_VERSION")))
            .tls_built_in_root_certs(false);
        if let Some(ca) = &feed.ca {
            let pem = std::fs::read(ca)
                .map_err(|e| FeedError::new(Cause::Read, format!("ca {}: {e}", ca.display())))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| FeedError::new(Cause::Read, format!("ca {}: {e}", ca.display())))?;
            for c in certs {
                b = b.add_root_certificate(c);
            }
        }
        let http = b
            .build()
            .map_err(|e| FeedError::new(Cause::Unreachable, e.to_string()))?;
        Ok(Client {
            http,
            url: feed.url.clone().unwrap_or_default(),
            collection: feed.collection.clone(),
            page_size: feed.page_size,
            auth: auth_of(&feed.auth)?,
            max_bytes,
        })
    }

    /// GET `url` with `query`: the JSON body and the `X-TAXII-Date-Added-Last` header.
    async fn get(
        &self,
        url: &str,
        query: &[(&str, String)],
    ) -> Result<(Value, Option<String>), FeedError> {
        let mut req = self
            .http
            .get(url)
            .header(reqwest::header::ACCEPT, TAXII_MEDIA)
            .query(query);
        req = match &self.auth {
            Auth::None => req,
            Auth::Basic(u, p) => req.basic_auth(u, Some(p)),
            Auth::Bearer(t) => req.bearer_auth(t),
        };
        let mut resp = req.send().await.map_err(|e| unreachable(&e))?;
        let status = resp.status();
        if status.is_server_error() {
            return Err(FeedError::new(
                Cause::ServerError,
                format!("{url}: HTTP {status}"),
            ));
        }
        if !status.is_success() {
            return Err(FeedError::new(
                Cause::Refused,
                format!("{url}: HTTP {status}"),
            ));
        }
        if resp.content_length().is_some_and(|n| n > self.max_bytes) {
            return Err(self.too_large(url));
        }
        // A page of one object may carry only `-First` (medallion does).
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let last = header("X-TAXII-Date-Added-Last").or_else(|| header("X-TAXII-Date-Added-First"));
        let body = self.read_capped(&mut resp, url).await?;
        let v = serde_json::from_slice(&body)
            .map_err(|e| FeedError::new(Cause::Malformed, format!("{url}: not JSON: {e}")))?;
        Ok((v, last))
    }

    /// The body, read chunk by chunk, so a server that lies about (or omits) the length
    /// cannot make us hold more than the cap.
    async fn read_capped(
        &self,
        resp: &mut reqwest::Response,
        url: &str,
    ) -> Result<Vec<u8>, FeedError> {
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| unreachable(&e))? {
            if (body.len() + chunk.len()) as u64 > self.max_bytes {
                return Err(self.too_large(url));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    fn too_large(&self, url: &str) -> FeedError {
        FeedError::new(
            Cause::TooLarge,
            format!(
                "{url}: response over [intel] max_response_bytes = {}",
                self.max_bytes
            ),
        )
    }

    /// The API root: the URL itself when it answers as one (`versions`), else the discovery
    /// resource's `default` or first of `api_roots`.
    pub async fn api_root(&self) -> Result<String, FeedError> {
        let base = with_slash(&self.url);
        let (v, _) = self.get(&base, &[]).await?;
        if v.get("versions").is_some() {
            return Ok(base);
        }
        let root = v
            .get("default")
            .and_then(Value::as_str)
            .or_else(|| {
                v.get("api_roots")
                    .and_then(Value::as_array)
                    .and_then(|a| a.first())
                    .and_then(Value::as_str)
            })
            .ok_or_else(|| {
                FeedError::new(
                    Cause::Malformed,
                    format!("{base}: neither a discovery resource with api_roots nor an API root"),
                )
            })?;
        Ok(with_slash(&resolve(&base, root)))
    }

    /// The id of the feed's collection under `root`: the one whose id or title is the
    /// feed's `collection`, else the only readable one.
    pub async fn collection(&self, root: &str) -> Result<String, FeedError> {
        self.collection_with(root, Access::Read).await
    }

    /// The id of the collection under `root` that `access` allows, named by the feed's
    /// `collection` (id or title), else the only one allowed.
    pub async fn collection_with(&self, root: &str, access: Access) -> Result<String, FeedError> {
        let flag = access.flag();
        let url = format!("{root}collections/");
        let (v, _) = self.get(&url, &[]).await?;
        let list = match v.get("collections") {
            None => Vec::new(),
            Some(Value::Array(a)) => a.clone(),
            Some(_) => {
                return Err(FeedError::new(
                    Cause::Malformed,
                    format!("{url}: collections is not a list"),
                ))
            }
        };
        let readable: Vec<&Value> = list
            .iter()
            .filter(|c| c.get(flag).and_then(Value::as_bool).unwrap_or(false))
            .collect();
        let field = |c: &Value, k: &str| c.get(k).and_then(Value::as_str).map(str::to_owned);
        let found = match &self.collection {
            Some(want) => readable
                .iter()
                .find(|c| {
                    field(c, "id").as_deref() == Some(want)
                        || field(c, "title").as_deref() == Some(want)
                })
                .and_then(|c| field(c, "id")),
            None if readable.len() == 1 => field(readable[0], "id"),
            None => None,
        };
        found.ok_or_else(|| {
            let names: Vec<String> = readable
                .iter()
                .map(|c| {
                    format!(
                        "{} ({})",
                        field(c, "id").unwrap_or_default(),
                        field(c, "title").unwrap_or_default()
                    )
                })
                .collect();
            FeedError::new(
                Cause::NoCollection,
                format!(
                    "{url}: no collection with {flag} {}; with {flag}: [{}]",
                    self.collection
                        .as_deref()
                        .map_or("(set collection: more than one)".into(), |c| format!(
                            "{c:?}"
                        )),
                    names.join(", ")
                ),
            )
        })
    }

    /// Every object added to `collection` after `added_after`, page by page.
    pub async fn objects(
        &self,
        root: &str,
        collection: &str,
        added_after: Option<&str>,
    ) -> Result<Fetched, FeedError> {
        let url = format!("{root}collections/{collection}/objects/");
        let mut out = Fetched {
            added_last: added_after.map(str::to_owned),
            ..Fetched::default()
        };
        let mut next: Option<String> = None;
        // (id, modified) of every object this poll has seen: a page with nothing new while
        // the server still says `more` is a loop (servers may keep one `next` per session).
        let mut seen = std::collections::HashSet::new();
        loop {
            let mut q: Vec<(&str, String)> = Vec::new();
            if let Some(a) = added_after {
                q.push(("added_after", a.to_owned()));
            }
            if let Some(n) = self.page_size {
                q.push(("limit", n.to_string()));
            }
            if let Some(n) = &next {
                q.push(("next", n.clone()));
            }
            let (v, last) = self.get(&url, &q).await?;
            out.pages += 1;
            let mut fresh = 0usize;
            match v.get("objects") {
                None => {}
                Some(Value::Array(a)) => {
                    for o in a {
                        let key = (
                            o.get("id")
                                .and_then(Value::as_str)
                                .unwrap_or_default()
                                .to_owned(),
                            o.get("modified")
                                .and_then(Value::as_str)
                                .unwrap_or_default()
                                .to_owned(),
                        );
                        if seen.insert(key) {
                            fresh += 1;
                            out.objects.push(o.clone());
                        }
                    }
                }
                Some(_) => {
                    return Err(FeedError::new(
                        Cause::Malformed,
                        format!("{url}: objects is not a list"),
                    ))
                }
            }
            if let Some(l) = last {
                if out.added_last.as_deref().is_none_or(|a| newer(&l, a)) {
                    out.added_last = Some(l);
                }
            }
            let more = v.get("more").and_then(Value::as_bool).unwrap_or(false);
            if !more {
                return Ok(out);
            }
            if fresh == 0 || out.pages >= MAX_PAGES {
                return Err(FeedError::new(
                    Cause::PageLoop,
                    format!(
                        "{url}: page {} brought nothing new but says more = true (or past {MAX_PAGES} pages)",
                        out.pages
                    ),
                ));
            }
            match v.get("next").and_then(Value::as_str) {
                Some(n) => next = Some(n.to_owned()),
                None => {
                    return Err(FeedError::new(
                        Cause::PageLoop,
                        format!("{url}: more = true without next"),
                    ))
                }
            }
        }
    }
}

/// What a collection must allow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
}

impl Access {
    fn flag(self) -> &'static str {
        match self {
            Access::Read => "can_read",
            Access::Write => "can_write",
        }
    }
}

/// What a server's status resource said of a POST (TAXII 2.1 section 4.3).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Posted {
    pub successes: u64,
    pub failures: u64,
    pub pending: u64,
}

impl Client {
    /// Adds `objects` to `collection` under `root` (one envelope, one POST).
    pub async fn post(
        &self,
        root: &str,
        collection: &str,
        objects: &[Value],
    ) -> Result<Posted, FeedError> {
        let url = format!("{root}collections/{collection}/objects/");
        let body = serde_json::to_vec(&serde_json::json!({ "objects": objects }))
            .map_err(|e| FeedError::new(Cause::Malformed, e.to_string()))?;
        let mut req = self
            .http
            .post(&url)
            .header(reqwest::header::ACCEPT, TAXII_MEDIA)
            .header(reqwest::header::CONTENT_TYPE, TAXII_MEDIA)
            .body(body);
        req = match &self.auth {
            Auth::None => req,
            Auth::Basic(u, p) => req.basic_auth(u, Some(p)),
            Auth::Bearer(t) => req.bearer_auth(t),
        };
        let mut resp = req.send().await.map_err(|e| unreachable(&e))?;
        let status = resp.status();
        if status.is_server_error() {
            return Err(FeedError::new(
                Cause::ServerError,
                format!("{url}: HTTP {status}"),
            ));
        }
        if !status.is_success() {
            return Err(FeedError::new(
                Cause::Refused,
                format!("{url}: HTTP {status}"),
            ));
        }
        let body = self.read_capped(&mut resp, &url).await?;
        let v: Value = serde_json::from_slice(&body)
            .map_err(|e| FeedError::new(Cause::Malformed, format!("{url}: not JSON: {e}")))?;
        let n = |k: &str| v.get(k).and_then(Value::as_u64).unwrap_or(0);
        Ok(Posted {
            successes: n("success_count"),
            failures: n("failure_count"),
            pending: n("pending_count"),
        })
    }
}

/// Whether TAXII timestamp `a` is after `b` (compared as instants, text when unparsable).
fn newer(a: &str, b: &str) -> bool {
    match (
        stix::object::timestamp_nanos(a),
        stix::object::timestamp_nanos(b),
    ) {
        (Some(x), Some(y)) => x > y,
        _ => a > b,
    }
}

fn with_slash(u: &str) -> String {
    if u.ends_with('/') {
        u.to_owned()
    } else {
        format!("{u}/")
    }
}

/// `root` as given in a discovery resource: absolute, or a path on the discovery's server.
fn resolve(base: &str, root: &str) -> String {
    if root.starts_with("http://") || root.starts_with("https://") {
        return root.to_owned();
    }
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let host_end = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + i);
    if root.starts_with('/') {
        format!("{}{root}", &base[..host_end])
    } else {
        format!("{base}{root}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_roots_resolve_against_the_discovery_url() {
        let base = "http://127.0.0.1:5000/taxii2/";
        assert_eq!(resolve(base, "http://x/api1/"), "http://x/api1/");
        assert_eq!(resolve(base, "/api1/"), "http://127.0.0.1:5000/api1/");
        assert_eq!(resolve(base, "api1/"), "http://127.0.0.1:5000/taxii2/api1/");
        assert!(newer(
            "2024-01-01T00:00:00.5Z",
            "2024-01-01T00:00:00.123456Z"
        ));
        assert!(!newer("2024-01-01T00:00:00Z", "2024-01-01T00:00:00.000Z"));
    }
}
