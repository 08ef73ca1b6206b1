//! Helpers shared by the producer's integration tests: stores on both
//! backends, a producer served over real HTTP on 127.0.0.1, the dev node.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

#[path = "../../../l402-store/tests/pg_support/mod.rs"]
pub mod pg_support;

use pg_support::{DropSchema, pg_url, unique_schema};

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use l402::Keyring;
use l402_lightning::dev::DevNode;
use l402_lightning::{PayRequest, Receiver, Wallet};
use l402_producer::{Producer, ProducerBuilder};
use l402_store::Store;
use serde_json::{Value, json};

pub const ADMIN: &str = "test-admin-token-0123456789";

/// A store and what keeps it (a directory, or a schema to drop), per
/// backend: SQLite, and PostgreSQL when configured.
pub async fn stores(name: &str) -> Vec<(Arc<Store>, Box<dyn std::any::Any>)> {
    let (sqlite, dir) = sqlite_store().await;
    let mut out: Vec<(Arc<Store>, Box<dyn std::any::Any>)> = vec![(sqlite, Box::new(dir))];
    if let Some(url) = pg_url() {
        let schema = unique_schema(name);
        let store = Store::builder()
            .postgres(url.clone())
            .schema(schema.clone())
            .open()
            .await
            .unwrap();
        out.push((Arc::new(store), Box::new(DropSchema { url, schema })));
    }
    out
}

pub async fn sqlite_store() -> (Arc<Store>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::sqlite(dir.path().join("store.sqlite"))
        .await
        .unwrap();
    (Arc::new(store), dir)
}

pub struct Server {
    pub base: String,
    pub http: reqwest::Client,
    pub node: DevNode,
    pub producer: Producer,
}

pub async fn serve_producer(producer: &Producer) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = producer.router();
    tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    format!("http://{addr}")
}

/// A producer served without connection info (`axum::serve(listener,
/// router)`): a configuration error its rate limit must refuse.
pub async fn start_blind(store: Arc<Store>) -> Server {
    let node = DevNode::builder().in_memory().open().await.unwrap();
    let receiver = Arc::new(node.wallet("merchant").await.unwrap());
    let producer = Producer::builder(store, receiver, Keyring::new(1, [7; 32]))
        .admin_token(ADMIN)
        .build();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = producer.router();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    Server {
        base: format!("http://{addr}"),
        http: reqwest::Client::new(),
        node,
        producer,
    }
}

pub async fn start_with(
    store: Arc<Store>,
    receiver: Option<Arc<dyn Receiver>>,
    limit: u32,
) -> Server {
    start_custom(store, receiver, |b| b.rate_limit_per_minute(limit)).await
}

/// A producer on `store` (minting with `receiver`, or the dev node's
/// merchant wallet), configured further by `configure`, served over HTTP.
pub async fn start_custom(
    store: Arc<Store>,
    receiver: Option<Arc<dyn Receiver>>,
    configure: impl FnOnce(ProducerBuilder) -> ProducerBuilder,
) -> Server {
    let node = DevNode::builder().in_memory().open().await.unwrap();
    let receiver = match receiver {
        Some(r) => r,
        None => Arc::new(node.wallet("merchant").await.unwrap()),
    };
    let builder = Producer::builder(store, receiver, Keyring::new(1, [7; 32]))
        .admin_token(ADMIN)
        .flush_interval(Duration::from_millis(50));
    let producer = configure(builder).build();
    let base = serve_producer(&producer).await;
    Server {
        base,
        http: reqwest::Client::new(),
        node,
        producer,
    }
}

pub async fn start(store: Arc<Store>) -> Server {
    start_with(store, None, 1000).await
}

impl Server {
    pub async fn post(&self, path: &str, key: Option<&str>, body: Value) -> (u16, Value) {
        let mut req = self.http.post(format!("{}{path}", self.base)).json(&body);
        if let Some(key) = key {
            req = req.header("X-Api-Key", key);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap())
    }

    pub async fn admin(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(ADMIN);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap())
    }

    /// A merchant and an API key for it, through the admin API.
    pub async fn merchant(&self, name: &str) -> (i64, String, String) {
        let (s, m) = self
            .admin(
                reqwest::Method::POST,
                "/api/admin/merchants",
                Some(json!({"name": name})),
            )
            .await;
        assert_eq!(s, 201, "{m}");
        let id = m["id"].as_i64().unwrap();
        let (s, k) = self
            .admin(
                reqwest::Method::POST,
                &format!("/api/admin/merchants/{id}/keys"),
                Some(json!({"label": "test"})),
            )
            .await;
        assert_eq!(s, 201, "{k}");
        (
            id,
            k["key"].as_str().unwrap().to_owned(),
            k["id"].as_str().unwrap().to_owned(),
        )
    }

    /// An LNURL-auth login signed with the secret key `[secret; 32]` (the
    /// wallet's side of LUD-04, with `secp256k1`): (session token, linking key).
    pub async fn login(&self, secret: u8) -> (String, String) {
        use bitcoin::secp256k1::{Message, PublicKey, Secp256k1, SecretKey};
        let get = |path: String| async move {
            let resp = self
                .http
                .get(format!("{}{path}", self.base))
                .send()
                .await
                .unwrap();
            (resp.status().as_u16(), resp.json::<Value>().await.unwrap())
        };
        let (_, body) = get("/api/lnurl-auth".to_owned()).await;
        let k1 = body["k1"].as_str().unwrap().to_owned();
        let secp = Secp256k1::new();
        let sk = SecretKey::from_slice(&[secret; 32]).unwrap();
        let digest: [u8; 32] = hex::decode(&k1).unwrap().try_into().unwrap();
        let sig = hex::encode(
            secp.sign_ecdsa(&Message::from_digest(digest), &sk)
                .serialize_der(),
        );
        let key = hex::encode(PublicKey::from_secret_key(&secp, &sk).serialize());
        let callback =
            format!("/api/lnurl-auth?tag=login&k1={k1}&action=login&sig={sig}&key={key}");
        assert_eq!(get(callback).await.0, 200);
        let (_, body) = get(format!("/api/lnurl-auth?poll={k1}")).await;
        (body["token"].as_str().unwrap().to_owned(), key)
    }

    pub async fn pay(&self, bolt11: &str) -> String {
        let buyer = self.node.wallet("buyer").await.unwrap();
        buyer.credit_sats(100_000).await.unwrap();
        buyer
            .pay(&PayRequest::new(bolt11))
            .await
            .unwrap()
            .preimage
            .to_hex()
    }
}
