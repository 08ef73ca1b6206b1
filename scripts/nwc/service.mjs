// A Nostr Wallet Connect wallet service for l402's tests: Alby's
// NWCWalletService (npm @getalby/sdk, pinned in package.json) answering
// NIP-47 requests over a real relay, backed by an LNbits-compatible wallet
// API (LNbits itself, or the l402 dev node's HTTP mode).
//
// Environment:
//   NWC_RELAY_URL    ws://127.0.0.1:PORT of the relay (scripts/nwc.sh start)
//   NWC_BACKEND_URL  base URL of the LNbits(-compatible) API
//   NWC_WALLETS      JSON: [{"name": "merchant", "admin_key": "...", "invoice_key": "..."}, ...]
//   NWC_NETWORK      what get_info says (default "regtest")
//
// For each wallet it opens two connections, each with its own wallet and
// client keys: "<name>" (the SDK's info event: encryption "nip04 nip44_v2")
// and "<name>_nip04" (an info event without an encryption tag, which
// NIP-47 reads as NIP-04 only). When ready it prints one JSON line on
// stdout: {"ready": true, "connections": {"<name>": "nostr+walletconnect://...", ...}}.
// The connection strings carry client secrets: this is a test harness
// talking to its parent process over a pipe, never a log.
//
// payment_received notifications: NWCWalletService 7.0.0 has no publisher
// for them, so this program watches the invoices it made and, when one is
// paid, publishes the notification itself with the SDK's encrypt and
// signEvent: kind 23197 (NIP-44) and kind 23196 (NIP-04), as NIP-47 asks of
// a wallet that speaks both.

import WebSocket from "ws";
globalThis.WebSocket = WebSocket;
// The SDK logs every (re)subscription with console.info; stdout carries
// only the ready line. NWC_DEBUG=1 shows the SDK's log on stderr.
const quiet = () => {};
console.info = process.env.NWC_DEBUG ? console.error : quiet;
console.log = process.env.NWC_DEBUG ? console.error : quiet;

const { NWCWalletService, NWCWalletServiceKeyPair } = await import("@getalby/sdk/nwc");
const { generateSecretKey, getPublicKey, finalizeEvent } = await import("nostr-tools");

const relayUrl = need("NWC_RELAY_URL");
const backend = need("NWC_BACKEND_URL").replace(/\/$/, "");
const wallets = JSON.parse(need("NWC_WALLETS"));
const network = process.env.NWC_NETWORK || "regtest";
const PAY_WAIT_MS = Number(process.env.NWC_PAY_WAIT_MS || 60000);
const MAX_WATCHED = 10000;

const METHODS = ["pay_invoice", "make_invoice", "lookup_invoice", "list_transactions", "get_balance", "get_info"];
const NOTIFICATIONS = ["payment_received"];

function need(name) {
  const v = process.env[name];
  if (!v) {
    console.error(`nwc service: ${name} is required`);
    process.exit(2);
  }
  return v;
}

const hex = (bytes) => Buffer.from(bytes).toString("hex");
const now = () => Math.floor(Date.now() / 1000);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const unix = (iso) => (iso ? Math.floor(Date.parse(iso) / 1000) || undefined : undefined);
const ok = (result) => ({ result, error: undefined });
const fail = (code, message) => ({ result: undefined, error: { code, message: String(message) } });

async function api(method, path, key, body) {
  const response = await fetch(backend + path, {
    method,
    headers: { "X-Api-Key": key, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  let json = {};
  try {
    json = await response.json();
  } catch {
    json = {};
  }
  return { status: response.status, json };
}

// An LNbits payment lookup as a NIP-47 transaction.
function transaction(hash, found, outgoingHint) {
  const d = found.details || {};
  const amount = typeof d.amount === "number" ? d.amount : undefined;
  const outgoing = amount !== undefined ? amount < 0 : outgoingHint || found.status === "failed";
  const status = found.status || d.status || (found.paid ? "success" : "pending");
  const state =
    status === "success" ? "settled" : status === "pending" ? "pending" : outgoing ? "failed" : "expired";
  return {
    type: outgoing ? "outgoing" : "incoming",
    state,
    invoice: d.bolt11 || d.payment_request || "",
    description: d.memo || "",
    description_hash: "",
    preimage: state === "settled" ? found.preimage || d.preimage || "" : "",
    payment_hash: hash,
    amount: amount !== undefined ? Math.abs(amount) : 0,
    fees_paid: typeof d.fee === "number" ? Math.abs(d.fee) : 0,
    created_at: unix(d.created_at || d.time) || 0,
    expires_at: unix(d.expiry) || 0,
    settled_at: state === "settled" ? unix(d.updated_at) || now() : undefined,
  };
}

function handler(wallet, onInvoice, made) {
  const paidByMe = new Set();
  return {
    getInfo: async () =>
      ok({
        alias: `l402 NWC test wallet (${wallet.name})`,
        color: "#000000",
        pubkey: wallet.nodePubkey || "",
        network,
        block_height: 0,
        block_hash: "",
        methods: METHODS,
        notifications: NOTIFICATIONS,
      }),

    getBalance: async () => {
      const r = await api("GET", "/api/v1/wallet", wallet.invoice_key);
      if (r.status !== 200) return fail("INTERNAL", `wallet: HTTP ${r.status}`);
      return ok({ balance: r.json.balance });
    },

    makeInvoice: async (req) => {
      if (!Number.isInteger(req.amount) || req.amount <= 0 || req.amount % 1000 !== 0) {
        return fail("OTHER", "this wallet makes invoices for whole satoshis only");
      }
      // NIP-47 `description_hash` (hex): LNbits' CreateInvoice takes it as
      // `description_hash` and the invoice commits to it instead of the memo.
      const body = {
        out: false,
        amount: req.amount / 1000,
        memo: req.description || "",
        expiry: req.expiry,
      };
      if (req.description_hash) body.description_hash = req.description_hash;
      const r = await api("POST", "/api/v1/payments", wallet.invoice_key, body);
      if (r.status !== 201 && r.status !== 200) {
        return fail(r.status >= 500 ? "INTERNAL" : "OTHER", r.json.detail || `HTTP ${r.status}`);
      }
      const hash = r.json.payment_hash;
      onInvoice(hash);
      return ok({
        type: "incoming",
        state: "pending",
        invoice: r.json.bolt11 || r.json.payment_request,
        description: req.description || "",
        description_hash: req.description_hash || "",
        preimage: "",
        payment_hash: hash,
        amount: req.amount,
        fees_paid: 0,
        created_at: now(),
        expires_at: unix(r.json.expiry) || now() + (req.expiry || 3600),
      });
    },

    payInvoice: async (req) => {
      const r = await api("POST", "/api/v1/payments", wallet.admin_key, { out: true, bolt11: req.invoice });
      let hash = r.json.payment_hash;
      if (hash) paidByMe.add(hash);
      if (r.status === 401 || r.status === 403) return fail("UNAUTHORIZED", r.json.detail);
      if (r.status === 400 || r.status === 422) return fail("OTHER", r.json.detail);
      if (r.status === 520 && r.json.status === "failed") {
        const detail = String(r.json.detail || "payment failed");
        if (/insufficient balance/i.test(detail)) return fail("INSUFFICIENT_BALANCE", detail);
        return fail("PAYMENT_FAILED", detail);
      }
      if (r.status >= 300 && r.status !== 520) return fail("INTERNAL", r.json.detail || `HTTP ${r.status}`);
      let status = r.json.status;
      let preimage = r.json.preimage;
      let fee = Math.abs(r.json.fee || 0);
      // In flight: wait for the backend to end it, as a node's pay call does.
      const until = Date.now() + PAY_WAIT_MS;
      while (status === "pending" && hash && Date.now() < until) {
        await sleep(100);
        const l = await api("GET", `/api/v1/payments/${hash}`, wallet.admin_key);
        if (l.status !== 200) continue;
        status = l.json.status || (l.json.paid ? "success" : "pending");
        preimage = l.json.preimage;
        fee = Math.abs((l.json.details || {}).fee || 0);
      }
      if (status === "failed") return fail("PAYMENT_FAILED", "the payment failed");
      if (status !== "success") return fail("INTERNAL", "the payment is still pending");
      return ok({ preimage: preimage || "", fees_paid: fee });
    },

    // The invoices this connection made (the backend's API has no listing
    // this program can rely on), newest first, each looked up.
    listTransactions: async (req) => {
      if (req.type === "outgoing") return ok({ transactions: [], total_count: 0 });
      const from = req.from || 0;
      const until = req.until || Infinity;
      const limit = Math.min(req.limit || 50, 1000);
      const out = [];
      for (const hash of [...made].reverse()) {
        if (out.length >= limit) break;
        const r = await api("GET", `/api/v1/payments/${hash}`, wallet.invoice_key);
        if (r.status !== 200) continue;
        const tx = transaction(hash, r.json, false);
        if (tx.state !== "settled" && !req.unpaid) continue;
        const at = tx.settled_at || tx.created_at;
        if (at < from || at > until) continue;
        out.push(tx);
      }
      return ok({ transactions: out, total_count: out.length });
    },

    lookupInvoice: async (req) => {
      const hash = req.payment_hash;
      if (!/^[0-9a-f]{64}$/.test(hash || "")) return fail("NOT_FOUND", "only lookups by payment_hash");
      const r = await api("GET", `/api/v1/payments/${hash}`, wallet.admin_key);
      if (r.status === 404) return fail("NOT_FOUND", "no such invoice or payment");
      if (r.status !== 200) return fail("INTERNAL", r.json.detail || `HTTP ${r.status}`);
      return ok(transaction(hash, r.json, paidByMe.has(hash)));
    },
  };
}

async function connect(wallet, legacy) {
  const walletSecret = hex(generateSecretKey());
  const walletPubkey = getPublicKey(Buffer.from(walletSecret, "hex"));
  const clientSecret = hex(generateSecretKey());
  const clientPubkey = getPublicKey(Buffer.from(clientSecret, "hex"));
  const service = new NWCWalletService({ relayUrl });
  if (legacy) {
    // NIP-47: no encryption tag means the wallet speaks NIP-04 only.
    await service.relay.connect();
    const info = finalizeEvent(
      {
        kind: 13194,
        created_at: now(),
        tags: [["notifications", NOTIFICATIONS.join(" ")]],
        content: METHODS.join(" "),
      },
      Buffer.from(walletSecret, "hex"),
    );
    await service.relay.publish(info);
  } else {
    await service.publishWalletServiceInfoEvent(walletSecret, METHODS, NOTIFICATIONS);
  }
  const keypair = new NWCWalletServiceKeyPair(walletSecret, clientPubkey);
  const watched = new Map(); // payment hash -> first seen (unix s)
  const made = new Set(); // every invoice made, oldest first (bounded)
  const onInvoice = (hash) => {
    if (watched.size >= MAX_WATCHED) watched.delete(watched.keys().next().value);
    watched.set(hash, now());
    if (made.size >= MAX_WATCHED) made.delete(made.values().next().value);
    made.add(hash);
  };
  await service.subscribe(keypair, handler(wallet, onInvoice, made));
  notifyLoop(service, keypair, wallet, watched, legacy);
  const uri =
    `nostr+walletconnect://${walletPubkey}?relay=${encodeURIComponent(relayUrl)}` + `&secret=${clientSecret}`;
  return uri;
}

async function notifyLoop(service, keypair, wallet, watched, legacy) {
  for (;;) {
    await sleep(200);
    for (const [hash, since] of [...watched]) {
      if (now() - since > 24 * 3600) {
        watched.delete(hash);
        continue;
      }
      let r;
      try {
        r = await api("GET", `/api/v1/payments/${hash}`, wallet.invoice_key);
      } catch {
        continue;
      }
      if (r.status !== 200 || !(r.json.paid || r.json.status === "success")) continue;
      watched.delete(hash);
      const notification = JSON.stringify({
        notification_type: "payment_received",
        notification: transaction(hash, r.json, false),
      });
      const kinds = legacy ? [[23196, "nip04"]] : [[23197, "nip44_v2"], [23196, "nip04"]];
      for (const [kind, encryption] of kinds) {
        try {
          const content = await service.encrypt(keypair, notification, encryption);
          const event = await service.signEvent(
            { kind, created_at: now(), tags: [["p", keypair.clientPubkey]], content },
            keypair.walletSecret,
          );
          await service.relay.publish(event);
        } catch (e) {
          console.error("nwc service: notification not published:", e?.message || e);
        }
      }
    }
  }
}

const connections = {};
for (const wallet of wallets) {
  try {
    const info = await fetch(backend + "/dev/v1/info").then((r) => (r.ok ? r.json() : {}));
    wallet.nodePubkey = info.pubkey || "";
  } catch {
    wallet.nodePubkey = "";
  }
  connections[wallet.name] = await connect(wallet, false);
  connections[`${wallet.name}_nip04`] = await connect(wallet, true);
}
process.stdout.write(JSON.stringify({ ready: true, connections }) + "\n");

const stop = () => process.exit(0);
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
// Exit with the parent: the test holds our stdin open.
process.stdin.on("end", stop);
process.stdin.resume();
