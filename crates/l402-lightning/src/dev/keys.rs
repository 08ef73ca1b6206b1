//! The node key (kept in the data directory) and randomness.

use std::path::Path;

use bitcoin::secp256k1::SecretKey;

use super::{BACKEND, DevNodeError};
use crate::BackendError;

pub(super) fn random_bytes() -> Result<[u8; 32], DevNodeError> {
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes).map_err(|e| DevNodeError::Random(e.to_string()))?;
    Ok(bytes)
}

pub(super) fn random_key() -> Result<SecretKey, DevNodeError> {
    loop {
        // Fails only for zero or >= the curve order: practically never.
        if let Ok(key) = SecretKey::from_slice(&random_bytes()?) {
            return Ok(key);
        }
    }
}

pub(super) fn load_or_create_key(path: &Path) -> Result<SecretKey, DevNodeError> {
    let io = |source| DevNodeError::Io {
        path: path.to_path_buf(),
        source,
    };
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let bad = || DevNodeError::BadNodeKey {
                path: path.to_path_buf(),
            };
            let bytes = hex::decode(text.trim()).map_err(|_| bad())?;
            SecretKey::from_slice(&bytes).map_err(|_| bad())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = random_key()?;
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut file = options.open(path).map_err(io)?;
            std::io::Write::write_all(&mut file, hex::encode(key.secret_bytes()).as_bytes())
                .map_err(io)?;
            Ok(key)
        }
        Err(e) => Err(io(e)),
    }
}

pub(super) fn random32() -> Result<[u8; 32], BackendError> {
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes).map_err(|e| BackendError::Storage {
        backend: BACKEND,
        reason: format!("random source failed: {e}"),
    })?;
    Ok(bytes)
}
