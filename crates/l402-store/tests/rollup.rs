//! Migration 4 backfills the stats rollup from payments recorded before it,
//! and recorded payments keep it exact, on SQLite and PostgreSQL
//! (`L402_TEST_DATABASE_URL`; each test uses a fresh schema).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod pg_support;

use pg_support::{DropSchema, pg_url, unique_schema};

use l402_store::{MerchantStore, PaymentRecord, PaymentStore, StatsStore, Store};

/// Undoes migration 4 as if the database predated it, inserts `n` payments
/// of merchant 1 on day 20,000 straight into `payments`, through `exec`.
fn downgrade_sql(n: u64) -> Vec<String> {
    let mut sql: Vec<String> = [
        "DROP TABLE payment_rollup",
        "DROP TABLE lnurl_challenges",
        "DROP TABLE sessions",
        "DROP TABLE linking_keys",
        "DELETE FROM _sqlx_migrations WHERE version = 4",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for i in 0..n {
        sql.push(format!(
            "INSERT INTO payments (payment_hash, merchant_id, resource, amount_sats, verified_at) \
             VALUES ('{i:064x}', 1, '/r', {}, {})",
            i + 1,
            20_000 * 86_400 + i
        ));
    }
    sql
}

async fn check(store: &Store) {
    let a = store.activity(1, 19_990, 20).await.unwrap();
    assert_eq!((a.payments, a.sats), (5, 15), "{}", store.backend());
    assert_eq!(a.by_day.len(), 1);
    assert_eq!(a.by_day[0].day, 20_000);
    assert_eq!(a.recent.len(), 5);
    // A payment recorded now is added to the rollup (once: a repeat is not).
    let p = PaymentRecord {
        payment_hash: "ff".repeat(32),
        merchant_id: 1,
        resource: None,
        amount_sats: 100,
        verified_at: 20_001 * 86_400,
    };
    assert!(store.record_payment(&p).await.unwrap());
    assert!(!store.record_payment(&p).await.unwrap());
    let a = store.activity(1, 19_990, 20).await.unwrap();
    assert_eq!((a.payments, a.sats, a.by_day.len()), (6, 115, 2));
    assert_eq!(store.global_totals().await.unwrap(), (6, 115));
    // A rebuild gives the same numbers.
    store.rebuild_payment_rollup().await.unwrap();
    assert_eq!(store.activity(1, 19_990, 20).await.unwrap(), a);
}

#[tokio::test]
async fn migration_4_backfills_the_rollup_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.sqlite");
    let store = Store::sqlite(&path).await.unwrap();
    store.create_merchant("m").await.unwrap();
    store.close().await;
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    for sql in downgrade_sql(5) {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&pool)
            .await
            .unwrap();
    }
    pool.close().await;
    let store = Store::sqlite(&path).await.unwrap();
    check(&store).await;
}

#[tokio::test]
async fn migration_4_backfills_the_rollup_on_postgres() {
    let Some(url) = pg_url() else { return };
    let schema = unique_schema("rollup");
    let _drop = DropSchema {
        url: url.clone(),
        schema: schema.clone(),
    };
    let open = || {
        Store::builder()
            .postgres(url.clone())
            .schema(schema.clone())
            .open()
    };
    let store = open().await.unwrap();
    store.create_merchant("m").await.unwrap();
    store.close().await;
    {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SET search_path TO \"{schema}\""
        )))
        .execute(&mut conn)
        .await
        .unwrap();
        for sql in downgrade_sql(5) {
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(&mut conn)
                .await
                .unwrap();
        }
    }
    let store = open().await.unwrap();
    check(&store).await;
}
