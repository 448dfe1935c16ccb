//! Request fields a remote caller controls: page tokens, addresses, time ranges, console
//! time expressions. Invariants: no panic; a token that decodes re-encodes to itself
//! (case-insensitively, hex); an accepted address parses back to the same value.
#![no_main]

use controlplane::api::{
    check_range, decode_key_token, decode_rule_token, encode_key_token, encode_rule_token,
    parse_address,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    if let Ok(Some(k)) = decode_key_token(s) {
        assert_eq!(encode_key_token(k), s.to_ascii_lowercase());
    }
    if let Ok(Some((g, sid))) = decode_rule_token(s) {
        assert_eq!(encode_rule_token(g, sid), s.to_ascii_lowercase());
    }
    if let Ok(Some(ip)) = parse_address("address", s) {
        assert_eq!(ip, s.trim().parse::<std::net::IpAddr>().unwrap());
    }
    if data.len() >= 16 {
        let a = u64::from_le_bytes(data[..8].try_into().unwrap());
        let b = u64::from_le_bytes(data[8..16].try_into().unwrap());
        assert_eq!(check_range(a, b).is_ok(), b == 0 || a < b);
    }
    let _ = controlplane::console::parse_time(s, 1_700_000_000_000_000_000);
});
