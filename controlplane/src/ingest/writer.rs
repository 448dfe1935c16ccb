//! The `osprey-store` threads: RocksDB writes of alert batches (and, on a thread of their
//! own, flow batches) beside the ingest thread, which never waits for storage longer than it
//! chooses to.

use std::sync::mpsc::RecvTimeoutError;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crate::model::{Alert, FlowRecord};
use crate::store::Store;

/// The thread that writes alert batches to the store, one batch at a time, so that the
/// ingest thread drains and enriches the next batch while RocksDB inserts the previous one
/// (the write is most of an alert's cost). At most one batch is in flight; its outcome comes
/// back with the batch, and only then is it acknowledged (counted, written to EVE, published).
pub(super) struct Writer<T> {
    tx: Option<std::sync::mpsc::SyncSender<Vec<T>>>,
    rx: std::sync::mpsc::Receiver<(Vec<T>, crate::error::Result<()>)>,
    pub(super) in_flight: bool,
    thread: Option<JoinHandle<()>>,
}

/// Writes alert batches.
pub(super) type AlertWriter = Writer<Alert>;
/// Writes flow batches.
pub(super) type FlowWriter = Writer<FlowRecord>;

impl AlertWriter {
    pub(super) fn start(store: Arc<Store>) -> std::io::Result<AlertWriter> {
        Writer::spawn("osprey-store", store, |s, b| s.append_alerts(b))
    }
}

impl FlowWriter {
    pub(super) fn start(store: Arc<Store>) -> std::io::Result<FlowWriter> {
        Writer::spawn("osprey-store-fl", store, |s, b| s.append_flows(b))
    }
}

impl<T: Send + 'static> Writer<T> {
    fn spawn(
        name: &str,
        store: Arc<Store>,
        write: fn(&Store, &mut [T]) -> crate::error::Result<()>,
    ) -> std::io::Result<Writer<T>> {
        let (tx, jobs) = std::sync::mpsc::sync_channel::<Vec<T>>(1);
        let (done, rx) = std::sync::mpsc::sync_channel(1);
        let thread = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                for mut batch in jobs {
                    let r = write(&store, &mut batch);
                    if done.send((batch, r)).is_err() {
                        break;
                    }
                }
            })?;
        Ok(Writer {
            tx: Some(tx),
            rx,
            in_flight: false,
            thread: Some(thread),
        })
    }

    /// Hands a batch to the writer; the previous one must have been collected.
    pub(super) fn submit(&mut self, batch: Vec<T>) -> std::result::Result<(), Vec<T>> {
        debug_assert!(!self.in_flight);
        let Some(tx) = &self.tx else {
            return Err(batch);
        };
        match tx.send(batch) {
            Ok(()) => {
                self.in_flight = true;
                Ok(())
            }
            Err(e) => Err(e.0),
        }
    }

    /// Collects the batch in flight, waiting at most `wait` for it (`None`: as long as it
    /// takes).
    pub(super) fn collect(&mut self, wait: Option<Duration>) -> Collected<T> {
        if !self.in_flight {
            return Collected::Idle;
        }
        let got = match wait {
            Some(d) => match self.rx.recv_timeout(d) {
                Ok(v) => Some(v),
                Err(RecvTimeoutError::Timeout) => return Collected::Pending,
                Err(RecvTimeoutError::Disconnected) => None,
            },
            None => self.rx.recv().ok(),
        };
        self.in_flight = false;
        match got {
            Some((batch, r)) => Collected::Done(batch, r),
            None => Collected::Idle,
        }
    }
}

/// What [`Writer::collect`] found.
pub(super) enum Collected<T> {
    /// No batch in flight (or the writer is gone).
    Idle,
    /// The batch is still being written.
    Pending,
    /// The batch and the outcome of its write.
    Done(Vec<T>, crate::error::Result<()>),
}

impl<T> Drop for Writer<T> {
    fn drop(&mut self) {
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
