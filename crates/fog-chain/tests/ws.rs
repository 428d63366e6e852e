//! JSON-RPC over WebSocket: `eth_subscribe` to new heads and to filtered
//! logs, `eth_unsubscribe`, and ordinary calls on the same socket.
#![allow(
    missing_docs,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used
)]

use std::time::Duration;

use alloy::{
    primitives::U256, providers::ProviderBuilder, signers::local::PrivateKeySigner,
    sol_types::SolEvent,
};
use fog_chain::{NodeConfig, RunningNode, genesis::DEV_KEYS};
use fog_contracts::bindings::FogToken;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async, tungstenite::Message};

type Socket = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

async fn start(dir: &std::path::Path) -> RunningNode {
    fog_chain::start(NodeConfig::dev(dir)).await.unwrap()
}

async fn request(ws: &mut Socket, id: u64, method: &str, params: Value) -> Value {
    let req = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
    ws.send(Message::Text(req.to_string().into()))
        .await
        .unwrap();
    loop {
        let v = next(ws).await;
        if v["id"] == id {
            return v;
        }
    }
}

async fn next(ws: &mut Socket) -> Value {
    let msg = tokio::time::timeout(Duration::from_secs(5), ws.next())
        .await
        .expect("a message within 5 s");
    let text = msg.unwrap().unwrap().into_text().unwrap();
    serde_json::from_str(&text).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn new_heads_and_filtered_logs_arrive_as_blocks_are_sealed() {
    let dir = tempfile::tempdir().unwrap();
    let node = start(dir.path()).await;
    let (mut ws, _) = connect_async(format!("ws://{}", node.http)).await.unwrap();

    let key: PrivateKeySigner = DEV_KEYS[0].parse().unwrap();
    let http = ProviderBuilder::new()
        .wallet(key.clone())
        .connect_http(format!("http://{}", node.http).parse().unwrap());
    let token = FogToken::deploy(&http, key.address(), U256::from(1_000_000u64))
        .await
        .unwrap();

    let heads = request(&mut ws, 1, "eth_subscribe", json!(["newHeads"])).await["result"].clone();
    let logs = request(
        &mut ws,
        2,
        "eth_subscribe",
        json!(["logs", {"address": token.address(), "topics": [FogToken::Transfer::SIGNATURE_HASH]}]),
    )
    .await["result"]
        .clone();
    assert!(heads.is_string() && logs.is_string() && heads != logs);

    let receipt = token
        .transfer(DEV_KEYS_ADDR1, U256::from(5))
        .send()
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    let (mut head, mut log) = (Value::Null, Value::Null);
    while head.is_null() || log.is_null() {
        let v = next(&mut ws).await;
        if v["method"] == "eth_subscription" {
            let slot = if v["params"]["subscription"] == heads {
                &mut head
            } else {
                &mut log
            };
            *slot = v["params"]["result"].clone();
        }
    }
    assert_eq!(
        head["number"],
        json!(format!("{:#x}", receipt.block_number.unwrap()))
    );
    assert_eq!(head["hash"], json!(receipt.block_hash.unwrap()));
    assert_eq!(log["transactionHash"], json!(receipt.transaction_hash));
    assert_eq!(log["address"], json!(token.address()));

    // Ordinary calls work on the same socket.
    let number = request(&mut ws, 3, "eth_blockNumber", json!([])).await;
    assert_eq!(number["result"], head["number"]);

    assert_eq!(
        request(&mut ws, 4, "eth_unsubscribe", json!([heads])).await["result"],
        true
    );
    assert_eq!(
        request(&mut ws, 5, "eth_unsubscribe", json!([heads])).await["result"],
        false
    );
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn subscribing_to_an_unknown_kind_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let node = start(dir.path()).await;
    let (mut ws, _) = connect_async(format!("ws://{}", node.http)).await.unwrap();
    let answer = request(
        &mut ws,
        1,
        "eth_subscribe",
        json!(["newPendingTransactions"]),
    )
    .await;
    assert_eq!(answer["error"]["code"], -32602);
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("newHeads")
    );
    node.stop().await;
}

const DEV_KEYS_ADDR1: alloy::primitives::Address = fog_chain::genesis::DEV_ACCOUNTS[1];
