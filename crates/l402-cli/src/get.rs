//! `l402 get`: fetch a URL and pay its L402 challenge within limits.
//!
//! A thin shell over [`l402_client`]: flags become a [`Client`], the token
//! store, journal, budget ledger and traces live in
//! `<data dir>/client.sqlite`, and errors map to exit codes that say what
//! happened to the money.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use l402::invoice::Currency;
use l402_client::{
    Budget, Client, Event, FetchError, FiatEnvelope, HttpPriceSource, Method, MoneyMoved,
    PriceSource, SqliteStore, StaticPrice,
};
use serde_json::json;

use crate::{Global, tls, wallet};

mod output;
use output::{OutputFile, output, progress, report_error};
pub(crate) use output::{message, moved};

/// The client database inside the data directory.
pub const DB_FILE: &str = "client.sqlite";

/// Exit codes (documented in `l402 get --help`).
mod exit {
    pub const OTHER: u8 = 1;
    pub const OVER_LIMIT: u8 = 3;
    pub const PAYMENT_FAILED: u8 = 4;
    pub const SERVER_REFUSED: u8 = 5;
    pub const NETWORK: u8 = 6;
    pub const PAYMENT_UNKNOWN: u8 = 7;
    pub const REFUSED: u8 = 8;
}

/// Flags of `l402 get`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Wallet (first match): --lnbits-url + --lnbits-admin-key (or L402_LNBITS_URL and
L402_LNBITS_ADMIN_KEY); a phoenixd, LND or CLN node from its variables (below);
the [wallet] of the configuration file; otherwise the dev-node wallet that
`l402 serve` writes to <data dir>/dev-wallet.json (fake money, regtest invoices
only): run get with the same --data-dir (or L402_DATA_DIR) as the server.
Two wallets configured at once (LNbits and a node, or two nodes) is an error.
The wallet's client is built only when a payment is needed.

phoenixd, LND and Core Lightning, the same variables as l402 serve; each
replaces its key of a [wallet] of the same kind:
  L402_PHOENIXD_URL, L402_PHOENIXD_PASSWORD, L402_PHOENIXD_PASSWORD_FILE
  L402_LND_URL (or LND_REST_HOST), L402_LND_MACAROON_HEX (or LND_MACAROON_HEX),
  L402_LND_MACAROON_FILE, L402_LND_TLS_CERT_FILE (or LND_TLS_CERT_PATH)
  L402_CLN_SOCKET, or L402_CLN_URL + L402_CLN_RUNE + L402_CLN_TLS_CERT_FILE
Nostr Wallet Connect (a nostr+walletconnect:// connection string):
  L402_NWC_CONNECTION (or NWC_CONNECTION_STRING), L402_NWC_CONNECTION_FILE
Secrets are never printed.

LNbits, one naming scheme for both commands:
  L402_LNBITS_URL          the LNbits base URL (serve and get)
  L402_LNBITS_ADMIN_KEY    the admin key: paying, for get
  L402_LNBITS_INVOICE_KEY  the invoice key: receiving, for serve (get cannot
                           pay with it)
  L402_WALLET_LNBITS_URL, L402_WALLET_LNBITS_ADMIN_KEY: the old names for get,
  still read (with a warning) when the new ones are not set.

Configuration (TOML, <data dir>/get.toml or --get-config), all keys optional;
flags and environment variables win:
  max_sats, max_fee_sats, budget_hour, budget_day, budget_total, network,
  require_macaroon (true/false)
  [budget_domain]  \"example.com\" = 500
  [wallet]         kind = \"lnbits\", url, admin_key
                   kind = \"phoenixd\", url, password | password_file
                   kind = \"lnd\", url, macaroon_hex | macaroon_file,
                     tls_cert_file (LND's tls.cert, pinned)
                   kind = \"cln\", socket | url + rune + tls_cert_file
                   (and timeout_secs (10), pay_timeout_secs (60); relative
                   files: next to the configuration file)

State: tokens, the payment journal, the budget ledger and traces are kept in
<data dir>/client.sqlite (plain SQLite: try `SELECT * FROM traces`). A token is
reused for the same origin and path until it expires or the server refuses it;
a refused one is dropped and reported (\"refused_token\" in --json), and the run
buys a new one, once, within the same limits (single-use tokens: l402kit).

Servers: the challenge is read from WWW-Authenticate in every deployed form,
or from the JSON body alone (l402-express, l402kit, Lightning Enable); header
and body disagreeing is refused (exit 8). Tokens that are not L402 macaroons
(l402kit, Alby) are paid after the full invoice checks, unless
--require-macaroon.

Exit codes:
  0  the server answered (any HTTP status; with --no-pay or --dry-run, the price)
  1  other error (bad flags or configuration, no wallet configured, storage;
     or paid with a routing fee over --max-fee-sats: money moved, the token is
     kept; the JSON error says money_moved)
  2  usage error
  3  over the limit: --max-sats, a budget or the fiat cap (nothing paid)
  4  payment failed (no money moved)
  5  paid, but the server refused the credential (money moved)
  6  network error or oversized answer (no money moved, or the token is kept
     if it did)
  7  payment state unknown (money may have moved; the next run recovers it)
  8  refused before paying: bad or mismatched invoice, unusable challenge,
     wrong network, new payee for a known origin (nothing paid)")]
pub struct Args {
    /// The URL to fetch.
    pub url: String,

    /// HTTP method [default: GET, or POST with --data].
    #[arg(short = 'X', long = "request", value_name = "METHOD")]
    pub method: Option<String>,

    /// Extra header, `Name: value` (repeatable).
    #[arg(short = 'H', long = "header", value_name = "HEADER")]
    pub headers: Vec<String>,

    /// Request body; `@FILE` reads a file, `@-` standard input.
    #[arg(short = 'd', long = "data", value_name = "DATA")]
    pub data: Option<String>,

    /// Also print the status line and response headers (text output).
    #[arg(short = 'i', long)]
    pub include: bool,

    /// Write the body to FILE instead of standard output (with --json, the
    /// JSON names the file instead of carrying the body). The file is opened
    /// before anything is paid.
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Follow redirects (without it, a 3xx answer is printed as it is). Each
    /// hop is its own request for tokens, budgets and payee pinning; a 402
    /// from another origin than the URL's is refused before paying.
    #[arg(short = 'L', long = "location")]
    pub location: bool,

    /// The most redirects followed with --location.
    #[arg(long = "max-redirs", value_name = "N", default_value_t = 10)]
    pub max_redirs: usize,

    /// No progress messages on standard error.
    #[arg(short = 's', long)]
    pub silent: bool,

    /// Do not pay: show the price.
    #[arg(long, conflicts_with = "dry_run")]
    pub no_pay: bool,

    /// Run every check (invoice, limits, budgets) but do not pay.
    #[arg(long)]
    pub dry_run: bool,

    /// Wallet, limits and budgets (shared with `l402 check --pay`).
    #[command(flatten)]
    pub pay: PayArgs,
}

/// The flags that configure the paying client: limits, budgets, the fiat
/// envelope, the wallet and the configuration file. `l402 get` and `l402
/// check --pay` both take them and build the client with [`paying_client`].
#[derive(Debug, clap::Args)]
pub struct PayArgs {
    /// The most to pay for one request, in sats [default: 1000].
    #[arg(long, env = "L402_MAX_SATS", value_name = "SATS")]
    pub max_sats: Option<u64>,

    /// The most routing fee per payment, in sats [default: 10].
    #[arg(long, env = "L402_MAX_FEE_SATS", value_name = "SATS")]
    pub max_fee_sats: Option<u64>,

    /// Budget: at most this many sats in any rolling hour.
    #[arg(long, env = "L402_BUDGET_HOUR_SATS", value_name = "SATS")]
    pub budget_hour: Option<u64>,

    /// Budget: at most this many sats in any rolling day.
    #[arg(long, env = "L402_BUDGET_DAY_SATS", value_name = "SATS")]
    pub budget_day: Option<u64>,

    /// Budget: at most this many sats in total (over this data directory).
    #[arg(long, env = "L402_BUDGET_TOTAL_SATS", value_name = "SATS")]
    pub budget_total: Option<u64>,

    /// Budget for one domain, `DOMAIN=SATS` (repeatable).
    #[arg(long, value_name = "DOMAIN=SATS")]
    pub budget_domain: Vec<String>,

    /// Fiat envelope cap in minor units (cents), e.g. 500 = $5.00.
    #[arg(long, value_name = "MINOR", requires = "fiat_currency")]
    pub fiat_cap: Option<u64>,

    /// Fiat envelope currency (e.g. usd).
    #[arg(long, value_name = "CODE")]
    pub fiat_currency: Option<String>,

    /// Fiat envelope id: spending accumulates per id.
    #[arg(long, value_name = "ID", default_value = "default")]
    pub fiat_envelope: String,

    /// Fiat envelope lifetime from first use, in seconds.
    #[arg(long, value_name = "SECS")]
    pub fiat_ttl: Option<u64>,

    /// Static BTC price in minor units per BTC (instead of fetching one).
    #[arg(long, value_name = "MINOR_PER_BTC")]
    pub btc_price: Option<u64>,

    /// Price API URL (`{currency}` is replaced) [default: CoinGecko].
    #[arg(long, value_name = "URL", requires = "price_pointer")]
    pub price_url: Option<String>,

    /// JSON pointer to the price in the price API's answer.
    #[arg(long, value_name = "POINTER")]
    pub price_pointer: Option<String>,

    /// Only pay invoices for this network (bitcoin, testnet, signet,
    /// regtest) [default: regtest with the dev wallet].
    #[arg(long, value_name = "NETWORK")]
    pub network: Option<String>,

    /// LNbits base URL of the paying wallet.
    #[arg(long, env = "L402_LNBITS_URL", value_name = "URL")]
    pub lnbits_url: Option<String>,

    /// LNbits admin key of the paying wallet.
    #[arg(
        long,
        env = "L402_LNBITS_ADMIN_KEY",
        value_name = "KEY",
        hide_env_values = true
    )]
    pub lnbits_admin_key: Option<String>,

    /// Refuse to pay when the server's token is not an L402 macaroon
    /// (l402kit's base64 JSON, Alby's signed JSON): such a token cannot be
    /// checked against the invoice's payment hash. By default they are paid
    /// after the full invoice checks, and the receipt says `token_kind:
    /// opaque`. Exit 8 when refused.
    #[arg(long, env = "L402_REQUIRE_MACAROON")]
    pub require_macaroon: bool,

    /// Waits before re-sending a paid credential the server has not accepted
    /// yet, in ms, comma-separated (never pays again; a server's Retry-After
    /// lengthens a wait, up to 10 s).
    #[arg(long, value_name = "MS,MS,..", default_value = "250,750,1500")]
    pub retry_backoff_ms: String,

    /// Configuration file (TOML) [default: <data dir>/get.toml, if present].
    #[arg(long = "get-config", env = "L402_GET_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// HTTP timeout per request, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    pub timeout: u64,
}

/// `get.toml`: defaults for flags, and a wallet.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    max_sats: Option<u64>,
    max_fee_sats: Option<u64>,
    require_macaroon: Option<bool>,
    budget_hour: Option<u64>,
    budget_day: Option<u64>,
    budget_total: Option<u64>,
    network: Option<String>,
    #[serde(default)]
    budget_domain: std::collections::BTreeMap<String, u64>,
    wallet: Option<wallet::WalletConfig>,
}

/// The configuration file `get` reads: `--get-config`, else
/// `<data dir>/get.toml` (if present); and whether it must exist.
fn config_path(global: &Global, args: &PayArgs) -> (PathBuf, bool) {
    match &args.config {
        Some(path) => (path.clone(), true),
        None => (global.data_dir.join("get.toml"), false),
    }
}

fn load_config(global: &Global, args: &PayArgs) -> anyhow::Result<Config> {
    let (path, required) = config_path(global, args);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => {
            return Ok(Config::default());
        }
        Err(e) => return Err(anyhow!("cannot read {}: {e}", path.display())),
    };
    let config: Config =
        toml::from_str(&text).with_context(|| format!("invalid {}", path.display()))?;
    Ok(config)
}

/// Fetches the URL.
pub async fn run(global: &Global, args: Args) -> ExitCode {
    match fetch(global, &args).await {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            if global.json {
                // Errors before the request moved no money; after it, the
                // answer says (`AfterFetch`).
                let money_moved = e
                    .downcast_ref::<AfterFetch>()
                    .map_or(MoneyMoved::No, |a| a.moved);
                let out = json!({"ok": false, "error": {"code": "error", "message": format!("{e:#}"), "money_moved": moved(money_moved)}});
                println!("{out}");
            } else {
                eprintln!("l402 get: error: {e:#}");
            }
            ExitCode::from(exit::OTHER)
        }
    }
}

pub(crate) fn parse_network(s: &str) -> anyhow::Result<Currency> {
    Ok(match s.to_ascii_lowercase().as_str() {
        "bitcoin" | "mainnet" => Currency::Bitcoin,
        "testnet" => Currency::BitcoinTestnet,
        "signet" => Currency::Signet,
        "regtest" => Currency::Regtest,
        "simnet" => Currency::Simnet,
        other => bail!("unknown network {other:?} (bitcoin, testnet, signet, regtest)"),
    })
}

fn read_body(data: &str) -> anyhow::Result<Vec<u8>> {
    match data.strip_prefix('@') {
        Some("-") => {
            let mut body = Vec::new();
            std::io::stdin().read_to_end(&mut body)?;
            Ok(body)
        }
        Some(path) => std::fs::read(path).with_context(|| format!("reading {path}")),
        None => Ok(data.as_bytes().to_vec()),
    }
}

/// Test hook (debug builds only): with `L402_TEST_ABORT_AFTER_PAY` set, the
/// process aborts right after the wallet pays, before the token is stored,
/// so tests can check that the next run recovers instead of paying again.
fn abort_hook(event: &Event<'_>) {
    #[cfg(debug_assertions)]
    if matches!(event, Event::Paid(_)) && std::env::var_os("L402_TEST_ABORT_AFTER_PAY").is_some() {
        std::process::abort();
    }
    let _ = event;
}

/// How one command uses the paying client.
struct Use {
    auto_pay: bool,
    dry_run: bool,
    max_redirects: usize,
    quiet: bool,
    /// Connect only to public addresses, checked at resolution
    /// (`l402 mcp` unless its policy allows private ones).
    public_only: bool,
}

async fn build_client(global: &Global, args: &Args) -> anyhow::Result<Client> {
    let how = Use {
        auto_pay: !args.no_pay,
        dry_run: args.dry_run,
        max_redirects: if args.location { args.max_redirs } else { 0 },
        quiet: global.json || args.silent,
        public_only: false,
    };
    Ok(client_for(global, &args.pay, &how).await?.0)
}

/// The paying client of `l402 get` for another command (`l402 check
/// --pay`): the same wallet, limits, budgets and store; it pays, follows no
/// redirect, and prints no progress when `quiet`. Also returns the store.
///
/// # Errors
/// A flag or configuration error, no wallet configured, the store.
pub(crate) async fn paying_client(
    global: &Global,
    pay: &PayArgs,
    quiet: bool,
) -> anyhow::Result<(Client, SqliteStore)> {
    let how = Use {
        auto_pay: true,
        dry_run: false,
        max_redirects: 0,
        quiet,
        public_only: false,
    };
    client_for(global, pay, &how).await
}

/// The client `l402 mcp` buys with: `l402 get`'s wallet, limits, budgets
/// and store, but auto-pay off (the MCP layer checks each payment against
/// its policy first, then pays with `Client::pay_offer`); and the wallet
/// itself, for the balance (`None`: no wallet configured), and whether it is
/// the dev node's.
///
/// # Errors
/// A flag or configuration error, the store.
pub(crate) async fn mcp_client(
    global: &Global,
    pay: &PayArgs,
    public_only: bool,
) -> anyhow::Result<(Client, Option<(Arc<dyn l402_lightning::Wallet>, bool)>)> {
    let how = Use {
        auto_pay: false,
        dry_run: false,
        max_redirects: 0,
        quiet: true,
        public_only,
    };
    let (client, _) = client_for(global, pay, &how).await?;
    let config = load_config(global, pay)?;
    let wallet = resolve_wallet(global, pay, &config)?;
    Ok((client, wallet))
}

/// The paying wallet the flags, environment and configuration name, and
/// whether it is the dev node's.
fn resolve_wallet(
    global: &Global,
    args: &PayArgs,
    config: &Config,
) -> anyhow::Result<Option<(Arc<dyn l402_lightning::Wallet>, bool)>> {
    let (config_file, _) = config_path(global, args);
    let sources = wallet::Sources {
        url: args.lnbits_url.as_deref(),
        admin_key: args.lnbits_admin_key.as_deref(),
        config_wallet: config.wallet.as_ref(),
        config_file: &config_file,
        env: crate::config::EnvVars::from_process(),
        data_dir: &global.data_dir,
    };
    wallet::resolve(sources, Duration::from_secs(args.timeout.max(1)))
}

async fn client_for(
    global: &Global,
    args: &PayArgs,
    how: &Use,
) -> anyhow::Result<(Client, SqliteStore)> {
    let config = load_config(global, args)?;
    let mut builder = Client::builder()
        .max_payment_sats(args.max_sats.or(config.max_sats).unwrap_or(1000))
        .max_fee_sats(args.max_fee_sats.or(config.max_fee_sats).unwrap_or(10))
        .auto_pay(how.auto_pay)
        .dry_run(how.dry_run)
        .require_macaroon(args.require_macaroon || config.require_macaroon.unwrap_or(false))
        .max_redirects(how.max_redirects)
        // TLS roots load on the first HTTPS handshake, not at every start.
        .http_client({
            let http = tls::http_client_builder(Duration::from_secs(args.timeout.max(1)))?;
            if how.public_only {
                http.dns_resolver(l402_mcp::guard::public_only())
            } else {
                http
            }
            .build()?
        });
    let backoff = args
        .retry_backoff_ms
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<u64>().map(Duration::from_millis))
        .collect::<Result<Vec<_>, _>>()
        .context("--retry-backoff-ms takes comma-separated milliseconds")?;
    builder = builder.retry_backoff(backoff);

    let mut network = args
        .network
        .as_deref()
        .or(config.network.as_deref())
        .map(parse_network)
        .transpose()?;
    let (config_file, _) = config_path(global, args);
    match resolve_wallet(global, args, &config)? {
        Some((wallet, is_dev)) => {
            if is_dev && network.is_none() {
                network = Some(Currency::Regtest);
            }
            builder = builder.wallet(wallet);
        }
        None if !how.auto_pay || how.dry_run => {}
        None => return Err(wallet::none_configured(&config_file, &global.data_dir)),
    }
    if let Some(network) = network {
        builder = builder.network(network);
    }

    let mut budget = Budget::new();
    for (domain, sats) in &config.budget_domain {
        budget = budget.per_domain_sats(domain, *sats);
    }
    if let Some(s) = args.budget_hour.or(config.budget_hour) {
        budget = budget.per_hour_sats(s);
    }
    if let Some(s) = args.budget_day.or(config.budget_day) {
        budget = budget.per_day_sats(s);
    }
    if let Some(s) = args.budget_total.or(config.budget_total) {
        budget = budget.total_sats(s);
    }
    for spec in &args.budget_domain {
        let (domain, sats) = spec
            .split_once('=')
            .ok_or_else(|| anyhow!("--budget-domain takes DOMAIN=SATS, not {spec:?}"))?;
        let sats = sats
            .trim()
            .parse()
            .with_context(|| format!("--budget-domain {spec:?}"))?;
        budget = budget.per_domain_sats(domain.trim(), sats);
    }
    builder = builder.budget(budget);

    if let Some(cap) = args.fiat_cap {
        let currency = args.fiat_currency.as_deref().unwrap_or("usd");
        let mut envelope = FiatEnvelope::new(args.fiat_envelope.clone(), currency, cap);
        if let Some(ttl) = args.fiat_ttl {
            envelope = envelope.ttl(Duration::from_secs(ttl));
        }
        let source: Arc<dyn PriceSource> = match (args.btc_price, &args.price_url) {
            (Some(price), _) => Arc::new(StaticPrice::new(currency, price)),
            (None, Some(url)) => Arc::new(HttpPriceSource::new(
                url.clone(),
                args.price_pointer.clone().unwrap_or_default(),
            )),
            (None, None) => Arc::new(HttpPriceSource::coingecko()),
        };
        builder = builder.fiat_envelope(envelope).price_source(source);
    }

    let store = SqliteStore::open(global.data_dir.join(DB_FILE))
        .await
        .with_context(|| format!("opening {}", global.data_dir.join(DB_FILE).display()))?;
    builder = builder.sqlite(store.clone());
    if how.quiet {
        builder = builder.on_event(abort_hook);
    } else {
        builder = builder.on_event(progress);
    }
    Ok((builder.build()?, store))
}

async fn fetch(global: &Global, args: &Args) -> anyhow::Result<u8> {
    // Open the output file first: a path that cannot be written fails here,
    // before anything is paid.
    let sink = args.output.as_deref().map(OutputFile::open).transpose()?;
    let client = build_client(global, args).await?;
    // Resolve payments an earlier run left pending (killed mid-payment):
    // their tokens are stored, or their budget reservations released.
    if !args.no_pay && !args.dry_run {
        match client.recover().await {
            Ok(recovered) if !recovered.is_empty() && !global.json && !args.silent => {
                eprintln!(
                    "l402: recovered {} interrupted payment(s); not paying for them again",
                    recovered.len()
                );
            }
            Ok(_) => {}
            Err(e) if !global.json => eprintln!("l402: warning: {e}"),
            Err(_) => {}
        }
    }
    let body = args.data.as_deref().map(read_body).transpose()?;
    let method = match &args.method {
        Some(m) => Method::from_bytes(m.to_ascii_uppercase().as_bytes())
            .map_err(|_| anyhow!("invalid method {m:?}"))?,
        None if body.is_some() => Method::POST,
        None => Method::GET,
    };
    let mut request = client.request(method, &args.url);
    for header in &args.headers {
        let (name, value) = header
            .split_once(':')
            .ok_or_else(|| anyhow!("-H takes `Name: value`, not {header:?}"))?;
        request = request.header(name.trim(), value.trim());
    }
    if let Some(body) = body {
        request = request.body(body);
    }
    match request.send().await {
        Ok(response) => {
            let moved = if response.receipt().is_some() {
                MoneyMoved::Yes
            } else {
                MoneyMoved::No
            };
            output(global, args, &response, sink).map_err(|source| AfterFetch { moved, source })?;
            Ok(0)
        }
        Err(e) => {
            if let Some(sink) = sink {
                sink.discard();
            }
            report_error(global, &e);
            Ok(exit_code(&e))
        }
    }
}

/// An error after the server answered, and whether that answer cost money.
#[derive(Debug)]
struct AfterFetch {
    moved: MoneyMoved,
    source: anyhow::Error,
}

impl std::fmt::Display for AfterFetch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:#}", self.source)
    }
}

impl std::error::Error for AfterFetch {}

fn exit_code(e: &FetchError) -> u8 {
    match e {
        FetchError::Refused(r) if r.is_over_limit() => exit::OVER_LIMIT,
        FetchError::Refused(_) | FetchError::BadChallenge(_) => exit::REFUSED,
        FetchError::PaymentFailed { .. } => exit::PAYMENT_FAILED,
        FetchError::ServerRefused { .. } => exit::SERVER_REFUSED,
        FetchError::Network(_)
        | FetchError::AfterPayment { .. }
        | FetchError::BodyTooLarge { .. } => exit::NETWORK,
        FetchError::PaymentUnknown { .. } => exit::PAYMENT_UNKNOWN,
        _ => exit::OTHER,
    }
}
