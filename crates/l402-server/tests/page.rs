//! The 402 a browser gets, over real HTTP: an HTML page with the price, the
//! description and the invoice, whose QR code (SVG) decodes, with `rqrr`
//! (an implementation independent of the `qrcode` crate that drew it), to
//! that invoice; same status and `WWW-Authenticate`, a strict CSP. API
//! clients still get JSON, and a browser that pays gets the content.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use http::StatusCode;
use l402::{Challenges, Credential, Macaroon};
use l402_lightning::dev::{DevNode, DevWallet};
use l402_lightning::{PayRequest, Receiver, Wallet};
use l402_server::{Keyring, L402Layer};
use serde_json::Value;

const BROWSER_ACCEPT: &str =
    "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8";

struct Harness {
    base: String,
    http: reqwest::Client,
    buyer: DevWallet,
    _node: DevNode,
}

async fn start() -> Harness {
    let node = DevNode::builder().in_memory().open().await.unwrap();
    let merchant: Arc<dyn Receiver> = Arc::new(node.wallet("merchant").await.unwrap());
    let buyer = node.wallet("buyer").await.unwrap();
    buyer.credit_sats(10_000).await.unwrap();
    let layer = L402Layer::builder(merchant.clone(), Keyring::new(1, [7; 32]))
        .price_sats(21)
        .description("One <weather> report & more")
        .build();
    let plain = L402Layer::builder(merchant, Keyring::new(1, [7; 32]))
        .price_sats(21)
        .browser_page(false)
        .build();
    let app = Router::new()
        .route("/report", get(|| async { "sunny" }).layer(layer))
        .route("/plain", get(|| async { "sunny" }).layer(plain));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Harness {
        base: format!("http://{addr}"),
        http: reqwest::Client::new(),
        buyer,
        _node: node,
    }
}

/// The dark modules of the page's QR code: the SVG's one path of
/// `M x y h w v1 h -w z` runs, read back into a grid.
fn qr_modules(svg: &str) -> (usize, Vec<Vec<bool>>) {
    let size: usize = between(svg, "viewBox=\"0 0 ", " ").parse().unwrap();
    let path = between(svg, "<path fill=\"#000\" d=\"", "\"");
    let mut grid = vec![vec![false; size]; size];
    for run in path.split('z').filter(|r| !r.is_empty()) {
        let run = run.strip_prefix('M').unwrap();
        let (xy, rest) = run.split_once('h').unwrap();
        let (x, y) = xy.split_once(' ').unwrap();
        let (w, _) = rest.split_once('v').unwrap();
        let (x, y, w): (usize, usize, usize) =
            (x.parse().unwrap(), y.parse().unwrap(), w.parse().unwrap());
        for cell in &mut grid[y][x..x + w] {
            *cell = true;
        }
    }
    (size, grid)
}

fn between<'a>(text: &'a str, start: &str, end: &str) -> &'a str {
    let from = text.find(start).unwrap() + start.len();
    let len = text[from..].find(end).unwrap();
    &text[from..from + len]
}

/// Decodes the QR code of an SVG with rqrr, rendered at 4 pixels a module.
fn decode_qr(svg: &str) -> String {
    let (size, grid) = qr_modules(svg);
    let scale = 4;
    let pixels = size * scale;
    let mut image = rqrr::PreparedImage::prepare_from_greyscale(pixels, pixels, |x, y| {
        if grid[y / scale][x / scale] { 0 } else { 255 }
    });
    let grids = image.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code in the SVG");
    let (_, content) = grids[0].decode().unwrap();
    content
}

#[tokio::test]
async fn a_browser_gets_a_page_whose_qr_code_is_the_invoice() {
    let h = start().await;
    let response = h
        .http
        .get(format!("{}/report", h.base))
        .header("accept", BROWSER_ACCEPT)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYMENT_REQUIRED);
    let headers = response.headers().clone();
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(csp.starts_with("default-src 'none'"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(
        !csp.contains("unsafe-inline") && !csp.contains("script-src"),
        "{csp}"
    );
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["cache-control"], "no-store");
    let challenges: Vec<_> = headers
        .get_all("www-authenticate")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    let challenge = Challenges::parse(challenges.iter().map(String::as_str))
        .l402()
        .unwrap()
        .clone();
    let page = response.text().await.unwrap();
    assert!(page.starts_with("<!DOCTYPE html>"));
    assert!(!page.contains("<script"));
    assert!(page.contains("21 sats"));
    // The description, escaped.
    assert!(
        page.contains("One &lt;weather&gt; report &amp; more"),
        "{page}"
    );
    assert!(page.contains(&challenge.invoice));
    assert!(page.contains(&format!("href=\"lightning:{}\"", challenge.invoice)));
    assert!(page.contains(&challenge.macaroon));
    // The QR code is the invoice (as a `lightning:` URI, upper case: QR
    // alphanumeric mode).
    let decoded = decode_qr(&page);
    assert_eq!(
        decoded,
        format!("lightning:{}", challenge.invoice).to_ascii_uppercase()
    );

    // Paid from that page's invoice, the browser gets the content.
    let paid = h
        .buyer
        .pay(&PayRequest::new(challenge.invoice.clone()))
        .await
        .unwrap();
    let macaroon: Macaroon = challenge.macaroon.parse().unwrap();
    let credential = Credential::new(macaroon, paid.preimage);
    let response = h
        .http
        .get(format!("{}/report", h.base))
        .header("accept", BROWSER_ACCEPT)
        .header("authorization", credential.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.text().await.unwrap(), "sunny");
}

#[tokio::test]
async fn api_clients_still_get_json() {
    let h = start().await;
    for accept in [
        None,
        Some("*/*"),
        Some("application/json"),
        Some("text/html;q=0, */*"),
    ] {
        let mut request = h.http.get(format!("{}/report", h.base));
        if let Some(accept) = accept {
            request = request.header("accept", accept);
        }
        let response = request.send().await.unwrap();
        assert_eq!(
            response.status(),
            StatusCode::PAYMENT_REQUIRED,
            "{accept:?}"
        );
        assert_eq!(
            response.headers()["content-type"],
            "application/json",
            "{accept:?}"
        );
        assert!(response.headers().get("content-security-policy").is_none());
        assert!(response.headers().contains_key("www-authenticate"));
        let body: Value = response.json().await.unwrap();
        assert!(
            body["l402"]["invoice"]
                .as_str()
                .unwrap()
                .starts_with("lnbcrt")
        );
    }
}

#[tokio::test]
async fn a_browser_with_a_credential_or_a_layer_without_pages_gets_json() {
    let h = start().await;
    // A credential that is not one: 401 JSON, no page, nothing minted.
    let response = h
        .http
        .get(format!("{}/report", h.base))
        .header("accept", BROWSER_ACCEPT)
        .header("authorization", "L402 garbage")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(response.headers()["content-type"], "application/json");
    // Pages turned off on this layer.
    let response = h
        .http
        .get(format!("{}/plain", h.base))
        .header("accept", BROWSER_ACCEPT)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYMENT_REQUIRED);
    assert_eq!(response.headers()["content-type"], "application/json");
}
