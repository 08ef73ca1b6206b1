//! The Python webhook receiver (`tests/webhooks_receiver.py`), which checks
//! signatures with Python's own `hmac`, run as a process that can be
//! stopped and started again on the same port; shared by the producer's
//! and `l402 serve`'s webhook tests. Python 3 is required: without it the
//! tests fail (no skip).
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub struct Receiver {
    pub port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../l402-producer/tests/webhooks_receiver.py")
}

impl Receiver {
    /// Starts a receiver on `port` (fixed, so it can come back on it).
    pub fn start(port: u16) -> Receiver {
        let mut r = Receiver {
            port,
            dir: tempfile::tempdir().unwrap(),
            child: None,
        };
        r.up();
        r
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hook", self.port)
    }

    fn secret_file(&self) -> PathBuf {
        self.dir.path().join("secret")
    }

    fn log_file(&self) -> PathBuf {
        self.dir.path().join("log.jsonl")
    }

    /// The secret the receiver checks with.
    pub fn set_secret(&self, secret: &str) {
        std::fs::write(self.secret_file(), secret).unwrap();
    }

    /// Starts the process (again), waiting until it listens.
    pub fn up(&mut self) {
        assert!(self.child.is_none());
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let mut child = Command::new("python3")
                .arg(script())
                .arg(self.port.to_string())
                .arg(self.secret_file())
                .arg(self.log_file())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .expect("python3 is required for the webhook tests");
            let mut line = String::new();
            BufReader::new(child.stdout.take().unwrap())
                .read_line(&mut line)
                .unwrap();
            if line.starts_with("ready") {
                self.child = Some(child);
                return;
            }
            // The port may still be held for a moment after a stop.
            let _ = child.kill();
            let _ = child.wait();
            assert!(
                Instant::now() < deadline,
                "the receiver cannot listen on {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Stops the process: connections are refused until `up`.
    pub fn down(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Every request received so far, in order.
    pub fn log(&self) -> Vec<Value> {
        std::fs::read_to_string(self.log_file())
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// The valid events received.
    pub fn events(&self) -> Vec<Value> {
        self.log()
            .into_iter()
            .filter(|l| l["valid"] == true)
            .map(|l| l["event"].clone())
            .collect()
    }

    /// Waits until `ok` holds for the valid events (at most `secs`).
    pub async fn wait_for(&self, secs: u64, ok: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let events = self.events();
            if ok(&events) {
                return events;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for webhook events; received: {:#?}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.down();
    }
}

/// Posts `body` to the receiver signed with `secret` at `t` by Python's
/// `hmac` (not the producer's code); the receiver's status.
pub async fn post_signed_by_python(url: &str, secret: &str, t: u64, body: &str) -> u16 {
    let header = python_signature(secret, t, body);
    post_with_header(url, &header, body).await
}

/// `t=<t>,v1=<hex>` computed by Python's `hmac`.
pub fn python_signature(secret: &str, t: u64, body: &str) -> String {
    let out = Command::new("python3")
        .arg("-c")
        .arg(
            "import hmac,hashlib,sys; s,t,b=sys.argv[1],sys.argv[2],sys.argv[3]; \
             print('t=%s,v1=%s' % (t, hmac.new(s.encode(), (t+'.'+b).encode(), hashlib.sha256).hexdigest()))",
        )
        .arg(secret)
        .arg(t.to_string())
        .arg(body)
        .output()
        .expect("python3 is required for the webhook tests");
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

pub async fn post_with_header(url: &str, header: &str, body: &str) -> u16 {
    reqwest::Client::new()
        .post(url)
        .header("l402-signature", header)
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}
