//! [`NodeSpec::resolve`]: a node's keys checked, with its files read
//! (password, macaroon, certificate, NWC connection).

use std::path::{Path, PathBuf};
use std::time::Duration;

use l402_lightning::nwc::NwcUri;

use super::{KeyError, NodeFields, NodeSpec, Secret, Timeouts};

/// The largest password, macaroon or certificate file read (they are a few
/// hundred bytes).
const MAX_FILE_BYTES: u64 = 64 * 1024;

fn read_file(key: &'static str, path: &Path, base_dir: Option<&Path>) -> Result<Vec<u8>, KeyError> {
    let path = base_dir.map_or(path.to_path_buf(), |d| d.join(path));
    let fail = |e: std::io::Error| (key, format!("cannot read {}: {e}", path.display()));
    let meta = std::fs::metadata(&path).map_err(fail)?;
    if meta.len() > MAX_FILE_BYTES {
        return Err((
            key,
            format!("{} is larger than {MAX_FILE_BYTES} bytes", path.display()),
        ));
    }
    std::fs::read(&path).map_err(fail)
}

fn check_url(key: &'static str, url: &str) -> Result<String, KeyError> {
    let ok = reqwest::Url::parse(url)
        .map(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
        .unwrap_or(false);
    if ok {
        Ok(url.to_owned())
    } else {
        Err((key, format!("{url:?} is not an http(s) URL")))
    }
}

fn cert(fields: &NodeFields, base_dir: Option<&Path>) -> Result<Option<Vec<u8>>, KeyError> {
    let Some(path) = &fields.tls_cert_file else {
        return Ok(None);
    };
    let bytes = read_file("tls_cert_file", path, base_dir)?;
    let pem = bytes
        .windows(27)
        .any(|w| w == b"-----BEGIN CERTIFICATE-----");
    // A DER certificate is an ASN.1 SEQUENCE.
    if !pem && bytes.first() != Some(&0x30) {
        return Err((
            "tls_cert_file",
            format!("{} is not a PEM or DER certificate", path.display()),
        ));
    }
    Ok(Some(bytes))
}

fn required(
    kind: &str,
    key: &'static str,
    value: Option<String>,
    hint: &str,
) -> Result<String, KeyError> {
    value
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| (key, format!("required for the {kind} backend ({hint})")))
}

/// One secret from either its value or its file, not both.
fn secret(
    (key, value): (&'static str, Option<&String>),
    (file_key, file): (&'static str, Option<&PathBuf>),
    base_dir: Option<&Path>,
    decode: fn(Vec<u8>) -> String,
    missing: String,
) -> Result<String, KeyError> {
    match (value, file) {
        (Some(_), Some(_)) => Err((key, format!("set {key} or {file_key}, not both"))),
        (Some(v), None) => Ok(v.trim().to_owned()),
        (None, Some(path)) => Ok(decode(read_file(file_key, path, base_dir)?)),
        (None, None) => Err((key, missing)),
    }
    .and_then(|s| {
        if s.is_empty() {
            Err((key, "is empty".to_owned()))
        } else {
            Ok(s)
        }
    })
}

fn timeouts(fields: &NodeFields) -> Result<Timeouts, KeyError> {
    let call = fields.timeout_secs.unwrap_or(10);
    if !(1..=300).contains(&call) {
        return Err(("timeout_secs", "must be between 1 and 300".to_owned()));
    }
    let pay = fields.pay_timeout_secs.unwrap_or(60);
    if !(1..=3600).contains(&pay) {
        return Err(("pay_timeout_secs", "must be between 1 and 3600".to_owned()));
    }
    Ok(Timeouts {
        call: Duration::from_secs(call),
        pay: Duration::from_secs(pay),
    })
}

/// Keys that `kind` does not take, if set.
fn foreign(kind: &str, f: &NodeFields) -> Option<&'static str> {
    let set = [
        ("password", f.password.is_some()),
        ("password_file", f.password_file.is_some()),
        ("macaroon_hex", f.macaroon_hex.is_some()),
        ("macaroon_file", f.macaroon_file.is_some()),
        ("tls_cert_file", f.tls_cert_file.is_some()),
        ("socket", f.socket.is_some()),
        ("rune", f.rune.is_some()),
        ("connection", f.connection.is_some()),
        ("connection_file", f.connection_file.is_some()),
    ];
    let allowed: &[&str] = match kind {
        "phoenixd" => &["password", "password_file"],
        "lnd" => &["macaroon_hex", "macaroon_file", "tls_cert_file"],
        "nwc" => &["connection", "connection_file"],
        _ => &["tls_cert_file", "socket", "rune"],
    };
    set.iter()
        .find(|(k, is_set)| *is_set && !allowed.contains(k))
        .map(|(k, _)| *k)
}

impl NodeSpec {
    /// Checks `fields` for a node of `kind` (one of [`KINDS`]) and reads its
    /// files (relative to `base_dir`). `hint` names where the values may
    /// come from (`"or set L402_PHOENIXD_URL"`-style hints are added).
    ///
    /// # Errors
    /// The first bad key (without the table's prefix) and why.
    pub fn resolve(kind: &str, f: &NodeFields, base_dir: Option<&Path>) -> Result<Self, KeyError> {
        if let Some(key) = foreign(kind, f) {
            return Err((key, format!("is not a setting of the {kind} backend")));
        }
        let timeouts = timeouts(f)?;
        match kind {
            "phoenixd" => {
                let url = required(kind, "url", f.url.clone(), "or set L402_PHOENIXD_URL")?;
                let url = check_url("url", url.trim())?;
                let password = secret(
                    ("password", f.password.as_ref()),
                    ("password_file", f.password_file.as_ref()),
                    base_dir,
                    |b| String::from_utf8_lossy(&b).trim().to_owned(),
                    "required for the phoenixd backend: password or password_file \
                     (or set L402_PHOENIXD_PASSWORD / L402_PHOENIXD_PASSWORD_FILE)"
                        .to_owned(),
                )?;
                Ok(NodeSpec::Phoenixd {
                    url,
                    password: Secret(password),
                    timeouts,
                })
            }
            "lnd" => {
                let url = required(
                    kind,
                    "url",
                    f.url.clone(),
                    "or set L402_LND_URL / LND_REST_HOST",
                )?;
                let url = url.trim();
                // LND_REST_HOST is often host:port.
                let url = if url.contains("://") {
                    url.to_owned()
                } else {
                    format!("https://{url}")
                };
                let url = check_url("url", &url)?;
                let macaroon = secret(
                    ("macaroon_hex", f.macaroon_hex.as_ref()),
                    ("macaroon_file", f.macaroon_file.as_ref()),
                    base_dir,
                    hex::encode,
                    "required for the lnd backend: macaroon_hex or macaroon_file \
                     (or set L402_LND_MACAROON_HEX / LND_MACAROON_HEX / L402_LND_MACAROON_FILE)"
                        .to_owned(),
                )?;
                if hex::decode(&macaroon).is_err() {
                    return Err((
                        "macaroon_hex",
                        "is not hex (xxd -p -c0 admin.macaroon, or give macaroon_file)".to_owned(),
                    ));
                }
                Ok(NodeSpec::Lnd {
                    url,
                    macaroon_hex: Secret(macaroon),
                    tls_cert: cert(f, base_dir)?,
                    timeouts,
                })
            }
            "cln" => match (&f.socket, &f.url) {
                (Some(_), Some(_)) => Err((
                    "socket",
                    "set socket (this machine's node) or url + rune (clnrest), not both".to_owned(),
                )),
                (Some(path), None) => {
                    if f.rune.is_some() || f.tls_cert_file.is_some() {
                        return Err((
                            "socket",
                            "the socket takes no rune or tls_cert_file (those are for clnrest's url)"
                                .to_owned(),
                        ));
                    }
                    if !cfg!(unix) {
                        return Err(("socket", "unix sockets need a unix system".to_owned()));
                    }
                    let path = base_dir.map_or(path.clone(), |d| d.join(path));
                    Ok(NodeSpec::ClnSocket { path, timeouts })
                }
                (None, Some(url)) => {
                    let url = check_url("url", url.trim())?;
                    let rune = required(
                        kind,
                        "rune",
                        f.rune.clone(),
                        "with url; or set L402_CLN_RUNE",
                    )?;
                    Ok(NodeSpec::ClnRest {
                        url,
                        rune: Secret(rune.trim().to_owned()),
                        tls_cert: cert(f, base_dir)?,
                        timeouts,
                    })
                }
                (None, None) => Err((
                    "socket",
                    "required for the cln backend: socket (the node's lightning-rpc), or url + \
                     rune (clnrest) (or set L402_CLN_SOCKET, or L402_CLN_URL + L402_CLN_RUNE)"
                        .to_owned(),
                )),
            },
            "nwc" => {
                let connection = secret(
                    ("connection", f.connection.as_ref()),
                    ("connection_file", f.connection_file.as_ref()),
                    base_dir,
                    |b| String::from_utf8_lossy(&b).trim().to_owned(),
                    "required for the nwc backend: connection or connection_file \
                     (or set L402_NWC_CONNECTION / NWC_CONNECTION_STRING / L402_NWC_CONNECTION_FILE)"
                        .to_owned(),
                )?;
                // The error names what is wrong, never the secret.
                let uri = connection
                    .parse::<NwcUri>()
                    .map_err(|e| ("connection", e.to_string()))?;
                // A relay is slower than a node's HTTP API.
                let timeouts = Timeouts {
                    call: f
                        .timeout_secs
                        .map_or(Duration::from_secs(30), |_| timeouts.call),
                    pay: f
                        .pay_timeout_secs
                        .map_or(Duration::from_secs(120), |_| timeouts.pay),
                };
                Ok(NodeSpec::Nwc {
                    uri: Box::new(uri),
                    timeouts,
                })
            }
            other => Err(("kind", format!("unknown node kind {other:?}"))),
        }
    }
}
