//! Health of the appliance's parts, as `osprey ctl status`, the API's `Status` and
//! `/metrics` report it: each component is `ok` or `degraded`, with the reason and since when.
//!
//! A component is degraded while records are being lost or storage is not doing its job
//! (corruption found, background errors, writes refused or stalled). The data plane keeps
//! running in every case; the point is that nothing fails silently.

use std::sync::atomic::{AtomicU64, Ordering};

/// Whether a component does its job.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    Ok,
    /// Working with a loss or a fault that needs an operator.
    Degraded,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Ok => "ok",
            State::Degraded => "degraded",
        }
    }
}

/// The health of one component.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ComponentHealth {
    /// `storage`, `alerts`, ...
    pub component: &'static str,
    pub state: State,
    /// What is wrong and what to do; empty when ok.
    pub reason: String,
    /// Wall-clock time (ns since the epoch) the current state began; 0 when ok.
    pub since_nanos: u64,
}

impl ComponentHealth {
    pub fn ok(component: &'static str) -> Self {
        ComponentHealth {
            component,
            state: State::Ok,
            reason: String::new(),
            since_nanos: 0,
        }
    }

    pub fn degraded(component: &'static str, reason: String, since_nanos: u64) -> Self {
        ComponentHealth {
            component,
            state: State::Degraded,
            reason,
            since_nanos,
        }
    }
}

/// Wall-clock nanoseconds since the Unix epoch.
pub fn now_nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// When a condition was first seen (0 = never): set once, by whoever sees it first.
#[derive(Debug, Default)]
pub struct Since(AtomicU64);

impl Since {
    /// Records now as the start, unless a start is already recorded; returns the start.
    pub fn mark(&self) -> u64 {
        let now = now_nanos().max(1);
        match self
            .0
            .compare_exchange(0, now, Ordering::Relaxed, Ordering::Relaxed)
        {
            Ok(_) => now,
            Err(t) => t,
        }
    }

    /// Forgets the start (the condition cleared).
    pub fn clear(&self) {
        self.0.store(0, Ordering::Relaxed);
    }

    /// The recorded start, 0 when none.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_keeps_the_first_time_until_cleared() {
        let s = Since::default();
        assert_eq!(s.get(), 0);
        let t = s.mark();
        assert!(t > 0);
        std::thread::sleep(std::time::Duration::from_millis(2));
        assert_eq!(s.mark(), t);
        s.clear();
        assert_eq!(s.get(), 0);
        assert!(s.mark() > t);
    }
}
