//! IP protocol numbers and the names Suricata writes for them in EVE `proto`.

use std::borrow::Cow;

/// The name Suricata writes in `proto` for an IP protocol number (IANA's keyword, as in
/// `/etc/protocols`' aliases); `None` for numbers it writes as digits.
pub fn keyword(p: u8) -> Option<&'static str> {
    Some(match p {
        0 => "HOPOPT",
        1 => "ICMP",
        2 => "IGMP",
        4 => "IPv4",
        6 => "TCP",
        17 => "UDP",
        33 => "DCCP",
        41 => "IPv6",
        43 => "IPv6-Route",
        44 => "IPv6-Frag",
        46 => "RSVP",
        47 => "GRE",
        50 => "ESP",
        51 => "AH",
        58 => "IPv6-ICMP",
        59 => "IPv6-NoNxt",
        60 => "IPv6-Opts",
        88 => "EIGRP",
        89 => "OSPFIGP",
        94 => "IPIP",
        97 => "ETHERIP",
        103 => "PIM",
        108 => "IPComp",
        112 => "VRRP",
        115 => "L2TP",
        132 => "SCTP",
        136 => "UDPLite",
        137 => "MPLS-in-IP",
        _ => return None,
    })
}

/// Suricata's `proto` field: the keyword, or the number in digits.
pub fn name(p: u8) -> Cow<'static, str> {
    match keyword(p) {
        Some(k) => Cow::Borrowed(k),
        None => Cow::Owned(p.to_string()),
    }
}

/// The protocol number of a `proto` field as [`name`] writes it (keywords compared without
/// regard to case, or digits).
pub fn number(name: &str) -> Option<u8> {
    if let Ok(n) = name.parse::<u8>() {
        return Some(n);
    }
    (0..=u8::MAX).find(|&p| keyword(p).is_some_and(|k| k.eq_ignore_ascii_case(name)))
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_as_suricata_writes_them() {
        assert_eq!(super::name(6), "TCP");
        assert_eq!(super::name(58), "IPv6-ICMP");
        assert_eq!(super::name(253), "253");
        for p in [6, 58, 253] {
            assert_eq!(super::number(&super::name(p)), Some(p));
        }
        assert_eq!(super::number("udp"), Some(17));
        assert_eq!(super::number("bogus"), None);
    }
}
