//! The same behaviour on SQLite and PostgreSQL. PostgreSQL tests take their
//! URL from `L402_TEST_DATABASE_URL` (e.g. `postgres://postgres@127.0.0.1:5432/test`)
//! and each uses a fresh schema; without the variable they print how to enable
//! them and pass, unless `L402_REQUIRE_POSTGRES=1`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod pg_support;

use pg_support::{DropSchema, pg_url, unique_schema};

use l402_store::{
    ChallengeRecord, ChallengeStore, Claim, Claimed, MerchantStatus, MerchantStore, PaymentRecord,
    PaymentStore, Store, VerificationCount,
};

fn claim(merchant_id: i64, scope: &str, now_ms: u64) -> Claim<'_> {
    Claim {
        merchant_id,
        scope,
        now_ms,
        window_ms: 60_000,
        stale_ms: 30_000,
    }
}

async fn stores(name: &str) -> Vec<(Store, Box<dyn Fn() -> Reopen>)> {
    type R = Reopen;
    let dir = Box::leak(Box::new(tempfile::tempdir().unwrap()));
    let path = dir.path().join("store.sqlite");
    let sqlite = Store::sqlite(&path).await.unwrap();
    let mut out: Vec<(Store, Box<dyn Fn() -> R>)> =
        vec![(sqlite, Box::new(move || Reopen::Sqlite(path.clone())))];
    if let Some(url) = pg_url() {
        let schema = unique_schema(name);
        let pg = Store::builder()
            .postgres(url.clone())
            .schema(schema.clone())
            .open()
            .await
            .unwrap();
        // The schema is dropped with the reopen closure, at the end of the test's iteration.
        let guard = DropSchema {
            url: url.clone(),
            schema: schema.clone(),
        };
        out.push((
            pg,
            Box::new(move || {
                let _keep = &guard;
                Reopen::Postgres(url.clone(), schema.clone())
            }),
        ));
    }
    out
}

enum Reopen {
    Sqlite(std::path::PathBuf),
    Postgres(String, String),
}

impl Reopen {
    async fn open(self) -> Store {
        match self {
            Reopen::Sqlite(p) => Store::sqlite(p).await.unwrap(),
            Reopen::Postgres(url, schema) => Store::builder()
                .postgres(url)
                .schema(schema)
                .open()
                .await
                .unwrap(),
        }
    }
}

fn challenge(hash_byte: u8, merchant_id: i64) -> ChallengeRecord {
    ChallengeRecord {
        payment_hash: format!("{hash_byte:02x}").repeat(32),
        merchant_id,
        api: "l402".into(),
        resource: "/api/weather".into(),
        amount_sats: 50,
        description: Some("forecast".into()),
        owner_address: None,
        invoice: "lnbcrt500n1...".into(),
        macaroon: "AgEEbHNhdA...".into(),
        expires_at: 2_000_000_000,
        created_at: 1_900_000_000,
    }
}

#[tokio::test]
async fn merchants_and_keys() {
    for (store, _) in stores("keys").await {
        let a = store.create_merchant("alpha").await.unwrap();
        let b = store.create_merchant("beta").await.unwrap();
        assert_eq!((a.id, b.id), (1, 2), "{}", store.backend());
        assert_eq!(store.merchants().await.unwrap().len(), 2);
        assert_eq!(a.status, MerchantStatus::Active);

        let k1 = store.create_api_key(a.id, Some("prod")).await.unwrap();
        let k2 = store.create_api_key(a.id, None).await.unwrap();
        assert!(store.create_api_key(99, None).await.is_err());
        let who = store.authenticate(k1.key.expose()).await.unwrap().unwrap();
        assert_eq!(who.merchant.id, a.id);
        assert_eq!(who.key_id, k1.info.id);
        // A key with one character changed does not authenticate.
        let mut wrong = k1.key.expose().to_owned();
        let last = wrong.pop().unwrap();
        wrong.push(if last == '0' { '1' } else { '0' });
        assert!(store.authenticate(&wrong).await.unwrap().is_none());
        assert!(store.authenticate("").await.unwrap().is_none());

        let keys = store.api_keys(a.id).await.unwrap();
        assert_eq!(keys.len(), 2);
        let revoked = store
            .revoke_api_key(a.id, &k1.info.id)
            .await
            .unwrap()
            .unwrap();
        assert!(revoked.revoked_at.is_some());
        assert!(store.authenticate(k1.key.expose()).await.unwrap().is_none());
        assert!(store.authenticate(k2.key.expose()).await.unwrap().is_some());
        // Another merchant cannot revoke it; unknown keys say so.
        assert!(
            store
                .revoke_api_key(b.id, &k2.info.id)
                .await
                .unwrap()
                .is_none()
        );

        let suspended = store
            .set_merchant_status(a.id, MerchantStatus::Suspended)
            .await
            .unwrap();
        assert_eq!(suspended.status, MerchantStatus::Suspended);
        let who = store.authenticate(k2.key.expose()).await.unwrap().unwrap();
        assert_eq!(who.merchant.status, MerchantStatus::Suspended);
        assert!(
            store
                .set_merchant_status(77, MerchantStatus::Active)
                .await
                .is_err()
        );
        store.close().await;
    }
}

#[tokio::test]
async fn keys_are_stored_hashed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.sqlite");
    let store = Store::sqlite(&path).await.unwrap();
    let m = store.create_merchant("m").await.unwrap();
    let key = store.create_api_key(m.id, None).await.unwrap();
    store.close().await;
    let secret = key.key.expose().rsplit('_').next().unwrap().to_owned();
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "the key's secret is on disk"
        );
    }
}

#[tokio::test]
async fn idempotency_claims_and_expiry() {
    for (store, _) in stores("idem").await {
        let m = store.create_merchant("m").await.unwrap();
        let now = 1_000_000u64;
        assert_eq!(
            store.claim(claim(m.id, "s1", now)).await.unwrap(),
            Claimed::Won
        );
        // Being issued: others wait.
        assert_eq!(
            store.claim(claim(m.id, "s1", now + 10)).await.unwrap(),
            Claimed::Pending
        );
        let first = challenge(1, m.id);
        store.complete_claim(m.id, "s1", &first).await.unwrap();
        // Within the window: the first challenge comes back.
        assert_eq!(
            store.claim(claim(m.id, "s1", now + 1000)).await.unwrap(),
            Claimed::Issued(first.clone())
        );
        // After it: a new claim wins.
        assert_eq!(
            store.claim(claim(m.id, "s1", now + 61_000)).await.unwrap(),
            Claimed::Won
        );
        // A failed issue releases the claim: the next caller wins.
        store.release_claim(m.id, "s1").await.unwrap();
        assert_eq!(
            store.claim(claim(m.id, "s1", now + 61_100)).await.unwrap(),
            Claimed::Won
        );
        // A claimant that died while issuing is taken over after the stale limit.
        assert_eq!(
            store.claim(claim(m.id, "s1", now + 61_200)).await.unwrap(),
            Claimed::Pending
        );
        assert_eq!(
            store.claim(claim(m.id, "s1", now + 91_200)).await.unwrap(),
            Claimed::Won
        );
        // Other merchants have their own scopes.
        let other = store.create_merchant("o").await.unwrap();
        assert_eq!(
            store
                .claim(claim(other.id, "s1", now + 61_500))
                .await
                .unwrap(),
            Claimed::Won
        );
        store.close().await;
    }
}

#[tokio::test]
async fn expired_claims_are_purged_in_bounded_batches() {
    for (store, _) in stores("purge").await {
        let m = store.create_merchant("m").await.unwrap();
        let scopes: Vec<String> = (0..25).map(|i| format!("scope-{i}")).collect();
        for (i, scope) in scopes.iter().enumerate() {
            let now = 1_000_000 + i as u64;
            assert_eq!(
                store.claim(claim(m.id, scope, now)).await.unwrap(),
                Claimed::Won
            );
        }
        // Nothing has expired yet.
        assert_eq!(store.purge_claims(1_000_000 + 59_000, 10).await.unwrap(), 0);
        // All expired: at most `limit` per call, oldest first.
        let later = 2_000_000;
        assert_eq!(store.purge_claims(later, 10).await.unwrap(), 10);
        assert_eq!(store.purge_claims(later, 10).await.unwrap(), 10);
        assert_eq!(store.purge_claims(later, 10).await.unwrap(), 5);
        assert_eq!(store.purge_claims(later, 10).await.unwrap(), 0);
        store.close().await;
    }
}

#[tokio::test]
async fn unpaid_challenges_are_pruned_and_still_counted() {
    for (store, _) in stores("prune").await {
        let m = store.create_merchant("m").await.unwrap();
        let mut old_paid = challenge(1, m.id);
        old_paid.created_at = 1_000;
        let mut old_unpaid = challenge(2, m.id);
        old_unpaid.created_at = 1_001;
        let mut old_unpaid_2 = challenge(3, m.id);
        old_unpaid_2.created_at = 1_002;
        let mut recent = challenge(4, m.id);
        recent.created_at = 9_000;
        store
            .record_challenges(&[
                old_paid.clone(),
                old_unpaid.clone(),
                old_unpaid_2.clone(),
                recent.clone(),
            ])
            .await
            .unwrap();
        store
            .record_payment(&PaymentRecord {
                payment_hash: old_paid.payment_hash.clone(),
                merchant_id: m.id,
                resource: None,
                amount_sats: 50,
                verified_at: 1_100,
            })
            .await
            .unwrap();
        let before = store.stats(Some(m.id)).await.unwrap();
        assert_eq!(before.challenges, 4);
        // Bounded: one per call here.
        assert_eq!(store.prune_unpaid(5_000, 1).await.unwrap(), 1);
        assert!(
            store
                .challenge(&old_unpaid.payment_hash)
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            store
                .challenge(&old_unpaid_2.payment_hash)
                .await
                .unwrap()
                .is_some()
        );
        assert_eq!(store.prune_unpaid(5_000, 100).await.unwrap(), 1);
        assert_eq!(store.prune_unpaid(5_000, 100).await.unwrap(), 0);
        // The paid one and the recent one stay.
        assert!(
            store
                .challenge(&old_paid.payment_hash)
                .await
                .unwrap()
                .is_some()
        );
        assert!(
            store
                .challenge(&recent.payment_hash)
                .await
                .unwrap()
                .is_some()
        );
        // The totals did not change.
        assert_eq!(store.stats(Some(m.id)).await.unwrap(), before);
        let by = store.stats_by_merchant().await.unwrap();
        assert_eq!(by, vec![(m.id, before)]);
        store.close().await;
    }
}

#[tokio::test]
async fn concurrent_claims_have_one_winner() {
    for (store, _) in stores("race").await {
        let m = store.create_merchant("m").await.unwrap();
        let mut tasks = Vec::new();
        for _ in 0..16u8 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                store.claim(claim(m.id, "same", 5_000_000)).await.unwrap()
            }));
        }
        let mut won = 0;
        for t in tasks {
            match t.await.unwrap() {
                Claimed::Won => won += 1,
                Claimed::Pending => {}
                Claimed::Issued(c) => panic!("nothing was issued yet: {c:?}"),
            }
        }
        assert_eq!(won, 1, "{}", store.backend());
        store.close().await;
    }
}

#[tokio::test]
async fn payments_stats_and_restart() {
    for (store, reopen) in stores("stats").await {
        let a = store.create_merchant("a").await.unwrap();
        let b = store.create_merchant("b").await.unwrap();
        store.record_challenge(&challenge(1, a.id)).await.unwrap();
        store.record_challenge(&challenge(2, a.id)).await.unwrap();
        store.record_challenge(&challenge(3, b.id)).await.unwrap();
        let pay = |byte: u8, merchant_id| PaymentRecord {
            payment_hash: format!("{byte:02x}").repeat(32),
            merchant_id,
            resource: Some("/api/weather".into()),
            amount_sats: 50,
            verified_at: 1_900_000_100,
        };
        assert!(store.record_payment(&pay(1, a.id)).await.unwrap());
        assert!(!store.record_payment(&pay(1, a.id)).await.unwrap());
        store
            .add_verifications(&[
                VerificationCount {
                    merchant_id: a.id,
                    day: "2030-01-01".into(),
                    valid: 3,
                    invalid: 1,
                },
                VerificationCount {
                    merchant_id: a.id,
                    day: "2030-01-01".into(),
                    valid: 2,
                    invalid: 0,
                },
            ])
            .await
            .unwrap();
        let s = store.stats(Some(a.id)).await.unwrap();
        assert_eq!(
            (
                s.challenges,
                s.challenged_sats,
                s.payments,
                s.paid_sats,
                s.verifications_valid,
                s.verifications_invalid
            ),
            (2, 100, 1, 50, 5, 1),
            "{}",
            store.backend()
        );
        assert_eq!(store.stats(None).await.unwrap().challenges, 3);
        let by = store.stats_by_merchant().await.unwrap();
        assert_eq!(by.len(), 2);
        let key = store.create_api_key(a.id, None).await.unwrap();
        store.close().await;

        // A restart loses nothing.
        let store = reopen().open().await;
        assert_eq!(store.merchants().await.unwrap().len(), 2);
        assert!(
            store
                .authenticate(key.key.expose())
                .await
                .unwrap()
                .is_some()
        );
        assert_eq!(store.stats(None).await.unwrap().challenges, 3);
        assert_eq!(store.stats(None).await.unwrap().payments, 1);
        assert_eq!(
            store.challenge(&"02".repeat(32)).await.unwrap(),
            Some(challenge(2, a.id))
        );
        store.close().await;
    }
}

#[tokio::test]
async fn current_price_is_the_most_recent_challenge_of_the_merchant_for_the_resource() {
    for (store, _keep) in stores("price").await {
        let backend = store.backend();
        let a = store.create_merchant("a").await.unwrap().id;
        let b = store.create_merchant("b").await.unwrap().id;
        assert_eq!(store.current_price(a, "/api/weather").await.unwrap(), None);

        let priced = |hash: u8, merchant: i64, resource: &str, sats: u64| {
            let mut c = challenge(hash, merchant);
            c.resource = resource.into();
            c.amount_sats = sats;
            c
        };
        // Recorded one after the other, within the same second: the newest wins.
        store
            .record_challenge(&priced(1, a, "/api/weather", 10))
            .await
            .unwrap();
        assert_eq!(
            store.current_price(a, "/api/weather").await.unwrap(),
            Some(10),
            "{backend}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(3)).await;
        store
            .record_challenge(&priced(2, a, "/api/weather", 20))
            .await
            .unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(3)).await;
        store
            .record_challenge(&priced(3, a, "/api/weather", 15))
            .await
            .unwrap();
        assert_eq!(
            store.current_price(a, "/api/weather").await.unwrap(),
            Some(15),
            "{backend}"
        );
        // Per merchant and per exact resource.
        store
            .record_challenge(&priced(4, b, "/api/weather", 99))
            .await
            .unwrap();
        assert_eq!(
            store.current_price(a, "/api/weather").await.unwrap(),
            Some(15)
        );
        assert_eq!(
            store.current_price(b, "/api/weather").await.unwrap(),
            Some(99)
        );
        assert_eq!(store.current_price(a, "/api/weather/").await.unwrap(), None);
        // A resource far longer than an index entry may be (PostgreSQL: about
        // 2.7 kB), in four-byte characters, is recorded and found.
        let long = format!("/{}", "🌦".repeat(2047));
        store
            .record_challenge(&priced(5, a, &long, 3))
            .await
            .unwrap();
        assert_eq!(
            store.current_price(a, &long).await.unwrap(),
            Some(3),
            "{backend}"
        );
        store.close().await;
    }
}

#[tokio::test]
async fn current_price_probes_the_index() {
    use sqlx::Connection;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.sqlite");
    Store::sqlite(&path).await.unwrap().close().await;
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    // The statement the store runs (sql.rs CURRENT_PRICE).
    let plan: Vec<(i64, i64, i64, String)> = sqlx::query_as(
        "EXPLAIN QUERY PLAN SELECT amount_sats FROM challenges \
         WHERE merchant_id = 1 AND resource_key = 'k' AND resource = '/r' \
         ORDER BY recorded_at_ms DESC, amount_sats DESC LIMIT 1",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    let plan: Vec<&str> = plan.iter().map(|r| r.3.as_str()).collect();
    assert!(
        plan.iter()
            .any(|p| p.contains("USING INDEX challenges_by_resource")),
        "{plan:?}"
    );
    assert!(!plan.iter().any(|p| p.contains("TEMP B-TREE")), "{plan:?}");
}
