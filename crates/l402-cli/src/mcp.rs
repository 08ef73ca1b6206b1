//! `l402 mcp`: the l402 MCP server over stdio (what Claude Desktop, Cursor
//! and other MCP hosts start). A thin shell over [`l402_mcp`]: `l402 get`'s
//! paying client (auto-pay off) and the policy file; the seller tools call
//! a producer API with a merchant key.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use l402_mcp::rmcp::ServiceExt;
use l402_mcp::{Buyer, L402Mcp, Policy, Seller, Session};

use crate::Global;
use crate::get::{self, PayArgs};

/// Flags of `l402 mcp`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Add it to an MCP host (Claude Desktop's claude_desktop_config.json, Cursor's
mcp.json):
  {\"mcpServers\": {\"l402\": {\"command\": \"l402\", \"args\": [\"mcp\"]}}}

Spending policy: a JSON file the server only reads (created with safe
defaults, mode 0600, on first run): limits per payment, per session and per
day in sats, approval tiers (pay silently, pay and log, confirm, deny), a
cooldown, the methods a paid fetch may use (GET, HEAD) and whether loopback
and private addresses may be fetched (no). No tool can raise a limit;
configure_budget only lowers this session's caps. The policy's per-payment
and per-day caps also bound the paying client (its budget ledger counts the
day across restarts). A payment in the confirm tier needs a code sent out of
band (stderr, or a 0600 file: the policy's confirmation key), never in a tool
result.

The wallet is l402 get's (see l402 get --help): the dev node's with the same
--data-dir, LNbits, phoenixd, LND, CLN or NWC.")]
pub struct Args {
    /// The spending policy file [default: <data dir>/mcp-policy.json].
    #[arg(long, env = "L402_MCP_POLICY", value_name = "FILE")]
    pub policy: Option<PathBuf>,

    /// Producer API for the seller tools (an `l402 serve` base URL).
    #[arg(long, env = "L402_MCP_PRODUCER_URL", value_name = "URL")]
    pub producer_url: Option<String>,

    /// The merchant API key the seller tools use with --producer-url.
    #[arg(
        long,
        env = "L402_MERCHANT_API_KEY",
        value_name = "KEY",
        hide_env_values = true,
        requires = "producer_url"
    )]
    pub merchant_api_key: Option<String>,

    /// Wallet, limits and budgets (shared with `l402 get`).
    #[command(flatten)]
    pub pay: PayArgs,
}

/// Serves MCP over stdio until the host closes it.
pub async fn run(global: &Global, args: Args) -> ExitCode {
    match serve(global, args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("l402 mcp: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(global: &Global, mut args: Args) -> anyhow::Result<()> {
    let policy_file = args
        .policy
        .clone()
        .unwrap_or_else(|| global.data_dir.join("mcp-policy.json"));
    let policy = Policy::load_or_create(&policy_file)?;
    // The policy bounds the client too: no payment over the per-payment cap,
    // and the day counted by the client's budget ledger.
    let limits = &policy.limits;
    args.pay.max_sats = Some(args.pay.max_sats.map_or(limits.max_per_payment_sats, |m| {
        m.min(limits.max_per_payment_sats)
    }));
    args.pay.budget_day = Some(
        args.pay
            .budget_day
            .map_or(limits.max_per_day_sats, |d| d.min(limits.max_per_day_sats)),
    );
    // A name resolving to a private address is refused at connect time
    // too (the address connected to is the one checked).
    let public_only = !policy.allow_private_addresses;
    let (client, wallet) = get::mcp_client(global, &args.pay, public_only).await?;
    // Receiving (create_invoice, check_invoice_status): the dev node's
    // wallet, with its invoice key; other wallets do not receive here yet.
    let receiver = match &wallet {
        Some((_, true)) => crate::devwallet::read(&global.data_dir)?
            .map(|file| {
                l402_lightning::lnbits::LnbitsClient::builder(file.url)
                    .invoice_key(file.invoice_key)
                    .build()
            })
            .transpose()
            .context("the dev wallet's receiving client")?,
        _ => None,
    };
    let wallet = wallet.map(|(w, _)| w);
    if let Err(e) = client.recover().await {
        eprintln!("l402 mcp: warning: {e}");
    }
    let seller = match (&args.producer_url, &args.merchant_api_key) {
        (Some(url), Some(key)) => Some(Seller::new(url, key).context("the producer client")?),
        (Some(_), None) => anyhow::bail!("--producer-url needs L402_MERCHANT_API_KEY"),
        _ => None,
    };
    let mut buyer = Buyer::new(client, wallet, Session::new(policy), policy_file);
    if let Some(receiver) = receiver {
        buyer = buyer.with_receiver(std::sync::Arc::new(receiver));
    }
    let server = L402Mcp::new(buyer, seller)
        .serve(l402_mcp::rmcp::transport::stdio())
        .await
        .context("starting the MCP session")?;
    server.waiting().await.context("the MCP session")?;
    Ok(())
}
