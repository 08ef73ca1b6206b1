//! Issued challenges waiting for their settlement: payment hash → the
//! route's counters, so that a settlement from the node is counted as revenue
//! of the route that sold it. At most `max` entries, least recently issued
//! dropped first (its settlement is then counted under
//! [`UNATTRIBUTED_ROUTE`](crate::UNATTRIBUTED_ROUTE)). A settled hash moves
//! to a second table of at most `max` entries, so that a settlement
//! delivered again is not counted twice.

use std::sync::{Arc, Mutex, PoisonError};

use hashlink::LruCache;
use l402::PaymentHash;

use crate::routes::RouteCounters;

struct Tables {
    waiting: LruCache<PaymentHash, Arc<RouteCounters>>,
    settled: LruCache<PaymentHash, ()>,
}

pub(crate) struct Pending {
    tables: Mutex<Tables>,
}

/// What a settlement is.
pub(crate) enum Settle {
    /// Of a challenge this process issued, on this route.
    Route(Arc<RouteCounters>),
    /// Seen before.
    Duplicate,
    /// Of nothing remembered.
    Unknown,
}

impl Pending {
    pub(crate) fn new(max: usize) -> Self {
        let max = max.max(1);
        Pending {
            tables: Mutex::new(Tables {
                waiting: LruCache::new(max),
                settled: LruCache::new(max),
            }),
        }
    }

    pub(crate) fn insert(&self, hash: PaymentHash, route: Arc<RouteCounters>) {
        self.lock().waiting.insert(hash, route);
    }

    pub(crate) fn settle(&self, hash: &PaymentHash) -> Settle {
        let mut tables = self.lock();
        if tables.settled.insert(*hash, ()).is_some() {
            return Settle::Duplicate;
        }
        match tables.waiting.remove(hash) {
            Some(route) => Settle::Route(route),
            None => Settle::Unknown,
        }
    }

    /// Challenges waiting, settled hashes remembered.
    pub(crate) fn len(&self) -> (usize, usize) {
        let tables = self.lock();
        (tables.waiting.len(), tables.settled.len())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Tables> {
        self.tables.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
