//! `fog bench chain`: token transfers per second through JSON-RPC, for
//! `fog chain` and, in the same run on the same machine, for anvil (the
//! reference node from npm). Both run as separate processes on loopback and
//! get the same workload: an ERC-20 deployed, then N pre-signed transfers from
//! four senders to distinct recipients, sent as JSON-RPC batches over a few
//! concurrent connections, as a busy client would. The clock runs from the
//! first batch sent to the moment every transfer is mined.

use std::{
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use alloy::{
    consensus::{SignableTransaction, TxEip1559, TxEnvelope},
    eips::Encodable2718,
    network::TxSignerSync,
    primitives::{Address, Bytes, TxKind, U256},
    signers::local::PrivateKeySigner,
    sol_types::{SolCall, SolConstructor},
};
use anyhow::{Context as _, bail};
use fog_contracts::bindings::FogToken;
use serde::Serialize;
use serde_json::{Value, json};

/// What `fog bench chain --json` prints.
#[derive(Debug, Serialize)]
pub(crate) struct ChainReport {
    /// Transfers per second through fog chain.
    pub fog_tx_per_s: f64,
    /// Transfers per second through anvil.
    pub anvil_tx_per_s: f64,
    /// fog / anvil.
    pub ratio: f64,
    /// Transfers sent to each node.
    pub txs: usize,
    /// Transactions per JSON-RPC batch.
    pub batch: usize,
    /// Runs per node; the figures are medians.
    pub rounds: usize,
}

/// Workload knobs.
#[derive(Debug, Clone)]
pub(crate) struct ChainBench {
    /// Transfers per node.
    pub txs: usize,
    /// Transactions per JSON-RPC batch.
    pub batch: usize,
    /// Concurrent connections sending batches.
    pub connections: usize,
    /// Runs per node.
    pub rounds: usize,
    /// The anvil binary.
    pub anvil: PathBuf,
}

const SENDERS: usize = 4;
const DEV_KEYS: [&str; 1 + SENDERS] = [
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
    "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
    "0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a",
];

/// Runs the workload on both nodes, `rounds` times each on fresh nodes,
/// and reports the medians.
pub(crate) fn run(bench: &ChainBench) -> anyhow::Result<ChainReport> {
    if !bench.anvil.exists() {
        bail!(
            "anvil not found at {}: run scripts/setup (npm ci in contracts/) or pass --anvil PATH",
            bench.anvil.display()
        );
    }
    let fog_exe = std::env::current_exe().context("locating the fog binary")?;
    let (mut fog_rates, mut anvil_rates) = (Vec::new(), Vec::new());
    for _ in 0..bench.rounds.max(1) {
        let datadir = tempfile::tempdir().context("creating a data directory for fog chain")?;
        let port = free_port()?;
        let fog = Node::spawn(
            Command::new(&fog_exe)
                .args(["chain", "--dev", "--datadir"])
                .arg(datadir.path())
                .args(["--http", &format!("127.0.0.1:{port}")]),
            port,
        )?;
        fog_rates.push(workload(&fog.url, bench).context("fog chain workload")?);
        drop(fog);

        let port = free_port()?;
        let anvil = Node::spawn(
            Command::new(&bench.anvil).args([
                "--host",
                "127.0.0.1",
                "--port",
                &port.to_string(),
                "--quiet",
                "--hardfork",
                "prague",
                "--gas-price",
                "0",
                "--base-fee",
                "0",
                "--chain-id",
                "31337",
            ]),
            port,
        )?;
        anvil_rates.push(workload(&anvil.url, bench).context("anvil workload")?);
    }
    let (fog_rate, anvil_rate) = (median(&mut fog_rates), median(&mut anvil_rates));
    Ok(ChainReport {
        fog_tx_per_s: round1(fog_rate),
        anvil_tx_per_s: round1(anvil_rate),
        ratio: (fog_rate / anvil_rate * 100.0).round() / 100.0,
        txs: bench.txs,
        batch: bench.batch,
        rounds: bench.rounds.max(1),
    })
}

fn median(xs: &mut [f64]) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// The anvil binary `scripts/setup` installs, relative to the repository root.
pub(crate) fn default_anvil() -> PathBuf {
    Path::new("contracts/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil").to_owned()
}

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")
        .context("finding a free port")?
        .local_addr()?
        .port())
}

/// A node process on loopback, killed when dropped.
struct Node {
    child: Child,
    url: String,
}

impl Node {
    fn spawn(cmd: &mut Command, port: u16) -> anyhow::Result<Self> {
        let child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting a node")?;
        let node = Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let client = http_client()?;
        for _ in 0..400 {
            if call(&client, &node.url, "eth_chainId", json!([])).is_ok() {
                return Ok(node);
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        bail!("the node on port {port} did not answer within 10 s")
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn http_client() -> anyhow::Result<reqwest::blocking::Client> {
    Ok(reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()?)
}

fn call(
    client: &reqwest::blocking::Client,
    url: &str,
    method: &str,
    params: Value,
) -> anyhow::Result<Value> {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    let answer: Value = client.post(url).json(&body).send()?.json()?;
    if let Some(e) = answer.get("error") {
        bail!("{method}: {e}");
    }
    Ok(answer["result"].clone())
}

fn sign(
    key: &PrivateKeySigner,
    nonce: u64,
    to: TxKind,
    input: Bytes,
    gas_limit: u64,
) -> anyhow::Result<Bytes> {
    let mut tx = TxEip1559 {
        chain_id: 31337,
        nonce,
        gas_limit,
        to,
        input,
        ..Default::default()
    };
    let sig = key.sign_transaction_sync(&mut tx)?;
    let env: TxEnvelope = tx.into_signed(sig).into();
    Ok(env.encoded_2718().into())
}

fn wait_mined(
    client: &reqwest::blocking::Client,
    url: &str,
    hash: &Value,
) -> anyhow::Result<Value> {
    for _ in 0..2000 {
        let r = call(client, url, "eth_getTransactionReceipt", json!([hash]))?;
        if !r.is_null() {
            if r["status"] != "0x1" {
                bail!("transaction {hash} failed: {r}");
            }
            return Ok(r);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    bail!("transaction {hash} was not mined within 10 s")
}

fn nonce_of(client: &reqwest::blocking::Client, url: &str, who: Address) -> anyhow::Result<u64> {
    let n = call(
        client,
        url,
        "eth_getTransactionCount",
        json!([who, "latest"]),
    )?;
    let s = n.as_str().context("nonce is not a string")?;
    Ok(u64::from_str_radix(s.trim_start_matches("0x"), 16)?)
}

/// Deploys a token, funds the senders, then times the transfers.
fn workload(url: &str, bench: &ChainBench) -> anyhow::Result<f64> {
    let client = http_client()?;
    let keys: Vec<PrivateKeySigner> = DEV_KEYS
        .iter()
        .map(|k| k.parse())
        .collect::<Result<_, _>>()?;
    let deployer = &keys[0];
    let mut deployer_nonce = nonce_of(&client, url, deployer.address())?;
    let supply = U256::from(10u128.pow(27));
    let mut initcode = FogToken::BYTECODE.to_vec();
    initcode.extend(
        FogToken::constructorCall {
            holder: deployer.address(),
            supply,
        }
        .abi_encode(),
    );
    let raw = sign(
        deployer,
        deployer_nonce,
        TxKind::Create,
        initcode.into(),
        3_000_000,
    )?;
    deployer_nonce += 1;
    let hash = call(&client, url, "eth_sendRawTransaction", json!([raw]))?;
    let receipt = wait_mined(&client, url, &hash)?;
    let token: Address = serde_json::from_value(receipt["contractAddress"].clone())?;

    let mut last = Value::Null;
    for key in &keys[1..] {
        let data = FogToken::transferCall {
            to: key.address(),
            value: supply / U256::from(10),
        }
        .abi_encode();
        let raw = sign(
            deployer,
            deployer_nonce,
            TxKind::Call(token),
            data.into(),
            100_000,
        )?;
        deployer_nonce += 1;
        last = call(&client, url, "eth_sendRawTransaction", json!([raw]))?;
    }
    wait_mined(&client, url, &last)?;

    // Pre-sign the timed transfers (not timed).
    let senders = &keys[1..];
    let mut nonces: Vec<u64> = senders
        .iter()
        .map(|k| nonce_of(&client, url, k.address()))
        .collect::<anyhow::Result<_>>()?;
    let start_nonces = nonces.clone();
    // One ordered stream per sender, as a wallet sends: a node holds only a
    // bounded run of future nonces (64, as geth), so order within a sender matters.
    let mut streams: Vec<Vec<Bytes>> = vec![Vec::new(); SENDERS];
    for i in 0..bench.txs {
        let s = i % SENDERS;
        let to = Address::from_word(alloy::primitives::keccak256((i as u64).to_be_bytes()));
        let data = FogToken::transferCall {
            to,
            value: U256::from(1),
        }
        .abi_encode();
        streams[s].push(sign(
            &senders[s],
            nonces[s],
            TxKind::Call(token),
            data.into(),
            100_000,
        )?);
        nonces[s] += 1;
    }
    let batch_of = |chunk: &[Bytes]| {
        Value::Array(
            chunk
                .iter()
                .enumerate()
                .map(|(i, raw)| json!({"jsonrpc": "2.0", "id": i, "method": "eth_sendRawTransaction", "params": [raw]}))
                .collect(),
        )
    };
    let per_sender: Vec<Vec<Value>> = streams
        .iter()
        .map(|stream| stream.chunks(bench.batch.max(1)).map(batch_of).collect())
        .collect();

    let started = Instant::now();
    // Each connection carries whole senders' streams, in nonce order.
    let connections = bench.connections.clamp(1, SENDERS);
    let errors: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..connections)
            .map(|c| {
                let per_sender = &per_sender;
                let url = url.to_owned();
                scope.spawn(move || -> Vec<String> {
                    let Ok(http) = http_client() else {
                        return vec!["client".into()];
                    };
                    let mut errors = Vec::new();
                    for batch in per_sender.iter().skip(c).step_by(connections).flatten() {
                        match http
                            .post(&url)
                            .json(batch)
                            .send()
                            .and_then(|r| r.json::<Value>())
                        {
                            Ok(Value::Array(answers)) => errors.extend(
                                answers
                                    .iter()
                                    .filter_map(|a| a.get("error"))
                                    .map(|e| e.to_string()),
                            ),
                            Ok(other) => errors.push(other.to_string()),
                            Err(e) => errors.push(e.to_string()),
                        }
                    }
                    errors
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    });
    if let Some(first) = errors.first() {
        bail!("{} transfers were refused, first: {first}", errors.len());
    }
    for (s, key) in senders.iter().enumerate() {
        let want = nonces[s];
        for _ in 0..12_000 {
            if nonce_of(&client, url, key.address())? >= want {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        if nonce_of(&client, url, key.address())? < want {
            bail!(
                "sender {s} has {} of {} transfers mined after 60 s",
                nonce_of(&client, url, key.address())? - start_nonces[s],
                want - start_nonces[s]
            );
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    Ok(bench.txs as f64 / elapsed)
}
