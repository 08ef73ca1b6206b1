//! The merchant's account routes' part of the OpenAPI document: LNURL-auth
//! and sessions (`/api/lnurl-auth`, `/api/session`), webhook endpoints
//! (`/api/webhooks`, `/api/webhooks/{id}`, `/api/webhooks/test`), the
//! backends' signed payment notifications (`/api/webhooks/in/phoenixd`,
//! `/api/webhooks/in/blink`, `/api/blink-webhook`), erasure
//! (`/api/delete-data`), the admin's linking keys and the directory's
//! `POST /api/register`.

use serde_json::{Value, json};

use super::{body, error_response, merchant_id_param, ok};

/// The account routes' paths.
pub(super) fn paths() -> Value {
    let unauthorized = error_response(
        "Missing or invalid X-API-Key (or LNURL-auth session: `Authorization: Bearer l402s_…`)",
    );
    let forbidden = error_response("The merchant is suspended (`current_plan`)");
    let admin_unauthorized =
        error_response("Missing or invalid admin token, or no admin token configured");
    let bad = error_response(
        "Malformed JSON, a missing, unknown or wrong-typed field, or a value out of range; `field` names it",
    );
    let too_large = error_response(&format!(
        "The body is larger than {} bytes",
        crate::MAX_BODY_BYTES
    ));
    let keyed = json!([{"apiKey": []}]);
    let query = |name: &str, description: &str| json!({"name": name, "in": "query", "required": false, "schema": {"type": "string"}, "description": description});
    let inbound = |summary: &str, signature: Value| {
        json!({"post": {
            "summary": summary,
            "parameters": signature,
            "responses": {
                "200": ok("`{ok, known}` (`known: false`: not a challenge of this server), or `{ok, ignored}` for another event", "InboundAnswer"),
                "400": error_response("A signed body that is not a payment notification, or whose payment hash is not 64 hex digits"),
                "401": error_response("`bad_signature`: the signature is missing, wrong, or (Svix) its timestamp is more than 300 s from now"),
                "404": error_response("`not_configured`: no secret for this sender is configured"),
                "413": too_large.clone(),
                "503": error_response("The database is unavailable: the sender should retry (never a 200 that loses the event)")
            }
        }})
    };
    let header = |name: &str| json!({"name": name, "in": "header", "required": true, "schema": {"type": "string"}});
    let svix = json!([
        header("svix-id"),
        header("svix-timestamp"),
        header("svix-signature")
    ]);
    let blink = "Blink's payment notification, Svix-signed (`v1,<base64 HMAC-SHA256(key, id.timestamp.body)>`): its `initiationVia.paymentHash` is recorded as settled if it is this server's challenge";
    json!({
        "/api/webhooks/in/phoenixd": inbound(
            "phoenixd's `payment_received` webhook, `X-Phoenix-Signature: hex(HMAC-SHA256(webhook-secret, body))`: the payment is recorded as settled if it is this server's challenge",
            json!([header("x-phoenix-signature")])
        ),
        "/api/webhooks/in/blink": inbound(blink, svix.clone()),
        "/api/blink-webhook": inbound(&format!("{blink} (seed 004's path)"), svix),
        "/api/register": {"post": {
            "summary": "List an API in the directory (idempotent on url, rate limited per client network); verified once its host serves the answer's nonce at /.well-known/l402.txt and it is registered again",
            "requestBody": body("RegisterRequest", true),
            "responses": {
                "200": ok("Stored, with the nonce to serve", "Registered"),
                "400": bad.clone(),
                "409": error_response("`verification_required`: the url's listing is verified and its host does not serve the nonce of this registration"),
                "413": too_large.clone(),
                "429": error_response("Too many registrations from this client network; see Retry-After"),
                "503": error_response("The directory is full (`directory_full`), or the database is unavailable")
            }
        }},
        "/api/lnurl-auth": {"get": {
            "summary": "LUD-04 login, three ways: no parameters issues a single-use k1 and its bech32 lnurl; the wallet's callback (k1, sig, key) is accepted only for a DER ECDSA signature over the raw k1 by the compressed key; ?poll=<k1> answers the session once verified",
            "parameters": [
                query("k1", "The callback's k1 (64 hex)"),
                query("sig", "The callback's DER signature (hex)"),
                query("key", "The callback's compressed public key (66 hex)"),
                query("poll", "A k1 to poll"),
                query("tag", "`login`"),
                query("action", "`login`")
            ],
            "responses": {
                "200": ok("Issued (`LoginChallenge`), the callback's `{status: OK}`, or the poll's `{verified, token?}`", "LoginChallenge"),
                "400": ok("LUD-04's `{status: ERROR, reason}` (with `code`, `message`): a parameter missing or malformed, a bad signature, an unknown, used or expired k1", "Lud04Error"),
                "404": error_response("`unknown_k1`: polling a k1 never issued, expired or already polled"),
                "503": error_response("Too many logins pending (`too_many_pending`), or the database is unavailable")
            }
        }},
        "/api/session": {"delete": {
            "summary": "Revoke the presented session (`Authorization: Bearer l402s_…`)",
            "responses": {
                "200": ok("Revoked", "SessionRevoked"),
                "401": error_response("No session presented, or one unknown, expired or revoked")
            }
        }},
        "/api/webhooks": {
            "get": {
                "summary": "The merchant's webhook endpoints (never their secrets)",
                "security": keyed,
                "responses": {"200": ok("Endpoints", "Webhooks"), "401": unauthorized, "403": forbidden}
            },
            "post": {
                "summary": "Register an endpoint for some events (default: all); the signing secret is in this answer only",
                "security": keyed,
                "requestBody": body("WebhookRequest", true),
                "responses": {
                    "201": ok("Registered, with its secret", "WebhookCreated"),
                    "400": bad,
                    "401": unauthorized,
                    "403": forbidden,
                    "409": error_response(&format!("`too_many_endpoints`: the merchant has {} already", crate::webhooks::MAX_ENDPOINTS_PER_MERCHANT)),
                    "413": too_large
                }
            }
        },
        "/api/webhooks/{id}": {"delete": {
            "summary": "Delete one of the merchant's endpoints; its pending deliveries end `failed`",
            "security": keyed,
            "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
            "responses": {
                "200": ok("Deleted", "WebhookDeleted"),
                "401": unauthorized,
                "403": forbidden,
                "404": error_response("`not_found`: the merchant has no such endpoint")
            }
        }},
        "/api/webhooks/test": {"post": {
            "summary": "Queue a `webhook.test` event for one endpoint (`endpointId`) or each",
            "security": keyed,
            "requestBody": body("WebhookTestRequest", false),
            "responses": {
                "202": ok("Queued", "WebhookTest"),
                "400": bad,
                "401": unauthorized,
                "403": forbidden,
                "404": error_response("`not_found`: no such endpoint, or none registered")
            }
        }},
        "/api/delete-data": {"post": {
            "summary": "Erase the records of the identity that authenticated (its merchant's payments, challenges, claims, counters and webhook log; a session's key, sessions and link); l402kit's body `{lightningAddress, token}` names a session by `token` when no credential header is sent, and its address names nothing",
            "security": keyed,
            "requestBody": body("DeleteDataRequest", false),
            "responses": {
                "200": ok("What was erased", "Erased"),
                "400": error_response("Without a credential header: a body that is not `{lightningAddress?, token?}`; `field` names it"),
                "401": error_response("No credential (header or body `token`), or one that does not authenticate"),
                "403": forbidden,
                "413": too_large
            }
        }},
        "/api/admin/merchants/{id}/linking-keys": {
            "get": {
                "summary": "The LNURL-auth linking keys whose sessions act for the merchant",
                "security": [{"admin": []}],
                "parameters": [merchant_id_param()],
                "responses": {
                    "200": ok("Keys", "LinkingKeys"),
                    "400": error_response("`id` is not a merchant id"),
                    "401": admin_unauthorized,
                    "404": error_response("No such merchant")
                }
            },
            "post": {
                "summary": "Link a linking key (33-byte compressed public key, hex) to the merchant; linking it again moves it",
                "security": [{"admin": []}],
                "parameters": [merchant_id_param()],
                "requestBody": body("LinkingKeyRequest", true),
                "responses": {
                    "201": ok("Linked", "LinkedKey"),
                    "400": bad,
                    "401": admin_unauthorized,
                    "404": error_response("No such merchant")
                }
            }
        }
    })
}

/// The account routes' schemas.
pub(super) fn schemas() -> Value {
    let events = json!({"type": "array", "items": {"enum": ["payment.received", "split.paid", "pass.activated", "webhook.test"]}});
    json!({
        "RegisterRequest": {
            "type": "object",
            "additionalProperties": false,
            "required": ["url", "name", "price_sats", "lightning_address"],
            "properties": {
                "url": {"type": "string", "format": "uri"},
                "name": {"type": "string", "minLength": 2, "maxLength": 100},
                "price_sats": {"type": "integer", "minimum": 1},
                "lightning_address": {"type": "string", "maxLength": 320},
                "description": {"type": "string", "maxLength": 500},
                "category": {"enum": crate::CATEGORIES}
            }
        },
        "Registered": {
            "type": "object",
            "required": ["ok", "id", "verified", "nonce", "wellKnown"],
            "properties": {"ok": {"const": true}, "id": {"type": "string"}, "verified": {"type": "boolean"}, "nonce": {"type": "string"}, "wellKnown": {"type": "string", "format": "uri"}}
        },
        "InboundAnswer": {
            "type": "object",
            "required": ["ok"],
            "properties": {"ok": {"const": true}, "known": {"type": "boolean"}, "ignored": {"type": "boolean"}}
        },
        "LoginChallenge": {
            "type": "object",
            "required": ["k1", "lnurl", "callback", "expiresAt"],
            "properties": {
                "k1": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
                "lnurl": {"type": "string", "description": "bech32 lnurl1… of the callback"},
                "callback": {"type": "string", "format": "uri"},
                "expiresAt": {"type": "string", "format": "date-time"}
            }
        },
        "Lud04Error": {
            "type": "object",
            "required": ["status", "reason", "code", "message"],
            "properties": {"status": {"const": "ERROR"}, "reason": {"type": "string"}, "code": {"type": "string"}, "message": {"type": "string"}}
        },
        "SessionRevoked": {
            "type": "object",
            "required": ["revoked"],
            "properties": {"revoked": {"const": true}}
        },
        "WebhookRequest": {
            "type": "object",
            "additionalProperties": false,
            "required": ["url"],
            "properties": {"url": {"type": "string", "format": "uri", "maxLength": 2048}, "events": events}
        },
        "Webhooks": {
            "type": "object",
            "required": ["webhooks"],
            "properties": {"webhooks": {"type": "array", "items": {"type": "object", "required": ["id", "url", "events", "createdAt"]}}}
        },
        "WebhookCreated": {
            "type": "object",
            "required": ["id", "url", "events", "secret", "createdAt"],
            "properties": {"id": {"type": "string"}, "url": {"type": "string"}, "events": events, "secret": {"type": "string"}, "createdAt": {"type": "string"}}
        },
        "WebhookDeleted": {
            "type": "object",
            "required": ["ok", "id"],
            "properties": {"ok": {"const": true}, "id": {"type": "string"}}
        },
        "WebhookTestRequest": {
            "type": "object",
            "additionalProperties": false,
            "properties": {"endpointId": {"type": "string", "maxLength": 64}}
        },
        "WebhookTest": {
            "type": "object",
            "required": ["ok", "events"],
            "properties": {"ok": {"const": true}, "events": {"type": "array", "items": {"type": "object", "required": ["eventId", "endpointId", "queued"]}}}
        },
        "DeleteDataRequest": {
            "type": "object",
            "additionalProperties": false,
            "properties": {"lightningAddress": {"type": "string", "description": "Ignored"}, "token": {"type": "string", "description": "An LNURL-auth session token (used only without a credential header)"}}
        },
        "Erased": {
            "type": "object",
            "required": ["ok", "paymentsDeleted", "proDeleted", "challengesDeleted", "sessionsDeleted", "linkingKeysDeleted", "webhookDeliveriesDeleted"],
            "properties": {"ok": {"const": true}}
        },
        "LinkingKeyRequest": {
            "type": "object",
            "additionalProperties": false,
            "required": ["key"],
            "properties": {"key": {"type": "string", "pattern": "^0[23][0-9a-f]{64}$"}}
        },
        "LinkedKey": {
            "type": "object",
            "required": ["merchantId", "key"],
            "properties": {"merchantId": {"type": "integer"}, "key": {"type": "string"}}
        },
        "LinkingKeys": {
            "type": "object",
            "required": ["merchantId", "keys"],
            "properties": {"merchantId": {"type": "integer"}, "keys": {"type": "array"}}
        }
    })
}
