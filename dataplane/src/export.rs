//! Records leaving a worker: one bounded single-producer/single-consumer ring per worker and
//! record kind, drained by the control plane. The worker never blocks: a full ring drops the
//! record and counts it (`overflow`), so a slow consumer costs records, never packets.
//!
//! Records are fixed-size values written into preallocated slots (no allocation per push).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crossbeam::queue::ArrayQueue;

struct Shared<T> {
    queue: ArrayQueue<T>,
    /// Records dropped because the ring was full (written by the producer, read by anyone).
    overflow: AtomicU64,
}

/// The worker's end of a ring.
pub struct Producer<T> {
    shared: Arc<Shared<T>>,
    overflow: u64,
}

/// The control plane's end of a ring.
pub struct Consumer<T> {
    shared: Arc<Shared<T>>,
}

impl<T> std::fmt::Debug for Producer<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Producer(cap {})", self.shared.queue.capacity())
    }
}

impl<T> std::fmt::Debug for Consumer<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Consumer(len {})", self.shared.queue.len())
    }
}

/// A ring of `capacity` records (at least 1).
pub fn ring<T>(capacity: usize) -> (Producer<T>, Consumer<T>) {
    let shared = Arc::new(Shared {
        queue: ArrayQueue::new(capacity.max(1)),
        overflow: AtomicU64::new(0),
    });
    (
        Producer {
            shared: shared.clone(),
            overflow: 0,
        },
        Consumer { shared },
    )
}

impl<T> Producer<T> {
    /// Pushes a record; on a full ring drops it, counts it and returns false.
    #[inline]
    pub fn push(&mut self, record: T) -> bool {
        match self.shared.queue.push(record) {
            Ok(()) => true,
            Err(_) => {
                self.overflow += 1;
                // Relaxed store of the producer's own count: no read-modify-write on the hot
                // path, and readers only need an eventually consistent value.
                self.shared.overflow.store(self.overflow, Ordering::Relaxed);
                false
            }
        }
    }

    /// Records dropped so far.
    pub fn overflow(&self) -> u64 {
        self.overflow
    }

    /// Records waiting in the ring.
    pub fn len(&self) -> usize {
        self.shared.queue.len()
    }

    /// True when the ring is empty.
    pub fn is_empty(&self) -> bool {
        self.shared.queue.is_empty()
    }
}

impl<T> Consumer<T> {
    /// Takes the oldest record.
    #[inline]
    pub fn pop(&mut self) -> Option<T> {
        self.shared.queue.pop()
    }

    /// Takes up to `max` records into `f`; returns how many.
    pub fn drain(&mut self, max: usize, mut f: impl FnMut(T)) -> usize {
        let mut n = 0;
        while n < max {
            match self.shared.queue.pop() {
                Some(r) => {
                    f(r);
                    n += 1;
                }
                None => break,
            }
        }
        n
    }

    /// Records the producer dropped so far.
    pub fn overflow(&self) -> u64 {
        self.shared.overflow.load(Ordering::Relaxed)
    }

    /// Records waiting.
    pub fn len(&self) -> usize {
        self.shared.queue.len()
    }

    /// True when nothing waits.
    pub fn is_empty(&self) -> bool {
        self.shared.queue.is_empty()
    }

    /// True once the producer is gone and nothing is left.
    pub fn is_finished(&self) -> bool {
        Arc::strong_count(&self.shared) == 1 && self.shared.queue.is_empty()
    }
}

/// Renders one alert as Suricata's EVE `alert` event.
pub fn eve_alert(engine: &rules::Engine, r: &crate::worker::AlertRecord) -> serde_json::Value {
    use crate::detect::AlertAction;
    let ev = &r.event;
    let c = &r.ctx;
    let rule = engine.rules.get(ev.rule as usize);
    let msg = rule.map_or("", |r| r.meta.msg.as_str());
    let severity = rule.map_or(3, |r| {
        if r.meta.priority == 0 {
            3
        } else {
            r.meta.priority
        }
    });
    let proto = match c.proto {
        6 => "TCP".to_string(),
        17 => "UDP".to_string(),
        1 => "ICMP".to_string(),
        58 => "IPv6-ICMP".to_string(),
        n => n.to_string(),
    };
    let mut v = serde_json::json!({
        "timestamp": crate::flow::eve_timestamp(ev.ts),
        "flow_id": c.flow_id,
        "pcap_cnt": c.pcap_cnt,
        "event_type": "alert",
        "src_ip": c.src.to_string(),
        "src_port": c.src_port,
        "dest_ip": c.dst.to_string(),
        "dest_port": c.dst_port,
        "proto": proto,
        "alert": {
            "action": match ev.action { AlertAction::Allowed => "allowed", AlertAction::Blocked => "blocked" },
            "gid": ev.gid,
            "signature_id": ev.sid,
            "rev": ev.rev,
            "signature": msg,
            "category": rule.map_or("", |r| engine.category(r)),
            "severity": severity,
        },
    });
    if let Some(app) = c.app_proto {
        v["app_proto"] = app.into();
    }
    if c.flow_id == 0 {
        if let Some(m) = v.as_object_mut() {
            m.remove("flow_id");
        }
    }
    // No IP layer decoded: no addresses, ports or protocol, as Suricata writes it.
    if c.proto == 0 && c.src.is_unspecified() && c.dst.is_unspecified() {
        if let Some(m) = v.as_object_mut() {
            for k in ["src_ip", "src_port", "dest_ip", "dest_port", "proto"] {
                m.remove(k);
            }
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_ring_drops_and_counts_without_blocking() {
        let (mut p, mut c) = ring::<u32>(4);
        for i in 0..10 {
            p.push(i);
        }
        assert_eq!(p.overflow(), 6);
        assert_eq!(c.overflow(), 6);
        let mut got = Vec::new();
        c.drain(100, |r| got.push(r));
        assert_eq!(got, vec![0, 1, 2, 3]);
        assert!(!c.is_finished());
        drop(p);
        assert!(c.is_finished());
    }

    #[test]
    fn records_cross_threads_in_order() {
        let (mut p, mut c) = ring::<u64>(1024);
        let t = std::thread::spawn(move || {
            let mut sent = 0u64;
            let mut i = 0u64;
            while sent < 100_000 {
                if p.push(i) {
                    sent += 1;
                    i += 1;
                } else {
                    std::thread::yield_now();
                }
            }
            p.overflow()
        });
        let mut next = 0u64;
        while next < 100_000 {
            if let Some(v) = c.pop() {
                assert_eq!(v, next);
                next += 1;
            }
        }
        let dropped = t.join().unwrap();
        // Every drop was retried by this producer, so none is lost from the sequence.
        assert_eq!(next, 100_000);
        assert_eq!(c.overflow(), dropped);
    }
}
