//! `l402 token export` / `import`: a stored token as one line of JSON, for
//! another machine or agent. The line carries the preimage: it is the
//! credential. Importing checks `sha256(preimage) == payment_hash` (and, for
//! a macaroon, that its identifier names that hash) before storing.

use std::io::Read;

use anyhow::{Context, anyhow, bail};
use l402::{PaymentHash, Preimage};
use l402_client::{StoredToken, TokenKind};
use serde::Deserialize;
use serde_json::{Value, json};

/// The export format's version (`"l402_token": 1`).
pub const FORMAT: u64 = 1;

/// The largest import read (an export is a few KiB).
const MAX_INPUT_BYTES: u64 = 64 * 1024;

/// A token as exported. `authorization` is the ready-made header value.
pub fn export(token: &StoredToken) -> Value {
    let mut out = json!({
        "l402_token": FORMAT,
        "scope": token.scope,
        "kind": token.kind,
        "token": token.token,
        "preimage": token.preimage.to_hex(),
        "payment_hash": token.payment_hash.to_string(),
        "amount_msat": token.amount_msat,
        "expires_at": token.expires_at,
    });
    if let Ok(authorization) = token.authorization() {
        out["authorization"] = json!(authorization);
    }
    out
}

#[derive(Deserialize)]
struct Exported {
    l402_token: u64,
    scope: String,
    token: String,
    preimage: String,
    payment_hash: Option<String>,
    amount_msat: Option<u64>,
    expires_at: Option<u64>,
}

/// Reads `input` (a file, `-` for standard input, or with `scope` a bare
/// `L402 <token>:<preimage>` credential) into a token to store.
///
/// # Errors
/// Unreadable input, not the export format, a preimage that does not match
/// the payment hash, a macaroon naming another payment hash.
pub fn read(input: &str, scope: Option<&str>) -> anyhow::Result<StoredToken> {
    if let Some(scope) = scope {
        let scope = super::scope_of(scope)?;
        let text = if input == "-" {
            read_limited(std::io::stdin())?
        } else {
            input.to_owned()
        };
        let credential = text.trim();
        let rest = credential
            .strip_prefix("L402 ")
            .or_else(|| credential.strip_prefix("LSAT "))
            .unwrap_or(credential);
        let (token, preimage) = rest
            .split_once(':')
            .ok_or_else(|| anyhow!("a credential is `L402 <token>:<preimage>`"))?;
        return build(scope, token, preimage, None, None, None);
    }
    let text = if input == "-" {
        read_limited(std::io::stdin())?
    } else {
        let file = std::fs::File::open(input).with_context(|| format!("opening {input}"))?;
        read_limited(file).with_context(|| format!("reading {input}"))?
    };
    let exported: Exported = serde_json::from_str(text.trim())
        .context("not an `l402 token export` line (or give --scope URL and a credential)")?;
    if exported.l402_token != FORMAT {
        bail!(
            "export format {} is not supported (this l402 reads {FORMAT})",
            exported.l402_token
        );
    }
    let scope = super::scope_of(&exported.scope)?;
    build(
        scope,
        &exported.token,
        &exported.preimage,
        exported.payment_hash.as_deref(),
        exported.amount_msat,
        exported.expires_at,
    )
}

fn read_limited(reader: impl Read) -> anyhow::Result<String> {
    let mut text = String::new();
    reader
        .take(MAX_INPUT_BYTES)
        .read_to_string(&mut text)
        .context("the input is not UTF-8 text")?;
    Ok(text)
}

fn build(
    scope: String,
    token: &str,
    preimage: &str,
    payment_hash: Option<&str>,
    amount_msat: Option<u64>,
    expires_at: Option<u64>,
) -> anyhow::Result<StoredToken> {
    let preimage: Preimage = preimage
        .trim()
        .parse()
        .map_err(|e| anyhow!("the preimage: {e}"))?;
    let hash = preimage.payment_hash();
    if let Some(given) = payment_hash {
        let given: PaymentHash = given
            .parse()
            .map_err(|e| anyhow!("the payment hash: {e}"))?;
        if given != hash {
            bail!("the preimage does not match the payment hash (sha256(preimage) != {given})");
        }
    }
    let kind = match TokenKind::of(token) {
        (kind, None) => kind,
        (kind, Some(named)) if named == hash => kind,
        (_, Some(named)) => {
            bail!("the macaroon is for payment hash {named}, the preimage pays {hash}")
        }
    };
    let token = StoredToken {
        scope,
        token: token.to_owned(),
        kind,
        payment_hash: hash,
        preimage,
        amount_msat,
        created_at: l402::time::unix_now(),
        expires_at,
        uses: 0,
    };
    token
        .authorization()
        .map_err(|e| anyhow!("the token cannot be sent in a header: {e}"))?;
    Ok(token)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn stored(token: &str, preimage: Preimage) -> StoredToken {
        StoredToken {
            scope: "http://127.0.0.1:1/x".into(),
            token: token.into(),
            kind: TokenKind::Opaque,
            payment_hash: preimage.payment_hash(),
            preimage,
            amount_msat: Some(21_000),
            created_at: 1,
            expires_at: Some(2_000_000_000),
            uses: 3,
        }
    }

    #[test]
    fn export_then_import_round_trips() {
        let preimage = Preimage::from([5u8; 32]);
        let token = stored("eyJoYXNoIjoiYWIifQ==", preimage);
        let dir = std::env::temp_dir().join(format!("l402-export-{}", std::process::id()));
        std::fs::write(&dir, export(&token).to_string()).unwrap();
        let back = read(dir.to_str().unwrap(), None).unwrap();
        let _ = std::fs::remove_file(&dir);
        assert_eq!(back.scope, token.scope);
        assert_eq!(back.token, token.token);
        assert_eq!(back.payment_hash, token.payment_hash);
        assert_eq!(back.amount_msat, Some(21_000));
        assert_eq!(back.expires_at, Some(2_000_000_000));
        assert_eq!(back.kind, TokenKind::Opaque);
        assert_eq!(back.uses, 0);
    }

    #[test]
    fn a_preimage_for_another_hash_is_refused() {
        let token = stored("abc", Preimage::from([5u8; 32]));
        let mut line = export(&token);
        line["payment_hash"] = json!(Preimage::from([6u8; 32]).payment_hash().to_string());
        let path = std::env::temp_dir().join(format!("l402-export-bad-{}", std::process::id()));
        std::fs::write(&path, line.to_string()).unwrap();
        let err = read(path.to_str().unwrap(), None).unwrap_err();
        let _ = std::fs::remove_file(&path);
        assert!(err.to_string().contains("does not match"), "{err}");
    }

    #[test]
    fn a_bare_credential_needs_a_scope_and_a_valid_preimage() {
        let p = Preimage::from([9u8; 32]);
        let ok = read(
            &format!("L402 abc:{}", p.to_hex()),
            Some("http://a.example/x"),
        )
        .unwrap();
        assert_eq!(ok.scope, "http://a.example/x");
        assert_eq!(ok.payment_hash, p.payment_hash());
        assert!(read("L402 abc:zz", Some("http://a.example/x")).is_err());
        assert!(read("L402 abc", Some("http://a.example/x")).is_err());
        assert!(read("L402 a b:00", Some("ftp://a.example/x")).is_err());
    }
}
