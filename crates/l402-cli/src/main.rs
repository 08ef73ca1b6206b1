//! `l402`: run a paid API (`l402 serve`) or fetch one and pay safely
//! (`l402 get`). A thin binary: it parses flags and configuration and wires
//! the library crates together.
//!
//! Both commands take the same Lightning nodes: the embedded dev node,
//! LNbits, and phoenixd, LND and Core Lightning configured one way for
//! `serve`'s `[backend]` and `get`'s `[wallet]` (keys, `L402_<NODE>_*`
//! variables, Lightning Enable's `LND_REST_HOST` / `LND_MACAROON_HEX`): see
//! the `node` module and `l402 serve --help`, `l402 get --help`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod check;
mod config;
mod devwallet;
mod get;
mod mcp;
mod merchant;
mod node;
mod paths;
mod serve;
mod state;
mod tls;
mod token;
mod wallet;

/// Charge for an HTTP API per request over Lightning (L402), or pay for one.
#[derive(Debug, Parser)]
#[command(name = "l402", version, about, long_about = None)]
pub struct Cli {
    /// Where l402 keeps its state (SQLite files, keys, tokens).
    /// Default: $XDG_DATA_HOME/l402 or ~/.local/share/l402.
    #[arg(long, env = "L402_DATA_DIR", global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,

    /// Print machine-readable JSON on stdout instead of text for people.
    #[arg(long, global = true)]
    json: bool,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a paid HTTP API (zero config: the embedded dev node and a demo endpoint).
    Serve(Box<serve::Args>),
    /// Fetch a URL, paying its L402 challenge within your limits.
    Get(Box<get::Args>),
    /// Check a seller's paid URL against what the deployed L402 clients
    /// expect, item by item (with --pay, buy once and check the paid path).
    Check(Box<check::Args>),
    /// Manage producer API merchants and their API keys.
    Merchant(Box<merchant::Args>),
    /// See and manage the tokens `l402 get` bought: list, show, rm, export,
    /// import, attenuate (a narrower token for a sub-agent).
    Token(Box<token::Args>),
    /// Serve the l402 MCP tools over stdio (for Claude Desktop, Cursor and
    /// other MCP hosts): pay for L402 APIs within a spending policy, and sell.
    Mcp(Box<mcp::Args>),
}

/// Options every subcommand sees.
#[derive(Debug, Clone)]
pub struct Global {
    /// The resolved data directory.
    pub data_dir: PathBuf,
    /// JSON output requested.
    pub json: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let global = Global {
        data_dir: paths::data_dir(cli.data_dir),
        json: cli.json,
    };
    let mut runtime = match cli.command {
        Command::Serve(_) | Command::Mcp(_) => tokio::runtime::Builder::new_multi_thread(),
        // One request or one store operation: no worker threads to start.
        Command::Get(_) | Command::Check(_) | Command::Merchant(_) | Command::Token(_) => {
            tokio::runtime::Builder::new_current_thread()
        }
    };
    let runtime = match runtime.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        match cli.command {
            Command::Serve(args) => serve::run(&global, *args).await,
            Command::Get(args) => get::run(&global, *args).await,
            Command::Check(args) => check::run(&global, *args).await,
            Command::Merchant(args) => merchant::run(&global, *args).await,
            Command::Token(args) => token::run(&global, *args).await,
            Command::Mcp(args) => mcp::run(&global, *args).await,
        }
    })
}
