//! Webhooks: the merchant's endpoints (add, remove), the recent deliveries,
//! and a test event; through the producer's merchant routes
//! (`/api/webhooks…`) called in process as the session's merchant. A new
//! endpoint's signing secret is shown once, in the answer to the form.

use axum::Form;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use http::{HeaderMap, Method, StatusCode};
use l402_producer::ActingMerchant;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::html::{csrf_field, escape, secure};
use crate::session::Session;
use crate::{
    Inner, Shared, acting, call_api_as, checked, no_merchant_page, signed_in, signed_in_page,
};

/// The delivery log's newest 20.
const DELIVERIES: &str = "/api/webhooks/deliveries?limit=20";
const MAX_URL_CHARS: usize = 2048;

/// What the page shows besides the lists: a new secret, a notice, an error.
#[derive(Default)]
struct Notice<'a> {
    created: Option<&'a Value>,
    message: Option<String>,
    error: Option<String>,
}

async fn render(
    inner: &Inner,
    session: &Session,
    who: &ActingMerchant,
    notice: Notice<'_>,
    status: StatusCode,
) -> Response {
    let get = |uri: &'static str| call_api_as(inner, Some(who), Method::GET, uri, &[], None);
    let endpoints = match get("/api/webhooks").await {
        Ok((StatusCode::OK, v)) => v["webhooks"].as_array().cloned().unwrap_or_default(),
        Ok((status, v)) => return secure((status, axum::Json(v)).into_response()),
        Err(r) => return r,
    };
    let deliveries = match get(DELIVERIES).await {
        Ok((StatusCode::OK, v)) => v["deliveries"].as_array().cloned().unwrap_or_default(),
        Ok((status, v)) => return secure((status, axum::Json(v)).into_response()),
        Err(r) => return r,
    };
    let s = |v: &Value| escape(v.as_str().unwrap_or(""));
    let mut body = String::from("<h1>Webhooks</h1>");
    if let Some(e) = &notice.error {
        body.push_str(&format!(
            "<section><p class=\"error\" id=\"form-error\">{}</p></section>",
            escape(e)
        ));
    }
    if let Some(m) = &notice.message {
        body.push_str(&format!(
            "<section><p id=\"notice\">{}</p></section>",
            escape(m)
        ));
    }
    if let Some(c) = notice.created {
        body.push_str(&format!(
            "<section><h2>New endpoint</h2><p>Its signing secret (the <code>l402-signature</code> \
             HMAC key): copy it now, it is shown once and cannot be shown again.</p>\
             <p class=\"secret mono\" id=\"new-secret\">{}</p></section>",
            s(&c["secret"])
        ));
    }
    body.push_str(&format!(
        "<section><h2>Add an endpoint</h2><form class=\"filters\" method=\"post\" action=\"/dashboard/webhooks\">{}\
         <label>URL<input name=\"url\" id=\"webhook-url\" type=\"url\" maxlength=\"2048\" required placeholder=\"https://example.com/hooks/l402\"></label>\
         <button type=\"submit\" id=\"webhook-add\">Add endpoint</button></form>\
         <p class=\"hint\">Events are signed (<code>l402-signature: t=…,v1=…</code>), retried with backoff, and carry the payment hash, never the preimage.</p></section>",
        csrf_field(&session.csrf)
    ));
    body.push_str("<section><h2>Endpoints</h2><table id=\"webhooks\"><thead><tr><th>Id</th><th>URL</th><th>Events</th><th>Created</th><th></th></tr></thead><tbody>");
    for e in &endpoints {
        let id = s(&e["id"]);
        let events: Vec<&str> = e["events"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        body.push_str(&format!(
            "<tr data-endpoint=\"{id}\"><td class=\"mono\">{id}</td><td class=\"wrap\">{}</td><td>{}</td><td>{}</td><td class=\"actions\">\
             <form method=\"post\" action=\"/dashboard/webhooks/test\">{csrf}<input type=\"hidden\" name=\"endpoint_id\" value=\"{id}\"><button class=\"quiet\" type=\"submit\">Send test</button></form>\
             <form method=\"post\" action=\"/dashboard/webhooks/remove\">{csrf}<input type=\"hidden\" name=\"endpoint_id\" value=\"{id}\"><button class=\"quiet\" type=\"submit\">Remove</button></form></td></tr>",
            s(&e["url"]),
            escape(&events.join(", ")),
            s(&e["createdAt"]),
            csrf = csrf_field(&session.csrf),
        ));
    }
    if endpoints.is_empty() {
        body.push_str("<tr><td colspan=\"5\">No endpoints yet.</td></tr>");
    }
    body.push_str("</tbody></table></section>");
    body.push_str("<section><h2>Recent deliveries</h2><table id=\"deliveries\"><thead><tr><th>Created</th><th>Type</th><th>Endpoint</th><th>State</th><th class=\"num\">Attempts</th><th>Last answer</th></tr></thead><tbody>");
    for d in &deliveries {
        let last = match (d["lastStatus"].as_u64(), d["lastError"].as_str()) {
            (Some(code), _) => code.to_string(),
            (None, Some(e)) => e.to_owned(),
            (None, None) => String::new(),
        };
        body.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td class=\"mono\">{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"wrap\">{}</td></tr>",
            s(&d["createdAt"]),
            s(&d["type"]),
            s(&d["endpointId"]),
            s(&d["state"]),
            d["attempts"].as_u64().unwrap_or(0),
            escape(&last),
        ));
    }
    if deliveries.is_empty() {
        body.push_str("<tr><td colspan=\"6\">No deliveries yet.</td></tr>");
    }
    body.push_str("</tbody></table></section>");
    signed_in_page(inner, session, "Webhooks", "webhooks", body, status).await
}

/// `GET /dashboard/webhooks`.
pub(crate) async fn page(State(inner): State<Shared>, headers: HeaderMap) -> Response {
    let (_, session) = match signed_in(&inner, &headers) {
        Ok(s) => s,
        Err(r) => return r,
    };
    match acting(&inner, &session).await {
        Ok(Some(who)) => render(&inner, &session, &who, Notice::default(), StatusCode::OK).await,
        Ok(None) => no_merchant_page(&inner, &session, "Webhooks", "webhooks").await,
        Err(r) => r,
    }
}

#[derive(Deserialize)]
pub(crate) struct WebhookForm {
    csrf: Option<String>,
    url: Option<String>,
    endpoint_id: Option<String>,
}

/// The session (CSRF checked) and the merchant it acts for.
async fn checked_merchant(
    inner: &Inner,
    headers: &HeaderMap,
    csrf: Option<&str>,
) -> Result<(Session, ActingMerchant), Response> {
    let (_, session) = checked(inner, headers, csrf)?;
    match acting(inner, &session).await? {
        Some(who) => Ok((session, who)),
        None => Err(crate::error(
            StatusCode::CONFLICT,
            "no_merchant",
            "merchant 0 (this server's own routes) has no webhooks: switch to a merchant",
        )),
    }
}

/// A form about one endpoint: its session (CSRF checked), merchant and
/// endpoint id.
async fn endpoint_form(
    inner: &Inner,
    headers: &HeaderMap,
    form: &WebhookForm,
) -> Result<(Session, ActingMerchant, String), Response> {
    let (session, who) = checked_merchant(inner, headers, form.csrf.as_deref()).await?;
    let id = endpoint_id(form)?.to_owned();
    Ok((session, who, id))
}

fn endpoint_id(form: &WebhookForm) -> Result<&str, Response> {
    let id = form.endpoint_id.as_deref().unwrap_or("");
    if id.is_empty()
        || id.len() > 64
        || !id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(crate::error(
            StatusCode::BAD_REQUEST,
            "invalid_field",
            "endpoint_id must be a webhook endpoint id (we_…)",
        ));
    }
    Ok(id)
}

/// `POST /dashboard/webhooks`: adds an endpoint; the answer shows its secret once.
pub(crate) async fn create(
    State(inner): State<Shared>,
    headers: HeaderMap,
    Form(form): Form<WebhookForm>,
) -> Response {
    let (session, who) = match checked_merchant(&inner, &headers, form.csrf.as_deref()).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let url = form.url.as_deref().unwrap_or("").trim();
    if url.is_empty() || url.chars().count() > MAX_URL_CHARS {
        return crate::error(
            StatusCode::BAD_REQUEST,
            "invalid_field",
            "url must be an https URL of at most 2048 characters",
        );
    }
    let answer = call_api_as(
        &inner,
        Some(&who),
        Method::POST,
        "/api/webhooks",
        &[],
        Some(json!({"url": url})),
    )
    .await;
    match answer {
        Ok((StatusCode::CREATED, created)) => {
            let notice = Notice {
                created: Some(&created),
                ..Notice::default()
            };
            render(&inner, &session, &who, notice, StatusCode::CREATED).await
        }
        Ok((status, v)) => {
            let notice = Notice {
                error: Some(api_message(&v)),
                ..Notice::default()
            };
            render(&inner, &session, &who, notice, status).await
        }
        Err(r) => r,
    }
}

fn api_message(v: &Value) -> String {
    format!(
        "{} ({})",
        v["message"].as_str().unwrap_or("the request was refused"),
        v["code"].as_str().unwrap_or("error")
    )
}

/// `POST /dashboard/webhooks/remove`.
pub(crate) async fn remove(
    State(inner): State<Shared>,
    headers: HeaderMap,
    Form(form): Form<WebhookForm>,
) -> Response {
    let (_, who, id) = match endpoint_form(&inner, &headers, &form).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let uri = format!("/api/webhooks/{id}");
    match call_api_as(&inner, Some(&who), Method::DELETE, &uri, &[], None).await {
        Ok((StatusCode::OK, _)) => secure(Redirect::to("/dashboard/webhooks").into_response()),
        Ok((status, v)) => secure((status, axum::Json(v)).into_response()),
        Err(r) => r,
    }
}

/// `POST /dashboard/webhooks/test`: queues a `webhook.test` event for one endpoint.
pub(crate) async fn test(
    State(inner): State<Shared>,
    headers: HeaderMap,
    Form(form): Form<WebhookForm>,
) -> Response {
    let (session, who, id) = match endpoint_form(&inner, &headers, &form).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let body = json!({"endpointId": id});
    let answer = call_api_as(
        &inner,
        Some(&who),
        Method::POST,
        "/api/webhooks/test",
        &[],
        Some(body),
    )
    .await;
    let notice = match answer {
        Ok((StatusCode::ACCEPTED, v)) => Notice {
            message: Some(format!(
                "Test event {} queued for {id}: its delivery appears below.",
                v["events"][0]["eventId"].as_str().unwrap_or("")
            )),
            ..Notice::default()
        },
        Ok((status, v)) => {
            let notice = Notice {
                error: Some(api_message(&v)),
                ..Notice::default()
            };
            return render(&inner, &session, &who, notice, status).await;
        }
        Err(r) => return r,
    };
    render(&inner, &session, &who, notice, StatusCode::ACCEPTED).await
}
