//! Throughput samples: every `[reports] sample_secs` the appliance's cumulative counters
//! (packets, bytes, alerts, drops summed over workers) are stored with the wall-clock time,
//! so a report can chart traffic volume and the appliance's own speed over any range.
//! Samples older than `[storage] max_age_secs` are deleted as new ones are stored.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;

use super::Sample;
use crate::seams::{Appliance, StatsSnapshot};
use crate::store::Store;

/// Counters summed into a sample's fields.
const PACKETS: &str = "decoder.pkts";
const BYTES: &str = "decoder.bytes";
const ALERTS: &str = "detect.alerts";
const DROPS: &str = "capture.kernel_drops";

/// The sample of `stats` at `ts_ns`.
pub fn sample(stats: &StatsSnapshot, ts_ns: u64) -> Sample {
    let mut s = Sample {
        ts_ns,
        ..Sample::default()
    };
    for (name, v) in stats.totals() {
        match name.as_str() {
            PACKETS => s.packets = v,
            BYTES => s.bytes = v,
            ALERTS => s.alerts = v,
            DROPS => s.drops = v,
            _ => {}
        }
    }
    s
}

fn wall_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// Stores a sample every `every` (the first at once) until shutdown.
pub fn spawn(
    store: Arc<Store>,
    appliance: Arc<dyn Appliance>,
    every: Duration,
    max_age: Duration,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = shutdown.wait_for(|s| *s) => return,
            }
            let (st, ap) = (store.clone(), appliance.clone());
            let res = tokio::task::spawn_blocking(move || {
                let now = wall_ns();
                let oldest = if max_age.is_zero() {
                    0
                } else {
                    now.saturating_sub(max_age.as_nanos() as u64)
                };
                st.put_sample(&sample(&ap.stats(), now), oldest)
            })
            .await;
            if let Ok(Err(e)) = res {
                tracing::warn!(error = %e, "storing a throughput sample failed");
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seams::WorkerStats;

    #[test]
    fn a_sample_sums_the_workers() {
        let w = |p: u64, a: u64| WorkerStats {
            worker: "w".into(),
            counters: vec![
                (PACKETS.into(), p),
                (BYTES.into(), p * 100),
                (ALERTS.into(), a),
                ("flow.memcap".into(), 9),
            ],
        };
        let s = sample(
            &StatsSnapshot {
                workers: vec![w(5, 1), w(7, 2)],
            },
            42,
        );
        assert_eq!(
            s,
            Sample {
                ts_ns: 42,
                packets: 12,
                bytes: 1200,
                alerts: 3,
                drops: 0
            }
        );
    }
}
