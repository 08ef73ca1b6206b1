//! The payments table: filters (route, state, date range), pages of
//! [`PAGE_ROWS`], and the same rows as CSV (at most
//! [`l402_store::MAX_PAYMENT_ROWS`]).

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode, header};
use l402_store::{MAX_PAYMENT_ROWS, PaymentFilter, PaymentState};
use serde::Deserialize;

use crate::html::{Nav, Page, escape, secure, when};
use crate::{Shared, error, nav_parts, signed_in};

/// Rows per page.
pub const PAGE_ROWS: u32 = 50;
const MAX_ROUTE_CHARS: usize = 2048;

#[derive(Deserialize, Default)]
pub(crate) struct Filters {
    route: Option<String>,
    state: Option<String>,
    from: Option<String>,
    until: Option<String>,
    page: Option<String>,
}

/// `YYYY-MM-DD` as unix seconds at 00:00 UTC.
fn parse_day(text: &str) -> Option<u64> {
    let mut parts = text.splitn(3, '-');
    let y: i64 = parts.next()?.parse().ok()?;
    let m: i64 = parts.next()?.parse().ok()?;
    let d: i64 = parts.next()?.parse().ok()?;
    if !(1970..=9999).contains(&y) || !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    // Days from civil (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from(days).ok().map(|d| d * 86_400)
}

fn bad(field: &str, message: &str) -> Response {
    let body = serde_json::json!({"error": message, "code": "invalid_field", "field": field, "message": message});
    secure((StatusCode::BAD_REQUEST, axum::Json(body)).into_response())
}

/// The store filter of the query (400 naming the field that is wrong).
fn filter(f: &Filters, limit: u32) -> Result<(PaymentFilter, u64), Response> {
    let state = PaymentState::parse(f.state.as_deref().unwrap_or(""))
        .ok_or_else(|| bad("state", "state must be all, paid, unpaid or expired"))?;
    let day = |v: &Option<String>, name: &str| -> Result<Option<u64>, Response> {
        match v.as_deref().map(str::trim) {
            None | Some("") => Ok(None),
            Some(t) => parse_day(t)
                .map(Some)
                .ok_or_else(|| bad(name, &format!("{name} must be a date, YYYY-MM-DD"))),
        }
    };
    let from = day(&f.from, "from")?;
    // `until` is inclusive in the form: the day after, excluded.
    let until = day(&f.until, "until")?.map(|d| d + 86_400);
    let page = match f.page.as_deref() {
        None | Some("") => 1,
        Some(p) => p
            .parse::<u64>()
            .ok()
            .filter(|p| (1..=1_000_000).contains(p))
            .ok_or_else(|| bad("page", "page must be a number from 1"))?,
    };
    let resource = f.route.as_deref().map(str::trim).filter(|r| !r.is_empty());
    if resource.is_some_and(|r| r.chars().count() > MAX_ROUTE_CHARS) {
        return Err(bad("route", "route is too long"));
    }
    Ok((
        PaymentFilter {
            resource: resource.map(str::to_owned),
            state,
            from,
            until,
            offset: (page - 1) * u64::from(limit),
            limit,
        },
        page,
    ))
}

fn query_string(f: &Filters, page: u64) -> String {
    let enc = |s: &str| {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect::<String>()
    };
    let mut parts = Vec::new();
    for (k, v) in [
        ("route", &f.route),
        ("state", &f.state),
        ("from", &f.from),
        ("until", &f.until),
    ] {
        if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
            parts.push(format!("{k}={}", enc(v)));
        }
    }
    if page > 1 {
        parts.push(format!("page={page}"));
    }
    parts.join("&")
}

/// `GET /dashboard/payments`.
pub(crate) async fn page(
    State(inner): State<Shared>,
    headers: HeaderMap,
    Query(f): Query<Filters>,
) -> Response {
    let (_, session) = match signed_in(&inner, &headers) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let (mut filter, page) = match filter(&f, PAGE_ROWS) {
        Ok(v) => v,
        Err(r) => return r,
    };
    filter.limit = PAGE_ROWS + 1;
    let Ok(mut rows) = inner.store.payments(session.merchant_id, &filter).await else {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "store_unavailable",
            "the database is unavailable; try again shortly",
        );
    };
    let more = rows.len() > PAGE_ROWS as usize;
    rows.truncate(PAGE_ROWS as usize);
    let v = |o: &Option<String>| escape(o.as_deref().unwrap_or(""));
    let mut body = format!(
        "<h1>Payments</h1><section><form class=\"filters\" method=\"get\" action=\"/dashboard/payments\">\
         <label>Route<input name=\"route\" id=\"f-route\" value=\"{}\" placeholder=\"/api/report\"></label>\
         <label>State<select name=\"state\" id=\"f-state\">",
        v(&f.route)
    );
    for s in ["all", "paid", "unpaid", "expired"] {
        let sel = if s == filter.state.as_str() {
            " selected"
        } else {
            ""
        };
        body.push_str(&format!("<option value=\"{s}\"{sel}>{s}</option>"));
    }
    body.push_str(&format!(
        "</select></label><label>From<input type=\"date\" name=\"from\" id=\"f-from\" value=\"{}\"></label>\
         <label>Until<input type=\"date\" name=\"until\" id=\"f-until\" value=\"{}\"></label>\
         <button type=\"submit\" id=\"f-apply\">Filter</button>\
         <a id=\"csv\" href=\"/dashboard/payments.csv?{}\">Download CSV</a></form>",
        v(&f.from),
        v(&f.until),
        escape(&query_string(&f, 1)),
    ));
    body.push_str("<table id=\"payments\"><thead><tr><th>Time (UTC)</th><th>Route</th><th>State</th><th class=\"num\">Sats</th><th>Payment hash</th></tr></thead><tbody>");
    for r in &rows {
        body.push_str(&format!(
            "<tr data-hash=\"{h}\"><td>{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"mono\">{h}</td></tr>",
            when(r.at),
            escape(r.resource.as_deref().unwrap_or("")),
            r.state.as_str(),
            r.amount_sats,
            h = escape(&r.payment_hash),
        ));
    }
    if rows.is_empty() {
        body.push_str("<tr><td colspan=\"5\">No payments match.</td></tr>");
    }
    body.push_str("</tbody></table><p class=\"pager\">");
    if page > 1 {
        body.push_str(&format!(
            "<a id=\"prev\" href=\"/dashboard/payments?{}\">← Newer</a>",
            escape(&query_string(&f, page - 1))
        ));
    }
    body.push_str(&format!("<span>Page {page}</span>"));
    if more {
        body.push_str(&format!(
            "<a id=\"next\" href=\"/dashboard/payments?{}\">Older →</a>",
            escape(&query_string(&f, page + 1))
        ));
    }
    body.push_str("</p></section>");
    let (merchant, switch) = nav_parts(&inner, &session).await;
    Page {
        title: "Payments",
        tab: "payments",
        nav: Some(Nav {
            merchant,
            csrf: &session.csrf,
            switch,
        }),
        scripts: &[],
        body,
    }
    .render(StatusCode::OK)
}

/// Rows per chunk of the CSV body.
const CSV_CHUNK_ROWS: usize = 512;

/// A CSV export under way.
struct Export {
    head: Option<String>,
    first: Option<l402_store::PaymentRow>,
    rows: tokio::sync::mpsc::Receiver<l402_store::PaymentRow>,
    reader: Option<tokio::task::JoinHandle<Result<u64, l402_store::StoreError>>>,
}

/// `GET /dashboard/payments.csv`: the filtered rows (no pages), newest
/// first, streamed as the database reads them (a bounded channel of rows,
/// sent in chunks of [`CSV_CHUNK_ROWS`] lines): memory does not grow with
/// the export, and the download starts at once.
pub(crate) async fn csv(
    State(inner): State<Shared>,
    headers: HeaderMap,
    Query(f): Query<Filters>,
) -> Response {
    let Some((_, session)) = inner.sessions.of(&headers) else {
        return error(
            StatusCode::UNAUTHORIZED,
            "not_signed_in",
            "sign in to the dashboard first",
        );
    };
    let (mut filter, _) = match filter(&f, MAX_PAYMENT_ROWS) {
        Ok(v) => v,
        Err(r) => return r,
    };
    filter.offset = 0;
    let (rows_tx, mut rows_rx) = tokio::sync::mpsc::channel(CSV_CHUNK_ROWS * 2);
    let store = inner.store.clone();
    let merchant = session.merchant_id;
    let mut reader =
        tokio::spawn(async move { store.export_payments(merchant, &filter, rows_tx).await });
    // Whether the store answers at all decides the status: the first row
    // (or the end) before the headers go out.
    let first = rows_rx.recv().await;
    let mut done = false;
    if first.is_none() {
        if !matches!((&mut reader).await, Ok(Ok(_))) {
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                "store_unavailable",
                "the database is unavailable; try again shortly",
            );
        }
        done = true;
    }
    let head = crate::csv::line(&["time", "route", "state", "amount_sats", "payment_hash"]);
    let state = Export {
        head: Some(head),
        first,
        rows: rows_rx,
        reader: (!done).then_some(reader),
    };
    let body = futures_util::stream::unfold(state, |mut e| async move {
        let mut out = e.head.take().unwrap_or_default();
        let mut n = 0;
        loop {
            let row = match e.first.take() {
                Some(r) => r,
                None if n < CSV_CHUNK_ROWS => match e.rows.recv().await {
                    Some(r) => r,
                    None => {
                        // The end: a failed read aborts the download (no
                        // final chunk) rather than passing for a short file.
                        if let Some(reader) = e.reader.take()
                            && !matches!(reader.await, Ok(Ok(_)))
                        {
                            tracing::warn!("dashboard: the CSV export's read failed midway");
                            return Some((Err(std::io::Error::other("the export failed")), e));
                        }
                        break;
                    }
                },
                None => break,
            };
            out.push_str(&crate::csv::line(&[
                &l402_server::rfc3339(row.at),
                row.resource.as_deref().unwrap_or(""),
                row.state.as_str(),
                &row.amount_sats.to_string(),
                &row.payment_hash,
            ]));
            n += 1;
        }
        if out.is_empty() {
            return None;
        }
        Some((Ok(out), e))
    });
    secure(
        (
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"payments.csv\"",
                ),
            ],
            axum::body::Body::from_stream(body),
        )
            .into_response(),
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn days_parse_as_utc_midnight() {
        assert_eq!(super::parse_day("1970-01-01"), Some(0));
        assert_eq!(super::parse_day("2026-11-30"), Some(1_795_996_800));
        assert_eq!(super::parse_day("2026-13-01"), None);
        assert_eq!(super::parse_day("x"), None);
    }
}
