//! The proxy services' part of the OpenAPI document: the admin API's
//! `/api/admin/services` and Lightning Enable's `POST /api/proxy`. These
//! need a server that runs the proxy (`l402 serve`): their every status is
//! exercised by l402-cli's `tests/proxy_admin.rs`.

use serde_json::{Value, json};

use super::{body, error_response, ok};

/// The paths documented by l402-cli's `tests/proxy_admin.rs` rather than
/// this crate's own OpenAPI test (they need `l402 serve`'s proxy).
pub const PROXY_PATHS: [&str; 3] = [
    "/api/admin/services",
    "/api/admin/services/{name}",
    "/api/proxy",
];

fn name_param() -> Value {
    json!({"name": "name", "in": "path", "required": true, "schema": {"type": "string"}})
}

pub(super) fn paths() -> Value {
    let admin_unauthorized =
        error_response("Missing or invalid admin token, or no admin token configured");
    let invalid = error_response(
        "Malformed JSON, or a definition the proxy refuses (`invalid_service`; `field` names the key, as for `[[services]]`)",
    );
    let not_found = error_response(
        "No such service (`service_not_found`), or this server runs no proxy (`proxy_disabled`)",
    );
    let conflict = error_response(
        "A service of that name exists (`service_exists`), too many are stored (`too_many_services`), or the service comes from the configuration file (`service_read_only`)",
    );
    let too_large = error_response("The body is larger than the producer's limit");
    json!({
        "/api/admin/services": {
            "get": {
                "summary": "Every service behind the proxy: the configuration file's (source `config`, read-only) and those stored (source `api`, or `merchant` for Lightning Enable proxies)",
                "security": [{"admin": []}],
                "responses": {"200": ok("Services", "ProxyServices"), "401": admin_unauthorized}
            },
            "post": {
                "summary": "Add a service (a `[[services]]` entry as JSON), stored and served at once without a restart",
                "security": [{"admin": []}],
                "requestBody": body("ServiceDefinition", true),
                "responses": {
                    "201": ok("Added", "ProxyService"),
                    "400": invalid,
                    "401": admin_unauthorized,
                    "409": conflict,
                    "413": too_large
                }
            }
        },
        "/api/admin/services/{name}": {
            "get": {
                "summary": "One service",
                "security": [{"admin": []}],
                "parameters": [name_param()],
                "responses": {"200": ok("Service", "ProxyService"), "401": admin_unauthorized, "404": not_found}
            },
            "put": {
                "summary": "Change a stored service: the keys given replace its own (null removes one), checked as on add, served at once",
                "security": [{"admin": []}],
                "parameters": [name_param()],
                "requestBody": body("ServiceDefinition", true),
                "responses": {
                    "200": ok("Changed", "ProxyService"),
                    "400": invalid,
                    "401": admin_unauthorized,
                    "404": not_found,
                    "409": conflict
                }
            },
            "delete": {
                "summary": "Remove a stored service; its requests get 404 `no_service` from then on",
                "security": [{"admin": []}],
                "parameters": [name_param()],
                "responses": {
                    "200": ok("Removed", "ServiceDeleted"),
                    "401": admin_unauthorized,
                    "404": not_found,
                    "409": conflict
                }
            }
        },
        "/api/proxy": {
            "post": {
                "summary": "Lightning Enable's proxy mode: put targetBaseUrl behind L402 at /l402/proxy/{proxyId}/..., each request defaultPriceSats, sold for the calling merchant. Upstreams on private addresses are refused unless the operator allows them",
                "security": [{"apiKey": []}],
                "requestBody": body("ProxyRequest", true),
                "responses": {
                    "201": ok("Created", "LightningEnableProxy"),
                    "400": error_response("A missing, unknown or wrong-typed field, or a targetBaseUrl the proxy cannot reach (`invalid_field`, `invalid_service`)"),
                    "401": error_response("Missing or invalid X-API-Key"),
                    "403": error_response("The merchant is suspended, or targetBaseUrl resolves only to private addresses (`private_upstream`)"),
                    "409": error_response("The merchant has its maximum of proxies (`too_many_services`)")
                }
            }
        }
    })
}

pub(super) fn schemas() -> Value {
    json!({
        "ServiceDefinition": {
            "type": "object",
            "description": "A [[services]] entry of the configuration file, as JSON (name, address, pathregexp, hostregexp, host, protocol, price_sats, auth, free_paths, no_invoice_paths, headers, rewrite, token_lifetime_secs, capabilities, timeout_secs, max_body_bytes, forward_authorization, shadow...). Header values may use ${VAR}; !file: values are refused.",
            "required": ["name"],
            "properties": {
                "name": {"type": "string"},
                "address": {"type": "string"},
                "price_sats": {"type": "integer", "minimum": 0}
            }
        },
        "ProxyService": {
            "type": "object",
            "required": ["name", "source", "service"],
            "properties": {
                "name": {"type": "string"},
                "source": {"type": "string", "enum": ["config", "api", "merchant"]},
                "merchantId": {"type": ["integer", "null"]},
                "service": {"type": "object", "description": "The definition; header values shown as <set>"},
                "createdAt": {"type": "string", "format": "date-time"},
                "updatedAt": {"type": "string", "format": "date-time"}
            }
        },
        "ProxyServices": {
            "type": "object",
            "required": ["services"],
            "properties": {"services": {"type": "array", "items": {"$ref": "#/components/schemas/ProxyService"}}}
        },
        "ServiceDeleted": {
            "type": "object",
            "required": ["deleted"],
            "properties": {"deleted": {"type": "string"}}
        },
        "ProxyRequest": {
            "type": "object",
            "additionalProperties": false,
            "required": ["name", "targetBaseUrl", "defaultPriceSats"],
            "properties": {
                "name": {"type": "string", "maxLength": 100},
                "targetBaseUrl": {"type": "string", "description": "An http:// or https:// base URL; its path is put in front of the forwarded path. https upstreams are verified against the system roots (plus the operator's [proxy] merchant_ca_file)"},
                "defaultPriceSats": {"type": "integer", "minimum": 1},
                "description": {"type": "string", "maxLength": 500}
            }
        },
        "LightningEnableProxy": {
            "type": "object",
            "required": ["proxyId", "name", "targetBaseUrl", "defaultPriceSats", "isActive", "createdAt", "proxyUrl"],
            "properties": {
                "proxyId": {"type": "string"},
                "name": {"type": "string"},
                "description": {"type": ["string", "null"]},
                "targetBaseUrl": {"type": "string"},
                "defaultPriceSats": {"type": "integer"},
                "isActive": {"type": "boolean"},
                "createdAt": {"type": "string", "format": "date-time"},
                "proxyUrl": {"type": "string", "description": "/l402/proxy/{proxyId}"}
            }
        }
    })
}
