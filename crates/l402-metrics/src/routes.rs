//! The per-route counters, in a table of bounded size: a route seen for the
//! first time gets its series (every outcome at 0, so rates work from the
//! first scrape); past [`DEFAULT_MAX_ROUTES`](crate::DEFAULT_MAX_ROUTES)
//! routes, further ones share the [`OTHER_ROUTE`] series.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use l402_server::observe::Outcome;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;

use crate::labels::{RouteLabels, RouteOutcomeLabels};

/// The route label shared by the routes past the table's bound.
pub const OTHER_ROUTE: &str = "other";

/// The counters of one route, created once and then shared lock-free.
pub(crate) struct RouteCounters {
    outcomes: [Counter; Outcome::ALL.len()],
    pub(crate) challenges: Counter,
    pub(crate) settled: Counter,
    pub(crate) revenue_sats: Counter,
}

impl RouteCounters {
    pub(crate) fn outcome(&self, outcome: Outcome) -> &Counter {
        let i = Outcome::ALL
            .iter()
            .position(|o| *o == outcome)
            .unwrap_or_default();
        &self.outcomes[i]
    }
}

/// The families the route counters live in.
#[derive(Clone, Default)]
pub(crate) struct RouteFamilies {
    pub(crate) requests: Family<RouteOutcomeLabels, Counter>,
    pub(crate) challenges: Family<RouteLabels, Counter>,
    pub(crate) settled: Family<RouteLabels, Counter>,
    pub(crate) revenue_sats: Family<RouteLabels, Counter>,
}

impl RouteFamilies {
    fn counters(&self, route: &str) -> RouteCounters {
        let labels = RouteLabels {
            route: route.to_owned(),
        };
        let outcomes = Outcome::ALL.map(|outcome| {
            self.requests
                .get_or_create(&RouteOutcomeLabels {
                    route: route.to_owned(),
                    outcome: outcome.as_str(),
                })
                .clone()
        });
        RouteCounters {
            outcomes,
            challenges: self.challenges.get_or_create(&labels).clone(),
            settled: self.settled.get_or_create(&labels).clone(),
            revenue_sats: self.revenue_sats.get_or_create(&labels).clone(),
        }
    }
}

/// Route label → its counters, at most `max` routes plus [`OTHER_ROUTE`].
pub(crate) struct RouteTable {
    families: RouteFamilies,
    routes: RwLock<HashMap<Box<str>, Arc<RouteCounters>>>,
    other: Arc<RouteCounters>,
    max: usize,
}

impl RouteTable {
    pub(crate) fn new(families: RouteFamilies, max: usize) -> Self {
        let other = Arc::new(families.counters(OTHER_ROUTE));
        RouteTable {
            families,
            routes: RwLock::new(HashMap::new()),
            other,
            max,
        }
    }

    /// The counters of `route` (created on first sight while there is room).
    pub(crate) fn get(&self, route: &str) -> Arc<RouteCounters> {
        {
            let routes = self.routes.read().unwrap_or_else(PoisonError::into_inner);
            if let Some(counters) = routes.get(route) {
                return counters.clone();
            }
            if routes.len() >= self.max || route == OTHER_ROUTE {
                return self.other.clone();
            }
        }
        let mut routes = self.routes.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(counters) = routes.get(route) {
            return counters.clone();
        }
        if routes.len() >= self.max {
            return self.other.clone();
        }
        let counters = Arc::new(self.families.counters(route));
        routes.insert(route.into(), counters.clone());
        counters
    }

    /// How many routes have their own series.
    pub(crate) fn len(&self) -> usize {
        self.routes
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}
