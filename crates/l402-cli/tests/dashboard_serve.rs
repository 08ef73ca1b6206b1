//! `/dashboard` of the real `l402 serve` over real HTTP: signing in (API
//! key, admin token), the security headers and cookies, a purchase by
//! `l402 get` seen in the overview, the chart and the payments table, CSV
//! export, keys created, used, revoked and refused, CSRF refusals; webhooks
//! (added, tested against a real receiver, removed), the directory's
//! listings, the routes page's lines, the danger zone's erasure, the
//! success rate, and the sign-in limit.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod dashboard_support;
mod get_support;
mod serve_support;

use dashboard_support::{Dash, client, field};
use get_support::{Serve, get_json};
use reqwest::StatusCode;
use reqwest::header::COOKIE;
use serde_json::{Value, json};

fn admin_token(serve: &Serve) -> String {
    let file = serve.info["producer"]["admin_token_file"].as_str().unwrap();
    std::fs::read_to_string(file).unwrap().trim().to_owned()
}

fn base(serve: &Serve) -> String {
    let demo = serve.demo_url();
    demo[..demo.find("/api/").unwrap()].to_owned()
}

async fn admin_json(base: &str, token: &str, path: &str, body: Value) -> Value {
    let resp = client()
        .post(format!("{base}{path}"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{path}: {}", resp.status());
    resp.json().await.unwrap()
}

#[tokio::test]
async fn sign_in_pay_see_filter_export_and_manage_keys() {
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start(dir.path()).await;
    let base = base(&serve);
    let admin = admin_token(&serve);
    let http = client();

    // Signed out: the pages send to the sign-in page; JSON and CSV are 401.
    let r = http.get(format!("{base}/dashboard")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "/dashboard/login");
    let r = http
        .get(format!("{base}/dashboard/payments.csv"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    // The sign-in page's headers.
    let r = http
        .get(format!("{base}/dashboard/login"))
        .send()
        .await
        .unwrap();
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("default-src 'self'") && csp.contains("script-src 'self'"),
        "{csp}"
    );
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(r.headers()["x-frame-options"], "DENY");
    assert_eq!(r.headers()["referrer-policy"], "no-referrer");
    let html = r.text().await.unwrap();
    assert!(!html.contains("<script>"), "no inline script");

    // A sign-in without the form's CSRF token, or a wrong secret.
    let r = http
        .post(format!("{base}/dashboard/login"))
        .form(&[("secret", admin.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["code"], "csrf_token_invalid");

    // A merchant with a hostile name, and its key.
    let m = admin_json(
        &base,
        &admin,
        "/api/admin/merchants",
        json!({"name": "<b>shop</b>"}),
    )
    .await;
    let id = m["id"].as_i64().unwrap();
    let k = admin_json(
        &base,
        &admin,
        &format!("/api/admin/merchants/{id}/keys"),
        json!({"label": "first"}),
    )
    .await;
    let key = k["key"].as_str().unwrap().to_owned();

    // A purchase with l402 get: the demo route, this server's own sales (merchant 0).
    let paid = get_json(dir.path(), &[&serve.demo_url()], &[]).await;
    assert_eq!(paid.code, Some(0), "{}", paid.stderr);

    // The operator signs in and sees it: recent payments, chart, table, CSV.
    let op = Dash::sign_in(&base, &admin).await;
    let overview = op.page("/dashboard?range=7d").await;
    assert!(overview.contains("/api/demo/joke"), "{overview}");
    assert!(
        overview.contains("&lt;b&gt;shop&lt;/b&gt;"),
        "the switcher escapes names"
    );
    assert!(!overview.contains("<b>shop</b>"));
    let today = &l402_server_today();
    assert!(
        overview.contains(&format!(
            "data-label=\"{today}\" data-sats=\"21\" data-payments=\"1\""
        )),
        "the chart's bar for today: {overview}"
    );
    for range in ["1d", "30d", "1y", "all"] {
        let page = op.page(&format!("/dashboard?range={range}")).await;
        assert!(page.contains("data-sats=\"21\""), "{range}");
    }
    assert!(
        op.page("/dashboard/keys").await.contains("id=\"no-keys\""),
        "merchant 0 has no keys"
    );
    let recent: Value = op.get("/dashboard/recent.json").await.json().await.unwrap();
    assert_eq!(recent["totalPayments"], 1, "{recent}");
    let hash = recent["recent"][0]["payment_hash"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(recent["recent"][0]["amount_sats"], 21);

    let table = op
        .page("/dashboard/payments?route=%2Fapi%2Fdemo%2Fjoke&state=paid")
        .await;
    assert!(table.contains(&format!("data-hash=\"{hash}\"")), "{table}");
    let none = op.page("/dashboard/payments?route=%2Fnope&state=all").await;
    assert!(!none.contains("data-hash="), "filtered out");
    let future = op.page("/dashboard/payments?from=2999-01-01").await;
    assert!(!future.contains("data-hash="));
    let bad = op.get("/dashboard/payments?from=yesterday").await;
    assert_eq!(bad.status(), 400);
    let v: Value = bad.json().await.unwrap();
    assert_eq!(
        (v["code"].as_str(), v["field"].as_str()),
        (Some("invalid_field"), Some("from"))
    );

    let csv = op.get(&format!("/dashboard/payments.csv?route=%2Fapi%2Fdemo%2Fjoke&state=paid&from={today}&until={today}")).await;
    assert_eq!(csv.status(), 200);
    assert!(
        csv.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let text = csv.text().await.unwrap();
    let lines: Vec<&str> = text.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(lines[0], "time,route,state,amount_sats,payment_hash");
    assert_eq!(lines.len(), 2, "{text}");
    assert!(
        lines[1].ends_with(&format!(",/api/demo/joke,paid,21,{hash}")),
        "{}",
        lines[1]
    );
    // The CSV needs the session cookie.
    let r = http
        .get(format!("{base}/dashboard/payments.csv"))
        .header(COOKIE, "l402_dashboard=00")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    // The merchant signs in with its key: its own (empty) numbers.
    let shop = Dash::sign_in(&base, &key).await;
    let mine = shop.page("/dashboard").await;
    assert!(
        !mine.contains("/api/demo/joke"),
        "another merchant's payments are not shown"
    );

    // Keys: a POST without the CSRF token is refused.
    let r = shop.post("/dashboard/keys", &[("label", "no token")]).await;
    assert_eq!(r.status(), 403);
    let r = shop
        .post("/dashboard/keys", &[("label", "x"), ("csrf", "0000")])
        .await;
    assert_eq!(r.status(), 403);
    // Create: shown once.
    let csrf = shop.csrf().await;
    let r = shop
        .post(
            "/dashboard/keys",
            &[("label", "ci <robot>"), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(r.status(), 201);
    let page = r.text().await.unwrap();
    let new_key = page[page.find("id=\"new-key\">").unwrap() + 13..]
        .split('<')
        .next()
        .unwrap()
        .to_owned();
    assert!(new_key.starts_with("l402k_"), "{new_key}");
    assert!(page.contains("ci &lt;robot&gt;"));
    let listed = shop.page("/dashboard/keys").await;
    assert!(!listed.contains(&new_key), "never shown again");
    assert!(!listed.contains(&key));
    // Used against the producer API.
    let stats = |k: String| {
        let base = base.clone();
        async move {
            client()
                .get(format!("{base}/api/stats"))
                .header("x-api-key", k)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(stats(new_key.clone()).await, 200);
    // Revoked, then refused.
    let row = &listed[..listed.find("ci &lt;robot&gt;").unwrap()];
    let row = &row[row.rfind("<tr data-key=\"").unwrap() + 14..];
    let key_id = row[..row.find('"').unwrap()].to_owned();
    let r = shop
        .post("/dashboard/keys/revoke", &[("key_id", &key_id)])
        .await;
    assert_eq!(r.status(), 403, "revoke without the CSRF token");
    assert_eq!(stats(new_key.clone()).await, 200);
    let r = shop
        .post(
            "/dashboard/keys/revoke",
            &[("key_id", &key_id), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(stats(new_key.clone()).await, 401);

    // A merchant cannot switch merchants; the operator can.
    let r = shop
        .post("/dashboard/merchant", &[("merchant", "0"), ("csrf", &csrf)])
        .await;
    assert_eq!(r.status(), 403);
    let op_csrf = field(&op.page("/dashboard").await, "name=\"csrf\"");
    let r = op
        .post(
            "/dashboard/merchant",
            &[("merchant", &id.to_string()), ("csrf", &op_csrf)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(!op.page("/dashboard").await.contains("/api/demo/joke"));

    // Sign out ends the session.
    let r = shop.post("/dashboard/logout", &[("csrf", &csrf)]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(shop.get("/dashboard").await.status(), StatusCode::SEE_OTHER);
}

fn l402_server_today() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    l402::time::rfc3339(secs)[..10].to_owned()
}

/// A host for the test: serves `/.well-known/l402.txt` (a directory proof)
/// and takes webhook deliveries at `/hook`.
struct Host {
    addr: std::net::SocketAddr,
    proof: std::sync::Arc<std::sync::Mutex<String>>,
    hooks: std::sync::Arc<std::sync::Mutex<Vec<(String, String)>>>,
}

async fn host() -> Host {
    use axum::routing::{get, post};
    let proof = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let hooks = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let (p, h) = (proof.clone(), hooks.clone());
    let app = axum::Router::new()
        .route(
            "/.well-known/l402.txt",
            get(move || {
                let p = p.clone();
                async move { p.lock().unwrap().clone() }
            }),
        )
        .route(
            "/hook",
            post(move |headers: axum::http::HeaderMap, body: String| {
                let h = h.clone();
                async move {
                    let sig = headers
                        .get("l402-signature")
                        .map(|v| v.to_str().unwrap().to_owned())
                        .unwrap_or_default();
                    h.lock().unwrap().push((sig, body));
                    "ok"
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Host { addr, proof, hooks }
}

async fn cli_json(data: &std::path::Path, args: &[&str]) -> Value {
    let out = serve_support::l402(data).args(args).output().await.unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn between<'a>(html: &'a str, start: &str, end: &str) -> &'a str {
    let at = html
        .find(start)
        .unwrap_or_else(|| panic!("{start} in {html}"))
        + start.len();
    let rest = &html[at..];
    &rest[..rest.find(end).unwrap()]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_directory_routes_danger_zone_and_the_sign_in_limit() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let shop = cli_json(data, &["merchant", "create", "shop"]).await;
    let id = shop["id"].as_i64().unwrap();
    let key = cli_json(data, &["merchant", "key", "create", &id.to_string()]).await["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let config = data.join("l402.toml");
    std::fs::write(
        &config,
        "[producer]\npublic_url = \"https://shop.example\"\ntrusted_proxies = [\"127.0.0.0/8\"]\n\n\
         [webhooks]\nallow_private_targets = true\nfirst_retry_secs = 1\nmax_retry_secs = 2\n\n\
         [directory]\nallow_private_targets = true\n\n\
         [[routes]]\npath = \"/api/report\"\nprice_sats = 7\nbody = \"paid\"\ndescription = \"the <daily> report\"\n\n\
         [[services]]\nname = \"weather\"\npathregexp = \"^/weather/.*\"\naddress = \"127.0.0.1:9\"\n\
         price_sats = 5\nauth = \"freebie 3\"\nshadow = true\n",
    )
    .unwrap();
    let server = serve_support::start(
        serve_support::l402(data),
        &["--config", config.to_str().unwrap()],
    )
    .await;
    let base = server.url();
    let file = server.info["producer"]["admin_token_file"]
        .as_str()
        .unwrap();
    let admin = std::fs::read_to_string(file).unwrap().trim().to_owned();
    let host = host().await;

    // The directory: the merchant's username at the public host; a listing
    // paying it, proven by its host; another paying someone else.
    admin_json(
        &base,
        &admin,
        &format!("/api/admin/merchants/{id}/lightning-address"),
        json!({"username": "shop"}),
    )
    .await;
    let register = |url: String, address: &'static str| {
        let base = base.clone();
        async move {
            client()
                .post(format!("{base}/api/register"))
                .json(&json!({"url": url, "name": "Shop <API>", "price_sats": 3,
                              "lightning_address": address, "category": "data"}))
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    let listing_url = format!("http://{}/api", host.addr);
    let first = register(listing_url.clone(), "shop@shop.example").await;
    assert_eq!(first["verified"], false, "{first}");
    *host.proof.lock().unwrap() = first["nonce"].as_str().unwrap().to_owned();
    let again = register(listing_url.clone(), "shop@shop.example").await;
    assert_eq!(again["verified"], true, "{again}");
    let other = register(format!("http://{}/other", host.addr), "else@other.example").await;
    assert_eq!(other["ok"], true, "{other}");

    let dash = Dash::sign_in(&base, &key).await;
    let page = dash.page("/dashboard/directory").await;
    assert_eq!(between(&page, "id=\"listings-count\">", "<"), "1", "{page}");
    assert_eq!(between(&page, "id=\"listings-verified\">", "<"), "1");
    assert!(page.contains("Shop &lt;API&gt;") && page.contains(&listing_url));
    assert!(!page.contains("else@other.example"), "not this merchant's");

    // Routes and services, with the lines to try them.
    let routes = dash.page("/dashboard/routes").await;
    assert!(routes.contains("data-offer=\"/api/report\""), "{routes}");
    assert!(routes.contains("the &lt;daily&gt; report"));
    assert!(routes.contains("curl -i &#39;https://shop.example/api/report&#39;"));
    assert!(routes.contains("l402 get --max-sats 7 &#39;https://shop.example/api/report&#39;"));
    let weather = &routes[routes.find("data-offer=\"weather\"").unwrap()..];
    assert!(weather.contains("data-shadow=\"on\"") && weather.contains("data-freebies=\"3\""));
    assert!(weather.contains("&#39;https://shop.example/weather/&#39;"));

    // Webhooks: add (the secret shown once), test, see the delivery, remove.
    let csrf = dash.csrf().await;
    let hook = format!("http://{}/hook", host.addr);
    let r = dash
        .post("/dashboard/webhooks", &[("url", hook.as_str())])
        .await;
    assert_eq!(r.status(), 403, "no CSRF token");
    let r = dash
        .post(
            "/dashboard/webhooks",
            &[("url", "ftp://x"), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("invalid_url"));
    let r = dash
        .post(
            "/dashboard/webhooks",
            &[("url", hook.as_str()), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(r.status(), 201);
    let created = r.text().await.unwrap();
    let secret = between(&created, "id=\"new-secret\">", "<").to_owned();
    assert!(secret.len() >= 32, "{secret}");
    let listed = dash.page("/dashboard/webhooks").await;
    assert!(!listed.contains(&secret), "the secret is shown once");
    let endpoint = between(&listed, "data-endpoint=\"", "\"").to_owned();
    let r = dash
        .post(
            "/dashboard/webhooks/test",
            &[("endpoint_id", endpoint.as_str()), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(r.status(), 202);
    assert!(r.text().await.unwrap().contains("id=\"notice\""));
    let mut got = Vec::new();
    for _ in 0..100 {
        got = host.hooks.lock().unwrap().clone();
        if !got.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let (sig, body) = got.first().expect("the test event arrived").clone();
    let event: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(event["type"], "webhook.test", "{body}");
    let t: u64 = between(&format!("{sig},"), "t=", ",").parse().unwrap();
    assert_eq!(
        sig,
        l402::webhook::signature_header(&secret, t, &body),
        "signed with the secret shown"
    );
    let mut log = String::new();
    for _ in 0..50 {
        log = dash.page("/dashboard/webhooks").await;
        if between(&log, "id=\"deliveries\"", "</table>").contains("webhook.test") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        between(&log, "id=\"deliveries\"", "</table>").contains("webhook.test"),
        "{log}"
    );
    let r = dash
        .post(
            "/dashboard/webhooks/remove",
            &[("endpoint_id", endpoint.as_str()), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(
        !dash
            .page("/dashboard/webhooks")
            .await
            .contains("data-endpoint=")
    );

    // A challenge of the merchant: the success rate counts it.
    let r = client()
        .post(format!("{base}/api/l402/challenges"))
        .header("x-api-key", &key)
        .json(&json!({"resource": "/api/thing", "priceSats": 4}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let overview = dash.page("/dashboard?range=7d").await;
    assert_eq!(between(&overview, "id=\"success-rate\">", "<"), "0.0%");
    assert!(overview.contains("0 paid of 1 challenges"), "{overview}");

    // The danger zone: CSRF, then the typed confirmation, then erasure.
    assert!(
        dash.page("/dashboard/danger")
            .await
            .contains("id=\"erase-confirm\"")
    );
    let mine = id.to_string();
    let r = dash
        .post("/dashboard/danger/erase", &[("confirm", mine.as_str())])
        .await;
    assert_eq!(r.status(), 403);
    let r = dash
        .post(
            "/dashboard/danger/erase",
            &[("confirm", "0"), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(r.status(), 400);
    assert!(
        dash.page("/dashboard?range=7d")
            .await
            .contains("0 paid of 1 challenges"),
        "kept"
    );
    let r = dash
        .post(
            "/dashboard/danger/erase",
            &[("confirm", mine.as_str()), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(r.status(), 200);
    let erased = r.text().await.unwrap();
    assert!(erased.contains("0 payments, 1 challenges"), "{erased}");
    let after = dash.page("/dashboard?range=all").await;
    assert!(after.contains("0 paid of 0 challenges"), "{after}");

    // Refused sign-ins are limited per client network: the 11th is 429,
    // even with the right key.
    let wrong = client();
    let login = wrong
        .get(format!("{base}/dashboard/login"))
        .send()
        .await
        .unwrap();
    let (pre, _) = dashboard_support::set_cookie(&login, "l402_dashboard_login").unwrap();
    let csrf = field(&login.text().await.unwrap(), "name=\"csrf\"");
    // The server trusts 127.0.0.0/8 as a reverse proxy: the limit keys on
    // the client it forwarded for (X-Forwarded-For), not on the proxy.
    let attempt = |secret: String, client: &'static str| {
        let (wrong, base, pre, csrf) = (wrong.clone(), base.clone(), pre.clone(), csrf.clone());
        async move {
            wrong
                .post(format!("{base}/dashboard/login"))
                .header(COOKIE, pre)
                .header("x-forwarded-for", client)
                .form(&[("csrf", csrf.as_str()), ("secret", secret.as_str())])
                .send()
                .await
                .unwrap()
        }
    };
    for _ in 0..10 {
        let r = attempt("l402k_wrong".into(), "203.0.113.5").await;
        assert_eq!(r.status(), 401);
    }
    let r = attempt(key.clone(), "203.0.113.77").await;
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("retry-after"));
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["code"], "too_many_sign_ins");
    // Another client behind the same proxy is not limited: it signs in.
    let r = attempt(key.clone(), "198.51.100.7").await;
    assert_eq!(r.status(), 303, "{:?}", r.text().await);
    // A forged hop left of the one the proxy wrote proves nothing.
    let r = attempt(key.clone(), "198.51.100.7, 203.0.113.9").await;
    assert_eq!(r.status(), 429);
    server.stop().await;
}
