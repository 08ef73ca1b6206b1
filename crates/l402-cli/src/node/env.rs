//! A node's keys from the environment: the `L402_<NODE>_*` variables and
//! Lightning Enable's names, and which variable gave each key.

use std::path::PathBuf;

use super::NodeFields;

/// A node's keys from the environment, and which variable gave each key
/// (for error messages).
#[derive(Debug, Default, Clone)]
pub struct EnvFields {
    /// The values.
    pub fields: NodeFields,
    /// `(key, variable)` for each value set.
    pub names: Vec<(&'static str, &'static str)>,
}

impl EnvFields {
    /// Reads `kind`'s variables through `var` (`std::env::var` in the
    /// binary); an empty value is unset. The `L402_*` name wins over
    /// Lightning Enable's.
    pub fn read(kind: &str, var: impl Fn(&str) -> Option<String>) -> EnvFields {
        let mut env = EnvFields::default();
        let var = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        let mut text = |key: &'static str, names: &[&'static str]| -> Option<String> {
            names.iter().find_map(|name| {
                let value = var(name)?;
                env.names.push((key, name));
                Some(value)
            })
        };
        // A path from the environment is relative to the working directory,
        // never to a configuration file.
        let path = |p: String| std::path::absolute(&p).unwrap_or_else(|_| PathBuf::from(p));
        let mut f = NodeFields::default();
        match kind {
            "phoenixd" => {
                f.url = text("url", &["L402_PHOENIXD_URL"]);
                f.password = text("password", &["L402_PHOENIXD_PASSWORD"]);
                f.password_file = text("password_file", &["L402_PHOENIXD_PASSWORD_FILE"]).map(path);
            }
            "lnd" => {
                f.url = text("url", &["L402_LND_URL", "LND_REST_HOST"]);
                f.macaroon_hex = text(
                    "macaroon_hex",
                    &["L402_LND_MACAROON_HEX", "LND_MACAROON_HEX"],
                );
                f.macaroon_file = text("macaroon_file", &["L402_LND_MACAROON_FILE"]).map(path);
                f.tls_cert_file = text(
                    "tls_cert_file",
                    &["L402_LND_TLS_CERT_FILE", "LND_TLS_CERT_PATH"],
                )
                .map(path);
            }
            "cln" => {
                f.socket = text("socket", &["L402_CLN_SOCKET"]).map(path);
                f.url = text("url", &["L402_CLN_URL"]);
                f.rune = text("rune", &["L402_CLN_RUNE"]);
                f.tls_cert_file = text("tls_cert_file", &["L402_CLN_TLS_CERT_FILE"]).map(path);
            }
            "nwc" => {
                f.connection = text(
                    "connection",
                    &["L402_NWC_CONNECTION", "NWC_CONNECTION_STRING"],
                );
                f.connection_file =
                    text("connection_file", &["L402_NWC_CONNECTION_FILE"]).map(path);
            }
            _ => {}
        }
        env.fields = f;
        env
    }

    /// Whether any variable was set.
    pub fn is_set(&self) -> bool {
        !self.names.is_empty()
    }

    /// These values over `file`'s, key by key. A secret from the
    /// environment replaces the file's secret in either form (a
    /// `L402_PHOENIXD_PASSWORD` replaces the file's `password_file`).
    pub fn over(&self, file: &NodeFields) -> NodeFields {
        let e = &self.fields;
        let mut f = file.clone();
        if e.password.is_some() || e.password_file.is_some() {
            f.password = e.password.clone();
            f.password_file = e.password_file.clone();
        }
        if e.macaroon_hex.is_some() || e.macaroon_file.is_some() {
            f.macaroon_hex = e.macaroon_hex.clone();
            f.macaroon_file = e.macaroon_file.clone();
        }
        if e.connection.is_some() || e.connection_file.is_some() {
            f.connection = e.connection.clone();
            f.connection_file = e.connection_file.clone();
        }
        if e.socket.is_some() {
            // This machine's node: the file's clnrest settings do not apply.
            f.socket = e.socket.clone();
            f.url = None;
            f.rune = None;
            f.tls_cert_file = None;
        }
        if e.url.is_some() {
            f.url = e.url.clone();
            if e.socket.is_none() {
                f.socket = None;
            }
        }
        f.rune = e.rune.clone().or(f.rune);
        f.tls_cert_file = e.tls_cert_file.clone().or(f.tls_cert_file);
        f
    }

    /// The variable that gave `key`, if one did.
    pub fn name_of(&self, key: &str) -> Option<&'static str> {
        self.names.iter().find(|(k, _)| *k == key).map(|(_, n)| *n)
    }
}
