//! The overview: revenue over a range as an SVG chart, the 7-day trend,
//! the success rate, revenue by route and the most recent payments, all
//! from the producer's own stats (the store's per-day rollup).

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode};
use l402_store::MerchantActivity;
use serde::Deserialize;
use serde_json::json;

use crate::chart::{Bucket, svg};
use crate::html::{Nav, Page, escape, secure};
use crate::{Shared, error, nav_parts, signed_in};

const DAY: u64 = 86_400;
const RECENT: u32 = 20;

#[derive(Deserialize)]
pub(crate) struct RangeQuery {
    range: Option<String>,
}

fn unavailable() -> Response {
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        "store_unavailable",
        "the database is unavailable; try again shortly",
    )
}

fn day_label(day: u64) -> String {
    l402_server::rfc3339(day.saturating_mul(DAY))
        .get(..10)
        .unwrap_or_default()
        .to_owned()
}

/// The first UTC day of `range` (`1d` from yesterday: its hours overlap it).
fn first_day(range: &str, today: u64) -> u64 {
    match range {
        "1d" => today.saturating_sub(1),
        "7d" => today.saturating_sub(6),
        "30d" => today.saturating_sub(29),
        "1y" => today.saturating_sub(364),
        _ => 0,
    }
}

/// The chart's bars for `range` (`1d` hourly, `7d`/`30d` daily, `1y`/`all`
/// monthly), from `a` (the rollup's days since the range's first day).
async fn buckets(
    inner: &crate::Inner,
    merchant: i64,
    range: &str,
    now: u64,
    a: &MerchantActivity,
) -> Option<Vec<Bucket>> {
    let today = now / DAY;
    if range == "1d" {
        let from = now.saturating_sub(DAY) / 3600 * 3600;
        let hours = inner.store.payments_by_hour(merchant, from).await.ok()?;
        let mut bars: Vec<Bucket> = (0..25)
            .map(|h| Bucket {
                label: l402_server::rfc3339(from + h * 3600)
                    .get(11..16)
                    .unwrap_or_default()
                    .to_owned(),
                payments: 0,
                sats: 0,
            })
            .collect();
        for (start, payments, sats) in hours {
            let i = usize::try_from(start.saturating_sub(from) / 3600)
                .unwrap_or(0)
                .min(24);
            bars[i].payments += payments;
            bars[i].sats += sats;
        }
        return Some(bars);
    }
    let days = match range {
        "7d" => 7,
        "30d" => 30,
        "1y" => 365,
        _ => today + 1,
    };
    let since = today.saturating_sub(days - 1);
    if days <= 31 {
        let mut bars: Vec<Bucket> = (since..=today)
            .map(|d| Bucket {
                label: day_label(d),
                payments: 0,
                sats: 0,
            })
            .collect();
        for d in a.by_day.iter().filter(|d| d.day >= since) {
            if let Some(b) =
                bars.get_mut(usize::try_from(d.day.saturating_sub(since)).unwrap_or(usize::MAX))
            {
                b.payments += d.payments;
                b.sats += d.sats;
            }
        }
        return Some(bars);
    }
    // Monthly: from the first month with payments (or 12 months back).
    let first = if range == "all" {
        a.by_day.first().map_or(today, |d| d.day)
    } else {
        since
    };
    let mut bars: Vec<Bucket> = Vec::new();
    for d in first..=today {
        let month = day_label(d).get(..7).unwrap_or_default().to_owned();
        if bars.last().is_none_or(|b| b.label != month) {
            bars.push(Bucket {
                label: month,
                payments: 0,
                sats: 0,
            });
        }
    }
    // Days in order, months in order: one pass.
    let mut i = 0;
    for d in a.by_day.iter().filter(|d| d.day >= first) {
        let month = day_label(d.day);
        let month = month.get(..7).unwrap_or_default();
        while bars.get(i).is_some_and(|b| b.label != month) {
            i += 1;
        }
        if let Some(b) = bars.get_mut(i) {
            b.payments += d.payments;
            b.sats += d.sats;
        }
    }
    Some(bars)
}

/// The 7-day trend as l402kit's `/api/stats` computes it.
fn trend(a: &MerchantActivity, today: u64) -> (u64, u64, u64, u64) {
    let (mut p7, mut s7, mut pp, mut sp) = (0, 0, 0, 0);
    for d in &a.by_day {
        let age = today.saturating_sub(d.day);
        if age < 7 {
            p7 += d.payments;
            s7 += d.sats;
        } else if age < 14 {
            pp += d.payments;
            sp += d.sats;
        }
    }
    (p7, s7, pp, sp)
}

/// Challenges paid over challenges issued, as a percentage (at most 100%:
/// a payment of a challenge issued before the range counts in it).
fn success_rate(paid: u64, challenges: u64) -> String {
    if challenges == 0 {
        return "—".to_owned();
    }
    format!(
        "{:.1}%",
        (paid.min(challenges) as f64 * 100.0 / challenges as f64)
    )
}

fn change(now: u64, before: u64) -> String {
    if before == 0 {
        return if now == 0 {
            "±0%".into()
        } else {
            "new".into()
        };
    }
    let pct = (i128::from(now) - i128::from(before)) * 100 / i128::from(before);
    let class = if pct >= 0 { "up" } else { "down" };
    format!("<span class=\"{class}\">{pct:+}%</span>")
}

/// `GET /dashboard?range=`.
pub(crate) async fn page(
    State(inner): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<RangeQuery>,
) -> Response {
    let (_, session) = match signed_in(&inner, &headers) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let m = session.merchant_id;
    let range = q
        .range
        .as_deref()
        .filter(|r| ["1d", "7d", "30d", "1y", "all"].contains(r))
        .unwrap_or("30d");
    let now = l402_server::unix_now();
    let today = now / DAY;
    let since = first_day(range, today);
    // Everything below reads rollups (a few rows per day), never every
    // payment: totals and days (payment_rollup), routes (route_rollup),
    // challenges (challenge_rollup); the 1-day chart counts its hours in
    // the database (one index range of payments).
    let Ok(a) = inner
        .store
        .activity(m, since.min(today.saturating_sub(13)), RECENT)
        .await
    else {
        return unavailable();
    };
    let Ok((challenges, _)) = inner.store.challenges_since(m, since).await else {
        return unavailable();
    };
    let Ok(routes) = inner.store.revenue_by_route(m, since, 20).await else {
        return unavailable();
    };
    let Some(bars) = buckets(&inner, m, range, now, &a).await else {
        return unavailable();
    };
    let (p7, s7, pp, sp) = trend(&a, today);
    let paid: u64 = a
        .by_day
        .iter()
        .filter(|d| d.day >= since)
        .map(|d| d.payments)
        .sum();
    let rate = success_rate(paid, challenges);
    let mut body = format!(
        "<h1>Overview</h1><div class=\"cards\">\
         <div class=\"card\"><span>Revenue</span><b id=\"total-sats\">{} sats</b></div>\
         <div class=\"card\"><span>Payments</span><b id=\"total-payments\">{}</b></div>\
         <div class=\"card\"><span>Last 7 days</span><b id=\"sats-7d\">{s7} sats</b>{} vs previous 7 ({sp})</div>\
         <div class=\"card\"><span>Payments, 7 days</span><b id=\"payments-7d\">{p7}</b>{} vs previous 7 ({pp})</div>\
         <div class=\"card\"><span>Success rate, {range}</span><b id=\"success-rate\">{rate}</b><span>{paid} paid of {challenges} challenges</span></div>\
         </div>",
        a.sats,
        a.payments,
        change(s7, sp),
        change(p7, pp),
    );
    body.push_str("<section><h2>Revenue</h2><p class=\"ranges\">");
    for r in ["1d", "7d", "30d", "1y", "all"] {
        let on = if r == range { " class=\"on\"" } else { "" };
        body.push_str(&format!("<a{on} href=\"/dashboard?range={r}\">{r}</a>"));
    }
    body.push_str("</p>");
    body.push_str(&svg(&bars));
    body.push_str(&format!("</section><section><h2>Revenue by route, {range}</h2><table id=\"by-route\"><thead><tr><th>Route</th><th class=\"num\">Payments</th><th class=\"num\">Sats</th></tr></thead><tbody>"));
    for r in &routes {
        body.push_str(&format!(
            "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            escape(&r.resource),
            r.payments,
            r.sats
        ));
    }
    body.push_str("</tbody></table></section><section><h2>Recent payments</h2><table><thead><tr><th>Paid</th><th>Route</th><th class=\"num\">Sats</th><th>Payment hash</th></tr></thead><tbody id=\"recent-body\">");
    for p in &a.recent {
        body.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"mono\">{}…</td></tr>",
            escape(&l402_server::rfc3339(p.verified_at)),
            escape(p.resource.as_deref().unwrap_or("")),
            p.amount_sats,
            escape(p.payment_hash.get(..16).unwrap_or(&p.payment_hash)),
        ));
    }
    body.push_str("</tbody></table></section>");
    let (merchant, switch) = nav_parts(&inner, &session).await;
    Page {
        title: "Overview",
        tab: "overview",
        nav: Some(Nav {
            merchant,
            csrf: &session.csrf,
            switch,
        }),
        scripts: &["live.js"],
        body,
    }
    .render(StatusCode::OK)
}

/// `GET /dashboard/recent.json`: the totals and the 20 newest payments, in
/// `/api/stats`'s `recent` shape.
pub(crate) async fn recent(State(inner): State<Shared>, headers: HeaderMap) -> Response {
    let Some((_, session)) = inner.sessions.of(&headers) else {
        return error(
            StatusCode::UNAUTHORIZED,
            "not_signed_in",
            "sign in to the dashboard first",
        );
    };
    let today = l402_server::unix_now() / DAY;
    let Ok(a) = inner
        .store
        .activity(session.merchant_id, today, RECENT)
        .await
    else {
        return unavailable();
    };
    let recent: Vec<_> = a.recent.iter().map(l402_producer::recent_payment).collect();
    secure(
        axum::Json(json!({
            "merchantId": session.merchant_id,
            "totalPayments": a.payments,
            "totalSats": a.sats,
            "recent": recent,
        }))
        .into_response(),
    )
}
