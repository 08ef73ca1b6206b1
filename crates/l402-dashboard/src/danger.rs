//! The danger zone: erase the merchant's data, by the producer's
//! `POST /api/delete-data` (called in process as the session's merchant):
//! its payments, challenges, counters and webhook deliveries; the merchant,
//! its keys and endpoints stay. Two steps: the form asks to type the
//! merchant's id, and the POST carries the session's CSRF token.

use axum::Form;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, Method, StatusCode};
use serde::Deserialize;

use crate::html::{csrf_field, escape, secure};
use crate::session::Session;
use crate::{Inner, Shared, acting, call_api_as, checked, error, signed_in, signed_in_page};

fn form(session: &Session, message: Option<&str>) -> String {
    let m = session.merchant_id;
    let mut body = String::from("<h1>Danger zone</h1>");
    if let Some(message) = message {
        body.push_str(&format!(
            "<section><p class=\"error\" id=\"form-error\">{}</p></section>",
            escape(message)
        ));
    }
    body.push_str(&format!(
        "<section class=\"danger\"><h2>Erase my data</h2>\
         <p>Erases every payment, challenge, statistic and webhook delivery of merchant {m}, at once and for good \
         (l402kit's <code>/api/delete-data</code>, limited to the merchant signed in). \
         The merchant, its API keys and its webhook endpoints stay, so it can go on selling.</p>\
         <form class=\"filters\" method=\"post\" action=\"/dashboard/danger/erase\">{}\
         <label>Type the merchant id, {m}, to confirm<input name=\"confirm\" id=\"erase-confirm\" inputmode=\"numeric\" autocomplete=\"off\" required></label>\
         <button type=\"submit\" class=\"bad\" id=\"erase\">Erase my data</button></form></section>",
        csrf_field(&session.csrf)
    ));
    body
}

/// `GET /dashboard/danger`.
pub(crate) async fn page(State(inner): State<Shared>, headers: HeaderMap) -> Response {
    let (_, session) = match signed_in(&inner, &headers) {
        Ok(s) => s,
        Err(r) => return r,
    };
    if session.merchant_id == 0 {
        return crate::no_merchant_page(&inner, &session, "Danger zone", "danger").await;
    }
    show(&inner, &session, form(&session, None), StatusCode::OK).await
}

#[derive(Deserialize)]
pub(crate) struct EraseForm {
    csrf: Option<String>,
    confirm: Option<String>,
}

/// The danger zone page with `body`.
async fn show(inner: &Inner, session: &Session, body: String, status: StatusCode) -> Response {
    signed_in_page(inner, session, "Danger zone", "danger", body, status).await
}

async fn refuse(inner: &Inner, session: &Session, status: StatusCode, message: &str) -> Response {
    show(inner, session, form(session, Some(message)), status).await
}

/// `POST /dashboard/danger/erase`.
pub(crate) async fn erase(
    State(inner): State<Shared>,
    headers: HeaderMap,
    Form(f): Form<EraseForm>,
) -> Response {
    let (_, session) = match checked(&inner, &headers, f.csrf.as_deref()) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let typed = f.confirm.as_deref().unwrap_or("").trim();
    if typed != session.merchant_id.to_string() {
        return refuse(
            &inner,
            &session,
            StatusCode::BAD_REQUEST,
            "confirm must be the merchant id shown: nothing was erased",
        )
        .await;
    }
    let who = match acting(&inner, &session).await {
        Ok(Some(who)) => who,
        Ok(None) => {
            return error(
                StatusCode::CONFLICT,
                "no_merchant",
                "merchant 0 (this server's own routes) cannot be erased from here: switch to a merchant",
            );
        }
        Err(r) => return r,
    };
    match call_api_as(
        &inner,
        Some(&who),
        Method::POST,
        "/api/delete-data",
        &[],
        None,
    )
    .await
    {
        Ok((StatusCode::OK, v)) => {
            let n = |k: &str| v[k].as_u64().unwrap_or(0);
            let body = format!(
                "<h1>Danger zone</h1><section><p id=\"erased\">Erased: {} payments, {} challenges, {} webhook deliveries of merchant {}.</p>\
                 <p><a href=\"/dashboard\">Back to the overview</a></p></section>",
                n("paymentsDeleted"),
                n("challengesDeleted"),
                n("webhookDeliveriesDeleted"),
                session.merchant_id
            );
            show(&inner, &session, body, StatusCode::OK).await
        }
        Ok((status, v)) => secure((status, axum::Json(v)).into_response()),
        Err(r) => r,
    }
}
