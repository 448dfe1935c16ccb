//! `GET /api/v1/stream`: live WebSocket streams of alerts, incidents, stats and intel hits.
//!
//! `?topics=alerts,incidents,stats,intel_hits` (default: alerts and stats) with filters
//! `sid`, `address` and `min_severity` (alerts: severity number at most this, 1 the most
//! severe; 0 = all). The server sends text frames `{"topic":"alert","data":{..}}` (the JSON
//! of `GET /api/v1/alerts` items), `{"topic":"stats","data":{..}}` once a second (that of
//! `GET /api/v1/stats`), `{"topic":"incident",..}`, `{"topic":"intel_hit",..}` and
//! `{"topic":"missed","data":{"count":N}}` when events were left out for this client.
//!
//! One [`Hub`] subscribes to the event stream for all clients (so ingest pays one queue push
//! per event however many clients there are), renders each alert's frame once and hands it
//! to every client through a broadcast ring of `console.ws_queue` events: each client reads
//! at its own pace, and one that falls that far behind loses the oldest, is told how many it
//! missed once it reads again (`osprey_console_ws_missed_total`), and never holds up ingest
//! or another client. Clients at once are capped (`console.max_ws_clients`, refusals
//! counted).

use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{RawQuery, State};
use axum::http::Method;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use serde_json::json;
use tokio::sync::broadcast::error::RecvError;

use super::auth::Caller;
use super::error::ApiError;
use super::rest::{param, parse_query, Answer, Kind, Param, Route, St};
use super::WebState;
use crate::events::{Bus, Event, Interest, Policy, Subscription};
use crate::intel::{Intel, StoredHit};
use crate::model::Role;
use crate::proto;

/// The WebSocket clients' name on the event stream (`events.console_ws.*` counters).
pub const CONSUMER: &str = "console_ws";
/// How often the `stats` topic is sent.
const STATS_EVERY: Duration = Duration::from_secs(1);

const PARAMS: &[Param] = &[
    param(
        "topics",
        Kind::List,
        "alerts, incidents, stats, intel_hits (default: alerts,stats).",
    ),
    param("sid", Kind::U32, "Alerts of this signature only."),
    param(
        "address",
        Kind::Str,
        "Alerts with this source or destination address only.",
    ),
    param(
        "min_severity",
        Kind::U32,
        "Alerts of this severity or more severe (1 is the most severe); 0 = all.",
    ),
];

/// Events the hub's own queue on the event stream holds.
const HUB_QUEUE: usize = 8192;

/// Stored hits as the intel manager announces them.
type HitBatches = tokio::sync::broadcast::Receiver<Arc<[StoredHit]>>;

/// What the hub hands every client.
#[derive(Clone, Debug)]
pub enum Item {
    /// A stored alert and its frame, rendered once.
    Alert(Arc<crate::model::Alert>, Arc<str>),
    /// An intel hit's frame.
    Hit(Arc<str>),
}

/// The one subscriber of the event stream for every WebSocket client.
#[derive(Debug)]
pub struct Hub {
    tx: tokio::sync::broadcast::Sender<Item>,
    /// Events the hub itself missed (its queue on the event stream full), in total: each
    /// client tells its reader the part that happened while it was connected.
    missed: std::sync::atomic::AtomicU64,
}

impl Hub {
    /// Subscribes to `bus` (alerts) and to `intel`'s stored hits, and starts the task that
    /// renders and hands out events until the stream closes or the appliance stops; `queue`
    /// is each client's ring.
    pub fn start(
        bus: &Bus,
        intel: &Intel,
        queue: usize,
        shutdown: tokio::sync::watch::Receiver<bool>,
    ) -> (Arc<Hub>, tokio::task::JoinHandle<()>) {
        let (tx, _) = tokio::sync::broadcast::channel(queue.max(1));
        let hub = Arc::new(Hub {
            tx,
            missed: std::sync::atomic::AtomicU64::new(0),
        });
        let sub = bus.subscribe(CONSUMER, Interest::ALERTS, Policy::Drop, HUB_QUEUE);
        let hits = intel.stored_hits.subscribe();
        let task = tokio::spawn(hub.clone().relay(sub, hits, shutdown));
        (hub, task)
    }

    async fn relay(
        self: Arc<Self>,
        mut sub: Subscription,
        mut hits: HitBatches,
        mut shutdown: tokio::sync::watch::Receiver<bool>,
    ) {
        // Drops are counted with the next event, or by this tick when no event follows them.
        let mut tick = tokio::time::interval(STATS_EVERY / 10);
        let mut hits_open = true;
        loop {
            let ev = tokio::select! {
                _ = crate::api::until_shutdown(&mut shutdown) => break,
                _ = tick.tick() => None,
                batch = hits.recv(), if hits_open => {
                    hits_open = self.hand_out_hits(batch);
                    continue;
                }
                ev = sub.recv() => match ev { Some(ev) => Some(ev), None => break },
            };
            self.missed.fetch_add(sub.take_dropped(), Ordering::Relaxed);
            let Some(Event::Alert(a)) = ev else { continue };
            if self.tx.receiver_count() == 0 {
                continue;
            }
            let text = json!({ "topic": "alert", "data": proto::Alert::from(&*a) }).to_string();
            let _ = self.tx.send(Item::Alert(a, text.into()));
        }
    }

    /// Renders and hands out a batch of stored hits (their frames carry the stored ids); a
    /// batch the hub lagged past counts as missed. False once no more can come.
    fn hand_out_hits(&self, batch: Result<Arc<[StoredHit]>, RecvError>) -> bool {
        match batch {
            Ok(batch) if self.tx.receiver_count() > 0 => {
                for h in batch.iter() {
                    let text = json!({ "topic": "intel_hit", "data": proto::Hit::from(h.clone()) });
                    let _ = self.tx.send(Item::Hit(text.to_string().into()));
                }
            }
            Ok(_) => {}
            Err(RecvError::Closed) => return false,
            Err(RecvError::Lagged(n)) => {
                self.missed.fetch_add(n, Ordering::Relaxed);
            }
        }
        true
    }
}

/// The subscription a client asked for.
#[derive(Clone, Debug, Default, serde::Deserialize)]
#[serde(default)]
struct Query {
    topics: Vec<String>,
    sid: Option<u32>,
    address: String,
    min_severity: u32,
}

/// The parsed subscription.
#[derive(Clone, Copy, Debug, Default)]
struct Filter {
    alerts: bool,
    incidents: bool,
    stats: bool,
    intel_hits: bool,
    sid: Option<u32>,
    address: Option<IpAddr>,
    min_severity: u32,
}

impl Filter {
    fn parse(q: Query) -> Result<Filter, ApiError> {
        let mut f = Filter {
            sid: q.sid,
            address: crate::api::parse_address("address", &q.address)?,
            min_severity: q.min_severity,
            ..Filter::default()
        };
        let topics = if q.topics.is_empty() {
            vec!["alerts".to_owned(), "stats".to_owned()]
        } else {
            q.topics
        };
        for t in &topics {
            match t.as_str() {
                "alerts" => f.alerts = true,
                "incidents" => f.incidents = true,
                "stats" => f.stats = true,
                "intel_hits" => f.intel_hits = true,
                other => {
                    return Err(ApiError::invalid(
                        "topics",
                        format!("unknown topic `{other}`: alerts, incidents, stats, intel_hits"),
                    ))
                }
            }
        }
        Ok(f)
    }

    fn keeps(&self, a: &crate::model::Alert) -> bool {
        self.sid.is_none_or(|s| a.sid == s)
            && self
                .address
                .is_none_or(|ip| a.src_ip == ip || a.dst_ip == ip)
            && (self.min_severity == 0 || u32::from(a.severity) <= self.min_severity)
    }
}

/// Holds one of the capped client places; gives it back when dropped.
struct Place(Arc<WebState>);

impl Place {
    fn take(st: &Arc<WebState>) -> Option<Place> {
        let c = &st.counters.ws_clients;
        let mut n = c.load(Ordering::Relaxed);
        loop {
            if n as usize >= st.max_ws_clients {
                st.counters.ws_refused.fetch_add(1, Ordering::Relaxed);
                return None;
            }
            match c.compare_exchange_weak(n, n + 1, Ordering::AcqRel, Ordering::Relaxed) {
                Ok(_) => return Some(Place(st.clone())),
                Err(now) => n = now,
            }
        }
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        self.0.counters.ws_clients.fetch_sub(1, Ordering::Relaxed);
    }
}

async fn stream(
    State(st): State<St>,
    Extension(c): Extension<Caller>,
    RawQuery(q): RawQuery,
    ws: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let mut req = tonic::Request::new(());
    req.extensions_mut().insert(c.principal.clone());
    st.ctx.auth.authorize(
        &req,
        "osprey.v1.AlertsService/Tail",
        "console stream",
        Role::Viewer,
    )?;
    let filter = Filter::parse(parse_query(q.as_deref(), PARAMS)?)?;
    let ws = ws.map_err(|e| {
        let mut err = ApiError::invalid("", format!("{e}: /api/v1/stream is a WebSocket"));
        err.status = e.status();
        err
    })?;
    let place = Place::take(&st).ok_or_else(|| {
        ApiError::unavailable(format!(
            "{} WebSocket clients are connected (console.max_ws_clients); retry later",
            st.max_ws_clients
        ))
    })?;
    // Subscribed before the upgrade answers, so nothing stored after the 101 is missed.
    let sub = (filter.alerts || filter.intel_hits).then(|| st.hub.tx.subscribe());
    let st_hub_missed = st.hub.missed.load(Ordering::Relaxed);
    let incidents = match (&st.ctx.incidents, filter.incidents) {
        (Some(i), true) => Some(i.changes.subscribe()),
        _ => None,
    };
    Ok(ws
        .on_upgrade(move |socket| async move {
            let _place = place;
            Client {
                st,
                caller: c,
                filter,
                socket,
                hub_missed: st_hub_missed,
                sub,
                incidents,
            }
            .run()
            .await;
        })
        .into_response())
}

/// One connected client.
struct Client {
    st: Arc<WebState>,
    caller: Caller,
    filter: Filter,
    socket: WebSocket,
    sub: Option<tokio::sync::broadcast::Receiver<Item>>,
    /// The hub's missed total this client has accounted for.
    hub_missed: u64,
    incidents: Option<tokio::sync::broadcast::Receiver<Arc<crate::incidents::incident::Incident>>>,
}

/// What woke a client up.
enum Wake {
    Shutdown,
    Event(Result<Item, tokio::sync::broadcast::error::RecvError>),
    Incident(
        Result<Arc<crate::incidents::incident::Incident>, tokio::sync::broadcast::error::RecvError>,
    ),
    Tick,
    FromClient(Option<Result<Message, axum::Error>>),
}

impl Client {
    async fn run(mut self) {
        let mut shutdown = self.st.ctx.shutdown.subscribe();
        let mut tick = tokio::time::interval(STATS_EVERY);
        loop {
            let wake = tokio::select! {
                _ = crate::api::until_shutdown(&mut shutdown) => Wake::Shutdown,
                ev = recv(&mut self.sub) => Wake::Event(ev),
                i = recv_incident(&mut self.incidents) => Wake::Incident(i),
                _ = tick.tick() => Wake::Tick,
                m = self.socket.recv() => Wake::FromClient(m),
            };
            let frames = match wake {
                Wake::Shutdown => {
                    let _ = self.socket.send(Message::Close(None)).await;
                    break;
                }
                Wake::FromClient(None | Some(Err(_)) | Some(Ok(Message::Close(_)))) => break,
                Wake::FromClient(Some(Ok(_))) => continue,
                Wake::Event(Ok(item)) => self.frames_of(item),
                Wake::Event(Err(tokio::sync::broadcast::error::RecvError::Lagged(n))) => {
                    self.missed(n)
                }
                Wake::Event(Err(_)) => break,
                Wake::Incident(Ok(i)) => vec![Frame::Own(json!({
                    "topic": "incident",
                    "data": crate::api::incidents::incident_proto(&i, crate::web::now_ns()),
                }))],
                Wake::Incident(Err(tokio::sync::broadcast::error::RecvError::Lagged(n))) => {
                    self.missed(n)
                }
                Wake::Incident(Err(_)) => {
                    self.incidents = None;
                    continue;
                }
                Wake::Tick => self.on_tick().await,
            };
            let mut frames = frames;
            if self.sub.is_some() {
                let total = self.st.hub.missed.load(Ordering::Relaxed);
                if total > self.hub_missed {
                    frames.extend(self.missed(total - self.hub_missed));
                    self.hub_missed = total;
                }
            }
            if !self.send_all(frames, &mut shutdown).await {
                break;
            }
        }
    }

    /// The frames of one item after the filter.
    fn frames_of(&self, item: Item) -> Vec<Frame> {
        match item {
            Item::Alert(a, text) if self.filter.alerts && self.filter.keeps(&a) => {
                vec![Frame::Shared(text)]
            }
            Item::Hit(text) if self.filter.intel_hits => vec![Frame::Shared(text)],
            _ => Vec::new(),
        }
    }

    /// The `missed` frame, counted.
    fn missed(&self, n: u64) -> Vec<Frame> {
        self.st.counters.ws_missed.fetch_add(n, Ordering::Relaxed);
        vec![Frame::Own(
            json!({ "topic": "missed", "data": { "count": n } }),
        )]
    }

    async fn on_tick(&mut self) -> Vec<Frame> {
        if !self.filter.stats {
            return Vec::new();
        }
        let st = self.st.clone();
        vec![Frame::Own(
            match crate::web::rest::system::stats_of(&st, &self.caller).await {
                Ok(s) => json!({ "topic": "stats", "data": s }),
                Err(e) => json!({ "topic": "error", "data": e.body()["error"] }),
            },
        )]
    }

    /// Sends `frames`; false when the client is gone or the appliance stops.
    async fn send_all(
        &mut self,
        frames: Vec<Frame>,
        shutdown: &mut tokio::sync::watch::Receiver<bool>,
    ) -> bool {
        for f in frames {
            let text = match f {
                Frame::Shared(t) => axum::extract::ws::Utf8Bytes::from(&*t),
                Frame::Own(v) => v.to_string().into(),
            };
            tokio::select! {
                r = self.socket.send(Message::Text(text)) => {
                    if r.is_err() {
                        return false;
                    }
                    self.st.counters.ws_sent.fetch_add(1, Ordering::Relaxed);
                }
                _ = crate::api::until_shutdown(shutdown) => return false,
            }
        }
        true
    }
}

/// A frame to send: one the hub rendered for every client, or this client's own.
enum Frame {
    Shared(Arc<str>),
    Own(serde_json::Value),
}

async fn recv(
    sub: &mut Option<tokio::sync::broadcast::Receiver<Item>>,
) -> Result<Item, tokio::sync::broadcast::error::RecvError> {
    match sub {
        Some(s) => s.recv().await,
        None => std::future::pending().await,
    }
}

async fn recv_incident(
    rx: &mut Option<tokio::sync::broadcast::Receiver<Arc<crate::incidents::incident::Incident>>>,
) -> Result<Arc<crate::incidents::incident::Incident>, tokio::sync::broadcast::error::RecvError> {
    match rx {
        Some(r) => r.recv().await,
        None => std::future::pending().await,
    }
}

pub fn routes() -> Vec<Route> {
    vec![Route::new(Method::GET, "/api/v1/stream", "WebSocket: live alerts, incidents, stats (1/s) and intel hits, filtered; `missed` frames say how many events this client's full queue left out.", stream)
        .params(PARAMS)
        .answer(Answer::Upgrade)]
}
