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

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use l402_lightning::dev::DevNode;
use l402_lightning::lnbits::LnbitsClient;
use l402_lightning::{Receiver, Wallet};
use l402_producer::Producer;
use serde_json::json;

use crate::config::{self, Backend, Config, Overrides, StoreTarget};
use crate::devwallet::{self, DevWalletFile};
use crate::{Global, state};
pub use app::DEMO_PATH;
use app::{App, DEMO_PRICE_SATS, PaidRoute};

/// Exit codes (documented in `l402 serve --help`).
mod exit {
    pub const START: u8 = 1;
    pub const CONFIG: u8 = 2;
    pub const LISTEN: u8 = 3;
}

/// Fake sats the dev buyer wallet is topped up to at start.
const DEV_BUYER_FUNDS_SATS: u64 = 1_000_000;

/// Flags of `l402 serve`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Configuration (TOML), all keys optional:
  listen = \"127.0.0.1:8402\"
  [backend]   kind = \"dev\" | \"lnbits\" | \"phoenixd\" | \"lnd\" | \"cln\",
              timeout_secs (10), pay_timeout_secs (60), and per kind:
              lnbits:   url, invoice_key
              phoenixd: url, password | password_file
              lnd:      url, macaroon_hex | macaroon_file (the binary
                        .macaroon), tls_cert_file (LND's tls.cert, pinned)
              cln:      socket (the node's lightning-rpc), or
                        url + rune + tls_cert_file (clnrest, pinned)
              (relative files: next to the config file)
  [tokens]    lifetime_secs (3600), invoice_expiry_secs (600)
  [demo]      enabled (true), price_url (the BTC price demo's source, a
              CoinGecko simple/price or mempool.space prices URL; default:
              a fixed price labelled as a demo price)
  [metrics]   enabled (false; true when listen is set), listen
              (\"127.0.0.1:9402\": /metrics there, unauthenticated); without
              listen, /metrics on the main listener behind the admin token
  [telemetry] otlp_endpoint (\"http://127.0.0.1:4318\", or
              OTEL_EXPORTER_OTLP_ENDPOINT): OpenTelemetry spans per request
              and per upstream call over OTLP/HTTP; service_name (\"l402\")
  [tls]       cert_file, key_file (PEM; or --tls-cert/--tls-key): listen with
              TLS, HTTP/1.1 and HTTP/2 (ALPN)
  [[routes]]  path, price_sats, body | file, content_type, description
  [proxy]     allow_private_upstreams (false: merchants' proxies, POST
              /api/proxy, must reach public addresses); services added
              through /api/admin/services are stored; SIGHUP reloads the
              file's [[services]]; instances on one PostgreSQL pick up
              each other's stored services every L402_PROXY_POLL_SECS (5)
  [store]     url (\"postgres://...\"; default SQLite <data dir>/store.sqlite),
              schema, max_connections (16)
  [remote]    url, api_key | api_key_file, timeout_secs (10),
              connect_timeout_secs (3), max_in_flight (256),
              recheck_secs (60: how long a revoked key keeps working): sell the
              routes through a remote producer API (an `l402 serve`, or
              Lightning Enable) instead of a backend; no [backend], no
              producer API here. Or L402_REMOTE_URL + L402_REMOTE_API_KEY.
              Producer unreachable: 503 + Retry-After for new challenges
              and unknown credentials; verified ones work until they expire
  [producer]  enabled (true), rate_limit_per_minute (20), max_price_sats,
              trusted_proxies ([]: the proxies in front of the server,
              IP addresses or CIDR blocks, e.g. [\"10.0.0.0/8\", \"::1\"];
              X-Forwarded-For is read only from them, right-most hop
              that is not one; or L402_TRUSTED_PROXIES=\"10.0.0.0/8,::1\"),
              public_url (\"https://pay.example.com\": LNURL-auth callbacks;
              default: the request's Host over http),
              trust_forwarded_for (deprecated: true means
              trusted_proxies = [\"127.0.0.0/8\", \"::1\"])
  [webhooks]  allow_private_targets (false: merchants' endpoints must be
              public addresses), max_attempts (12), first_retry_secs (5),
              max_retry_secs (3600), max_queued (10000 per merchant),
              timeout_secs (10), phoenixd_secret_file, blink_secret_file
              (Svix whsec_...: turn on /api/webhooks/in/phoenixd, /blink)
  [directory] allow_private_targets (false), per_hour (10), max_listings (10000)
  [splits]    enabled (false), fee_bps (0), minimum_sats (10), secret_file
              (or L402_SPLIT_SECRET: the x-split-secret of POST /api/split),
              allow_http (false), retry_secs (30); paid from the node's wallet
              (the dev node's merchant wallet; not with an LNbits invoice key)
  [passes]    enabled (true), days (30), price (9000 sats): /api/dev-token

The server secret that signs tokens is <data dir>/server-secret (created on
first start), or L402_SERVER_SECRET (64 hex digits) to share it between
instances. The producer API's admin token is <data dir>/admin-token, or
L402_ADMIN_TOKEN. Instances sharing one PostgreSQL and one server secret
verify each other's tokens and share idempotency and stats.

LNbits, one naming scheme for both commands:
  L402_LNBITS_URL          the LNbits base URL (serve and get)
  L402_LNBITS_INVOICE_KEY  the invoice key: receiving, for serve
  L402_LNBITS_ADMIN_KEY    the admin key: paying, for get (serve never needs it)

phoenixd, LND and Core Lightning, the same variables for serve (with
--backend KIND) and get; each replaces its key of [backend]:
  L402_PHOENIXD_URL, L402_PHOENIXD_PASSWORD, L402_PHOENIXD_PASSWORD_FILE
  L402_LND_URL (or LND_REST_HOST), L402_LND_MACAROON_HEX (or LND_MACAROON_HEX),
  L402_LND_MACAROON_FILE, L402_LND_TLS_CERT_FILE (or LND_TLS_CERT_PATH)
  L402_CLN_SOCKET, or L402_CLN_URL + L402_CLN_RUNE + L402_CLN_TLS_CERT_FILE
Nostr Wallet Connect ([backend] kind = nwc, connection = a nostr+walletconnect:// string):
  L402_NWC_CONNECTION (or NWC_CONNECTION_STRING), L402_NWC_CONNECTION_FILE
Secrets are never printed; the banner shows the kind and URL only.

Exit codes:
  0  stopped (Ctrl-C or SIGTERM)
  1  could not start: data directory, server secret, backend or store
  2  invalid configuration (names the file or variable, the key and why)
  3  cannot listen on the address (in use, not permitted, not this
     machine's); nothing was started or written: pick another address with
     --listen <addr> / L402_LISTEN, or listen = \"<addr>\" in the config")]
pub struct Args {
    /// Configuration file (TOML).
    #[arg(long, short = 'c', env = "L402_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,

    /// Address to listen on [default: 127.0.0.1:8402].
    #[arg(long, env = "L402_LISTEN", value_name = "ADDR")]
    listen: Option<String>,

    /// Lightning backend: dev (embedded, default), lnbits, phoenixd, lnd, cln or nwc.
    #[arg(long, env = "L402_BACKEND", value_name = "KIND")]
    backend: Option<String>,

    /// LNbits base URL (with --backend lnbits).
    #[arg(long, env = "L402_LNBITS_URL", value_name = "URL")]
    lnbits_url: Option<String>,

    /// LNbits invoice key (with --backend lnbits).
    #[arg(
        long,
        env = "L402_LNBITS_INVOICE_KEY",
        value_name = "KEY",
        hide_env_values = true
    )]
    lnbits_invoice_key: Option<String>,

    /// Do not serve the demo endpoint.
    #[arg(long)]
    no_demo: bool,

    /// PostgreSQL URL for the producer API's store (default: SQLite in the data directory).
    #[arg(
        long,
        env = "L402_DATABASE_URL",
        value_name = "URL",
        hide_env_values = true
    )]
    database_url: Option<String>,

    /// Proxies in front of the server, comma-separated IP addresses or CIDR
    /// blocks (replaces the config's producer.trusted_proxies; "" for none).
    #[arg(long, env = "L402_TRUSTED_PROXIES", value_name = "LIST")]
    trusted_proxies: Option<String>,

    /// PostgreSQL schema (default public).
    #[arg(long, env = "L402_DATABASE_SCHEMA", value_name = "NAME")]
    database_schema: Option<String>,

    /// Sell the paid routes through this producer API (its base URL)
    /// instead of a Lightning backend.
    #[arg(long, env = "L402_REMOTE_URL", value_name = "URL")]
    remote_url: Option<String>,

    /// The merchant API key for --remote-url.
    #[arg(
        long,
        env = "L402_REMOTE_API_KEY",
        value_name = "KEY",
        hide_env_values = true
    )]
    remote_api_key: Option<String>,

    /// Let the dev node's server listen on a non-loopback address. It moves no
    /// real money, and anyone who reaches it can pay from its wallets.
    #[arg(long)]
    allow_public_dev_node: bool,

    /// Also proxy and sell the `services` of an Aperture configuration
    /// (YAML, sample-conf.yaml's shape); the keys it cannot honour are
    /// printed at start.
    #[arg(long, env = "L402_APERTURE_CONFIG", value_name = "FILE")]
    aperture_config: Option<PathBuf>,

    /// Listen with TLS (HTTP/1.1 and HTTP/2): the PEM certificate chain
    /// (with --tls-key; replaces [tls] cert_file).
    #[arg(long, env = "L402_TLS_CERT_FILE", value_name = "FILE")]
    tls_cert: Option<PathBuf>,

    /// The PEM private key of --tls-cert (replaces [tls] key_file).
    #[arg(long, env = "L402_TLS_KEY_FILE", value_name = "FILE")]
    tls_key: Option<PathBuf>,
}

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

/// The values of flags and the environment that override the file (read
/// again on SIGHUP).
fn overrides(args: &Args) -> Overrides {
    Overrides {
        listen: args.listen.clone(),
        backend: args.backend.clone(),
        lnbits_url: args.lnbits_url.clone(),
        lnbits_invoice_key: args.lnbits_invoice_key.clone(),
        demo: args.no_demo.then_some(false),
        database_url: args.database_url.clone(),
        database_schema: args.database_schema.clone(),
        trusted_proxies: args.trusted_proxies.clone(),
        remote: config::RemoteOverrides {
            url: args.remote_url.clone(),
            api_key: args.remote_api_key.clone(),
        },
        env: config::EnvVars::from_process(),
        aperture: args.aperture_config.clone(),
        tls_cert: args.tls_cert.clone(),
        tls_key: args.tls_key.clone(),
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
        let services = proxy::build_remote(&config, producer.clone())?;
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
    tls::serve(listener, config.tls.as_ref(), router, shutdown).await?;
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

struct ProducerInfo {
    store: &'static str,
    admin_token_file: Option<PathBuf>,
}

fn announce(
    global: &Global,
    config: &Config,
    base: &str,
    dev_wallet: Option<&DevWalletFile>,
    producer: Option<&ProducerInfo>,
) {
    let demo_url = config.demo.then(|| format!("{base}{DEMO_PATH}"));
    if global.json {
        let line = json!({
            "event": "listening",
            "url": base,
            "backend": config.backend.kind(),
            "backend_url": config.backend.location(),
            "real_lightning": !matches!(config.backend, Backend::Dev),
            "demo_url": demo_url,
            "demo_price_sats": config.demo.then_some(DEMO_PRICE_SATS),
            "routes": config.routes.iter().map(|r| json!({"path": r.path, "price_sats": r.price_sats})).collect::<Vec<_>>(),
            "services": proxy::announced(&config.services),
            "dev_wallet": dev_wallet.map(|w| json!({"url": w.url, "file": devwallet::path(&global.data_dir)})),
            "data_dir": global.data_dir,
            "producer": producer.map(|p| json!({
                "url": format!("{base}/api/l402"),
                "openapi": format!("{base}/api/openapi.json"),
                "store": p.store,
                "admin_token_file": p.admin_token_file,
            })),
        });
        println!("{line}");
        return;
    }
    println!("l402 serve: listening on {base}");
    match &config.backend {
        Backend::Dev => println!(
            "  backend:  embedded dev node - NOT A REAL LIGHTNING NODE, no real money moves"
        ),
        Backend::Lnbits { url, .. } => println!("  backend:  LNbits at {url}"),
        Backend::Node(node) => println!("  backend:  {} at {}", node.label(), node.location()),
    }
    println!("  data:     {}", global.data_dir.display());
    if let Some(p) = producer {
        let store = match &config.store.target {
            StoreTarget::Sqlite => format!(
                "SQLite {}",
                global.data_dir.join(state::STORE_FILE).display()
            ),
            StoreTarget::Postgres { .. } => "PostgreSQL".to_owned(),
        };
        println!("  producer: POST {base}/api/l402/challenges (X-API-Key; store: {store})");
        println!(
            "            merchants and keys: l402 merchant --help; API: {base}/api/openapi.json"
        );
        match &p.admin_token_file {
            Some(f) => println!("            admin token: {}", f.display()),
            None => println!("            admin token: from L402_ADMIN_TOKEN"),
        }
    }
    for route in &config.routes {
        println!(
            "  paid:     GET {base}{}  ({} sats)",
            route.path, route.price_sats
        );
    }
    proxy::print_banner(&config.services);
    let Some(demo_url) = demo_url else { return };
    println!("  demo:     GET {demo_url}  ({DEMO_PRICE_SATS} sats)");
    if let Some(wallet) = dev_wallet {
        println!(
            "  wallet:   {} (LNbits API; buyer admin key {})",
            wallet.url, wallet.admin_key
        );
        println!();
        println!("Pay the demo with curl and jq (each step is one shell command):");
        println!("  1. C=$(curl -s {demo_url})");
        println!(
            "     -> 402 Payment Required; the JSON body holds .l402.invoice and .l402.macaroon"
        );
        println!(
            "  2. P=$(curl -s -X POST {}/api/v1/payments -H 'X-Api-Key: {}' -H 'Content-Type: application/json' -d \"$(echo \"$C\" | jq -c '{{out: true, bolt11: .l402.invoice}}')\" | jq -r .preimage)",
            wallet.url, wallet.admin_key
        );
        println!("     -> the dev wallet pays the invoice; .preimage is the proof of payment");
        println!(
            "  3. curl -s {demo_url} -H \"Authorization: L402 $(echo \"$C\" | jq -r .l402.macaroon):$P\""
        );
        println!("     -> 200 and a joke");
        println!("Or: {} {demo_url}", get_command(&global.data_dir));
    }
}

/// How to run `l402 get` against this server: with its data directory
/// unless that is the default one, so `get` finds the dev wallet.
fn get_command(data_dir: &std::path::Path) -> String {
    if data_dir == crate::paths::data_dir(None) {
        return "l402 get".to_owned();
    }
    let dir = data_dir.to_string_lossy();
    let plain = dir
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-+,:@%".contains(c));
    if plain {
        format!("l402 --data-dir {dir} get")
    } else {
        format!("l402 --data-dir '{}' get", dir.replace('\'', "'\\''"))
    }
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
