//! Invoice creation and payment through the dev node, in process and over its
//! LNbits-compatible HTTP API (driven by the LNbits backend).
//!
//! `cargo bench -p l402-lightning --bench dev_node`
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use l402_lightning::dev::{DevNode, DevWallet};
use l402_lightning::lnbits::LnbitsClient;
use l402_lightning::{InvoiceRequest, PayRequest, Receiver, Wallet};

struct Setup {
    _dir: tempfile::TempDir,
    seller: DevWallet,
    buyer: DevWallet,
}

async fn setup(on_disk: bool) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let builder = if on_disk {
        DevNode::builder().data_dir(dir.path())
    } else {
        DevNode::builder().in_memory()
    };
    let node = builder.open().await.unwrap();
    let seller = node.wallet("seller").await.unwrap();
    let buyer = node.wallet("buyer").await.unwrap();
    buyer.credit_sats(1_000_000_000).await.unwrap();
    Setup {
        _dir: dir,
        seller,
        buyer,
    }
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let request = InvoiceRequest::sats(10).memo("bench");

    let mut group = c.benchmark_group("dev_node_in_process");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .throughput(Throughput::Elements(1));
    for (name, on_disk) in [("sqlite_file", true), ("in_memory", false)] {
        let s = rt.block_on(setup(on_disk));
        group.bench_function(format!("create_invoice/{name}"), |b| {
            b.to_async(&rt)
                .iter(|| async { s.seller.create_invoice(&request).await.unwrap() })
        });
        group.bench_function(format!("pay/{name}"), |b| {
            b.to_async(&rt).iter_custom(|iters| {
                let (seller, buyer) = (s.seller.clone(), s.buyer.clone());
                let request = request.clone();
                async move {
                    let mut invoices = Vec::with_capacity(iters as usize);
                    for _ in 0..iters {
                        invoices.push(seller.create_invoice(&request).await.unwrap().bolt11);
                    }
                    let start = Instant::now();
                    for bolt11 in invoices {
                        buyer.pay(&PayRequest::new(bolt11)).await.unwrap();
                    }
                    start.elapsed()
                }
            })
        });
    }
    // Concurrent creation, as a server sees it: 64 invoices per iteration from
    // `tasks` concurrent tasks sharing the node (group commit batches them).
    let s = rt.block_on(setup(true));
    group.throughput(Throughput::Elements(64));
    for tasks in [8usize, 64] {
        group.bench_function(format!("create_invoice/sqlite_file/{tasks}_tasks"), |b| {
            b.to_async(&rt).iter(|| {
                let seller = s.seller.clone();
                let request = request.clone();
                async move {
                    let mut handles = Vec::new();
                    for _ in 0..tasks {
                        let (seller, request) = (seller.clone(), request.clone());
                        handles.push(tokio::spawn(async move {
                            for _ in 0..64 / tasks {
                                seller.create_invoice(&request).await.unwrap();
                            }
                        }));
                    }
                    for h in handles {
                        h.await.unwrap();
                    }
                }
            })
        });
    }
    group.finish();

    let mut group = c.benchmark_group("dev_node_http");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .throughput(Throughput::Elements(1));
    let s = rt.block_on(setup(true));
    let server = rt
        .block_on(s.seller.node().serve("127.0.0.1:0".parse().unwrap()))
        .unwrap();
    let seller = LnbitsClient::builder(server.url())
        .invoice_key(s.seller.invoice_key())
        .build()
        .unwrap();
    let buyer = LnbitsClient::builder(server.url())
        .admin_key(s.buyer.admin_key())
        .build()
        .unwrap();
    group.bench_function("create_invoice", |b| {
        b.to_async(&rt)
            .iter(|| async { seller.create_invoice(&request).await.unwrap() })
    });
    group.bench_function("pay", |b| {
        b.to_async(&rt).iter_custom(|iters| {
            let (seller, buyer) = (seller.clone(), buyer.clone());
            let request = request.clone();
            async move {
                let mut invoices = Vec::with_capacity(iters as usize);
                for _ in 0..iters {
                    invoices.push(seller.create_invoice(&request).await.unwrap().bolt11);
                }
                let start = Instant::now();
                for bolt11 in invoices {
                    buyer.pay(&PayRequest::new(bolt11)).await.unwrap();
                }
                start.elapsed()
            }
        })
    });
    group.finish();
    rt.block_on(server.shutdown());
}

criterion_group!(benches, bench);
criterion_main!(benches);
