//! `l402 serve` with `[remote]`: the paid routes sold through a remote
//! producer API. The server holds the merchant API key only; challenges come
//! from the producer's `POST /api/l402/challenges` and credentials are
//! verified by its `POST /api/l402/challenges/verify`, then cached. The
//! `[[services]]` are sold the same way (see [`super::proxy::build_remote`]).

use std::net::SocketAddr;

use l402_proxy::Proxy;
use serde_json::json;

use super::app::{App, DEMO_PATH, DEMO_PRICE_SATS};
use super::shutdown_signal;
use crate::Global;
use crate::config::{Config, Remote};

/// Serves `app` (built on the remote producer) until interrupted.
pub(super) async fn serve(
    global: &Global,
    config: &Config,
    remote: &Remote,
    app: App,
    services: Option<Proxy>,
    listener: tokio::net::TcpListener,
    telemetry: &super::telemetry::Guard,
) -> anyhow::Result<()> {
    let mut router = app.build();
    if let Some(services) = services {
        // Last: every request no route above takes.
        router = router.fallback_service(services);
    }
    let addr = listener.local_addr()?;
    let router = super::telemetry::instrument(router, telemetry, addr);
    let base = format!("http://{addr}");
    let shutdown = shutdown_signal();
    announce(global, config, remote, &base);
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await?;
    if !global.json {
        eprintln!("l402 serve: stopped");
    }
    Ok(())
}

fn announce(global: &Global, config: &Config, remote: &Remote, base: &str) {
    let demo_url = config.demo.then(|| format!("{base}{DEMO_PATH}"));
    if global.json {
        let line = json!({
            "event": "listening",
            "url": base,
            "backend": "remote",
            "remote_url": remote.url,
            "demo_url": demo_url,
            "demo_price_sats": config.demo.then_some(DEMO_PRICE_SATS),
            "routes": config.routes.iter().map(|r| json!({"path": r.path, "price_sats": r.price_sats})).collect::<Vec<_>>(),
            "services": super::proxy::announced(&config.services),
            "data_dir": global.data_dir,
            "producer": null,
        });
        println!("{line}");
        return;
    }
    println!("l402 serve: listening on {base}");
    println!(
        "  producer: remote, {} (challenges and verification; the API key is not shown)",
        remote.url
    );
    for route in &config.routes {
        println!(
            "  paid:     GET {base}{}  ({} sats)",
            route.path, route.price_sats
        );
    }
    if let Some(demo_url) = demo_url {
        println!("  demo:     GET {demo_url}  ({DEMO_PRICE_SATS} sats)");
    }
    super::proxy::print_banner(&config.services);
}
