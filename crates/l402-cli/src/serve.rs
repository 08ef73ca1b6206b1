//! `l402 serve`: run a paid API.

use std::process::ExitCode;

use crate::Global;

/// Flags of `l402 serve`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs the server until interrupted.
pub async fn run(_global: &Global, _args: Args) -> ExitCode {
    eprintln!("l402 serve: not built yet (issue 4)");
    ExitCode::FAILURE
}
