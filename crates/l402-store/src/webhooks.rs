//! Webhooks out: a merchant's endpoints, the events it is sent (once per
//! type and subject), and a durable delivery queue that is also the
//! delivery log (migration 5).
//!
//! Workers on any number of instances claim due deliveries with a lease
//! ([`WebhookStore::claim_deliveries`]: one guarded `UPDATE`, with
//! `FOR UPDATE SKIP LOCKED` on PostgreSQL), so a delivery is sent by one
//! worker at a time; a worker that dies leaves its lease to expire and the
//! delivery is claimed again. Only the lease holder may finish it.

use crate::StoreError;
// Every query here runs on the pool that writes (`writing!`: SQLite's single
// writer, so claims are serialized and a read sees the latest commit).
use crate::db::{Db, Store, to_i64, to_u64, writing};

/// A registered endpoint. Its signing secret is not here: the producer
/// derives it from the server secret and [`WebhookEndpoint::secret_nonce`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookEndpoint {
    /// `we_<hex>`.
    pub id: String,
    /// The merchant it belongs to.
    pub merchant_id: i64,
    /// Where events are posted.
    pub url: String,
    /// The event types it receives.
    pub events: Vec<String>,
    /// What its secret is derived from (not a secret by itself).
    pub secret_nonce: String,
    /// Unix seconds.
    pub created_at: u64,
}

/// An event to send.
#[derive(Debug, Clone, Copy)]
pub struct NewEvent<'a> {
    /// `evt_<hex>`: the receiver's de-duplication key.
    pub id: &'a str,
    /// The merchant whose endpoints receive it.
    pub merchant_id: i64,
    /// `payment.received`, …
    pub kind: &'a str,
    /// What it is about (a payment hash): one event per merchant, kind and subject.
    pub subject: &'a str,
    /// The JSON body sent, as is.
    pub body: &'a str,
    /// Only this endpoint (a test event), instead of every endpoint taking `kind`.
    pub only_endpoint: Option<&'a str>,
}

/// What enqueueing an event did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enqueued {
    /// Stored, with this many deliveries queued and this many dropped
    /// because the merchant's queue was full.
    New {
        /// Deliveries queued.
        queued: u64,
        /// Deliveries recorded as `dropped`.
        dropped: u64,
    },
    /// This merchant, kind and subject had an event already: nothing done.
    Duplicate,
}

/// A delivery claimed by a worker, with what it needs to send it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueDelivery {
    /// The delivery.
    pub id: String,
    /// The lease holder (given back to [`WebhookStore::finish_delivery`]).
    pub lease_owner: String,
    /// The event's id.
    pub event_id: String,
    /// The endpoint.
    pub endpoint_id: String,
    /// Its URL.
    pub url: String,
    /// Its secret's nonce.
    pub secret_nonce: String,
    /// The body to send.
    pub body: String,
    /// Attempts so far, this one included.
    pub attempts: u32,
}

/// How an attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// The endpoint answered 2xx.
    Delivered {
        /// Its status.
        status: u16,
    },
    /// It failed; try again at `next_attempt_ms`.
    Retry {
        /// The status, if it answered.
        status: Option<u16>,
        /// What went wrong (no secrets).
        error: String,
        /// When to try again (unix ms).
        next_attempt_ms: u64,
    },
    /// It failed for the last time.
    Failed {
        /// The status, if it answered.
        status: Option<u16>,
        /// What went wrong.
        error: String,
    },
}

/// One line of the delivery log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryInfo {
    /// The delivery.
    pub id: String,
    /// The event.
    pub event_id: String,
    /// Its type.
    pub kind: String,
    /// The endpoint.
    pub endpoint_id: String,
    /// `pending`, `delivered`, `failed` or `dropped`.
    pub state: String,
    /// Attempts made.
    pub attempts: u32,
    /// The next attempt (unix ms), while pending.
    pub next_attempt_ms: u64,
    /// The last HTTP status.
    pub last_status: Option<u16>,
    /// The last error.
    pub last_error: Option<String>,
    /// When it was queued (unix ms).
    pub created_at_ms: u64,
    /// When it ended (unix ms).
    pub finished_at_ms: Option<u64>,
}

/// Endpoints, events and deliveries.
#[async_trait::async_trait]
pub trait WebhookStore: Send + Sync {
    /// Adds an endpoint unless the merchant has `max_per_merchant` already
    /// (`false` then).
    async fn add_endpoint(
        &self,
        endpoint: &WebhookEndpoint,
        max_per_merchant: u32,
    ) -> Result<bool, StoreError>;
    /// A merchant's endpoints, oldest first.
    async fn endpoints(&self, merchant_id: i64) -> Result<Vec<WebhookEndpoint>, StoreError>;
    /// Deletes an endpoint of the merchant; its pending deliveries end as
    /// `failed`. `false` if it had no such endpoint.
    async fn delete_endpoint(&self, merchant_id: i64, id: &str) -> Result<bool, StoreError>;
    /// Stores an event and queues one delivery per endpoint taking it, in one
    /// transaction; past `max_pending` pending deliveries of the merchant a
    /// delivery is recorded `dropped` instead (exact on SQLite; on
    /// PostgreSQL concurrent enqueues may pass it by their number).
    async fn enqueue_event(
        &self,
        event: &NewEvent<'_>,
        max_pending: u32,
        now_ms: u64,
    ) -> Result<Enqueued, StoreError>;
    /// Claims at most `limit` due deliveries for `lease_ms` under a fresh
    /// lease owner, counting the attempt.
    async fn claim_deliveries(
        &self,
        now_ms: u64,
        lease_ms: u64,
        limit: u32,
    ) -> Result<Vec<DueDelivery>, StoreError>;
    /// Records an attempt's outcome; `false` if the lease was lost (another
    /// worker holds the delivery now).
    async fn finish_delivery(
        &self,
        id: &str,
        lease_owner: &str,
        attempt: &Attempt,
        now_ms: u64,
    ) -> Result<bool, StoreError>;
    /// The merchant's newest deliveries (at most `limit`).
    async fn deliveries(
        &self,
        merchant_id: i64,
        limit: u32,
    ) -> Result<Vec<DeliveryInfo>, StoreError>;
    /// The earliest next attempt of a pending delivery (unix ms), if any.
    async fn next_due(&self) -> Result<Option<u64>, StoreError>;
    /// Deletes at most `limit` finished deliveries, and events with none
    /// pending, older than `before_ms`; returns how many rows.
    async fn prune_webhooks(&self, before_ms: u64, limit: u32) -> Result<u64, StoreError>;
    /// Deletes a merchant's events and deliveries (erasure); returns how many
    /// deliveries.
    async fn erase_webhooks(&self, merchant_id: i64) -> Result<u64, StoreError>;
}

pub(crate) fn random_hex(bytes: usize) -> Result<String, StoreError> {
    let mut b = vec![0u8; bytes];
    getrandom::getrandom(&mut b).map_err(|e| StoreError::Random(e.to_string()))?;
    Ok(hex::encode(b))
}

const ADD_ENDPOINT: &str = "INSERT INTO webhook_endpoints \
     (id, merchant_id, url, events, secret_nonce, created_at) \
     SELECT $1, $2, $3, $4, $5, $6 WHERE (SELECT COUNT(*) FROM webhook_endpoints \
     WHERE merchant_id = $2) < $7";
const ENDPOINTS: &str = "SELECT id, merchant_id, url, events, secret_nonce, created_at \
     FROM webhook_endpoints WHERE merchant_id = $1 ORDER BY created_at, id";
const DELETE_ENDPOINT: &str = "DELETE FROM webhook_endpoints WHERE merchant_id = $1 AND id = $2";
const END_PENDING_OF_ENDPOINT: &str = "UPDATE webhook_deliveries SET state = 'failed', \
     last_error = 'endpoint deleted', finished_at_ms = $3, lease_owner = NULL \
     WHERE merchant_id = $1 AND endpoint_id = $2 AND state = 'pending'";
const INSERT_EVENT: &str = "INSERT INTO webhook_events \
     (id, merchant_id, kind, subject, body, created_at_ms) VALUES ($1, $2, $3, $4, $5, $6) \
     ON CONFLICT (merchant_id, kind, subject) DO NOTHING";
const COUNT_PENDING: &str = "SELECT COUNT(*) FROM (SELECT 1 FROM webhook_deliveries \
     WHERE merchant_id = $1 AND state = 'pending' LIMIT $2) AS q";
const INSERT_DELIVERY: &str = "INSERT INTO webhook_deliveries (id, event_id, endpoint_id, \
     merchant_id, state, attempts, next_attempt_ms, lease_owner, lease_until_ms, last_status, \
     last_error, created_at_ms, finished_at_ms) \
     VALUES ($1, $2, $3, $4, $5, 0, $6, NULL, 0, NULL, $7, $6, $8)";
/// `{lock}` is `FOR UPDATE SKIP LOCKED` on PostgreSQL. The outer condition
/// repeats the inner one: a row another claimant took in between is not
/// taken again (PostgreSQL re-checks it on the new row version).
const CLAIM: &str = "UPDATE webhook_deliveries SET lease_owner = $1, lease_until_ms = $2, \
     attempts = attempts + 1 WHERE id IN (SELECT id FROM webhook_deliveries \
     WHERE state = 'pending' AND next_attempt_ms <= $3 AND lease_until_ms <= $3 \
     ORDER BY next_attempt_ms LIMIT $4 {lock}) \
     AND state = 'pending' AND lease_until_ms <= $3";
const CLAIMED: &str = "SELECT d.id, d.event_id, d.endpoint_id, e.url, e.secret_nonce, v.body, \
     d.attempts FROM webhook_deliveries d \
     JOIN webhook_endpoints e ON e.id = d.endpoint_id \
     JOIN webhook_events v ON v.id = d.event_id WHERE d.lease_owner = $1 ORDER BY d.next_attempt_ms";
const FINISH: &str = "UPDATE webhook_deliveries SET state = $3, last_status = $4, \
     last_error = $5, next_attempt_ms = $6, finished_at_ms = $7, lease_owner = NULL, \
     lease_until_ms = 0 WHERE id = $1 AND lease_owner = $2";
const DELIVERIES: &str = "SELECT d.id, d.event_id, v.kind, d.endpoint_id, d.state, d.attempts, \
     d.next_attempt_ms, d.last_status, d.last_error, d.created_at_ms, d.finished_at_ms \
     FROM webhook_deliveries d JOIN webhook_events v ON v.id = d.event_id \
     WHERE d.merchant_id = $1 ORDER BY d.created_at_ms DESC, d.id DESC LIMIT $2";
const NEXT_DUE: &str =
    "SELECT MIN(next_attempt_ms) FROM webhook_deliveries WHERE state = 'pending'";
const PRUNE_DELIVERIES: &str = "DELETE FROM webhook_deliveries WHERE id IN \
     (SELECT id FROM webhook_deliveries WHERE state <> 'pending' AND finished_at_ms < $1 \
     ORDER BY finished_at_ms LIMIT $2)";
const PRUNE_EVENTS: &str = "DELETE FROM webhook_events WHERE id IN \
     (SELECT v.id FROM webhook_events v WHERE v.created_at_ms < $1 AND NOT EXISTS \
     (SELECT 1 FROM webhook_deliveries d WHERE d.event_id = v.id AND d.state = 'pending') \
     ORDER BY v.created_at_ms LIMIT $2)";

type EndpointRow = (String, i64, String, String, String, i64);
type DeliveryRow = (
    String,
    String,
    String,
    String,
    String,
    i64,
    i64,
    Option<i64>,
    Option<String>,
    i64,
    Option<i64>,
);

fn endpoint_of(row: EndpointRow) -> WebhookEndpoint {
    WebhookEndpoint {
        id: row.0,
        merchant_id: row.1,
        url: row.2,
        events: row
            .3
            .split(',')
            .filter(|e| !e.is_empty())
            .map(str::to_owned)
            .collect(),
        secret_nonce: row.4,
        created_at: to_u64(row.5),
    }
}

fn status_of(v: Option<i64>) -> Option<u16> {
    v.and_then(|s| u16::try_from(s).ok())
}

fn attempts_of(v: i64) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}

#[async_trait::async_trait]
impl WebhookStore for Store {
    async fn add_endpoint(
        &self,
        ep: &WebhookEndpoint,
        max_per_merchant: u32,
    ) -> Result<bool, StoreError> {
        let done = writing!(self, |pool| {
            sqlx::query(ADD_ENDPOINT)
                .bind(&ep.id)
                .bind(ep.merchant_id)
                .bind(&ep.url)
                .bind(ep.events.join(","))
                .bind(&ep.secret_nonce)
                .bind(to_i64(ep.created_at))
                .bind(i64::from(max_per_merchant))
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(done > 0)
    }

    async fn endpoints(&self, merchant_id: i64) -> Result<Vec<WebhookEndpoint>, StoreError> {
        let rows = writing!(self, |pool| {
            sqlx::query_as::<_, EndpointRow>(ENDPOINTS)
                .bind(merchant_id)
                .fetch_all(pool)
                .await?
        });
        Ok(rows.into_iter().map(endpoint_of).collect())
    }

    async fn delete_endpoint(&self, merchant_id: i64, id: &str) -> Result<bool, StoreError> {
        let now = to_i64(crate::db::now_ms());
        let done = writing!(self, |pool| {
            let mut tx = pool.begin().await?;
            let done = sqlx::query(DELETE_ENDPOINT)
                .bind(merchant_id)
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            sqlx::query(END_PENDING_OF_ENDPOINT)
                .bind(merchant_id)
                .bind(id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            done
        });
        Ok(done > 0)
    }

    async fn enqueue_event(
        &self,
        event: &NewEvent<'_>,
        max_pending: u32,
        now_ms: u64,
    ) -> Result<Enqueued, StoreError> {
        let now = to_i64(now_ms);
        let endpoints: Vec<WebhookEndpoint> = self
            .endpoints(event.merchant_id)
            .await?
            .into_iter()
            .filter(|e| match event.only_endpoint {
                Some(only) => e.id == only,
                None => e.events.iter().any(|k| k == event.kind),
            })
            .collect();
        let mut ids = Vec::with_capacity(endpoints.len());
        for _ in &endpoints {
            ids.push(format!("wd_{}", random_hex(12)?));
        }
        writing!(self, |pool| {
            let mut tx = pool.begin().await?;
            let stored = sqlx::query(INSERT_EVENT)
                .bind(event.id)
                .bind(event.merchant_id)
                .bind(event.kind)
                .bind(event.subject)
                .bind(event.body)
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if stored == 0 {
                tx.rollback().await?;
                return Ok(Enqueued::Duplicate);
            }
            let (pending,) = sqlx::query_as::<_, (i64,)>(COUNT_PENDING)
                .bind(event.merchant_id)
                .bind(i64::from(max_pending))
                .fetch_one(&mut *tx)
                .await?;
            let mut room = i64::from(max_pending).saturating_sub(pending);
            let (mut queued, mut dropped) = (0, 0);
            for (endpoint, id) in endpoints.iter().zip(&ids) {
                let full = room <= 0;
                let (state, error, finished) = if full {
                    dropped += 1;
                    (
                        "dropped",
                        Some("the merchant's delivery queue is full"),
                        Some(now),
                    )
                } else {
                    queued += 1;
                    room -= 1;
                    ("pending", None, None)
                };
                sqlx::query(INSERT_DELIVERY)
                    .bind(id)
                    .bind(event.id)
                    .bind(&endpoint.id)
                    .bind(event.merchant_id)
                    .bind(state)
                    .bind(now)
                    .bind(error)
                    .bind(finished)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            Ok::<_, StoreError>(Enqueued::New { queued, dropped })
        })
    }

    async fn claim_deliveries(
        &self,
        now_ms: u64,
        lease_ms: u64,
        limit: u32,
    ) -> Result<Vec<DueDelivery>, StoreError> {
        let owner = random_hex(12)?;
        let now = to_i64(now_ms);
        let until = to_i64(now_ms.saturating_add(lease_ms));
        let rows = writing!(self, |pool| {
            let lock = match &self.db {
                #[cfg(feature = "postgres")]
                Db::Postgres(_) => "FOR UPDATE SKIP LOCKED",
                #[allow(unreachable_patterns)]
                _ => "",
            };
            let sql = CLAIM.replace("{lock}", lock);
            let claimed = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(&owner)
                .bind(until)
                .bind(now)
                .bind(i64::from(limit))
                .execute(pool)
                .await?
                .rows_affected();
            if claimed == 0 {
                Vec::new()
            } else {
                sqlx::query_as::<_, (String, String, String, String, String, String, i64)>(CLAIMED)
                    .bind(&owner)
                    .fetch_all(pool)
                    .await?
            }
        });
        Ok(rows
            .into_iter()
            .map(|r| DueDelivery {
                id: r.0,
                lease_owner: owner.clone(),
                event_id: r.1,
                endpoint_id: r.2,
                url: r.3,
                secret_nonce: r.4,
                body: r.5,
                attempts: attempts_of(r.6),
            })
            .collect())
    }

    async fn finish_delivery(
        &self,
        id: &str,
        lease_owner: &str,
        attempt: &Attempt,
        now_ms: u64,
    ) -> Result<bool, StoreError> {
        let now = to_i64(now_ms);
        let (state, status, error, next, finished) = match attempt {
            Attempt::Delivered { status } => ("delivered", Some(*status), None, now, Some(now)),
            Attempt::Retry {
                status,
                error,
                next_attempt_ms,
            } => (
                "pending",
                *status,
                Some(error.as_str()),
                to_i64(*next_attempt_ms),
                None,
            ),
            Attempt::Failed { status, error } => {
                ("failed", *status, Some(error.as_str()), now, Some(now))
            }
        };
        let done = writing!(self, |pool| {
            sqlx::query(FINISH)
                .bind(id)
                .bind(lease_owner)
                .bind(state)
                .bind(status.map(i64::from))
                .bind(error)
                .bind(next)
                .bind(finished)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(done > 0)
    }

    async fn deliveries(
        &self,
        merchant_id: i64,
        limit: u32,
    ) -> Result<Vec<DeliveryInfo>, StoreError> {
        let rows = writing!(self, |pool| {
            sqlx::query_as::<_, DeliveryRow>(DELIVERIES)
                .bind(merchant_id)
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await?
        });
        Ok(rows
            .into_iter()
            .map(|r| DeliveryInfo {
                id: r.0,
                event_id: r.1,
                kind: r.2,
                endpoint_id: r.3,
                state: r.4,
                attempts: attempts_of(r.5),
                next_attempt_ms: to_u64(r.6),
                last_status: status_of(r.7),
                last_error: r.8,
                created_at_ms: to_u64(r.9),
                finished_at_ms: r.10.map(to_u64),
            })
            .collect())
    }

    async fn next_due(&self) -> Result<Option<u64>, StoreError> {
        let row = writing!(self, |pool| {
            sqlx::query_as::<_, (Option<i64>,)>(NEXT_DUE)
                .fetch_one(pool)
                .await?
        });
        Ok(row.0.map(to_u64))
    }

    async fn prune_webhooks(&self, before_ms: u64, limit: u32) -> Result<u64, StoreError> {
        let done = writing!(self, |pool| {
            let a = sqlx::query(PRUNE_DELIVERIES)
                .bind(to_i64(before_ms))
                .bind(i64::from(limit))
                .execute(pool)
                .await?
                .rows_affected();
            let b = sqlx::query(PRUNE_EVENTS)
                .bind(to_i64(before_ms))
                .bind(i64::from(limit))
                .execute(pool)
                .await?
                .rows_affected();
            a + b
        });
        Ok(done)
    }

    async fn erase_webhooks(&self, merchant_id: i64) -> Result<u64, StoreError> {
        let done = writing!(self, |pool| {
            let mut tx = pool.begin().await?;
            let n = sqlx::query("DELETE FROM webhook_deliveries WHERE merchant_id = $1")
                .bind(merchant_id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            sqlx::query("DELETE FROM webhook_events WHERE merchant_id = $1")
                .bind(merchant_id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            n
        });
        Ok(done)
    }
}
