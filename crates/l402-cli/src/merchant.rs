//! `l402 merchant`: merchants and their API keys for the producer API, managed
//! directly in the store `l402 serve` uses (SQLite in the data directory, or
//! the configured PostgreSQL), so it works whether or not a server runs.

use std::path::PathBuf;
use std::process::ExitCode;

use l402::time::rfc3339;
use l402_store::{MerchantStatus, MerchantStore, Store};
use serde_json::json;

use crate::{Global, config, state};

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
    /// Link an LNURL-auth linking key (a wallet's 33-byte compressed public
    /// key, hex) to a merchant: its dashboard sessions then act for it.
    LinkKey {
        /// The merchant id.
        merchant: i64,
        /// The linking key (66 hex digits).
        key: String,
    },
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
    if let Err(e) = state::create_data_dir(&global.data_dir) {
        eprintln!("error: {e:#}");
        return ExitCode::FAILURE;
    }
    let store = match state::open_store(&global.data_dir, &config.store).await {
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
        Command::LinkKey { merchant, key } => {
            let Some(key) = l402_producer::parse_linking_key(&key) else {
                anyhow::bail!(
                    "{key:?} is not a linking key (66 hex digits, a compressed public key)"
                );
            };
            l402_store::IdentityStore::link_key(store, &key, merchant)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            if global.json {
                println!("{}", json!({"merchantId": merchant, "key": key}));
            } else {
                println!("linking key {key} now acts for merchant {merchant}");
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
