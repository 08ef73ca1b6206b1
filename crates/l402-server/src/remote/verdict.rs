//! The producer's answer, turned into what the layer decides: a token to
//! serve (and maybe cache), or the [`VerifyError`] the local layer would
//! have found, so both answer the same 402 or 401.

use l402::bitcoin::hashes::{Hash, sha256};
use l402::{
    Caveat, CaveatError, Credential, Identifier, RequestContext, TokenId, Verified, VerifyError,
};

use super::client::Answer;
use crate::token_cache::Token;

/// A credential the producer accepted.
pub(crate) struct Verdict {
    pub(crate) token: Token,
    /// Whether the token may be served from the cache next time: its
    /// identifier, location and caveats are all ones checked here.
    pub(crate) cacheable: bool,
}

/// A caveat failure that says the token is genuine but stale or bought for
/// something else (402 and a fresh challenge), as opposed to a token this
/// layer cannot read.
fn is_stale(e: &CaveatError) -> bool {
    matches!(
        e,
        CaveatError::Expired { .. }
            | CaveatError::WrongResource { .. }
            | CaveatError::WrongAmount { .. }
            | CaveatError::WrongMethod { .. }
            | CaveatError::WrongService { .. }
    )
}

fn caveats(credential: &Credential) -> Result<Vec<Caveat>, CaveatError> {
    credential
        .macaroon()
        .caveats()
        .enumerate()
        .map(|(index, bytes)| {
            Caveat::from_bytes(bytes).map_err(|source| CaveatError::Malformed { index, source })
        })
        .collect()
}

/// Judges the producer's `answer` for `credential`, presented for `ctx`.
///
/// A valid answer is checked here too, as the local layer checks a token:
/// the preimage against the payment hash, then the caveats (a stale one is
/// refused even if the producer accepted it). A token whose identifier or
/// caveats this layer cannot read is served on the producer's word, but
/// not cached. An invalid answer is given the local layer's reason: the
/// producer's `code` when it names a forgery, else what the token itself
/// shows (a stale caveat: 402), else a forgery (401).
pub(crate) fn judge(
    answer: &Answer,
    credential: &Credential,
    ctx: &RequestContext<'_>,
    location: &str,
) -> Result<Verdict, VerifyError> {
    let macaroon = credential.macaroon();
    let identifier = Identifier::from_bytes(macaroon.identifier());
    let parsed = caveats(credential);
    if !answer.valid {
        return Err(reason(
            answer,
            credential,
            identifier.ok(),
            parsed.ok(),
            ctx,
        ));
    }
    let (identifier, caveats) = match (identifier, parsed) {
        (Ok(identifier), Ok(caveats)) => (identifier, caveats),
        (identifier, parsed) => {
            // Not a token this layer can read: the producer's word, uncached.
            let payment_hash = match identifier {
                Ok(identifier) => identifier.payment_hash,
                Err(_) => credential.preimage().payment_hash(),
            };
            if !credential.preimage().matches(&payment_hash)
                || answer.payment_hash.is_some_and(|h| h != payment_hash)
            {
                return Err(VerifyError::WrongPreimage(payment_hash));
            }
            let id = sha256::Hash::hash(macaroon.identifier()).to_byte_array();
            let caveats = parsed.unwrap_or_default();
            let valid_until = valid_until(&caveats);
            return Ok(Verdict {
                token: Token {
                    payment_hash,
                    token_id: TokenId(id),
                    caveats: caveats.into(),
                    valid_until,
                    recheck_at: None,
                },
                cacheable: false,
            });
        }
    };
    if !credential.preimage().matches(&identifier.payment_hash) {
        return Err(VerifyError::WrongPreimage(identifier.payment_hash));
    }
    let cacheable = match l402::check_caveats(caveats.iter(), ctx) {
        Ok(()) => macaroon.location() == location,
        Err(e) if is_stale(&e) => return Err(VerifyError::Caveat(e)),
        Err(e) => {
            tracing::debug!(error = %e, "L402: a token the producer accepted is served uncached");
            false
        }
    };
    Ok(Verdict {
        token: Token::from(Verified {
            identifier,
            caveats,
        }),
        cacheable,
    })
}

fn valid_until(caveats: &[Caveat]) -> Option<u64> {
    caveats
        .iter()
        .rev()
        .find(|c| c.condition() == "valid_until")
        .and_then(|c| c.value().parse().ok())
}

/// The reason the local layer would give for a token the producer refused.
fn reason(
    answer: &Answer,
    credential: &Credential,
    identifier: Option<Identifier>,
    caveats: Option<Vec<Caveat>>,
    ctx: &RequestContext<'_>,
) -> VerifyError {
    tracing::debug!(
        code = answer.code.as_deref(),
        error = answer.error.as_deref(),
        "L402: the producer refused a credential"
    );
    let Some(identifier) = identifier else {
        return VerifyError::BadSignature;
    };
    if !credential.preimage().matches(&identifier.payment_hash) {
        return VerifyError::WrongPreimage(identifier.payment_hash);
    }
    match answer.code.as_deref() {
        Some("unknown_key") => return VerifyError::UnknownKey(identifier.token_id.key_id()),
        Some("forged_token" | "bad_identifier" | "malformed_macaroon" | "multiple_macaroons") => {
            return VerifyError::BadSignature;
        }
        _ => {}
    }
    if let Some(caveats) = &caveats {
        if let Err(e) = l402::check_caveats(caveats.iter(), ctx)
            && is_stale(&e)
        {
            return VerifyError::Caveat(e);
        }
        if answer.code.as_deref() == Some("wrong_merchant") {
            let bound = caveats
                .iter()
                .rev()
                .find(|c| c.condition() == "merchant")
                .map_or_else(String::new, |c| c.value().to_owned());
            // Genuine, for another merchant of the same producer: as a token
            // for another service locally, a fresh challenge.
            return VerifyError::Caveat(CaveatError::WrongMerchant {
                bound,
                requested: "this seller's merchant".to_owned(),
            });
        }
    }
    VerifyError::BadSignature
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use l402::{Keyring, Macaroon, Minter, Preimage, RootKey};

    use super::*;

    fn answer(valid: bool, code: Option<&str>) -> Answer {
        Answer {
            valid,
            code: code.map(str::to_owned),
            error: None,
            payment_hash: None,
        }
    }

    fn token(caveats: &[Caveat], location: &str) -> (Credential, Preimage) {
        let preimage = Preimage::random().unwrap();
        let macaroon = Minter::new(Keyring::new(1, [5; 32]))
            .location(location)
            .mint(preimage.payment_hash(), caveats)
            .unwrap();
        (Credential::new(macaroon, preimage.clone()), preimage)
    }

    fn ctx() -> RequestContext<'static> {
        RequestContext::now()
            .resource("/r")
            .amount_sats(5)
            .method("GET")
            .ignore(l402::caveat::Ignorable::Merchant)
    }

    fn fresh() -> Vec<Caveat> {
        vec![
            Caveat::merchant("7"),
            Caveat::resource("/r"),
            Caveat::amount_sats(5),
            Caveat::valid_until(l402::time::unix_now() + 60),
        ]
    }

    #[test]
    fn an_accepted_token_is_checked_here_too() {
        let (good, _) = token(&fresh(), "lsat");
        let verdict = judge(&answer(true, None), &good, &ctx(), "lsat").unwrap();
        assert!(verdict.cacheable);
        assert_eq!(verdict.token.caveats.len(), 4);
        // At another location: served, never cached.
        let (elsewhere, _) = token(&fresh(), "le");
        assert!(
            !judge(&answer(true, None), &elsewhere, &ctx(), "lsat")
                .unwrap()
                .cacheable
        );
        // A caveat this layer cannot read: the producer's word, uncached.
        let mut odd = fresh();
        odd.push(Caveat::new("tier", "gold").unwrap());
        let (odd, _) = token(&odd, "lsat");
        assert!(
            !judge(&answer(true, None), &odd, &ctx(), "lsat")
                .unwrap()
                .cacheable
        );
        // Stale, whatever the producer said: 402 as locally.
        let (stale, _) = token(&[Caveat::resource("/r"), Caveat::valid_until(1)], "lsat");
        let e = judge(&answer(true, None), &stale, &ctx(), "lsat")
            .err()
            .unwrap();
        assert!(e.is_expired());
        // A preimage that does not pay the hash is never accepted.
        let (good, _) = token(&fresh(), "lsat");
        let wrong = Credential::new(good.macaroon().clone(), Preimage::random().unwrap());
        let e = judge(&answer(true, None), &wrong, &ctx(), "lsat")
            .err()
            .unwrap();
        assert_eq!(e.code(), "wrong_preimage");
    }

    #[test]
    fn a_refusal_gets_the_local_layers_reason() {
        let (good, _) = token(&fresh(), "lsat");
        let forged = judge(&answer(false, None), &good, &ctx(), "lsat")
            .err()
            .unwrap();
        assert_eq!(forged.code(), "forged_token");
        let e = judge(&answer(false, Some("unknown_key")), &good, &ctx(), "lsat")
            .err()
            .unwrap();
        assert_eq!(e.code(), "unknown_key");
        let e = judge(
            &answer(false, Some("wrong_merchant")),
            &good,
            &ctx(),
            "lsat",
        )
        .err()
        .unwrap();
        assert!(
            e.is_genuine(),
            "bought from another merchant: a fresh challenge"
        );
        let (other, _) = token(&[Caveat::resource("/other")], "lsat");
        let e = judge(&answer(false, None), &other, &ctx(), "lsat")
            .err()
            .unwrap();
        assert_eq!(e.code(), "wrong_resource");
        // An identifier that is not Aperture's: a forgery when refused...
        let preimage = Preimage::random().unwrap();
        let le = Macaroon::new(&RootKey::from([1; 32]), b"le-token-1".to_vec(), "lsat").unwrap();
        let le = Credential::new(le, preimage);
        let e = judge(&answer(false, None), &le, &ctx(), "lsat")
            .err()
            .unwrap();
        assert_eq!(e.code(), "forged_token");
        // ...and served uncached when accepted, its hash the preimage's.
        let verdict = judge(&answer(true, None), &le, &ctx(), "lsat").unwrap();
        assert!(!verdict.cacheable);
        assert_eq!(verdict.token.payment_hash, le.preimage().payment_hash());
    }
}
