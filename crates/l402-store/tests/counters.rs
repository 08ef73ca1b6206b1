//! The proxy's shared counters on SQLite and PostgreSQL
//! (`L402_TEST_DATABASE_URL`; a fresh schema): takes from many tasks at
//! once on two pools (two proxies) grant exactly the quota or the burst.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod pg_support;

use std::sync::Arc;
use std::time::Duration;

use pg_support::{DropSchema, pg_url, unique_schema};

use l402_store::{CounterRate, ProxyCounters, Store};

/// 40 concurrent takes, half on each of `a` and `b`: how many were granted.
async fn race(a: &Arc<ProxyCounters>, b: &Arc<ProxyCounters>, rate: bool) -> usize {
    let mut tasks = Vec::new();
    for i in 0..40 {
        let c = if i % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            if rate {
                let rate = CounterRate {
                    interval_ms: 60_000,
                    tolerance_ms: 7 * 60_000,
                };
                c.take_rate("rate:s:token", "ab", rate)
                    .await
                    .unwrap()
                    .is_ok()
            } else {
                let w = Duration::from_secs(60);
                c.take_quota("freebie:s", "4:c00002", 5, w).await.unwrap()
            }
        }));
    }
    let mut granted = 0;
    for t in tasks {
        granted += usize::from(t.await.unwrap());
    }
    granted
}

async fn check(a: Store, b: Store) {
    let (a, b) = (
        Arc::new(ProxyCounters::new(a)),
        Arc::new(ProxyCounters::new(b)),
    );
    assert_eq!(race(&a, &b, false).await, 5, "the quota, once");
    assert_eq!(race(&a, &b, true).await, 7, "the burst, once");
}

#[tokio::test]
async fn sqlite_two_pools_share_one_count() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.sqlite");
    let a = Store::sqlite(&path).await.unwrap();
    let b = Store::sqlite(&path).await.unwrap();
    check(a, b).await;
}

#[tokio::test]
async fn postgres_two_pools_share_one_count() {
    let Some(url) = pg_url() else { return };
    let schema = unique_schema("counters");
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
    let a = open().await.unwrap();
    let b = open().await.unwrap();
    check(a, b).await;
}
