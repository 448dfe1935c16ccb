//! Stand-alone driver for `rules::cli` (what `osprey rules ...` dispatches to), for
//! measuring without the appliance binary: `cargo run -p rules --example rules_cli -- check FILE...`.

use clap::Parser;

#[derive(Debug, Parser)]
struct Cli {
    #[command(subcommand)]
    command: rules::cli::RulesCommand,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let code = rules::cli::run(rules::cli::RulesArgs {
        command: cli.command,
    })?;
    std::process::exit(code)
}
