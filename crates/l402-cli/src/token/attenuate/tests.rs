#![allow(clippy::unwrap_used, clippy::expect_used)]

use l402::{Caveat, Keyring, Minter, Preimage, RequestContext, Verifier};
use l402_client::{StoredToken, TokenKind};

use super::{Args, attenuate, parse_duration};

const NOW: u64 = 1_900_000_000;

fn keys() -> Keyring {
    Keyring::new(1, [3u8; 32])
}

/// A token as `l402 serve` sells it: resource, amount, expiry.
fn token(caveats: &[Caveat]) -> StoredToken {
    let preimage = Preimage::from([1u8; 32]);
    let macaroon = Minter::new(keys())
        .mint(preimage.payment_hash(), caveats)
        .unwrap();
    StoredToken {
        scope: "http://127.0.0.1:1/api/a".into(),
        token: macaroon.to_string(),
        kind: TokenKind::Macaroon,
        payment_hash: preimage.payment_hash(),
        preimage,
        amount_msat: Some(21_000),
        created_at: NOW,
        expires_at: Some(NOW + 3600),
        uses: 1,
    }
}

fn args() -> Args {
    Args {
        token: "x".into(),
        path: None,
        path_prefix: None,
        methods: Vec::new(),
        expires_in: None,
        valid_until: None,
    }
}

fn verify(macaroon: l402::Macaroon, preimage: &Preimage, ctx: &RequestContext<'_>) -> bool {
    let credential = l402::Credential::new(macaroon, preimage.clone());
    Verifier::new(keys()).verify(&credential, ctx).is_ok()
}

#[test]
fn a_path_limited_sub_token_verifies_there_only() {
    // A service-wide token (no resource caveat): good on every path.
    let parent = token(&[Caveat::valid_until(NOW + 3600)]);
    let (sub, added) = attenuate(
        &parent,
        &Args {
            path: Some("/api/a".into()),
            ..args()
        },
        NOW,
    )
    .unwrap();
    assert_eq!(added, [Caveat::resource("/api/a")]);
    let at = |path: &'static str| RequestContext::new(NOW + 1).resource(path).method("GET");
    let parent_mac: l402::Macaroon = parent.token.parse().unwrap();
    assert!(verify(parent_mac.clone(), &parent.preimage, &at("/api/b")));
    assert!(verify(sub.clone(), &parent.preimage, &at("/api/a")));
    assert!(!verify(sub, &parent.preimage, &at("/api/b")));
}

#[test]
fn method_and_expiry_narrow() {
    let parent = token(&[Caveat::resource("/api/a")]);
    let (sub, added) = attenuate(
        &parent,
        &Args {
            methods: vec!["get".into()],
            expires_in: Some("2m".into()),
            ..args()
        },
        NOW,
    )
    .unwrap();
    assert_eq!(
        added,
        [Caveat::methods(["GET"]), Caveat::valid_until(NOW + 120)]
    );
    let ctx =
        |method: &'static str, now: u64| RequestContext::new(now).resource("/api/a").method(method);
    assert!(verify(sub.clone(), &parent.preimage, &ctx("GET", NOW + 60)));
    assert!(!verify(
        sub.clone(),
        &parent.preimage,
        &ctx("POST", NOW + 60)
    ));
    assert!(!verify(sub, &parent.preimage, &ctx("GET", NOW + 121)));
}

#[test]
fn what_would_widen_or_leave_nothing_is_refused() {
    let parent = token(&[Caveat::resource("/api/a"), Caveat::valid_until(NOW + 60)]);
    let other_path = Args {
        path: Some("/api/b".into()),
        ..args()
    };
    let err = attenuate(&parent, &other_path, NOW).unwrap_err();
    assert!(err.to_string().contains("good nowhere"), "{err}");
    let later = Args {
        valid_until: Some(NOW + 3600),
        ..args()
    };
    assert!(attenuate(&parent, &later, NOW).is_err());
    let outside_prefix = Args {
        path_prefix: Some("/other/".into()),
        ..args()
    };
    assert!(attenuate(&parent, &outside_prefix, NOW).is_err());
    // Nothing asked, a relative path, a past time: refused too.
    assert!(attenuate(&parent, &args(), NOW).is_err());
    let relative = Args {
        path: Some("api/a".into()),
        ..args()
    };
    assert!(attenuate(&parent, &relative, NOW).is_err());
    let past = Args {
        valid_until: Some(NOW - 1),
        ..args()
    };
    assert!(attenuate(&parent, &past, NOW).is_err());
}

#[test]
fn aperture_tokens_get_a_service_expiry_too() {
    let parent = token(&[Caveat::services([("meme", 0)])]);
    let (_, added) = attenuate(
        &parent,
        &Args {
            valid_until: Some(NOW + 10),
            ..args()
        },
        NOW,
    )
    .unwrap();
    assert_eq!(
        added,
        [
            Caveat::valid_until(NOW + 10),
            Caveat::service_valid_until("meme", NOW + 10)
        ]
    );
}

#[test]
fn opaque_tokens_cannot_be_attenuated() {
    let mut parent = token(&[]);
    parent.token = "eyJoYXNoIjoiYWIifQ==".into();
    parent.kind = TokenKind::Opaque;
    let err = attenuate(
        &parent,
        &Args {
            path: Some("/x".into()),
            ..args()
        },
        NOW,
    )
    .unwrap_err();
    assert!(err.to_string().contains("not a macaroon"), "{err}");
}

#[test]
fn durations() {
    assert_eq!(parse_duration("90").unwrap(), 90);
    assert_eq!(parse_duration("90s").unwrap(), 90);
    assert_eq!(parse_duration("15m").unwrap(), 900);
    assert_eq!(parse_duration("2h").unwrap(), 7200);
    assert_eq!(parse_duration("1d").unwrap(), 86_400);
    for bad in ["", "0", "m", "5w", "-5", "99999999999999999999d"] {
        assert!(parse_duration(bad).is_err(), "{bad}");
    }
}
