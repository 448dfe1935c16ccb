//! The live event stream: the one seam between ingest and everything that reacts to records.
//!
//! Ingest publishes each record once, after it is stored (an alert carries its id by then):
//! [`Event::Alert`], [`Event::Flow`], and [`Event::Records`] for the lines the workers
//! rendered that are not stored (app-layer transactions, anomalies). Every consumer (the EVE
//! output, the API's live tail; later correlation, WebSocket and the fleet publisher)
//! subscribes with [`Bus::subscribe`] and gets its own bounded queue, so consumers never wait
//! for each other. What happens when a queue is full is the consumer's [`Policy`]:
//!
//! - [`Policy::Drop`]: the event is not queued for that consumer and its `dropped` counter
//!   grows. A slow tail never slows ingest, nor storage.
//! - [`Policy::Wait`]: the publisher waits for room and counts a `wait`. Only for consumers
//!   that promise every record (the EVE file, which equals `osprey replay --eve`): their
//!   queue absorbs short stalls, a long one holds ingest up, which then pushes back on the
//!   worker rings (counted there) exactly as a slow store does.
//!
//! Storage is not behind the stream but at its head: the write assigns the ids and is what
//! "acknowledged" means, so nothing is published that is not stored, and no consumer can make
//! storage lose a record. Per-consumer counters (by name, summed over that consumer's
//! subscriptions) are in [`Bus::counters`], shown as `events.<name>.*` by the API and
//! Prometheus.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use tokio::sync::mpsc::error::TrySendError;

use crate::model::{Alert, FlowRecord};

/// One record on the stream.
#[derive(Clone, Debug)]
pub enum Event {
    /// A stored alert (with its id).
    Alert(Arc<Alert>),
    /// A stored flow record.
    Flow(Arc<FlowRecord>),
    /// Complete, newline-terminated EVE lines the workers rendered (transactions,
    /// anomalies), in the order they were drained. Not stored.
    Records(Arc<[u8]>),
}

impl Event {
    fn kind(&self) -> Interest {
        match self {
            Event::Alert(_) => Interest::ALERTS,
            Event::Flow(_) => Interest::FLOWS,
            Event::Records(_) => Interest::RECORDS,
        }
    }
}

/// Which kinds of [`Event`] a consumer receives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Interest(u8);

impl Interest {
    pub const ALERTS: Interest = Interest(1);
    pub const FLOWS: Interest = Interest(2);
    pub const RECORDS: Interest = Interest(4);
    pub const ALL: Interest = Interest(7);

    /// Both sets.
    pub const fn or(self, other: Interest) -> Interest {
        Interest(self.0 | other.0)
    }

    /// True when the sets share a kind.
    pub const fn has(self, other: Interest) -> bool {
        self.0 & other.0 != 0
    }
}

/// What publishing does when a consumer's queue is full.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    /// Leave the event out for this consumer and count it as dropped.
    Drop,
    /// Wait for room (the publisher is a plain thread, never an async task).
    Wait,
}

/// Counters of one named consumer, over all its subscriptions.
#[derive(Debug, Default)]
pub struct ConsumerCounters {
    /// Events queued for the consumer.
    pub delivered: AtomicU64,
    /// Events left out because its queue was full ([`Policy::Drop`]).
    pub dropped: AtomicU64,
    /// Times the publisher waited for room ([`Policy::Wait`]).
    pub waits: AtomicU64,
    /// Subscriptions open now.
    pub subscribers: AtomicU64,
}

/// The receiving end of one subscription. Dropping it unsubscribes.
#[derive(Debug)]
pub struct Subscription {
    rx: tokio::sync::mpsc::Receiver<Event>,
    counters: Arc<ConsumerCounters>,
    /// Events left out of this subscription's queue since [`Subscription::take_dropped`].
    dropped: Arc<AtomicU64>,
}

/// What [`Subscription::recv_within`] got.
#[derive(Debug)]
pub enum Next {
    Event(Event),
    /// Nothing within the wait.
    Idle,
    /// The bus is closed and the queue empty.
    Closed,
}

impl Subscription {
    /// The next event; `None` once the bus is closed and the queue is empty.
    pub async fn recv(&mut self) -> Option<Event> {
        self.rx.recv().await
    }

    /// Like [`Subscription::recv`], for a consumer on its own thread (not in async code).
    pub fn blocking_recv(&mut self) -> Option<Event> {
        self.rx.blocking_recv()
    }

    /// The next event if one is queued.
    pub fn try_recv(&mut self) -> Option<Event> {
        self.rx.try_recv().ok()
    }

    /// Like [`Subscription::blocking_recv`], waiting at most about `wait` (it looks every
    /// few milliseconds), for a consumer that also has timed work of its own.
    pub fn recv_within(&mut self, wait: std::time::Duration) -> Next {
        const LOOK: std::time::Duration = std::time::Duration::from_millis(5);
        let until = std::time::Instant::now() + wait;
        loop {
            match self.rx.try_recv() {
                Ok(ev) => return Next::Event(ev),
                Err(tokio::sync::mpsc::error::TryRecvError::Disconnected) => return Next::Closed,
                Err(tokio::sync::mpsc::error::TryRecvError::Empty) => {}
            }
            if std::time::Instant::now() >= until {
                return Next::Idle;
            }
            std::thread::sleep(LOOK);
        }
    }

    /// This consumer's counters.
    pub fn counters(&self) -> &ConsumerCounters {
        &self.counters
    }

    /// Events this subscription missed (its queue full, [`Policy::Drop`]) since the last
    /// call: what one client of a consumer with many (the console's WebSockets) is told.
    pub fn take_dropped(&self) -> u64 {
        self.dropped.swap(0, Ordering::Relaxed)
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.counters.subscribers.fetch_sub(1, Ordering::Relaxed);
    }
}

struct Slot {
    tx: tokio::sync::mpsc::Sender<Event>,
    interest: Interest,
    policy: Policy,
    counters: Arc<ConsumerCounters>,
    dropped: Arc<AtomicU64>,
}

/// The stream: publishers call [`Bus::publish`], consumers [`Bus::subscribe`].
#[derive(Default)]
pub struct Bus {
    slots: RwLock<Vec<Slot>>,
    /// Kinds at least one open subscription wants (an [`Interest`] mask).
    wanted: std::sync::atomic::AtomicU8,
    consumers: Mutex<Vec<(String, Arc<ConsumerCounters>)>>,
    published: AtomicU64,
}

impl std::fmt::Debug for Bus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bus")
            .field("published", &self.published)
            .finish_non_exhaustive()
    }
}

impl Bus {
    pub fn new() -> Self {
        Self::default()
    }

    /// Opens a subscription of consumer `name` to the `interest` kinds, with a queue of
    /// `capacity` events (at least 1) handled by `policy` when full.
    pub fn subscribe(
        &self,
        name: &str,
        interest: Interest,
        policy: Policy,
        capacity: usize,
    ) -> Subscription {
        let counters = self.register(name);
        counters.subscribers.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = tokio::sync::mpsc::channel(capacity.max(1));
        let dropped = Arc::new(AtomicU64::new(0));
        let mut slots = self.slots.write().unwrap_or_else(|p| p.into_inner());
        slots.push(Slot {
            tx,
            interest,
            policy,
            counters: counters.clone(),
            dropped: dropped.clone(),
        });
        self.wanted.fetch_or(interest.0, Ordering::Release);
        Subscription {
            rx,
            counters,
            dropped,
        }
    }

    /// The counters of consumer `name`, created (at zero) if it never subscribed: a consumer
    /// that comes and goes (the API's tails) is registered at start so that its counters are
    /// shown before its first subscription.
    pub fn register(&self, name: &str) -> Arc<ConsumerCounters> {
        let mut c = self.consumers.lock().unwrap_or_else(|p| p.into_inner());
        match c.iter().find(|(n, _)| n == name) {
            Some((_, k)) => k.clone(),
            None => {
                let k = Arc::new(ConsumerCounters::default());
                c.push((name.to_owned(), k.clone()));
                k
            }
        }
    }

    /// True when an open subscription wants events of `kind`: publishers skip building
    /// events nobody receives.
    pub fn wants(&self, kind: Interest) -> bool {
        kind.has(Interest(self.wanted.load(Ordering::Acquire)))
    }

    /// Queues `ev` for every subscription that wants its kind, each by its policy. Must not
    /// be called from async code ([`Policy::Wait`] blocks the calling thread).
    pub fn publish(&self, ev: Event) {
        let kind = ev.kind();
        if !self.wants(kind) {
            return;
        }
        self.published.fetch_add(1, Ordering::Relaxed);
        let mut closed = false;
        // Full queues of waiting consumers: waited on after the lock is released, so that
        // subscribing (an API call) never waits for a slow consumer.
        let mut full: Vec<(
            tokio::sync::mpsc::Sender<Event>,
            Arc<ConsumerCounters>,
            Event,
        )> = Vec::new();
        {
            let slots = self.slots.read().unwrap_or_else(|p| p.into_inner());
            for s in slots.iter().filter(|s| s.interest.has(kind)) {
                match offer(s, ev.clone()) {
                    Offer::Done => {}
                    Offer::Closed => closed = true,
                    Offer::Full(ev) => full.push((s.tx.clone(), s.counters.clone(), ev)),
                }
            }
        }
        for (tx, c, ev) in full {
            c.waits.fetch_add(1, Ordering::Relaxed);
            if tx.blocking_send(ev).is_ok() {
                c.delivered.fetch_add(1, Ordering::Relaxed);
            } else {
                closed = true;
            }
        }
        if closed {
            self.remove_closed();
        }
    }

    /// Ends every subscription: consumers receive what is queued, then `None`.
    pub fn close(&self) {
        self.slots
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
        self.wanted.store(0, Ordering::Release);
    }

    fn remove_closed(&self) {
        let mut slots = self.slots.write().unwrap_or_else(|p| p.into_inner());
        slots.retain(|s| !s.tx.is_closed());
        let mask = slots.iter().fold(0, |m, s| m | s.interest.0);
        self.wanted.store(mask, Ordering::Release);
    }

    /// Events published (to at least one interested subscription).
    pub fn published(&self) -> u64 {
        self.published.load(Ordering::Relaxed)
    }

    /// Every consumer seen so far, by name, in subscription order.
    pub fn counters(&self) -> Vec<(String, Arc<ConsumerCounters>)> {
        self.consumers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The counters of consumer `name`, if it ever subscribed.
    pub fn consumer(&self, name: &str) -> Option<Arc<ConsumerCounters>> {
        self.counters()
            .into_iter()
            .find(|(n, _)| n == name)
            .map(|(_, c)| c)
    }
}

/// What [`offer`] did with an event.
enum Offer {
    /// Queued, or dropped and counted.
    Done,
    /// The consumer is gone.
    Closed,
    /// The queue of a waiting consumer is full: the event is handed back.
    Full(Event),
}

/// Queues `ev` for one subscription if there is room; a dropping consumer's full queue
/// counts the event as dropped.
fn offer(s: &Slot, ev: Event) -> Offer {
    let c = &s.counters;
    match s.tx.try_send(ev) {
        Ok(()) => {
            c.delivered.fetch_add(1, Ordering::Relaxed);
            Offer::Done
        }
        Err(TrySendError::Closed(_)) => Offer::Closed,
        Err(TrySendError::Full(ev)) => match s.policy {
            Policy::Drop => {
                c.dropped.fetch_add(1, Ordering::Relaxed);
                s.dropped.fetch_add(1, Ordering::Relaxed);
                Offer::Done
            }
            Policy::Wait => Offer::Full(ev),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(id: u64) -> Event {
        Event::Alert(Arc::new(Alert {
            id,
            ..Alert::default()
        }))
    }

    fn id(ev: Event) -> u64 {
        match ev {
            Event::Alert(a) => a.id,
            other => panic!("not an alert: {other:?}"),
        }
    }

    #[test]
    fn a_full_dropping_consumer_loses_only_its_own_events() {
        let bus = Bus::new();
        let mut slow = bus.subscribe("tail", Interest::ALERTS, Policy::Drop, 2);
        let mut fast = bus.subscribe("eve", Interest::ALL, Policy::Wait, 16);
        for i in 1..=5 {
            bus.publish(alert(i));
        }
        let got: Vec<u64> = std::iter::from_fn(|| fast.try_recv()).map(id).collect();
        assert_eq!(got, vec![1, 2, 3, 4, 5]);
        let got: Vec<u64> = std::iter::from_fn(|| slow.try_recv()).map(id).collect();
        assert_eq!(got, vec![1, 2]);
        assert_eq!(slow.take_dropped(), 3);
        assert_eq!(slow.take_dropped(), 0);
        assert_eq!(fast.take_dropped(), 0);
        let tail = bus.consumer("tail").unwrap();
        assert_eq!(tail.dropped.load(Ordering::Relaxed), 3);
        assert_eq!(tail.delivered.load(Ordering::Relaxed), 2);
        assert_eq!(
            bus.consumer("eve").unwrap().dropped.load(Ordering::Relaxed),
            0
        );
        assert_eq!(bus.published(), 5);
    }

    #[test]
    fn a_waiting_consumer_gets_everything_in_order() {
        let bus = Arc::new(Bus::new());
        let mut sub = bus.subscribe("eve", Interest::ALL, Policy::Wait, 1);
        let b = bus.clone();
        let publisher = std::thread::spawn(move || {
            for i in 1..=200 {
                b.publish(alert(i));
            }
            b.close();
        });
        let mut got = Vec::new();
        while let Some(ev) = sub.blocking_recv() {
            got.push(id(ev));
        }
        publisher.join().unwrap();
        assert_eq!(got, (1..=200).collect::<Vec<_>>());
        let c = bus.consumer("eve").unwrap();
        assert_eq!(c.delivered.load(Ordering::Relaxed), 200);
        assert!(c.waits.load(Ordering::Relaxed) > 0);
    }

    #[test]
    fn kinds_nobody_wants_are_not_published_and_leavers_are_forgotten() {
        let bus = Bus::new();
        let records = bus.subscribe("records", Interest::RECORDS, Policy::Drop, 4);
        assert!(bus.wants(Interest::RECORDS));
        assert!(!bus.wants(Interest::ALERTS.or(Interest::FLOWS)));
        bus.publish(alert(1));
        assert_eq!(bus.published(), 0);
        drop(records);
        bus.publish(Event::Records(Arc::from(&b"{}\n"[..])));
        // The closed subscription is noticed on the first publish and removed.
        assert!(!bus.wants(Interest::RECORDS));
        let c = bus.consumer("records").unwrap();
        assert_eq!(c.subscribers.load(Ordering::Relaxed), 0);
        assert_eq!(c.delivered.load(Ordering::Relaxed), 0);
    }
}
