//! Journal leases: a reserved entry belongs to the client that reserved it
//! (its owner) for as long as the owner keeps renewing the lease. Another
//! process may release or take over the entry only once the lease expired,
//! and only after looking the payment up in the wallet.

use std::sync::Arc;
use std::time::Duration;

use l402::PaymentHash;

use crate::ledger::Ledger;
use crate::store::StoreError;
use crate::unix_ms;

/// The default lease on a reserved journal entry: 30 s, renewed every 10 s
/// while its owner pays.
pub(crate) const DEFAULT_JOURNAL_LEASE: Duration = Duration::from_secs(30);

pub(crate) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// A journal owner id: the process id and a random nonce.
pub(crate) fn owner_id() -> String {
    let nonce = l402::Preimage::random()
        .map(|p| p.to_hex()[..16].to_string())
        .unwrap_or_else(|_| format!("{:x}", unix_ms()));
    format!("{}-{nonce}", std::process::id())
}

/// A held lease: renewed in the background until dropped or ended.
pub(crate) struct Lease {
    ledger: Arc<dyn Ledger>,
    hash: PaymentHash,
    owner: String,
    duration: Duration,
    renewer: tokio::task::JoinHandle<()>,
}

impl Lease {
    /// Starts renewing the lease on `hash` every third of `duration`.
    pub(crate) fn hold(
        ledger: Arc<dyn Ledger>,
        hash: PaymentHash,
        owner: String,
        duration: Duration,
    ) -> Lease {
        let (l, o) = (ledger.clone(), owner.clone());
        let renewer = tokio::spawn(async move {
            loop {
                tokio::time::sleep(duration / 3).await;
                let until = unix_ms().saturating_add(millis(duration));
                if !matches!(l.renew_lease(&hash, &o, until).await, Ok(true)) {
                    break;
                }
            }
        });
        Lease {
            ledger,
            hash,
            owner,
            duration,
            renewer,
        }
    }

    /// Renews it now; `false` if the entry is no longer pending and ours.
    pub(crate) async fn renew(&self) -> Result<bool, StoreError> {
        let until = unix_ms().saturating_add(millis(self.duration));
        self.ledger
            .renew_lease(&self.hash, &self.owner, until)
            .await
    }

    /// Ends it for an entry left pending: others may now look it up.
    pub(crate) async fn end(self) {
        self.renewer.abort();
        let _ = self
            .ledger
            .renew_lease(&self.hash, &self.owner, unix_ms())
            .await;
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.renewer.abort();
    }
}

/// Test hook, debug builds only: with `L402_TEST_STALL_AFTER_RESERVE_MS`
/// set, sleeps that long between reserving a payment and paying it (its
/// lease renewed meanwhile), so tests can stall one process in that gap.
/// Release builds never read it.
pub(crate) async fn stall_for_tests() {
    #[cfg(debug_assertions)]
    if let Some(ms) = std::env::var("L402_TEST_STALL_AFTER_RESERVE_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
}
