//! Who mints the challenges and verifies the credentials of a layer: this
//! process (an [`Issuer`] and a [`Verifier`]), or a remote producer (feature
//! `remote`). Everything else (the decision, the responses, the token cache)
//! is the layer's own, shared by both.

use std::sync::Arc;

use l402::Verifier;

use crate::issuer::{Issuer, Offer, SalesRecorder};
use crate::response::IssuedChallenge;

pub(crate) enum Seller {
    /// Invoices from a Lightning backend, tokens signed with the server
    /// secret, verification in process.
    Local { issuer: Issuer, verifier: Verifier },
    /// Challenges and verification from a producer API.
    #[cfg(feature = "remote")]
    Remote(crate::remote::RemoteProducer),
}

/// Why no challenge could be had: a stable code and a public message (503).
pub(crate) struct NoChallenge {
    pub(crate) code: &'static str,
    pub(crate) message: &'static str,
}

impl std::fmt::Debug for Seller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Seller::Local { issuer, .. } => issuer.fmt(f),
            #[cfg(feature = "remote")]
            Seller::Remote(producer) => producer.fmt(f),
        }
    }
}

impl Seller {
    /// The macaroon location tokens carry.
    pub(crate) fn location(&self) -> &str {
        match self {
            Seller::Local { issuer, .. } => issuer.location(),
            #[cfg(feature = "remote")]
            Seller::Remote(producer) => producer.location(),
        }
    }

    /// The service tokens are bound to, if any.
    pub(crate) fn service(&self) -> Option<&str> {
        match self {
            Seller::Local { issuer, .. } => issuer.service(),
            #[cfg(feature = "remote")]
            Seller::Remote(_) => None,
        }
    }

    /// Whether verification is a call to a producer (and the `merchant=`
    /// caveat the producer checked is not checked again here).
    pub(crate) fn is_remote(&self) -> bool {
        !matches!(self, Seller::Local { .. })
    }

    /// The sales recorder (local sellers only: a producer records its own).
    pub(crate) fn recorder(&self) -> Option<&Arc<dyn SalesRecorder>> {
        match self {
            Seller::Local { issuer, .. } => issuer.recorder(),
            #[cfg(feature = "remote")]
            Seller::Remote(_) => None,
        }
    }

    /// A challenge for `offer`; with an idempotency `key`, the one already
    /// issued for the same key, resource and price within the window.
    pub(crate) async fn challenge(
        &self,
        offer: &Offer<'_>,
        key: Option<String>,
    ) -> Result<Arc<IssuedChallenge>, NoChallenge> {
        match self {
            Seller::Local { issuer, .. } => {
                let issued = match key {
                    Some(key) => {
                        let scope =
                            crate::idempotency::scope(&key, &offer.resource, offer.price_sats);
                        issuer.issue_idempotent(scope, offer).await
                    }
                    None => issuer.issue(offer).await.map(Arc::new),
                };
                issued.map_err(|e| {
                    tracing::warn!(error = %e, cause = ?std::error::Error::source(&e), "L402: no challenge");
                    NoChallenge {
                        code: e.code(),
                        message: e.public_message(),
                    }
                })
            }
            #[cfg(feature = "remote")]
            Seller::Remote(producer) => {
                // Without a key of the client's, a fresh one: each request
                // its own invoice, as locally (the producer would otherwise
                // de-duplicate by this app's address, across buyers).
                let key = match key {
                    Some(key) => key,
                    None => fresh_key().map_err(|_| NoChallenge {
                        code: "mint_failed",
                        message: "cannot mint a token right now; retry later",
                    })?,
                };
                producer
                    .challenge(offer, &key)
                    .await
                    .map(Arc::new)
                    .map_err(|e| {
                        tracing::warn!(error = %e, cause = ?std::error::Error::source(&e), "L402: no challenge from the producer");
                        NoChallenge {
                            code: e.code(),
                            message: e.public_message(),
                        }
                    })
            }
        }
    }
}

#[cfg(feature = "remote")]
fn fresh_key() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 16];
    getrandom::getrandom(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}
