//! The contract between `l402 serve` and `l402 get` for zero-setup payments:
//! when `serve` runs the embedded dev node, it writes a funded buyer wallet's
//! LNbits-compatible URL and keys to `<data dir>/dev-wallet.json`; `get`, with
//! no wallet configured, pays through it. Dev-node money is not real money.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// File name inside the data directory.
pub const FILE_NAME: &str = "dev-wallet.json";

/// A dev-node wallet reachable over its LNbits-compatible HTTP API.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct DevWalletFile {
    /// Base URL of the dev node's wallet API (e.g. `http://127.0.0.1:8402/dev`).
    pub url: String,
    /// The wallet's admin key (pays invoices).
    pub admin_key: String,
    /// The wallet's invoice key (creates invoices).
    pub invoice_key: String,
    /// Always `false`: a reminder in the file itself.
    pub real_lightning: bool,
}

/// The file's path in a data directory.
pub fn path(data_dir: &Path) -> PathBuf {
    data_dir.join(FILE_NAME)
}

/// Reads the file, if `serve` wrote one.
#[allow(dead_code)] // used by `get`
pub fn read(data_dir: &Path) -> anyhow::Result<Option<DevWalletFile>> {
    let path = path(data_dir);
    match std::fs::read(&path) {
        Ok(bytes) => Ok(Some(serde_json::from_slice(&bytes).map_err(|e| {
            anyhow::anyhow!("{} is not a valid dev wallet file: {e}", path.display())
        })?)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(anyhow::anyhow!("cannot read {}: {e}", path.display())),
    }
}

/// Writes the file (mode 0600: it holds keys).
#[allow(dead_code)] // used by `serve`
pub fn write(data_dir: &Path, wallet: &DevWalletFile) -> anyhow::Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::create_dir_all(data_dir)?;
    let path = path(data_dir);
    let tmp = path.with_extension("json.tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut file = options.open(&tmp)?;
    file.write_all(&serde_json::to_vec_pretty(wallet)?)?;
    file.sync_all()?;
    std::fs::rename(&tmp, &path)?;
    Ok(())
}
