//! What the commands share in the data directory: the server secret that
//! signs tokens, the producer store and the producer API's admin token.
//! `l402 serve` and `l402 merchant` both use these; neither reaches into the
//! other.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use l402::Keyring;
use l402_server::keys;
use l402_store::Store;

use crate::config::{self, StoreTarget};

/// The SQLite store's file name in the data directory.
pub const STORE_FILE: &str = "store.sqlite";
const SECRET_FILE: &str = "server-secret";
const ADMIN_TOKEN_FILE: &str = "admin-token";
const ADMIN_TOKEN_ENV: &str = "L402_ADMIN_TOKEN";

/// Creates the data directory (and its parents).
pub fn create_data_dir(data_dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(data_dir).map_err(|e| {
        anyhow::anyhow!(
            "cannot create the data directory {}: {e}",
            data_dir.display()
        )
    })
}

/// The keyring that signs and verifies tokens: `L402_SERVER_SECRET` (64 hex
/// digits, to share one secret between instances), else
/// `<data dir>/server-secret` (created on first start, mode 0600).
pub fn keyring(data_dir: &Path) -> anyhow::Result<Keyring> {
    if let Some(keyring) = keys::from_env(keys::SERVER_SECRET_ENV)? {
        return Ok(keyring);
    }
    let path = data_dir.join(SECRET_FILE);
    match keys::from_file(&path) {
        Ok(keyring) => Ok(keyring),
        Err(keys::LoadError::Read { source, .. })
            if source.kind() == std::io::ErrorKind::NotFound =>
        {
            let mut secret = [0u8; 32];
            getrandom::getrandom(&mut secret)
                .map_err(|e| anyhow::anyhow!("the system random generator failed: {e}"))?;
            let text = hex::encode(secret);
            secret.fill(0);
            match create_private(&path, &text) {
                Ok(()) => Ok(keys::from_hex(&text).context("the new server secret")?),
                // Another instance created it first: use theirs.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => keyring(data_dir),
                Err(e) => Err(anyhow::anyhow!("cannot create {}: {e}", path.display())),
            }
        }
        Err(e @ keys::LoadError::File { .. }) => Err(anyhow::anyhow!(
            "{e}; restore it, or delete it to start over (tokens already sold will stop working)"
        )),
        Err(e) => Err(e.into()),
    }
}

/// Opens the producer store a configuration names: SQLite
/// `<data dir>/store.sqlite`, or PostgreSQL.
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

/// The producer API's admin token: `L402_ADMIN_TOKEN`, else
/// `<data dir>/admin-token` (created on first use, mode 0600). Returns the
/// token and the file it came from, if any.
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
            match create_private(&path, &token) {
                Ok(()) => Ok((token, Some(path))),
                // Another instance created it first: use theirs.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => admin_token(data_dir),
                Err(e) => Err(anyhow::anyhow!("cannot create {}: {e}", path.display())),
            }
        }
        Err(e) => Err(anyhow::anyhow!("cannot read {}: {e}", path.display())),
    }
}

/// Creates `path` with `line` in it, readable by its owner only; fails with
/// `AlreadyExists` if it exists.
fn create_private(path: &Path, line: &str) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    writeln!(file, "{line}")?;
    file.sync_all()
}
