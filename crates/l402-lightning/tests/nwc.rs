//! The NWC client against the real thing: Alby's wallet service
//! (`@getalby/sdk` 7.0.0 `NWCWalletService`, run by `scripts/nwc/service.mjs`)
//! over a real relay (PyPI `nostr-relay` 1.14 on loopback), backed by the
//! dev node's LNbits-compatible HTTP wallet (so the conformance suite's
//! injected faults reach the service as a node's answers would).
//!
//! Needs `bash scripts/nwc.sh start` and its env (`L402_NWC_RELAY_URL`,
//! `L402_NWC_NODE`, `L402_NWC_SERVICE`); without them each test says so
//! and passes, unless `L402_REQUIRE_NWC=1` (CI), where it fails.
//!
//! What the real service cannot do, and so is not run here: wrong
//! credentials answered `UNAUTHORIZED` (`NWCWalletService` subscribes to
//! its one client key only, so a stranger's request gets no answer at all:
//! tested as a timeout, outcome unknown, nothing paid).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[macro_use]
mod backend_suite;
mod nwc_support;

use std::sync::atomic::Ordering;
use std::time::Duration;

use backend_suite::{Harness, Node};
use l402_lightning::dev::{DevNode, DevServer, DevWallet};
use l402_lightning::nwc::{Encryption, NwcClient, NwcUri};
use l402_lightning::{
    Backend, BackendError, Cursor, InvoiceRequest, PayError, PayOutcome, PayRequest, Receiver,
    Wallet,
};
use nwc_support::{Proxy, Service, proxy, secret_of, service, stack, with_relay};
use tokio::net::TcpListener;

/// A merchant and a payer, each with an NWC connection to Alby's service,
/// on one dev-node ledger; the payer starts with 1,000 sats and reaches the
/// relay through a [`Proxy`].
struct Pair {
    merchant: NwcClient,
    payer: NwcClient,
    payer_uri: NwcUri,
    ledger: DevWallet,
    proxy: Proxy,
    _service: Service,
    _server: DevServer,
}

fn client(uri: &NwcUri) -> NwcClient {
    NwcClient::builder(uri.clone())
        .timeout(Duration::from_secs(15))
        .pay_timeout(Duration::from_secs(30))
        .build()
}

/// A [`Pair`] over the connections named `merchant`/`payer` plus `suffix`
/// (`""`: NIP-44 offered; `"_nip04"`: an info event without encryption tag).
async fn pair_with(suffix: &str) -> Option<Pair> {
    let node = DevNode::builder().in_memory().open().await.unwrap();
    let server = node.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let merchant = node.wallet("merchant").await.unwrap();
    let payer = node.wallet("payer").await.unwrap();
    payer.credit_sats(1_000).await.unwrap();
    let service = service(&server.url(), &[("merchant", &merchant), ("payer", &payer)]).await?;
    let (relay, _, _) = stack()?;
    let proxy = proxy(&relay).await;
    let merchant_uri: NwcUri = service.connections[&format!("merchant{suffix}")]
        .parse()
        .unwrap();
    let payer_uri: NwcUri = service.connections[&format!("payer{suffix}")]
        .parse()
        .unwrap();
    let payer_uri = with_relay(&payer_uri, &proxy.url);
    Some(Pair {
        merchant: client(&merchant_uri),
        payer: client(&payer_uri),
        payer_uri,
        ledger: payer,
        proxy,
        _service: service,
        _server: server,
    })
}

async fn pair() -> Option<Pair> {
    pair_with("").await
}

impl Harness for Pair {
    const BACKEND: Backend = Backend::Nwc;
    const ENFORCES_MAX_FEE: bool = false;
    fn merchant(&self) -> &dyn Node {
        &self.merchant
    }
    fn payer(&self) -> &dyn Node {
        &self.payer
    }
    fn ledger(&self) -> &DevWallet {
        &self.ledger
    }
    fn cut_next_pay(&self) {
        self.proxy.cut.store(true, Ordering::SeqCst);
    }
    fn payer_with_pay_timeout(&self, timeout: Duration) -> Box<dyn Node> {
        Box::new(
            NwcClient::builder(self.payer_uri.clone())
                .pay_timeout(timeout)
                .build(),
        )
    }
    fn payer_with_wrong_credentials(&self) -> Box<dyn Node> {
        let stranger = stranger(&self.payer_uri);
        Box::new(client(&stranger))
    }
}

/// `uri` with a client secret the wallet service has never seen.
fn stranger(uri: &NwcUri) -> NwcUri {
    format!(
        "nostr+walletconnect://{}?relay={}&secret={}",
        uri.wallet_pubkey().to_hex(),
        uri.relays()[0],
        "42".repeat(32)
    )
    .parse()
    .unwrap()
}

#[tokio::test]
async fn create_pay_and_look_up_over_nip44() {
    let Some(h) = pair().await else { return };
    backend_suite::create_pay_and_look_up(&h, Some(1_000)).await;
    // The service's info event offers "nip04 nip44_v2": NIP-44 was chosen.
    assert_eq!(h.payer.encryption(), Some(Encryption::Nip44V2));
    assert_eq!(h.merchant.encryption(), Some(Encryption::Nip44V2));
}

#[tokio::test]
async fn create_pay_and_look_up_over_nip04_when_the_wallet_offers_nothing_else() {
    let Some(h) = pair_with("_nip04").await else {
        return;
    };
    backend_suite::create_pay_and_look_up(&h, None).await;
    assert_eq!(h.payer.encryption(), Some(Encryption::Nip04));
}

#[tokio::test]
async fn nip04_forced_on_a_wallet_that_offers_both_still_pays() {
    let Some(h) = pair().await else { return };
    let payer = NwcClient::builder(h.payer_uri.clone())
        .encryption(Encryption::Nip04)
        .build();
    let invoice = backend_suite::invoice(&h.merchant, 8, "nip04".into()).await;
    let paid = payer.pay(&PayRequest::new(&invoice.bolt11)).await.unwrap();
    assert!(paid.preimage.matches(&invoice.payment_hash));
    assert!(
        h.merchant
            .lookup_invoice(&invoice.payment_hash)
            .await
            .unwrap()
            .is_paid()
    );
}

#[tokio::test]
async fn a_failed_payment_is_failed_and_looked_up_as_failed() {
    let Some(h) = pair().await else { return };
    let err = backend_suite::a_failed_payment_is_failed_and_looked_up_as_failed(&h).await;
    assert!(err.to_string().contains("PAYMENT_FAILED"), "{err}");
}

#[tokio::test]
async fn a_pending_payment_is_awaited_until_it_succeeds() {
    let Some(h) = pair().await else { return };
    backend_suite::a_pending_payment_is_awaited_until_it_succeeds(&h).await;
}

#[tokio::test]
async fn pending_past_the_pay_timeout_is_unknown_then_resolved_by_lookup() {
    let Some(h) = pair().await else { return };
    backend_suite::pending_past_the_pay_timeout_is_unknown_then_resolved_by_lookup(&h).await;
}

#[tokio::test]
async fn no_preimage_and_wrong_preimage_are_unknown_never_success() {
    let Some(h) = pair().await else { return };
    backend_suite::no_preimage_and_wrong_preimage_are_unknown_never_success(&h).await;
}

#[tokio::test]
async fn an_invoice_commits_to_the_description_hash_asked_for() {
    // make_invoice's `description_hash`, through Alby's service to the
    // wallet API behind it (scripts/nwc/service.mjs passes it on).
    let Some(h) = pair().await else { return };
    backend_suite::an_invoice_commits_to_the_description_hash_asked_for(&h).await;
}

#[tokio::test]
async fn connection_cut_after_the_pay_request_is_unknown_then_resolved_without_paying_twice() {
    let Some(h) = pair().await else { return };
    // Paying again: the dev node refuses an invoice already paid
    // (PAYMENT_FAILED), and the client's confirming lookup finds the
    // earlier payment: the same preimage, no money moved again.
    backend_suite::connection_cut_after_the_pay_request(&h, |again, found| {
        assert_eq!(again.unwrap().preimage, found.preimage);
    })
    .await;
}

#[tokio::test]
async fn a_stranger_key_gets_no_answer_which_is_unknown_and_pays_nothing() {
    let Some(h) = pair().await else { return };
    let invoice = backend_suite::invoice(&h.merchant, 2, "stranger".into()).await;
    let stranger = NwcClient::builder(stranger(&h.payer_uri))
        .timeout(Duration::from_secs(2))
        .pay_timeout(Duration::from_secs(2))
        .build();
    let err = stranger
        .pay(&PayRequest::new(&invoice.bolt11))
        .await
        .unwrap_err();
    assert!(
        matches!(err, PayError::Backend(BackendError::Timeout { .. })),
        "{err:?}"
    );
    assert_eq!(err.outcome(), PayOutcome::Unknown);
    assert_eq!(h.ledger.balance_msat().await.unwrap(), 1_000_000);
}

#[tokio::test]
async fn an_unreachable_relay_is_not_sent() {
    let Some(h) = pair().await else { return };
    let invoice = backend_suite::invoice(&h.merchant, 2, "closed".into()).await;
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}", closed.local_addr().unwrap());
    drop(closed);
    backend_suite::not_sent(&client(&with_relay(&h.payer_uri, &url)), &invoice).await;
}

#[tokio::test]
async fn payment_received_notifications_reach_the_merchant_without_polling() {
    for suffix in ["", "_nip04"] {
        let Some(h) = pair_with(suffix).await else {
            return;
        };
        let feed = h.merchant.settlements().expect("NWC pushes settlements");
        let mut stream = feed.subscribe(Cursor::NOW).await.unwrap();
        let invoice = backend_suite::invoice(&h.merchant, 21, "notify".into()).await;
        h.payer
            .pay(&PayRequest::new(&invoice.bolt11))
            .await
            .unwrap();
        let settled = tokio::time::timeout(Duration::from_secs(15), stream.next())
            .await
            .expect("a notification within 15 s")
            .unwrap()
            .expect("a settlement");
        assert_eq!(settled.payment_hash, invoice.payment_hash, "{suffix}");
        assert_eq!(settled.amount_msat, 21_000);
        assert!(settled.cursor > Cursor::NOW);
    }
}

#[tokio::test]
async fn secrets_never_show_and_bad_requests_are_refused_before_sending() {
    let Some(h) = pair().await else { return };
    let secret = secret_of(&h.payer_uri);
    backend_suite::debug_never_shows(&secret, &[&h.payer, &h.payer_uri]);
    assert!(!h.payer_uri.to_string().contains(&secret));
    let err = h
        .merchant
        .create_invoice(&InvoiceRequest::msat(0))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("amount must be positive"), "{err}");
    let err = h
        .payer
        .pay(&PayRequest::new("lnbc1garbage"))
        .await
        .unwrap_err();
    assert_eq!(err.outcome(), PayOutcome::NotSent);
    assert_eq!(
        h.merchant
            .lookup_invoice(&l402_lightning::PaymentHash([1; 32]))
            .await
            .map_err(|e| e.to_string())
            .unwrap_err(),
        format!(
            "NWC: unknown invoice {}",
            l402_lightning::PaymentHash([1; 32])
        )
    );
}

#[tokio::test]
async fn a_resumed_subscription_replays_settlements_from_its_cursor() {
    let Some(h) = pair().await else { return };
    let a = backend_suite::invoice(&h.merchant, 3, "a".into()).await;
    let b = backend_suite::invoice(&h.merchant, 4, "b".into()).await;
    for invoice in [&a, &b] {
        h.payer
            .pay(&PayRequest::new(&invoice.bolt11))
            .await
            .unwrap();
    }
    let feed = h.merchant.settlements().unwrap();
    // From long ago: both, from list_transactions.
    let mut stream = feed.subscribe(Cursor::new(1)).await.unwrap();
    let mut replayed = Vec::new();
    for _ in 0..2 {
        let s = tokio::time::timeout(Duration::from_secs(15), stream.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        replayed.push((s.payment_hash, s.amount_msat));
    }
    replayed.sort_by_key(|(_, amount)| *amount);
    assert_eq!(
        replayed,
        vec![(a.payment_hash, 3_000), (b.payment_hash, 4_000)]
    );
    // From the future: nothing replayed; the next live one comes (a late
    // live notification of a or b may come first: delivery is at least once).
    let mut stream = feed
        .subscribe(Cursor::new(u64::from(u32::MAX)))
        .await
        .unwrap();
    let c = backend_suite::invoice(&h.merchant, 5, "c".into()).await;
    h.payer.pay(&PayRequest::new(&c.bolt11)).await.unwrap();
    loop {
        let s = tokio::time::timeout(Duration::from_secs(15), stream.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        if s.payment_hash == c.payment_hash {
            assert_eq!(s.amount_msat, 5_000);
            break;
        }
        assert!([a.payment_hash, b.payment_hash].contains(&s.payment_hash));
    }
}

/// A relay that answers anything with one text message of `size` bytes.
async fn oversized_relay(size: usize) -> String {
    use futures_util::{SinkExt as _, StreamExt as _};
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            tokio::spawn(async move {
                let Ok(mut ws) = tokio_tungstenite::accept_async(tcp).await else {
                    return;
                };
                if ws.next().await.is_some() {
                    let big = format!("[\"NOTICE\",\"{}\"]", "x".repeat(size));
                    let _ = ws
                        .send(tokio_tungstenite::tungstenite::Message::text(big))
                        .await;
                }
                let _ = ws.next().await;
            });
        }
    });
    url
}

#[tokio::test]
async fn a_relay_message_over_256_kib_is_refused_not_buffered() {
    // No stack needed: a hand-made relay.
    let url = oversized_relay(300 * 1024).await;
    let uri: NwcUri = format!(
        "nostr+walletconnect://{}?relay={url}&secret={}",
        "b889ff5b1513b641e2a139f661a661364979c5beee91842f8f0ef42ab558e9d4",
        "71a8c14c1407c113601079c4302dab36460f0ccd0ad506f1f2dc73b5100e4f3c"
    )
    .parse()
    .unwrap();
    let client = NwcClient::builder(uri)
        .timeout(Duration::from_secs(10))
        .build();
    let started = std::time::Instant::now();
    let err = client.balance_msat().await.unwrap_err();
    // Before the request was written: not sent.
    assert!(matches!(err, BackendError::Unreachable { .. }), "{err:?}");
    assert!(
        format!("{:?}", err).to_lowercase().contains("too long")
            || format!("{:?}", err).to_lowercase().contains("size"),
        "{err:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn a_wss_relay_whose_certificate_is_not_trusted_is_not_sent() {
    // A TLS listener with a self-signed certificate no platform root vouches
    // for: the handshake fails, so nothing was sent.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let acceptor = l402_testkit::wire::acceptor();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let _ = acceptor.accept(tcp).await;
            });
        }
    });
    let uri: NwcUri = format!(
        "nostr+walletconnect://{}?relay=wss://localhost:{port}&secret={}",
        "b889ff5b1513b641e2a139f661a661364979c5beee91842f8f0ef42ab558e9d4",
        "71a8c14c1407c113601079c4302dab36460f0ccd0ad506f1f2dc73b5100e4f3c"
    )
    .parse()
    .unwrap();
    let client = NwcClient::builder(uri)
        .timeout(Duration::from_secs(10))
        .build();
    let node = DevNode::builder().in_memory().open().await.unwrap();
    let invoice = backend_suite::invoice(&node.wallet("m").await.unwrap(), 1, "tls".into()).await;
    let err = client
        .pay(&PayRequest::new(&invoice.bolt11))
        .await
        .unwrap_err();
    assert!(
        matches!(err, PayError::Backend(BackendError::Unreachable { .. })),
        "{err:?}"
    );
    assert_eq!(err.outcome(), PayOutcome::NotSent);
}

#[test]
fn every_truncation_and_corruption_of_a_connection_string_parses_or_errs() {
    let good = "nostr+walletconnect://b889ff5b1513b641e2a139f661a661364979c5beee91842f8f0ef42ab558e9d4\
                ?relay=wss%3A%2F%2Frelay.example.com&secret=71a8c14c1407c113601079c4302dab36460f0ccd0ad506f1f2dc73b5100e4f3c&lud16=a%40b.c";
    for end in 0..=good.len() {
        if let Some(prefix) = good.get(..end) {
            let _ = prefix.parse::<NwcUri>();
        }
    }
    for i in 0..good.len() {
        for c in [
            '%', '?', '&', '=', '/', ':', '\u{0}', 'é', ' ', '#', '[', '@',
        ] {
            let mut s = good.to_owned();
            if s.is_char_boundary(i) && s.is_char_boundary(i + 1) {
                s.replace_range(i..i + 1, &c.to_string());
                let _ = s.parse::<NwcUri>();
            }
        }
    }
}

/// LNbits' env from `scripts/lnbits.sh` (url, merchant keys, payer keys),
/// or `None` (skip) outside CI.
fn lnbits() -> Option<(String, [String; 4])> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let keys = [
        "L402_LNBITS_MERCHANT_ADMIN_KEY",
        "L402_LNBITS_MERCHANT_INVOICE_KEY",
        "L402_LNBITS_PAYER_ADMIN_KEY",
        "L402_LNBITS_PAYER_INVOICE_KEY",
    ]
    .map(var);
    match (var("L402_LNBITS_URL"), keys) {
        (Some(url), [Some(a), Some(b), Some(c), Some(d)]) => Some((url, [a, b, c, d])),
        _ if var("L402_REQUIRE_LNBITS").as_deref() == Some("1") => {
            panic!(
                "L402_REQUIRE_LNBITS=1 but LNbits' env is not set (bash scripts/lnbits.sh start)"
            )
        }
        _ => {
            eprintln!("skipped: no LNbits (bash scripts/lnbits.sh start)");
            None
        }
    }
}

#[tokio::test]
async fn alby_service_backed_by_a_real_lnbits_creates_pays_and_looks_up() {
    let Some((url, [m_admin, m_invoice, p_admin, p_invoice])) = lnbits() else {
        return;
    };
    let Some(svc) = nwc_support::service_with_keys(
        &url,
        &[
            ("merchant", &m_admin, &m_invoice),
            ("payer", &p_admin, &p_invoice),
        ],
    )
    .await
    else {
        return;
    };
    let merchant = client(&svc.connections["merchant"].parse().unwrap());
    let payer = client(&svc.connections["payer"].parse().unwrap());
    let before = payer.balance_msat().await.unwrap();
    let invoice = merchant
        .create_invoice(&InvoiceRequest::sats(21).memo("nwc over lnbits"))
        .await
        .unwrap();
    assert_eq!(invoice.amount_msat, 21_000);
    assert_eq!(
        merchant
            .lookup_invoice(&invoice.payment_hash)
            .await
            .unwrap(),
        l402_lightning::InvoiceStatus::Pending
    );
    let paid = payer.pay(&PayRequest::new(&invoice.bolt11)).await.unwrap();
    assert!(paid.preimage.matches(&invoice.payment_hash));
    assert!(
        payer
            .lookup_payment(&invoice.payment_hash)
            .await
            .unwrap()
            .is_settled()
    );
    assert!(
        merchant
            .lookup_invoice(&invoice.payment_hash)
            .await
            .unwrap()
            .is_paid()
    );
    assert!(payer.balance_msat().await.unwrap() <= before - 21_000);
    assert_eq!(payer.encryption(), Some(Encryption::Nip44V2));
}
