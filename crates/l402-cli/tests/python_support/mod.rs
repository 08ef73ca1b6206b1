//! What the tests that run Python share: finding an interpreter that has
//! the package a test needs (skipping, saying so, unless the test's
//! `L402_REQUIRE_*` is set), and grpcio's echo server and client
//! (`scripts/grpcio/`) for the gRPC proxy tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// A Python package a test needs, and where to find an interpreter with it.
pub struct Package {
    /// The variable naming the interpreter.
    pub env: &'static str,
    /// The cached venv's directory under `~/.cache/l402`.
    pub venv: &'static str,
    /// What the interpreter must import (a Python `import` list).
    pub imports: &'static str,
    /// The variable that turns a missing package into a failure.
    pub require: &'static str,
    /// The package's name in messages.
    pub what: &'static str,
    /// The command that installs it.
    pub install: &'static str,
}

/// grpcio (PyPI), `scripts/grpcio.sh`.
pub const GRPCIO: Package = Package {
    env: "L402_GRPCIO_PYTHON",
    venv: "grpcio-venv",
    imports: "grpc",
    require: "L402_REQUIRE_GRPCIO",
    what: "grpcio",
    install: "bash scripts/grpcio.sh install",
};

/// The MCP Python SDK (PyPI `mcp`), `scripts/mcp-python.sh`.
pub const MCP: Package = Package {
    env: "L402_MCP_PYTHON",
    venv: "mcp-venv",
    imports: "mcp.client.stdio, mcp.client.streamable_http",
    require: "L402_REQUIRE_MCP_PYTHON",
    what: "the MCP Python SDK",
    install: "bash scripts/mcp-python.sh install",
};

impl Package {
    /// The interpreter: the package's variable, else the cached venv;
    /// `None` (the test is skipped, saying so) unless `require` is set.
    pub fn python(&self) -> Option<PathBuf> {
        let candidate = std::env::var_os(self.env).map(PathBuf::from).or_else(|| {
            let home = std::env::var_os("HOME")?;
            Some(
                PathBuf::from(home)
                    .join(".cache/l402")
                    .join(self.venv)
                    .join("bin/python"),
            )
        });
        let ok = candidate.as_ref().is_some_and(|p| {
            std::process::Command::new(p)
                .args(["-c", &format!("import {}", self.imports)])
                .output()
                .is_ok_and(|o| o.status.success())
        });
        if ok {
            return candidate;
        }
        assert!(
            std::env::var_os(self.require).is_none(),
            "{} is set but {} is not available ({})",
            self.require,
            self.what,
            self.install
        );
        eprintln!("skipped: {} is not installed ({})", self.what, self.install);
        None
    }
}

fn grpcio_script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../../scripts/grpcio/{name}"))
}

/// The real grpcio echo server (`scripts/grpcio/server.py`) on 127.0.0.1.
pub struct GrpcServer {
    child: Child,
    /// The port it listens on.
    pub port: u16,
}

impl GrpcServer {
    /// Starts it, in plain text (h2c), or over TLS with `tls` (the PEM
    /// certificate chain and its key).
    pub async fn start(python: &Path, tls: Option<(&Path, &Path)>) -> GrpcServer {
        let mut cmd = Command::new(python);
        cmd.arg(grpcio_script("server.py"));
        if let Some((chain, key)) = tls {
            cmd.arg("--tls").arg(chain).arg(key);
        }
        // It serves until its stdin closes.
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let port = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .expect("the gRPC server prints its port")
            .unwrap()
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        GrpcServer { child, port }
    }

    /// Closes its stdin and waits (10 s at most) for it to exit.
    pub async fn stop(mut self) {
        drop(self.child.stdin.take());
        let _ = tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await;
    }
}

/// Calls `/echo.Echo/Say` through `addr` with the grpcio client
/// (`scripts/grpcio/client.py`): its JSON report.
pub async fn grpc_call(
    python: &Path,
    addr: &str,
    message: &str,
    authorization: Option<&str>,
) -> Value {
    let mut cmd = Command::new(python);
    cmd.arg(grpcio_script("client.py")).arg(addr).arg(message);
    if let Some(a) = authorization {
        cmd.arg(a);
    }
    let out = tokio::time::timeout(Duration::from_secs(60), cmd.output())
        .await
        .expect("the gRPC client finishes")
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.lines().last().unwrap()).unwrap()
}
