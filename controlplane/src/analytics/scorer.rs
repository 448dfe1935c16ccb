//! Scoring off the ingest path: flows are offered to a bounded queue and scored by a thread
//! of their own (on the management cores); a full queue drops the flow's score and counts it,
//! so a slow model never slows ingest. The model learns online from every flow it scores.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use super::features::FlowSample;
use super::model::{AnomalyModel, Score};

/// The scorer's counters (`analytics.*`).
#[derive(Debug, Default)]
pub struct ScorerCounters {
    /// Flows scored.
    pub scored: AtomicU64,
    /// Flows whose score was dropped: the queue was full.
    pub dropped: AtomicU64,
    /// Flows refused: a feature was not finite.
    pub refused: AtomicU64,
    /// Flows waiting in the queue.
    pub queue_depth: AtomicU64,
}

impl ScorerCounters {
    /// Visits the counters by name.
    pub fn visit(&self, f: &mut dyn FnMut(&'static str, u64)) {
        f("analytics.scored", self.scored.load(Relaxed));
        f("analytics.dropped", self.dropped.load(Relaxed));
        f("analytics.refused", self.refused.load(Relaxed));
        f("analytics.queue_depth", self.queue_depth.load(Relaxed));
    }
}

/// A scored flow.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Scored {
    /// The flow's id.
    pub flow_id: u64,
    /// Its score.
    pub score: Score,
}

/// The handle ingest offers flows to.
#[derive(Clone, Debug)]
pub struct Scorer {
    tx: SyncSender<(u64, FlowSample)>,
    counters: Arc<ScorerCounters>,
    recent: Arc<Mutex<VecDeque<Scored>>>,
}

impl Scorer {
    /// Starts the scoring thread with `model`, a queue of `queue` flows, and the last
    /// `keep` scores kept for the API.
    pub fn spawn(model: AnomalyModel, queue: usize, keep: usize) -> (Scorer, JoinHandle<()>) {
        let (tx, rx) = sync_channel(queue.max(1));
        let counters = Arc::new(ScorerCounters::default());
        let recent = Arc::new(Mutex::new(VecDeque::with_capacity(keep)));
        let (c, r) = (counters.clone(), recent.clone());
        let join = std::thread::Builder::new()
            .name("osprey-score".into())
            .spawn(move || run(model, rx, &c, &r, keep))
            .expect("spawning the scoring thread");
        (
            Scorer {
                tx,
                counters,
                recent,
            },
            join,
        )
    }

    /// Offers a flow; false (and counted) when the queue is full or the scorer stopped.
    pub fn offer(&self, flow_id: u64, s: FlowSample) -> bool {
        self.counters.queue_depth.fetch_add(1, Relaxed);
        match self.tx.try_send((flow_id, s)) {
            Ok(()) => true,
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.counters.queue_depth.fetch_sub(1, Relaxed);
                self.counters.dropped.fetch_add(1, Relaxed);
                false
            }
        }
    }

    /// The counters.
    pub fn counters(&self) -> &ScorerCounters {
        &self.counters
    }

    /// The most recent scores, newest last.
    pub fn recent(&self) -> Vec<Scored> {
        let r = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        r.iter().copied().collect()
    }
}

fn run(
    mut model: AnomalyModel,
    rx: Receiver<(u64, FlowSample)>,
    c: &ScorerCounters,
    recent: &Mutex<VecDeque<Scored>>,
    keep: usize,
) {
    // Ends when every `Scorer` is dropped.
    while let Ok((flow_id, s)) = rx.recv() {
        c.queue_depth.fetch_sub(1, Relaxed);
        match model.score(&s) {
            Ok(score) => {
                let _ = model.learn(&s);
                if let Some(score) = score {
                    c.scored.fetch_add(1, Relaxed);
                    let mut r = recent.lock().unwrap_or_else(|e| e.into_inner());
                    if r.len() >= keep {
                        r.pop_front();
                    }
                    if keep > 0 {
                        r.push_back(Scored { flow_id, score });
                    }
                }
            }
            Err(_) => {
                c.refused.fetch_add(1, Relaxed);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analytics::hst::Params;

    #[test]
    fn a_full_queue_drops_and_counts() {
        // A model that is slow enough: a deep forest, a queue of one.
        let p = Params {
            trees: 64,
            depth: 14,
            window: 4,
            seed: 1,
        };
        let (scorer, join) = Scorer::spawn(AnomalyModel::new(p), 1, 8);
        let offered = 2000u64;
        let accepted = (0..offered)
            .filter(|&i| scorer.offer(i, FlowSample::default()))
            .count() as u64;
        let c = scorer.counters();
        assert!(c.dropped.load(Relaxed) > 0);
        assert_eq!(c.dropped.load(Relaxed), offered - accepted);
        let mut bad = FlowSample::default();
        bad.features.iat_us[1].mean = f64::INFINITY;
        let recent = scorer.recent.clone();
        let counters = scorer.counters.clone();
        // Past the warm-up (a window of 4) whatever was dropped, then the bad flow; each
        // offered until the queue has room.
        for i in 0..20 {
            while !scorer.offer(i, FlowSample::default()) {}
        }
        while !scorer.offer(u64::MAX, bad) {}
        drop(scorer);
        join.join().unwrap();
        assert_eq!(counters.refused.load(Relaxed), 1);
        assert_eq!(counters.queue_depth.load(Relaxed), 0);
        let n = recent.lock().unwrap().len() as u64;
        assert!(n > 0 && n <= 8);
        assert!(counters.scored.load(Relaxed) <= accepted + 20);
    }
}
