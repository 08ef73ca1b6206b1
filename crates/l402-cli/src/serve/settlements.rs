//! Settlement notifications in `l402 serve`: when the backend pushes them
//! ([`Receiver::settlements`]: the dev node, LND's invoice subscription,
//! phoenixd's websocket), one task follows them, so the server learns of
//! each payment without polling.
//!
//! Each settled invoice is logged at `info` on the target
//! `l402::settlements` (`L402_LOG=l402::settlements=info`) with its payment
//! hash, amount and cursor; never a preimage, a credential or the node's
//! URL. With the producer API on, it is then handed to
//! [`Producer::payment_settled`]: a payment of one of its challenges is
//! recorded and the merchant's `payment.received` webhook queued (once per
//! payment hash; a settlement seen twice does nothing more). With
//! `[metrics]` on, it is counted as a payment and its revenue on the route
//! whose challenge it paid (see [`super::metrics`]). Access never
//! depends on it: a paid request is still granted on its verified preimage
//! alone.
//!
//! A failed subscription or stream is resumed from the last cursor seen
//! (delivery is at least once after it), after a pause that doubles from
//! [`FIRST_RETRY`] up to [`MAX_RETRY`] and starts again after a settlement.
//! The cursor lives in memory: before the first settlement of this process
//! there is none, so a reconnect then replays nothing, and a restart starts
//! from the settlements after it (a consumer that must miss none stores the
//! cursor).
//! A node that cannot push them this way (phoenixd behind https) is said
//! once and not asked again.

use std::sync::Arc;
use std::time::Duration;

use l402_lightning::{BackendError, Cursor, Receiver};
use l402_metrics::Metrics;
use l402_producer::Producer;

/// The first pause after a failure.
pub const FIRST_RETRY: Duration = Duration::from_secs(1);

/// The longest pause between attempts.
pub const MAX_RETRY: Duration = Duration::from_secs(60);

/// Follows `receiver`'s settlements in a task, if its node pushes them,
/// handing each to `producer` and counting it in `metrics` (payments and
/// revenue by the route that sold it). Returns whether it does.
pub fn follow(
    receiver: Arc<dyn Receiver>,
    producer: Option<Producer>,
    metrics: Option<Arc<Metrics>>,
) -> bool {
    if receiver.settlements().is_none() {
        return false;
    }
    tokio::spawn(async move {
        let Some(feed) = receiver.settlements() else {
            return;
        };
        let backend = receiver.backend();
        let mut cursor = Cursor::NOW;
        let mut pause = FIRST_RETRY;
        loop {
            match feed.subscribe(cursor).await {
                Ok(mut stream) => loop {
                    match stream.next().await {
                        Ok(Some(settled)) => {
                            pause = FIRST_RETRY;
                            cursor = cursor.max(settled.cursor);
                            tracing::info!(
                                target: "l402::settlements",
                                %backend,
                                payment_hash = %settled.payment_hash,
                                amount_msat = settled.amount_msat,
                                cursor = %settled.cursor,
                                "invoice settled"
                            );
                            if let Some(metrics) = &metrics {
                                metrics.settled(&settled.payment_hash, settled.amount_msat);
                            }
                            if let Some(producer) = &producer {
                                settled_to(producer, &settled.payment_hash.to_string()).await;
                            }
                        }
                        Ok(None) => {
                            tracing::warn!(target: "l402::settlements", %backend, "the node ended the settlement stream; resubscribing");
                            break;
                        }
                        Err(e) => {
                            tracing::warn!(target: "l402::settlements", %backend, error = %e, "settlement stream failed; resubscribing");
                            break;
                        }
                    }
                },
                Err(e @ BackendError::Unsupported { .. }) => {
                    tracing::info!(target: "l402::settlements", %backend, error = %e, "no settlement notifications");
                    return;
                }
                Err(e) => {
                    tracing::warn!(target: "l402::settlements", %backend, error = %e, "cannot subscribe to settlements");
                }
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(MAX_RETRY);
        }
    });
    true
}

/// Hands a settlement to the producer, trying a few times if the store fails.
async fn settled_to(producer: &Producer, payment_hash: &str) {
    let mut pause = Duration::from_millis(200);
    for _ in 0..5 {
        match producer.payment_settled(payment_hash).await {
            Ok(_) => return,
            Err(e) => {
                tracing::warn!(target: "l402::settlements", %payment_hash, error = %e, "cannot record a settlement; retrying");
                tokio::time::sleep(pause).await;
                pause *= 2;
            }
        }
    }
    tracing::error!(target: "l402::settlements", %payment_hash, "settlement not recorded: the store kept failing");
}
