//! Issuing a merchant's challenge through the one issuing path
//! ([`l402_server::Issuer`]), idempotently across instances: the scope is
//! claimed in the store before the invoice is created (one atomic insert),
//! so concurrent requests in one scope, on any instance, get one invoice.
//! Requests on this instance first meet in memory
//! ([`l402_server::idempotency::Claims`]), so only one of them asks the store.

use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use l402::{Challenge, PaymentHash};
use l402_server::idempotency::Scope;
use l402_server::{IDEMPOTENCY_WINDOW, IssuedChallenge, Offer};
use l402_store::{ChallengeRecord, Claim, Claimed};

use crate::error::ApiError;
use crate::{Inner, now_ms, store_unavailable};

/// How long a request waits for another request (perhaps on another
/// instance) that is issuing in the same scope.
const WAIT_FOR_CLAIM: Duration = Duration::from_secs(10);
/// A claim still being issued after this long belongs to a claimant that died.
const STALE_CLAIM: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(20);

/// What a challenge record says, as the issuer's type.
pub(crate) fn issued_of(record: &ChallengeRecord) -> Result<IssuedChallenge, ApiError> {
    let payment_hash = PaymentHash::from_str(&record.payment_hash).map_err(|e| {
        store_unavailable(&l402_store::StoreError::Corrupt(format!(
            "payment hash {:?}: {e}",
            record.payment_hash
        )))
    })?;
    Ok(IssuedChallenge {
        challenge: Challenge::new(record.macaroon.clone(), record.invoice.clone()),
        amount_sats: record.amount_sats,
        payment_hash,
        expires_at: record.expires_at,
        resource: record.resource.clone(),
    })
}

/// The record of an issued challenge.
pub(crate) fn record_of(
    issued: &IssuedChallenge,
    merchant_id: i64,
    api: &str,
    description: Option<&str>,
    owner_address: Option<&str>,
) -> ChallengeRecord {
    ChallengeRecord {
        payment_hash: issued.payment_hash.to_string(),
        merchant_id,
        api: api.to_owned(),
        resource: issued.resource.clone(),
        amount_sats: issued.amount_sats,
        description: description.map(str::to_owned),
        owner_address: owner_address.map(str::to_owned),
        invoice: issued.challenge.invoice.clone(),
        macaroon: issued.challenge.macaroon.clone(),
        expires_at: issued.expires_at,
        created_at: l402_server::unix_now(),
    }
}

impl Inner {
    /// The merchant's challenge in `scope`: the one issued within the
    /// window (by any instance), else a new one.
    pub(crate) async fn issue_idempotent(
        &self,
        merchant_id: i64,
        scope: Scope,
        offer: &Offer<'_>,
    ) -> Result<Arc<IssuedChallenge>, ApiError> {
        self.claims
            .get_or_issue(scope, || self.claim_and_issue(merchant_id, scope, offer))
            .await
    }

    async fn claim_and_issue(
        &self,
        merchant_id: i64,
        scope: Scope,
        offer: &Offer<'_>,
    ) -> Result<IssuedChallenge, ApiError> {
        let scope = scope.to_string();
        let deadline = Instant::now() + WAIT_FOR_CLAIM;
        loop {
            let claim = Claim {
                merchant_id,
                scope: &scope,
                now_ms: now_ms(),
                window_ms: IDEMPOTENCY_WINDOW.as_millis() as u64,
                stale_ms: STALE_CLAIM.as_millis() as u64,
            };
            match self
                .store
                .claim(claim)
                .await
                .map_err(|e| store_unavailable(&e))?
            {
                Claimed::Issued(record) => return issued_of(&record),
                Claimed::Won => return self.issue_claimed(merchant_id, &scope, offer).await,
                Claimed::Pending if Instant::now() < deadline => tokio::time::sleep(POLL).await,
                Claimed::Pending => {
                    return Err(ApiError::unavailable(
                        "idempotent_request_in_progress",
                        "another request with this idempotency key is still being answered; retry shortly",
                    )
                    .retry_after(1));
                }
            }
        }
    }

    async fn issue_claimed(
        &self,
        merchant_id: i64,
        scope: &str,
        offer: &Offer<'_>,
    ) -> Result<IssuedChallenge, ApiError> {
        let issued = match self.issuer.issue(offer).await {
            Ok(issued) => issued,
            Err(e) => {
                self.release(merchant_id, scope).await;
                return Err(ApiError::issue(&e));
            }
        };
        let record = record_of(
            &issued,
            merchant_id,
            "l402",
            offer.description.as_deref(),
            None,
        );
        if let Err(e) = self.store.complete_claim(merchant_id, scope, &record).await {
            self.release(merchant_id, scope).await;
            return Err(store_unavailable(&e));
        }
        Ok(issued)
    }

    async fn release(&self, merchant_id: i64, scope: &str) {
        if let Err(e) = self.store.release_claim(merchant_id, scope).await {
            tracing::warn!(error = %e, "producer: cannot release an idempotency claim; it goes stale");
        }
    }
}
