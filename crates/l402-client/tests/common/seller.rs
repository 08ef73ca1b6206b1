//! A real seller: axum with `l402_server::L402Layer` on `/paid/{*rest}`, its
//! invoices from any `Receiver` (LNbits in the fault tests), each minted
//! invoice's payment hash remembered so tests can ask the receiver which
//! ones were paid.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::routing::get;
use l402::{Keyring, PaymentHash, Preimage};
use l402_lightning::{Invoice, InvoiceRequest, InvoiceStatus, ReceiveError, Receiver};
use l402_server::{L402Layer, Paid};

/// A receiver that records the payment hash of every invoice it creates.
struct Recording {
    inner: Arc<dyn Receiver>,
    minted: Arc<Mutex<Vec<PaymentHash>>>,
}

#[async_trait::async_trait]
impl Receiver for Recording {
    fn backend(&self) -> l402_lightning::Backend {
        self.inner.backend()
    }

    async fn create_invoice(&self, request: &InvoiceRequest) -> Result<Invoice, ReceiveError> {
        let invoice = self.inner.create_invoice(request).await?;
        self.minted.lock().unwrap().push(invoice.payment_hash);
        Ok(invoice)
    }

    async fn lookup_invoice(&self, hash: &PaymentHash) -> Result<InvoiceStatus, ReceiveError> {
        self.inner.lookup_invoice(hash).await
    }
}

/// A running seller; stops when dropped.
pub struct Seller {
    pub addr: SocketAddr,
    receiver: Arc<dyn Receiver>,
    minted: Arc<Mutex<Vec<PaymentHash>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Seller {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Seller {
    /// Sells `/paid/{*rest}` at `price_sats`, invoicing through `receiver`.
    pub async fn start(receiver: Arc<dyn Receiver>, price_sats: u64) -> Seller {
        let minted = Arc::new(Mutex::new(Vec::new()));
        let recording: Arc<dyn Receiver> = Arc::new(Recording {
            inner: receiver.clone(),
            minted: minted.clone(),
        });
        let keys = Keyring::new(1, *Preimage::random().unwrap().as_bytes());
        let app = Router::new()
            .route(
                "/paid/{*rest}",
                get(|paid: Paid| async move { format!("the secret of {}", paid.resource) }),
            )
            .route_layer(
                L402Layer::builder(recording, keys)
                    .price_sats(price_sats)
                    .build(),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Seller {
            addr,
            receiver,
            minted,
            task,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// How many invoices it minted.
    pub fn challenges(&self) -> usize {
        self.minted.lock().unwrap().len()
    }

    /// The invoices it minted that its receiver reports paid.
    pub async fn paid_invoices(&self) -> Vec<PaymentHash> {
        let minted = self.minted.lock().unwrap().clone();
        let mut paid = Vec::new();
        for hash in minted {
            if let Ok(status) = self.receiver.lookup_invoice(&hash).await
                && status.is_paid()
            {
                paid.push(hash);
            }
        }
        paid
    }
}
