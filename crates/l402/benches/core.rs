//! Per-operation cost of the protocol core. Run with
//! `cargo bench -p l402 --bench core`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use l402::{
    Caveat, Challenge, Challenges, Credential, Keyring, Minter, Preimage, RequestContext, Verifier,
};

const NOW: u64 = 1_800_000_000;

fn caveats() -> [Caveat; 3] {
    [
        Caveat::resource("/api/premium/weather"),
        Caveat::amount_sats(100),
        Caveat::valid_until(NOW + 3600),
    ]
}

fn bench(c: &mut Criterion) {
    let keys = Keyring::new(1, [7; 32]);
    let minter = Minter::new(keys.clone());
    let verifier = Verifier::new(keys);
    let preimage = Preimage::from([42; 32]);
    let hash = preimage.payment_hash();
    let caveats = caveats();

    c.bench_function("mint (3 caveats)", |b| {
        b.iter(|| minter.mint(black_box(hash), black_box(&caveats)).unwrap())
    });

    let macaroon = minter.mint(hash, &caveats).unwrap();
    let credential = Credential::new(macaroon.clone(), preimage);
    let ctx = RequestContext::new(NOW)
        .resource("/api/premium/weather")
        .amount_sats(100);
    c.bench_function("verify credential (3 caveats)", |b| {
        b.iter(|| {
            verifier
                .verify(black_box(&credential), black_box(&ctx))
                .unwrap()
        })
    });

    let invoice = "lnbcrt1u1p5ufz3zpp5rtv5hglkm2h6mqzktwq2gzsmd9zjfn0x52w5vpzxj7ap6yhqfmvsdqqcqzzsxqyz5vqsp5q6xx2a3r5kxu5qkk6ahc4y9m5gxwhakzqzgqvjg0zyzpdv6vzm2s9qxpqysgqyz3l6c7ysxy9p8zq9xk0q7gnm6uq8fykqgk3nvl5awakyfqjm0wq2vzcm07w7lk3j5xqaj4ncdlf3r9pq2fuy8t6trykgrzt6yhrvhgq9fm6yf";
    let header = Challenge::new(macaroon.to_string(), invoice).to_string();
    c.bench_function("parse challenge", |b| {
        b.iter(|| {
            Challenges::parse([black_box(header.as_str())])
                .l402()
                .unwrap()
                .invoice
                .len()
        })
    });

    // The BOLT #11 specification's 2500u example: what a buyer decodes
    // before paying.
    let spec = "lnbc2500u1pvjluezsp5zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zygspp5qqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqypqdq5xysxxatsyp3k7enxv4jsxqzpu9qrsgquk0rl77nj30yxdy8j9vdx85fkpmdla2087ne0xh8nhedh8w27kyke0lp53ut353s06fv3qfegext0eh0ymjpf39tuven09sam30g4vgpfna3rh";
    c.bench_function("decode invoice", |b| {
        b.iter(|| black_box(spec).parse::<l402::Invoice>().unwrap())
    });

    let authorization = credential.to_string();
    c.bench_function("parse credential", |b| {
        b.iter(|| {
            black_box(authorization.as_str())
                .parse::<Credential>()
                .unwrap()
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = bench
}
criterion_main!(benches);
