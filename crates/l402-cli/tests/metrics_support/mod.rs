//! What the `/metrics` tests share: reading one sample out of the
//! Prometheus text, and `promtool check metrics` on it (Debian's prometheus
//! package, `scripts/promtool.sh`).
#![allow(dead_code)]

/// The value of the sample whose series (name and labels) is `series`.
pub fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.parse().ok())
}

/// promtool's path: `L402_PROMTOOL`, else `promtool` on PATH. With
/// `L402_REQUIRE_PROMTOOL=1` its absence fails the test.
fn promtool() -> Option<String> {
    let candidate = std::env::var("L402_PROMTOOL").unwrap_or_else(|_| "promtool".to_owned());
    let found = std::process::Command::new(&candidate)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if found {
        return Some(candidate);
    }
    assert!(
        std::env::var("L402_REQUIRE_PROMTOOL").as_deref() != Ok("1"),
        "L402_REQUIRE_PROMTOOL=1 but no promtool: export L402_PROMTOOL=\"$(bash scripts/promtool.sh path)\""
    );
    eprintln!(
        "promtool not found: `promtool check metrics` NOT run (bash scripts/promtool.sh path)"
    );
    None
}

/// `promtool check metrics` accepts `text` (not run, saying so, without
/// promtool unless `L402_REQUIRE_PROMTOOL=1`).
pub fn promtool_accepts(text: &str) {
    let Some(promtool) = promtool() else { return };
    let mut child = std::process::Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), text.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics: {}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
