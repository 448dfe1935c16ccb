//! Immutable snapshots the control plane publishes to a worker: rule engines today, and any
//! other table a worker reads on its hot path (block lists, indicator tables).
//!
//! The control plane builds a snapshot off the hot path, then [`Slot::publish`]es it with a
//! higher generation. The worker checks [`Slot::offered`] once per poll (one relaxed atomic
//! load, nothing per packet); only when it changed does it [`Slot::take`] the snapshot from the
//! mutex-protected mailbox (`try_lock`: the worker never waits, it retries next poll), swaps it
//! in between bursts and [`Slot::confirm`]s the generation it runs, which the control plane
//! reads back in [`Slot::active`] (a reload is complete when every worker confirmed it).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// One worker's mailbox for snapshots of `T`.
#[derive(Debug)]
pub struct Slot<T> {
    offered: AtomicU64,
    pending: Mutex<Option<(u64, Arc<T>)>>,
    active: AtomicU64,
    /// Swaps that failed (the worker could not adopt the snapshot); the old one kept running.
    failed: AtomicU64,
}

/// What [`Slot::take`] found.
pub enum Offer<T> {
    /// The mailbox is busy (a publish is under way): look again next poll.
    None,
    /// The mailbox was already emptied: remember this generation as seen.
    CatchUp(u64),
    /// A new snapshot and its generation.
    New(u64, Arc<T>),
}

impl<T> Slot<T> {
    /// A slot whose worker starts on `generation` (the snapshot in its start-up config).
    pub fn new(generation: u64) -> Self {
        Slot {
            offered: AtomicU64::new(generation),
            pending: Mutex::new(None),
            active: AtomicU64::new(generation),
            failed: AtomicU64::new(0),
        }
    }

    /// Offers `snapshot` as `generation`; the worker swaps it in at its next burst boundary.
    pub fn publish(&self, generation: u64, snapshot: Arc<T>) {
        let mut g = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        *g = Some((generation, snapshot));
        self.offered.store(generation, Ordering::Release);
    }

    /// Generation last offered.
    pub fn offered(&self) -> u64 {
        self.offered.load(Ordering::Acquire)
    }

    /// Generation the worker runs (confirmed at a burst boundary).
    pub fn active(&self) -> u64 {
        self.active.load(Ordering::Acquire)
    }

    /// Swaps that failed.
    pub fn failed(&self) -> u64 {
        self.failed.load(Ordering::Relaxed)
    }

    /// Whether a generation other than `seen` was offered: one relaxed load, for every poll.
    #[inline]
    pub fn changed(&self, seen: u64) -> bool {
        self.offered.load(Ordering::Relaxed) != seen
    }

    /// Takes the offered snapshot without waiting (worker side; call when [`Slot::changed`]).
    #[cold]
    pub fn take(&self) -> Offer<T> {
        let Ok(mut g) = self.pending.try_lock() else {
            return Offer::None;
        };
        match g.take() {
            Some((generation, snapshot)) => Offer::New(generation, snapshot),
            None => Offer::CatchUp(self.offered.load(Ordering::Acquire)),
        }
    }

    /// The worker runs `generation` now.
    pub fn confirm(&self, generation: u64) {
        self.active.store(generation, Ordering::Release);
    }

    /// The worker could not adopt the last snapshot; the previous one keeps running.
    pub fn fail(&self) {
        self.failed.fetch_add(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offered_snapshot_is_taken_once_and_confirmed() {
        let slot = Slot::new(1);
        assert!(!slot.changed(1));
        slot.publish(2, Arc::new("two"));
        assert!(slot.changed(1));
        let Offer::New(generation, s) = slot.take() else {
            panic!("expected the offered snapshot");
        };
        assert_eq!((generation, *s), (2, "two"));
        assert_eq!(slot.active(), 1, "not confirmed yet");
        slot.confirm(generation);
        assert_eq!(slot.active(), 2);
        assert!(matches!(slot.take(), Offer::CatchUp(2)));
    }

    #[test]
    fn a_busy_mailbox_is_retried_not_skipped() {
        let slot = Arc::new(Slot::new(1));
        slot.publish(2, Arc::new(2u32));
        let held = slot.pending.lock().unwrap();
        assert!(
            matches!(slot.take(), Offer::None),
            "busy: look again next poll"
        );
        drop(held);
        assert!(matches!(slot.take(), Offer::New(2, _)));
    }
}
