//! `l402 token`: the tokens `l402 get` bought, as a person sees them. The
//! store is the client's (`<data dir>/client.sqlite`, the same one `get`
//! reuses tokens from): `list`, `show` (never the preimage unless
//! `--reveal`), `rm`, `export`/`import` (a credential for another machine
//! or agent) and `attenuate` (a narrower token for a sub-agent: caveats
//! only narrow, decision 4).

mod attenuate;
mod transfer;
mod view;

use std::process::ExitCode;

use anyhow::{Context, anyhow, bail};
use l402_client::{Scope, SqliteStore, StoredToken, TokenStore};
use reqwest::Url;
use serde_json::json;

use crate::{Global, get};

/// Exit codes (documented in `l402 token --help`).
mod exit {
    pub const ERROR: u8 = 1;
    pub const NOT_FOUND: u8 = 4;
}

/// Flags of `l402 token`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
A TOKEN is named by the URL it was bought for (`https://api.example/data`), the
scope as `list` prints it, or the start of its payment hash (at least 8 hex
digits).

The store is <data dir>/client.sqlite, the one `l402 get` reuses tokens from.
Export output and attenuated credentials carry the preimage: they are the
credential itself. `show` prints it only with --reveal; nothing else does.

Exit codes:
  0  done
  1  error (storage, bad input, a caveat that would widen the token)
  2  usage error
  4  no stored token matches")]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Every stored token: origin, path, kind, amount paid, expiry, uses.
    List,
    /// One token: its macaroon decoded (identifier, caveats), what was paid.
    Show {
        /// The token (URL, scope or payment hash prefix).
        token: String,
        /// Also print the preimage (the secret half of the credential).
        #[arg(long)]
        reveal: bool,
    },
    /// Delete a stored token (the next `l402 get` pays again).
    Rm {
        /// The token (URL, scope or payment hash prefix).
        token: String,
    },
    /// Print a token as one line of JSON for `l402 token import` on another
    /// machine or agent (it carries the preimage).
    Export {
        /// The token (URL, scope or payment hash prefix).
        token: String,
    },
    /// Store a token exported elsewhere (or by `attenuate --json`): the JSON
    /// from a file, `-` for standard input; or `--scope URL` and an
    /// `L402 <token>:<preimage>` credential.
    Import {
        /// A file with the exported JSON, `-` for standard input, or with
        /// --scope the credential itself.
        input: String,
        /// Store a bare credential for this URL.
        #[arg(long, value_name = "URL")]
        scope: Option<String>,
    },
    /// Add narrowing caveats to a stored token and print the new credential
    /// (the stored token is unchanged): hand a sub-agent less than you bought.
    Attenuate(attenuate::Args),
}

/// Runs a `token` subcommand.
pub async fn run(global: &Global, args: Args) -> ExitCode {
    match dispatch(global, args.command).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let code = if e.downcast_ref::<NotFound>().is_some() {
                exit::NOT_FOUND
            } else {
                exit::ERROR
            };
            if global.json {
                let out = json!({
                    "ok": false,
                    "error": {
                        "code": if code == exit::NOT_FOUND { "not_found" } else { "error" },
                        "message": format!("{e:#}"),
                    },
                });
                println!("{out}");
            } else {
                eprintln!("l402 token: error: {e:#}");
            }
            ExitCode::from(code)
        }
    }
}

async fn open(global: &Global) -> anyhow::Result<SqliteStore> {
    let path = global.data_dir.join(get::DB_FILE);
    SqliteStore::open(&path)
        .await
        .with_context(|| format!("opening {}", path.display()))
}

async fn dispatch(global: &Global, command: Command) -> anyhow::Result<()> {
    let store = open(global).await?;
    match command {
        Command::List => {
            let tokens = store.list().await?;
            view::list(global, &tokens);
        }
        Command::Show { token, reveal } => {
            let token = find(&store, &token).await?;
            view::show(global, &token, reveal);
        }
        Command::Rm { token } => {
            let token = find(&store, &token).await?;
            store.remove(&token.scope, &token.payment_hash).await?;
            if global.json {
                println!(
                    "{}",
                    json!({"ok": true, "removed": token.scope, "payment_hash": token.payment_hash.to_string()})
                );
            } else {
                println!("removed the token for {}", token.scope);
            }
        }
        Command::Export { token } => {
            let token = find(&store, &token).await?;
            println!("{}", transfer::export(&token));
        }
        Command::Import { input, scope } => {
            let token = transfer::read(&input, scope.as_deref())?;
            store.put(&token).await?;
            if global.json {
                println!(
                    "{}",
                    json!({"ok": true, "imported": token.scope, "payment_hash": token.payment_hash.to_string(), "kind": token.kind})
                );
            } else {
                println!("imported a token for {} ({})", token.scope, token.kind);
            }
        }
        Command::Attenuate(args) => {
            let token = find(&store, &args.token).await?;
            attenuate::run(global, &token, &args)?;
        }
    }
    store.close().await;
    Ok(())
}

/// No stored token matches (exit 4).
#[derive(Debug)]
struct NotFound(String);

impl std::fmt::Display for NotFound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "no stored token matches {:?} (see `l402 token list`)",
            self.0
        )
    }
}

impl std::error::Error for NotFound {}

/// The scope a URL's token is stored under.
fn scope_of(url: &str) -> anyhow::Result<String> {
    let parsed = Url::parse(url).with_context(|| format!("invalid URL {url:?}"))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        bail!("only http(s) URLs with a host, not {url:?}");
    }
    Ok(Scope::of(&parsed).as_str().to_owned())
}

/// The stored token `name` designates: a URL, a scope, or a payment hash
/// prefix of at least 8 hex digits matching one token only.
async fn find(store: &SqliteStore, name: &str) -> anyhow::Result<StoredToken> {
    if let Ok(scope) = scope_of(name)
        && let Some(token) = store.get(&scope).await?
    {
        return Ok(token);
    }
    if let Some(token) = store.get(name).await? {
        return Ok(token);
    }
    let prefix = name.to_ascii_lowercase();
    if prefix.len() >= 8 && prefix.bytes().all(|b| b.is_ascii_hexdigit()) {
        let matches: Vec<StoredToken> = store
            .list()
            .await?
            .into_iter()
            .filter(|t| t.payment_hash.to_string().starts_with(&prefix))
            .collect();
        match matches.len() {
            0 => {}
            1 => return matches.into_iter().next().ok_or_else(|| anyhow!("gone")),
            n => bail!("{n} tokens have payment hashes starting {prefix:?}: give more digits"),
        }
    }
    Err(NotFound(name.to_owned()).into())
}
