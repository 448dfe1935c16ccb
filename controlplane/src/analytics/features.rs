//! The feature vector a model sees for one flow: the worker's [`FlowFeatures`] and the flow
//! record's counters, in a fixed order with fixed names. Values that are not finite are refused
//! (a model fed NaN would poison every tree it touches).

use vocab::flow::{FlowFeatures, HttpMethod};

/// One flow as the models take it.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct FlowSample {
    /// IP protocol number.
    pub proto: u8,
    /// The server's port (0 for ICMP).
    pub dst_port: u16,
    /// Last packet's time minus the first's, microseconds.
    pub duration_us: u64,
    /// Packets to server, to client.
    pub pkts: [u64; 2],
    /// Bytes to server, to client.
    pub bytes: [u64; 2],
    /// What the worker measured.
    pub features: FlowFeatures,
}

/// Number of features in a [`Vector`].
pub const DIMS: usize = 30;

/// A flow's features in [`NAMES`] order, before normalisation.
pub type Vector = [f64; DIMS];

/// The features' names, as `top_features` reports them.
pub const NAMES: [&str; DIMS] = [
    "duration_us",
    "pkts_toserver",
    "pkts_toclient",
    "bytes_toserver",
    "bytes_toclient",
    "iat_mean_toserver",
    "iat_std_toserver",
    "iat_mean_toclient",
    "iat_std_toclient",
    "payload_mean_toserver",
    "payload_std_toserver",
    "payload_max_toserver",
    "payload_mean_toclient",
    "payload_std_toclient",
    "payload_max_toclient",
    "syn_toserver",
    "syn_toclient",
    "fin_toserver",
    "rst_toserver",
    "rst_toclient",
    "psh_toserver",
    "rtt_syn_synack_us",
    "rtt_synack_ack_us",
    "entropy_toserver",
    "entropy_toclient",
    "dns_qname_len",
    "dns_qname_entropy",
    "http_request",
    "http_status_class",
    "dst_port",
];

/// A feature the model cannot take.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("flow feature `{name}` is not a finite number")]
pub struct NotFinite {
    /// The feature's name.
    pub name: &'static str,
}

/// The flow's feature vector; refuses NaN and infinities, naming the feature.
pub fn vector(s: &FlowSample) -> Result<Vector, NotFinite> {
    let f = &s.features;
    let flags = |d: usize, bit: usize| f64::from(f.tcp_flags[d][bit]);
    let v: Vector = [
        s.duration_us as f64,
        s.pkts[0] as f64,
        s.pkts[1] as f64,
        s.bytes[0] as f64,
        s.bytes[1] as f64,
        f.iat_us[0].mean,
        f.iat_us[0].variance().sqrt(),
        f.iat_us[1].mean,
        f.iat_us[1].variance().sqrt(),
        f.payload[0].mean,
        f.payload[0].variance().sqrt(),
        f.payload[0].max,
        f.payload[1].mean,
        f.payload[1].variance().sqrt(),
        f.payload[1].max,
        flags(0, 1),
        flags(1, 1),
        flags(0, 0),
        flags(0, 2),
        flags(1, 2),
        flags(0, 3),
        f64::from(f.rtt_syn_synack_us),
        f64::from(f.rtt_synack_ack_us),
        f64::from(f.entropy[0]),
        f64::from(f.entropy[1]),
        f64::from(f.app.dns_qname_len),
        f64::from(f.app.dns_qname_entropy),
        f64::from(u8::from(f.app.http_method != HttpMethod::None)),
        f64::from(f.app.http_status_class),
        f64::from(s.dst_port),
    ];
    check(&v)?;
    Ok(v)
}

/// Refuses a vector with a value that is not finite.
pub fn check(v: &Vector) -> Result<(), NotFinite> {
    match v.iter().position(|x| !x.is_finite()) {
        Some(i) => Err(NotFinite { name: NAMES[i] }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique() {
        let mut n = NAMES.to_vec();
        n.sort_unstable();
        n.dedup();
        assert_eq!(n.len(), DIMS);
    }

    #[test]
    fn not_finite_values_are_refused_by_name() {
        let mut s = FlowSample::default();
        s.features.iat_us[0].mean = f64::NAN;
        assert_eq!(
            vector(&s),
            Err(NotFinite {
                name: "iat_mean_toserver"
            })
        );
        s.features.iat_us[0].mean = 1.0;
        s.features.payload[1].max = f64::INFINITY;
        assert_eq!(vector(&s).unwrap_err().name, "payload_max_toclient");
    }

    #[test]
    fn counters_land_in_their_places() {
        let s = FlowSample {
            proto: 6,
            dst_port: 443,
            duration_us: 5,
            pkts: [3, 2],
            bytes: [300, 200],
            features: FlowFeatures::default(),
        };
        let v = vector(&s).unwrap();
        assert_eq!(v[1], 3.0);
        assert_eq!(v[4], 200.0);
        assert_eq!(v[DIMS - 1], 443.0);
    }
}
