#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use l402::{Challenge, PaymentHash};
use l402_server::IssuedChallenge;
use l402_server::observe::{Observer, Outcome};

use super::*;

fn issued(hash: u8, resource: &str) -> IssuedChallenge {
    IssuedChallenge {
        challenge: Challenge::new("mac".to_owned(), "lnbcrt1".to_owned()),
        amount_sats: 21,
        payment_hash: PaymentHash([hash; 32]),
        expires_at: 0,
        resource: resource.to_owned(),
    }
}

/// The value of the sample line that starts with `series` (name and labels).
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.parse().ok())
}

#[test]
fn a_route_gets_every_outcome_series_at_zero() {
    let m = Metrics::builder().build();
    m.request("/a", Outcome::Paid);
    let text = m.render();
    for outcome in Outcome::ALL {
        let series = format!(
            r#"l402_requests_total{{route="/a",outcome="{}"}}"#,
            outcome.as_str()
        );
        let want = if outcome == Outcome::Paid { 1.0 } else { 0.0 };
        assert_eq!(sample(&text, &series), Some(want), "{series}");
    }
}

#[test]
fn routes_past_the_bound_share_other() {
    let m = Metrics::builder().max_routes(3).build();
    for i in 0..1000 {
        m.request(&format!("/r{i}"), Outcome::Challenged);
    }
    assert_eq!(m.routes(), 3);
    let text = m.render();
    let series = r#"l402_requests_total{route="other",outcome="challenged"}"#;
    assert_eq!(sample(&text, series), Some(997.0));
    assert!(!text.contains("/r3\""));
}

#[test]
fn services_past_the_bound_share_other() {
    let m = Metrics::builder().max_routes(2).build();
    for i in 0..50 {
        m.rate_limited(&format!("svc{i}"));
        m.upstream(&format!("svc{i}"), Duration::from_millis(7));
    }
    let text = m.render();
    assert_eq!(
        sample(&text, r#"l402_rate_limited_total{service="other"}"#),
        Some(48.0)
    );
    assert_eq!(
        sample(
            &text,
            r#"l402_upstream_request_duration_seconds_count{service="svc1"}"#
        ),
        Some(1.0)
    );
}

#[test]
fn settlements_are_revenue_of_the_route_that_sold_them_once() {
    let m = Metrics::builder().build();
    m.challenge_issued("/paid", &issued(1, "/paid"));
    m.settled(&PaymentHash([1; 32]), 21_000);
    // Delivered again after a reconnect: not counted twice.
    m.settled(&PaymentHash([1; 32]), 21_000);
    // Nobody issued this one here.
    m.settled(&PaymentHash([2; 32]), 5_500);
    let text = m.render();
    assert_eq!(
        sample(&text, r#"l402_challenges_issued_total{route="/paid"}"#),
        Some(1.0)
    );
    assert_eq!(
        sample(&text, r#"l402_payments_settled_total{route="/paid"}"#),
        Some(1.0)
    );
    assert_eq!(
        sample(&text, r#"l402_revenue_sats_total{route="/paid"}"#),
        Some(21.0)
    );
    assert_eq!(
        sample(&text, r#"l402_revenue_sats_total{route="unattributed"}"#),
        Some(5.0)
    );
    assert_eq!(m.pending_settlements(), (0, 2));
}

#[test]
fn pending_challenges_are_bounded_oldest_forgotten() {
    let m = Metrics::builder().max_pending(4).build();
    for i in 0..=255u8 {
        m.challenge_issued("/paid", &issued(i, "/paid"));
    }
    assert_eq!(m.pending_settlements(), (4, 0));
    // The newest is still attributed, the oldest no more.
    m.settled(&PaymentHash([255; 32]), 1000);
    m.settled(&PaymentHash([0; 32]), 1000);
    for i in 1..=100u8 {
        m.settled(&PaymentHash([i; 32]), 1000);
    }
    assert_eq!(m.pending_settlements().1, 4);
    let text = m.render();
    assert_eq!(
        sample(&text, r#"l402_payments_settled_total{route="/paid"}"#),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &text,
            r#"l402_payments_settled_total{route="unattributed"}"#
        ),
        Some(101.0)
    );
}

#[test]
fn verification_invoices_and_backend() {
    let m = Metrics::builder().backend("lnd").version("9.9.9").build();
    m.verification("/a", Ok(()));
    m.verification("/a", Err("wrong_preimage"));
    m.verification("/a", Err("wrong_preimage"));
    m.invoice("lnd", Duration::from_millis(20), Ok(()));
    m.invoice("lnd", Duration::from_secs(20), Err("timeout"));
    m.backend_up("lnd", true);
    let text = m.render();
    assert_eq!(
        sample(&text, r#"l402_credentials_verified_total{result="ok"}"#),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &text,
            r#"l402_credentials_verified_total{result="wrong_preimage"}"#
        ),
        Some(2.0)
    );
    assert_eq!(
        sample(
            &text,
            r#"l402_invoice_create_duration_seconds_count{backend="lnd"}"#
        ),
        Some(2.0)
    );
    assert_eq!(
        sample(
            &text,
            r#"l402_invoice_create_duration_seconds_bucket{le="0.04",backend="lnd"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &text,
            r#"l402_invoice_create_errors_total{backend="lnd",reason="timeout"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(&text, r#"l402_backend_up{backend="lnd"}"#),
        Some(1.0)
    );
    assert_eq!(
        sample(&text, r#"l402_build_info{version="9.9.9",backend="lnd"}"#),
        Some(1.0)
    );
}

#[test]
fn both_formats() {
    let m = Metrics::builder().build();
    m.request("/a", Outcome::Free);
    let om = m.render_as(Format::OpenMetrics);
    assert!(om.ends_with("# EOF\n"));
    assert!(om.contains("# TYPE l402_requests counter\n"));
    let text = m.render();
    assert!(!text.contains("# EOF"));
    assert!(text.contains("# TYPE l402_requests_total counter\n"));
    assert!(text.contains("# HELP l402_requests_total "));
}
