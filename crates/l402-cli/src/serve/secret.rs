//! The server secret that signs tokens: `<data dir>/server-secret` (64 hex
//! digits, created on first start, mode 0600), or `L402_SERVER_SECRET` to
//! share one between instances.

use std::io::Write;
use std::path::Path;

use anyhow::Context;
use l402::Keyring;

const FILE: &str = "server-secret";
const ENV: &str = "L402_SERVER_SECRET";

fn parse(hex_text: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(hex_text.trim(), &mut out).ok()?;
    Some(out)
}

/// The keyring for this server.
pub fn keyring(data_dir: &Path) -> anyhow::Result<Keyring> {
    if let Ok(value) = std::env::var(ENV) {
        let secret = parse(&value).with_context(|| {
            format!(
                "{ENV} must be 64 hex digits (32 bytes); generate one with `openssl rand -hex 32`"
            )
        })?;
        return Ok(Keyring::new(1, secret));
    }
    let path = data_dir.join(FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let secret = parse(&text).with_context(|| {
                format!("{} is not 64 hex digits; restore it or delete it to start over (tokens already sold will stop working)", path.display())
            })?;
            Ok(Keyring::new(1, secret))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut secret = [0u8; 32];
            getrandom::getrandom(&mut secret)
                .map_err(|e| anyhow::anyhow!("the system random generator failed: {e}"))?;
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut file = options
                .open(&path)
                .with_context(|| format!("cannot create {}", path.display()))?;
            writeln!(file, "{}", hex::encode(secret))?;
            file.sync_all()?;
            Ok(Keyring::new(1, secret))
        }
        Err(e) => Err(anyhow::anyhow!("cannot read {}: {e}", path.display())),
    }
}
