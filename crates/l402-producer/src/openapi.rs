//! The OpenAPI 3.1 document of the producer API, served at
//! `GET /api/openapi.json`. A test exercises every path, method and status
//! code listed here against a real server, and checks the documented required
//! fields of each answer.

use serde_json::{Value, json};

mod account;
mod platform;
mod services;
pub use services::PROXY_PATHS;

use super::DEFAULT_MAX_PRICE_SATS;
use super::decode::MAX_BODY_BYTES;
use l402_server::idempotency::MAX_KEY_BYTES as MAX_IDEMPOTENCY_KEY_CHARS;

fn error_response(description: &str) -> Value {
    json!({
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    })
}

fn ok(description: &str, schema: &str) -> Value {
    json!({
        "description": description,
        "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}
    })
}

fn body(schema: &str, required: bool) -> Value {
    json!({
        "required": required,
        "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}
    })
}

fn merchant_id_param() -> Value {
    json!({"name": "id", "in": "path", "required": true, "schema": {"type": "integer", "minimum": 1}})
}

/// The document.
///
/// ```
/// let doc = l402_producer::openapi();
/// assert_eq!(doc["openapi"], "3.1.0");
/// assert!(doc["paths"]["/api/l402/challenges"]["post"].is_object());
/// ```
pub fn openapi() -> Value {
    let mut doc = core();
    if let (Some(all), Value::Object(more)) = (doc["paths"].as_object_mut(), services::paths()) {
        all.extend(more);
    }
    if let (Some(all), Value::Object(more)) = (
        doc["components"]["schemas"].as_object_mut(),
        services::schemas(),
    ) {
        all.extend(more);
    }
    if let (Some(paths), Value::Object(more)) = (doc["paths"].as_object_mut(), platform::paths()) {
        paths.extend(more);
    }
    if let (Some(paths), Value::Object(more)) = (doc["paths"].as_object_mut(), account::paths()) {
        paths.extend(more);
    }
    if let (Some(all), Value::Object(more)) = (
        doc["components"]["schemas"].as_object_mut(),
        account::schemas(),
    ) {
        all.extend(more);
    }
    if let (Some(schemas), Value::Object(more)) = (
        doc["components"]["schemas"].as_object_mut(),
        platform::schemas(),
    ) {
        schemas.extend(more);
    }
    doc
}

/// The document of the core routes.
fn core() -> Value {
    let bad = error_response(
        "Malformed JSON, a missing, unknown or wrong-typed field, or a value out of range; `field` names it",
    );
    let unauthorized = error_response("Missing or invalid X-API-Key");
    let forbidden = error_response("The merchant is suspended (`current_plan`)");
    let too_large = error_response(&format!("The body is larger than {MAX_BODY_BYTES} bytes"));
    let unavailable = error_response(
        "No invoice could be created, or the database is unavailable; see Retry-After",
    );
    let unavailable_store = error_response(
        "The database is unavailable (`store_unavailable`: it is read to price a token sent without amountSats); see Retry-After",
    );
    let admin_unauthorized =
        error_response("Missing or invalid admin token, or no admin token configured");
    let not_found = error_response("No such merchant or key");
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "l402 producer API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Create L402 challenges and verify tokens for many merchants. \
                Compatible with Lightning Enable's producer API (/api/l402/...) and l402kit's \
                hosted API (/api/invoice, /api/verify). Tokens are bound to merchant, resource \
                and amount, expire after the token lifetime, and are reusable until then (not \
                single-use). Both verify endpoints answer 200 for valid and invalid tokens."
        },
        "components": {
            "securitySchemes": {
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
                "admin": {"type": "http", "scheme": "bearer"}
            },
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error", "code", "message"],
                    "properties": {
                        "error": {"type": "string"},
                        "code": {"type": "string"},
                        "message": {"type": "string"},
                        "field": {"type": "string"},
                        "current_plan": {"type": "string"}
                    }
                },
                "ChallengeRequest": {
                    "type": "object",
                    "additionalProperties": false,
                    "required": ["resource", "priceSats"],
                    "properties": {
                        "resource": {"type": "string", "minLength": 1, "maxLength": 2048},
                        "priceSats": {"type": "integer", "minimum": 1, "maximum": DEFAULT_MAX_PRICE_SATS},
                        "description": {"type": "string", "maxLength": 639}
                    }
                },
                "Challenge": {
                    "type": "object",
                    "required": ["invoice", "macaroon", "paymentHash", "expiresAt", "resource", "priceSats", "mppChallenge"],
                    "properties": {
                        "invoice": {"type": "string"},
                        "macaroon": {"type": "string"},
                        "paymentHash": {"type": "string"},
                        "expiresAt": {"type": "string", "format": "date-time"},
                        "resource": {"type": "string"},
                        "priceSats": {"type": "integer"},
                        "mppChallenge": {"type": ["string", "null"]}
                    }
                },
                "VerifyRequest": {
                    "type": "object",
                    "additionalProperties": false,
                    "required": ["macaroon", "preimage"],
                    "properties": {
                        "macaroon": {"type": "string"},
                        "preimage": {"type": "string"},
                        "resource": {"type": "string", "description": "The resource the token is presented for. Without it the answer is `valid:false`, code `resource_required` (verification fails closed)."},
                        "amountSats": {"type": "integer", "minimum": 1, "description": "The price of that resource. Optional (l402-express 0.2.0 does not send it): without it the token is checked against the merchant's current price of the resource, the price of its most recent challenge for exactly that resource (a token bought before a price change is refused with the core's code, `wrong_amount`); when no challenge for it is on record (never issued here, or pruned) the answer is `valid:false`, code `amount_required`, asking for amountSats. Never \"any price\"."}
                    }
                },
                "VerifyResult": {
                    "type": "object",
                    "required": ["valid"],
                    "properties": {
                        "valid": {"type": "boolean"},
                        "error": {"type": "string"},
                        "code": {"type": "string"},
                        "resource": {"type": ["string", "null"]},
                        "merchantId": {"type": "integer"},
                        "amountSats": {"type": ["integer", "null"]},
                        "paymentHash": {"type": "string"}
                    }
                },
                "KitInvoiceRequest": {
                    "type": "object",
                    "additionalProperties": false,
                    "required": ["amountSats"],
                    "properties": {
                        "amountSats": {"type": "integer", "minimum": 1},
                        "ownerAddress": {"type": "string"}
                    }
                },
                "KitInvoice": {
                    "type": "object",
                    "required": ["paymentRequest", "paymentHash", "macaroon"],
                    "properties": {
                        "paymentRequest": {"type": "string"},
                        "paymentHash": {"type": "string"},
                        "macaroon": {"type": "string"}
                    }
                },
                "KitVerifyRequest": {
                    "type": "object",
                    "additionalProperties": false,
                    "required": ["token"],
                    "properties": {"token": {"type": "string", "description": "<macaroon>:<preimage>"}}
                },
                "KitVerifyResult": {
                    "type": "object",
                    "required": ["valid"],
                    "properties": {"valid": {"type": "boolean"}, "error": {"type": "string"}}
                },
                "Stats": {
                    "type": "object",
                    "required": ["challenges", "challengedSats", "payments", "paidSats", "verifications"],
                    "properties": {
                        "merchantId": {"type": "integer"},
                        "challenges": {"type": "integer"},
                        "challengedSats": {"type": "integer"},
                        "payments": {"type": "integer"},
                        "paidSats": {"type": "integer"},
                        "verifications": {"type": "object", "properties": {"valid": {"type": "integer"}, "invalid": {"type": "integer"}}}
                    }
                },
                "AllStats": {
                    "type": "object",
                    "required": ["totals", "byMerchant"],
                    "properties": {
                        "totals": {"$ref": "#/components/schemas/Stats"},
                        "byMerchant": {"type": "array", "items": {"$ref": "#/components/schemas/Stats"}}
                    }
                },
                "Status": {
                    "type": "object",
                    "required": ["status", "l402", "backend"],
                    "properties": {"status": {"type": "string"}, "l402": {"type": "boolean"}, "backend": {"type": "string"}}
                },
                "NewMerchant": {
                    "type": "object",
                    "additionalProperties": false,
                    "required": ["name"],
                    "properties": {"name": {"type": "string", "minLength": 1, "maxLength": 200}}
                },
                "MerchantStatus": {
                    "type": "object",
                    "additionalProperties": false,
                    "required": ["status"],
                    "properties": {"status": {"enum": ["active", "suspended"]}}
                },
                "Merchant": {
                    "type": "object",
                    "required": ["id", "name", "status", "createdAt"],
                    "properties": {
                        "id": {"type": "integer"},
                        "name": {"type": "string"},
                        "status": {"enum": ["active", "suspended"]},
                        "createdAt": {"type": "string", "format": "date-time"}
                    }
                },
                "Merchants": {
                    "type": "object",
                    "required": ["merchants"],
                    "properties": {"merchants": {"type": "array", "items": {"$ref": "#/components/schemas/Merchant"}}}
                },
                "NewKey": {
                    "type": "object",
                    "additionalProperties": false,
                    "properties": {"label": {"type": "string", "maxLength": 200}}
                },
                "ApiKey": {
                    "type": "object",
                    "required": ["id", "merchantId", "label", "createdAt", "revokedAt"],
                    "properties": {
                        "id": {"type": "string"},
                        "merchantId": {"type": "integer"},
                        "label": {"type": ["string", "null"]},
                        "createdAt": {"type": "string", "format": "date-time"},
                        "revokedAt": {"type": ["string", "null"], "format": "date-time"}
                    }
                },
                "CreatedKey": {
                    "type": "object",
                    "required": ["id", "merchantId", "key", "createdAt"],
                    "properties": {
                        "id": {"type": "string"},
                        "merchantId": {"type": "integer"},
                        "key": {"type": "string", "description": "The API key. Shown only here; only its hash is stored."},
                        "label": {"type": ["string", "null"]},
                        "createdAt": {"type": "string", "format": "date-time"}
                    }
                },
                "ApiKeys": {
                    "type": "object",
                    "required": ["keys"],
                    "properties": {"keys": {"type": "array", "items": {"$ref": "#/components/schemas/ApiKey"}}}
                }
            }
        },
        "paths": {
            "/api/l402/challenges": {"post": {
                "summary": "Create an L402 challenge (Lightning Enable compatible)",
                "security": [{"apiKey": []}],
                "parameters": [{
                    "name": "X-Idempotency-Key", "in": "header", "required": false,
                    "schema": {"type": "string", "minLength": 1, "maxLength": MAX_IDEMPOTENCY_KEY_CHARS, "pattern": "^[!-~]+$"},
                    "description": "The same key, resource and price within 60 s returns the same challenge, one invoice even for concurrent requests on several instances; without it the client address is the key. A key that is empty, longer than the limit or not visible ASCII is refused (400, code `invalid_idempotency_key`)."
                }],
                "requestBody": body("ChallengeRequest", true),
                "responses": {
                    "200": ok("The challenge (the same one for an idempotent repeat)", "Challenge"),
                    "400": bad, "401": unauthorized, "403": forbidden, "413": too_large, "503": unavailable
                }
            }},
            "/api/l402/challenges/verify": {"post": {
                "summary": "Verify an L402 token (Lightning Enable compatible); 200 whether valid or not",
                "security": [{"apiKey": []}],
                "requestBody": body("VerifyRequest", true),
                "responses": {
                    "200": ok("`valid` true, or false with `error` and `code` (`resource_required` without a resource; `amount_required` without amountSats when no challenge for the resource is on record)", "VerifyResult"),
                    "400": bad, "401": unauthorized, "403": forbidden, "413": too_large,
                    "503": unavailable_store
                }
            }},
            "/api/l402/stats": {"get": {
                "summary": "The merchant's own totals",
                "security": [{"apiKey": []}],
                "responses": {"200": ok("Totals", "Stats"), "401": unauthorized, "403": forbidden}
            }},
            "/api/l402/status": {"get": {
                "summary": "Whether the service is up (free)",
                "responses": {"200": ok("Up", "Status")}
            }},
            "/api/invoice": {"post": {
                "summary": "Create an invoice and token (l402kit compatible); rate limited per client address",
                "requestBody": body("KitInvoiceRequest", true),
                "responses": {
                    "200": ok("The invoice and macaroon", "KitInvoice"),
                    "400": error_response("`Invalid amountSats`, or another field error"),
                    "413": too_large,
                    "429": error_response("`Rate limit exceeded`; see Retry-After"),
                    "500": error_response("`no_client_address`: the server was started without connection info, so its rate limit cannot work"),
                    "503": error_response("`Lightning provider temporarily unavailable` (code `invoice_unavailable`), or `store_busy` when too many challenges wait to be recorded; see Retry-After")
                }
            }},
            "/api/verify": {"post": {
                "summary": "Verify a `<macaroon>:<preimage>` token (l402kit compatible); 200 whether valid or not",
                "requestBody": body("KitVerifyRequest", true),
                "responses": {
                    "200": ok("`valid` true, or false with `error`", "KitVerifyResult"),
                    "400": error_response("`Missing token`, or another field error"),
                    "413": too_large
                }
            }},
            "/api/admin/merchants": {
                "get": {
                    "summary": "List merchants",
                    "security": [{"admin": []}],
                    "responses": {"200": ok("Merchants", "Merchants"), "401": admin_unauthorized}
                },
                "post": {
                    "summary": "Create a merchant",
                    "security": [{"admin": []}],
                    "requestBody": body("NewMerchant", true),
                    "responses": {"201": ok("Created", "Merchant"), "400": bad, "401": admin_unauthorized}
                }
            },
            "/api/admin/merchants/{id}/status": {"post": {
                "summary": "Suspend or reactivate a merchant",
                "security": [{"admin": []}],
                "parameters": [merchant_id_param()],
                "requestBody": body("MerchantStatus", true),
                "responses": {"200": ok("Updated", "Merchant"), "400": bad, "401": admin_unauthorized, "404": not_found}
            }},
            "/api/admin/merchants/{id}/keys": {
                "get": {
                    "summary": "List a merchant's API keys (never the keys themselves)",
                    "security": [{"admin": []}],
                    "parameters": [merchant_id_param()],
                    "responses": {"200": ok("Keys", "ApiKeys"), "400": bad, "401": admin_unauthorized, "404": not_found}
                },
                "post": {
                    "summary": "Create an API key; the key is in this answer and nowhere else",
                    "security": [{"admin": []}],
                    "parameters": [merchant_id_param()],
                    "requestBody": body("NewKey", false),
                    "responses": {"201": ok("Created", "CreatedKey"), "400": bad, "401": admin_unauthorized, "404": not_found}
                }
            },
            "/api/admin/merchants/{id}/keys/{key_id}": {"delete": {
                "summary": "Revoke an API key",
                "security": [{"admin": []}],
                "parameters": [merchant_id_param(), {"name": "key_id", "in": "path", "required": true, "schema": {"type": "string"}}],
                "responses": {"200": ok("Revoked", "ApiKey"), "400": bad, "401": admin_unauthorized, "404": not_found}
            }},
            "/api/admin/stats": {"get": {
                "summary": "Totals and totals per merchant (merchant 0: this server's own sales, through the l402kit API and paid routes)",
                "security": [{"admin": []}],
                "responses": {"200": ok("Totals", "AllStats"), "401": admin_unauthorized}
            }},
            "/api/openapi.json": {"get": {
                "summary": "This document",
                "responses": {"200": {"description": "The OpenAPI document", "content": {"application/json": {}}}}
            }}
        }
    })
}
