//! Real third-party vectors: the Aperture challenge and the other challenges
//! of lsat-js's test data (`Tierion/lsat-js:tests/data.ts`), and Aperture-era
//! credential cases.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use l402::invoice::{Invoice, InvoiceError, InvoiceRequirements};
use l402::{
    Caveat, Challenges, Credential, CredentialError, Identifier, IdentifierError, Macaroon,
    PaymentHash, Preimage, RequestContext, Scheme, check_caveats,
};

const APERTURE_CHALLENGE: &str = r#"LSAT macaroon="AgEEbHNhdAJCAAAwpHpumws6ufQoDwiTLNcge0QPUIWA0+tVY+tKPYAJ/zSfmEGlIpNm3VzxuzCqLhEp5KGiyPLUM9L+kcB7uzS+AAIPc2VydmljZXM9bWVtZTowAAISbWVtZV9jYXBhYmlsaXRpZXM9AAAGILA1VCEIExukt4nG+XR9tX8WJ2BVMiHG3UNt1uYJ+NRD", invoice="lnbcrt100n1p3qqkygpp5xzj85m5mpvatnapgpuyfxtxhypa5gr6sskqd8664v04550vqp8lsdq8f3f5z4qcqzpgsp5tpzvsq5pckqgln3ltpy3e9cf6tf2aj82ffa2tted77ltweuaweks9qyyssq0w5da3k40wtdukac7hp5s58hsxf8k8f52c5qneezu4xg3xh87xrnkl5jwtw098d2gjywx20nmkxl2y4vq9fr89kg5kzcwupv9xpdaggp4fc4ms""#;
const APERTURE_MACAROON: &str = "AgEEbHNhdAJCAAAwpHpumws6ufQoDwiTLNcge0QPUIWA0+tVY+tKPYAJ/zSfmEGlIpNm3VzxuzCqLhEp5KGiyPLUM9L+kcB7uzS+AAIPc2VydmljZXM9bWVtZTowAAISbWVtZV9jYXBhYmlsaXRpZXM9AAAGILA1VCEIExukt4nG+XR9tX8WJ2BVMiHG3UNt1uYJ+NRD";
const APERTURE_HASH: &str = "30a47a6e9b0b3ab9f4280f08932cd7207b440f508580d3eb5563eb4a3d8009ff";
const APERTURE_TOKEN_ID: &str = "349f9841a5229366dd5cf1bb30aa2e1129e4a1a2c8f2d433d2fe91c07bbb34be";

/// go-macaroon generated, location "3.136.178.15:34238", no caveats.
const GO_CHALLENGE: &str = r#"macaroon="AgESMy4xMzYuMTc4LjE1OjM0MjM4AkIAAD2b0rX78LATiVo8bKgHuurefeF5OeX2H5ZuacBIK3+RAR1PKU1oZpfCZFib4zdDoj0pOpgPmhtuzNllU+y//D0AAAYgcWFs9FIteCzpCcEPSwmXKBpcx97hyL5Yt99cbLjRHzU=", invoice="lntb20n1psza5dwpp58kda9d0m7zcp8z2683k2spa6at08mcte88jlv8ukde5uqjpt07gsdzjfp85gnpqd9h8vmmfvdjjqurp09kk2mn5ypn8ymmdyppksctfdecx76twwssyxmmjv5sxcmny8gcnqvps8ycqzpgsp5m7xru8dlhrhmwjp8gynsj2l9mwan2jk52ah5xucrn9kc3p0pj5ns9qy9qsq7jjxypyyc7hvvs8srh6c3lvcp5l5wka94htnfxak99hd5qrx69sya9sj4zm3w5lncw0tksf944q73tduhlhs5apd63m9dte9dhva5dgqaceunx""#;
const GO_HASH: &str = "3d9bd2b5fbf0b013895a3c6ca807baeade7de17939e5f61f966e69c0482b7f91";

/// lsat-js generated: URL-safe unpadded, a hex-text identifier, an
/// `expiration=` caveat; with and without a space before `invoice=`.
const LSATJS_MACAROON: &str = "AgEIbG9jYXRpb24ChAEwMDAwN2NlZjkzZjJjNTFhYTY1MjA4YmVjMTQ0N2ZjMzhmYzU4ZDliY2UxMzc1YTUzMmVkYjBkY2QyOTBhMmMzMzBhZTljNTMyNjZiMWJlMzE1MGI2NjZiM2Y2ZWM3MGYyOGJkNDNhOWQ0ZmQxOTQ2MWE2MjBmYmFjYzMzNzY4YTk5OTQAAhhleHBpcmF0aW9uPTE2NDQxOTQyNjM2OTMAAAYg_1CMq8TuMXv-ERHDWQCtlIhsQwwKiUDmnnh1maDFpkQ";
const LSATJS_INVOICE: &str = "lntb10u1pw7kfm8pp50nhe8uk9r2n9yz97c9z8lsu0ckxehnsnwkjn9mdsmnffpgkrxzhqdq5w3jhxapqd9h8vmmfvdjscqzpgllq2qvdlgkllc27kpd87lz8pdfsfmtteyc3kwq734jpwnvqt96e4nuy0yauzdrtkumxsvawgda8dlljxu3nnjlhs6w75390wy7ukj6cpfmygah";
const LSATJS_PREIMAGE: &str = "2ca931a1c36b48f54948b898a271a53ed91ff7d0081939a5fa511249e81cba5c";
const LSATJS_HASH: &str = "7cef93f2c51aa65208bec1447fc38fc58d9bce1375a532edb0dcd290a2c330ae";

#[test]
fn aperture_challenge_decodes_completely_and_hashes_match() {
    let parsed = Challenges::parse([APERTURE_CHALLENGE]);
    let challenge = parsed.l402().unwrap();
    assert_eq!(challenge.scheme, Scheme::Lsat);
    assert_eq!(challenge.macaroon, APERTURE_MACAROON);

    let macaroon = challenge.decode_macaroon().unwrap();
    assert_eq!(macaroon.location(), "lsat");
    assert_eq!(
        macaroon.to_string(),
        APERTURE_MACAROON,
        "re-encoding is byte-identical"
    );
    let id = Identifier::from_bytes(macaroon.identifier()).unwrap();
    assert_eq!(id.payment_hash.to_string(), APERTURE_HASH);
    assert_eq!(id.token_id.to_string(), APERTURE_TOKEN_ID);
    let caveats: Vec<Caveat> = macaroon
        .caveats()
        .map(|c| Caveat::from_bytes(c).unwrap())
        .collect();
    assert_eq!(
        caveats,
        vec![
            "services=meme:0".parse().unwrap(),
            "meme_capabilities=".parse().unwrap()
        ]
    );
    let ctx = RequestContext::new(1_700_000_000).service("meme");
    assert!(check_caveats(caveats.iter(), &ctx).is_ok());
    assert!(check_caveats(caveats.iter(), &RequestContext::new(0).service("loop")).is_err());

    let invoice: Invoice = challenge.invoice.parse().unwrap();
    assert_eq!(invoice.amount_msat(), Some(10_000));
    assert_eq!(invoice.currency(), l402::invoice::Currency::Regtest);
    assert_eq!(invoice.payment_hash(), id.payment_hash);
    assert!(
        invoice
            .check(&InvoiceRequirements::new().payment_hash(id.payment_hash))
            .is_ok()
    );
}

#[test]
fn aperture_macaroon_paired_with_another_invoice_is_a_hash_mismatch() {
    let macaroon: Macaroon = APERTURE_MACAROON.parse().unwrap();
    let id = Identifier::from_bytes(macaroon.identifier()).unwrap();
    // GO_CHALLENGE has no scheme (lsat-js's data strips it): alone it is no
    // L402 challenge; with one prepended, its invoice is for another hash.
    assert!(Challenges::parse([GO_CHALLENGE]).l402().is_err());
    let with_scheme = format!("LSAT {GO_CHALLENGE}");
    let other: Invoice = Challenges::parse([with_scheme.as_str()])
        .l402()
        .unwrap()
        .invoice
        .parse()
        .unwrap();
    assert!(matches!(
        other.check(&InvoiceRequirements::new().payment_hash(id.payment_hash)),
        Err(InvoiceError::PaymentHashMismatch { .. })
    ));
}

#[test]
fn go_macaroon_challenge_decodes_and_hashes_match() {
    let header = format!("L402 {GO_CHALLENGE}");
    let parsed = Challenges::parse([header.as_str()]);
    let challenge = parsed.l402().unwrap();
    let macaroon = challenge.decode_macaroon().unwrap();
    assert_eq!(macaroon.location(), "3.136.178.15:34238");
    assert_eq!(macaroon.caveats().len(), 0);
    let id = Identifier::from_bytes(macaroon.identifier()).unwrap();
    assert_eq!(id.payment_hash.to_string(), GO_HASH);
    let invoice: Invoice = challenge.invoice.parse().unwrap();
    assert_eq!(invoice.payment_hash(), id.payment_hash);
    assert_eq!(invoice.amount_msat(), Some(2_000));
}

#[test]
fn lsat_js_challenges_with_and_without_space() {
    for sep in [" ", ","] {
        let header = format!(r#"LSAT macaroon="{LSATJS_MACAROON}"{sep}invoice="{LSATJS_INVOICE}""#);
        let parsed = Challenges::parse([header.as_str()]);
        let challenge = parsed.l402().unwrap();
        assert_eq!(challenge.macaroon, LSATJS_MACAROON);
        assert_eq!(challenge.invoice, LSATJS_INVOICE);
        let macaroon = challenge.decode_macaroon().unwrap();
        assert_eq!(macaroon.location(), "location");
        // lsat-js wrote the identifier as hex text, which is not Aperture's
        // binary identifier: refused with a clear error.
        assert_eq!(
            Identifier::from_bytes(macaroon.identifier()),
            Err(IdentifierError::Length(132))
        );
        let caveat = Caveat::from_bytes(macaroon.caveats().next().unwrap()).unwrap();
        assert_eq!(caveat.to_string(), "expiration=1644194263693");
        let expired = check_caveats([&caveat], &RequestContext::at_millis(1_644_194_263_693));
        assert!(matches!(expired, Err(l402::CaveatError::Expired { .. })));
        assert!(check_caveats([&caveat], &RequestContext::at_millis(1_644_194_263_692)).is_ok());
    }
}

#[test]
fn lsat_js_preimage_matches_its_invoice() {
    let preimage: Preimage = LSATJS_PREIMAGE.parse().unwrap();
    let hash: PaymentHash = LSATJS_HASH.parse().unwrap();
    assert!(preimage.matches(&hash));
    // This 2019 invoice predates payment secrets, which every node now
    // requires: it is refused, with the reason.
    match LSATJS_INVOICE.parse::<Invoice>() {
        Err(InvoiceError::Invalid(reason)) => {
            assert!(reason.contains("payment secret"), "{reason}")
        }
        other => panic!("expected a payment-secret refusal, got {other:?}"),
    }
}

#[test]
fn lsat_js_challenge_errors() {
    let missing_invoice = format!("LSAT macaroon={LSATJS_MACAROON}");
    assert_eq!(
        Challenges::parse([missing_invoice.as_str()]).l402(),
        Err(l402::ChallengeError::MissingInvoice(Scheme::Lsat))
    );
    let missing_macaroon = format!(r#"LSAT invoice="{LSATJS_INVOICE}""#);
    assert_eq!(
        Challenges::parse([missing_macaroon.as_str()]).l402(),
        Err(l402::ChallengeError::MissingMacaroon(Scheme::Lsat))
    );
    // lsat-js refuses unquoted values; deployed servers send them, so l402
    // accepts them (quoted or bare, per the wire-format contract).
    let bare = format!("LSAT macaroon={LSATJS_MACAROON}, invoice={LSATJS_INVOICE}");
    let parsed = Challenges::parse([bare.as_str()]);
    assert_eq!(parsed.l402().unwrap().invoice, LSATJS_INVOICE);
}

#[test]
fn aperture_credential_cases() {
    // From Aperture-era Go tests: "LSAT <mac>:<preimage>" parses; a missing or
    // foreign scheme and a non-base64 macaroon do not.
    let ok: Credential = format!("LSAT {APERTURE_MACAROON}:{LSATJS_PREIMAGE}")
        .parse()
        .unwrap();
    assert_eq!(ok.scheme(), Scheme::Lsat);
    assert_eq!(ok.macaroon().to_string(), APERTURE_MACAROON);
    assert_eq!(
        format!("{APERTURE_MACAROON}:{LSATJS_PREIMAGE}").parse::<Credential>(),
        Err(CredentialError::NotL402)
    );
    assert_eq!(
        format!("FOO {APERTURE_MACAROON}:{LSATJS_PREIMAGE}").parse::<Credential>(),
        Err(CredentialError::NotL402)
    );
    assert!(matches!(
        format!("LSAT foo$:{LSATJS_PREIMAGE}").parse::<Credential>(),
        Err(CredentialError::Macaroon { .. })
    ));
    // What we emit is what Aperture's server regex accepts:
    // (LSAT|L402) (.*?):([a-f0-9]{64})
    let emitted = ok.to_string();
    let (scheme, rest) = emitted.split_once(' ').unwrap();
    let (mac, pre) = rest.split_once(':').unwrap();
    assert_eq!(scheme, "LSAT");
    assert_eq!(mac, APERTURE_MACAROON);
    assert!(
        pre.len() == 64
            && pre
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    );
}
