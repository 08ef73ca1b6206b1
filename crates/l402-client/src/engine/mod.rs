//! The payment engine: everything between "the server asked to be paid" and
//! "here is a credential", with no HTTP in it. Offer checks
//! ([`offer`]), reserving against budgets in the journal, paying, settling
//! and recovering ([`resolve`]).
//!
//! The HTTP side ([`Client`](crate::Client)) asks [`Engine::buy`] for a
//! [`Purchase`] and sends what it gets.

mod lease;
mod offer;
mod resolve;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use l402::invoice::Currency;
use l402_lightning::{PayRequest, Wallet};
use reqwest::Url;

use crate::budget::Budget;
use crate::builder::AmountlessPolicy;
use crate::challenge::Offer;
use crate::error::{FetchError, MoneyMoved, Refusal};
use crate::event::{Event, Observer};
use crate::fiat::{EnvelopeError, FiatEnvelope, PriceSource};
use crate::ledger::{JournalEntry, Ledger, LedgerError, PaymentState, Reserved};
use crate::receipt::Receipt;
use crate::scope::Scope;
use crate::store::{StoreError, StoredToken, TokenStore};
use crate::trace::Draft;
use crate::{unix_ms, unix_now};

pub(crate) use lease::{DEFAULT_JOURNAL_LEASE, owner_id};
use lease::{Lease, stall_for_tests};
pub(crate) use resolve::Resolution;

/// What [`Engine::buy`] gives the HTTP side to send.
pub(crate) enum Purchase {
    /// A token for the scope is stored (bought meanwhile by another request
    /// or process): send it; nothing was paid by this request.
    Stored(StoredToken),
    /// A token from an earlier, interrupted payment for the scope: send it
    /// once; if refused, drop it and ask again.
    Recovered {
        /// The payment recovered.
        receipt: Receipt,
        /// The token it was bought with.
        token: String,
    },
    /// Paid now (or this very invoice was paid before): send the credential,
    /// re-sending while the server says "not yet".
    Paid {
        /// The payment.
        receipt: Receipt,
        /// The offer's token.
        token: String,
    },
    /// Dry run: every check passed; nothing paid.
    WouldPay,
}

/// What came of waiting for another payment of a scope.
pub(crate) enum Awaited {
    /// Its token is stored.
    Token(StoredToken),
    /// It was resolved (by its owner, or by looking it up once its lease
    /// expired).
    Resolved(Resolution),
}

/// Policy, wallet and stores: the buying side of a [`Client`](crate::Client).
pub(crate) struct Engine {
    pub(crate) wallet: Option<Arc<dyn Wallet>>,
    pub(crate) dry_run: bool,
    pub(crate) max_payment_msat: u64,
    pub(crate) max_fee_msat: u64,
    pub(crate) amountless: AmountlessPolicy,
    pub(crate) require_macaroon: bool,
    pub(crate) network: Option<Currency>,
    pub(crate) budget: Budget,
    pub(crate) envelope: Option<FiatEnvelope>,
    pub(crate) price_source: Option<Arc<dyn PriceSource>>,
    pub(crate) tokens: Arc<dyn TokenStore>,
    pub(crate) ledger: Arc<dyn Ledger>,
    pub(crate) token_ttl: Option<Duration>,
    pub(crate) pin_payees: bool,
    pub(crate) expiry_margin: Duration,
    pub(crate) observer: Option<Observer>,
    /// Who this client is in the journal (process id and a random nonce).
    pub(crate) owner: String,
    /// How long a reservation is held for this client without renewal.
    pub(crate) lease: Duration,
    /// How long to wait for another process's live payment for a scope.
    pub(crate) in_flight_wait: Duration,
    /// One lock per scope being bought (single flight in this process).
    pub(crate) locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// A storage error, saying whether money had moved.
pub(crate) fn storage(moved: MoneyMoved) -> impl Fn(StoreError) -> FetchError {
    move |source| FetchError::Storage { source, moved }
}

/// The most scope locks kept before unused ones are forgotten.
const MAX_SCOPE_LOCKS: usize = 4096;

impl Engine {
    pub(crate) fn emit(&self, event: Event<'_>) {
        if let Some(observer) = &self.observer {
            observer(&event);
        }
    }

    fn scope_lock(&self, scope: &Scope) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = match self.locks.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        if locks.len() >= MAX_SCOPE_LOCKS {
            // Forget locks nobody holds or waits for.
            locks.retain(|_, lock| Arc::strong_count(lock) > 1);
        }
        locks.entry(scope.as_str().to_string()).or_default().clone()
    }

    /// The stored token for a scope, unless expired (then it is dropped).
    pub(crate) async fn usable_token(
        &self,
        scope: &Scope,
    ) -> Result<Option<StoredToken>, StoreError> {
        let Some(token) = self.tokens.get(scope.as_str()).await? else {
            return Ok(None);
        };
        if token.is_expired() {
            self.tokens
                .remove(scope.as_str(), &token.payment_hash)
                .await?;
            return Ok(None);
        }
        Ok(Some(token))
    }

    /// Drops a token the server refused.
    pub(crate) async fn drop_token(
        &self,
        scope: &Scope,
        payment_hash: &l402::PaymentHash,
    ) -> Result<(), StoreError> {
        self.tokens.remove(scope.as_str(), payment_hash).await
    }

    /// Whether a wallet can pay (or a dry run can check).
    pub(crate) fn can_buy(&self) -> Result<(), FetchError> {
        if self.wallet.is_none() && !self.dry_run {
            return Err(Refusal::NoWallet.into());
        }
        Ok(())
    }

    /// Buys `offer` for `scope`, at most once: under the scope lock, a token
    /// stored meanwhile or a payment left pending for the scope is used
    /// first; otherwise the offer is checked, reserved against budgets in
    /// the journal, paid, checked (`sha256(preimage) == payment_hash`) and
    /// its token stored.
    pub(crate) async fn buy(
        &self,
        scope: &Scope,
        url: &Url,
        offer: &Offer,
        draft: &mut Draft,
    ) -> Result<Purchase, FetchError> {
        self.can_buy()?;
        let hash = offer.quote.payment_hash;
        // Single flight: one payment per scope at a time. Whoever waited
        // finds the token the first one bought.
        let lock = self.scope_lock(scope);
        let _guard = lock.lock().await;
        if let Some(token) = self
            .usable_token(scope)
            .await
            .map_err(storage(MoneyMoved::No))?
        {
            return Ok(Purchase::Stored(token));
        }
        if let Some(wallet) = self.wallet.as_deref().filter(|_| !self.dry_run)
            && let Some(purchase) = self.recover_scope(scope, wallet).await?
        {
            return Ok(purchase);
        }

        let amount_msat = self.check_offer(offer, scope).await?;
        let fee_reserve_msat = self.max_fee_msat;
        let charge = self
            .price(amount_msat.saturating_add(fee_reserve_msat))
            .await?;
        draft.fiat = charge.as_ref().map(|c| c.value.clone());

        let Some(wallet) = self.wallet.clone().filter(|_| !self.dry_run) else {
            let spent = self
                .ledger
                .spent(scope.domain())
                .await
                .map_err(storage(MoneyMoved::No))?;
            self.budget
                .check(scope.domain(), amount_msat, fee_reserve_msat, &spent)
                .map_err(Refusal::Budget)?;
            if let Some(charge) = &charge
                && charge.value.minor > charge.envelope.cap_minor
            {
                return Err(Refusal::Envelope(EnvelopeError::CapExceeded {
                    id: charge.envelope.id.clone(),
                    currency: charge.envelope.currency.clone(),
                    cap_minor: charge.envelope.cap_minor,
                    spent_minor: 0,
                    amount_minor: charge.value.minor,
                })
                .into());
            }
            return Ok(Purchase::WouldPay);
        };

        let entry = JournalEntry {
            payment_hash: hash,
            scope: scope.as_str().to_string(),
            domain: scope.domain().to_string(),
            url: url.to_string(),
            macaroon: offer.token.clone(),
            bolt11: offer.quote.invoice.clone(),
            amount_msat,
            fee_reserve_msat,
            state: PaymentState::Pending,
            preimage: None,
            fee_msat: None,
            fiat_minor: charge.as_ref().map(|c| c.value.minor),
            fiat_currency: charge.as_ref().map(|c| c.value.currency.clone()),
            envelope_id: charge.as_ref().map(|c| c.envelope.id.clone()),
            error: None,
            created_at: unix_now(),
            resolved_at: None,
            owner: Some(self.owner.clone()),
            lease_until_ms: Some(unix_ms().saturating_add(lease::millis(self.lease))),
        };
        let mut retried_failed = false;
        let mut waited_for = None;
        loop {
            let reserved = self
                .ledger
                .reserve(&entry, &self.budget, charge.as_ref())
                .await;
            match reserved {
                Ok(Reserved::New) => {
                    // A payment that finished between our token check and
                    // the reservation left its token behind (tokens are
                    // stored before the journal is settled): use it.
                    if let Some(token) = self
                        .usable_token(scope)
                        .await
                        .map_err(storage(MoneyMoved::No))?
                    {
                        let _ = self
                            .ledger
                            .release(&hash, "a token for this scope appeared; not paid")
                            .await;
                        return Ok(Purchase::Stored(token));
                    }
                    break;
                }
                Ok(Reserved::Existing(existing)) => {
                    // Never pay one invoice twice: the server sent an invoice
                    // this client paid (or is paying) already. If another
                    // process holds it, wait for that process.
                    let mut resolution = self.resolve_entry(&*wallet, &existing).await?;
                    if matches!(resolution, Resolution::Unresolved(_))
                        && existing.lease_live(unix_ms())
                    {
                        match self.await_entry(scope, &*wallet, &existing).await? {
                            Awaited::Token(token) => return Ok(Purchase::Stored(token)),
                            Awaited::Resolved(r) => resolution = r,
                        }
                    }
                    match resolution {
                        Resolution::Paid(receipt) => {
                            self.record_paid(scope, offer, &receipt, None, draft).await;
                            return Ok(Purchase::Paid {
                                receipt,
                                token: offer.token.clone(),
                            });
                        }
                        // Resolved as not paid: reserve it again, once.
                        Resolution::Failed if !retried_failed => {
                            retried_failed = true;
                            continue;
                        }
                        Resolution::Failed => {
                            return Err(Refusal::AlreadyAttempted(hash).into());
                        }
                        Resolution::Unresolved(reason) => {
                            return Err(FetchError::PaymentUnknown {
                                payment_hash: hash,
                                reason,
                            });
                        }
                    }
                }
                Ok(Reserved::InFlight(other)) => {
                    // Another request or process is paying for this scope:
                    // wait for its token rather than paying a second time.
                    // Once it is resolved (or released after its lease
                    // expired), reserve again; never loop on one entry.
                    if waited_for == Some(other.payment_hash) {
                        return Err(FetchError::PaymentUnknown {
                            payment_hash: other.payment_hash,
                            reason: format!(
                                "another payment for {scope} is still in flight; not paying a \
                                 second time"
                            ),
                        });
                    }
                    waited_for = Some(other.payment_hash);
                    match self.await_entry(scope, &*wallet, &other).await? {
                        Awaited::Token(token) => return Ok(Purchase::Stored(token)),
                        Awaited::Resolved(Resolution::Paid(receipt)) => {
                            self.emit(Event::Recovered(&other.payment_hash));
                            return Ok(Purchase::Recovered {
                                receipt,
                                token: other.macaroon,
                            });
                        }
                        Awaited::Resolved(Resolution::Failed) => continue,
                        Awaited::Resolved(Resolution::Unresolved(reason)) => {
                            return Err(FetchError::PaymentUnknown {
                                payment_hash: other.payment_hash,
                                reason: format!(
                                    "another payment for {scope} is unresolved ({reason}); not \
                                     paying a second time"
                                ),
                            });
                        }
                    }
                }
                Err(LedgerError::Budget(e)) => return Err(Refusal::Budget(e).into()),
                Err(LedgerError::Envelope(e)) => return Err(Refusal::Envelope(e).into()),
                Err(LedgerError::Storage(e)) => return Err(storage(MoneyMoved::No)(e)),
            }
        }

        // Hold the reservation while paying: the lease is renewed until the
        // payment is resolved, so no other process can release it meanwhile.
        let lease = Lease::hold(self.ledger.clone(), hash, self.owner.clone(), self.lease);
        stall_for_tests().await;
        // Renewed right before paying: if another process took the entry
        // over (this one stalled past its lease), do not pay.
        if !lease.renew().await.map_err(storage(MoneyMoved::No))? {
            return Err(FetchError::Storage {
                source: StoreError::TakenOver(hash),
                moved: MoneyMoved::No,
            });
        }
        self.emit(Event::Paying(&offer.quote));
        let started = Instant::now();
        let request = PayRequest::new(&offer.quote.invoice).max_fee_msat(self.max_fee_msat);
        let result = wallet.pay(&request).await;
        let pay_latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        draft.pay_latency_ms = Some(pay_latency_ms);
        if let Ok(payment) = &result {
            self.emit(Event::Paid(payment));
        }
        let payment = match result {
            Ok(p) if p.payment_hash == hash && p.preimage.matches(&hash) => p,
            Ok(_) => {
                lease.end().await;
                return Err(FetchError::PaymentUnknown {
                    payment_hash: hash,
                    reason: "the wallet reported success without a preimage for this payment hash"
                        .into(),
                });
            }
            Err(e) => match self.after_pay_error(&*wallet, &hash, e).await {
                Ok(payment) => payment,
                Err(e) => {
                    // Left pending (unknown): end the lease so that the
                    // next request, here or elsewhere, looks it up at once.
                    lease.end().await;
                    return Err(e);
                }
            },
        };
        let receipt = Receipt {
            payment_hash: hash,
            preimage: payment.preimage.clone(),
            amount_msat: payment.amount_msat,
            fee_msat: payment.fee_msat,
            paid_at: unix_now(),
            pay_latency_ms,
            fiat: charge.map(|c| c.value),
            recovered: false,
            token_kind: offer.quote.token_kind,
        };
        self.record_paid(scope, offer, &receipt, Some(&offer.quote.payee), draft)
            .await;
        // The cap is passed to the wallet, but not every backend can enforce
        // it before paying: check what was charged.
        if receipt.fee_msat > self.max_fee_msat {
            return Err(FetchError::FeeOverrun {
                receipt: Box::new(receipt),
                max_fee_msat: self.max_fee_msat,
            });
        }
        Ok(Purchase::Paid {
            receipt,
            token: offer.token.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builder::ClientBuilder;

    #[tokio::test]
    async fn scope_locks_stay_bounded_past_the_limit() {
        let client = ClientBuilder::default().build().unwrap();
        let engine = &client.inner.engine;
        let held = engine.scope_lock(&Scope::of(&"http://h/held".parse().unwrap()));
        for i in 0..MAX_SCOPE_LOCKS * 2 {
            let url = format!("http://h/{i}").parse().unwrap();
            drop(engine.scope_lock(&Scope::of(&url)));
        }
        let locks = engine.locks.lock().unwrap();
        assert!(locks.len() <= MAX_SCOPE_LOCKS, "{}", locks.len());
        // A lock someone holds is never forgotten.
        assert!(locks.contains_key("http://h/held"));
        drop(locks);
        drop(held);
    }
}
