//! The proxy's services at runtime, against the real `l402 serve` binary
//! over real HTTP, with real upstreams started here and SQLite files: a
//! service added through the admin API answers at once (no restart), a
//! price change mints invoices of the new amount, a deleted service is
//! `no_service`, stored services survive a restart; Lightning Enable's
//! `POST /api/proxy` by a merchant, then a purchase with `l402 get` through
//! `/l402/proxy/{id}/...` whose revenue is that merchant's; private
//! upstreams refused for merchants unless the operator allows them;
//! merchants' `https` upstreams verified against the system's roots plus
//! the operator's `[proxy] merchant_ca_file`, never reached in clear; SIGHUP
//! reloads the file's services, and a bad file keeps the old set. Every
//! status the OpenAPI document lists for these paths is exercised here.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod get_support;
mod proxy_support;
mod serve_support;

use std::collections::BTreeSet;
use std::path::Path;
use std::str::FromStr;
use std::sync::Mutex;
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use proxy_support::upstream;
use serve_support::{Server, l402, start, start_capturing_stderr};

/// The producer API of one server, recording which documented (path,
/// method, status) each call exercised.
struct Api {
    http: reqwest::Client,
    base: String,
    admin: String,
    seen: Mutex<BTreeSet<(String, String, u16)>>,
}

enum Auth<'a> {
    Admin,
    WrongAdmin,
    Key(&'a str),
    None,
}

impl Api {
    fn of(server: &Server) -> Api {
        let file = server.info["producer"]["admin_token_file"]
            .as_str()
            .unwrap();
        Api {
            http: reqwest::Client::new(),
            base: server.url(),
            admin: std::fs::read_to_string(file).unwrap().trim().to_owned(),
            seen: Mutex::new(BTreeSet::new()),
        }
    }

    /// `method path` (`template` is the documented path) with `body`.
    async fn call(
        &self,
        method: Method,
        template: &str,
        path: &str,
        auth: Auth<'_>,
        body: Option<Vec<u8>>,
    ) -> (u16, Value) {
        let mut req = self
            .http
            .request(method.clone(), format!("{}{path}", self.base));
        req = match auth {
            Auth::Admin => req.bearer_auth(&self.admin),
            Auth::WrongAdmin => req.bearer_auth("not-the-admin-token"),
            Auth::Key(k) => req.header("X-API-Key", k),
            Auth::None => req,
        };
        if let Some(b) = body {
            req = req.header("content-type", "application/json").body(b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let v: Value = resp.json().await.unwrap_or(Value::Null);
        self.seen.lock().unwrap().insert((
            template.to_owned(),
            method.as_str().to_ascii_lowercase(),
            status,
        ));
        (status, v)
    }

    async fn admin(&self, method: Method, template: &str, path: &str, body: Value) -> (u16, Value) {
        let body = (!body.is_null()).then(|| body.to_string().into_bytes());
        self.call(method, template, path, Auth::Admin, body).await
    }

    /// `method /api/admin/services/{name}` as the admin.
    async fn service(&self, method: Method, name: &str, body: Value) -> (u16, Value) {
        let path = format!("/api/admin/services/{name}");
        self.admin(method, "/api/admin/services/{name}", &path, body)
            .await
    }

    /// `POST /api/proxy` (Lightning Enable's proxy mode) with `auth`.
    async fn proxy(&self, auth: Auth<'_>, body: Option<Vec<u8>>) -> (u16, Value) {
        self.call(Method::POST, "/api/proxy", "/api/proxy", auth, body)
            .await
    }
}

/// A refusal: `want` with the error `code` in the body.
#[track_caller]
fn refused((status, e): (u16, Value), want: u16, code: &str) {
    assert_eq!((status, e["code"].as_str()), (want, Some(code)), "{e}");
}

/// A refusal: `want` naming the `field` that was wrong.
#[track_caller]
fn refused_field((status, e): (u16, Value), want: u16, field: &str) {
    assert_eq!((status, e["field"].as_str()), (want, Some(field)), "{e}");
}

/// A merchant and its API key, made through the admin API.
async fn merchant(api: &Api, name: &str) -> (i64, String) {
    let (status, m) = api
        .admin(
            Method::POST,
            "-",
            "/api/admin/merchants",
            json!({"name": name}),
        )
        .await;
    assert_eq!(status, 201, "{m}");
    let id = m["id"].as_i64().unwrap();
    let (status, k) = api
        .admin(
            Method::POST,
            "-",
            &format!("/api/admin/merchants/{id}/keys"),
            json!({}),
        )
        .await;
    assert_eq!(status, 201, "{k}");
    (id, k["key"].as_str().unwrap().to_owned())
}

/// The amount in sats of the invoice an unpaid request gets (402).
async fn price_of(url: &str) -> u64 {
    let resp = reqwest::get(url).await.unwrap();
    assert_eq!(resp.status(), 402, "{url}");
    let header = resp.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    let invoice = header
        .split("invoice=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap();
    let invoice = lightning_invoice::Bolt11Invoice::from_str(invoice).unwrap();
    invoice.amount_milli_satoshis().unwrap() / 1000
}

async fn status_of(url: &str) -> (u16, Value) {
    let resp = reqwest::get(url).await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

fn write_config(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

fn base_config(upstream: std::net::SocketAddr, extra: &str) -> String {
    format!(
        r#"
[demo]
enabled = false
{extra}
[[services]]
name = "fixed"
pathregexp = "^/fixed"
address = "{upstream}"
price_sats = 2
"#
    )
}

#[tokio::test]
async fn services_change_at_runtime_persist_and_sell_for_merchants() {
    let up = upstream().await;
    let dir = tempfile::tempdir().unwrap();
    let file = write_config(dir.path(), "l402.toml", &base_config(up.addr, ""));
    let server = start(l402(dir.path()), &["--config", &file]).await;
    let api = Api::of(&server);
    let base = server.url();
    let list = "/api/admin/services";
    let one = "/api/admin/services/{name}";

    // The file's services are listed, read-only.
    let (status, all) = api.admin(Method::GET, list, list, Value::Null).await;
    assert_eq!(status, 200, "{all}");
    assert_eq!(all["services"][0]["name"], "fixed");
    assert_eq!(all["services"][0]["source"], "config");
    let (status, _) = api
        .call(Method::GET, list, list, Auth::WrongAdmin, None)
        .await;
    assert_eq!(status, 401);

    // Added: reachable at once, sold at its price.
    assert_eq!(status_of(&format!("{base}/added/x")).await.0, 404);
    let added = json!({
        "name": "added", "pathregexp": "^/added", "address": up.addr.to_string(),
        "price_sats": 3, "headers": {"x-upstream-key": "s3cret-value"}
    });
    let (status, body) = api.admin(Method::POST, list, list, added.clone()).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["source"], "api");
    assert_eq!(body["service"]["headers"]["x-upstream-key"], "<set>");
    assert_eq!(price_of(&format!("{base}/added/x")).await, 3);
    let paid = get_support::get_json(dir.path(), &[&format!("{base}/added/x?q=1")], &[]).await;
    assert_eq!(paid.code, Some(0), "{}", paid.stderr);
    assert_eq!(paid.json["status"], 200, "{}", paid.json);
    assert_eq!(paid.json["receipt"]["amount_msat"], 3_000);
    assert_eq!(paid.json["body_json"]["path"], "/added/x");
    assert_eq!(
        paid.json["body_json"]["headers"]["x-upstream-key"][0],
        "s3cret-value"
    );

    // Refusals, each with a stable code and the field.
    let (status, e) = api
        .admin(
            Method::POST,
            list,
            list,
            json!({"name": "bad", "address": "127.0.0.1:1", "auth": "maybe"}),
        )
        .await;
    assert_eq!(
        (status, e["code"].as_str(), e["field"].as_str()),
        (400, Some("invalid_service"), Some("auth")),
        "{e}"
    );
    refused(
        api.admin(Method::POST, list, list, added.clone()).await,
        409,
        "service_exists",
    );
    let fixed = json!({"name": "fixed", "address": "127.0.0.1:1"});
    refused(
        api.admin(Method::POST, list, list, fixed).await,
        409,
        "service_exists",
    );
    let big = vec![b' '; l402_producer::MAX_BODY_BYTES + 10];
    let (status, _) = api
        .call(Method::POST, list, list, Auth::Admin, Some(big))
        .await;
    assert_eq!(status, 413);
    let (status, _) = api
        .call(
            Method::POST,
            list,
            list,
            Auth::WrongAdmin,
            Some(b"{}".to_vec()),
        )
        .await;
    assert_eq!(status, 401);

    // One service; the price changed: new invoices ask the new amount.
    let (status, got) = api.service(Method::GET, "added", Value::Null).await;
    assert_eq!((status, &got["name"]), (200, &json!("added")), "{got}");
    let (status, _) = api.service(Method::GET, "fixed", Value::Null).await;
    assert_eq!(status, 200);
    let (status, changed) = api
        .service(Method::PUT, "added", json!({"price_sats": 7}))
        .await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(price_of(&format!("{base}/added/y")).await, 7);
    refused_field(
        api.service(Method::PUT, "added", json!({"timeout_secs": 0}))
            .await,
        400,
        "timeout_secs",
    );
    refused(
        api.service(Method::PUT, "fixed", json!({"price_sats": 1}))
            .await,
        409,
        "service_read_only",
    );
    for m in [Method::GET, Method::PUT, Method::DELETE] {
        let body = (m == Method::PUT).then(|| b"{}".to_vec());
        let (status, e) = api
            .call(
                m.clone(),
                one,
                "/api/admin/services/nope",
                Auth::Admin,
                body.clone(),
            )
            .await;
        assert_eq!(
            (status, e["code"].as_str()),
            (404, Some("service_not_found")),
            "{m} {e}"
        );
        let (status, _) = api
            .call(m, one, "/api/admin/services/added", Auth::WrongAdmin, body)
            .await;
        assert_eq!(status, 401);
    }

    // Deleted: no_service from then on; the file's cannot be.
    let temp = json!({"name": "temp", "pathregexp": "^/temp", "address": up.addr.to_string()});
    assert_eq!(api.admin(Method::POST, list, list, temp).await.0, 201);
    assert_eq!(price_of(&format!("{base}/temp/x")).await, 1);
    let (status, gone) = api.service(Method::DELETE, "temp", Value::Null).await;
    assert_eq!((status, &gone["deleted"]), (200, &json!("temp")));
    refused(
        status_of(&format!("{base}/temp/x")).await,
        404,
        "no_service",
    );
    refused(
        api.service(Method::DELETE, "fixed", Value::Null).await,
        409,
        "service_read_only",
    );

    // Lightning Enable's proxy mode: merchants may not reach loopback here.
    let (mid, key) = merchant(&api, "weather merchant").await;
    let le = |target: &str| {
        Some(
            json!({"name": "Premium Weather API", "targetBaseUrl": target, "defaultPriceSats": 4})
                .to_string()
                .into_bytes(),
        )
    };
    let loopback = format!("http://{}/v1", up.addr);
    refused(
        api.proxy(Auth::Key(&key), le(&loopback)).await,
        403,
        "private_upstream",
    );
    let localhost = format!("http://localhost:{}/v1", up.addr.port());
    refused(
        api.proxy(Auth::Key(&key), le(&localhost)).await,
        403,
        "private_upstream",
    );
    // An https target's host is checked the same way.
    let localhost_tls = format!("https://localhost:{}/v1", up.addr.port());
    refused(
        api.proxy(Auth::Key(&key), le(&localhost_tls)).await,
        403,
        "private_upstream",
    );
    assert_eq!(api.proxy(Auth::None, le(&loopback)).await.0, 401);
    // The operator may (the admin API's services are the operator's).
    let (status, body) = api
        .admin(
            Method::POST,
            list,
            list,
            json!({"name": "local", "pathregexp": "^/local", "address": up.addr.to_string()}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    server.stop().await;

    // Restarted (same data directory, same SQLite file), private upstreams
    // allowed: the stored services are back, the merchant's proxy sells.
    let file = write_config(
        dir.path(),
        "l402.toml",
        &format!(
            "{}\n[[services]]\nname = \"gift\"\npathregexp = \"^/gift\"\naddress = \"{}\"\nauth = \"freebie 1\"\n",
            base_config(up.addr, "[proxy]\nallow_private_upstreams = true\n"),
            up.addr
        ),
    );
    let server = start(l402(dir.path()), &["--config", &file]).await;
    let base = server.url();
    let api2 = Api::of(&server);
    assert_eq!(price_of(&format!("{base}/added/z")).await, 7);
    assert_eq!(price_of(&format!("{base}/local/z")).await, 1);
    // One free request for this network: used before merchants' proxies
    // are added, and not given again after those swaps.
    assert_eq!(status_of(&format!("{base}/gift/a")).await.0, 200);
    let (status, created) = api2.proxy(Auth::Key(&key), le(&loopback)).await;
    assert_eq!(status, 201, "{created}");
    let id = created["proxyId"].as_str().unwrap().to_owned();
    assert!(id.starts_with("premium-weather-api-"), "{id}");
    assert_eq!(created["name"], "Premium Weather API");
    assert_eq!(created["targetBaseUrl"], loopback);
    assert_eq!(created["defaultPriceSats"], 4);
    assert_eq!(created["isActive"], true);
    assert_eq!(created["proxyUrl"], format!("/l402/proxy/{id}"));
    let no_target = br#"{"name":"x","defaultPriceSats":4}"#.to_vec();
    refused_field(
        api2.proxy(Auth::Key(&key), Some(no_target)).await,
        400,
        "targetBaseUrl",
    );

    let url = format!("{base}/l402/proxy/{id}/forecast?city=nyc");
    assert_eq!(price_of(&url).await, 4);
    let paid = get_support::get_json(dir.path(), &[&url], &[]).await;
    assert_eq!(paid.code, Some(0), "{}", paid.stderr);
    assert_eq!(paid.json["status"], 200, "{}", paid.json);
    assert_eq!(paid.json["receipt"]["amount_msat"], 4_000);
    let seen = &paid.json["body_json"];
    assert_eq!(seen["path"], "/v1/forecast", "{seen}");
    assert_eq!(seen["query"], "city=nyc");
    assert_eq!(seen["headers"]["host"][0], up.addr.to_string());
    // The revenue is the merchant's.
    let mut stats = Value::Null;
    for _ in 0..50 {
        let resp = api2
            .http
            .get(format!("{base}/api/l402/stats"))
            .header("X-API-Key", &key)
            .send()
            .await
            .unwrap();
        stats = resp.json().await.unwrap();
        if stats["paidSats"] == 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(stats["merchantId"], mid, "{stats}");
    assert_eq!(stats["payments"], 1, "{stats}");
    assert_eq!(stats["paidSats"], 4, "{stats}");
    let (status, listed) = api2.admin(Method::GET, list, list, Value::Null).await;
    assert_eq!(status, 200);
    let mine = listed["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == json!(id))
        .unwrap();
    assert_eq!(mine["source"], "merchant");
    assert_eq!(mine["merchantId"], mid);

    // The bound: at most MAX_PROXIES_PER_MERCHANT proxies per merchant.
    for _ in 1..l402_producer::MAX_PROXIES_PER_MERCHANT {
        let (status, e) = api2.proxy(Auth::Key(&key), le(&loopback)).await;
        assert_eq!(status, 201, "{e}");
    }
    refused(
        api2.proxy(Auth::Key(&key), le(&loopback)).await,
        409,
        "too_many_services",
    );
    // The first proxy still sells after all those swaps, and the freebie
    // was not given anew.
    assert_eq!(price_of(&url).await, 4);
    assert_eq!(price_of(&format!("{base}/gift/b")).await, 1);
    server.stop().await;

    // Every status the document lists for these paths was exercised.
    let mut seen = api.seen.into_inner().unwrap();
    seen.extend(api2.seen.into_inner().unwrap());
    let doc = l402_producer::openapi();
    for path in l402_producer::PROXY_PATHS {
        for (method, op) in doc["paths"][path].as_object().unwrap() {
            for status in op["responses"].as_object().unwrap().keys() {
                let status: u16 = status.parse().unwrap();
                assert!(
                    seen.contains(&(path.to_owned(), method.clone(), status)),
                    "{method} {path} {status} is documented but not exercised"
                );
            }
        }
    }
}

#[tokio::test]
async fn sighup_reloads_the_files_services_and_a_bad_file_keeps_them() {
    let up = upstream().await;
    let dir = tempfile::tempdir().unwrap();
    let file = write_config(dir.path(), "l402.toml", &base_config(up.addr, ""));
    let (server, stderr) = start_capturing_stderr(l402(dir.path()), &["--config", &file]).await;
    let base = server.url();
    let pid = server.child.id().unwrap().to_string();
    let hup = || {
        let status = std::process::Command::new("kill")
            .args(["-HUP", &pid])
            .status()
            .unwrap();
        assert!(status.success());
    };
    assert_eq!(status_of(&format!("{base}/two/x")).await.0, 404);

    // A second service in the file, then SIGHUP: served without a restart.
    let two = format!(
        "{}\n[[services]]\nname = \"two\"\npathregexp = \"^/two\"\naddress = \"{}\"\nprice_sats = 6\n",
        base_config(up.addr, ""),
        up.addr
    );
    std::fs::write(&file, two).unwrap();
    hup();
    let mut status = 0;
    for _ in 0..100 {
        status = status_of(&format!("{base}/two/x")).await.0;
        if status == 402 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(status, 402);
    assert_eq!(price_of(&format!("{base}/two/x")).await, 6);

    // A file that does not load: the services in use stay.
    std::fs::write(&file, "[[services]]\nname = \"broken\"\n").unwrap();
    hup();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(price_of(&format!("{base}/two/x")).await, 6);
    assert_eq!(price_of(&format!("{base}/fixed/x")).await, 2);
    server.stop().await;
    let stderr = stderr.await.unwrap();
    assert!(
        stderr.contains("SIGHUP: services reloaded: added two"),
        "{stderr}"
    );
    assert!(
        stderr.contains("SIGHUP: configuration not reloaded, the services in use are kept")
            && stderr.contains("address"),
        "{stderr}"
    );
}

#[tokio::test]
async fn merchants_https_upstreams_are_trusted_through_the_operators_ca() {
    let tls_up = proxy_support::tls::https_upstream(&[b"h2", b"http/1.1"]).await;
    let plain = upstream().await;
    let dir = tempfile::tempdir().unwrap();
    let ca = proxy_support::tls::fixture("ca.pem");
    let extra = format!(
        "[proxy]\nallow_private_upstreams = true\nmerchant_ca_file = \"{}\"\n",
        ca.display()
    );
    let file = write_config(dir.path(), "l402.toml", &base_config(plain.addr, &extra));
    let mut cmd = l402(dir.path());
    // The test CA is no system root here, whatever the environment says.
    cmd.env("SSL_CERT_FILE", proxy_support::tls::fixture("server.pem"))
        .env("SSL_CERT_DIR", dir.path());
    let server = start(cmd, &["--config", &file]).await;
    let base = server.url();
    let api = Api::of(&server);
    let (_, key) = merchant(&api, "tls merchant").await;
    let le = |target: String| {
        let body = json!({"name": "Secure", "targetBaseUrl": target, "defaultPriceSats": 3});
        Some(body.to_string().into_bytes())
    };

    // By host name: the certificate is checked for localhost, the system
    // roots plus the operator's CA trust it; paid with l402 get.
    let target = format!("https://localhost:{}/v1", tls_up.addr.port());
    let (status, created) = api.proxy(Auth::Key(&key), le(target)).await;
    assert_eq!(status, 201, "{created}");
    let url = format!("{base}{}/data?x=1", created["proxyUrl"].as_str().unwrap());
    assert_eq!(price_of(&url).await, 3);
    let paid = get_support::get_json(dir.path(), &[&url], &[]).await;
    assert_eq!(paid.json["status"], 200, "{} {}", paid.json, paid.stderr);
    assert_eq!(paid.json["receipt"]["amount_msat"], 3_000);
    assert_eq!(paid.json["body_json"]["path"], "/v1/data", "{}", paid.json);
    assert_eq!(paid.json["body_json"]["version"], "HTTP/2.0");
    assert_eq!(tls_up.hits.load(std::sync::atomic::Ordering::SeqCst), 1);

    // The operator's own service to the same upstream, with the system's
    // roots only: refused, so the merchant CA is what trusted it above.
    let op = json!({"name": "op-tls", "pathregexp": "^/optls", "protocol": "https",
        "address": format!("localhost:{}", tls_up.addr.port()), "auth": "off"});
    let list = "/api/admin/services";
    assert_eq!(api.admin(Method::POST, list, list, op).await.0, 201);
    refused(
        status_of(&format!("{base}/optls/a")).await,
        502,
        "upstream_tls",
    );

    // A target that does not speak TLS: 502 upstream_tls, never clear text.
    let (status, created) = api
        .proxy(Auth::Key(&key), le(format!("https://{}/v1", plain.addr)))
        .await;
    assert_eq!(status, 201, "{created}");
    let url = format!("{base}{}/data", created["proxyUrl"].as_str().unwrap());
    let paid = get_support::get_json(dir.path(), &[&url], &[]).await;
    assert_eq!(paid.json["status"], 502, "{}", paid.json);
    assert_eq!(
        paid.json["body_json"]["code"], "upstream_tls",
        "{}",
        paid.json
    );
    assert_eq!(tls_up.hits.load(std::sync::atomic::Ordering::SeqCst), 1);
    server.stop().await;
}
