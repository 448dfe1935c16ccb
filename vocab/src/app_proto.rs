//! Application-layer protocols and their names, spelled as Suricata spells them (EVE
//! `app_proto`, rule headers, `app-layer-protocol`).

/// An application-layer protocol: what a flow was detected as, and what a rule header or
/// `app-layer-protocol` names.
///
/// The one table of protocol names in the workspace. The data plane parses a few of these
/// (HTTP/1, DNS, TLS, WebSocket) and detects SMTP, SSH and FTP; rules may name every
/// protocol Suricata knows. [`AppProto::Unknown`] and [`AppProto::Failed`] are flow states,
/// never named by a rule header.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum AppProto {
    /// Not determined (yet).
    #[default]
    Unknown,
    /// Detection ran out of probing budget without a match.
    Failed,
    /// HTTP, any version (`http` in a rule header covers HTTP/1 and HTTP/2; a flow parsed as
    /// HTTP/1.x is `http` in EVE, as in Suricata).
    Http,
    /// HTTP/1.x only (rule headers).
    Http1,
    /// HTTP/2.
    Http2,
    /// DNS over UDP or TCP.
    Dns,
    /// TLS (and SSLv3; `ssl` is an alias).
    Tls,
    /// SMTP.
    Smtp,
    /// FTP control channel.
    Ftp,
    /// FTP data channel.
    FtpData,
    /// SMB.
    Smb,
    /// SSH.
    Ssh,
    /// DCE/RPC.
    Dcerpc,
    /// DHCP.
    Dhcp,
    /// NFS.
    Nfs,
    /// Kerberos 5.
    Krb5,
    /// SNMP.
    Snmp,
    /// SIP.
    Sip,
    /// RDP.
    Rdp,
    /// MQTT.
    Mqtt,
    /// Modbus.
    Modbus,
    /// DNP3.
    Dnp3,
    /// EtherNet/IP.
    Enip,
    /// IKE (`ikev2` is an alias).
    Ike,
    /// NTP.
    Ntp,
    /// TFTP.
    Tftp,
    /// IMAP.
    Imap,
    /// POP3.
    Pop3,
    /// QUIC.
    Quic,
    /// RFB (VNC).
    Rfb,
    /// LDAP.
    Ldap,
    /// WebSocket (after an HTTP/1.1 upgrade).
    WebSocket,
    /// PostgreSQL.
    Pgsql,
    /// Telnet.
    Telnet,
    /// BitTorrent DHT.
    BittorrentDht,
}

impl AppProto {
    /// Every protocol, in declaration order.
    pub const ALL: [AppProto; 35] = {
        use AppProto::*;
        [
            Unknown,
            Failed,
            Http,
            Http1,
            Http2,
            Dns,
            Tls,
            Smtp,
            Ftp,
            FtpData,
            Smb,
            Ssh,
            Dcerpc,
            Dhcp,
            Nfs,
            Krb5,
            Snmp,
            Sip,
            Rdp,
            Mqtt,
            Modbus,
            Dnp3,
            Enip,
            Ike,
            Ntp,
            Tftp,
            Imap,
            Pop3,
            Quic,
            Rfb,
            Ldap,
            WebSocket,
            Pgsql,
            Telnet,
            BittorrentDht,
        ]
    };

    /// Suricata's name (EVE `app_proto`, rule headers).
    pub const fn name(self) -> &'static str {
        use AppProto::*;
        match self {
            Unknown => "unknown",
            Failed => "failed",
            Http => "http",
            Http1 => "http1",
            Http2 => "http2",
            Dns => "dns",
            Tls => "tls",
            Smtp => "smtp",
            Ftp => "ftp",
            FtpData => "ftp-data",
            Smb => "smb",
            Ssh => "ssh",
            Dcerpc => "dcerpc",
            Dhcp => "dhcp",
            Nfs => "nfs",
            Krb5 => "krb5",
            Snmp => "snmp",
            Sip => "sip",
            Rdp => "rdp",
            Mqtt => "mqtt",
            Modbus => "modbus",
            Dnp3 => "dnp3",
            Enip => "enip",
            Ike => "ike",
            Ntp => "ntp",
            Tftp => "tftp",
            Imap => "imap",
            Pop3 => "pop3",
            Quic => "quic",
            Rfb => "rfb",
            Ldap => "ldap",
            WebSocket => "websocket",
            Pgsql => "pgsql",
            Telnet => "telnet",
            BittorrentDht => "bittorrent-dht",
        }
    }

    /// The `app_proto` field of an EVE record: `None` while the protocol is unknown (the
    /// field is left out), the name otherwise (`failed` included).
    pub const fn eve_name(self) -> Option<&'static str> {
        match self {
            AppProto::Unknown => None,
            p => Some(p.name()),
        }
    }

    /// Parses a name as Suricata accepts it, case-insensitively, with its aliases (`ssl` for
    /// TLS, `ikev2` for IKE).
    pub fn from_name(name: &str) -> Option<AppProto> {
        let name = name.trim();
        let alias = if name.eq_ignore_ascii_case("ssl") {
            Some(AppProto::Tls)
        } else if name.eq_ignore_ascii_case("ikev2") {
            Some(AppProto::Ike)
        } else {
            None
        };
        alias.or_else(|| {
            Self::ALL
                .into_iter()
                .find(|p| p.name().eq_ignore_ascii_case(name))
        })
    }

    /// Whether a detection named the flow's protocol ([`AppProto::Unknown`] and
    /// [`AppProto::Failed`] are not names).
    pub const fn is_known(self) -> bool {
        !matches!(self, AppProto::Unknown | AppProto::Failed)
    }
}

impl std::fmt::Display for AppProto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for AppProto {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for AppProto {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        AppProto::from_name(&s)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown app-layer protocol `{s}`")))
    }
}

#[cfg(test)]
mod tests {
    use super::AppProto;

    #[test]
    fn names_round_trip_and_are_distinct() {
        for (i, p) in AppProto::ALL.iter().enumerate() {
            assert_eq!(AppProto::from_name(p.name()), Some(*p));
            assert_eq!(AppProto::from_name(&p.name().to_uppercase()), Some(*p));
            assert_eq!(*p as usize, i, "ALL is in declaration order");
            assert!(AppProto::ALL[i + 1..].iter().all(|o| o.name() != p.name()));
        }
        assert_eq!(AppProto::from_name("ssl"), Some(AppProto::Tls));
        assert_eq!(AppProto::from_name("ikev2"), Some(AppProto::Ike));
        assert_eq!(AppProto::from_name("nope"), None);
        assert!(!AppProto::Failed.is_known() && AppProto::Http.is_known());
        assert_eq!(AppProto::Unknown.eve_name(), None);
        assert_eq!(AppProto::Failed.eve_name(), Some("failed"));
    }

    #[cfg(feature = "serde")]
    #[test]
    fn serde_uses_suricata_names() {
        let json = serde_json::to_string(&AppProto::BittorrentDht).unwrap();
        assert_eq!(json, "\"bittorrent-dht\"");
        assert_eq!(
            serde_json::from_str::<AppProto>("\"ftp-data\"").unwrap(),
            AppProto::FtpData
        );
        assert!(serde_json::from_str::<AppProto>("\"nope\"").is_err());
    }
}
