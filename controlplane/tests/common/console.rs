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
