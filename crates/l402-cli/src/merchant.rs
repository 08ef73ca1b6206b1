//! `l402 merchant`: merchants and their API keys for the producer API, managed
//! directly in the store `l402 serve` uses (SQLite in the data directory, or
//! the configured PostgreSQL), so it works whether or not a server runs.
//! Also: the store and admin token helpers `l402 serve` uses.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use l402_store::{MerchantStatus, MerchantStore, Store};
use serde_json::json;

use crate::Global;
use crate::serve::config::{self, StoreTarget};

/// The SQLite store's file name in the data directory.
pub const STORE_FILE: &str = "store.sqlite";
const ADMIN_TOKEN_FILE: &str = "admin-token";
const ADMIN_TOKEN_ENV: &str = "L402_ADMIN_TOKEN";

/// Flags of `l402 merchant`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
The store is <data dir>/store.sqlite, or the PostgreSQL database of
--database-url / L402_DATABASE_URL / [store] url in the config file.
API keys are shown once, when created; only their hash is stored.")]
pub struct Args {
    /// Configuration file (TOML) whose [store] to use.
    #[arg(
        long,
        short = 'c',
        env = "L402_CONFIG",
        value_name = "FILE",
        global = true
    )]
    config: Option<PathBuf>,

    /// PostgreSQL URL (default: SQLite in the data directory).
    #[arg(
        long,
        env = "L402_DATABASE_URL",
        value_name = "URL",
        hide_env_values = true,
        global = true
    )]
    database_url: Option<String>,

    /// PostgreSQL schema (default public).
    #[arg(long, env = "L402_DATABASE_SCHEMA", value_name = "NAME", global = true)]
    database_schema: Option<String>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Create a merchant.
    Create {
        /// A name for people.
        name: String,
    },
    /// List merchants.
    List,
    /// Suspend a merchant: its keys get 403.
    Suspend {
        /// The merchant id.
        id: i64,
    },
    /// Reactivate a suspended merchant.
    Activate {
        /// The merchant id.
        id: i64,
    },
    /// Manage a merchant's API keys.
    #[command(subcommand)]
    Key(KeyCommand),
}

#[derive(Debug, clap::Subcommand)]
enum KeyCommand {
    /// Create an API key (printed once; only its hash is stored).
    Create {
        /// The merchant id.
        merchant: i64,
        /// A label for people.
        #[arg(long)]
        label: Option<String>,
    },
    /// List a merchant's keys (ids, never the keys).
    List {
        /// The merchant id.
        merchant: i64,
    },
    /// Revoke a key.
    Revoke {
        /// The merchant id.
        merchant: i64,
        /// The key id (from `key list`).
        key_id: String,
    },
}

/// Opens the store a configuration names.
pub async fn open_store(data_dir: &Path, store: &config::Store) -> anyhow::Result<Store> {
    let opened = match &store.target {
        StoreTarget::Sqlite => {
            let path = data_dir.join(STORE_FILE);
            Store::builder()
                .sqlite(&path)
                .max_connections(store.max_connections)
                .open()
                .await
                .with_context(|| format!("opening {}", path.display()))?
        }
        StoreTarget::Postgres { url, schema } => {
            let mut builder = Store::builder()
                .postgres(url.clone())
                .max_connections(store.max_connections);
            if let Some(schema) = schema {
                builder = builder.schema(schema.clone());
            }
            builder
                .open()
                .await
                .context("opening the PostgreSQL store")?
        }
    };
    Ok(opened)
}

/// The admin token: `L402_ADMIN_TOKEN`, else `<data dir>/admin-token`
/// (created on first use, mode 0600). Returns the token and the file it came
/// from, if any.
pub fn admin_token(data_dir: &Path) -> anyhow::Result<(String, Option<PathBuf>)> {
    if let Ok(token) = std::env::var(ADMIN_TOKEN_ENV) {
        let token = token.trim().to_owned();
        if token.len() < 16 {
            anyhow::bail!("{ADMIN_TOKEN_ENV} must be at least 16 characters");
        }
        return Ok((token, None));
    }
    let path = data_dir.join(ADMIN_TOKEN_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let token = text.trim().to_owned();
            if token.len() < 16 {
                anyhow::bail!(
                    "{} must hold at least 16 characters; delete it to get a new token",
                    path.display()
                );
            }
            Ok((token, Some(path)))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut bytes = [0u8; 32];
            getrandom::getrandom(&mut bytes)
                .map_err(|e| anyhow::anyhow!("the system random generator failed: {e}"))?;
            let token = hex::encode(bytes);
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            match options.open(&path) {
                Ok(mut file) => {
                    writeln!(file, "{token}")?;
                    file.sync_all()?;
                    Ok((token, Some(path)))
                }
                // Another instance created it first: use theirs.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => admin_token(data_dir),
                Err(e) => Err(anyhow::anyhow!("cannot create {}: {e}", path.display())),
            }
        }
        Err(e) => Err(anyhow::anyhow!("cannot read {}: {e}", path.display())),
    }
}

fn rfc3339(secs: u64) -> String {
    l402_server::rfc3339(secs)
}

/// Runs `l402 merchant ...`.
pub async fn run(global: &Global, args: Args) -> ExitCode {
    let overrides = config::Overrides {
        database_url: args.database_url.clone(),
        database_schema: args.database_schema.clone(),
        ..config::Overrides::default()
    };
    let config = match config::load(args.config.as_deref(), &overrides) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: invalid configuration: {e}");
            return ExitCode::from(2);
        }
    };
    if let Err(e) = std::fs::create_dir_all(&global.data_dir) {
        eprintln!(
            "error: cannot create the data directory {}: {e}",
            global.data_dir.display()
        );
        return ExitCode::FAILURE;
    }
    let store = match open_store(&global.data_dir, &config.store).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    let result = command(global, &store, args.command).await;
    store.close().await;
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn merchant_json(m: &l402_store::Merchant) -> serde_json::Value {
    json!({"id": m.id, "name": m.name, "status": m.status.as_str(), "createdAt": rfc3339(m.created_at)})
}

fn key_json(k: &l402_store::ApiKeyInfo) -> serde_json::Value {
    json!({
        "id": k.id,
        "merchantId": k.merchant_id,
        "label": k.label,
        "createdAt": rfc3339(k.created_at),
        "revokedAt": k.revoked_at.map(rfc3339),
    })
}

async fn command(global: &Global, store: &Store, command: Command) -> anyhow::Result<()> {
    match command {
        Command::Create { name } => {
            let name = name.trim();
            if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
                anyhow::bail!("the name must be 1 to 200 printable characters");
            }
            let m = store.create_merchant(name).await?;
            if global.json {
                println!("{}", merchant_json(&m));
            } else {
                println!("merchant {} created: {}", m.id, m.name);
                println!("create an API key with: l402 merchant key create {}", m.id);
            }
        }
        Command::List => {
            let merchants = store.merchants().await?;
            if global.json {
                let list: Vec<_> = merchants.iter().map(merchant_json).collect();
                println!("{}", json!({ "merchants": list }));
            } else if merchants.is_empty() {
                println!("no merchants yet: l402 merchant create <name>");
            } else {
                println!("{:>6}  {:<10}  {:<20}  name", "id", "status", "created");
                for m in merchants {
                    println!(
                        "{:>6}  {:<10}  {:<20}  {}",
                        m.id,
                        m.status.as_str(),
                        rfc3339(m.created_at),
                        m.name
                    );
                }
            }
        }
        Command::Suspend { id } | Command::Activate { id } => {
            let status = if matches!(command, Command::Suspend { .. }) {
                MerchantStatus::Suspended
            } else {
                MerchantStatus::Active
            };
            let m = store
                .set_merchant_status(id, status)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            if global.json {
                println!("{}", merchant_json(&m));
            } else {
                println!("merchant {} is now {}", m.id, m.status);
            }
        }
        Command::Key(KeyCommand::Create { merchant, label }) => {
            let created = store
                .create_api_key(merchant, label.as_deref())
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            if global.json {
                let mut v = key_json(&created.info);
                v["key"] = json!(created.key.expose());
                println!("{v}");
            } else {
                println!("{}", created.key.expose());
                eprintln!(
                    "API key {} for merchant {merchant}: shown once, store it now (send it as X-API-Key)",
                    created.info.id
                );
            }
        }
        Command::Key(KeyCommand::List { merchant }) => {
            if store.merchant(merchant).await?.is_none() {
                anyhow::bail!("merchant {merchant} not found");
            }
            let keys = store.api_keys(merchant).await?;
            if global.json {
                let list: Vec<_> = keys.iter().map(key_json).collect();
                println!("{}", json!({ "keys": list }));
            } else if keys.is_empty() {
                println!("merchant {merchant} has no keys: l402 merchant key create {merchant}");
            } else {
                println!("{:<16}  {:<20}  {:<20}  label", "id", "created", "revoked");
                for k in keys {
                    println!(
                        "{:<16}  {:<20}  {:<20}  {}",
                        k.id,
                        rfc3339(k.created_at),
                        k.revoked_at.map(rfc3339).unwrap_or_else(|| "-".into()),
                        k.label.unwrap_or_default()
                    );
                }
            }
        }
        Command::Key(KeyCommand::Revoke { merchant, key_id }) => {
            let Some(k) = store.revoke_api_key(merchant, &key_id).await? else {
                anyhow::bail!("merchant {merchant} has no key {key_id:?}");
            };
            if global.json {
                println!("{}", key_json(&k));
            } else {
                println!(
                    "key {} of merchant {merchant} revoked (running servers stop accepting it within 5 s)",
                    k.id
                );
            }
        }
    }
    Ok(())
}
