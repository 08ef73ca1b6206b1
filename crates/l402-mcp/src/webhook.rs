//! The signed-webhook confirmation channel: one JSON POST per code, with
//! `l402-signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`
//! (the same header l402's producer webhooks send), so the receiver can
//! check that the code came from this server and is fresh. No redirect is
//! followed; anything but a 2xx within [`TIMEOUT`] is a failed delivery
//! (then the code is withdrawn and nothing is paid).

use std::time::Duration;

use reqwest::Url;

use crate::confirm::WebhookSecret;

/// The signature header's name.
pub const SIGNATURE_HEADER: &str = l402::webhook::SIGNATURE_HEADER;
/// How long a delivery may take.
pub const TIMEOUT: Duration = Duration::from_secs(5);

/// The signature header's value for `body` sent at `t` (unix seconds).
///
/// ```
/// use l402_mcp::confirm::WebhookSecret;
/// let v = l402_mcp::webhook::signature(&WebhookSecret::new("whsec_0123456789abcdef"), 1_700_000_000, "{}");
/// assert!(v.starts_with("t=1700000000,v1="));
/// assert_eq!(v.len(), "t=1700000000,v1=".len() + 64);
/// ```
pub fn signature(secret: &WebhookSecret, t: u64, body: &str) -> String {
    l402::webhook::signature_header(secret.expose(), t, body)
}

/// POSTs `body` (JSON) to `url`, signed.
///
/// # Errors
/// Why the delivery failed (never the secret, never the code).
pub async fn post(url: &Url, secret: &WebhookSecret, body: &str) -> Result<(), String> {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(TIMEOUT)
        .build()
        .map_err(|e| format!("webhook client: {e}"))?;
    let t = l402::time::unix_now();
    let response = http
        .post(url.clone())
        .header("content-type", "application/json")
        .header(SIGNATURE_HEADER, signature(secret, t, body))
        .body(body.to_owned())
        .send()
        .await
        .map_err(|e| format!("webhook {}: {}", redacted(url), e.without_url()))?;
    if response.status().is_success() {
        Ok(())
    } else {
        Err(format!(
            "webhook {} answered HTTP {}",
            redacted(url),
            response.status().as_u16()
        ))
    }
}

/// The URL without credentials or query (which may hold a token).
fn redacted(url: &Url) -> String {
    format!(
        "{}://{}{}",
        url.scheme(),
        url.host_str().unwrap_or(""),
        url.port().map(|p| format!(":{p}")).unwrap_or_default()
    )
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use hmac::{Hmac, Mac};
    use sha2::Sha256;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;
    use crate::confirm::{Channel, Confirmations, Redeemed};

    const SECRET: &str = "whsec_test_0123456789abcdef";

    /// A tiny HTTP receiver: answers `status` and keeps what it got
    /// (headers, body).
    async fn receiver(status: u16) -> (Url, Arc<Mutex<Vec<(String, String)>>>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap())
            .parse()
            .unwrap();
        let got = Arc::new(Mutex::new(Vec::new()));
        let kept = got.clone();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                let (head, body) = loop {
                    let n = stream.read(&mut chunk).await.unwrap();
                    buf.extend_from_slice(&chunk[..n]);
                    let text = String::from_utf8_lossy(&buf).to_string();
                    if let Some(i) = text.find("\r\n\r\n") {
                        let head = text[..i].to_ascii_lowercase();
                        let len: usize = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .map_or(0, |v| v.trim().parse().unwrap());
                        if buf.len() >= i + 4 + len {
                            break (head, text[i + 4..i + 4 + len].to_owned());
                        }
                    }
                    if n == 0 {
                        break (text, String::new());
                    }
                };
                kept.lock().unwrap().push((head, body));
                let answer = format!("HTTP/1.1 {status} X\r\ncontent-length: 0\r\n\r\n");
                stream.write_all(answer.as_bytes()).await.unwrap();
            }
        });
        (url, got)
    }

    /// Checks the signature with the hmac crate directly.
    fn verify(head: &str, body: &str) -> bool {
        let value = head
            .lines()
            .find_map(|l| l.strip_prefix("l402-signature:"))
            .unwrap()
            .trim();
        let (t, v1) = value.split_once(",v1=").unwrap();
        let t = t.strip_prefix("t=").unwrap();
        let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
        mac.update(format!("{t}.{body}").as_bytes());
        mac.verify_slice(&hex::decode(v1).unwrap()).is_ok()
    }

    #[tokio::test]
    async fn codes_arrive_signed_and_redeem() {
        let (url, got) = receiver(204).await;
        let c = Confirmations::new(
            Channel::Webhook {
                url,
                secret: WebhookSecret::new(SECRET),
            },
            Duration::from_secs(60),
        );
        c.issue(80, "pay_invoice", "lnbcrt1x").await.unwrap();
        let (head, body) = got.lock().unwrap()[0].clone();
        assert!(verify(&head, &body), "signature checks: {head}");
        // A body changed in transit does not.
        assert!(!verify(&head, &body.replace("80", "81")));
        let event: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(event["type"], "payment.confirmation_required");
        assert_eq!(event["amountSats"], 80);
        let code = event["code"].as_str().unwrap();
        assert_eq!(
            c.redeem(code, 80, "pay_invoice", "lnbcrt1x"),
            Redeemed::Valid
        );
    }

    #[tokio::test]
    async fn a_refused_delivery_withdraws_the_code() {
        let (url, got) = receiver(500).await;
        let c = Confirmations::new(
            Channel::Webhook {
                url,
                secret: WebhookSecret::new(SECRET),
            },
            Duration::from_secs(60),
        );
        let err = c.issue(80, "pay_invoice", "x").await.unwrap_err();
        assert!(err.contains("500"), "{err}");
        assert!(!err.contains(SECRET));
        let (_, body) = got.lock().unwrap()[0].clone();
        let event: serde_json::Value = serde_json::from_str(&body).unwrap();
        // The code delivered (but refused) is not pending.
        let code = event["code"].as_str().unwrap();
        assert_eq!(c.redeem(code, 80, "pay_invoice", "x"), Redeemed::Wrong);
    }
}
