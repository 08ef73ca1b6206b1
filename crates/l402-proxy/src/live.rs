//! Services replaced while requests flow: a [`LiveProxy`] serves the
//! current [`ProxySet`] and [`LiveProxy::replace`] swaps in a new one
//! atomically. A request takes the set current when it arrives and
//! finishes on it, whatever is swapped in meanwhile.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;

use arc_swap::ArcSwap;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::Request;
use http::uri::{PathAndQuery, Uri};
use l402_server::ResponseBody;
use tower_service::Service as TowerService;

use crate::error::ProxyError;
use crate::forward::{BoxError, is_grpc};
use crate::proxy::{Proxy, ProxyFuture};

/// What a [`LiveProxy`] serves: a main [`Proxy`] (services matched in
/// order) and proxies mounted under a path base, one per segment
/// (`/l402/proxy/{id}/...`, Lightning Enable's proxy mode). A request
/// under the base whose segment is mounted goes to that proxy with the
/// base and segment taken off its path (`/l402/proxy/abc/v1/x?q` reaches
/// it as `/v1/x?q`); every other request goes to the main proxy.
#[derive(Clone, Debug, Default)]
pub struct ProxySet {
    main: Option<Proxy>,
    mount_base: String,
    mounts: HashMap<String, Proxy>,
}

impl ProxySet {
    /// A set serving `main` (none: every request answers 404
    /// `no_service`).
    pub fn new(main: Option<Proxy>) -> Self {
        ProxySet {
            main,
            mount_base: String::new(),
            mounts: HashMap::new(),
        }
    }

    /// The path base mounted proxies live under (`/l402/proxy/`; a `/` is
    /// added at the end when missing).
    #[must_use]
    pub fn mount_base(mut self, base: impl Into<String>) -> Self {
        let mut base = base.into();
        if !base.ends_with('/') {
            base.push('/');
        }
        self.mount_base = base;
        self
    }

    /// Mounts `proxy` at `<mount base><segment>`.
    #[must_use]
    pub fn mount(mut self, segment: impl Into<String>, proxy: Proxy) -> Self {
        self.mounts.insert(segment.into(), proxy);
        self
    }

    /// The main proxy.
    pub fn main(&self) -> Option<&Proxy> {
        self.main.as_ref()
    }

    /// The mounted proxies' segments.
    pub fn mounted(&self) -> impl Iterator<Item = &str> {
        self.mounts.keys().map(String::as_str)
    }

    /// The mounted proxy a path is for, and the path it gets (`None`: the
    /// main proxy's).
    fn mounted_for<'s, 'p>(&'s self, path: &'p str) -> Option<(&'s Proxy, &'p str)> {
        if self.mounts.is_empty() || self.mount_base.is_empty() {
            return None;
        }
        let rest: &'p str = path.strip_prefix(self.mount_base.as_str())?;
        let (segment, tail) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        self.mounts.get(segment).map(|p| (p, tail))
    }
}

/// A tower service over a [`ProxySet`] that can be replaced at runtime.
/// Cheap to clone: clones share the set. Serving reads the current set
/// under an uncontended read lock (a replacement holds the write lock
/// only to store the new pointer; sets are built outside it).
///
/// ```
/// use l402_proxy::{LiveProxy, ProxySet};
///
/// let live = LiveProxy::new(ProxySet::new(None));
/// // axum: Router::new().fallback_service(live.clone())
/// let old = live.replace(ProxySet::new(None).mount_base("/l402/proxy/"));
/// assert!(old.main().is_none());
/// assert_eq!(live.current().mounted().count(), 0);
/// ```
#[derive(Clone, Debug)]
pub struct LiveProxy {
    current: Arc<ArcSwap<ProxySet>>,
}

impl LiveProxy {
    /// Serves `set` until it is replaced.
    pub fn new(set: ProxySet) -> Self {
        LiveProxy {
            current: Arc::new(ArcSwap::from_pointee(set)),
        }
    }

    /// The set now served.
    pub fn current(&self) -> Arc<ProxySet> {
        self.current.load_full()
    }

    /// Serves `set` from now on; returns the one it replaces (requests
    /// already on it finish there).
    pub fn replace(&self, set: ProxySet) -> Arc<ProxySet> {
        self.current.swap(Arc::new(set))
    }
}

/// `uri` with its path replaced by `path` (the query kept).
fn with_path(uri: &Uri, path: &str) -> Option<Uri> {
    let pq = match uri.query() {
        Some(q) => format!("{path}?{q}"),
        None => path.to_owned(),
    };
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(pq.parse::<PathAndQuery>().ok()?);
    Uri::from_parts(parts).ok()
}

impl<B> TowerService<Request<B>> for LiveProxy
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = crate::proxy::ProxyResponse;
    type Error = Infallible;
    type Future = ProxyFuture;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut request: Request<B>) -> ProxyFuture {
        // No lock and no shared count touched (arc-swap's guard).
        let set = self.current.load();
        if let Some((_, tail)) = set.mounted_for(request.uri().path())
            && crate::path::has_dot_segment(tail)
        {
            let response = ProxyError::BadPath
                .response(is_grpc(&request))
                .map(ResponseBody::full);
            return Box::pin(std::future::ready(Ok(response)));
        }
        let mounted = set
            .mounted_for(request.uri().path())
            .and_then(|(proxy, tail)| Some((proxy, with_path(request.uri(), tail)?)));
        if let Some((proxy, uri)) = mounted {
            *request.uri_mut() = uri;
            return proxy.route(request);
        }
        match &set.main {
            Some(proxy) => proxy.route(request),
            None => {
                let response = ProxyError::NoService
                    .response(is_grpc(&request))
                    .map(ResponseBody::full);
                Box::pin(std::future::ready(Ok(response)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn paths_under_the_base_lose_base_and_segment() {
        let uri: Uri = "/l402/proxy/abc/v1/x?q=1".parse().unwrap();
        assert_eq!(with_path(&uri, "/v1/x").unwrap().to_string(), "/v1/x?q=1");
        let set = ProxySet::new(None).mount_base("/l402/proxy");
        assert_eq!(set.mount_base, "/l402/proxy/");
        // Nothing mounted: nothing is taken off.
        assert!(set.mounted_for("/l402/proxy/abc/x").is_none());
    }
}
