//! A purchase end to end through the real binaries on each node kind that
//! cannot run here: `l402 serve` with `[backend] kind = "lnd" | "cln" |
//! "phoenixd"` pointed at the test kit's fake of that node, bought by
//! `l402 get` paying through a fake node of the same kind (its
//! `L402_<NODE>_*` variables). Both fakes serve wallets of one dev-node
//! ledger in this test process, so the money that moves is counted there:
//! paid once, 200, the token reused; a payment the node fails is exit 4
//! with "no money moved"; a connection cut after the pay request is
//! resolved by lookup, never paid twice; a payment still pending when the
//! wallet stops waiting is exit 7, "unknown" (never "no"), and used by the
//! next run without paying again. Where the node pushes settlements
//! (LND, phoenixd), the server logs the one it learnt of.
//!
//! These are fakes, not real nodes (l402_testkit's docs say how each was
//! checked against third-party clients).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod serve_support;

use std::path::Path;
use std::time::Duration;

use l402_lightning::Wallet;
use l402_lightning::dev::{DevFault, DevNode, DevWallet};
use l402_testkit::wire::tls_cert_path;
use l402_testkit::{FakeCln, FakeLnd, FakePhoenixd, cln, lnd, phoenixd};
use serde_json::Value;
use serve_support::{GetRun, Server, clean, get_regtest, l402, start_capturing_stderr, strip_ansi};
use tokio::process::Command;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Lnd,
    ClnRest,
    ClnSocket,
    Phoenixd,
}

/// A started fake node of one kind.
enum Fake {
    Lnd(FakeLnd),
    Cln(FakeCln, bool),
    Phoenixd(FakePhoenixd),
}

impl Fake {
    async fn start(kind: Kind, wallet: DevWallet) -> Fake {
        match kind {
            Kind::Lnd => Fake::Lnd(FakeLnd::start(wallet).await),
            Kind::ClnRest => Fake::Cln(FakeCln::start(wallet).await, false),
            Kind::ClnSocket => Fake::Cln(FakeCln::start(wallet).await, true),
            Kind::Phoenixd => Fake::Phoenixd(FakePhoenixd::start(wallet).await),
        }
    }

    /// The `[backend]` table of `l402 serve` for this node.
    fn backend_toml(&self) -> String {
        let cert = tls_cert_path();
        let cert = cert.display();
        match self {
            Fake::Lnd(f) => format!(
                "[backend]\nkind = \"lnd\"\nurl = \"{}\"\nmacaroon_hex = \"{}\"\ntls_cert_file = \"{cert}\"\n",
                f.url,
                lnd::MACAROON
            ),
            Fake::Cln(f, false) => format!(
                "[backend]\nkind = \"cln\"\nurl = \"{}\"\nrune = \"{}\"\ntls_cert_file = \"{cert}\"\n",
                f.url,
                cln::RUNE
            ),
            Fake::Cln(f, true) => format!(
                "[backend]\nkind = \"cln\"\nsocket = \"{}\"\n",
                f.socket.display()
            ),
            Fake::Phoenixd(f) => format!(
                "[backend]\nkind = \"phoenixd\"\nurl = \"{}\"\npassword = \"{}\"\n",
                f.url(),
                phoenixd::PASSWORD
            ),
        }
    }

    /// The variables that make `l402 get` pay through this node.
    fn wallet_env(&self) -> Vec<(&'static str, String)> {
        let cert = tls_cert_path().display().to_string();
        match self {
            Fake::Lnd(f) => vec![
                ("L402_LND_URL", f.url.clone()),
                ("L402_LND_MACAROON_HEX", lnd::MACAROON.to_owned()),
                ("L402_LND_TLS_CERT_FILE", cert),
            ],
            Fake::Cln(f, false) => vec![
                ("L402_CLN_URL", f.url.clone()),
                ("L402_CLN_RUNE", cln::RUNE.to_owned()),
                ("L402_CLN_TLS_CERT_FILE", cert),
            ],
            Fake::Cln(f, true) => vec![("L402_CLN_SOCKET", f.socket.display().to_string())],
            Fake::Phoenixd(f) => vec![
                ("L402_PHOENIXD_URL", f.url()),
                ("L402_PHOENIXD_PASSWORD", phoenixd::PASSWORD.to_owned()),
            ],
        }
    }

    fn cut_next_pay(&self) {
        match self {
            Fake::Lnd(f) => f.cut_next_pay(),
            Fake::Cln(f, _) => f.cut_next_pay(),
            Fake::Phoenixd(f) => f.cut_next_pay(),
        }
    }

    /// `get.toml`'s `[wallet]` for this node, with a payment timeout.
    fn wallet_toml(&self, pay_timeout_secs: u64) -> String {
        let cert = tls_cert_path();
        let cert = cert.display();
        let node = match self {
            Fake::Lnd(f) => format!(
                "kind = \"lnd\"\nurl = \"{}\"\nmacaroon_hex = \"{}\"\ntls_cert_file = \"{cert}\"",
                f.url,
                lnd::MACAROON
            ),
            Fake::Cln(f, false) => format!(
                "kind = \"cln\"\nurl = \"{}\"\nrune = \"{}\"\ntls_cert_file = \"{cert}\"",
                f.url,
                cln::RUNE
            ),
            Fake::Cln(f, true) => format!("kind = \"cln\"\nsocket = \"{}\"", f.socket.display()),
            Fake::Phoenixd(f) => format!(
                "kind = \"phoenixd\"\nurl = \"{}\"\npassword = \"{}\"",
                f.url(),
                phoenixd::PASSWORD
            ),
        };
        format!("[wallet]\n{node}\npay_timeout_secs = {pay_timeout_secs}\n")
    }

    /// The secrets that must never be printed.
    fn secrets(&self) -> Vec<&'static str> {
        match self {
            Fake::Lnd(_) => vec![lnd::MACAROON],
            Fake::Cln(_, false) => vec![cln::RUNE],
            Fake::Cln(_, true) => vec![],
            Fake::Phoenixd(_) => vec![phoenixd::PASSWORD],
        }
    }
}

async fn get(client_dir: &Path, url: &str, wallet: &Fake) -> GetRun {
    get_regtest(client_dir, url, &wallet.wallet_env()).await
}

const PRICE_SATS: u64 = 10;

/// One purchase scenario on `kind`: a server and a wallet on fakes of that
/// kind, on one dev ledger.
async fn purchase_end_to_end(kind: Kind) {
    let node = DevNode::builder().in_memory().open().await.unwrap();
    let merchant_wallet = node.wallet("merchant").await.unwrap();
    let payer_wallet = node.wallet("payer").await.unwrap();
    payer_wallet.credit_sats(1_000).await.unwrap();
    let merchant = Fake::start(kind, merchant_wallet.clone()).await;
    let payer = Fake::start(kind, payer_wallet.clone()).await;

    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("l402.toml");
    std::fs::write(
        &config,
        format!(
            "{}\n[[routes]]\npath = \"/api/report\"\nprice_sats = {PRICE_SATS}\nbody = \"paid report\"\n\n\
             [[routes]]\npath = \"/api/fails\"\nprice_sats = 5\nbody = \"never\"\ndescription = '{}'\n\n\
             [[routes]]\npath = \"/api/cut\"\nprice_sats = 7\nbody = \"cut but paid once\"\n",
            merchant.backend_toml(),
            DevFault::Failed.memo()
        ),
    )
    .unwrap();
    let mut cmd = clean(l402(dir.path()));
    cmd.env("L402_LOG", "l402::settlements=info");
    let (server, server_stderr): (Server, _) =
        start_capturing_stderr(cmd, &["--config", config.to_str().unwrap()]).await;
    let base = server.url();
    let client = tempfile::tempdir().unwrap();
    let balances = || async {
        (
            payer_wallet.balance_msat().await.unwrap(),
            merchant_wallet.balance_msat().await.unwrap(),
        )
    };
    assert_eq!(balances().await, (1_000_000, 0));

    // Paid once, 200.
    let paid = get(client.path(), &format!("{base}/api/report"), &payer).await;
    assert_eq!(
        paid.code,
        Some(0),
        "{kind:?}: {}\n{}",
        paid.stdout,
        paid.stderr
    );
    assert_eq!(paid.json["status"], 200, "{kind:?}: {}", paid.json);
    assert_eq!(paid.json["token"], "paid", "{kind:?}");
    assert_eq!(paid.json["body"], "paid report", "{kind:?}");
    assert_eq!(paid.json["receipt"]["amount_msat"], PRICE_SATS * 1000);
    let hash = paid.json["receipt"]["payment_hash"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(balances().await, (990_000, 10_000), "{kind:?}");

    // The token is reused: nothing more moves.
    let again = get(client.path(), &format!("{base}/api/report"), &payer).await;
    assert_eq!(again.code, Some(0), "{kind:?}: {}", again.stderr);
    assert_eq!(again.json["token"], "cached", "{kind:?}");
    assert_eq!(again.json["body"], "paid report");
    assert_eq!(balances().await, (990_000, 10_000), "{kind:?}");

    // The node fails the payment: exit 4, and it says no money moved
    // because the node said so.
    let failed = get(client.path(), &format!("{base}/api/fails"), &payer).await;
    assert_eq!(
        failed.code,
        Some(4),
        "{kind:?}: {}\n{}",
        failed.json,
        failed.stderr
    );
    assert_eq!(failed.json["error"]["money_moved"], "no", "{kind:?}");
    assert_eq!(balances().await, (990_000, 10_000), "{kind:?}");

    // The wallet's connection is cut after the pay request: the payment is
    // unknown, looked up, found paid, and used, never paid twice.
    payer.cut_next_pay();
    let cut = get(client.path(), &format!("{base}/api/cut"), &payer).await;
    assert_eq!(cut.code, Some(0), "{kind:?}: {}\n{}", cut.json, cut.stderr);
    assert_eq!(cut.json["status"], 200, "{kind:?}");
    assert_eq!(cut.json["body"], "cut but paid once");
    assert_eq!(balances().await, (983_000, 17_000), "{kind:?}");
    let again = get(client.path(), &format!("{base}/api/cut"), &payer).await;
    assert_eq!(again.json["token"], "cached", "{kind:?}");
    assert_eq!(balances().await, (983_000, 17_000), "{kind:?}");

    // Where the node pushes settlements, the server learnt of the payment
    // without polling (it logs the hash and amount, nothing secret).
    // (The first purchase settled several runs of `l402 get` ago.)
    let pushes = matches!(kind, Kind::Lnd | Kind::Phoenixd);
    server.stop().await;
    let log = strip_ansi(&server_stderr.await.unwrap());
    if pushes {
        let line = log
            .lines()
            .find(|l| l.contains("invoice settled") && l.contains(&hash))
            .unwrap_or_else(|| panic!("{kind:?}: no settlement logged for {hash}:\n{log}"));
        assert!(line.contains("amount_msat=10000"), "{line}");
    }
    for secret in merchant.secrets() {
        for text in [
            &log,
            &paid.stdout,
            &paid.stderr,
            &failed.stdout,
            &failed.stderr,
        ] {
            assert!(
                !text.contains(secret),
                "{kind:?}: a secret was printed: {text}"
            );
        }
    }
}

#[tokio::test]
async fn lnd_purchase_end_to_end() {
    purchase_end_to_end(Kind::Lnd).await;
}

#[tokio::test]
async fn cln_rest_purchase_end_to_end() {
    purchase_end_to_end(Kind::ClnRest).await;
}

#[tokio::test]
async fn cln_socket_purchase_end_to_end() {
    purchase_end_to_end(Kind::ClnSocket).await;
}

#[tokio::test]
async fn phoenixd_purchase_end_to_end() {
    purchase_end_to_end(Kind::Phoenixd).await;
}

/// Waits until `fake` has `n` websocket clients.
async fn websocket_clients(fake: &FakePhoenixd, n: usize) {
    for _ in 0..500 {
        if fake.websocket_clients() == n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{} websocket clients, not {n}", fake.websocket_clients());
}

#[tokio::test]
async fn phoenixd_settlements_are_resumed_after_the_websocket_drops() {
    use l402_lightning::{InvoiceRequest, PayRequest, Receiver};
    let node = DevNode::builder().in_memory().open().await.unwrap();
    let payer_wallet = node.wallet("payer").await.unwrap();
    payer_wallet.credit_sats(100).await.unwrap();
    let merchant = FakePhoenixd::start(node.wallet("merchant").await.unwrap()).await;
    let payer = FakePhoenixd::start(payer_wallet).await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("l402.toml");
    std::fs::write(
        &config,
        format!(
            "[backend]\nkind = \"phoenixd\"\nurl = \"{}\"\npassword = \"{}\"\n",
            merchant.url(),
            phoenixd::PASSWORD
        ),
    )
    .unwrap();
    let mut cmd = clean(l402(dir.path()));
    cmd.env("L402_LOG", "l402::settlements=info");
    let (server, mut log) =
        start_with_live_log(cmd, &["--config", config.to_str().unwrap(), "--no-demo"]).await;
    let pay = |sats: u64| {
        let (merchant, payer) = (merchant.authorized(), payer.authorized());
        async move {
            let invoice = merchant
                .create_invoice(&InvoiceRequest::sats(sats))
                .await
                .unwrap();
            payer.pay(&PayRequest::new(&invoice.bolt11)).await.unwrap();
            invoice.payment_hash.to_string()
        }
    };
    // The server listens and learns of a first payment (its cursor)...
    websocket_clients(&merchant, 1).await;
    let first = pay(3).await;
    let line = log.until(|l| l.contains("invoice settled")).await;
    assert!(
        line.contains(&first) && line.contains("amount_msat=3000"),
        "{line}"
    );
    // ...loses the websocket, and a payment arrives while it is away.
    merchant.drop_websockets();
    websocket_clients(&merchant, 0).await;
    let missed = pay(4).await;
    // It comes back (after its 1 s pause) and replays from its cursor.
    let line = log
        .until(|l| l.contains("invoice settled") && l.contains(&missed))
        .await;
    assert!(line.contains("amount_msat=4000"), "{line}");
    server.stop().await;
    let rest = log.rest().await;
    assert!(log.seen.contains("resubscribing"), "{}", log.seen);
    assert!(!(log.seen.clone() + &rest).contains(phoenixd::PASSWORD));
}

/// The server's log, line by line as it comes.
struct LiveLog {
    lines: tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStderr>>,
    /// Everything read so far (without colours).
    seen: String,
}

impl LiveLog {
    /// Reads until a line matches `want` (60 s at most); returns it.
    async fn until(&mut self, want: impl Fn(&str) -> bool) -> String {
        loop {
            let line = tokio::time::timeout(Duration::from_secs(60), self.lines.next_line())
                .await
                .unwrap_or_else(|_| panic!("not logged within 60 s; so far:\n{}", self.seen))
                .unwrap()
                .unwrap_or_else(|| panic!("the log ended; so far:\n{}", self.seen));
            let line = strip_ansi(&line);
            self.seen.push_str(&line);
            self.seen.push('\n');
            if want(&line) {
                return line;
            }
        }
    }

    /// The rest of the log, once the server has stopped.
    async fn rest(&mut self) -> String {
        let mut rest = String::new();
        while let Ok(Some(line)) = self.lines.next_line().await {
            rest.push_str(&strip_ansi(&line));
            rest.push('\n');
        }
        rest
    }
}

/// `l402 serve <args>` on a free port with its log read as it comes.
async fn start_with_live_log(mut cmd: Command, args: &[&str]) -> (Server, LiveLog) {
    use tokio::io::AsyncBufReadExt;
    let mut child = cmd
        .arg("serve")
        .args(args)
        .arg("--listen")
        .arg("127.0.0.1:0")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut out = tokio::io::BufReader::new(stdout).lines();
    let line = tokio::time::timeout(Duration::from_secs(60), out.next_line())
        .await
        .expect("the server announces itself")
        .unwrap()
        .expect("a line on stdout");
    let info: Value = serde_json::from_str(&line).unwrap();
    // Keep reading stdout so the server never blocks on it.
    tokio::spawn(async move { while let Ok(Some(_)) = out.next_line().await {} });
    let log = LiveLog {
        lines: tokio::io::BufReader::new(stderr).lines(),
        seen: String::new(),
    };
    (Server { child, info }, log)
}

/// A payment the node is still routing when the wallet stops waiting: `l402
/// get` says money may have moved (exit 7, "unknown"), never "no"; a later
/// run finds it paid and uses it without paying again.
async fn a_payment_still_pending_is_unknown_then_recovered(kind: Kind) {
    let node = DevNode::builder().in_memory().open().await.unwrap();
    let merchant_wallet = node.wallet("merchant").await.unwrap();
    let payer_wallet = node.wallet("payer").await.unwrap();
    payer_wallet.credit_sats(100).await.unwrap();
    let merchant = Fake::start(kind, merchant_wallet.clone()).await;
    let payer = Fake::start(kind, payer_wallet.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("l402.toml");
    let pending = DevFault::Pending {
        for_: Duration::from_secs(5),
    };
    std::fs::write(
        &config,
        format!(
            "{}\n[[routes]]\npath = \"/api/slow\"\nprice_sats = 6\nbody = \"worth the wait\"\ndescription = '{}'\n",
            merchant.backend_toml(),
            pending.memo()
        ),
    )
    .unwrap();
    let server = serve_support::start(
        clean(l402(dir.path())),
        &["--config", config.to_str().unwrap(), "--no-demo"],
    )
    .await;
    let url = format!("{}/api/slow", server.url());
    let client = tempfile::tempdir().unwrap();
    std::fs::write(client.path().join("get.toml"), payer.wallet_toml(1)).unwrap();
    let run = |client: &Path| {
        let mut cmd = clean(l402(client));
        cmd.args(["get", "--network", "regtest", &url]);
        async move {
            let out = tokio::time::timeout(Duration::from_secs(120), cmd.output())
                .await
                .unwrap()
                .unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
            let json: Value = stdout
                .lines()
                .last()
                .and_then(|l| serde_json::from_str(l).ok())
                .unwrap_or(Value::Null);
            (
                out.status.code(),
                json,
                String::from_utf8_lossy(&out.stderr).into_owned(),
            )
        }
    };
    let (code, json, stderr) = run(client.path()).await;
    assert_eq!(code, Some(7), "{kind:?}: {json}\n{stderr}");
    assert_eq!(json["error"]["money_moved"], "unknown", "{kind:?}: {json}");
    // Settled now: the next run looks the payment up and uses it.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (code, json, stderr) = run(client.path()).await;
    assert_eq!(code, Some(0), "{kind:?}: {json}\n{stderr}");
    assert_eq!(json["status"], 200, "{kind:?}: {json}");
    assert_eq!(json["body"], "worth the wait");
    assert_eq!(
        (
            payer_wallet.balance_msat().await.unwrap(),
            merchant_wallet.balance_msat().await.unwrap()
        ),
        (94_000, 6_000),
        "{kind:?}: paid once"
    );
    server.stop().await;
}

#[tokio::test]
async fn lnd_a_payment_still_pending_is_unknown_then_recovered() {
    a_payment_still_pending_is_unknown_then_recovered(Kind::Lnd).await;
}

#[tokio::test]
async fn cln_a_payment_still_pending_is_unknown_then_recovered() {
    a_payment_still_pending_is_unknown_then_recovered(Kind::ClnRest).await;
}

#[tokio::test]
async fn phoenixd_a_payment_still_pending_is_unknown_then_recovered() {
    a_payment_still_pending_is_unknown_then_recovered(Kind::Phoenixd).await;
}

#[tokio::test]
async fn the_dev_node_settlements_are_logged_by_serve_too() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = clean(l402(dir.path()));
    cmd.env("L402_LOG", "l402::settlements=info");
    let (server, mut log) = start_with_live_log(cmd, &[]).await;
    let demo = server.info["demo_url"].as_str().unwrap().to_owned();
    // The dev wallet `l402 serve` wrote pays (same data directory).
    let out = clean(l402(dir.path()))
        .args(["get", &demo])
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let paid: Value = serde_json::from_slice(&out.stdout).unwrap();
    let hash = paid["receipt"]["payment_hash"].as_str().unwrap().to_owned();
    let line = log
        .until(|l| l.contains("invoice settled") && l.contains(&hash))
        .await;
    assert!(line.contains("backend=dev node"), "{line}");
    assert!(line.contains("amount_msat=21000"), "{line}");
    server.stop().await;
}
