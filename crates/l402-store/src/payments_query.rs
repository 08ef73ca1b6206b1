//! The dashboard's payments table: a merchant's challenges and payments,
//! filtered by route, state and time, newest first, a page at a time.
//!
//! A row is a payment (state `paid`, time = when it was first verified) or
//! a challenge with no payment (`unpaid` while its invoice may still be
//! paid, `expired` after). Payments whose challenge was never recorded (a
//! bulk import) are listed as paid all the same.

use crate::StoreError;
use crate::db::{Store, now_secs, reading, to_i64, to_u64};

/// The most rows one query returns (a page or a CSV export).
pub const MAX_PAYMENT_ROWS: u32 = 100_000;

/// Which rows [`PaymentsQuery::payments`] lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PaymentState {
    /// Paid and unpaid.
    #[default]
    All,
    /// Payments.
    Paid,
    /// Challenges not paid whose invoice has not expired.
    Unpaid,
    /// Challenges not paid whose invoice expired.
    Expired,
}

impl PaymentState {
    /// `all`, `paid`, `unpaid` or `expired`.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "" | "all" => Some(Self::All),
            "paid" => Some(Self::Paid),
            "unpaid" => Some(Self::Unpaid),
            "expired" => Some(Self::Expired),
            _ => None,
        }
    }

    /// The name [`PaymentState::parse`] reads.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::All => "all",
            Self::Paid => "paid",
            Self::Unpaid => "unpaid",
            Self::Expired => "expired",
        }
    }
}

/// The filter and page of a payments query.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PaymentFilter {
    /// Only this resource (exactly).
    pub resource: Option<String>,
    /// Which rows.
    pub state: PaymentState,
    /// From this time on (unix seconds, included).
    pub from: Option<u64>,
    /// Before this time (unix seconds, excluded).
    pub until: Option<u64>,
    /// Rows skipped.
    pub offset: u64,
    /// Rows returned (at most [`MAX_PAYMENT_ROWS`]).
    pub limit: u32,
}

/// One row of the payments table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentRow {
    /// The payment hash.
    pub payment_hash: String,
    /// The resource, if known.
    pub resource: Option<String>,
    /// Sats.
    pub amount_sats: u64,
    /// `paid`, `unpaid` or `expired`.
    pub state: PaymentState,
    /// When it was paid, or when the challenge was issued (unix seconds).
    pub at: u64,
}

/// Revenue of one resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteRevenue {
    /// The resource (empty when unknown).
    pub resource: String,
    /// Payments.
    pub payments: u64,
    /// Sats.
    pub sats: u64,
}

/// The dashboard's reads of payments.
#[async_trait::async_trait]
pub trait PaymentsQuery: Send + Sync {
    /// A page of a merchant's payments and challenges, newest first.
    async fn payments(
        &self,
        merchant_id: i64,
        filter: &PaymentFilter,
    ) -> Result<Vec<PaymentRow>, StoreError>;
    /// Sends a merchant's rows matching `filter` (no offset, at most
    /// [`MAX_PAYMENT_ROWS`]), newest first, to `sink` as the database reads
    /// them, never holding them all (a CSV export); stops early when the
    /// receiver is dropped. Returns how many rows were sent.
    async fn export_payments(
        &self,
        merchant_id: i64,
        filter: &PaymentFilter,
        sink: tokio::sync::mpsc::Sender<PaymentRow>,
    ) -> Result<u64, StoreError>;
    /// A merchant's revenue per resource from UTC day `since_day` on, most
    /// sats first (at most `limit`): the `route_rollup` rows of those days.
    async fn revenue_by_route(
        &self,
        merchant_id: i64,
        since_day: u64,
        limit: u32,
    ) -> Result<Vec<RouteRevenue>, StoreError>;
    /// A merchant's payments per hour from unix second `from` on, oldest
    /// first (hours without payments left out): `(hour start, payments,
    /// sats)`, counted in the database (one index range, no rows sent).
    async fn payments_by_hour(
        &self,
        merchant_id: i64,
        from: u64,
    ) -> Result<Vec<(u64, u64, u64)>, StoreError>;
    /// Challenges issued by a merchant from UTC day `since_day` on, and
    /// their sats: the `challenge_rollup` rows of those days.
    async fn challenges_since(
        &self,
        merchant_id: i64,
        since_day: u64,
    ) -> Result<(u64, u64), StoreError>;
}

const PAID: &str = "SELECT p.payment_hash, p.resource, p.amount_sats, 'paid', p.verified_at \
     FROM payments p WHERE p.merchant_id = $1 \
     AND (CAST($2 AS TEXT) IS NULL OR p.resource = $2) AND p.verified_at >= $3 \
     AND p.verified_at < $4 AND CAST($5 AS BIGINT) IS NOT NULL";
const UNPAID: &str = "SELECT c.payment_hash, c.resource, c.amount_sats, \
     CASE WHEN c.expires_at <= $5 THEN 'expired' ELSE 'unpaid' END, c.created_at \
     FROM challenges c WHERE c.merchant_id = $1 \
     AND (CAST($2 AS TEXT) IS NULL OR c.resource = $2) AND c.created_at >= $3 AND c.created_at < $4 \
     AND NOT EXISTS (SELECT 1 FROM payments q WHERE q.payment_hash = c.payment_hash)";
const BY_ROUTE: &str = "SELECT resource, CAST(SUM(payments) AS BIGINT), CAST(SUM(sats) AS BIGINT) \
     FROM route_rollup WHERE merchant_id = $1 AND day >= $2 GROUP BY resource \
     ORDER BY 3 DESC, 1 LIMIT $3";
const BY_HOUR: &str = "SELECT verified_at / 3600, COUNT(*), CAST(SUM(amount_sats) AS BIGINT) \
     FROM payments WHERE merchant_id = $1 AND verified_at >= $2 \
     GROUP BY verified_at / 3600 ORDER BY 1";
const CHALLENGES: &str = "SELECT CAST(COALESCE(SUM(challenges), 0) AS BIGINT), \
     CAST(COALESCE(SUM(sats), 0) AS BIGINT) FROM challenge_rollup \
     WHERE merchant_id = $1 AND day >= $2";

const PAGE: &str = " ORDER BY 5 DESC, 1 DESC LIMIT $6 OFFSET $7";

type Row = (String, Option<String>, i64, String, i64);

fn query_text(state: PaymentState) -> String {
    match state {
        PaymentState::All => format!("SELECT * FROM ({PAID} UNION ALL {UNPAID}) r{PAGE}"),
        PaymentState::Paid => format!("{PAID}{PAGE}"),
        PaymentState::Unpaid => format!("{UNPAID} AND c.expires_at > $5{PAGE}"),
        PaymentState::Expired => format!("{UNPAID} AND c.expires_at <= $5{PAGE}"),
    }
}

/// `query` (from [`query_text`]) with its parameters bound in the order its
/// text numbers them: the merchant ($1), the resource ($2), `from` ($3,
/// default 0), `until` ($4, default no end), now ($5), the limit ($6,
/// capped at [`MAX_PAYMENT_ROWS`]) and `$offset` ($7). A macro, so that one
/// binding serves each backend's pool.
macro_rules! page {
    ($query:expr, $merchant_id:expr, $filter:expr, $offset:expr) => {
        // Built only from the constants above: no input in the text.
        sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe($query))
            .bind($merchant_id)
            .bind($filter.resource.as_deref())
            .bind(to_i64($filter.from.unwrap_or(0)))
            .bind($filter.until.map_or(i64::MAX, to_i64))
            .bind(to_i64(now_secs()))
            .bind(i64::from($filter.limit.min(MAX_PAYMENT_ROWS)))
            .bind($offset)
    };
}

fn row_of(r: Row) -> PaymentRow {
    PaymentRow {
        payment_hash: r.0,
        resource: r.1,
        amount_sats: to_u64(r.2),
        state: PaymentState::parse(&r.3).unwrap_or_default(),
        at: to_u64(r.4),
    }
}

#[async_trait::async_trait]
impl PaymentsQuery for Store {
    async fn payments(
        &self,
        merchant_id: i64,
        filter: &PaymentFilter,
    ) -> Result<Vec<PaymentRow>, StoreError> {
        let query = query_text(filter.state);
        let rows: Vec<Row> = reading!(self, |pool| {
            page!(query.clone(), merchant_id, filter, to_i64(filter.offset))
                .fetch_all(pool)
                .await?
        });
        Ok(rows.into_iter().map(row_of).collect())
    }

    async fn export_payments(
        &self,
        merchant_id: i64,
        filter: &PaymentFilter,
        sink: tokio::sync::mpsc::Sender<PaymentRow>,
    ) -> Result<u64, StoreError> {
        use futures_util::TryStreamExt;
        let query = query_text(filter.state);
        let mut sent = 0u64;
        reading!(self, |pool| {
            let mut rows = page!(query.clone(), merchant_id, filter, 0i64).fetch(pool);
            while let Some(row) = rows.try_next().await? {
                if sink.send(row_of(row)).await.is_err() {
                    break;
                }
                sent += 1;
            }
        });
        Ok(sent)
    }

    async fn payments_by_hour(
        &self,
        merchant_id: i64,
        from: u64,
    ) -> Result<Vec<(u64, u64, u64)>, StoreError> {
        let rows = reading!(self, |pool| {
            sqlx::query_as::<_, (i64, i64, i64)>(BY_HOUR)
                .bind(merchant_id)
                .bind(to_i64(from))
                .fetch_all(pool)
                .await?
        });
        Ok(rows
            .into_iter()
            .map(|(h, n, sats)| (to_u64(h) * 3600, to_u64(n), to_u64(sats)))
            .collect())
    }

    async fn challenges_since(
        &self,
        merchant_id: i64,
        since_day: u64,
    ) -> Result<(u64, u64), StoreError> {
        let (n, sats) = reading!(self, |pool| {
            sqlx::query_as::<_, (i64, i64)>(CHALLENGES)
                .bind(merchant_id)
                .bind(to_i64(since_day))
                .fetch_one(pool)
                .await?
        });
        Ok((to_u64(n), to_u64(sats)))
    }

    async fn revenue_by_route(
        &self,
        merchant_id: i64,
        since_day: u64,
        limit: u32,
    ) -> Result<Vec<RouteRevenue>, StoreError> {
        let rows: Vec<(String, i64, i64)> = reading!(self, |pool| {
            sqlx::query_as::<_, (String, i64, i64)>(BY_ROUTE)
                .bind(merchant_id)
                .bind(to_i64(since_day))
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await?
        });
        Ok(rows
            .into_iter()
            .map(|(resource, n, sats)| RouteRevenue {
                resource,
                payments: to_u64(n),
                sats: to_u64(sats),
            })
            .collect())
    }
}
