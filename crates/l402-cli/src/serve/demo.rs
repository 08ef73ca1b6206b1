//! The demo, in l402kit's shapes (seed 004): `GET /api/demo` (the index),
//! `GET /api/demo/btc-price` (1 sat: the BTC price from `[demo] price_url`,
//! labelled a demo price when none is set), `GET /api/demo/preimage?hash=`
//! (the preimage of one of this demo's own paid invoices), and the joke at
//! [`DEMO_PATH`](super::app::DEMO_PATH).
//!
//! Why the preimage endpoint exists: a person paying the demo's QR code
//! from a phone wallet often cannot see the preimage (custodial wallets hide
//! it), so cannot build the `L402 <macaroon>:<preimage>` credential. l402kit
//! bound its demo macaroons to a preimage of its own for that and revealed it
//! once the invoice was paid. Here the node knows every preimage it issued,
//! so this endpoint asks it: `202 {"pending":true}` until the invoice is
//! paid, then `200 {"preimage"}`. It is kept safe: it answers only for
//! invoices the btc-price demo itself issued (remembered, at most
//! [`MAX_DEMO_INVOICES`]; anything else is 404 and the node is not asked),
//! never before payment (a preimage of a paid invoice is no secret from the
//! payer, and alone, without the macaroon from the 402, buys nothing), and
//! never for a paid route of the operator's, whose preimages stay the
//! payer's. A remote seller has no node here: there is no preimage endpoint.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use hashlink::LruCache;
use l402::PaymentHash;
use l402_lightning::{InvoiceStatus, Receiver};
use l402_server::observe::{Observer, Outcome};
use l402_server::{ErrorBody, IssuedChallenge, Paid};
use serde_json::{Value, json};

/// The demo index.
pub const INDEX_PATH: &str = "/api/demo";
/// The paid BTC price.
pub const BTC_PRICE_PATH: &str = "/api/demo/btc-price";
/// The preimage of a paid demo invoice.
pub const PREIMAGE_PATH: &str = "/api/demo/preimage";
/// The BTC price's price.
pub const BTC_PRICE_SATS: u64 = 1;
/// The most btc-price invoices remembered for the preimage endpoint (the
/// oldest forgotten first; a demo invoice expires in minutes anyway).
pub const MAX_DEMO_INVOICES: usize = 10_000;
/// How long a fetched price is served before the source is asked again.
pub const PRICE_TTL: Duration = Duration::from_secs(60);
/// The largest price-source answer read.
pub const MAX_PRICE_BYTES: usize = 64 * 1024;

/// The prices shown when no price source is configured.
const DEMO_PRICES: [(&str, f64); 3] = [("usd", 100_000.0), ("eur", 92_000.0), ("gbp", 79_000.0)];

/// `[demo]` settings beyond the switch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DemoSettings {
    /// Where the BTC price comes from: a JSON document in CoinGecko's
    /// `simple/price` shape (`{"bitcoin":{"usd":…}}`) or mempool.space's
    /// `/api/v1/prices` (`{"USD":…}`). None: a fixed demo price.
    pub price_url: Option<String>,
}

/// The demo's state, shared by its handlers.
pub(super) struct Demo {
    prices: PriceSource,
    invoices: Arc<DemoInvoices>,
    receiver: Option<Arc<dyn Receiver>>,
}

impl Demo {
    pub(super) fn new(settings: &DemoSettings, receiver: Option<Arc<dyn Receiver>>) -> Self {
        Demo {
            prices: PriceSource::new(settings.price_url.clone()),
            invoices: Arc::new(DemoInvoices::new(MAX_DEMO_INVOICES)),
            receiver,
        }
    }

    /// The observer the btc-price layer reports to: it remembers the
    /// invoices the demo issued, then passes everything on to `next`.
    pub(super) fn observer(&self, next: Option<Arc<dyn Observer>>) -> Arc<dyn Observer> {
        Arc::new(Remember {
            invoices: self.invoices.clone(),
            next,
        })
    }

    /// The index and preimage routes (the paid btc-price route is the
    /// app's, behind its layer, with [`btc_price`] as handler).
    pub(super) fn router(
        self: Arc<Self>,
        btc_price: axum::routing::MethodRouter<Arc<Demo>>,
    ) -> Router {
        let mut router = Router::new()
            .route(INDEX_PATH, get(index))
            .route(BTC_PRICE_PATH, btc_price.with_state(self.clone()));
        if self.receiver.is_some() {
            router = router.route(PREIMAGE_PATH, get(preimage).with_state(self));
        }
        router
    }
}

/// Payment hashes of the invoices the btc-price demo issued, bounded.
pub(super) struct DemoInvoices {
    hashes: Mutex<LruCache<PaymentHash, ()>>,
}

impl DemoInvoices {
    pub(super) fn new(max: usize) -> Self {
        DemoInvoices {
            hashes: Mutex::new(LruCache::new(max.max(1))),
        }
    }

    fn insert(&self, hash: PaymentHash) {
        self.lock().insert(hash, ());
    }

    fn contains(&self, hash: &PaymentHash) -> bool {
        self.lock().contains_key(hash)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LruCache<PaymentHash, ()>> {
        self.hashes.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

struct Remember {
    invoices: Arc<DemoInvoices>,
    next: Option<Arc<dyn Observer>>,
}

impl Observer for Remember {
    fn request(&self, route: &str, outcome: Outcome) {
        if let Some(next) = &self.next {
            next.request(route, outcome);
        }
    }
    fn verification(&self, route: &str, result: Result<(), &'static str>) {
        if let Some(next) = &self.next {
            next.verification(route, result);
        }
    }
    fn challenge_issued(&self, route: &str, issued: &IssuedChallenge) {
        self.invoices.insert(issued.payment_hash);
        if let Some(next) = &self.next {
            next.challenge_issued(route, issued);
        }
    }
    fn invoice(&self, backend: &'static str, elapsed: Duration, result: Result<(), &'static str>) {
        if let Some(next) = &self.next {
            next.invoice(backend, elapsed, result);
        }
    }
}

async fn index() -> axum::Json<Value> {
    axum::Json(json!({
        "message": "l402 demo: pay 1 sat over Lightning for the BTC price (L402)",
        "endpoints": {
            "btcPrice": BTC_PRICE_PATH,
            "preimage": format!("{PREIMAGE_PATH}?hash=<paymentHash>"),
            "joke": super::app::DEMO_PATH,
        },
        "priceSats": BTC_PRICE_SATS,
        "protocol": "L402",
    }))
}

/// `GET /api/demo/btc-price`, after payment.
pub(super) async fn btc_price(State(demo): State<Arc<Demo>>, paid: Paid) -> Response {
    let bitcoin = match demo.prices.get().await {
        Ok(prices) => prices,
        Err(e) => {
            tracing::warn!(error = %e, "demo: the price source cannot be read");
            return json_error(
                ErrorBody::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "price_unavailable",
                    "the price source cannot be read right now; your token stays valid, retry later",
                )
                .retry_after(5),
            );
        }
    };
    let unit = if paid.amount_sats == 1 { "sat" } else { "sats" };
    axum::Json(json!({
        "bitcoin": bitcoin,
        "priceSats": paid.amount_sats,
        "paidWith": format!("{} {unit} via Lightning", paid.amount_sats),
        "protocol": "L402",
        "timestamp": l402_server::rfc3339(l402_server::unix_now()),
    }))
    .into_response()
}

#[derive(serde::Deserialize)]
struct PreimageQuery {
    hash: Option<String>,
}

/// `GET /api/demo/preimage?hash=`: see the module docs.
async fn preimage(State(demo): State<Arc<Demo>>, query: Query<PreimageQuery>) -> Response {
    let Some(hash) = query
        .hash
        .as_deref()
        .and_then(|h| h.parse::<PaymentHash>().ok())
    else {
        return json_error(
            ErrorBody::new(
                StatusCode::BAD_REQUEST,
                "invalid_field",
                "hash must be the 64 hex digits of a demo invoice's payment hash",
            )
            .field("hash"),
        );
    };
    let Some(receiver) = &demo.receiver else {
        return json_error(ErrorBody::new(
            StatusCode::NOT_FOUND,
            "unknown_invoice",
            "no preimages here",
        ));
    };
    if !demo.invoices.contains(&hash) {
        return json_error(ErrorBody::new(
            StatusCode::NOT_FOUND,
            "unknown_invoice",
            "not an invoice of this demo (only btc-price invoices issued here are answered)",
        ));
    }
    match receiver.lookup_invoice(&hash).await {
        Ok(InvoiceStatus::Pending) => {
            (StatusCode::ACCEPTED, axum::Json(json!({"pending": true}))).into_response()
        }
        Ok(InvoiceStatus::Paid { preimage }) => {
            axum::Json(json!({"preimage": preimage.to_string()})).into_response()
        }
        Ok(InvoiceStatus::Expired) => json_error(ErrorBody::new(
            StatusCode::GONE,
            "invoice_expired",
            "the invoice expired unpaid; ask for a new one",
        )),
        Err(e) => {
            tracing::warn!(error = %e, "demo: cannot look up an invoice");
            json_error(
                ErrorBody::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "backend_unavailable",
                    "the Lightning backend cannot be asked right now; retry later",
                )
                .retry_after(5),
            )
        }
    }
}

fn json_error(body: ErrorBody) -> Response {
    let response = body.response();
    let (parts, body) = response.into_parts();
    Response::from_parts(parts, axum::body::Body::from(body))
}

/// The BTC price, fetched from the configured source at most once per
/// [`PRICE_TTL`], or the fixed demo price.
struct PriceSource {
    url: Option<String>,
    /// Built with the source's first fetch (no TLS roots loaded before).
    http: tokio::sync::OnceCell<reqwest::Client>,
    cached: tokio::sync::Mutex<Option<(Instant, Value)>>,
}

impl PriceSource {
    fn new(url: Option<String>) -> Self {
        PriceSource {
            url,
            http: tokio::sync::OnceCell::new(),
            cached: tokio::sync::Mutex::new(None),
        }
    }

    async fn get(&self) -> anyhow::Result<Value> {
        let Some(url) = &self.url else {
            let mut prices: serde_json::Map<String, Value> = DEMO_PRICES
                .iter()
                .map(|(k, v)| ((*k).to_owned(), json!(v)))
                .collect();
            prices.insert(
                "source".to_owned(),
                json!("demo price: fixed, not a market price (no [demo] price_url configured)"),
            );
            prices.insert("demo".to_owned(), json!(true));
            return Ok(Value::Object(prices));
        };
        let mut cached = self.cached.lock().await;
        if let Some((at, prices)) = &*cached
            && at.elapsed() < PRICE_TTL
        {
            return Ok(prices.clone());
        }
        let prices = self.fetch(url).await?;
        *cached = Some((Instant::now(), prices.clone()));
        Ok(prices)
    }

    async fn fetch(&self, url: &str) -> anyhow::Result<Value> {
        let http = self
            .http
            .get_or_try_init(|| async { crate::tls::http_client(Duration::from_secs(5)) })
            .await?;
        let mut response = http
            .get(url)
            .header("Accept", "application/json")
            .send()
            .await?
            .error_for_status()?;
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await? {
            if body.len() + chunk.len() > MAX_PRICE_BYTES {
                anyhow::bail!("the price source answered more than {MAX_PRICE_BYTES} bytes");
            }
            body.extend_from_slice(&chunk);
        }
        let doc: Value = serde_json::from_slice(&body)?;
        parse_prices(&doc, url)
    }
}

/// USD, EUR and GBP prices from CoinGecko's or mempool.space's shape.
fn parse_prices(doc: &Value, source: &str) -> anyhow::Result<Value> {
    let mut prices = serde_json::Map::new();
    for (currency, _) in DEMO_PRICES {
        let value = doc
            .get("bitcoin")
            .and_then(|b| b.get(currency))
            .or_else(|| doc.get(currency.to_ascii_uppercase()))
            .and_then(Value::as_f64)
            .filter(|v| v.is_finite() && *v > 0.0);
        if let Some(value) = value {
            prices.insert(currency.to_owned(), json!(value));
        }
    }
    if prices.is_empty() {
        anyhow::bail!("no USD, EUR or GBP price in the answer");
    }
    let host = reqwest::Url::parse(source)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_default();
    prices.insert("source".to_owned(), json!(host));
    Ok(Value::Object(prices))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn both_price_shapes() {
        let cg = json!({"bitcoin": {"usd": 97000.5, "eur": 90000, "gbp": 77000}});
        let p = parse_prices(&cg, "https://api.example.com/x").unwrap();
        assert_eq!(p["usd"], 97000.5);
        assert_eq!(p["source"], "api.example.com");
        let mp = json!({"time": 1, "USD": 97000, "EUR": 90000});
        let p = parse_prices(&mp, "http://127.0.0.1:1/").unwrap();
        assert_eq!(p["eur"], 90000.0);
        assert!(p.get("gbp").is_none());
        assert!(parse_prices(&json!({"USD": "cheap"}), "x").is_err());
        assert!(parse_prices(&json!([]), "x").is_err());
    }

    #[test]
    fn demo_invoices_are_bounded() {
        let invoices = DemoInvoices::new(100);
        for i in 0..1000u32 {
            let mut h = [0u8; 32];
            h[..4].copy_from_slice(&i.to_be_bytes());
            invoices.insert(PaymentHash(h));
        }
        assert_eq!(invoices.len(), 100);
        let mut newest = [0u8; 32];
        newest[..4].copy_from_slice(&999u32.to_be_bytes());
        assert!(invoices.contains(&PaymentHash(newest)));
        assert!(!invoices.contains(&PaymentHash([0; 32])));
    }
}
