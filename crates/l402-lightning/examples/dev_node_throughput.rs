//! Sustained invoice creation and payment through the dev node, in process:
//! a complement to the criterion bench that reports plain rates.
//!
//! `cargo run --release -p l402-lightning --example dev_node_throughput [N]`
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Instant;

use l402_lightning::dev::DevNode;
use l402_lightning::{InvoiceRequest, PayRequest, Receiver, Wallet};

fn main() {
    let n: u32 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(3000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(async {
        for on_disk in [true, false] {
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
            let request = InvoiceRequest::sats(10).memo("throughput");

            let start = Instant::now();
            let mut invoices = Vec::with_capacity(n as usize);
            for _ in 0..n {
                invoices.push(seller.create_invoice(&request).await.unwrap().bolt11);
            }
            let create = start.elapsed();

            let start = Instant::now();
            for bolt11 in invoices {
                buyer.pay(&PayRequest::new(bolt11)).await.unwrap();
            }
            let pay = start.elapsed();

            let start = Instant::now();
            let tasks: Vec<_> = (0..64)
                .map(|_| {
                    let (seller, request) = (seller.clone(), request.clone());
                    tokio::spawn(async move {
                        for _ in 0..n / 64 {
                            seller.create_invoice(&request).await.unwrap();
                        }
                    })
                })
                .collect();
            for task in tasks {
                task.await.unwrap();
            }
            let concurrent = start.elapsed();

            let ledger = if on_disk { "SQLite file" } else { "in memory" };
            let rate = |count: u32, d: std::time::Duration| f64::from(count) / d.as_secs_f64();
            println!(
                "{ledger:>11}: create {:>6.0}/s sequential, {:>6.0}/s with 64 tasks; pay {:>6.0}/s sequential",
                rate(n, create),
                rate(n / 64 * 64, concurrent),
                rate(n, pay),
            );
            node.close().await;
        }
    });
}
