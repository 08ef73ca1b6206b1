//! Settling and recovering payments: what a wallet error means, recording a
//! payment, and resolving journal entries left pending (by a crash, a lost
//! answer, another process) with [`Wallet::lookup_payment`].

use std::time::{Duration, Instant};

use l402::PaymentHash;
use l402::invoice::Invoice;
use l402_lightning::{OutgoingStatus, PayError, Payment, Wallet};
use reqwest::Url;

use super::{Awaited, Engine, Purchase, storage};
use crate::challenge::{Offer, TokenKind};
use crate::error::{FetchError, MoneyMoved};
use crate::event::Event;
use crate::fiat::FiatValue;
use crate::ledger::{JournalEntry, PaymentState};
use crate::receipt::Receipt;
use crate::scope::Scope;
use crate::store::StoredToken;
use crate::trace::Draft;
use crate::{unix_ms, unix_now};

/// What became of a journaled payment.
pub(crate) enum Resolution {
    /// Paid: the receipt (with the preimage).
    Paid(Receipt),
    /// Not paid; its reservation is released.
    Failed,
    /// Not known yet: it stays pending and counted.
    Unresolved(String),
}

impl Engine {
    /// A wallet error: the wallet's [`PayError::outcome`] says whether money
    /// may have moved. Only a payment that provably did not move money is
    /// released; anything else is looked up first, and if the wallet cannot
    /// say, the reservation and the pending journal entry stay (counted
    /// against every budget) until a later request or [`Client::recover`](crate::Client::recover)
    /// resolves it.
    pub(crate) async fn after_pay_error(
        &self,
        wallet: &dyn Wallet,
        hash: &PaymentHash,
        error: PayError,
    ) -> Result<Payment, FetchError> {
        let release = |reason: String| async move {
            // If this fails the entry stays pending: conservative.
            let _ = self.ledger.release(hash, &reason).await;
        };
        let failed = |error: PayError| FetchError::PaymentFailed {
            payment_hash: *hash,
            source: error,
        };
        // "Already paid" may mean this wallet paid it in an earlier,
        // interrupted attempt: ask before releasing.
        let already_paid = matches!(error, PayError::AlreadyPaid { .. });
        if error.outcome().no_money_moved() && !already_paid {
            release(error.to_string()).await;
            return Err(failed(error));
        }
        match wallet.lookup_payment(hash).await {
            Ok(OutgoingStatus::Succeeded(p)) if p.preimage.matches(hash) => Ok(p),
            Ok(OutgoingStatus::Failed { .. }) => {
                release(error.to_string()).await;
                Err(failed(error))
            }
            // Paid, but not by this wallet (and the pay request was refused).
            Ok(OutgoingStatus::Unknown) if error.outcome().no_money_moved() => {
                release(error.to_string()).await;
                Err(failed(error))
            }
            Ok(status) => Err(FetchError::PaymentUnknown {
                payment_hash: *hash,
                reason: format!("{error}; the wallet reports {status:?}"),
            }),
            Err(lookup) => Err(FetchError::PaymentUnknown {
                payment_hash: *hash,
                reason: format!("{error}; looking the payment up failed: {lookup}"),
            }),
        }
    }

    /// After a payment: store the token, settle the journal, pin the payee.
    /// Failures here do not stop the request (the payment is made; the
    /// journal entry stays pending and is recovered later); they are noted
    /// in the trace.
    pub(crate) async fn record_paid(
        &self,
        scope: &Scope,
        offer: &Offer,
        receipt: &Receipt,
        payee: Option<&str>,
        draft: &mut Draft,
    ) {
        draft.receipt(receipt);
        let token = StoredToken {
            scope: scope.as_str().to_string(),
            token: offer.token.clone(),
            kind: offer.quote.token_kind,
            payment_hash: receipt.payment_hash,
            preimage: receipt.preimage.clone(),
            amount_msat: Some(receipt.amount_msat),
            created_at: unix_now(),
            expires_at: self.token_expiry(offer.token_expires_at),
            uses: 0,
        };
        // A bare invoice (`Client::pay_invoice`) has no token to keep: its
        // proof is the journal's preimage.
        if !offer.token.is_empty()
            && let Err(e) = self.tokens.put(&token).await
        {
            draft.notes.push(format!("token store: {e}"));
        }
        // Settled only once the token is stored: a concurrent request that
        // finds no pending payment for the scope then finds the token.
        if let Err(e) = self
            .ledger
            .settle(&receipt.payment_hash, &receipt.preimage, receipt.fee_msat)
            .await
        {
            draft.notes.push(format!("journal: {e}"));
        }
        if self.pin_payees
            && let Some(payee) = payee
            && let Err(e) = self.ledger.pin_payee(scope.origin(), payee).await
        {
            draft.notes.push(format!("payee pin: {e}"));
        }
    }

    /// Under the scope lock: payments for this scope left pending. A paid one
    /// gives its token (no new payment); an unresolved one forbids paying
    /// again until it is resolved.
    pub(crate) async fn recover_scope(
        &self,
        scope: &Scope,
        wallet: &dyn Wallet,
    ) -> Result<Option<Purchase>, FetchError> {
        let pending = self
            .ledger
            .pending_for(scope.as_str())
            .await
            .map_err(storage(MoneyMoved::No))?;
        for entry in pending {
            let mut resolution = self.resolve_entry(wallet, &entry).await?;
            if matches!(resolution, Resolution::Unresolved(_)) {
                // Its owner may be paying it right now: wait for it.
                match self.await_entry(scope, wallet, &entry).await? {
                    Awaited::Token(token) => return Ok(Some(Purchase::Stored(token))),
                    Awaited::Resolved(r) => resolution = r,
                }
            }
            match resolution {
                Resolution::Paid(receipt) => {
                    self.emit(Event::Recovered(&entry.payment_hash));
                    return Ok(Some(Purchase::Recovered {
                        receipt,
                        token: entry.macaroon,
                    }));
                }
                Resolution::Failed => {}
                Resolution::Unresolved(reason) => {
                    return Err(FetchError::PaymentUnknown {
                        payment_hash: entry.payment_hash,
                        reason: format!(
                            "an earlier payment for {scope} is unresolved ({reason}); not paying \
                             again until it is"
                        ),
                    });
                }
            }
        }
        Ok(None)
    }

    /// Waits for a pending entry someone else holds: until its token is
    /// stored, or it is resolved, or its lease expires (then it is looked
    /// up in the wallet, and released only if that shows it was not paid),
    /// at most the configured in-flight wait.
    pub(crate) async fn await_entry(
        &self,
        scope: &Scope,
        wallet: &dyn Wallet,
        entry: &JournalEntry,
    ) -> Result<Awaited, FetchError> {
        let deadline = Instant::now() + self.in_flight_wait;
        let mut step = Duration::from_millis(25);
        loop {
            if let Some(token) = self
                .usable_token(scope)
                .await
                .map_err(storage(MoneyMoved::No))?
            {
                return Ok(Awaited::Token(token));
            }
            let Some(current) = self
                .ledger
                .entry(&entry.payment_hash)
                .await
                .map_err(storage(MoneyMoved::No))?
            else {
                return Ok(Awaited::Resolved(Resolution::Failed));
            };
            if current.state != PaymentState::Pending || !current.lease_live(unix_ms()) {
                return Ok(Awaited::Resolved(
                    self.resolve_entry(wallet, &current).await?,
                ));
            }
            if Instant::now() >= deadline {
                return Ok(Awaited::Resolved(Resolution::Unresolved(format!(
                    "{} is still being paid by {}",
                    current.payment_hash,
                    current.owner.as_deref().unwrap_or("another client")
                ))));
            }
            tokio::time::sleep(step).await;
            step = (step * 2).min(Duration::from_millis(500));
        }
    }

    /// Resolves every pending journal entry with the wallet; returns those
    /// resolved as paid.
    pub(crate) async fn recover(&self) -> Result<Vec<PaymentHash>, FetchError> {
        let Some(wallet) = self.wallet.clone() else {
            return Ok(Vec::new());
        };
        let mut recovered = Vec::new();
        for entry in self
            .ledger
            .pending()
            .await
            .map_err(storage(MoneyMoved::Unknown))?
        {
            if let Resolution::Paid(_) = self.resolve_entry(&*wallet, &entry).await? {
                recovered.push(entry.payment_hash);
            }
        }
        Ok(recovered)
    }

    /// Asks the wallet about a journaled payment and records the answer.
    pub(crate) async fn resolve_entry(
        &self,
        wallet: &dyn Wallet,
        entry: &JournalEntry,
    ) -> Result<Resolution, FetchError> {
        let hash = entry.payment_hash;
        match entry.state {
            PaymentState::Paid => {
                let Some(preimage) = entry.preimage.clone().filter(|p| p.matches(&hash)) else {
                    return Ok(Resolution::Unresolved(
                        "journaled as paid without a valid preimage".into(),
                    ));
                };
                return Ok(Resolution::Paid(Receipt {
                    payment_hash: hash,
                    preimage,
                    amount_msat: entry.amount_msat,
                    fee_msat: entry.fee_msat.unwrap_or(0),
                    paid_at: entry.resolved_at.unwrap_or(entry.created_at),
                    pay_latency_ms: 0,
                    fiat: None,
                    recovered: true,
                    token_kind: TokenKind::classify(&entry.macaroon).kind,
                }));
            }
            PaymentState::Failed => return Ok(Resolution::Failed),
            PaymentState::Pending => {}
        }
        let status = match wallet.lookup_payment(&hash).await {
            Ok(status) => status,
            Err(e) => return Ok(Resolution::Unresolved(format!("lookup failed: {e}"))),
        };
        let ledger = &self.ledger;
        match status {
            OutgoingStatus::Succeeded(p) if p.preimage.matches(&hash) => {
                let receipt = Receipt {
                    payment_hash: hash,
                    preimage: p.preimage.clone(),
                    amount_msat: p.amount_msat,
                    fee_msat: p.fee_msat,
                    paid_at: unix_now(),
                    pay_latency_ms: 0,
                    fiat: entry.fiat_minor.zip(entry.fiat_currency.clone()).map(
                        |(minor, currency)| FiatValue {
                            minor,
                            currency,
                            minor_per_btc: 0,
                            source: "journal".into(),
                        },
                    ),
                    recovered: true,
                    token_kind: TokenKind::classify(&entry.macaroon).kind,
                };
                let preimage = p.preimage.clone();
                let scope_url = Url::parse(&entry.url).ok();
                let classified = TokenKind::classify(&entry.macaroon);
                let token = StoredToken {
                    scope: entry.scope.clone(),
                    token: entry.macaroon.clone(),
                    kind: classified.kind,
                    payment_hash: hash,
                    preimage: p.preimage,
                    amount_msat: Some(p.amount_msat),
                    created_at: unix_now(),
                    expires_at: self.token_expiry(classified.expires_at),
                    uses: 0,
                };
                if !entry.macaroon.is_empty() {
                    self.tokens
                        .put(&token)
                        .await
                        .map_err(storage(MoneyMoved::Yes))?;
                }
                ledger
                    .settle(&hash, &preimage, p.fee_msat)
                    .await
                    .map_err(storage(MoneyMoved::Yes))?;
                if self.pin_payees
                    && let Some(url) = scope_url
                    && let Ok(invoice) = entry.bolt11.parse::<Invoice>()
                {
                    let _ = ledger
                        .pin_payee(Scope::of(&url).origin(), &invoice.payee().to_string())
                        .await;
                }
                Ok(Resolution::Paid(receipt))
            }
            OutgoingStatus::Succeeded(_) => Ok(Resolution::Unresolved(
                "the wallet reports success without a valid preimage".into(),
            )),
            // Released only if its owner's lease has expired (checked
            // atomically by the ledger): a live owner resolves it itself.
            OutgoingStatus::Failed { reason } => {
                if ledger
                    .release_stale(&hash, &reason, unix_ms())
                    .await
                    .map_err(storage(MoneyMoved::No))?
                {
                    Ok(Resolution::Failed)
                } else {
                    Ok(Resolution::Unresolved(held_by(entry)))
                }
            }
            OutgoingStatus::Unknown => {
                // Never sent, or sent so long ago the invoice expired unpaid.
                let expired = entry
                    .bolt11
                    .parse::<Invoice>()
                    .map(|i| unix_now() >= i.expires_at())
                    .unwrap_or(true);
                let old = unix_now() > entry.created_at.saturating_add(60);
                if !(expired || old) {
                    Ok(Resolution::Unresolved(
                        "the wallet has no record of it yet".into(),
                    ))
                } else if ledger
                    .release_stale(&hash, "the wallet has no record of this payment", unix_ms())
                    .await
                    .map_err(storage(MoneyMoved::No))?
                {
                    Ok(Resolution::Failed)
                } else {
                    Ok(Resolution::Unresolved(
                        "the wallet has no record of it yet".into(),
                    ))
                }
            }
            OutgoingStatus::Pending => Ok(Resolution::Unresolved(
                "the wallet reports it as pending".into(),
            )),
            _ => Ok(Resolution::Unresolved("unrecognised wallet status".into())),
        }
    }
}

/// Why an entry cannot be released yet: its owner holds it.
fn held_by(entry: &JournalEntry) -> String {
    format!(
        "held by {} until its lease expires",
        entry.owner.as_deref().unwrap_or("another client")
    )
}
