//! The delivery worker: one task per producer. It claims due deliveries
//! from the store under a lease, posts them signed, and records each
//! attempt; it sleeps until the next poll or until an event wakes it, and
//! deletes old finished deliveries now and then.

use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use l402_store::{Attempt, DueDelivery};

use super::signature_header;
use crate::state::Inner;

/// Deliveries claimed (and sent concurrently) at once.
const BATCH: u32 = 16;
/// How often old deliveries are pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(600);

/// The pause before attempt `attempts + 1`: `first * 2^(attempts-1)`, at most `max`.
pub(crate) fn backoff(first: Duration, max: Duration, attempts: u32) -> Duration {
    let factor = 2u32.saturating_pow(attempts.saturating_sub(1).min(30));
    first.saturating_mul(factor).min(max)
}

/// Runs until the producer is dropped.
pub(crate) async fn run(inner: Weak<Inner>, wake: Arc<tokio::sync::Notify>) {
    let mut last_prune: Option<Instant> = None;
    loop {
        let Some(strong) = inner.upgrade() else {
            return;
        };
        let poll = strong.webhooks.config.poll;
        if last_prune.is_none_or(|at| at.elapsed() >= PRUNE_EVERY) {
            last_prune = Some(Instant::now());
            prune(&strong).await;
        }
        let busy = match round(&strong).await {
            Ok(n) => n > 0,
            Err(e) => {
                tracing::warn!(error = %e, "webhooks: cannot claim deliveries; will retry");
                false
            }
        };
        drop(strong);
        if !busy {
            let _ = tokio::time::timeout(poll, wake.notified()).await;
        }
    }
}

async fn prune(inner: &Inner) {
    let retention = u64::try_from(inner.webhooks.config.retention.as_millis()).unwrap_or(u64::MAX);
    let before = crate::now_ms().saturating_sub(retention);
    for _ in 0..100 {
        match inner.store.prune_webhooks(before, 1000).await {
            Ok(n) if n >= 1000 => {}
            Ok(_) => return,
            Err(e) => {
                tracing::warn!(error = %e, "webhooks: cannot delete old deliveries");
                return;
            }
        }
    }
}

/// Claims and sends one batch; how many were claimed.
async fn round(inner: &Arc<Inner>) -> Result<usize, l402_store::StoreError> {
    let lease = u64::try_from(inner.webhooks.config.lease.as_millis()).unwrap_or(60_000);
    let due = inner
        .store
        .claim_deliveries(crate::now_ms(), lease, BATCH)
        .await?;
    let n = due.len();
    let mut tasks = tokio::task::JoinSet::new();
    for delivery in due {
        let inner = inner.clone();
        tasks.spawn(async move { attempt(&inner, delivery).await });
    }
    while tasks.join_next().await.is_some() {}
    Ok(n)
}

async fn attempt(inner: &Inner, d: DueDelivery) {
    let config = &inner.webhooks.config;
    let (status, error) = match send(inner, &d).await {
        Ok(status) if (200..300).contains(&status) => (Some(status), None),
        Ok(status) => (
            Some(status),
            Some(format!("the endpoint answered {status}")),
        ),
        Err(error) => (None, Some(error)),
    };
    let outcome = match error {
        None => Attempt::Delivered {
            status: status.unwrap_or(200),
        },
        Some(error) if d.attempts >= config.max_attempts || error == RETIRED => {
            Attempt::Failed { status, error }
        }
        Some(error) => {
            let pause = backoff(config.first_retry, config.max_retry, d.attempts);
            let pause_ms = u64::try_from(pause.as_millis()).unwrap_or(u64::MAX);
            Attempt::Retry {
                status,
                error,
                next_attempt_ms: crate::now_ms().saturating_add(pause_ms),
            }
        }
    };
    match inner
        .store
        .finish_delivery(&d.id, &d.lease_owner, &outcome, crate::now_ms())
        .await
    {
        Ok(true) => {}
        Ok(false) => tracing::warn!(
            delivery = %d.id,
            "webhooks: a delivery's lease ran out before its attempt was recorded"
        ),
        Err(e) => {
            tracing::error!(error = %e, delivery = %d.id, "webhooks: cannot record an attempt")
        }
    }
}

const RETIRED: &str = "signing_key_retired: the server key this endpoint's secret was derived \
                       from is no longer configured; create the endpoint again";

/// Posts one delivery: the status, or why nothing was answered (never the
/// secret, and not the URL's query).
async fn send(inner: &Inner, d: &DueDelivery) -> Result<u16, String> {
    let Some(secret) = inner.webhooks.secret(&d.secret_nonce) else {
        return Err(RETIRED.to_owned());
    };
    let t = l402_server::unix_now();
    let signature = signature_header(&secret, t, &d.body);
    drop(secret);
    let response = inner
        .webhooks
        .client
        .post(&d.url)
        .header(http::header::CONTENT_TYPE, "application/json")
        .header("l402-signature", signature)
        .header("l402-event-id", &d.event_id)
        .body(d.body.clone())
        .send()
        .await
        .map_err(|e| {
            let what = if e.is_timeout() {
                "timed out"
            } else if e.is_connect() {
                "could not connect"
            } else {
                "request failed"
            };
            format!("{what}: {}", e.without_url())
        })?;
    Ok(response.status().as_u16())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let (first, max) = (Duration::from_secs(5), Duration::from_secs(3600));
        assert_eq!(backoff(first, max, 1), Duration::from_secs(5));
        assert_eq!(backoff(first, max, 2), Duration::from_secs(10));
        assert_eq!(backoff(first, max, 5), Duration::from_secs(80));
        assert_eq!(backoff(first, max, 11), Duration::from_secs(3600));
        assert_eq!(backoff(first, max, u32::MAX), Duration::from_secs(3600));
    }
}
