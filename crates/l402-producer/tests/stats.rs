//! `GET /api/stats` (l402kit's shape, for the merchant that authenticated)
//! and the public `GET /api/global-stats`, over real HTTP on SQLite and
//! PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use l402_store::{ChallengeRecord, ChallengeStore, PaymentRecord, PaymentStore, Store};
use serde_json::{Value, json};
use support::{Server, start, stores};

const DAY: u64 = 86_400;

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Records a paid challenge of `merchant` at `at` (unix seconds).
async fn paid(store: &Store, merchant: i64, n: u64, sats: u64, owner: Option<&str>, at: u64) {
    let hash = hex::encode(sha2_digest(&format!("{merchant}-{n}-{at}")));
    store
        .record_challenge(&ChallengeRecord {
            payment_hash: hash.clone(),
            merchant_id: merchant,
            api: "l402".into(),
            resource: format!("/api/r{}", n % 3),
            amount_sats: sats,
            description: None,
            owner_address: owner.map(str::to_owned),
            invoice: "lnbcrt1...".into(),
            macaroon: "AgE...".into(),
            expires_at: at + 600,
            created_at: at,
        })
        .await
        .unwrap();
    assert!(
        store
            .record_payment(&PaymentRecord {
                payment_hash: hash,
                merchant_id: merchant,
                resource: Some(format!("/api/r{}", n % 3)),
                amount_sats: sats,
                verified_at: at,
            })
            .await
            .unwrap()
    );
}

fn sha2_digest(text: &str) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(text.as_bytes()).into()
}

async fn stats(s: &Server, key: Option<&str>) -> (u16, Value) {
    let mut req = s.http.get(format!("{}/api/stats", s.base));
    if let Some(key) = key {
        req = req.header("X-Api-Key", key);
    }
    let resp = req.send().await.unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

fn day_text(t: u64) -> String {
    l402_server::rfc3339(t / DAY * DAY)[..10].to_owned()
}

#[tokio::test]
async fn stats_are_the_merchants_own_in_l402kits_shape() {
    for (store, _keep) in stores("stats_shape").await {
        let s = start(store.clone()).await;
        let (a, key_a, _) = s.merchant("a").await;
        let (b, key_b, _) = s.merchant("b").await;
        let t = now();
        // Merchant a: today 3 (two for a@x.com), 3 days ago 2, 10 days ago 4
        // (b@y.com), 40 days ago 1 (outside byDay, inside the totals).
        paid(&store, a, 1, 10, Some("a@x.com"), t).await;
        paid(&store, a, 2, 20, Some("a@x.com"), t - 1).await;
        paid(&store, a, 3, 30, None, t - 2).await;
        for n in 4..6 {
            paid(&store, a, n, 5, None, t - 3 * DAY).await;
        }
        for n in 6..10 {
            paid(&store, a, n, 100, Some("b@y.com"), t - 10 * DAY).await;
        }
        paid(&store, a, 10, 1000, None, t - 40 * DAY).await;
        // Merchant b: none of it shows in a's stats.
        for n in 0..5 {
            paid(&store, b, n, 7, Some("a@x.com"), t).await;
        }

        let (status, body) = stats(&s, None).await;
        assert_eq!((status, body["code"].as_str()), (401, Some("unauthorized")));
        let (status, body) = stats(&s, Some(&key_a)).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["merchantId"], a);
        assert_eq!(body["totalPayments"], 10);
        assert_eq!(body["totalSats"], 10 + 20 + 30 + 10 + 400 + 1000);
        assert_eq!(body["fee"], 0);
        assert_eq!(
            body["byOwner"],
            json!({"a@x.com": {"count": 2, "sats": 30}, "b@y.com": {"count": 4, "sats": 400}})
        );
        let by_day = body["byDay"].as_object().unwrap();
        assert_eq!(by_day.len(), 3, "{body}");
        assert_eq!(
            by_day[&day_text(t - 3 * DAY)],
            json!({"count": 2, "sats": 10})
        );
        assert_eq!(
            by_day[&day_text(t - 10 * DAY)],
            json!({"count": 4, "sats": 400})
        );
        assert!(!by_day.contains_key(&day_text(t - 40 * DAY)));
        // Today's day may have begun less than 2 s ago: count it over both.
        let today: u64 = [day_text(t), day_text(t - 2)]
            .iter()
            .collect::<std::collections::BTreeSet<_>>()
            .iter()
            .map(|d| by_day[d.as_str()]["count"].as_u64().unwrap())
            .sum();
        assert_eq!(today, 3);
        assert_eq!(
            body["trend"],
            json!({"payments7d": 5, "payments7dPrev": 4, "sats7d": 70, "sats7dPrev": 400})
        );
        let recent = body["recent"].as_array().unwrap();
        assert_eq!(recent.len(), 10);
        assert_eq!(recent[0]["amount_sats"], 10);
        assert_eq!(recent[0]["owner_address"], "a@x.com");
        assert_eq!(recent[0]["endpoint"], "/api/r1");
        assert_eq!(recent[0]["paid_at"], l402_server::rfc3339(t));
        assert_eq!(recent[0]["id"], recent[0]["payment_hash"]);
        assert_eq!(recent[9]["amount_sats"], 1000);

        let (status, body) = stats(&s, Some(&key_b)).await;
        assert_eq!(status, 200);
        assert_eq!(
            (body["totalPayments"].as_u64(), body["totalSats"].as_u64()),
            (Some(5), Some(35))
        );
    }
}

#[tokio::test]
async fn recent_holds_twenty_and_a_paid_challenge_shows_up() {
    for (store, _keep) in stores("stats_recent").await {
        let s = start(store.clone()).await;
        let (c, key, _) = s.merchant("c").await;
        let t = now() - 100;
        for n in 0..25 {
            paid(&store, c, n, 1, None, t - n).await;
        }
        // A real purchase through the API: challenge, payment, verification.
        let (_, ch) = s
            .post(
                "/api/l402/challenges",
                Some(&key),
                json!({"resource": "/api/real", "priceSats": 21}),
            )
            .await;
        let preimage = s.pay(ch["invoice"].as_str().unwrap()).await;
        let (status, v) = s
            .post(
                "/api/l402/challenges/verify",
                Some(&key),
                json!({"macaroon": ch["macaroon"], "preimage": preimage, "resource": "/api/real", "amountSats": 21}),
            )
            .await;
        assert_eq!((status, v["valid"].as_bool()), (200, Some(true)), "{v}");
        let (status, body) = stats(&s, Some(&key)).await;
        assert_eq!(status, 200);
        assert_eq!(body["totalPayments"], 26);
        assert_eq!(body["totalSats"], 25 + 21);
        let recent = body["recent"].as_array().unwrap();
        assert_eq!(recent.len(), 20);
        assert_eq!(recent[0]["payment_hash"], ch["paymentHash"]);
        assert_eq!(recent[0]["endpoint"], "/api/real");
        assert_eq!(body["trend"]["payments7d"], 26);
    }
}

#[tokio::test]
async fn global_stats_are_public_totals_cached_for_a_minute() {
    for (store, _keep) in stores("stats_global").await {
        let s = start(store.clone()).await;
        let (a, _, _) = s.merchant("a").await;
        let (b, _, _) = s.merchant("b").await;
        paid(&store, a, 1, 3, None, now()).await;
        paid(&store, b, 1, 4, None, now() - 50 * DAY).await;
        paid(&store, 0, 1, 5, Some("x@y.z"), now()).await;
        let resp = s
            .http
            .get(format!("{}/api/global-stats", s.base))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let cache = resp.headers()["cache-control"].to_str().unwrap().to_owned();
        assert!(cache.contains("max-age=60"), "{cache}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body, json!({"count": 3, "totalSats": 12}));
    }
}
