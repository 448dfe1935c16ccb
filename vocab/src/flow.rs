//! Flow features: what a worker measures about a flow beside Suricata's counters, carried with
//! the flow record to the control plane, where the analytics models read them.
//!
//! Every value is fixed-size and `Copy`: a worker keeps one [`FlowFeatures`] per live flow
//! (when `[analytics] flow_features` is on), updates it in place per packet without
//! allocating, and copies it into the flow record at the flow's end. Index 0 of every pair is
//! the direction to the server (the initiator's), 1 the direction to the client.

/// Running moments of a series (count, mean, variance, min, max) by Welford's online
/// algorithm: one pass, constant space, numerically stable.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Moments {
    /// Values seen.
    pub n: u32,
    /// Their mean.
    pub mean: f64,
    /// Sum of squared deviations from the mean (Welford's M2).
    pub m2: f64,
    /// Smallest value (0 while `n` is 0).
    pub min: f64,
    /// Largest value (0 while `n` is 0).
    pub max: f64,
}

impl Moments {
    /// Adds one value.
    #[inline]
    pub fn push(&mut self, x: f64) {
        self.n = self.n.saturating_add(1);
        if self.n == 1 {
            self.min = x;
            self.max = x;
        } else {
            self.min = self.min.min(x);
            self.max = self.max.max(x);
        }
        let d = x - self.mean;
        self.mean += d / f64::from(self.n);
        self.m2 += d * (x - self.mean);
    }

    /// Sample variance (0 below two values).
    pub fn variance(&self) -> f64 {
        if self.n < 2 {
            0.0
        } else {
            self.m2 / f64::from(self.n - 1)
        }
    }
}

/// Names of the TCP flags counted, in bit order (FIN is bit 0).
pub const TCP_FLAG_NAMES: [&str; 6] = ["fin", "syn", "rst", "psh", "ack", "urg"];

/// HTTP request methods, as far as the features tell them apart.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum HttpMethod {
    /// No request seen.
    #[default]
    None,
    /// `GET`.
    Get,
    /// `POST`.
    Post,
    /// `HEAD`.
    Head,
    /// `PUT`.
    Put,
    /// Any other method.
    Other,
}

impl HttpMethod {
    /// The method of a request line's first word.
    pub fn from_bytes(m: &[u8]) -> HttpMethod {
        match m {
            b"GET" => HttpMethod::Get,
            b"POST" => HttpMethod::Post,
            b"HEAD" => HttpMethod::Head,
            b"PUT" => HttpMethod::Put,
            [] => HttpMethod::None,
            _ => HttpMethod::Other,
        }
    }

    /// The name written in EVE (`None` for no request).
    pub const fn name(self) -> Option<&'static str> {
        match self {
            HttpMethod::None => None,
            HttpMethod::Get => Some("GET"),
            HttpMethod::Post => Some("POST"),
            HttpMethod::Head => Some("HEAD"),
            HttpMethod::Put => Some("PUT"),
            HttpMethod::Other => Some("other"),
        }
    }
}

/// A few application fields of the flow's first transaction (zeros where none).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct AppFeatures {
    /// Length of the first DNS query name.
    pub dns_qname_len: u16,
    /// Shannon entropy of its characters, bits per character.
    pub dns_qname_entropy: f32,
    /// The first HTTP request's method.
    pub http_method: HttpMethod,
    /// The first HTTP response's status class (2 for 2xx, ...; 0 for none).
    pub http_status_class: u8,
    /// The TLS version the server chose (0x0303 for TLS 1.2; 0 for none).
    pub tls_version: u16,
}

/// What a worker measured about one flow.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct FlowFeatures {
    /// Inter-arrival times per direction, microseconds.
    pub iat_us: [Moments; 2],
    /// Payload sizes per direction, bytes (packets without payload count as 0).
    pub payload: [Moments; 2],
    /// TCP flags counted per direction, in [`TCP_FLAG_NAMES`] order.
    pub tcp_flags: [[u32; 6]; 2],
    /// TCP handshake: SYN → SYN/ACK, microseconds (0 when not seen).
    pub rtt_syn_synack_us: u32,
    /// TCP handshake: SYN/ACK → the client's ACK, microseconds (0 when not seen).
    pub rtt_synack_ack_us: u32,
    /// Entropy estimate of each direction's first payload bytes, bits per byte (0 to 8).
    pub entropy: [f32; 2],
    /// Payload bytes the entropy estimate saw per direction.
    pub entropy_bytes: [u8; 2],
    /// Application fields.
    pub app: AppFeatures,
}

/// Shannon entropy in bits of a histogram of `total` observations.
pub fn entropy_bits(counts: &[u8], total: u32) -> f32 {
    if total == 0 {
        return 0.0;
    }
    let t = total as f32;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = f32::from(c) / t;
            -p * p.log2()
        })
        .sum()
}

/// Shannon entropy of a name's first 255 bytes, bits per byte (a histogram on the stack).
pub fn name_entropy(name: &[u8]) -> f32 {
    let mut h = [0u8; 256];
    let n = name.len().min(255);
    for &b in &name[..n] {
        h[b as usize] += 1;
    }
    entropy_bits(&h, n as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moments_match_the_two_pass_formulas() {
        let xs = [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0];
        let mut m = Moments::default();
        for x in xs {
            m.push(x);
        }
        let mean = xs.iter().sum::<f64>() / xs.len() as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (xs.len() - 1) as f64;
        assert_eq!(m.n, 8);
        assert!((m.mean - 5.0).abs() < 1e-12);
        assert!((m.variance() - var).abs() < 1e-12);
        assert_eq!((m.min, m.max), (2.0, 9.0));
    }

    #[test]
    fn moments_of_one_value_have_no_variance() {
        let mut m = Moments::default();
        m.push(-3.5);
        assert_eq!(
            (m.min, m.max, m.mean, m.variance()),
            (-3.5, -3.5, -3.5, 0.0)
        );
    }

    #[test]
    fn entropy_of_uniform_and_constant_histograms() {
        assert_eq!(entropy_bits(&[4; 16], 64), 4.0);
        assert_eq!(entropy_bits(&[0, 9, 0], 9), 0.0);
        assert_eq!(entropy_bits(&[], 0), 0.0);
        assert!(name_entropy(b"aaaa") < 1e-6);
        assert!(name_entropy(b"x7kq2m9zt4") > 3.0);
    }

    #[test]
    fn http_methods() {
        assert_eq!(HttpMethod::from_bytes(b"GET"), HttpMethod::Get);
        assert_eq!(HttpMethod::from_bytes(b"PROPFIND").name(), Some("other"));
        assert_eq!(HttpMethod::from_bytes(b"").name(), None);
    }
}
