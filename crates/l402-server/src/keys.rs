//! Loading the server secret that signs tokens: from hex
//! ([`Keyring::from_hex`]), an environment variable or a file. The format is
//! 64 hex digits (32 bytes), as `l402 serve` writes it; generate one with
//! `openssl rand -hex 32`.
//!
//! These read files and the environment synchronously: call them at start,
//! not on a request path.
//!
//! ```
//! use l402_server::keys;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("server-secret");
//! std::fs::write(&path, format!("{}\n", "ab".repeat(32)))?;
//! let keys = keys::from_file(&path)?;
//! assert_eq!(keys.current_key_id(), 1);
//! // Unset: None, so the caller can fall back to a file.
//! assert!(keys::from_env("L402_DOC_EXAMPLE_UNSET")?.is_none());
//! # Ok(()) }
//! ```

use std::path::{Path, PathBuf};

use l402::{Keyring, KeyringError};

/// The environment variable `l402 serve` reads the secret from.
pub const SERVER_SECRET_ENV: &str = "L402_SERVER_SECRET";

/// The key id a single loaded secret gets.
pub const KEY_ID: u32 = 1;

/// Why a secret could not be loaded. The secret itself is never shown.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The variable is set but is not 64 hex digits.
    #[error("{name} must be 64 hex digits (32 bytes); generate one with `openssl rand -hex 32`")]
    Env {
        /// The variable.
        name: String,
        /// What was wrong.
        #[source]
        source: KeyringError,
    },
    /// The file cannot be read.
    #[error("cannot read the server secret {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not 64 hex digits.
    #[error("{} is not 64 hex digits (32 bytes)", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        #[source]
        source: KeyringError,
    },
}

/// The keyring of a secret in hex (surrounding whitespace ignored), under
/// key id [`KEY_ID`].
///
/// # Errors
/// [`KeyringError::BadSecret`] unless it is 64 hex digits.
pub fn from_hex(hex: &str) -> Result<Keyring, KeyringError> {
    Keyring::from_hex(KEY_ID, hex)
}

/// The keyring of the secret in the environment variable `name` (see
/// [`SERVER_SECRET_ENV`]), or `None` if it is not set.
///
/// # Errors
/// [`LoadError::Env`] if it is set but not 64 hex digits.
pub fn from_env(name: &str) -> Result<Option<Keyring>, LoadError> {
    let Ok(value) = std::env::var(name) else {
        return Ok(None);
    };
    from_hex(&value).map(Some).map_err(|source| LoadError::Env {
        name: name.to_owned(),
        source,
    })
}

/// The keyring of the secret in a file.
///
/// # Errors
/// [`LoadError::Read`] or [`LoadError::File`].
pub fn from_file(path: impl AsRef<Path>) -> Result<Keyring, LoadError> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path).map_err(|source| LoadError::Read {
        path: path.to_owned(),
        source,
    })?;
    from_hex(&text).map_err(|source| LoadError::File {
        path: path.to_owned(),
        source,
    })
}
