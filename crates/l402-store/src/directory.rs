//! The API directory (migration 6): one listing per URL, newest first.

use crate::StoreError;
use crate::db::{Store, pool, to_i64, to_u64};

/// A directory listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing {
    /// `api_<hex>`.
    pub id: String,
    /// The API's URL (unique).
    pub url: String,
    /// Its display name.
    pub name: String,
    /// A short description.
    pub description: Option<String>,
    /// Its price per call.
    pub price_sats: u64,
    /// `data`, `ai`, `finance`, `weather`, `compute`, `storage` or `other`.
    pub category: String,
    /// Where its owner is paid.
    pub lightning_address: String,
    /// What its host must serve at `/.well-known/l402.txt`.
    pub nonce: String,
    /// Whether it did.
    pub verified: bool,
    /// Unix seconds.
    pub created_at: u64,
    /// Unix seconds.
    pub updated_at: u64,
}

/// What an upsert did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Upserted {
    /// Stored (new, or the listing of that URL replaced; its id and
    /// creation time kept).
    Stored(Listing),
    /// A new URL, but the directory holds its maximum of listings.
    Full,
}

/// Directory listings.
#[async_trait::async_trait]
pub trait DirectoryStore: Send + Sync {
    /// The listing of a URL.
    async fn listing_by_url(&self, url: &str) -> Result<Option<Listing>, StoreError>;
    /// Inserts a listing, or replaces the one of its URL (keeping that id
    /// and creation time); a new URL only while fewer than `max_listings`
    /// are held.
    async fn upsert_listing(
        &self,
        listing: &Listing,
        max_listings: u32,
    ) -> Result<Upserted, StoreError>;
    /// At most `limit` listings, newest first, of one category or all.
    async fn listings(
        &self,
        category: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Listing>, StoreError>;
    /// At most `limit` listings paying one of a merchant's Lightning
    /// Addresses, newest first: its owner address (splits), or one of its
    /// usernames at `host` (this server's LUD-16 addresses); compared
    /// without case.
    async fn merchant_listings(
        &self,
        merchant_id: i64,
        host: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Listing>, StoreError>;
}

const COLUMNS: &str = "id, url, name, description, price_sats, category, lightning_address, \
     nonce, verified, created_at, updated_at";
const BY_URL: &str = "SELECT id, url, name, description, price_sats, category, lightning_address, \
     nonce, verified, created_at, updated_at FROM directory_listings WHERE url = $1";
const UPSERT: &str = "INSERT INTO directory_listings (id, url, name, description, price_sats, \
     category, lightning_address, nonce, verified, created_at, updated_at) \
     SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10 \
     WHERE EXISTS (SELECT 1 FROM directory_listings WHERE url = $2) \
     OR (SELECT COUNT(*) FROM directory_listings) < $11 \
     ON CONFLICT (url) DO UPDATE SET name = excluded.name, description = excluded.description, \
     price_sats = excluded.price_sats, category = excluded.category, \
     lightning_address = excluded.lightning_address, nonce = excluded.nonce, \
     verified = excluded.verified, updated_at = excluded.updated_at";
const LIST_ALL: &str = "SELECT id, url, name, description, price_sats, category, \
     lightning_address, nonce, verified, created_at, updated_at FROM directory_listings \
     ORDER BY created_at DESC, id DESC LIMIT $1";
const LIST_CATEGORY: &str = "SELECT id, url, name, description, price_sats, category, \
     lightning_address, nonce, verified, created_at, updated_at FROM directory_listings \
     WHERE category = $2 ORDER BY created_at DESC, id DESC LIMIT $1";

const LIST_MERCHANT: &str = "SELECT id, url, name, description, price_sats, category, \
     lightning_address, nonce, verified, created_at, updated_at FROM directory_listings \
     WHERE LOWER(lightning_address) IN \
     (SELECT LOWER(owner_address) FROM merchant_owner_addresses WHERE merchant_id = $1) \
     OR LOWER(lightning_address) IN \
     (SELECT LOWER(username || '@' || $2) FROM lightning_addresses WHERE merchant_id = $1) \
     ORDER BY created_at DESC, id DESC LIMIT $3";

type Row = (
    String,
    String,
    String,
    Option<String>,
    i64,
    String,
    String,
    String,
    i64,
    i64,
    i64,
);

fn listing_of(r: Row) -> Listing {
    Listing {
        id: r.0,
        url: r.1,
        name: r.2,
        description: r.3,
        price_sats: to_u64(r.4),
        category: r.5,
        lightning_address: r.6,
        nonce: r.7,
        verified: r.8 != 0,
        created_at: to_u64(r.9),
        updated_at: to_u64(r.10),
    }
}

#[async_trait::async_trait]
impl DirectoryStore for Store {
    async fn listing_by_url(&self, url: &str) -> Result<Option<Listing>, StoreError> {
        debug_assert!(BY_URL.contains(COLUMNS));
        let row = pool!(self, true, |pool| {
            sqlx::query_as::<_, Row>(BY_URL)
                .bind(url)
                .fetch_optional(pool)
                .await?
        });
        Ok(row.map(listing_of))
    }

    async fn upsert_listing(&self, l: &Listing, max_listings: u32) -> Result<Upserted, StoreError> {
        let done = pool!(self, true, |pool| {
            sqlx::query(UPSERT)
                .bind(&l.id)
                .bind(&l.url)
                .bind(&l.name)
                .bind(l.description.as_deref())
                .bind(to_i64(l.price_sats))
                .bind(&l.category)
                .bind(&l.lightning_address)
                .bind(&l.nonce)
                .bind(i64::from(l.verified))
                .bind(to_i64(l.updated_at))
                .bind(i64::from(max_listings))
                .execute(pool)
                .await?
                .rows_affected()
        });
        if done == 0 {
            return Ok(Upserted::Full);
        }
        match self.listing_by_url(&l.url).await? {
            Some(stored) => Ok(Upserted::Stored(stored)),
            None => Err(StoreError::NotFound(format!("listing {}", l.url))),
        }
    }

    async fn listings(
        &self,
        category: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Listing>, StoreError> {
        let rows = pool!(self, false, |pool| {
            match category {
                Some(c) => {
                    sqlx::query_as::<_, Row>(LIST_CATEGORY)
                        .bind(i64::from(limit))
                        .bind(c)
                        .fetch_all(pool)
                        .await?
                }
                None => {
                    sqlx::query_as::<_, Row>(LIST_ALL)
                        .bind(i64::from(limit))
                        .fetch_all(pool)
                        .await?
                }
            }
        });
        Ok(rows.into_iter().map(listing_of).collect())
    }

    async fn merchant_listings(
        &self,
        merchant_id: i64,
        host: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Listing>, StoreError> {
        let rows = pool!(self, false, |pool| {
            sqlx::query_as::<_, Row>(LIST_MERCHANT)
                .bind(merchant_id)
                .bind(host.unwrap_or(""))
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await?
        });
        Ok(rows.into_iter().map(listing_of).collect())
    }
}
