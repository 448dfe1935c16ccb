//! Config text from an operator's file. Invariants: no panic; a config that is accepted
//! validates, and survives a round trip through TOML unchanged.
#![no_main]

use controlplane::config::ControlPlaneConfig;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    if let Ok(cfg) = ControlPlaneConfig::from_toml_str(s) {
        assert!(cfg.validate().is_ok());
        let text = toml::to_string(&cfg).expect("an accepted config serialises");
        let again = ControlPlaneConfig::from_toml_str(&text).expect("and parses back");
        assert_eq!(again, cfg);
    }
});
