//! Property tests: round trips, and that no tampering gets past the verifier.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use l402::{
    Caveat, Challenge, Challenges, Credential, Identifier, Keyring, Macaroon, Minter, Preimage,
    RequestContext, TokenIdentity, Verifier, VerifyError,
};
use proptest::prelude::*;

const NOW: u64 = 1_800_000_000;

fn setup(secret: [u8; 32], preimage: [u8; 32]) -> (Minter, Verifier, Preimage, Macaroon) {
    let keys = Keyring::new(1, secret);
    let minter = Minter::new(keys.clone());
    let preimage = Preimage::from(preimage);
    let macaroon = minter
        .mint(
            preimage.payment_hash(),
            &[
                Caveat::resource("/api/weather"),
                Caveat::amount_sats(21),
                Caveat::valid_until(NOW + 3600),
            ],
        )
        .unwrap();
    (minter, Verifier::new(keys), preimage, macaroon)
}

fn ctx() -> RequestContext<'static> {
    RequestContext::new(NOW)
        .resource("/api/weather")
        .amount_sats(21)
}

/// Verifies a macaroon given as bytes; `None` if it does not even decode.
fn verify_bytes(
    verifier: &Verifier,
    bytes: &[u8],
    preimage: &Preimage,
) -> Option<Result<(), VerifyError>> {
    let macaroon = Macaroon::from_bytes(bytes).ok()?;
    Some(
        verifier
            .verify(&Credential::new(macaroon, preimage.clone()), &ctx())
            .map(|_| ()),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn genuine_credentials_verify_and_round_trip(secret in any::<[u8; 32]>(), pre in any::<[u8; 32]>()) {
        let (_, verifier, preimage, macaroon) = setup(secret, pre);
        let credential = Credential::new(macaroon.clone(), preimage);
        let header = credential.to_string();
        let parsed: Credential = header.parse().unwrap();
        prop_assert_eq!(&parsed, &credential);
        prop_assert!(verifier.verify(&parsed, &ctx()).is_ok());
        prop_assert_eq!(Macaroon::from_bytes(&macaroon.to_bytes()).unwrap(), macaroon);
    }

    #[test]
    fn any_flipped_byte_is_refused(
        secret in any::<[u8; 32]>(),
        pre in any::<[u8; 32]>(),
        index in any::<prop::sample::Index>(),
        mask in 1u8..=255,
    ) {
        let (_, verifier, preimage, macaroon) = setup(secret, pre);
        let mut bytes = macaroon.to_bytes();
        let i = index.index(bytes.len());
        bytes[i] ^= mask;
        if let Some(result) = verify_bytes(&verifier, &bytes, &preimage) {
            prop_assert!(result.is_err(), "flipping byte {} with {:#x} was accepted", i, mask);
        }
    }

    #[test]
    fn stripped_or_appended_caveats_are_forgeries(
        secret in any::<[u8; 32]>(),
        pre in any::<[u8; 32]>(),
        strip in 0usize..3,
        extra in "[a-z_]{1,10}=[a-z0-9]{0,10}",
    ) {
        let (_, verifier, preimage, macaroon) = setup(secret, pre);
        let caveats: Vec<Vec<u8>> = macaroon.caveats().map(<[u8]>::to_vec).collect();
        let id = macaroon.identifier().to_vec();
        // Rebuild the V2 bytes with one caveat removed, keeping the signature.
        let mut kept = caveats.clone();
        kept.remove(strip);
        let stripped = reassemble(&id, &kept, macaroon.signature());
        prop_assert_eq!(verify_bytes(&verifier, &stripped, &preimage), Some(Err(VerifyError::BadSignature)));
        // And with one appended without extending the chain.
        let mut more = caveats;
        more.push(extra.into_bytes());
        let appended = reassemble(&id, &more, macaroon.signature());
        prop_assert_eq!(verify_bytes(&verifier, &appended, &preimage), Some(Err(VerifyError::BadSignature)));
    }

    #[test]
    fn swapped_payment_hash_or_wrong_preimage_is_refused(
        secret in any::<[u8; 32]>(),
        pre in any::<[u8; 32]>(),
        other in any::<[u8; 32]>(),
    ) {
        prop_assume!(pre != other);
        let (_, verifier, preimage, macaroon) = setup(secret, pre);
        let wrong = Preimage::from(other);
        // The right macaroon with a wrong preimage: not paid.
        let err = verifier.verify(&Credential::new(macaroon.clone(), wrong.clone()), &ctx()).unwrap_err();
        prop_assert_eq!(err.clone(), VerifyError::WrongPreimage(preimage.payment_hash()));
        prop_assert!(!err.is_genuine());
        // The identifier's hash swapped for one the attacker has a preimage
        // for: the signature no longer verifies.
        let id = Identifier::from_bytes(macaroon.identifier()).unwrap();
        let swapped = Identifier::new(wrong.payment_hash(), id.token_id).to_bytes();
        let caveats: Vec<Vec<u8>> = macaroon.caveats().map(<[u8]>::to_vec).collect();
        let bytes = reassemble(&swapped, &caveats, macaroon.signature());
        prop_assert_eq!(verify_bytes(&verifier, &bytes, &wrong), Some(Err(VerifyError::BadSignature)));
    }

    #[test]
    fn a_self_minted_token_is_refused(secret in any::<[u8; 32]>(), guess in any::<[u8; 32]>(), pre in any::<[u8; 32]>()) {
        prop_assume!(secret != guess);
        // l402-kit's hole: a client mints its own token for a preimage it chose.
        let (_, verifier, _, _) = setup(secret, pre);
        let preimage = Preimage::from(pre);
        let forged = Minter::new(Keyring::new(1, guess))
            .mint(preimage.payment_hash(), &[Caveat::resource("/api/weather")])
            .unwrap();
        let err = verifier.verify(&Credential::new(forged, preimage), &ctx()).unwrap_err();
        prop_assert_eq!(err, VerifyError::BadSignature);
    }

    #[test]
    fn challenges_round_trip(mac in "[A-Za-z0-9+/=_-]{1,300}", inv in "ln[a-z0-9]{1,300}") {
        let challenge = Challenge::new(mac.clone(), inv.clone());
        for value in challenge.header_values(&l402::ChallengeStyle::default().with_token_param(true).with_lsat_header(true)) {
            let parsed = Challenges::parse([value.as_str()]);
            let got = parsed.l402().unwrap();
            prop_assert_eq!(&got.macaroon, &mac);
            prop_assert_eq!(&got.invoice, &inv);
        }
    }

    #[test]
    fn token_identity_agrees_with_the_full_parse(
        secret in any::<[u8; 32]>(),
        pre in any::<[u8; 32]>(),
        lsat in any::<bool>(),
        url_safe in any::<bool>(),
        unpadded in any::<bool>(),
        spaces in 0usize..3,
        cut in any::<prop::sample::Index>(),
    ) {
        let (_, _, preimage, macaroon) = setup(secret, pre);
        let mut header = Credential::new(macaroon.clone(), preimage.clone()).to_string();
        if lsat {
            header = header.replacen("L402", "LSAT", 1);
        }
        if url_safe {
            header = header.replace('+', "-").replace('/', "_");
        }
        if unpadded {
            header = header.replace('=', "");
        }
        header = header.replacen(' ', &" ".repeat(spaces + 1), 1);
        let id = Identifier::from_bytes(macaroon.identifier()).unwrap();
        let identity = TokenIdentity::read(&header, macaroon.location()).unwrap();
        prop_assert_eq!(identity.token_id, id.token_id);
        prop_assert_eq!(&identity.signature, macaroon.signature());
        prop_assert_eq!(&identity.preimage, &preimage);
        prop_assert!(TokenIdentity::read(&header, "another location").is_none());
        // Cut anywhere: an identity only where the full parse still accepts
        // one macaroon at this location.
        let cut = &header[..cut.index(header.len())];
        if let Some(identity) = TokenIdentity::read(cut, macaroon.location()) {
            let full: Credential = cut.parse().unwrap();
            prop_assert_eq!(full.macaroons().len(), 1);
            prop_assert_eq!(&identity.signature, full.macaroon().signature());
        }
    }

    #[test]
    fn parsers_never_panic(s in "\\PC{0,400}", bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = Challenges::parse([s.as_str()]);
        let _ = s.parse::<Credential>();
        let _ = s.parse::<Macaroon>();
        let _ = s.parse::<l402::Invoice>();
        let _ = s.parse::<Caveat>();
        let _ = Macaroon::from_bytes(&bytes);
        let _ = Identifier::from_bytes(&bytes);
        let _ = Credential::from_grpc_metadata(&s);
    }
}

#[test]
fn huge_inputs_are_refused_quickly() {
    let big = "A".repeat(2_000_000);
    assert!(big.parse::<Macaroon>().is_err());
    assert!(
        format!("L402 {big}:{}", "0".repeat(64))
            .parse::<Credential>()
            .is_err()
    );
    let header = format!(r#"L402 macaroon="{big}", invoice="{big}""#);
    assert!(
        Challenges::parse([header.as_str()]).l402().is_ok(),
        "parsing is syntactic; decoding refuses"
    );
    assert!(
        Challenges::parse([header.as_str()])
            .l402()
            .unwrap()
            .decode_macaroon()
            .is_err()
    );
}

/// The V2 bytes of a macaroon with these parts and a kept signature.
fn reassemble(id: &[u8], caveats: &[Vec<u8>], signature: &[u8; 32]) -> Vec<u8> {
    Macaroon::from_raw_parts("lsat", id.to_vec(), caveats.to_vec(), *signature).to_bytes()
}
