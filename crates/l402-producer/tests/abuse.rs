//! The producer API under abuse, over real HTTP with real stores (SQLite,
//! and PostgreSQL when `L402_TEST_DATABASE_URL` is set): idempotency races
//! across instances, rate limits and client addresses, the bounded record
//! queue, retention, and what unauthenticated callers may see of errors.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use l402_lightning::dev::DevNode;
use l402_lightning::lnbits::LnbitsClient;
use l402_lightning::{
    Backend, Invoice, InvoiceRequest, InvoiceStatus, PaymentHash, ReceiveError, Receiver,
};
use l402_store::PaymentStore;
use serde_json::{Value, json};
use support::pg_support::DropSchema;
use support::{Server, sqlite_store, start_custom, stores};

/// The real dev node's wallet, counting the invoices it is asked for.
struct Counting {
    inner: Arc<dyn Receiver>,
    created: AtomicUsize,
}

#[async_trait::async_trait]
impl Receiver for Counting {
    fn backend(&self) -> Backend {
        self.inner.backend()
    }
    async fn create_invoice(&self, request: &InvoiceRequest) -> Result<Invoice, ReceiveError> {
        self.created.fetch_add(1, Ordering::SeqCst);
        // Slow enough that concurrent requests overlap.
        tokio::time::sleep(Duration::from_millis(50)).await;
        self.inner.create_invoice(request).await
    }
    async fn lookup_invoice(&self, hash: &PaymentHash) -> Result<InvoiceStatus, ReceiveError> {
        self.inner.lookup_invoice(hash).await
    }
}

#[tokio::test]
async fn concurrent_requests_with_one_key_on_two_instances_get_one_invoice() {
    for (store, _keep) in stores("race").await {
        let node = DevNode::builder().in_memory().open().await.unwrap();
        let counting = Arc::new(Counting {
            inner: Arc::new(node.wallet("merchant").await.unwrap()),
            created: AtomicUsize::new(0),
        });
        let receiver: Arc<dyn Receiver> = counting.clone();
        let a = start_custom(store.clone(), Some(receiver.clone()), |b| b).await;
        let b = start_custom(store.clone(), Some(receiver), |b| b).await;
        let (_, key, _) = a.merchant("racer").await;
        let mut tasks = Vec::new();
        for i in 0..12 {
            let base = if i % 2 == 0 {
                a.base.clone()
            } else {
                b.base.clone()
            };
            let (http, key) = (a.http.clone(), key.clone());
            tasks.push(tokio::spawn(async move {
                let resp = http
                    .post(format!("{base}/api/l402/challenges"))
                    .header("X-API-Key", key)
                    .header("X-Idempotency-Key", "order-77")
                    .json(&json!({"resource": "/r", "priceSats": 5}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(resp.status(), 200);
                let v: Value = resp.json().await.unwrap();
                v["paymentHash"].as_str().unwrap().to_owned()
            }));
        }
        let mut hashes = Vec::new();
        for t in tasks {
            hashes.push(t.await.unwrap());
        }
        hashes.dedup();
        assert_eq!(hashes.len(), 1, "{}: {hashes:?}", store.backend());
        assert_eq!(
            counting.created.load(Ordering::SeqCst),
            1,
            "{}",
            store.backend()
        );
        assert_eq!(store.stats(None).await.unwrap().challenges, 1);
    }
}

#[tokio::test]
async fn errors_seen_by_callers_carry_no_backend_url() {
    let (store, _dir) = sqlite_store().await;
    let dead: Arc<dyn Receiver> = Arc::new(
        LnbitsClient::builder("http://127.0.0.1:9/secret-path")
            .invoice_key("x")
            .timeout(Duration::from_secs(2))
            .build()
            .unwrap(),
    );
    let s = start_custom(store, Some(dead), |b| b).await;
    let (_, key, _) = s.merchant("m").await;
    let kit = s
        .http
        .post(format!("{}/api/invoice", s.base))
        .json(&json!({"amountSats": 1}))
        .send()
        .await
        .unwrap();
    let challenge = s
        .http
        .post(format!("{}/api/l402/challenges", s.base))
        .header("X-API-Key", &key)
        .json(&json!({"resource": "/r", "priceSats": 5}))
        .send()
        .await
        .unwrap();
    for resp in [kit, challenge] {
        assert_eq!(resp.status(), 503);
        assert!(resp.headers().get("retry-after").is_some());
        let text = resp.text().await.unwrap();
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["code"], "invoice_unavailable", "{text}");
        for leak in ["127.0.0.1", ":9", "secret-path", "http"] {
            assert!(!text.contains(leak), "{leak:?} in {text}");
        }
    }
}

#[tokio::test]
async fn the_rate_limit_refuses_to_run_without_client_addresses() {
    let (store, _dir) = sqlite_store().await;
    let s = support::start_blind(store).await;
    let resp = s
        .http
        .post(format!("{}/api/invoice", s.base))
        .json(&json!({"amountSats": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 500);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["code"], "no_client_address", "{v}");
}

async fn kit_status(s: &Server, forwarded_for: &str) -> u16 {
    s.http
        .post(format!("{}/api/invoice", s.base))
        .header("X-Forwarded-For", forwarded_for)
        .json(&json!({"amountSats": 1}))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn forwarded_for_counts_only_from_trusted_proxies() {
    // Not trusted: every X-Forwarded-For is the same client (the peer).
    let (store, _dir) = sqlite_store().await;
    let s = start_custom(store, None, |b| b.rate_limit_per_minute(2)).await;
    assert_eq!(kit_status(&s, "203.0.113.1").await, 200);
    assert_eq!(kit_status(&s, "203.0.113.2").await, 200);
    assert_eq!(kit_status(&s, "203.0.113.3").await, 429);

    // Behind a trusted proxy (this test, on 127.0.0.1): the right-most hop
    // that is not the proxy is the client; what the client wrote to its left
    // changes nothing.
    let (store, _dir) = sqlite_store().await;
    let s = start_custom(store, None, |b| {
        b.rate_limit_per_minute(2)
            .trusted_proxies(["127.0.0.1/32"])
            .unwrap()
    })
    .await;
    assert_eq!(kit_status(&s, "1.1.1.1, 203.0.113.1").await, 200);
    assert_eq!(kit_status(&s, "2.2.2.2, 203.0.113.1").await, 200);
    assert_eq!(kit_status(&s, "3.3.3.3, 203.0.113.1").await, 429);
    assert_eq!(kit_status(&s, "203.0.113.2").await, 200);
    // IPv6: one /64 is one client.
    assert_eq!(kit_status(&s, "2001:db8:0:1::1").await, 200);
    assert_eq!(kit_status(&s, "2001:db8:0:1::2").await, 200);
    assert_eq!(kit_status(&s, "2001:db8:0:1:ffff::3").await, 429);
    assert_eq!(kit_status(&s, "2001:db8:0:2::1").await, 200);
    // A configuration that is not an address is refused when built.
    let (store, _dir) = sqlite_store().await;
    let node = DevNode::builder().in_memory().open().await.unwrap();
    let err = l402_producer::Producer::builder(
        store,
        Arc::new(node.wallet("m").await.unwrap()),
        l402::Keyring::new(1, [7; 32]),
    )
    .trusted_proxies(["proxy.example"])
    .unwrap_err();
    assert!(err.to_string().contains("proxy.example"), "{err}");
}

/// Holds the store's write lock from another connection until dropped.
enum WriteLock {
    Sqlite(sqlx::SqliteConnection),
    Postgres(sqlx::PgConnection),
}

async fn lock_writes(keep: &dyn std::any::Any) -> WriteLock {
    use sqlx::Connection;
    if let Some(dir) = keep.downcast_ref::<tempfile::TempDir>() {
        let url = format!("sqlite://{}", dir.path().join("store.sqlite").display());
        let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
        sqlx::query("BEGIN IMMEDIATE")
            .execute(&mut conn)
            .await
            .unwrap();
        WriteLock::Sqlite(conn)
    } else {
        let pg = keep.downcast_ref::<DropSchema>().unwrap();
        let mut conn = sqlx::PgConnection::connect(&pg.url).await.unwrap();
        let set = format!("SET search_path TO \"{}\"", pg.schema);
        sqlx::query(sqlx::AssertSqlSafe(set))
            .execute(&mut conn)
            .await
            .unwrap();
        sqlx::query("BEGIN").execute(&mut conn).await.unwrap();
        sqlx::query("LOCK TABLE challenges IN EXCLUSIVE MODE")
            .execute(&mut conn)
            .await
            .unwrap();
        WriteLock::Postgres(conn)
    }
}

impl WriteLock {
    async fn release(self) {
        match self {
            WriteLock::Sqlite(mut c) => {
                sqlx::query("ROLLBACK").execute(&mut c).await.unwrap();
            }
            WriteLock::Postgres(mut c) => {
                sqlx::query("ROLLBACK").execute(&mut c).await.unwrap();
            }
        }
    }
}

#[tokio::test]
async fn the_record_queue_is_bounded_and_past_it_answers_503() {
    for (store, keep) in stores("queue").await {
        let s = start_custom(store.clone(), None, |b| {
            b.rate_limit_per_minute(0)
                .record_queue(2, Duration::from_millis(300))
        })
        .await;
        let before = store.stats(None).await.unwrap().challenges;
        let lock = lock_writes(keep.as_ref()).await;
        let mut tasks = Vec::new();
        for _ in 0..12 {
            let (http, base) = (s.http.clone(), s.base.clone());
            tasks.push(tokio::spawn(async move {
                let resp = http
                    .post(format!("{base}/api/invoice"))
                    .json(&json!({"amountSats": 1}))
                    .send()
                    .await
                    .unwrap();
                let status = resp.status().as_u16();
                let v: Value = resp.json().await.unwrap();
                (status, v)
            }));
        }
        tokio::time::sleep(Duration::from_millis(1500)).await;
        // At most 2 in the transaction that waits and 2 queued: the rest
        // were refused, not held in memory.
        let refused = s.producer.records_refused();
        assert!(refused >= 8, "{}: {refused} refused", store.backend());
        lock.release().await;
        let (mut ok, mut busy) = (0, 0);
        for t in tasks {
            match t.await.unwrap() {
                (200, _) => ok += 1,
                (503, v) => {
                    assert_eq!(v["code"], "store_busy", "{v}");
                    busy += 1;
                }
                other => panic!("{other:?}"),
            }
        }
        assert_eq!((ok + busy, busy), (12, refused), "{}", store.backend());
        // Every challenge answered was recorded, nothing else.
        let after = store.stats(None).await.unwrap().challenges;
        assert_eq!(after - before, ok, "{}", store.backend());
    }
}

#[tokio::test]
async fn unpaid_challenges_are_pruned_after_the_retention() {
    // Unpaid challenges created before now - retention go; paid ones stay.
    for (store, _keep) in stores("retention").await {
        let s = start_custom(store.clone(), None, |b| {
            b.rate_limit_per_minute(0)
                .invoice_expiry(Duration::from_secs(2))
                .challenge_retention(Duration::from_secs(2))
        })
        .await;
        let (status, unpaid) = s.post("/api/invoice", None, json!({"amountSats": 2})).await;
        assert_eq!(status, 200);
        let (_, paid) = s.post("/api/invoice", None, json!({"amountSats": 3})).await;
        let preimage = s.pay(paid["paymentRequest"].as_str().unwrap()).await;
        let token = format!("{}:{preimage}", paid["macaroon"].as_str().unwrap());
        let (_, v) = s.post("/api/verify", None, json!({"token": token})).await;
        assert_eq!(v["valid"], true);
        let hash = |v: &Value| v["paymentHash"].as_str().unwrap().to_owned();
        use l402_store::ChallengeStore;
        // Within the retention: kept.
        assert_eq!(s.producer.prune().await.unwrap().1, 0);
        assert!(store.challenge(&hash(&unpaid)).await.unwrap().is_some());
        tokio::time::sleep(Duration::from_millis(3100)).await;
        // (The background task prunes too, every 60 flush intervals.)
        s.producer.prune().await.unwrap();
        assert!(store.challenge(&hash(&unpaid)).await.unwrap().is_none());
        assert!(store.challenge(&hash(&paid)).await.unwrap().is_some());
        // The stats still count it.
        assert_eq!(store.stats(None).await.unwrap().challenges, 2);
    }
}
