//! gRPC through `l402 serve`'s proxy, with a real grpcio server and client
//! (PyPI, `scripts/grpcio.sh`): an unpaid call gets Aperture's answer
//! (`200`, `grpc-status: 13`, `grpc-message: payment required`); a token
//! bought with `l402 get` is then sent as `authorization` metadata, and the
//! call crosses over h2c with its trailers, the credential not forwarded; a
//! service whose pricer is down answers a gRPC client `UNAVAILABLE`.
//!
//! Run: `export L402_GRPCIO_PYTHON="$(bash scripts/grpcio.sh python)"`,
//! then `L402_REQUIRE_GRPCIO=1 cargo test -p l402-cli --test proxy_grpc`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod get_support;
mod proxy_support;
mod python_support;
mod serve_support;

use proxy_support::write_serve_config;
use python_support::{GRPCIO, GrpcServer, grpc_call as call};
use serve_support::{l402, start};

#[tokio::test]
async fn a_grpc_call_is_challenged_as_aperture_does_then_paid_with_trailers() {
    let Some(python) = GRPCIO.python() else {
        return;
    };
    let upstream = GrpcServer::start(&python, None).await;
    let port = upstream.port;

    let dir = tempfile::tempdir().unwrap();
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let config = write_serve_config(
        dir.path(),
        &format!(
            r#"
[[services]]
name = "priced-grpc"
host = "localhost"
pathregexp = "^/echo\\.Echo/"
address = "127.0.0.1:{port}"
protocol = "h2c"
price = {{ pricer = "http://{closed}/price" }}

[[services]]
name = "echo-grpc"
pathregexp = "^/echo\\.Echo/"
address = "127.0.0.1:{port}"
protocol = "h2c"
price_sats = 7
"#
        ),
    );
    let server = start(l402(dir.path()), &["--config", &config]).await;
    let base = server.url();
    let addr = base.trim_start_matches("http://").to_owned();

    // Unpaid: Aperture's answer to a gRPC client.
    let unpaid = call(&python, &addr, "hi", None).await;
    assert_eq!(unpaid["code"], "INTERNAL", "{unpaid}");
    assert_eq!(unpaid["details"], "payment required");
    let challenge = unpaid["initial"]["www-authenticate"]
        .as_str()
        .or_else(|| unpaid["trailers"]["www-authenticate"].as_str())
        .unwrap_or_default();
    assert!(challenge.starts_with("L402 "), "{unpaid}");

    // Buy the service's token with l402 get (a plain POST: the gRPC server
    // refuses it, the token is stored all the same).
    let url = format!("{base}/echo.Echo/Say");
    let bought = get_support::get_json(dir.path(), &["-X", "POST", &url], &[]).await;
    assert_eq!(
        bought.json["receipt"]["amount_msat"], 7_000,
        "{} {}",
        bought.json, bought.stderr
    );
    let export = get_support::run_json(dir.path(), &["token", "export", &url], &[]).await;
    let credential = export.json["authorization"].as_str().unwrap().to_owned();

    // Paid: the call crosses, trailers and all; the credential stays here.
    let paid = call(&python, &addr, "hello over h2c", Some(&credential)).await;
    assert_eq!(paid["code"], "OK", "{paid}");
    assert_eq!(paid["answer"]["message"], "hello over h2c");
    assert_eq!(paid["trailers"]["x-echo-trailer"], "kept");
    let metadata = &paid["answer"]["metadata"];
    assert!(metadata.get("authorization").is_none(), "{metadata}");
    assert_eq!(metadata["x-forwarded-for"], "127.0.0.1");

    // A forged credential: refused without a new invoice.
    let (head, last) = credential.split_at(credential.len() - 1);
    let forged = format!("{head}{}", if last == "0" { "1" } else { "0" });
    let refused = call(&python, &addr, "hi", Some(&forged)).await;
    assert_ne!(refused["code"], "OK", "{refused}");

    // The pricer down: a gRPC status, not JSON.
    let by_name = addr.replace("127.0.0.1", "localhost");
    let down = call(&python, &by_name, "hi", None).await;
    assert_eq!(down["code"], "UNAVAILABLE", "{down}");
    let details = down["details"].as_str().unwrap_or_default();
    assert!(details.contains("pricer cannot be reached"), "{down}");

    server.stop().await;
    upstream.stop().await;
}
