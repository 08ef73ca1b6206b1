//! `l402 serve`'s flags and their help text (the configuration keys, the
//! environment variables, the exit codes), and the overrides they make.

use std::path::PathBuf;

use crate::config::{self, Overrides};

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
              and per upstream call over OTLP/HTTP, W3C traceparent read
              from callers and sent upstream; service_name (\"l402\")
  [tls]       cert_file, key_file (PEM; or --tls-cert/--tls-key): listen with
              TLS, HTTP/1.1 and HTTP/2 (ALPN); max_handshakes (1024 at
              once, more connections wait), handshake_timeout_secs (10)
  [[routes]]  path, price_sats, body | file, content_type, description
  [proxy]     allow_private_upstreams (false: merchants' proxies, POST
              /api/proxy, must reach public addresses), merchant_ca_file
              (PEM CAs merchants' https upstreams may chain to, besides
              the system's roots); services added
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
    pub(super) config: Option<PathBuf>,

    /// Address to listen on [default: 127.0.0.1:8402].
    #[arg(long, env = "L402_LISTEN", value_name = "ADDR")]
    pub(super) listen: Option<String>,

    /// Event loops serving the plain listener, one thread each, as nginx's
    /// worker_processes [default: one per core]. Not with [tls].
    #[arg(long, env = "L402_WORKERS", value_name = "N")]
    pub(super) workers: Option<std::num::NonZeroUsize>,

    /// Lightning backend: dev (embedded, default), lnbits, phoenixd, lnd, cln or nwc.
    #[arg(long, env = "L402_BACKEND", value_name = "KIND")]
    pub(super) backend: Option<String>,

    /// LNbits base URL (with --backend lnbits).
    #[arg(long, env = "L402_LNBITS_URL", value_name = "URL")]
    pub(super) lnbits_url: Option<String>,

    /// LNbits invoice key (with --backend lnbits).
    #[arg(
        long,
        env = "L402_LNBITS_INVOICE_KEY",
        value_name = "KEY",
        hide_env_values = true
    )]
    pub(super) lnbits_invoice_key: Option<String>,

    /// Do not serve the demo endpoint.
    #[arg(long)]
    pub(super) no_demo: bool,

    /// PostgreSQL URL for the producer API's store (default: SQLite in the data directory).
    #[arg(
        long,
        env = "L402_DATABASE_URL",
        value_name = "URL",
        hide_env_values = true
    )]
    pub(super) database_url: Option<String>,

    /// Proxies in front of the server, comma-separated IP addresses or CIDR
    /// blocks (replaces the config's producer.trusted_proxies; "" for none).
    #[arg(long, env = "L402_TRUSTED_PROXIES", value_name = "LIST")]
    pub(super) trusted_proxies: Option<String>,

    /// PostgreSQL schema (default public).
    #[arg(long, env = "L402_DATABASE_SCHEMA", value_name = "NAME")]
    pub(super) database_schema: Option<String>,

    /// Sell the paid routes through this producer API (its base URL)
    /// instead of a Lightning backend.
    #[arg(long, env = "L402_REMOTE_URL", value_name = "URL")]
    pub(super) remote_url: Option<String>,

    /// The merchant API key for --remote-url.
    #[arg(
        long,
        env = "L402_REMOTE_API_KEY",
        value_name = "KEY",
        hide_env_values = true
    )]
    pub(super) remote_api_key: Option<String>,

    /// Let the dev node's server listen on a non-loopback address. It moves no
    /// real money, and anyone who reaches it can pay from its wallets.
    #[arg(long)]
    pub(super) allow_public_dev_node: bool,

    /// Also proxy and sell the `services` of an Aperture configuration
    /// (YAML, sample-conf.yaml's shape); the keys it cannot honour are
    /// printed at start.
    #[arg(long, env = "L402_APERTURE_CONFIG", value_name = "FILE")]
    pub(super) aperture_config: Option<PathBuf>,

    /// Listen with TLS (HTTP/1.1 and HTTP/2): the PEM certificate chain
    /// (with --tls-key; replaces [tls] cert_file).
    #[arg(long, env = "L402_TLS_CERT_FILE", value_name = "FILE")]
    pub(super) tls_cert: Option<PathBuf>,

    /// The PEM private key of --tls-cert (replaces [tls] key_file).
    #[arg(long, env = "L402_TLS_KEY_FILE", value_name = "FILE")]
    pub(super) tls_key: Option<PathBuf>,
}

/// The values of flags and the environment that override the file (read
/// again on SIGHUP).
pub(super) fn overrides(args: &Args) -> Overrides {
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
