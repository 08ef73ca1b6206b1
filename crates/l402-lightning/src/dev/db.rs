//! The dev node's SQLite access: one dedicated writing connection, plus a
//! reader pool when the ledger is on disk.
//!
//! The writer is a bare connection behind a mutex rather than a one-connection
//! pool: sqlx's pool pings every connection when it is returned (a round trip
//! to SQLite's worker thread), which with a single connection sits on the
//! critical path of the next write and roughly doubles its latency.

use sqlx::sqlite::{SqliteArguments, SqliteConnection, SqlitePool, SqliteQueryResult, SqliteRow};
use sqlx::{Connection, Sqlite};
use tokio::sync::{MappedMutexGuard, Mutex, MutexGuard};

use super::{BACKEND, storage};
use crate::BackendError;

type Query<'q> = sqlx::query::Query<'q, Sqlite, SqliteArguments>;

pub(super) struct Db {
    writer: Mutex<Option<SqliteConnection>>,
    /// On disk: a pool of readers. In memory: `None`, reads use the writer (an
    /// in-memory database lives in exactly one connection).
    readers: Option<SqlitePool>,
}

fn closed() -> BackendError {
    BackendError::Storage {
        backend: BACKEND,
        reason: "the dev node has been closed".into(),
    }
}

impl Db {
    pub(super) fn new(writer: SqliteConnection, readers: Option<SqlitePool>) -> Self {
        Db {
            writer: Mutex::new(Some(writer)),
            readers,
        }
    }

    /// Exclusive use of the writing connection.
    pub(super) async fn writer(
        &self,
    ) -> Result<MappedMutexGuard<'_, SqliteConnection>, BackendError> {
        MutexGuard::try_map(self.writer.lock().await, Option::as_mut).map_err(|_| closed())
    }

    /// Runs a write statement.
    pub(super) async fn execute(
        &self,
        query: Query<'_>,
    ) -> Result<SqliteQueryResult, BackendError> {
        let mut conn = self.writer().await?;
        query.execute(&mut *conn).await.map_err(storage)
    }

    /// Runs a write statement that returns at most one row.
    pub(super) async fn write_optional(
        &self,
        query: Query<'_>,
    ) -> Result<Option<SqliteRow>, BackendError> {
        let mut conn = self.writer().await?;
        query.fetch_optional(&mut *conn).await.map_err(storage)
    }

    /// Runs a read that returns at most one row.
    pub(super) async fn read_optional(
        &self,
        query: Query<'_>,
    ) -> Result<Option<SqliteRow>, BackendError> {
        match &self.readers {
            Some(pool) => query.fetch_optional(pool).await.map_err(storage),
            None => self.write_optional(query).await,
        }
    }

    /// Closes the readers, then the writer (which checkpoints the WAL).
    pub(super) async fn close(&self) {
        if let Some(pool) = &self.readers {
            pool.close().await;
        }
        if let Some(conn) = self.writer.lock().await.take() {
            let _ = conn.close().await;
        }
    }

    /// Starts an immediate (write-locking) transaction on the writer.
    pub(super) async fn begin_immediate<'c>(
        conn: &'c mut SqliteConnection,
    ) -> Result<sqlx::Transaction<'c, Sqlite>, sqlx::Error> {
        conn.begin_with("BEGIN IMMEDIATE").await
    }
}
