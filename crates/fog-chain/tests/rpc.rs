//! `fog chain` over HTTP as standard clients use it: an alloy Provider
//! deploys the market suite and runs a deal lifecycle; errors come back as
//! the JSON-RPC errors wallets understand; blocks carry their sealer; a
//! restart serves everything that was mined.
#![allow(
    missing_docs,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used
)]

use std::path::Path;

use alloy::{
    consensus::{SignableTransaction, TxEip1559, TxEnvelope, TxLegacy},
    eips::Encodable2718,
    network::TxSignerSync,
    primitives::{Address, B256, Bytes, TxKind, U256},
    providers::{DynProvider, Provider, ProviderBuilder},
    rpc::types::Filter,
    signers::local::PrivateKeySigner,
    sol_types::SolEvent,
};
use fog_chain::{
    Mining, NodeConfig, RunningNode,
    genesis::{DEV_ACCOUNTS, DEV_KEYS},
    seal,
};
use fog_contracts::{
    SuiteConfig,
    bindings::{FogToken, Market},
    convert::pack_benchmarks,
    deploy::{TOKEN, deploy_suite},
};
use fog_primitives::Benchmarks;
use serde_json::{Value, json};

async fn start(datadir: &Path, mining: Mining) -> RunningNode {
    let mut config = NodeConfig::dev(datadir);
    config.chain.mining = mining;
    fog_chain::start(config).await.unwrap()
}

fn key(i: usize) -> PrivateKeySigner {
    DEV_KEYS[i].parse().unwrap()
}

fn provider(node: &RunningNode, signer: PrivateKeySigner) -> DynProvider {
    ProviderBuilder::new()
        .wallet(signer)
        .connect_http(format!("http://{}", node.http).parse().unwrap())
        .erased()
}

/// Posts raw JSON-RPC and returns the whole answer.
async fn post(node: &RunningNode, body: Value) -> Value {
    // A tiny HTTP/1.1 POST over a TcpStream: the test controls every byte.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(node.http).await.unwrap();
    let body = body.to_string();
    let req = format!(
        "POST / HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
        node.http,
        body.len(),
        body
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    let json = out.split("\r\n\r\n").nth(1).unwrap();
    serde_json::from_str(json).unwrap()
}

async fn call(node: &RunningNode, method: &str, params: Value) -> Value {
    post(
        node,
        json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}),
    )
    .await
}

fn signed(key: &PrivateKeySigner, chain_id: u64, nonce: u64, to: Address, value: u64) -> Bytes {
    let mut tx = TxEip1559 {
        chain_id,
        nonce,
        gas_limit: 21_000,
        max_fee_per_gas: 0,
        max_priority_fee_per_gas: 0,
        to: TxKind::Call(to),
        value: U256::from(value),
        ..Default::default()
    };
    let sig = key.sign_transaction_sync(&mut tx).unwrap();
    let env: TxEnvelope = tx.into_signed(sig).into();
    env.encoded_2718().into()
}

fn spot_order(order_type: u8) -> Market::Order {
    Market::Order {
        orderType: order_type,
        author: Address::ZERO,
        counterparty: Address::ZERO,
        duration: 0,
        price: U256::from(TOKEN / 3600),
        netflags: 0,
        identityLevel: 0,
        blacklist: Address::ZERO,
        tag: B256::ZERO,
        benchmarks: pack_benchmarks(&Benchmarks::new(vec![100, 10, 2])),
        frozenSum: U256::ZERO,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn market_suite_runs_a_deal_lifecycle_over_json_rpc() {
    let dir = tempfile::tempdir().unwrap();
    let node = start(dir.path(), Mining::Auto).await;
    let (deployer, supplier, consumer) = (key(0), key(1), key(2));
    let p0 = provider(&node, deployer.clone());
    let suite = deploy_suite(&p0, &SuiteConfig::dev(deployer.address()))
        .await
        .unwrap();

    let token = FogToken::new(suite.token, &p0);
    token
        .transfer(consumer.address(), U256::from(100 * TOKEN))
        .send()
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    let pc = provider(&node, consumer.clone());
    let ps = provider(&node, supplier.clone());
    FogToken::new(suite.token, &pc)
        .approve(suite.market, U256::MAX)
        .send()
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();

    let market_s = Market::new(suite.market, &ps);
    let market_c = Market::new(suite.market, &pc);
    let r = market_s
        .placeOrder(spot_order(1))
        .send()
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    let ask = r.decoded_log::<Market::OrderPlaced>().unwrap().data;
    let r = market_c
        .placeOrder(spot_order(2))
        .send()
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    let bid = r.decoded_log::<Market::OrderPlaced>().unwrap().data;
    let r = market_c
        .openDeal(
            ask.orderId,
            ask.order.clone(),
            bid.orderId,
            bid.order.clone(),
        )
        .send()
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    let deal = r.decoded_log::<Market::DealOpened>().unwrap().data;

    call(&node, "evm_increaseTime", json!(["0x258"])).await; // 600 s
    market_s
        .bill(deal.dealId, deal.parties.clone())
        .send()
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    let r = market_c
        .closeDeal(deal.dealId, deal.parties.clone(), 0)
        .send()
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    let closed = r.decoded_log::<Market::DealClosed>().unwrap().data;
    assert_eq!(closed.reason, 1);

    let paid = token.balanceOf(supplier.address()).call().await.unwrap();
    assert!(
        paid >= U256::from(600 * (TOKEN / 3600)),
        "supplier paid {paid}"
    );
    assert_eq!(
        token.balanceOf(suite.market).call().await.unwrap(),
        U256::ZERO
    );

    // The indexer's view: every market event of the lifecycle, by eth_getLogs.
    let logs = p0
        .get_logs(&Filter::new().address(suite.market).from_block(0))
        .await
        .unwrap();
    let opened: Vec<_> = logs
        .iter()
        .filter(|l| l.topic0() == Some(&Market::DealOpened::SIGNATURE_HASH))
        .collect();
    assert_eq!(opened.len(), 1);
    assert!(logs.len() >= 5);

    // A revert comes back as code 3 with the custom error as data.
    let err = market_s
        .closeDeal(deal.dealId, deal.parties, 0)
        .call()
        .await
        .unwrap_err();
    let decoded = err
        .as_decoded_interface_error::<Market::MarketErrors>()
        .unwrap();
    assert!(matches!(decoded, Market::MarketErrors::DealNotOpen(_)));
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn every_block_is_sealed_by_the_authority() {
    let dir = tempfile::tempdir().unwrap();
    let node = start(dir.path(), Mining::Auto).await;
    let p = provider(&node, key(1));
    p.send_transaction(
        alloy::rpc::types::TransactionRequest::default()
            .to(DEV_ACCOUNTS[3])
            .value(U256::from(1)),
    )
    .await
    .unwrap()
    .get_receipt()
    .await
    .unwrap();
    let block = p.get_block_by_number(1.into()).await.unwrap().unwrap();
    assert_eq!(seal::sealer(&block.header.inner).unwrap(), DEV_ACCOUNTS[0]);
    assert_eq!(block.header.hash, block.header.inner.hash_slow());
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn transactions_are_found_by_block_and_index() {
    let dir = tempfile::tempdir().unwrap();
    let node = start(dir.path(), Mining::Auto).await;
    let raw = signed(&key(1), 31337, 0, DEV_ACCOUNTS[2], 1);
    let hash: B256 = serde_json::from_value(
        call(&node, "eth_sendRawTransaction", json!([raw])).await["result"].clone(),
    )
    .unwrap();
    let receipt = wait_receipt(&node, hash).await;
    let by_number = call(
        &node,
        "eth_getTransactionByBlockNumberAndIndex",
        json!([receipt["blockNumber"], "0x0"]),
    )
    .await;
    assert_eq!(by_number["result"]["hash"], json!(hash));
    let by_hash = call(
        &node,
        "eth_getTransactionByBlockHashAndIndex",
        json!([receipt["blockHash"], "0x0"]),
    )
    .await;
    assert_eq!(by_hash["result"]["hash"], json!(hash));
    let count = call(
        &node,
        "eth_getBlockTransactionCountByHash",
        json!([receipt["blockHash"]]),
    )
    .await;
    assert_eq!(count["result"], "0x1");
    let missing = call(
        &node,
        "eth_getTransactionByBlockNumberAndIndex",
        json!([receipt["blockNumber"], "0x5"]),
    )
    .await;
    assert_eq!(missing["result"], Value::Null);
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn block_tags_name_the_head_or_genesis() {
    let dir = tempfile::tempdir().unwrap();
    let node = start(dir.path(), Mining::Auto).await;
    for _ in 0..2 {
        call(&node, "evm_mine", json!([])).await;
    }
    for tag in ["latest", "pending", "safe", "finalized"] {
        let b = call(&node, "eth_getBlockByNumber", json!([tag, false])).await;
        assert_eq!(b["result"]["number"], "0x2", "{tag}");
    }
    let genesis = call(&node, "eth_getBlockByNumber", json!(["earliest", false])).await;
    assert_eq!(genesis["result"]["number"], "0x0");
    let by_number = call(&node, "eth_getBlockByNumber", json!(["0x1", false])).await;
    let by_hash = call(
        &node,
        "eth_getBlockByHash",
        json!([by_number["result"]["hash"], false]),
    )
    .await;
    assert_eq!(by_hash["result"], by_number["result"]);
    let head_hash =
        call(&node, "eth_getBlockByNumber", json!(["latest", false])).await["result"]["hash"]
            .clone();
    let balance = call(
        &node,
        "eth_getBalance",
        json!([DEV_ACCOUNTS[1], {"blockHash": head_hash}]),
    )
    .await;
    assert!(balance["result"].is_string(), "{balance}");
    assert_eq!(
        call(&node, "eth_getBlockByNumber", json!(["0x99", false])).await["result"],
        Value::Null
    );
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn browsers_may_call_it_from_another_origin() {
    let dir = tempfile::tempdir().unwrap();
    let node = start(dir.path(), Mining::Auto).await;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(node.http).await.unwrap();
    let req = "OPTIONS / HTTP/1.1\r\nHost: x\r\nOrigin: http://wallet.example\r\nAccess-Control-Request-Method: POST\r\nAccess-Control-Request-Headers: content-type\r\nConnection: close\r\n\r\n";
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    assert!(
        out.to_ascii_lowercase()
            .contains("access-control-allow-origin: *"),
        "{out}"
    );
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_transaction_is_refused_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let node = start(dir.path(), Mining::Auto).await;
    let answer = call(&node, "eth_sendRawTransaction", json!(["0x02f8"])).await;
    assert_eq!(answer["error"]["code"], -32000);
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("invalid transaction"),
        "{answer}"
    );
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn transaction_for_another_chain_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let node = start(dir.path(), Mining::Auto).await;
    let raw = signed(&key(1), 1, 0, DEV_ACCOUNTS[2], 1);
    let answer = call(&node, "eth_sendRawTransaction", json!([raw])).await;
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("invalid chain id"),
        "{answer}"
    );
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn transaction_without_replay_protection_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let node = start(dir.path(), Mining::Auto).await;
    let mut tx = TxLegacy {
        chain_id: None,
        nonce: 0,
        gas_price: 0,
        gas_limit: 21_000,
        to: TxKind::Call(DEV_ACCOUNTS[2]),
        value: U256::from(1),
        input: Bytes::new(),
    };
    let sig = key(1).sign_transaction_sync(&mut tx).unwrap();
    let env: TxEnvelope = tx.into_signed(sig).into();
    let answer = call(
        &node,
        "eth_sendRawTransaction",
        json!([Bytes::from(env.encoded_2718())]),
    )
    .await;
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("invalid chain id"),
        "{answer}"
    );
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn used_nonce_is_refused_as_nonce_too_low() {
    let dir = tempfile::tempdir().unwrap();
    let node = start(dir.path(), Mining::Auto).await;
    let raw = signed(&key(1), 31337, 0, DEV_ACCOUNTS[2], 1);
    let first = call(&node, "eth_sendRawTransaction", json!([raw])).await;
    let hash: B256 = serde_json::from_value(first["result"].clone()).unwrap();
    wait_receipt(&node, hash).await;
    let again = signed(&key(1), 31337, 0, DEV_ACCOUNTS[2], 2);
    let answer = call(&node, "eth_sendRawTransaction", json!([again])).await;
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("nonce too low"),
        "{answer}"
    );
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sender_without_funds_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let node = start(dir.path(), Mining::Auto).await;
    let pauper = PrivateKeySigner::random();
    let raw = signed(&pauper, 31337, 0, DEV_ACCOUNTS[2], 1);
    let answer = call(&node, "eth_sendRawTransaction", json!([raw])).await;
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("insufficient funds"),
        "{answer}"
    );
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn gas_above_the_block_limit_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let node = start(dir.path(), Mining::Auto).await;
    let mut tx = TxEip1559 {
        chain_id: 31337,
        gas_limit: 30_000_001,
        to: TxKind::Call(DEV_ACCOUNTS[2]),
        ..Default::default()
    };
    let sig = key(1).sign_transaction_sync(&mut tx).unwrap();
    let env: TxEnvelope = tx.into_signed(sig).into();
    let answer = call(
        &node,
        "eth_sendRawTransaction",
        json!([Bytes::from(env.encoded_2718())]),
    )
    .await;
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("exceeds block gas limit"),
        "{answer}"
    );
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn future_nonce_is_held_until_the_gap_fills() {
    let dir = tempfile::tempdir().unwrap();
    let node = start(dir.path(), Mining::Auto).await;
    let later = signed(&key(1), 31337, 1, DEV_ACCOUNTS[2], 1);
    let later_hash: B256 = serde_json::from_value(
        call(&node, "eth_sendRawTransaction", json!([later])).await["result"].clone(),
    )
    .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(
        call(&node, "eth_getTransactionReceipt", json!([later_hash])).await["result"],
        Value::Null
    );
    let first = signed(&key(1), 31337, 0, DEV_ACCOUNTS[2], 1);
    call(&node, "eth_sendRawTransaction", json!([first])).await;
    wait_receipt(&node, later_hash).await;
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn batch_requests_are_answered_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let node = start(dir.path(), Mining::Auto).await;
    let answer = post(
        &node,
        json!([
            {"jsonrpc": "2.0", "id": 7, "method": "eth_chainId", "params": []},
            {"jsonrpc": "2.0", "id": 8, "method": "net_version", "params": []},
            {"jsonrpc": "2.0", "id": 9, "method": "no_such_method", "params": []}
        ]),
    )
    .await;
    assert_eq!(answer[0]["id"], 7);
    assert_eq!(answer[0]["result"], "0x7a69");
    assert_eq!(answer[1]["result"], "31337");
    assert_eq!(answer[2]["error"]["code"], -32601);
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_request_that_is_not_json_gets_a_parse_error() {
    let dir = tempfile::tempdir().unwrap();
    let node = start(dir.path(), Mining::Auto).await;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(node.http).await.unwrap();
    let body = "{not json";
    let req = format!(
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    assert!(out.contains("-32700"), "{out}");
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn state_of_an_older_block_is_refused_with_a_hint() {
    let dir = tempfile::tempdir().unwrap();
    let node = start(dir.path(), Mining::Auto).await;
    let raw = signed(&key(1), 31337, 0, DEV_ACCOUNTS[2], 1);
    let hash: B256 = serde_json::from_value(
        call(&node, "eth_sendRawTransaction", json!([raw])).await["result"].clone(),
    )
    .unwrap();
    wait_receipt(&node, hash).await;
    let answer = call(&node, "eth_getBalance", json!([DEV_ACCOUNTS[1], "0x0"])).await;
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("only the latest state"),
        "{answer}"
    );
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn log_query_past_the_head_is_cut_at_the_head() {
    let dir = tempfile::tempdir().unwrap();
    let node = start(dir.path(), Mining::Auto).await;
    for _ in 0..3 {
        call(&node, "evm_mine", json!([])).await;
    }
    let ok = call(
        &node,
        "eth_getLogs",
        json!([{"fromBlock": "0x0", "toBlock": "latest"}]),
    )
    .await;
    assert_eq!(ok["result"], json!([]));
    let wide = call(
        &node,
        "eth_getLogs",
        json!([{"fromBlock": "0x0", "toBlock": "0x2710"}]),
    )
    .await;
    assert_eq!(
        wide["result"],
        json!([]),
        "a range beyond the head is cut at the head: {wide}"
    );
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restarted_chain_serves_every_mined_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let mut hashes = Vec::new();
    {
        let node = start(dir.path(), Mining::Auto).await;
        for nonce in 0..5 {
            let raw = signed(&key(1), 31337, nonce, DEV_ACCOUNTS[2], 1);
            let answer = call(&node, "eth_sendRawTransaction", json!([raw])).await;
            hashes.push(serde_json::from_value::<B256>(answer["result"].clone()).unwrap());
        }
        for h in &hashes {
            wait_receipt(&node, *h).await;
        }
        node.stop().await;
    }
    let node = start(dir.path(), Mining::Auto).await;
    for h in &hashes {
        assert_eq!(
            call(&node, "eth_getTransactionReceipt", json!([h])).await["result"]["status"],
            "0x1"
        );
    }
    let nonce = call(
        &node,
        "eth_getTransactionCount",
        json!([DEV_ACCOUNTS[1], "latest"]),
    )
    .await;
    assert_eq!(nonce["result"], "0x5");
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn interval_mining_seals_empty_blocks_on_time() {
    let dir = tempfile::tempdir().unwrap();
    let node = start(
        dir.path(),
        Mining::Interval(std::time::Duration::from_millis(1000)),
    )
    .await;
    let p = provider(&node, key(1));
    // Bounded wait: at most 10 s for two more blocks.
    for _ in 0..100 {
        if p.get_block_number().await.unwrap() >= 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(p.get_block_number().await.unwrap() >= 2);
    node.stop().await;
}

async fn wait_receipt(node: &RunningNode, hash: B256) -> Value {
    for _ in 0..200 {
        let r = call(node, "eth_getTransactionReceipt", json!([hash])).await;
        if !r["result"].is_null() {
            return r["result"].clone();
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("no receipt for {hash} within 5 s");
}
