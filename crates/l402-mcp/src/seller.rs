//! The seller tools: `create_l402_challenge` and `verify_l402_payment`,
//! bound to one merchant by its API key, minted and verified by a producer
//! API (`l402 serve`'s, or Lightning Enable's shape): the very code that
//! answers `POST /api/l402/challenges` and `.../verify`, so a token from
//! either side is valid on the other.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

/// The longest producer answer read (over HTTP, and by in-process [`ProducerApi`]s).
pub const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// What a call to a producer API answers: the HTTP status and its JSON, or
/// why there is no answer.
pub type ProducerAnswer<'a> =
    Pin<Box<dyn Future<Output = Result<(u16, Value), String>> + Send + 'a>>;

/// A producer API reached in process: `l402 serve`'s `/mcp` hands its own
/// producer's routes (the very handlers of `POST /api/l402/challenges` and
/// `.../verify`) to [`Seller::in_process`], so nothing goes over the network
/// and nothing is minted or verified twice.
pub trait ProducerApi: Send + Sync {
    /// POSTs the JSON `body` to `path` with the merchant's `api_key` as
    /// `X-API-Key`.
    fn post<'a>(&'a self, path: &'a str, api_key: &'a str, body: &'a Value) -> ProducerAnswer<'a>;
}

enum Api {
    Http {
        http: reqwest::Client,
        base_url: String,
    },
    InProcess(Arc<dyn ProducerApi>),
}

/// A merchant's view of a producer API.
pub struct Seller {
    api: Api,
    api_key: String,
}

impl std::fmt::Debug for Seller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the API key.
        let base_url = match &self.api {
            Api::Http { base_url, .. } => base_url.as_str(),
            Api::InProcess(_) => "(in process)",
        };
        f.debug_struct("Seller")
            .field("base_url", &base_url)
            .finish_non_exhaustive()
    }
}

impl Seller {
    /// A seller calling the producer at `base_url` with the merchant's
    /// `api_key`.
    ///
    /// # Errors
    /// The HTTP client cannot be built.
    pub fn new(base_url: &str, api_key: &str) -> Result<Seller, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Seller {
            api: Api::Http {
                http,
                base_url: base_url.trim_end_matches('/').to_owned(),
            },
            api_key: api_key.to_owned(),
        })
    }

    /// A seller whose producer API is in this process (`api`), for the
    /// merchant whose key is `api_key`.
    pub fn in_process(api: Arc<dyn ProducerApi>, api_key: &str) -> Seller {
        Seller {
            api: Api::InProcess(api),
            api_key: api_key.to_owned(),
        }
    }

    async fn post(&self, path: &str, body: &Value) -> Result<(u16, Value), String> {
        let (http, base_url) = match &self.api {
            Api::Http { http, base_url } => (http, base_url),
            Api::InProcess(api) => return api.post(path, &self.api_key, body).await,
        };
        let url = format!("{base_url}{path}");
        let mut response = http
            .post(&url)
            .header("X-API-Key", &self.api_key)
            .json(body)
            .send()
            .await
            .map_err(|e| format!("the producer API at {base_url} is unreachable: {e}"))?;
        let status = response.status().as_u16();
        let mut bytes = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| format!("reading the producer's answer: {e}"))?
        {
            if bytes.len() + chunk.len() > MAX_ANSWER_BYTES {
                return Err("the producer's answer is too large".to_owned());
            }
            bytes.extend_from_slice(&chunk);
        }
        let json = serde_json::from_slice(&bytes)
            .map_err(|_| format!("the producer answered HTTP {status} without JSON"))?;
        Ok((status, json))
    }

    /// `create_l402_challenge`.
    pub async fn create(
        &self,
        resource: &str,
        price_sats: u64,
        description: Option<&str>,
    ) -> Value {
        let mut body = json!({"resource": resource, "priceSats": price_sats});
        if let Some(d) = description {
            body["description"] = json!(d);
        }
        let (status, answer) = match self.post("/api/l402/challenges", &body).await {
            Ok(a) => a,
            Err(e) => return json!({"success": false, "error": e}),
        };
        if !(200..300).contains(&status) {
            return json!({
                "success": false,
                "error": error_text(&answer, status),
                "code": answer.get("code"),
            });
        }
        let field = |name: &str| answer.get(name).cloned().unwrap_or(Value::Null);
        json!({
            "success": true,
            "challenge": {
                "invoice": field("invoice"),
                "macaroon": field("macaroon"),
                "paymentHash": field("paymentHash"),
                "expiresAt": field("expiresAt"),
            },
            "resource": resource,
            "priceSats": price_sats,
            "instructions": {
                "forPayer": "Pay the Lightning invoice, then present the L402 token: the macaroon and the hex preimage of the payment, as `L402 {macaroon}:{preimage}`.",
                "tokenFormat": "L402 {macaroon}:{preimage}",
                "verifyWith": "After receiving the L402 token from the payer, use verify_l402_payment to confirm payment before granting access.",
            },
            "message": format!("L402 challenge created for {price_sats} sats. Share the invoice with the payer."),
        })
    }

    /// `verify_l402_payment`: checked against `resource` when given, else
    /// against the resource the token itself names (its `resource=`
    /// caveat; the answer says which, so the agent can compare it with what
    /// is asked for), at the merchant's price for it.
    pub async fn verify(&self, macaroon: &str, preimage: &str, resource: Option<&str>) -> Value {
        let resource = match resource {
            Some(r) => r.to_owned(),
            None => match token_resource(macaroon) {
                Some(r) => r,
                None => {
                    return json!({
                        "success": true,
                        "valid": false,
                        "reason": "the macaroon does not parse or names no resource",
                        "message": "Payment verification failed. The token is invalid or the invoice has not been paid. Do NOT grant access.",
                    });
                }
            },
        };
        let body = json!({"macaroon": macaroon, "preimage": preimage, "resource": resource});
        let (status, answer) = match self.post("/api/l402/challenges/verify", &body).await {
            Ok(a) => a,
            Err(e) => return json!({"success": false, "error": e}),
        };
        if !(200..300).contains(&status) {
            return json!({"success": false, "error": error_text(&answer, status)});
        }
        if answer.get("valid").and_then(Value::as_bool) == Some(true) {
            json!({
                "success": true,
                "valid": true,
                "resource": answer.get("resource"),
                "amountSats": answer.get("amountSats"),
                "paymentHash": answer.get("paymentHash"),
                "message": "Payment verified. The payer has paid — you can now grant access to the resource.",
            })
        } else {
            json!({
                "success": true,
                "valid": false,
                "reason": answer.get("error").or_else(|| answer.get("message")),
                "message": "Payment verification failed. The token is invalid or the invoice has not been paid. Do NOT grant access.",
            })
        }
    }
}

/// The `resource=` caveat of a base64 macaroon.
fn token_resource(macaroon: &str) -> Option<String> {
    let macaroon: l402::Macaroon = macaroon.trim().parse().ok()?;
    macaroon.caveats().find_map(|c| {
        std::str::from_utf8(c)
            .ok()?
            .strip_prefix("resource=")
            .map(|r| r.trim().to_owned())
    })
}

fn error_text(answer: &Value, status: u16) -> String {
    let text = ["message", "error", "detail", "title"]
        .iter()
        .find_map(|k| answer.get(*k).and_then(Value::as_str))
        .unwrap_or("");
    format!("the producer answered HTTP {status}: {text}")
}
