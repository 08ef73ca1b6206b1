//! Services added to the reverse proxy at runtime (migration 8): by the
//! operator through the admin API, or by a merchant through Lightning
//! Enable's `POST /api/proxy`. One row per service name; the definition is
//! kept as written (JSON), and checked again whenever it is loaded.

use crate::StoreError;
use crate::db::{Store, now_secs, pool, to_i64, to_u64};

/// A stored proxy service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyService {
    /// The service's name (unique; a merchant proxy's `proxyId`).
    pub name: String,
    /// The merchant that created it; `None` for the operator's.
    pub merchant_id: Option<i64>,
    /// The definition as written: a JSON object in the shape of a
    /// `[[services]]` entry.
    pub definition: String,
    /// What a merchant proxy was created with (JSON: Lightning Enable's
    /// `name`, `description`, `targetBaseUrl`), if anything.
    pub meta: Option<String>,
    /// Unix seconds.
    pub created_at: u64,
    /// Unix seconds.
    pub updated_at: u64,
}

/// What [`ProxyServiceStore::insert_proxy_service`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceInserted {
    /// Stored.
    Stored(ProxyService),
    /// A service of that name exists.
    Exists,
    /// The store holds its maximum of services (in all, or of that owner).
    Full,
}

/// The bounds on stored proxy services.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServiceLimits {
    /// Services in all.
    pub total: u32,
    /// Services of one owner (a merchant, or the operator).
    pub per_owner: u32,
}

/// Proxy services added at runtime.
#[async_trait::async_trait]
pub trait ProxyServiceStore: Send + Sync {
    /// Every stored service, oldest first.
    async fn proxy_services(&self) -> Result<Vec<ProxyService>, StoreError>;
    /// One service by name.
    async fn proxy_service(&self, name: &str) -> Result<Option<ProxyService>, StoreError>;
    /// Stores a new service unless its name is taken or `limits` are
    /// reached (checked in the same statement).
    async fn insert_proxy_service(
        &self,
        name: &str,
        merchant_id: Option<i64>,
        definition: &str,
        meta: Option<&str>,
        limits: ServiceLimits,
    ) -> Result<ServiceInserted, StoreError>;
    /// Replaces a service's definition; `None` if there is no such service.
    async fn update_proxy_service(
        &self,
        name: &str,
        definition: &str,
    ) -> Result<Option<ProxyService>, StoreError>;
    /// Deletes a service; whether it existed.
    async fn delete_proxy_service(&self, name: &str) -> Result<bool, StoreError>;
}

const LIST: &str = "SELECT name, merchant_id, definition, meta, created_at, updated_at \
     FROM proxy_services ORDER BY created_at, name";
const BY_NAME: &str = "SELECT name, merchant_id, definition, meta, created_at, updated_at \
     FROM proxy_services WHERE name = $1";
// Owner counted null-safely: the operator's rows have no merchant.
const INSERT: &str = "INSERT INTO proxy_services \
     (name, merchant_id, definition, meta, created_at, updated_at) \
     SELECT $1, $2, $3, $4, $5, $5 \
     WHERE (SELECT COUNT(*) FROM proxy_services) < $6 \
     AND (SELECT COUNT(*) FROM proxy_services \
          WHERE merchant_id = $2 OR (merchant_id IS NULL AND $7 = 1)) < $8 \
     ON CONFLICT (name) DO NOTHING";
const UPDATE: &str = "UPDATE proxy_services SET definition = $2, updated_at = $3 WHERE name = $1";
const DELETE: &str = "DELETE FROM proxy_services WHERE name = $1";

type Row = (String, Option<i64>, String, Option<String>, i64, i64);

fn service_of(r: Row) -> ProxyService {
    ProxyService {
        name: r.0,
        merchant_id: r.1,
        definition: r.2,
        meta: r.3,
        created_at: to_u64(r.4),
        updated_at: to_u64(r.5),
    }
}

#[async_trait::async_trait]
impl ProxyServiceStore for Store {
    async fn proxy_services(&self) -> Result<Vec<ProxyService>, StoreError> {
        let rows = pool!(self, false, |pool| {
            sqlx::query_as::<_, Row>(LIST).fetch_all(pool).await?
        });
        Ok(rows.into_iter().map(service_of).collect())
    }

    async fn proxy_service(&self, name: &str) -> Result<Option<ProxyService>, StoreError> {
        // From the writer: read after a write on the same instance.
        let row = pool!(self, true, |pool| {
            sqlx::query_as::<_, Row>(BY_NAME)
                .bind(name)
                .fetch_optional(pool)
                .await?
        });
        Ok(row.map(service_of))
    }

    async fn insert_proxy_service(
        &self,
        name: &str,
        merchant_id: Option<i64>,
        definition: &str,
        meta: Option<&str>,
        limits: ServiceLimits,
    ) -> Result<ServiceInserted, StoreError> {
        let done = pool!(self, true, |pool| {
            sqlx::query(INSERT)
                .bind(name)
                .bind(merchant_id)
                .bind(definition)
                .bind(meta)
                .bind(to_i64(now_secs()))
                .bind(i64::from(limits.total))
                .bind(i64::from(merchant_id.is_none()))
                .bind(i64::from(limits.per_owner))
                .execute(pool)
                .await?
                .rows_affected()
        });
        if done == 1 {
            return match self.proxy_service(name).await? {
                Some(stored) => Ok(ServiceInserted::Stored(stored)),
                None => Err(StoreError::NotFound(format!("proxy service {name}"))),
            };
        }
        Ok(match self.proxy_service(name).await? {
            Some(_) => ServiceInserted::Exists,
            None => ServiceInserted::Full,
        })
    }

    async fn update_proxy_service(
        &self,
        name: &str,
        definition: &str,
    ) -> Result<Option<ProxyService>, StoreError> {
        let done = pool!(self, true, |pool| {
            sqlx::query(UPDATE)
                .bind(name)
                .bind(definition)
                .bind(to_i64(now_secs()))
                .execute(pool)
                .await?
                .rows_affected()
        });
        if done == 0 {
            return Ok(None);
        }
        self.proxy_service(name).await
    }

    async fn delete_proxy_service(&self, name: &str) -> Result<bool, StoreError> {
        let done = pool!(self, true, |pool| {
            sqlx::query(DELETE)
                .bind(name)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(done > 0)
    }
}
