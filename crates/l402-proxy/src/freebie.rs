//! Aperture's `freebie N`: N requests without a credential are forwarded
//! free per client network (IPv4 /24, IPv6 /48), in memory. The count of
//! networks tracked is bounded (least recently seen evicted first): an
//! evicted network starts over, which costs the seller at most N requests.
//!
//! With [`SharedCounters`] set on the proxy, the count is kept there
//! instead, shared by every proxy on the store, for
//! [`SHARED_FREEBIE_WINDOW`] from a network's first free request.

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hashlink::LruCache;

use crate::counters::{Quota, SharedCounters};

/// The most client networks tracked per service.
pub const DEFAULT_MAX_TRACKED_NETWORKS: usize = 65_536;

/// How long a shared store counts a network's freebies (30 days): then
/// the network starts over.
pub const SHARED_FREEBIE_WINDOW: Duration = Duration::from_secs(30 * 86_400);

/// A client network: the first 3 bytes of an IPv4 address, 6 of IPv6.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Network {
    V4([u8; 3]),
    V6([u8; 6]),
}

impl Network {
    pub(crate) fn of(ip: IpAddr) -> Network {
        match ip {
            IpAddr::V4(v4) => {
                let o = v4.octets();
                Network::V4([o[0], o[1], o[2]])
            }
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Network::of(IpAddr::V4(v4)),
                None => {
                    let o = v6.octets();
                    Network::V6([o[0], o[1], o[2], o[3], o[4], o[5]])
                }
            },
        }
    }

    /// `4:<hex>` or `6:<hex>`: the network as a shared store keys it.
    pub(crate) fn text(&self) -> String {
        match self {
            Network::V4(b) => format!("4:{}", hex::encode(b)),
            Network::V6(b) => format!("6:{}", hex::encode(b)),
        }
    }
}

/// Free requests used per client network.
pub(crate) struct Freebies {
    allowed: u32,
    used: Mutex<LruCache<Network, u32>>,
    /// The shared store and this service's scope (`freebie:<service>`).
    shared: Option<(Arc<dyn SharedCounters>, String)>,
}

impl Freebies {
    pub(crate) fn new(allowed: u32, max_networks: usize) -> Self {
        Freebies {
            allowed,
            used: Mutex::new(LruCache::new(max_networks.max(1))),
            shared: None,
        }
    }

    /// Counted in `shared` for `service` instead of in memory.
    pub(crate) fn shared(mut self, service: &str, shared: Arc<dyn SharedCounters>) -> Self {
        self.shared = Some((shared, format!("freebie:{service}")));
        self
    }

    /// Whether the count is kept in a shared store ([`Freebies::take_shared`]).
    pub(crate) fn is_shared(&self) -> bool {
        self.shared.is_some()
    }

    /// Takes one free request for `ip`'s network from the shared store (in
    /// memory without one). A store that fails grants nothing (logged):
    /// the request is sold as usual.
    pub(crate) async fn take_shared(&self, ip: IpAddr) -> bool {
        let Some((shared, scope)) = &self.shared else {
            return self.take(ip);
        };
        let quota = Quota {
            limit: u64::from(self.allowed),
            window: SHARED_FREEBIE_WINDOW,
        };
        match shared
            .take_quota(scope, &Network::of(ip).text(), quota)
            .await
        {
            Ok(taken) => taken,
            Err(e) => {
                tracing::warn!(%scope, error = %e, "shared freebies unavailable: none granted");
                false
            }
        }
    }

    /// Takes one free request for `ip`'s network, if one is left.
    pub(crate) fn take(&self, ip: IpAddr) -> bool {
        let network = Network::of(ip);
        let mut used = match self.used.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        match used.get_mut(&network) {
            Some(n) if *n >= self.allowed => false,
            Some(n) => {
                *n += 1;
                true
            }
            None if self.allowed == 0 => false,
            None => {
                used.insert(network, 1);
                true
            }
        }
    }

    /// How many networks are tracked.
    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.used.lock().map_or(0, |u| u.len())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn n_per_network_then_none() {
        let f = Freebies::new(2, 10);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let same_net: IpAddr = "192.0.2.200".parse().unwrap();
        let other: IpAddr = "198.51.100.1".parse().unwrap();
        assert!(f.take(a));
        assert!(f.take(same_net));
        assert!(!f.take(a), "the /24 used its two");
        assert!(f.take(other));
        let v6: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let v6_same: IpAddr = "2001:db8:1:ffff::9".parse().unwrap();
        assert!(f.take(v6) && f.take(v6_same) && !f.take(v6));
    }

    #[test]
    fn tracked_networks_are_bounded() {
        let f = Freebies::new(1, 100);
        for i in 0..1000u32 {
            let ip = IpAddr::from([10, (i >> 8) as u8, i as u8, 1]);
            assert!(f.take(ip));
        }
        assert_eq!(f.tracked(), 100);
    }
}
