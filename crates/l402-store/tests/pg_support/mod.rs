//! PostgreSQL for tests, shared by the store, producer and `l402 serve`
//! tests (the others include this file by path): the URL from
//! `L402_TEST_DATABASE_URL`, a fresh schema per test, dropped when it ends.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

/// The test database URL; `None` (after saying how to enable it) when unset,
/// a failure instead when `L402_REQUIRE_POSTGRES=1`.
pub fn pg_url() -> Option<String> {
    match std::env::var("L402_TEST_DATABASE_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var("L402_REQUIRE_POSTGRES").as_deref() != Ok("1"),
                "L402_REQUIRE_POSTGRES=1 but L402_TEST_DATABASE_URL is not set"
            );
            eprintln!(
                "skipping the PostgreSQL part: set L402_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test to run it"
            );
            None
        }
    }
}

/// A schema name no other test uses.
pub fn unique_schema(name: &str) -> String {
    let mut b = [0u8; 6];
    getrandom::getrandom(&mut b).unwrap();
    format!("t_{name}_{}", hex::encode(b))
}

/// Drops a test's PostgreSQL schema when the test ends (best effort).
///
/// The drop waits at most a few seconds for locks: a background task of the
/// test (a producer's flush) may still hold a transaction on the schema, and
/// it cannot finish while this drop blocks the test's thread, so an
/// unbounded wait would hang the test forever. Past the timeout the schema
/// is left behind.
pub struct DropSchema {
    pub url: String,
    pub schema: String,
}

impl Drop for DropSchema {
    fn drop(&mut self) {
        let (url, schema) = (self.url.clone(), self.schema.clone());
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                use sqlx::Connection;
                if let Ok(mut conn) = sqlx::PgConnection::connect(&url).await {
                    let _ = sqlx::query("SET lock_timeout = '3s'")
                        .execute(&mut conn)
                        .await;
                    let sql = format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE");
                    let _ = sqlx::query(sqlx::AssertSqlSafe(sql))
                        .execute(&mut conn)
                        .await;
                }
            });
        })
        .join();
    }
}
