//! Webhooks in, over real HTTP on SQLite and PostgreSQL: payment
//! notifications signed by Python's own `hmac` (phoenixd's
//! `X-Phoenix-Signature`, Blink's Svix headers) mark a merchant's challenge
//! paid, once, and its `payment.received` reaches the merchant's endpoint
//! (the Python receiver); forged, tampered, stale and unconfigured ones are
//! refused and change nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;
mod webhooks_support;

use std::process::Command;
use std::time::Duration;

use l402_producer::WebhookConfig;
use serde_json::{Value, json};
use support::{Server, start_custom, stores};
use webhooks_support::Receiver;

const PORT_SQLITE: u16 = 52520;
const PORT_PG: u16 = 52521;
const PHOENIXD_SECRET: &str = "phoenixd-webhook-secret";
/// base64 of "blink svix test key, 32 bytes!!".
const SVIX_SECRET: &str = "whsec_Ymxpbmsgc3ZpeCB0ZXN0IGtleSwgMzIgYnl0ZXMhIQ==";

fn python(code: &str, args: &[&str]) -> String {
    let out = Command::new("python3")
        .arg("-c")
        .arg(code)
        .args(args)
        .output()
        .expect("python3 is required for the webhook tests");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// phoenixd's signature, by Python: hex HMAC-SHA256(secret, body).
fn phoenixd_sig(secret: &str, body: &str) -> String {
    python(
        "import hmac,hashlib,sys; print(hmac.new(sys.argv[1].encode(), sys.argv[2].encode(), hashlib.sha256).hexdigest())",
        &[secret, body],
    )
}

/// Svix's signature, by Python: v1,base64(HMAC-SHA256(b64decode(secret), id.ts.body)).
fn svix_sig(secret: &str, id: &str, ts: u64, body: &str) -> String {
    python(
        "import hmac,hashlib,base64,sys; s,i,t,b=sys.argv[1:5]; \
         k=base64.b64decode(s[len('whsec_'):] if s.startswith('whsec_') else s); \
         print('v1,'+base64.b64encode(hmac.new(k,(i+'.'+t+'.'+b).encode(),hashlib.sha256).digest()).decode())",
        &[secret, id, &ts.to_string(), body],
    )
}

async fn post(s: &Server, path: &str, headers: &[(&str, String)], body: &str) -> (u16, Value) {
    let mut req = s
        .http
        .post(format!("{}{path}", s.base))
        .header("content-type", "application/json")
        .body(body.to_owned());
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    let resp = req.send().await.unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

async fn challenge(s: &Server, key: &str, resource: &str) -> String {
    let (status, c) = s
        .post(
            "/api/l402/challenges",
            Some(key),
            json!({"resource": resource, "priceSats": 7}),
        )
        .await;
    assert_eq!(status, 200, "{c}");
    c["paymentHash"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_notifications_mark_payments_once_and_forgeries_change_nothing() {
    for (i, (store, _keep)) in stores("webhooks_in").await.into_iter().enumerate() {
        let config = WebhookConfig::default()
            .allow_private_targets(true)
            .poll_interval(Duration::from_millis(50))
            .phoenixd_webhook_secret(PHOENIXD_SECRET)
            .blink_webhook_secret(SVIX_SECRET)
            .unwrap();
        let s = start_custom(store.clone(), None, move |b| b.webhooks(config)).await;
        let (_, key, _) = s.merchant("shop").await;
        let receiver = Receiver::start(if i == 0 { PORT_SQLITE } else { PORT_PG });
        let (status, created) = s
            .http
            .post(format!("{}/api/webhooks", s.base))
            .header("X-Api-Key", &key)
            .json(&json!({"url": receiver.url(), "events": ["payment.received"]}))
            .send()
            .await
            .map(|r| (r.status().as_u16(), r))
            .unwrap();
        assert_eq!(status, 201);
        let created: Value = created.json().await.unwrap();
        receiver.set_secret(created["secret"].as_str().unwrap());

        // phoenixd: a signed payment_received for the merchant's challenge.
        let h1 = challenge(&s, &key, "/phoenixd").await;
        let body =
            json!({"type": "payment_received", "amountSat": 7, "paymentHash": h1}).to_string();
        let sig = phoenixd_sig(PHOENIXD_SECRET, &body);
        let path = "/api/webhooks/in/phoenixd";
        let (status, answer) = post(&s, path, &[("X-Phoenix-Signature", sig.clone())], &body).await;
        assert_eq!((status, &answer["known"]), (200, &json!(true)), "{answer}");
        // Sent again (phoenixd retries): nothing more.
        let (status, _) = post(&s, path, &[("X-Phoenix-Signature", sig.clone())], &body).await;
        assert_eq!(status, 200);
        // Forged, tampered, missing: 401, nothing recorded.
        let h_forged = challenge(&s, &key, "/forged").await;
        let forged = json!({"type": "payment_received", "amountSat": 7, "paymentHash": h_forged})
            .to_string();
        for headers in [
            vec![(
                "X-Phoenix-Signature",
                phoenixd_sig("another secret", &forged),
            )],
            vec![("X-Phoenix-Signature", sig.clone())],
            vec![],
        ] {
            let (status, answer) = post(&s, path, &headers, &forged).await;
            assert_eq!(
                (status, answer["code"].as_str()),
                (401, Some("bad_signature")),
                "{answer}"
            );
        }
        // Not one of ours: 200, known false.
        let stranger =
            json!({"type": "payment_received", "amountSat": 7, "paymentHash": "11".repeat(32)})
                .to_string();
        let (status, answer) = post(
            &s,
            path,
            &[(
                "X-Phoenix-Signature",
                phoenixd_sig(PHOENIXD_SECRET, &stranger),
            )],
            &stranger,
        )
        .await;
        assert_eq!((status, &answer["known"]), (200, &json!(false)), "{answer}");

        // Blink (Svix).
        let h2 = challenge(&s, &key, "/blink").await;
        let body = json!({"eventType": "receive.lightning", "data": {"status": "success", "initiationVia": {"type": "Lightning", "paymentHash": h2}}}).to_string();
        let now = l402_server::unix_now();
        let headers = |id: &str, ts: u64, sig: String| {
            vec![
                ("svix-id", id.to_owned()),
                ("svix-timestamp", ts.to_string()),
                ("svix-signature", sig),
            ]
        };
        let good = svix_sig(SVIX_SECRET, "msg_1", now, &body);
        // Several signatures, space-separated: one matching is enough.
        let two = format!("v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= {good}");
        let (status, answer) =
            post(&s, "/api/blink-webhook", &headers("msg_1", now, two), &body).await;
        assert_eq!((status, &answer["known"]), (200, &json!(true)), "{answer}");
        let (status, _) = post(
            &s,
            "/api/webhooks/in/blink",
            &headers("msg_1", now, good.clone()),
            &body,
        )
        .await;
        assert_eq!(status, 200);
        let forged = json!({"data": {"initiationVia": {"paymentHash": h_forged}}}).to_string();
        for (id, ts, sig) in [
            (
                "msg_2",
                now,
                svix_sig("whsec_d3Jvbmcga2V5", "msg_2", now, &forged),
            ),
            ("msg_2", now, good.clone()),
            (
                "msg_2",
                now - 3600,
                svix_sig(SVIX_SECRET, "msg_2", now - 3600, &forged),
            ),
            ("msg_3", now, svix_sig(SVIX_SECRET, "msg_2", now, &forged)),
        ] {
            let (status, answer) =
                post(&s, "/api/webhooks/in/blink", &headers(id, ts, sig), &forged).await;
            assert_eq!(
                (status, answer["code"].as_str()),
                (401, Some("bad_signature")),
                "{answer}"
            );
        }

        // Exactly the two payments reached the merchant, once each.
        let events = receiver
            .wait_for(20, |e| {
                [&h1, &h2]
                    .iter()
                    .all(|h| e.iter().any(|e| e["data"]["paymentHash"] == h.as_str()))
            })
            .await;
        tokio::time::sleep(Duration::from_millis(800)).await;
        let events_now = receiver.events();
        assert_eq!(events_now.len(), events.len());
        assert_eq!(events_now.len(), 2, "{events_now:#?}");
        assert!(events_now.iter().all(|e| e["type"] == "payment.received"));
        // The forged one is not recorded as paid: a notification for it now
        // (genuine) is the first.
        assert_eq!(
            s.producer.payment_settled(&h_forged).await.unwrap(),
            l402_producer::Settled::Payment {
                merchant_id: 1,
                new: true
            }
        );
        assert_eq!(
            s.producer.payment_settled(&h1).await.unwrap(),
            l402_producer::Settled::Payment {
                merchant_id: 1,
                new: false
            }
        );

        // A server without the secrets does not take notifications.
        let bare = start_custom(store.clone(), None, |b| b).await;
        let (status, answer) = post(&bare, path, &[("X-Phoenix-Signature", sig)], &body).await;
        assert_eq!(
            (status, answer["code"].as_str()),
            (404, Some("not_configured")),
            "{answer}"
        );
        let (status, _) = post(
            &bare,
            "/api/blink-webhook",
            &headers("msg_1", now, good),
            &body,
        )
        .await;
        assert_eq!(status, 404);
    }
}
