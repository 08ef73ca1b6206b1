//! Signing in and out: an API key (a merchant) or the admin token (the
//! operator) posted by the sign-in form, or LNURL-auth through the
//! producer's `/api/lnurl-auth`; the operator's merchant switch.

use axum::Form;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde::Deserialize;
use serde_json::json;

use crate::html::{Page, csrf_field, escape, secure};
use crate::limit::Peer;
use crate::session::{LOGIN_COOKIE, clear_cookie, cookie, random_hex, same};
use crate::{Inner, Shared, call_api, checked, error};

fn login_page(csrf: &str, message: Option<&str>, status: StatusCode) -> Response {
    let mut body = String::from("<div class=\"signin\"><section><h1>Sign in</h1>");
    if let Some(m) = message {
        body.push_str(&format!(
            "<p class=\"error\" id=\"signin-error\">{}</p>",
            escape(m)
        ));
    }
    body.push_str(&format!(
        "<form method=\"post\" action=\"/dashboard/login\">{}\
         <label>API key or admin token<input type=\"password\" name=\"secret\" id=\"secret\" \
         autocomplete=\"current-password\" required></label>\
         <button type=\"submit\" id=\"signin\">Sign in</button></form>\
         <p><a href=\"/dashboard/login/lnurl\" id=\"lnurl-link\">Sign in with a Lightning wallet (LNURL-auth)</a></p>\
         </section></div>",
        csrf_field(csrf)
    ));
    let mut response = Page {
        title: "Sign in",
        tab: "",
        nav: None,
        scripts: &[],
        body,
    }
    .render(status);
    if let Ok(v) = HeaderValue::from_str(&format!(
        "{LOGIN_COOKIE}={csrf}; HttpOnly; SameSite=Strict; Path=/dashboard; Max-Age=3600"
    )) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
}

/// `GET /dashboard/login`.
pub(crate) async fn page(State(inner): State<Shared>, headers: HeaderMap) -> Response {
    if inner.sessions.of(&headers).is_some() {
        return secure(Redirect::to("/dashboard").into_response());
    }
    match random_hex() {
        Some(csrf) => login_page(&csrf, None, StatusCode::OK),
        None => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "no_randomness",
            "no randomness",
        ),
    }
}

#[derive(Deserialize)]
pub(crate) struct LoginForm {
    secret: Option<String>,
    csrf: Option<String>,
}

fn signed_in_response(inner: &Inner, merchant_id: i64, admin: bool) -> Response {
    let Some((id, _)) = inner.sessions.start(merchant_id, admin) else {
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "no_randomness",
            "no randomness",
        );
    };
    let mut response = secure(Redirect::to("/dashboard").into_response());
    if let Ok(v) = HeaderValue::from_str(&inner.sessions.set_cookie(&id, inner.secure_cookies)) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
}

/// `POST /dashboard/login`: the form's CSRF token must match its cookie
/// (double submit), then the secret is an API key or the admin token.
pub(crate) async fn login(
    State(inner): State<Shared>,
    Peer(peer): Peer,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let expected = cookie(&headers, LOGIN_COOKIE);
    let ok = matches!((&form.csrf, expected), (Some(a), Some(b)) if same(a, b));
    if !ok {
        return error(
            StatusCode::FORBIDDEN,
            "csrf_token_invalid",
            "the sign-in form's csrf token is missing or wrong; reload the page",
        );
    }
    // Behind a trusted reverse proxy, the client it forwarded for.
    let peer = inner.producer.client_ip(&headers, peer);
    if let Err(wait) = inner.login_limit.check(peer) {
        let mut response = error(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_sign_ins",
            &format!("too many refused sign-ins from your network; try again in {wait} s"),
        );
        if let Ok(v) = HeaderValue::from_str(&wait.to_string()) {
            response.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return response;
    }
    let csrf = form.csrf.unwrap_or_default();
    let secret = form.secret.unwrap_or_default();
    let secret = secret.trim();
    let refuse = || {
        inner.login_limit.failed(peer);
        login_page(
            &csrf,
            Some("That key or token is not valid."),
            StatusCode::UNAUTHORIZED,
        )
    };
    if secret.is_empty() {
        return refuse();
    }
    if secret.starts_with(l402_store::API_KEY_PREFIX) {
        let mut h = HeaderMap::new();
        let Ok(v) = HeaderValue::from_str(secret) else {
            return refuse();
        };
        h.insert("x-api-key", v);
        return match inner.producer.authenticate(&h).await {
            Ok(who) => signed_in_response(&inner, who.merchant.id, false),
            Err(_) => refuse(),
        };
    }
    let mut h = HeaderMap::new();
    let Ok(v) = HeaderValue::from_str(&format!("Bearer {secret}")) else {
        return refuse();
    };
    h.insert(header::AUTHORIZATION, v);
    if inner.producer.check_admin(&h).is_ok() {
        return signed_in_response(&inner, 0, true);
    }
    refuse()
}

#[derive(Deserialize)]
pub(crate) struct CsrfForm {
    csrf: Option<String>,
    merchant: Option<String>,
}

/// `POST /dashboard/logout`.
pub(crate) async fn logout(
    State(inner): State<Shared>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    let (id, _) = match checked(&inner, &headers, form.csrf.as_deref()) {
        Ok(s) => s,
        Err(r) => return r,
    };
    inner.sessions.end(&id);
    let mut response = secure(Redirect::to("/dashboard/login").into_response());
    if let Ok(v) = HeaderValue::from_str(&clear_cookie()) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
}

/// `POST /dashboard/merchant`: the operator shows another merchant.
pub(crate) async fn switch(
    State(inner): State<Shared>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    let (id, session) = match checked(&inner, &headers, form.csrf.as_deref()) {
        Ok(s) => s,
        Err(r) => return r,
    };
    if !session.admin {
        return error(
            StatusCode::FORBIDDEN,
            "not_operator",
            "only the operator switches merchants",
        );
    }
    let Some(merchant) = form
        .merchant
        .as_deref()
        .and_then(|m| m.parse::<i64>().ok())
        .filter(|m| *m >= 0)
    else {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_field",
            "merchant must be a merchant id (0, 1, 2…)",
        );
    };
    inner.sessions.switch(&id, merchant);
    secure(Redirect::to("/dashboard").into_response())
}

/// `GET /dashboard/login/lnurl`: a new LNURL-auth login from the producer,
/// as a QR code and its `lnurl1…` string; the page polls until signed.
pub(crate) async fn lnurl(State(inner): State<Shared>, headers: HeaderMap) -> Response {
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("127.0.0.1");
    let (status, v) = match call_api(
        &inner,
        http::Method::GET,
        "/api/lnurl-auth",
        &[("host", host)],
        None,
    )
    .await
    {
        Ok(r) => r,
        Err(r) => return r,
    };
    let (Some(k1), Some(lnurl)) = (v["k1"].as_str(), v["lnurl"].as_str()) else {
        let message = v["message"]
            .as_str()
            .unwrap_or("LNURL-auth is not available");
        return error(status, "lnurl_unavailable", message);
    };
    let upper = lnurl.to_ascii_uppercase();
    let qr = match qrcode::QrCode::new(upper.as_bytes()) {
        Ok(code) => code
            .render::<qrcode::render::svg::Color<'_>>()
            .min_dimensions(240, 240)
            .build(),
        Err(_) => String::new(),
    };
    // The QR renderer emits an XML prolog; only the <svg> element is inlined.
    let qr = qr
        .find("<svg")
        .map_or(String::new(), |i| qr[i..].to_owned());
    let body = format!(
        "<div class=\"signin\"><section><h1>Sign in with a Lightning wallet</h1>\
         <p>Scan with a wallet that supports LNURL-auth, or paste the string into it.</p>\
         <div class=\"qr\" id=\"lnurl\" data-k1=\"{k1}\">{qr}</div>\
         <p class=\"lnurl mono\" id=\"lnurl-string\">{lnurl}</p>\
         <p id=\"lnurl-status\">Waiting for the wallet…</p>\
         <p><a href=\"/dashboard/login\">Use an API key instead</a></p></section></div>",
        k1 = escape(k1),
        lnurl = escape(lnurl),
    );
    Page {
        title: "Sign in with Lightning",
        tab: "",
        nav: None,
        scripts: &["lnurl.js"],
        body,
    }
    .render(StatusCode::OK)
}

#[derive(Deserialize)]
pub(crate) struct PollQuery {
    k1: Option<String>,
}

/// `GET /dashboard/login/lnurl/poll?k1=`: the producer's poll; once the
/// wallet signed, the LNURL session's merchant gets a dashboard session.
pub(crate) async fn poll(State(inner): State<Shared>, Query(q): Query<PollQuery>) -> Response {
    let k1 = q.k1.unwrap_or_default();
    if k1.len() != 64 || !k1.bytes().all(|b| b.is_ascii_hexdigit()) {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_field",
            "k1 must be 64 hex characters",
        );
    }
    let uri = format!("/api/lnurl-auth?poll={k1}");
    let (status, v) = match call_api(&inner, http::Method::GET, &uri, &[], None).await {
        Ok(r) => r,
        Err(r) => return r,
    };
    if status != StatusCode::OK {
        return secure((status, axum::Json(v)).into_response());
    }
    let Some(token) = v["token"].as_str() else {
        return secure(axum::Json(json!({"signedIn": false})).into_response());
    };
    let mut h = HeaderMap::new();
    let Ok(value) = HeaderValue::from_str(&format!("Bearer {token}")) else {
        return error(
            StatusCode::BAD_GATEWAY,
            "api_failed",
            "the session token is not a header",
        );
    };
    h.insert(header::AUTHORIZATION, value);
    match inner.producer.authenticate(&h).await {
        Ok(who) => {
            let mut response = signed_in_response(&inner, who.merchant.id, false);
            *response.status_mut() = StatusCode::OK;
            response.headers_mut().remove(header::LOCATION);
            let cookie = response.headers_mut().remove(header::SET_COOKIE);
            let mut json = secure(axum::Json(json!({"signedIn": true})).into_response());
            if let Some(c) = cookie {
                json.headers_mut().insert(header::SET_COOKIE, c);
            }
            json
        }
        Err(_) => error(
            StatusCode::FORBIDDEN,
            "key_not_linked",
            "this wallet's key is linked to no active merchant \
             (the admin API or l402 merchant link-key links it)",
        ),
    }
}
