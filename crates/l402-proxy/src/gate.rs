//! The service behind a selling layer: a paid request's token is counted
//! against the service's per-token rate limit, then forwarded.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use l402_server::Paid;
use tower_service::Service as TowerService;

use crate::error::ProxyError;
use crate::forward::{BoxError, Forward, ProxyBody, full, is_grpc};
use crate::limit::{LimitKey, Limiter, retry_after_secs};
use crate::observe::Observer;

/// [`Forward`], behind a per-token rate limit when the service has one.
#[derive(Clone)]
pub(crate) struct Gate {
    pub(crate) forward: Forward,
    pub(crate) per_token: Option<Arc<Limiter>>,
    pub(crate) observer: Option<Arc<dyn Observer>>,
}

type GateFuture = Pin<Box<dyn Future<Output = Result<Response<ProxyBody>, Infallible>> + Send>>;

/// The `429` (or gRPC `8`) for a request over a limit; the observer hears
/// of it.
pub(crate) fn limited(
    service: &str,
    wait: std::time::Duration,
    grpc: bool,
    observer: Option<&Arc<dyn Observer>>,
) -> Response<bytes::Bytes> {
    if let Some(observer) = observer {
        observer.rate_limited(service);
    }
    ProxyError::RateLimited {
        service: service.to_owned(),
        retry_after_secs: retry_after_secs(wait),
    }
    .response(grpc)
}

impl<B> TowerService<Request<B>> for Gate
where
    B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response<ProxyBody>;
    type Error = Infallible;
    type Future = GateFuture;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> GateFuture {
        let token = request.extensions().get::<Paid>().map(|paid| paid.token_id);
        let (Some(limiter), Some(token)) = (&self.per_token, token) else {
            return self.forward.call(request);
        };
        let limiter = limiter.clone();
        let mut forward = self.forward.clone();
        let observer = self.observer.clone();
        Box::pin(async move {
            if let Err(wait) = limiter.take(LimitKey::Token(token)).await {
                let name = &forward.service().name;
                let answer = limited(name, wait, is_grpc(&request), observer.as_ref());
                return Ok(answer.map(full));
            }
            forward.call(request).await
        })
    }
}
