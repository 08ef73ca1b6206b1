//! `GET /api/stats` latency with a million payments in SQLite.
//!
//! Seeds one merchant with 1,000,000 paid challenges spread over a year
//! (five owner addresses, seven resources) straight into the store's SQLite
//! file, rebuilds the stats rollup once
//! ([`StatsStore::rebuild_payment_rollup`]), serves the producer over HTTP on
//! 127.0.0.1 and times `GET /api/stats` and `GET /api/global-stats`.
//!
//! ```text
//! cargo run --release -p l402-producer --example stats_bench [-- <payments> <requests>]
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use l402::Keyring;
use l402_lightning::dev::DevNode;
use l402_producer::Producer;
use l402_store::{MerchantStore, StatsStore, Store};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let payments: u64 = args.next().map_or(Ok(1_000_000), |a| a.parse())?;
    let requests: usize = args.next().map_or(Ok(200), |a| a.parse())?;
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("store.sqlite");
    let store = Arc::new(Store::sqlite(&path).await?);
    let merchant = store.create_merchant("bench").await?;
    let key = store.create_api_key(merchant.id, Some("bench")).await?;

    let started = Instant::now();
    let pool = sqlx::sqlite::SqlitePool::connect(&format!("sqlite://{}", path.display())).await?;
    let now = l402_server::unix_now();
    // One statement each: a recursive counter, 1..=payments.
    let seed = |table: &str| {
        let columns = if table == "challenges" {
            "(payment_hash, merchant_id, api, resource, amount_sats, owner_address, invoice, \
             macaroon, expires_at, created_at) SELECT printf('%064x', i), $1, 'l402', \
             '/api/r' || (i % 7), 1 + i % 100, 'owner' || (i % 5) || '@example.com', 'lnbc', 'mac', \
             $2 - (i * 31) % 31536000 + 600, $2 - (i * 31) % 31536000"
        } else {
            "(payment_hash, merchant_id, resource, amount_sats, verified_at) \
             SELECT printf('%064x', i), $1, '/api/r' || (i % 7), 1 + i % 100, \
             $2 - (i * 31) % 31536000"
        };
        format!(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $3) \
             INSERT INTO {table} {columns} FROM n"
        )
    };
    for table in ["challenges", "payments"] {
        sqlx::query(sqlx::AssertSqlSafe(seed(table)))
            .bind(merchant.id)
            .bind(i64::try_from(now)?)
            .bind(i64::try_from(payments)?)
            .execute(&pool)
            .await?;
    }
    pool.close().await;
    store.rebuild_payment_rollup().await?;
    println!(
        "seeded {payments} payments in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let node = DevNode::builder().in_memory().open().await?;
    let producer = Producer::builder(
        store.clone(),
        Arc::new(node.wallet("merchant").await?),
        Keyring::new(1, [7; 32]),
    )
    .build();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let router = producer.router();
    tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
    });
    let http = reqwest::Client::new();
    for (path, auth) in [("/api/stats", true), ("/api/global-stats", false)] {
        let mut times: Vec<Duration> = Vec::with_capacity(requests);
        let mut body = serde_json::Value::Null;
        for _ in 0..requests {
            let mut req = http.get(format!("{base}{path}"));
            if auth {
                req = req.header("X-Api-Key", key.key.expose());
            }
            let t = Instant::now();
            let resp = req.send().await?;
            assert_eq!(resp.status(), 200);
            body = resp.json().await?;
            times.push(t.elapsed());
        }
        times.sort_unstable();
        let at = |q: f64| times[((times.len() as f64 - 1.0) * q).round() as usize];
        println!(
            "GET {path}: {requests} requests, p50 {:.2} ms, p95 {:.2} ms, max {:.2} ms",
            at(0.5).as_secs_f64() * 1e3,
            at(0.95).as_secs_f64() * 1e3,
            at(1.0).as_secs_f64() * 1e3,
        );
        if auth {
            println!(
                "  totalPayments {}, totalSats {}, byDay {} days, byOwner {} owners, recent {}",
                body["totalPayments"],
                body["totalSats"],
                body["byDay"].as_object().map_or(0, |d| d.len()),
                body["byOwner"].as_object().map_or(0, |d| d.len()),
                body["recent"].as_array().map_or(0, Vec::len),
            );
            assert_eq!(body["totalPayments"], payments);
        }
    }
    Ok(())
}
