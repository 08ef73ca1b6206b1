//! [`Wallet`]: paying invoices and looking payments up (what a buyer needs).

use std::sync::Arc;

use crate::{
    Backend, BackendError, NodeInfo, OutgoingStatus, PayError, PayRequest, Payment, PaymentHash,
};

/// Paying invoices: what a buyer needs.
///
/// Object safe; hold it as `Arc<dyn Wallet>`.
///
/// ```
/// use l402_lightning::{dev::DevNode, Wallet};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let node = DevNode::builder().in_memory().open().await?;
/// let wallet = node.wallet("buyer").await?;
/// wallet.credit_sats(5).await?;
/// let wallet: Box<dyn Wallet> = Box::new(wallet);
/// assert_eq!(wallet.balance_msat().await?, 5_000);
/// assert!(!wallet.node_info().await?.real_lightning);
/// # Ok(()) }
/// ```
#[async_trait::async_trait]
pub trait Wallet: Send + Sync {
    /// Which backend this is.
    fn backend(&self) -> Backend;

    /// Whether [`Wallet::pay`] holds the fee to [`PayRequest::max_fee_msat`]
    /// *before* paying (refusing with [`PayError::FeeTooHigh`], nothing
    /// paid). `false` (the default) means the backend cannot cap the fee: the
    /// payment goes through at whatever fee the backend charges, reported in
    /// [`Payment::fee_msat`], and the caller must check it after paying. See
    /// the [crate docs](crate#fee-caps) for each backend.
    fn enforces_max_fee(&self) -> bool {
        false
    }

    /// Pays an invoice and returns the preimage, checked against the invoice's
    /// payment hash, and the fee the backend reports in
    /// [`Payment::fee_msat`].
    ///
    /// # Errors
    /// [`PayError`] naming the backend and the cause; in particular
    /// [`PayError::PreimageMismatch`] if the backend's preimage does not hash
    /// to the payment hash. [`PayError::outcome`] says whether money may have
    /// moved: on [`PayOutcome::Unknown`](crate::PayOutcome::Unknown) look the
    /// payment up before releasing anything.
    async fn pay(&self, request: &PayRequest) -> Result<Payment, PayError>;

    /// Looks up an outgoing payment of this wallet by payment hash. A
    /// [`OutgoingStatus::Succeeded`] carries a preimage already checked
    /// against `payment_hash`.
    ///
    /// # Errors
    /// [`PayError`] if the backend cannot answer;
    /// [`BackendError::Unsupported`] (the default) for backends that cannot
    /// look payments up.
    async fn lookup_payment(&self, payment_hash: &PaymentHash) -> Result<OutgoingStatus, PayError> {
        let _ = payment_hash;
        Err(PayError::Backend(BackendError::Unsupported {
            backend: self.backend(),
            what: "looking up outgoing payments",
        }))
    }

    /// The spendable balance in millisatoshis.
    ///
    /// # Errors
    /// [`BackendError`] naming the backend and the cause.
    async fn balance_msat(&self) -> Result<u64, BackendError>;

    /// Information about the node, where the backend has it.
    ///
    /// # Errors
    /// [`BackendError::Unsupported`] by default.
    async fn node_info(&self) -> Result<NodeInfo, BackendError> {
        Err(BackendError::Unsupported {
            backend: self.backend(),
            what: "node info",
        })
    }
}

macro_rules! forward {
    ($($ptr:ident),*) => {$(
        #[async_trait::async_trait]
        impl<T: Wallet + ?Sized> Wallet for $ptr<T> {
            fn backend(&self) -> Backend {
                (**self).backend()
            }
            fn enforces_max_fee(&self) -> bool {
                (**self).enforces_max_fee()
            }
            async fn pay(&self, request: &PayRequest) -> Result<Payment, PayError> {
                (**self).pay(request).await
            }
            async fn lookup_payment(
                &self,
                payment_hash: &PaymentHash,
            ) -> Result<OutgoingStatus, PayError> {
                (**self).lookup_payment(payment_hash).await
            }
            async fn balance_msat(&self) -> Result<u64, BackendError> {
                (**self).balance_msat().await
            }
            async fn node_info(&self) -> Result<NodeInfo, BackendError> {
                (**self).node_info().await
            }
        }
    )*};
}

forward!(Arc, Box);
