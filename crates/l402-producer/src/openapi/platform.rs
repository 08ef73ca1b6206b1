//! The platform routes' part of the OpenAPI document: l402kit's stats, the
//! directory's list, Lightning Addresses, owner addresses, payouts and
//! passes.

use serde_json::{Value, json};

use super::{body, error_response, merchant_id_param, ok};

/// The platform routes documented so far (l402kit's stats, the directory's
/// list, payouts, pass checks).
pub(super) fn paths() -> Value {
    let unauthorized = error_response("Missing or invalid X-API-Key");
    let forbidden = error_response("The merchant is suspended (`current_plan`)");
    let admin_unauthorized =
        error_response("Missing or invalid admin token, or no admin token configured");
    let bad = error_response(
        "Malformed JSON, a missing, unknown or wrong-typed field, or a value out of range; `field` names it",
    );
    let not_found = error_response("No such merchant");
    json!({
        "/api/stats": {"get": {
            "summary": "The merchant's payments (l402kit's dashboard stats): totals, by owner address, by day (30 days), 7-day trend, the most recent",
            "security": [{"apiKey": []}],
            "responses": {"200": ok("Stats", "KitStats"), "401": unauthorized, "403": forbidden}
        }},
        "/api/global-stats": {"get": {
            "summary": "Public totals of every merchant's payments (cacheable for a minute)",
            "responses": {"200": ok("Totals", "GlobalStats")}
        }},
        "/api/apis.json": {"get": {
            "summary": "The API directory's listings, newest first",
            "parameters": [{"name": "category", "in": "query", "required": false, "schema": {"type": "string", "enum": crate::CATEGORIES}}],
            "responses": {
                "200": ok("Listings", "Directory"),
                "400": error_response("An unknown category (`invalid_field`) or query parameter (`unknown_parameter`)")
            }
        }},
        "/api/admin/payouts": {"get": {
            "summary": "The most recent split payouts and their states (pending, paying, paid, failed)",
            "security": [{"admin": []}],
            "responses": {"200": ok("Payouts", "Payouts"), "401": admin_unauthorized}
        }},
        "/api/admin/merchants/{id}/owner-address": {"post": {
            "summary": "Set (or clear, with null) the Lightning Address that receives the merchant's splits",
            "security": [{"admin": []}],
            "parameters": [merchant_id_param()],
            "requestBody": body("OwnerAddressRequest", true),
            "responses": {"200": ok("Set", "OwnerAddress"), "400": bad, "401": admin_unauthorized, "404": not_found}
        }},
        "/api/admin/merchants/{id}/lightning-address": {"post": {
            "summary": "Give a merchant a Lightning Address: username@<this host>",
            "security": [{"admin": []}],
            "parameters": [merchant_id_param()],
            "requestBody": body("LightningAddressRequest", true),
            "responses": {"201": ok("Bound", "LightningAddress"), "400": bad, "401": admin_unauthorized, "404": not_found}
        }},
        "/.well-known/lnurlp/{username}": {"get": {
            "summary": "LUD-16: the payRequest of username@<this host>; errors are LUD-06's {status: ERROR, reason} beside error, code, message",
            "parameters": [username_param()],
            "responses": {
                "200": ok("The payRequest", "PayRequest"),
                "403": error_response("`merchant_suspended`: the address cannot receive now"),
                "404": error_response("`unknown_username`")
            }
        }},
        "/api/lnurlp/{username}/callback": {"get": {
            "summary": "LUD-06's callback: an invoice for `amount` msat whose description hash is sha256(metadata)",
            "parameters": [username_param(), {"name": "amount", "in": "query", "required": true, "schema": {"type": "integer", "minimum": crate::MIN_SENDABLE_MSAT, "description": "Millisatoshis, whole sats"}}],
            "responses": {
                "200": ok("The invoice", "PayRequestInvoice"),
                "400": error_response("`amount` missing, not whole sats, or out of the sendable range"),
                "403": error_response("`merchant_suspended`: the address cannot receive now"),
                "404": error_response("`unknown_username`")
            }
        }},
        "/api/dev-token": {
            "get": {
                "summary": "A pass for a Lightning Address: `access: true` while it holds a live one, else an offer (an invoice and a token whose valid_until is the pass's end)",
                "parameters": [address_param()],
                "responses": {
                    "200": ok("Access, or an offer", "PassOffer"),
                    "400": error_response("`address` missing, too long or not a Lightning Address"),
                    "503": error_response("No invoice could be created, or the database is unavailable; see Retry-After")
                }
            },
            "post": {
                "summary": "Activate a paid pass (once per payment); the token is verified like every other",
                "requestBody": body("PassActivation", true),
                "responses": {
                    "200": ok("Active", "PassAccess"),
                    "400": bad,
                    "401": ok("`access: false`: forged, unpaid, expired, or not sold as a pass here", "PassRefused"),
                    "413": error_response(&format!("The body is larger than {} bytes", crate::MAX_BODY_BYTES))
                }
            }
        },
        "/api/pass": {"get": {
            "summary": "A pass used as a credential (`Authorization: L402 <macaroon>:<preimage>`), on every request until it expires",
            "responses": {
                "200": ok("Access", "PassUse"),
                "401": ok("`access: false`: no credential, forged or expired", "PassRefused")
            }
        }},
        "/api/split": {"post": {
            "summary": "Credit a split by hand (l402kit's): the owner's share of amountSats, minus the operator's fee, paid once through the payout queue, or accrued below the minimum",
            "parameters": [{"name": "x-split-secret", "in": "header", "required": true, "schema": {"type": "string"}}],
            "requestBody": body("SplitRequest", true),
            "responses": {
                "200": ok("Queued (`payoutId`), or accrued (`skipped`, `accruedSats`)", "SplitResult"),
                "400": bad,
                "401": error_response("`x-split-secret` missing or wrong (compared in constant time)"),
                "403": error_response("`split_secret_unset`: no split secret is configured"),
                "404": error_response("`splits_disabled`: splits are not configured on this server"),
                "413": error_response(&format!("The body is larger than {} bytes", crate::MAX_BODY_BYTES))
            }
        }},
        "/api/webhooks/deliveries": {"get": {
            "summary": "The merchant's most recent webhook deliveries and their states (never a payload's secret)",
            "security": [{"apiKey": []}],
            "parameters": [{"name": "limit", "in": "query", "required": false, "schema": {"type": "integer", "minimum": 1, "default": 50}}],
            "responses": {
                "200": ok("Deliveries", "Deliveries"),
                "400": error_response("`limit` out of range (`invalid_field`), or another query parameter (`unknown_parameter`)"),
                "401": unauthorized,
                "403": forbidden
            }
        }},
        "/api/pro-check": {"get": {
            "summary": "Whether a Lightning Address holds a live pass",
            "parameters": [address_param()],
            "responses": {
                "200": ok("`active`, and `expiresAt` while it is", "ProCheck"),
                "400": error_response("`address` missing (`missing_field`), too long or not a Lightning Address (`invalid_field`)")
            }
        }}
    })
}

fn address_param() -> Value {
    json!({"name": "address", "in": "query", "required": true, "schema": {"type": "string", "maxLength": crate::splits::lnurl::MAX_ADDRESS_CHARS}})
}

fn username_param() -> Value {
    json!({"name": "username", "in": "path", "required": true, "schema": {"type": "string", "pattern": "^[a-z0-9._-]{1,64}$"}})
}

pub(super) fn schemas() -> Value {
    let count = json!({"type": "object", "required": ["count", "sats"], "properties": {"count": {"type": "integer"}, "sats": {"type": "integer"}}});
    json!({
        "KitStats": {
            "type": "object",
            "required": ["merchantId", "totalPayments", "totalSats", "fee", "byOwner", "byDay", "trend", "recent"],
            "properties": {
                "merchantId": {"type": "integer"},
                "totalPayments": {"type": "integer"},
                "totalSats": {"type": "integer"},
                "fee": {"type": "integer"},
                "shinydappsFee": {"type": "integer"},
                "byOwner": {"type": "object", "additionalProperties": count},
                "byDay": {"type": "object", "description": "By day, YYYY-MM-DD", "additionalProperties": count},
                "trend": {"type": "object", "required": ["payments7d", "payments7dPrev", "sats7d", "sats7dPrev"]},
                "recent": {"type": "array", "items": {"type": "object", "required": ["id", "endpoint", "payment_hash", "amount_sats", "paid_at"]}}
            }
        },
        "GlobalStats": {
            "type": "object",
            "required": ["count", "totalSats"],
            "properties": {"count": {"type": "integer"}, "totalSats": {"type": "integer"}}
        },
        "Directory": {
            "type": "object",
            "required": ["version", "count", "apis"],
            "properties": {
                "version": {"const": "1"},
                "count": {"type": "integer"},
                "apis": {"type": "array", "items": {
                    "type": "object",
                    "required": ["url", "name", "description", "price_sats", "category", "created_at", "verified"]
                }}
            }
        },
        "Payouts": {
            "type": "object",
            "required": ["payouts"],
            "properties": {"payouts": {"type": "array", "items": {
                "type": "object",
                "required": ["id", "ownerAddress", "amountSats", "state", "attempts", "createdAt"],
                "properties": {
                    "state": {"enum": ["pending", "paying", "paid", "failed"]},
                    "paymentHash": {"type": ["string", "null"]},
                    "feeMsat": {"type": ["integer", "null"]},
                    "lastError": {"type": ["string", "null"]}
                }
            }}}
        },
        "OwnerAddressRequest": {
            "type": "object",
            "additionalProperties": false,
            "required": ["ownerAddress"],
            "properties": {"ownerAddress": {"type": ["string", "null"], "maxLength": crate::splits::lnurl::MAX_ADDRESS_CHARS}}
        },
        "OwnerAddress": {
            "type": "object",
            "required": ["merchantId", "ownerAddress"],
            "properties": {"merchantId": {"type": "integer"}, "ownerAddress": {"type": ["string", "null"]}}
        },
        "LightningAddressRequest": {
            "type": "object",
            "additionalProperties": false,
            "required": ["username"],
            "properties": {"username": {"type": "string", "pattern": "^[a-z0-9._-]{1,64}$"}}
        },
        "LightningAddress": {
            "type": "object",
            "required": ["merchantId", "username", "address", "lnurlp"],
            "properties": {
                "merchantId": {"type": "integer"},
                "username": {"type": "string"},
                "address": {"type": "string"},
                "lnurlp": {"type": "string", "format": "uri"}
            }
        },
        "PayRequest": {
            "type": "object",
            "required": ["tag", "callback", "minSendable", "maxSendable", "metadata"],
            "properties": {
                "tag": {"const": "payRequest"},
                "callback": {"type": "string", "format": "uri"},
                "minSendable": {"type": "integer"},
                "maxSendable": {"type": "integer"},
                "metadata": {"type": "string", "description": "A JSON array as text: text/plain and text/identifier"}
            }
        },
        "PayRequestInvoice": {
            "type": "object",
            "required": ["pr", "routes"],
            "properties": {"pr": {"type": "string"}, "routes": {"type": "array", "maxItems": 0}}
        },
        "PassOffer": {
            "type": "object",
            "required": ["access"],
            "properties": {
                "access": {"type": "boolean"},
                "expiresAt": {"type": "string", "format": "date-time"},
                "priceSats": {"type": "integer"},
                "invoice": {"type": "string"},
                "macaroon": {"type": "string"},
                "paymentHash": {"type": "string"}
            }
        },
        "PassActivation": {
            "type": "object",
            "additionalProperties": false,
            "required": ["macaroon", "preimage"],
            "properties": {"macaroon": {"type": "string"}, "preimage": {"type": "string"}}
        },
        "PassAccess": {
            "type": "object",
            "required": ["access", "expiresAt"],
            "properties": {"access": {"const": true}, "expiresAt": {"type": "string", "format": "date-time"}}
        },
        "PassUse": {
            "type": "object",
            "required": ["access", "scope", "expiresAt"],
            "properties": {"access": {"const": true}, "scope": {"type": "string"}, "expiresAt": {"type": ["string", "null"], "format": "date-time"}}
        },
        "PassRefused": {
            "type": "object",
            "required": ["access", "error", "code", "message"],
            "properties": {"access": {"const": false}, "error": {"type": "string"}, "code": {"type": "string"}, "message": {"type": "string"}}
        },
        "SplitRequest": {
            "type": "object",
            "additionalProperties": false,
            "required": ["amountSats", "ownerAddress"],
            "properties": {
                "amountSats": {"type": "integer", "minimum": 1},
                "ownerAddress": {"type": "string", "maxLength": crate::splits::lnurl::MAX_ADDRESS_CHARS}
            }
        },
        "SplitResult": {
            "type": "object",
            "required": ["ok", "ownerSats"],
            "properties": {
                "ok": {"const": true},
                "ownerSats": {"type": "integer"},
                "payoutId": {"type": "string"},
                "payoutSats": {"type": "integer"},
                "skipped": {"type": "boolean"},
                "accruedSats": {"type": "integer"}
            }
        },
        "Deliveries": {
            "type": "object",
            "required": ["deliveries"],
            "properties": {"deliveries": {"type": "array", "items": {
                "type": "object",
                "required": ["id", "eventId", "type", "endpointId", "state", "attempts", "createdAt"],
                "properties": {"state": {"enum": ["pending", "delivered", "failed"]}, "lastStatus": {"type": ["integer", "null"]}, "lastError": {"type": ["string", "null"]}}
            }}}
        },
        "ProCheck": {
            "type": "object",
            "required": ["active"],
            "properties": {"active": {"type": "boolean"}, "expiresAt": {"type": "string", "format": "date-time"}}
        }
    })
}
