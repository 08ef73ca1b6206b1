//! `[telemetry]` of the real `l402 serve`: a real OTLP/HTTP receiver
//! started here (an HTTP server decoding `ExportTraceServiceRequest`
//! protobufs with opentelemetry-proto) gets, after a purchase through a
//! proxied service with the real `l402 get`, the server spans of the 402
//! and of the paid request with OpenTelemetry's HTTP names and L402's
//! outcome, and under the paid one the proxy's client span of the upstream
//! call; no attribute carries the payment hash, the preimage or the
//! credential. W3C trace context: the upstream receives a `traceparent`
//! naming its client span, and a caller's `traceparent` is the parent of
//! the server span; without `[telemetry]`, no such header is added.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod get_support;
mod proxy_support;
mod serve_support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use prost::Message;
use proxy_support::write_serve_config;
use serve_support::{l402, start};

/// A span as received: its name, kind, ids and attributes as text.
#[derive(Debug, Clone)]
struct Received {
    name: String,
    kind: i32,
    trace_id: Vec<u8>,
    span_id: Vec<u8>,
    parent_span_id: Vec<u8>,
    attributes: HashMap<String, String>,
    service_name: Option<String>,
}

type Spans = Arc<Mutex<Vec<Received>>>;

fn text(value: Option<&opentelemetry_proto::tonic::common::v1::AnyValue>) -> String {
    match value.and_then(|v| v.value.as_ref()) {
        Some(AnyValue::StringValue(s)) => s.clone(),
        Some(AnyValue::IntValue(i)) => i.to_string(),
        Some(AnyValue::BoolValue(b)) => b.to_string(),
        Some(AnyValue::DoubleValue(d)) => d.to_string(),
        other => format!("{other:?}"),
    }
}

async fn traces(State(spans): State<Spans>, body: Bytes) -> &'static str {
    let request = ExportTraceServiceRequest::decode(body).expect("an OTLP protobuf");
    let mut out = spans.lock().unwrap();
    for resource in request.resource_spans {
        let service_name = resource.resource.as_ref().and_then(|r| {
            r.attributes
                .iter()
                .find(|kv| kv.key == "service.name")
                .map(|kv| text(kv.value.as_ref()))
        });
        for scope in resource.scope_spans {
            for span in scope.spans {
                out.push(Received {
                    name: span.name.clone(),
                    kind: span.kind,
                    trace_id: span.trace_id.clone(),
                    span_id: span.span_id.clone(),
                    parent_span_id: span.parent_span_id.clone(),
                    attributes: span
                        .attributes
                        .iter()
                        .map(|kv| (kv.key.clone(), text(kv.value.as_ref())))
                        .collect(),
                    service_name: service_name.clone(),
                });
            }
        }
    }
    ""
}

/// The OTLP/HTTP receiver: its base URL and what it received.
async fn receiver() -> (String, Spans) {
    let spans = Spans::default();
    let app = Router::new()
        .route("/v1/traces", post(traces))
        .with_state(spans.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), spans)
}

#[tokio::test]
async fn a_paid_proxied_request_is_exported_as_otlp_spans() {
    let dir = tempfile::tempdir().unwrap();
    let upstream = proxy_support::upstream().await;
    let (collector, spans) = receiver().await;
    let config = write_serve_config(
        dir.path(),
        &format!(
            r#"
[telemetry]
otlp_endpoint = "{collector}"
service_name = "shop"

[[services]]
name = "weather"
pathregexp = "^/weather/"
address = "{0}"
price_sats = 3

[[services]]
name = "open"
pathregexp = "^/open/"
address = "{0}"
auth = "off"
"#,
            upstream.addr
        ),
    );
    let server = start(l402(dir.path()), &["--config", &config]).await;
    let url = format!("{}/weather/today?city=Oslo", server.url());
    let run = get_support::get_json(dir.path(), &[&url], &[]).await;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(run.json["status"], 200, "{}", run.json);
    let hash = run.json["receipt"]["payment_hash"]
        .as_str()
        .unwrap()
        .to_owned();
    let export = get_support::run_json(dir.path(), &["token", "export", &url], &[]).await;
    let preimage = export.json["preimage"].as_str().unwrap().to_owned();
    let macaroon = export.json["token"].as_str().unwrap().to_owned();
    let upstream_saw = traceparent(&run.json["body_json"]).expect("a traceparent upstream");
    let no_state = run.json["body_json"]["headers"].get("tracestate");
    assert!(no_state.is_none(), "no empty tracestate: {}", run.json);
    // A caller's trace: kept, the server span under the caller's.
    let caller = ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7");
    let seen: serde_json::Value = reqwest::Client::new()
        .get(format!("{}/open/x", server.url()))
        .header("traceparent", format!("00-{}-{}-01", caller.0, caller.1))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let continued = traceparent(&seen).expect("a traceparent upstream");
    assert_eq!(continued.0, caller.0, "{seen}");
    assert_ne!(
        continued.1, caller.1,
        "the upstream span's id, not the caller's"
    );
    // A graceful stop exports what is still batched.
    server.stop().await;

    let spans = spans.lock().unwrap().clone();
    let server_span = |status: &str| {
        spans
            .iter()
            .find(|s| {
                s.kind == SpanKind::Server as i32
                    && s.attributes.get("url.path").map(String::as_str) == Some("/weather/today")
                    && s.attributes
                        .get("http.response.status_code")
                        .map(String::as_str)
                        == Some(status)
            })
            .unwrap_or_else(|| panic!("no server span answering {status}: {spans:#?}"))
    };
    let challenged = server_span("402");
    assert_eq!(challenged.attributes["l402.outcome"], "challenged");
    let paid = server_span("200");
    let a = &paid.attributes;
    assert_eq!(paid.name, "GET");
    assert_eq!(a["http.request.method"], "GET");
    assert_eq!(a["url.path"], "/weather/today");
    assert_eq!(a["server.address"], "127.0.0.1");
    assert_eq!(a["l402.outcome"], "paid");
    assert_eq!(a["l402.service"], "weather");
    assert_eq!(paid.service_name.as_deref(), Some("shop"));

    // Under it, the upstream call.
    let upstream_span = spans
        .iter()
        .find(|s| s.kind == SpanKind::Client as i32 && s.parent_span_id == paid.span_id)
        .unwrap_or_else(|| panic!("no client span under the paid request: {spans:#?}"));
    assert_eq!(upstream_span.trace_id, paid.trace_id);
    // The upstream was told that span: same trace, its span id.
    assert_eq!(upstream_saw.0, hex::encode(&upstream_span.trace_id));
    assert_eq!(upstream_saw.1, hex::encode(&upstream_span.span_id));
    // The caller's trace id on the server span, the caller's span its parent.
    let under_caller = spans
        .iter()
        .find(|s| s.kind == SpanKind::Server as i32 && hex::encode(&s.trace_id) == caller.0)
        .unwrap_or_else(|| panic!("no server span in the caller's trace: {spans:#?}"));
    assert_eq!(hex::encode(&under_caller.parent_span_id), caller.1);
    assert!(spans.iter().any(|s| s.kind == SpanKind::Client as i32
        && s.parent_span_id == under_caller.span_id
        && hex::encode(&s.span_id) == continued.1));
    let u = &upstream_span.attributes;
    assert_eq!(u["http.request.method"], "GET");
    assert_eq!(u["url.path"], "/weather/today");
    assert_eq!(u["server.address"], "127.0.0.1");
    assert_eq!(u["server.port"], upstream.addr.port().to_string());
    assert_eq!(u["http.response.status_code"], "200");
    assert_eq!(u["l402.service"], "weather");
    assert!(
        spans
            .iter()
            .all(|s| s.kind != SpanKind::Client as i32 || s.parent_span_id != challenged.span_id),
        "the 402 never reached the upstream"
    );

    // Nothing secret, no query string.
    for span in &spans {
        for (key, value) in &span.attributes {
            for secret in [&hash, &preimage, &macaroon] {
                assert!(!value.contains(secret.as_str()), "{key} = {value}");
            }
            assert!(!value.contains("Oslo"), "{key} = {value}");
        }
    }
}

/// The `(trace id, span id)` of the `traceparent` the echo upstream
/// received (`00-<32 hex>-<16 hex>-<flags>`), if any.
fn traceparent(echoed: &serde_json::Value) -> Option<(String, String)> {
    let value = echoed["headers"]["traceparent"][0].as_str()?;
    let parts: Vec<&str> = value.split('-').collect();
    assert_eq!(parts.len(), 4, "{value}");
    assert_eq!(parts[0], "00", "{value}");
    assert_eq!((parts[1].len(), parts[2].len()), (32, 16), "{value}");
    Some((parts[1].to_owned(), parts[2].to_owned()))
}

#[tokio::test]
async fn without_telemetry_no_trace_context_is_added() {
    let dir = tempfile::tempdir().unwrap();
    let upstream = proxy_support::upstream().await;
    let config = write_serve_config(
        dir.path(),
        &format!(
            "[[services]]\nname = \"open\"\npathregexp = \"^/open/\"\naddress = \"{}\"\nauth = \"off\"\n",
            upstream.addr
        ),
    );
    let server = start(l402(dir.path()), &["--config", &config]).await;
    let seen: serde_json::Value = reqwest::get(format!("{}/open/x", server.url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(seen["path"], "/open/x", "{seen}");
    assert!(seen["headers"].get("traceparent").is_none(), "{seen}");
    assert!(seen["headers"].get("tracestate").is_none(), "{seen}");
    server.stop().await;
}
