//! Paced replay: a capture file played at its own pace (times a speed factor) instead of as
//! fast as the worker goes.
//!
//! The worker never sleeps or waits for pacing. Before each receive it asks its [`Pacer`] how
//! many packets are due at the current TSC reading and receives at most that many (none: the
//! poll loop turns over as it does on an idle port). The packets of a replayed file reach the
//! worker in file order (also `net_pcap`'s `infinite_rx` cycle), so the k-th packet received is
//! the file's packet `k mod n` of pass `k / n`, released at
//! `(pass × pass length + its offset in the capture) / speed` after the start.
//! The cost is one TSC read, a float multiply and a compare per poll and per packet received.
//!
//! A burst never crosses the end of a pass, and at the end of each pass the worker ends every
//! flow (their records go out as at the end of a file): a looping appliance stamps packets
//! with wall time, so the next pass's conversations are new flows at later times instead of
//! continuing the last pass's (whose timeouts, up to 600 s, outlast a short capture).

use std::sync::Arc;

use crate::time::Timestamp;

/// When each packet of one worker's file is due, relative to the start of a pass.
#[derive(Clone, Debug)]
pub struct Schedule {
    /// Nanoseconds from the capture's first packet, one per packet of this worker's file, in
    /// file order (never decreasing: a packet earlier than its predecessor is due with it).
    offsets_ns: Vec<u64>,
    /// Length of one pass of a looping replay: the capture's span plus one mean gap, so the
    /// next pass starts as regularly as the capture runs.
    pass_ns: u64,
    speed: f64,
}

/// A schedule that cannot be built.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum PaceError {
    #[error("speed {0} must be a finite number above 0")]
    Speed(f64),
    #[error("the capture has no packets to pace")]
    Empty,
}

impl Schedule {
    /// The schedule of `times` (this worker's packets in file order) within a capture from
    /// `first` to `last` of `packets` packets in all, played `speed` times faster than captured.
    pub fn new(
        times: &[Timestamp],
        first: Timestamp,
        last: Timestamp,
        packets: u64,
        speed: f64,
    ) -> Result<Schedule, PaceError> {
        if !(speed.is_finite() && speed > 0.0) {
            return Err(PaceError::Speed(speed));
        }
        if times.is_empty() || packets == 0 {
            return Err(PaceError::Empty);
        }
        let span = last.0.saturating_sub(first.0);
        let mut floor = 0u64;
        let offsets_ns = times
            .iter()
            .map(|t| {
                floor = floor.max(t.0.saturating_sub(first.0));
                floor
            })
            .collect();
        // One mean gap after the last packet; at least a millisecond so a one-packet capture
        // still has a pass length.
        let gap = (span / packets.max(2).saturating_sub(1)).max(1_000_000);
        Ok(Schedule {
            offsets_ns,
            pass_ns: span + gap,
            speed,
        })
    }

    /// Nanoseconds after the start at which the `k`-th packet received (from 0) is due.
    pub fn release_ns(&self, k: u64) -> f64 {
        let n = self.offsets_ns.len() as u64;
        let pass = k / n;
        let at = pass as f64 * self.pass_ns as f64 + self.offsets_ns[(k % n) as usize] as f64;
        at / self.speed
    }

    /// Packets per pass.
    pub fn len(&self) -> usize {
        self.offsets_ns.len()
    }

    /// Never true for a built schedule.
    pub fn is_empty(&self) -> bool {
        self.offsets_ns.is_empty()
    }

    /// Length of one pass in nanoseconds at speed 1.
    pub fn pass_ns(&self) -> u64 {
        self.pass_ns
    }
}

/// One worker's pacing state: how many packets it has received since the start, and the
/// start's TSC reading.
#[derive(Clone, Debug)]
pub struct Pacer {
    schedule: Arc<Schedule>,
    start_tsc: u64,
    /// TSC cycles per nanosecond.
    cycles_per_ns: f64,
    received: u64,
}

impl Pacer {
    /// Paces `schedule` on a TSC of `tsc_hz`; the run starts at [`Pacer::started`].
    pub fn new(schedule: Arc<Schedule>, tsc_hz: u64) -> Pacer {
        Pacer {
            schedule,
            start_tsc: 0,
            cycles_per_ns: tsc_hz.max(1) as f64 / 1e9,
            received: 0,
        }
    }

    /// This pacer with its run starting at TSC reading `start_tsc`, nothing received yet.
    pub fn started(mut self, start_tsc: u64) -> Pacer {
        self.start_tsc = start_tsc;
        self.received = 0;
        self
    }

    /// How many packets (at most `max`, and never past the end of the current pass) are due
    /// at TSC reading `now_tsc`.
    #[inline]
    pub fn due(&self, now_tsc: u64, max: usize) -> usize {
        let elapsed = now_tsc.wrapping_sub(self.start_tsc) as f64 / self.cycles_per_ns;
        let per_pass = self.schedule.len() as u64;
        let left = (per_pass - self.received % per_pass) as usize;
        let max = max.min(left);
        let mut n = 0;
        while n < max && self.schedule.release_ns(self.received + n as u64) <= elapsed {
            n += 1;
        }
        n
    }

    /// Records that `n` packets were received; true when they completed a pass (the
    /// worker then ends every flow, so the next pass's conversations are new flows).
    #[inline]
    pub fn received(&mut self, n: usize) -> bool {
        self.received += n as u64;
        n > 0 && self.received % self.schedule.len() as u64 == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    fn ts(secs: f64) -> Timestamp {
        Timestamp((secs * 1e9) as u64)
    }

    /// Four packets at 0, 1, 2, 3 s: a pass lasts 3 s plus the mean gap (1 s).
    fn four(speed: f64) -> Schedule {
        let t: Vec<_> = [0.0, 1.0, 2.0, 3.0]
            .iter()
            .map(|&s| ts(100.0 + s))
            .collect();
        Schedule::new(&t, ts(100.0), ts(103.0), 4, speed).unwrap()
    }

    #[test]
    fn packets_are_due_at_their_capture_offsets_and_passes_follow_on() {
        let s = four(1.0);
        assert_eq!(s.pass_ns(), 4 * S);
        let r: Vec<f64> = (0..6).map(|k| s.release_ns(k) / 1e9).collect();
        assert_eq!(r, vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
    }

    #[test]
    fn speed_divides_the_times() {
        let s = four(2.0);
        assert_eq!(s.release_ns(3), 1.5e9);
        assert_eq!(s.release_ns(4), 2.0e9);
    }

    #[test]
    fn the_pacer_releases_only_what_is_due_and_never_more_than_asked() {
        // A 1 GHz TSC: cycles are nanoseconds.
        let mut p = Pacer::new(Arc::new(four(1.0)), 1_000_000_000).started(1_000);
        assert_eq!(p.due(1_000, 32), 1, "the first packet is due at once");
        assert!(!p.received(1));
        assert_eq!(p.due(1_000 + S - 1, 32), 0);
        assert_eq!(p.due(1_000 + 2 * S, 32), 2);
        assert_eq!(p.due(1_000 + 100 * S, 2), 2, "capped by max");
        assert_eq!(
            p.due(1_000 + 100 * S, 32),
            3,
            "capped by the end of the pass"
        );
        assert!(p.received(3), "the pass is complete");
        assert_eq!(
            p.due(1_000 + 4 * S, 32),
            1,
            "the second pass's first packet"
        );
    }

    #[test]
    fn out_of_order_times_are_due_with_their_predecessor() {
        let t = [ts(0.0), ts(2.0), ts(1.0)];
        let s = Schedule::new(&t, ts(0.0), ts(2.0), 3, 1.0).unwrap();
        assert_eq!(s.release_ns(2), 2e9);
    }

    #[test]
    fn bad_speeds_and_empty_captures_are_refused() {
        let t = [ts(0.0)];
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            let e = Schedule::new(&t, ts(0.0), ts(0.0), 1, bad).unwrap_err();
            assert!(matches!(e, PaceError::Speed(_)), "{bad}");
        }
        assert_eq!(
            Schedule::new(&[], ts(0.0), ts(0.0), 0, 1.0).unwrap_err(),
            PaceError::Empty
        );
        // One packet: the pass is the 1 ms floor.
        assert_eq!(
            Schedule::new(&t, ts(0.0), ts(0.0), 1, 1.0)
                .unwrap()
                .pass_ns(),
            1_000_000
        );
    }
}
