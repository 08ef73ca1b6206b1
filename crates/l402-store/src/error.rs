//! [`StoreError`].

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database could not be opened (path, URL, connection).
    #[error("cannot open the database: {0}")]
    Open(String),
    /// The database URL or schema name is not usable.
    #[error("invalid database configuration: {0}")]
    Config(String),
    /// Migrating the schema failed.
    #[error("migrating the database failed: {0}")]
    Migrate(String),
    /// A query failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// A stored value is not what this version wrote.
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    /// The random generator failed.
    #[error("random generator failed: {0}")]
    Random(String),
    /// The thing referred to does not exist.
    #[error("{0} not found")]
    NotFound(String),
}
