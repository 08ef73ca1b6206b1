//! Helpers for the `l402 check` and `l402 token` tests: run the binary
//! with `--json`, start `l402 serve` with a configuration, and a hand-made
//! seller that gets one conformance item wrong per path.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

pub mod bad;

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};

pub use crate::get_support::run_json;
use crate::get_support::{Run, Serve, l402};

/// Starts `l402 serve` with `config` (TOML) and extra environment.
pub async fn serve_with(data_dir: &Path, config: &str, env: &[(&str, &str)]) -> Serve {
    let file = data_dir.join("serve.toml");
    std::fs::create_dir_all(data_dir).unwrap();
    std::fs::write(&file, config).unwrap();
    let mut cmd = l402(data_dir);
    cmd.arg("--json")
        .arg("serve")
        .arg("--listen")
        .arg("127.0.0.1:0")
        .arg("--config")
        .arg(&file)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
        .await
        .expect("l402 serve announces itself")
        .unwrap()
        .expect("a line on stdout");
    let info: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(info["event"], "listening", "{info}");
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Serve { child, info }
}

/// The verdict of item `id` in a check's JSON.
pub fn verdict(check: &Value, id: &str) -> String {
    check["items"]
        .as_array()
        .and_then(|items| items.iter().find(|i| i["id"] == id))
        .map(|i| i["verdict"].as_str().unwrap_or("").to_owned())
        .unwrap_or_else(|| panic!("no item {id} in {check}"))
}

/// The ids of the items that failed (required or advisory).
pub fn failed(check: &Value) -> Vec<String> {
    check["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter(|i| i["verdict"] == "fail")
                .map(|i| i["id"].as_str().unwrap_or("").to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// What `l402 --json token attenuate` printed.
pub struct Attenuated {
    pub authorization: String,
    pub macaroon: String,
    pub added: Vec<String>,
    pub json: Value,
}

impl From<Run> for Attenuated {
    fn from(run: Run) -> Self {
        assert_eq!(run.code, Some(0), "{} {}", run.json, run.stderr);
        let json = run.json;
        Attenuated {
            authorization: json["authorization"].as_str().unwrap().to_owned(),
            macaroon: json["macaroon"].as_str().unwrap().to_owned(),
            added: json["added"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c.as_str().unwrap().to_owned())
                .collect(),
            json,
        }
    }
}
