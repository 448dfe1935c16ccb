//! Outputs of the records ingest publishes: the EVE JSON file ([`eve`]) and EVE over syslog
//! to a SIEM ([`syslog`]), each written by its own thread from a subscription to the live
//! event stream ([`crate::events`]).

pub mod eve;
pub mod syslog;
pub mod webhook;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;

use crate::events::{Bus, Event, Interest, Policy, Subscription};
use crate::ingest::IngestShared;
use eve::EveWriter;

/// Events the EVE output may have queued before ingest waits for it.
pub const EVE_QUEUE: usize = 32_768;

/// The EVE file's thread (`osprey-eve`). It receives every stored alert and flow record and
/// every worker-rendered record, in the order ingest published them, and waits rather than
/// drops ([`Policy::Wait`]): the file holds every stored record, as `osprey replay --eve`
/// does.
#[derive(Debug)]
pub struct EveOutput {
    thread: Option<JoinHandle<()>>,
}

impl EveOutput {
    /// The output's subscription: take it before ingest starts publishing, so the file
    /// misses nothing.
    pub fn subscribe(bus: &Bus) -> Subscription {
        bus.subscribe("eve", Interest::ALL, Policy::Wait, EVE_QUEUE)
    }

    /// Starts the writing thread on `sub` (from [`EveOutput::subscribe`]). Write failures
    /// count in `ingest.eve_errors` of `shared`.
    pub fn start(
        writer: EveWriter,
        sub: Subscription,
        shared: Arc<IngestShared>,
    ) -> std::io::Result<EveOutput> {
        let thread = std::thread::Builder::new()
            .name("osprey-eve".into())
            .spawn(move || run(writer, sub, &shared))?;
        Ok(EveOutput {
            thread: Some(thread),
        })
    }

    /// Waits until the thread has written everything queued and flushed the file; returns
    /// once the bus is closed ([`Bus::close`]).
    pub fn join(&mut self) {
        if let Some(t) = self.thread.take() {
            if t.join().is_err() {
                tracing::error!("EVE output thread panicked");
            }
        }
    }
}

fn run(mut w: EveWriter, mut sub: Subscription, shared: &IngestShared) {
    let errors = &shared.counters.eve_errors;
    while let Some(ev) = sub.blocking_recv() {
        let mut next = Some(ev);
        while let Some(ev) = next {
            let r = match &ev {
                Event::Alert(a) => w.write_alert(a),
                Event::Flow(f) => w.write_flow(f),
                Event::Records(lines) => w.write_lines(lines),
            };
            if r.is_err() {
                errors.fetch_add(1, Ordering::Relaxed);
            }
            next = sub.try_recv();
        }
        // Queue empty: what was written reaches the file before the next wait.
        if w.flush().is_err() {
            errors.fetch_add(1, Ordering::Relaxed);
        }
    }
    let _ = w.flush();
}
