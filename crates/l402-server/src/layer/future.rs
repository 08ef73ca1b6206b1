//! The response future: price the request, decide, then answer or call the
//! inner service.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http::request::Parts;
use http::{Request, Response};
use pin_project_lite::pin_project;
use tower_service::Service;

use super::pricing::{PriceError, Quote};
use super::service::{Core, Decision};
use crate::body::ResponseBody;
use crate::issuer::BoxFuture;

pin_project! {
    /// The response future of [`L402Service`](super::L402Service). It first
    /// polls the [`Pricing`](super::Pricing) future (ready at once for a
    /// fixed price), then runs the inner service's own future on the paid
    /// path (nothing boxed), answers a refusal at once, or awaits a boxed
    /// future when something must be awaited (a new invoice, a sale to
    /// record).
    pub struct ResponseFuture<S, ReqBody, PF>
    where
        S: Service<Request<ReqBody>>,
    {
        #[pin]
        state: State<S, ReqBody, PF>,
    }
}

/// What the pricing state holds until the price is known.
struct Pending<S, ReqBody> {
    inner: S,
    parts: Parts,
    body: ReqBody,
    core: Arc<Core>,
}

pin_project! {
    #[project = StateProj]
    enum State<S, ReqBody, PF>
    where
        S: Service<Request<ReqBody>>,
    {
        Pricing {
            #[pin]
            future: PF,
            pending: Option<Pending<S, ReqBody>>,
        },
        Inner {
            #[pin]
            future: S::Future,
        },
        Ready {
            response: Option<Response<Bytes>>,
        },
        Boxed {
            future: BoxFuture<Result<Response<Bytes>, S::Error>>,
        },
        // A remote producer is verifying the credential; the request waits.
        Verifying {
            future: BoxFuture<(Parts, Decision)>,
            pending: Option<(S, ReqBody, Arc<Core>)>,
        },
        BoxedInner {
            future: Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>,
        },
    }
}

impl<S, ReqBody, PF> ResponseFuture<S, ReqBody, PF>
where
    S: Service<Request<ReqBody>>,
{
    pub(super) fn ready(response: Response<Bytes>) -> Self {
        ResponseFuture {
            state: State::Ready {
                response: Some(response),
            },
        }
    }

    pub(super) fn pricing(
        future: PF,
        inner: S,
        parts: Parts,
        body: ReqBody,
        core: Arc<Core>,
    ) -> Self {
        ResponseFuture {
            state: State::Pricing {
                future,
                pending: Some(Pending {
                    inner,
                    parts,
                    body,
                    core,
                }),
            },
        }
    }
}

impl<S, ReqBody, ResBody, PF> Future for ResponseFuture<S, ReqBody, PF>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ReqBody: Send + 'static,
    ResBody: Send + 'static,
    PF: Future<Output = Result<Quote, PriceError>>,
{
    type Output = Result<Response<ResponseBody<ResBody>>, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Pricing { future, pending } => {
                    let quote = ready!(future.poll(cx));
                    #[allow(clippy::expect_used)] // the state is left right below
                    let Pending {
                        inner,
                        mut parts,
                        body,
                        core,
                    } = pending.take().expect("future polled after completion");
                    let quote = match quote {
                        Ok(quote) => quote,
                        Err(e) => {
                            tracing::warn!(error = %e, cause = ?std::error::Error::source(&e), "L402 price unavailable");
                            core.observe(&parts, crate::observe::Outcome::Unavailable);
                            let response = core.unavailable(
                                "price_unavailable",
                                "the price of this request cannot be computed right now; retry later",
                            );
                            this.state.set(State::Ready {
                                response: Some(response),
                            });
                            continue;
                        }
                    };
                    let decision = core.decide(&mut parts, quote);
                    let next = next_state(decision, inner, parts, body, core);
                    this.state.set(next);
                }
                StateProj::Verifying { future, pending } => {
                    let (parts, decision) = ready!(future.as_mut().poll(cx));
                    #[allow(clippy::expect_used)] // the state is left right below
                    let (inner, body, core) =
                        pending.take().expect("future polled after completion");
                    let next = next_state(decision, inner, parts, body, core);
                    this.state.set(next);
                }
                StateProj::Inner { future } => {
                    return future
                        .poll(cx)
                        .map(|result| result.map(|response| response.map(ResponseBody::inner)));
                }
                StateProj::BoxedInner { future } => {
                    return future
                        .as_mut()
                        .poll(cx)
                        .map(|result| result.map(|response| response.map(ResponseBody::inner)));
                }
                StateProj::Ready { response } => {
                    #[allow(clippy::expect_used)] // polling a finished future is a bug
                    let response = response.take().expect("future polled after completion");
                    return Poll::Ready(Ok(response.map(ResponseBody::full)));
                }
                StateProj::Boxed { future } => {
                    return future
                        .as_mut()
                        .poll(cx)
                        .map(|result| result.map(|response| response.map(ResponseBody::full)));
                }
            }
        }
    }
}

/// The state that carries out a decision.
fn next_state<S, ReqBody, PF>(
    decision: Decision,
    mut inner: S,
    parts: Parts,
    body: ReqBody,
    core: Arc<Core>,
) -> State<S, ReqBody, PF>
where
    S: Service<Request<ReqBody>> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ReqBody: Send + 'static,
{
    match decision {
        Decision::Forward { record: None } => State::Inner {
            future: inner.call(Request::from_parts(parts, body)),
        },
        Decision::Respond(response) => State::Ready {
            response: Some(response),
        },
        Decision::Forward {
            record: Some(record),
        } => {
            let call = async move {
                record.await;
                inner.call(Request::from_parts(parts, body)).await
            };
            State::BoxedInner {
                future: Box::pin(call),
            }
        }
        Decision::Challenge { resource, quote } => {
            drop((inner, body));
            State::Boxed {
                future: Box::pin(async move { Ok(core.challenge(&parts, resource, quote).await) }),
            }
        }
        #[cfg(feature = "remote")]
        Decision::Verify {
            credential,
            resource,
            quote,
            stale,
        } => {
            let verifier = core.clone();
            let mut parts = parts;
            State::Verifying {
                future: Box::pin(async move {
                    let decision = verifier
                        .verify_remote(&mut parts, credential, resource, quote, stale)
                        .await;
                    (parts, decision)
                }),
                pending: Some((inner, body, core)),
            }
        }
    }
}
