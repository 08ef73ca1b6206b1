//! One L402 purchase, end to end, with nothing but the protocol core: a seller
//! mints a challenge for a real (regtest) BOLT11 invoice, a buyer checks and
//! "pays" it, and the seller verifies the credential, then refuses a few
//! tampered ones and says why.
//!
//! `cargo run -p l402 --example walkthrough`
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use l402::bitcoin::hashes::{Hash, sha256};
use l402::bitcoin::secp256k1::{Secp256k1, SecretKey};
use l402::invoice::{Currency, Invoice, InvoiceRequirements};
use l402::lightning_invoice::{InvoiceBuilder, PaymentSecret};
use l402::{
    Caveat, Challenge, ChallengeStyle, Challenges, Credential, Keyring, Minter, Preimage,
    RequestContext, Verifier,
};

fn main() {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();

    // --- Seller: an invoice from its node (here: a throwaway regtest key) ---
    let secp = Secp256k1::new();
    let node_key = SecretKey::from_slice(&[0x11; 32]).unwrap();
    let preimage = Preimage::random().unwrap(); // known only to the seller's node
    let payment_hash = preimage.payment_hash();
    let invoice = InvoiceBuilder::new(Currency::Regtest)
        .description("l402 walkthrough: one weather report".into())
        .payment_hash(sha256::Hash::from_byte_array(payment_hash.0))
        .payment_secret(PaymentSecret([0x22; 32]))
        .amount_milli_satoshis(21_000)
        .expiry_time(Duration::from_secs(600))
        .current_timestamp()
        .min_final_cltv_expiry_delta(144)
        .build_signed(|msg| secp.sign_ecdsa_recoverable(msg, &node_key))
        .unwrap()
        .to_string();

    // --- Seller: mint a macaroon bound to the hash, resource, price, expiry ---
    let keys = Keyring::new(1, [7; 32]); // the server secret (keep it secret!)
    let macaroon = Minter::new(keys.clone())
        .mint(
            payment_hash,
            &[
                Caveat::resource("/api/weather"),
                Caveat::amount_sats(21),
                Caveat::valid_until(now + 3600),
            ],
        )
        .unwrap();
    let challenge = Challenge::new(macaroon.to_string(), invoice);
    println!("HTTP/1.1 402 Payment Required");
    for value in challenge.header_values(&ChallengeStyle::default()) {
        println!("WWW-Authenticate: {value}\n");
    }

    // --- Buyer: parse, decode, check everything before paying ---
    let response_headers = challenge.header_values(&ChallengeStyle::default());
    let parsed = Challenges::parse(response_headers.iter().map(String::as_str));
    let offer = parsed.l402().unwrap();
    let macaroon = offer.decode_macaroon().unwrap();
    let id = l402::Identifier::from_bytes(macaroon.identifier()).unwrap();
    let invoice: Invoice = offer.invoice.parse().unwrap();
    invoice
        .check(
            &InvoiceRequirements::new()
                .network(Currency::Regtest)
                .max_amount_msat(100_000)
                .payment_hash(id.payment_hash)
                .not_expired(),
        )
        .unwrap();
    println!(
        "buyer: invoice for {} sats checked (network, amount, expiry, signature, hash == macaroon's)",
        invoice.amount_sats().unwrap()
    );
    // Paying returns the preimage; here the buyer is handed it directly.
    assert!(preimage.matches(&invoice.payment_hash()));
    let credential = Credential::new(macaroon, preimage);
    let authorization = credential.to_string();
    println!("buyer: Authorization: {}...\n", &authorization[..60]);

    // --- Seller: verify the paid retry ---
    let verifier = Verifier::new(keys);
    let request = RequestContext::now()
        .resource("/api/weather")
        .amount_sats(21);
    let credential: Credential = authorization.parse().unwrap();
    let paid = verifier.verify(&credential, &request).unwrap();
    println!(
        "seller: 200 OK, token {} paid {}",
        paid.token_id(),
        paid.payment_hash()
    );

    // --- Seller: what it refuses, and why ---
    let cases: Vec<(&str, Credential, RequestContext)> = vec![
        (
            "another resource",
            credential.clone(),
            RequestContext::now()
                .resource("/api/stocks")
                .amount_sats(21),
        ),
        (
            "another price",
            credential.clone(),
            RequestContext::now()
                .resource("/api/weather")
                .amount_sats(500),
        ),
        (
            "after expiry",
            credential.clone(),
            RequestContext::new(now + 7200)
                .resource("/api/weather")
                .amount_sats(21),
        ),
        (
            "wrong preimage",
            Credential::new(credential.macaroon().clone(), Preimage::random().unwrap()),
            request.clone(),
        ),
        (
            "self-minted token",
            {
                let forged = Minter::new(Keyring::new(1, [8; 32]))
                    .mint(
                        credential.preimage().payment_hash(),
                        &[Caveat::resource("/api/weather")],
                    )
                    .unwrap();
                Credential::new(forged, credential.preimage().clone())
            },
            request.clone(),
        ),
    ];
    for (name, credential, ctx) in cases {
        let err = verifier.verify(&credential, &ctx).unwrap_err();
        let status = if err.is_genuine() {
            "402 + fresh challenge"
        } else {
            "401"
        };
        println!("seller: {name:<18} -> {status:<22} ({err})");
    }
}
