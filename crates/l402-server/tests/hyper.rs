//! The layer without axum: a plain tower `service_fn` served by hyper.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use l402::{Challenges, Credential, Keyring};
use l402_lightning::dev::DevNode;
use l402_lightning::{PayRequest, Wallet};
use l402_server::{L402Layer, Paid};
use tower::{ServiceBuilder, service_fn};

#[tokio::test]
async fn a_hyper_service_behind_the_layer() {
    let node = DevNode::builder().in_memory().open().await.unwrap();
    let merchant = Arc::new(node.wallet("merchant").await.unwrap());
    let buyer = node.wallet("buyer").await.unwrap();
    buyer.credit_sats(100).await.unwrap();
    let layer = L402Layer::builder(merchant, Keyring::new(1, [9; 32]))
        .price_sats(7)
        .build();

    let service = ServiceBuilder::new().layer(layer).service(service_fn(
        |request: Request<hyper::body::Incoming>| async move {
            let paid = request.extensions().get::<Paid>().cloned();
            let body = match paid {
                Some(p) => format!("paid {} for {}", p.amount_sats, p.resource),
                None => "not paid".to_owned(),
            };
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(body))))
        },
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let service = TowerToHyperService::new(service.clone());
            tokio::spawn(async move {
                let _ = Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });

    let http = reqwest::Client::new();
    let url = format!("http://{addr}/report");
    let resp = http.get(&url).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::PAYMENT_REQUIRED);
    let www = resp.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    let challenge = Challenges::parse([www.as_str()]).l402().unwrap().clone();
    let payment = buyer
        .pay(&PayRequest::new(challenge.invoice.clone()))
        .await
        .unwrap();
    let credential = Credential::new(challenge.decode_macaroon().unwrap(), payment.preimage);
    let resp = http
        .get(&url)
        .header("authorization", credential.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.text().await.unwrap(), "paid 7 for /report");
}
