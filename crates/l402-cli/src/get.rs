//! `l402 get`: fetch a URL and pay its L402 challenge within limits.

use std::process::ExitCode;

use crate::Global;

/// Flags of `l402 get`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The URL to fetch.
    pub url: String,
}

/// Fetches the URL.
pub async fn run(_global: &Global, _args: Args) -> ExitCode {
    eprintln!("l402 get: not built yet (issue 5)");
    ExitCode::FAILURE
}
