//! In-process cost of the layer on the paid path: the same axum route called
//! bare and behind `L402Layer`, with the identical request carrying a valid
//! (cached) credential; and behind a layer reporting to the real metrics
//! registry (`l402-metrics`), for the observer's cost.
//! `cargo bench -p l402-server --bench layer`
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use criterion::{Criterion, criterion_group, criterion_main};
use http::Request;
use l402::{Caveat, Credential, Keyring, Minter, Preimage};
use l402_lightning::dev::DevNode;
use l402_server::L402Layer;
use tower::ServiceExt;

async fn hello() -> &'static str {
    "hello"
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let node = rt.block_on(DevNode::builder().in_memory().open()).unwrap();
    let merchant = Arc::new(rt.block_on(node.wallet("merchant")).unwrap());
    let keys = Keyring::new(1, [7; 32]);
    let layer = L402Layer::builder(merchant.clone(), keys.clone())
        .price_sats(1)
        .build();
    let bare: Router = Router::new().route("/hello", get(hello));
    let paid: Router = Router::new().route("/hello", get(hello).layer(layer));
    let metrics = Arc::new(l402_metrics::Metrics::builder().build());
    let observed_layer = L402Layer::builder(merchant.clone(), keys.clone())
        .price_sats(1)
        .route_label("/hello")
        .observer(metrics.clone())
        .build();
    let observed: Router = Router::new().route("/hello", get(hello).layer(observed_layer));

    let preimage = Preimage::from([9; 32]);
    let macaroon = Minter::new(keys)
        .mint(
            preimage.payment_hash(),
            &[
                Caveat::resource("/hello"),
                Caveat::amount_sats(1),
                Caveat::valid_until(l402::time::unix_now() + 86_400),
            ],
        )
        .unwrap();
    let auth = Credential::new(macaroon, preimage).to_string();
    let request = |auth: Option<&str>| {
        let mut b = Request::get("/hello");
        if let Some(a) = auth {
            b = b.header("authorization", a);
        }
        b.body(Body::empty()).unwrap()
    };
    // Warm the token cache and check the setup.
    let status = rt
        .block_on(paid.clone().oneshot(request(Some(&auth))))
        .unwrap()
        .status();
    assert_eq!(status, 200);
    let status = rt
        .block_on(observed.clone().oneshot(request(Some(&auth))))
        .unwrap()
        .status();
    assert_eq!(status, 200);
    assert!(metrics.render().contains(r#"outcome="paid"} 1"#));

    c.bench_function("parse credential", |b| {
        b.iter(|| std::hint::black_box(&auth).parse::<Credential>().unwrap())
    });
    // 100,000 distinct tokens in rotation (all cached after the first pass).
    let minter = Minter::new(Keyring::new(1, [7; 32]));
    let many: Vec<String> = (0..100_000u32)
        .map(|i| {
            let mut bytes = [0u8; 32];
            bytes[..4].copy_from_slice(&i.to_be_bytes());
            let preimage = Preimage::from(bytes);
            let macaroon = minter
                .mint(
                    preimage.payment_hash(),
                    &[
                        Caveat::resource("/hello"),
                        Caveat::amount_sats(1),
                        Caveat::valid_until(l402::time::unix_now() + 86_400),
                    ],
                )
                .unwrap();
            Credential::new(macaroon, preimage).to_string()
        })
        .collect();
    for a in &many {
        let status = rt
            .block_on(paid.clone().oneshot(request(Some(a))))
            .unwrap()
            .status();
        assert_eq!(status, 200);
    }
    let mut i = 0;
    c.bench_function("bare route, 100k rotating headers", |b| {
        b.iter(|| {
            i = (i + 1) % many.len();
            rt.block_on(bare.clone().oneshot(request(Some(&many[i]))))
                .unwrap()
        })
    });
    c.bench_function("paid route, 100k rotating tokens", |b| {
        b.iter(|| {
            i = (i + 1) % many.len();
            rt.block_on(paid.clone().oneshot(request(Some(&many[i]))))
                .unwrap()
        })
    });

    c.bench_function("bare route", |b| {
        b.iter(|| {
            rt.block_on(bare.clone().oneshot(request(Some(&auth))))
                .unwrap()
        })
    });
    c.bench_function("paid route, cached credential", |b| {
        b.iter(|| {
            rt.block_on(paid.clone().oneshot(request(Some(&auth))))
                .unwrap()
        })
    });
    c.bench_function("paid route, cached credential, metrics observer", |b| {
        b.iter(|| {
            rt.block_on(observed.clone().oneshot(request(Some(&auth))))
                .unwrap()
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
