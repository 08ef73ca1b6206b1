//! Sending a paid credential: re-sent after a back-off while the server
//! says "not yet" (402, 425, 503, 401; honouring `Retry-After` up to
//! [`MAX_RETRY_AFTER`]), never paid again.

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, RETRY_AFTER};

use crate::client::Client;
use crate::engine::storage;
use crate::error::{FetchError, MoneyMoved};
use crate::event::Event;
use crate::receipt::Receipt;
use crate::request::Parts;
use crate::response::{Response, TokenUse};
use crate::scope::Scope;
use crate::store::StoredToken;
use crate::trace::{Draft, Outcome};
use crate::transport::{HttpError, is_refusal};

/// The default waits before re-sending a paid credential the server did not
/// accept yet ("not yet settled"): 250 ms, 750 ms, 1.5 s.
pub const DEFAULT_BACKOFF: [Duration; 3] = [
    Duration::from_millis(250),
    Duration::from_millis(750),
    Duration::from_millis(1500),
];

/// The longest wait a server's `Retry-After` can ask for between two
/// re-sends of a paid credential; the number of re-sends stays the
/// configured backoff's length.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(10);

/// Answers that may mean "paid, but not settled on the server yet".
fn is_not_yet(status: StatusCode) -> bool {
    matches!(status.as_u16(), 401 | 402 | 425 | 503)
}

/// The wait before the next re-send: the configured one, or longer when the
/// server's `Retry-After` (seconds) asks for it, at most [`MAX_RETRY_AFTER`].
fn wait(configured: Duration, headers: &HeaderMap) -> Duration {
    let asked = headers
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
        .unwrap_or_default();
    configured.max(asked.min(MAX_RETRY_AFTER))
}

impl Client {
    /// Sends the request with a paid credential; re-sends after the backoff
    /// while the server says "not yet"; never pays.
    pub(crate) async fn send_paid(
        &self,
        req: &Parts,
        scope: &Scope,
        token: String,
        receipt: Receipt,
        draft: &mut Draft,
    ) -> Result<Response, FetchError> {
        draft.receipt(&receipt);
        let authorization = StoredToken::sending(scope, token, &receipt)
            .authorization()
            .map_err(storage(MoneyMoved::Yes))?;
        let mut attempt = 0;
        loop {
            let sent = match self.send(req, Some(&authorization)).await {
                Ok(sent) => sent,
                Err(HttpError::Http(source)) => {
                    return Err(FetchError::AfterPayment {
                        receipt: Box::new(receipt),
                        source,
                    });
                }
                Err(HttpError::TooLarge(limit)) => {
                    return Err(FetchError::BodyTooLarge {
                        limit,
                        receipt: Some(Box::new(receipt)),
                    });
                }
            };
            if is_not_yet(sent.status)
                && let Some(&configured) = self.inner.backoff.get(attempt)
            {
                let delay = wait(configured, &sent.headers);
                attempt += 1;
                self.inner.engine.emit(Event::Retrying {
                    attempt,
                    status: sent.status.as_u16(),
                    delay,
                });
                tokio::time::sleep(delay).await;
                continue;
            }
            if is_refusal(sent.status) {
                let _ = self
                    .inner
                    .engine
                    .drop_token(scope, &receipt.payment_hash)
                    .await;
                return Err(FetchError::ServerRefused {
                    status: sent.status.as_u16(),
                    body: sent.body_start(),
                    receipt: Box::new(receipt),
                });
            }
            let (token, outcome) = if receipt.recovered {
                (TokenUse::Recovered, Outcome::Recovered)
            } else {
                (TokenUse::Paid, Outcome::Paid)
            };
            let _ = self
                .inner
                .engine
                .tokens
                .record_use(scope.as_str(), &receipt.payment_hash)
                .await;
            draft.outcome = Some(outcome);
            draft.fiat = receipt.fiat.clone().or(draft.fiat.take());
            let mut response = sent.into_response(&req.url, token);
            response.receipt = Some(receipt);
            return Ok(response);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_lengthens_a_wait_up_to_the_cap() {
        let configured = Duration::from_millis(250);
        let with = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(RETRY_AFTER, value.parse().unwrap());
            wait(configured, &headers)
        };
        assert_eq!(wait(configured, &HeaderMap::new()), configured);
        assert_eq!(with("2"), Duration::from_secs(2));
        assert_eq!(with("0"), configured);
        assert_eq!(with("3600"), MAX_RETRY_AFTER);
        // An HTTP date or garbage is not a number of seconds: the configured wait.
        assert_eq!(with("Wed, 21 Oct 2026 07:28:00 GMT"), configured);
        assert_eq!(with("soon"), configured);
    }
}
