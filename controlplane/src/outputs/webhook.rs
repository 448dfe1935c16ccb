//! Webhook outputs: JSON POSTs of stored alerts, incident changes and playbook
//! notifications to an HTTP(S) endpoint (`[[webhooks]]`).
//!
//! ```text
//!  events::Bus ──(own queue, drops counted)──┐
//!  incident changes (broadcast, lag counted) ─┼─► delivery task ─► POST url
//!  playbook notify / dead-letter retry ──────┘     │ attempts with back-off, timeout
//!                                                  └► dead letter (RocksDB) after the last
//! ```
//!
//! Each webhook has one tokio task and its own bounded queues: a receiver that is slow,
//! hangs or fails costs deliveries to this webhook only (counted as `overflow`), never
//! ingest's time. A delivery is tried `attempts` times; between attempts the task waits
//! `backoff_min` doubling up to `backoff_max`. A delivery that fails every attempt, or that
//! the receiver refuses outright (a 4xx other than 408 and 429), is stored as a dead letter
//! ([`crate::store::DeadLetter`]) and may be sent again with `osprey ctl outputs deadletter
//! retry`. Deliveries go in order, one at a time.
//!
//! Bodies: an alert is its EVE record as is; an incident change is
//! `{"event_type":"incident","incident":{...}}`; a notification is whatever the playbook
//! built. Headers: `Content-Type: application/json`, `X-Osprey-Event: <kind>`, with
//! `Authorization: Bearer <token>` when a token is configured, and
//! `X-Osprey-Signature: sha256=<hex HMAC-SHA256 of the body>` when an HMAC key is.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hmac::Mac as _;
use tokio::sync::{broadcast, mpsc, watch};
use tokio::task::JoinHandle;

use crate::error::{Error, Result};
use crate::events::{Bus, Event, Interest, Policy, Subscription};
use crate::incidents::Incident;
use crate::outputs::eve::render_alert;
use crate::store::{DeadLetter, Store};

/// What a webhook posts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Events {
    /// Every stored alert.
    pub alerts: bool,
    /// Every stored incident change (new incident, new member, workflow change).
    pub incidents: bool,
}

/// A webhook's validated settings (from `[[webhooks]]`).
#[derive(Clone, Debug)]
pub struct WebhookSettings {
    pub name: String,
    pub url: reqwest::Url,
    pub events: Events,
    /// One attempt's limit, connection included.
    pub timeout: Duration,
    /// Attempts before a delivery becomes a dead letter (at least 1).
    pub attempts: u32,
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    /// Deliveries queued at most (per source); beyond, they are dropped and counted.
    pub queue: usize,
    /// CA certificate(s) (PEM) that sign the receiver's certificate; when set, the
    /// system's roots are not trusted for this webhook.
    pub ca: Option<PathBuf>,
    pub bearer_token: Option<String>,
    pub hmac_key: Option<Vec<u8>>,
}

/// Counters of one webhook (`webhook.<name>.*`).
#[derive(Debug, Default)]
pub struct WebhookCounters {
    /// Deliveries the receiver accepted (2xx).
    pub delivered: AtomicU64,
    /// Attempts that failed (error status, connection error, timeout).
    pub failed_attempts: AtomicU64,
    /// Attempts that timed out (also in `failed_attempts`).
    pub timeouts: AtomicU64,
    /// Deliveries given up and stored as dead letters.
    pub dead_lettered: AtomicU64,
    /// Dead letters that could not be stored (lost; logged).
    pub dead_letter_errors: AtomicU64,
    /// Deliveries not queued because a queue was full (or lagged behind the incident
    /// stream).
    pub overflow: AtomicU64,
}

impl WebhookCounters {
    /// `(name, value)` pairs under `webhook.<webhook>.`.
    pub fn values(&self, webhook: &str) -> Vec<(String, u64)> {
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        [
            ("delivered", l(&self.delivered)),
            ("failed_attempts", l(&self.failed_attempts)),
            ("timeouts", l(&self.timeouts)),
            ("dead_lettered", l(&self.dead_lettered)),
            ("dead_letter_errors", l(&self.dead_letter_errors)),
            ("overflow", l(&self.overflow)),
        ]
        .into_iter()
        .map(|(k, v)| (format!("webhook.{webhook}.{k}"), v))
        .collect()
    }
}

/// One body to post.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    /// `alert`, `incident`, `playbook` (sent as `X-Osprey-Event`).
    pub kind: String,
    pub body: Vec<u8>,
}

/// A running webhook: its counters and the queue for deliveries from elsewhere than the
/// event stream (playbook notifications, retried dead letters).
#[derive(Debug)]
pub struct Webhook {
    pub name: String,
    pub counters: Arc<WebhookCounters>,
    tx: mpsc::Sender<Delivery>,
}

impl Webhook {
    /// Queues `d`; false (and counted as overflow) when the queue is full or the output has
    /// stopped.
    pub fn offer(&self, d: Delivery) -> bool {
        let ok = self.tx.try_send(d).is_ok();
        if !ok {
            self.counters.overflow.fetch_add(1, Ordering::Relaxed);
        }
        ok
    }
}

/// Every configured webhook, by name.
#[derive(Debug, Default)]
pub struct Webhooks {
    hooks: Vec<Arc<Webhook>>,
    tasks: std::sync::Mutex<Vec<JoinHandle<()>>>,
    stop: Option<watch::Sender<bool>>,
}

/// The consumer name of webhook `name` on the event stream (`events.webhook_<name>.*`).
pub fn consumer_name(name: &str) -> String {
    format!("webhook_{name}")
}

impl Webhooks {
    /// Starts one task per webhook (inside a tokio runtime). Alerts come from `bus`,
    /// incident changes from `incidents` when given.
    pub fn start(
        settings: Vec<WebhookSettings>,
        bus: &Bus,
        incidents: Option<&broadcast::Sender<Arc<Incident>>>,
        store: Arc<Store>,
    ) -> Result<Webhooks> {
        let mut hooks = Vec::new();
        let mut tasks = Vec::new();
        let (stop, stop_rx) = watch::channel(false);
        for s in settings {
            let client = client(&s)?;
            let (tx, rx) = mpsc::channel(s.queue);
            let counters = Arc::new(WebhookCounters::default());
            let sources = Sources {
                alerts: s.events.alerts.then(|| {
                    bus.subscribe(
                        &consumer_name(&s.name),
                        Interest::ALERTS,
                        Policy::Drop,
                        s.queue,
                    )
                }),
                incidents: incidents
                    .filter(|_| s.events.incidents)
                    .map(|b| b.subscribe()),
                other: rx,
                stop: stop_rx.clone(),
            };
            hooks.push(Arc::new(Webhook {
                name: s.name.clone(),
                counters: counters.clone(),
                tx,
            }));
            let out = Sender {
                client,
                settings: s,
                counters,
                store: store.clone(),
            };
            tasks.push(tokio::spawn(out.run(sources)));
        }
        Ok(Webhooks {
            hooks,
            tasks: std::sync::Mutex::new(tasks),
            stop: Some(stop),
        })
    }

    /// The webhook called `name`.
    pub fn get(&self, name: &str) -> Option<&Arc<Webhook>> {
        self.hooks.iter().find(|h| h.name == name)
    }

    /// Every webhook.
    pub fn all(&self) -> &[Arc<Webhook>] {
        &self.hooks
    }

    /// Every webhook's counters.
    pub fn counter_values(&self) -> Vec<(String, u64)> {
        self.hooks
            .iter()
            .flat_map(|h| h.counters.values(&h.name))
            .collect()
    }

    /// Stops the tasks once what is queued is sent (call after the event stream is
    /// closed), waiting up to `grace`, then stops those still sending.
    pub async fn join(&self, grace: Duration) {
        if let Some(s) = &self.stop {
            let _ = s.send(true);
        }
        let tasks: Vec<_> =
            std::mem::take(&mut *self.tasks.lock().unwrap_or_else(|p| p.into_inner()));
        let deadline = tokio::time::Instant::now() + grace;
        for t in tasks {
            let abort = t.abort_handle();
            if tokio::time::timeout_at(deadline, t).await.is_err() {
                abort.abort();
            }
        }
    }
}

/// The HTTP client of a webhook: its timeout, and its CA when one is configured.
fn client(s: &WebhookSettings) -> Result<reqwest::Client> {
    let mut b = reqwest::Client::builder()
        .timeout(s.timeout)
        .connect_timeout(s.timeout)
        .user_agent(concat!("osprey/", env!("CARGO_PKG_VERSION")));
    if let Some(ca) = &s.ca {
        let pem = std::fs::read(ca).map_err(|e| {
            Error::config(format!("webhooks {:?}: ca {}: {e}", s.name, ca.display()))
        })?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
            Error::config(format!("webhooks {:?}: ca {}: {e}", s.name, ca.display()))
        })?;
        if certs.is_empty() {
            return Err(Error::config(format!(
                "webhooks {:?}: ca {} holds no certificate",
                s.name,
                ca.display()
            )));
        }
        b = b.tls_built_in_root_certs(false);
        for c in certs {
            b = b.add_root_certificate(c);
        }
    }
    b.build()
        .map_err(|e| Error::config(format!("webhooks {:?}: {e}", s.name)))
}

/// Where a webhook's deliveries come from.
struct Sources {
    alerts: Option<Subscription>,
    incidents: Option<broadcast::Receiver<Arc<Incident>>>,
    other: mpsc::Receiver<Delivery>,
    stop: watch::Receiver<bool>,
}

impl Sources {
    /// The next delivery; `None` once stopped ([`Webhooks::join`]) and drained.
    async fn next(&mut self, counters: &WebhookCounters) -> Option<Delivery> {
        loop {
            if *self.stop.borrow() {
                return self.drain();
            }
            tokio::select! {
                ev = recv_alert(&mut self.alerts), if self.alerts.is_some() => {
                    match ev {
                        Some(Event::Alert(a)) => return Some(alert_delivery(&a)),
                        Some(_) => {}
                        None => self.alerts = None,
                    }
                }
                inc = recv_incident(&mut self.incidents), if self.incidents.is_some() => {
                    match inc {
                        Ok(i) => return Some(incident_delivery(&i)),
                        Err(broadcast::error::RecvError::Lagged(n)) => {
                            counters.overflow.fetch_add(n, Ordering::Relaxed);
                        }
                        Err(broadcast::error::RecvError::Closed) => self.incidents = None,
                    }
                }
                Some(d) = self.other.recv() => return Some(d),
                _ = self.stop.changed() => {}
            }
        }
    }

    /// What is still queued once stopped.
    fn drain(&mut self) -> Option<Delivery> {
        while let Some(ev) = self.alerts.as_mut().and_then(Subscription::try_recv) {
            if let Event::Alert(a) = ev {
                return Some(alert_delivery(&a));
            }
        }
        if let Some(r) = self.incidents.as_mut() {
            if let Ok(i) = r.try_recv() {
                return Some(incident_delivery(&i));
            }
        }
        self.other.try_recv().ok()
    }
}

/// The body of a stored alert: its EVE record.
fn alert_delivery(a: &crate::model::Alert) -> Delivery {
    let mut body = Vec::new();
    if a.eve.is_empty() {
        render_alert(a, &mut body);
    } else {
        body.extend_from_slice(a.eve.as_bytes());
    }
    Delivery {
        kind: "alert".into(),
        body,
    }
}

async fn recv_alert(s: &mut Option<Subscription>) -> Option<Event> {
    match s {
        Some(s) => s.recv().await,
        None => std::future::pending().await,
    }
}

async fn recv_incident(
    r: &mut Option<broadcast::Receiver<Arc<Incident>>>,
) -> std::result::Result<Arc<Incident>, broadcast::error::RecvError> {
    match r {
        Some(r) => r.recv().await,
        None => std::future::pending().await,
    }
}

/// The body of an incident change.
pub fn incident_delivery(i: &Incident) -> Delivery {
    let body = serde_json::to_vec(&serde_json::json!({
        "event_type": "incident",
        "incident": i,
    }))
    .unwrap_or_default();
    Delivery {
        kind: "incident".into(),
        body,
    }
}

/// Why one attempt failed.
#[derive(Debug)]
enum Failure {
    /// Worth another attempt (timeout, connection error, 5xx, 408, 429).
    Transient(String),
    /// The receiver refused the body; another attempt would get the same answer.
    Refused(String),
}

/// Posts deliveries for one webhook.
struct Sender {
    client: reqwest::Client,
    settings: WebhookSettings,
    counters: Arc<WebhookCounters>,
    store: Arc<Store>,
}

impl Sender {
    async fn run(self, mut sources: Sources) {
        while let Some(d) = sources.next(&self.counters).await {
            self.deliver(d).await;
        }
    }

    /// Tries `d` up to `attempts` times; dead-letters it when every attempt failed.
    async fn deliver(&self, d: Delivery) {
        let s = &self.settings;
        let mut backoff = s.backoff_min;
        let mut attempt = 0;
        let last_error = loop {
            attempt += 1;
            match self.attempt(&d).await {
                Ok(()) => {
                    self.counters.delivered.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                Err(Failure::Refused(e)) => break e,
                Err(Failure::Transient(e)) if attempt >= s.attempts => break e,
                Err(Failure::Transient(e)) => {
                    tracing::debug!(webhook = %s.name, attempt, error = %e, "webhook attempt failed");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(s.backoff_max);
                }
            }
        };
        tracing::warn!(webhook = %s.name, attempts = attempt, error = %last_error, "webhook delivery dead-lettered");
        let dl = DeadLetter {
            id: 0,
            webhook: s.name.clone(),
            kind: d.kind,
            body: String::from_utf8_lossy(&d.body).into_owned(),
            attempts: attempt,
            last_error,
            failed_ns: crate::health::now_nanos(),
        };
        let store = self.store.clone();
        match tokio::task::spawn_blocking(move || store.add_dead_letter(&dl)).await {
            Ok(Ok(_)) => {
                self.counters.dead_lettered.fetch_add(1, Ordering::Relaxed);
            }
            Ok(Err(e)) => {
                self.counters
                    .dead_letter_errors
                    .fetch_add(1, Ordering::Relaxed);
                tracing::error!(webhook = %s.name, error = %e, "dead letter not stored");
            }
            Err(e) => {
                self.counters
                    .dead_letter_errors
                    .fetch_add(1, Ordering::Relaxed);
                tracing::error!(webhook = %s.name, error = %e, "dead letter not stored");
            }
        }
    }

    async fn attempt(&self, d: &Delivery) -> std::result::Result<(), Failure> {
        let s = &self.settings;
        let mut req = self
            .client
            .post(s.url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("X-Osprey-Event", d.kind.as_str())
            .body(d.body.clone());
        if let Some(t) = &s.bearer_token {
            req = req.bearer_auth(t);
        }
        if let Some(k) = &s.hmac_key {
            req = req.header("X-Osprey-Signature", signature(k, &d.body));
        }
        let fail = |e: String| {
            self.counters
                .failed_attempts
                .fetch_add(1, Ordering::Relaxed);
            Failure::Transient(e)
        };
        match req.send().await {
            Ok(r) if r.status().is_success() => Ok(()),
            Ok(r) => {
                let st = r.status();
                let _ = fail(String::new());
                let msg = format!("HTTP {st}");
                if st.is_client_error()
                    && st != reqwest::StatusCode::REQUEST_TIMEOUT
                    && st != reqwest::StatusCode::TOO_MANY_REQUESTS
                {
                    Err(Failure::Refused(msg))
                } else {
                    Err(Failure::Transient(msg))
                }
            }
            Err(e) if e.is_timeout() => {
                self.counters.timeouts.fetch_add(1, Ordering::Relaxed);
                Err(fail(format!("timed out after {:?}", s.timeout)))
            }
            Err(e) => Err(fail(error_chain(&e))),
        }
    }
}

/// `sha256=<hex>` of the HMAC-SHA256 of `body` under `key`.
pub fn signature(key: &[u8], body: &[u8]) -> String {
    let mut m =
        hmac::Hmac::<sha2::Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    m.update(body);
    format!("sha256={}", hex::encode(m.finalize().into_bytes()))
}

/// An error and its causes on one line (reqwest's own message omits the cause).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}
