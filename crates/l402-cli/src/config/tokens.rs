//! `[tokens]`: how long paid tokens and invoices last.

use serde::Deserialize;

use super::{ConfigError, err};

/// `[tokens]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokensConfig {
    /// How long a paid token stays valid.
    pub lifetime_secs: Option<u64>,
    /// How long an invoice stays payable.
    pub invoice_expiry_secs: Option<u64>,
}

/// `[tokens]`, checked: the token lifetime and the invoice expiry, in
/// seconds.
pub(super) fn resolve(source: &str, tokens: &TokensConfig) -> Result<(u64, u64), ConfigError> {
    let token_lifetime_secs = tokens.lifetime_secs.unwrap_or(3600);
    if !(1..=365 * 86_400).contains(&token_lifetime_secs) {
        return Err(err(
            source,
            "tokens.lifetime_secs",
            "must be between 1 and 31536000",
        ));
    }
    let invoice_expiry_secs = tokens.invoice_expiry_secs.unwrap_or(600);
    if !(10..=7 * 86_400).contains(&invoice_expiry_secs) {
        return Err(err(
            source,
            "tokens.invoice_expiry_secs",
            "must be between 10 and 604800",
        ));
    }
    Ok((token_lifetime_secs, invoice_expiry_secs))
}
