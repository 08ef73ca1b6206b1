//! `[store]`: where merchants, keys, challenges and payments are kept
//! (SQLite in the data directory, or PostgreSQL).

use serde::Deserialize;

use super::{ConfigError, Overrides, err};

/// `[store]`: where merchants, keys, challenges and payments are kept.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// `postgres://user@host:port/db`; default: SQLite in the data directory.
    pub url: Option<String>,
    /// The PostgreSQL schema (default `public`).
    pub schema: Option<String>,
    /// The most database connections.
    pub max_connections: Option<u32>,
}

/// Where the store lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreTarget {
    /// `<data dir>/store.sqlite`.
    Sqlite,
    /// A PostgreSQL database.
    Postgres {
        /// The URL.
        url: String,
        /// The schema, if not `public`.
        schema: Option<String>,
    },
}

/// The store, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Store {
    /// Where.
    pub target: StoreTarget,
    /// The most connections.
    pub max_connections: u32,
}

/// `[store]` with `--database-url` / `--database-schema` applied, checked.
pub(super) fn resolve(
    source: &str,
    file: StoreConfig,
    overrides: &Overrides,
) -> Result<Store, ConfigError> {
    let url_src = if overrides.database_url.is_some() {
        "--database-url / L402_DATABASE_URL"
    } else {
        source
    };
    let schema_src = if overrides.database_schema.is_some() {
        "--database-schema / L402_DATABASE_SCHEMA"
    } else {
        source
    };
    let url = overrides
        .database_url
        .clone()
        .filter(|u| !u.is_empty())
        .or(file.url);
    let schema = overrides
        .database_schema
        .clone()
        .filter(|s| !s.is_empty())
        .or(file.schema);
    if let Some(schema) = &schema {
        let ok = schema.len() <= 63
            && schema.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
            && schema
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !ok {
            return Err(err(
                schema_src,
                "store.schema",
                format!("{schema:?} must be lower-case letters, digits and _ (at most 63)"),
            ));
        }
    }
    let target = match url {
        None => {
            if schema.is_some() {
                return Err(err(
                    schema_src,
                    "store.schema",
                    "a schema needs a PostgreSQL store.url",
                ));
            }
            StoreTarget::Sqlite
        }
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            StoreTarget::Postgres { url, schema }
        }
        Some(_) => {
            return Err(err(
                url_src,
                "store.url",
                "must be a PostgreSQL URL (postgres://user@host:5432/db); leave it out for SQLite in the data directory",
            ));
        }
    };
    let max_connections = file.max_connections.unwrap_or(16);
    if !(1..=1000).contains(&max_connections) {
        return Err(err(
            source,
            "store.max_connections",
            "must be between 1 and 1000",
        ));
    }
    Ok(Store {
        target,
        max_connections,
    })
}
