//! API keys: the list, create (the new key shown once, in the answer to
//! the form, never again), revoke; through the producer's admin routes
//! (`/api/admin/merchants/{id}/keys`), which forget cached keys on revoke.

use axum::Form;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use http::{HeaderMap, Method, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::html::{csrf_field, escape, secure};
use crate::session::Session;
use crate::{Inner, Shared, call_api, checked, error, signed_in};

const MAX_LABEL_CHARS: usize = 200;

async fn admin_call(
    inner: &Inner,
    method: Method,
    uri: &str,
    body: Option<Value>,
) -> Result<(StatusCode, Value), Response> {
    let Some(token) = &inner.admin_token else {
        return Err(error(
            StatusCode::SERVICE_UNAVAILABLE,
            "admin_disabled",
            "keys are managed through the admin API, and no admin token is configured",
        ));
    };
    let auth = format!("Bearer {token}");
    call_api(inner, method, uri, &[("authorization", &auth)], body).await
}

async fn render(
    inner: &Inner,
    session: &Session,
    created: Option<&Value>,
    status: StatusCode,
) -> Response {
    let m = session.merchant_id;
    let listed = if m == 0 {
        // Merchant 0 is the server's own routes: no keys of its own.
        Ok((StatusCode::NOT_FOUND, Value::Null))
    } else {
        let uri = format!("/api/admin/merchants/{m}/keys");
        admin_call(inner, Method::GET, &uri, None).await
    };
    let keys = match listed {
        Ok((StatusCode::OK, v)) => v["keys"].as_array().cloned().unwrap_or_default(),
        Ok((StatusCode::NOT_FOUND, _)) => {
            // Merchant 0 is the server's own routes: no keys of its own.
            let body = format!(
                "<h1>API keys</h1><section><p id=\"no-keys\">Merchant {m} has no API keys: \
                 it is this server's own paid routes. Switch to a merchant to manage its keys.</p></section>"
            );
            return crate::signed_in_page(inner, session, "API keys", "keys", body, StatusCode::OK)
                .await;
        }
        Ok((status, v)) => {
            let message = v["message"].as_str().unwrap_or("cannot list keys");
            return error(status, "keys_unavailable", message);
        }
        Err(r) => return r,
    };
    let mut body = String::from("<h1>API keys</h1>");
    if let Some(c) = created {
        body.push_str(&format!(
            "<section><h2>New key</h2><p>Copy it now: it is shown once and cannot be shown again.</p>\
             <p class=\"secret mono\" id=\"new-key\">{}</p></section>",
            escape(c["key"].as_str().unwrap_or(""))
        ));
    }
    body.push_str(&format!(
        "<section><h2>Create a key</h2><form class=\"filters\" method=\"post\" action=\"/dashboard/keys\">{}\
         <label>Label<input name=\"label\" id=\"key-label\" maxlength=\"200\"></label>\
         <button type=\"submit\" id=\"key-create\">Create key</button></form></section>",
        csrf_field(&session.csrf)
    ));
    body.push_str("<section><h2>Keys</h2><table id=\"keys\"><thead><tr><th>Id</th><th>Label</th><th>Created</th><th>State</th><th></th></tr></thead><tbody>");
    for k in &keys {
        let id = k["id"]
            .as_str()
            .map_or_else(|| k["id"].to_string(), str::to_owned);
        let revoked = k["revokedAt"].as_str();
        let action = match revoked {
            Some(_) => String::new(),
            None => format!(
                "<form method=\"post\" action=\"/dashboard/keys/revoke\">{}\
                 <input type=\"hidden\" name=\"key_id\" value=\"{}\">\
                 <button class=\"quiet\" type=\"submit\">Revoke</button></form>",
                csrf_field(&session.csrf),
                escape(&id)
            ),
        };
        body.push_str(&format!(
            "<tr data-key=\"{id}\"><td class=\"mono\">{id}</td><td>{}</td><td>{}</td><td>{}</td><td>{action}</td></tr>",
            escape(k["label"].as_str().unwrap_or("")),
            escape(k["createdAt"].as_str().unwrap_or("")),
            revoked.map_or("active".to_owned(), |r| format!("revoked {}", escape(r))),
            id = escape(&id),
        ));
    }
    body.push_str("</tbody></table></section>");
    crate::signed_in_page(inner, session, "API keys", "keys", body, status).await
}

/// `GET /dashboard/keys`.
pub(crate) async fn page(State(inner): State<Shared>, headers: HeaderMap) -> Response {
    match signed_in(&inner, &headers) {
        Ok((_, session)) => render(&inner, &session, None, StatusCode::OK).await,
        Err(r) => r,
    }
}

#[derive(Deserialize)]
pub(crate) struct KeyForm {
    csrf: Option<String>,
    label: Option<String>,
    key_id: Option<String>,
}

/// `POST /dashboard/keys`: creates a key; the answer shows it once.
pub(crate) async fn create(
    State(inner): State<Shared>,
    headers: HeaderMap,
    Form(form): Form<KeyForm>,
) -> Response {
    let (_, session) = match checked(&inner, &headers, form.csrf.as_deref()) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let label = form.label.unwrap_or_default();
    let label = label.trim();
    if label.chars().count() > MAX_LABEL_CHARS {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_field",
            "label is at most 200 characters",
        );
    }
    let body = if label.is_empty() {
        json!({})
    } else {
        json!({"label": label})
    };
    let uri = format!("/api/admin/merchants/{}/keys", session.merchant_id);
    match admin_call(&inner, Method::POST, &uri, Some(body)).await {
        Ok((StatusCode::CREATED, created)) => {
            render(&inner, &session, Some(&created), StatusCode::CREATED).await
        }
        Ok((status, v)) => secure((status, axum::Json(v)).into_response()),
        Err(r) => r,
    }
}

/// `POST /dashboard/keys/revoke`.
pub(crate) async fn revoke(
    State(inner): State<Shared>,
    headers: HeaderMap,
    Form(form): Form<KeyForm>,
) -> Response {
    let (_, session) = match checked(&inner, &headers, form.csrf.as_deref()) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let key_id = form.key_id.unwrap_or_default();
    if key_id.is_empty()
        || key_id.len() > 100
        || !key_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_field",
            "key_id must be a key id",
        );
    }
    let uri = format!("/api/admin/merchants/{}/keys/{key_id}", session.merchant_id);
    match admin_call(&inner, Method::DELETE, &uri, None).await {
        Ok((StatusCode::OK, _)) => secure(Redirect::to("/dashboard/keys").into_response()),
        Ok((status, v)) => secure((status, axum::Json(v)).into_response()),
        Err(r) => r,
    }
}
