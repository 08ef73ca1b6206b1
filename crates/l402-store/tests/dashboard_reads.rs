//! The dashboard's reads, on SQLite and PostgreSQL
//! (`L402_TEST_DATABASE_URL`; a fresh schema): revenue by route and
//! challenges per day from their rollups (migration 10), kept with each
//! recorded payment and challenge, rebuilt the same, erased with the
//! merchant's data; the streamed CSV export (stops when the reader goes);
//! a merchant's directory listings by its Lightning Addresses.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod pg_support;

use l402_store::{
    ChallengeRecord, ChallengeStore, DirectoryStore, IdentityStore, Listing, MerchantStore,
    PaymentFilter, PaymentRecord, PaymentState, PaymentStore, PaymentsQuery, PayoutStore,
    StatsStore, Store,
};
use pg_support::{DropSchema, pg_url, unique_schema};

const DAY: u64 = 20_000;

fn challenge(i: u64, merchant_id: i64, resource: &str, sats: u64, day: u64) -> ChallengeRecord {
    ChallengeRecord {
        payment_hash: format!("{i:064x}"),
        merchant_id,
        api: "l402".into(),
        resource: resource.into(),
        amount_sats: sats,
        description: None,
        owner_address: None,
        invoice: "lnbc".into(),
        macaroon: "mac".into(),
        expires_at: day * 86_400 + 600,
        created_at: day * 86_400 + i,
    }
}

fn listing(id: &str, address: &str) -> Listing {
    Listing {
        id: id.into(),
        url: format!("https://{id}.example/api"),
        name: id.into(),
        description: None,
        price_sats: 1,
        category: "data".into(),
        lightning_address: address.into(),
        nonce: "n".into(),
        verified: id == "a",
        created_at: 1,
        updated_at: 1,
    }
}

async fn check(store: &Store) {
    let m = store.create_merchant("shop").await.unwrap().id;
    let other = store.create_merchant("other").await.unwrap().id;
    // Four challenges over two days (one of another merchant), a repeat
    // ignored; three paid.
    let cs = [
        challenge(1, m, "/a", 10, DAY),
        challenge(2, m, "/b", 30, DAY),
        challenge(3, m, "/a", 10, DAY + 1),
        challenge(4, other, "/a", 99, DAY + 1),
    ];
    store.record_challenges(&cs).await.unwrap();
    store.record_challenges(&cs[..1]).await.unwrap();
    for c in &cs[..3] {
        let p = PaymentRecord {
            payment_hash: c.payment_hash.clone(),
            merchant_id: c.merchant_id,
            resource: Some(c.resource.clone()),
            amount_sats: c.amount_sats,
            verified_at: c.created_at + 5,
        };
        assert!(store.record_payment(&p).await.unwrap());
        assert!(!store.record_payment(&p).await.unwrap(), "once");
    }
    let routes = |since| store.revenue_by_route(m, since, 10);
    let all = routes(0).await.unwrap();
    let shape: Vec<(&str, u64, u64)> = all
        .iter()
        .map(|r| (r.resource.as_str(), r.payments, r.sats))
        .collect();
    assert_eq!(shape, [("/b", 1, 30), ("/a", 2, 20)], "{}", store.backend());
    let later = routes(DAY + 1).await.unwrap();
    assert_eq!((later.len(), later[0].payments), (1, 1));
    assert_eq!(store.challenges_since(m, 0).await.unwrap(), (3, 50));
    assert_eq!(store.challenges_since(m, DAY + 1).await.unwrap(), (1, 10));
    // Per hour, counted in the database: payments 1 and 2 share an hour.
    let hours = store.payments_by_hour(m, DAY * 86_400).await.unwrap();
    assert_eq!(
        hours,
        [(DAY * 86_400, 2, 40), ((DAY + 1) * 86_400, 1, 10)],
        "{}",
        store.backend()
    );
    assert!(
        store
            .payments_by_hour(m, (DAY + 2) * 86_400)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.challenges_since(other, 0).await.unwrap(), (1, 99));
    // A rebuild gives the same numbers.
    store.rebuild_payment_rollup().await.unwrap();
    assert_eq!(routes(0).await.unwrap(), all);
    assert_eq!(store.challenges_since(m, 0).await.unwrap(), (3, 50));

    // The export streams every row, and stops when the reader goes.
    let filter = PaymentFilter {
        state: PaymentState::Paid,
        limit: 100,
        ..PaymentFilter::default()
    };
    let (tx, mut rx) = tokio::sync::mpsc::channel(1);
    let export = {
        let store = store.clone();
        let filter = filter.clone();
        tokio::spawn(async move { store.export_payments(m, &filter, tx).await })
    };
    let mut hashes = Vec::new();
    while let Some(row) = rx.recv().await {
        hashes.push(row.payment_hash);
    }
    assert_eq!(export.await.unwrap().unwrap(), 3);
    assert_eq!(hashes[0], format!("{:064x}", 3), "newest first");
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    drop(rx);
    assert_eq!(store.export_payments(m, &filter, tx).await.unwrap(), 0);

    // Listings paying the merchant's username at this host, or its owner address.
    store.bind_username("shop", m).await.unwrap();
    store
        .set_owner_address(m, Some("Owner@Pay.example"))
        .await
        .unwrap();
    for l in [
        listing("a", "shop@host.example"),
        listing("b", "owner@pay.example"),
        listing("c", "shop@elsewhere.example"),
    ] {
        store.upsert_listing(&l, 100).await.unwrap();
    }
    let mine = store
        .merchant_listings(m, Some("host.example"), 10)
        .await
        .unwrap();
    let mut ids: Vec<&str> = mine.iter().map(|l| l.id.as_str()).collect();
    ids.sort_unstable();
    assert_eq!(ids, ["a", "b"]);
    assert!(
        store
            .merchant_listings(other, Some("host.example"), 10)
            .await
            .unwrap()
            .is_empty()
    );

    // Erasure takes the rollups with the payments.
    store.erase(Some(m), None).await.unwrap();
    assert!(routes(0).await.unwrap().is_empty());
    assert_eq!(store.challenges_since(m, 0).await.unwrap(), (0, 0));
    assert_eq!(store.challenges_since(other, 0).await.unwrap(), (1, 99));
}

#[tokio::test]
async fn dashboard_reads_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::sqlite(dir.path().join("s.sqlite")).await.unwrap();
    check(&store).await;
}

#[tokio::test]
async fn dashboard_reads_on_postgres() {
    let Some(url) = pg_url() else { return };
    let schema = unique_schema("dashreads");
    let _drop = DropSchema {
        url: url.clone(),
        schema: schema.clone(),
    };
    let store = Store::builder()
        .postgres(url)
        .schema(schema)
        .open()
        .await
        .unwrap();
    check(&store).await;
}
