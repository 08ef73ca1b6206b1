//! `/dashboard` of the real `l402 serve` over real HTTP: signing in (API
//! key, admin token), the security headers and cookies, a purchase by
//! `l402 get` seen in the overview, the chart and the payments table, CSV
//! export, keys created, used, revoked and refused, CSRF refusals.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod dashboard_support;
mod get_support;

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
