//! `fog chain` killed with SIGKILL in the middle of a stream of transactions:
//! after a restart it serves every transaction whose receipt it ever
//! returned, and its blocks still chain (no half-written block).
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::{
    net::TcpListener,
    path::Path,
    process::{Child, Command, Stdio},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use alloy::{
    consensus::{SignableTransaction, TxEip1559, TxEnvelope},
    eips::Encodable2718,
    network::TxSignerSync,
    primitives::{Address, B256, Bytes, TxKind, U256},
    signers::local::PrivateKeySigner,
};
use serde_json::{Value, json};

const DEV_KEYS: [&str; 4] = [
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
    "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
    "0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a",
];

struct ChainProcess(Child);

impl Drop for ChainProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn spawn(datadir: &Path, port: u16) -> ChainProcess {
    let child = Command::new(env!("CARGO_BIN_EXE_fog"))
        .args(["chain", "--dev", "--datadir"])
        .arg(datadir)
        .args(["--http", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    ChainProcess(child)
}

fn rpc(
    client: &reqwest::blocking::Client,
    url: &str,
    method: &str,
    params: Value,
) -> Option<Value> {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    let answer: Value = client.post(url).json(&body).send().ok()?.json().ok()?;
    Some(answer)
}

fn wait_up(client: &reqwest::blocking::Client, url: &str) {
    for _ in 0..200 {
        if rpc(client, url, "eth_chainId", json!([])).is_some() {
            return;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!("fog chain did not answer within 5 s");
}

fn transfer(key: &PrivateKeySigner, nonce: u64) -> Bytes {
    let mut tx = TxEip1559 {
        chain_id: 31337,
        nonce,
        gas_limit: 21_000,
        to: TxKind::Call(Address::with_last_byte(0x77)),
        value: U256::from(1),
        ..Default::default()
    };
    let sig = key.sign_transaction_sync(&mut tx).unwrap();
    let env: TxEnvelope = tx.into_signed(sig).into();
    env.encoded_2718().into()
}

/// (tx hash, block number, block hash) of every receipt the node returned.
type Acked = Arc<Mutex<Vec<(B256, String, String)>>>;

/// Sends transfers from `key` one after another, recording each receipt
/// the node returns, until `stop` or the node dies.
fn stream(url: String, key: PrivateKeySigner, acked: Acked, stop: Arc<AtomicBool>) {
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let Some(n) = rpc(
        &client,
        &url,
        "eth_getTransactionCount",
        json!([key.address(), "latest"]),
    ) else {
        return;
    };
    let mut nonce =
        u64::from_str_radix(n["result"].as_str().unwrap().trim_start_matches("0x"), 16).unwrap();
    while !stop.load(Ordering::Relaxed) {
        let Some(sent) = rpc(
            &client,
            &url,
            "eth_sendRawTransaction",
            json!([transfer(&key, nonce)]),
        ) else {
            return;
        };
        let Some(hash) = sent["result"].as_str().map(str::to_owned) else {
            return;
        };
        loop {
            let Some(r) = rpc(&client, &url, "eth_getTransactionReceipt", json!([hash])) else {
                return;
            };
            if !r["result"].is_null() {
                let rec = &r["result"];
                acked.lock().unwrap().push((
                    hash.parse().unwrap(),
                    rec["blockNumber"].as_str().unwrap().to_owned(),
                    rec["blockHash"].as_str().unwrap().to_owned(),
                ));
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        nonce += 1;
    }
}

#[test]
fn a_killed_chain_serves_every_acknowledged_transaction_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let acked: Acked = Arc::default();
    for round in 0..3 {
        let port = free_port();
        let url = format!("http://127.0.0.1:{port}");
        let mut node = spawn(dir.path(), port);
        wait_up(&client, &url);
        let stop = Arc::new(AtomicBool::new(false));
        let senders: Vec<_> = DEV_KEYS
            .iter()
            .map(|k| {
                let (url, acked, stop) = (url.clone(), acked.clone(), stop.clone());
                let key: PrivateKeySigner = k.parse().unwrap();
                std::thread::spawn(move || stream(url, key, acked, stop))
            })
            .collect();
        std::thread::sleep(Duration::from_millis(700 + 300 * round));
        node.0.kill().unwrap(); // SIGKILL, mid-stream
        node.0.wait().unwrap();
        stop.store(true, Ordering::Relaxed);
        for s in senders {
            s.join().unwrap();
        }
    }
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() > 20,
        "the stream should have been acknowledged many times, got {}",
        acked.len()
    );

    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let _node = spawn(dir.path(), port);
    wait_up(&client, &url);
    for (hash, number, block_hash) in &acked {
        let r = rpc(&client, &url, "eth_getTransactionReceipt", json!([hash])).unwrap();
        assert_eq!(
            r["result"]["blockNumber"].as_str(),
            Some(number.as_str()),
            "receipt of {hash} after restart"
        );
        assert_eq!(r["result"]["blockHash"].as_str(), Some(block_hash.as_str()));
    }
    // Every block links to its parent: nothing half-written.
    let head = rpc(&client, &url, "eth_blockNumber", json!([])).unwrap();
    let head = u64::from_str_radix(
        head["result"].as_str().unwrap().trim_start_matches("0x"),
        16,
    )
    .unwrap();
    let mut parent: Option<String> = None;
    for n in 0..=head {
        let b = rpc(
            &client,
            &url,
            "eth_getBlockByNumber",
            json!([format!("{n:#x}"), false]),
        )
        .unwrap();
        let b = &b["result"];
        if let Some(p) = &parent {
            assert_eq!(
                b["parentHash"].as_str(),
                Some(p.as_str()),
                "block {n} links to its parent"
            );
        }
        parent = Some(b["hash"].as_str().unwrap().to_owned());
    }
}
