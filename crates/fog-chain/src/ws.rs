//! JSON-RPC over WebSocket: every method of [`rpc`](crate::rpc), plus
//! `eth_subscribe` to `newHeads` and `logs` (with an address/topic filter)
//! and `eth_unsubscribe`. Notifications follow the geth format:
//! `{"method": "eth_subscription", "params": {"subscription": ID, "result": ...}}`.

use std::{collections::BTreeMap, sync::Arc};

use alloy::{primitives::U64, rpc::types::Filter};
use axum::extract::ws::{Message, WebSocket};
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;

use crate::{chain::LogQuery, node::Node, rpc};

enum Subscription {
    Heads,
    Logs(LogQuery),
}

/// Serves one WebSocket connection until the client goes away.
pub(crate) async fn serve(node: Arc<Node>, mut socket: WebSocket) {
    let mut blocks = node.subscribe();
    let mut subs: BTreeMap<String, Subscription> = BTreeMap::new();
    let mut next_id = 1u64;
    loop {
        tokio::select! {
            msg = socket.recv() => {
                let Some(Ok(msg)) = msg else { return };
                let text = match msg {
                    Message::Text(t) => t.to_string(),
                    Message::Binary(b) => String::from_utf8_lossy(&b).into_owned(),
                    Message::Close(_) => return,
                    _ => continue,
                };
                let answer = answer(&node, &text, &mut subs, &mut next_id).await;
                if socket.send(Message::Text(answer.to_string().into())).await.is_err() {
                    return;
                }
            }
            block = blocks.recv() => {
                let block = match block {
                    Ok(b) => b,
                    // A slow client missed blocks: it gets the ones still buffered.
                    Err(RecvError::Lagged(_)) => continue,
                    Err(RecvError::Closed) => return,
                };
                for (id, sub) in &subs {
                    let results: Vec<Value> = match sub {
                        Subscription::Heads => vec![rpc::header_json(&block.block)],
                        Subscription::Logs(q) => {
                            block.logs.iter().filter(|l| q.matches(&l.log)).map(rpc::log_json).collect()
                        }
                    };
                    for result in results {
                        let note = json!({"jsonrpc": "2.0", "method": "eth_subscription",
                            "params": {"subscription": id, "result": result}});
                        if socket.send(Message::Text(note.to_string().into())).await.is_err() {
                            return;
                        }
                    }
                }
            }
        }
    }
}

async fn answer(
    node: &Arc<Node>,
    text: &str,
    subs: &mut BTreeMap<String, Subscription>,
    next_id: &mut u64,
) -> Value {
    let Ok(request) = serde_json::from_str::<Value>(text) else {
        return json!({"jsonrpc": "2.0", "id": null, "error": {"code": -32700, "message": "parse error"}});
    };
    let id = request.get("id").cloned().unwrap_or(Value::Null);
    let method = request
        .get("method")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let params = request.get("params").cloned().unwrap_or(Value::Null);
    let error = |code: i64, message: String| json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}});
    match method {
        "eth_subscribe" => {
            let kind = params.get(0).and_then(Value::as_str).unwrap_or_default();
            let sub = match kind {
                "newHeads" => Subscription::Heads,
                "logs" => {
                    let filter = params.get(1).cloned().unwrap_or_else(|| json!({}));
                    match serde_json::from_value::<Filter>(filter) {
                        Ok(f) => Subscription::Logs(rpc::subscription_filter(&f)),
                        Err(e) => return error(-32602, format!("parameter 1 (filter): {e}")),
                    }
                }
                other => {
                    return error(
                        -32602,
                        format!("cannot subscribe to {other:?}: use \"newHeads\" or \"logs\""),
                    );
                }
            };
            let sub_id = format!("{:#x}", U64::from(*next_id));
            *next_id += 1;
            subs.insert(sub_id.clone(), sub);
            json!({"jsonrpc": "2.0", "id": id, "result": sub_id})
        }
        "eth_unsubscribe" => {
            let sub_id = params.get(0).and_then(Value::as_str).unwrap_or_default();
            json!({"jsonrpc": "2.0", "id": id, "result": subs.remove(sub_id).is_some()})
        }
        _ => {
            let node = node.clone();
            let body = text.as_bytes().to_vec();
            tokio::task::spawn_blocking(move || rpc::handle_body(&node, &body)).await.unwrap_or_else(|e| {
                json!({"jsonrpc": "2.0", "id": null, "error": {"code": -32603, "message": format!("internal error: {e}")}})
            })
        }
    }
}
