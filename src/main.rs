use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = tessera::cli::Cli::parse();
    let settings = match tessera::config::Settings::load(cli.config.as_deref()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("tessera: {e}");
            return ExitCode::from(2);
        }
    };
    let serving = matches!(cli.command, tessera::cli::Command::Serve);
    let _log_writer = tessera::telemetry::init(serving);
    tessera::cli::run(cli.command, settings)
}
