//! The NWC adapter's overhead over the raw NIP-47 wire call, against the
//! real stack (`bash scripts/nwc.sh start`, then `eval "$(bash scripts/nwc.sh env)"`):
//! Alby's `NWCWalletService` over `nostr-relay` on loopback, backed by the
//! dev node's HTTP wallet in this process.
//!
//! * *raw, one connection*: a NIP-44 request signed and sent on a websocket
//!   kept open, `REQ` for the answer, its content decrypted: the least any
//!   NIP-47 client does.
//! * *raw, new connection*: the same, opening the websocket per call, as
//!   the adapter does.
//! * *adapter*: the trait method (connection per call, the answer's
//!   signature checked, the invoice decoded and its signature checked
//!   before paying, the preimage checked after).
//!
//! Sequential calls; the wallet service's own time is in all three.
//!
//! ```sh
//! cargo run --release -p l402-lightning --example nwc_overhead [calls]
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/nwc_support/mod.rs"]
mod nwc_support;

use std::time::{Duration, Instant};

use futures_util::{SinkExt as _, StreamExt as _};
use l402_lightning::dev::DevNode;
use l402_lightning::nwc::{NwcClient, NwcUri};
use l402_lightning::{InvoiceRequest, PayRequest, Receiver, Wallet};
use nostr::nips::nip44;
use nostr::{
    ClientMessage, EventBuilder, Filter, JsonUtil as _, Keys, Kind, RelayMessage, SecretKey,
    SubscriptionId, Tag, TagKind,
};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// One NIP-47 exchange on `ws`, with as little as a client can do.
async fn raw_call(ws: &mut Ws, uri: &NwcUri, keys: &Keys, method: &str, params: Value) -> Value {
    let wallet = *uri.wallet_pubkey();
    let plain = json!({ "method": method, "params": params }).to_string();
    let content = nip44::encrypt(keys.secret_key(), &wallet, plain, nip44::Version::V2).unwrap();
    let request = EventBuilder::new(Kind::Custom(23194), content)
        .tag(Tag::public_key(wallet))
        .tag(Tag::custom(TagKind::custom("encryption"), ["nip44_v2"]))
        .sign_with_keys(keys)
        .unwrap();
    let sub = SubscriptionId::generate();
    let filter = Filter::new()
        .kind(Kind::Custom(23195))
        .author(wallet)
        .event(request.id);
    let send = |m: ClientMessage<'_>| Message::text(m.as_json());
    ws.send(send(ClientMessage::req(sub.clone(), vec![filter])))
        .await
        .unwrap();
    let mut sent = false;
    loop {
        let Some(Ok(Message::Text(text))) = ws.next().await else {
            continue;
        };
        match RelayMessage::from_json(text.as_str()) {
            Ok(RelayMessage::EndOfStoredEvents(id)) if *id == sub && !sent => {
                ws.send(send(ClientMessage::event(request.clone())))
                    .await
                    .unwrap();
                sent = true;
            }
            Ok(RelayMessage::Event {
                subscription_id,
                event,
            }) if *subscription_id == sub => {
                let text = nip44::decrypt(keys.secret_key(), &wallet, &event.content).unwrap();
                ws.send(send(ClientMessage::close(sub))).await.unwrap();
                let answer: Value = serde_json::from_str(&text).unwrap();
                assert!(answer["error"].is_null(), "{answer}");
                return answer["result"].clone();
            }
            _ => {}
        }
    }
}

async fn connect(uri: &NwcUri) -> Ws {
    tokio_tungstenite::connect_async(uri.relays()[0].as_str())
        .await
        .unwrap()
        .0
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn report(what: &str, raw: Duration, fresh: Duration, adapter: Duration) {
    println!(
        "{what:<12} raw (one connection) {:>6.2} ms   raw (new connection) {:>6.2} ms   adapter {:>6.2} ms   \
         overhead {:>+6.2} ms over one connection, {:>+6.2} ms over a new one",
        ms(raw),
        ms(fresh),
        ms(adapter),
        ms(adapter) - ms(raw),
        ms(adapter) - ms(fresh),
    );
}

#[tokio::main]
async fn main() {
    let calls: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(50);
    let node = DevNode::builder().in_memory().open().await.unwrap();
    let server = node.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let merchant = node.wallet("merchant").await.unwrap();
    let payer = node.wallet("payer").await.unwrap();
    payer.credit_sats(10_000_000).await.unwrap();
    let service = nwc_support::service(&server.url(), &[("payer", &payer)])
        .await
        .expect("the NWC stack: bash scripts/nwc.sh start; eval \"$(bash scripts/nwc.sh env)\"");
    let uri: NwcUri = service.connections["payer"].parse().unwrap();
    let secret = nwc_support::secret_of(&uri);
    let keys = Keys::new(SecretKey::from_hex(&secret).unwrap());
    let client = NwcClient::builder(uri.clone()).build();
    let mut ws = connect(&uri).await;
    println!(
        "{calls} sequential calls each, after {} warm-up calls",
        calls / 10
    );

    // get_balance.
    let mut raw = Duration::ZERO;
    let mut fresh = Duration::ZERO;
    let mut adapter = Duration::ZERO;
    for i in 0..calls + calls / 10 {
        let t = Instant::now();
        raw_call(&mut ws, &uri, &keys, "get_balance", json!({})).await;
        let r = t.elapsed();
        let t = Instant::now();
        let mut one = connect(&uri).await;
        raw_call(&mut one, &uri, &keys, "get_balance", json!({})).await;
        let f = t.elapsed();
        let t = Instant::now();
        client.balance_msat().await.unwrap();
        let a = t.elapsed();
        if i >= calls / 10 {
            (raw, fresh, adapter) = (raw + r, fresh + f, adapter + a);
        }
    }
    let n = calls as u32;
    report("get_balance", raw / n, fresh / n, adapter / n);

    // pay_invoice (invoices made in process, so only paying is timed).
    let mut raw = Duration::ZERO;
    let mut fresh = Duration::ZERO;
    let mut adapter = Duration::ZERO;
    let invoice = || async {
        merchant
            .create_invoice(&InvoiceRequest::sats(1))
            .await
            .unwrap()
            .bolt11
    };
    for i in 0..calls + calls / 10 {
        let bolt11 = invoice().await;
        let t = Instant::now();
        raw_call(
            &mut ws,
            &uri,
            &keys,
            "pay_invoice",
            json!({ "invoice": bolt11 }),
        )
        .await;
        let r = t.elapsed();
        let bolt11 = invoice().await;
        let t = Instant::now();
        let mut one = connect(&uri).await;
        raw_call(
            &mut one,
            &uri,
            &keys,
            "pay_invoice",
            json!({ "invoice": bolt11 }),
        )
        .await;
        let f = t.elapsed();
        let bolt11 = invoice().await;
        let t = Instant::now();
        client.pay(&PayRequest::new(bolt11)).await.unwrap();
        let a = t.elapsed();
        if i >= calls / 10 {
            (raw, fresh, adapter) = (raw + r, fresh + f, adapter + a);
        }
    }
    report("pay_invoice", raw / n, fresh / n, adapter / n);
}
