//! Flow features, accumulated per packet in fixed-size state beside the flow entry.
//!
//! When [`FlowConfig::features`](super::FlowConfig::features) is on, the table keeps one
//! [`FeatureState`] per slot (reserved with the slab, reset in place when a flow starts) and
//! updates it with each packet's time, payload and TCP flags: Welford moments of inter-arrival
//! times and payload sizes, flag counts, the handshake's two round trips, and nibble counts of
//! the first [`ENTROPY_BYTES`] payload bytes each way. No allocation and no division beyond
//! the moments' two. At the flow's end [`FeatureState::finish`] gives the
//! [`vocab::FlowFeatures`] carried by the flow record; the app layer adds its fields through
//! [`FlowTable::set_app_features`](super::FlowTable::set_app_features).

use vocab::eve::Json;
use vocab::flow::{entropy_bits, AppFeatures, FlowFeatures, TCP_FLAG_NAMES};

use crate::time::Timestamp;

/// Payload bytes per direction the entropy estimate reads.
pub const ENTROPY_BYTES: u8 = 64;

const FIN: u8 = 0x01;
const SYN: u8 = 0x02;
const ACK: u8 = 0x10;

/// One flow's features while it is live.
#[derive(Clone, Copy, Debug, Default)]
pub struct FeatureState {
    f: FlowFeatures,
    /// Time of each direction's last packet, ns.
    last: [u64; 2],
    /// Bit d: direction d has had a packet.
    seen: u8,
    syn_at: Option<u64>,
    synack_at: Option<u64>,
    /// Nibble counts of the first payload bytes, per direction (at most 128 each).
    nibbles: [[u8; 16]; 2],
}

impl FeatureState {
    /// Accounts one packet of direction `d` (0: to server).
    #[inline]
    pub fn packet(&mut self, d: usize, now: Timestamp, payload: &[u8], tcp_flags: Option<u8>) {
        let t = now.0;
        if self.seen & (1 << d) != 0 {
            self.f.iat_us[d].push(t.saturating_sub(self.last[d]) as f64 / 1e3);
        }
        self.seen |= 1 << d;
        self.last[d] = t;
        self.f.payload[d].push(payload.len() as f64);
        if let Some(fl) = tcp_flags {
            self.tcp(d, t, fl);
        }
        let have = self.f.entropy_bytes[d];
        if have < ENTROPY_BYTES && !payload.is_empty() {
            self.sample(d, payload);
        }
    }

    #[inline]
    fn tcp(&mut self, d: usize, t: u64, fl: u8) {
        let counts = &mut self.f.tcp_flags[d];
        for (bit, c) in counts.iter_mut().enumerate() {
            *c += u32::from((fl >> bit) & 1);
        }
        match (d, fl & (SYN | ACK | FIN)) {
            (0, SYN) if self.syn_at.is_none() => self.syn_at = Some(t),
            (1, f) if f == SYN | ACK && self.synack_at.is_none() => {
                if let Some(s) = self.syn_at {
                    self.synack_at = Some(t);
                    self.f.rtt_syn_synack_us = micros(t.saturating_sub(s));
                }
            }
            (0, ACK) if self.f.rtt_synack_ack_us == 0 => {
                if let Some(s) = self.synack_at {
                    self.f.rtt_synack_ack_us = micros(t.saturating_sub(s)).max(1);
                }
            }
            _ => {}
        }
    }

    #[cold]
    fn sample(&mut self, d: usize, payload: &[u8]) {
        let have = self.f.entropy_bytes[d];
        let k = usize::from(ENTROPY_BYTES - have).min(payload.len());
        let h = &mut self.nibbles[d];
        for &b in &payload[..k] {
            h[usize::from(b >> 4)] += 1;
            h[usize::from(b & 15)] += 1;
        }
        self.f.entropy_bytes[d] = have + k as u8;
    }

    /// The sides turned out the other way round (the table swapped the flow's client).
    pub fn swap(&mut self) {
        let f = &mut self.f;
        f.iat_us.swap(0, 1);
        f.payload.swap(0, 1);
        f.tcp_flags.swap(0, 1);
        f.entropy_bytes.swap(0, 1);
        self.last.swap(0, 1);
        self.nibbles.swap(0, 1);
        self.seen = ((self.seen & 1) << 1) | ((self.seen >> 1) & 1);
    }

    /// Sets the app layer's fields.
    pub fn set_app(&mut self, app: AppFeatures) {
        self.f.app = app;
    }

    /// The app layer's fields so far.
    pub fn app(&self) -> AppFeatures {
        self.f.app
    }

    /// The features as carried by the flow record. The entropy estimate treats a byte's two
    /// nibbles as independent draws: twice the nibble entropy, in bits per byte.
    pub fn finish(&self) -> FlowFeatures {
        let mut f = self.f;
        for d in 0..2 {
            let nibbles = u32::from(f.entropy_bytes[d]) * 2;
            f.entropy[d] = 2.0 * entropy_bits(&self.nibbles[d], nibbles);
        }
        f
    }
}

/// Writes `f` as the EVE `features` object of a flow record.
pub fn write_eve_features(j: &mut Json<'_>, f: &FlowFeatures) {
    const SIDES: [&str; 2] = ["toserver", "toclient"];
    j.object("features");
    for (name, m) in [("iat_us", &f.iat_us), ("payload", &f.payload)] {
        j.object(name);
        for (side, m) in SIDES.iter().zip(m) {
            j.object(side)
                .u64("n", u64::from(m.n))
                .f64("mean", m.mean)
                .f64("var", m.variance())
                .f64("min", m.min)
                .f64("max", m.max)
                .close();
        }
        j.close();
    }
    j.object("tcp_flags");
    for (side, counts) in SIDES.iter().zip(&f.tcp_flags) {
        j.object(side);
        for (flag, &c) in TCP_FLAG_NAMES.iter().zip(counts) {
            j.u64(flag, u64::from(c));
        }
        j.close();
    }
    j.close();
    j.object("rtt_us")
        .u64("syn_synack", u64::from(f.rtt_syn_synack_us))
        .u64("synack_ack", u64::from(f.rtt_synack_ack_us))
        .close();
    j.object("entropy");
    for (d, side) in SIDES.iter().enumerate() {
        j.f64(side, f64::from(f.entropy[d]));
    }
    j.close();
    let app = &f.app;
    if app.dns_qname_len > 0 {
        j.object("dns")
            .u64("qname_len", u64::from(app.dns_qname_len))
            .f64("qname_entropy", f64::from(app.dns_qname_entropy))
            .close();
    }
    if let Some(m) = app.http_method.name() {
        j.object("http").str("method", m);
        if app.http_status_class > 0 {
            j.u64("status_class", u64::from(app.http_status_class));
        }
        j.close();
    }
    if app.tls_version > 0 {
        j.object("tls")
            .u64("version", u64::from(app.tls_version))
            .close();
    }
    j.close();
}

fn micros(ns: u64) -> u32 {
    u32::try_from(ns / 1_000).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: u64) -> Timestamp {
        Timestamp(ms * 1_000_000)
    }

    #[test]
    fn handshake_round_trips_and_flag_counts() {
        let mut s = FeatureState::default();
        s.packet(0, at(0), b"", Some(SYN));
        s.packet(1, at(30), b"", Some(SYN | ACK));
        s.packet(0, at(31), b"", Some(ACK));
        s.packet(0, at(40), b"GET / HTTP/1.1\r\n", Some(ACK | 0x08));
        let f = s.finish();
        assert_eq!(f.rtt_syn_synack_us, 30_000);
        assert_eq!(f.rtt_synack_ack_us, 1_000);
        assert_eq!(f.tcp_flags[0], [0, 1, 0, 1, 2, 0]);
        assert_eq!(f.tcp_flags[1], [0, 1, 0, 0, 1, 0]);
        assert_eq!(f.payload[0].n, 3);
        assert_eq!(f.payload[0].max, 16.0);
        assert_eq!(f.iat_us[0].n, 2);
        assert_eq!(f.iat_us[0].min, 9_000.0);
        assert_eq!(f.iat_us[0].max, 31_000.0);
        assert_eq!(f.iat_us[1].n, 0);
    }

    #[test]
    fn a_synack_without_a_syn_measures_nothing() {
        let mut s = FeatureState::default();
        s.packet(1, at(5), b"", Some(SYN | ACK));
        s.packet(0, at(6), b"", Some(ACK));
        let f = s.finish();
        assert_eq!((f.rtt_syn_synack_us, f.rtt_synack_ack_us), (0, 0));
    }

    #[test]
    fn entropy_reads_only_the_first_bytes() {
        let mut s = FeatureState::default();
        s.packet(0, at(0), &[0u8; 40], None);
        s.packet(0, at(1), &[0xffu8; 40], None);
        let f = s.finish();
        assert_eq!(f.entropy_bytes[0], ENTROPY_BYTES);
        // 80 zero nibbles and 48 0xf nibbles.
        let p: f32 = 80.0 / 128.0;
        let want = 2.0 * -(p * p.log2() + (1.0 - p) * (1.0 - p).log2());
        assert!(
            (f.entropy[0] - want).abs() < 1e-5,
            "{} vs {want}",
            f.entropy[0]
        );
        let mut r = FeatureState::default();
        let random: Vec<u8> = (0..=255u8).collect();
        r.packet(1, at(0), &random, None);
        assert!(r.finish().entropy[1] > 7.0);
        assert_eq!(r.finish().entropy[0], 0.0);
    }

    /// Through the table: features ride on the flow record only when enabled.
    #[test]
    fn the_table_carries_features_when_enabled() {
        use crate::flow::Packet;
        use crate::flow::{proto, FlowConfig, FlowRecord, FlowTable, FlowTuple, NullStreamSink};
        let tuple = FlowTuple {
            zone: 0,
            proto: proto::UDP,
            src: [192, 0, 2, 1].into(),
            src_port: 5353,
            dst: [198, 51, 100, 2].into(),
            dst_port: 53,
        };
        for on in [false, true] {
            let mut t = FlowTable::new(FlowConfig {
                memcap: 1 << 20,
                features: on,
                ..FlowConfig::default()
            })
            .unwrap();
            let mut recs: Vec<FlowRecord> = Vec::new();
            for (i, (tu, payload)) in [(tuple, &b"query"[..]), (tuple.reversed(), &b"answer!"[..])]
                .into_iter()
                .enumerate()
            {
                let pkt = Packet {
                    tuple: tu,
                    wire_len: 60,
                    tcp: None,
                    icmp: None,
                    payload,
                };
                let mut sink = |r: &FlowRecord| recs.push(*r);
                t.process(&pkt, at(i as u64 * 5), &mut NullStreamSink, &mut sink)
                    .unwrap();
            }
            t.drain_all(&mut NullStreamSink, &mut |r: &FlowRecord| recs.push(*r));
            assert_eq!(recs.len(), 1);
            match recs[0].features {
                None => assert!(!on),
                Some(f) => {
                    assert!(on);
                    assert_eq!((f.payload[0].max, f.payload[1].max), (5.0, 7.0));
                    assert_eq!(f.entropy_bytes, [5, 7]);
                }
            }
        }
    }

    #[test]
    fn swap_turns_every_pair() {
        let mut s = FeatureState::default();
        s.packet(0, at(0), b"ab", Some(ACK));
        s.packet(0, at(2), b"ab", Some(ACK));
        s.swap();
        s.packet(0, at(3), b"x", None);
        let f = s.finish();
        assert_eq!(f.payload[1].n, 2);
        assert_eq!(f.iat_us[1].n, 1);
        assert_eq!(f.payload[0].n, 1);
        assert_eq!(f.iat_us[0].n, 0);
        assert_eq!(f.tcp_flags[1][4], 2);
    }
}
