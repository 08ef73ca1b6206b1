//! Client overhead on the paid and the cached paths, excluding the payment
//! itself: the server is the tests' hand-made L402 server on 127.0.0.1, its
//! invoices are signed in process and the wallet "pays" instantly by looking
//! the preimage up. Compare with `plain_get`, one bare HTTP round trip to the
//! same server.
//!
//! ```sh
//! cargo bench -p l402-client --bench client
//! ```
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bitcoin::hashes::{Hash, sha256};
use bitcoin::secp256k1::{Secp256k1, SecretKey};
use common::{Mode, TestServer};
use criterion::{Criterion, criterion_group, criterion_main};
use l402::{PaymentHash, Preimage};
use l402_client::{Client, SqliteStore};
use l402_lightning::{
    Backend, BackendError, Invoice, InvoiceRequest, InvoiceStatus, PayError, PayRequest, Payment,
    ReceiveError, Receiver, Wallet,
};
use lightning_invoice::{Currency, InvoiceBuilder, PaymentSecret};

/// Signs invoices in process and remembers their preimages; paying is a
/// map lookup. Stands in for Lightning so only the client's work is timed.
#[derive(Clone)]
struct Instant {
    key: SecretKey,
    secp: Arc<Secp256k1<bitcoin::secp256k1::SignOnly>>,
    /// bolt11 -> (hash, preimage, amount)
    invoices: Arc<Mutex<HashMap<String, Issued>>>,
}

/// What was issued for one invoice: its hash, preimage and amount.
type Issued = (PaymentHash, Preimage, u64);

#[async_trait::async_trait]
impl Receiver for Instant {
    fn backend(&self) -> Backend {
        Backend::Dev
    }

    async fn create_invoice(&self, request: &InvoiceRequest) -> Result<Invoice, ReceiveError> {
        let preimage = Preimage::random().unwrap();
        let hash = preimage.payment_hash();
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        let bolt11 = InvoiceBuilder::new(Currency::Regtest)
            .description(String::new())
            .payment_hash(sha256::Hash::from_byte_array(hash.0))
            .payment_secret(PaymentSecret([7; 32]))
            .duration_since_epoch(Duration::from_secs(now.as_secs()))
            .min_final_cltv_expiry_delta(18)
            .amount_milli_satoshis(request.amount_msat)
            .expiry_time(request.expiry)
            .build_signed(|m| self.secp.sign_ecdsa_recoverable(m, &self.key))
            .unwrap()
            .to_string();
        self.invoices
            .lock()
            .unwrap()
            .insert(bolt11.clone(), (hash, preimage, request.amount_msat));
        Ok(Invoice {
            bolt11,
            payment_hash: hash,
            amount_msat: request.amount_msat,
            expires_at: SystemTime::now() + request.expiry,
        })
    }

    async fn lookup_invoice(&self, _: &PaymentHash) -> Result<InvoiceStatus, ReceiveError> {
        Ok(InvoiceStatus::Pending)
    }
}

#[async_trait::async_trait]
impl Wallet for Instant {
    fn backend(&self) -> Backend {
        Backend::Dev
    }

    async fn pay(&self, request: &PayRequest) -> Result<Payment, PayError> {
        let (payment_hash, preimage, amount_msat) = self
            .invoices
            .lock()
            .unwrap()
            .get(&request.bolt11)
            .cloned()
            .unwrap();
        Ok(Payment {
            payment_hash,
            preimage,
            amount_msat,
            fee_msat: 0,
        })
    }

    async fn balance_msat(&self) -> Result<u64, BackendError> {
        Ok(u64::MAX)
    }
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let lightning = Instant {
        key: SecretKey::from_slice(&[3; 32]).unwrap(),
        secp: Arc::new(Secp256k1::signing_only()),
        invoices: Arc::default(),
    };
    let server = rt.block_on(TestServer::start(
        Arc::new(lightning.clone()),
        Mode::Normal,
        10,
    ));
    let dir = tempfile::tempdir().unwrap();
    let memory = Client::builder()
        .wallet(Arc::new(lightning.clone()))
        .build()
        .unwrap();
    let sqlite = rt.block_on(async {
        Client::builder()
            .wallet(Arc::new(lightning.clone()))
            .sqlite(
                SqliteStore::open(dir.path().join("bench.sqlite"))
                    .await
                    .unwrap(),
            )
            .build()
            .unwrap()
    });
    let plain = reqwest::Client::new();
    let counter = AtomicU64::new(0);

    let bolt11 = rt
        .block_on(lightning.create_invoice(&InvoiceRequest::sats(10)))
        .unwrap()
        .bolt11;
    c.bench_function(
        "invoice decode (l402::Invoice::from_str, part of the paid path)",
        |b| b.iter(|| bolt11.parse::<l402::Invoice>().unwrap()),
    );

    let free = server.url("/free");
    c.bench_function("plain_get (baseline round trip)", |b| {
        b.to_async(&rt).iter(|| async {
            let r = plain.get(&free).send().await.unwrap();
            assert_eq!(r.status(), 200);
            r.bytes().await.unwrap();
        })
    });
    for (name, client) in [("memory", &memory), ("sqlite", &sqlite)] {
        let cached = server.url(&format!("/paid/cached-{name}"));
        rt.block_on(client.get(&cached).send()).unwrap();
        c.bench_function(&format!("cached_path ({name} store)"), |b| {
            b.to_async(&rt).iter(|| async {
                let r = client.get(&cached).send().await.unwrap();
                assert_eq!(r.status(), 200);
            })
        });
        c.bench_function(&format!("paid_path ({name} store)"), |b| {
            b.to_async(&rt).iter(|| async {
                let n = counter.fetch_add(1, Ordering::Relaxed);
                let url = server.url(&format!("/paid/{name}-{n}"));
                let r = client.get(&url).send().await.unwrap();
                assert_eq!(r.status(), 200);
                assert!(r.receipt().is_some());
            })
        });
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(30)
        .measurement_time(Duration::from_secs(5))
        .warm_up_time(Duration::from_secs(1));
    targets = bench
}
criterion_main!(benches);
