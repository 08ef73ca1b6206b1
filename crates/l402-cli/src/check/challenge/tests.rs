#![allow(clippy::unwrap_used, clippy::expect_used)]

use bitcoin::hashes::{Hash, sha256};
use bitcoin::secp256k1::{Secp256k1, SecretKey};
use l402::{Caveat, Challenge, ChallengeStyle, Keyring, Minter, PaymentHash, Preimage};
use lightning_invoice::{Currency, InvoiceBuilder, PaymentSecret};
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, HeaderValue};

use super::super::report::{Level, Report, Verdict};
use super::{Answer, Expect, inspect};

const NOW: u64 = 1_900_000_000;

fn invoice(hash: PaymentHash, amount_msat: Option<u64>, expiry_secs: u64) -> String {
    let secp = Secp256k1::new();
    let key = SecretKey::from_slice(&[0x11; 32]).unwrap();
    let mut builder = InvoiceBuilder::new(Currency::Regtest)
        .description("check".into())
        .payment_hash(sha256::Hash::from_byte_array(hash.0))
        .payment_secret(PaymentSecret([2; 32]))
        .timestamp(std::time::UNIX_EPOCH + std::time::Duration::from_secs(NOW - 10))
        .expiry_time(std::time::Duration::from_secs(expiry_secs))
        .min_final_cltv_expiry_delta(18);
    if let Some(msat) = amount_msat {
        builder = builder.amount_milli_satoshis(msat);
    }
    builder
        .build_signed(|m| secp.sign_ecdsa_recoverable(m, &key))
        .unwrap()
        .to_string()
}

struct Parts {
    macaroon: String,
    invoice: String,
}

fn parts() -> Parts {
    let preimage = Preimage::from([4u8; 32]);
    let macaroon = Minter::new(Keyring::new(1, [9u8; 32]))
        .mint(preimage.payment_hash(), &[Caveat::resource("/x")])
        .unwrap()
        .to_string();
    Parts {
        macaroon,
        invoice: invoice(preimage.payment_hash(), Some(21_000), 600),
    }
}

fn answer(status: u16, values: &[String], extra: &[(&'static str, &str)], body: &str) -> Answer {
    let mut headers = HeaderMap::new();
    for v in values {
        headers.append("www-authenticate", HeaderValue::from_str(v).unwrap());
    }
    for (k, v) in extra {
        headers.append(*k, HeaderValue::from_str(v).unwrap());
    }
    Answer {
        status: StatusCode::from_u16(status).unwrap(),
        headers,
        body: body.as_bytes().to_vec(),
    }
}

const GOOD_HEADERS: &[(&str, &str)] = &[
    ("cache-control", "no-store"),
    ("access-control-expose-headers", "WWW-Authenticate"),
];

fn run(a: &Answer) -> Report {
    let mut report = Report::default();
    inspect(
        a,
        &Expect {
            now: NOW,
            network: None,
        },
        &mut report,
    );
    report
}

fn verdict(r: &Report, id: &str) -> Verdict {
    r.item(id).unwrap_or_else(|| panic!("no item {id}")).verdict
}

#[test]
fn apertures_form_with_lsat_first_passes_everything() {
    let p = parts();
    let values = Challenge::new(p.macaroon.clone(), p.invoice.clone())
        .header_values(&ChallengeStyle::default().with_lsat_header(true));
    let r = run(&answer(402, &values, GOOD_HEADERS, "payment required"));
    for item in &r.items {
        assert!(
            matches!(item.verdict, Verdict::Pass | Verdict::Info),
            "{}: {:?} {}",
            item.id,
            item.verdict,
            item.detail
        );
    }
    assert!(r.required_passed());
}

#[test]
fn each_wrong_item_fails_alone() {
    let p = parts();
    let (m, i) = (&p.macaroon, &p.invoice);
    let canonical = format!(r#"L402 macaroon="{m}", invoice="{i}""#);
    let cases: Vec<(&str, Answer)> = vec![
        (
            "status_402",
            answer(401, std::slice::from_ref(&canonical), GOOD_HEADERS, ""),
        ),
        (
            "param_order",
            answer(
                402,
                &[format!(r#"L402 invoice="{i}", macaroon="{m}""#)],
                GOOD_HEADERS,
                "",
            ),
        ),
        (
            "param_quoting",
            answer(
                402,
                &[format!(r#"L402 macaroon={m}, invoice={i}"#)],
                GOOD_HEADERS,
                "",
            ),
        ),
        (
            "header_form",
            answer(
                402,
                &[format!(r#"L402 macaroon="{m}",invoice="{i}""#)],
                GOOD_HEADERS,
                "",
            ),
        ),
        (
            "l402_scheme",
            answer(
                402,
                &[format!(r#"l402 macaroon="{m}", invoice="{i}""#)],
                GOOD_HEADERS,
                "",
            ),
        ),
        (
            "challenge_first",
            answer(
                402,
                &[format!(
                    r#"Payment id="a", method="lightning", {canonical}"#
                )],
                GOOD_HEADERS,
                "",
            ),
        ),
        (
            "body_agrees",
            answer(
                402,
                std::slice::from_ref(&canonical),
                GOOD_HEADERS,
                &format!(r#"{{"invoice":"{i}","macaroon":"AgEEother"}}"#),
            ),
        ),
        (
            "cache_control",
            answer(
                402,
                std::slice::from_ref(&canonical),
                &GOOD_HEADERS[1..],
                "",
            ),
        ),
        (
            "cors_expose",
            answer(
                402,
                std::slice::from_ref(&canonical),
                &GOOD_HEADERS[..1],
                "",
            ),
        ),
    ];
    for (id, a) in cases {
        let r = run(&a);
        let failed: Vec<&str> = r
            .items
            .iter()
            .filter(|i| i.verdict == Verdict::Fail && i.id != "lsat_challenge")
            .map(|i| i.id)
            .collect();
        // l402_scheme's lower-case spelling also breaks the exact form.
        let expected: &[&str] = match id {
            "l402_scheme" => &["l402_scheme", "header_form"],
            _ => &[id],
        };
        assert_eq!(failed, expected, "{id}: {:#?}", r.items);
        let item = r.item(id).unwrap();
        assert!(item.hint.is_some(), "{id} has a hint");
        let required = !matches!(id, "cache_control" | "cors_expose");
        assert_eq!(item.level == Level::Required, required, "{id}");
        assert_eq!(r.required_passed(), !required, "{id}");
    }
}

#[test]
fn macaroon_and_invoice_failures() {
    let p = parts();
    let other_hash = Preimage::from([8u8; 32]).payment_hash();
    let swapped = Challenge::new(p.macaroon.clone(), invoice(other_hash, Some(1000), 600));
    let r = run(&answer(402, &[swapped.to_string()], GOOD_HEADERS, ""));
    assert_eq!(verdict(&r, "payment_hash_match"), Verdict::Fail);

    let amountless = Challenge::new(p.macaroon.clone(), invoice(other_hash, None, 600));
    let r = run(&answer(402, &[amountless.to_string()], GOOD_HEADERS, ""));
    assert_eq!(verdict(&r, "invoice_amount"), Verdict::Fail);

    let expired = Challenge::new(p.macaroon.clone(), invoice(other_hash, Some(1000), 5));
    let r = run(&answer(402, &[expired.to_string()], GOOD_HEADERS, ""));
    assert_eq!(verdict(&r, "invoice_expiry"), Verdict::Fail);

    let bad_invoice = Challenge::new(p.macaroon.clone(), "lnbcrt1garbage");
    let r = run(&answer(402, &[bad_invoice.to_string()], GOOD_HEADERS, ""));
    assert_eq!(verdict(&r, "invoice_decodes"), Verdict::Fail);
    assert_eq!(verdict(&r, "invoice_amount"), Verdict::Skip);

    // l402kit's base64 JSON token: not a macaroon, but its hash is read.
    use base64::Engine as _;
    let hash = Preimage::from([4u8; 32]).payment_hash();
    let kit = base64::engine::general_purpose::STANDARD
        .encode(format!(r#"{{"hash":"{hash}","exp":1900000999000}}"#));
    let r = run(&answer(
        402,
        &[Challenge::new(kit, p.invoice.clone()).to_string()],
        GOOD_HEADERS,
        "",
    ));
    assert_eq!(verdict(&r, "macaroon_v2"), Verdict::Fail);
    assert_eq!(verdict(&r, "macaroon_identifier"), Verdict::Skip);
    assert_eq!(verdict(&r, "payment_hash_match"), Verdict::Pass);
}

#[test]
fn no_challenge_at_all() {
    let r = run(&answer(402, &[], GOOD_HEADERS, "pay me"));
    assert_eq!(verdict(&r, "challenge_header"), Verdict::Fail);
    assert_eq!(verdict(&r, "macaroon_v2"), Verdict::Skip);
    assert!(!r.required_passed());
    // A body-only challenge is still judged: its invoice and macaroon pass.
    let p = parts();
    let body = format!(
        r#"{{"l402":{{"macaroon":"{}","invoice":"{}"}}}}"#,
        p.macaroon, p.invoice
    );
    let r = run(&answer(402, &[], GOOD_HEADERS, &body));
    assert_eq!(verdict(&r, "challenge_header"), Verdict::Fail);
    assert_eq!(verdict(&r, "macaroon_v2"), Verdict::Pass);
    assert_eq!(verdict(&r, "payment_hash_match"), Verdict::Pass);
}

#[test]
fn odd_header_values_never_panic() {
    let p = parts();
    let values = [
        "L402".to_owned(),
        "L402 ".to_owned(),
        "l402 macaroon=\"".to_owned(),
        "L402 macaroon=".to_owned(),
        "L402 macaroon=\"x\"".to_owned(),
        "xL402 macaroon=\"a\", invoice=\"b\"".to_owned(),
        "LSAT  , L402\t macaroon=\"é\", invoice=\"ü\"".to_owned(),
        format!(
            "L402 macaroon=\"{}\", invoice=\"{}\"",
            p.macaroon,
            "é".repeat(50)
        ),
        format!(
            "LSAT macaroon=\"{}\", invoice=\"{}\", L402",
            p.macaroon, p.invoice
        ),
        ",,,,".to_owned(),
        "\"\"\"".to_owned(),
    ];
    for v in &values {
        for body in ["", "{", "{\"l402\":1}", "[]", "{\"invoice\":\"\"}"] {
            let r = run(&answer(402, std::slice::from_ref(v), GOOD_HEADERS, body));
            assert!(!r.items.is_empty(), "{v}");
        }
    }
}
