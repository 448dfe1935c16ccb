//! Certificates for TLS tests, generated with rcgen for each run: a CA, and leaves it signs.
//! Also compiled into the syslog output's unit tests (`outputs/syslog.rs`), so both kinds of
//! test share one definition.

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// A certificate authority: its certificate (PEM) and what signs its leaves.
pub struct Ca {
    pub pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl Ca {
    /// A new self-signed CA with common name `name`.
    pub fn new(name: &str) -> Ca {
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.distinguished_name.push(DnType::CommonName, name);
        p.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate().unwrap();
        let cert = p.self_signed(&key).unwrap();
        Ca {
            pem: cert.pem(),
            issuer: Issuer::new(p, key),
        }
    }

    /// A leaf for `cn` with subject alternative names `sans` (an address-shaped name
    /// becomes an IP SAN), signed by this CA: (certificate PEM, key PEM).
    pub fn leaf(&self, cn: &str, sans: &[&str]) -> (String, String) {
        let (cert, key) = self.leaf_params(cn, sans);
        (cert.pem(), key.serialize_pem())
    }

    /// The same leaf as DER, as a rustls server takes it.
    pub fn leaf_der(
        &self,
        cn: &str,
        sans: &[&str],
    ) -> (CertificateDer<'static>, PrivateKeyDer<'static>) {
        let (cert, key) = self.leaf_params(cn, sans);
        (
            cert.der().to_vec().into(),
            PrivatePkcs8KeyDer::from(key.serialize_der()).into(),
        )
    }

    fn leaf_params(&self, cn: &str, sans: &[&str]) -> (rcgen::Certificate, KeyPair) {
        let names = sans.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let mut p = CertificateParams::new(names).unwrap();
        p.distinguished_name.push(DnType::CommonName, cn);
        let key = KeyPair::generate().unwrap();
        let cert = p.signed_by(&key, &self.issuer).unwrap();
        (cert, key)
    }
}

/// A CA (PEM) and a server certificate and key it signed for 127.0.0.1.
pub fn ca_and_server() -> (String, CertificateDer<'static>, PrivateKeyDer<'static>) {
    let ca = Ca::new("osprey test CA");
    let (cert, key) = ca.leaf_der("127.0.0.1", &["127.0.0.1"]);
    (ca.pem, cert, key)
}
