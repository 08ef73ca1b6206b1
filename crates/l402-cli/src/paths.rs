//! Where l402 keeps its state.

use std::path::PathBuf;

/// The data directory: the flag or `L402_DATA_DIR`, else
/// `$XDG_DATA_HOME/l402`, else `~/.local/share/l402`, else `./.l402`.
pub fn data_dir(flag: Option<PathBuf>) -> PathBuf {
    if let Some(dir) = flag {
        return dir;
    }
    if let Some(xdg) = std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(xdg).join("l402");
    }
    if let Some(home) = std::env::var_os("HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(home).join(".local/share/l402");
    }
    PathBuf::from(".l402")
}
