//! `osprey ctl` against a control plane under test: gRPC clients, and a command line run as a
//! user would type it (output captured).

use clap::Parser;
use controlplane::console::{self as ctl, CtlArgs};

/// Connected clients for `endpoint`, with `token` when given.
pub async fn clients(endpoint: &str, token: Option<&str>) -> ctl::Clients {
    ctl::Connection {
        endpoint: endpoint.to_owned(),
        token: token.map(str::to_owned),
        ..Default::default()
    }
    .connect()
    .await
    .unwrap()
}

/// `osprey ctl --endpoint E --token T ARGS...`: its result and what it printed.
pub async fn run(endpoint: &str, token: &str, args: &[&str]) -> (anyhow::Result<i32>, String) {
    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        ctl: CtlArgs,
    }
    let mut argv = vec!["ctl", "--endpoint", endpoint, "--token", token];
    argv.extend_from_slice(args);
    let cli = Cli::try_parse_from(argv).unwrap();
    let mut out = Vec::new();
    let r = ctl::run_with_output(cli.ctl, &mut out).await;
    (r, String::from_utf8(out).unwrap())
}

/// Configured tokens for `(name, role, token)` triples (the token's SHA-256 is stored).
pub fn tokens(
    list: &[(&str, controlplane::api::auth::Role, &str)],
) -> Vec<controlplane::config::TokenConfig> {
    list.iter()
        .map(|(name, role, t)| controlplane::config::TokenConfig {
            name: (*name).into(),
            role: *role,
            sha256: controlplane::api::auth::token_sha256_hex(t),
        })
        .collect()
}

/// Polls `f` every few milliseconds until it holds; fails the test after 20 s.
pub async fn wait_for<F: FnMut() -> bool>(what: &str, mut f: F) {
    let t = std::time::Instant::now();
    while !f() {
        assert!(
            t.elapsed() < std::time::Duration::from_secs(20),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}
