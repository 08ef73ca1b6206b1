//! `l402 serve`: run a paid API.
//!
//! With no configuration it listens on 127.0.0.1:8402 with the embedded dev
//! node (state under the data directory), serves a paid demo endpoint and the
//! dev node's LNbits-compatible wallet API under `/dev`, writes a funded buyer
//! wallet to `<data dir>/dev-wallet.json` for `l402 get`, and prints how to
//! pay. A TOML file (`--config`) and environment variables select LNbits,
//! phoenixd, LND or Core Lightning (see [`crate::node`]), the address, token
//! lifetimes and paid routes.

mod app;
mod args;
mod banner;
mod catalog;
mod counters;
mod dashboard;
mod demo;
mod mcp;
mod metrics;
mod proxy;
mod remote;
mod settlements;
mod telemetry;
mod tls;
mod workers;

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use l402_lightning::dev::DevNode;
use l402_lightning::lnbits::LnbitsClient;
use l402_lightning::{Receiver, Wallet};
use l402_producer::Producer;

use crate::config::{self, Backend, Config, StoreTarget};
use crate::devwallet::{self, DevWalletFile};
use crate::{Global, state};
pub use app::DEMO_PATH;
use app::{App, DEMO_PRICE_SATS, PaidRoute};
pub use args::Args;
use args::overrides;
use banner::{ProducerInfo, announce};

/// Exit codes (documented in `l402 serve --help`).
mod exit {
    pub const START: u8 = 1;
    pub const CONFIG: u8 = 2;
    pub const LISTEN: u8 = 3;
}

/// Fake sats the dev buyer wallet is topped up to at start.
const DEV_BUYER_FUNDS_SATS: u64 = 1_000_000;

/// Runs the server until interrupted.
pub async fn run(global: &Global, args: Args) -> ExitCode {
    let overrides = overrides(&args);
    let config = match config::load(args.config.as_deref(), &overrides) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: invalid configuration: {e}");
            eprintln!("       the server did not start; fix the value and run `l402 serve` again");
            return ExitCode::from(exit::CONFIG);
        }
    };
    // Logs, and the span exporter when [telemetry] names an endpoint.
    let telemetry = telemetry::init(&config.telemetry);
    for warning in &config.warnings {
        eprintln!("warning: {warning}");
    }
    if let Err(e) = check_dev_exposure(&config, &args) {
        eprintln!("error: {e:#}");
        return ExitCode::from(exit::START);
    }
    // Listen before writing anything: a busy port leaves no state behind.
    let listener = match tokio::net::TcpListener::bind(config.listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("{}", listen_error(&config, args.config.as_deref(), &e));
            return ExitCode::from(exit::LISTEN);
        }
    };
    let served = serve(global, &args, config, listener, &telemetry).await;
    telemetry.shutdown().await;
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(exit::START)
        }
    }
}

/// Why the address cannot be listened on, and what to do.
fn listen_error(config: &Config, file: Option<&std::path::Path>, e: &std::io::Error) -> String {
    let addr = config.listen;
    let why = match e.kind() {
        std::io::ErrorKind::AddrInUse => {
            "the address is in use (another `l402 serve`, or another program, listens there)"
                .to_owned()
        }
        std::io::ErrorKind::PermissionDenied => {
            "not permitted (ports below 1024 need privileges)".to_owned()
        }
        std::io::ErrorKind::AddrNotAvailable => "this machine has no such address".to_owned(),
        _ => e.to_string(),
    };
    let next = SocketAddr::new(addr.ip(), addr.port().wrapping_add(1).max(1));
    let config_hint = match file {
        Some(f) => format!("listen = \"{next}\" in {}", f.display()),
        None => format!("listen = \"{next}\" in the config file (--config)"),
    };
    format!(
        "error: cannot listen on {addr}: {why}\n       \
         nothing was started or written; pick another address with --listen {next} \
         (or L402_LISTEN, or {config_hint})"
    )
}

/// The dev node moves no real money, and anyone who reaches its wallet API
/// can pay from its wallets: loopback only, unless asked for.
fn check_dev_exposure(config: &Config, args: &Args) -> anyhow::Result<()> {
    if matches!(config.backend, Backend::Dev)
        && config.remote.is_none()
        && !config.listen.ip().is_loopback()
        && !args.allow_public_dev_node
    {
        anyhow::bail!(
            "refusing to listen on {} with the dev node: it is not a real Lightning node and \
             anyone who reaches it can pay from its wallets. Listen on 127.0.0.1, configure a \
             real backend, or pass --allow-public-dev-node",
            config.listen
        );
    }
    Ok(())
}

struct DevParts {
    node: DevNode,
    buyer_admin_key: String,
    buyer_invoice_key: String,
}

async fn serve(
    global: &Global,
    args: &Args,
    config: Config,
    listener: tokio::net::TcpListener,
    telemetry: &telemetry::Guard,
) -> anyhow::Result<()> {
    let data_dir = &global.data_dir;
    state::create_data_dir(data_dir)?;
    if let Some(remote) = &config.remote {
        // No node, no secret, no store: the producer holds them.
        let producer = remote.producer()?;
        let services = proxy::build_remote(&config, producer.clone(), telemetry.propagator())?;
        let app = with_routes(App::remote(producer), &config);
        return remote::serve(global, &config, remote, app, services, listener, telemetry).await;
    }
    let keys = state::keyring(data_dir)?;

    // `payer`: the wallet splits are paid from (none with an LNbits invoice key).
    type Faces = (Arc<dyn Receiver>, Option<Arc<dyn Wallet>>, Option<DevParts>);
    let (receiver, payer, dev): Faces = match &config.backend {
        Backend::Dev => {
            let node = DevNode::builder()
                .data_dir(data_dir.join("dev-node"))
                .allow_non_loopback(args.allow_public_dev_node)
                .open()
                .await?;
            let merchant = node.wallet("merchant").await?;
            let buyer = node.wallet("buyer").await?;
            let balance_sats = l402_lightning::Wallet::balance_msat(&buyer).await? / 1000;
            if balance_sats < DEV_BUYER_FUNDS_SATS / 10 {
                buyer
                    .credit_sats(DEV_BUYER_FUNDS_SATS - balance_sats)
                    .await?;
            }
            let parts = DevParts {
                buyer_admin_key: buyer.admin_key().to_owned(),
                buyer_invoice_key: buyer.invoice_key().to_owned(),
                node,
            };
            let merchant = Arc::new(merchant);
            (merchant.clone(), Some(merchant), Some(parts))
        }
        Backend::Lnbits {
            url,
            invoice_key,
            timeout_secs,
        } => {
            let client = LnbitsClient::builder(url.clone())
                .invoice_key(invoice_key.clone())
                .timeout(Duration::from_secs(*timeout_secs))
                .build()?;
            (Arc::new(client), None, None)
        }
        Backend::Node(node) => {
            // Nothing is contacted here: an unreachable node is a 503 per
            // request (with Retry-After), not a failed start.
            let (receiver, wallet) = node
                .build()
                .map_err(|e| anyhow::anyhow!("{}: {e}", node.label()))?;
            (receiver, Some(wallet), None)
        }
    };

    let producer = if config.producer.enabled {
        let store = Arc::new(state::open_store(data_dir, &config.store).await?);
        let (token, token_file) = state::admin_token(data_dir)?;
        let producer = Producer::builder(store.clone(), receiver.clone(), keys.clone())
            .admin_token(token)
            .rate_limit_per_minute(config.producer.rate_limit_per_minute)
            .max_price_sats(config.producer.max_price_sats)
            // X-Forwarded-For is read only from these (right-most untrusted hop).
            .trusted_proxies(&config.producer.trusted_proxies)?
            .token_lifetime(Duration::from_secs(config.token_lifetime_secs))
            .invoice_expiry(Duration::from_secs(config.invoice_expiry_secs));
        let identity = match &config.producer.public_url {
            Some(url) => l402_producer::IdentityConfig::default().public_url(url.clone()),
            None => l402_producer::IdentityConfig::default(),
        };
        let producer = producer
            .identity(identity)
            .webhooks(config.webhooks.producer_config()?)
            .directory(config.webhooks.directory_config())
            .passes(config.passes.producer_config());
        // [splits]: the payout worker runs as long as the producer.
        let producer = match (config.splits.enabled, &payer) {
            (false, _) => producer,
            (true, Some(wallet)) => producer.splits(config.splits.producer_config(wallet.clone())),
            (true, None) => anyhow::bail!(
                "[splits] needs a backend that can pay (dev, phoenixd, lnd, cln or nwc); \
                 an LNbits invoice key can only receive"
            ),
        };
        let producer = producer.build();
        Some((producer, store, token_file))
    } else {
        None
    };

    // Settlement notifications, where the node pushes them: logged, and
    // handed to the producer (payments recorded, webhooks queued).
    // [metrics]: one registry for every paid route, the settlements and
    // a backend probe.
    let metrics = config
        .metrics
        .enabled
        .then(|| metrics::registry(Some(&receiver)));
    if let Some(metrics) = &metrics {
        metrics::spawn_probe(receiver.clone(), metrics.clone());
    }
    settlements::follow(
        receiver.clone(),
        producer.as_ref().map(|(p, _, _)| p.clone()),
        metrics.clone(),
    );

    // [[services]]: sold through layers like the paid routes' own; their
    // freebies and rate limits counted in PostgreSQL when the store is.
    let store = producer.as_ref().map(|(_, s, _)| s.as_ref());
    let context = proxy::ProxyContext {
        receiver: receiver.clone(),
        keys: keys.clone(),
        recorder: producer.as_ref().map(|(p, _, _)| p.sales_recorder()),
        metrics: metrics.clone(),
        counters: counters::shared(data_dir, &config, store).await?,
        propagate: telemetry.propagator(),
    };
    let services = proxy::build(&config, &context)?;
    // The discovery document's services: the catalog's, kept current.
    let discovery = app::ServiceEndpoints::default();
    discovery.set(proxy::endpoints(&config.services));
    // The services at runtime: the file's (reloaded on SIGHUP) and the
    // store's (admin API, merchants' proxies), swapped in without a restart.
    let catalog = (producer.is_some() || services.is_some()).then(|| {
        Arc::new(catalog::Catalog::new(
            &config,
            services,
            producer.as_ref().map(|(p, s, _)| (p.clone(), s.clone())),
            context,
            discovery.clone(),
        ))
    });
    if let Some(catalog) = &catalog {
        if let Some((producer, _, _)) = &producer {
            producer.set_proxy_catalog(catalog.clone());
        }
        catalog.rebuild().await;
        catalog::reload_on_sighup(catalog.clone(), args.config.clone(), overrides(args));
        // Other instances on the same PostgreSQL: their changes picked up.
        if matches!(config.store.target, StoreTarget::Postgres { .. })
            && let Some(every) = store_poll_interval()?
        {
            catalog::follow_store(catalog.clone(), every);
        }
    }
    let mut app = with_routes(App::new(receiver, keys), &config)
        .service_endpoints(discovery)
        .token_lifetime(Duration::from_secs(config.token_lifetime_secs))
        .invoice_expiry(Duration::from_secs(config.invoice_expiry_secs));
    if let Some((producer, _, _)) = &producer {
        // The paid routes' challenges and payments go into the store too.
        app = app.recorder(producer.sales_recorder());
    }
    if let Some(metrics) = &metrics {
        app = app.observer(metrics.clone());
    }
    let mut router = app.build();
    if let Some(metrics) = &metrics {
        match config.metrics.listen {
            Some(addr) => {
                let listener = tokio::net::TcpListener::bind(addr)
                    .await
                    .map_err(|e| anyhow::anyhow!("cannot listen on {addr} for [metrics]: {e}"))?;
                metrics::spawn_listener(listener, metrics.clone(), std::future::pending());
            }
            None => {
                let (token, _) = state::admin_token(data_dir)?;
                router = router.merge(metrics::admin_router(metrics.clone(), token));
            }
        }
    }
    if let Some(dev) = &dev {
        router = router.nest_service("/dev", dev.node.router());
    }
    if let Some((producer, store, _)) = &producer {
        let mut api = producer.router();
        if !config.passes.enabled {
            api = api.layer(axum::middleware::from_fn(no_passes));
        }
        router = router.merge(api);
        router = router.merge(dashboard::router(
            producer,
            store.clone(),
            data_dir,
            &config,
        )?);
        if config.mcp.enabled {
            let routes = mcp::routes_json(&config, (DEMO_PATH, DEMO_PRICE_SATS));
            router = router.merge(mcp::router(producer, config.mcp.http(), routes));
        }
    }
    if let Some(catalog) = &catalog {
        // Last: every request no route above takes.
        router = router.fallback_service(catalog.live());
    }

    let addr = listener.local_addr()?;
    let base = format!("{}://{addr}", tls::scheme(&config));

    let dev_wallet = dev.as_ref().map(|d| DevWalletFile {
        url: format!("{base}/dev"),
        admin_key: d.buyer_admin_key.clone(),
        invoice_key: d.buyer_invoice_key.clone(),
        real_lightning: false,
    });
    if let Some(wallet) = &dev_wallet {
        devwallet::write(data_dir, wallet)?;
    }
    let producer_info = producer
        .as_ref()
        .map(|(_, store, token_file)| ProducerInfo {
            store: store.backend(),
            admin_token_file: token_file.clone(),
        });
    let shutdown = shutdown_signal();
    announce(
        global,
        &config,
        &base,
        dev_wallet.as_ref(),
        producer_info.as_ref(),
    );

    let router = telemetry::instrument(router, telemetry, addr);
    let workers = args.workers.unwrap_or_else(workers::default_workers);
    tls::serve(listener, config.tls.as_ref(), router, workers, shutdown).await?;
    if let Some((producer, store, _)) = producer {
        if let Err(e) = producer.flush().await {
            eprintln!("warning: verification counts not written: {e}");
        }
        store.close().await;
    }
    if let Some(dev) = dev {
        dev.node.close().await;
    }
    if !global.json {
        eprintln!("l402 serve: stopped");
    }
    Ok(())
}

/// How often the stored services are compared with the store (PostgreSQL,
/// shared by instances): `L402_PROXY_POLL_SECS` (default 5; 0: never).
fn store_poll_interval() -> anyhow::Result<Option<Duration>> {
    let secs = match std::env::var("L402_PROXY_POLL_SECS") {
        Ok(v) => v.trim().parse::<u64>().map_err(|_| {
            anyhow::anyhow!("L402_PROXY_POLL_SECS: {v:?} is not a whole number of seconds")
        })?,
        Err(_) => 5,
    };
    Ok((secs > 0).then(|| Duration::from_secs(secs.min(3600))))
}

/// `[passes] enabled = false`: the pass routes answer 404.
async fn no_passes(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    if config::Passes::PATHS.contains(&request.uri().path()) {
        return l402_server::ErrorBody::new(
            axum::http::StatusCode::NOT_FOUND,
            "passes_disabled",
            "passes are not sold here ([passes] enabled = false)",
        )
        .response()
        .map(axum::body::Body::from);
    }
    next.run(request).await
}

/// The configuration's demo switch and paid routes, on `app`.
fn with_routes(mut app: App, config: &Config) -> App {
    app = app.demo(config.demo).demo_settings(demo::DemoSettings {
        price_url: config.demo_price_url.clone(),
    });
    for route in &config.routes {
        app = app.route(PaidRoute {
            path: route.path.clone(),
            price_sats: route.price_sats,
            description: route.description.clone(),
            body: route.body.clone().into(),
            content_type: route.content_type.clone(),
        });
    }
    let services = app::ServiceEndpoints::default();
    services.set(proxy::endpoints(&config.services));
    app.service_endpoints(services)
}

/// Installs the SIGINT and SIGTERM handlers now, before the server says it
/// is listening (a stop sent right after that is a graceful stop, not a
/// kill), and returns what resolves on the first of them.
fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let terminate = signal(SignalKind::terminate()).ok();
        let interrupt = signal(SignalKind::interrupt()).ok();
        async move {
            let wait = |s: Option<tokio::signal::unix::Signal>| async move {
                match s {
                    Some(mut s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                () = wait(terminate) => {},
                () = wait(interrupt) => {},
            }
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}
