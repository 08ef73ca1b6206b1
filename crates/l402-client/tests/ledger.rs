//! Both ledgers (memory and SQLite) against the same tables of cases: domain
//! matching, budget totals through reserve/settle/release, journal leases;
//! and SQLite's budget queries use indexes, not scans of the journal.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use l402::{PaymentHash, Preimage};
use l402_client::{
    Budget, JournalEntry, Ledger, MemoryLedger, PaymentState, Reserved, SqliteStore,
};

async fn ledgers() -> Vec<(&'static str, Arc<dyn Ledger>)> {
    vec![
        ("memory", Arc::new(MemoryLedger::new())),
        ("sqlite", Arc::new(SqliteStore::in_memory().await.unwrap())),
    ]
}

fn entry(scope: &str, domain: &str, amount_msat: u64) -> (JournalEntry, Preimage) {
    let preimage = Preimage::random().unwrap();
    let entry = JournalEntry {
        payment_hash: preimage.payment_hash(),
        scope: scope.into(),
        domain: domain.into(),
        url: scope.into(),
        macaroon: "m".into(),
        bolt11: "lnbcrt1".into(),
        amount_msat,
        fee_reserve_msat: 100,
        state: PaymentState::Pending,
        preimage: None,
        fee_msat: None,
        fiat_minor: None,
        fiat_currency: None,
        envelope_id: None,
        error: None,
        created_at: 0,
        resolved_at: None,
        owner: Some("a".into()),
        lease_until_ms: Some(u64::MAX),
    };
    (entry, preimage)
}

async fn reserve(ledger: &dyn Ledger, entry: &JournalEntry) {
    let reserved = ledger.reserve(entry, &Budget::new(), None).await.unwrap();
    assert_eq!(reserved, Reserved::New);
}

/// (domain journaled, domain asked about, whether they are the same)
const DOMAIN_CASES: &[(&str, &str, bool)] = &[
    ("example.com", "example.com", true),
    ("Example.COM", "example.com", true),
    ("example.com", "EXAMPLE.com", true),
    ("example.com.", "example.com", true),
    ("example.com", "example.com.", true),
    ("a.example.com", "example.com", false),
    ("example.com", "a.example.com", false),
    ("example.co", "example.com", false),
    ("127.0.0.1", "127.0.0.1", true),
    ("[::1]", "[::1]", true),
    ("xn--bcher-kva.example", "XN--BCHER-KVA.example", true),
    ("ÉXAMPLE.com", "éxample.com", false),
];

#[tokio::test]
async fn domains_match_the_same_way_in_both_ledgers_and_budgets() {
    for (name, ledger) in ledgers().await {
        for (i, (stored, asked, same)) in DOMAIN_CASES.iter().enumerate() {
            let (e, _) = entry(&format!("http://h/{i}"), stored, 1_000);
            reserve(&*ledger, &e).await;
            let spent = ledger.spent(asked).await.unwrap();
            let expected = if *same { 1_100 } else { 0 };
            assert_eq!(
                spent.domain_msat, expected,
                "{name}: {stored:?} vs {asked:?}"
            );
            let budget = Budget::new().per_domain_sats(asked, 1);
            assert_eq!(
                budget.domain_limit_sats(stored).is_some(),
                *same,
                "budget: {stored:?} vs {asked:?}"
            );
            ledger.release(&e.payment_hash, "done").await.unwrap();
        }
    }
}

#[tokio::test]
async fn totals_follow_reserve_settle_and_release_in_both_ledgers() {
    for (name, ledger) in ledgers().await {
        let (a, pa) = entry("http://h/a", "h", 1_000);
        let (b, _) = entry("http://h/b", "h", 2_000);
        let (c, _) = entry("http://g/c", "g", 4_000);
        for e in [&a, &b, &c] {
            reserve(&*ledger, e).await;
        }
        let s = ledger.spent("h").await.unwrap();
        assert_eq!((s.total_msat, s.domain_msat), (7_300, 3_200), "{name}");
        assert_eq!((s.hour_msat, s.day_msat), (7_300, 7_300), "{name}");
        ledger.settle(&a.payment_hash, &pa, 7).await.unwrap();
        ledger.release(&b.payment_hash, "failed").await.unwrap();
        let s = ledger.spent("h").await.unwrap();
        assert_eq!((s.total_msat, s.domain_msat), (5_107, 1_007), "{name}");
        assert_eq!(s.day_msat, 5_107, "{name}");
        assert_eq!(ledger.spent("g").await.unwrap().domain_msat, 4_100);
        // A failed invoice reserved again counts once.
        reserve(&*ledger, &b).await;
        assert_eq!(ledger.spent("h").await.unwrap().total_msat, 7_207, "{name}");
        assert_eq!(ledger.pending_for("http://h/b").await.unwrap().len(), 1);
        assert_eq!(ledger.pending().await.unwrap().len(), 2, "{name}");
    }
}

#[tokio::test]
async fn a_live_lease_keeps_an_entry_from_other_processes_in_both_ledgers() {
    for (name, ledger) in ledgers().await {
        let (mut e, _) = entry("http://h/l", "h", 1_000);
        e.lease_until_ms = Some(l402::time::unix_millis() + 60_000);
        reserve(&*ledger, &e).await;
        let hash: PaymentHash = e.payment_hash;
        let now = l402::time::unix_millis();
        // Another process cannot release it or renew it while the lease runs.
        assert!(
            !ledger.release_stale(&hash, "x", now).await.unwrap(),
            "{name}"
        );
        assert!(
            !ledger.renew_lease(&hash, "b", now + 1).await.unwrap(),
            "{name}"
        );
        assert_eq!(
            ledger.entry(&hash).await.unwrap().unwrap().state,
            PaymentState::Pending
        );
        // The owner renews it; once it expires, another process may release it...
        assert!(
            ledger.renew_lease(&hash, "a", now - 1).await.unwrap(),
            "{name}"
        );
        assert!(
            ledger.release_stale(&hash, "x", now).await.unwrap(),
            "{name}"
        );
        assert_eq!(
            ledger.entry(&hash).await.unwrap().unwrap().state,
            PaymentState::Failed
        );
        // ...and the owner, finding it released, must not pay.
        assert!(
            !ledger.renew_lease(&hash, "a", now + 60_000).await.unwrap(),
            "{name}"
        );
    }
}

#[tokio::test]
async fn sqlite_budget_queries_use_indexes_not_scans() {
    let store = SqliteStore::in_memory().await.unwrap();
    for sql in [
        "SELECT msat FROM spent_total WHERE id = 1",
        "SELECT msat FROM spent_by_domain WHERE domain = 'h'",
        // The rolling windows, as SqliteStore::spent runs them.
        "SELECT COALESCE(SUM(CASE WHEN created_at > 5 - 3600 THEN cost END), 0) AS hour, \
         COALESCE(SUM(cost), 0) AS day FROM (SELECT created_at, CASE state \
         WHEN 'pending' THEN amount_msat + fee_reserve_msat \
         WHEN 'paid' THEN amount_msat + COALESCE(fee_msat, 0) ELSE 0 END AS cost \
         FROM payments WHERE created_at > 5 - 86400)",
        "SELECT * FROM payments WHERE scope = 'x' AND state = 'pending'",
        "SELECT * FROM payments WHERE payment_hash = 'x'",
    ] {
        let plan: Vec<(i64, i64, i64, String)> =
            sqlx::query_as(sqlx::AssertSqlSafe(format!("EXPLAIN QUERY PLAN {sql}")))
                .fetch_all(store.pool())
                .await
                .unwrap();
        for (_, _, _, detail) in &plan {
            assert!(detail.starts_with("SEARCH"), "{sql}: {detail}");
        }
    }
}

#[tokio::test]
async fn store_errors_carry_their_typed_cause() {
    use std::error::Error as _;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "not a directory").unwrap();
    let err = SqliteStore::open(file.join("client.sqlite"))
        .await
        .unwrap_err();
    assert!(matches!(err, l402_client::StoreError::Io { .. }), "{err:?}");
    let cause = err.source().expect("a cause");
    assert!(
        cause.downcast_ref::<Arc<std::io::Error>>().is_some(),
        "{cause:?}"
    );
    assert!(!err.to_string().contains(&cause.to_string()));
}
