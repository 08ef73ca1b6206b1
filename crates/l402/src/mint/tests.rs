use super::*;
use crate::Preimage;
use crate::caveat::RequestContext;
use crate::credential::Credential;

fn setup() -> (Minter, Verifier, Preimage) {
    let keys = Keyring::new(3, [9; 32]);
    (
        Minter::new(keys.clone()),
        Verifier::new(keys),
        Preimage::from([5; 32]),
    )
}

#[test]
fn token_id_carries_the_key_id() {
    let (minter, _, pre) = setup();
    let mac = minter.mint(pre.payment_hash(), &[]).unwrap();
    let id = Identifier::from_bytes(mac.identifier()).unwrap();
    assert_eq!(id.token_id.key_id(), 3);
    assert_eq!(mac.location(), "lsat");
}

#[test]
fn each_failure_has_its_reason() {
    let (minter, verifier, pre) = setup();
    let ctx = RequestContext::new(100).resource("/a");
    let mac = minter
        .mint(
            pre.payment_hash(),
            &[Caveat::resource("/a"), Caveat::valid_until(200)],
        )
        .unwrap();
    assert!(
        verifier
            .verify(&Credential::new(mac.clone(), pre.clone()), &ctx)
            .is_ok()
    );

    let wrong = Preimage::from([6; 32]);
    assert!(matches!(
        verifier.verify(&Credential::new(mac.clone(), wrong), &ctx),
        Err(VerifyError::WrongPreimage(_))
    ));

    let late = RequestContext::new(200).resource("/a");
    let err = verifier
        .verify(&Credential::new(mac.clone(), pre.clone()), &late)
        .unwrap_err();
    assert!(err.is_expired() && err.is_genuine());

    // Another server's secret: unknown key id, then same id other secret.
    let other = Verifier::new(Keyring::new(4, [9; 32]));
    assert_eq!(
        other.verify(&Credential::new(mac.clone(), pre.clone()), &ctx),
        Err(VerifyError::UnknownKey(3))
    );
    let forger = Verifier::new(Keyring::new(3, [8; 32]));
    let err = forger
        .verify(&Credential::new(mac.clone(), pre.clone()), &ctx)
        .unwrap_err();
    assert_eq!(err, VerifyError::BadSignature);
    assert!(!err.is_genuine());
}

#[test]
fn rotation_keeps_old_tokens_valid() {
    let old = Keyring::new(1, [1; 32]);
    let pre = Preimage::from([5; 32]);
    let mac = Minter::new(old).mint(pre.payment_hash(), &[]).unwrap();
    let rotated = Keyring::builder()
        .key(1, [1; 32])
        .key(2, [2; 32])
        .build()
        .unwrap();
    assert_eq!(rotated.current_key_id(), 2);
    let v = Verifier::new(rotated.clone());
    assert!(
        v.verify(&Credential::new(mac, pre.clone()), &RequestContext::new(0))
            .is_ok()
    );
    let new = Minter::new(rotated).mint(pre.payment_hash(), &[]).unwrap();
    assert_eq!(
        Identifier::from_bytes(new.identifier())
            .unwrap()
            .token_id
            .key_id(),
        2
    );
}

#[test]
fn keyring_builder_errors() {
    assert_eq!(Keyring::builder().build().unwrap_err(), KeyringError::Empty);
    assert_eq!(
        Keyring::builder()
            .key(1, [0; 32])
            .current(2)
            .build()
            .unwrap_err(),
        KeyringError::MissingCurrent(2)
    );
    assert!(!format!("{:?}", Keyring::new(1, [0xab; 32])).contains("ab"));
}

#[test]
fn keyring_from_hex_accepts_64_hex_digits_only() {
    let keys = Keyring::from_hex(5, &format!("{}\n", "09".repeat(32))).unwrap();
    let pre = Preimage::from([5; 32]);
    let mac = Minter::new(keys).mint(pre.payment_hash(), &[]).unwrap();
    // The secret is [9; 32]: a verifier holding it under id 5 accepts.
    let verifier = Verifier::new(Keyring::new(5, [9; 32]));
    assert!(
        verifier
            .verify(&Credential::new(mac, pre), &RequestContext::new(0))
            .is_ok()
    );
    for bad in ["", "zz", &"0".repeat(62), &"0".repeat(66)] {
        assert_eq!(
            Keyring::from_hex(1, bad).unwrap_err(),
            KeyringError::BadSecret
        );
    }
}

#[test]
fn each_verify_error_has_a_stable_code() {
    use crate::caveat::CaveatError as C;
    let cases = [
        (VerifyError::MultipleMacaroons(2), "multiple_macaroons"),
        (
            VerifyError::WrongPreimage(PaymentHash([0; 32])),
            "wrong_preimage",
        ),
        (VerifyError::UnknownKey(1), "unknown_key"),
        (VerifyError::BadSignature, "forged_token"),
        (VerifyError::WrongLocation("x".into()), "forged_token"),
        (
            VerifyError::Caveat(C::Expired {
                condition: "valid_until".into(),
                expired_at_millis: 1,
                now_millis: 2,
            }),
            "token_expired",
        ),
    ];
    for (err, code) in cases {
        assert_eq!(err.code(), code, "{err}");
    }
}
