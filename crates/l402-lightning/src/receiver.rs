//! [`Receiver`]: creating and looking up invoices (what a seller needs).

use std::sync::Arc;

use crate::{
    Backend, Invoice, InvoiceRequest, InvoiceStatus, PaymentHash, ReceiveError, Settlements,
};

/// Receiving payments: what a seller needs.
///
/// Object safe; hold it as `Arc<dyn Receiver>`.
///
/// ```
/// use l402_lightning::{dev::DevNode, InvoiceRequest, InvoiceStatus, Receiver};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let node = DevNode::builder().in_memory().open().await?;
/// let receiver: Box<dyn Receiver> = Box::new(node.wallet("seller").await?);
/// let invoice = receiver.create_invoice(&InvoiceRequest::sats(10)).await?;
/// assert_eq!(receiver.lookup_invoice(&invoice.payment_hash).await?, InvoiceStatus::Pending);
/// # Ok(()) }
/// ```
#[async_trait::async_trait]
pub trait Receiver: Send + Sync {
    /// Which backend this is.
    fn backend(&self) -> Backend;

    /// Creates an invoice.
    ///
    /// # Errors
    /// [`ReceiveError`] naming the backend and the cause.
    async fn create_invoice(&self, request: &InvoiceRequest) -> Result<Invoice, ReceiveError>;

    /// Looks up an invoice this receiver created, by payment hash.
    ///
    /// # Errors
    /// [`ReceiveError::UnknownInvoice`] if the backend does not know it, or
    /// another [`ReceiveError`].
    async fn lookup_invoice(
        &self,
        payment_hash: &PaymentHash,
    ) -> Result<InvoiceStatus, ReceiveError>;

    /// The node's settlement notifications, if it pushes them (see
    /// [`crate::settlement`]); `None` (the default) for a node that must be
    /// polled with [`Receiver::lookup_invoice`].
    fn settlements(&self) -> Option<&dyn Settlements> {
        None
    }
}

macro_rules! forward {
    ($($ptr:ident),*) => {$(
        #[async_trait::async_trait]
        impl<T: Receiver + ?Sized> Receiver for $ptr<T> {
            fn backend(&self) -> Backend {
                (**self).backend()
            }
            async fn create_invoice(&self, request: &InvoiceRequest) -> Result<Invoice, ReceiveError> {
                (**self).create_invoice(request).await
            }
            async fn lookup_invoice(
                &self,
                payment_hash: &PaymentHash,
            ) -> Result<InvoiceStatus, ReceiveError> {
                (**self).lookup_invoice(payment_hash).await
            }
            fn settlements(&self) -> Option<&dyn Settlements> {
                (**self).settlements()
            }
        }
    )*};
}

forward!(Arc, Box);
