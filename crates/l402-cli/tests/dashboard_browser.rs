//! `/dashboard` in a real headless browser (Debian's chromium, driven over
//! WebDriver by fantoccini through chromium-driver) against the real
//! `l402 serve`: sign in with an API key and the admin token, a purchase by
//! `l402 get` appearing live in the recent payments (the page's script runs
//! under the CSP) and in the chart's data, the table filtered through its
//! form and its CSV fetched with the browser's session cookie, a key
//! created, used, revoked and refused, a form posted without its CSRF token
//! refused; the routes, webhooks (a secret shown once, a test event),
//! directory and danger-zone pages; screenshots of each page at desktop
//! and phone widths in
//! `target/dashboard-screenshots/`.
//!
//! Needs `chromedriver` and `chromium` (`bash scripts/chromium.sh install`);
//! without them the test is skipped, unless `L402_REQUIRE_CHROMIUM=1` (CI),
//! which makes it fail.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod dashboard_support;
mod get_support;

use std::path::PathBuf;
use std::time::Duration;

use bitcoin::secp256k1::{Message, PublicKey, Secp256k1, SecretKey};
use dashboard_support::client;
use fantoccini::{Client, ClientBuilder, Locator};
use get_support::{Serve, get_json};
use reqwest::header::COOKIE;
use serde_json::{Value, json};

/// chromedriver's port (this test's fixed range is 52700-52799).
const DRIVER_PORT: u16 = 52_731;

fn tool(var: &str, default: &str) -> Option<PathBuf> {
    let path = std::env::var_os(var).map_or_else(|| PathBuf::from(default), PathBuf::from);
    path.exists().then_some(path)
}

fn screenshots() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("dashboard-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn shoot(c: &Client, name: &str) {
    for (w, h, tag) in [(1280, 800, "desktop"), (390, 844, "phone")] {
        c.set_window_size(w, h).await.unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        let png = c.screenshot().await.unwrap();
        std::fs::write(screenshots().join(format!("{name}-{tag}.png")), png).unwrap();
    }
    c.set_window_size(1280, 800).await.unwrap();
}

async fn browser() -> Client {
    let mut caps = serde_json::Map::new();
    let chromium = tool("L402_CHROMIUM", "/usr/bin/chromium").unwrap();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": chromium,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1280,800", "--hide-scrollbars"]
        }),
    );
    ClientBuilder::rustls()
        .unwrap()
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{DRIVER_PORT}"))
        .await
        .expect("chromedriver accepts a session")
}

async fn text(c: &Client, css: &str) -> String {
    c.find(Locator::Css(css))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// Whether the element at `css` comes to contain `needle` within 10 s
/// (across a navigation: a missing or stale element is looked up again).
async fn text_eventually(c: &Client, css: &str, needle: &str) -> bool {
    for _ in 0..100 {
        if let Ok(element) = c.find(Locator::Css(css)).await
            && let Ok(text) = element.text().await
            && text.contains(needle)
        {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    false
}

async fn goto(c: &Client, base: &str, path: &str) {
    c.goto(&format!("{base}{path}")).await.unwrap();
}

async fn click(c: &Client, at: Locator<'_>) {
    c.find(at).await.unwrap().click().await.unwrap();
}

async fn type_into(c: &Client, at: Locator<'_>, keys: &str) {
    c.find(at).await.unwrap().send_keys(keys).await.unwrap();
}

async fn sign_in(c: &Client, base: &str, secret: &str) {
    goto(c, base, "/dashboard/login").await;
    type_into(c, Locator::Id("secret"), secret).await;
    click(c, Locator::Id("signin")).await;
    c.wait()
        .for_element(Locator::Id("total-payments"))
        .await
        .unwrap();
    assert_eq!(c.current_url().await.unwrap().path(), "/dashboard");
}

async fn session_cookie(c: &Client) -> String {
    let cookie = c.get_named_cookie("l402_dashboard").await.unwrap();
    assert_eq!(cookie.http_only(), Some(true));
    format!("l402_dashboard={}", cookie.value())
}

async fn admin_post(base: &str, token: &str, path: &str, body: Value) -> Value {
    let r = client()
        .post(format!("{base}{path}"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{path}");
    r.json().await.unwrap()
}

#[tokio::test]
async fn the_dashboard_in_chromium() {
    let required = std::env::var("L402_REQUIRE_CHROMIUM").is_ok_and(|v| v == "1");
    let Some(driver) = tool("L402_CHROMEDRIVER", "/usr/bin/chromedriver") else {
        assert!(
            !required,
            "L402_REQUIRE_CHROMIUM=1 but chromedriver is missing: bash scripts/chromium.sh install"
        );
        eprintln!("skipped: no chromedriver (bash scripts/chromium.sh install)");
        return;
    };
    assert!(
        tool("L402_CHROMIUM", "/usr/bin/chromium").is_some() || !required,
        "chromium is missing"
    );
    let mut chromedriver = tokio::process::Command::new(driver)
        .arg(format!("--port={DRIVER_PORT}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", DRIVER_PORT))
            .await
            .is_ok()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start(dir.path()).await;
    let demo = serve.demo_url();
    let base = demo[..demo.find("/api/").unwrap()].to_owned();
    let file = serve.info["producer"]["admin_token_file"].as_str().unwrap();
    let admin = std::fs::read_to_string(file).unwrap().trim().to_owned();
    let m = admin_post(
        &base,
        &admin,
        "/api/admin/merchants",
        json!({"name": "Weather & Co"}),
    )
    .await;
    let id = m["id"].as_i64().unwrap();
    let k = admin_post(
        &base,
        &admin,
        &format!("/api/admin/merchants/{id}/keys"),
        json!({"label": "prod"}),
    )
    .await;
    let key = k["key"].as_str().unwrap().to_owned();

    let c = browser().await;
    goto(&c, &base, "/dashboard/login").await;
    shoot(&c, "login").await;

    // The operator's overview (merchant 0: the server's own routes), open
    // while a purchase happens: the row arrives by the page's live script.
    sign_in(&c, &base, &admin).await;
    assert_eq!(text(&c, "#total-payments").await, "0");
    let paid = get_json(dir.path(), &[&demo], &[]).await;
    assert_eq!(paid.code, Some(0), "{}", paid.stderr);
    let mut live = String::new();
    for _ in 0..40 {
        live = text(&c, "#recent-body").await;
        if live.contains("/api/demo/joke") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(
        live.contains("/api/demo/joke") && live.contains("21"),
        "live update: {live}"
    );
    // The chart's data after a reload.
    goto(&c, &base, "/dashboard?range=7d").await;
    let bar = c
        .find(Locator::Css("svg.chart rect[data-sats=\"21\"]"))
        .await
        .unwrap();
    assert_eq!(
        bar.attr("data-payments").await.unwrap().as_deref(),
        Some("1")
    );
    assert_eq!(text(&c, "#total-payments").await, "1");
    shoot(&c, "overview").await;

    // The table, filtered through its form; the CSV with the session cookie.
    goto(&c, &base, "/dashboard/payments").await;
    type_into(&c, Locator::Id("f-route"), "/api/nothing").await;
    click(&c, Locator::Id("f-apply")).await;
    // `#payments` is on the page before and after: wait for the filtered
    // table (no row) rather than for the element.
    let mut emptied = false;
    for _ in 0..100 {
        let rows = c.find_all(Locator::Css("#payments tr[data-hash]")).await;
        if rows.is_ok_and(|rows| rows.is_empty()) && c.find(Locator::Id("payments")).await.is_ok() {
            emptied = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(emptied, "the filter for /api/nothing left rows");
    let route = c.find(Locator::Id("f-route")).await.unwrap();
    route.clear().await.unwrap();
    route.send_keys("/api/demo/joke").await.unwrap();
    click(&c, Locator::Css("#f-state option[value=\"paid\"]")).await;
    click(&c, Locator::Id("f-apply")).await;
    c.wait()
        .for_element(Locator::Css("#payments tr[data-hash]"))
        .await
        .unwrap();
    let rows = c
        .find_all(Locator::Css("#payments tr[data-hash]"))
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    let hash = rows[0].attr("data-hash").await.unwrap().unwrap();
    shoot(&c, "payments").await;
    let href = c
        .find(Locator::Id("csv"))
        .await
        .unwrap()
        .prop("href")
        .await
        .unwrap()
        .unwrap();
    assert!(href.contains("state=paid"), "{href}");
    let cookie = session_cookie(&c).await;
    let csv = client()
        .get(&href)
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let lines: Vec<&str> = csv.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(lines.len(), 2, "{csv}");
    assert!(
        lines[1].ends_with(&format!(",/api/demo/joke,paid,21,{hash}")),
        "{csv}"
    );

    // A form posted without its CSRF token, with the browser's session.
    let r = client()
        .post(format!("{base}/dashboard/merchant"))
        .header(COOKIE, &cookie)
        .form(&[("merchant", "1")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);

    // Sign out; the merchant signs in with its key and manages keys.
    click(&c, Locator::Css("header form button:last-child")).await;
    c.wait().for_element(Locator::Id("secret")).await.unwrap();
    sign_in(&c, &base, &key).await;
    assert_eq!(text(&c, "#total-payments").await, "0");
    goto(&c, &base, "/dashboard/keys").await;
    type_into(&c, Locator::Id("key-label"), "from the browser").await;
    click(&c, Locator::Id("key-create")).await;
    let new_key = c
        .wait()
        .for_element(Locator::Id("new-key"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(new_key.starts_with("l402k_"), "{new_key}");
    shoot(&c, "keys").await;
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
    goto(&c, &base, "/dashboard/keys").await;
    let page = c.source().await.unwrap();
    assert!(!page.contains(&new_key), "the key is shown once");
    let row = c
        .find(Locator::XPath("//tr[td[contains(., 'from the browser')]]"))
        .await
        .unwrap();
    row.find(Locator::Css("button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    // The keys page answers the form with itself: `#keys` is on the page
    // before and after, so wait for the new text, not for the element.
    assert!(
        text_eventually(&c, "#keys", "revoked").await,
        "the key row never says revoked"
    );
    assert_eq!(stats(new_key).await, 401);

    // Sign out, then in again by LNURL-auth: the page shows the QR code and
    // the lnurl; a wallet (the secp256k1 crate) signs k1; the page polls
    // and opens the merchant's dashboard.
    click(&c, Locator::Css("header form button:last-child")).await;
    c.wait()
        .for_element(Locator::Id("lnurl-link"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.wait()
        .for_element(Locator::Css("#lnurl svg"))
        .await
        .unwrap();
    shoot(&c, "lnurl").await;
    let lnurl = text(&c, "#lnurl-string").await;
    let (_, bytes) = bitcoin::bech32::decode(&lnurl).unwrap();
    let callback = String::from_utf8(bytes).unwrap();
    let k1 = callback
        .split("k1=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap()
        .to_owned();
    let secp = Secp256k1::new();
    let sk = SecretKey::from_slice(&[0x5a; 32]).unwrap();
    let digest: [u8; 32] = hex::decode(&k1).unwrap().try_into().unwrap();
    let sig = hex::encode(
        secp.sign_ecdsa(&Message::from_digest(digest), &sk)
            .serialize_der(),
    );
    let wallet = hex::encode(PublicKey::from_secret_key(&secp, &sk).serialize());
    admin_post(
        &base,
        &admin,
        &format!("/api/admin/merchants/{id}/linking-keys"),
        json!({"key": wallet}),
    )
    .await;
    let r = client()
        .get(format!("{callback}&sig={sig}&key={wallet}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    c.wait()
        .at_most(Duration::from_secs(15))
        .for_element(Locator::Id("total-payments"))
        .await
        .unwrap();
    assert_eq!(c.current_url().await.unwrap().path(), "/dashboard");
    assert!(
        c.source()
            .await
            .unwrap()
            .contains(&format!("merchant {id}"))
    );

    // The merchant's other pages, in the browser: routes and services, a
    // webhook added through the form (its secret shown once), the
    // directory, the danger zone's confirmation step.
    goto(&c, &base, "/dashboard/routes").await;
    let curl = text(
        &c,
        "section[data-offer='/api/demo/joke'] pre[data-cmd='curl']",
    )
    .await;
    assert!(
        curl.starts_with("curl -i '") && curl.ends_with("/api/demo/joke'"),
        "{curl}"
    );
    shoot(&c, "routes").await;
    goto(&c, &base, "/dashboard/webhooks").await;
    type_into(
        &c,
        Locator::Id("webhook-url"),
        "https://hooks.example.com/l402",
    )
    .await;
    click(&c, Locator::Id("webhook-add")).await;
    // Only the form's answer has it: wait for the navigation.
    c.wait()
        .for_element(Locator::Id("new-secret"))
        .await
        .unwrap();
    let secret = text(&c, "#new-secret").await;
    assert!(secret.len() >= 32, "{secret}");
    shoot(&c, "webhooks-created").await;
    click(&c, Locator::Css("td.actions button")).await;
    c.wait().for_element(Locator::Id("notice")).await.unwrap();
    goto(&c, &base, "/dashboard/webhooks").await;
    let page = c.source().await.unwrap();
    assert!(!page.contains(&secret), "the secret is not shown again");
    assert!(text(&c, "#deliveries").await.contains("webhook.test"));
    shoot(&c, "webhooks").await;
    goto(&c, &base, "/dashboard/directory").await;
    assert_eq!(text(&c, "#listings-count").await, "0");
    shoot(&c, "directory").await;
    goto(&c, &base, "/dashboard/danger").await;
    type_into(&c, Locator::Id("erase-confirm"), "not the id").await;
    click(&c, Locator::Id("erase")).await;
    c.wait()
        .for_element(Locator::Id("form-error"))
        .await
        .unwrap();
    shoot(&c, "danger").await;

    c.close().await.unwrap();
    chromedriver.kill().await.ok();
}
