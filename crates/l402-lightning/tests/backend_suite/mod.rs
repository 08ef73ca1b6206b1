//! The conformance scenarios every wire backend's test runs against its fake:
//! create/pay/look up, a failed payment, a pending one that succeeds, one
//! pending past the pay timeout, a connection cut after the pay request
//! (never paid twice), no or a wrong preimage, wrong credentials, and
//! `Debug` redaction. Each backend's test file implements [`Harness`] for
//! its pair of fakes and runs the scenarios with [`conformance!`] or by
//! calling them with its own extra assertions; only wire-specific tests stay
//! in the backend's file.
#![allow(dead_code, unused_macros)]

use std::fmt::Debug;
use std::str::FromStr;
use std::time::{Duration, Instant};

use l402_lightning::dev::{DevFault, DevNode, DevWallet};
use l402_lightning::{
    Backend, BackendError, Invoice, InvoiceRequest, InvoiceStatus, OutgoingStatus, PayError,
    PayOutcome, PayRequest, Payment, PaymentHash, ReceiveError, Receiver, Wallet,
};

/// A client that both receives and pays, as every wire backend's does.
pub trait Node: Wallet + Receiver {}
impl<T: Wallet + Receiver> Node for T {}

/// One backend's fake node, serving a dev-node wallet over the backend's wire.
pub trait FakeNode: Sized {
    /// The backend's client.
    type Client: Node + 'static;
    /// The backend `node_info` names.
    const BACKEND: Backend;
    /// What `Wallet::enforces_max_fee` says.
    const ENFORCES_MAX_FEE: bool;
    /// Starts a fake serving `wallet`.
    fn start(wallet: DevWallet) -> impl Future<Output = Self>;
    /// A client with the right credentials.
    fn authorized(&self) -> Self::Client;
    /// A client that waits at most `timeout` for a payment.
    fn with_pay_timeout(&self, timeout: Duration) -> Self::Client;
    /// A client with wrong credentials.
    fn with_wrong_credentials(&self) -> Self::Client;
    /// Makes the fake pay the next payment, then cut the connection unanswered.
    fn cut_next_pay(&self);
}

/// A merchant and a payer, each behind its own fake node, on one dev-node
/// ledger; the payer starts with 1,000 sats.
pub struct Pair<F: FakeNode> {
    pub merchant: F::Client,
    pub merchant_fake: F,
    pub payer: F::Client,
    pub payer_fake: F,
    /// The payer's wallet in the dev-node ledger (the money that really moved).
    pub payer_wallet: DevWallet,
}

/// A fresh [`Pair`] of `F` fakes.
pub async fn pair<F: FakeNode>() -> Pair<F> {
    let node = DevNode::builder().in_memory().open().await.unwrap();
    let merchant_wallet = node.wallet("merchant").await.unwrap();
    let payer_wallet = node.wallet("payer").await.unwrap();
    payer_wallet.credit_sats(1_000).await.unwrap();
    let merchant_fake = F::start(merchant_wallet).await;
    let payer_fake = F::start(payer_wallet.clone()).await;
    Pair {
        merchant: merchant_fake.authorized(),
        merchant_fake,
        payer: payer_fake.authorized(),
        payer_fake,
        payer_wallet,
    }
}

/// What the scenarios need of a pair.
pub trait Harness {
    /// The backend `node_info` names.
    const BACKEND: Backend;
    /// What `Wallet::enforces_max_fee` says.
    const ENFORCES_MAX_FEE: bool;
    /// The merchant's client.
    fn merchant(&self) -> &dyn Node;
    /// The payer's client.
    fn payer(&self) -> &dyn Node;
    /// The payer's wallet in the dev-node ledger (the money that really moved).
    fn ledger(&self) -> &DevWallet;
    /// Makes the payer's fake pay the next payment, then cut the connection unanswered.
    fn cut_next_pay(&self);
    /// A client of the payer's fake that waits at most `timeout` for a payment.
    fn payer_with_pay_timeout(&self, timeout: Duration) -> Box<dyn Node>;
    /// A client of the payer's fake with wrong credentials.
    fn payer_with_wrong_credentials(&self) -> Box<dyn Node>;
}

impl<F: FakeNode> Harness for Pair<F> {
    const BACKEND: Backend = F::BACKEND;
    const ENFORCES_MAX_FEE: bool = F::ENFORCES_MAX_FEE;
    fn merchant(&self) -> &dyn Node {
        &self.merchant
    }
    fn payer(&self) -> &dyn Node {
        &self.payer
    }
    fn ledger(&self) -> &DevWallet {
        &self.payer_wallet
    }
    fn cut_next_pay(&self) {
        self.payer_fake.cut_next_pay();
    }
    fn payer_with_pay_timeout(&self, timeout: Duration) -> Box<dyn Node> {
        Box::new(self.payer_fake.with_pay_timeout(timeout))
    }
    fn payer_with_wrong_credentials(&self) -> Box<dyn Node> {
        Box::new(self.payer_fake.with_wrong_credentials())
    }
}

/// Generates one `#[tokio::test]` per named scenario that takes only the
/// harness, each starting a fresh pair with `$pair`.
macro_rules! conformance {
    ($pair:path => $($scenario:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $scenario() {
                backend_suite::$scenario(&$pair().await).await;
            }
        )*
    };
}

/// A `sats` invoice from the merchant with `memo`.
pub async fn invoice(merchant: &dyn Receiver, sats: u64, memo: String) -> Invoice {
    merchant
        .create_invoice(&InvoiceRequest::sats(sats).memo(memo))
        .await
        .unwrap()
}

/// Create, look up (pending / unknown), pay with `max_fee_msat`, look up
/// again (paid on both sides), balance, node info, and an unknown invoice.
pub async fn create_pay_and_look_up<H: Harness>(h: &H, max_fee_msat: Option<u64>) {
    let invoice = invoice(h.merchant(), 21, "conformance test".into()).await;
    assert!(invoice.bolt11.starts_with("lnbcrt210n1"));
    assert_eq!(invoice.amount_msat, 21_000);
    assert_eq!(
        h.merchant()
            .lookup_invoice(&invoice.payment_hash)
            .await
            .unwrap(),
        InvoiceStatus::Pending
    );
    assert_eq!(
        h.payer()
            .lookup_payment(&invoice.payment_hash)
            .await
            .unwrap(),
        OutgoingStatus::Unknown
    );
    let mut request = PayRequest::new(&invoice.bolt11);
    if let Some(max) = max_fee_msat {
        request = request.max_fee_msat(max);
    }
    let paid = h.payer().pay(&request).await.unwrap();
    assert!(paid.preimage.matches(&invoice.payment_hash));
    assert_eq!((paid.amount_msat, paid.fee_msat), (21_000, 0));
    match h
        .payer()
        .lookup_payment(&invoice.payment_hash)
        .await
        .unwrap()
    {
        OutgoingStatus::Succeeded(found) => {
            assert_eq!(found.preimage, paid.preimage);
            assert_eq!(found.amount_msat, 21_000);
        }
        other => panic!("expected Succeeded, got {other:?}"),
    }
    assert_eq!(
        h.merchant()
            .lookup_invoice(&invoice.payment_hash)
            .await
            .unwrap(),
        InvoiceStatus::Paid {
            preimage: paid.preimage.clone()
        }
    );
    assert_eq!(h.payer().balance_msat().await.unwrap(), 979_000);
    let info = h.payer().node_info().await.unwrap();
    assert_eq!(info.backend, H::BACKEND);
    assert_eq!(info.network.as_deref(), Some("regtest"));
    assert_eq!(h.payer().enforces_max_fee(), H::ENFORCES_MAX_FEE);
    let err = h
        .merchant()
        .lookup_invoice(&PaymentHash([9; 32]))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ReceiveError::UnknownInvoice { .. }),
        "{err:?}"
    );
}

/// LNURL-pay metadata, the text a description hash is taken of here.
pub const METADATA: &str =
    r#"[["text/plain","Pay alice"],["text/identifier","alice@shop.example"]]"#;

/// An invoice asked for with a hashed description commits to
/// `sha256(METADATA)` (read from the decoded BOLT11, not from the node's
/// word), carries no plain description, and is paid like any other.
pub async fn an_invoice_commits_to_the_description_hash_asked_for<H: Harness>(h: &H) {
    use sha2::Digest as _;
    let expected: [u8; 32] = sha2::Sha256::digest(METADATA.as_bytes()).into();
    let request = InvoiceRequest::sats(5)
        .memo("not in the invoice")
        .hashed_description(METADATA);
    let invoice = h.merchant().create_invoice(&request).await.unwrap();
    let decoded = l402::Invoice::from_str(&invoice.bolt11).unwrap();
    assert_eq!(decoded.description_hash(), Some(expected));
    assert_eq!(decoded.description(), None);
    assert_eq!(decoded.amount_msat(), Some(5_000));
    let paid = h
        .payer()
        .pay(&PayRequest::new(&invoice.bolt11))
        .await
        .unwrap();
    assert!(paid.preimage.matches(&invoice.payment_hash));
    // A hashed description that does not hash to the hash is refused
    // before anything is sent.
    let mut mismatched = InvoiceRequest::sats(5).hashed_description(METADATA);
    mismatched.description_hash = Some([7; 32]);
    let err = h.merchant().create_invoice(&mismatched).await.unwrap_err();
    assert!(
        matches!(err, ReceiveError::InvalidRequest { .. }),
        "{err:?}"
    );
}

/// A payment the network fails is `Failed`, looked up as failed, and moves
/// nothing. Returns the error for backend-specific checks.
pub async fn a_failed_payment_is_failed_and_looked_up_as_failed<H: Harness>(h: &H) -> PayError {
    let (_, err) = failed(h.merchant(), h.payer(), 5).await;
    assert_eq!(h.payer().balance_msat().await.unwrap(), 1_000_000);
    assert_eq!(h.ledger().balance_msat().await.unwrap(), 1_000_000);
    err
}

/// Pays a `sats` invoice the network fails: `Failed`, outcome failed, and
/// looked up as failed. Returns the invoice and the error.
pub async fn failed(merchant: &dyn Receiver, payer: &dyn Wallet, sats: u64) -> (Invoice, PayError) {
    let invoice = invoice(merchant, sats, DevFault::Failed.memo()).await;
    let err = payer
        .pay(&PayRequest::new(&invoice.bolt11))
        .await
        .unwrap_err();
    assert!(matches!(err, PayError::Failed { .. }), "{err:?}");
    assert_eq!(err.outcome(), PayOutcome::Failed);
    assert!(matches!(
        payer.lookup_payment(&invoice.payment_hash).await.unwrap(),
        OutgoingStatus::Failed { .. }
    ));
    (invoice, err)
}

/// A payment pending for 400 ms is awaited until it succeeds.
pub async fn a_pending_payment_is_awaited_until_it_succeeds<H: Harness>(h: &H) {
    pending_is_awaited(h.merchant(), h.payer()).await;
}

/// Pays an invoice whose payment stays pending for 400 ms: the pay call
/// waits it out and succeeds. Returns the invoice.
pub async fn pending_is_awaited(merchant: &dyn Receiver, payer: &dyn Wallet) -> Invoice {
    let fault = DevFault::Pending {
        for_: Duration::from_millis(400),
    };
    let invoice = invoice(merchant, 5, fault.memo()).await;
    let started = Instant::now();
    let paid = payer.pay(&PayRequest::new(&invoice.bolt11)).await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(350));
    assert!(paid.preimage.matches(&invoice.payment_hash));
    invoice
}

/// Pending longer than the pay timeout: `Timeout`, outcome unknown, looked
/// up as pending, then settled once the payment ends.
pub async fn pending_past_the_pay_timeout_is_unknown_then_resolved_by_lookup<H: Harness>(h: &H) {
    let fault = DevFault::Pending {
        for_: Duration::from_millis(1_200),
    };
    let invoice = invoice(h.merchant(), 5, fault.memo()).await;
    let payer = h.payer_with_pay_timeout(Duration::from_millis(300));
    let err = payer
        .pay(&PayRequest::new(&invoice.bolt11))
        .await
        .unwrap_err();
    assert!(
        matches!(err, PayError::Backend(BackendError::Timeout { .. })),
        "{err:?}"
    );
    assert_eq!(err.outcome(), PayOutcome::Unknown);
    assert_eq!(
        payer.lookup_payment(&invoice.payment_hash).await.unwrap(),
        OutgoingStatus::Pending
    );
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    assert!(
        payer
            .lookup_payment(&invoice.payment_hash)
            .await
            .unwrap()
            .is_settled()
    );
}

/// The connection dies after the pay request, once the node paid:
/// `Interrupted`, outcome unknown; the lookup finds it paid; paying again
/// (whose answer `again` checks against the payment found) moves nothing.
pub async fn connection_cut_after_the_pay_request<H: Harness>(
    h: &H,
    again: impl FnOnce(Result<Payment, PayError>, &Payment),
) {
    let invoice = invoice(h.merchant(), 7, "cut".into()).await;
    h.cut_next_pay();
    let err = h
        .payer()
        .pay(&PayRequest::new(&invoice.bolt11))
        .await
        .unwrap_err();
    assert!(
        matches!(err, PayError::Backend(BackendError::Interrupted { .. })),
        "{err:?}"
    );
    assert_eq!(err.outcome(), PayOutcome::Unknown);
    let found = match h
        .payer()
        .lookup_payment(&invoice.payment_hash)
        .await
        .unwrap()
    {
        OutgoingStatus::Succeeded(found) => found,
        other => panic!("expected Succeeded, got {other:?}"),
    };
    assert!(found.preimage.matches(&invoice.payment_hash));
    again(
        h.payer().pay(&PayRequest::new(&invoice.bolt11)).await,
        &found,
    );
    assert_eq!(h.ledger().balance_msat().await.unwrap(), 993_000);
}

/// Paid without a preimage: `BadResponse`, unknown, and the lookup settles
/// it. Paid with a wrong one: `PreimageMismatch` from pay and from lookup.
pub async fn no_preimage_and_wrong_preimage_are_unknown_never_success<H: Harness>(h: &H) {
    no_preimage(h.merchant(), h.payer(), 3).await;
    wrong_preimage(h.merchant(), h.payer(), 3).await;
}

/// Pays a `sats` invoice the node pays without returning the preimage:
/// `BadResponse`, outcome unknown, and the lookup settles it. Returns the
/// invoice.
pub async fn no_preimage(merchant: &dyn Receiver, payer: &dyn Wallet, sats: u64) -> Invoice {
    let a = invoice(merchant, sats, DevFault::NoPreimage.memo()).await;
    let err = payer.pay(&PayRequest::new(&a.bolt11)).await.unwrap_err();
    assert!(
        matches!(err, PayError::Backend(BackendError::BadResponse { .. })),
        "{err:?}"
    );
    assert_eq!(err.outcome(), PayOutcome::Unknown);
    assert!(
        payer
            .lookup_payment(&a.payment_hash)
            .await
            .unwrap()
            .is_settled()
    );
    a
}

/// Pays a `sats` invoice the node pays but answers with a wrong preimage:
/// `PreimageMismatch`, outcome unknown, from pay and from lookup alike.
/// Returns the invoice.
pub async fn wrong_preimage(merchant: &dyn Receiver, payer: &dyn Wallet, sats: u64) -> Invoice {
    let b = invoice(merchant, sats, DevFault::WrongPreimage.memo()).await;
    let err = payer.pay(&PayRequest::new(&b.bolt11)).await.unwrap_err();
    assert!(matches!(err, PayError::PreimageMismatch { .. }), "{err:?}");
    assert_eq!(err.outcome(), PayOutcome::Unknown);
    let err = payer.lookup_payment(&b.payment_hash).await.unwrap_err();
    assert!(matches!(err, PayError::PreimageMismatch { .. }), "{err:?}");
    b
}

/// Wrong credentials: pay, balance and create are `Unauthorized`, the pay
/// outcome is `Failed`, and no money moves. Returns the merchant's invoice.
pub async fn wrong_credentials_are_unauthorized_and_pay_nothing<H: Harness>(h: &H) -> Invoice {
    let invoice = invoice(h.merchant(), 2, "auth".into()).await;
    let wrong = h.payer_with_wrong_credentials();
    let err = wrong
        .pay(&PayRequest::new(&invoice.bolt11))
        .await
        .unwrap_err();
    assert!(
        matches!(err, PayError::Backend(BackendError::Unauthorized { .. })),
        "{err:?}"
    );
    assert_eq!(err.outcome(), PayOutcome::Failed);
    assert!(matches!(
        wrong.balance_msat().await,
        Err(BackendError::Unauthorized { .. })
    ));
    assert!(matches!(
        wrong.create_invoice(&InvoiceRequest::sats(1)).await,
        Err(ReceiveError::Backend(BackendError::Unauthorized { .. }))
    ));
    assert_eq!(h.ledger().balance_msat().await.unwrap(), 1_000_000);
    invoice
}

/// Paying `invoice` through `payer`, which cannot reach (or will not trust)
/// its node: `Unreachable`, and the payment request was never sent.
pub async fn not_sent(payer: &dyn Wallet, invoice: &Invoice) {
    let err = payer
        .pay(&PayRequest::new(&invoice.bolt11))
        .await
        .unwrap_err();
    assert!(
        matches!(err, PayError::Backend(BackendError::Unreachable { .. })),
        "{err:?}"
    );
    assert_eq!(err.outcome(), PayOutcome::NotSent);
}

/// None of `shown`'s `Debug` forms contains `secret`.
pub fn debug_never_shows(secret: &str, shown: &[&dyn Debug]) {
    for item in shown {
        assert!(
            !format!("{item:?}").contains(secret),
            "Debug shows the secret"
        );
    }
}
