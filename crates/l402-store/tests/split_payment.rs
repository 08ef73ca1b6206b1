//! A settled payment and its split credit are written in one transaction
//! (`PayoutStore::record_split_payment`): when either statement fails,
//! neither is written; once both succeed, repeating writes nothing twice;
//! and the payout they queue knows whose payments it pays. On SQLite and
//! PostgreSQL (`L402_TEST_DATABASE_URL`; a fresh schema per test). The
//! failures are real database errors, raised by a trigger.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod pg_support;

use pg_support::{DropSchema, pg_url, unique_schema};

use l402_store::{Credited, MerchantStore, PaymentRecord, PayoutStore, SplitCredit, Store};

const OWNER: &str = "bob@owner.example";

fn payment(merchant_id: i64) -> PaymentRecord {
    PaymentRecord {
        payment_hash: "ab".repeat(32),
        merchant_id,
        resource: Some("/api/weather".into()),
        amount_sats: 1_000,
        verified_at: 20_000 * 86_400,
    }
}

fn credit(source: &str) -> SplitCredit<'_> {
    SplitCredit {
        source,
        owner_address: OWNER,
        owner_sats: 997,
        fee_sats: 3,
        min_payout_sats: 10,
        max_open_payouts: 100,
        max_accrual_addresses: 100,
    }
}

/// Runs SQL on the store's database, outside the store.
trait Sql {
    async fn run(&self, sql: &str);
    async fn count(&self, table: &str) -> i64;
}

/// A pool of either database (SQLite or PostgreSQL).
struct Db<D: sqlx::Database>(sqlx::Pool<D>);

impl<D: sqlx::Database> Sql for Db<D>
where
    for<'c> &'c sqlx::Pool<D>: sqlx::Executor<'c, Database = D>,
    i64: for<'r> sqlx::Decode<'r, D> + sqlx::Type<D>,
    usize: sqlx::ColumnIndex<D::Row>,
{
    async fn run(&self, sql: &str) {
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
            .execute(&self.0)
            .await
            .unwrap();
    }
    async fn count(&self, table: &str) -> i64 {
        let sql = format!("SELECT COUNT(*) FROM {table}");
        let row = sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .fetch_one(&self.0)
            .await
            .unwrap();
        sqlx::Row::get(&row, 0)
    }
}

/// Nothing of the payment or its split is written.
async fn nothing_written(db: &impl Sql, store: &Store) {
    for table in [
        "payments",
        "payment_rollup",
        "split_credits",
        "split_accruals",
        "payouts",
    ] {
        assert_eq!(db.count(table).await, 0, "{table} ({})", store.backend());
    }
}

/// `fail(table)` makes inserts into `table` fail; `heal(table)` undoes it.
async fn scenario<F, H>(store: &Store, db: &impl Sql, fail: F, heal: H)
where
    F: Fn(&'static str) -> String,
    H: Fn(&'static str) -> String,
{
    let merchant = store.create_merchant("m").await.unwrap().id;
    let p = payment(merchant);
    // The second statement (the credit) fails: the payment is not recorded;
    // the first (the payment) fails: the credit is not written.
    for table in ["split_credits", "payments"] {
        db.run(&fail(table)).await;
        let err = store
            .record_split_payment(&p, Some(credit(&p.payment_hash)))
            .await;
        assert!(err.is_err(), "{table}: {err:?}");
        nothing_written(db, store).await;
        db.run(&heal(table)).await;
    }

    // Both succeed, together; the payout queued knows whose payment it pays.
    let (new, credited) = store
        .record_split_payment(&p, Some(credit(&p.payment_hash)))
        .await
        .unwrap();
    assert!(new);
    let Some(Credited::Queued {
        payout_id,
        amount_sats: 997,
    }) = credited
    else {
        panic!("{credited:?}")
    };
    assert_eq!(
        store.payout_merchants(&payout_id).await.unwrap(),
        [merchant]
    );
    // Again (a second verification, or a retry after a crash): nothing twice.
    let again = store
        .record_split_payment(&p, Some(credit(&p.payment_hash)))
        .await
        .unwrap();
    assert_eq!(again, (false, Some(Credited::Duplicate)));
    for (table, n) in [("payments", 1), ("split_credits", 1), ("payouts", 1)] {
        assert_eq!(db.count(table).await, n, "{table}");
    }
    assert_eq!(store.payouts(10).await.unwrap()[0].amount_sats, 997);
    // Without a split: the payment alone.
    let mut other = payment(merchant);
    other.payment_hash = "cd".repeat(32);
    assert_eq!(
        store.record_split_payment(&other, None).await.unwrap(),
        (true, None)
    );
    assert_eq!(db.count("split_credits").await, 1);
    // A payout of a manual split (no recorded payment) names no merchant.
    let manual = store.credit_split(credit("manual-1")).await.unwrap();
    let Credited::Queued { payout_id, .. } = manual else {
        panic!("{manual:?}")
    };
    assert!(store.payout_merchants(&payout_id).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_payment_and_its_split_credit_are_written_together_or_not_at_all_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.sqlite");
    let store = Store::sqlite(&path).await.unwrap();
    let db = Db(
        sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
            .await
            .unwrap(),
    );
    scenario(
        &store,
        &db,
        |t| {
            format!(
                "CREATE TRIGGER fail_{t} BEFORE INSERT ON {t} \
                 BEGIN SELECT RAISE(ABORT, 'injected failure'); END"
            )
        },
        |t| format!("DROP TRIGGER fail_{t}"),
    )
    .await;
}

#[tokio::test]
async fn a_payment_and_its_split_credit_are_written_together_or_not_at_all_on_postgres() {
    let Some(url) = pg_url() else { return };
    let schema = unique_schema("split_payment");
    let _drop = DropSchema {
        url: url.clone(),
        schema: schema.clone(),
    };
    let store = Store::builder()
        .postgres(url.clone())
        .schema(schema.clone())
        .open()
        .await
        .unwrap();
    let search_path = schema.clone();
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .after_connect(move |conn, _| {
            let sql = format!("SET search_path TO \"{search_path}\"");
            Box::pin(async move {
                sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                    .execute(conn)
                    .await?;
                Ok(())
            })
        })
        .connect(&url)
        .await
        .unwrap();
    let db = Db(pool);
    db.run(
        "CREATE FUNCTION injected_failure() RETURNS trigger LANGUAGE plpgsql AS \
         $$ BEGIN RAISE EXCEPTION 'injected failure'; END $$",
    )
    .await;
    scenario(
        &store,
        &db,
        |t| {
            format!(
                "CREATE TRIGGER fail_{t} BEFORE INSERT ON {t} \
                 FOR EACH ROW EXECUTE FUNCTION injected_failure()"
            )
        },
        |t| format!("DROP TRIGGER fail_{t} ON {t}"),
    )
    .await;
}
