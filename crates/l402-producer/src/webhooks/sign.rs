//! The `l402-signature` header: `t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`,
//! computed by the core's one implementation ([`l402::webhook::signature_header`]).

/// The `l402-signature` value for `body` sent at `t` (unix seconds), keyed
/// with the endpoint's secret text.
///
/// ```
/// let header = l402_producer::signature_header("whsec_test", 1_700_000_000, "{}");
/// assert!(header.starts_with("t=1700000000,v1="));
/// assert_eq!(header.len(), "t=1700000000,v1=".len() + 64);
/// ```
pub fn signature_header(secret: &str, t: u64, body: &str) -> String {
    l402::webhook::signature_header(secret, t, body)
}
